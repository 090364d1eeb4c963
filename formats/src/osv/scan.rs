//! Matching a snapshot's packages against its own OSV data ([`scan`]) and the report
//! `mirror-server vulns` prints ([`ScanReport`]).
//!
//! Which packages are matched against which records:
//!
//! - `deb` artifacts by their SOURCE package and its version ([`Meta::deb_source`]),
//!   against records of the Debian/Ubuntu ecosystem of the release their source names
//!   (`Source::distro`: `debian-12` ↔ `Debian:12`, `ubuntu-24.04` ↔ `Ubuntu:24.04:LTS`;
//!   [`super::ecosystem::distro_matches`]). A source without `distro` is matched against
//!   the one ecosystem of its family (`Source::origin`; when the origin is unknown, of
//!   both families) that the snapshot's OSV data covers, and against none when it covers
//!   several: the release is then ambiguous.
//! - `wheel` and `sdist` artifacts by their PEP 503-normalized project name and PEP 440
//!   version against `PyPI` records.
//! - Images (OCI) are not matched: their packages are not listed in the manifest.
//!
//! Withdrawn records match nothing. A package whose version does not parse in its
//! ecosystem's ordering is counted in [`ScanReport::unparsed_versions`], not called clean.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::archive::Database;
use super::ecosystem::{self, Family};
use super::matcher::{Scheme, evaluate};
use super::record::Severity;
use crate::snapshot::{Artifact, ArtifactKind, Manifest, Meta, Source};

/// One OSV artifact of the snapshot, as the report describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseSummary {
    /// Logical path of the `osv` artifact (`osv/<upstream>/<ecosystem>/all.zip`).
    pub path: String,
    /// The `[[osv]]` upstream it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// The OSV ecosystem the export covers (`Debian:12`, `PyPI`).
    pub ecosystem: String,
    /// Records in it, withdrawn ones included.
    pub records: u64,
    /// Withdrawn records (never matched).
    pub withdrawn: u64,
    /// The latest `modified` time of its records, RFC 3339: the data is at least as old
    /// as this (see docs/threat-model.md: stale data is not "no vulnerabilities").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_modified: Option<String>,
}

/// The source package of a Debian package finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcePackage {
    /// Source package name.
    pub name: String,
    /// Source version (the binary's version when the index states none).
    pub version: String,
}

/// One affected package and one advisory (OSV schema §id, §aliases, §summary, §severity).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Logical path of the package artifact (also its SBOM `bom-ref`).
    pub path: String,
    /// The artifact kind (`deb`, `wheel`, `sdist`).
    pub kind: ArtifactKind,
    /// The OSV ecosystem of the matching record (`Debian:12`, `Ubuntu:24.04:LTS`, `PyPI`).
    pub ecosystem: String,
    /// Package name as the artifact's metadata spells it (Debian binary package, Python
    /// project).
    pub name: String,
    /// The package's version (binary version for debs).
    pub version: String,
    /// Debian: the source package the record names, with its version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourcePackage>,
    /// The advisory's OSV id.
    pub id: String,
    /// Its aliases (CVE ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Its one-line summary, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Severity scores (the affected entry's, else the record's), if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub severity: Vec<Severity>,
    /// The smallest version the record calls fixed above the installed one (a source
    /// version for debs), if it names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    /// The lowest version at or above `fixed` that the snapshot also carries for this
    /// package (same source package and release for debs, same project for Python), if
    /// any: the upgrade is already on the drive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_in_snapshot: Option<String>,
    /// The record's `modified` time.
    pub modified: String,
}

/// The result of [`scan`]: the `--json` document of `mirror-server vulns`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanReport {
    /// The snapshot's name (`<channel>/<sequence>`).
    pub snapshot: String,
    /// When the snapshot was cut (RFC 3339).
    pub created: String,
    /// The snapshot's OSV artifacts; empty means the snapshot carries no vulnerability
    /// data, which is not the same as no vulnerabilities.
    pub databases: Vec<DatabaseSummary>,
    /// Package artifacts (deb, wheel, sdist) looked at.
    pub packages: u64,
    /// Of them, those whose ecosystem no OSV artifact of the snapshot covers.
    pub not_covered: u64,
    /// Logical paths of packages whose version does not parse in their ecosystem's
    /// ordering (not evaluated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unparsed_versions: Vec<String>,
    /// Findings, sorted by path, then advisory id.
    pub findings: Vec<Finding>,
}

impl ScanReport {
    /// Distinct affected package artifacts.
    pub fn affected_packages(&self) -> usize {
        self.findings
            .iter()
            .map(|f| f.path.as_str())
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// Distinct advisory ids.
    pub fn advisories(&self) -> usize {
        self.findings
            .iter()
            .map(|f| f.id.as_str())
            .collect::<BTreeSet<_>>()
            .len()
    }
}

/// An `affected[]` entry of the data: (database, record, affected) indexes.
type Entry = (usize, usize, usize);

/// What a package artifact is matched as.
struct Pkg<'a> {
    a: &'a Artifact,
    family: Family,
    /// Matching name: the source package (debs) or the normalized project name.
    key: String,
    /// Matching version: the source version (debs) or the PEP 440 version.
    version: String,
    name: String,
    source: Option<SourcePackage>,
    /// Debs: which record ecosystems apply.
    target: Target,
}

/// Which record ecosystems a package matches.
#[derive(Clone)]
enum Target {
    /// Any `Ubuntu:*`/`Debian:*` ecosystem of this `Source::distro`.
    Distro(String),
    /// Exactly this ecosystem (the only one of its family in the data).
    Only(String),
    /// PyPI.
    PyPI,
    /// None (ambiguous or not covered).
    Nothing,
}

impl Target {
    fn accepts(&self, eco: &str) -> bool {
        match self {
            Target::Distro(d) => ecosystem::distro_matches(d, eco),
            Target::Only(e) => eco == e,
            Target::PyPI => eco == "PyPI",
            Target::Nothing => false,
        }
    }

    /// A stable key for "same release" when looking for a fix in the snapshot.
    fn label(&self) -> &str {
        match self {
            Target::Distro(d) | Target::Only(d) => d,
            Target::PyPI => "PyPI",
            Target::Nothing => "",
        }
    }
}

/// The target of a deb from `source`, given the ecosystems the snapshot's OSV artifacts
/// cover (`covered`, their configured ecosystems).
fn deb_target(source: Option<&Source>, covered: &BTreeSet<&str>) -> Target {
    if let Some(d) = source.and_then(|s| s.distro.as_deref()) {
        // Covered by an export of that release, or of the whole family (`Debian`).
        let id = d.split('-').next().unwrap_or("");
        let family = ecosystem::family_of_origin(id);
        let any = covered.iter().any(|e| {
            ecosystem::distro_matches(d, e)
                || (ecosystem::release(e).is_none()
                    && !ecosystem::is_pro(e)
                    && family.is_some()
                    && ecosystem::family(e) == family)
        });
        return if any {
            Target::Distro(d.to_owned())
        } else {
            Target::Nothing
        };
    }
    let want = source
        .and_then(|s| s.origin.as_deref())
        .and_then(ecosystem::family_of_origin);
    let candidates: Vec<&&str> = covered
        .iter()
        .filter(|e| match (ecosystem::family(e), want) {
            (Some(f), Some(w)) => f == w,
            (Some(f), None) => f.is_deb(),
            (None, _) => false,
        })
        .collect();
    match candidates.as_slice() {
        [one] => Target::Only((**one).to_owned()),
        _ => Target::Nothing,
    }
}

fn package<'a>(
    a: &'a Artifact,
    sources: &HashMap<&str, &Source>,
    covered: &BTreeSet<&str>,
) -> Option<Pkg<'a>> {
    let meta: &Meta = &a.meta;
    match a.kind {
        ArtifactKind::Deb => {
            let name = meta.name.clone()?;
            let version = meta.version.clone()?;
            let (src_name, src_version) = meta.deb_source()?;
            let src_version = src_version.unwrap_or(&version).to_owned();
            let source = a.upstream.as_deref().and_then(|u| sources.get(u).copied());
            Some(Pkg {
                a,
                family: Family::Debian,
                key: src_name.to_owned(),
                version: src_version.clone(),
                name,
                source: Some(SourcePackage {
                    name: src_name.to_owned(),
                    version: src_version,
                }),
                target: deb_target(source, covered),
            })
        }
        ArtifactKind::Wheel | ArtifactKind::Sdist => {
            let name = meta.name.clone()?;
            let version = meta.version.clone()?;
            Some(Pkg {
                a,
                family: Family::PyPI,
                key: crate::pypi::name::normalize(&name),
                version,
                name,
                source: None,
                target: if covered.contains("PyPI") {
                    Target::PyPI
                } else {
                    Target::Nothing
                },
            })
        }
        _ => None,
    }
}

/// Matches the package artifacts of `manifest` against `databases` (each `osv`
/// artifact of the snapshot with its parsed archive); see the module docs.
pub fn scan(manifest: &Manifest, databases: &[(&Artifact, &Database)]) -> ScanReport {
    let summaries: Vec<DatabaseSummary> = databases
        .iter()
        .map(|(a, db)| DatabaseSummary {
            path: a.path.clone(),
            upstream: a.upstream.clone(),
            ecosystem: a.meta.name.clone().unwrap_or_default(),
            records: db.records.len() as u64,
            withdrawn: db.withdrawn,
            newest_modified: db.newest_modified.clone(),
        })
        .collect();
    // Ecosystems the data covers: those the `[[osv]]` configuration named.
    let covered: BTreeSet<&str> = summaries.iter().map(|s| s.ecosystem.as_str()).collect();
    // Index: (is_deb, package key) -> (db, record, affected).
    let mut index: HashMap<(bool, String), Vec<Entry>> = HashMap::new();
    for (d, (_, db)) in databases.iter().enumerate() {
        for (r, rec) in db.records.iter().enumerate() {
            if rec.withdrawn.is_some() {
                continue;
            }
            for (i, aff) in rec.affected.iter().enumerate() {
                let Some(p) = &aff.package else { continue };
                let Some(fam) = ecosystem::family(&p.ecosystem) else {
                    continue;
                };
                if ecosystem::is_pro(&p.ecosystem) {
                    continue;
                }
                let key = if fam.is_deb() {
                    p.name.clone()
                } else {
                    crate::pypi::name::normalize(&p.name)
                };
                index
                    .entry((fam.is_deb(), key))
                    .or_default()
                    .push((d, r, i));
            }
        }
    }
    let sources: HashMap<&str, &Source> = manifest
        .sources
        .iter()
        .map(|s| (s.name.as_str(), s))
        .collect();
    let pkgs: Vec<Pkg<'_>> = manifest
        .artifacts
        .iter()
        .filter_map(|a| package(a, &sources, &covered))
        .collect();
    // Versions on the drive per (family is deb, release label, key).
    let mut on_drive: HashMap<(bool, &str, &str), Vec<&str>> = HashMap::new();
    for p in &pkgs {
        on_drive
            .entry((p.family.is_deb(), p.target.label(), p.key.as_str()))
            .or_default()
            .push(p.version.as_str());
    }
    let mut report = ScanReport {
        snapshot: manifest.name(),
        created: manifest.created.clone(),
        databases: summaries,
        packages: pkgs.len() as u64,
        not_covered: 0,
        unparsed_versions: Vec::new(),
        findings: Vec::new(),
    };
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    for p in &pkgs {
        if matches!(p.target, Target::Nothing) {
            report.not_covered += 1;
            continue;
        }
        let scheme = Scheme::of(p.family);
        if !scheme.parses(&p.version) {
            report.unparsed_versions.push(p.a.path.clone());
            continue;
        }
        let Some(hits) = index.get(&(p.family.is_deb(), p.key.clone())) else {
            continue;
        };
        for &(d, r, i) in hits {
            let rec = &databases[d].1.records[r];
            let aff = &rec.affected[i];
            let eco = aff
                .package
                .as_ref()
                .map(|x| x.ecosystem.as_str())
                .unwrap_or("");
            if !p.target.accepts(eco) {
                continue;
            }
            let Some(hit) = evaluate(aff, scheme, &p.version) else {
                continue;
            };
            if !seen.insert((p.a.path.clone(), rec.id.clone())) {
                continue;
            }
            let fixed_in_snapshot = hit.fixed.as_deref().and_then(|fixed| {
                on_drive
                    .get(&(p.family.is_deb(), p.target.label(), p.key.as_str()))?
                    .iter()
                    .filter(|v| {
                        matches!(
                            scheme.compare(v, fixed),
                            Some(Ordering::Greater | Ordering::Equal)
                        )
                    })
                    .min_by(|a, b| scheme.compare(a, b).unwrap_or(Ordering::Equal))
                    .map(|v| (*v).to_owned())
            });
            report.findings.push(Finding {
                path: p.a.path.clone(),
                kind: p.a.kind,
                ecosystem: eco.to_owned(),
                name: p.name.clone(),
                version: p.a.meta.version.clone().unwrap_or_default(),
                source: p.source.clone(),
                id: rec.id.clone(),
                aliases: rec.aliases.clone(),
                summary: rec.summary.clone(),
                severity: if aff.severity.is_empty() {
                    rec.severity.clone()
                } else {
                    aff.severity.clone()
                },
                fixed: hit.fixed,
                fixed_in_snapshot,
                modified: rec.modified.clone(),
            });
        }
    }
    report
        .findings
        .sort_by(|a, b| (&a.path, &a.id).cmp(&(&b.path, &b.id)));
    report
}

/// The findings of `report` grouped per advisory id (for rendering).
pub fn by_advisory(report: &ScanReport) -> BTreeMap<&str, Vec<&Finding>> {
    let mut m: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in &report.findings {
        m.entry(f.id.as_str()).or_default().push(f);
    }
    m
}
