//! File-system primitives every crate above uses, written once (ADR 0001 amendment,
//! issue 14): opening a file without following links ([`open_regular`]), a bounded read
//! that also refuses hard links ([`read_bounded`]), an atomic replace that always fsyncs
//! the file and its directory ([`write_atomic`]), [`sync_dir`], and one sync of a whole
//! file system for batches written without per-file fsyncs ([`sync_filesystem`]).
//!
//! Nothing here knows the store's layout; the drive reader, the importer, the exporter,
//! the audit log and the key writers all call these.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Opens `path` for reading only if it is a regular file, never following a symbolic link.
///
/// Portable way without `O_NOFOLLOW` (whose value differs between architectures): `lstat`
/// the path first (refusing links, FIFOs, devices, directories before opening, so a FIFO
/// cannot block the open), open it, then `fstat` the open handle and check that it is the
/// same device and inode that `lstat` saw. A path swapped for a link in between is
/// detected, because the link's inode differs from the file it points to.
///
/// Errors: `NotFound` when absent, `InvalidInput` (with a message) when the path is not a
/// regular file or changed while opening, other I/O errors as they come.
pub fn open_regular(path: &Path) -> io::Result<(File, fs::Metadata)> {
    let before = fs::symlink_metadata(path)?;
    if !before.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file ({})", describe_type(&before)),
        ));
    }
    let file = File::open(path)?;
    let opened = file.metadata()?;
    if !opened.file_type().is_file() || opened.dev() != before.dev() || opened.ino() != before.ino()
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "file was replaced while being opened",
        ));
    }
    Ok((file, opened))
}

/// A short name for the file type in `m` ("symbolic link", "directory", …).
pub fn describe_type(m: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_symlink() {
        "symbolic link"
    } else if t.is_dir() {
        "directory"
    } else if t.is_file() {
        "regular file"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_socket() {
        "socket"
    } else if t.is_block_device() || t.is_char_device() {
        "device"
    } else {
        "special file"
    }
}

/// Fsyncs a directory so that renames and creations inside it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Flushes every dirty page and inode of the file system that holds `path` to the disk
/// and waits for it (`syncfs(2)`, Linux): one call makes a whole batch of files written
/// without their own fsync durable, data and directory entries, without each fsync
/// waiting in line behind the writeback the others started. It also flushes whatever
/// else is dirty on that file system. Since Linux 5.8 a writeback error of any file on
/// it is reported here.
///
/// Errors: `path` cannot be opened; the sync fails (`EIO`, `ENOSPC`, …).
pub fn sync_filesystem(path: &Path) -> io::Result<()> {
    let f = File::open(path)?;
    rustix::fs::syncfs(&f).map_err(io::Error::from)
}

/// Why [`read_bounded`] refused a file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file does not exist.
    #[error("{}: not found", path.display())]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// Not a regular file (a symbolic link, directory, FIFO, device), or it was replaced
    /// while being opened.
    #[error("{}: {reason}", path.display())]
    NotRegular {
        /// The file.
        path: PathBuf,
        /// What it is instead ("symbolic link", …) or what happened.
        reason: String,
    },
    /// A hard link: the file has more than one name, so its content may be shared with a
    /// path outside the tree being read.
    #[error("{}: a hard link ({links} names for one file)", path.display())]
    HardLink {
        /// The file.
        path: PathBuf,
        /// Its link count.
        links: u64,
    },
    /// Larger than the limit, when opened (`grew: false`) or while being read
    /// (`grew: true`).
    #[error("{}: {}", path.display(), if *grew { format!("grew over the {max}-byte limit while being read") } else { format!("{len} bytes, over the {max}-byte limit") })]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size when opened, in bytes.
        len: u64,
        /// The limit, in bytes.
        max: u64,
        /// It was within the limit when opened and grew while being read.
        grew: bool,
    },
    /// Any other I/O error.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

impl ReadError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ReadError::NotFound { path }
            | ReadError::NotRegular { path, .. }
            | ReadError::HardLink { path, .. }
            | ReadError::TooLarge { path, .. }
            | ReadError::Io { path, .. } => path,
        }
    }
}

/// Reads all of `path`, at most `max` bytes, the way every reader of a drive or a
/// user-supplied file must: through [`open_regular`] (no symbolic link, FIFO or device),
/// refusing a hard link (`st_nlink > 1`), a file over `max` bytes when opened, and one
/// that grows over `max` while being read (only `max + 1` bytes are ever read).
///
/// Errors: [`ReadError`], naming the path.
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    let (file, meta) = open_regular(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ReadError::NotFound {
            path: path.to_path_buf(),
        },
        io::ErrorKind::InvalidInput => ReadError::NotRegular {
            path: path.to_path_buf(),
            reason: e.to_string(),
        },
        _ => ReadError::Io {
            path: path.to_path_buf(),
            source: e,
        },
    })?;
    if meta.nlink() > 1 {
        return Err(ReadError::HardLink {
            path: path.to_path_buf(),
            links: meta.nlink(),
        });
    }
    if meta.len() > max {
        return Err(ReadError::TooLarge {
            path: path.to_path_buf(),
            len: meta.len(),
            max,
            grew: false,
        });
    }
    let mut buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if buf.len() as u64 > max {
        return Err(ReadError::TooLarge {
            path: path.to_path_buf(),
            len: meta.len(),
            max,
            grew: true,
        });
    }
    Ok(buf)
}

/// Replaces `path` with `bytes` atomically and durably: a new temporary file in the same
/// directory (`.<name>.tmp.<pid>.<n>`, created exclusively with `mode`, so an existing
/// file's permissions are never reused), written and fsynced, renamed over `path`, then
/// the directory fsynced. A crash leaves the old file or the new one, never a mix; a
/// failed write removes the temporary file.
///
/// Errors: `InvalidInput` when `path` has no file name or parent; I/O errors as they come
/// (the message of each names the file it is about).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let (Some(name), Some(dir)) = (path.file_name(), path.parent()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a file path", path.display()),
        ));
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp.{}.{n}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let at = |p: &Path, e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", p.display()));
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(at(&tmp, e));
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(at(path, e));
    }
    sync_dir(dir).map_err(|e| at(dir, e))
}

/// Removes the temporary files an interrupted [`write_atomic`] of `dir/<name>` left
/// behind (`.<name>.tmp.<pid>.<n>`), for each of `names`: a kill between the temporary
/// file's creation and its rename leaves one. A rerun that writes the same files calls
/// this first, so that the directory ends as an uninterrupted run leaves it. Other names,
/// `.<name>.tmp.` followed by anything but two decimal numbers included, are left alone.
/// Returns the number of files removed.
///
/// Errors: I/O errors (a missing `dir` is not one: nothing to remove).
pub fn remove_atomic_leftovers(dir: &Path, names: &[&str]) -> io::Result<usize> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", dir.display()))),
    };
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mut removed = 0;
    for entry in rd {
        let entry = entry?;
        let Some(file) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let leftover = names.iter().any(|name| {
            file.strip_prefix('.')
                .and_then(|f| f.strip_prefix(name))
                .and_then(|f| f.strip_prefix(".tmp."))
                .and_then(|f| f.split_once('.'))
                .is_some_and(|(pid, n)| numeric(pid) && numeric(n))
        });
        if leftover && entry.file_type()?.is_file() {
            match fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("{}: {e}", entry.path().display()),
                    ));
                }
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn remove_atomic_leftovers_takes_only_what_write_atomic_left() {
        let d = tempfile::tempdir().unwrap();
        let p = |n: &str| d.path().join(n);
        for n in [
            ".media.json.tmp.123.0",
            ".manifest.json.tmp.9.17",
            ".media.json.tmp.x.0",
            ".media.json.tmp.12",
            ".other.json.tmp.1.2",
            "media.json",
        ] {
            fs::write(p(n), b"").unwrap();
        }
        let n = remove_atomic_leftovers(d.path(), &["media.json", "manifest.json"]).unwrap();
        assert_eq!(n, 2);
        let mut left: Vec<String> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                ".media.json.tmp.12",
                ".media.json.tmp.x.0",
                ".other.json.tmp.1.2",
                "media.json"
            ]
        );
        assert_eq!(
            remove_atomic_leftovers(&p("none"), &["media.json"]).unwrap(),
            0
        );
    }

    #[test]
    fn read_bounded_refuses_links_hard_links_and_oversize() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        fs::write(&f, b"12345").unwrap();
        assert_eq!(read_bounded(&f, 5).unwrap(), b"12345");
        assert!(matches!(
            read_bounded(&f, 4),
            Err(ReadError::TooLarge {
                len: 5,
                max: 4,
                grew: false,
                ..
            })
        ));
        let l = d.path().join("l");
        std::os::unix::fs::symlink(&f, &l).unwrap();
        let e = read_bounded(&l, 10).unwrap_err();
        assert!(matches!(e, ReadError::NotRegular { .. }), "{e}");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let h = d.path().join("h");
        fs::hard_link(&f, &h).unwrap();
        let e = read_bounded(&h, 10).unwrap_err();
        assert!(matches!(e, ReadError::HardLink { links: 2, .. }), "{e}");
        assert!(matches!(
            read_bounded(&d.path().join("none"), 10),
            Err(ReadError::NotFound { .. })
        ));
        assert!(matches!(
            read_bounded(d.path(), 10),
            Err(ReadError::NotRegular { .. })
        ));
    }

    #[test]
    fn write_atomic_replaces_with_the_given_mode_and_leaves_no_temp_file() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("state.json");
        fs::write(&f, b"old").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o666)).unwrap();
        write_atomic(&f, b"new", 0o600).unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"new");
        assert_eq!(
            fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
        let e = write_atomic(&d.path().join("missing/x"), b"", 0o600).unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
    }
}
