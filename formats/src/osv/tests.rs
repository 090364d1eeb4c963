//! OSV records written in the OSV schema for fixture packages, and hand-worked cases of
//! each ecosystem's ordering.

use std::io::Write;

use serde_json::{Value, json};

use super::matcher::{Scheme, evaluate, range_includes};
use super::*;
use crate::digest::Digest;
use crate::snapshot::{
    Artifact, ArtifactKind, MANIFEST_VERSION, Manifest, Meta, Source, SourceKind,
};

fn zip_of(records: &[Value]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for r in records {
        w.start_file(format!("{}.json", r["id"].as_str().unwrap()), opts)
            .unwrap();
        w.write_all(&serde_json::to_vec(r).unwrap()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn affected(v: Value) -> Affected {
    serde_json::from_value(v).unwrap()
}

fn ranged(kind: &str, events: Value) -> Affected {
    affected(json!({"ranges": [{"type": kind, "events": events}]}))
}

#[test]
fn debian_ordering_hand_worked() {
    // deb-version(7): epoch first, `~` before everything, then the revision.
    let deb = Scheme::Debian;
    let lt = |a: &str, b: &str| deb.compare(a, b) == Some(std::cmp::Ordering::Less);
    assert!(lt("2.0", "1:1.0"), "an epoch beats any upstream version");
    assert!(lt("1.0~rc1", "1.0"));
    assert!(lt("1.0~rc1-1", "1.0-1"));
    assert!(lt("3.0.13-0ubuntu3", "3.0.13-0ubuntu3.1"));
    assert!(lt("2.36-9+deb12u3", "2.36-9+deb12u4"));
    assert!(lt("3.0.11-1~deb12u1", "3.0.11-1"));

    // introduced 0, fixed 1:1.2-1: the epoch makes every epoch-0 version affected.
    let a = ranged(
        "ECOSYSTEM",
        json!([{"introduced": "0"}, {"fixed": "1:1.2-1"}]),
    );
    for v in ["1.5-1", "9.9", "1:1.2~rc1-1", "1:1.1-3"] {
        assert!(evaluate(&a, deb, v).is_some(), "{v} is below 1:1.2-1");
    }
    for v in ["1:1.2-1", "1:1.2-1+b1", "2:0.1"] {
        assert!(evaluate(&a, deb, v).is_none(), "{v} is fixed");
    }
    assert_eq!(
        evaluate(&a, deb, "1.5-1").unwrap().fixed.as_deref(),
        Some("1:1.2-1")
    );
    // A backport suffix below the fixed version: `~deb12u1` sorts before the release.
    let a = ranged(
        "ECOSYSTEM",
        json!([{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}]),
    );
    assert!(evaluate(&a, deb, "3.0.11-1~deb12u1").is_some());
    assert!(evaluate(&a, deb, "3.0.11-1~deb12u2").is_none());
    assert!(evaluate(&a, deb, "3.0.11-1").is_none());
}

#[test]
fn pep440_ordering_hand_worked() {
    let py = Scheme::Pep440;
    let a = ranged(
        "ECOSYSTEM",
        json!([{"introduced": "1.0"}, {"fixed": "2.0"}]),
    );
    // Pre-releases and dev releases of 2.0 come before 2.0: affected.
    for v in ["1.0", "1.0.post1", "1.9.9", "2.0rc1", "2.0.dev1", "2.0a1"] {
        assert!(evaluate(&a, py, v).is_some(), "{v} is in [1.0, 2.0)");
    }
    // 1.0a1 is before 1.0; a post-release of 2.0 is after 2.0.
    for v in [
        "0.9",
        "1.0a1",
        "1.0.dev0",
        "2.0",
        "2.0.0",
        "2.0.post1",
        "10.0",
    ] {
        assert!(evaluate(&a, py, v).is_none(), "{v} is outside [1.0, 2.0)");
    }
    // last_affected is inclusive.
    let a = ranged(
        "ECOSYSTEM",
        json!([{"introduced": "0"}, {"last_affected": "1.4"}]),
    );
    assert!(evaluate(&a, py, "1.4").is_some());
    assert!(evaluate(&a, py, "1.4.0").is_some());
    assert!(evaluate(&a, py, "1.4.post1").is_none());
    assert!(evaluate(&a, py, "1.4.1").is_none());
    assert_eq!(evaluate(&a, py, "1.0").unwrap().fixed, None);
    // A version that is not PEP 440 is not evaluated (and not called affected).
    assert!(!py.parses("not-a-version"));
    assert!(evaluate(&a, py, "not-a-version").is_none());
}

#[test]
fn several_ranges_give_the_smallest_fix_above() {
    let py = Scheme::Pep440;
    let a = ranged(
        "ECOSYSTEM",
        json!([{"introduced": "2.0"}, {"fixed": "2.5"}, {"introduced": "1.0"}, {"fixed": "1.2"}]),
    );
    assert_eq!(
        evaluate(&a, py, "1.1").unwrap().fixed.as_deref(),
        Some("1.2")
    );
    assert_eq!(
        evaluate(&a, py, "2.1").unwrap().fixed.as_deref(),
        Some("2.5")
    );
    assert!(evaluate(&a, py, "1.5").is_none(), "between the two ranges");
}

#[test]
fn semver_limits_versions_lists_and_git() {
    let s = Scheme::Pep440; // unused by SEMVER ranges
    let r: Range = serde_json::from_value(json!({
        "type": "SEMVER", "events": [{"introduced": "0"}, {"limit": "2.0.0"}]
    }))
    .unwrap();
    assert!(range_includes(&r, s, "1.9.0"));
    assert!(range_includes(&r, s, "2.0.0-rc.1"));
    assert!(!range_includes(&r, s, "2.0.0"));
    assert!(!range_includes(&r, s, "1.9"), "not SemVer: not evaluated");
    let r: Range = serde_json::from_value(json!({
        "type": "SEMVER", "events": [{"introduced": "1.2.0"}, {"fixed": "1.2.5"}]
    }))
    .unwrap();
    assert!(range_includes(&r, s, "1.2.4"));
    assert!(!range_includes(&r, s, "1.2.5"));
    assert!(!range_includes(&r, s, "1.1.9"));
    // GIT ranges are ignored; the versions list still matches (in PEP 440 equality).
    let a = affected(json!({
        "ranges": [{"type": "GIT", "repo": "https://git.example/x", "events": [{"introduced": "0"}]}],
        "versions": ["1.0", "1.1"]
    }));
    assert!(evaluate(&a, Scheme::Pep440, "1.0.0").is_some());
    assert!(evaluate(&a, Scheme::Pep440, "1.1").is_some());
    assert!(evaluate(&a, Scheme::Pep440, "1.2").is_none());
    assert!(evaluate(&a, Scheme::Debian, "1.1").is_some());
}

fn rec(id: &str, eco: &str, name: &str, events: Value) -> Value {
    json!({
        "schema_version": "1.6.0",
        "id": id,
        "modified": "2026-11-30T10:00:00Z",
        "published": "2026-11-01T10:00:00Z",
        "aliases": [format!("CVE-2026-{}", id.len() * 1000 + name.len())],
        "summary": format!("{name} issue"),
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [{
            "package": {"ecosystem": eco, "name": name},
            "ranges": [{"type": "ECOSYSTEM", "events": events}]
        }],
        "references": [{"type": "ADVISORY", "url": "https://osv.example/x"}]
    })
}

fn deb(upstream: &str, name: &str, version: &str, source: Option<&str>) -> Artifact {
    Artifact {
        kind: ArtifactKind::Deb,
        upstream: Some(upstream.into()),
        path: format!("apt/{upstream}/pool/main/{name}_{version}_amd64.deb"),
        digest: Digest::of(format!("{name}{version}").as_bytes()),
        size: 1,
        media_type: None,
        meta: Meta {
            name: Some(name.into()),
            version: Some(version.into()),
            source: source.map(Into::into),
            ..Meta::default()
        },
    }
}

fn wheel(name: &str, version: &str) -> Artifact {
    let file = format!("{name}-{version}-py3-none-any.whl");
    Artifact {
        kind: ArtifactKind::Wheel,
        upstream: Some("pypi".into()),
        path: format!("simple/files/{file}"),
        digest: Digest::of(file.as_bytes()),
        size: 1,
        media_type: None,
        meta: Meta {
            name: Some(name.into()),
            version: Some(version.into()),
            filename: Some(file),
            ..Meta::default()
        },
    }
}

fn osv_artifact(eco: &str, bytes: &[u8]) -> Artifact {
    Artifact {
        kind: ArtifactKind::Osv,
        upstream: Some("osv".into()),
        path: archive_path("osv", eco),
        digest: Digest::of(bytes),
        size: bytes.len() as u64,
        media_type: Some(ARCHIVE_MEDIA_TYPE.into()),
        meta: Meta {
            name: Some(eco.into()),
            ..Meta::default()
        },
    }
}

fn manifest(debian_distro: Option<&str>, artifacts: Vec<Artifact>) -> Manifest {
    let mut debian = Source::new("debian", SourceKind::Apt, "http://apt.example/debian");
    debian.distro = debian_distro.map(Into::into);
    let mut ubuntu = Source::new("ubuntu", SourceKind::Apt, "http://apt.example/ubuntu");
    ubuntu.distro = Some("ubuntu-24.04".into());
    Manifest {
        manifest_version: MANIFEST_VERSION,
        channel: "cube".into(),
        sequence: 1,
        created: "2026-12-01T00:00:00Z".into(),
        base: None,
        generator: "test".into(),
        signer: "ed25519:00".into(),
        sources: vec![
            debian,
            ubuntu,
            Source::new("pypi", SourceKind::Pypi, "http://pypi.example/simple"),
            Source::new("osv", SourceKind::Osv, "https://osv.example"),
        ],
        artifacts,
    }
}

/// The fixture databases: Debian:12, Ubuntu:24.04:LTS and PyPI.
fn databases() -> Vec<(String, Vec<u8>)> {
    let debian = zip_of(&[
        rec(
            "DSA-5001-1",
            "Debian:12",
            "openssl",
            json!([{"introduced": "0"}, {"fixed": "3.0.13-1~deb12u1"}]),
        ),
        rec(
            "DLA-9-1",
            "Debian:12",
            "zlib",
            json!([{"introduced": "0"}, {"fixed": "1:1.2.13.dfsg-2"}]),
        ),
        {
            let mut w = rec(
                "DSA-4000-1",
                "Debian:12",
                "openssl",
                json!([{"introduced": "0"}]),
            );
            w["withdrawn"] = json!("2026-11-20T00:00:00Z");
            w
        },
        rec(
            "DSA-0-1",
            "Debian:11",
            "openssl",
            json!([{"introduced": "0"}]),
        ),
    ]);
    let ubuntu = zip_of(&[
        rec(
            "USN-7000-1",
            "Ubuntu:24.04:LTS",
            "openssl",
            json!([{"introduced": "0"}, {"fixed": "3.0.13-0ubuntu3.2"}]),
        ),
        rec(
            "UBUNTU-PRO-1",
            "Ubuntu:Pro:24.04:LTS",
            "openssl",
            json!([{"introduced": "0"}]),
        ),
    ]);
    let pypi = zip_of(&[
        rec(
            "PYSEC-2026-1",
            "PyPI",
            "Requests",
            json!([{"introduced": "2.0"}, {"fixed": "2.32.0"}]),
        ),
        json!({
            "id": "GHSA-aaaa-bbbb-cccc", "modified": "2026-12-01T08:00:00Z",
            "affected": [{"package": {"ecosystem": "PyPI", "name": "idna"}, "versions": ["3.6", "3.7rc1"]}]
        }),
    ]);
    vec![
        ("Debian:12".into(), debian),
        ("Ubuntu:24.04:LTS".into(), ubuntu),
        ("PyPI".into(), pypi),
    ]
}

fn packages() -> Vec<Artifact> {
    vec![
        deb("debian", "libssl3", "3.0.11-1~deb12u2", Some("openssl")),
        deb(
            "debian",
            "libssl3t64",
            "3.0.13-1~deb12u1+b1",
            Some("openssl (3.0.13-1~deb12u1)"),
        ),
        deb("debian", "zlib1g", "1:1.2.13.dfsg-1", Some("zlib")),
        deb("ubuntu", "libssl3t64", "3.0.13-0ubuntu3.1", Some("openssl")),
        wheel("requests", "2.31.0"),
        wheel("requests", "2.32.3"),
        wheel("IDNA", "3.6.0"),
    ]
}

fn run_scan(distro: Option<&str>, dbs: &[(String, Vec<u8>)]) -> ScanReport {
    let parsed: Vec<(Artifact, Database)> = dbs
        .iter()
        .map(|(eco, bytes)| (osv_artifact(eco, bytes), parse_archive(bytes).unwrap()))
        .collect();
    let mut arts = packages();
    arts.extend(parsed.iter().map(|(a, _)| a.clone()));
    let m = manifest(distro, arts);
    m.validate().unwrap();
    let refs: Vec<(&Artifact, &Database)> = parsed.iter().map(|(a, d)| (a, d)).collect();
    scan(&m, &refs)
}

fn ids(r: &ScanReport) -> Vec<(String, String)> {
    r.findings
        .iter()
        .map(|f| (f.name.clone() + " " + &f.version, f.id.clone()))
        .collect()
}

#[test]
fn scan_matches_source_packages_per_release() {
    let r = run_scan(Some("debian-12"), &databases());
    let got = ids(&r);
    let want: Vec<(String, String)> = [
        ("libssl3 3.0.11-1~deb12u2", "DSA-5001-1"),
        ("zlib1g 1:1.2.13.dfsg-1", "DLA-9-1"),
        ("libssl3t64 3.0.13-0ubuntu3.1", "USN-7000-1"),
        ("IDNA 3.6.0", "GHSA-aaaa-bbbb-cccc"),
        ("requests 2.31.0", "PYSEC-2026-1"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let mut g = got.clone();
    g.sort();
    let mut w = want.clone();
    w.sort();
    assert_eq!(g, w, "{r:#?}");
    // No Debian:11 record, no withdrawn record, no Ubuntu Pro record matched.
    assert!(
        !got.iter()
            .any(|(_, id)| id == "DSA-0-1" || id == "DSA-4000-1" || id == "UBUNTU-PRO-1")
    );
    let ssl = r.findings.iter().find(|f| f.id == "DSA-5001-1").unwrap();
    assert_eq!(ssl.source.as_ref().unwrap().name, "openssl");
    assert_eq!(ssl.fixed.as_deref(), Some("3.0.13-1~deb12u1"));
    // The fixed source version is on the drive (libssl3t64 built from it).
    assert_eq!(ssl.fixed_in_snapshot.as_deref(), Some("3.0.13-1~deb12u1"));
    assert_eq!(ssl.aliases.len(), 1);
    assert_eq!(ssl.severity[0].kind, "CVSS_V3");
    let req = r.findings.iter().find(|f| f.id == "PYSEC-2026-1").unwrap();
    assert_eq!(req.fixed_in_snapshot.as_deref(), Some("2.32.3"));
    let usn = r.findings.iter().find(|f| f.id == "USN-7000-1").unwrap();
    assert_eq!(
        usn.fixed_in_snapshot, None,
        "the Debian build is another release"
    );
    let zlib = r.findings.iter().find(|f| f.id == "DLA-9-1").unwrap();
    assert_eq!(zlib.fixed_in_snapshot, None);
    assert_eq!(r.packages, 7);
    assert_eq!(r.not_covered, 0);
    assert_eq!(r.databases.len(), 3);
    assert_eq!(r.databases[0].withdrawn, 1);
    assert_eq!(
        r.databases[2].newest_modified.as_deref(),
        Some("2026-12-01T08:00:00Z")
    );
    let text = render(&r, "2026-12-03T00:00:00Z");
    assert!(
        text.contains("5 findings: 5 advisories on 5 of 7 packages"),
        "{text}"
    );
    assert!(text.contains("2 days old"), "{text}");
}

#[test]
fn a_source_without_distro_needs_exactly_one_ecosystem_of_its_family() {
    // Debian source without distro or origin: two deb ecosystems in the data, ambiguous.
    let r = run_scan(None, &databases());
    assert!(!r.findings.iter().any(|f| f.id == "DSA-5001-1"), "{r:#?}");
    assert_eq!(r.not_covered, 3);
    // Only Debian:12 and PyPI data: the Debian source matches Debian:12.
    let dbs: Vec<_> = databases()
        .into_iter()
        .filter(|(e, _)| e != "Ubuntu:24.04:LTS")
        .collect();
    let r = run_scan(None, &dbs);
    assert!(r.findings.iter().any(|f| f.id == "DSA-5001-1"), "{r:#?}");
    assert!(!r.findings.iter().any(|f| f.id == "USN-7000-1"));
}

#[test]
fn no_data_is_not_no_vulnerabilities() {
    let r = run_scan(Some("debian-12"), &[]);
    assert!(r.findings.is_empty());
    assert_eq!(r.not_covered, 7);
    let text = render(&r, "2026-12-03T00:00:00Z");
    assert!(text.contains("vulnerabilities are UNKNOWN"), "{text}");
    assert!(VulnDiff::between(&r, &run_scan(Some("debian-12"), &databases())).is_none());
    let mut with = run_scan(Some("debian-12"), &databases());
    with.snapshot = "cube/2".into();
    let outcome = VulnDiffOutcome::of(&r, &with);
    let text = outcome.render();
    assert_eq!(
        text,
        "vulnerabilities: not compared: cube/1 carries no OSV data (add an [[osv]] upstream on the build host)\n"
    );
    let j = serde_json::to_value(&outcome).unwrap();
    assert_eq!(j["available"], false);
    let j = serde_json::to_value(VulnDiffOutcome::of(&with, &with)).unwrap();
    assert_eq!(j["available"], true);
    assert!(j["fixed"].as_array().unwrap().is_empty());
}

#[test]
fn diff_names_fixed_and_introduced() {
    let old = run_scan(Some("debian-12"), &databases());
    let mut new = old.clone();
    new.snapshot = "cube/2".into();
    // requests upgraded (its finding disappears), a new advisory on zlib appears.
    new.findings.retain(|f| f.id != "PYSEC-2026-1");
    let mut extra = new
        .findings
        .iter()
        .find(|f| f.id == "DLA-9-1")
        .unwrap()
        .clone();
    extra.id = "DLA-10-1".into();
    new.findings.push(extra);
    let d = VulnDiff::between(&old, &new).unwrap();
    assert_eq!(d.fixed.len(), 1);
    assert_eq!(d.fixed[0].id, "PYSEC-2026-1");
    assert_eq!(d.fixed[0].versions, vec!["2.31.0".to_string()]);
    assert_eq!(d.introduced.len(), 1);
    assert_eq!(d.introduced[0].id, "DLA-10-1");
    let text = d.render();
    assert!(
        text.starts_with("vulnerabilities: 1 fixed, 1 introduced"),
        "{text}"
    );
    let j = serde_json::to_value(&d).unwrap();
    assert_eq!(j["fixed"][0]["name"], "requests");
}

#[test]
fn vex_lists_each_advisory_with_its_components() {
    let dbs = databases();
    let r = run_scan(Some("debian-12"), &dbs);
    let m = manifest(Some("debian-12"), packages());
    let doc: Value =
        serde_json::from_slice(&cyclonedx_vex(&r, &m, "2026-12-03T00:00:00Z")).unwrap();
    assert_eq!(doc["specVersion"], "1.6");
    let vulns = doc["vulnerabilities"].as_array().unwrap();
    assert_eq!(vulns.len(), 5);
    let dsa = vulns.iter().find(|v| v["id"] == "DSA-5001-1").unwrap();
    assert_eq!(dsa["analysis"]["state"], "in_triage");
    assert_eq!(dsa["ratings"][0]["method"], "CVSSv31");
    assert_eq!(
        dsa["affects"][0]["ref"],
        "apt/debian/pool/main/libssl3_3.0.11-1~deb12u2_amd64.deb"
    );
    let refs: Vec<&str> = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["bom-ref"].as_str().unwrap())
        .collect();
    for v in vulns {
        for a in v["affects"].as_array().unwrap() {
            assert!(refs.contains(&a["ref"].as_str().unwrap()), "{a}");
        }
    }
}

#[test]
fn hostile_archives_are_refused_with_the_member_named() {
    assert!(matches!(
        parse_archive(b"not a zip"),
        Err(OsvError::Archive(_))
    ));
    let bad_json = {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.start_file("X-1.json", zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(b"{\"id\": 5}").unwrap();
        w.finish().unwrap().into_inner()
    };
    let e = parse_archive(&bad_json).unwrap_err().to_string();
    assert!(
        e.contains("X-1.json") && e.contains("not an OSV record"),
        "{e}"
    );
    let mut r = rec("X-2", "PyPI", "a", json!([]));
    r["modified"] = json!("yesterday");
    let e = parse_archive(&zip_of(&[r])).unwrap_err().to_string();
    assert!(e.contains("RFC 3339"), "{e}");
    let other = {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.start_file("run.sh", zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(b"#!/bin/sh").unwrap();
        w.finish().unwrap().into_inner()
    };
    let e = parse_archive(&other).unwrap_err().to_string();
    assert!(e.contains("not a .json member"), "{e}");
    // A record over the size limit is refused without being decompressed whole.
    let big = {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.start_file(
            "B.json",
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated),
        )
        .unwrap();
        let chunk = vec![b' '; 1 << 20];
        for _ in 0..17 {
            w.write_all(&chunk).unwrap();
        }
        w.finish().unwrap().into_inner()
    };
    let e = parse_archive(&big).unwrap_err().to_string();
    assert!(e.contains("larger than"), "{e}");
    assert!(archive::check_ecosystem("Ubuntu:Pro:24.04:LTS").is_err());
    archive::check_ecosystem("Debian:12").unwrap();
}
