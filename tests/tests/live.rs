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

/// A figure of one step of the live Cube scenario: the command's wall time (s) and, when
/// GNU `time` is installed, its peak RSS (MiB).
struct Measured {
    out: mirror_e2e::Output,
    seconds: f64,
    peak_rss_mib: Option<f64>,
}

/// Runs the built `bin` with `args` (the product as a user runs it), timed and, through
/// `/usr/bin/time` when present, with its peak RSS.
fn measured(bin: &str, args: &[&str]) -> Measured {
    let exe = mirror_e2e::workspace_bin(bin).expect("cargo build the workspace binaries first");
    let rss_file = tempfile::NamedTempFile::new().unwrap();
    let gnu_time = Path::new("/usr/bin/time").exists();
    let mut cmd = if gnu_time {
        let mut c = std::process::Command::new("/usr/bin/time");
        c.arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(rss_file.path())
            .arg(&exe);
        c
    } else {
        std::process::Command::new(&exe)
    };
    cmd.args(args).env("MIRROR_PROGRESS_INTERVAL", "30");
    let started = std::time::Instant::now();
    let out = mirror_e2e::run_command(&mut cmd).unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let peak_rss_mib = std::fs::read_to_string(rss_file.path())
        .ok()
        .and_then(|t| t.lines().last()?.trim().parse::<f64>().ok())
        .map(|kib| kib / 1024.0);
    Measured {
        out,
        seconds,
        peak_rss_mib,
    }
}

fn env_list(name: &str, default: &str, sep: char) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(sep)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The Cube's day one from the README's flow, against this host's real upstreams
/// (issue 12): `init --from-host` (every APT source of the host root, security archives
/// included, and pip's index), `plan`, one `sync`, `keys bundle`, `export`, an import that
/// must refuse within a second when an upstream keyring is missing from the trust bundle,
/// the import, `serve`, then the clients configured only from `client-config`: `apt-get
/// install --download-only` of every package, and `pip install --dry-run --report` for
/// CPython 3.12 from the served index, whose picks the drive's wheels may exceed by at
/// most 5 % of bytes. Figures (time, peak RSS, bytes) are printed as `live figure:` lines.
///
/// Knobs (all optional): `MIRROR_LIVE_HOST_ROOT` (a directory with `etc/apt` to read
/// instead of `/`, e.g. an Ubuntu noble `ubuntu.sources`), `MIRROR_LIVE_APT_PACKAGES`
/// (comma-separated), `MIRROR_LIVE_PYPI_PROJECTS` (semicolon-separated PEP 508
/// requirements; the default is a small transformers set, the issue's torch set works
/// too), `MIRROR_LIVE_WORKDIR` (keep everything there instead of a temp dir).
#[test]
fn live_cube_day_one() {
    if std::env::var("MIRROR_LIVE_TESTS").as_deref() != Ok("1") {
        eprintln!("skipping: set MIRROR_LIVE_TESTS=1 to run against the host's real upstreams");
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("mirror-live-cube-")
        .tempdir()
        .unwrap();
    let dir = match std::env::var_os("MIRROR_LIVE_WORKDIR") {
        Some(d) => {
            std::fs::create_dir_all(&d).unwrap();
            std::path::PathBuf::from(d)
        }
        None => tmp.path().to_path_buf(),
    };
    let host_root = std::env::var("MIRROR_LIVE_HOST_ROOT").unwrap_or_else(|_| "/".into());
    let packages = env_list(
        "MIRROR_LIVE_APT_PACKAGES",
        "build-essential,python3-venv,python3-dev,git,curl,htop,tmux",
        ',',
    );
    let projects = env_list(
        "MIRROR_LIVE_PYPI_PROJECTS",
        "numpy<2.2;transformers==4.46.3;safetensors",
        ';',
    );
    let platforms = ["manylinux_2_17_x86_64", "manylinux_2_28_x86_64", "any"];
    let figure = |what: &str, m: &Measured| {
        eprintln!(
            "live figure: {what}: {:.3} s, peak RSS {}",
            m.seconds,
            m.peak_rss_mib
                .map(|r| format!("{r:.0} MiB"))
                .unwrap_or_else(|| "n/a".into())
        );
    };

    // keys generate; init --from-host writes the config, edited only for its lists.
    let sync = |args: &[&str]| measured("mirror-sync", args);
    sync(&["keys", "generate", "--out", s(&dir.join("keys"))])
        .out
        .assert_success();
    let config = dir.join("mirror.toml");
    let _ = std::fs::remove_file(&config);
    let mut init: Vec<String> = [
        "init",
        "--from-host",
        "--host-root",
        &host_root,
        "--store",
        "store",
        "--channel",
        "cube",
        "--python",
        "3.12",
        "--platform",
        &platforms.join(","),
        "--packages",
        &packages.join(","),
        "--output",
        s(&config),
    ]
    .iter()
    .map(|x| x.to_string())
    .collect();
    for p in &projects {
        init.push("--project".into());
        init.push(p.clone());
    }
    let init: Vec<&str> = init.iter().map(String::as_str).collect();
    sync(&init).out.assert_success();
    eprintln!(
        "live: config from init --from-host:\n{}",
        std::fs::read_to_string(&config).unwrap()
    );

    // plan reads only the indexes; a sync of this config must be able to succeed.
    let plan = sync(&["plan", "--config", s(&config), "--json"]);
    figure("plan", &plan);
    plan.out.assert_success();
    let plan: serde_json::Value = serde_json::from_str(&plan.out.stdout).unwrap();
    eprintln!(
        "live figure: plan: {} files, {} bytes, {} unsatisfied",
        plan["files"], plan["bytes"], plan["unsatisfied"]
    );
    assert!(
        plan["missing"].as_array().unwrap().is_empty(),
        "{}",
        plan["missing"]
    );

    // One sync.
    let synced = sync(&["sync", "--config", s(&config), "--json"]);
    figure("sync", &synced);
    synced.out.assert_success();
    let summary: serde_json::Value = serde_json::from_str(&synced.out.stdout).unwrap();
    eprintln!(
        "live figure: sync: {} files, {} bytes fetched, {} requests",
        summary["files_fetched"], summary["bytes_fetched"], summary["requests"]
    );

    // keys bundle, export.
    let trusted = dir.join("keys/trusted");
    sync(&[
        "keys",
        "bundle",
        "--config",
        s(&config),
        "--out",
        s(&trusted),
    ])
    .out
    .assert_success();
    let drive = dir.join("drive");
    let exported = sync(&["export", "--config", s(&config), "--to", s(&drive)]);
    figure("export", &exported);
    exported.out.assert_success();
    let (_, manifest) = mirror_e2e::product::read_manifest(&drive);
    let wheels: Vec<(String, u64)> = manifest
        .artifacts
        .iter()
        .filter(|a| a.kind.is_package())
        .filter_map(|a| a.meta.filename.clone().map(|f| (f, a.size)))
        .filter(|(f, _)| f.ends_with(".whl"))
        .collect();
    let drive_wheel_bytes: u64 = wheels.iter().map(|w| w.1).sum();
    let debs = manifest
        .artifacts
        .iter()
        .filter(|a| a.path.ends_with(".deb"))
        .count();
    eprintln!(
        "live figure: drive: {} artifacts, {debs} debs, {} wheels of {drive_wheel_bytes} bytes",
        manifest.artifacts.len(),
        wheels.len()
    );
    // SBOM quality on real packages (issue 17): suppliers, licenses, scanner purls.
    let comps = formats::sbom::components(&manifest);
    let count =
        |f: &dyn Fn(&formats::sbom::Component) -> bool| comps.iter().filter(|c| f(c)).count();
    let deb = |c: &formats::sbom::Component| c.ecosystem == formats::sbom::Ecosystem::Deb;
    let licenses: std::collections::BTreeSet<&str> =
        comps.iter().filter_map(|c| c.license.as_deref()).collect();
    eprintln!(
        "live figure: sbom: {} components, {} with a supplier; {} debs, {} with a license, {} with a LicenseRef; {} distinct licenses; {} deb purls with distro=<id>-<version>, {} with upstream=",
        comps.len(),
        count(&|c| c.supplier.is_some()),
        count(&deb),
        count(&|c| deb(c) && c.license.is_some()),
        count(&|c| deb(c)
            && c.license
                .as_deref()
                .is_some_and(|l| l.contains("LicenseRef-"))),
        licenses.len(),
        count(&|c| c
            .purl
            .as_deref()
            .is_some_and(|p| p.contains("distro=debian-") || p.contains("distro=ubuntu-"))),
        count(&|c| c.purl.as_deref().is_some_and(|p| p.contains("upstream="))),
    );
    assert_eq!(
        count(&|c| c.supplier.is_some()),
        comps.len(),
        "every component has a supplier"
    );

    // An import whose trust bundle lacks the upstream keyrings refuses within a second.
    let server = |args: &[&str]| measured("mirror-server", args);
    let partial = dir.join("keys/trusted-partial");
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).unwrap();
    for e in std::fs::read_dir(&trusted).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().unwrap().is_file() && name.ends_with(".pub") {
            std::fs::copy(e.path(), partial.join(&name)).unwrap();
        }
    }
    let store = dir.join("server-store");
    let _ = std::fs::remove_dir_all(&store);
    let refused = server(&[
        "import",
        s(&drive),
        "--store",
        s(&store),
        "--trusted-keys",
        s(&partial),
        "--quiet",
    ]);
    figure("import refused (upstream keyrings missing)", &refused);
    refused.out.assert_failure();
    assert!(
        refused.out.combined().contains("keys bundle"),
        "the refusal says how to fix it: {}",
        refused.out
    );
    assert!(
        refused.seconds < 1.0,
        "refused after {:.2} s",
        refused.seconds
    );

    let imported = server(&[
        "import",
        s(&drive),
        "--store",
        s(&store),
        "--trusted-keys",
        s(&trusted),
        "--quiet",
    ]);
    figure("import", &imported);
    imported.out.assert_success();

    // Serve; the clients are configured only from client-config.
    let (rt, handle, addr) = mirror_e2e::product::serve(&store);
    let base = format!("http://{addr}");
    let aptc = IsolatedApt::new(&[]).unwrap();
    let keyring = aptc.root().join("keyrings/mirror.gpg");
    let cc = server(&[
        "client-config",
        "--store",
        s(&store),
        "--base-url",
        &base,
        "--keyring-path",
        s(&keyring),
        "--json",
    ]);
    cc.out.assert_success();
    let cc: serde_json::Value = serde_json::from_str(&cc.out.stdout).unwrap();
    for cmd in cc["commands"].as_array().unwrap() {
        mirror_e2e::run_command(
            std::process::Command::new("sh").args(["-c", cmd.as_str().unwrap()]),
        )
        .unwrap()
        .assert_success();
    }
    let file_of = |kind: &str| -> String {
        cc["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in client-config: {cc}"))["content"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    std::fs::write(
        aptc.root().join("etc/sources.list.d/mirror.sources"),
        file_of("apt-sources"),
    )
    .unwrap();
    aptc.update().assert_success();
    let pkgs: Vec<&str> = packages.iter().map(String::as_str).collect();
    aptc.install_download_only(&pkgs).assert_success();
    eprintln!(
        "live figure: apt-get install --download-only: {} debs from the mirror",
        aptc.downloaded_debs().len()
    );

    // pip's picks for CPython 3.12 from the served index, with the printed pip.conf,
    // for each target platform (pip takes --platform literally: every tag an installer
    // there accepts is listed, best first); the union is what a Cube can install.
    let pip_conf = dir.join("pip.conf");
    std::fs::write(&pip_conf, file_of("pip")).unwrap();
    // A current pip in a venv (through the host's pip configuration): older pips (23.x)
    // check Requires-Python against the running interpreter even with --python-version.
    let pip_venv = dir.join("pip-venv");
    mirror_e2e::run_command(
        std::process::Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&pip_venv),
    )
    .unwrap()
    .assert_success();
    let venv_python = pip_venv.join("bin/python");
    mirror_e2e::run_command(
        std::process::Command::new(&venv_python)
            .args(["-m", "pip", "install", "--quiet", "--upgrade", "pip"])
            .env_remove("PIP_FIND_LINKS"),
    )
    .unwrap()
    .assert_success();
    let mut picks: std::collections::BTreeSet<String> = Default::default();
    for target in platforms.iter().filter(|p| **p != "any") {
        let report = dir.join(format!("pip-report-{target}.json"));
        let mut pip = std::process::Command::new(&venv_python);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("PIP_") {
                pip.env_remove(k);
            }
        }
        pip.env("PIP_CONFIG_FILE", &pip_conf).args([
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            "--python-version",
            "3.12",
            "--implementation",
            "cp",
            "--abi",
            "cp312",
            "--target",
            s(&dir.join("pip-dry-run-target")),
        ]);
        for p in formats::pypi::tags::compatible_platforms(target) {
            if p != "any" {
                pip.args(["--platform", &p]);
            }
        }
        pip.arg("--report").arg(&report).args(&projects);
        let out = mirror_e2e::run_command(&mut pip).unwrap();
        out.assert_success();
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        for i in r["install"].as_array().unwrap() {
            let url = i["download_info"]["url"].as_str().unwrap();
            assert!(url.starts_with(&base), "pip used the mirror: {url}");
            picks.insert(url.rsplit('/').next().unwrap().to_owned());
        }
    }
    let size_of = |f: &str| wheels.iter().find(|w| w.0 == f).map(|w| w.1);
    let missing: Vec<&String> = picks.iter().filter(|p| size_of(p).is_none()).collect();
    assert!(
        missing.is_empty(),
        "pip picked files the drive lacks: {missing:?}"
    );
    let pick_bytes: u64 = picks.iter().filter_map(|p| size_of(p)).sum();
    let ratio = drive_wheel_bytes as f64 / pick_bytes.max(1) as f64;
    eprintln!(
        "live figure: wheels: drive {drive_wheel_bytes} bytes in {} files; pip picks {pick_bytes} bytes in {} files; ratio {ratio:.3}",
        wheels.len(),
        picks.len()
    );
    assert!(
        ratio <= 1.05,
        "the drive's wheels are {:.1} % over pip's picks",
        (ratio - 1.0) * 100.0
    );
    rt.block_on(handle.shutdown());
}
