//! Store lifecycle: the store lock, the generation counter, stale staging, rollback, pins
//! and the list of held snapshots. Garbage collection is in [`crate::gc`], the store check
//! in [`crate::verify`], the audit log in [`crate::audit`].
//!
//! Files in the store root used here:
//!
//! | file          | what                                                              |
//! |---------------|-------------------------------------------------------------------|
//! | `lock`        | empty; `flock`ed exclusively by every operation that changes the store ([`lock_store`]) |
//! | `current.gen` | decimal counter, replaced atomically after each change servers must see ([`bump_generation`]) |
//! | `tmp/import-<pid>-<nanos>/` | an import's staging store; stale when `<pid>` is not running ([`sweep_stale_staging`]) |
//!
//! Every operation here that changes the store takes the store lock first, validates with
//! the index opened read-only, changes the index in one redb transaction, bumps
//! `current.gen`, then appends to the audit log. A refused operation changes nothing (not
//! even the index file).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use formats::digest::Digest;
use formats::snapshot::{MAX_MANIFEST_BYTES, Manifest};
use serde::Serialize;
use store::cas::sync_dir;
use store::{Cas, Index, IndexState, PinRecord, SnapshotRecord};

use crate::audit::{self, AuditError};
use crate::live::{GENERATION_FILE, INDEX_FILE};
use formats::snapshot::SnapshotName;

/// File name of the store lock inside a store.
pub const LOCK_FILE: &str = "lock";
/// How long [`lock_store`] waits quietly before saying that it waits.
pub const LOCK_NOTICE_AFTER: Duration = Duration::from_secs(1);
/// Prefix of an import's staging directory in `STORE/tmp` (`import-<pid>-<nanos>`).
pub const STAGING_PREFIX: &str = "import-";
/// Prefix of a blob writer's temp file in `STORE/tmp` (`.blob-<pid>-<n>-<nanos>`).
pub const BLOB_TEMP_PREFIX: &str = ".blob-";

/// An I/O error at a path in the store.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct StoreIoError {
    /// The file or directory.
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

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

/// The exclusive lock on a store, released on drop (see [`lock_store`]).
#[derive(Debug)]
pub struct StoreLock {
    file: File,
    path: PathBuf,
    remove_on_drop: bool,
}

impl StoreLock {
    /// The lock file, `STORE/lock`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether dropping the lock also removes the lock file (while it is still held, so
    /// a waiter finds the path gone and starts over: see [`lock_store`]). A refused first
    /// import sets it, to leave the directory as it found it.
    pub fn remove_on_drop(&mut self, remove: bool) {
        self.remove_on_drop = remove;
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        if self.remove_on_drop {
            let _ = fs::remove_file(&self.path);
        }
        let _ = self.file.unlock();
    }
}

/// Takes the exclusive store lock: an `flock` (`std::fs::File::lock`) on `STORE/lock`,
/// created empty if absent, so that imports, rollbacks, pins and garbage collection never
/// run at once (also across processes). Blocks until the lock is free; after
/// [`LOCK_NOTICE_AFTER`] of waiting it prints one line to stderr
/// ("waiting for another mirror-server operation…"). The store directory must exist.
///
/// Once locked, the file is checked to still be the one at `STORE/lock` (same device and
/// inode): a refused first import removes the lock file it created while it still holds
/// it ([`StoreLock::remove_on_drop`]), and a waiter that then locks the removed file opens
/// the path again instead of running alongside a newcomer that created a new one.
///
/// Errors: [`StoreIoError`] naming the lock file.
pub fn lock_store(store: &Path) -> Result<StoreLock, StoreIoError> {
    use std::os::unix::fs::MetadataExt as _;
    let path = store.join(LOCK_FILE);
    let start = Instant::now();
    let mut noticed = false;
    loop {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_at(&path))?;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) => {}
                Err(fs::TryLockError::Error(e)) => return Err(io_at(&path)(e)),
            }
            if start.elapsed() >= LOCK_NOTICE_AFTER {
                if !noticed {
                    eprintln!(
                        "waiting for another mirror-server operation on {} to finish (lock {})…",
                        formats::display::escape(&store.to_string_lossy()),
                        formats::display::escape(&path.to_string_lossy())
                    );
                    noticed = true;
                }
                file.lock().map_err(io_at(&path))?;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let held = file.metadata().map_err(io_at(&path))?;
        match fs::metadata(&path) {
            Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => {
                return Ok(StoreLock {
                    file,
                    path,
                    remove_on_drop: false,
                });
            }
            // Removed (or replaced) while we waited: lock the file that is there now.
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_at(&path)(e)),
        }
    }
}

/// Atomically replaces `STORE/current.gen` with the next generation number (write a temp
/// file, fsync, rename, fsync the directory) and returns it. Running servers poll the
/// file and reload their routing tables (and drop cached ones) when it changes. A missing
/// or unreadable file counts as 0.
///
/// Errors: [`StoreIoError`] naming the file.
pub fn bump_generation(store: &Path) -> Result<u64, StoreIoError> {
    let path = store.join(GENERATION_FILE);
    let old = fs::read_to_string(&path)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let next = old.saturating_add(1);
    let tmp = store.join(format!(".{GENERATION_FILE}.tmp-{}", std::process::id()));
    {
        let mut f = File::create(&tmp).map_err(io_at(&tmp))?;
        writeln!(f, "{next}").map_err(io_at(&tmp))?;
        f.sync_all().map_err(io_at(&tmp))?;
    }
    fs::rename(&tmp, &path).map_err(io_at(&path))?;
    sync_dir(store).map_err(io_at(store))?;
    Ok(next)
}

/// The pid in a staging or temp name: `import-<pid>-…` or `.blob-<pid>-…`.
fn staging_pid(name: &str) -> Option<u32> {
    let rest = name
        .strip_prefix(STAGING_PREFIX)
        .or_else(|| name.strip_prefix(BLOB_TEMP_PREFIX))?;
    let (pid, _) = rest.split_once('-')?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Whether process `pid` is running (Linux: `/proc/<pid>` exists).
fn pid_running(pid: u32) -> bool {
    pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists()
}

/// Prefix of resumable import staging under `STORE/tmp`: `resume-<manifest hex>` holds
/// the blobs (and parts) an interrupted or multi-volume import has verified so far. Import
/// keeps it across runs; `gc` removes it.
pub const RESUME_PREFIX: &str = "resume-";

/// Stale entries of `STORE/tmp`: import staging directories `import-<pid>-*` and blob
/// temp files `.blob-<pid>-*` whose process is not running. Returns nothing when
/// `/proc` is not mounted (liveness cannot be told), or when `STORE/tmp` is absent.
pub fn stale_staging(store: &Path) -> io::Result<Vec<PathBuf>> {
    if !Path::new("/proc/self").exists() {
        return Ok(Vec::new());
    }
    Ok(tmp_entries(store)?
        .into_iter()
        .filter(|(name, _)| staging_pid(name).is_some_and(|pid| !pid_running(pid)))
        .map(|(_, path)| path)
        .collect())
}

/// The entries of `STORE/tmp` with UTF-8 names, as (name, path), sorted by name. Empty
/// when `STORE/tmp` is absent.
fn tmp_entries(store: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let tmp = store.join("tmp");
    let rd = match fs::read_dir(&tmp) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry?;
        if let Some(name) = entry.file_name().to_str() {
            out.push((name.to_owned(), entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Resumable import staging (`STORE/tmp/resume-*`, see [`RESUME_PREFIX`]): what
/// interrupted or waiting multi-volume imports verified so far. Empty when `STORE/tmp` is
/// absent.
pub fn resumable_staging(store: &Path) -> io::Result<Vec<PathBuf>> {
    Ok(tmp_entries(store)?
        .into_iter()
        .filter(|(name, _)| name.starts_with(RESUME_PREFIX))
        .map(|(_, path)| path)
        .collect())
}

/// Removes resumable import staging ([`resumable_staging`]); returns how many directories
/// were removed. Call it under the store lock.
pub fn sweep_resumable_staging(store: &Path) -> io::Result<u64> {
    let mut n = 0;
    for p in resumable_staging(store)? {
        match fs::remove_dir_all(&p) {
            Ok(()) => n += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", p.display()))),
        }
    }
    Ok(n)
}

/// Removes what [`stale_staging`] finds (directories recursively) and returns how many
/// entries were removed. A process id that was reused keeps its entry until the process
/// ends; that is harmless. Call it under the store lock ([`lock_store`]): an import that
/// holds the lock in another pid namespace is then never swept.
pub fn sweep_stale_staging(store: &Path) -> io::Result<u64> {
    let mut n = 0;
    for p in stale_staging(store)? {
        let removed = match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(&p),
            Ok(_) => fs::remove_file(&p),
            Err(e) => Err(e),
        };
        match removed {
            Ok(()) => n += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", p.display()))),
        }
    }
    if n > 0 {
        let tmp = store.join("tmp");
        sync_dir(&tmp).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", tmp.display())))?;
    }
    Ok(n)
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
    let index_path = store.join(INDEX_FILE);
    let Some(index) = Index::open_read_only(&index_path)? else {
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
    let _lock = lock_store(store)?;
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
        let index = Index::open(&store.join(INDEX_FILE))?;
        index.set_live(&channel, &to)?
    };
    let generation = bump_generation(store)?;
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
    let _lock = lock_store(store)?;
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
    Index::open(&store.join(INDEX_FILE))?.pin(name, &record)?;
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
    let _lock = lock_store(store)?;
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
    Index::open(&store.join(INDEX_FILE))?.unpin(name)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiter_never_keeps_a_removed_lock_file() {
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().to_path_buf();
        let mut first = lock_store(&store).unwrap();
        first.remove_on_drop(true);
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            tx.send(()).unwrap();
            let second = lock_store(&store).unwrap();
            // The file it holds is the one at STORE/lock: a third process would wait on it.
            let held = second.file.metadata().unwrap();
            let now = fs::metadata(second.path()).unwrap();
            (held.ino(), now.ino())
        });
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
        // Give the waiter time to open the old file and block on it (the assertion holds
        // either way; this makes the test exercise the re-check).
        std::thread::sleep(Duration::from_millis(200));
        drop(first);
        let (held, at_path) = waiter.join().unwrap();
        assert_eq!(
            held, at_path,
            "the waiter holds a lock file no longer at the path"
        );
    }

    #[test]
    fn staging_names() {
        assert_eq!(staging_pid("import-123-456"), Some(123));
        assert_eq!(staging_pid(".blob-77-1-2"), Some(77));
        for bad in [
            "import-",
            "import-x-1",
            "import-12",
            "other-1-2",
            ".blob--1",
        ] {
            assert_eq!(staging_pid(bad), None, "{bad}");
        }
    }

    #[test]
    fn sweep_keeps_running_and_foreign_entries() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path();
        let tmp = store.join("tmp");
        fs::create_dir_all(tmp.join("import-999999999-1/blobs/sha256")).unwrap();
        fs::write(tmp.join("import-999999999-1/blobs/sha256/x"), b"x").unwrap();
        fs::write(tmp.join(".blob-999999998-0-1"), b"partial").unwrap();
        let mine = tmp.join(format!("import-{}-5", std::process::id()));
        fs::create_dir_all(&mine).unwrap();
        fs::create_dir_all(tmp.join("unrelated")).unwrap();
        assert_eq!(stale_staging(store).unwrap().len(), 2);
        assert_eq!(sweep_stale_staging(store).unwrap(), 2);
        assert!(mine.is_dir() && tmp.join("unrelated").is_dir());
        assert!(!tmp.join("import-999999999-1").exists());
        assert_eq!(sweep_stale_staging(store).unwrap(), 0);
        // No tmp directory at all.
        assert_eq!(sweep_stale_staging(&store.join("none")).unwrap(), 0);
    }

    #[test]
    fn generation_counts_up() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(bump_generation(dir.path()).unwrap(), 1);
        assert_eq!(bump_generation(dir.path()).unwrap(), 2);
        assert_eq!(
            fs::read_to_string(dir.path().join(GENERATION_FILE)).unwrap(),
            "2\n"
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn lock_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let a = lock_store(dir.path()).unwrap();
        let path = a.path().to_path_buf();
        let other = File::open(&path).unwrap();
        assert!(matches!(
            other.try_lock(),
            Err(fs::TryLockError::WouldBlock)
        ));
        let (tx, rx) = std::sync::mpsc::channel();
        let store = dir.path().to_path_buf();
        let t = std::thread::spawn(move || {
            let _b = lock_store(&store).unwrap();
            tx.send(()).unwrap();
        });
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
        drop(a);
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        t.join().unwrap();
    }
}
