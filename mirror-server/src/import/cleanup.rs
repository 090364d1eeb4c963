//! What a refused import undoes: [`Cleanup`] removes the staging directory and, until the
//! snapshot is committed, every directory and file the run created in the store
//! ([`create_dir_tracked`] records them). Used by the copy (step 5) and commit (steps 4,
//! 8) steps.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::error::{ImportError, io_at};

/// Undoes what a failed import created in the store. Disarmed on success.
pub(super) struct Cleanup {
    /// The staging directory, removed on drop.
    pub staging: Option<PathBuf>,
    /// Directories and files this run created, in creation order.
    pub created: Vec<PathBuf>,
    /// Whether `created` is removed on drop (until the snapshot is committed).
    pub armed: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(s) = &self.staging {
            let _ = fs::remove_dir_all(s);
        }
        if self.armed {
            for p in self.created.iter().rev() {
                match fs::symlink_metadata(p) {
                    Ok(m) if m.is_dir() => {
                        let _ = fs::remove_dir_all(p);
                    }
                    Ok(_) => {
                        let _ = fs::remove_file(p);
                    }
                    Err(_) => {}
                }
            }
        }
    }
}

pub(super) fn create_dir_tracked(
    path: &Path,
    created: &mut Vec<PathBuf>,
) -> Result<(), ImportError> {
    if fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        return Ok(());
    }
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        create_dir_tracked(parent, created)?;
    }
    match fs::create_dir(path) {
        Ok(()) => {
            created.push(path.to_path_buf());
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_at(path)(e)),
    }
}
