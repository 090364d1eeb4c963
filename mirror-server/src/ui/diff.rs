//! `GET /ui/diff?a=<channel/seq>&b=<channel/seq>`: what changed between two held
//! snapshots (old `a`, new `b`): packages added, removed and changed, from the
//! snapshots' SBOM components ([`formats::sbom::SnapshotDiff::between`], as
//! `mirror-server sbom diff` computes it), and the vulnerabilities fixed and introduced
//! ([`VulnDiff`], each snapshot matched against its own OSV data by [`crate::vulns`];
//! the two exports are parsed on each request).
//!
//! Without `a` and `b` the page diffs the snapshot before the current one with the
//! current one (when the store holds two). Answers: `200`; `400` for a malformed name;
//! `404` for a snapshot the store does not hold. Each list shows at most [`MAX_ROWS`]
//! rows and says how many more there are.

use std::sync::Arc;

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use formats::sbom::SnapshotDiff;
use formats::snapshot::SnapshotName;

use super::data;
use super::{blocking, error_page, param, query_pairs, render};
use crate::lifecycle::{LifecycleError, SnapshotRow};
use crate::serve::AppState;

/// Most rows each list (added, removed, changed, each vulnerability list) shows.
pub const MAX_ROWS: usize = 1000;

/// One vulnerability that differs between the two snapshots (OSV schema 1.6: `id`,
/// `affected[].package`, `affected[].ranges[].events[].fixed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VulnFinding {
    /// The advisory's id (`GHSA-…`, `DSA-…`, `PYSEC-…`).
    pub advisory: String,
    /// `deb`, `pypi` or `oci`.
    pub ecosystem: String,
    /// The affected package.
    pub package: String,
    /// The affected version (the one in the snapshot that has the vulnerability).
    pub version: String,
    /// The version that fixes it, when the newer snapshot has one.
    pub fixed_version: Option<String>,
    /// One-line summary of the advisory.
    pub summary: String,
}

/// The vulnerabilities fixed (in `a`, not in `b`) and introduced (in `b`, not in `a`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VulnDiff {
    /// Present in the old snapshot, gone in the new one.
    pub fixed: Vec<VulnFinding>,
    /// Absent in the old snapshot, present in the new one.
    pub introduced: Vec<VulnFinding>,
}

/// The vulnerability diff of the held snapshots `old` and `new`, each matched against
/// its own OSV data ([`crate::vulns`], [`formats::osv::VulnDiffOutcome`]): `Ok(diff)`
/// when both carry OSV data, else `Err(note)` saying which one lacks it or why it could
/// not be read, so the page never shows an empty, reassuring list.
pub fn vulnerability_diff(
    store: &std::path::Path,
    old: &store::SnapshotRecord,
    new: &store::SnapshotRecord,
) -> Result<VulnDiff, String> {
    let scan = |r: &store::SnapshotRecord| {
        crate::vulns::load_held(store, r)
            .map(|l| l.scan())
            .map_err(|e| format!("the vulnerability data of {} cannot be read: {e:#}", r.name))
    };
    let (a, b) = (scan(old)?, scan(new)?);
    let finding = |c: &formats::osv::VulnChange| VulnFinding {
        advisory: if c.aliases.is_empty() {
            c.id.clone()
        } else {
            format!("{} ({})", c.id, c.aliases.join(", "))
        },
        ecosystem: c.ecosystem.clone(),
        package: c.name.clone(),
        version: c.versions.join(", "),
        fixed_version: c.fixed.clone(),
        summary: c.summary.clone().unwrap_or_default(),
    };
    match formats::osv::VulnDiffOutcome::of(&a, &b) {
        formats::osv::VulnDiffOutcome::Compared { diff, .. } => Ok(VulnDiff {
            fixed: diff.fixed.iter().map(finding).collect(),
            introduced: diff.introduced.iter().map(finding).collect(),
        }),
        formats::osv::VulnDiffOutcome::Unavailable { note, .. } => Err(note),
    }
}

/// One package row of the diff.
#[derive(Debug, Clone)]
pub struct DiffRow {
    /// `deb`, `pypi`, `oci`.
    pub ecosystem: &'static str,
    /// Package (Debian name, PEP 503 name, OCI `<repository>:<tag>`).
    pub name: String,
    /// Architecture, or empty.
    pub arch: String,
    /// Versions on the old side (empty for an added package).
    pub old: String,
    /// Versions on the new side (empty for a removed package).
    pub new: String,
}

/// The diff page.
#[derive(Template)]
#[template(path = "ui/diff.html")]
pub struct DiffPage {
    /// Page title.
    pub title: String,
    /// The held snapshots for the selects, with whether each is `a` / `b`.
    pub options: Vec<(String, bool, bool)>,
    /// Whether a diff is shown (two snapshots chosen).
    pub shown: bool,
    /// Old snapshot.
    pub a: String,
    /// New snapshot.
    pub b: String,
    /// Added packages (at most [`MAX_ROWS`]).
    pub added: Vec<DiffRow>,
    /// Removed packages.
    pub removed: Vec<DiffRow>,
    /// Changed packages.
    pub changed: Vec<DiffRow>,
    /// Total added, removed, changed (before the cap).
    pub totals: (usize, usize, usize),
    /// The vulnerability diff, `None` when the snapshots carry no vulnerability data.
    pub vulns: Option<VulnDiff>,
    /// Why [`Self::vulns`] is `None`.
    pub vulns_note: String,
}

fn rows<T>(items: &[T], f: impl Fn(&T) -> DiffRow) -> Vec<DiffRow> {
    items.iter().take(MAX_ROWS).map(f).collect()
}

/// Builds the page (blocking). `a`/`b` are checked names, or `None` for the defaults.
/// `Ok(Err(response))` for a snapshot the store does not hold.
///
/// Errors: the index or a manifest cannot be read.
pub fn build(
    state: &AppState,
    a: Option<String>,
    b: Option<String>,
) -> Result<Result<DiffPage, Response>, String> {
    let held: Vec<SnapshotRow> = match crate::lifecycle::held_snapshots(&state.store) {
        Ok(r) => r,
        Err(LifecycleError::NoStore { .. }) => Vec::new(),
        Err(e) => return Err(format!("cannot list the held snapshots: {e}")),
    };
    let current = held.iter().position(|r| r.current);
    let default_b = current.or(held.len().checked_sub(1));
    let default_a = default_b.and_then(|i| {
        let ch = &held.get(i)?.record.channel;
        held.get(..i)?
            .iter()
            .rposition(|r| &r.record.channel == ch)
            .or(i.checked_sub(1))
    });
    let name_at = |i: Option<usize>| i.and_then(|i| held.get(i)).map(|r| r.record.name.clone());
    let a = a.or_else(|| name_at(default_a));
    let b = b.or_else(|| name_at(default_b));
    let options = |a: &Option<String>, b: &Option<String>| {
        held.iter()
            .map(|r| {
                let n = r.record.name.clone();
                let sa = a.as_deref() == Some(n.as_str());
                let sb = b.as_deref() == Some(n.as_str());
                (n, sa, sb)
            })
            .collect::<Vec<_>>()
    };
    let mut page = DiffPage {
        title: "Diff".into(),
        options: options(&a, &b),
        shown: false,
        a: a.clone().unwrap_or_default(),
        b: b.clone().unwrap_or_default(),
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
        totals: (0, 0, 0),
        vulns: None,
        vulns_note: String::new(),
    };
    let (Some(a), Some(b)) = (a, b) else {
        return Ok(Ok(page));
    };
    let mut sides = Vec::with_capacity(2);
    let mut records = Vec::with_capacity(2);
    for name in [&a, &b] {
        let Some(rec) = data::record(&state.store, name)? else {
            return Ok(Err(error_page(
                StatusCode::NOT_FOUND,
                format!(
                    "Snapshot {name} is not held by this server; choose one of the held snapshots."
                ),
            )));
        };
        sides.push(state.ui.cache.snapshot(&state.store, &rec)?);
        records.push(rec);
    }
    let (Some(old), Some(new)) = (sides.first(), sides.get(1)) else {
        return Err("internal error: the two snapshots were not loaded".into());
    };
    let d = SnapshotDiff::between(
        (old.name.clone(), &old.components),
        (new.name.clone(), &new.components),
    )
    .diff;
    page.title = format!("Diff {a} → {b}");
    page.shown = true;
    page.totals = (d.added.len(), d.removed.len(), d.changed.len());
    page.added = rows(&d.added, |e| DiffRow {
        ecosystem: e.ecosystem.as_str(),
        name: e.name.clone(),
        arch: e.arch.clone().unwrap_or_default(),
        old: String::new(),
        new: e.versions.join(", "),
    });
    page.removed = rows(&d.removed, |e| DiffRow {
        ecosystem: e.ecosystem.as_str(),
        name: e.name.clone(),
        arch: e.arch.clone().unwrap_or_default(),
        old: e.versions.join(", "),
        new: String::new(),
    });
    page.changed = rows(&d.changed, |c| DiffRow {
        ecosystem: c.ecosystem.as_str(),
        name: c.name.clone(),
        arch: c.arch.clone().unwrap_or_default(),
        old: c.old.join(", "),
        new: c.new.join(", "),
    });
    if let (Some(ra), Some(rb)) = (records.first(), records.get(1)) {
        match vulnerability_diff(&state.store, ra, rb) {
            Ok(mut v) => {
                v.fixed.truncate(MAX_ROWS);
                v.introduced.truncate(MAX_ROWS);
                page.vulns = Some(v);
            }
            Err(note) => page.vulns_note = note,
        }
    }
    Ok(Ok(page))
}

/// Reads snapshot name parameter `key`: `None` when absent.
///
/// Errors: a message for the `400` page when it is not `<channel>/<sequence>`.
fn snapshot_param(pairs: &[(String, String)], key: &str) -> Result<Option<String>, String> {
    match param(pairs, key) {
        None => Ok(None),
        Some(v) if SnapshotName::parse(v).is_some() => Ok(Some(v.to_owned())),
        Some(v) => Err(format!(
            "{key}={v:?} is not a snapshot name: expected <channel>/<sequence>, e.g. stable/12."
        )),
    }
}

/// `GET /ui/diff`.
pub async fn page(State(state): State<Arc<AppState>>, RawQuery(query): RawQuery) -> Response {
    let pairs = match query_pairs(query.as_deref()) {
        Ok(p) => p,
        Err(m) => return error_page(StatusCode::BAD_REQUEST, m),
    };
    let (a, b) = match (snapshot_param(&pairs, "a"), snapshot_param(&pairs, "b")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(m), _) | (_, Err(m)) => return error_page(StatusCode::BAD_REQUEST, m),
    };
    match blocking(move || build(&state, a, b)).await {
        Ok(Ok(p)) => render(StatusCode::OK, &p),
        Ok(Err(r)) | Err(r) => r,
    }
}
