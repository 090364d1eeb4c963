//! Small file helpers for writing key files with the right permissions from the start.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use crate::KeyError;

/// Mode of private key files.
pub(crate) const PRIVATE_MODE: u32 = 0o600;
/// Mode of public key files (before the process umask).
pub(crate) const PUBLIC_MODE: u32 = 0o644;

/// Reads a whole file, naming the path in the error.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    fs::read(path).map_err(|source| KeyError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })
}

/// Creates `dir` (and parents) with mode 0700 if it does not exist yet.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), KeyError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| KeyError::Io {
            action: "create directory",
            path: dir.to_path_buf(),
            source,
        })
}

/// Fails with [`KeyError::AlreadyExists`] if any of `paths` exists (a dangling symlink counts).
pub(crate) fn refuse_existing(paths: &[&Path]) -> Result<(), KeyError> {
    for path in paths {
        if fs::symlink_metadata(path).is_ok() {
            return Err(KeyError::AlreadyExists {
                path: path.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// Writes `bytes` to `path`; the file is created with `mode` (never chmod-ed afterwards).
///
/// Without `force` the file must not exist (`O_EXCL`). With `force` the data goes to a new
/// temporary file in the same directory, created with `mode`, fsynced and renamed over
/// `path`, then the directory is fsynced ([`store::fsio::write_atomic`]); an existing
/// file's (possibly wider) permissions are therefore never reused.
pub(crate) fn write_file(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    force: bool,
) -> Result<(), KeyError> {
    if !force {
        return create_and_write(path, bytes, mode).map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                KeyError::AlreadyExists {
                    path: path.to_path_buf(),
                }
            } else {
                KeyError::Io {
                    action: "write",
                    path: path.to_path_buf(),
                    source,
                }
            }
        });
    }

    store::fsio::write_atomic(path, bytes, mode).map_err(|source| KeyError::Io {
        action: "replace",
        path: path.to_path_buf(),
        source,
    })
}

fn create_and_write(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
