//! The state of `mirror-sync` between commands, kept in `<store>/state.redb` beside the
//! content-addressed blobs (`<store>/blobs/sha256/`).
//!
//! - `upstreams`: upstream name → JSON [`UpstreamState`], the verified result of its last
//!   successful sync (what `export` cuts a snapshot from).
//! - `channels`: channel → last exported sequence number.
//! - `snapshots`: snapshot name (`channel/sequence`) → JSON [`ExportRecord`].
//! - `pending_exports`: channel → JSON [`PendingExport`], a cut not yet fully written.
//! - `part_digests`: `<blob hex>/<part size>` → JSON list of part digests (FAT32 splits).
//! - `documents`: `<Accept>␊<redacted URL>` → JSON [`crate::fetch::KnownDocument`]: the
//!   validators (`ETag`, `Last-Modified`) and stored digest of an upstream `InRelease`,
//!   `Release`, `Release.gpg` or PyPI project page, for conditional requests.
//! - `selections`: ecosystem (`apt`, `pypi`) → JSON record of the last full selection
//!   (its selection key and figures), so a re-sync with nothing changed keeps the
//!   previous states instead of resolving again ([`crate::apt::sync`],
//!   [`crate::pypi::sync`]).

use std::path::Path;

use anyhow::Context;
use formats::digest::Digest;
use formats::snapshot::{Artifact, Source};
use redb::{
    Database, Key, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, TableError,
    Value,
};
use serde::{Deserialize, Serialize};

const UPSTREAMS: TableDefinition<&str, &[u8]> = TableDefinition::new("upstreams");
const CHANNELS: TableDefinition<&str, u64> = TableDefinition::new("channels");
const SNAPSHOTS: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshots");
/// Cuts whose writing has not finished, by channel (at most one per channel).
const PENDING: TableDefinition<&str, &[u8]> = TableDefinition::new("pending_exports");
/// Part digests of split blobs, keyed `<blob hex>/<part size>`.
const PARTS: TableDefinition<&str, &[u8]> = TableDefinition::new("part_digests");
/// Validators and digests of stored upstream documents, keyed `<Accept>\n<redacted URL>`.
const DOCUMENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("documents");
/// The last full selection of each ecosystem (`apt`, `pypi`).
const SELECTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("selections");

/// Verified result of one upstream's last successful sync.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpstreamState {
    /// Upstream name from the config.
    pub name: String,
    /// When the sync finished, RFC 3339 UTC.
    pub synced_at: String,
    /// What goes into the manifest's `sources`.
    pub source: Source,
    /// Package files (deb, wheel, sdist, core metadata) and upstream provenance, with
    /// their logical paths.
    pub artifacts: Vec<Artifact>,
    /// APT: the selected upstream stanzas per index, to render the served `Packages`.
    #[serde(default)]
    pub apt_indexes: Vec<AptIndexState>,
    /// APT: the upstream `Release` fields worth carrying over, per suite.
    #[serde(default)]
    pub apt_suites: Vec<AptSuiteInfo>,
}

/// The selected entries of one upstream `Packages` index.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AptIndexState {
    /// Suite (`None` for a flat repository).
    pub suite: Option<String>,
    /// Component (`None` for a flat repository).
    pub component: Option<String>,
    /// Architecture of the index (`binary-<arch>`); `None` for a flat repository.
    pub architecture: Option<String>,
    /// Stanzas exactly as upstream wrote them (deb822 text, no trailing blank line).
    pub stanzas: Vec<String>,
}

/// Fields of an upstream `Release` carried into the served one, so apt pinning by origin
/// or codename keeps working and a backports suite keeps its default priority.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AptSuiteInfo {
    /// Suite directory under `dists/` (`None` for a flat repository).
    pub dist: Option<String>,
    /// `Origin`.
    pub origin: Option<String>,
    /// `Label`.
    pub label: Option<String>,
    /// `Suite`.
    pub suite: Option<String>,
    /// `Codename`.
    pub codename: Option<String>,
    /// `Version`.
    pub version: Option<String>,
    /// `Description`.
    pub description: Option<String>,
    /// `NotAutomatic: yes` (apt pin priority 1, or 100 with `ButAutomaticUpgrades`).
    #[serde(default)]
    pub not_automatic: bool,
    /// `ButAutomaticUpgrades: yes`.
    #[serde(default)]
    pub but_automatic_upgrades: bool,
}

/// What `export` recorded about a snapshot it cut.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportRecord {
    /// `channel/sequence`.
    pub name: String,
    /// Digest of the exact manifest bytes (also kept as a blob in the store).
    pub manifest: Digest,
    /// Creation time, RFC 3339 UTC.
    pub created: String,
    /// Number of artifacts.
    pub artifacts: u64,
    /// Sum of unique blob sizes, bytes.
    pub bytes: u64,
}

/// Handle on `<store>/state.redb`.
/// A cut whose manifest is signed and stored but whose drive(s) are not all written yet.
/// A later `export` with unchanged upstream state resumes it, so the drive ends up exactly
/// as an uninterrupted export would have left it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PendingExport {
    /// `channel/sequence`.
    pub name: String,
    /// Sequence number.
    pub sequence: u64,
    /// Digest of the manifest bytes (kept in the store's CAS).
    pub manifest: Digest,
    /// Creation time of the manifest.
    pub created: String,
    /// Digest over the upstream states the cut was made from.
    pub inputs: Digest,
    /// Volumes written completely so far (1-based).
    #[serde(default)]
    pub volumes_done: Vec<u32>,
}

/// The state database (one `mirror-sync` at a time: see [`State::open`]).
///
/// It is opened read-only (`redb::ReadOnlyDatabase`) and reopened writable on the first
/// write: redb writes its header and syncs the file (about five `fdatasync`s) when a
/// writable database is opened and closed, even if no transaction commits, so a command
/// that writes nothing (a re-sync with nothing changed) leaves the file untouched.
pub struct State {
    db: std::sync::Mutex<Db>,
    path: std::path::PathBuf,
    /// Exclusive `flock` on `<store>/state.redb.lock`, held while this `State` lives.
    _lock: std::fs::File,
}

/// The open database, read-only until the first write.
enum Db {
    Read(redb::ReadOnlyDatabase),
    Write(Database),
    /// Between the two (only while reopening).
    Closed,
}

/// Makes sure the store directory (the configuration's `store`) exists as a directory,
/// creating it (and its parents) if missing.
///
/// Errors: the path (or one of its parents) is a file or another non-directory ("the
/// store path … is a file, not a directory"), or it cannot be created (with the OS reason).
pub fn ensure_store_dir(store_dir: &Path) -> anyhow::Result<()> {
    let shown = || formats::display::escape(&store_dir.to_string_lossy()).into_owned();
    match std::fs::metadata(store_dir) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(m) => anyhow::bail!(
            "the store path {} is a {}, not a directory: set `store` in the configuration to a directory (it is created if missing)",
            shown(),
            if m.is_file() { "file" } else { "special file" }
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        // A parent that is a file: ENOTDIR.
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => anyhow::bail!(
            "the store path {}: a parent of it is a file, not a directory: set `store` in the configuration to a directory",
            shown()
        ),
        Err(e) => {
            return Err(
                anyhow::Error::new(e).context(format!("cannot read the store path {}", shown()))
            );
        }
    }
    if let Err(e) = std::fs::create_dir_all(store_dir) {
        // create_dir_all reports a file in the way as "File exists" (EEXIST) or ENOTDIR.
        if matches!(
            e.kind(),
            std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::NotADirectory
        ) {
            anyhow::bail!(
                "cannot create the store directory {}: a part of that path is a file, not a directory; set `store` in the configuration to a directory",
                shown()
            );
        }
        return Err(
            anyhow::Error::new(e).context(format!("cannot create the store directory {}", shown()))
        );
    }
    Ok(())
}

/// The message for a `state.redb` that would not open, saying which of the causes it is.
fn open_error(path: &Path, e: redb::DatabaseError) -> anyhow::Error {
    use std::os::unix::fs::MetadataExt as _;
    let shown = formats::display::escape(&path.to_string_lossy()).into_owned();
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen => anyhow::anyhow!(
            "cannot open {shown}: another mirror-sync is using this store (it holds the database lock); wait for it to finish"
        ),
        redb::DatabaseError::Storage(redb::StorageError::Io(io))
            if io.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            let owner = match std::fs::metadata(path) {
                Ok(m) => format!(
                    "owned by {}, mode {:04o}",
                    describe_uid(m.uid()),
                    m.mode() & 0o7777
                ),
                Err(_) => "it cannot be inspected either".to_owned(),
            };
            let me = describe_uid(current_uid());
            anyhow::anyhow!(
                "cannot open {shown}: permission denied ({owner}; this mirror-sync runs as {me}): run mirror-sync as the store's owner, or give it the store (chown -R)"
            )
        }
        other => anyhow::Error::new(other).context(format!("cannot open {shown}")),
    }
}

/// The effective uid of this process (the owner of what it creates), from
/// `/proc/self/status` (proc(5)); `u32::MAX` when unknown.
fn current_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|r| r.split_whitespace().nth(1))
                .and_then(|u| u.parse().ok())
        })
        .unwrap_or(u32::MAX)
}

/// `uid 1000 (ops)`, with the name from `/etc/passwd` when there is one.
fn describe_uid(uid: u32) -> String {
    let name = std::fs::read_to_string("/etc/passwd").ok().and_then(|p| {
        p.lines().find_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let id = f.nth(1)?;
            (id.parse::<u32>().ok()? == uid).then(|| name.to_owned())
        })
    });
    match name {
        Some(n) => format!("uid {uid} ({})", formats::display::escape(&n)),
        None => format!("uid {uid}"),
    }
}

impl State {
    /// Opens (creating if needed) the state database in `store_dir`, holding an exclusive
    /// `flock` on `<store>/state.redb.lock` for as long as the `State` lives. An existing
    /// database with every table is opened read-only and reopened writable on the first
    /// write (see [`State`]); otherwise it is opened writable and the missing tables are
    /// created by one write transaction (a new store).
    ///
    /// Errors, each naming the path and the fix: `store_dir` exists but is not a directory
    /// ([`ensure_store_dir`]); it cannot be created; `state.redb` cannot be opened because
    /// of its permissions (the message gives the file's owner and mode and this process's
    /// uid), because another `mirror-sync` holds it (redb's lock), or because it is not a
    /// redb database of this layout.
    pub fn open(store_dir: &Path) -> anyhow::Result<State> {
        ensure_store_dir(store_dir)?;
        let path = store_dir.join("state.redb");
        let lock = lock_exclusive(&store_dir.join("state.redb.lock"), &path)?;
        // Read-only when the file exists with every table (no write on open or close).
        if path.is_file()
            && let Ok(ro) = redb::ReadOnlyDatabase::open(&path)
        {
            let r = ro.begin_read()?;
            if all_tables(&r)? {
                drop(r);
                return Ok(State {
                    db: std::sync::Mutex::new(Db::Read(ro)),
                    path,
                    _lock: lock,
                });
            }
        }
        // redb's own lock on the file has the same fork window as ours (LOCK_GRACE).
        let mut waited = std::time::Duration::ZERO;
        let db = loop {
            match Database::create(&path) {
                Err(redb::DatabaseError::DatabaseAlreadyOpen) if waited < LOCK_GRACE => {
                    std::thread::sleep(LOCK_POLL);
                    waited += LOCK_POLL;
                }
                other => break other.map_err(|e| open_error(&path, e))?,
            }
        };
        let complete = all_tables(&db.begin_read()?)?;
        if !complete {
            let w = db.begin_write()?;
            {
                w.open_table(UPSTREAMS)?;
                w.open_table(CHANNELS)?;
                w.open_table(SNAPSHOTS)?;
                w.open_table(PENDING)?;
                w.open_table(PARTS)?;
                w.open_table(DOCUMENTS)?;
                w.open_table(SELECTIONS)?;
            }
            w.commit()?;
        }
        Ok(State {
            db: std::sync::Mutex::new(Db::Write(db)),
            path,
            _lock: lock,
        })
    }

    /// A read transaction on the database, however it is open.
    fn read(&self) -> anyhow::Result<ReadTransaction> {
        let g = self
            .db
            .lock()
            .map_err(|_| anyhow::anyhow!("state database lock poisoned"))?;
        Ok(match &*g {
            Db::Read(d) => d.begin_read()?,
            Db::Write(d) => d.begin_read()?,
            Db::Closed => anyhow::bail!("the state database is closed"),
        })
    }

    /// A write transaction, reopening the database writable first when it is read-only.
    /// Errors: the reopen fails (as [`State::open`] names it) or redb refuses.
    fn write(&self) -> anyhow::Result<redb::WriteTransaction> {
        let mut g = self
            .db
            .lock()
            .map_err(|_| anyhow::anyhow!("state database lock poisoned"))?;
        if !matches!(&*g, Db::Write(_)) {
            // redb refuses a second open of a file in one process: close the reader first.
            drop(std::mem::replace(&mut *g, Db::Closed));
            let db = Database::create(&self.path).map_err(|e| open_error(&self.path, e))?;
            *g = Db::Write(db);
        }
        match &*g {
            Db::Write(d) => Ok(d.begin_write()?),
            _ => anyhow::bail!("the state database is closed"),
        }
    }

    /// The last successful sync of `name`, if any.
    pub fn upstream(&self, name: &str) -> anyhow::Result<Option<UpstreamState>> {
        let r = self.read()?;
        let t = r.open_table(UPSTREAMS)?;
        match t.get(name)? {
            Some(v) => Ok(Some(
                serde_json::from_slice(v.value())
                    .with_context(|| format!("corrupt state for upstream {name}"))?,
            )),
            None => Ok(None),
        }
    }

    /// The last successful sync of `name` in the store at `store_dir`, read without
    /// writing to the state file (`redb::ReadOnlyDatabase`, for `mirror-sync plan`).
    /// `Ok(None)` when the store has no state file, no upstream table or no such
    /// upstream.
    ///
    /// Errors: the file cannot be opened read-only (another `mirror-sync` is writing it,
    /// or it needs the repair a writing open does) or the record is corrupt.
    pub fn upstream_read_only(
        store_dir: &Path,
        name: &str,
    ) -> anyhow::Result<Option<UpstreamState>> {
        let path = store_dir.join("state.redb");
        if !path.is_file() {
            return Ok(None);
        }
        let db = redb::ReadOnlyDatabase::open(&path)
            .with_context(|| format!("cannot open {} read-only", path.display()))?;
        let r = db.begin_read()?;
        let t = match r.open_table(UPSTREAMS) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        match t.get(name)? {
            Some(v) => Ok(Some(
                serde_json::from_slice(v.value())
                    .with_context(|| format!("corrupt state for upstream {name}"))?,
            )),
            None => Ok(None),
        }
    }

    /// Records a successful sync (replaces the previous one in one transaction).
    pub fn put_upstream(&self, st: &UpstreamState) -> anyhow::Result<()> {
        let bytes = serde_json::to_vec(st)?;
        let w = self.write()?;
        w.open_table(UPSTREAMS)?
            .insert(st.name.as_str(), bytes.as_slice())?;
        w.commit()?;
        Ok(())
    }

    /// Records a sync of `st` only when it differs from the stored state in anything
    /// but `synced_at`: a re-sync that changed nothing writes nothing, so `synced_at` is
    /// the time of the last sync that changed the upstream's state (and an interrupted
    /// export, whose inputs include the states, still resumes). Returns whether it wrote.
    ///
    /// Errors: the database cannot be read or written.
    pub fn put_upstream_if_changed(&self, st: &UpstreamState) -> anyhow::Result<bool> {
        if let Ok(Some(mut old)) = self.upstream(&st.name) {
            old.synced_at.clone_from(&st.synced_at);
            if serde_json::to_vec(&old)? == serde_json::to_vec(st)? {
                return Ok(false);
            }
        }
        self.put_upstream(st)?;
        Ok(true)
    }

    /// Every stored document's validators and digest (the `documents` table), for
    /// conditional requests ([`crate::fetch::Fetcher::know_documents`]). Records that no
    /// longer parse are left out (their documents are fetched whole).
    ///
    /// Errors: the database cannot be read.
    pub fn documents(&self) -> anyhow::Result<Vec<(String, crate::fetch::KnownDocument)>> {
        let r = self.read()?;
        let t = r.open_table(DOCUMENTS)?;
        let mut out = Vec::new();
        for item in t.iter()? {
            let (k, v) = item?;
            if let Ok(doc) = serde_json::from_slice(v.value()) {
                out.push((k.value().to_owned(), doc));
            }
        }
        Ok(out)
    }

    /// Records documents' validators and digests (one transaction; nothing when `docs`
    /// is empty). Errors: the database cannot be written.
    pub fn put_documents(
        &self,
        docs: &[(String, crate::fetch::KnownDocument)],
    ) -> anyhow::Result<()> {
        if docs.is_empty() {
            return Ok(());
        }
        let w = self.write()?;
        {
            let mut t = w.open_table(DOCUMENTS)?;
            for (k, doc) in docs {
                t.insert(k.as_str(), serde_json::to_vec(doc)?.as_slice())?;
            }
        }
        w.commit()?;
        Ok(())
    }

    /// The last full selection recorded for `ecosystem` (`apt`, `pypi`); `None` when
    /// there is none or it does not parse as `T` (a record of another version: the
    /// selection is then made again).
    ///
    /// Errors: the database cannot be read.
    pub fn selection<T: serde::de::DeserializeOwned>(
        &self,
        ecosystem: &str,
    ) -> anyhow::Result<Option<T>> {
        let r = self.read()?;
        let t = r.open_table(SELECTIONS)?;
        Ok(t.get(ecosystem)?
            .and_then(|v| serde_json::from_slice(v.value()).ok()))
    }

    /// Records the full selection of `ecosystem` (replaces the previous one).
    /// Errors: the database cannot be written.
    pub fn put_selection<T: Serialize>(&self, ecosystem: &str, rec: &T) -> anyhow::Result<()> {
        let bytes = serde_json::to_vec(rec)?;
        let w = self.write()?;
        w.open_table(SELECTIONS)?
            .insert(ecosystem, bytes.as_slice())?;
        w.commit()?;
        Ok(())
    }

    /// Forgets the selection of `ecosystem`, before states are written that it does not
    /// describe. Writes nothing when there is none. Errors: the database fails.
    pub fn drop_selection(&self, ecosystem: &str) -> anyhow::Result<()> {
        let present = {
            let r = self.read()?;
            r.open_table(SELECTIONS)?.get(ecosystem)?.is_some()
        };
        if present {
            let w = self.write()?;
            w.open_table(SELECTIONS)?.remove(ecosystem)?;
            w.commit()?;
        }
        Ok(())
    }

    /// Last exported sequence on `channel` (0 when none).
    pub fn last_sequence(&self, channel: &str) -> anyhow::Result<u64> {
        let r = self.read()?;
        Ok(r.open_table(CHANNELS)?
            .get(channel)?
            .map(|g| g.value())
            .unwrap_or(0))
    }

    /// The cut on `channel` whose writing has not finished, if any.
    pub fn pending(&self, channel: &str) -> anyhow::Result<Option<PendingExport>> {
        let r = self.read()?;
        let t = r.open_table(PENDING)?;
        match t.get(channel)? {
            Some(v) => Ok(Some(serde_json::from_slice(v.value()).with_context(
                || format!("corrupt pending export for channel {channel}"),
            )?)),
            None => Ok(None),
        }
    }

    /// Records (or replaces) the unfinished cut of `channel`.
    pub fn put_pending(&self, channel: &str, p: &PendingExport) -> anyhow::Result<()> {
        let bytes = serde_json::to_vec(p)?;
        let w = self.write()?;
        w.open_table(PENDING)?.insert(channel, bytes.as_slice())?;
        w.commit()?;
        Ok(())
    }

    /// Forgets the unfinished cut of `channel` (a new cut replaces it).
    pub fn drop_pending(&self, channel: &str) -> anyhow::Result<()> {
        let w = self.write()?;
        w.open_table(PENDING)?.remove(channel)?;
        w.commit()?;
        Ok(())
    }

    /// Records a finished export, advances its channel (the sequence must grow) and forgets
    /// the pending cut of the channel, in one transaction.
    pub fn finish_export(
        &self,
        channel: &str,
        sequence: u64,
        rec: &ExportRecord,
    ) -> anyhow::Result<()> {
        let bytes = serde_json::to_vec(rec)?;
        let w = self.write()?;
        {
            let mut ch = w.open_table(CHANNELS)?;
            let last = ch.get(channel)?.map(|g| g.value()).unwrap_or(0);
            anyhow::ensure!(
                sequence > last,
                "channel {channel} is already at sequence {last}; refusing to record {sequence}"
            );
            ch.insert(channel, sequence)?;
            w.open_table(SNAPSHOTS)?
                .insert(rec.name.as_str(), bytes.as_slice())?;
            w.open_table(PENDING)?.remove(channel)?;
        }
        w.commit()?;
        Ok(())
    }

    /// The cached part digests of blob `blob` split into parts of `part_size` bytes.
    pub fn part_digests(
        &self,
        blob: &Digest,
        part_size: u64,
    ) -> anyhow::Result<Option<Vec<Digest>>> {
        let key = format!("{}/{part_size}", blob.hex());
        let r = self.read()?;
        let t = r.open_table(PARTS)?;
        match t.get(key.as_str())? {
            Some(v) => Ok(serde_json::from_slice(v.value()).ok()),
            None => Ok(None),
        }
    }

    /// Caches the part digests of `blob` split into parts of `part_size` bytes.
    pub fn put_part_digests(
        &self,
        blob: &Digest,
        part_size: u64,
        parts: &[Digest],
    ) -> anyhow::Result<()> {
        let key = format!("{}/{part_size}", blob.hex());
        let bytes = serde_json::to_vec(parts)?;
        let w = self.write()?;
        w.open_table(PARTS)?
            .insert(key.as_str(), bytes.as_slice())?;
        w.commit()?;
        Ok(())
    }

    /// Every exported snapshot, by name.
    pub fn exports(&self) -> anyhow::Result<Vec<ExportRecord>> {
        let r = self.read()?;
        let t = r.open_table(SNAPSHOTS)?;
        let mut out = Vec::new();
        for item in t.iter()? {
            let (_, v) = item?;
            out.push(serde_json::from_slice(v.value())?);
        }
        Ok(out)
    }
}

/// Whether every table of the state exists in `r`. Errors: a table of other types.
fn all_tables(r: &ReadTransaction) -> anyhow::Result<bool> {
    Ok(has_table(r, UPSTREAMS)?
        && has_table(r, CHANNELS)?
        && has_table(r, SNAPSHOTS)?
        && has_table(r, PENDING)?
        && has_table(r, PARTS)?
        && has_table(r, DOCUMENTS)?
        && has_table(r, SELECTIONS)?)
}

/// Takes an exclusive, non-blocking `flock` on `lock` (created if missing): one
/// `mirror-sync` per store. Errors: another process holds it (`cannot open <db>: another
/// mirror-sync is using this store …`), or the file cannot be created (permission denied
/// is worded as for `db`: its owner and mode, and the uid this runs as).
fn lock_exclusive(lock: &Path, db: &Path) -> anyhow::Result<std::fs::File> {
    let file = match std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(lock)
    {
        Ok(f) => f,
        // Said as for the database itself: its owner and mode, and who runs this.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err(open_error(
                db,
                redb::DatabaseError::Storage(redb::StorageError::Io(e)),
            ));
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("cannot create {}", lock.display())));
        }
    };
    let mut waited = std::time::Duration::ZERO;
    loop {
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(file),
            Err(rustix::io::Errno::WOULDBLOCK) if waited < LOCK_GRACE => {
                std::thread::sleep(LOCK_POLL);
                waited += LOCK_POLL;
            }
            Err(rustix::io::Errno::WOULDBLOCK) => {
                return Err(open_error(db, redb::DatabaseError::DatabaseAlreadyOpen));
            }
            Err(e) => {
                return Err(anyhow::Error::new(std::io::Error::from(e))
                    .context(format!("cannot lock {}", lock.display())));
            }
        }
    }
}

/// How long [`lock_exclusive`] keeps trying before it reports the store as in use. A
/// lock just released can still be held for a moment: a child that another thread of
/// this process forked holds a duplicate of the lock's open file description until it
/// execs (found by the e2e suite under load: an export right after a sync, in one
/// process, saw its own sync's lock). Another `mirror-sync` holds it far longer.
const LOCK_GRACE: std::time::Duration = std::time::Duration::from_secs(3);
/// The pause between two tries within [`LOCK_GRACE`].
const LOCK_POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// Whether table `t` exists in the snapshot `r` (with these key and value types).
/// Errors: it exists with other types, or the read fails.
fn has_table<K: Key + 'static, V: Value + 'static>(
    r: &ReadTransaction,
    t: TableDefinition<K, V>,
) -> anyhow::Result<bool> {
    match r.open_table(t) {
        Ok(_) => Ok(true),
        Err(TableError::TableDoesNotExist(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use formats::snapshot::SourceKind;

    #[test]
    fn a_second_open_names_the_other_mirror_sync() {
        let dir = tempfile::tempdir().unwrap();
        let _first = State::open(dir.path()).unwrap();
        let err = format!("{:#}", State::open(dir.path()).err().unwrap());
        assert!(
            err.contains("another mirror-sync is using this store"),
            "{err}"
        );
        assert!(err.contains("state.redb"), "{err}");
    }

    /// A lock let go within [`LOCK_GRACE`] (as when a forked child closes its inherited
    /// duplicate at exec) is taken, not reported as another mirror-sync.
    #[test]
    fn a_lock_let_go_within_the_grace_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let first = State::open(dir.path()).unwrap();
        let holder = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            drop(first);
        });
        let started = std::time::Instant::now();
        let second = State::open(dir.path());
        holder.join().unwrap();
        assert!(second.is_ok(), "{:#}", second.err().unwrap());
        assert!(started.elapsed() >= std::time::Duration::from_millis(250));
    }

    #[test]
    fn upstream_state_and_channels_persist() {
        let dir = tempfile::tempdir().unwrap();
        let st = State::open(dir.path()).unwrap();
        assert!(st.upstream("debian").unwrap().is_none());
        let up = UpstreamState {
            name: "debian".into(),
            synced_at: "2026-11-21T00:00:00Z".into(),
            source: Source::new("debian", SourceKind::Apt, "http://archive.example/debian"),
            artifacts: vec![],
            apt_indexes: vec![],
            apt_suites: vec![],
        };
        st.put_upstream(&up).unwrap();
        drop(st);
        let st = State::open(dir.path()).unwrap();
        assert_eq!(
            st.upstream("debian").unwrap().unwrap().synced_at,
            up.synced_at
        );
        assert_eq!(st.last_sequence("c").unwrap(), 0);
        let rec = ExportRecord {
            name: "c/1".into(),
            manifest: Digest::of(b"m"),
            created: "x".into(),
            artifacts: 1,
            bytes: 2,
        };
        st.finish_export("c", 1, &rec).unwrap();
        assert_eq!(st.last_sequence("c").unwrap(), 1);
        assert!(
            st.finish_export("c", 1, &rec).is_err(),
            "sequence must grow"
        );
        assert_eq!(st.exports().unwrap().len(), 1);
        // A pending cut is kept until its export finishes.
        let p = PendingExport {
            name: "c/2".into(),
            sequence: 2,
            manifest: Digest::of(b"m2"),
            created: "y".into(),
            inputs: Digest::of(b"inputs"),
            volumes_done: vec![1],
        };
        st.put_pending("c", &p).unwrap();
        assert_eq!(st.pending("c").unwrap(), Some(p.clone()));
        assert_eq!(st.pending("other").unwrap(), None);
        st.finish_export(
            "c",
            2,
            &ExportRecord {
                name: "c/2".into(),
                ..rec.clone()
            },
        )
        .unwrap();
        assert_eq!(st.pending("c").unwrap(), None);
        assert_eq!(st.last_sequence("c").unwrap(), 2);
        st.put_part_digests(&p.manifest, 10, &[Digest::of(b"a")])
            .unwrap();
        assert_eq!(
            st.part_digests(&p.manifest, 10).unwrap(),
            Some(vec![Digest::of(b"a")])
        );
        assert_eq!(st.part_digests(&p.manifest, 11).unwrap(), None);
    }
}
