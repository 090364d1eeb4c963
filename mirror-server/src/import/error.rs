//! [`ImportError`], every refusal of an import with its message, and the mapping of the
//! [`drive`] crate's precise errors (path + reason) onto it: the drive is read and
//! checked by the one reader that `mirror-sync verify` uses too, while the importer keeps
//! its own wording.

use std::io;
use std::path::{Path, PathBuf};

use drive::{FileError, LocateError, MediaError};
use formats::digest::Digest;
use formats::snapshot::MANIFEST_FILE;
use store::CasError;
use store::fsio::ReadError;

use crate::preflight::Prerequisite;

/// Why an import was refused. Every message names the file involved and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A symbolic link, device, FIFO or other non-regular file where a file or directory
    /// was expected on the drive.
    #[error(
        "{}: {reason}; refusing the drive (it must hold only regular files and directories, no symbolic links)",
        path.display()
    )]
    UnsafeDrive {
        /// The offending path.
        path: PathBuf,
        /// What it is.
        reason: String,
    },
    /// The drive path does not exist, or is not a directory.
    #[error(
        "drive {}: {problem}; name the drive's mount point, the directory that holds snapshots/ and blobs/ (is the drive mounted? `findmnt`, `lsblk`)",
        drive.display()
    )]
    DriveNotFound {
        /// The path given.
        drive: PathBuf,
        /// `does not exist`, `is a file, not a directory`, or the error reading it.
        problem: String,
    },
    /// No snapshot directory on the drive.
    #[error(
        "{}: no snapshot found (expected snapshots/<channel>/<sequence>/{MANIFEST_FILE}); is this a snapshot drive?",
        drive.display()
    )]
    NoSnapshot {
        /// The drive root.
        drive: PathBuf,
    },
    /// Several snapshots and no `--snapshot`, or `--snapshot` names one that is not there.
    #[error(
        "{}: {problem}; snapshots on the drive: {}; choose one with --snapshot CHANNEL/SEQ",
        drive.display(), candidates.join(", ")
    )]
    ChooseSnapshot {
        /// The drive root.
        drive: PathBuf,
        /// What is wrong.
        problem: String,
        /// The snapshots found.
        candidates: Vec<String>,
    },
    /// A manifest or signature file that cannot be used (too large, wrong length).
    #[error("{}: {reason}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A manifest version this program does not know.
    #[error(
        "{}: unknown manifest version {found} (this mirror-server reads version {}); import it with a newer mirror-server",
        path.display(), formats::snapshot::MANIFEST_VERSION
    )]
    UnknownVersion {
        /// The manifest file.
        path: PathBuf,
        /// The version found.
        found: u64,
    },
    /// The signature file is malformed.
    #[error("{}: {reason}; the drive is damaged or was not written by mirror-sync export", path.display())]
    BadSignature {
        /// The signature file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No trusted key verifies the signature over the manifest bytes.
    #[error(
        "{}: not signed by any trusted key in {} (trusted: {}); the manifest was modified or signed by another key — add the signer's public key to {} only if you trust it",
        path.display(), dir.display(), trusted.join(", "), dir.display()
    )]
    Untrusted {
        /// The manifest file.
        path: PathBuf,
        /// The trusted-keys directory.
        dir: PathBuf,
        /// Key ids in that directory.
        trusted: Vec<String>,
    },
    /// The trusted-keys directory cannot be loaded.
    #[error("trusted keys: {0}")]
    TrustedKeys(#[source] keys::KeyError),
    /// Trust anchors or free space the import needs are missing, found before anything was
    /// copied (module docs, step 3b; [`crate::preflight`]). Lists every unmet one, each with
    /// its fix.
    #[error(
        "import refused before copying anything: {} prerequisite(s) not met: {}; the store is unchanged",
        unmet.len(),
        unmet.iter().enumerate().map(|(i, p)| format!("({}) {p}", i + 1)).collect::<Vec<_>>().join(" ")
    )]
    Prerequisites {
        /// The unmet prerequisites, the manifest signature first if it failed.
        unmet: Vec<Prerequisite>,
    },
    /// A signed manifest that breaks a rule (or sits in the wrong directory).
    #[error("{}: {reason}", path.display())]
    InvalidManifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The snapshot is not newer than the live one on its channel.
    #[error(
        "snapshot {name} is not newer than {live}, the live snapshot on channel {channel}: refusing a rollback (to roll back on purpose, rerun with --allow-downgrade; it is recorded in the store's audit log)"
    )]
    Rollback {
        /// The snapshot on the drive.
        name: String,
        /// The live snapshot.
        live: String,
        /// The channel.
        channel: String,
    },
    /// The snapshot is already imported and live.
    #[error(
        "snapshot {name} is already imported and live; nothing to do (rerun with --allow-downgrade to import it again)"
    )]
    AlreadyImported {
        /// The snapshot.
        name: String,
    },
    /// A delta or catch-up drive leaves out blobs this store does not hold.
    #[error(
        "{snapshot}: the drive leaves out {count} blob(s) ({bytes} bytes) that this store does not hold{}; held here: {}. Missing: {}. Import the base snapshot first, or ask for a full drive or one cut from this site's receipt (`mirror-server receipt`); the store is unchanged",
        base.as_ref().map(|b| format!(" (it was cut against {b})")).unwrap_or_default(),
        if held.is_empty() { "nothing".to_owned() } else { held.join(", ") },
        missing.join(", ")
    )]
    MissingBase {
        /// The snapshot on the drive.
        snapshot: String,
        /// The base snapshot, or the receipt, the drive was cut against.
        base: Option<String>,
        /// Snapshots this store holds.
        held: Vec<String>,
        /// How many blobs are missing.
        count: usize,
        /// Their bytes.
        bytes: u64,
        /// The first missing ones, as `artifact path (digest)`.
        missing: Vec<String>,
    },
    /// A multi-volume snapshot and not every volume was given yet.
    #[error(
        "{snapshot} spans {volumes} volumes: this run read volume(s) {}; verified so far: volume(s) {}; still needed: volume(s) {}. Insert the next volume and run the import again (verified work is kept); the live snapshot is unchanged",
        given.iter().map(u32::to_string).collect::<Vec<_>>().join(", "),
        done.iter().map(u32::to_string).collect::<Vec<_>>().join(", "),
        needed.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
    )]
    VolumesNeeded {
        /// The snapshot.
        snapshot: String,
        /// Volumes it spans.
        volumes: u32,
        /// Volumes given to this run.
        given: Vec<u32>,
        /// Volumes whose every file is now verified (this run or an earlier one).
        done: Vec<u32>,
        /// Volumes still needed.
        needed: Vec<u32>,
    },
    /// A blob the manifest lists is not on the drive.
    #[error(
        "{}: missing blob for {artifacts}; the drive is incomplete (a delta drive needs its base snapshot imported first)",
        file.display()
    )]
    MissingBlob {
        /// The blob file expected on the drive.
        file: PathBuf,
        /// The artifact path(s) that use it.
        artifacts: String,
    },
    /// A blob on the drive has the wrong size.
    #[error(
        "{}: size {actual} but manifest says {expected} for {artifacts}; the drive is damaged or was modified",
        file.display()
    )]
    BlobSize {
        /// The blob file on the drive.
        file: PathBuf,
        /// The artifact path(s) that use it.
        artifacts: String,
        /// Size from the manifest.
        expected: u64,
        /// Size of the file.
        actual: u64,
    },
    /// A blob's content does not hash to its digest.
    #[error(
        "{}: content has {actual}, manifest says {expected} for {artifacts}; the drive is damaged or was modified",
        file.display()
    )]
    BlobMismatch {
        /// The blob file on the drive.
        file: PathBuf,
        /// The artifact path(s) that use it.
        artifacts: String,
        /// Digest from the manifest.
        expected: Digest,
        /// Digest of the content.
        actual: String,
    },
    /// The `--policy` file cannot be read, parsed, or its keys loaded.
    #[error(
        "{}: {reason}; expected a TOML [verify] table, e.g. \"nvcr.io/nvidia/*\" = {{ keys = [\"nvidia-cosign.pub\"], required = true }}",
        path.display()
    )]
    PolicyFile {
        /// The policy file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An OCI image the policy requires signed has no cosign signature that verifies.
    #[error(
        "{0}; refusing the snapshot (the store is unchanged): import a snapshot whose images are signed with a key of this rule, or change the policy"
    )]
    Unsigned(#[source] keys::cosign::PolicyError),
    /// The snapshot's SBOM is missing, malformed, or does not describe exactly the
    /// snapshot's artifacts.
    #[error("{path}: {reason}; refusing the snapshot (the store is unchanged)")]
    Sbom {
        /// The SBOM's logical path (`sbom/cyclonedx.json`, `sbom/spdx.json`).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// An `osv` artifact (offline vulnerability data) is not a readable OSV export, names
    /// an ecosystem the server does not match, or lies at the wrong path.
    #[error(
        "{path}: not acceptable OSV vulnerability data: {reason}; refusing the snapshot (the store is unchanged); re-sync the [[osv]] upstream on the build host and export again"
    )]
    Osv {
        /// The artifact's logical path (`osv/<upstream>/<ecosystem>/all.zip`).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Upstream provenance failed (an upstream signature, index or `.deb`).
    #[error("{0}; refusing the snapshot (the store is unchanged)")]
    Provenance(#[source] crate::provenance::ProvenanceError),
    /// The store's index failed.
    #[error("{0}")]
    Index(#[from] store::IndexError),
    /// A file-system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

impl From<crate::lifecycle::StoreIoError> for ImportError {
    fn from(e: crate::lifecycle::StoreIoError) -> Self {
        ImportError::Io {
            path: e.path,
            source: e.source,
        }
    }
}

pub(super) fn io_at(path: &Path) -> impl FnOnce(io::Error) -> ImportError + '_ {
    move |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(super) fn cas_err(e: CasError) -> ImportError {
    match e {
        CasError::Io { path, source } => ImportError::Io { path, source },
        other => ImportError::Io {
            path: PathBuf::new(),
            source: io::Error::other(other.to_string()),
        },
    }
}

/// Refusal text for a drive file with more than one name (a hard link could alias a file
/// outside the drive's blobs, or one blob under two digests).
fn hard_link(path: PathBuf, links: u64) -> ImportError {
    ImportError::UnsafeDrive {
        path,
        reason: format!("a hard link ({links} names for one file)"),
    }
}

/// A manifest, signature or media file the drive reader refused; `what` names it in the
/// message (`manifest`, `signature`, `media description`, `media signature`).
pub(super) fn read_err(e: ReadError, what: &str) -> ImportError {
    match e {
        ReadError::NotFound { path } => ImportError::BadFile {
            path,
            reason: format!("{what} not found; the snapshot directory is incomplete"),
        },
        ReadError::NotRegular { path, reason } => ImportError::UnsafeDrive { path, reason },
        ReadError::HardLink { path, links } => hard_link(path, links),
        ReadError::TooLarge {
            path,
            len,
            max,
            grew: false,
        } => ImportError::BadFile {
            path,
            reason: format!("{what} is {len} bytes, over the {max}-byte limit"),
        },
        ReadError::TooLarge { path, max, .. } => ImportError::BadFile {
            path,
            reason: format!("{what} grew over the {max}-byte limit while being read"),
        },
        ReadError::Io { path, source } => ImportError::Io { path, source },
    }
}

/// A snapshot the drive reader could not locate.
pub(super) fn locate_err(e: LocateError) -> ImportError {
    match e {
        LocateError::DriveMissing { drive, problem } => {
            ImportError::DriveNotFound { drive, problem }
        }
        LocateError::NoSnapshot { drive } => ImportError::NoSnapshot { drive },
        LocateError::Choose {
            drive,
            problem,
            candidates,
        } => ImportError::ChooseSnapshot {
            drive,
            problem,
            candidates,
        },
        LocateError::Unsafe { path, reason } => ImportError::UnsafeDrive { path, reason },
        LocateError::Io { path, source } => ImportError::Io { path, source },
    }
}

/// A media description the drive reader refused.
pub(super) fn media_err(e: MediaError) -> ImportError {
    match e {
        MediaError::Read(e) => read_err(e, "media description"),
        MediaError::SignatureRead(e) => read_err(e, "media signature"),
        MediaError::Signature { path } => ImportError::BadSignature {
            path,
            reason: "the media description's signature does not verify with a trusted key; the drive was modified".into(),
        },
        MediaError::Invalid { path, reason } => ImportError::BadFile { path, reason },
        MediaError::Io { path, source } => ImportError::Io { path, source },
    }
}

/// A blob or part file the drive reader refused; `paths` are the artifacts using it.
pub(super) fn file_err(e: FileError, paths: &[String]) -> ImportError {
    match e {
        FileError::Missing { path } => ImportError::MissingBlob {
            file: path,
            artifacts: describe_users(paths),
        },
        FileError::Unsafe { path, reason } => ImportError::UnsafeDrive { path, reason },
        FileError::HardLink { path, links } => hard_link(path, links),
        FileError::Size {
            path,
            expected,
            actual,
        } => ImportError::BlobSize {
            file: path,
            artifacts: describe_users(paths),
            expected,
            actual,
        },
        FileError::Io { path, source } => ImportError::Io { path, source },
    }
}

/// Artifact paths using a blob, for messages: `"a"` or `"a (and 2 more)"`.
pub(super) fn describe_users(paths: &[String]) -> String {
    match paths {
        [] => "no artifact".into(),
        [one] => format!("artifact {one}"),
        [first, rest @ ..] => format!("artifact {first} (and {} more)", rest.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_described() {
        assert_eq!(describe_users(&["a".into()]), "artifact a");
        assert_eq!(
            describe_users(&["a".into(), "b".into(), "c".into()]),
            "artifact a (and 2 more)"
        );
    }
}
