//! Sync of the `[[pypi]]` upstreams (any PEP 503/691 simple indexes), as one universe.
//!
//! 1. **Select** ([`plan`] stops here): resolve the configured `projects` of every table
//!    together, per target, into one consistent set of pins ([`crate::pypi::resolve`]:
//!    PubGrub, index routing, markers, extras), and add the lock-file inputs as pinned
//!    ([`crate::pypi::lock`]). Project pages are fetched once (PEP 691 JSON when the
//!    index offers it, else PEP 503 HTML; relative file URLs resolved against the page
//!    URL). Core metadata is read only for the versions the solver tries: from the store
//!    when an earlier sync kept it (the blob named by the advertised sidecar hash, or
//!    the file itself), else from the PEP 658/714 `.metadata` sidecar — advertised (hash
//!    checked) or not — or else from the file itself. For each target and pinned release
//!    the file pip would install there is kept (`select::files_for_target`), plus the
//!    sdist when the table has `sdists = true`.
//! 2. **Download** every kept file concurrently, each checked against its sha256 (the
//!    index's, or the lock file's) while it streams into the store. A file already
//!    downloaded in step 1 to read its metadata is not downloaded or counted again.
//! 3. **Core metadata** for every wheel is the `METADATA` member of the wheel itself
//!    (PEP 658 requires the sidecar to be exactly that file); an upstream sidecar that
//!    differs is reported and not used.
//!
//! Each file is recorded under the upstream it came from; the served `/simple/` merges
//! them into one index (a project comes from one index only, so nothing collides).
//!
//! Progress has two phases with their own counters: "resolving" (project pages, metadata
//! sidecars and whole files read for their metadata; no total is known in advance) and
//! "downloading" (the kept files; the total is the sizes the index announces, PEP 700).
//!
//! Before step 1, a sync whose selection key matches the last full sync's asks for the
//! pages that sync used (conditionally) and, when none changed, keeps the previous states
//! without resolving (`reuse`).
//!
//! The files: `selection` (step 1), `pages` (project pages and core metadata, read by
//! steps 1 and 3), `download` (steps 2 and 3 for one file), `reuse` (the kept
//! selection); this file holds [`sync_all`].

use std::collections::{BTreeMap, BTreeSet, HashSet};

use anyhow::{Context, anyhow};
use formats::digest::Digest;
use formats::snapshot::{Artifact, Source, SourceKind};
use futures_util::StreamExt as _;

use crate::config::Config;
use crate::fetch::{Fetcher, redact};
use crate::state::UpstreamState;

mod download;
pub mod pages;
mod reuse;
mod selection;

pub use download::PypiReport;
use download::{Kept, keep_file};
pub use pages::*;
pub use reuse::{PypiSelectionRecord, save as save_selection};
pub use selection::*;

/// Result of one table's part of [`sync_all`].
pub type UpstreamResult = anyhow::Result<(UpstreamState, PypiReport)>;

/// The outcome of [`sync_all`].
#[derive(Default)]
pub struct PypiRun {
    /// Per wanted table in configuration order: its name and its state and report, or
    /// why it failed.
    pub outcomes: Vec<(String, UpstreamResult)>,
    /// Set when nothing that decides the selection changed, so the previous states are
    /// returned as they are (nothing parsed or resolved).
    pub kept: bool,
    /// After a full sync of every table: the selection to record with
    /// [`save_selection`] once the states are written.
    pub record: Option<PypiSelectionRecord>,
}

/// Syncs the `[[pypi]]` tables that `wanted` accepts (by name) into the store: keep the
/// last selection when nothing changed (see `reuse`), else resolve all tables as one
/// universe, then download what the wanted ones serve.
///
/// Returns a [`PypiRun`]: per wanted table in configuration order, its name and the
/// state `export` needs with its report, or the download errors of that table (verified
/// files are kept in the store; a re-run resumes). The caller writes the states, then
/// [`PypiRun::record`]. A full sync forgets the recorded selection first.
///
/// Errors (for all tables at once): the resolution fails (a conflict, with its chain),
/// a lock file is invalid or disagrees with the index, an index cannot be read.
pub async fn sync_all(
    f: &Fetcher,
    cfg: &Config,
    state: &crate::state::State,
    wanted: &dyn Fn(&str) -> bool,
) -> anyhow::Result<PypiRun> {
    let key = reuse::selection_key(cfg);
    if let Some(k) = &key {
        let uni = crate::pypi::resolve::Universe::new(cfg)?;
        if let Some(outcomes) = reuse::reuse(f, cfg, &uni, state, k, wanted).await? {
            return Ok(PypiRun {
                outcomes,
                kept: true,
                record: None,
            });
        }
    }
    let sel = select_files(f, cfg).await?;
    reuse::forget(state)?;
    let uni = &sel.uni;
    // Files downloaded whole during resolution: already in the store, already counted.
    let fetched_now: HashSet<Digest> = sel
        .cache
        .metadata
        .values()
        .filter_map(|m| m.downloaded)
        .collect();
    let jobs: Vec<&Job> = sel
        .jobs
        .iter()
        .filter(|j| wanted(&uni.ups[j.upstream].name))
        .collect();
    let pending: Vec<&&Job> = jobs
        .iter()
        .filter(|j| {
            Digest::from_hex(&j.sha256)
                .map(|d| !fetched_now.contains(&d))
                .unwrap_or(true)
        })
        .collect();
    let total = pending.iter().map(|j| j.fe.size).sum::<Option<u64>>();
    f.progress()
        .start_phase(&format!("pypi: downloading {} files", pending.len()), total);
    f.progress().add_total_files(pending.len() as u64, 0);
    let fetched_now = &fetched_now;
    let results: Vec<(usize, anyhow::Result<Kept>)> =
        futures_util::stream::iter(jobs.iter().copied())
            .map(|j| async move {
                let up = &uni.ups[j.upstream].name;
                let r = keep_file(f, up, j, fetched_now)
                    .await
                    .with_context(|| format!("[[pypi]] {up}: {}", j.fe.filename));
                (j.upstream, r)
            })
            .buffer_unordered(64)
            .collect()
            .await;
    // Per table: artifacts, warnings, errors.
    type Outcome = (Vec<Artifact>, Vec<String>, Vec<String>);
    let mut per: BTreeMap<usize, Outcome> = BTreeMap::new();
    for (u, r) in results {
        let e = per.entry(u).or_default();
        match r {
            Ok((a, warn)) => {
                e.0.extend(a);
                e.1.extend(warn);
            }
            Err(err) => e.2.push(format!("{err:#}")),
        }
    }
    let mut out = Vec::new();
    for (i, up) in cfg.pypi.iter().enumerate() {
        if !wanted(&up.name) {
            continue;
        }
        let (mut artifacts, warnings, mut errors) = per.remove(&i).unwrap_or_default();
        let mine: Vec<&&Job> = jobs.iter().filter(|j| j.upstream == i).collect();
        let mut report = PypiReport {
            name: up.name.clone(),
            projects: mine
                .iter()
                .map(|j| &j.project)
                .collect::<BTreeSet<_>>()
                .len(),
            releases: mine
                .iter()
                .map(|j| (&j.project, j.parsed.version()))
                .collect::<BTreeSet<_>>()
                .len(),
            files: mine.len(),
            bytes: 0,
            metadata_bytes: sel.cache.metadata_bytes.get(&i).copied().unwrap_or(0),
            warnings,
        };
        if !errors.is_empty() {
            let n = errors.len();
            errors.truncate(5);
            out.push((
                up.name.clone(),
                Err(anyhow!(
                    "[[pypi]] {}: {n} of {} files failed (verified files are kept; re-run to resume):\n  {}",
                    up.name,
                    report.files,
                    errors.join("\n  ")
                )),
            ));
            continue;
        }
        report.bytes = artifacts
            .iter()
            .filter(|a| a.kind.is_package())
            .map(|a| a.size)
            .sum();
        artifacts.sort_by(|a, b| a.path.cmp(&b.path));
        let projects: BTreeSet<&String> = mine.iter().map(|j| &j.project).collect();
        let mut prov: Vec<Artifact> = projects
            .into_iter()
            .filter_map(|p| sel.cache.pages.get(p).cloned().flatten())
            .map(|rp| rp.page.provenance.clone())
            .collect();
        prov.sort_by(|a, b| a.path.cmp(&b.path));
        artifacts.extend(prov);
        let state = UpstreamState {
            name: up.name.clone(),
            synced_at: crate::now_rfc3339(),
            source: Source::new(&up.name, SourceKind::Pypi, &redact(&uni.bases[i])),
            artifacts,
            apt_indexes: vec![],
            apt_suites: vec![],
        };
        out.push((up.name.clone(), Ok((state, report))));
    }
    let mut run = PypiRun {
        outcomes: out,
        ..PypiRun::default()
    };
    run.record = key.and_then(|k| reuse::record(f, cfg, uni, &sel.cache, &k, &run.outcomes));
    Ok(run)
}
