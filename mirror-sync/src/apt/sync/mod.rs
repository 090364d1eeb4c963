//! Sync of the `[[apt]]` upstreams, in three phases over one universe:
//!
//! 1. [`fetch_universe`]: for every upstream, verify the upstream `InRelease` (or
//!    `Release` + `Release.gpg`) against its configured keyring and check every index
//!    against the Release hashes; the parsed entries of all upstreams form one universe.
//! 2. [`select`]: resolve every upstream's requests over that universe
//!    ([`crate::apt::resolve`]: apt's candidate rule, a dependency satisfied from any
//!    source), reporting every missing request and unsatisfied dependency at once, and
//!    map the selection back to each upstream's indexes (a `.deb` stays under the
//!    upstream and suite it came from).
//! 3. [`download`]: stream each upstream's selected `.deb`s into the store, checked
//!    against their `Packages` entries.
//!
//! [`sync_all`] runs the three for `mirror-sync sync`; `mirror-sync plan` runs 1 and 2
//! only, writing nothing ([`crate::plan`]).
//!
//! One file per phase: `universe` (1), `select` (2), `download` (3). A re-sync downloads
//! nothing unchanged: `cached` gets phase 1's Release files by conditional request and
//! its indexes from the store, `reuse` keeps the last selection when its key is
//! unchanged; this file holds [`sync_all`].
//!
//! What fails the sync: an upstream whose Release or indexes do not verify (no APT
//! upstream is updated then, since the universe is incomplete), and a requested package
//! that is in no source (all of them are listed; nothing is downloaded). An unsatisfied
//! dependency of a selected package is a warning: the selection is not closed there,
//! exactly as `apt-get` would fail on that package, and the rest is mirrored.
//!
//! Standard layout: `dists/<suite>/InRelease`, `dists/<suite>/<component>/binary-<arch>/Packages.{xz,gz}`
//! (by-hash when the Release says `Acquire-By-Hash: yes`), files under the archive root.
//! Flat layout (`deb URL /`): `InRelease` or `Release`, and `Packages.{xz,gz}`, in the
//! repository directory itself; `Filename`s are relative to it.

use crate::config::Config;
use crate::fetch::Fetcher;
use crate::state::{State, UpstreamState};

mod cached;
mod download;
mod reuse;
mod select;
mod universe;

pub use download::*;
pub use reuse::AptSelectionRecord;
pub use select::*;
pub use universe::*;

/// The outcome of [`sync_all`].
#[derive(Default)]
pub struct AptRun {
    /// One per wanted upstream that was downloaded or tried: its name and its new
    /// state and figures, or why it was not updated.
    pub outcomes: Vec<(String, anyhow::Result<(UpstreamState, AptReport)>)>,
    /// Set when no upstream could be updated (an upstream's indexes do not verify, a
    /// request is invalid or in no source): the message listing every cause, and the
    /// wanted upstreams, all failed.
    pub blocked: Option<(String, Vec<String>)>,
    /// Every unsatisfied dependency (warnings), `[[apt]] NAME: …` with its chain.
    pub unsatisfied: Vec<String>,
    /// Set when nothing that decides the selection changed (same selection key: same
    /// configuration, keyrings, program version and Release files), so the previous
    /// states were kept as they are: no index read, nothing resolved, nothing written.
    pub reused: bool,
}

/// `mirror-sync sync` for the APT upstreams: every `[[apt]]` upstream's Release files
/// (conditional requests) and the selection key; when the key is that of the last full
/// selection, the previous states are kept ([`AptRun::reused`]; see `reuse`). Otherwise
/// phase 1 over every `[[apt]]` upstream (the universe always holds all of them, also
/// with `--only`), phase 2, then phase 3 for each upstream `wanted` accepts. Each
/// successful upstream's state is written to `state` as soon as it is downloaded, and the
/// selection key once every upstream is.
///
/// When an upstream's indexes do not verify, or a request is in no source, nothing is
/// downloaded and [`AptRun::blocked`] lists all the causes.
///
/// # Errors
/// Only the state database failing.
pub async fn sync_all(
    f: &Fetcher,
    cfg: &Config,
    state: &State,
    wanted: &dyn Fn(&str) -> bool,
) -> anyhow::Result<AptRun> {
    let names: Vec<String> = cfg
        .apt
        .iter()
        .map(|u| u.name.clone())
        .filter(|n| wanted(n))
        .collect();
    if names.is_empty() {
        return Ok(AptRun::default());
    }
    let key = match reuse::selection_key(f, cfg).await {
        Ok(k) => Some(k),
        Err(failed) => return Ok(blocked_by(failed, names)),
    };
    if let Some(k) = &key
        && let Some(kept) = reuse::reuse(f, cfg, state, k, wanted)?
    {
        return Ok(AptRun {
            outcomes: kept.outcomes,
            unsatisfied: kept.unsatisfied,
            reused: true,
            ..AptRun::default()
        });
    }
    // The Release files are not fetched again: the fetcher answers from this run's copy.
    let (uni, failed) = fetch_universe(f, cfg, true).await;
    if !failed.is_empty() {
        return Ok(blocked_by(failed, names));
    }
    f.progress().phase("apt: resolving over all sources");
    let sel = match select(cfg, &uni) {
        Ok(s) => s,
        Err(e) => {
            return Ok(AptRun {
                blocked: Some((format!("{e:#}"), names)),
                ..AptRun::default()
            });
        }
    };
    if !sel.missing.is_empty() {
        return Ok(AptRun {
            blocked: Some((
                format!(
                    "{} requested package(s) are in no configured source, so no [[apt]] upstream was updated and nothing was downloaded (check the names, or add the suite or component that has them; `mirror-sync plan` checks without downloading):\n  {}",
                    sel.missing.len(),
                    sel.missing.join("\n  ")
                ),
                names,
            )),
            unsatisfied: sel.unsatisfied,
            ..AptRun::default()
        });
    }
    let mut run = AptRun::default();
    // The states written from here on are not those of the recorded selection.
    state.drop_selection("apt")?;
    for (k, fu) in uni.upstreams.iter().enumerate() {
        let name = &cfg.apt[fu.config_index].name;
        if !wanted(name) {
            continue;
        }
        let previous = state.upstream(name)?;
        let result = download(f, cfg, &uni, &sel, k, previous.as_ref()).await;
        if let Ok((st, _)) = &result {
            state.put_upstream_if_changed(st)?;
        }
        run.outcomes.push((name.clone(), result));
    }
    run.unsatisfied = sel.unsatisfied;
    if let Some(k) = &key {
        reuse::record(cfg, state, k, &run.outcomes, &run.unsatisfied)?;
    }
    Ok(run)
}

/// The run when phase 1 fails for some upstreams: nothing is updated.
fn blocked_by(failed: Vec<(String, anyhow::Error)>, names: Vec<String>) -> AptRun {
    let list: Vec<String> = failed.iter().map(|(_, e)| format!("{e:#}")).collect();
    AptRun {
        blocked: Some((
            format!(
                "the APT universe is incomplete, so no [[apt]] upstream was updated (their previous state is kept); fix or remove the failing upstream(s):\n  {}",
                list.join("\n  ")
            ),
            names,
        )),
        ..AptRun::default()
    }
}

#[cfg(test)]
mod tests;
