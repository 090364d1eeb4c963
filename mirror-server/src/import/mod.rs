//! `mirror-server import`: verify a snapshot drive and ingest it into the store, all or
//! nothing.
//!
//! Drive layout (docs/media-format.md; written by `mirror-sync export`):
//!
//! ```text
//! DRIVE/blobs/sha256/<hex>                               every artifact once
//! DRIVE/snapshots/<channel>/<sequence>/manifest.json     the manifest (exact signed bytes)
//! DRIVE/snapshots/<channel>/<sequence>/manifest.json.sig 64-byte ed25519 signature
//! DRIVE/snapshots/<channel>/<sequence>/signer.pub        informational only
//! ```
//!
//! Steps, in order (nothing the server serves changes before step 8):
//!
//! 1. locate the snapshot directory (exactly one, or the one `--snapshot` names);
//! 2. read `manifest.json` (size-limited) and `manifest.json.sig` (exactly 64 bytes);
//! 3. refuse an unknown `manifest_version`, then verify the signature over the exact bytes
//!    against the trusted-keys directory, then validate the manifest fully (safe, unique
//!    paths; duplicate JSON keys refused);
//!    3b. the prerequisites ([`crate::preflight`]), before the store is touched or a blob
//!    read: the trusted-keys directory loads and verifies the signature, every upstream
//!    keyring the APT sources need is installed and holds a key that signed that upstream
//!    at sync time, every `--policy` cosign key loads, and the store's filesystem has room
//!    for the blobs the store lacks. All unmet ones are refused together
//!    ([`ImportError::Prerequisites`], each with its fix); a failed signature alone stays
//!    [`ImportError::Untrusted`];
//! 4. take the store lock ([`crate::lifecycle::lock_store`]), sweep staging left by a killed
//!    import, and apply anti-rollback: refuse a sequence not newer than the live one on the
//!    channel (or the live snapshot itself) unless `--allow-downgrade` (audited as forced);
//! 5. stat every blob the store lacks on the drive (regular file, one link, declared size),
//!    then copy and hash them in parallel into a staging store under
//!    `STORE/tmp/import-<pid>-<nanos>`;
//! 6. the SBOMs (`check_sboms`): both documents present, parsed, and their components
//!    one-to-one with the snapshot's package and image artifacts;
//! 7. upstream provenance ([`crate::provenance::check_apt`]): every upstream APT
//!    `InRelease` verifies against the keyring the snapshot names, installed in
//!    `TRUSTED_KEYS/upstream/`; every `.deb` is listed in the upstream-signed `Packages`;
//!    then, with `--policy FILE`, the cosign signature policy over the OCI images
//!    ([`check_oci_policy`]);
//! 8. commit: move staged blobs (and the manifest and signature blobs) into the store, record
//!    the snapshot and make it live in one redb transaction, bump `STORE/current.gen` so
//!    running servers switch, append a hash-chained record to `STORE/audit.log`.
//!
//! A refusal appends an `import-refused` record (with the reason) to the store's audit log
//! and changes nothing else, also in an existing directory that held no store yet (see
//! [`import`]); a store directory the import had to create is removed again.
//!
//! On any refusal the staging store is removed, as is anything this run created (when the
//! store did not exist before, the whole store directory). A failure after blobs were moved
//! in (index commit failing) can leave verified but unreferenced blobs in an existing store;
//! the previous snapshot keeps serving.
//!
//! Drive files are opened with [`store::cas::open_regular`] (lstat, open, compare device and
//! inode with fstat) rather than `O_NOFOLLOW`, whose value differs between architectures;
//! every directory on the way is checked with `symlink_metadata` as well. Symbolic links,
//! devices and FIFOs on the drive are refused.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use formats::digest::Digest;
use formats::media::{self, BlobLayout, MEDIA_FILE, MEDIA_SIGNATURE_FILE, Media};
use formats::snapshot::SnapshotName;
use formats::snapshot::{
    MANIFEST_FILE, MAX_MANIFEST_BYTES, Manifest, ManifestError, SIGNATURE_FILE, validate_channel,
};
use keys::snapshot::TrustedKeys;
use serde::Serialize;
use store::cas::{describe_type, open_regular};
use store::{Cas, CasError, Expected, Index, SnapshotRecord};

use crate::live::INDEX_FILE;
use crate::preflight::{self, Prerequisite};

/// File name of the append-only audit log inside a store (JSON lines, hash-chained).
pub const AUDIT_LOG: &str = crate::audit::AUDIT_LOG;

/// Length of an ed25519 signature in bytes (RFC 8032 §5.1.6).
const SIGNATURE_LEN: usize = 64;

/// Copy buffer for blobs (1 MiB).
const COPY_BUF: usize = 1024 * 1024;

/// What to import and how.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Root of the snapshot drive.
    pub drive: PathBuf,
    /// The server's store directory (created on the first successful import).
    pub store: PathBuf,
    /// Directory of trusted ed25519 public keys (`*.pub`/`*.pem`, SPKI PEM).
    pub trusted_keys: PathBuf,
    /// `<channel>/<sequence>` to import when the drive holds several snapshots.
    pub snapshot: Option<String>,
    /// Accept a snapshot that is not newer than the live one (recorded in the audit log).
    pub allow_downgrade: bool,
    /// Show progress (bytes) on stderr: a bar on a terminal, plain periodic lines
    /// otherwise ([`crate::progress::byte_bar`]).
    pub progress: bool,
    /// Cosign signature policy file (`--policy`, see [`load_policy`]); `None`: no OCI
    /// signature check beyond the snapshot signature.
    pub policy: Option<PathBuf>,
    /// Further volumes of the same snapshot (any order; `drive` is one of them too).
    pub volumes: Vec<PathBuf>,
}

/// What an import did; printed as text or (`--json`) as one JSON object.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ImportSummary {
    /// `<channel>/<sequence>`.
    pub snapshot: String,
    /// The channel.
    pub channel: String,
    /// The sequence number.
    pub sequence: u64,
    /// Key id of the trusted key that verified the signature.
    pub signer: String,
    /// File name of that key in the trusted-keys directory.
    pub signer_key_file: String,
    /// Number of artifacts in the manifest.
    pub artifacts: u64,
    /// Number of distinct blobs the manifest references.
    pub blobs: u64,
    /// Blobs copied from the drive.
    pub blobs_copied: u64,
    /// Blobs the store already held.
    pub blobs_present: u64,
    /// Blobs verified by an earlier, interrupted run of this import (not read again).
    pub blobs_resumed: u64,
    /// Blobs reassembled from parts.
    pub blobs_joined: u64,
    /// Volumes this run read (1 for a single drive).
    pub volumes_read: Vec<u32>,
    /// Bytes copied from the drive.
    pub bytes_copied: u64,
    /// Wall-clock time of the import, in seconds.
    pub elapsed_secs: f64,
    /// `bytes_copied / elapsed_secs`, in bytes per second.
    pub throughput_bytes_per_sec: f64,
    /// The snapshot that was live on the channel before, if any.
    pub previous_live: Option<String>,
    /// True when `--allow-downgrade` was needed to accept this snapshot.
    pub forced: bool,
    /// The new value of `STORE/current.gen`.
    pub generation: u64,
    /// What the upstream provenance check covered.
    pub provenance: crate::provenance::ProvenanceReport,
}

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

/// Refuses a drive file with more than one name (a hard link could alias a file outside
/// the drive's blobs, or one blob under two digests).
fn refuse_hard_link(path: &Path, meta: &fs::Metadata) -> Result<(), ImportError> {
    if meta.nlink() > 1 {
        return Err(ImportError::UnsafeDrive {
            path: path.to_path_buf(),
            reason: format!("a hard link ({} names for one file)", meta.nlink()),
        });
    }
    Ok(())
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> ImportError + '_ {
    move |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn cas_err(e: CasError) -> ImportError {
    match e {
        CasError::Io { path, source } => ImportError::Io { path, source },
        other => ImportError::Io {
            path: PathBuf::new(),
            source: io::Error::other(other.to_string()),
        },
    }
}

/// Checks that `path` is a real directory (not a link to one).
fn real_dir(path: &Path) -> Result<bool, ImportError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_dir() => Ok(true),
        Ok(m) => Err(ImportError::UnsafeDrive {
            path: path.to_path_buf(),
            reason: format!("{} where a directory was expected", describe_type(&m)),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_at(path)(e)),
    }
}

/// Opens a regular file on the drive and reads at most `max + 1` bytes.
fn read_drive_file(path: &Path, max: u64, what: &str) -> Result<Vec<u8>, ImportError> {
    let (file, meta) = open_regular(path).map_err(|e| drive_open_err(path, e, what))?;
    refuse_hard_link(path, &meta)?;
    if meta.len() > max {
        return Err(ImportError::BadFile {
            path: path.to_path_buf(),
            reason: format!("{what} is {} bytes, over the {max}-byte limit", meta.len()),
        });
    }
    let mut buf = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(io_at(path))?;
    if buf.len() as u64 > max {
        return Err(ImportError::BadFile {
            path: path.to_path_buf(),
            reason: format!("{what} grew over the {max}-byte limit while being read"),
        });
    }
    Ok(buf)
}

fn drive_open_err(path: &Path, e: io::Error, what: &str) -> ImportError {
    match e.kind() {
        io::ErrorKind::NotFound => ImportError::BadFile {
            path: path.to_path_buf(),
            reason: format!("{what} not found; the snapshot directory is incomplete"),
        },
        io::ErrorKind::InvalidInput => ImportError::UnsafeDrive {
            path: path.to_path_buf(),
            reason: e.to_string(),
        },
        _ => io_at(path)(e),
    }
}

/// Lists `snapshots/<channel>/<sequence>` directories on the drive (sorted), refusing links.
fn list_snapshots(drive: &Path) -> Result<Vec<(String, u64)>, ImportError> {
    match fs::metadata(drive) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(ImportError::DriveNotFound {
                drive: drive.to_path_buf(),
                problem: "is a file, not a directory".into(),
            });
        }
        Err(e) => {
            return Err(ImportError::DriveNotFound {
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
        return Err(ImportError::NoSnapshot {
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
            let Some(SnapshotName { sequence: n, .. }) =
                SnapshotName::parse(&format!("{channel}/{s}"))
            else {
                continue;
            };
            if real_dir(&seq.path())? {
                out.push((channel.clone(), n));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn locate(drive: &Path, wanted: Option<&str>) -> Result<(String, u64, PathBuf), ImportError> {
    let found = list_snapshots(drive)?;
    let names: Vec<String> = found.iter().map(|(c, s)| format!("{c}/{s}")).collect();
    let (channel, seq) = match wanted {
        Some(w) => {
            let Some(SnapshotName {
                channel: c,
                sequence: s,
            }) = SnapshotName::parse(w)
            else {
                return Err(ImportError::ChooseSnapshot {
                    drive: drive.to_path_buf(),
                    problem: format!("--snapshot {w:?} is not CHANNEL/SEQUENCE"),
                    candidates: names,
                });
            };
            if !found.contains(&(c.clone(), s)) {
                return Err(ImportError::ChooseSnapshot {
                    drive: drive.to_path_buf(),
                    problem: format!("snapshot {w} is not on the drive"),
                    candidates: names,
                });
            }
            (c, s)
        }
        None => match found.as_slice() {
            [] => {
                return Err(ImportError::NoSnapshot {
                    drive: drive.to_path_buf(),
                });
            }
            [one] => one.clone(),
            _ => {
                return Err(ImportError::ChooseSnapshot {
                    drive: drive.to_path_buf(),
                    problem: "the drive holds several snapshots".into(),
                    candidates: names,
                });
            }
        },
    };
    let dir = drive.join("snapshots").join(&channel).join(seq.to_string());
    Ok((channel, seq, dir))
}

/// Artifact paths using a blob, for messages: `"a"` or `"a (and 2 more)"`.
fn describe_users(paths: &[String]) -> String {
    match paths {
        [] => "no artifact".into(),
        [one] => format!("artifact {one}"),
        [first, rest @ ..] => format!("artifact {first} (and {} more)", rest.len()),
    }
}

/// Undoes what a failed import created in the store. Disarmed on success.
struct Cleanup {
    staging: Option<PathBuf>,
    /// Directories and files this run created, in creation order.
    created: Vec<PathBuf>,
    armed: bool,
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

fn create_dir_tracked(path: &Path, created: &mut Vec<PathBuf>) -> Result<(), ImportError> {
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

/// Prefix of the resumable staging directories under `STORE/tmp`
/// (`resume-<manifest hex>`); see [`crate::lifecycle::RESUME_PREFIX`].
const RESUME_PREFIX: &str = crate::lifecycle::RESUME_PREFIX;

/// Reads and checks a snapshot directory's media description, if it has one: the
/// signature (a trusted key), the rules ([`Media::from_slice`]), and that it describes this
/// manifest (`manifest_digest`) and snapshot (`name`).
fn read_media(
    snap_dir: &Path,
    trusted: &TrustedKeys,
    manifest_digest: &Digest,
    name: &str,
) -> Result<Option<Media>, ImportError> {
    let path = snap_dir.join(MEDIA_FILE);
    match fs::symlink_metadata(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_at(&path)(e)),
        Ok(_) => {}
    }
    let bytes = read_drive_file(&path, media::MAX_MEDIA_BYTES, "media description")?;
    let sig_path = snap_dir.join(MEDIA_SIGNATURE_FILE);
    let sig = read_drive_file(&sig_path, SIGNATURE_LEN as u64, "media signature")?;
    if trusted.verify(&bytes, &sig).is_err() {
        return Err(ImportError::BadSignature {
            path: sig_path,
            reason: "the media description's signature does not verify with a trusted key; the drive was modified".into(),
        });
    }
    let m = Media::from_slice(&bytes).map_err(|e| ImportError::BadFile {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    if let Some(reason) = m.mismatch(manifest_digest, name) {
        return Err(ImportError::BadFile { path, reason });
    }
    Ok(Some(m))
}

/// Checks that a drive file is reachable through real directories only, is a regular file
/// with one link, and has `size` bytes.
fn check_drive_file(
    root: &Path,
    src: &Path,
    size: u64,
    paths: &[String],
) -> Result<(), ImportError> {
    if let Ok(rel) = src.strip_prefix(root) {
        let mut dir = root.to_path_buf();
        let comps: Vec<_> = rel.components().collect();
        for c in comps.iter().take(comps.len().saturating_sub(1)) {
            dir.push(c);
            if !real_dir(&dir)? {
                return Err(ImportError::MissingBlob {
                    file: src.to_path_buf(),
                    artifacts: describe_users(paths),
                });
            }
        }
    }
    match fs::symlink_metadata(src) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ImportError::MissingBlob {
            file: src.to_path_buf(),
            artifacts: describe_users(paths),
        }),
        Err(e) => Err(io_at(src)(e)),
        Ok(m) if !m.file_type().is_file() => Err(ImportError::UnsafeDrive {
            reason: format!("{} where a blob file was expected", describe_type(&m)),
            path: src.to_path_buf(),
        }),
        Ok(m) => {
            refuse_hard_link(src, &m)?;
            if m.len() != size {
                return Err(ImportError::BlobSize {
                    file: src.to_path_buf(),
                    artifacts: describe_users(paths),
                    expected: size,
                    actual: m.len(),
                });
            }
            Ok(())
        }
    }
}

/// Joins the verified parts of split blob `digest` (from `parts`, in order) into `staging`,
/// checking the whole blob's size and digest.
fn assemble_blob(
    staging: &Cas,
    parts: &Cas,
    digest: &Digest,
    size: u64,
    blob_parts: &[media::Part],
    paths: &[String],
) -> Result<(), ImportError> {
    let tmp = staging.tmp_dir();
    let mut w = staging.writer().map_err(io_at(&tmp))?;
    let mut buf = vec![0u8; COPY_BUF];
    for p in blob_parts {
        let (mut f, _) = parts.open_blob(&p.digest).map_err(cas_err)?;
        loop {
            let n = match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_at(&parts.blob_path(&p.digest))(e)),
            };
            w.write_all(buf.get(..n).unwrap_or_default())
                .map_err(io_at(&tmp))?;
        }
    }
    match w.commit(&Expected::exact(*digest, size)) {
        Ok(_) => Ok(()),
        Err(CasError::Mismatch { actual, .. }) => Err(ImportError::BlobMismatch {
            file: PathBuf::from(media::part_file(digest, 0))
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            artifacts: describe_users(paths),
            expected: *digest,
            actual: format!("{actual} (the parts, joined)"),
        }),
        Err(e) => Err(cas_err(e)),
    }
}

/// Step 6: both SBOMs are present as artifacts, parse, and describe exactly the
/// snapshot's component artifacts ([`formats::sbom::check_against`]).
fn check_sboms(manifest: &Manifest, blobs: &StagedBlobs<'_>) -> Result<(), ImportError> {
    use crate::provenance::BlobSource as _;
    use formats::snapshot::{ArtifactKind, SBOM_CYCLONEDX_PATH, SBOM_SPDX_PATH};
    type Parse = fn(&[u8]) -> Result<Vec<formats::sbom::Component>, formats::sbom::SbomError>;
    let docs: [(&str, Parse); 2] = [
        (SBOM_CYCLONEDX_PATH, formats::sbom::parse_cyclonedx),
        (SBOM_SPDX_PATH, formats::sbom::parse_spdx),
    ];
    for (path, parse) in docs {
        let bad = |reason: String| ImportError::Sbom {
            path: path.to_owned(),
            reason,
        };
        let Some(a) = manifest
            .artifacts
            .iter()
            .find(|a| a.path == path && a.kind == ArtifactKind::Sbom)
        else {
            return Err(bad(
                "the snapshot carries no such SBOM; it was not cut by mirror-sync export, or by a version without SBOMs".into(),
            ));
        };
        let bytes = blobs
            .read(&a.digest, formats::sbom::MAX_SBOM_BYTES)
            .map_err(|e| bad(format!("cannot read the SBOM blob: {e}")))?;
        let components = parse(&bytes).map_err(|e| bad(e.to_string()))?;
        formats::sbom::check_against(manifest, &components).map_err(|e| bad(e.to_string()))?;
    }
    Ok(())
}

/// Verified blobs of an import in progress: staged ones first, then the store's.
struct StagedBlobs<'a> {
    staging: &'a Cas,
    main: &'a Cas,
}

impl StagedBlobs<'_> {
    fn pick(&self, d: &Digest) -> &Cas {
        match self.staging.contains(d) {
            Ok(Some(_)) => self.staging,
            _ => self.main,
        }
    }
}

impl crate::provenance::BlobSource for StagedBlobs<'_> {
    fn read(&self, digest: &Digest, max: u64) -> Result<Vec<u8>, String> {
        self.pick(digest)
            .read_bytes(digest, max)
            .map_err(|e| e.to_string())
    }

    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + '_>, String> {
        let (f, _) = self
            .pick(digest)
            .open_blob(digest)
            .map_err(|e| e.to_string())?;
        Ok(Box::new(io::BufReader::new(f)))
    }
}

/// One drive file to copy and verify: a whole blob, or one part of a split blob.
struct Job {
    /// Digest of the file's bytes (the blob's, or the part's).
    digest: Digest,
    size: u64,
    src: PathBuf,
    /// For a part: the blob it belongs to (staged into the parts store).
    part_of: Option<Digest>,
}

/// Imports one snapshot from a drive into a store (see the module docs for the steps).
///
/// A refusal is recorded in the store's audit log (`import-refused`, with the reason;
/// `import-partial` when volumes are missing) whenever the store directory existed before
/// the import, also when it held no store yet (an empty directory such as a package's
/// `/var/lib/mirror-server`): the audit log then starts with the refusal. Nothing else in
/// the store changes: a lock file this run created in a directory that held no store is
/// removed again. When the store directory did not exist, a refusal removes everything
/// the import created and records nothing (there is no store to record it in); the
/// refusal is reported to the caller only.
///
/// Errors: [`ImportError`]; on error the store is left as it was.
pub fn import(opts: &ImportOptions) -> Result<ImportSummary, ImportError> {
    let dir_existed = fs::metadata(&opts.store).is_ok_and(|m| m.is_dir());
    let mut snapshot: Option<String> = None;
    let result = import_inner(opts, &mut snapshot);
    if let Err(e) = &result
        && dir_existed
    {
        let mut fields = serde_json::Map::new();
        fields.insert("snapshot".into(), snapshot.into());
        fields.insert(
            "drive".into(),
            opts.drive.to_string_lossy().into_owned().into(),
        );
        fields.insert("reason".into(), e.to_string().into());
        let event = match e {
            ImportError::VolumesNeeded { .. } => "import-partial",
            _ => "import-refused",
        };
        if let Err(ae) = crate::audit::append(&opts.store, event, fields) {
            tracing::warn!(error = %ae, "cannot record the refused import in the audit log");
        }
    }
    result
}

fn import_inner(
    opts: &ImportOptions,
    snapshot_name: &mut Option<String>,
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    // Trust prerequisites are gathered, not returned one by one: step 3b reports them all.
    let mut unmet: Vec<Prerequisite> = Vec::new();
    let trusted = match TrustedKeys::load_dir(&opts.trusted_keys) {
        Ok(t) => Some(t),
        Err(e) => {
            unmet.push(Prerequisite {
                what: ImportError::TrustedKeys(e).to_string(),
                fix: preflight::bundle_fix("keys/trusted/", &opts.trusted_keys),
            });
            None
        }
    };
    if let Some(p) = &opts.policy {
        unmet.extend(preflight::policy_keys(p));
    }

    // 1. Locate the snapshot directory.
    let (dir_channel, dir_seq, snap_dir) = locate(&opts.drive, opts.snapshot.as_deref())?;
    let manifest_path = snap_dir.join(MANIFEST_FILE);
    let sig_path = snap_dir.join(SIGNATURE_FILE);

    // 2. Read the manifest and its signature.
    let manifest_bytes = read_drive_file(&manifest_path, MAX_MANIFEST_BYTES, "manifest")?;
    let sig =
        read_drive_file(&sig_path, SIGNATURE_LEN as u64, "signature").map_err(|e| match e {
            ImportError::BadFile { path, reason } => ImportError::BadSignature { path, reason },
            other => other,
        })?;
    if sig.len() != SIGNATURE_LEN {
        return Err(ImportError::BadSignature {
            path: sig_path,
            reason: format!(
                "signature is {} bytes; an ed25519 signature is exactly {SIGNATURE_LEN} bytes",
                sig.len()
            ),
        });
    }

    // 3. Version first, then the signature, then full validation.
    let parsed = Manifest::from_slice(&manifest_bytes);
    if let Err(ManifestError::UnknownVersion { found }) = &parsed {
        return Err(ImportError::UnknownVersion {
            path: manifest_path,
            found: *found,
        });
    }
    let mut untrusted: Option<ImportError> = None;
    let signer = match &trusted {
        None => None,
        Some(trusted) => match trusted.verify(&manifest_bytes, &sig) {
            Ok(key) => Some(key.key_id()),
            Err(keys::SignatureError::Length { len }) => {
                return Err(ImportError::BadSignature {
                    path: sig_path,
                    reason: format!(
                        "signature is {len} bytes; an ed25519 signature is exactly 64 bytes"
                    ),
                });
            }
            Err(_) => {
                untrusted = Some(ImportError::Untrusted {
                    path: manifest_path.clone(),
                    dir: opts.trusted_keys.clone(),
                    trusted: trusted.keys().map(|(_, k)| k.key_id()).collect(),
                });
                None
            }
        },
    };
    let manifest = match parsed {
        Ok(m) => m,
        // An unverified manifest that does not even parse: the signature is the news.
        Err(_) if untrusted.is_some() || trusted.is_none() => {
            return Err(refuse_prerequisites(unmet, untrusted, opts, None));
        }
        Err(e) => {
            return Err(ImportError::InvalidManifest {
                path: manifest_path.clone(),
                reason: e.to_string(),
            });
        }
    };

    // 3b. Every other trust prerequisite, and free space, before anything is copied or the
    //     store is touched: the upstream keyrings the APT sources need, the policy keys
    //     (above), and room on the store's filesystem for the blobs it lacks.
    let verified = signer.is_some();
    unmet.extend(preflight::upstream_keyrings(
        &manifest,
        &opts.trusted_keys,
        !verified,
    ));
    if verified {
        let media = trusted.as_ref().and_then(|t| {
            read_media(&snap_dir, t, &Digest::of(&manifest_bytes), &manifest.name())
                .ok()
                .flatten()
        });
        let (needed, blobs) =
            bytes_to_write(&manifest, &opts.store, &manifest_bytes, media.as_ref());
        match preflight::available_bytes(&opts.store) {
            Ok(available) => {
                unmet.extend(preflight::free_space(&opts.store, needed, blobs, available));
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot tell the free space of the store's filesystem")
            }
        }
    }
    let (Some(trusted), Some(signer), true) = (trusted, signer, unmet.is_empty()) else {
        return Err(refuse_prerequisites(
            unmet,
            untrusted,
            opts,
            Some(&manifest.signer),
        ));
    };

    let signer_key_file = trusted
        .keys()
        .find(|(_, k)| k.key_id() == signer)
        .and_then(|(p, _)| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if manifest.channel != dir_channel || manifest.sequence != dir_seq {
        return Err(ImportError::InvalidManifest {
            path: manifest_path,
            reason: format!(
                "manifest is for snapshot {} but lies in snapshots/{dir_channel}/{dir_seq}; the drive was rearranged",
                manifest.name()
            ),
        });
    }
    let policy = opts.policy.as_deref().map(load_policy).transpose()?;
    let name = manifest.name();
    *snapshot_name = Some(name.clone());

    // From here on the store may be touched; Cleanup undoes it on any failure.
    let store_root = &opts.store;
    if let Ok(m) = fs::symlink_metadata(store_root)
        && !m.is_dir()
        && !fs::metadata(store_root).is_ok_and(|m| m.is_dir())
    {
        return Err(ImportError::Io {
            path: store_root.clone(),
            source: io::Error::other("the store path exists and is not a directory"),
        });
    }
    let mut cleanup = Cleanup {
        staging: None,
        created: Vec::new(),
        armed: true,
    };
    create_dir_tracked(store_root, &mut cleanup.created)?;
    // One store operation at a time (imports, rollbacks, pins, gc), across processes.
    let lock_existed = fs::symlink_metadata(store_root.join(crate::lifecycle::LOCK_FILE)).is_ok();
    let mut lock = crate::lifecycle::lock_store(store_root)?;
    // A first import (no index yet) that made the lock file removes it again if it is
    // refused, so the directory is left as it was (but for the audit record).
    lock.remove_on_drop(!lock_existed && !store_root.join(INDEX_FILE).exists());
    // Staging left by an import that was killed: unreferenced, safe to remove.
    if let Err(e) = crate::lifecycle::sweep_stale_staging(store_root) {
        tracing::warn!(error = %e, "cannot remove stale staging directories");
    }

    // 4. Anti-rollback.
    let index_path = store_root.join(INDEX_FILE);
    if let Some(index) = Index::open_read_only(&index_path)? {
        rollback_check(&index, &manifest, opts.allow_downgrade)?;
    }

    // 4b. The drive set: this drive and any further volumes given, each with its signed
    //     media description (absent on drives written before media descriptions).
    let manifest_digest_early = Digest::of(&manifest_bytes);
    let mut volumes_given: Vec<(PathBuf, Option<Media>)> = Vec::new();
    volumes_given.push((
        opts.drive.clone(),
        read_media(&snap_dir, &trusted, &manifest_digest_early, &name)?,
    ));
    for extra in &opts.volumes {
        let (_, _, dir) = locate(extra, Some(&name))?;
        let other = read_drive_file(&dir.join(MANIFEST_FILE), MAX_MANIFEST_BYTES, "manifest")?;
        if other != manifest_bytes {
            return Err(ImportError::InvalidManifest {
                path: dir.join(MANIFEST_FILE),
                reason: format!(
                    "this volume carries a different cut of {name} than {}; use volumes written by one export",
                    opts.drive.display()
                ),
            });
        }
        let media = read_media(&dir, &trusted, &manifest_digest_early, &name)?;
        if media.is_none() {
            return Err(ImportError::BadFile {
                path: dir.join(MEDIA_FILE),
                reason:
                    "not found; a volume of a multi-volume snapshot describes itself in media.json"
                        .into(),
            });
        }
        volumes_given.push((extra.clone(), media));
    }
    let media = volumes_given.first().and_then(|(_, m)| m.clone());
    if let Some(m) = &media
        && volumes_given
            .iter()
            .any(|(_, o)| o.as_ref().is_some_and(|o| o.volumes != m.volumes))
    {
        return Err(ImportError::InvalidManifest {
            path: manifest_path,
            reason: "the volumes given disagree on the volume count".into(),
        });
    }
    // Volume number → drive root.
    let mut volume_roots: BTreeMap<u32, PathBuf> = BTreeMap::new();
    for (root, m) in &volumes_given {
        volume_roots.insert(m.as_ref().map_or(1, |m| m.volume), root.clone());
    }

    // 5a. Plan the blobs: which the store lacks, where each one is (a whole file or parts,
    //     on which volume), and are the files there regular files of the right size?
    let mut users: HashMap<Digest, (u64, Vec<String>)> = HashMap::new();
    let mut order: Vec<Digest> = Vec::new();
    let mut total_bytes = 0u64;
    for a in &manifest.artifacts {
        total_bytes = total_bytes.saturating_add(a.size);
        let e = users.entry(a.digest).or_insert_with(|| {
            order.push(a.digest);
            (a.size, Vec::new())
        });
        if e.0 != a.size {
            return Err(ImportError::InvalidManifest {
                path: manifest_path,
                reason: format!(
                    "digest {} is listed with sizes {} and {} ({} and {})",
                    a.digest,
                    e.0,
                    a.size,
                    e.1.first().map_or("?", String::as_str),
                    a.path
                ),
            });
        }
        e.1.push(a.path.clone());
    }
    let main = Cas::at(store_root);
    // Staging is named by the manifest digest, so an import that was interrupted (or is
    // waiting for further volumes) resumes with the blobs it already verified.
    let staging_root = main
        .tmp_dir()
        .join(format!("{RESUME_PREFIX}{}", manifest_digest_early.hex()));
    let parts_root = staging_root.join("parts");
    // Verified by an earlier run: a staged file of the right size (the CAS gives a blob
    // its name only after its hash checked out).
    let staged =
        |cas: &Cas, d: &Digest, size: u64| -> bool { cas.contains(d).ok().flatten() == Some(size) };
    let (staged_blobs, staged_parts) = (Cas::at(&staging_root), Cas::at(&parts_root));
    let mut jobs = Vec::new();
    let mut assemble: Vec<(Digest, u64, Vec<media::Part>)> = Vec::new();
    let mut present = 0u64;
    let mut resumed = 0u64;
    let mut missing: Vec<Digest> = Vec::new();
    let mut volumes_needed: BTreeSet<u32> = BTreeSet::new();
    for d in &order {
        let Some((size, paths)) = users.get(d) else {
            continue;
        };
        let have = main.contains(d).map_err(io_at(&main.blob_path(d)))?;
        if have == Some(*size) {
            present += 1;
            continue;
        }
        if staged(&staged_blobs, d, *size) {
            resumed += 1;
            continue;
        }
        let entry = match &media {
            None => Some(media::BlobEntry {
                digest: *d,
                size: *size,
                volume: Some(1),
                parts: Vec::new(),
            }),
            Some(m) => m.blob(d).cloned(),
        };
        let Some(entry) = entry else {
            missing.push(*d);
            continue;
        };
        if entry.size != *size {
            return Err(ImportError::InvalidManifest {
                path: snap_dir.join(MEDIA_FILE),
                reason: format!(
                    "lists blob {d} with {} bytes, the manifest says {size}",
                    entry.size
                ),
            });
        }
        let layout = media.as_ref().map_or(BlobLayout::Flat, |m| m.layout);
        if let Some(v) = entry.volume {
            let Some(root) = volume_roots.get(&v) else {
                volumes_needed.insert(v);
                continue;
            };
            let src = root.join(media::blob_file(layout, d));
            check_drive_file(root, &src, *size, paths)?;
            jobs.push(Job {
                digest: *d,
                size: *size,
                src,
                part_of: None,
            });
            continue;
        }
        for (i, p) in entry.parts.iter().enumerate() {
            if staged(&staged_parts, &p.digest, p.size) {
                continue;
            }
            let Some(root) = volume_roots.get(&p.volume) else {
                volumes_needed.insert(p.volume);
                continue;
            };
            let src = root.join(media::part_file(d, i));
            check_drive_file(root, &src, p.size, paths)?;
            jobs.push(Job {
                digest: p.digest,
                size: p.size,
                src,
                part_of: Some(*d),
            });
        }
        assemble.push((*d, *size, entry.parts.clone()));
    }
    if !missing.is_empty() {
        let held = Index::open_read_only(&index_path)?
            .map(|i| i.state())
            .transpose()?
            .map(|s| s.snapshots.into_iter().map(|r| r.name).collect::<Vec<_>>())
            .unwrap_or_default();
        let missing_bytes: u64 = missing
            .iter()
            .filter_map(|d| users.get(d).map(|u| u.0))
            .sum();
        let mut listed: Vec<String> = missing
            .iter()
            .take(20)
            .map(|d| {
                let paths = users.get(d).map_or(&[][..], |u| u.1.as_slice());
                format!("{} ({d})", paths.first().map_or("?", String::as_str))
            })
            .collect();
        if missing.len() > 20 {
            listed.push(format!("and {} more", missing.len() - 20));
        }
        return Err(ImportError::MissingBase {
            snapshot: name.clone(),
            base: media.as_ref().and_then(|m| {
                m.base.clone().or(m
                    .receipt_site
                    .as_ref()
                    .map(|s| format!("the receipt of site {s}")))
            }),
            held,
            count: missing.len(),
            bytes: missing_bytes,
            missing: listed,
        });
    }

    // 5b. Stage: copy and hash every blob (and part) the given volumes carry.
    create_dir_tracked(&main.blobs_dir(), &mut cleanup.created)?;
    create_dir_tracked(&main.tmp_dir(), &mut cleanup.created)?;
    cleanup.staging = Some(staging_root.clone());
    let staging = Cas::open(&staging_root).map_err(io_at(&staging_root))?;
    let parts = Cas::open(&parts_root).map_err(io_at(&parts_root))?;

    let bytes_to_copy: u64 = jobs.iter().map(|j| j.size).sum();
    let bar = crate::progress::byte_bar(opts.progress, bytes_to_copy, &format!("verifying {name}"));
    copy_all(&jobs, &staging, &parts, &users, &bar)?;
    crate::progress::finish(&bar);
    if !volumes_needed.is_empty() {
        // Keep what was verified: the next run with the other volumes resumes from it.
        cleanup.staging = None;
        let volumes = media.as_ref().map_or(1, |m| m.volumes);
        return Err(ImportError::VolumesNeeded {
            snapshot: name.clone(),
            volumes,
            given: volume_roots.keys().copied().collect(),
            done: (1..=volumes)
                .filter(|v| !volumes_needed.contains(v))
                .collect(),
            needed: volumes_needed.into_iter().collect(),
        });
    }
    // Join split blobs: their parts, in order, must hash to the blob's digest.
    for (d, size, blob_parts) in &assemble {
        assemble_blob(
            &staging,
            &parts,
            d,
            *size,
            blob_parts,
            users.get(d).map_or(&[][..], |u| u.1.as_slice()),
        )?;
    }

    // Every check below reads verified blobs: staged now, or in the store already.
    let staged_blobs = StagedBlobs {
        staging: &staging,
        main: &main,
    };

    // 6. The SBOMs: pinned by digest in the signed manifest (so verified with the blobs),
    //    parsed, and their components one-to-one with the snapshot's component artifacts.
    check_sboms(&manifest, &staged_blobs)?;

    // 7. Upstream provenance: upstream InRelease signatures against the installed upstream
    //    keyrings, indexes against the signed Release, every .deb against the signed Packages;
    //    then the cosign signature policy.
    let keyrings_dir = opts
        .trusted_keys
        .join(crate::provenance::UPSTREAM_KEYRINGS_DIR);
    let provenance = crate::provenance::check_apt(&manifest, &keyrings_dir, &staged_blobs)
        .map_err(ImportError::Provenance)?;
    if let Some(policy) = &policy {
        use crate::provenance::BlobSource as _;
        let read = |d: &Digest| -> Result<Vec<u8>, String> {
            if !users.contains_key(d) {
                return Err(format!("blob {d} is not part of the snapshot"));
            }
            staged_blobs.read(d, formats::oci::MAX_MANIFEST_BYTES)
        };
        check_oci_policy(&manifest, policy, read).map_err(ImportError::Unsigned)?;
    }

    // 8. Commit.
    let manifest_digest = staging.put_bytes(&manifest_bytes).map_err(cas_err)?;
    let sig_digest = staging.put_bytes(&sig).map_err(cas_err)?;
    if !index_path.exists() {
        cleanup.created.push(index_path.clone());
    }
    let index = Index::open(&index_path)?;
    // Check again under the write lock: another import may have committed meanwhile.
    let (previous_live, forced) = rollback_check(&index, &manifest, opts.allow_downgrade)?;
    for d in &order {
        if main
            .contains(d)
            .map_err(io_at(&main.blob_path(d)))?
            .is_none()
        {
            main.adopt(&staging, d).map_err(cas_err)?;
        }
    }
    main.adopt(&staging, &manifest_digest).map_err(cas_err)?;
    main.adopt(&staging, &sig_digest).map_err(cas_err)?;
    let imported_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let record = SnapshotRecord {
        name: name.clone(),
        channel: manifest.channel.clone(),
        sequence: manifest.sequence,
        created: manifest.created.clone(),
        signer: signer.clone(),
        signer_key_file: signer_key_file.clone(),
        manifest: manifest_digest,
        signature: sig_digest,
        imported_at: imported_at.clone(),
        artifacts: manifest.artifacts.len() as u64,
        bytes: total_bytes,
    };
    index.commit_import(&record)?;
    drop(index);
    // The snapshot is committed: nothing below may undo it.
    cleanup.armed = false;
    lock.remove_on_drop(false);
    let generation = crate::lifecycle::bump_generation(store_root)?;
    let fields = match serde_json::json!({
        "snapshot": name,
        "signer": signer,
        "signer_key_file": signer_key_file,
        "manifest": manifest_digest,
        "previous_live": previous_live,
        "forced": forced,
        "generation": generation,
        "drive": opts.drive.to_string_lossy(),
    }) {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    if let Err(e) = crate::audit::note_trusted_keys(store_root, &trusted)
        .and_then(|_| crate::audit::append(store_root, "import", fields))
    {
        // The snapshot is live; say so rather than report a failed import.
        tracing::warn!(error = %e, "snapshot {name} is live, but the audit log could not be written");
    }
    drop(cleanup);

    let elapsed = started.elapsed().as_secs_f64();
    Ok(ImportSummary {
        snapshot: name,
        channel: manifest.channel.clone(),
        sequence: manifest.sequence,
        signer,
        signer_key_file,
        artifacts: manifest.artifacts.len() as u64,
        blobs: order.len() as u64,
        blobs_copied: jobs.iter().filter(|j| j.part_of.is_none()).count() as u64,
        blobs_present: present,
        blobs_resumed: resumed,
        blobs_joined: assemble.len() as u64,
        volumes_read: volume_roots.keys().copied().collect(),
        bytes_copied: bytes_to_copy,
        elapsed_secs: elapsed,
        throughput_bytes_per_sec: if elapsed > 0.0 {
            bytes_to_copy as f64 / elapsed
        } else {
            0.0
        },
        previous_live,
        forced,
        generation,
        provenance,
    })
}

/// The refusal for unmet prerequisites (step 3b): the manifest signature failure alone
/// stays [`ImportError::Untrusted`] (it may be tampering, not a missing key); anything
/// else is [`ImportError::Prerequisites`], listing the signature failure first.
/// `drive_signer` is the key id the (unverified) manifest says signed it.
fn refuse_prerequisites(
    mut unmet: Vec<Prerequisite>,
    untrusted: Option<ImportError>,
    opts: &ImportOptions,
    drive_signer: Option<&str>,
) -> ImportError {
    match untrusted {
        Some(e) if unmet.is_empty() => e,
        Some(e) => {
            let signed_by = drive_signer
                .map(|s| format!(" (the manifest names {s} as its signer)"))
                .unwrap_or_default();
            unmet.insert(
                0,
                Prerequisite {
                    what: format!("{e}{signed_by}"),
                    fix: preflight::bundle_fix("keys/trusted/snapshot.pub", &opts.trusted_keys),
                },
            );
            ImportError::Prerequisites { unmet }
        }
        None => ImportError::Prerequisites { unmet },
    }
}

/// Bytes this import would write into the store's filesystem, and how many blobs: every
/// distinct blob of `manifest` the store at `store` lacks and no earlier run of this import
/// staged already; a blob split into parts on the drive counts twice (its parts are staged,
/// then joined). One `stat` per blob; no blob is read.
fn bytes_to_write(
    manifest: &Manifest,
    store: &Path,
    manifest_bytes: &[u8],
    media: Option<&Media>,
) -> (u64, u64) {
    let main = Cas::at(store);
    let staged = Cas::at(&main.tmp_dir().join(format!(
        "{RESUME_PREFIX}{}",
        Digest::of(manifest_bytes).hex()
    )));
    let mut seen: BTreeSet<Digest> = BTreeSet::new();
    let (mut bytes, mut blobs) = (0u64, 0u64);
    for a in &manifest.artifacts {
        if !seen.insert(a.digest) {
            continue;
        }
        let have = |cas: &Cas| cas.contains(&a.digest).ok().flatten() == Some(a.size);
        if have(&main) || have(&staged) {
            continue;
        }
        let split = media
            .and_then(|m| m.blob(&a.digest))
            .is_some_and(|e| !e.parts.is_empty());
        bytes = bytes.saturating_add(if split {
            a.size.saturating_mul(2)
        } else {
            a.size
        });
        blobs += 1;
    }
    (
        bytes.saturating_add(manifest_bytes.len() as u64 + SIGNATURE_LEN as u64),
        blobs,
    )
}

/// The `[verify]` table of a `--policy` file.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    verify: std::collections::BTreeMap<String, keys::cosign::VerifyRule>,
}

/// Largest policy file read, in bytes.
const MAX_POLICY_BYTES: u64 = 1024 * 1024;

/// Loads a `--policy` file: TOML with one `[verify]` table, the same rule syntax as
/// `[oci.verify]` of mirror-sync (`"<registry>/<repository glob>" = { keys = [...],
/// required = true }`, see [`keys::cosign`]); key paths are relative to the file.
///
/// Errors: [`ImportError::PolicyFile`] naming the file and what is wrong.
pub fn load_policy(path: &Path) -> Result<keys::cosign::Policy, ImportError> {
    let bad = |reason: String| ImportError::PolicyFile {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = fs::read(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_POLICY_BYTES {
        return Err(bad(format!("over {MAX_POLICY_BYTES} bytes")));
    }
    let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".into()))?;
    let file: PolicyFile = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    keys::cosign::Policy::load(&file.verify, base).map_err(|e| bad(e.to_string()))
}

/// Applies a cosign policy to the OCI images of `manifest` (the import-time check; the
/// same rules as mirror-sync's `[oci.verify]`).
///
/// Images are the digests named by non-cosign `oci-tag` artifacts, and `oci-manifest`
/// artifacts that are not referrers (`meta.subject`), not platform children
/// (`meta.platform`) and not listed in an index of the same repository (pinned digests).
/// Each is named `<registry>/<path>` by mapping its served repository back
/// ([`formats::oci::split_served_name`]). When the matching rule is `required`, its cosign
/// signatures are read from the tag `sha256-<hex>.sig` of the same repository: each layer
/// of media type simple-signing with a signature annotation is checked with
/// [`keys::cosign::Policy::evaluate`]. `read` returns verified blob bytes by digest.
///
/// Errors: the first image (by path) a required rule refuses.
pub fn check_oci_policy(
    manifest: &Manifest,
    policy: &keys::cosign::Policy,
    read: impl Fn(&Digest) -> Result<Vec<u8>, String>,
) -> Result<(), keys::cosign::PolicyError> {
    use formats::oci;
    use formats::snapshot::ArtifactKind;
    use keys::cosign::SignatureCandidate;

    if policy.is_empty() {
        return Ok(());
    }
    let split = |path: &str| -> Option<(String, String)> {
        let (repo, reference) = path.strip_prefix("v2/")?.rsplit_once("/manifests/")?;
        Some((repo.to_owned(), reference.to_owned()))
    };
    let image_name = |repo: &str| -> String {
        match oci::split_served_name(repo) {
            Some((registry, path)) => format!("{registry}/{path}"),
            None => repo.to_owned(),
        }
    };
    let by_path: HashMap<&str, &formats::snapshot::Artifact> = manifest
        .artifacts
        .iter()
        .map(|a| (a.path.as_str(), a))
        .collect();
    // (repo, digest) -> reference for messages; tags first so their names are used.
    let mut images: std::collections::BTreeMap<(String, Digest), String> =
        std::collections::BTreeMap::new();
    let mut untagged: Vec<(String, Digest)> = Vec::new();
    let mut children: std::collections::HashSet<(String, Digest)> =
        std::collections::HashSet::new();
    for a in &manifest.artifacts {
        let Some((repo, reference)) = split(&a.path) else {
            continue;
        };
        let name = image_name(&repo);
        let required = policy.rule_for(&name).is_some_and(|r| r.required);
        if !required {
            continue;
        }
        match a.kind {
            ArtifactKind::OciTag if oci::parse_cosign_tag(&reference).is_none() => {
                let r = a
                    .meta
                    .reference
                    .clone()
                    .unwrap_or_else(|| format!("{name}:{reference}"));
                images.entry((repo, a.digest)).or_insert(r);
            }
            ArtifactKind::OciManifest => {
                let is_index = matches!(
                    a.media_type.as_deref(),
                    Some(oci::OCI_INDEX | oci::DOCKER_MANIFEST_LIST)
                );
                if is_index
                    && let Ok(bytes) = read(&a.digest)
                    && let Ok(parsed) = oci::parse_manifest(&bytes, a.media_type.as_deref())
                {
                    children.extend(parsed.manifests.iter().map(|c| (repo.clone(), c.digest)));
                }
                if a.meta.subject.is_none() && a.meta.platform.is_none() {
                    untagged.push((repo, a.digest));
                }
            }
            _ => {}
        }
    }
    for (repo, d) in untagged {
        if children.contains(&(repo.clone(), d)) {
            continue;
        }
        let name = format!("{}@{d}", image_name(&repo));
        images.entry((repo, d)).or_insert(name);
    }
    for ((repo, digest), reference) in &images {
        let sig_path = format!("v2/{repo}/manifests/{}", oci::cosign_tag(digest, "sig"));
        let mut candidates = Vec::new();
        if let Some(sig) = by_path.get(sig_path.as_str()) {
            let label = format!(
                "signature manifest {} (tag {})",
                sig.digest,
                oci::cosign_tag(digest, "sig")
            );
            match read(&sig.digest).and_then(|b| {
                oci::parse_manifest(&b, sig.media_type.as_deref()).map_err(|e| e.to_string())
            }) {
                Ok(parsed) => {
                    for l in parsed
                        .layers
                        .iter()
                        .filter(|l| l.media_type == oci::COSIGN_SIMPLESIGNING)
                    {
                        if let Some(s) = l.annotations.get(oci::COSIGN_SIGNATURE_ANNOTATION) {
                            candidates.push(SignatureCandidate {
                                label: format!("{label}, layer {}", l.digest),
                                payload: read(&l.digest),
                                signature_b64: s.clone(),
                            });
                        }
                    }
                }
                Err(e) => candidates.push(SignatureCandidate {
                    label,
                    payload: Err(format!("unreadable signature manifest: {e}")),
                    signature_b64: String::new(),
                }),
            }
        }
        policy.evaluate(reference, digest, &candidates)?;
    }
    Ok(())
}

/// Anti-rollback (DESIGN.md §Trust on the Cube): refuses `manifest` when the live snapshot
/// on its channel has the same or a higher sequence, unless `allow_downgrade`. Returns the
/// live snapshot's name and whether the downgrade was forced.
fn rollback_check(
    index: &Index,
    manifest: &Manifest,
    allow_downgrade: bool,
) -> Result<(Option<String>, bool), ImportError> {
    let Some(live_name) = index.live(&manifest.channel)? else {
        return Ok((None, false));
    };
    let live_seq = match index.snapshot(&live_name)? {
        Some(r) => r.sequence,
        None => SnapshotName::parse(&live_name).map_or(0, |n| n.sequence),
    };
    let mut forced = false;
    if live_seq >= manifest.sequence {
        let name = manifest.name();
        if !allow_downgrade {
            return Err(if live_name == name {
                ImportError::AlreadyImported { name }
            } else {
                ImportError::Rollback {
                    name,
                    live: live_name,
                    channel: manifest.channel.clone(),
                }
            });
        }
        forced = true;
    }
    Ok((Some(live_name), forced))
}

/// Copies and hashes every job into `staging` over two threads per CPU (at least 2, at
/// most 8): each blob ends with an fsync that waits on the disk, and a second thread per
/// CPU keeps reading and hashing meanwhile. Returns the error of the first failing job
/// (in manifest order) if any fails.
fn copy_all(
    jobs: &[Job],
    staging: &Cas,
    parts: &Cas,
    users: &HashMap<Digest, (u64, Vec<String>)>,
    bar: &indicatif::ProgressBar,
) -> Result<(), ImportError> {
    if jobs.is_empty() {
        return Ok(());
    }
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_mul(2)
        .clamp(2, 8)
        .min(jobs.len());
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let errors: Mutex<Vec<(usize, ImportError)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else {
                        return;
                    };
                    let blob = job.part_of.unwrap_or(job.digest);
                    let paths = users.get(&blob).map_or(&[][..], |u| u.1.as_slice());
                    let into = if job.part_of.is_some() {
                        parts
                    } else {
                        staging
                    };
                    match copy_one(job, into, paths, bar, &stop) {
                        Ok(()) => {}
                        Err(None) => return,
                        Err(Some(e)) => {
                            stop.store(true, Ordering::Relaxed);
                            if let Ok(mut errs) = errors.lock() {
                                errs.push((i, e));
                            }
                            return;
                        }
                    }
                }
            });
        }
    });
    let mut errs = errors.into_inner().unwrap_or_else(|p| p.into_inner());
    errs.sort_by_key(|(i, _)| *i);
    match errs.into_iter().next() {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

/// Copies one blob; `Err(None)` means cancelled because another job failed.
fn copy_one(
    job: &Job,
    staging: &Cas,
    paths: &[String],
    bar: &indicatif::ProgressBar,
    stop: &AtomicBool,
) -> Result<(), Option<ImportError>> {
    let (mut file, meta) = open_regular(&job.src).map_err(|e| {
        Some(match e.kind() {
            io::ErrorKind::NotFound => ImportError::MissingBlob {
                file: job.src.clone(),
                artifacts: describe_users(paths),
            },
            io::ErrorKind::InvalidInput => ImportError::UnsafeDrive {
                path: job.src.clone(),
                reason: e.to_string(),
            },
            _ => io_at(&job.src)(e),
        })
    })?;
    refuse_hard_link(&job.src, &meta).map_err(Some)?;
    if meta.len() != job.size {
        return Err(Some(ImportError::BlobSize {
            file: job.src.clone(),
            artifacts: describe_users(paths),
            expected: job.size,
            actual: meta.len(),
        }));
    }
    let tmp = staging.tmp_dir();
    let mut w = staging.writer().map_err(|e| Some(io_at(&tmp)(e)))?;
    let mut buf = vec![0u8; COPY_BUF];
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(None);
        }
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Some(io_at(&job.src)(e))),
        };
        w.write_all(buf.get(..n).unwrap_or_default())
            .map_err(|e| Some(io_at(&tmp)(e)))?;
        bar.inc(n as u64);
    }
    match w.commit(&Expected::exact(job.digest, job.size)) {
        Ok(_) => Ok(()),
        Err(CasError::Mismatch {
            what,
            expected,
            actual,
        }) if what == "size" => Err(Some(ImportError::BlobSize {
            file: job.src.clone(),
            artifacts: describe_users(paths),
            expected: expected.parse().unwrap_or(job.size),
            actual: actual.parse().unwrap_or(0),
        })),
        Err(CasError::Mismatch { actual, .. }) => Err(Some(ImportError::BlobMismatch {
            file: job.src.clone(),
            artifacts: describe_users(paths),
            expected: job.digest,
            actual,
        })),
        Err(e) => Err(Some(cas_err(e))),
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
