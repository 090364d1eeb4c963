//! The main job, end to end, offline: real upstreams made by real tools (an APT
//! repository built with dpkg-deb/dpkg-scanpackages/apt-ftparchive and signed by gpg with
//! a signing subkey, a PEP 503 index of real wheels and an sdist, both served by Python's
//! http.server), then `mirror-sync keys generate`, `sync`, `export`, `mirror-server
//! import` and `serve`, and real clients — `apt-get` (isolated), `pip`, `uv` — installing
//! from the server.

use std::collections::BTreeSet;
use std::process::Command;

use formats::digest::Digest;
use formats::snapshot::ArtifactKind;
use mirror_e2e::apt_client::IsolatedApt;
use mirror_e2e::product::{import_drive, read_manifest, s, serve, sync_cli, sync_json};
use mirror_e2e::py_clients::{pip_install, pip_install_with, uv_install};
use mirror_e2e::world::world;
use mirror_e2e::{require_tools, run_command};

fn curl(args: &[&str]) -> mirror_e2e::Output {
    run_command(
        Command::new("curl")
            .args(["-sS", "--noproxy", "*"])
            .args(args),
    )
    .unwrap()
}

#[test]
fn apt_pip_and_uv_install_from_an_imported_snapshot() {
    let Some(w) = world() else { return };
    if !require_tools(&["curl", "openssl", "uv"]) {
        return;
    }
    let first = sync_json(&w.config).1;
    assert!(first["files_fetched"].as_u64().unwrap() >= 12, "{first}");
    assert_eq!(first["failed"].as_array().unwrap().len(), 0, "{first}");
    // Nothing changed upstream: a re-sync downloads no file again.
    let again = sync_json(&w.config).1;
    assert_eq!(again["files_fetched"], 0, "{again}");
    assert_eq!(
        again["files_deduplicated"], first["files_fetched"],
        "{again}"
    );
    let drive = w.path("drive");
    sync_cli(&["export", "--config", s(&w.config), "--to", s(&drive)]).expect("export");

    // The drive: a manifest signed so that plain openssl verifies it.
    let (manifest_path, m) = read_manifest(&drive);
    assert_eq!(m.name(), "cube-test/1");
    let sig = format!("{}.sig", manifest_path.display());
    run_command(Command::new("openssl").args([
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        s(&w.keys.join("snapshot.pub")),
        "-rawin",
        "-in",
        s(&manifest_path),
        "-sigfile",
        &sig,
    ]))
    .unwrap()
    .assert_success();
    for a in &m.artifacts {
        let blob = drive.join("blobs/sha256").join(a.digest.hex());
        let bytes = std::fs::read(&blob).unwrap_or_else(|e| panic!("{}: {e}", blob.display()));
        assert_eq!(Digest::of(&bytes), a.digest, "{}", a.path);
        assert_eq!(bytes.len() as u64, a.size, "{}", a.path);
    }
    // The closure: what was asked for and its dependencies, nothing else.
    let debs: BTreeSet<String> = m
        .artifacts
        .iter()
        .filter(|a| a.kind == ArtifactKind::Deb)
        .map(|a| a.path.rsplit('/').next().unwrap().to_owned())
        .collect();
    let want: BTreeSet<String> = [
        "cube-tool_1.0-1_amd64.deb",
        "libcube1_1.2-1_amd64.deb",
        "cube-base_1.0_all.deb",
        "tiny-mta_2.0-1_amd64.deb",
        "cube-alt_1.0-1_amd64.deb",
        "cube-plus_1.0+dfsg-1_amd64.deb",
        "nv-tool_2.0-1_amd64.deb",
        "nv-lib_1.1-1_amd64.deb",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(debs, want);
    let wheels: BTreeSet<String> = m
        .artifacts
        .iter()
        .filter(|a| a.kind.is_package() && a.upstream.as_deref() == Some("fixture-pypi"))
        .filter_map(|a| a.meta.filename.clone())
        .collect();
    for must in [
        "cube_client-2.0.0-py3-none-any.whl",
        "cube_proto-1.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "cube_proto-1.1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "cube_util-0.3-py3-none-any.whl",
        "cube_util-0.3.tar.gz",
    ] {
        assert!(wheels.contains(must), "{must} missing from {wheels:?}");
    }
    for never in [
        "win_amd64",
        "cube_win",
        "cube_fast",
        "cube_legacy",
        "1.2rc1",
    ] {
        assert!(
            !wheels.iter().any(|w| w.contains(never)),
            "{never} must not be mirrored: {wheels:?}"
        );
    }
    // Provenance: the upstream InRelease (standard) and Release + Release.gpg (flat).
    for p in [
        "provenance/apt/fixture/dists/stable/InRelease",
        "provenance/apt/flat/Release",
        "provenance/apt/flat/Release.gpg",
        "provenance/apt/fixture/dists/stable/main/binary-amd64/Packages.xz",
    ] {
        assert!(m.artifacts.iter().any(|a| a.path == p), "{p} missing");
    }
    let apt_src = m.sources.iter().find(|s| s.name == "fixture").unwrap();
    assert_eq!(apt_src.upstream_signers, vec![w.apt.fingerprint.clone()]);

    // Import into an empty store, then serve.
    let store = w.path("server-store");
    import_drive(&drive, &store, &w.keys.join("trusted")).expect("import");
    let (rt, handle, addr) = serve(&store);
    let base = format!("http://{addr}");
    let keyring = w.keys.join("repo.pub.gpg");

    // apt-get against both the standard and the flat repository, verified with signed-by.
    let apt = IsolatedApt::new(&[
        &format!(
            "deb [signed-by={}] {base}/apt/fixture stable main",
            keyring.display()
        ),
        &format!("deb [signed-by={}] {base}/apt/flat/ /", keyring.display()),
    ])
    .unwrap();
    apt.update().assert_success();
    apt.install_download_only(&["cube-tool", "cube-alt", "nv-tool", "cube-plus"])
        .assert_success();
    let got: BTreeSet<String> = apt
        .downloaded_debs()
        .into_iter()
        .map(|d| d.replace("%3a", ":").replace("%2b", "+"))
        .collect();
    assert_eq!(got, want, "apt downloaded exactly the closure");
    // Byte for byte what upstream published.
    for g in apt.downloaded_debs() {
        let local = std::fs::read(apt.archives_dir().join(&g)).unwrap();
        let name = g.replace("%3a", ":").replace("%2b", "+");
        let pkg = name.split('_').next().unwrap();
        let upstream = if pkg.starts_with("nv-") {
            w.apt.flat.join(&name)
        } else {
            w.apt.pool_dir(pkg).join(&name)
        };
        assert_eq!(
            local,
            std::fs::read(&upstream).unwrap(),
            "{g} differs from {}",
            upstream.display()
        );
    }
    // Wrong key: apt refuses the repository.
    let other = w.path("other-keys");
    sync_cli(&["keys", "generate", "--out", s(&other)]).unwrap();
    let bad = IsolatedApt::new(&[&format!(
        "deb [signed-by={}] {base}/apt/fixture stable main",
        other.join("repo.pub.gpg").display()
    )])
    .unwrap();
    bad.update().assert_failure();

    // pip and uv.
    let index = format!("{base}/simple/");
    let target = w.path("pip-target");
    pip_install(&index, &target, &["cube-client"]).assert_success();
    let installed: Vec<String> = std::fs::read_dir(&target)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for d in ["cube_client-2.0.0.dist-info", "cube_util-0.3.dist-info"] {
        assert!(
            installed.iter().any(|i| i == d),
            "{d} not installed: {installed:?}"
        );
    }
    assert!(
        installed.iter().any(|i| i.starts_with("cube_proto-1.1")),
        "{installed:?}"
    );
    assert!(
        !installed.iter().any(|i| i.starts_with("cube_win")),
        "{installed:?}"
    );
    let venv = w.path("venv");
    uv_install(&index, &venv, &["cube-client"]).assert_success();
    // The sdist, built from the mirror by pip.
    let sdist_target = w.path("pip-sdist");
    pip_install_with(
        &index,
        &sdist_target,
        &["cube-util"],
        &["--no-binary", "cube-util"],
    )
    .assert_success();
    assert!(sdist_target.join("cube_util-0.3.dist-info").is_dir());

    // PEP 691 JSON by content negotiation, PEP 658 metadata, Range.
    let json = curl(&[
        "-H",
        "Accept: application/vnd.pypi.simple.v1+json",
        &format!("{index}cube-client/"),
    ]);
    json.assert_success();
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("PEP 691 JSON");
    assert_eq!(v["meta"]["api-version"], "1.1");
    let file = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["filename"] == "cube_client-2.0.0-py3-none-any.whl")
        .expect("cube-client 2.0.0 listed");
    let meta_sha = file["core-metadata"]["sha256"]
        .as_str()
        .expect("core-metadata hash");
    let meta = curl(&[
        "-f",
        &format!("{index}cube-client/cube_client-2.0.0-py3-none-any.whl.metadata"),
    ]);
    meta.assert_success();
    assert_eq!(Digest::of(meta.stdout.as_bytes()).hex(), meta_sha);
    assert!(
        meta.stdout.contains("Requires-Dist: cube-proto>=1.1"),
        "{}",
        meta.stdout
    );
    let html = curl(&["-f", &format!("{index}cube-client/")]);
    assert!(
        html.stdout.contains("data-requires-python=\"&gt;=3.9\""),
        "{}",
        html.stdout
    );
    assert!(
        html.stdout.contains("data-yanked"),
        "the yanked 2.1.0 keeps its flag: {}",
        html.stdout
    );

    rt.block_on(handle.shutdown());
}
