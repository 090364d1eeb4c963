//! Live run against this host's own upstreams (opt-in: `MIRROR_LIVE_TESTS=1`).
//!
//! The APT upstream is the first standard repository in the host's apt sources (on these
//! machines, the Debian archive, suite bookworm), component `main`, amd64, package `jq`
//! and its dependencies, verified with the keyring the source names. The Python upstream
//! is pip's configured index (or pip's default): `requests` and its dependencies for
//! CPython 3.11 on manylinux x86_64. Then export, import, serve, and real apt-get, pip
//! and uv install from the server. No upstream URL is written here: both come from the
//! host's configuration.

use std::path::Path;

use mirror_e2e::apt_client::IsolatedApt;
use mirror_e2e::product::s;
use mirror_e2e::py_clients::{pip_install, uv_install};
use mirror_sync::init::{guess_apt, host_apt_sources, host_pip_indexes};

#[test]
fn live_host_upstreams_end_to_end() {
    if std::env::var("MIRROR_LIVE_TESTS").as_deref() != Ok("1") {
        eprintln!("skipping: set MIRROR_LIVE_TESTS=1 to run against the host's real upstreams");
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("mirror-live-")
        .tempdir()
        .unwrap();
    let dir = tmp.path();
    let sources = host_apt_sources(Path::new("/")).expect("host apt sources");
    let apt = guess_apt(&sources, "amd64")
        .into_iter()
        .find(|g| !g.flat && g.components.iter().any(|c| c == "main"))
        .expect("a standard repository with a main component in the host's apt sources");
    let suite = apt.suites[0].clone();
    let keyring = apt
        .keyring
        .clone()
        .expect("the host's source names a Signed-By keyring");
    let (pip_urls, _) = host_pip_indexes("python3").expect("pip's index");

    mirror_sync::cli::run([
        "mirror-sync",
        "--quiet",
        "keys",
        "generate",
        "--out",
        s(&dir.join("keys")),
    ])
    .expect("keys");
    let config = dir.join("mirror.toml");
    std::fs::write(
        &config,
        format!(
            r#"
store = "store"
channel = "live"
[signing]
snapshot_key = "keys/snapshot.key"
repo_key = "keys/repo.key.asc"
[[apt]]
name = "{name}"
url = "{url}"
suites = ["{suite}"]
components = ["main"]
architectures = ["amd64"]
packages = ["jq"]
keyring = "{keyring}"
[[pypi]]
name = "pypi"
url = "{pypi}"
projects = ["requests"]
platforms = ["manylinux_2_17_x86_64", "any"]
python = ["3.11"]
"#,
            name = apt.name,
            url = apt.url,
            pypi = pip_urls[0],
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut v = vec!["mirror-sync"];
        v.extend_from_slice(args);
        mirror_sync::cli::run(v)
    };
    run(&["sync", "--config", s(&config)]).expect("sync");
    run(&[
        "keys",
        "bundle",
        "--config",
        s(&config),
        "--out",
        s(&dir.join("keys/trusted")),
    ])
    .expect("keys bundle");
    let drive = dir.join("drive");
    run(&["export", "--config", s(&config), "--to", s(&drive)]).expect("export");
    let store = dir.join("server-store");
    mirror_server::cli::run([
        "mirror-server",
        "import",
        s(&drive),
        "--store",
        s(&store),
        "--trusted-keys",
        s(&dir.join("keys/trusted")),
    ])
    .expect("import");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let handle = rt
        .block_on(mirror_server::serve::start(
            store.clone(),
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    let base = format!("http://{}", handle.addr);

    let aptc = IsolatedApt::new(&[&format!(
        "deb [signed-by={}] {base}/apt/{} {suite} main",
        dir.join("keys/repo.pub.gpg").display(),
        apt.name
    )])
    .unwrap();
    aptc.update().assert_success();
    aptc.install_download_only(&["jq"]).assert_success();
    let debs = aptc.downloaded_debs();
    assert!(debs.iter().any(|d| d.starts_with("jq_")), "{debs:?}");
    assert!(debs.iter().any(|d| d.starts_with("libjq1_")), "{debs:?}");

    let index = format!("{base}/simple/");
    let target = dir.join("pip-target");
    pip_install(&index, &target, &["requests"]).assert_success();
    let names: Vec<String> = std::fs::read_dir(&target)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for p in [
        "requests-",
        "urllib3-",
        "idna-",
        "certifi-",
        "charset_normalizer-",
    ] {
        assert!(
            names
                .iter()
                .any(|n| n.starts_with(p) && n.ends_with(".dist-info")),
            "{p}: {names:?}"
        );
    }
    uv_install(&index, &dir.join("venv"), &["requests"]).assert_success();
    rt.block_on(handle.shutdown());
}
