//! A PyPI re-sync that reads nothing it already knows: when nothing that decides the
//! selection changed, the previous states are kept without parsing a page, reading core
//! metadata or resolving.
//!
//! The *selection key* is a SHA-256 over the program version, every `[[pypi]]` table as
//! configured (url, projects, bind, explicit, platforms, python, sdists, requirement and
//! lock file paths) and the bytes of those requirement and lock files. After a full sync
//! of every table, the state keeps (`selections` table, `pypi`) the key, each table's
//! figures and every project page the resolution asked for (its index, its project, and
//! the digest of the page or that it was not there). The next sync with the same key
//! asks for exactly those pages again, all at once and conditionally (a `304` costs no
//! body; see [`crate::fetch::Fetcher::get_revalidated`]); when every answer is the same
//! page (same digest, or again not there), every table has its previous state and every
//! file of those states is still in the store, those states are kept as they are. Any
//! difference resolves again, the pages then coming from this run's copies (no second
//! request).

use std::collections::BTreeMap;

use formats::digest::{Digest, Hasher};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};

use super::download::PypiReport;
use super::pages::page_url;
use crate::config::Config;
use crate::fetch::{self, Fetcher};
use crate::pypi::resolve::{Cache, Universe};
use crate::state::State;
use crate::state::UpstreamState;

/// The `selections` key of the PyPI record.
const ECOSYSTEM: &str = "pypi";

/// One project page the last full resolution asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PageSeen {
    /// Position of the `[[pypi]]` table asked.
    table: usize,
    /// Project (normalized).
    project: String,
    /// Digest of the page, `None` when the index had no such project (404/410).
    digest: Option<Digest>,
}

/// One table's outcome: its state and report, or why it failed.
pub(super) type Outcome = (String, anyhow::Result<(UpstreamState, PypiReport)>);

/// What the state keeps of the last full PyPI selection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PypiSelectionRecord {
    /// The selection key it was made under (see the module docs).
    pub key: Digest,
    pages: Vec<PageSeen>,
    reports: Vec<PypiReport>,
}

/// The selection key of `cfg`'s `[[pypi]]` tables; `None` when a requirement or lock file
/// cannot be read (the full sync then reports it).
pub(super) fn selection_key(cfg: &Config) -> Option<Digest> {
    let mut h = Hasher::new();
    h.update(concat!("mirror-sync ", env!("CARGO_PKG_VERSION"), "\n").as_bytes());
    for up in &cfg.pypi {
        h.update(format!("{up:?}\n").as_bytes());
        for p in up.requirements.iter().chain(&up.lock) {
            let bytes = std::fs::read(cfg.resolve(p)).ok()?;
            h.update(&(bytes.len() as u64).to_le_bytes());
            h.update(&bytes);
        }
    }
    Some(h.finish().0)
}

/// The previous states of the tables `wanted` accepts, when the record's key is `key`,
/// every recorded page is unchanged upstream (asked again, conditionally, 16 at a time),
/// every table has a state and a report in the record, and every file of those states is
/// in the store. `None` otherwise. Writes nothing to the state.
///
/// Errors: the state database cannot be read, or a page request fails (after the
/// retries; the full sync would fail on it too).
pub(super) async fn reuse(
    f: &Fetcher,
    cfg: &Config,
    uni: &Universe,
    state: &State,
    key: &Digest,
    wanted: &dyn Fn(&str) -> bool,
) -> anyhow::Result<Option<Vec<Outcome>>> {
    let Some(rec) = state.selection::<PypiSelectionRecord>(ECOSYSTEM)? else {
        return Ok(None);
    };
    if rec.key != *key || rec.pages.iter().any(|p| p.table >= uni.bases.len()) {
        return Ok(None);
    }
    let mut prev = BTreeMap::new();
    for up in &cfg.pypi {
        let Some(st) = state.upstream(&up.name)? else {
            return Ok(None);
        };
        for a in &st.artifacts {
            if f.cas().contains(&a.digest)? != Some(a.size) {
                tracing::info!(path = %a.path, "not in the store any more; resolving again");
                return Ok(None);
            }
        }
        prev.insert(up.name.clone(), st);
    }
    let answers: Vec<anyhow::Result<bool>> = futures_util::stream::iter(&rec.pages)
        .map(|p| async move {
            let url = page_url(&uni.bases[p.table], &p.project)?;
            let got = f
                .get_revalidated(&url, Some(super::pages::ACCEPT), super::pages::MAX_PAGE)
                .await?;
            Ok(got.map(|r| r.digest) == p.digest)
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for a in answers {
        if !a? {
            return Ok(None);
        }
    }
    let mut outcomes = Vec::new();
    for up in cfg.pypi.iter().filter(|u| wanted(&u.name)) {
        let (Some(st), Some(rep)) = (
            prev.remove(&up.name),
            rec.reports.iter().find(|r| r.name == up.name),
        ) else {
            return Ok(None);
        };
        f.count_kept(&st.artifacts);
        outcomes.push((up.name.clone(), Ok((st, rep.clone()))));
    }
    Ok(Some(outcomes))
}

/// The record of a full sync under `key`: every page `cache` holds, with the tables asked
/// for it (in routing order, up to the one that had it) and what each answered. `None`
/// when the run did not sync every table successfully (its states would not all come from
/// this selection).
pub(super) fn record(
    f: &Fetcher,
    cfg: &Config,
    uni: &Universe,
    cache: &Cache,
    key: &Digest,
    outcomes: &[Outcome],
) -> Option<PypiSelectionRecord> {
    if outcomes.len() != cfg.pypi.len() || outcomes.iter().any(|(_, r)| r.is_err()) {
        return None;
    }
    let seen: BTreeMap<String, Option<Digest>> = f
        .seen_documents(Some(super::pages::ACCEPT))
        .into_iter()
        .collect();
    let mut pages = Vec::new();
    for project in cache.pages.keys() {
        for table in uni.route(project) {
            let url = page_url(&uni.bases[table], project).ok()?;
            // Every page the resolution used went through the fetcher; one missing means
            // the record would be incomplete.
            let digest = *seen.get(&fetch::redact(&url))?;
            pages.push(PageSeen {
                table,
                project: project.clone(),
                digest,
            });
            if digest.is_some() {
                break;
            }
        }
    }
    pages.sort_by(|a, b| (a.table, &a.project).cmp(&(b.table, &b.project)));
    Some(PypiSelectionRecord {
        key: *key,
        pages,
        reports: outcomes
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok().map(|(_, rep)| rep.clone()))
            .collect(),
    })
}

/// Forgets the recorded selection (a full sync writes states it does not describe).
/// Errors: the state database fails.
pub(super) fn forget(state: &State) -> anyhow::Result<()> {
    state.drop_selection(ECOSYSTEM)
}

/// Records `rec` as the last full selection. Errors: the state cannot be written.
pub fn save(state: &State, rec: &PypiSelectionRecord) -> anyhow::Result<()> {
    state.put_selection(ECOSYSTEM, rec)
}
