//! A CycloneDX 1.6 VEX document of a [`ScanReport`] ([`cyclonedx_vex`]): CycloneDX 1.6
//! §vulnerabilities, one entry per advisory, each `affects[].ref` the `bom-ref` of the
//! affected component — the artifact's logical path, as in the snapshot's own CycloneDX
//! SBOM (`formats::sbom`) — and the affected components themselves in `components`, so
//! the document stands alone.
//!
//! Every vulnerability carries `analysis.state = "in_triage"`: the match is made from
//! package versions alone, and nobody has yet judged whether the vulnerable code is
//! reachable on this site (CycloneDX `in_triage`: "being investigated"); neither
//! `exploitable` nor `not_affected` can be claimed by a version match
//! (docs/user-guide.md §Vulnerabilities).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::record::Severity;
use super::scan::{Finding, ScanReport};
use crate::snapshot::Manifest;

/// The CycloneDX 1.6 `ratings[]` entries of OSV severities: `CVSS_V2`/`CVSS_V3`/`CVSS_V4`
/// become a `vector` with method `CVSSv2`, `CVSSv3` (`CVSS:3.0/…`), `CVSSv31`
/// (`CVSS:3.1/…`) or `CVSSv4`; an `Ubuntu` priority becomes a `severity` (`negligible` →
/// `info`, `low`, `medium`, `high`, `critical`) with method `other` and source `Ubuntu`.
/// Other types are left out.
pub fn ratings(severity: &[Severity]) -> Vec<Value> {
    severity
        .iter()
        .filter_map(|s| match s.kind.as_str() {
            "CVSS_V2" => Some(json!({"method": "CVSSv2", "vector": s.score})),
            "CVSS_V3" if s.score.starts_with("CVSS:3.0/") => {
                Some(json!({"method": "CVSSv3", "vector": s.score}))
            }
            "CVSS_V3" => Some(json!({"method": "CVSSv31", "vector": s.score})),
            "CVSS_V4" => Some(json!({"method": "CVSSv4", "vector": s.score})),
            "Ubuntu" => {
                let sev = match s.score.to_ascii_lowercase().as_str() {
                    "negligible" => "info",
                    "low" => "low",
                    "medium" => "medium",
                    "high" => "high",
                    "critical" => "critical",
                    _ => "unknown",
                };
                Some(json!({"method": "other", "severity": sev, "source": {"name": "Ubuntu"}}))
            }
            _ => None,
        })
        .collect()
}

/// The CycloneDX 1.6 JSON VEX document of `report` (made from `manifest`, whose
/// artifacts give the components' purls), stamped `timestamp` (RFC 3339). Pretty JSON
/// with a trailing newline; the `serialNumber` is derived from the snapshot, the
/// timestamp and the findings, so the same inputs give the same bytes.
pub fn cyclonedx_vex(report: &ScanReport, manifest: &Manifest, timestamp: &str) -> Vec<u8> {
    let mut by_id: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in &report.findings {
        by_id.entry(f.id.as_str()).or_default().push(f);
    }
    let mut components: BTreeMap<&str, Value> = BTreeMap::new();
    for f in &report.findings {
        components.entry(f.path.as_str()).or_insert_with(|| {
            let mut c = json!({
                "type": "library",
                "bom-ref": f.path,
                "name": f.name,
                "version": f.version,
            });
            if let Some(p) = manifest
                .artifacts
                .iter()
                .find(|a| a.path == f.path)
                .and_then(|a| crate::sbom::purl(manifest, a))
            {
                c["purl"] = Value::String(p);
            }
            c
        });
    }
    let vulnerabilities: Vec<Value> = by_id
        .iter()
        .filter_map(|(id, fs)| {
            let first = fs.first()?;
            let mut v = json!({
                "bom-ref": format!("vuln:{id}"),
                "id": id,
                "source": {"name": "OSV"},
                "updated": first.modified,
                "analysis": {
                    "state": "in_triage",
                    "detail": "matched by package version against the snapshot's OSV data; reachability not assessed",
                },
                "affects": fs.iter().map(|f| json!({
                    "ref": f.path,
                    "versions": [{"version": f.version, "status": "affected"}],
                })).collect::<Vec<_>>(),
            });
            if !first.aliases.is_empty() {
                v["references"] = first
                    .aliases
                    .iter()
                    .map(|a| json!({"id": a, "source": {"name": alias_source(a)}}))
                    .collect();
            }
            let r = ratings(&first.severity);
            if !r.is_empty() {
                v["ratings"] = Value::Array(r);
            }
            if let Some(s) = &first.summary {
                v["description"] = Value::String(s.clone());
            }
            let fixes: Vec<String> = fs
                .iter()
                .filter_map(|f| {
                    f.fixed.as_ref().map(|x| match &f.fixed_in_snapshot {
                        Some(s) => format!("{}: upgrade to {x} or later ({s} is in this snapshot)", f.name),
                        None => format!("{}: upgrade to {x} or later", f.name),
                    })
                })
                .collect();
            if !fixes.is_empty() {
                v["recommendation"] = Value::String(fixes.join("; "));
            }
            Some(v)
        })
        .collect();
    let mut parts: Vec<&str> = vec!["vex", &report.snapshot, &report.created, timestamp];
    for f in &report.findings {
        parts.push(&f.path);
        parts.push(&f.id);
    }
    let doc = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", crate::sbom::uuid_from("mirror-vex-v1", &parts)),
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "component": {
                "type": "application",
                "bom-ref": format!("snapshot:{}", report.snapshot),
                "name": report.snapshot,
            },
        },
        "components": components.into_values().collect::<Vec<_>>(),
        "vulnerabilities": vulnerabilities,
    });
    let mut out = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    out.push(b'\n');
    out
}

/// The database an alias comes from, by its prefix (`CVE-` → `NVD`, `GHSA-` → `GitHub`,
/// else the prefix itself).
fn alias_source(alias: &str) -> String {
    match alias.split('-').next() {
        Some("CVE") => "NVD".into(),
        Some("GHSA") => "GitHub".into(),
        Some(p) if !p.is_empty() => p.to_owned(),
        _ => "unknown".into(),
    }
}
