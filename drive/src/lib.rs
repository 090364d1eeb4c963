//! `drive`: the one reader and checker of a snapshot drive, as docs/media-format.md
//! describes it. `mirror-sync verify` (reading a drive back before it leaves),
//! `mirror-server import` (before anything is trusted) and `sbom show` all read a drive
//! through this crate, so a drive one of them accepts, the others accept too.
//!
//! - [`mod@locate`]: the snapshots on a drive, `DRIVE/snapshots/<channel>/<sequence>/`, through
//!   real directories only;
//! - [`read_manifest`], [`read_signature`]: the manifest's exact bytes and its 64-byte
//!   ed25519 signature, read with [`store::fsio::read_bounded`] (no symbolic link, no hard
//!   link, bounded);
//! - [`media`]: the signed media description (`media.json`), checked against the manifest;
//! - [`files`]: the blob and part files, checked for type, links and size, opened and
//!   hashed;
//! - [`inspect`]: one artifact of a snapshot with its digest checked (`sbom show`).
//!
//! Errors name the path and the reason precisely ([`locate::LocateError`],
//! [`media::MediaError`], [`files::FileError`], [`store::fsio::ReadError`]), so each caller
//! words its own messages. Nothing here writes: copying into a store is the importer's.

pub mod files;
pub mod inspect;
pub mod locate;
pub mod media;

use std::path::Path;

use formats::snapshot::{MANIFEST_FILE, MAX_MANIFEST_BYTES};
use store::fsio::{ReadError, read_bounded};

pub use files::{FileError, check_file, hash_file, open_file};
pub use inspect::{
    DriveError, DriveSnapshot, open_snapshot, read_artifact, read_blob, snapshots_on,
};
pub use locate::{LocateError, Located, locate, snapshots};
pub use media::{MediaError, read_media};

/// Length of an ed25519 signature in bytes (RFC 8032 §5.1.6); the most read of a
/// signature file.
pub const SIGNATURE_LEN: usize = 64;

/// Read buffer for blobs and parts (1 MiB).
pub const COPY_BUF: usize = 1024 * 1024;

/// Reads the exact bytes of `SNAPSHOT_DIR/manifest.json`, at most
/// [`MAX_MANIFEST_BYTES`].
///
/// Errors: [`ReadError`] (absent, a link or hard link, too large, I/O).
pub fn read_manifest(snap_dir: &Path) -> Result<Vec<u8>, ReadError> {
    read_bounded(&snap_dir.join(MANIFEST_FILE), MAX_MANIFEST_BYTES)
}

/// Reads a signature file (`manifest.json.sig`, `media.json.sig`), at most
/// [`SIGNATURE_LEN`] bytes; the caller checks the exact length (a shorter file is read).
///
/// Errors: [`ReadError`] (absent, a link or hard link, over 64 bytes, I/O).
pub fn read_signature(path: &Path) -> Result<Vec<u8>, ReadError> {
    read_bounded(path, SIGNATURE_LEN as u64)
}
