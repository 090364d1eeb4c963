//! SBOMs of real snapshots (issue 4): `sbom show` prints the document the signed manifest
//! pins, and `sbom diff` (both CLIs, by drive path and by snapshot name) reports exactly
//! one upgraded, one added and one removed package between two snapshots.
//!
//! Schema validity of the documents is tested in `formats/tests/sbom_schema.rs` against the
//! official CycloneDX 1.6 and SPDX 2.3 schemas; here they must parse back and match the
//! manifest one-to-one.

use mirror_e2e::apt_fixture::DebSpec;
use mirror_e2e::product::{import_drive, read_manifest, s, sync_cli};
use mirror_e2e::world::world;

fn run_sync(args: &[&str]) -> Vec<u8> {
    let mut v = vec!["mirror-sync"];
    v.extend_from_slice(args);
    let mut out = Vec::new();
    mirror_sync::cli::run_to(v, &mut out).expect("mirror-sync");
    out
}

#[test]
fn sbom_show_and_diff_on_real_snapshots() {
    let Some(w) = world() else { return };
    sync_cli(&["sync", "--config", s(&w.config), "--quiet"]).expect("sync 1");
    let a = w.path("drive-a");
    sync_cli(&["export", "--config", s(&w.config), "--to", s(&a), "--quiet"]).expect("export 1");

    // Snapshot B: libcube1 upgraded upstream, cube-alt dropped, unrelated added.
    w.apt
        .add_standard_deb(&DebSpec::new("libcube1", "1.3-1", "amd64").field("Depends", "cube-base"))
        .unwrap();
    w.apt.refresh_standard().unwrap();
    let cfg = std::fs::read_to_string(&w.config).unwrap();
    let changed = cfg.replace(
        r#"packages = ["cube-tool", "cube-alt", "cube-plus"]"#,
        r#"packages = ["cube-tool", "cube-plus", "unrelated"]"#,
    );
    assert_ne!(cfg, changed, "the package list is in the config");
    std::fs::write(&w.config, changed).unwrap();
    sync_cli(&["sync", "--config", s(&w.config), "--quiet"]).expect("sync 2");
    let b = w.path("drive-b");
    sync_cli(&["export", "--config", s(&w.config), "--to", s(&b), "--quiet"]).expect("export 2");

    // show: the exact bytes the manifest pins, parsing back to one component per package.
    let (_, m) = read_manifest(&b);
    for (format, path, parse) in [
        (
            "cyclonedx",
            formats::snapshot::SBOM_CYCLONEDX_PATH,
            formats::sbom::parse_cyclonedx as fn(&[u8]) -> _,
        ),
        (
            "spdx",
            formats::snapshot::SBOM_SPDX_PATH,
            formats::sbom::parse_spdx,
        ),
    ] {
        let shown = run_sync(&["sbom", "show", s(&b), "--format", format]);
        let pinned = m.artifacts.iter().find(|x| x.path == path).unwrap();
        assert_eq!(
            formats::digest::Digest::of(&shown),
            pinned.digest,
            "{format}"
        );
        let comps = parse(&shown).unwrap();
        formats::sbom::check_against(&m, &comps).unwrap();
        let jq = comps
            .iter()
            .find(|c| c.name == "libcube1")
            .expect("libcube1 is a component");
        assert_eq!(
            jq.purl.as_deref(),
            Some("pkg:deb/test/libcube1@1.3-1?arch=amd64&distro=stable"),
            "{format}: vendor from the upstream Release's Origin"
        );
    }
    // By name, from this host's export history.
    let by_name = run_sync(&["sbom", "show", "cube-test/2", "--config", s(&w.config)]);
    assert_eq!(by_name, run_sync(&["sbom", "show", s(&b)]));

    // diff: one upgraded, one added, one removed.
    let check = |v: &serde_json::Value| {
        let entries = |k: &str| -> Vec<String> {
            v[k].as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    format!(
                        "{} {}",
                        e["ecosystem"].as_str().unwrap(),
                        e["name"].as_str().unwrap()
                    )
                })
                .collect()
        };
        assert_eq!(entries("changed"), ["deb libcube1"], "{v}");
        assert_eq!(entries("added"), ["deb unrelated"], "{v}");
        assert_eq!(entries("removed"), ["deb cube-alt"], "{v}");
        assert_eq!(v["changed"][0]["old"], serde_json::json!(["1.2-1"]), "{v}");
        assert_eq!(v["changed"][0]["new"], serde_json::json!(["1.3-1"]), "{v}");
        assert_eq!(v["old"], "cube-test/1");
        assert_eq!(v["new"], "cube-test/2");
    };
    let json: serde_json::Value =
        serde_json::from_slice(&run_sync(&["--json", "sbom", "diff", s(&a), s(&b)])).unwrap();
    check(&json);
    let table = String::from_utf8(run_sync(&["sbom", "diff", s(&a), s(&b)])).unwrap();
    assert!(
        table.contains("libcube1") && table.contains("1.2-1 → 1.3-1"),
        "{table}"
    );
    assert!(
        table.contains("cube-alt") && table.contains("unrelated"),
        "{table}"
    );

    // The server side: both imported, diffed by name.
    let store = w.path("server-store");
    for d in [&a, &b] {
        import_drive(d, &store, &w.keys.join("trusted")).expect("import");
    }
    let out = std::process::Command::new(mirror_e2e::workspace_bin("mirror-server").unwrap())
        .args([
            "sbom",
            "diff",
            "cube-test/1",
            "cube-test/2",
            "--json",
            "--store",
        ])
        .arg(&store)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check(&serde_json::from_slice(&out.stdout).unwrap());
}
