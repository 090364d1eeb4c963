//! The standard offline scenario: a signed APT upstream (standard + flat) and a PEP 503
//! index of real wheels, both served on 127.0.0.1, snapshot keys, a trust bundle and a
//! mirror.toml that mirrors both. TEST-ONLY.

use std::path::PathBuf;

use crate::apt_fixture::{AptUpstream, build_apt_upstream};
use crate::product::{s, sync_cli};
use crate::pypi_fixture::build_pypi_upstream;
use crate::require_tools;
use crate::server::StaticServer;

/// Everything one scenario needs: the upstreams (kept serving while it lives), the keys,
/// the configuration, and scratch space.
pub struct World {
    /// Scratch space (removed on drop).
    pub tmp: tempfile::TempDir,
    /// The APT upstream (standard and flat repositories).
    pub apt: AptUpstream,
    _apt_server: StaticServer,
    _pypi_server: StaticServer,
    /// `keys/`: snapshot and repository keys; `keys/trusted` is the Cube's trust bundle.
    pub keys: PathBuf,
    /// mirror.toml.
    pub config: PathBuf,
}

impl World {
    /// A path in the scratch space.
    pub fn path(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }
}

/// Builds both upstreams, starts their servers, generates keys and writes mirror.toml.
/// `None` when a required tool is missing outside CI.
pub fn world() -> Option<World> {
    world_in(&std::env::temp_dir())
}

/// [`world`] with its scratch space in a new directory under `parent`.
pub fn world_in(parent: &std::path::Path) -> Option<World> {
    if !require_tools(&[
        "dpkg-deb",
        "dpkg-scanpackages",
        "apt-ftparchive",
        "gpg",
        "apt-get",
        "python3",
    ]) {
        return None;
    }
    let tmp = tempfile::Builder::new()
        .prefix("mirror-e2e-")
        .tempdir_in(parent)
        .unwrap();
    let apt = build_apt_upstream(&tmp.path().join("apt-upstream")).expect("APT fixture");
    let apt_server = StaticServer::start(&apt.root).expect("APT upstream server");
    let pypi_root = build_pypi_upstream(&tmp.path().join("pypi-upstream")).expect("PyPI fixture");
    let pypi_server = StaticServer::start(&pypi_root).expect("PyPI upstream server");
    let keys = tmp.path().join("keys");
    sync_cli(&["keys", "generate", "--out", s(&keys)]).expect("keys generate");
    let config = tmp.path().join("mirror.toml");
    // A hash-checking requirements file pinning the yanked cube-client 2.1.0 (PEP 592).
    let yanked = "cube_client-2.1.0-py3-none-any.whl";
    std::fs::create_dir_all(tmp.path().join("locks")).unwrap();
    std::fs::write(
        tmp.path().join("locks/yanked.txt"),
        format!(
            "cube-client==2.1.0 \\\n    --hash=sha256:{}\n",
            crate::pypi_fixture::package_sha256(&pypi_root, yanked)
        ),
    )
    .unwrap();
    std::fs::write(
        &config,
        format!(
            r#"
store = "store"
channel = "cube-test"

[signing]
snapshot_key = "keys/snapshot.key"
repo_key = "keys/repo.key.asc"

[[apt]]
name = "fixture"
url = "{apt}/standard/"
suites = ["stable"]
components = ["main"]
architectures = ["amd64"]
packages = ["cube-tool", "cube-alt", "cube-plus"]
keyring = "{keyring}"

[[apt]]
name = "flat"
url = "{apt}/flat/"
flat = true
packages = ["nv-tool"]
keyring = "{keyring}"

[[pypi]]
name = "fixture-pypi"
url = "{pypi}/simple/"
projects = ["cube-client"]
requirements = ["locks/yanked.txt"]   # cube-client 2.1.0 is yanked: kept only because a lock pins it
platforms = ["manylinux_2_17_x86_64", "any"]
python = ["3.11", "3.12"]
sdists = true
"#,
            apt = apt_server.url,
            pypi = pypi_server.url,
            keyring = apt.keyring.display(),
        ),
    )
    .unwrap();
    sync_cli(&[
        "keys",
        "bundle",
        "--config",
        s(&config),
        "--out",
        s(&keys.join("trusted")),
    ])
    .expect("keys bundle");
    Some(World {
        tmp,
        apt,
        _apt_server: apt_server,
        _pypi_server: pypi_server,
        keys,
        config,
    })
}
