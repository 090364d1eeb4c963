//! A re-sync that downloads nothing unchanged: the Release files by conditional request,
//! the `Packages` indexes from the store, and the last selection kept when nothing that
//! decides it has changed.
//!
//! - **Release files** (`cached::release_file`): `InRelease`, `Release` and `Release.gpg` are
//!   fetched with [`Fetcher::get_revalidated`]: `If-None-Match`/`If-Modified-Since` with
//!   the validators of the stored copy, a `304` answered from the store (checked against
//!   its digest; a missing or damaged copy is fetched whole). The signature is verified
//!   on every sync, whichever way the bytes came.
//! - **Indexes** (`cached::stored_index`): a `Packages` file the verified Release lists with a
//!   SHA256 that the store already holds (the previous sync kept it as provenance) is
//!   read from the store, checked against that SHA256 and size, and not requested at all.
//!   This covers the unchanged indexes of a changed Release too.
//! - **Selection** (this file: [`selection_key`], [`reuse`], [`record`]): the *selection key* is a
//!   SHA-256 over everything that decides the APT selection: the program version, every
//!   `[[apt]]` table as configured (url, suites, components, architectures, packages,
//!   recommends, keyring path and fingerprints, flat), the bytes of each keyring, and the
//!   digests of every suite's verified Release files. After a full sync of every
//!   `[[apt]]` upstream the key is recorded in the state (`selections` table, `apt`) with
//!   each upstream's figures. When the next sync computes the same key, every upstream
//!   has its previous state and every file of those states is still in the store, the
//!   `Packages` indexes are neither read nor resolved again: the previous states are kept
//!   as they are (nothing is written). Any difference (a config edit, a new keyring, a
//!   changed `InRelease`, a new program version, a file gone from the store) makes the
//!   sync resolve again. A full sync drops the record before it writes any state, so the
//!   record never describes states it did not produce.

use std::collections::BTreeMap;

use anyhow::Context;
use formats::digest::{Digest, Hasher};
use keys::openpgp::Keyring;
use serde::{Deserialize, Serialize};

use super::download::AptReport;
use super::universe::fetch_suite_release;
use crate::config::Config;
use crate::fetch::{self, Fetcher};
use crate::state::{State, UpstreamState};

/// The `selections` key of the APT record.
const ECOSYSTEM: &str = "apt";

/// One upstream's figures in the record, to report a kept selection as it was made.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Figures {
    name: String,
    candidates: usize,
    selected: usize,
    files: usize,
    bytes: u64,
    unsatisfied: Vec<String>,
    signers: Vec<String>,
    sha1_bound_signers: Vec<String>,
}

/// One upstream's outcome: its state and report, or why it failed.
pub(super) type Outcome = (String, anyhow::Result<(UpstreamState, AptReport)>);

/// A kept selection: the previous states of the wanted upstreams and the warnings.
pub(super) struct Kept {
    /// Per wanted upstream in configuration order, its previous state and figures.
    pub(super) outcomes: Vec<Outcome>,
    /// The unsatisfied dependencies of that selection.
    pub(super) unsatisfied: Vec<String>,
}

/// What the state keeps of the last full APT selection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AptSelectionRecord {
    /// The selection key it was made under (see the module docs).
    pub key: Digest,
    figures: Vec<Figures>,
    /// Every unsatisfied dependency of that selection (warned again when it is kept).
    pub unsatisfied: Vec<String>,
}

/// Fetches and verifies every `[[apt]]` upstream's Release files (conditionally; see
/// `cached::release_file`), checks their `Valid-Until`, and returns the selection key.
///
/// Errors: per upstream that fails, its name and why, worded as phase 1 words it
/// (keyring, URL, signature, expiry).
pub(super) async fn selection_key(
    f: &Fetcher,
    cfg: &Config,
) -> Result<Digest, Vec<(String, anyhow::Error)>> {
    let mut h = Hasher::new();
    h.update(concat!("mirror-sync ", env!("CARGO_PKG_VERSION"), "\n").as_bytes());
    // What a state records per deb; a new field makes the next sync fill it in.
    h.update(b"deb meta: supplier, source, license from copyright\n");
    let mut failed = Vec::new();
    for up in &cfg.apt {
        h.update(format!("{up:?}\n").as_bytes());
        match upstream_releases(f, cfg, up).await {
            Ok(parts) => {
                for p in parts {
                    h.update(&(p.len() as u64).to_le_bytes());
                    h.update(&p);
                }
            }
            Err(e) => failed.push((up.name.clone(), e)),
        }
    }
    if failed.is_empty() {
        Ok(h.finish().0)
    } else {
        Err(failed)
    }
}

/// The keyring bytes and each suite's Release file paths and digests, as key material.
async fn upstream_releases(
    f: &Fetcher,
    cfg: &Config,
    up: &crate::config::AptUpstream,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let keyring_path = cfg.resolve(&up.keyring);
    let cannot = || {
        format!(
            "[[apt]] {}: cannot load keyring {}",
            up.name,
            keyring_path.display()
        )
    };
    let keyring_bytes = std::fs::read(&keyring_path).with_context(cannot)?;
    let keyring = Keyring::load(&keyring_path).with_context(cannot)?;
    let base = fetch::base_url(&up.url)?;
    let mut parts = vec![keyring_bytes];
    let dists: Vec<Option<&String>> = if up.flat {
        vec![None]
    } else {
        up.suites.iter().map(Some).collect()
    };
    for dist in dists {
        let (_, v) = fetch_suite_release(
            f,
            &keyring,
            &keyring_path,
            &base,
            &up.name,
            dist.map(String::as_str),
            true,
        )
        .await?;
        for a in &v.artifacts {
            parts.push(format!("{} {}", a.path, a.digest).into_bytes());
        }
    }
    Ok(parts)
}

/// The previous states of the upstreams `wanted` accepts, when the record's key is `key`, every `[[apt]]` upstream has a
/// state and a figure in the record, and every file of those states is in the store
/// (size checked). `None` otherwise: the caller resolves again. Writes nothing.
///
/// Errors: the state database cannot be read.
pub(super) fn reuse(
    f: &Fetcher,
    cfg: &Config,
    state: &State,
    key: &Digest,
    wanted: &dyn Fn(&str) -> bool,
) -> anyhow::Result<Option<Kept>> {
    let Some(rec) = state.selection::<AptSelectionRecord>(ECOSYSTEM)? else {
        return Ok(None);
    };
    if rec.key != *key {
        return Ok(None);
    }
    let figures: BTreeMap<&str, &Figures> =
        rec.figures.iter().map(|x| (x.name.as_str(), x)).collect();
    let mut run = Kept {
        outcomes: Vec::new(),
        unsatisfied: rec.unsatisfied.clone(),
    };
    for up in &cfg.apt {
        let (Some(prev), Some(fig)) = (state.upstream(&up.name)?, figures.get(up.name.as_str()))
        else {
            return Ok(None);
        };
        for a in &prev.artifacts {
            if f.cas().contains(&a.digest)? != Some(a.size) {
                tracing::info!(path = %a.path, "not in the store any more; resolving again");
                return Ok(None);
            }
        }
        if !wanted(&up.name) {
            continue;
        }
        let report = AptReport {
            name: fig.name.clone(),
            candidates: fig.candidates,
            selected: fig.selected,
            files: fig.files,
            bytes: fig.bytes,
            unsatisfied: fig.unsatisfied.clone(),
            signers: fig.signers.clone(),
            sha1_bound_signers: fig.sha1_bound_signers.clone(),
        };
        f.count_kept(&prev.artifacts);
        run.outcomes.push((up.name.clone(), Ok((prev, report))));
    }
    Ok(Some(run))
}

/// Records `outcomes` (and the selection's `unsatisfied` dependencies) as the selection
/// made under `key` when they are every `[[apt]]` upstream's, all successful (a run
/// limited by `--only`, or one with a failure, records nothing: the states would not all
/// come from this selection).
///
/// Errors: the state database cannot be written.
pub(super) fn record(
    cfg: &Config,
    state: &State,
    key: &Digest,
    outcomes: &[Outcome],
    unsatisfied: &[String],
) -> anyhow::Result<()> {
    if outcomes.len() != cfg.apt.len() || outcomes.iter().any(|(_, r)| r.is_err()) {
        return Ok(());
    }
    let figures = outcomes
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .map(|(_, rep)| Figures {
            name: rep.name.clone(),
            candidates: rep.candidates,
            selected: rep.selected,
            files: rep.files,
            bytes: rep.bytes,
            unsatisfied: rep.unsatisfied.clone(),
            signers: rep.signers.clone(),
            sha1_bound_signers: rep.sha1_bound_signers.clone(),
        })
        .collect();
    state.put_selection(
        ECOSYSTEM,
        &AptSelectionRecord {
            key: *key,
            figures,
            unsatisfied: unsatisfied.to_vec(),
        },
    )
}
