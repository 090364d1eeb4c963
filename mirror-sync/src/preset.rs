//! Upstream presets: one `preset = "…"` line expands into the defaults of an `[[apt]]`,
//! `[[pypi]]` or `[[oci]]` table (docs/presets.md).
//!
//! | preset | table | fills |
//! |---|---|---|
//! | `cuda` | `[[apt]]` | NVIDIA's flat CUDA repository for `distro` (`ubuntu2404`, …) and `arch` (`x86_64`, `sbsa`): name, url, `flat`, `architectures`, `keyring` (`cuda-archive-keyring.gpg`, searched for), `keyring_fingerprints` |
//! | `nvidia-container-toolkit` | `[[apt]]` | NVIDIA's flat container-toolkit repository (optional `arch`, default `x86_64`): name, url, `flat`, `architectures`, `keyring` (`nvidia-container-toolkit-keyring.gpg`, searched for), `keyring_fingerprints` |
//! | `ngc` | `[[oci]]` | name, `registry = "nvcr.io"`, `credentials = "env:NGC_API_KEY"` (an NGC API key, sent as user `$oauthtoken`; `credentials = ""` pulls anonymously) |
//! | `nvidia-pypi` | `[[pypi]]` | name, url of NVIDIA's extra wheel index |
//!
//! Expansion works on the TOML table before it is typed: a preset only inserts keys the
//! table does not have, so anything the user writes wins (tests point `url` at a local
//! fixture). `preset`, `distro` and `arch` are removed afterwards. `distro` and `arch` are
//! refused in tables whose preset does not use them (or that have no preset).
//!
//! # Keyrings
//!
//! An APT preset names the keyring file NVIDIA's own packages install (`cuda-keyring`
//! installs `/usr/share/keyrings/cuda-archive-keyring.gpg`; NVIDIA's container-toolkit
//! instructions write `/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg`). When the
//! table has no `keyring`, the first existing file of [`keyring_candidates`] is used: next to
//! the configuration, then — "mirror what this host uses", as `init --from-host` does — the
//! `signed-by` keyring of a host APT source with the same URL, then the host's
//! `/usr/share/keyrings` and `/etc/apt/keyrings`. None found is an error that says how to
//! obtain the keyring.
//!
//! # Pinned fingerprints
//!
//! The APT presets set `keyring_fingerprints`: the configured keyring must contain at least
//! one of these primary keys ([`crate::config::check_keyring_fingerprints`]). Sources:
//! - CUDA, `EB693B3035CD5710E231E123A4B469963BF863CC` (key file `3bf863cc.pub`, the
//!   repository key since the April 2022 rotation): pinned by several independent
//!   public deployment scripts (Puppet/Chef recipes and install scripts that check
//!   `gpg --show-keys` output against it); apt's `NO_PUBKEY A4B469963BF863CC` reports
//!   match its key id.
//! - CUDA, `02182E60104FCDC26EAE1B8597A5D4CB8793F200` (key file `8793F200.pub`, used by
//!   the newer repositories such as `debian13`): pinned by public install tooling
//!   alongside `https://developer.download.nvidia.com/compute/cuda/repos/debian13/x86_64/8793F200.pub`.
//! - Container toolkit, `C95B321B61E88C1809C4F759DDCAE044F796ECB0` (`NVIDIA CORPORATION
//!   (Open Source Projects) <cudatools@nvidia.com>`, served at
//!   `https://nvidia.github.io/libnvidia-container/gpgkey`): pinned by several independent
//!   install scripts and Puppet manifests; apt's `NO_PUBKEY DDCAE044F796ECB0` reports
//!   match its key id.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use toml::{Table, Value};

/// Which configuration table a preset belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `[[apt]]`.
    Apt,
    /// `[[pypi]]`.
    Pypi,
    /// `[[oci]]`.
    Oci,
}

impl Section {
    /// The TOML array name: `apt`, `pypi` or `oci`.
    pub fn key(self) -> &'static str {
        match self {
            Section::Apt => "apt",
            Section::Pypi => "pypi",
            Section::Oci => "oci",
        }
    }
}

/// One preset: its name, its table, and which of `distro` / `arch` it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    /// Name as written in `preset = "…"`.
    pub name: &'static str,
    /// The table it expands.
    pub section: Section,
    /// Whether `distro` is accepted (and then required).
    pub distro: bool,
    /// Whether `arch` is accepted.
    pub arch: bool,
    /// One-line description.
    pub summary: &'static str,
}

/// Every preset, in documentation order.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "cuda",
        section: Section::Apt,
        distro: true,
        arch: true,
        summary: "NVIDIA's flat CUDA APT repository (distro and arch required)",
    },
    Preset {
        name: "nvidia-container-toolkit",
        section: Section::Apt,
        distro: false,
        arch: true,
        summary: "NVIDIA's flat container-toolkit APT repository",
    },
    Preset {
        name: "ngc",
        section: Section::Oci,
        distro: false,
        arch: false,
        summary: "NVIDIA's NGC registry nvcr.io, API key as user $oauthtoken",
    },
    Preset {
        name: "nvidia-pypi",
        section: Section::Pypi,
        distro: false,
        arch: false,
        summary: "NVIDIA's extra Python wheel index",
    },
];

/// Base of the CUDA repositories; the repository is `<base><distro>/<arch>/`.
pub const CUDA_REPOS: &str = "https://developer.download.nvidia.com/compute/cuda/repos/";
/// Keyring file the `cuda-keyring` package installs in `/usr/share/keyrings`.
pub const CUDA_KEYRING: &str = "cuda-archive-keyring.gpg";
/// Primary-key fingerprints of NVIDIA's CUDA repository signing keys (module docs).
pub const CUDA_FINGERPRINTS: &[&str] = &[
    "EB693B3035CD5710E231E123A4B469963BF863CC",
    "02182E60104FCDC26EAE1B8597A5D4CB8793F200",
];
/// Base of the container-toolkit repositories; the repository is `<base><apt arch>/`.
pub const CONTAINER_TOOLKIT_REPOS: &str =
    "https://nvidia.github.io/libnvidia-container/stable/deb/";
/// Keyring file NVIDIA's container-toolkit install instructions write.
pub const CONTAINER_TOOLKIT_KEYRING: &str = "nvidia-container-toolkit-keyring.gpg";
/// Where NVIDIA publishes the container-toolkit key (armored).
pub const CONTAINER_TOOLKIT_KEY_URL: &str = "https://nvidia.github.io/libnvidia-container/gpgkey";
/// Primary-key fingerprint of the container-toolkit signing key (module docs).
pub const CONTAINER_TOOLKIT_FINGERPRINTS: &[&str] = &["C95B321B61E88C1809C4F759DDCAE044F796ECB0"];
/// The NGC registry host.
pub const NGC_REGISTRY: &str = "nvcr.io";
/// Default NGC credentials: the API key from this environment variable.
pub const NGC_CREDENTIALS: &str = "env:NGC_API_KEY";
/// NVIDIA's extra wheel index (PEP 503 at the root).
pub const NVIDIA_PYPI: &str = "https://pypi.nvidia.com/";

/// Where a preset looks for files: the configuration's directory and the host's root
/// (`/` normally; a test tree in tests).
#[derive(Debug, Clone)]
pub struct HostContext {
    /// Directory of the configuration file; keyrings found here are written relative to it.
    pub config_dir: PathBuf,
    /// Root of the host filesystem (`etc/apt`, `usr/share/keyrings` are read below it).
    pub host_root: PathBuf,
}

/// The preset named `name`, if any.
pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

fn known_list() -> String {
    PRESETS
        .iter()
        .map(|p| format!("{} ([[{}]])", p.name, p.section.key()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether any `[[apt]]`, `[[pypi]]` or `[[oci]]` table of `doc` has a `preset`, `distro`
/// or `arch` key (only then does [`expand`] change anything).
pub fn uses_presets(doc: &Table) -> bool {
    [Section::Apt, Section::Pypi, Section::Oci].iter().any(|s| {
        doc.get(s.key()).and_then(Value::as_array).is_some_and(|a| {
            a.iter().filter_map(Value::as_table).any(|t| {
                t.contains_key("preset") || t.contains_key("distro") || t.contains_key("arch")
            })
        })
    })
}

/// Expands every preset of the configuration document in place (module docs).
///
/// Errors, naming the table (`[[apt]] #2`): an unknown preset (listing the known ones), a
/// preset in the wrong kind of table, `distro`/`arch` where the preset does not use them
/// or missing where it needs them, a value outside the accepted spellings, or an APT
/// keyring that is not configured and not found (saying how to obtain it).
pub fn expand(doc: &mut Table, ctx: &HostContext) -> anyhow::Result<()> {
    for section in [Section::Apt, Section::Pypi, Section::Oci] {
        let Some(Value::Array(tables)) = doc.get_mut(section.key()) else {
            continue;
        };
        for (i, v) in tables.iter_mut().enumerate() {
            let Some(t) = v.as_table_mut() else { continue };
            let label = format!("[[{}]] #{}", section.key(), i + 1);
            expand_table(section, t, ctx).with_context(|| match t.get("name") {
                Some(Value::String(n)) => format!("{label} ({n})"),
                _ => label.clone(),
            })?;
        }
    }
    Ok(())
}

fn string_key(t: &Table, key: &str) -> anyhow::Result<Option<String>> {
    match t.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => bail!("{key} must be a string, not {}", other.type_str()),
    }
}

fn set_default(t: &mut Table, key: &str, v: Value) {
    t.entry(key.to_owned()).or_insert(v);
}

fn str_list(items: &[&str]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|s| Value::String((*s).to_owned()))
            .collect(),
    )
}

fn expand_table(section: Section, t: &mut Table, ctx: &HostContext) -> anyhow::Result<()> {
    let preset_name = string_key(t, "preset")?;
    let distro = string_key(t, "distro")?;
    let arch = string_key(t, "arch")?;
    let Some(preset_name) = preset_name else {
        if distro.is_some() || arch.is_some() {
            bail!(
                "distro and arch are only valid together with a preset that uses them (cuda, nvidia-container-toolkit); add preset = \"…\" or remove them"
            );
        }
        return Ok(());
    };
    let preset = find(&preset_name).ok_or_else(|| {
        anyhow!(
            "unknown preset {preset_name:?}; known presets: {}",
            known_list()
        )
    })?;
    if preset.section != section {
        bail!(
            "preset {:?} belongs in an [[{}]] table, not [[{}]]",
            preset.name,
            preset.section.key(),
            section.key()
        );
    }
    if distro.is_some() && !preset.distro {
        bail!("preset {:?} does not use distro; remove it", preset.name);
    }
    if arch.is_some() && !preset.arch {
        bail!("preset {:?} does not use arch; remove it", preset.name);
    }
    t.remove("preset");
    t.remove("distro");
    t.remove("arch");
    match preset.name {
        "cuda" => expand_cuda(t, distro, arch, ctx),
        "nvidia-container-toolkit" => expand_container_toolkit(t, arch, ctx),
        "ngc" => {
            set_default(t, "name", Value::String("ngc".into()));
            set_default(t, "registry", Value::String(NGC_REGISTRY.into()));
            // `credentials = ""` asks for anonymous pulls (public images only).
            if string_key(t, "credentials")?.is_some_and(|c| c.is_empty()) {
                t.remove("credentials");
            } else {
                set_default(t, "credentials", Value::String(NGC_CREDENTIALS.into()));
            }
            Ok(())
        }
        "nvidia-pypi" => {
            set_default(t, "name", Value::String("nvidia-pypi".into()));
            set_default(t, "url", Value::String(NVIDIA_PYPI.into()));
            Ok(())
        }
        other => bail!("preset {other:?} has no expansion"),
    }
}

/// NVIDIA's CUDA architecture directory → APT architecture: `x86_64` → `amd64`,
/// `sbsa` (Arm server, Grace) → `arm64`.
///
/// Errors: any other spelling, with a hint for the APT spellings.
pub fn cuda_arch(nvidia: &str) -> anyhow::Result<&'static str> {
    match nvidia {
        "x86_64" => Ok("amd64"),
        "sbsa" => Ok("arm64"),
        "amd64" => bail!("arch {nvidia:?}: use NVIDIA's spelling, arch = \"x86_64\""),
        "arm64" | "aarch64" => bail!(
            "arch {nvidia:?}: use NVIDIA's spelling, arch = \"sbsa\" for Arm servers (for another layout set url yourself)"
        ),
        _ => bail!(
            "arch {nvidia:?} is not a CUDA repository architecture; use \"x86_64\" or \"sbsa\""
        ),
    }
}

/// Checks a CUDA `distro` directory name: `ubuntuNNNN`, `debianNN` or `wsl-ubuntu` (the
/// Debian-family repositories; RPM distributions are not APT repositories).
///
/// Errors: anything else, with examples.
pub fn check_cuda_distro(d: &str) -> anyhow::Result<()> {
    let digits =
        |s: &str, n: &[usize]| n.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    let ok = d == "wsl-ubuntu"
        || d.strip_prefix("ubuntu").is_some_and(|v| digits(v, &[4]))
        || d.strip_prefix("debian").is_some_and(|v| digits(v, &[1, 2]));
    if ok {
        Ok(())
    } else {
        bail!(
            "distro {d:?} is not one of NVIDIA's Debian-family CUDA repositories; use e.g. \"ubuntu2404\", \"ubuntu2204\", \"debian12\" or \"wsl-ubuntu\" (RPM distributions such as rhel9 are not APT repositories)"
        )
    }
}

/// The os-release `<id>-<version_id>` a CUDA repository directory targets
/// (`ubuntu2404` → `ubuntu-24.04`, `debian12` → `debian-12`), for the packages' purls;
/// `None` for `wsl-ubuntu` and other names.
pub fn cuda_target_distro(dir: &str) -> Option<String> {
    if let Some(v) = dir.strip_prefix("ubuntu")
        && v.len() == 4
        && v.bytes().all(|b| b.is_ascii_digit())
    {
        return Some(format!("ubuntu-{}.{}", &v[..2], &v[2..]));
    }
    if let Some(v) = dir.strip_prefix("debian")
        && !v.is_empty()
        && v.bytes().all(|b| b.is_ascii_digit())
    {
        return Some(format!("debian-{v}"));
    }
    None
}

fn expand_cuda(
    t: &mut Table,
    distro: Option<String>,
    arch: Option<String>,
    ctx: &HostContext,
) -> anyhow::Result<()> {
    let distro = distro.ok_or_else(|| {
        anyhow!("preset \"cuda\" needs distro = \"…\" (for example \"ubuntu2404\")")
    })?;
    let arch = arch.ok_or_else(|| {
        anyhow!("preset \"cuda\" needs arch = \"x86_64\" or arch = \"sbsa\" (NVIDIA's spelling)")
    })?;
    check_cuda_distro(&distro)?;
    let apt_arch = cuda_arch(&arch)?;
    set_default(t, "name", Value::String(format!("cuda-{distro}-{arch}")));
    set_default(
        t,
        "url",
        Value::String(format!("{CUDA_REPOS}{distro}/{arch}/")),
    );
    set_default(t, "flat", Value::Boolean(true));
    set_default(t, "architectures", str_list(&[apt_arch]));
    set_default(t, "keyring_fingerprints", str_list(CUDA_FINGERPRINTS));
    if let Some(target) = cuda_target_distro(&distro) {
        set_default(t, "target_distro", Value::String(target));
    }
    if !t.contains_key("keyring") {
        let url = string_key(t, "url")?.unwrap_or_default();
        let how = format!(
            "install NVIDIA's cuda-keyring package from the repository (it installs /usr/share/keyrings/{CUDA_KEYRING}), \
             or download the repository's signing key listed in {url} (3bf863cc.pub or 8793F200.pub), check that its \
             fingerprint is one of {}, and `gpg --dearmor` it to {CUDA_KEYRING} next to the configuration; or set keyring = \"…\"",
            CUDA_FINGERPRINTS.join(", ")
        );
        let found = locate_keyring(CUDA_KEYRING, &url, ctx, &how)?;
        t.insert("keyring".into(), Value::String(found));
    }
    Ok(())
}

fn expand_container_toolkit(
    t: &mut Table,
    arch: Option<String>,
    ctx: &HostContext,
) -> anyhow::Result<()> {
    let apt_arch = match arch.as_deref().unwrap_or("x86_64") {
        "x86_64" | "amd64" => "amd64",
        "sbsa" | "arm64" | "aarch64" => "arm64",
        other => bail!(
            "arch {other:?} is not a container-toolkit repository architecture; use \"x86_64\" (amd64) or \"sbsa\" (arm64)"
        ),
    };
    let name = if apt_arch == "amd64" {
        "nvidia-container-toolkit".to_owned()
    } else {
        format!("nvidia-container-toolkit-{apt_arch}")
    };
    set_default(t, "name", Value::String(name));
    set_default(
        t,
        "url",
        Value::String(format!("{CONTAINER_TOOLKIT_REPOS}{apt_arch}/")),
    );
    set_default(t, "flat", Value::Boolean(true));
    set_default(t, "architectures", str_list(&[apt_arch]));
    set_default(
        t,
        "keyring_fingerprints",
        str_list(CONTAINER_TOOLKIT_FINGERPRINTS),
    );
    if !t.contains_key("keyring") {
        let url = string_key(t, "url")?.unwrap_or_default();
        let how = format!(
            "download {CONTAINER_TOOLKIT_KEY_URL}, check that its fingerprint is {}, and `gpg --dearmor` it to \
             {CONTAINER_TOOLKIT_KEYRING} next to the configuration (NVIDIA's install instructions write it to \
             /usr/share/keyrings/{CONTAINER_TOOLKIT_KEYRING}); or set keyring = \"…\"",
            CONTAINER_TOOLKIT_FINGERPRINTS.join(", ")
        );
        let found = locate_keyring(CONTAINER_TOOLKIT_KEYRING, &url, ctx, &how)?;
        t.insert("keyring".into(), Value::String(found));
    }
    Ok(())
}

/// Where an APT preset looks for `file_name`, in order, as `(value for keyring =, path on
/// disk)`: `<config dir>/<file>`, `<config dir>/keys/<file>`, the `signed-by` keyring of
/// every enabled host APT source (below `host_root/etc/apt`) whose URL is `url` (trailing
/// `/` ignored), `<host_root>/usr/share/keyrings/<file>`, `<host_root>/etc/apt/keyrings/<file>`.
///
/// The `keyring =` value of a file next to the configuration is relative to it (as
/// `Config::resolve` expects); host files are given by their full path. Unreadable host
/// sources are skipped.
pub fn keyring_candidates(file_name: &str, url: &str, ctx: &HostContext) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for rel in [file_name.to_owned(), format!("keys/{file_name}")] {
        out.push((rel.clone(), ctx.config_dir.join(&rel)));
    }
    let want = url.trim_end_matches('/');
    if let Ok(sources) = crate::init::host_apt_sources(&ctx.host_root) {
        for g in crate::init::guess_apt(&sources, "amd64") {
            if g.flat
                && g.url.trim_end_matches('/') == want
                && let Some(k) = g.keyring.filter(|k| k.starts_with('/'))
            {
                let p = host_path(&ctx.host_root, &k);
                out.push((p.display().to_string(), p));
            }
        }
    }
    for dir in ["usr/share/keyrings", "etc/apt/keyrings"] {
        let p = ctx.host_root.join(dir).join(file_name);
        out.push((p.display().to_string(), p));
    }
    out
}

/// `root` joined with an absolute host path (`/usr/share/…` below `root`).
fn host_path(root: &Path, abs: &str) -> PathBuf {
    root.join(abs.trim_start_matches('/'))
}

fn locate_keyring(
    file_name: &str,
    url: &str,
    ctx: &HostContext,
    how: &str,
) -> anyhow::Result<String> {
    let candidates = keyring_candidates(file_name, url, ctx);
    if let Some((value, _)) = candidates.iter().find(|(_, p)| p.is_file()) {
        return Ok(value.clone());
    }
    let looked: Vec<String> = candidates
        .iter()
        .map(|(_, p)| p.display().to_string())
        .collect();
    bail!(
        "keyring {file_name} not found (looked in: {}); to obtain it: {how}",
        looked.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_findable_and_listed() {
        for p in PRESETS {
            assert_eq!(find(p.name), Some(p));
            assert!(known_list().contains(p.name));
        }
        assert!(find("cudaa").is_none());
    }

    #[test]
    fn cuda_directories_name_their_target_distro() {
        assert_eq!(
            cuda_target_distro("ubuntu2404").as_deref(),
            Some("ubuntu-24.04")
        );
        assert_eq!(
            cuda_target_distro("ubuntu2204").as_deref(),
            Some("ubuntu-22.04")
        );
        assert_eq!(cuda_target_distro("debian12").as_deref(), Some("debian-12"));
        assert_eq!(cuda_target_distro("wsl-ubuntu"), None);
        assert_eq!(cuda_target_distro("ubuntu24"), None);
    }

    #[test]
    fn cuda_spellings() {
        assert_eq!(cuda_arch("x86_64").unwrap(), "amd64");
        assert_eq!(cuda_arch("sbsa").unwrap(), "arm64");
        assert!(format!("{:#}", cuda_arch("amd64").unwrap_err()).contains("x86_64"));
        assert!(format!("{:#}", cuda_arch("aarch64").unwrap_err()).contains("sbsa"));
        for ok in [
            "ubuntu2404",
            "ubuntu2204",
            "debian12",
            "debian13",
            "wsl-ubuntu",
        ] {
            check_cuda_distro(ok).unwrap();
        }
        for bad in ["rhel9", "ubuntu24.04", "ubuntu", "debian123", "../x", ""] {
            assert!(check_cuda_distro(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fingerprints_are_v4_upper_hex() {
        for f in CUDA_FINGERPRINTS
            .iter()
            .chain(CONTAINER_TOOLKIT_FINGERPRINTS)
        {
            assert_eq!(f.len(), 40, "{f}");
            assert!(
                f.bytes()
                    .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
            );
        }
    }

    #[test]
    fn host_candidates_follow_the_host_sources() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let cfg = dir.path().join("cfg");
        std::fs::create_dir_all(root.join("etc/apt/sources.list.d")).unwrap();
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::write(
            root.join("etc/apt/sources.list.d/cuda.list"),
            "deb [signed-by=/etc/apt/keyrings/nvidia.gpg] http://flat.example/cuda/x86_64 /\n\
             deb [signed-by=/etc/apt/keyrings/other.gpg] http://other.example/repo/ /\n",
        )
        .unwrap();
        let ctx = HostContext {
            config_dir: cfg.clone(),
            host_root: root.clone(),
        };
        let c = keyring_candidates(CUDA_KEYRING, "http://flat.example/cuda/x86_64/", &ctx);
        let paths: Vec<PathBuf> = c.iter().map(|(_, p)| p.clone()).collect();
        assert_eq!(
            paths,
            vec![
                cfg.join(CUDA_KEYRING),
                cfg.join("keys").join(CUDA_KEYRING),
                root.join("etc/apt/keyrings/nvidia.gpg"),
                root.join("usr/share/keyrings").join(CUDA_KEYRING),
                root.join("etc/apt/keyrings").join(CUDA_KEYRING),
            ]
        );
        assert_eq!(c[0].0, CUDA_KEYRING, "relative to the config");
        assert_eq!(c[1].0, format!("keys/{CUDA_KEYRING}"));
    }
}
