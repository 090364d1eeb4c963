//! The store directory as a type: [`Store`] knows every name in it, the store lock, the
//! generation counter and the staging area. Nothing else defines these names.
//!
//! ```text
//! STORE/index.redb            the index (imported snapshots, live, current, pins)  INDEX_FILE
//! STORE/blobs/sha256/<hex>    the blobs (crate::cas)                               BLOBS_DIR
//! STORE/tmp/                  temp files and staging, same file system             TMP_DIR
//! STORE/tmp/import-<pid>-<n>/ an import's staging store; stale once <pid> is gone  STAGING_PREFIX
//! STORE/tmp/.blob-<pid>-…     a blob being written; stale once <pid> is gone       BLOB_TEMP_PREFIX
//! STORE/tmp/resume-<hex>/     resumable import staging, kept across runs          RESUME_PREFIX
//! STORE/tmp/.partial-<hex>    a resumable download (mirror-sync)                   PARTIAL_PREFIX
//! STORE/lock                  empty; flocked by every change (Store::lock)         LOCK_FILE
//! STORE/current.gen           decimal counter; servers reload when it changes      GENERATION_FILE
//! STORE/audit.log, audit.head the hash-chained audit log and its head              AUDIT_LOG, AUDIT_HEAD
//! STORE/site.key, site.pub    the site's receipt key pair                          SITE_KEY_FILE, SITE_PUB_FILE
//! ```
//!
//! Hidden temp files of atomic replaces (`.current.gen.tmp.…`, see
//! [`crate::fsio::write_atomic`]) may appear next to the names they replace.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cas::Cas;
use crate::fsio::{sync_dir, write_atomic};
use crate::index::{Index, IndexError};

pub mod names;
pub use names::*;

/// A store directory (see the module docs for what it holds). A handle only: making one
/// creates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    root: PathBuf,
}

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

impl Store {
    /// A handle on the store directory `root` (nothing is created or checked).
    pub fn at(root: &Path) -> Store {
        Store {
            root: root.to_path_buf(),
        }
    }

    /// The store directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The blob store of this store (a handle; nothing is created, see [`Cas::at`]).
    pub fn cas(&self) -> Cas {
        Cas::at(&self.root)
    }

    /// `STORE/index.redb`.
    pub fn index_path(&self) -> PathBuf {
        self.root.join(INDEX_FILE)
    }

    /// Opens (creating) the index for writing; see [`Index::open`].
    pub fn index(&self) -> Result<Index, IndexError> {
        Index::open(&self.index_path())
    }

    /// Opens the index read-only, `Ok(None)` when there is none; see
    /// [`Index::open_read_only`].
    pub fn index_read_only(&self) -> Result<Option<Index>, IndexError> {
        Index::open_read_only(&self.index_path())
    }

    /// `STORE/tmp`: temp files and staging.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join(TMP_DIR)
    }

    /// `STORE/lock`.
    pub fn lock_path(&self) -> PathBuf {
        self.root.join(LOCK_FILE)
    }

    /// `STORE/current.gen`.
    pub fn generation_path(&self) -> PathBuf {
        self.root.join(GENERATION_FILE)
    }

    /// `STORE/audit.log`.
    pub fn audit_log_path(&self) -> PathBuf {
        self.root.join(AUDIT_LOG)
    }

    /// `STORE/audit.head`.
    pub fn audit_head_path(&self) -> PathBuf {
        self.root.join(AUDIT_HEAD)
    }

    /// Takes the exclusive store lock: an `flock` (`std::fs::File::lock`) on `STORE/lock`,
    /// created empty if absent, so that imports, rollbacks, pins and garbage collection
    /// never run at once (also across processes). Blocks until the lock is free; after
    /// [`LOCK_NOTICE_AFTER`] of waiting it prints one line to stderr ("waiting for another
    /// mirror-server operation…"). The store directory must exist.
    ///
    /// Once locked, the file is checked to still be the one at `STORE/lock` (same device
    /// and inode): a refused first import removes the lock file it created while it still
    /// holds it ([`StoreLock::remove_on_drop`]), and a waiter that then locks the removed
    /// file opens the path again instead of running alongside a newcomer that created a
    /// new one.
    ///
    /// Errors: [`StoreIoError`] naming the lock file.
    pub fn lock(&self) -> Result<StoreLock, StoreIoError> {
        use std::os::unix::fs::MetadataExt as _;
        let path = self.lock_path();
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
                            formats::display::escape(&self.root.to_string_lossy()),
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
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_at(&path)(e)),
            }
        }
    }

    /// Contents of `STORE/current.gen` (trimmed), `None` when absent or unreadable.
    pub fn generation(&self) -> Option<String> {
        fs::read_to_string(self.generation_path())
            .ok()
            .map(|s| s.trim().to_owned())
    }

    /// Atomically replaces `STORE/current.gen` with the next generation number
    /// ([`write_atomic`]: temp file, fsync, rename, fsync of the directory) and returns
    /// it. Running servers poll the file and reload their routing tables (and drop cached
    /// ones) when it changes. A missing or unreadable file counts as 0.
    ///
    /// Errors: [`StoreIoError`] naming the file.
    pub fn bump_generation(&self) -> Result<u64, StoreIoError> {
        let path = self.generation_path();
        let old = self
            .generation()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        let next = old.saturating_add(1);
        write_atomic(&path, format!("{next}\n").as_bytes(), 0o666).map_err(io_at(&path))?;
        Ok(next)
    }

    /// Stale entries of `STORE/tmp`: import staging directories `import-<pid>-*` and blob
    /// temp files `.blob-<pid>-*` whose process is not running. Returns nothing when
    /// `/proc` is not mounted (liveness cannot be told), or when `STORE/tmp` is absent.
    pub fn stale_staging(&self) -> io::Result<Vec<PathBuf>> {
        if !Path::new("/proc/self").exists() {
            return Ok(Vec::new());
        }
        Ok(self
            .tmp_entries()?
            .into_iter()
            .filter(|(name, _)| staging_pid(name).is_some_and(|pid| !pid_running(pid)))
            .map(|(_, path)| path)
            .collect())
    }

    /// Removes what [`Store::stale_staging`] finds (directories recursively) and returns
    /// how many entries were removed. A process id that was reused keeps its entry until
    /// the process ends; that is harmless. Call it under the store lock
    /// ([`Store::lock`]): an import that holds the lock in another pid namespace is then
    /// never swept.
    pub fn sweep_stale_staging(&self) -> io::Result<u64> {
        let mut n = 0;
        for p in self.stale_staging()? {
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
            let tmp = self.tmp_dir();
            sync_dir(&tmp)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", tmp.display())))?;
        }
        Ok(n)
    }

    /// Resumable import staging (`STORE/tmp/resume-*`, see [`RESUME_PREFIX`]): what
    /// interrupted or waiting multi-volume imports verified so far. Empty when
    /// `STORE/tmp` is absent.
    pub fn resumable_staging(&self) -> io::Result<Vec<PathBuf>> {
        Ok(self
            .tmp_entries()?
            .into_iter()
            .filter(|(name, _)| name.starts_with(RESUME_PREFIX))
            .map(|(_, path)| path)
            .collect())
    }

    /// Removes resumable import staging ([`Store::resumable_staging`]); returns how many
    /// directories were removed. Call it under the store lock.
    pub fn sweep_resumable_staging(&self) -> io::Result<u64> {
        let mut n = 0;
        for p in self.resumable_staging()? {
            match fs::remove_dir_all(&p) {
                Ok(()) => n += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", p.display()))),
            }
        }
        Ok(n)
    }

    /// The entries of `STORE/tmp` with UTF-8 names, as (name, path), sorted by name.
    /// Empty when `STORE/tmp` is absent.
    fn tmp_entries(&self) -> io::Result<Vec<(String, PathBuf)>> {
        let rd = match fs::read_dir(self.tmp_dir()) {
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
}

/// The exclusive lock on a store, released on drop (see [`Store::lock`]).
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
    /// a waiter finds the path gone and starts over: see [`Store::lock`]). A refused
    /// first import sets it, to leave the directory as it found it.
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

#[cfg(test)]
mod tests;
