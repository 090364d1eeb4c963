//! The blob and part files of a drive (docs/media-format.md §Blobs, §Parts): each must be
//! reached through real directories only, be a regular file with one name (a hard link
//! could alias a file outside the drive's blobs, or one blob under two digests), and have
//! the size on record. [`check_file`] checks that with `stat` alone (before anything is
//! copied); [`open_file`] checks it again on the open handle; [`hash_file`] reads it.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use formats::digest::{Digest, Hasher};
use store::fsio::{describe_type, open_regular};

use crate::locate::{LocateError, real_dir};

/// Why a drive file was refused. Each variant names the file (or directory on its way).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file (or a directory on its way) is absent.
    #[error("{}: missing", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// Not a regular file, or a link or file where a directory on the way is expected.
    #[error("{}: {reason}", path.display())]
    Unsafe {
        /// The offending path.
        path: PathBuf,
        /// What it is (`symbolic link where a blob file was expected`).
        reason: String,
    },
    /// More than one name for the file.
    #[error("{}: a hard link ({links} names for one file)", path.display())]
    HardLink {
        /// The file.
        path: PathBuf,
        /// Its link count.
        links: u64,
    },
    /// Not the size on record.
    #[error("{}: {actual} bytes, expected {expected}", path.display())]
    Size {
        /// The file.
        path: PathBuf,
        /// The size on record, in bytes.
        expected: u64,
        /// The file's size, in bytes.
        actual: u64,
    },
    /// An I/O error.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

impl From<LocateError> for FileError {
    fn from(e: LocateError) -> Self {
        match e {
            LocateError::Unsafe { path, reason } => FileError::Unsafe { path, reason },
            LocateError::Io { path, source } => FileError::Io { path, source },
            other => FileError::Io {
                path: PathBuf::new(),
                source: io::Error::other(other.to_string()),
            },
        }
    }
}

fn one_name_of_size(path: &Path, meta: &fs::Metadata, size: u64) -> Result<(), FileError> {
    if meta.nlink() > 1 {
        return Err(FileError::HardLink {
            path: path.to_path_buf(),
            links: meta.nlink(),
        });
    }
    if meta.len() != size {
        return Err(FileError::Size {
            path: path.to_path_buf(),
            expected: size,
            actual: meta.len(),
        });
    }
    Ok(())
}

/// Checks, without opening it, that drive file `src` (under drive root `root`) is reached
/// through real directories, is a regular file with one link, and has `size` bytes.
///
/// Errors: [`FileError::Missing`] (also when a directory on the way is absent),
/// [`FileError::Unsafe`] (`<type> where a directory was expected` naming the directory, or
/// `<type> where a blob file was expected`), [`FileError::HardLink`], [`FileError::Size`].
pub fn check_file(root: &Path, src: &Path, size: u64) -> Result<(), FileError> {
    if let Ok(rel) = src.strip_prefix(root) {
        let mut dir = root.to_path_buf();
        let comps: Vec<_> = rel.components().collect();
        for c in comps.iter().take(comps.len().saturating_sub(1)) {
            dir.push(c);
            if !real_dir(&dir)? {
                return Err(FileError::Missing {
                    path: src.to_path_buf(),
                });
            }
        }
    }
    match fs::symlink_metadata(src) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(FileError::Missing {
            path: src.to_path_buf(),
        }),
        Err(source) => Err(FileError::Io {
            path: src.to_path_buf(),
            source,
        }),
        Ok(m) if !m.file_type().is_file() => Err(FileError::Unsafe {
            path: src.to_path_buf(),
            reason: format!("{} where a blob file was expected", describe_type(&m)),
        }),
        Ok(m) => one_name_of_size(src, &m, size),
    }
}

/// Opens drive file `src` ([`open_regular`]: no link followed, the handle's inode is the
/// one looked up) and checks on the open handle that it has one name and `size` bytes.
///
/// Errors: [`FileError::Missing`], [`FileError::Unsafe`] (`not a regular file (<type>)`),
/// [`FileError::HardLink`], [`FileError::Size`], I/O.
pub fn open_file(src: &Path, size: u64) -> Result<File, FileError> {
    let (file, meta) = open_regular(src).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => FileError::Missing {
            path: src.to_path_buf(),
        },
        io::ErrorKind::InvalidInput => FileError::Unsafe {
            path: src.to_path_buf(),
            reason: e.to_string(),
        },
        _ => FileError::Io {
            path: src.to_path_buf(),
            source: e,
        },
    })?;
    one_name_of_size(src, &meta, size)?;
    Ok(file)
}

/// Reads drive file `src` of `size` bytes ([`open_file`]; at most `size + 1` bytes are
/// read) and hashes it, handing every chunk to `also` as well (a whole-blob hasher, a
/// progress counter). Returns the SHA-256 and the bytes read; the caller compares them
/// with the record (a file that grew while being read shows `size + 1`).
///
/// Errors: those of [`open_file`], or a read error.
pub fn hash_file(
    src: &Path,
    size: u64,
    mut also: impl FnMut(&[u8]),
) -> Result<(Digest, u64), FileError> {
    let mut r = open_file(src, size)?.take(size.saturating_add(1));
    let mut h = Hasher::new();
    let mut buf = vec![0u8; crate::COPY_BUF];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(FileError::Io {
                    path: src.to_path_buf(),
                    source,
                });
            }
        };
        let chunk = buf.get(..n).unwrap_or_default();
        h.update(chunk);
        also(chunk);
    }
    Ok(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_checked_before_and_after_opening() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        let dir = root.join("blobs/sha256");
        fs::create_dir_all(&dir).unwrap();
        let f = dir.join("aa");
        fs::write(&f, b"hello").unwrap();
        check_file(root, &f, 5).unwrap();
        let (d, n) = hash_file(&f, 5, |_| {}).unwrap();
        assert_eq!((d, n), (Digest::of(b"hello"), 5));
        assert!(matches!(
            check_file(root, &f, 4),
            Err(FileError::Size { actual: 5, .. })
        ));
        assert!(matches!(
            check_file(root, &dir.join("bb"), 4),
            Err(FileError::Missing { .. })
        ));
        fs::hard_link(&f, dir.join("cc")).unwrap();
        assert!(matches!(
            open_file(&f, 5),
            Err(FileError::HardLink { links: 2, .. })
        ));
        std::os::unix::fs::symlink(&f, dir.join("dd")).unwrap();
        let e = check_file(root, &dir.join("dd"), 5).unwrap_err();
        assert!(
            e.to_string().contains("symbolic link where a blob file"),
            "{e}"
        );
        let e = open_file(&dir.join("dd"), 5).unwrap_err();
        assert!(matches!(e, FileError::Unsafe { .. }), "{e}");
    }
}
