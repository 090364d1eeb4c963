//! The TOML configuration of `mirror-sync` (docs/configuration.md).
//!
//! Relative paths (`store`, `signing.*`, `apt.keyring`) are resolved against the directory
//! of the configuration file, so a config and its keys can move together.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Local content-addressed store and state of mirror-sync.
    pub store: PathBuf,
    /// Snapshot channel; sequence numbers grow per channel.
    pub channel: String,
    /// Signing keys.
    pub signing: Signing,
    /// Download tuning.
    #[serde(default)]
    pub sync: SyncTuning,
    /// APT upstreams, in order.
    #[serde(default)]
    pub apt: Vec<AptUpstream>,
    /// PyPI (PEP 503/691) upstreams, in order; their projects are merged into one index.
    #[serde(default)]
    pub pypi: Vec<PypiUpstream>,
    /// Directory of the config file (set by [`Config::load`]).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// `[signing]`: key files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signing {
    /// ed25519 snapshot key, PKCS#8 PEM.
    pub snapshot_key: PathBuf,
    /// OpenPGP secret key, armored; signs the generated `InRelease` and `Release.gpg`.
    pub repo_key: PathBuf,
}

/// `[sync]`: how downloads run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncTuning {
    /// Concurrent downloads (default 8).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Attempts per request before giving up (default 4), with exponential backoff.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Per-request connect and idle-read timeout in seconds (default 60).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

impl Default for SyncTuning {
    fn default() -> Self {
        SyncTuning {
            concurrency: default_concurrency(),
            retries: default_retries(),
            timeout_secs: default_timeout(),
        }
    }
}

fn default_concurrency() -> usize {
    8
}
fn default_retries() -> u32 {
    4
}
fn default_timeout() -> u64 {
    60
}

/// `[[apt]]`: one APT repository.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AptUpstream {
    /// Served at `/apt/<name>/`.
    pub name: String,
    /// Archive root URL (standard) or the directory holding `Packages` (flat).
    pub url: String,
    /// Flat repository (`deb [...] URL /`).
    #[serde(default)]
    pub flat: bool,
    /// Suites (standard repositories only).
    #[serde(default)]
    pub suites: Vec<String>,
    /// Components (standard repositories only).
    #[serde(default)]
    pub components: Vec<String>,
    /// Architectures; `all` packages always come along. Default `["amd64"]`.
    #[serde(default = "default_arches")]
    pub architectures: Vec<String>,
    /// Packages to mirror: `name`, `name=version` or a glob (`lib*`), closed under
    /// Depends and Pre-Depends. Empty means every package of the selected indexes.
    #[serde(default)]
    pub packages: Vec<String>,
    /// Also follow Recommends.
    #[serde(default)]
    pub recommends: bool,
    /// OpenPGP keyring (binary or armored) that must verify the upstream `InRelease`
    /// or `Release.gpg`.
    pub keyring: PathBuf,
}

fn default_arches() -> Vec<String> {
    vec!["amd64".into()]
}

/// `[[pypi]]`: one PEP 503/691 index.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PypiUpstream {
    /// Name of the upstream (recorded in the manifest).
    pub name: String,
    /// Simple index URL (ends in `/simple/` usually).
    pub url: String,
    /// PEP 508 requirements (`requests>=2.31`, `vllm[audio]==0.6.3`), closed under
    /// `Requires-Dist`.
    pub projects: Vec<String>,
    /// Wheel platform tags to keep (`manylinux_2_17_x86_64`, `any`, …).
    #[serde(default = "default_platforms")]
    pub platforms: Vec<String>,
    /// Python versions (`3.11`) whose wheels and sdists are kept.
    #[serde(default = "default_pythons")]
    pub python: Vec<String>,
    /// Keep sdists too.
    #[serde(default)]
    pub sdists: bool,
}

fn default_platforms() -> Vec<String> {
    vec!["manylinux_2_17_x86_64".into(), "any".into()]
}
fn default_pythons() -> Vec<String> {
    vec!["3.12".into()]
}

/// Checks an upstream name: `[a-z0-9][a-z0-9._-]*`, at most 64 bytes.
pub fn validate_name(name: &str) -> anyhow::Result<()> {
    formats::snapshot::validate_channel(name).map_err(|_| {
        anyhow::anyhow!(
            "invalid upstream name {name:?}: use lower-case letters, digits, '.', '_' and '-'"
        )
    })
}

impl Config {
    /// Reads and validates a configuration file.
    ///
    /// Errors: the file cannot be read, is not valid TOML of this shape (unknown keys are
    /// refused, with the key named), or breaks a rule checked by [`Config::validate`].
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        let mut cfg: Config =
            toml::from_str(&text).with_context(|| format!("invalid config {}", path.display()))?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        cfg.base_dir = base;
        cfg.validate()
            .with_context(|| format!("invalid config {}", path.display()))?;
        Ok(cfg)
    }

    /// Resolves a path from the config against the config file's directory.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// The store directory, resolved.
    pub fn store_dir(&self) -> PathBuf {
        self.resolve(&self.store)
    }

    /// Rules the types cannot express.
    pub fn validate(&self) -> anyhow::Result<()> {
        formats::snapshot::validate_channel(&self.channel).map_err(|e| anyhow::anyhow!(e))?;
        if self.apt.is_empty() && self.pypi.is_empty() {
            bail!("no upstreams: add at least one [[apt]] or [[pypi]] table");
        }
        if self.sync.concurrency == 0 || self.sync.concurrency > 256 {
            bail!("sync.concurrency must be between 1 and 256");
        }
        let mut names = HashSet::new();
        for a in &self.apt {
            validate_name(&a.name)?;
            if !names.insert(a.name.clone()) {
                bail!("duplicate upstream name {:?}", a.name);
            }
            check_url(&a.url).with_context(|| format!("[[apt]] {}", a.name))?;
            if a.flat {
                if !a.suites.is_empty() || !a.components.is_empty() {
                    bail!(
                        "[[apt]] {}: a flat repository has no suites or components; remove them or set flat = false",
                        a.name
                    );
                }
            } else if a.suites.is_empty() || a.components.is_empty() {
                bail!(
                    "[[apt]] {}: suites and components are required (or set flat = true)",
                    a.name
                );
            }
            for s in a.suites.iter().chain(&a.components).chain(&a.architectures) {
                if s.is_empty() || s.contains(['/', '\\', '\0']) || s == ".." || s == "." {
                    bail!(
                        "[[apt]] {}: invalid suite, component or architecture {s:?}",
                        a.name
                    );
                }
            }
            if a.keyring.as_os_str().is_empty() {
                bail!(
                    "[[apt]] {}: keyring is empty; name the OpenPGP keyring that signs this repository",
                    a.name
                );
            }
            if a.architectures.is_empty() {
                bail!("[[apt]] {}: architectures must not be empty", a.name);
            }
        }
        for p in &self.pypi {
            validate_name(&p.name)?;
            if !names.insert(p.name.clone()) {
                bail!("duplicate upstream name {:?}", p.name);
            }
            check_url(&p.url).with_context(|| format!("[[pypi]] {}", p.name))?;
            if p.projects.is_empty() {
                bail!(
                    "[[pypi]] {}: projects is empty; list the requirements to mirror",
                    p.name
                );
            }
            if p.python.is_empty() || p.platforms.is_empty() {
                bail!(
                    "[[pypi]] {}: python and platforms must not be empty",
                    p.name
                );
            }
        }
        Ok(())
    }
}

fn check_url(u: &str) -> anyhow::Result<()> {
    let parsed = url::Url::parse(u).with_context(|| format!("invalid url {u:?}"))?;
    match parsed.scheme() {
        "http" | "https" => Ok(()),
        s => bail!("unsupported url scheme {s:?} in {u:?}: use http or https"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("mirror.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    const GOOD: &str = r#"
store = "store"
channel = "cube-stable"
[signing]
snapshot_key = "keys/snapshot.key"
repo_key = "keys/repo.key.asc"
[[apt]]
name = "debian"
url = "http://archive.example/debian"
suites = ["bookworm"]
components = ["main"]
packages = ["jq"]
keyring = "/usr/share/keyrings/example.gpg"
[[apt]]
name = "cuda"
url = "http://flat.example/repo/"
flat = true
keyring = "keys/cuda.gpg"
[[pypi]]
name = "pypi"
url = "https://index.example/simple/"
projects = ["requests>=2.31"]
platforms = ["manylinux_2_17_x86_64", "any"]
python = ["3.11", "3.12"]
"#;

    #[test]
    fn loads_and_resolves_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::load(&write(dir.path(), GOOD)).unwrap();
        assert_eq!(cfg.store_dir(), dir.path().join("store"));
        assert_eq!(cfg.apt[0].architectures, vec!["amd64"]);
        assert_eq!(
            cfg.resolve(&cfg.apt[1].keyring),
            dir.path().join("keys/cuda.gpg")
        );
        assert_eq!(
            cfg.resolve(&cfg.apt[0].keyring),
            PathBuf::from("/usr/share/keyrings/example.gpg")
        );
        assert!(!cfg.pypi[0].sdists);
    }

    #[test]
    fn refuses_unknown_keys_and_bad_rules() {
        let dir = tempfile::tempdir().unwrap();
        let err = Config::load(&write(
            dir.path(),
            &GOOD
                .replace("sdists", "x")
                .replace("python = [", "pythn = ["),
        ))
        .unwrap_err();
        assert!(format!("{err:#}").contains("pythn"), "{err:#}");
        let err = Config::load(&write(
            dir.path(),
            &GOOD.replace("flat = true", "flat = true\nsuites = [\"x\"]"),
        ))
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("flat repository has no suites"),
            "{err:#}"
        );
        let err = Config::load(&write(
            dir.path(),
            &GOOD.replace("name = \"cuda\"", "name = \"debian\""),
        ))
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("duplicate upstream name"),
            "{err:#}"
        );
        let err = Config::load(&write(
            dir.path(),
            &GOOD.replace("http://archive.example", "ftp://archive.example"),
        ))
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("unsupported url scheme"),
            "{err:#}"
        );
        let err = Config::load(&write(
            dir.path(),
            &GOOD.replace("cube-stable", "Cube Stable"),
        ))
        .unwrap_err();
        assert!(format!("{err:#}").contains("invalid channel"), "{err:#}");
    }
}
