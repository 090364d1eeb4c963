//! Held snapshots: `/snapshots/<name>/` serves every snapshot the store holds, stale
//! staging is swept, pins and unpins are audited.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION};

use super::*;
use crate::common::Fixture;

const HTML_1: &[u8] = b"<html><a href=\"foo_bar-1.0-py3-none-any.whl\">1</a></html>\n";
const JSON_1: &[u8] = br#"{"meta":{"api-version":"1.0"},"name":"foo-bar","files":[1]}"#;

fn served_files(seq: u64) -> Vec<(String, Vec<u8>)> {
    let mut v = snap_files(seq);
    let tag = |s: &str| format!("{s} of {seq}\n").into_bytes();
    v.push(("apt/cuda/cuda-x+1_amd64.deb".into(), tag("deb")));
    v.push(("apt/cuda/Packages".into(), tag("Packages")));
    if seq == 1 {
        v.push(("simple/foo-bar/index.html".into(), HTML_1.to_vec()));
        v.push(("simple/foo-bar/index.json".into(), JSON_1.to_vec()));
    } else {
        v.push(("simple/foo-bar/index.html".into(), tag("html")));
        v.push(("simple/foo-bar/index.json".into(), tag("json")));
    }
    v.push((
        "simple/foo-bar/foo_bar-1.0-py3-none-any.whl".into(),
        tag("wheel"),
    ));
    v
}

#[test]
fn snapshots_prefix_serves_held_snapshots() {
    let fx = Fixture::new();
    import(&fx, 1, &served_files(1));
    import(&fx, 2, &served_files(2));
    let server = Server::start(&fx.store);
    let p1 = "/snapshots/test/1";

    // Files: the prefix serves 1, the root serves 2.
    assert_eq!(
        server.get(&format!("{p1}/keys/repo.gpg")),
        (StatusCode::OK, b"repository key of snapshot 1\n".to_vec())
    );
    assert_eq!(
        server.get("/keys/repo.gpg"),
        (StatusCode::OK, b"repository key of snapshot 2\n".to_vec())
    );
    // The live snapshot under its own prefix too.
    assert_eq!(
        server.get("/snapshots/test/2/keys/repo.gpg").1,
        b"repository key of snapshot 2\n"
    );

    // APT, with the percent-encoded '+' and its content type.
    let (s, h, b) = server.request(
        reqwest::Method::GET,
        &format!("{p1}/apt/cuda/cuda-x%2b1_amd64.deb"),
        &[],
    );
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b, b"deb of 1\n");
    assert_eq!(h[CONTENT_TYPE], "application/vnd.debian.binary-package");
    let (s, h, b) = server.request(
        reqwest::Method::HEAD,
        &format!("{p1}/apt/cuda/Packages"),
        &[],
    );
    assert_eq!(s, StatusCode::OK);
    assert!(b.is_empty());
    assert_eq!(h["content-length"], "14");

    // PEP 691 negotiation and PEP 503 redirects, keeping the prefix.
    let (s, h, b) = server.request(
        reqwest::Method::GET,
        &format!("{p1}/simple/foo-bar/"),
        &[(ACCEPT, "application/vnd.pypi.simple.v1+json")],
    );
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h[CONTENT_TYPE], "application/vnd.pypi.simple.v1+json");
    assert_eq!(b, JSON_1);
    let (s, h, b) = server.request(reqwest::Method::GET, &format!("{p1}/simple/foo-bar/"), &[]);
    assert_eq!(s, StatusCode::OK);
    assert!(h[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    assert_eq!(b, HTML_1);
    for (from, to) in [
        (
            format!("{p1}/simple/Foo_Bar/"),
            format!("{p1}/simple/foo-bar/"),
        ),
        (
            format!("{p1}/simple/foo-bar"),
            format!("{p1}/simple/foo-bar/"),
        ),
        (format!("{p1}/simple"), format!("{p1}/simple/")),
        (p1.to_string(), format!("{p1}/")),
    ] {
        let (s, h, _) = server.request(reqwest::Method::GET, &from, &[]);
        assert_eq!(s, StatusCode::MOVED_PERMANENTLY, "{from}");
        assert_eq!(h[LOCATION], to.as_str(), "{from}");
    }
    assert_eq!(
        server
            .get(&format!("{p1}/simple/foo-bar/foo_bar-1.0-py3-none-any.whl"))
            .1,
        b"wheel of 1\n"
    );

    // Not held, or not a snapshot name: 404 with a clear message.
    let (s, b) = server.get("/snapshots/test/9/keys/repo.gpg");
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(String::from_utf8_lossy(&b).contains("snapshot test/9 is not held"));
    let (s, b) = server.get("/snapshots/Bad/x/keys/repo.gpg");
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(String::from_utf8_lossy(&b).contains("/snapshots/<channel>/<sequence>/<path>"));
    assert_eq!(
        server.get(&format!("{p1}/keys/none")).0,
        StatusCode::NOT_FOUND
    );

    // The list.
    let (s, b) = server.get("/snapshots/");
    assert_eq!(s, StatusCode::OK);
    let list: serde_json::Value = serde_json::from_slice(&b).unwrap();
    let names: Vec<(&str, bool, bool)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap(),
                r["live"].as_bool().unwrap(),
                r["pinned"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(names, [("test/1", false, false), ("test/2", true, false)]);
    assert_eq!(
        server.handle.as_ref().unwrap().state.held_cached(),
        ["test/1"],
        "the non-live table is cached"
    );

    // After gc removes test/1: 404 (the cache is dropped when current.gen changes).
    run(&fx, &["gc", "--keep", "1"]).unwrap();
    server.wait_for(&format!("{p1}/keys/repo.gpg"), StatusCode::NOT_FOUND, None);
    assert_eq!(
        server.get("/keys/repo.gpg").1,
        b"repository key of snapshot 2\n"
    );
}

#[test]
fn stale_staging_is_swept() {
    let fx = Fixture::new();
    import(&fx, 1, &snap_files(1));
    let tmp = fx.store.join("tmp");
    let stale: PathBuf = tmp.join("import-999999999-1");
    fs::create_dir_all(stale.join("blobs/sha256")).unwrap();
    fs::write(stale.join("blobs/sha256/partial"), b"half a blob").unwrap();
    let mine = tmp.join(format!("import-{}-1", std::process::id()));
    fs::create_dir_all(&mine).unwrap();

    assert_eq!(
        mirror_server::lifecycle::sweep_stale_staging(&fx.store).unwrap(),
        1
    );
    assert!(!stale.exists());
    assert!(mine.is_dir(), "a running process's staging is kept");

    // gc sweeps too.
    fs::create_dir_all(&stale).unwrap();
    let s = bin_json(&fx.store, &["gc", "--keep", "1", "--json"]);
    assert_eq!(s["staging_removed"], 1);
    assert!(!stale.exists() && mine.is_dir());
}

#[test]
fn pin_and_unpin_are_recorded() {
    let fx = Fixture::new();
    import(&fx, 1, &snap_files(1));
    let s = bin_json(&fx.store, &["pin", "test/1", "--reason", "r1", "--json"]);
    assert_eq!(
        (s["pinned"].as_bool(), s["changed"].as_bool()),
        (Some(true), Some(true))
    );
    let s = bin_json(&fx.store, &["pin", "test/1", "--reason", "r1", "--json"]);
    assert_eq!(s["changed"], false);
    let o = bin(&fx.store, &["unpin", "test/1"]);
    assert!(stdout(&o).contains("unpinned test/1"), "{}", stdout(&o));
    let o = bin(&fx.store, &["unpin", "test/1"]);
    assert!(o.status.success() && stdout(&o).contains("was not pinned"));
    let o = bin(&fx.store, &["unpin", "test/7"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("test/7 is not held"), "{}", stderr(&o));
    let events: Vec<String> = bin_json(&fx.store, &["audit", "show", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| matches!(r["event"].as_str(), Some("pin" | "unpin")))
        .map(|r| {
            format!(
                "{} {}",
                r["event"].as_str().unwrap(),
                r["snapshot"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(events, ["pin test/1", "unpin test/1"]);
    for cmd in ["rollback", "pin", "unpin", "gc", "verify", "snapshots"] {
        let o = Command::new(BIN).args([cmd, "--help"]).output().unwrap();
        assert!(
            o.status.success() && stdout(&o).contains("--store"),
            "{cmd}"
        );
    }
    let o = Command::new(BIN)
        .args(["audit", "verify", "--help"])
        .output()
        .unwrap();
    assert!(stdout(&o).contains("prev"));
}
