//! `mirror-sync sync`: the sync driver. It fetches and verifies every wanted upstream
//! of a configuration into the store and commits each one's new state.
//!
//! 1. Check `--only` names against the configuration; open the state database and the
//!    store's CAS.
//! 2. APT: one universe over every `[[apt]]` upstream ([`crate::apt::sync::sync_all`]:
//!    indexes, resolution, downloads); it commits the states of the upstreams it updated.
//! 3. PyPI: one universe over every `[[pypi]]` table ([`crate::pypi::sync::sync_all`]);
//!    each wanted table's state is committed here.
//! 4. OCI: each wanted `[[oci]]` upstream ([`crate::oci::sync::sync`]); its state is
//!    committed here (images the signature policy refused are left out of it).
//! 5. OSV: each wanted `[[osv]]` upstream ([`crate::osv::sync::sync`]): the exports
//!    fetched, checked as OSV archives and committed here.
//! 6. Sum the fetcher's counters into a [`SyncSummary`]; a failed upstream keeps its
//!    previous state, and the run's error ([`SyncReport::into_result`]) names each one.
//!
//! A state is written only when it changed in more than its `synced_at` (see
//! [`State::put_upstream_if_changed`]), and the validators of the documents fetched whole
//! (for the next run's conditional requests) in one transaction at the end: a re-sync
//! with nothing changed writes nothing.
//!
//! The command line ([`crate::cli`]) only parses the arguments and prints the report.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::Context;
use indicatif::HumanBytes;
use serde::Serialize;

use crate::config::Config;
use crate::progress::Progress;
use crate::state::State;

/// The outcome of [`sync`]: the summary to print, then the run's error, if any.
#[derive(Debug)]
pub struct SyncReport {
    /// The `--json` document.
    pub summary: SyncSummary,
    /// One human line per synced upstream, in sync order.
    pub lines: Vec<String>,
    /// Why the command fails (failed upstreams, refused images), after the summary.
    failure: Option<anyhow::Error>,
}

impl SyncReport {
    /// The human summary: one line per synced upstream, then the totals.
    pub fn render(&self) -> String {
        let summary = &self.summary;
        let mut t = self.lines.join("\n");
        t.push_str(&format!(
            "\nfetched {} files, {} ({} requests); {} files ({}) already in the store; {:.1}s\n",
            summary.files_fetched,
            HumanBytes(summary.bytes_fetched),
            summary.requests,
            summary.files_deduplicated,
            HumanBytes(summary.bytes_deduplicated),
            summary.seconds
        ));
        t
    }

    /// The command's result once the summary is shown.
    ///
    /// Errors: `N upstream(s) failed: a, b (…; the failed ones keep their previous
    /// state)` (with the APT cause as context when no `[[apt]]` upstream could be
    /// updated), else `N image(s) refused by the signature policy …`.
    pub fn into_result(self) -> anyhow::Result<()> {
        match self.failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// What a sync did: the `--json` document of `mirror-sync sync`.
#[derive(Debug, Serialize)]
pub struct SyncSummary {
    /// False when an upstream failed or an image was refused (then `error` says why).
    pub ok: bool,
    /// Why the run failed: every failed upstream with its whole error chain, and the
    /// refused images; absent on success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Failed upstream name -> its whole error chain.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, String>,
    pub upstreams: Vec<serde_json::Value>,
    pub failed: Vec<String>,
    pub requests: u64,
    pub files_fetched: u64,
    pub bytes_fetched: u64,
    pub files_deduplicated: u64,
    pub bytes_deduplicated: u64,
    pub seconds: f64,
}

/// Syncs every upstream of `cfg` (only those named in `only`, when not empty) into the
/// store; `config_path` names the configuration in messages. See the module docs for the
/// steps. A failing upstream does not stop the others: it is reported in the returned
/// [`SyncReport`].
///
/// Errors (the run stops): an `--only` name no upstream has, the store or the state
/// database cannot be opened, the fetcher cannot be built, or a state cannot be written.
pub fn sync(
    cfg: &Config,
    config_path: &Path,
    only: &[String],
    progress: &Progress,
) -> anyhow::Result<SyncReport> {
    for name in only {
        anyhow::ensure!(
            cfg.apt.iter().any(|x| &x.name == name)
                || cfg.pypi.iter().any(|x| &x.name == name)
                || cfg.oci.iter().any(|x| &x.name == name)
                || cfg.osv.iter().any(|x| &x.name == name),
            "--only {name}: no upstream of that name in {}",
            config_path.display()
        );
    }
    let wanted = |n: &str| only.is_empty() || only.iter().any(|o| o == n);
    let store_dir = cfg.store_dir();
    let state = State::open(&store_dir)?;
    let cas = Arc::new(
        store::Cas::open(&store_dir)
            .with_context(|| format!("cannot open store {}", store_dir.display()))?,
    );
    let fetcher = cfg.sync.fetcher(cas, progress.clone())?;
    // Conditional requests for the Release files and project pages the store holds.
    fetcher.know_documents(state.documents()?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    tracing::info!(config = %config_path.display(), store = %store_dir.display(), "sync started");
    let mut upstreams = Vec::new();
    let mut failed = Vec::new();
    let mut lines = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    let mut errors: BTreeMap<String, String> = BTreeMap::new();
    let mut apt_blocked: Option<String> = None;
    rt.block_on(async {
        // APT: one universe over every [[apt]] upstream (phase 1 indexes, phase 2
        // resolution, phase 3 downloads per upstream); see apt::sync.
        let apt = crate::apt::sync::sync_all(&fetcher, cfg, &state, &wanted).await?;
        let kept = if apt.reused {
            "; nothing changed upstream or in the configuration: last selection kept"
        } else {
            ""
        };
        for w in &apt.unsatisfied {
            progress.println(&format!("warning: {w}"));
        }
        if let Some((why, names)) = apt.blocked {
            // The full reason ends the run (the command's error); a pointer now.
            progress.println(&format!(
                "error: no [[apt]] upstream was updated ({}); the reasons are listed at the end",
                names.join(", ")
            ));
            for n in &names {
                errors.insert(n.clone(), why.clone());
            }
            failed.extend(names);
            apt_blocked = Some(why);
        }
        for (name, result) in apt.outcomes {
            match result {
                Ok((_, rep)) => {
                    tracing::info!(upstream = %rep.name, files = rep.files, bytes = rep.bytes, "apt upstream synced");
                    lines.push(format!(
                        "apt  {:<16} {} packages selected of {} ({} files, {}){}",
                        rep.name,
                        rep.selected,
                        rep.candidates,
                        rep.files,
                        HumanBytes(rep.bytes),
                        if rep.unsatisfied.is_empty() {
                            String::new()
                        } else {
                            format!("; {} unsatisfied dependencies", rep.unsatisfied.len())
                        }
                    ) + kept);
                    upstreams.push(serde_json::json!({"kind": "apt", "report": rep, "kept": apt.reused}));
                }
                Err(e) => {
                    progress.println(&format!("error: {e:#}"));
                    errors.insert(name.clone(), format!("{e:#}"));
                    failed.push(name);
                }
            }
        }
        // PyPI: one universe over every [[pypi]] table (resolution spans them all);
        // the wanted tables' files are downloaded and their states written.
        let pypi_results = if cfg.pypi.iter().any(|u| wanted(&u.name)) {
            match crate::pypi::sync::sync_all(&fetcher, cfg, &state, &wanted).await {
                Ok(r) => r,
                Err(e) => {
                    progress.println(&format!("error: {e:#}"));
                    for u in cfg.pypi.iter().filter(|u| wanted(&u.name)) {
                        errors.insert(u.name.clone(), format!("{e:#}"));
                        failed.push(u.name.clone());
                    }
                    crate::pypi::sync::PypiRun::default()
                }
            }
        } else {
            crate::pypi::sync::PypiRun::default()
        };
        let pypi_kept = pypi_results.kept;
        let pypi_record = pypi_results.record;
        for (name, result) in pypi_results.outcomes {
            match result {
                Ok((st, rep)) => {
                    tracing::info!(upstream = %rep.name, files = rep.files, bytes = rep.bytes, "pypi upstream synced");
                    state.put_upstream_if_changed(&st)?;
                    lines.push(format!(
                        "pypi {:<16} {} projects, {} releases ({} files, {})",
                        rep.name,
                        rep.projects,
                        rep.releases,
                        rep.files,
                        HumanBytes(rep.bytes)
                    ) + if pypi_kept {
                        "; nothing changed upstream or in the configuration: last selection kept"
                    } else {
                        ""
                    });
                    for w in &rep.warnings {
                        progress.println(&format!("warning: [[pypi]] {}: {w}", rep.name));
                    }
                    upstreams.push(serde_json::json!({"kind": "pypi", "report": rep, "kept": pypi_kept}));
                }
                Err(e) => {
                    progress.println(&format!("error: {e:#}"));
                    errors.insert(name.clone(), format!("{e:#}"));
                    failed.push(name);
                }
            }
        }
        // The selection is recorded once the states it made are written.
        if let Some(rec) = &pypi_record {
            crate::pypi::sync::save_selection(&state, rec)?;
        }
        for up in cfg.oci.iter().filter(|u| wanted(&u.name)) {
            match crate::oci::sync::sync(&fetcher, cfg, up).await {
                Ok((st, rep)) => {
                    tracing::info!(upstream = %rep.name, blobs = rep.blobs, bytes = rep.bytes, "oci upstream synced");
                    state.put_upstream_if_changed(&st)?;
                    lines.push(format!(
                        "oci  {:<16} {} images, {} tags, {} manifests, {} blobs ({}; {} already in the store){}{}",
                        rep.name,
                        rep.images,
                        rep.tags,
                        rep.manifests,
                        rep.blobs,
                        HumanBytes(rep.bytes),
                        rep.blobs_present,
                        if rep.omitted_platforms.is_empty() {
                            String::new()
                        } else {
                            format!("; {} platforms left out", rep.omitted_platforms.len())
                        },
                        if rep.foreign_layers_skipped.is_empty() {
                            String::new()
                        } else {
                            format!(
                                "; {} foreign layers not fetched",
                                rep.foreign_layers_skipped.len()
                            )
                        }
                    ));
                    for w in &rep.warnings {
                        progress.println(&format!("warning: [[oci]] {}: {w}", rep.name));
                    }
                    refused.extend(rep.refused.iter().map(|r| format!("[[oci]] {}: {r}", rep.name)));
                    upstreams.push(serde_json::json!({"kind": "oci", "report": rep}));
                }
                Err(e) => {
                    progress.println(&format!("error: {e:#}"));
                    errors.insert(up.name.clone(), format!("{e:#}"));
                    failed.push(up.name.clone());
                }
            }
        }
        // OSV: each wanted [[osv]] upstream's exports, checked and stored as they are.
        for up in cfg.osv.iter().filter(|u| wanted(&u.name)) {
            match crate::osv::sync::sync(&fetcher, up).await {
                Ok((st, rep)) => {
                    tracing::info!(upstream = %rep.name, bytes = rep.bytes, "osv upstream synced");
                    state.put_upstream_if_changed(&st)?;
                    let ecos: Vec<String> = rep
                        .ecosystems
                        .iter()
                        .map(|e| {
                            format!(
                                "{} {} records, newest {}",
                                e.ecosystem,
                                e.records,
                                e.newest_modified.as_deref().unwrap_or("none")
                            )
                        })
                        .collect();
                    lines.push(format!(
                        "osv  {:<16} {} ({})",
                        rep.name,
                        ecos.join("; "),
                        HumanBytes(rep.bytes)
                    ));
                    upstreams.push(serde_json::json!({"kind": "osv", "report": rep}));
                }
                Err(e) => {
                    progress.println(&format!("error: {e:#}"));
                    errors.insert(up.name.clone(), format!("{e:#}"));
                    failed.push(up.name.clone());
                }
            }
        }
        anyhow::Ok(())
    })?;
    // Validators of the documents fetched whole this run (nothing when all were 304s).
    state.put_documents(&fetcher.learned_documents())?;
    progress.finish();
    let s = fetcher.stats();
    tracing::info!(
        requests = s.requests.load(Ordering::Relaxed),
        files_fetched = s.files_fetched.load(Ordering::Relaxed),
        bytes_fetched = s.bytes_fetched.load(Ordering::Relaxed),
        failed = failed.len(),
        seconds = started.elapsed().as_secs_f64(),
        "sync finished"
    );
    let mut reasons: Vec<String> = errors
        .iter()
        .map(|(name, e)| format!("{name}: {e}"))
        .collect();
    reasons.extend(refused.iter().map(|r| format!("refused: {r}")));
    let summary = SyncSummary {
        ok: reasons.is_empty(),
        error: (!reasons.is_empty()).then(|| reasons.join("; ")),
        errors,
        upstreams,
        failed: failed.clone(),
        requests: s.requests.load(Ordering::Relaxed),
        files_fetched: s.files_fetched.load(Ordering::Relaxed),
        bytes_fetched: s.bytes_fetched.load(Ordering::Relaxed),
        files_deduplicated: s.files_present.load(Ordering::Relaxed),
        bytes_deduplicated: s.bytes_present.load(Ordering::Relaxed),
        seconds: started.elapsed().as_secs_f64(),
    };
    let failure = if !failed.is_empty() {
        let wanted_count = cfg
            .apt
            .iter()
            .map(|u| &u.name)
            .chain(cfg.pypi.iter().map(|u| &u.name))
            .chain(cfg.oci.iter().map(|u| &u.name))
            .chain(cfg.osv.iter().map(|u| &u.name))
            .filter(|n| wanted(n))
            .count();
        let others = if failed.len() >= wanted_count {
            "no upstream was synced"
        } else {
            "the others were synced"
        };
        let e = anyhow::anyhow!(
            "{} upstream(s) failed: {} ({others}; the failed ones keep their previous state)",
            failed.len(),
            failed.join(", ")
        );
        // The APT cause names every missing package or failing upstream at once.
        Some(match apt_blocked {
            Some(why) => e.context(why),
            None => e,
        })
    } else if !refused.is_empty() {
        Some(anyhow::anyhow!(
            "{} image(s) refused by the signature policy and left out of the store's state (the rest was synced): {}",
            refused.len(),
            refused.join("; ")
        ))
    } else {
        None
    };
    Ok(SyncReport {
        summary,
        lines,
        failure,
    })
}
