//! Batched durability of an import's staging store (issue 15): blobs are staged without an
//! fsync each ([`store::BlobWriter::commit_unsynced`]), then one `syncfs(2)` of the
//! store's file system ([`store::fsio::sync_filesystem`]) makes the whole batch durable,
//! and only then is the staging store *sealed*: an empty file `synced` in its root says
//! "every blob named here reached the disk". The commit moves sealed blobs into the store
//! and fsyncs the store's blob directory once before the index transaction that makes the
//! snapshot live. ADR 0013 (docs/adr/0013-import-batched-durability.md) tells the whole story.
//!
//! A staging store that is not sealed (an import killed, or a machine that lost power,
//! before the sync) may hold blob names over bytes that never reached the disk; the next
//! run re-hashes such blobs before it trusts them ([`trusted_staged`]).

use std::fs;
use std::io;
use std::path::Path;

use formats::digest::Digest;
use store::Cas;

use super::error::{ImportError, io_at};

/// The seal of a staging store: `STORE/tmp/resume-<manifest hex>/synced`.
pub(super) const SEAL_FILE: &str = "synced";

/// Whether the staging store at `root` is sealed (every blob in it durable).
pub(super) fn is_sealed(root: &Path) -> bool {
    fs::symlink_metadata(root.join(SEAL_FILE)).is_ok_and(|m| m.is_file())
}

/// Breaks the seal of the staging store at `root` before this run writes into it, and
/// makes that durable (fsync of `root`): blobs this run stages without an fsync must
/// never sit under a seal that an earlier run wrote.
///
/// Errors: the seal cannot be removed or `root` synced.
pub(super) fn unseal(root: &Path) -> Result<(), ImportError> {
    let seal = root.join(SEAL_FILE);
    match fs::remove_file(&seal) {
        Ok(()) => store::fsio::sync_dir(root).map_err(io_at(root)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_at(&seal)(e)),
    }
}

/// Makes everything staged under `root` durable with one sync of its file system, then
/// seals it ([`SEAL_FILE`], written atomically and fsynced).
///
/// Errors: the sync fails (a writeback error of any file on that file system, from Linux
/// 5.8 on), or the seal cannot be written.
pub(super) fn seal(root: &Path) -> Result<(), ImportError> {
    store::fsio::sync_filesystem(root).map_err(io_at(root))?;
    let seal = root.join(SEAL_FILE);
    store::fsio::write_atomic(&seal, b"", 0o644).map_err(io_at(&seal))
}

/// Whether blob `d` of `size` bytes, found in the staging store `cas` by an earlier run,
/// can be used without reading the drive again: a regular file of the right size in a
/// sealed staging store, or, when the store is not sealed, one whose bytes re-hash to
/// `d`. A file that fails the re-hash is removed, so the copy replaces it (a writer keeps
/// an existing file of the right size).
pub(super) fn trusted_staged(cas: &Cas, sealed: bool, d: &Digest, size: u64) -> bool {
    if cas.contains(d).ok().flatten() != Some(size) {
        return false;
    }
    if sealed || cas.verify_blob(d).is_ok() {
        return true;
    }
    let _ = fs::remove_file(cas.blob_path(d));
    false
}

/// A test hook at the named crash point of an import: when `MIRROR_IMPORT_PAUSE_AT`
/// names `point`, print `import paused at <point>` on stderr and wait there until the
/// process is killed (the kill -9 tests use it to stop an import exactly between two
/// steps). Points: `staged` (every blob copied, nothing synced), `synced` (staging synced
/// and sealed, nothing moved into the store), `adopted` (blobs renamed into the store and
/// its blob directory synced, index not committed).
pub(super) fn pause_point(point: &str) {
    if std::env::var_os("MIRROR_IMPORT_PAUSE_AT").is_some_and(|v| v == point) {
        eprintln!("import paused at {point}");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}
