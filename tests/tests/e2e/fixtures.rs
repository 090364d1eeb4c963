//! Self-tests of the fixtures and the harness, independent of the mirror's code: the
//! upstreams are real and valid because real apt-get, gpgv, pip and uv accept them.

use std::fs;
use std::path::Path;
use std::process::Command;

use mirror_e2e::apt_fixture::{self, KEY_UID};
use mirror_e2e::py_clients::{installed_dists, python_version, venv_site_packages};
use mirror_e2e::pypi_fixture::CUBE_CLIENT_EXCLUDED;
use mirror_e2e::{
    IsolatedApt, StaticServer, build_apt_upstream, build_pypi_upstream, pip_install, require_tools,
    run_command, tree_digest, uv_install,
};

const APT_TOOLS: &[&str] = apt_fixture::REQUIRED_TOOLS;

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn apt_upstream_is_signed_and_installable_by_real_apt() {
    if !require_tools(APT_TOOLS) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let up = build_apt_upstream(tmp.path()).expect("build APT upstream");

    // Layout and signatures, checked with gpgv against the exported keyring.
    let suite = up.standard.join("dists/stable");
    for f in [
        "InRelease",
        "Release",
        "Release.gpg",
        "main/binary-amd64/Packages",
        "main/binary-amd64/Packages.gz",
        "main/binary-amd64/Packages.xz",
    ] {
        assert!(suite.join(f).is_file(), "missing dists/stable/{f}");
    }
    assert!(
        up.pool_dir("cube-tool")
            .join("cube-tool_1.0-1_amd64.deb")
            .is_file()
    );
    assert!(
        up.standard
            .join("pool/main/l/libcube1/libcube1_1.2-1_amd64.deb")
            .is_file()
    );
    let release = fs::read_to_string(suite.join("Release")).unwrap();
    for want in [
        "Origin: Test",
        "Suite: stable",
        "Codename: stable",
        "Architectures: amd64",
        "Components: main",
        "SHA256:",
        "main/binary-amd64/Packages.xz",
    ] {
        assert!(
            release.contains(want),
            "standard Release lacks {want:?}:\n{release}"
        );
    }
    assert!(
        !release
            .lines()
            .any(|l| l.ends_with(" Release") || l.ends_with(" InRelease")),
        "Release lists itself:\n{release}"
    );
    let packages = fs::read_to_string(suite.join("main/binary-amd64/Packages")).unwrap();
    assert!(packages.contains("Filename: pool/main/c/cube-tool/cube-tool_1.0-1_amd64.deb"));
    assert!(packages.contains("Version: 1.1-1") && packages.contains("Version: 1.2-1"));

    let flat_release = fs::read_to_string(up.flat.join("Release")).unwrap();
    assert!(flat_release.contains("SHA512:"), "{flat_release}");
    for absent in ["MD5Sum:", "SHA1:", "SHA256:"] {
        assert!(
            !flat_release.contains(absent),
            "flat Release has {absent}:\n{flat_release}"
        );
    }
    assert!(
        !up.flat.join("InRelease").exists(),
        "flat repo must have no InRelease"
    );
    let flat_packages = fs::read_to_string(up.flat.join("Packages")).unwrap();
    assert!(
        flat_packages.contains("Filename: ./nv-tool_2.0-1_amd64.deb"),
        "{flat_packages}"
    );
    assert_eq!(
        fs::read(up.flat.join("cube-plus_1.0+dfsg-1_amd64.deb")).unwrap(),
        fs::read(
            up.pool_dir("cube-plus")
                .join("cube-plus_1.0+dfsg-1_amd64.deb")
        )
        .unwrap(),
        "cube-plus must be byte-identical in both repositories"
    );

    let gpgv = |args: &[&Path]| {
        let mut cmd = Command::new("gpgv");
        cmd.arg("--keyring").arg(&up.keyring).args(args);
        run_command(&mut cmd).unwrap()
    };
    let out = gpgv(&[&suite.join("InRelease")]);
    out.assert_success();
    assert!(
        out.stderr.contains(&up.signing_subkey),
        "not signed by the subkey:\n{out}"
    );
    gpgv(&[&suite.join("Release.gpg"), &suite.join("Release")]).assert_success();
    gpgv(&[&up.flat.join("Release.gpg"), &up.flat.join("Release")]).assert_success();
    assert_ne!(up.fingerprint, up.signing_subkey);

    // Real apt-get, isolated, against both repositories.
    let server = StaticServer::start(&up.root).unwrap();
    let sources = [
        up.standard_source_line(&server.url),
        up.flat_source_line(&server.url),
    ];
    let apt = IsolatedApt::new(&strs(&sources)).unwrap();
    apt.update().assert_success();
    apt.install_download_only(&["cube-tool", "nv-tool"])
        .assert_success();
    assert_eq!(
        apt.downloaded_debs(),
        vec![
            "cube-base_1.0_all.deb",
            "cube-tool_1.0-1_amd64.deb",
            "libcube1_1.2-1_amd64.deb",
            "nv-lib_1.1-1_amd64.deb",
            "nv-tool_2.0-1_amd64.deb",
            "tiny-mta_2.0-1_amd64.deb",
        ]
    );
    apt.clear_downloads().unwrap();
    apt.install_download_only(&["cube-alt", "cube-plus"])
        .assert_success();
    assert_eq!(
        apt.downloaded_debs(),
        vec![
            "cube-alt_1.0-1_amd64.deb",
            "cube-base_1.0_all.deb",
            "cube-plus_1.0+dfsg-1_amd64.deb",
            "libcube1_1.2-1_amd64.deb",
        ]
    );
    let gets = server.requests("GET");
    assert!(
        gets.iter()
            .any(|p| p.contains("cube-plus_1.0%2bdfsg-1_amd64.deb")),
        "apt should percent-encode '+' as %2b: {gets:#?}"
    );
    assert!(!gets.iter().any(|p| p.contains("unrelated")), "{gets:#?}");

    // Flat repository alone: the Release + Release.gpg path (no InRelease).
    let flat_only = IsolatedApt::new(&[&up.flat_source_line(&server.url)]).unwrap();
    flat_only.update().assert_success();
    flat_only
        .install_download_only(&["nv-tool"])
        .assert_success();
    assert_eq!(
        flat_only.downloaded_debs(),
        vec!["nv-lib_1.1-1_amd64.deb", "nv-tool_2.0-1_amd64.deb"]
    );
    flat_only.run(&["download", "cube-plus"]).assert_success();
    assert!(
        flat_only
            .work_dir()
            .join("cube-plus_1.0+dfsg-1_amd64.deb")
            .is_file()
    );
}

#[test]
fn apt_update_fails_with_the_wrong_keyring() {
    if !require_tools(APT_TOOLS) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let up = build_apt_upstream(&tmp.path().join("up")).expect("build APT upstream");
    let other = apt_fixture::generate_test_key(
        &tmp.path().join("other-gnupg"),
        KEY_UID,
        &tmp.path().join("other.gpg"),
    )
    .unwrap();
    assert_ne!(other.fingerprint, up.fingerprint);

    let server = StaticServer::start(&up.root).unwrap();
    let wrong = |line: String| {
        line.replace(
            &*up.keyring.to_string_lossy(),
            &other.keyring.to_string_lossy(),
        )
    };
    for line in [
        up.standard_source_line(&server.url),
        up.flat_source_line(&server.url),
    ] {
        let apt = IsolatedApt::new(&[&wrong(line.clone())]).unwrap();
        let out = apt.update();
        out.assert_failure();
        // Signed by the subkey, which the wrong keyring does not hold.
        let keyid = &up.signing_subkey[up.signing_subkey.len() - 16..];
        assert!(
            out.combined().contains(&format!("NO_PUBKEY {keyid}")),
            "expected a signature error naming the signing subkey for {line}:\n{out}"
        );
        assert!(out.stderr.contains("is not signed"), "{out}");
        apt.install_download_only(&["cube-plus"]).assert_failure();
        assert!(apt.downloaded_debs().is_empty());

        // The right keyring works with the same sandbox.
        apt.set_sources(&[&line]).unwrap();
        apt.update().assert_success();
    }
}

#[test]
fn pypi_upstream_is_deterministic() {
    if !require_tools(&["python3"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let a = build_pypi_upstream(&tmp.path().join("a")).unwrap();
    let b = build_pypi_upstream(&tmp.path().join("b")).unwrap();
    assert_eq!(tree_digest(&a), tree_digest(&b));

    let page = fs::read_to_string(a.join("simple/cube-client/index.html")).unwrap();
    assert!(page.contains("data-requires-python=\"&gt;=3.9\""), "{page}");
    assert!(page.contains("data-yanked=\"broken upload\""), "{page}");
    assert!(page.contains("data-core-metadata=\"sha256="), "{page}");
    assert!(page.contains("href=\"../../packages/cube_client-2.0.0-py3-none-any.whl#sha256="));
    let proto = fs::read_to_string(a.join("simple/cube-proto/index.html")).unwrap();
    assert!(
        !proto.contains("data-core-metadata"),
        "only cube-client advertises metadata"
    );
    assert!(
        !proto.contains("cube_proto-1.1-py3-none-any.whl"),
        "1.1 is platform-only"
    );
    for wheel in fs::read_dir(a.join("packages")).unwrap() {
        let name = wheel.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".whl") {
            assert!(
                a.join("packages")
                    .join(format!("{name}.metadata"))
                    .is_file(),
                "{name}"
            );
        }
    }
    assert!(a.join("packages/cube_util-0.3.tar.gz").is_file());
}

fn assert_cube_client_closure(site: &Path, what: &str) {
    let dists = installed_dists(site);
    let names: Vec<&str> = dists.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        dists.contains(&("cube_client".into(), "2.0.0".into())),
        "{what}: {dists:?}"
    );
    assert!(
        dists.contains(&("cube_util".into(), "0.3".into())),
        "{what}: {dists:?}"
    );
    if python_version() == Some((3, 11)) {
        assert!(
            dists.contains(&("cube_proto".into(), "1.1".into())),
            "{what}: {dists:?}"
        );
    } else {
        assert!(names.contains(&"cube_proto"), "{what}: {dists:?}");
    }
    for excluded in CUBE_CLIENT_EXCLUDED {
        let dist = excluded.replace('-', "_");
        assert!(
            !names.contains(&dist.as_str()),
            "{what}: {excluded} installed: {dists:?}"
        );
    }
    assert_eq!(dists.len(), 3, "{what}: {dists:?}");
}

#[test]
fn pip_installs_cube_client_from_the_fixture_index() {
    if !require_tools(&["python3"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = build_pypi_upstream(&tmp.path().join("index")).unwrap();
    let server = StaticServer::start(&root).unwrap();
    let index = format!("{}/simple/", server.url);

    let target = tmp.path().join("target");
    pip_install(&index, &target, &["cube-client"]).assert_success();
    assert_cube_client_closure(&target, "pip");

    // The sdist builds offline through its in-tree backend.
    let sdist_target = tmp.path().join("sdist-target");
    mirror_e2e::py_clients::pip_install_with(
        &index,
        &sdist_target,
        &["cube-util"],
        &["--no-binary", "cube-util"],
    )
    .assert_success();
    assert_eq!(
        installed_dists(&sdist_target),
        vec![("cube_util".into(), "0.3".into())]
    );
    assert!(
        server
            .requests("GET")
            .iter()
            .any(|p| p == "/packages/cube_util-0.3.tar.gz")
    );

    // A missing project fails.
    pip_install(&index, &tmp.path().join("t2"), &["no-such-project"]).assert_failure();
}

#[test]
fn uv_installs_cube_client_from_the_fixture_index() {
    if !require_tools(&["python3", "uv"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = build_pypi_upstream(&tmp.path().join("index")).unwrap();
    let server = StaticServer::start(&root).unwrap();
    let index = format!("{}/simple/", server.url);

    let venv = tmp.path().join("venv");
    uv_install(&index, &venv, &["cube-client"]).assert_success();
    let site = venv_site_packages(&venv).expect("venv site-packages");
    assert_cube_client_closure(&site, "uv");
    // uv used the advertised PEP 658 metadata for cube-client.
    assert!(
        server
            .requests("GET")
            .iter()
            .any(|p| p.ends_with("cube_client-2.0.0-py3-none-any.whl.metadata")),
        "{}",
        server.request_log()
    );
}
