//! The CycloneDX VEX document of `mirror-server vulns --vex` validates against the
//! OFFICIAL CycloneDX 1.6 JSON schema kept in `fixtures/sbom/` (offline validator, as in
//! `sbom_schema.rs`), and a broken document is rejected (the validator is active).

use std::path::PathBuf;

use formats::digest::Digest;
use formats::osv::{DatabaseSummary, Finding, ScanReport, Severity, SourcePackage, cyclonedx_vex};
use formats::snapshot::{
    Artifact, ArtifactKind, MANIFEST_VERSION, Manifest, Meta, Source, SourceKind,
};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/sbom")
        .join(name);
    serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap()
}

fn validator() -> jsonschema::Validator {
    let mut builder = jsonschema::Registry::new();
    for dep in ["spdx.schema.json", "jsf-0.82.schema.json"] {
        let schema = fixture(dep);
        let id = schema["$id"].as_str().unwrap().to_owned();
        builder = builder.add(id, schema).unwrap();
    }
    let registry = builder.prepare().unwrap();
    jsonschema::options()
        .offline()
        .with_registry(&registry)
        .should_validate_formats(true)
        .build(&fixture("bom-1.6.schema.json"))
        .unwrap()
}

fn sev(kind: &str, score: &str) -> Severity {
    Severity {
        kind: kind.into(),
        score: score.into(),
    }
}

fn finding(path: &str, name: &str, version: &str, id: &str, severity: Vec<Severity>) -> Finding {
    Finding {
        path: path.into(),
        kind: if path.ends_with(".deb") {
            ArtifactKind::Deb
        } else {
            ArtifactKind::Wheel
        },
        ecosystem: if path.ends_with(".deb") {
            "Ubuntu:24.04:LTS".into()
        } else {
            "PyPI".into()
        },
        name: name.into(),
        version: version.into(),
        source: path.ends_with(".deb").then(|| SourcePackage {
            name: "openssl".into(),
            version: version.into(),
        }),
        id: id.into(),
        aliases: vec!["CVE-2026-0001".into(), "GHSA-abcd-efgh-ijkl".into()],
        summary: Some("a <summary> with \"quotes\"".into()),
        severity,
        fixed: Some("9.9".into()),
        fixed_in_snapshot: None,
        modified: "2026-11-30T10:00:00Z".into(),
    }
}

fn artifact(path: &str, kind: ArtifactKind, upstream: &str, name: &str, version: &str) -> Artifact {
    Artifact {
        kind,
        upstream: Some(upstream.into()),
        path: path.into(),
        digest: Digest::of(path.as_bytes()),
        size: 1,
        media_type: None,
        meta: Meta {
            name: Some(name.into()),
            version: Some(version.into()),
            ..Meta::default()
        },
    }
}

#[test]
fn vex_validates_against_cyclonedx_1_6() {
    let deb = "apt/ubuntu/pool/main/o/openssl/libssl3t64_3.0.13-0ubuntu3.1_amd64.deb";
    let whl = "simple/files/requests-2.31.0-py3-none-any.whl";
    let mut ubuntu = Source::new("ubuntu", SourceKind::Apt, "http://apt.example/ubuntu");
    ubuntu.distro = Some("ubuntu-24.04".into());
    ubuntu.origin = Some("Ubuntu".into());
    let m = Manifest {
        manifest_version: MANIFEST_VERSION,
        channel: "cube".into(),
        sequence: 4,
        created: "2026-12-01T00:00:00Z".into(),
        base: None,
        generator: "test".into(),
        signer: "ed25519:00".into(),
        sources: vec![
            ubuntu,
            Source::new("pypi", SourceKind::Pypi, "http://pypi.example/simple"),
        ],
        artifacts: vec![
            artifact(
                deb,
                ArtifactKind::Deb,
                "ubuntu",
                "libssl3t64",
                "3.0.13-0ubuntu3.1",
            ),
            artifact(whl, ArtifactKind::Wheel, "pypi", "requests", "2.31.0"),
        ],
    };
    let report = ScanReport {
        snapshot: "cube/4".into(),
        created: m.created.clone(),
        databases: vec![DatabaseSummary {
            path: "osv/osv/PyPI/all.zip".into(),
            upstream: Some("osv".into()),
            ecosystem: "PyPI".into(),
            records: 2,
            withdrawn: 0,
            newest_modified: Some("2026-11-30T10:00:00Z".into()),
        }],
        packages: 2,
        not_covered: 0,
        unparsed_versions: vec![],
        findings: vec![
            finding(
                deb,
                "libssl3t64",
                "3.0.13-0ubuntu3.1",
                "USN-7000-1",
                vec![sev("Ubuntu", "negligible")],
            ),
            finding(
                whl,
                "requests",
                "2.31.0",
                "PYSEC-2026-1",
                vec![
                    sev("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
                    sev("CVSS_V3", "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
                    sev(
                        "CVSS_V4",
                        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                    ),
                    sev("CVSS_V2", "AV:N/AC:L/Au:N/C:P/I:P/A:P"),
                ],
            ),
            finding(whl, "requests", "2.31.0", "GHSA-zzzz-yyyy-xxxx", vec![]),
        ],
    };
    let bytes = cyclonedx_vex(&report, &m, "2026-12-03T12:00:00Z");
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    let v = validator();
    let errors: Vec<String> = v
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
    assert_eq!(doc["vulnerabilities"].as_array().unwrap().len(), 3);
    let ratings = doc["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == "PYSEC-2026-1")
        .unwrap()["ratings"]
        .clone();
    let methods: Vec<&str> = ratings
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["CVSSv31", "CVSSv3", "CVSSv4", "CVSSv2"]);
    // The purl of each affected component comes from the manifest, as in the SBOM.
    let comps = doc["components"].as_array().unwrap();
    assert!(
        comps.iter().any(|c| c["purl"]
            .as_str()
            .is_some_and(|p| p.starts_with("pkg:pypi/requests@2.31.0"))),
        "{comps:#?}"
    );

    // The validator is active: an analysis state outside the enumeration is rejected.
    let mut broken = doc.clone();
    broken["vulnerabilities"][0]["analysis"]["state"] = "maybe".into();
    assert!(!v.is_valid(&broken));
    // Same inputs, same bytes.
    assert_eq!(bytes, cyclonedx_vex(&report, &m, "2026-12-03T12:00:00Z"));
}
