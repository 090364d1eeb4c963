//! `mirror-server client-config` drives real clients with its output, unedited: an
//! isolated `apt-get` (the printed deb822 `.sources` file in its SourceParts directory, the
//! repository key installed by the printed commands where `Signed-By:` says), `pip`
//! (`PIP_CONFIG_FILE` = the printed pip.conf) and `uv` (`--config-file` = the printed
//! uv.toml), against a snapshot whose APT repository has two suites (`stable` and
//! `stable-updates`, a package in each) and no image.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use mirror_e2e::apt_client::IsolatedApt;
use mirror_e2e::apt_fixture::{AptUpstream, DebSpec, build_deb};
use mirror_e2e::product::{import_drive, s, serve, sync_cli, sync_json};
use mirror_e2e::py_clients::{installed_dists, uv_command, venv_site_packages};
use mirror_e2e::world::world;
use mirror_e2e::{Output, require_tools, run_checked, run_command, workspace_bin};
use serde_json::Value;

/// The second suite of the fixture's standard repository.
const UPDATES: &str = "stable-updates";

/// Removes the machine's pip/uv settings and proxies from `cmd` (these machines set
/// `PIP_FIND_LINKS`, which would let pip install without the index under test).
fn scrub(cmd: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        let upper = key.to_string_lossy().to_ascii_uppercase();
        if upper.starts_with("PIP_")
            || upper.starts_with("UV_")
            || matches!(
                upper.as_str(),
                "HTTP_PROXY" | "HTTPS_PROXY" | "ALL_PROXY" | "NO_PROXY"
            )
        {
            cmd.env_remove(&key);
        }
    }
    cmd.env("LC_ALL", "C.UTF-8")
}

/// Publishes suite `stable-updates` in the fixture's standard repository: `cube-update
/// 1.1-1`, which depends on `libcube1 (>= 1.2)` from `stable`, in its own pool directory,
/// with `Packages` (+ `.gz`, `.xz`), a `Release` made by apt-ftparchive and signed like the
/// `stable` one.
fn add_updates_suite(up: &AptUpstream) {
    let spec = DebSpec::new("cube-update", "1.1-1", "amd64").field("Depends", "libcube1 (>= 1.2)");
    build_deb(&spec, &up.standard.join("pool-updates/main/c/cube-update")).unwrap();
    let suite_dir = up.standard.join("dists").join(UPDATES);
    let bin_dir = suite_dir.join("main/binary-amd64");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let packages = run_checked(
        Command::new("dpkg-scanpackages")
            .args(["--multiversion", "pool-updates/"])
            .current_dir(&up.standard),
    )
    .unwrap();
    std::fs::write(bin_dir.join("Packages"), &packages).unwrap();
    run_checked(
        Command::new("gzip")
            .args(["-9nk", "Packages"])
            .current_dir(&bin_dir),
    )
    .unwrap();
    run_checked(
        Command::new("xz")
            .args(["-k", "Packages"])
            .current_dir(&bin_dir),
    )
    .unwrap();
    let release = run_checked(
        Command::new("apt-ftparchive")
            .args([
                "-o",
                "APT::FTPArchive::Release::Origin=Test",
                "-o",
                "APT::FTPArchive::Release::Label=Test",
                "-o",
                &format!("APT::FTPArchive::Release::Suite={UPDATES}"),
                "-o",
                &format!("APT::FTPArchive::Release::Codename={UPDATES}"),
                "-o",
                "APT::FTPArchive::Release::Architectures=amd64",
                "-o",
                "APT::FTPArchive::Release::Components=main",
                "release",
                ".",
            ])
            .current_dir(&suite_dir),
    )
    .unwrap();
    std::fs::write(suite_dir.join("Release"), release).unwrap();
    up.sign(
        &suite_dir.join("Release"),
        Some(&suite_dir.join("InRelease")),
        &suite_dir.join("Release.gpg"),
    )
    .unwrap();
}

/// `mirror-server ARGS` (the built binary), its stdout and the whole output.
fn server_bin(args: &[&str]) -> Output {
    let bin = workspace_bin("mirror-server").expect("cargo build -p mirror-server first");
    run_command(
        Command::new(bin)
            .args(args)
            .env_remove("MIRROR_SERVER_STORE"),
    )
    .unwrap()
}

/// The printed file of kind `kind`.
fn file<'a>(v: &'a Value, kind: &str) -> &'a Value {
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} file in {v}"))
}

fn content<'a>(v: &'a Value, kind: &str) -> &'a str {
    file(v, kind)["content"].as_str().unwrap()
}

#[test]
fn apt_pip_and_uv_work_from_the_printed_client_config() {
    let Some(w) = world() else { return };
    if !require_tools(&["curl", "xz", "gzip", "uv"]) {
        return;
    }
    add_updates_suite(&w.apt);
    let config = std::fs::read_to_string(&w.config).unwrap();
    let config = config
        .replace(
            "suites = [\"stable\"]",
            &format!("suites = [\"stable\", \"{UPDATES}\"]"),
        )
        .replace(
            "packages = [\"cube-tool\", \"cube-alt\", \"cube-plus\"]",
            "packages = [\"cube-tool\", \"cube-update\"]",
        );
    std::fs::write(&w.config, config).unwrap();
    let (r, summary) = sync_json(&w.config);
    r.unwrap_or_else(|e| panic!("sync: {e:#}\n{summary}"));
    assert_eq!(summary["ok"], Value::Bool(true), "{summary}");
    let drive = w.path("drive");
    sync_cli(&["export", "--config", s(&w.config), "--to", s(&drive)]).expect("export");
    let store = w.path("server-store");
    import_drive(&drive, &store, &w.keys.join("trusted")).expect("import");
    let (rt, handle, addr) = serve(&store);
    let base = format!("http://{addr}");

    let apt = IsolatedApt::new(&[]).unwrap();
    let keyring = apt.root().join("keyrings/mirror.gpg");
    let out = server_bin(&[
        "client-config",
        "--store",
        s(&store),
        "--base-url",
        &base,
        "--keyring-path",
        s(&keyring),
        "--json",
    ]);
    out.assert_success();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["snapshot"], "cube-test/1", "{v}");

    // The deb822 stanza names both suites; the flat repository is `Suites: /`.
    let sources = content(&v, "apt-sources");
    assert!(
        sources.contains(&format!(
            "URIs: {base}/apt/fixture\nSuites: stable {UPDATES}\nComponents: main\nArchitectures: amd64\nSigned-By: {}\n",
            keyring.display()
        )),
        "{sources}"
    );
    assert!(
        sources.contains(&format!("URIs: {base}/apt/flat/\nSuites: /\n")),
        "{sources}"
    );
    assert_eq!(
        file(&v, "apt-sources")["path"],
        "/etc/apt/sources.list.d/mirror.sources"
    );
    // No image is served: no OCI files, and a note instead of a refusal.
    assert_eq!(v["oci"], Value::Null);
    assert!(
        v["notes"].to_string().contains("no OCI image is served"),
        "{v}"
    );

    // The printed commands install the key where Signed-By says.
    for cmd in v["commands"].as_array().unwrap() {
        run_command(scrub(
            Command::new("sh").args(["-c", cmd.as_str().unwrap()]),
        ))
        .unwrap()
        .assert_success();
    }
    assert_eq!(
        std::fs::read(&keyring).unwrap(),
        std::fs::read(w.keys.join("repo.pub.gpg")).unwrap(),
        "the installed key is the repository key"
    );
    let fingerprints = v["repo_key"]["fingerprints"].as_array().unwrap();
    assert_eq!(fingerprints.len(), 1, "{v}");

    // apt-get with the printed .sources file, unedited: both suites and the flat repo.
    std::fs::write(
        apt.root().join("etc/sources.list.d/mirror.sources"),
        sources,
    )
    .unwrap();
    apt.update().assert_success();
    apt.install_download_only(&["cube-tool", "cube-update", "nv-tool"])
        .assert_success();
    let got: BTreeSet<String> = apt.downloaded_debs().into_iter().collect();
    for want in [
        "cube-tool_1.0-1_amd64.deb",
        "cube-update_1.1-1_amd64.deb",
        "libcube1_1.2-1_amd64.deb",
        "nv-tool_2.0-1_amd64.deb",
    ] {
        assert!(got.contains(want), "{want} not downloaded: {got:?}");
    }
    // The one-line form works the same.
    let list = content(&v, "apt-list");
    let lines: Vec<&str> = list.lines().filter(|l| l.starts_with("deb ")).collect();
    assert_eq!(lines.len(), 3, "{list}");
    let apt_lines = IsolatedApt::new(&lines).unwrap();
    apt_lines.update().assert_success();
    apt_lines
        .install_download_only(&["cube-update"])
        .assert_success();
    // What the old advice (one suite) gives: the updates suite's package is missing.
    let one_suite = IsolatedApt::new(&[&format!(
        "deb [signed-by={}] {base}/apt/fixture stable main",
        keyring.display()
    )])
    .unwrap();
    one_suite.update().assert_success();
    let miss = one_suite.install_download_only(&["cube-update"]);
    miss.assert_failure();
    assert!(
        miss.combined().contains("Unable to locate package"),
        "{miss}"
    );

    // pip with the printed pip.conf as its only configuration.
    let py = w.path("py");
    std::fs::create_dir_all(&py).unwrap();
    let pip_conf = py.join("pip.conf");
    std::fs::write(&pip_conf, content(&v, "pip")).unwrap();
    let target = py.join("pip-target");
    let pip = run_command(
        scrub(&mut Command::new("python3"))
            .args([
                "-m",
                "pip",
                "install",
                "--no-cache-dir",
                "--disable-pip-version-check",
                "--no-input",
                "--target",
            ])
            .arg(&target)
            .arg("cube-client")
            .env("PIP_CONFIG_FILE", &pip_conf),
    )
    .unwrap();
    pip.assert_success();
    assert!(
        pip.combined().contains(&format!("{base}/simple/")),
        "pip used the mirror: {pip}"
    );
    let dists = installed_dists(&target);
    assert!(
        dists.iter().any(|(n, _)| n == "cube_client"),
        "{dists:?}\n{pip}"
    );

    // uv with the printed uv.toml.
    let uv_toml = py.join("uv.toml");
    std::fs::write(&uv_toml, content(&v, "uv")).unwrap();
    let venv = py.join("venv");
    let mut uv = uv_command().unwrap();
    scrub(&mut uv)
        .arg("venv")
        .arg(&venv)
        .args(["--python", "python3", "--config-file"])
        .arg(&uv_toml);
    run_command(&mut uv).unwrap().assert_success();
    let mut uv = uv_command().unwrap();
    scrub(&mut uv)
        .args(["pip", "install", "--no-cache", "--config-file"])
        .arg(&uv_toml)
        .arg("--python")
        .arg(venv.join("bin/python"))
        .arg("cube-client");
    let out = run_command(&mut uv).unwrap();
    out.assert_success();
    let site = venv_site_packages(&venv).unwrap();
    let dists = installed_dists(&site);
    assert!(
        dists.iter().any(|(n, _)| n == "cube_client"),
        "{dists:?}\n{out}"
    );

    // The text form prints the same files after `### <kind>: <path>` lines.
    let text = server_bin(&[
        "client-config",
        "--store",
        s(&store),
        "--base-url",
        &base,
        "--keyring-path",
        s(&keyring),
    ]);
    text.assert_success();
    assert!(
        text.stdout.contains(&format!(
            "### apt-sources: /etc/apt/sources.list.d/mirror.sources\n{sources}"
        )),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("### uv: /etc/uv/uv.toml\n"),
        "{}",
        text.stdout
    );

    // --write DIR: every file under DIR at its suggested path, the key at the keyring path.
    let written = w.path("written");
    server_bin(&[
        "client-config",
        "--store",
        s(&store),
        "--base-url",
        &base,
        "--write",
        s(&written),
    ])
    .assert_success();
    assert_eq!(
        std::fs::read_to_string(written.join("etc/pip.conf")).unwrap(),
        content(&v, "pip")
    );
    assert_eq!(
        std::fs::read(written.join("etc/apt/keyrings/mirror.gpg")).unwrap(),
        std::fs::read(w.keys.join("repo.pub.gpg")).unwrap()
    );
    assert!(Path::new(&written.join("etc/apt/sources.list.d/mirror.sources")).is_file());

    rt.block_on(handle.shutdown());
}

#[test]
fn client_config_refuses_a_store_with_nothing_imported() {
    let dir = tempfile::tempdir().unwrap();
    let out = server_bin(&["client-config", "--store", s(dir.path()), "--json"]);
    out.assert_failure();
    assert!(out.stderr.contains("no snapshot imported yet"), "{out}");
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["ok"], Value::Bool(false));
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("mirror-server import"),
        "{v}"
    );
}
