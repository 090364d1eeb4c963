//! Vulnerabilities fixed and introduced between two snapshots ([`VulnDiff`]), the part of
//! `mirror-server sbom diff` that compares the two snapshots' own OSV scans.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::scan::{DatabaseSummary, Finding, ScanReport};

/// One advisory on one package that is present on one side only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VulnChange {
    /// The advisory's OSV id.
    pub id: String,
    /// Its aliases (CVE ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Its summary, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// The OSV ecosystem of the matching record (`Debian:12`, `PyPI`).
    pub ecosystem: String,
    /// The package (Debian binary package or Python project, as the artifact names it).
    pub name: String,
    /// The affected versions of the package on the side where the advisory applies.
    pub versions: Vec<String>,
    /// The fixed version the record names, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
}

/// Vulnerabilities fixed and introduced from snapshot `old` to snapshot `new`, each side
/// matched against its OWN OSV data ([`super::scan()`]). A (advisory id, ecosystem,
/// package name) pair found in `old` but not in `new` is "fixed" (the package was
/// upgraded or removed, or the advisory withdrawn); one found in `new` only is
/// "introduced" (a new package or version, or a new advisory). JSON: `old`, `new`,
/// `old_data`, `new_data`, `fixed`, `introduced`; lists sorted by ecosystem, package,
/// then id. Built only when both snapshots carry OSV data ([`VulnDiff::between`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VulnDiff {
    /// The older snapshot (`<channel>/<sequence>`).
    pub old: String,
    /// The newer snapshot.
    pub new: String,
    /// The older snapshot's OSV artifacts (their age: `newest_modified`).
    pub old_data: Vec<DatabaseSummary>,
    /// The newer snapshot's OSV artifacts.
    pub new_data: Vec<DatabaseSummary>,
    /// Advisories that affect `old` and no longer affect `new`.
    pub fixed: Vec<VulnChange>,
    /// Advisories that affect `new` and did not affect `old`.
    pub introduced: Vec<VulnChange>,
}

type Key = (String, String, String);

fn group(r: &ScanReport) -> BTreeMap<Key, Vec<&Finding>> {
    let mut m: BTreeMap<Key, Vec<&Finding>> = BTreeMap::new();
    for f in &r.findings {
        m.entry((f.ecosystem.clone(), f.name.clone(), f.id.clone()))
            .or_default()
            .push(f);
    }
    m
}

fn change(key: &Key, fs: &[&Finding]) -> VulnChange {
    let versions: BTreeSet<String> = fs.iter().map(|f| f.version.clone()).collect();
    let first = fs.first();
    VulnChange {
        id: key.2.clone(),
        aliases: first.map(|f| f.aliases.clone()).unwrap_or_default(),
        summary: first.and_then(|f| f.summary.clone()),
        ecosystem: key.0.clone(),
        name: key.1.clone(),
        versions: versions.into_iter().collect(),
        fixed: first.and_then(|f| f.fixed.clone()),
    }
}

impl VulnDiff {
    /// Compares two scans; `None` when either snapshot carries no OSV data (then the
    /// difference would only say which side has data, not what changed).
    pub fn between(old: &ScanReport, new: &ScanReport) -> Option<VulnDiff> {
        if old.databases.is_empty() || new.databases.is_empty() {
            return None;
        }
        let (a, b) = (group(old), group(new));
        let fixed = a
            .iter()
            .filter(|(k, _)| !b.contains_key(*k))
            .map(|(k, v)| change(k, v))
            .collect();
        let introduced = b
            .iter()
            .filter(|(k, _)| !a.contains_key(*k))
            .map(|(k, v)| change(k, v))
            .collect();
        Some(VulnDiff {
            old: old.snapshot.clone(),
            new: new.snapshot.clone(),
            old_data: old.databases.clone(),
            new_data: new.databases.clone(),
            fixed,
            introduced,
        })
    }

    /// The human form: a `vulnerabilities: N fixed, M introduced` line, then one line per
    /// change (`fixed      DSA-1-1 (CVE-…) Debian:12 openssl 3.0.1-1`).
    pub fn render(&self) -> String {
        let mut t = format!(
            "vulnerabilities: {} fixed, {} introduced (OSV data of {} as of {}, of {} as of {})\n",
            self.fixed.len(),
            self.introduced.len(),
            self.old,
            newest(&self.old_data),
            self.new,
            newest(&self.new_data),
        );
        for (word, list) in [("fixed", &self.fixed), ("introduced", &self.introduced)] {
            for c in list {
                let aliases = if c.aliases.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", c.aliases.join(", "))
                };
                t.push_str(&format!(
                    "  {word:<10} {}{aliases} {} {} {}\n",
                    c.id,
                    c.ecosystem,
                    c.name,
                    c.versions.join(", ")
                ));
            }
        }
        t
    }
}

/// The vulnerability part of `sbom diff`: the [`VulnDiff`] when both snapshots carry OSV
/// data, else a note saying which one lacks it (JSON: `{"available": false, "note": …}`
/// or `{"available": true, …VulnDiff}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum VulnDiffOutcome {
    /// Both sides carry OSV data.
    Compared {
        /// Always true.
        available: bool,
        /// The difference.
        #[serde(flatten)]
        diff: VulnDiff,
    },
    /// At least one side carries none.
    Unavailable {
        /// Always false.
        available: bool,
        /// Which side lacks OSV data.
        note: String,
    },
}

impl VulnDiffOutcome {
    /// The human form ([`VulnDiff::render`], or the note).
    pub fn render(&self) -> String {
        match self {
            VulnDiffOutcome::Compared { diff, .. } => diff.render(),
            VulnDiffOutcome::Unavailable { note, .. } => format!("vulnerabilities: {note}\n"),
        }
    }
}

impl VulnDiffOutcome {
    /// The comparison of scans `old` and `new` ([`VulnDiff::between`]), or the note naming
    /// the snapshot(s) without OSV data.
    pub fn of(old: &ScanReport, new: &ScanReport) -> VulnDiffOutcome {
        match VulnDiff::between(old, new) {
            Some(diff) => VulnDiffOutcome::Compared {
                available: true,
                diff,
            },
            None => {
                let lacking: Vec<&str> = [old, new]
                    .iter()
                    .filter(|r| r.databases.is_empty())
                    .map(|r| r.snapshot.as_str())
                    .collect();
                VulnDiffOutcome::Unavailable {
                    available: false,
                    note: format!(
                        "not compared: {} carr{} no OSV data (add an [[osv]] upstream on the build host)",
                        lacking.join(" and "),
                        if lacking.len() == 1 { "ies" } else { "y" }
                    ),
                }
            }
        }
    }
}

/// The latest `newest_modified` over `data`, or `unknown`.
pub(crate) fn newest(data: &[DatabaseSummary]) -> String {
    data.iter()
        .filter_map(|d| d.newest_modified.as_deref())
        .max_by(|a, b| {
            match (
                chrono::DateTime::parse_from_rfc3339(a),
                chrono::DateTime::parse_from_rfc3339(b),
            ) {
                (Ok(x), Ok(y)) => x.cmp(&y),
                _ => a.cmp(b),
            }
        })
        .unwrap_or("unknown")
        .to_owned()
}
