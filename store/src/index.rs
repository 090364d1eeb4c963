//! The embedded index of a mirror-server store, a redb database at `<store>/index.redb`.
//!
//! Tables:
//!
//! | table       | key                   | value                                  |
//! |-------------|-----------------------|----------------------------------------|
//! | `snapshots` | `"<channel>/<seq>"`   | JSON of a [`SnapshotRecord`]           |
//! | `live`      | channel               | name of the live snapshot on it        |
//! | `meta`      | `"current"`           | name of the snapshot served at the root|
//! | `pins`      | `"<channel>/<seq>"`   | JSON of a [`PinRecord`] (kept by GC)    |
//!
//! redb locks the database file for the process that opens it, so no process keeps an
//! [`Index`] open: open it, read or commit, drop it. Opening retries for up to
//! [`LOCK_WAIT`] while another process holds the file. Readers that must not modify the
//! store (the server, an import's checks before it commits) use [`Index::open_read_only`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use formats::digest::Digest;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};

/// How long opening waits for another process to release the database file.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

const SNAPSHOTS: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshots");
const LIVE: TableDefinition<&str, &str> = TableDefinition::new("live");
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
const PINS: TableDefinition<&str, &[u8]> = TableDefinition::new("pins");
const CURRENT_KEY: &str = "current";

/// One imported snapshot, as recorded in the index.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct SnapshotRecord {
    /// `"<channel>/<sequence>"`.
    pub name: String,
    /// The manifest's channel.
    pub channel: String,
    /// The manifest's sequence number on the channel.
    pub sequence: u64,
    /// The manifest's creation time (RFC 3339).
    pub created: String,
    /// Key id (`ed25519:<16 hex>`) of the trusted key whose signature verified.
    pub signer: String,
    /// File name, in the trusted-keys directory, of that key.
    pub signer_key_file: String,
    /// Blob holding the exact manifest bytes.
    pub manifest: Digest,
    /// Blob holding the 64-byte ed25519 signature.
    pub signature: Digest,
    /// Import time (RFC 3339, UTC).
    pub imported_at: String,
    /// Number of artifacts in the manifest.
    pub artifacts: u64,
    /// Sum of the artifacts' sizes, in bytes.
    pub bytes: u64,
}

/// Why a snapshot is pinned (the value of the `pins` table). A pinned snapshot is never
/// removed by garbage collection.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct PinRecord {
    /// Free-text reason given by the operator, if any.
    pub reason: Option<String>,
    /// When it was pinned (RFC 3339, UTC).
    pub pinned_at: String,
}

/// Everything the index holds, read in one transaction (see [`Index::state`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexState {
    /// All snapshot records, sorted by channel, then sequence.
    pub snapshots: Vec<SnapshotRecord>,
    /// Channel → name of its live snapshot.
    pub live: BTreeMap<String, String>,
    /// The snapshot served at the root paths.
    pub current: Option<String>,
    /// Pinned snapshot name → pin.
    pub pins: BTreeMap<String, PinRecord>,
}

impl IndexState {
    /// The record of `name`, if held.
    pub fn get(&self, name: &str) -> Option<&SnapshotRecord> {
        self.snapshots.iter().find(|r| r.name == name)
    }

    /// True when `name` is live on its channel.
    pub fn is_live(&self, name: &str) -> bool {
        self.live.values().any(|n| n == name)
    }
}

/// Errors of the index. Messages name the database file.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Another process kept the database open for longer than [`LOCK_WAIT`].
    #[error(
        "{}: the index is in use by another process (waited {}s); wait for the running import to finish and retry",
        path.display(), LOCK_WAIT.as_secs()
    )]
    Locked {
        /// The database file.
        path: PathBuf,
    },
    /// A redb error (I/O, corruption, transaction).
    #[error("{}: index database error: {source}", path.display())]
    Db {
        /// The database file.
        path: PathBuf,
        /// The underlying error.
        source: redb::Error,
    },
    /// A stored record does not decode.
    #[error("{}: corrupt snapshot record {name:?}: {reason}", path.display())]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// The record's key.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A write method on an index opened with [`Index::open_read_only`].
    #[error("{}: index was opened read-only", path.display())]
    ReadOnly {
        /// The database file.
        path: PathBuf,
    },
    /// The named snapshot has no record in the index.
    #[error("{}: snapshot {name} is not held (no record in the index)", path.display())]
    NotHeld {
        /// The database file.
        path: PathBuf,
        /// The snapshot name asked for.
        name: String,
    },
    /// The operation is not allowed on this snapshot (it is live, current or pinned, or
    /// belongs to another channel). Nothing was changed.
    #[error("{}: snapshot {name}: {reason}", path.display())]
    Refused {
        /// The database file.
        path: PathBuf,
        /// The snapshot.
        name: String,
        /// Why.
        reason: String,
    },
}

enum Db {
    Rw(redb::Database),
    Ro(redb::ReadOnlyDatabase),
}

/// An open index (see the module docs). Drop it as soon as the work is done.
pub struct Index {
    db: Db,
    path: PathBuf,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("path", &self.path)
            .field("read_only", &matches!(self.db, Db::Ro(_)))
            .finish()
    }
}

fn with_retry<T>(
    path: &Path,
    mut open: impl FnMut() -> Result<T, redb::DatabaseError>,
) -> Result<T, IndexError> {
    let start = Instant::now();
    loop {
        match open() {
            Ok(v) => return Ok(v),
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                if start.elapsed() >= LOCK_WAIT {
                    return Err(IndexError::Locked {
                        path: path.to_path_buf(),
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => {
                return Err(IndexError::Db {
                    path: path.to_path_buf(),
                    source: e.into(),
                });
            }
        }
    }
}

impl Index {
    /// Opens the index read-write, creating the file if it does not exist. Retries while
    /// another process holds it (up to [`LOCK_WAIT`], then [`IndexError::Locked`]).
    pub fn open(path: &Path) -> Result<Index, IndexError> {
        let db = with_retry(path, || redb::Database::create(path))?;
        Ok(Index {
            db: Db::Rw(db),
            path: path.to_path_buf(),
        })
    }

    /// Opens an existing index read-only, without writing to the file; `Ok(None)` when the
    /// file does not exist. Retries like [`Index::open`].
    pub fn open_read_only(path: &Path) -> Result<Option<Index>, IndexError> {
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(IndexError::Db {
                    path: path.to_path_buf(),
                    source: redb::Error::Io(e),
                });
            }
            Ok(_) => {}
        }
        let db = match with_retry(path, || redb::ReadOnlyDatabase::open(path)) {
            // A writer was killed while it had the database open (kill -9, power loss):
            // the last committed transaction is intact, but a read-only open may not run
            // the repair that rebuilds the allocator state. Open it for writing once, which
            // repairs it, then read as asked.
            Err(IndexError::Db {
                source: redb::Error::RepairAborted,
                ..
            }) => {
                drop(with_retry(path, || redb::Database::open(path))?);
                with_retry(path, || redb::ReadOnlyDatabase::open(path))?
            }
            other => other?,
        };
        Ok(Some(Index {
            db: Db::Ro(db),
            path: path.to_path_buf(),
        }))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: impl Into<redb::Error>) -> IndexError {
        IndexError::Db {
            path: self.path.clone(),
            source: e.into(),
        }
    }

    fn begin_read(&self) -> Result<redb::ReadTransaction, IndexError> {
        match &self.db {
            Db::Rw(db) => db.begin_read(),
            Db::Ro(db) => db.begin_read(),
        }
        .map_err(|e| self.err(e))
    }

    /// Opens a table in a read transaction; `None` if it was never created.
    fn read_table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        tx: &redb::ReadTransaction,
        def: TableDefinition<K, V>,
    ) -> Result<Option<redb::ReadOnlyTable<K, V>>, IndexError> {
        match tx.open_table(def) {
            Ok(t) => Ok(Some(t)),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    fn decode(&self, name: &str, bytes: &[u8]) -> Result<SnapshotRecord, IndexError> {
        serde_json::from_slice(bytes).map_err(|e| IndexError::Corrupt {
            path: self.path.clone(),
            name: name.to_owned(),
            reason: e.to_string(),
        })
    }

    /// All imported snapshots, sorted by channel, then sequence.
    pub fn snapshots(&self) -> Result<Vec<SnapshotRecord>, IndexError> {
        let tx = self.begin_read()?;
        let Some(table) = self.read_table(&tx, SNAPSHOTS)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for item in table.iter().map_err(|e| self.err(e))? {
            let (k, v) = item.map_err(|e| self.err(e))?;
            out.push(self.decode(k.value(), v.value())?);
        }
        out.sort_by(|a, b| (&a.channel, a.sequence).cmp(&(&b.channel, b.sequence)));
        Ok(out)
    }

    /// The snapshot named `name` (`"<channel>/<sequence>"`), if imported.
    pub fn snapshot(&self, name: &str) -> Result<Option<SnapshotRecord>, IndexError> {
        let tx = self.begin_read()?;
        let Some(table) = self.read_table(&tx, SNAPSHOTS)? else {
            return Ok(None);
        };
        match table.get(name).map_err(|e| self.err(e))? {
            Some(v) => Ok(Some(self.decode(name, v.value())?)),
            None => Ok(None),
        }
    }

    /// Name of the live snapshot on `channel`, if any.
    pub fn live(&self, channel: &str) -> Result<Option<String>, IndexError> {
        let tx = self.begin_read()?;
        let Some(table) = self.read_table(&tx, LIVE)? else {
            return Ok(None);
        };
        Ok(table
            .get(channel)
            .map_err(|e| self.err(e))?
            .map(|v| v.value().to_owned()))
    }

    /// Name of the snapshot served at the root paths, if any.
    pub fn current(&self) -> Result<Option<String>, IndexError> {
        let tx = self.begin_read()?;
        let Some(table) = self.read_table(&tx, META)? else {
            return Ok(None);
        };
        Ok(table
            .get(CURRENT_KEY)
            .map_err(|e| self.err(e))?
            .map(|v| v.value().to_owned()))
    }

    /// All pinned snapshots: name → pin.
    pub fn pins(&self) -> Result<BTreeMap<String, PinRecord>, IndexError> {
        let tx = self.begin_read()?;
        self.read_pins(&tx)
    }

    fn read_pins(
        &self,
        tx: &redb::ReadTransaction,
    ) -> Result<BTreeMap<String, PinRecord>, IndexError> {
        let mut out = BTreeMap::new();
        let Some(table) = self.read_table(tx, PINS)? else {
            return Ok(out);
        };
        for item in table.iter().map_err(|e| self.err(e))? {
            let (k, v) = item.map_err(|e| self.err(e))?;
            let pin: PinRecord =
                serde_json::from_slice(v.value()).map_err(|e| IndexError::Corrupt {
                    path: self.path.clone(),
                    name: format!("pin {}", k.value()),
                    reason: e.to_string(),
                })?;
            out.insert(k.value().to_owned(), pin);
        }
        Ok(out)
    }

    /// Snapshots, live snapshots per channel, the current snapshot and the pins, all read
    /// in one read transaction (a consistent view).
    pub fn state(&self) -> Result<IndexState, IndexError> {
        let tx = self.begin_read()?;
        let mut state = IndexState::default();
        if let Some(table) = self.read_table(&tx, SNAPSHOTS)? {
            for item in table.iter().map_err(|e| self.err(e))? {
                let (k, v) = item.map_err(|e| self.err(e))?;
                state.snapshots.push(self.decode(k.value(), v.value())?);
            }
        }
        state
            .snapshots
            .sort_by(|a, b| (&a.channel, a.sequence).cmp(&(&b.channel, b.sequence)));
        if let Some(table) = self.read_table(&tx, LIVE)? {
            for item in table.iter().map_err(|e| self.err(e))? {
                let (k, v) = item.map_err(|e| self.err(e))?;
                state
                    .live
                    .insert(k.value().to_owned(), v.value().to_owned());
            }
        }
        if let Some(table) = self.read_table(&tx, META)? {
            state.current = table
                .get(CURRENT_KEY)
                .map_err(|e| self.err(e))?
                .map(|v| v.value().to_owned());
        }
        state.pins = self.read_pins(&tx)?;
        Ok(state)
    }

    fn write_db(&self) -> Result<&redb::Database, IndexError> {
        match &self.db {
            Db::Rw(db) => Ok(db),
            Db::Ro(_) => Err(IndexError::ReadOnly {
                path: self.path.clone(),
            }),
        }
    }

    /// Runs `f` in one write transaction and commits it when `f` succeeds; on error the
    /// transaction is aborted and nothing changes.
    fn write<T>(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T, IndexError>,
    ) -> Result<T, IndexError> {
        let db = self.write_db()?;
        let tx = db.begin_write().map_err(|e| self.err(e))?;
        match f(&tx) {
            Ok(v) => {
                tx.commit().map_err(|e| self.err(e))?;
                Ok(v)
            }
            Err(e) => {
                let _ = tx.abort();
                Err(e)
            }
        }
    }

    fn not_held(&self, name: &str) -> IndexError {
        IndexError::NotHeld {
            path: self.path.clone(),
            name: name.to_owned(),
        }
    }

    fn refused(&self, name: &str, reason: impl Into<String>) -> IndexError {
        IndexError::Refused {
            path: self.path.clone(),
            name: name.to_owned(),
            reason: reason.into(),
        }
    }

    /// Pins the held snapshot `name` (garbage collection keeps it), replacing an existing
    /// pin's reason and time. Returns `true` when it was not pinned before.
    ///
    /// Errors: [`IndexError::NotHeld`] when `name` has no record.
    pub fn pin(&self, name: &str, pin: &PinRecord) -> Result<bool, IndexError> {
        let json = serde_json::to_vec(pin).map_err(|e| IndexError::Corrupt {
            path: self.path.clone(),
            name: format!("pin {name}"),
            reason: e.to_string(),
        })?;
        self.write(|tx| {
            let snaps = tx.open_table(SNAPSHOTS).map_err(|e| self.err(e))?;
            if snaps.get(name).map_err(|e| self.err(e))?.is_none() {
                return Err(self.not_held(name));
            }
            let mut pins = tx.open_table(PINS).map_err(|e| self.err(e))?;
            let old = pins
                .insert(name, json.as_slice())
                .map_err(|e| self.err(e))?;
            Ok(old.is_none())
        })
    }

    /// Removes the pin of `name`. Returns `true` when it was pinned.
    pub fn unpin(&self, name: &str) -> Result<bool, IndexError> {
        self.write(|tx| {
            let mut pins = tx.open_table(PINS).map_err(|e| self.err(e))?;
            let old = pins.remove(name).map_err(|e| self.err(e))?;
            Ok(old.is_some())
        })
    }

    /// In one write transaction: makes the held snapshot `name` the live snapshot of
    /// `channel` and the current snapshot (served at the root). Returns the previous live
    /// snapshot of `channel` and the previous current snapshot.
    ///
    /// Errors: [`IndexError::NotHeld`] when `name` has no record; [`IndexError::Refused`]
    /// when its record belongs to another channel. Nothing changes on error.
    pub fn set_live(
        &self,
        channel: &str,
        name: &str,
    ) -> Result<(Option<String>, Option<String>), IndexError> {
        self.write(|tx| {
            let snaps = tx.open_table(SNAPSHOTS).map_err(|e| self.err(e))?;
            let rec = match snaps.get(name).map_err(|e| self.err(e))? {
                Some(v) => self.decode(name, v.value())?,
                None => return Err(self.not_held(name)),
            };
            if rec.channel != channel {
                return Err(self.refused(
                    name,
                    format!("it belongs to channel {}, not {channel}", rec.channel),
                ));
            }
            let mut live = tx.open_table(LIVE).map_err(|e| self.err(e))?;
            let prev_live = live
                .insert(channel, name)
                .map_err(|e| self.err(e))?
                .map(|v| v.value().to_owned());
            let mut meta = tx.open_table(META).map_err(|e| self.err(e))?;
            let prev_current = meta
                .insert(CURRENT_KEY, name)
                .map_err(|e| self.err(e))?
                .map(|v| v.value().to_owned());
            Ok((prev_live, prev_current))
        })
    }

    /// In one write transaction: removes the records of every snapshot in `names` and
    /// returns them. All or nothing: a name that is not held, or is live on a channel,
    /// current, or pinned, refuses the whole call and nothing changes.
    ///
    /// Errors: [`IndexError::NotHeld`], [`IndexError::Refused`] naming the first offender.
    pub fn remove_snapshots(&self, names: &[String]) -> Result<Vec<SnapshotRecord>, IndexError> {
        self.write(|tx| {
            let live: Vec<(String, String)> = {
                let t = tx.open_table(LIVE).map_err(|e| self.err(e))?;
                let mut v = Vec::new();
                for item in t.iter().map_err(|e| self.err(e))? {
                    let (k, n) = item.map_err(|e| self.err(e))?;
                    v.push((k.value().to_owned(), n.value().to_owned()));
                }
                v
            };
            let current = {
                let t = tx.open_table(META).map_err(|e| self.err(e))?;
                t.get(CURRENT_KEY)
                    .map_err(|e| self.err(e))?
                    .map(|v| v.value().to_owned())
            };
            let pins = tx.open_table(PINS).map_err(|e| self.err(e))?;
            let mut snaps = tx.open_table(SNAPSHOTS).map_err(|e| self.err(e))?;
            let mut removed = Vec::with_capacity(names.len());
            for name in names {
                if let Some((channel, _)) = live.iter().find(|(_, n)| n == name) {
                    return Err(self.refused(name, format!("it is live on channel {channel}")));
                }
                if current.as_deref() == Some(name.as_str()) {
                    return Err(self.refused(name, "it is served at the root (current)"));
                }
                if pins.get(name.as_str()).map_err(|e| self.err(e))?.is_some() {
                    return Err(self.refused(name, "it is pinned (unpin it first)"));
                }
                let rec = match snaps.remove(name.as_str()).map_err(|e| self.err(e))? {
                    Some(v) => self.decode(name, v.value())?,
                    None => return Err(self.not_held(name)),
                };
                removed.push(rec);
            }
            Ok(removed)
        })
    }

    /// In one write transaction: inserts (or replaces) `rec`, sets the live snapshot of
    /// `rec.channel` to `rec.name` and the current snapshot to `rec.name`. Either all of it
    /// is durable when this returns `Ok`, or none of it.
    pub fn commit_import(&self, rec: &SnapshotRecord) -> Result<(), IndexError> {
        let Db::Rw(db) = &self.db else {
            return Err(IndexError::ReadOnly {
                path: self.path.clone(),
            });
        };
        let json = serde_json::to_vec(rec).map_err(|e| IndexError::Corrupt {
            path: self.path.clone(),
            name: rec.name.clone(),
            reason: e.to_string(),
        })?;
        let tx = db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut t = tx.open_table(SNAPSHOTS).map_err(|e| self.err(e))?;
            t.insert(rec.name.as_str(), json.as_slice())
                .map_err(|e| self.err(e))?;
            let mut live = tx.open_table(LIVE).map_err(|e| self.err(e))?;
            live.insert(rec.channel.as_str(), rec.name.as_str())
                .map_err(|e| self.err(e))?;
            let mut meta = tx.open_table(META).map_err(|e| self.err(e))?;
            meta.insert(CURRENT_KEY, rec.name.as_str())
                .map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(channel: &str, seq: u64) -> SnapshotRecord {
        SnapshotRecord {
            name: format!("{channel}/{seq}"),
            channel: channel.into(),
            sequence: seq,
            created: "2026-11-21T15:10:59Z".into(),
            signer: "ed25519:0011223344556677".into(),
            signer_key_file: "site.pub".into(),
            manifest: Digest::of(b"m"),
            signature: Digest::of(b"s"),
            imported_at: "2026-11-22T10:00:00Z".into(),
            artifacts: 3,
            bytes: 1234,
        }
    }

    #[test]
    fn empty_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.redb");
        assert!(Index::open_read_only(&path).unwrap().is_none());
        let idx = Index::open(&path).unwrap();
        assert!(idx.snapshots().unwrap().is_empty());
        assert_eq!(idx.current().unwrap(), None);
        assert_eq!(idx.live("x").unwrap(), None);
        assert_eq!(idx.snapshot("x/1").unwrap(), None);
    }

    #[test]
    fn commit_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.redb");
        {
            let idx = Index::open(&path).unwrap();
            idx.commit_import(&rec("stable", 10)).unwrap();
            idx.commit_import(&rec("stable", 2)).unwrap();
            idx.commit_import(&rec("edge", 1)).unwrap();
        }
        let idx = Index::open_read_only(&path).unwrap().unwrap();
        let names: Vec<_> = idx
            .snapshots()
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["edge/1", "stable/2", "stable/10"]);
        assert_eq!(idx.live("stable").unwrap().as_deref(), Some("stable/2"));
        assert_eq!(idx.current().unwrap().as_deref(), Some("edge/1"));
        assert_eq!(idx.snapshot("stable/10").unwrap(), Some(rec("stable", 10)));
        assert!(matches!(
            idx.commit_import(&rec("x", 1)),
            Err(IndexError::ReadOnly { .. })
        ));
    }

    fn pin_rec(reason: &str) -> PinRecord {
        PinRecord {
            reason: Some(reason.into()),
            pinned_at: "2026-11-22T10:00:00Z".into(),
        }
    }

    #[test]
    fn pins_set_live_and_remove() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.redb");
        let idx = Index::open(&path).unwrap();
        for seq in 1..=4 {
            idx.commit_import(&rec("stable", seq)).unwrap();
        }
        idx.commit_import(&rec("edge", 1)).unwrap();
        assert!(idx.pins().unwrap().is_empty());

        // Pins: only held snapshots; re-pinning replaces the reason.
        assert!(idx.pin("stable/1", &pin_rec("audit")).unwrap());
        assert!(!idx.pin("stable/1", &pin_rec("audit 2")).unwrap());
        assert!(matches!(
            idx.pin("stable/9", &pin_rec("x")),
            Err(IndexError::NotHeld { ref name, .. }) if name == "stable/9"
        ));
        let pins = idx.pins().unwrap();
        assert_eq!(pins.len(), 1);
        assert_eq!(pins["stable/1"].reason.as_deref(), Some("audit 2"));

        // set_live: live and current in one go, returns what was there.
        assert_eq!(
            idx.set_live("stable", "stable/2").unwrap(),
            (Some("stable/4".into()), Some("edge/1".into()))
        );
        assert_eq!(idx.live("stable").unwrap().as_deref(), Some("stable/2"));
        assert_eq!(idx.current().unwrap().as_deref(), Some("stable/2"));
        assert!(matches!(
            idx.set_live("edge", "stable/3"),
            Err(IndexError::Refused { .. })
        ));
        assert!(matches!(
            idx.set_live("stable", "stable/7"),
            Err(IndexError::NotHeld { .. })
        ));
        assert_eq!(idx.current().unwrap().as_deref(), Some("stable/2"));

        // remove_snapshots: all or nothing; live, current and pinned are refused.
        let before = idx.state().unwrap();
        for (names, why) in [
            (vec!["stable/3", "stable/2"], "live on channel stable"),
            (vec!["stable/3", "stable/1"], "pinned"),
            (vec!["stable/3", "edge/1"], "live on channel edge"),
            (vec!["stable/3", "stable/8"], "not held"),
        ] {
            let names: Vec<String> = names.into_iter().map(String::from).collect();
            let err = idx.remove_snapshots(&names).unwrap_err();
            assert!(err.to_string().contains(why), "{err}");
            assert_eq!(idx.state().unwrap(), before);
        }
        let removed = idx
            .remove_snapshots(&["stable/3".into(), "stable/4".into()])
            .unwrap();
        assert_eq!(removed, vec![rec("stable", 3), rec("stable", 4)]);
        let state = idx.state().unwrap();
        let names: Vec<_> = state.snapshots.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["edge/1", "stable/1", "stable/2"]);
        assert_eq!(state.current.as_deref(), Some("stable/2"));
        assert_eq!(state.live["edge"], "edge/1");
        assert!(state.is_live("stable/2") && !state.is_live("stable/1"));
        assert!(state.get("stable/1").is_some() && state.get("stable/3").is_none());

        assert!(idx.unpin("stable/1").unwrap());
        assert!(!idx.unpin("stable/1").unwrap());
        idx.remove_snapshots(&["stable/1".into()]).unwrap();
        drop(idx);
        let ro = Index::open_read_only(&path).unwrap().unwrap();
        assert!(matches!(ro.unpin("x/1"), Err(IndexError::ReadOnly { .. })));
        assert_eq!(ro.state().unwrap().snapshots.len(), 2);
    }

    #[test]
    fn read_only_open_does_not_modify_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.redb");
        Index::open(&path)
            .unwrap()
            .commit_import(&rec("stable", 1))
            .unwrap();
        let before = std::fs::read(&path).unwrap();
        {
            let idx = Index::open_read_only(&path).unwrap().unwrap();
            assert_eq!(idx.current().unwrap().as_deref(), Some("stable/1"));
        }
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}
