//! The TOML configuration of `mirror-sync` (docs/configuration.md).
//!
//! Relative paths (`store`, `signing.*`, `apt.keyring`) are resolved against the directory
//! of the configuration file, so a config and its keys can move together.
//!
//! A table may start from a preset (`preset = "cuda"`, `"nvidia-container-toolkit"`,
//! `"ngc"`, `"nvidia-pypi"`; [`crate::preset`], docs/presets.md): the preset fills the
//! keys the table leaves out before the table is read.
//!
//! This module holds the top-level [`Config`] (store, channel, `[signing]`, `[sync]`), the
//! loading and the checks across sections (channel, at least one upstream, upstream names
//! unique over every section). Each ecosystem's table and its checks live in that
//! ecosystem's folder — `apt/config.rs` ([`AptUpstream`]), `pypi/config.rs`
//! ([`PypiUpstream`]), `oci/config.rs` ([`OciUpstream`]) — and are re-exported here, so
//! `crate::config::AptUpstream` keeps working. Imports run one way: `config` →
//! `<eco>::config`; the ecosystem config modules never import this one (the sync steps
//! read the loaded [`Config`]).

use std::collections::{BTreeMap, HashSet};
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
    /// OCI distribution registries, in order.
    #[serde(default)]
    pub oci: Vec<OciUpstream>,
    /// OSV vulnerability-data upstreams (`[[osv]]`), in order.
    #[serde(default)]
    pub osv: Vec<OsvUpstream>,
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

impl SyncTuning {
    /// A [`Fetcher`](crate::fetch::Fetcher) with this tuning (concurrency, retries,
    /// timeout in seconds) writing into `cas`. Errors: as
    /// [`Fetcher::new`](crate::fetch::Fetcher::new).
    pub fn fetcher(
        &self,
        cas: std::sync::Arc<store::Cas>,
        progress: crate::progress::Progress,
    ) -> anyhow::Result<crate::fetch::Fetcher> {
        crate::fetch::Fetcher::new(
            cas,
            self.concurrency,
            self.retries,
            std::time::Duration::from_secs(self.timeout_secs),
            progress,
        )
    }
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

/// `[[apt]]`: the table and its checks are defined in [`crate::apt::config`] (data flows
/// one way: `config` reads the file, each ecosystem owns its table's shape).
pub use crate::apt::config::{AptUpstream, check_keyring_fingerprints, normalize_fingerprint};

/// `[[pypi]]`: the table and its checks are defined in [`crate::pypi::config`].
pub use crate::pypi::config::PypiUpstream;

/// `[[oci]]`: the table is defined and checked with the OCI rules in [`crate::oci`]
/// (data flows one way: `config` reads the file, `oci` owns the table's shape).
pub use crate::oci::{DOCKER_HUB_API, OciUpstream};

/// `[[osv]]`: the table and its checks are defined in [`crate::osv::config`].
pub use crate::osv::OsvUpstream;

/// One rule of `[oci.verify]`: which cosign public keys may sign matching images
/// (`keys`, relative to the config file) and whether a signature is `required`; see
/// [`crate::oci::policy`].
pub type OciVerifyRule = keys::cosign::VerifyRule;

/// Checks an upstream name: `[a-z0-9][a-z0-9._-]*`, at most 64 bytes.
pub fn validate_name(name: &str) -> anyhow::Result<()> {
    formats::snapshot::validate_channel(name).map_err(|_| {
        anyhow::anyhow!(
            "invalid upstream name {name:?}: use lower-case letters, digits, '.', '_' and '-'"
        )
    })
}

impl Config {
    /// Reads and validates a configuration file, expanding presets against this host
    /// (root `/`).
    ///
    /// Errors: the file cannot be read, is not valid TOML of this shape (unknown keys are
    /// refused, with the key named), a preset cannot be expanded ([`crate::preset::expand`]),
    /// or the result breaks a rule checked by [`Config::validate`].
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        Self::load_with_host_root(path, Path::new("/"))
    }

    /// [`Config::load`] with the host filesystem rooted at `host_root`: presets look for
    /// host APT sources and keyrings below it (tests use a fake root).
    ///
    /// Errors: as [`Config::load`].
    pub fn load_with_host_root(path: &Path, host_root: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        let mut doc: toml::Table =
            toml::from_str(&text).with_context(|| format!("invalid config {}", path.display()))?;
        let mut cfg: Config = if crate::preset::uses_presets(&doc) {
            let ctx = crate::preset::HostContext {
                config_dir: base.clone(),
                host_root: host_root.to_path_buf(),
            };
            crate::preset::expand(&mut doc, &ctx)
                .with_context(|| format!("invalid config {}", path.display()))?;
            toml::Value::Table(doc)
                .try_into()
                .with_context(|| format!("invalid config {}", path.display()))?
        } else {
            // No preset: parse the text itself, so errors keep their line and column.
            toml::from_str(&text).with_context(|| format!("invalid config {}", path.display()))?
        };
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
        if self.apt.is_empty() && self.pypi.is_empty() && self.oci.is_empty() && self.osv.is_empty()
        {
            bail!("no upstreams: add at least one [[apt]], [[pypi]], [[oci]] or [[osv]] table");
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
            crate::apt::config::validate(a, &self.resolve(&a.keyring))?;
        }
        let mut bound: BTreeMap<String, String> = BTreeMap::new();
        crate::pypi::config::check_inputs(&self.pypi)?;
        for p in &self.pypi {
            validate_name(&p.name)?;
            if !names.insert(p.name.clone()) {
                bail!("duplicate upstream name {:?}", p.name);
            }
            crate::pypi::config::validate(p, &mut bound)?;
        }
        for o in &self.oci {
            validate_name(&o.name)?;
            if !names.insert(o.name.clone()) {
                bail!("duplicate upstream name {:?}", o.name);
            }
            crate::oci::validate_upstream(o).with_context(|| format!("[[oci]] {}", o.name))?;
        }
        for o in &self.osv {
            validate_name(&o.name)?;
            if !names.insert(o.name.clone()) {
                bail!("duplicate upstream name {:?}", o.name);
            }
            crate::osv::config::validate(o)?;
        }
        Ok(())
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

    const OCI: &str = r#"
[[oci]]
name = "hub"
registry = "docker.io"
images = ["library/ubuntu:24.04", "nginx"]
tags_regex = { "nginx" = "^1\\.27\\." }
tags_semver = { "library/redis" = ">=7.2, <7.3" }
platforms = ["linux/amd64", "linux/arm64"]
credentials = "env:HUB_TOKEN"
[oci.verify]
"docker.io/library/*" = { keys = ["keys/cosign.pub"], required = true }
[[oci]]
name = "local"
registry = "127.0.0.1:5000"
url = "http://127.0.0.1:5000"
images = ["team/app:v1"]
foreign_layers = true
referrers = false
"#;

    #[test]
    fn loads_oci_upstreams() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::load(&write(dir.path(), &format!("{GOOD}{OCI}"))).unwrap();
        assert_eq!(cfg.oci.len(), 2);
        let hub = &cfg.oci[0];
        assert_eq!(hub.api_base().unwrap().as_str(), DOCKER_HUB_API);
        assert!(hub.referrers && !hub.foreign_layers);
        assert_eq!(hub.platforms, vec!["linux/amd64", "linux/arm64"]);
        assert_eq!(hub.credentials.as_deref(), Some("env:HUB_TOKEN"));
        let rule = &hub.verify["docker.io/library/*"];
        assert!(rule.required);
        assert_eq!(rule.keys, vec![PathBuf::from("keys/cosign.pub")]);
        let local = &cfg.oci[1];
        assert_eq!(local.api_base().unwrap().as_str(), "http://127.0.0.1:5000/");
        assert!(!local.referrers && local.foreign_layers);
        // An [[oci]] table alone is a valid config.
        let only_oci = format!(
            "store = \"s\"\nchannel = \"c\"\n[signing]\nsnapshot_key = \"k\"\nrepo_key = \"r\"\n{OCI}"
        );
        Config::load(&write(dir.path(), &only_oci)).unwrap();
    }

    #[test]
    fn refuses_bad_oci_tables() {
        let dir = tempfile::tempdir().unwrap();
        let err = |from: &str, to: &str| {
            let text = format!("{GOOD}{}", OCI.replacen(from, to, 1));
            format!("{:#}", Config::load(&write(dir.path(), &text)).unwrap_err())
        };
        assert!(err("name = \"local\"", "name = \"hub\"").contains("duplicate upstream name"));
        assert!(
            err("registry = \"127.0.0.1:5000\"", "registry = \"a b\"").contains("invalid registry")
        );
        assert!(err("referrers = false", "referers = false").contains("referers"));
        assert!(err("\"nginx\"]", "\"nginx\", \"team/x\"]").contains("no tag or digest"));
        assert!(err("env:HUB_TOKEN", "HUB_TOKEN").contains("credentials"));
        assert!(err("linux/arm64\"", "arm64\"").contains("platform"));
        assert!(err("\"^1", "\"(^1").contains("tags_regex"));
    }

    const HEAD: &str =
        "store = \"s\"\nchannel = \"c\"\n[signing]\nsnapshot_key = \"k\"\nrepo_key = \"r\"\n";

    /// Writes a binary keyring with one fresh key to `path`; returns its fingerprint.
    fn keyring_at(path: &Path) -> String {
        let key =
            keys::openpgp::RepoSigningKey::generate("Preset Test <t@mirror.invalid>").unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, key.public_binary().unwrap()).unwrap();
        key.fingerprint()
    }

    /// Loads `HEAD + body` from `dir/mirror.toml` with the host root `dir/host`.
    fn load_preset(dir: &Path, body: &str) -> anyhow::Result<Config> {
        let p = write(dir, &format!("{HEAD}{body}"));
        Config::load_with_host_root(&p, &dir.join("host"))
    }

    fn err_of(r: anyhow::Result<Config>) -> String {
        format!("{:#}", r.unwrap_err())
    }

    #[test]
    fn cuda_preset_expands_and_pins_nvidia_keys() {
        let dir = tempfile::tempdir().unwrap();
        let fp = keyring_at(&dir.path().join(crate::preset::CUDA_KEYRING));
        let body = "[[apt]]\npreset = \"cuda\"\ndistro = \"ubuntu2404\"\narch = \"x86_64\"\npackages = [\"cuda-toolkit-12-6\"]\n";
        // The keyring next to the config is found, but it is not NVIDIA's: the pin says so,
        // naming the expected and the found keys.
        let e = err_of(load_preset(dir.path(), body));
        assert!(e.contains("none of the expected"), "{e}");
        assert!(
            e.contains("EB693B3035CD5710E231E123A4B469963BF863CC"),
            "{e}"
        );
        assert!(e.contains(&fp), "{e}");
        // Pinning the test key instead (as a user would after a key rotation): expands.
        let cfg = load_preset(
            dir.path(),
            &format!("{body}keyring_fingerprints = [\"{}\"]\n", fp.to_lowercase()),
        )
        .unwrap();
        let a = &cfg.apt[0];
        assert_eq!(a.name, "cuda-ubuntu2404-x86_64");
        assert_eq!(
            a.url,
            "https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2404/x86_64/"
        );
        assert!(a.flat && a.suites.is_empty() && a.components.is_empty());
        assert_eq!(a.architectures, vec!["amd64"]);
        assert_eq!(a.packages, vec!["cuda-toolkit-12-6"]);
        assert_eq!(a.keyring, PathBuf::from(crate::preset::CUDA_KEYRING));
        assert_eq!(
            cfg.resolve(&a.keyring),
            dir.path().join(crate::preset::CUDA_KEYRING)
        );
        // sbsa is Arm: APT architecture arm64.
        let sbsa = load_preset(
            dir.path(),
            &format!(
                "{}keyring_fingerprints = [\"{fp}\"]\n",
                body.replace("x86_64", "sbsa")
            ),
        )
        .unwrap();
        assert_eq!(sbsa.apt[0].name, "cuda-ubuntu2404-sbsa");
        assert!(sbsa.apt[0].url.ends_with("/ubuntu2404/sbsa/"));
        assert_eq!(sbsa.apt[0].architectures, vec!["arm64"]);
    }

    #[test]
    fn written_fields_win_over_the_preset() {
        let dir = tempfile::tempdir().unwrap();
        let fp = keyring_at(&dir.path().join("keys/mine.gpg"));
        let cfg = load_preset(
            dir.path(),
            &format!(
                "[[apt]]\npreset = \"cuda\"\ndistro = \"debian12\"\narch = \"x86_64\"\nname = \"cuda\"\n\
                 url = \"http://127.0.0.1:8080/cuda/\"\narchitectures = [\"amd64\", \"i386\"]\n\
                 keyring = \"keys/mine.gpg\"\nkeyring_fingerprints = [\"{fp}\"]\n\
                 [[apt]]\npreset = \"nvidia-container-toolkit\"\nname = \"nct\"\nurl = \"http://127.0.0.1:8080/nct/\"\n\
                 keyring = \"keys/mine.gpg\"\nkeyring_fingerprints = []\n\
                 [[oci]]\npreset = \"ngc\"\nurl = \"http://127.0.0.1:5000\"\ncredentials = \"file:ngc.key\"\nimages = [\"nvidia/cuda:12.6.0-base-ubuntu24.04\"]\n\
                 [[pypi]]\npreset = \"nvidia-pypi\"\nname = \"nv\"\nurl = \"http://127.0.0.1:8081/simple/\"\nprojects = [\"tensorrt\"]\n"
            ),
        )
        .unwrap();
        let a = &cfg.apt[0];
        assert_eq!(a.name, "cuda");
        assert_eq!(a.url, "http://127.0.0.1:8080/cuda/");
        assert_eq!(a.architectures, vec!["amd64", "i386"]);
        assert_eq!(a.keyring, PathBuf::from("keys/mine.gpg"));
        assert_eq!(a.keyring_fingerprints, vec![fp]);
        let t = &cfg.apt[1];
        assert_eq!(
            (t.name.as_str(), t.url.as_str()),
            ("nct", "http://127.0.0.1:8080/nct/")
        );
        assert!(t.flat && t.keyring_fingerprints.is_empty());
        let o = &cfg.oci[0];
        assert_eq!(o.name, "ngc");
        assert_eq!(o.registry, "nvcr.io");
        assert_eq!(o.credentials.as_deref(), Some("file:ngc.key"));
        assert_eq!(o.api_base().unwrap().as_str(), "http://127.0.0.1:5000/");
        let p = &cfg.pypi[0];
        assert_eq!(
            (p.name.as_str(), p.url.as_str()),
            ("nv", "http://127.0.0.1:8081/simple/")
        );
    }

    #[test]
    fn oci_pypi_and_toolkit_preset_defaults() {
        let dir = tempfile::tempdir().unwrap();
        keyring_at(&dir.path().join(crate::preset::CONTAINER_TOOLKIT_KEYRING));
        let cfg = load_preset(
            dir.path(),
            "[[apt]]\npreset = \"nvidia-container-toolkit\"\npackages = [\"nvidia-container-toolkit\"]\nkeyring_fingerprints = []\n\
             [[apt]]\npreset = \"nvidia-container-toolkit\"\narch = \"sbsa\"\nkeyring_fingerprints = []\n\
             [[oci]]\npreset = \"ngc\"\nimages = [\"nvidia/cuda:12.6.0-base-ubuntu24.04\"]\n\
             [[pypi]]\npreset = \"nvidia-pypi\"\nprojects = [\"tensorrt\"]\n",
        )
        .unwrap();
        let t = &cfg.apt[0];
        assert_eq!(t.name, "nvidia-container-toolkit");
        assert_eq!(
            t.url,
            "https://nvidia.github.io/libnvidia-container/stable/deb/amd64/"
        );
        assert!(t.flat);
        assert_eq!(t.architectures, vec!["amd64"]);
        assert_eq!(
            t.keyring,
            PathBuf::from(crate::preset::CONTAINER_TOOLKIT_KEYRING)
        );
        let arm = &cfg.apt[1];
        assert_eq!(arm.name, "nvidia-container-toolkit-arm64");
        assert!(arm.url.ends_with("/stable/deb/arm64/"));
        assert_eq!(arm.architectures, vec!["arm64"]);
        // Without an override the pins are NVIDIA's.
        let pinned = load_preset(
            dir.path(),
            "[[apt]]\npreset = \"nvidia-container-toolkit\"\n",
        );
        let e = err_of(pinned);
        assert!(
            e.contains("C95B321B61E88C1809C4F759DDCAE044F796ECB0"),
            "{e}"
        );
        let o = &cfg.oci[0];
        assert_eq!((o.name.as_str(), o.registry.as_str()), ("ngc", "nvcr.io"));
        assert_eq!(o.credentials.as_deref(), Some("env:NGC_API_KEY"));
        assert_eq!(o.api_base().unwrap().as_str(), "https://nvcr.io/");
        // `credentials = ""`: anonymous pulls of public images.
        let anon = load_preset(
            dir.path(),
            "[[oci]]\npreset = \"ngc\"\ncredentials = \"\"\nimages = [\"nvidia/cuda:12.6.0-base-ubuntu24.04\"]\n",
        )
        .unwrap();
        assert_eq!(anon.oci[0].credentials, None);
        assert_eq!(anon.oci[0].registry, "nvcr.io");
        let p = &cfg.pypi[0];
        assert_eq!(
            (p.name.as_str(), p.url.as_str()),
            ("nvidia-pypi", "https://pypi.nvidia.com/")
        );
        assert_eq!(p.projects, vec!["tensorrt"]);
    }

    #[test]
    fn keyring_comes_from_the_host_when_not_next_to_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("host");
        let body = "[[apt]]\npreset = \"cuda\"\ndistro = \"ubuntu2404\"\narch = \"x86_64\"\nkeyring_fingerprints = []\n";
        // Nowhere: a clear error saying where it looked and how to get it.
        let e = err_of(load_preset(dir.path(), body));
        assert!(
            e.contains("keyring cuda-archive-keyring.gpg not found"),
            "{e}"
        );
        assert!(e.contains("cuda-keyring package"), "{e}");
        assert!(
            e.contains(&host.join("usr/share/keyrings").display().to_string()),
            "{e}"
        );
        // The host's /usr/share/keyrings (what cuda-keyring installs).
        let shared = host
            .join("usr/share/keyrings")
            .join(crate::preset::CUDA_KEYRING);
        keyring_at(&shared);
        let cfg = load_preset(dir.path(), body).unwrap();
        assert_eq!(cfg.apt[0].keyring, shared);
        // A host APT source for the same URL names its own signed-by keyring: preferred.
        let own = host.join("etc/apt/keyrings/nvidia.gpg");
        keyring_at(&own);
        std::fs::create_dir_all(host.join("etc/apt/sources.list.d")).unwrap();
        std::fs::write(
            host.join("etc/apt/sources.list.d/cuda.sources"),
            "Types: deb\nURIs: https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2404/x86_64/\nSuites: /\nSigned-By: /etc/apt/keyrings/nvidia.gpg\n",
        )
        .unwrap();
        let cfg = load_preset(dir.path(), body).unwrap();
        assert_eq!(cfg.apt[0].keyring, own);
        // Next to the config beats the host.
        keyring_at(&dir.path().join("keys").join(crate::preset::CUDA_KEYRING));
        let cfg = load_preset(dir.path(), body).unwrap();
        assert_eq!(
            cfg.apt[0].keyring,
            PathBuf::from(format!("keys/{}", crate::preset::CUDA_KEYRING))
        );
    }

    #[test]
    fn preset_errors_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        keyring_at(&dir.path().join(crate::preset::CUDA_KEYRING));
        let e = |body: &str| err_of(load_preset(dir.path(), body));
        let unknown = e("[[apt]]\npreset = \"cudnn\"\n");
        assert!(unknown.contains("unknown preset \"cudnn\""), "{unknown}");
        for p in ["cuda", "nvidia-container-toolkit", "ngc", "nvidia-pypi"] {
            assert!(unknown.contains(p), "{unknown}");
        }
        assert!(e("[[apt]]\npreset = \"ngc\"\n").contains("belongs in an [[oci]] table"));
        assert!(e("[[apt]]\npreset = \"cuda\"\narch = \"x86_64\"\n").contains("needs distro"));
        assert!(e("[[apt]]\npreset = \"cuda\"\ndistro = \"ubuntu2404\"\n").contains("needs arch"));
        assert!(
            e("[[apt]]\npreset = \"cuda\"\ndistro = \"rhel9\"\narch = \"x86_64\"\n")
                .contains("not APT repositories")
        );
        assert!(
            e("[[apt]]\npreset = \"cuda\"\ndistro = \"ubuntu2404\"\narch = \"amd64\"\n")
                .contains("NVIDIA's spelling")
        );
        assert!(
            e("[[apt]]\npreset = \"nvidia-container-toolkit\"\ndistro = \"ubuntu2404\"\n")
                .contains("does not use distro")
        );
        assert!(
            e("[[oci]]\npreset = \"ngc\"\narch = \"x86_64\"\nimages = [\"a:1\"]\n")
                .contains("does not use arch")
        );
        let no_preset = e(
            "[[apt]]\nname = \"x\"\nurl = \"http://a.example/\"\nflat = true\nkeyring = \"k\"\ndistro = \"ubuntu2404\"\n",
        );
        assert!(
            no_preset.contains("only valid together with a preset"),
            "{no_preset}"
        );
        // The table is named in the error.
        assert!(unknown.contains("[[apt]] #1"), "{unknown}");
        let bad_pin = e(
            "[[apt]]\npreset = \"cuda\"\ndistro = \"ubuntu2404\"\narch = \"x86_64\"\nkeyring_fingerprints = [\"1234\"]\n",
        );
        assert!(bad_pin.contains("invalid fingerprint"), "{bad_pin}");
        // Unknown keys are still refused after expansion.
        let typo = e("[[pypi]]\npreset = \"nvidia-pypi\"\nprojects = [\"x\"]\nsdist = true\n");
        assert!(typo.contains("sdist"), "{typo}");
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
    #[test]
    fn pypi_routing_and_lock_keys() {
        let dir = tempfile::tempdir().unwrap();
        let ok = load_preset(
            dir.path(),
            "[[pypi]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/simple/\"\nprojects = [\"torch==2.5.1\"]\n\n[[pypi]]\nname = \"cu\"\nurl = \"http://127.0.0.1:9/cu/\"\nexplicit = true\nbind = [\"Torch\"]\nrequirements = [\"locks/r.txt\"]\nlock = [\"pylock.toml\"]\n",
        )
        .unwrap();
        assert!(ok.pypi[1].explicit && ok.pypi[1].bind == ["Torch"]);
        assert!(ok.pypi[1].projects.is_empty());
        assert_eq!(ok.pypi[1].requirements, [PathBuf::from("locks/r.txt")]);
        let e = |body: &str| err_of(load_preset(dir.path(), body));
        let m = e(
            "[[pypi]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/\"\nprojects = [\"x\"]\nexplicit = true\n",
        );
        assert!(m.contains("bind is empty"), "{m}");
        let m = e(
            "[[pypi]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/\"\nprojects = [\"x\"]\nbind = [\"torch\"]\n[[pypi]]\nname = \"b\"\nurl = \"http://127.0.0.1:9/b/\"\nbind = [\"TORCH\"]\n",
        );
        assert!(m.contains("bound to both") && m.contains("torch"), "{m}");
        let m = e("[[pypi]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/\"\n");
        assert!(m.contains("nothing to mirror"), "{m}");
    }
}
