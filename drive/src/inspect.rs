//! Reading one artifact of a snapshot on a drive for inspection (`sbom show`,
//! `sbom diff`): find the snapshot ([`mod@crate::locate`]), read its manifest, read one blob
//! with its size and digest checked.
//!
//! Layout (docs/media-format.md): `DRIVE/snapshots/<channel>/<sequence>/manifest.json` and
//! `DRIVE/blobs/sha256/<hex>`. Files are read with [`store::fsio::read_bounded`]: symbolic
//! links, hard links and other non-regular files are refused. This module does not check
//! the manifest signature: `mirror-server import` does that before anything is trusted.

use std::io;
use std::path::{Path, PathBuf};

use formats::digest::{Digest, Hasher};
use formats::snapshot::{MANIFEST_FILE, MAX_MANIFEST_BYTES, Manifest};
use store::fsio::{ReadError, read_bounded};

use crate::locate::{LocateError, snapshots};

/// Why a drive could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    /// Not a snapshot drive, or not the snapshot asked for.
    #[error("{}: {reason}", path.display())]
    NotFound {
        /// The drive (or file) path.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// The manifest does not parse.
    #[error("{}: {source}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// The parse error.
        source: formats::snapshot::ManifestError,
    },
    /// A blob is over the size limit, has the wrong size, or the wrong digest.
    #[error("{}: {reason}", path.display())]
    Blob {
        /// The blob file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file that cannot be read safely (a link, a hard link, absent, over the limit).
    #[error("{0}")]
    Read(#[source] ReadError),
    /// A link or file where a directory is expected on the drive.
    #[error("{}: {reason}", path.display())]
    Unsafe {
        /// The offending path.
        path: PathBuf,
        /// What it is.
        reason: String,
    },
    /// An I/O error.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// A snapshot found on a drive.
#[derive(Debug, Clone)]
pub struct DriveSnapshot {
    /// The drive root.
    pub drive: PathBuf,
    /// `<channel>/<sequence>`.
    pub name: String,
    /// The parsed manifest.
    pub manifest: Manifest,
}

/// The snapshots on a drive, as `<channel>/<sequence>` names, sorted by channel then
/// sequence ([`crate::locate::snapshots`]).
///
/// Errors: not a snapshot drive (no `snapshots/` directory), a link where a directory is
/// expected, I/O.
pub fn snapshots_on(drive: &Path) -> Result<Vec<String>, DriveError> {
    match snapshots(drive) {
        Ok(names) => Ok(names.iter().map(ToString::to_string).collect()),
        Err(LocateError::DriveMissing { .. } | LocateError::NoSnapshot { .. }) => {
            Err(DriveError::NotFound {
                path: drive.to_path_buf(),
                reason: "no snapshots/ directory: not a snapshot drive".into(),
            })
        }
        Err(LocateError::Unsafe { path, reason }) => Err(DriveError::Unsafe { path, reason }),
        Err(LocateError::Io { path, source }) => Err(DriveError::Io { path, source }),
        Err(e @ LocateError::Choose { .. }) => Err(DriveError::Io {
            path: drive.to_path_buf(),
            source: io::Error::other(e.to_string()),
        }),
    }
}

/// Opens the snapshot `wanted` (`<channel>/<sequence>`) on `drive`, or the only one when
/// `wanted` is `None`. `drive` may also be a snapshot directory or its `manifest.json`.
///
/// Errors: no snapshot, several without a choice, an unreadable or invalid manifest.
pub fn open_snapshot(drive: &Path, wanted: Option<&str>) -> Result<DriveSnapshot, DriveError> {
    // A manifest file or a snapshot directory given directly.
    let direct = if drive.file_name().is_some_and(|n| n == MANIFEST_FILE) {
        Some(drive.to_path_buf())
    } else if drive.join(MANIFEST_FILE).is_file() {
        Some(drive.join(MANIFEST_FILE))
    } else {
        None
    };
    let (root, manifest_path) = match direct {
        Some(m) => {
            // DRIVE/snapshots/<channel>/<seq>/manifest.json → DRIVE
            let root = m
                .ancestors()
                .nth(4)
                .map(Path::to_path_buf)
                .unwrap_or_default();
            (root, m)
        }
        None => {
            let found = snapshots_on(drive)?;
            let name = match (wanted, found.as_slice()) {
                (Some(w), _) if found.iter().any(|f| f == w) => w.to_owned(),
                (Some(w), _) => {
                    return Err(DriveError::NotFound {
                        path: drive.to_path_buf(),
                        reason: format!(
                            "snapshot {w} is not on the drive (it holds: {})",
                            found.join(", ")
                        ),
                    });
                }
                (None, [one]) => one.clone(),
                (None, []) => {
                    return Err(DriveError::NotFound {
                        path: drive.to_path_buf(),
                        reason: "no snapshot on the drive".into(),
                    });
                }
                (None, many) => {
                    return Err(DriveError::NotFound {
                        path: drive.to_path_buf(),
                        reason: format!(
                            "the drive holds several snapshots ({}); name one as DRIVE/snapshots/CHANNEL/SEQ",
                            many.join(", ")
                        ),
                    });
                }
            };
            (
                drive.to_path_buf(),
                drive.join("snapshots").join(&name).join(MANIFEST_FILE),
            )
        }
    };
    let bytes = read_bounded(&manifest_path, MAX_MANIFEST_BYTES).map_err(DriveError::Read)?;
    let manifest = Manifest::from_slice(&bytes).map_err(|source| DriveError::Manifest {
        path: manifest_path.clone(),
        source,
    })?;
    Ok(DriveSnapshot {
        drive: root,
        name: manifest.name(),
        manifest,
    })
}

/// Reads the artifact at logical path `path` of the snapshot at `drive` (as
/// [`open_snapshot`] finds it, the only one on the drive or the one a snapshot directory
/// or manifest names), with its digest and size checked. Returns the snapshot's name and
/// the bytes.
///
/// Errors: no such snapshot or artifact, a blob over `max` bytes, or a damaged blob.
pub fn read_artifact(drive: &Path, path: &str, max: u64) -> Result<(String, Vec<u8>), DriveError> {
    let snap = open_snapshot(drive, None)?;
    let Some(a) = snap.manifest.artifacts.iter().find(|a| a.path == path) else {
        return Err(DriveError::NotFound {
            path: drive.to_path_buf(),
            reason: format!("snapshot {} has no artifact {path}", snap.name),
        });
    };
    let bytes = read_blob(&snap.drive, &a.digest, a.size, max)?;
    Ok((snap.name, bytes))
}

/// Reads blob `digest` of `size` bytes from `DRIVE/blobs/sha256/`, refusing more than
/// `max` bytes, a size other than `size`, or content that does not hash to `digest`.
///
/// Errors: [`DriveError::Blob`] naming the file and the problem, or I/O.
pub fn read_blob(
    drive: &Path,
    digest: &Digest,
    size: u64,
    max: u64,
) -> Result<Vec<u8>, DriveError> {
    let path = drive.join("blobs/sha256").join(digest.hex());
    if size > max {
        return Err(DriveError::Blob {
            path,
            reason: format!("{size} bytes, over the {max}-byte limit"),
        });
    }
    let bytes = read_bounded(&path, max).map_err(|e| match e {
        ReadError::TooLarge { len, max, .. } => DriveError::Blob {
            path: path.clone(),
            reason: format!("{len} bytes, over the {max}-byte limit"),
        },
        other => DriveError::Read(other),
    })?;
    if bytes.len() as u64 != size {
        return Err(DriveError::Blob {
            path,
            reason: format!("{} bytes but the manifest says {size}", bytes.len()),
        });
    }
    let mut h = Hasher::new();
    h.update(&bytes);
    let (actual, _) = h.finish();
    if actual != *digest {
        return Err(DriveError::Blob {
            path,
            reason: format!("content has {actual}, the manifest says {digest}"),
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn not_a_drive_is_named() {
        let t = tempfile::tempdir().unwrap();
        let err = open_snapshot(t.path(), None).unwrap_err();
        assert!(err.to_string().contains("not a snapshot drive"), "{err}");
    }

    #[test]
    fn blobs_are_checked() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("blobs/sha256");
        fs::create_dir_all(&dir).unwrap();
        let d = Digest::of(b"hello");
        fs::write(dir.join(d.hex()), b"hello").unwrap();
        assert_eq!(read_blob(t.path(), &d, 5, 10).unwrap(), b"hello");
        let err = read_blob(t.path(), &d, 4, 10).unwrap_err();
        assert!(
            err.to_string().contains("5 bytes but the manifest says 4"),
            "{err}"
        );
        fs::write(dir.join(d.hex()), b"hellO").unwrap();
        let err = read_blob(t.path(), &d, 5, 10).unwrap_err();
        assert!(err.to_string().contains("content has sha256:"), "{err}");
        assert!(read_blob(t.path(), &d, 50, 10).is_err());
    }
}
