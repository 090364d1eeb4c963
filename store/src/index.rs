//! The embedded index of a mirror-server store, a redb database at `<store>/index.redb`.
//!
//! Tables:
//!
//! | table       | key                   | value                                  |
//! |-------------|-----------------------|----------------------------------------|
//! | `snapshots` | `"<channel>/<seq>"`   | JSON of a [`SnapshotRecord`]           |
//! | `live`      | channel               | name of the live snapshot on it        |
//! | `meta`      | `"current"`           | name of the snapshot served at the root|
//!
//! redb locks the database file for the process that opens it, so no process keeps an
//! [`Index`] open: open it, read or commit, drop it. Opening retries for up to
//! [`LOCK_WAIT`] while another process holds the file. Readers that must not modify the
//! store (the server, an import's checks before it commits) use [`Index::open_read_only`].

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use formats::digest::Digest;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};

/// How long opening waits for another process to release the database file.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

const SNAPSHOTS: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshots");
const LIVE: TableDefinition<&str, &str> = TableDefinition::new("live");
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
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
    /// [`Index::commit_import`] on an index opened with [`Index::open_read_only`].
    #[error("{}: index was opened read-only", path.display())]
    ReadOnly {
        /// The database file.
        path: PathBuf,
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
        let db = with_retry(path, || redb::ReadOnlyDatabase::open(path))?;
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
