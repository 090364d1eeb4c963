//! The plan's view of the drive's filesystem: what it is (FAT12/16/32, exFAT, other), the
//! file size limit it imposes (FAT: 4 GiB − 1, [`media::FAT32_MAX_FILE_SIZE`]), its
//! allocation unit, and fsyncing a directory so renames in it are durable
//! ([`store::fsio::sync_dir`]).

use std::path::Path;

use anyhow::Context;
use formats::media;

/// What the filesystem under a drive path is, as far as export cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filesystem {
    /// FAT12/16/32 (`vfat`, `msdos`): files of at most 4 GiB − 1, few files per directory.
    Fat,
    /// exFAT: no practical file size limit.
    ExFat,
    /// Anything else.
    Other,
    /// Not detected (the path and its parents could not be examined).
    Unknown,
}

impl Filesystem {
    /// The file size limit it imposes, if any.
    pub fn max_file_size(self) -> Option<u64> {
        (self == Filesystem::Fat).then_some(media::FAT32_MAX_FILE_SIZE)
    }

    /// True for FAT12/16/32.
    pub fn is_fat(self) -> bool {
        self == Filesystem::Fat
    }

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Filesystem::Fat => "fat",
            Filesystem::ExFat => "exfat",
            Filesystem::Other => "other",
            Filesystem::Unknown => "unknown",
        }
    }
}

/// The filesystem's allocation unit under a drive path (`statfs(2)` `f_bsize`), 4096 when
/// it cannot be read.
pub fn allocation_unit(path: &Path) -> u64 {
    statfs_nearest(path)
        .map(|s| s.f_bsize as u64)
        .filter(|b| *b > 0)
        .unwrap_or(4096)
}

/// Detects the filesystem a drive path lies on (`statfs(2)` magic numbers from
/// `linux/magic.h`: `MSDOS_SUPER_MAGIC` 0x4d44, exFAT 0x2011BAB0), looking at the nearest
/// existing ancestor when the path does not exist yet.
pub fn detect_filesystem(path: &Path) -> Filesystem {
    const MSDOS_SUPER_MAGIC: u64 = 0x4d44;
    const EXFAT_SUPER_MAGIC: u64 = 0x2011_BAB0;
    match statfs_nearest(path) {
        #[allow(clippy::unnecessary_cast)]
        Some(s) => match s.f_type as u64 {
            MSDOS_SUPER_MAGIC => Filesystem::Fat,
            EXFAT_SUPER_MAGIC => Filesystem::ExFat,
            _ => Filesystem::Other,
        },
        None => Filesystem::Unknown,
    }
}

/// `statfs(2)` of the nearest existing ancestor of `path` (a drive directory may not
/// exist yet), `None` when there is none or the call fails.
fn statfs_nearest(path: &Path) -> Option<rustix::fs::StatFs> {
    path.ancestors()
        .find(|p| p.exists())
        .and_then(|p| rustix::fs::statfs(p).ok())
}

/// Fsyncs `dir` ([`store::fsio::sync_dir`]), naming it in the error.
pub(super) fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    store::fsio::sync_dir(dir).with_context(|| format!("fsync {}", dir.display()))
}
