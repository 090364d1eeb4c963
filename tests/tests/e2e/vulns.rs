//! Offline vulnerability data (issue 17): an `[[osv]]` upstream served by a real local
//! HTTP server carries OSV exports (written here in the OSV schema for the fixture
//! packages) into the snapshot; the drive is exported and imported; `mirror-server vulns
//! --json` (the built binary) names exactly the expected findings, `--vex` writes a
//! CycloneDX VEX document, and `sbom diff --json` between two snapshots reports the
//! vulnerability an upgrade fixed.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use mirror_e2e::apt_fixture::DebSpec;
use mirror_e2e::product::{import_drive, s, server_cli, sync_cli};
use mirror_e2e::server::StaticServer;
use mirror_e2e::workspace_bin;
use mirror_e2e::world::world;
use serde_json::{Value, json};

/// Writes `records` as `<dir>/<ecosystem>/all.zip`, one `<id>.json` member each.
fn write_export(dir: &Path, ecosystem: &str, records: &[Value]) {
    let d = dir.join(ecosystem);
    std::fs::create_dir_all(&d).unwrap();
    let mut w = zip::ZipWriter::new(std::fs::File::create(d.join("all.zip")).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for r in records {
        w.start_file(format!("{}.json", r["id"].as_str().unwrap()), opts)
            .unwrap();
        w.write_all(&serde_json::to_vec_pretty(r).unwrap()).unwrap();
    }
    w.finish().unwrap();
}

fn record(id: &str, eco: &str, name: &str, events: Value, modified: &str) -> Value {
    json!({
        "schema_version": "1.6.0",
        "id": id,
        "modified": modified,
        "published": "2026-10-01T00:00:00Z",
        "aliases": [format!("CVE-2026-{}", 9000 + id.len())],
        "summary": format!("{name}: fixture vulnerability {id}"),
        "affected": [{
            "package": {"ecosystem": eco, "name": name},
            "ranges": [{"type": "ECOSYSTEM", "events": events}]
        }]
    })
}

fn vulns_json(store: &Path, extra: &[&str]) -> Value {
    let bin = workspace_bin("mirror-server").expect("cargo build -p mirror-server first");
    let out = Command::new(bin)
        .arg("vulns")
        .args(extra)
        .arg("--store")
        .arg(store)
        .arg("--json")
        .env_remove("MIRROR_SERVER_STORE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn finding<'a>(report: &'a Value, id: &str) -> Option<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
}

#[test]
fn osv_upstream_to_vulns_vex_and_diff() {
    let Some(w) = world() else { return };
    let osv_dir = w.path("osv-upstream");
    let debian = [
        // libcube1 1.2-1 is affected; 1.3-1 (synced later) fixes it.
        record(
            "DSA-9001-1",
            "Debian:12",
            "libcube1",
            json!([{"introduced": "0"}, {"fixed": "1.3-1"}]),
            "2026-11-28T00:00:00Z",
        ),
        // last_affected is inclusive: cube-plus 1.0+dfsg-1 is affected, with no fix.
        record(
            "DLA-9002-1",
            "Debian:12",
            "cube-plus",
            json!([{"introduced": "1.0~rc1"}, {"last_affected": "1.0+dfsg-1"}]),
            "2026-11-29T00:00:00Z",
        ),
        // A `fixed` at the installed version: not affected.
        record(
            "DSA-9005-1",
            "Debian:12",
            "cube-tool",
            json!([{"introduced": "0"}, {"fixed": "1.0-1"}]),
            "2026-11-20T00:00:00Z",
        ),
        // Withdrawn: never matched.
        {
            let mut r = record(
                "DSA-9003-1",
                "Debian:12",
                "cube-tool",
                json!([{"introduced": "0"}]),
                "2026-11-30T00:00:00Z",
            );
            r["withdrawn"] = json!("2026-11-30T00:00:00Z");
            r
        },
        // Another release: never matched.
        record(
            "DSA-9004-1",
            "Debian:11",
            "cube-tool",
            json!([{"introduced": "0"}]),
            "2026-11-20T00:00:00Z",
        ),
    ];
    write_export(&osv_dir, "Debian:12", &debian);
    let pypi = [
        // The record spells the project un-normalized; PEP 440: 2.1.0 fixes it.
        record(
            "PYSEC-2026-901",
            "PyPI",
            "Cube_Client",
            json!([{"introduced": "0"}, {"fixed": "2.1.0"}]),
            "2026-11-27T00:00:00Z",
        ),
        json!({
            "id": "GHSA-cube-0000-0001",
            "modified": "2026-12-01T06:00:00Z",
            "summary": "yanked release listed by version",
            "affected": [{"package": {"ecosystem": "PyPI", "name": "cube-client"}, "versions": ["2.1.0"]}]
        }),
    ];
    write_export(&osv_dir, "PyPI", &pypi);
    let server = StaticServer::start(&osv_dir).expect("OSV upstream server");
    let mut cfg = std::fs::read_to_string(&w.config).unwrap();
    cfg.push_str(&format!(
        "\n[[osv]]\nname = \"osv\"\nurl = \"{}/\"\necosystems = [\"Debian:12\", \"PyPI\"]\n",
        server.url
    ));
    std::fs::write(&w.config, cfg).unwrap();

    sync_cli(&["sync", "--config", s(&w.config), "--quiet"]).expect("sync 1");
    let drive1 = w.path("drive1");
    sync_cli(&[
        "export",
        "--config",
        s(&w.config),
        "--to",
        s(&drive1),
        "--quiet",
    ])
    .expect("export 1");
    let store = w.path("server-store");
    let trusted = w.keys.join("trusted");
    import_drive(&drive1, &store, &trusted).expect("import 1");

    let r = vulns_json(&store, &[]);
    assert_eq!(r["snapshot"], "cube-test/1");
    let dbs = r["databases"].as_array().unwrap();
    assert_eq!(dbs.len(), 2, "{r:#}");
    let deb_db = dbs.iter().find(|d| d["ecosystem"] == "Debian:12").unwrap();
    assert_eq!(deb_db["path"], "osv/osv/Debian:12/all.zip");
    assert_eq!(deb_db["records"], 5);
    assert_eq!(deb_db["withdrawn"], 1);
    assert_eq!(deb_db["newest_modified"], "2026-11-30T00:00:00Z");
    let libcube = finding(&r, "DSA-9001-1").expect("libcube1 1.2-1 is affected");
    assert_eq!(libcube["name"], "libcube1");
    assert_eq!(libcube["version"], "1.2-1");
    assert_eq!(libcube["ecosystem"], "Debian:12");
    assert_eq!(libcube["source"]["name"], "libcube1");
    assert_eq!(libcube["fixed"], "1.3-1");
    assert!(libcube.get("fixed_in_snapshot").is_none(), "{libcube}");
    let plus = finding(&r, "DLA-9002-1").expect("last_affected is inclusive");
    assert!(plus.get("fixed").is_none());
    for absent in ["DSA-9003-1", "DSA-9004-1", "DSA-9005-1"] {
        assert!(
            finding(&r, absent).is_none(),
            "{absent} must not match: {r:#}"
        );
    }
    let client: Vec<&Value> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "PYSEC-2026-901")
        .collect();
    assert!(!client.is_empty(), "{r:#}");
    for f in &client {
        assert_ne!(f["version"], "2.1.0", "{f}");
        assert_eq!(f["fixed"], "2.1.0");
        assert_eq!(
            f["fixed_in_snapshot"], "2.1.0",
            "the yanked 2.1.0 is pinned in the snapshot"
        );
    }
    let listed = finding(&r, "GHSA-cube-0000-0001").expect("versions list");
    assert_eq!(listed["version"], "2.1.0");

    // The VEX document: one vulnerability per advisory, each affecting its components.
    let vex = w.path("vex.json");
    server_cli(&["vulns", "--store", s(&store), "--vex", s(&vex)]).expect("vulns --vex");
    let doc: Value = serde_json::from_slice(&std::fs::read(&vex).unwrap()).unwrap();
    assert_eq!(doc["bomFormat"], "CycloneDX");
    let ids: Vec<&str> = doc["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    let mut want: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    want.sort();
    want.dedup();
    assert_eq!(ids, want);
    assert_eq!(doc["vulnerabilities"][0]["analysis"]["state"], "in_triage");

    // The human form names the data's age and each finding.
    let bin = workspace_bin("mirror-server").unwrap();
    let out = Command::new(&bin)
        .args(["vulns", "--store"])
        .arg(&store)
        .env_remove("MIRROR_SERVER_STORE")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "OSV data Debian:12 (osv/osv/Debian:12/all.zip): 5 records (1 withdrawn), newest record modified 2026-11-30T00:00:00Z",
        "days old",
        "DSA-9001-1",
        "libcube1",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }

    // --fail-on-findings turns findings into a failure.
    let e = server_cli(&["vulns", "--store", s(&store), "--fail-on-findings"]).unwrap_err();
    assert!(format!("{e:#}").contains("vulnerability findings"), "{e:#}");

    // Snapshot 2: libcube1 1.3-1 upstream fixes DSA-9001-1.
    w.apt
        .add_standard_deb(&DebSpec::new("libcube1", "1.3-1", "amd64").field("Depends", "cube-base"))
        .unwrap();
    w.apt.refresh_standard().unwrap();
    sync_cli(&["sync", "--config", s(&w.config), "--quiet"]).expect("sync 2");
    let drive2 = w.path("drive2");
    sync_cli(&[
        "export",
        "--config",
        s(&w.config),
        "--to",
        s(&drive2),
        "--quiet",
    ])
    .expect("export 2");
    import_drive(&drive2, &store, &trusted).expect("import 2");
    let r2 = vulns_json(&store, &["cube-test/2"]);
    assert!(finding(&r2, "DSA-9001-1").is_none(), "{r2:#}");

    let out = Command::new(&bin)
        .args([
            "sbom",
            "diff",
            "cube-test/1",
            "cube-test/2",
            "--json",
            "--store",
        ])
        .arg(&store)
        .env_remove("MIRROR_SERVER_STORE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    let v = &d["vulnerabilities"];
    assert_eq!(v["available"], true, "{d:#}");
    let fixed: Vec<&str> = v["fixed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(fixed, ["DSA-9001-1"], "{v:#}");
    assert_eq!(v["introduced"].as_array().unwrap().len(), 0, "{v:#}");
    let out = Command::new(&bin)
        .args(["sbom", "diff", "cube-test/1", "cube-test/2", "--store"])
        .arg(&store)
        .env_remove("MIRROR_SERVER_STORE")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("vulnerabilities: 1 fixed, 0 introduced"),
        "{text}"
    );
    // The package diff is still there.
    assert!(
        d["changed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "libcube1"),
        "{d:#}"
    );

    // The web console's diff page shows the same vulnerability diff.
    let (_rt, _handle, addr) = mirror_e2e::product::serve(&store);
    let out = Command::new("curl")
        .args(["-sS", "--fail"])
        .arg(format!(
            "http://{addr}/ui/diff?a=cube-test%2F1&b=cube-test%2F2"
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = String::from_utf8_lossy(&out.stdout);
    let vulns = page
        .split("id=\"vulnerabilities\"")
        .nth(1)
        .expect("the vulnerability section");
    assert!(vulns.contains("<h3>Fixed (1)</h3>"), "{vulns}");
    assert!(vulns.contains("DSA-9001-1"), "{vulns}");
    assert!(vulns.contains("<h3>Introduced (0)</h3>"), "{vulns}");
    assert!(!vulns.contains("No vulnerability data"), "{vulns}");
}
