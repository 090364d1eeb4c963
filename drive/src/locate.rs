//! Finding the snapshots on a drive (docs/media-format.md §Layout):
//! `DRIVE/snapshots/<channel>/<sequence>/`, every directory on the way a real directory.
//!
//! One lister for every reader: a symbolic link, device, FIFO or file where a directory is
//! expected under `DRIVE/snapshots/` refuses the drive ([`LocateError::Unsafe`]) rather than
//! being skipped, so `mirror-sync verify` and `mirror-server import` see the same drive.
//! Names that are not `<channel>/<sequence>` ([`SnapshotName::parse`]) are skipped.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use formats::snapshot::{SnapshotName, validate_channel};
use store::fsio::describe_type;

/// Why the snapshots on a drive could not be listed or the one wanted found. Each variant
/// names the path; the callers word the message for their users.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    /// The drive path does not exist, is not a directory, or cannot be read.
    #[error("drive {}: {problem}", drive.display())]
    DriveMissing {
        /// The path given.
        drive: PathBuf,
        /// `does not exist`, `is a file, not a directory`, or `cannot be read (<error>)`.
        problem: String,
    },
    /// No `snapshots/` directory, or none of the snapshot there (and none wanted).
    #[error("{}: no snapshot found", drive.display())]
    NoSnapshot {
        /// The drive root.
        drive: PathBuf,
    },
    /// Several snapshots and none chosen, or the chosen one is not there or not a name.
    #[error("{}: {problem}", drive.display())]
    Choose {
        /// The drive root.
        drive: PathBuf,
        /// What is wrong.
        problem: String,
        /// The snapshots on the drive, `<channel>/<sequence>`, sorted.
        candidates: Vec<String>,
    },
    /// Something other than a real directory where one was expected.
    #[error("{}: {reason}", path.display())]
    Unsafe {
        /// The offending path.
        path: PathBuf,
        /// What it is (`symbolic link where a directory was expected`).
        reason: String,
    },
    /// A directory could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> LocateError + '_ {
    move |source| LocateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Whether `path` is a real directory: `Ok(false)` when absent, an error when it is a link
/// or anything else.
///
/// Errors: [`LocateError::Unsafe`] (`<type> where a directory was expected`), or I/O.
pub fn real_dir(path: &Path) -> Result<bool, LocateError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_dir() => Ok(true),
        Ok(m) => Err(LocateError::Unsafe {
            path: path.to_path_buf(),
            reason: format!("{} where a directory was expected", describe_type(&m)),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_at(path)(e)),
    }
}

/// The snapshots on `drive`, sorted by channel then sequence.
///
/// Errors: [`LocateError::DriveMissing`] (the drive path is absent or not a directory),
/// [`LocateError::NoSnapshot`] (no `snapshots/` directory), [`LocateError::Unsafe`] (a
/// link or file where a directory is expected), I/O.
pub fn snapshots(drive: &Path) -> Result<Vec<SnapshotName>, LocateError> {
    match fs::metadata(drive) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(LocateError::DriveMissing {
                drive: drive.to_path_buf(),
                problem: "is a file, not a directory".into(),
            });
        }
        Err(e) => {
            return Err(LocateError::DriveMissing {
                drive: drive.to_path_buf(),
                problem: if e.kind() == io::ErrorKind::NotFound {
                    "does not exist".into()
                } else {
                    format!("cannot be read ({e})")
                },
            });
        }
    }
    let root = drive.join("snapshots");
    if !real_dir(&root)? {
        return Err(LocateError::NoSnapshot {
            drive: drive.to_path_buf(),
        });
    }
    let mut out = Vec::new();
    for ch in fs::read_dir(&root).map_err(io_at(&root))? {
        let ch = ch.map_err(io_at(&root))?;
        let ch_path = ch.path();
        let Some(channel) = ch.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !real_dir(&ch_path)? || validate_channel(&channel).is_err() {
            continue;
        }
        for seq in fs::read_dir(&ch_path).map_err(io_at(&ch_path))? {
            let seq = seq.map_err(io_at(&ch_path))?;
            let Some(s) = seq.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let Some(name) = SnapshotName::parse(&format!("{channel}/{s}")) else {
                continue;
            };
            if real_dir(&seq.path())? {
                out.push(name);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A snapshot directory found on a drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// Its name, from the directory names.
    pub name: SnapshotName,
    /// `DRIVE/snapshots/<channel>/<sequence>`.
    pub dir: PathBuf,
}

/// The snapshot `wanted` (`<channel>/<sequence>`) on `drive`, or the only one when `wanted`
/// is `None` ([`snapshots`] lists them).
///
/// Errors: those of [`snapshots`]; [`LocateError::NoSnapshot`] when the drive holds none
/// and none is wanted; [`LocateError::Choose`] when `wanted` is not a name
/// (`--snapshot "x" is not CHANNEL/SEQUENCE`), not on the drive (`snapshot x is not on the
/// drive`), or several are there and none is wanted (`the drive holds several snapshots`).
pub fn locate(drive: &Path, wanted: Option<&str>) -> Result<Located, LocateError> {
    let found = snapshots(drive)?;
    let candidates = || found.iter().map(ToString::to_string).collect::<Vec<_>>();
    let choose = |problem: String| LocateError::Choose {
        drive: drive.to_path_buf(),
        problem,
        candidates: candidates(),
    };
    let name = match wanted {
        Some(w) => {
            let Some(name) = SnapshotName::parse(w) else {
                return Err(choose(format!("--snapshot {w:?} is not CHANNEL/SEQUENCE")));
            };
            if !found.contains(&name) {
                return Err(choose(format!("snapshot {w} is not on the drive")));
            }
            name
        }
        None => match found.as_slice() {
            [] => {
                return Err(LocateError::NoSnapshot {
                    drive: drive.to_path_buf(),
                });
            }
            [one] => one.clone(),
            _ => return Err(choose("the drive holds several snapshots".into())),
        },
    };
    let dir = drive
        .join("snapshots")
        .join(&name.channel)
        .join(name.sequence.to_string());
    Ok(Located { name, dir })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_real_directories_and_refuses_links() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        assert!(matches!(
            snapshots(&d.join("absent")),
            Err(LocateError::DriveMissing { .. })
        ));
        assert!(matches!(snapshots(d), Err(LocateError::NoSnapshot { .. })));
        fs::create_dir_all(d.join("snapshots/b/2")).unwrap();
        fs::create_dir_all(d.join("snapshots/a/10")).unwrap();
        fs::create_dir_all(d.join("snapshots/a/01")).unwrap();
        let names: Vec<String> = snapshots(d)
            .unwrap()
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(names, ["a/10", "b/2"]);
        assert!(matches!(locate(d, None), Err(LocateError::Choose { .. })));
        let l = locate(d, Some("b/2")).unwrap();
        assert_eq!(l.dir, d.join("snapshots/b/2"));
        let e = locate(d, Some("b/3")).unwrap_err();
        assert!(
            e.to_string().contains("snapshot b/3 is not on the drive"),
            "{e}"
        );
        std::os::unix::fs::symlink(d.join("snapshots/b"), d.join("snapshots/c")).unwrap();
        let e = snapshots(d).unwrap_err();
        assert!(matches!(e, LocateError::Unsafe { .. }), "{e}");
        assert!(e.to_string().contains("symbolic link"), "{e}");
    }
}
