//! `mirror-sync verify DRIVE`: read a written drive back before it leaves the building.
//!
//! For every snapshot on the drive (or the one asked for):
//!
//! 1. the manifest's ed25519 signature against the trusted key (the configured snapshot
//!    key, or `--key`), then the manifest's rules (docs/media-format.md §Manifest);
//! 2. the media description (`media.json`), when present: its signature, that it names
//!    this manifest by digest, and its rules (§Media description);
//! 3. every file the volume should hold — whole blobs and parts — is a regular file with
//!    one link, of the right size, whose bytes hash to the digest on record; a split blob
//!    whose parts are all on this volume is also checked whole (its parts, concatenated,
//!    hash to the blob's digest).
//!
//! Files are read sequentially, one at a time (removable drives read fastest that way).
//! The result is a clear pass, or the exact files that fail and why.
//!
//! Every read and check of the drive is the [`drive`] crate's, the one `mirror-server
//! import` uses: the snapshot lister, the bounded reads, the media description, the file
//! checks. This module words the failures and walks the volume.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use formats::digest::{Digest, Hasher};
use formats::media;
use formats::snapshot::{self, Manifest};
use keys::snapshot::{PublicKey, SigningKey, TrustedKeys};
use serde::Serialize;
use store::fsio::ReadError;

use crate::progress::Progress;

/// Where the trusted snapshot key comes from.
#[derive(Debug, Clone)]
pub enum TrustedKeySource {
    /// The configured snapshot signing key (its public half is trusted).
    SigningKey(PathBuf),
    /// A public key file (PEM) or a directory of them.
    Path(PathBuf),
}

/// One failed check.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Failure {
    /// The file on the drive.
    pub file: PathBuf,
    /// What is wrong.
    pub problem: String,
    /// An artifact path that uses the blob (for orientation), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
}

/// What was checked for one snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotCheck {
    /// `<channel>/<sequence>`.
    pub snapshot: String,
    /// Key id that verified the manifest, if any did.
    pub signer: Option<String>,
    /// This volume's number and the volume count (1 of 1 for a single drive).
    pub volume: u32,
    /// Volumes the snapshot spans.
    pub volumes: u32,
    /// A delta's base, if any.
    pub base: Option<String>,
    /// The site a catch-up drive was cut for, if any.
    pub receipt_site: Option<String>,
    /// Files checked (whole blobs and parts).
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Split blobs checked whole (all parts on this volume).
    pub reassembled: u64,
    /// Blobs of the manifest this drive set does not carry (the site must hold them).
    pub omitted_blobs: u64,
    /// Blobs on other volumes.
    pub on_other_volumes: u64,
}

/// The result of `verify`.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The drive.
    pub drive: PathBuf,
    /// True when every check passed.
    pub ok: bool,
    /// Per snapshot.
    pub snapshots: Vec<SnapshotCheck>,
    /// Every failed check.
    pub failures: Vec<Failure>,
    /// Files checked in all.
    pub checked_files: u64,
    /// Bytes read in all.
    pub checked_bytes: u64,
    /// Wall time, seconds.
    pub seconds: f64,
}

impl VerifyReport {
    /// The human rendering: `PASS` or `FAIL` with one line per failure.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for c in &self.snapshots {
            s.push_str(&format!(
                "{} volume {} of {}: {} files, {} bytes{}{}{}{}\n",
                c.snapshot,
                c.volume,
                c.volumes,
                c.files,
                c.bytes,
                match &c.signer {
                    Some(k) => format!(", signed by {k}"),
                    None => ", signature NOT verified".into(),
                },
                if c.reassembled > 0 {
                    format!(", {} split blobs checked whole", c.reassembled)
                } else {
                    String::new()
                },
                match (&c.base, &c.receipt_site) {
                    (Some(b), _) =>
                        format!(", delta against {b} ({} blobs left out)", c.omitted_blobs),
                    (None, Some(site)) => format!(
                        ", catch-up for site {site} ({} blobs left out)",
                        c.omitted_blobs
                    ),
                    _ => String::new(),
                },
                if c.on_other_volumes > 0 {
                    format!(", {} blobs on other volumes", c.on_other_volumes)
                } else {
                    String::new()
                },
            ));
        }
        for f in &self.failures {
            s.push_str(&format!(
                "FAIL {}: {}{}\n",
                f.file.display(),
                f.problem,
                f.artifact
                    .as_deref()
                    .map(|a| format!(" (used by {a})"))
                    .unwrap_or_default()
            ));
        }
        let mbps = if self.seconds > 0.0 {
            self.checked_bytes as f64 / self.seconds / 1e6
        } else {
            0.0
        };
        if self.ok {
            s.push_str(&format!(
                "PASS {}: {} files, {} bytes read back and verified in {:.1}s ({mbps:.0} MB/s)\n",
                self.drive.display(),
                self.checked_files,
                self.checked_bytes,
                self.seconds
            ));
        } else {
            s.push_str(&format!(
                "FAIL {}: {} problem(s) in {} files checked\n",
                self.drive.display(),
                self.failures.len(),
                self.checked_files
            ));
        }
        s
    }
}

fn load_trusted(src: &TrustedKeySource) -> anyhow::Result<TrustedKeys> {
    match src {
        TrustedKeySource::SigningKey(p) => {
            let k = SigningKey::load(p)
                .with_context(|| format!("cannot load the snapshot key {}", p.display()))?;
            Ok(TrustedKeys::from_keys(vec![(p.clone(), k.public_key())]))
        }
        TrustedKeySource::Path(p) if p.is_dir() => TrustedKeys::load_dir(p)
            .with_context(|| format!("cannot load trusted keys from {}", p.display())),
        TrustedKeySource::Path(p) => {
            let pem = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            let k = PublicKey::from_pem(&pem)
                .with_context(|| format!("{}: not an ed25519 public key (PEM)", p.display()))?;
            Ok(TrustedKeys::from_keys(vec![(p.clone(), k)]))
        }
    }
}

/// The problem with a file [`drive`] could not read, without its path (the failure names
/// the file).
fn read_problem(e: &ReadError) -> String {
    match e {
        ReadError::NotFound { .. } => "missing".into(),
        ReadError::NotRegular { reason, .. } => reason.clone(),
        ReadError::HardLink { links, .. } => hard_link_problem(*links),
        ReadError::TooLarge {
            len,
            max,
            grew: false,
            ..
        } => format!("{len} bytes, over the {max}-byte limit"),
        ReadError::TooLarge { max, .. } => {
            format!("grew over the {max}-byte limit while being read")
        }
        ReadError::Io { source, .. } => source.to_string(),
    }
}

fn hard_link_problem(links: u64) -> String {
    format!("has {links} names (a hard link); the importer refuses it")
}

/// The problem with a blob or part file, without its path.
fn file_problem(e: &drive::FileError) -> String {
    use drive::FileError;
    match e {
        FileError::Missing { .. } => "missing".into(),
        FileError::Unsafe { reason, .. } => reason.clone(),
        FileError::HardLink { links, .. } => hard_link_problem(*links),
        FileError::Size {
            expected, actual, ..
        } => format!("{actual} bytes, expected {expected}"),
        FileError::Io { source, .. } => source.to_string(),
    }
}

/// The problem with a media description, without its path (the failure names
/// `media.json`).
fn media_problem(e: &drive::MediaError) -> String {
    use drive::MediaError;
    match e {
        MediaError::Read(e) => read_problem(e),
        MediaError::SignatureRead(e) => {
            format!("{}: {}", media::MEDIA_SIGNATURE_FILE, read_problem(e))
        }
        MediaError::Signature { .. } => "signature does not verify with the trusted key".into(),
        MediaError::Invalid { reason, .. } => reason.clone(),
        MediaError::Io { source, .. } => source.to_string(),
    }
}

/// Reads `drive` back and checks it (see the module docs).
///
/// Errors: the trusted key cannot be loaded, or the drive holds no snapshot (or not the one
/// asked for). Everything else — bad signatures, missing or damaged files — is a
/// [`Failure`] in the report.
pub fn verify_drive(
    drive: &Path,
    keys: &TrustedKeySource,
    wanted: Option<&str>,
    progress: &Progress,
) -> anyhow::Result<VerifyReport> {
    let started = Instant::now();
    let trusted = load_trusted(keys)?;
    let mut names = drive::snapshots_on(drive)?;
    if let Some(w) = wanted {
        if !names.iter().any(|n| n == w) {
            bail!(
                "{}: snapshot {w} is not on the drive (it holds: {})",
                drive.display(),
                names.join(", ")
            );
        }
        names = vec![w.to_owned()];
    }
    if names.is_empty() {
        bail!("{}: no snapshot on the drive", drive.display());
    }
    let mut report = VerifyReport {
        drive: drive.to_path_buf(),
        ok: true,
        snapshots: Vec::new(),
        failures: Vec::new(),
        checked_files: 0,
        checked_bytes: 0,
        seconds: 0.0,
    };
    for name in &names {
        check_snapshot(drive, name, &trusted, progress, &mut report);
    }
    progress.finish();
    report.ok = report.failures.is_empty();
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

fn check_snapshot(
    drive: &Path,
    name: &str,
    trusted: &TrustedKeys,
    progress: &Progress,
    report: &mut VerifyReport,
) {
    let dir = drive.join("snapshots").join(name);
    let fail = |report: &mut VerifyReport, file: PathBuf, problem: String| {
        report.failures.push(Failure {
            file,
            problem,
            artifact: None,
        });
    };
    let manifest_path = dir.join(snapshot::MANIFEST_FILE);
    let sig_path = dir.join(snapshot::SIGNATURE_FILE);
    let bytes = match drive::read_manifest(&dir) {
        Ok(b) => b,
        Err(e) => {
            return fail(
                report,
                manifest_path,
                format!(
                    "{} (an export that did not finish writes the manifest last)",
                    read_problem(&e)
                ),
            );
        }
    };
    let signer = match drive::read_signature(&sig_path) {
        Ok(sig) => match trusted.verify(&bytes, &sig) {
            Ok(k) => Some(k.key_id()),
            Err(_) => {
                fail(
                    report,
                    manifest_path.clone(),
                    "signature does not verify with the trusted key (modified, or signed by another key)"
                        .into(),
                );
                None
            }
        },
        Err(e) => {
            fail(report, sig_path, read_problem(&e));
            None
        }
    };
    let manifest = match Manifest::from_slice(&bytes) {
        Ok(m) => m,
        Err(e) => return fail(report, manifest_path, e.to_string()),
    };
    let manifest_digest = Digest::of(&bytes);
    let media = match drive::read_media(&dir, trusted, &manifest_digest, &manifest.name()) {
        Ok(m) => m,
        Err(e) => return fail(report, dir.join(media::MEDIA_FILE), media_problem(&e)),
    };
    // The artifact using each blob, for messages.
    let users: HashMap<Digest, &str> = manifest
        .artifacts
        .iter()
        .map(|a| (a.digest, a.path.as_str()))
        .collect();
    let mut check = SnapshotCheck {
        snapshot: manifest.name(),
        signer,
        volume: media.as_ref().map_or(1, |m| m.volume),
        volumes: media.as_ref().map_or(1, |m| m.volumes),
        base: media.as_ref().and_then(|m| m.base.clone()),
        receipt_site: media.as_ref().and_then(|m| m.receipt_site.clone()),
        files: 0,
        bytes: 0,
        reassembled: 0,
        omitted_blobs: media.as_ref().map_or(0, |m| m.omitted_blobs),
        on_other_volumes: 0,
    };
    // (file, expected digest, size, blob, part index)
    let files: Vec<media::DriveFile> = match &media {
        Some(m) => m.files_on(m.volume),
        None => {
            let mut seen = std::collections::BTreeMap::new();
            for a in &manifest.artifacts {
                seen.insert(a.digest, a.size);
            }
            seen.into_iter()
                .map(|(d, size)| media::DriveFile {
                    path: media::blob_file(media::BlobLayout::Flat, &d),
                    blob: d,
                    part: None,
                    size,
                    digest: d,
                })
                .collect()
        }
    };
    if let Some(m) = &media {
        check.on_other_volumes = m
            .blobs
            .iter()
            .filter(|b| !m.volumes_of(&b.digest).contains(&m.volume))
            .count() as u64;
    }
    progress.phase(&format!("verifying {}", manifest.name()));
    progress.add_total(files.iter().map(|f| f.size).sum());
    // Whole-blob hashers of split blobs whose parts are all on this volume.
    let mut whole: HashMap<Digest, (Hasher, bool)> = HashMap::new();
    if let Some(m) = &media {
        for b in m.blobs.iter().filter(|b| !b.parts.is_empty()) {
            if b.parts.iter().all(|p| p.volume == m.volume) {
                whole.insert(b.digest, (Hasher::new(), true));
            }
        }
    }
    for f in &files {
        let path = drive.join(&f.path);
        let artifact = users.get(&f.blob).map(|s| (*s).to_owned());
        let mut w = whole.get_mut(&f.blob);
        let mut also = w.as_mut().map(|x| &mut x.0);
        let hashed = drive::hash_file(&path, f.size, |chunk| {
            if let Some(h) = also.as_mut() {
                h.update(chunk);
            }
            progress.inc_done(chunk.len() as u64);
        });
        match hashed {
            Ok((d, n)) if d == f.digest && n == f.size => {}
            Ok((d, n)) => {
                if let Some(x) = w {
                    x.1 = false;
                }
                report.failures.push(Failure {
                    file: path,
                    problem: if n != f.size {
                        format!("{n} bytes, expected {}", f.size)
                    } else {
                        format!("content hashes to {d}, expected {}", f.digest)
                    },
                    artifact,
                });
            }
            Err(e) => {
                if let Some(x) = w {
                    x.1 = false;
                }
                report.failures.push(Failure {
                    file: path,
                    problem: file_problem(&e),
                    artifact,
                });
            }
        }
        check.files += 1;
        check.bytes += f.size;
    }
    for (blob, (h, intact)) in whole {
        if !intact {
            continue; // the failing part is already reported
        }
        let (d, _) = h.finish();
        if d == blob {
            check.reassembled += 1;
        } else {
            report.failures.push(Failure {
                file: drive.join("parts/sha256").join(blob.hex()),
                problem: format!("the parts, joined, hash to {d}, expected {blob}"),
                artifact: users.get(&blob).map(|s| (*s).to_owned()),
            });
        }
    }
    report.checked_files += check.files;
    report.checked_bytes += check.bytes;
    report.snapshots.push(check);
}
