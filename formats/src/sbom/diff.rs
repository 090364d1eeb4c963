//! Package-level differences between two component lists.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use serde::Serialize;

use super::{Component, Ecosystem};

/// A package present on one side only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffEntry {
    /// Ecosystem of the package.
    pub ecosystem: Ecosystem,
    /// Package: Debian package name; PEP 503 normalized project name; OCI
    /// `<repository>:<tag>` for a tagged image, else `<repository>`.
    pub name: String,
    /// Debian architecture, or the OCI platform architecture of an untagged manifest.
    pub arch: Option<String>,
    /// Its versions on that side, in version order (OCI: the digest).
    pub versions: Vec<String>,
}

/// A package present on both sides with a different set of versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Ecosystem of the package.
    pub ecosystem: Ecosystem,
    /// Package, as in [`DiffEntry::name`].
    pub name: String,
    /// Debian architecture, when the key has one.
    pub arch: Option<String>,
    /// Versions in the old list, in version order.
    pub old: Vec<String>,
    /// Versions in the new list, in version order.
    pub new: Vec<String>,
}

/// What changed between two component lists ([`diff`]). Each list is sorted by
/// ecosystem (`deb`, `pypi`, `oci`), then package name, then architecture.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SbomDiff {
    /// Packages only in the new list.
    pub added: Vec<DiffEntry>,
    /// Packages only in the old list.
    pub removed: Vec<DiffEntry>,
    /// Packages in both with different version sets (upgrades, downgrades, a version
    /// added next to another).
    pub changed: Vec<Change>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    ecosystem: Ecosystem,
    name: String,
    arch: Option<String>,
    /// Untagged OCI manifests: the digest, so each is its own package.
    digest: Option<String>,
}

fn key(c: &Component) -> Key {
    match c.ecosystem {
        Ecosystem::Deb => Key {
            ecosystem: c.ecosystem,
            name: c.name.to_lowercase(),
            arch: c.arch.clone(),
            digest: None,
        },
        Ecosystem::Pypi => Key {
            ecosystem: c.ecosystem,
            name: crate::pypi::name::normalize(&c.name),
            arch: None,
            digest: None,
        },
        Ecosystem::Oci => {
            let repo = c.repository.clone().unwrap_or_else(|| c.bom_ref.clone());
            match &c.tag {
                Some(t) => Key {
                    ecosystem: c.ecosystem,
                    name: format!("{repo}:{t}"),
                    arch: None,
                    digest: None,
                },
                None => Key {
                    ecosystem: c.ecosystem,
                    name: repo,
                    arch: None,
                    digest: Some(c.version.clone()),
                },
            }
        }
    }
}

/// Orders versions the ecosystem's way: deb-version(7), PEP 440 (strings that are not
/// PEP 440 after those that are), plain strings for OCI digests.
fn version_cmp(eco: Ecosystem, a: &str, b: &str) -> Ordering {
    match eco {
        Ecosystem::Deb => crate::apt::version::compare(a, b).then_with(|| a.cmp(b)),
        Ecosystem::Pypi => {
            match (
                pep440_rs::Version::from_str(a),
                pep440_rs::Version::from_str(b),
            ) {
                (Ok(x), Ok(y)) => x.cmp(&y).then_with(|| a.cmp(b)),
                (Ok(_), Err(_)) => Ordering::Less,
                (Err(_), Ok(_)) => Ordering::Greater,
                (Err(_), Err(_)) => a.cmp(b),
            }
        }
        Ecosystem::Oci => a.cmp(b),
    }
}

#[derive(Default)]
struct Side {
    versions: BTreeSet<String>,
    /// Display architecture (first component's), for untagged OCI manifests.
    arch: Option<String>,
}

fn collect(list: &[Component]) -> BTreeMap<Key, Side> {
    let mut out: BTreeMap<Key, Side> = BTreeMap::new();
    for c in list {
        let k = key(c);
        let side = out.entry(k).or_default();
        side.versions.insert(c.version.clone());
        if side.arch.is_none() {
            side.arch = c.arch.clone();
        }
    }
    out
}

fn sorted(eco: Ecosystem, set: &BTreeSet<String>) -> Vec<String> {
    let mut v: Vec<String> = set.iter().cloned().collect();
    v.sort_by(|a, b| version_cmp(eco, a, b));
    v
}

/// Compares two component lists package by package.
///
/// Keys: `(deb, name, arch)`; `(pypi, PEP 503 normalized name)`; `(oci, repository,
/// tag)` for tagged OCI manifests (version = digest); untagged OCI manifests (platform
/// manifests, referrers) by `(repository, digest)`, so they are only ever added or
/// removed. Each key's versions are collected into a set, so a Python release present
/// as several files (wheels and an sdist) counts once per version; a key whose sets
/// differ is a [`Change`].
pub fn diff(old: &[Component], new: &[Component]) -> SbomDiff {
    let old = collect(old);
    let new = collect(new);
    let mut d = SbomDiff::default();
    let entry = |k: &Key, s: &Side| DiffEntry {
        ecosystem: k.ecosystem,
        name: k.name.clone(),
        arch: k.arch.clone().or_else(|| s.arch.clone()),
        versions: sorted(k.ecosystem, &s.versions),
    };
    for (k, o) in &old {
        match new.get(k) {
            None => d.removed.push(entry(k, o)),
            Some(n) if n.versions != o.versions => d.changed.push(Change {
                ecosystem: k.ecosystem,
                name: k.name.clone(),
                arch: k.arch.clone(),
                old: sorted(k.ecosystem, &o.versions),
                new: sorted(k.ecosystem, &n.versions),
            }),
            Some(_) => {}
        }
    }
    for (k, n) in &new {
        if !old.contains_key(k) {
            d.added.push(entry(k, n));
        }
    }
    // BTreeMap order is (ecosystem, name, arch, digest); keep it but make the entries
    // of one untagged repository sort by arch for display.
    d.added
        .sort_by(|a, b| (a.ecosystem, &a.name, &a.arch).cmp(&(b.ecosystem, &b.name, &b.arch)));
    d.removed
        .sort_by(|a, b| (a.ecosystem, &a.name, &a.arch).cmp(&(b.ecosystem, &b.name, &b.arch)));
    d
}

/// `sha256:<64 hex>` → `sha256:<12 hex>` for the table; other versions unchanged.
fn short(v: &str) -> String {
    match v.strip_prefix("sha256:") {
        Some(h) if h.len() > 12 => format!("sha256:{}", h.get(..12).unwrap_or(h)),
        _ => v.to_owned(),
    }
}

fn join(vs: &[String]) -> String {
    vs.iter().map(|v| short(v)).collect::<Vec<_>>().join(", ")
}

impl SbomDiff {
    /// True when nothing was added, removed or changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// A human table, one package per row: a marker (`~` changed, `+` added, `-`
    /// removed), the ecosystem, the package (`name [arch]`) and `old → new` (digests
    /// shortened to 12 hex digits), changed rows first, then added, then removed; then
    /// a summary line `N changed, N added, N removed`.
    pub fn render_table(&self) -> String {
        let mut rows: Vec<[String; 4]> = vec![[
            " ".into(),
            "ecosystem".into(),
            "package".into(),
            "old → new".into(),
        ]];
        let pkg = |name: &str, arch: &Option<String>| match arch {
            Some(a) => format!("{name} [{a}]"),
            None => name.to_owned(),
        };
        for c in &self.changed {
            rows.push([
                "~".into(),
                c.ecosystem.to_string(),
                pkg(&c.name, &c.arch),
                format!("{} → {}", join(&c.old), join(&c.new)),
            ]);
        }
        for a in &self.added {
            rows.push([
                "+".into(),
                a.ecosystem.to_string(),
                pkg(&a.name, &a.arch),
                format!("→ {}", join(&a.versions)),
            ]);
        }
        for r in &self.removed {
            rows.push([
                "-".into(),
                r.ecosystem.to_string(),
                pkg(&r.name, &r.arch),
                format!("{} →", join(&r.versions)),
            ]);
        }
        let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
        let (w1, w2) = (width(1), width(2));
        let mut out = String::new();
        for r in &rows {
            let line = format!(
                "{} {:<w1$}  {:<w2$}  {}",
                r[0],
                r[1],
                r[2],
                r[3],
                w1 = w1,
                w2 = w2
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out.push_str(&format!(
            "{} changed, {} added, {} removed\n",
            self.changed.len(),
            self.added.len(),
            self.removed.len()
        ));
        out
    }
}

/// The diff of two snapshots' SBOMs, as `sbom diff` prints it: the snapshot names and
/// what changed (JSON: `old`, `new`, `added`, `removed`, `changed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotDiff {
    /// The older snapshot's name (`<channel>/<sequence>`).
    pub old: String,
    /// The newer snapshot's name.
    pub new: String,
    /// Added, removed and changed packages.
    #[serde(flatten)]
    pub diff: SbomDiff,
}

impl SnapshotDiff {
    /// Diffs the components of snapshot `old` against those of `new` ([`diff`]).
    pub fn between(old: (String, &[Component]), new: (String, &[Component])) -> SnapshotDiff {
        SnapshotDiff {
            diff: diff(old.1, new.1),
            old: old.0,
            new: new.0,
        }
    }

    /// The human form: a `old → new` line, then [`SbomDiff::render_table`].
    pub fn render(&self) -> String {
        format!("{} → {}\n{}", self.old, self.new, self.diff.render_table())
    }
}
