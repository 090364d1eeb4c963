//! Store lifecycle: rollback, pins and the list of held snapshots. Garbage collection is
//! in [`crate::gc`], the store check in [`crate::verify`], the audit log in
//! [`crate::audit`]. The store's layout, its lock, its generation counter and its staging
//! area are [`store::Store`]'s ([`store::layout`]); [`lock_store`], [`bump_generation`]
//! and the staging functions here call it.
//!
//! Every operation here that changes the store takes the store lock first, validates with
//! the index opened read-only, changes the index in one redb transaction, bumps
//! `current.gen`, then appends to the audit log. A refused operation changes nothing (not
//! even the index file).

use std::io;
use std::path::{Path, PathBuf};

use formats::digest::Digest;
use formats::snapshot::{MAX_MANIFEST_BYTES, Manifest};
use serde::Serialize;
use store::{Cas, IndexState, PinRecord, SnapshotRecord, Store};

use crate::audit::{self, AuditError};
use formats::snapshot::SnapshotName;

pub use store::layout::{
    BLOB_TEMP_PREFIX, LOCK_FILE, LOCK_NOTICE_AFTER, RESUME_PREFIX, STAGING_PREFIX, StoreIoError,
    StoreLock,
};

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> StoreIoError + '_ {
    move |source| StoreIoError {
        path: path.to_path_buf(),
        source,
    }
}

/// Why a lifecycle operation (rollback, pin, unpin, gc, verify, list) failed. Every
/// message is one line naming the snapshot or file and what to do; unless the variant
/// says otherwise, nothing in the store was changed.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// A file-system operation failed.
    #[error(transparent)]
    Io(#[from] StoreIoError),
    /// The index failed (or refused: live, current, pinned, not held).
    #[error(transparent)]
    Index(#[from] store::IndexError),
    /// The audit log could not be written (the change itself is done).
    #[error("the change is done but the audit log was not written: {0}")]
    Audit(#[from] AuditError),
    /// The store has no index.
    #[error("{}: no snapshot imported yet (run mirror-server import)", store.display())]
    NoStore {
        /// The store directory.
        store: PathBuf,
    },
    /// A snapshot name that is not `CHANNEL/SEQUENCE`.
    #[error("{name:?} is not a snapshot name (expected CHANNEL/SEQUENCE, e.g. stable/12)")]
    BadName {
        /// What was given.
        name: String,
    },
    /// A channel name that is not valid.
    #[error("{0}")]
    BadChannel(String),
    /// The snapshot is not held in the store.
    #[error("snapshot {name} is not held in {} (held: {}); nothing changed", store.display(), list(held))]
    NotHeld {
        /// The store directory.
        store: PathBuf,
        /// The name asked for.
        name: String,
        /// The snapshots held.
        held: Vec<String>,
    },
    /// `--to` and `--channel` disagree.
    #[error("snapshot {name} is not on channel {channel}; nothing changed")]
    WrongChannel {
        /// The snapshot.
        name: String,
        /// The channel given.
        channel: String,
    },
    /// No channel given and no snapshot is current.
    #[error("{}: no snapshot is served at the root; name the channel with --channel or the snapshot with --to", store.display())]
    NoCurrent {
        /// The store directory.
        store: PathBuf,
    },
    /// The channel has no live snapshot to roll back from.
    #[error("channel {channel} has no live snapshot in {}; name the snapshot with --to", store.display())]
    NoLive {
        /// The store directory.
        store: PathBuf,
        /// The channel.
        channel: String,
    },
    /// No older snapshot is held on the channel.
    #[error(
        "no snapshot older than {live} is held on channel {channel} (held: {}); nothing to roll back to",
        list(held)
    )]
    NoPrevious {
        /// The channel.
        channel: String,
        /// Its live snapshot.
        live: String,
        /// The snapshots held on the channel.
        held: Vec<String>,
    },
    /// The snapshot is already live on its channel and served at the root.
    #[error(
        "snapshot {name} is already live on channel {channel} and served at the root; nothing to do"
    )]
    AlreadyLive {
        /// The snapshot.
        name: String,
        /// Its channel.
        channel: String,
    },
    /// The manifest blob of a held snapshot is missing, damaged or does not parse.
    #[error("snapshot {name}: manifest blob {digest}: {reason}")]
    Manifest {
        /// The snapshot.
        name: String,
        /// The manifest blob.
        digest: Digest,
        /// What is wrong.
        reason: String,
    },
    /// Blobs a snapshot references are missing or have the wrong size.
    #[error(
        "snapshot {name} cannot be made live: {} of its {total} blobs are missing or have the wrong size in {}: {}; re-import it from its drive (nothing changed)",
        problems.len(), blobs_dir.display(), list(problems)
    )]
    BlobsMissing {
        /// The snapshot.
        name: String,
        /// The store's blob directory.
        blobs_dir: PathBuf,
        /// Distinct blobs it references (artifacts, manifest, signature).
        total: u64,
        /// One entry per bad blob: digest, what is wrong, the artifact using it.
        problems: Vec<String>,
    },
    /// Garbage collection cannot tell which blobs a kept snapshot uses.
    #[error(
        "snapshot {name} is kept but {reason}; cannot tell which blobs it uses, so nothing was collected (run mirror-server verify, re-import it, or remove it)"
    )]
    GcUnsafe {
        /// The kept snapshot.
        name: String,
        /// What is wrong with its manifest.
        reason: String,
    },
    /// `gc --keep 0`.
    #[error("--keep must be at least 1 (the newest snapshot of every channel is always kept)")]
    BadKeep,
}

/// `a, b, c` or, past 8 items, `a, …, h (and N more)`; `none` when empty.
fn list(items: &[String]) -> String {
    const MAX: usize = 8;
    if items.is_empty() {
        return "none".into();
    }
    let shown: Vec<&str> = items.iter().take(MAX).map(String::as_str).collect();
    let mut s = shown.join(", ");
    if items.len() > MAX {
        s.push_str(&format!(" (and {} more)", items.len() - MAX));
    }
    s
}

/// Takes the exclusive store lock (see [`Store::lock`]).
///
/// Errors: [`StoreIoError`] naming the lock file.
pub fn lock_store(store: &Path) -> Result<StoreLock, StoreIoError> {
    Store::at(store).lock()
}

/// Bumps `STORE/current.gen` and returns the new value (see [`Store::bump_generation`]).
///
/// Errors: [`StoreIoError`] naming the file.
pub fn bump_generation(store: &Path) -> Result<u64, StoreIoError> {
    Store::at(store).bump_generation()
}

/// Stale import staging and blob temp files (see [`Store::stale_staging`]).
pub fn stale_staging(store: &Path) -> io::Result<Vec<PathBuf>> {
    Store::at(store).stale_staging()
}

/// Resumable import staging (see [`Store::resumable_staging`]).
pub fn resumable_staging(store: &Path) -> io::Result<Vec<PathBuf>> {
    Store::at(store).resumable_staging()
}

/// Removes resumable import staging (see [`Store::sweep_resumable_staging`]).
pub fn sweep_resumable_staging(store: &Path) -> io::Result<u64> {
    Store::at(store).sweep_resumable_staging()
}

/// Removes stale staging (see [`Store::sweep_stale_staging`]).
pub fn sweep_stale_staging(store: &Path) -> io::Result<u64> {
    Store::at(store).sweep_stale_staging()
}

/// Checks a `CHANNEL/SEQUENCE` name.
pub(crate) fn check_name(name: &str) -> Result<(String, u64), LifecycleError> {
    SnapshotName::parse(name)
        .map(|n| (n.channel, n.sequence))
        .ok_or_else(|| LifecycleError::BadName {
            name: name.to_owned(),
        })
}

/// Reads the index of `store` (read-only, one transaction). `NoStore` when absent.
pub(crate) fn read_state(store: &Path) -> Result<IndexState, LifecycleError> {
    let Some(index) = Store::at(store).index_read_only()? else {
        return Err(LifecycleError::NoStore {
            store: store.to_path_buf(),
        });
    };
    Ok(index.state()?)
}

fn not_held(store: &Path, state: &IndexState, name: &str) -> LifecycleError {
    LifecycleError::NotHeld {
        store: store.to_path_buf(),
        name: name.to_owned(),
        held: state.snapshots.iter().map(|r| r.name.clone()).collect(),
    }
}

/// Reads and parses the manifest blob of `rec` (the bytes are re-hashed on read) and
/// returns it with its size in bytes.
///
/// Errors: [`LifecycleError::Manifest`] when the blob is missing, damaged or does not
/// parse, or is the manifest of another snapshot.
pub fn read_manifest(cas: &Cas, rec: &SnapshotRecord) -> Result<(Manifest, u64), LifecycleError> {
    let bad = |reason: String| LifecycleError::Manifest {
        name: rec.name.clone(),
        digest: rec.manifest,
        reason,
    };
    let bytes = cas
        .read_bytes(&rec.manifest, MAX_MANIFEST_BYTES)
        .map_err(|e| bad(e.to_string()))?;
    let m = Manifest::from_slice(&bytes).map_err(|e| bad(format!("does not parse: {e}")))?;
    if m.name() != rec.name {
        return Err(bad(format!(
            "is the manifest of {}, not of {}",
            m.name(),
            rec.name
        )));
    }
    Ok((m, bytes.len() as u64))
}

/// Every blob a snapshot references, with its size in bytes and a user for messages (an
/// artifact path, `(snapshot manifest)` or `(snapshot signature)`): the artifacts' blobs,
/// the manifest blob (`manifest_size` bytes) and the signature blob (64 bytes).
pub fn snapshot_blobs(
    rec: &SnapshotRecord,
    manifest: &Manifest,
    manifest_size: u64,
) -> std::collections::BTreeMap<Digest, (u64, String)> {
    let mut out = std::collections::BTreeMap::new();
    for a in &manifest.artifacts {
        out.entry(a.digest).or_insert((a.size, a.path.clone()));
    }
    out.insert(rec.signature, (64, "(snapshot signature)".to_owned()));
    out.entry(rec.manifest)
        .or_insert((manifest_size, "(snapshot manifest)".to_owned()));
    out
}

/// Checks that every blob `rec` references is in the store as a regular file of the
/// right size (the manifest blob is re-hashed while reading it). Returns the number of
/// distinct blobs checked.
///
/// Errors: [`LifecycleError::Manifest`], [`LifecycleError::BlobsMissing`] listing each
/// bad blob and an artifact that uses it.
pub fn check_snapshot_blobs(store: &Path, rec: &SnapshotRecord) -> Result<u64, LifecycleError> {
    let cas = Cas::at(store);
    let (manifest, manifest_size) = read_manifest(&cas, rec)?;
    let blobs = snapshot_blobs(rec, &manifest, manifest_size);
    let mut problems = Vec::new();
    for (d, (size, user)) in &blobs {
        if *d == rec.manifest {
            continue; // read and verified above
        }
        let path = cas.blob_path(d);
        match cas.contains(d).map_err(io_at(&path))? {
            None => problems.push(format!("{d} ({user}) is missing")),
            Some(s) if s != *size => {
                problems.push(format!("{d} ({user}) is {s} bytes, expected {size}"))
            }
            Some(_) => {}
        }
    }
    if !problems.is_empty() {
        return Err(LifecycleError::BlobsMissing {
            name: rec.name.clone(),
            blobs_dir: cas.blobs_dir(),
            total: blobs.len() as u64,
            problems,
        });
    }
    Ok(blobs.len() as u64)
}

/// What `rollback` is asked to do.
#[derive(Debug, Clone)]
pub struct RollbackOptions {
    /// The store directory.
    pub store: PathBuf,
    /// The snapshot to make live (`CHANNEL/SEQUENCE`); `None`: the next lower sequence
    /// held on the channel.
    pub to: Option<String>,
    /// The channel; `None`: the channel of `to`, else of the current snapshot.
    pub channel: Option<String>,
}

/// What a rollback did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RollbackSummary {
    /// The channel.
    pub channel: String,
    /// The snapshot that was live on the channel before.
    pub from: Option<String>,
    /// The snapshot now live on the channel and served at the root.
    pub to: String,
    /// The snapshot served at the root before.
    pub previous_current: Option<String>,
    /// Distinct blobs checked present with the right size.
    pub blobs_checked: u64,
    /// The new value of `STORE/current.gen`.
    pub generation: u64,
}

/// Makes an older (or any held) snapshot live on its channel and current, under the store
/// lock: checks that every blob it references is present with the right size, switches
/// live and current in one redb transaction, bumps `current.gen` (running servers switch
/// within a second) and appends a `rollback` record (`channel`, `from`, `to`,
/// `previous_current`, `generation`) to the audit log.
///
/// Errors: [`LifecycleError`]; on any refusal the store is unchanged.
pub fn rollback(opts: &RollbackOptions) -> Result<RollbackSummary, LifecycleError> {
    let store = &opts.store;
    let to = opts.to.as_deref().map(check_name).transpose()?;
    if let Some(c) = &opts.channel {
        formats::snapshot::validate_channel(c).map_err(LifecycleError::BadChannel)?;
    }
    // Validate before locking, so a typo does not create the lock file.
    read_state(store)?;
    let _lock = Store::at(store).lock()?;
    let state = read_state(store)?;
    let channel = match (&opts.channel, &to) {
        (Some(c), Some((tc, _))) if c != tc => {
            return Err(LifecycleError::WrongChannel {
                name: opts.to.clone().unwrap_or_default(),
                channel: c.clone(),
            });
        }
        (Some(c), _) => c.clone(),
        (None, Some((tc, _))) => tc.clone(),
        (None, None) => {
            let current = state
                .current
                .as_deref()
                .ok_or_else(|| LifecycleError::NoCurrent {
                    store: store.clone(),
                })?;
            match state.get(current) {
                Some(r) => r.channel.clone(),
                None => check_name(current)?.0,
            }
        }
    };
    let from = state.live.get(&channel).cloned();
    let on_channel: Vec<&SnapshotRecord> = state
        .snapshots
        .iter()
        .filter(|r| r.channel == channel)
        .collect();
    let target: &SnapshotRecord = match &opts.to {
        Some(name) => state
            .get(name)
            .ok_or_else(|| not_held(store, &state, name))?,
        None => {
            let live = from.clone().ok_or_else(|| LifecycleError::NoLive {
                store: store.clone(),
                channel: channel.clone(),
            })?;
            let live_seq = state
                .get(&live)
                .map(|r| r.sequence)
                .or_else(|| SnapshotName::parse(&live).map(|n| n.sequence))
                .unwrap_or(0);
            on_channel
                .iter()
                .filter(|r| r.sequence < live_seq)
                .max_by_key(|r| r.sequence)
                .copied()
                .ok_or_else(|| LifecycleError::NoPrevious {
                    channel: channel.clone(),
                    live,
                    held: on_channel.iter().map(|r| r.name.clone()).collect(),
                })?
        }
    };
    if from.as_deref() == Some(target.name.as_str())
        && state.current.as_deref() == Some(target.name.as_str())
    {
        return Err(LifecycleError::AlreadyLive {
            name: target.name.clone(),
            channel,
        });
    }
    let blobs_checked = check_snapshot_blobs(store, target)?;
    let to = target.name.clone();
    let (prev_live, previous_current) = {
        let index = Store::at(store).index()?;
        index.set_live(&channel, &to)?
    };
    let generation = Store::at(store).bump_generation()?;
    let mut fields = serde_json::Map::new();
    fields.insert("snapshot".into(), to.clone().into());
    fields.insert("channel".into(), channel.clone().into());
    fields.insert("from".into(), prev_live.clone().into());
    fields.insert("to".into(), to.clone().into());
    fields.insert("previous_current".into(), previous_current.clone().into());
    fields.insert("generation".into(), generation.into());
    audit::append(store, "rollback", fields)?;
    Ok(RollbackSummary {
        channel,
        from: prev_live,
        to,
        previous_current,
        blobs_checked,
        generation,
    })
}

/// What `pin` or `unpin` did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PinSummary {
    /// The snapshot.
    pub snapshot: String,
    /// Whether it is pinned now.
    pub pinned: bool,
    /// False when it already was in that state (nothing written, nothing audited).
    pub changed: bool,
    /// The pin's reason (pin only).
    pub reason: Option<String>,
}

/// Pins a held snapshot so garbage collection keeps it, under the store lock, and appends
/// a `pin` record (`snapshot`, `reason`). Pinning again with the same reason changes
/// nothing; with another reason it replaces the reason (and is audited).
///
/// Errors: [`LifecycleError::BadName`], [`LifecycleError::NotHeld`], index, audit.
pub fn pin(store: &Path, name: &str, reason: Option<&str>) -> Result<PinSummary, LifecycleError> {
    check_name(name)?;
    read_state(store)?;
    let _lock = Store::at(store).lock()?;
    let state = read_state(store)?;
    if state.get(name).is_none() {
        return Err(not_held(store, &state, name));
    }
    let summary = PinSummary {
        snapshot: name.to_owned(),
        pinned: true,
        changed: true,
        reason: reason.map(str::to_owned),
    };
    if state
        .pins
        .get(name)
        .is_some_and(|p| p.reason.as_deref() == reason)
    {
        return Ok(PinSummary {
            changed: false,
            ..summary
        });
    }
    let record = PinRecord {
        reason: reason.map(str::to_owned),
        pinned_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    Store::at(store).index()?.pin(name, &record)?;
    let mut fields = serde_json::Map::new();
    fields.insert("snapshot".into(), name.into());
    fields.insert("reason".into(), reason.into());
    audit::append(store, "pin", fields)?;
    Ok(summary)
}

/// Removes the pin of a snapshot, under the store lock, and appends an `unpin` record.
/// A held snapshot that is not pinned is left as it is (`changed: false`).
///
/// Errors: [`LifecycleError::BadName`], [`LifecycleError::NotHeld`] (neither held nor
/// pinned), index, audit.
pub fn unpin(store: &Path, name: &str) -> Result<PinSummary, LifecycleError> {
    check_name(name)?;
    read_state(store)?;
    let _lock = Store::at(store).lock()?;
    let state = read_state(store)?;
    let summary = PinSummary {
        snapshot: name.to_owned(),
        pinned: false,
        changed: true,
        reason: None,
    };
    if !state.pins.contains_key(name) {
        if state.get(name).is_none() {
            return Err(not_held(store, &state, name));
        }
        return Ok(PinSummary {
            changed: false,
            ..summary
        });
    }
    Store::at(store).index()?.unpin(name)?;
    let mut fields = serde_json::Map::new();
    fields.insert("snapshot".into(), name.into());
    audit::append(store, "unpin", fields)?;
    Ok(summary)
}

/// One held snapshot as listed by `mirror-server snapshots` and `GET /snapshots/`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SnapshotRow {
    /// The index record (name, channel, sequence, created, signer, size in bytes,
    /// artifacts, …), flattened.
    #[serde(flatten)]
    pub record: SnapshotRecord,
    /// Live on its channel.
    pub live: bool,
    /// Served at the root paths.
    pub current: bool,
    /// Pinned (kept by garbage collection).
    pub pinned: bool,
    /// Why it is pinned, when it is.
    pub pin: Option<PinRecord>,
}

/// Every held snapshot, sorted by channel then sequence, with its live, current and
/// pinned state (one consistent read of the index).
///
/// Errors: [`LifecycleError::NoStore`] when nothing was imported, index errors.
pub fn held_snapshots(store: &Path) -> Result<Vec<SnapshotRow>, LifecycleError> {
    let state = read_state(store)?;
    Ok(state
        .snapshots
        .iter()
        .map(|r| SnapshotRow {
            live: state.is_live(&r.name),
            current: state.current.as_deref() == Some(r.name.as_str()),
            pinned: state.pins.contains_key(&r.name),
            pin: state.pins.get(&r.name).cloned(),
            record: r.clone(),
        })
        .collect())
}
