//! `mirror-server gc`: remove old snapshots and the blobs only they used.
//!
//! Retained: the live snapshot of every channel, the current snapshot (served at the
//! root), every pinned snapshot, and the `--keep N` highest sequences of every channel.
//! Every other snapshot record is removed, then every blob that no retained snapshot
//! references (its artifacts, its manifest blob, its signature blob) is deleted, which
//! also collects blobs left unreferenced by an interrupted import or an earlier crashed
//! run. Resumable import staging (`STORE/tmp/resume-*`) and stale staging directories (`STORE/tmp/import-<pid>-*` of dead processes) are
//! swept too.
//!
//! **Crash safety.** Order: (1) remove the records in one redb transaction, (2) bump
//! `current.gen` so servers drop tables of removed snapshots, (3) append the `gc` audit
//! record, (4) delete blobs, (5) sweep staging. A crash after (1) leaves only
//! unreferenced blobs, which the next run deletes. A kept snapshot whose manifest cannot
//! be read stops the run before anything changes ([`LifecycleError::GcUnsafe`]): without
//! it, gc cannot know which blobs are in use.
//!
//! The whole run holds the store lock ([`crate::lifecycle::lock_store`]), so it never
//! overlaps an import that takes the lock. As a second line of defence the index is
//! read again after the records are removed, and blobs of any snapshot that appeared
//! meanwhile are kept.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use formats::digest::Digest;
use serde::Serialize;
use store::cas::sync_dir;
use store::{Cas, IndexState, Store, StoreIoError};

use crate::audit;
use crate::lifecycle::{LifecycleError, read_manifest, read_state, snapshot_blobs};

/// What `gc` is asked to do.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// The store directory.
    pub store: PathBuf,
    /// How many of the highest sequences to keep on every channel (at least 1).
    pub keep: usize,
    /// Only report what would be removed; change nothing.
    pub dry_run: bool,
}

/// A retained snapshot and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Kept {
    /// The snapshot.
    pub name: String,
    /// `live`, `current`, `pinned`, `newest` (one of the `--keep` highest sequences).
    pub reasons: Vec<&'static str>,
}

/// What a gc run did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GcSummary {
    /// True for a dry run: nothing was changed.
    pub dry_run: bool,
    /// The `--keep` value.
    pub keep: usize,
    /// Retained snapshots, sorted by name.
    pub kept: Vec<Kept>,
    /// Removed snapshot records, sorted by channel then sequence.
    pub snapshots_removed: Vec<String>,
    /// Blobs deleted.
    pub blobs_removed: u64,
    /// Bytes of the deleted blobs.
    pub bytes_freed: u64,
    /// Blobs referenced by retained snapshots (kept).
    pub blobs_kept: u64,
    /// Stale staging directories and temp files removed.
    pub staging_removed: u64,
    /// The new `current.gen`, when snapshot records were removed.
    pub generation: Option<u64>,
}

/// Decides which snapshots to keep (see the module docs); name → reasons.
pub fn retained(state: &IndexState, keep: usize) -> BTreeMap<String, Vec<&'static str>> {
    let mut out: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    for name in state.live.values() {
        out.entry(name.clone()).or_default().push("live");
    }
    if let Some(c) = &state.current {
        out.entry(c.clone()).or_default().push("current");
    }
    for name in state.pins.keys() {
        out.entry(name.clone()).or_default().push("pinned");
    }
    let mut by_channel: BTreeMap<&str, Vec<(u64, &str)>> = BTreeMap::new();
    for r in &state.snapshots {
        by_channel
            .entry(r.channel.as_str())
            .or_default()
            .push((r.sequence, r.name.as_str()));
    }
    for list in by_channel.values_mut() {
        list.sort_by_key(|e| std::cmp::Reverse(e.0));
        for (_, name) in list.iter().take(keep) {
            out.entry((*name).to_owned()).or_default().push("newest");
        }
    }
    out
}

/// Adds every blob the held snapshots in `names` reference to `referenced`.
fn add_references(
    cas: &Cas,
    state: &IndexState,
    names: impl IntoIterator<Item = String>,
    referenced: &mut HashSet<Digest>,
) -> Result<(), LifecycleError> {
    for name in names {
        let Some(rec) = state.get(&name) else {
            continue; // a live/current/pin name without a record references nothing
        };
        let (m, size) = read_manifest(cas, rec).map_err(|e| LifecycleError::GcUnsafe {
            name: name.clone(),
            reason: match e {
                LifecycleError::Manifest { digest, reason, .. } => {
                    format!("its manifest blob {digest} cannot be used ({reason})")
                }
                other => other.to_string(),
            },
        })?;
        referenced.extend(snapshot_blobs(rec, &m, size).into_keys());
    }
    Ok(())
}

/// Runs garbage collection (see the module docs).
///
/// Errors: [`LifecycleError::BadKeep`] for `keep == 0`, [`LifecycleError::NoStore`],
/// [`LifecycleError::GcUnsafe`] (nothing changed), index, I/O and audit errors.
pub fn gc(opts: &GcOptions) -> Result<GcSummary, LifecycleError> {
    if opts.keep == 0 {
        return Err(LifecycleError::BadKeep);
    }
    let store = &opts.store;
    let dir = Store::at(store);
    read_state(store)?;
    // A dry run changes nothing, not even by creating the lock file.
    let _lock = if opts.dry_run && !dir.lock_path().exists() {
        None
    } else {
        Some(dir.lock()?)
    };
    let state = read_state(store)?;
    let keep = retained(&state, opts.keep);
    let remove: Vec<String> = state
        .snapshots
        .iter()
        .filter(|r| !keep.contains_key(&r.name))
        .map(|r| r.name.clone())
        .collect();
    let cas = dir.cas();
    let mut referenced: HashSet<Digest> = HashSet::new();
    add_references(&cas, &state, keep.keys().cloned(), &mut referenced)?;

    let blobs_dir = cas.blobs_dir();
    let io = |e| StoreIoError {
        path: blobs_dir.clone(),
        source: e,
    };
    let present = match cas.iter_digests() {
        Ok(v) => v,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io(e).into()),
    };
    let mut doomed: Vec<(Digest, u64)> = Vec::new();
    for d in present {
        if !referenced.contains(&d)
            && let Some(size) = cas.contains(&d).map_err(io)?
        {
            doomed.push((d, size));
        }
    }
    doomed.sort();
    let staging_io = |e| StoreIoError {
        path: dir.tmp_dir(),
        source: e,
    };
    let mut stale = dir.stale_staging().map_err(staging_io)?;
    // Verified work of interrupted or unfinished multi-volume imports is dropped too.
    stale.extend(dir.resumable_staging().map_err(staging_io)?);
    let mut summary = GcSummary {
        dry_run: opts.dry_run,
        keep: opts.keep,
        kept: keep
            .iter()
            .map(|(name, reasons)| Kept {
                name: name.clone(),
                reasons: reasons.clone(),
            })
            .collect(),
        snapshots_removed: remove.clone(),
        blobs_removed: doomed.len() as u64,
        bytes_freed: doomed.iter().map(|(_, s)| s).sum(),
        blobs_kept: referenced.len() as u64,
        staging_removed: stale.len() as u64,
        generation: None,
    };
    if opts.dry_run {
        return Ok(summary);
    }

    // 1-2. Records, in one transaction; then tell servers.
    if !remove.is_empty() {
        dir.index()?.remove_snapshots(&remove)?;
        summary.generation = Some(dir.bump_generation()?);
    }
    // Second line of defence: keep the blobs of any snapshot that appeared meanwhile.
    let after = read_state(store)?;
    let new: Vec<String> = after
        .snapshots
        .iter()
        .filter(|r| !keep.contains_key(&r.name))
        .map(|r| r.name.clone())
        .collect();
    if !new.is_empty() {
        add_references(&cas, &after, new, &mut referenced)?;
        doomed.retain(|(d, _)| !referenced.contains(d));
    }

    // 3. Audit, before deleting, so the removal of records is recorded even if
    //    deleting is interrupted.
    let mut fields = serde_json::Map::new();
    fields.insert("keep".into(), opts.keep.into());
    fields.insert("removed".into(), serde_json::json!(remove));
    fields.insert("blobs".into(), doomed.len().into());
    fields.insert(
        "bytes".into(),
        doomed.iter().map(|(_, s)| s).sum::<u64>().into(),
    );
    fields.insert("staging".into(), stale.len().into());
    fields.insert("generation".into(), summary.generation.into());
    audit::append(store, "gc", fields)?;

    // 4. Blobs.
    let mut removed = 0u64;
    let mut freed = 0u64;
    for (d, _) in &doomed {
        if let Some(size) = cas.remove_blob(d).map_err(|e| StoreIoError {
            path: cas.blob_path(d),
            source: e,
        })? {
            removed += 1;
            freed += size;
        }
    }
    if removed > 0 {
        sync_dir(&blobs_dir).map_err(io)?;
    }
    summary.blobs_removed = removed;
    summary.bytes_freed = freed;
    summary.blobs_kept = referenced.len() as u64;

    // 5. Staging.
    summary.staging_removed = dir
        .sweep_stale_staging()
        .and_then(|n| Ok(n + dir.sweep_resumable_staging()?))
        .map_err(staging_io)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::{PinRecord, SnapshotRecord};

    fn rec(channel: &str, seq: u64) -> SnapshotRecord {
        SnapshotRecord {
            name: format!("{channel}/{seq}"),
            channel: channel.into(),
            sequence: seq,
            created: String::new(),
            signer: String::new(),
            signer_key_file: String::new(),
            manifest: Digest::of(b"m"),
            signature: Digest::of(b"s"),
            imported_at: String::new(),
            artifacts: 0,
            bytes: 0,
        }
    }

    #[test]
    fn retention_rules() {
        let mut state = IndexState::default();
        for seq in 1..=5 {
            state.snapshots.push(rec("a", seq));
        }
        for seq in 1..=3 {
            state.snapshots.push(rec("b", seq));
        }
        state.live.insert("a".into(), "a/3".into()); // rolled back
        state.live.insert("b".into(), "b/3".into());
        state.current = Some("b/3".into());
        state.pins.insert(
            "a/1".into(),
            PinRecord {
                reason: None,
                pinned_at: String::new(),
            },
        );
        let k = retained(&state, 1);
        let names: Vec<&str> = k.keys().map(String::as_str).collect();
        assert_eq!(names, ["a/1", "a/3", "a/5", "b/3"]);
        assert_eq!(k["b/3"], ["live", "current", "newest"]);
        assert_eq!(k["a/1"], ["pinned"]);
        let k = retained(&state, 2);
        let names: Vec<&str> = k.keys().map(String::as_str).collect();
        assert_eq!(names, ["a/1", "a/3", "a/4", "a/5", "b/2", "b/3"]);
    }
}
