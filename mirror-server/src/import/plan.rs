//! Steps 4b and 5a of an import: the drive set (this drive and any further volumes, each
//! with its signed media description) and the plan: which blobs the store lacks, where
//! each one is on the drive set (a whole file or parts, on which volume), and whether the
//! files there are regular files of the right size ([`drive::check_file`]). Nothing is
//! read or copied yet.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use formats::digest::Digest;
use formats::media::{self, BlobLayout, MEDIA_FILE, Media};
use formats::snapshot::MANIFEST_FILE;
use store::{Cas, Index};

use super::ImportOptions;
use super::checks::{Verified, locate};
use super::error::{ImportError, file_err, io_at, media_err, read_err};
use store::layout::{INDEX_FILE, RESUME_PREFIX};

/// The volumes of the snapshot this run was given.
pub(super) struct DriveSet {
    /// The media description of the first drive (`None` on drives written before media
    /// descriptions: one volume, flat blobs).
    pub media: Option<Media>,
    /// Volume number → drive root.
    pub roots: BTreeMap<u32, PathBuf>,
}

/// Step 4b: this drive and any further volumes given, each with its signed media
/// description (absent on drives written before media descriptions); every further volume
/// must carry the same manifest bytes and describe itself.
pub(super) fn drive_set(opts: &ImportOptions, v: &Verified) -> Result<DriveSet, ImportError> {
    let (trusted, name, manifest_digest_early) = (&v.trusted, &v.name, &v.digest);
    let mut volumes_given: Vec<(PathBuf, Option<Media>)> = Vec::new();
    volumes_given.push((
        opts.drive.clone(),
        drive::read_media(&v.dir, trusted, manifest_digest_early, name).map_err(media_err)?,
    ));
    for extra in &opts.volumes {
        let dir = locate(extra, Some(name))?.dir;
        let other = drive::read_manifest(&dir).map_err(|e| read_err(e, "manifest"))?;
        if other != v.manifest_bytes {
            return Err(ImportError::InvalidManifest {
                path: dir.join(MANIFEST_FILE),
                reason: format!(
                    "this volume carries a different cut of {name} than {}; use volumes written by one export",
                    opts.drive.display()
                ),
            });
        }
        let media =
            drive::read_media(&dir, trusted, manifest_digest_early, name).map_err(media_err)?;
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
            path: v.manifest_path.clone(),
            reason: "the volumes given disagree on the volume count".into(),
        });
    }
    // Volume number → drive root.
    let mut volume_roots: BTreeMap<u32, PathBuf> = BTreeMap::new();
    for (root, m) in &volumes_given {
        volume_roots.insert(m.as_ref().map_or(1, |m| m.volume), root.clone());
    }
    Ok(DriveSet {
        media,
        roots: volume_roots,
    })
}

/// Artifact paths using each blob, by digest, with the blob's size.
pub(super) type Users = HashMap<Digest, (u64, Vec<String>)>;

/// What step 5a planned.
pub(super) struct Plan {
    /// The artifacts using each blob.
    pub users: Users,
    /// The distinct blobs, in manifest order.
    pub order: Vec<Digest>,
    /// Bytes of all artifacts.
    pub total_bytes: u64,
    /// `STORE/tmp/resume-<manifest hex>`: the staging store.
    pub staging_root: PathBuf,
    /// Its `parts/` store.
    pub parts_root: PathBuf,
    /// Drive files to copy and hash.
    pub jobs: Vec<Job>,
    /// Split blobs to join from their parts: digest, size, parts.
    pub assemble: Vec<(Digest, u64, Vec<media::Part>)>,
    /// Blobs the store holds already.
    pub present: u64,
    /// Blobs an earlier run staged already.
    pub resumed: u64,
    /// Volumes holding blobs or parts this run was not given.
    pub volumes_needed: BTreeSet<u32>,
}

/// Step 5a: plan the blobs: which the store lacks, where each one is (a whole file or
/// parts, on which volume), and are the files there regular files of the right size?
///
/// Errors: [`ImportError::MissingBase`] when the drive set leaves out blobs the store
/// lacks; a file refused by [`drive::check_file`].
pub(super) fn plan(store_root: &Path, v: &Verified, set: &DriveSet) -> Result<Plan, ImportError> {
    let (manifest, name, media) = (&v.manifest, &v.name, &set.media);
    let volume_roots = &set.roots;
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
                path: v.manifest_path.clone(),
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
        .join(format!("{RESUME_PREFIX}{}", v.digest.hex()));
    let parts_root = staging_root.join("parts");
    // Verified by an earlier run: a staged file of the right size (the CAS gives a blob
    // its name only after its hash checked out), re-hashed when that run did not reach
    // its sync (`durable`: the bytes under the name may not have reached the disk).
    let sealed = super::durable::is_sealed(&staging_root);
    let staged = |cas: &Cas, d: &Digest, size: u64| -> bool {
        super::durable::trusted_staged(cas, sealed, d, size)
    };
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
                path: v.dir.join(MEDIA_FILE),
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
            drive::check_file(root, &src, *size).map_err(|e| file_err(e, paths))?;
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
            drive::check_file(root, &src, p.size).map_err(|e| file_err(e, paths))?;
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
        let held = Index::open_read_only(&store_root.join(INDEX_FILE))?
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
    Ok(Plan {
        users,
        order,
        total_bytes,
        staging_root,
        parts_root,
        jobs,
        assemble,
        present,
        resumed,
        volumes_needed,
    })
}

/// One drive file to copy and verify: a whole blob, or one part of a split blob.
pub(super) struct Job {
    /// Digest of the file's bytes (the blob's, or the part's).
    pub digest: Digest,
    pub size: u64,
    pub src: PathBuf,
    /// For a part: the blob it belongs to (staged into the parts store).
    pub part_of: Option<Digest>,
}
