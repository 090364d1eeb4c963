//! Step 3, the plan: what the drive set carries (every blob of the snapshot, minus those
//! the `--base` snapshot or a site's receipt says the site holds) and how it lies on the
//! drives: parts for files over the size limit (given, or the FAT limit detected by
//! [`super::filesystem`]), a sharded blob directory on FAT when the flat one would hold
//! too many files, volumes of at most `--volume-size`, and which volume goes to which
//! `--to`. The digests of split blobs' parts are computed once and cached in the state.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use formats::digest::{Digest, Hasher};
use formats::media::{self, BlobLayout};
use formats::snapshot::{self, Artifact, ArtifactKind, Manifest};
use store::Cas;

use super::cut::{Cut, Source};
use super::filesystem::{Filesystem, allocation_unit, detect_filesystem};
use super::options::ExportOptions;
use super::render::layout_index;
use crate::progress::Progress;

/// Where every file of the drive set goes (see the module docs).
pub(super) struct Plan {
    /// Every unique blob of the snapshot → its size.
    pub blobs: BTreeMap<Digest, u64>,
    /// Their total bytes.
    pub bytes_total: u64,
    /// The blobs the drive set carries → size.
    pub carried: BTreeMap<Digest, u64>,
    /// Blobs left out (held by the base or the site).
    pub omitted_blobs: u64,
    /// Their bytes.
    pub omitted_bytes: u64,
    /// The key id of the site whose receipt decided the content, if any.
    pub receipt_site: Option<String>,
    /// The filesystem detected on the first drive.
    pub detected: Filesystem,
    /// Files larger than this are split into parts.
    pub max_file_size: Option<u64>,
    /// Flat or sharded `blobs/` directory.
    pub layout: BlobLayout,
    /// Every file of the drive set (whole blobs and parts), with its volume.
    pub files: Vec<media::PlannedFile>,
    /// Volumes the snapshot spans.
    pub volumes: u32,
    /// The volumes this run writes, with their drive directories.
    pub targets: Vec<(u32, PathBuf)>,
    /// Part digests of each split blob.
    pub part_digests: HashMap<Digest, Vec<Digest>>,
    /// The media description's blob table.
    pub table: Vec<media::BlobEntry>,
    /// The OCI image layout index for the drive root (single-volume snapshots with tags).
    pub layout_index: Option<Vec<u8>>,
}

/// Plans the drive set of `cut` (see the module docs).
///
/// Errors: two artifacts with one digest and different sizes, an unknown `--base`, a
/// receipt or site key that cannot be read or does not verify, a `--volume-size` too
/// small for the metadata, `--volume`/`--to` counts that do not match the volumes, a
/// store blob whose parts cannot be hashed.
pub(super) fn plan(
    opts: &ExportOptions,
    src: &Source,
    cut: &Cut,
    progress: &Progress,
) -> anyhow::Result<Plan> {
    let manifest: &Manifest = &cut.manifest;
    // 2. What the drive set carries: every blob, minus those the base or the site holds.
    let mut blobs: BTreeMap<Digest, u64> = BTreeMap::new();
    for a in &cut.manifest.artifacts {
        if let Some(prev) = blobs.insert(a.digest, a.size)
            && prev != a.size
        {
            bail!(
                "{} has size {} but the same digest elsewhere has {prev}",
                a.path,
                a.size
            );
        }
    }
    let bytes_total: u64 = blobs.values().sum();
    let mut held: HashSet<Digest> = HashSet::new();
    if let Some(base) = &opts.base {
        let rec = src.state
            .exports()?
            .into_iter()
            .find(|r| &r.name == base)
            .ok_or_else(|| {
                anyhow!("--base {base}: no such snapshot was exported from this store (see `mirror-sync snapshots`)")
            })?;
        let base_bytes = src
            .cas
            .read_bytes(&rec.manifest, snapshot::MAX_MANIFEST_BYTES)
            .with_context(|| format!("cannot read the manifest of {base} from the store"))?;
        let base_manifest = Manifest::from_slice(&base_bytes)
            .with_context(|| format!("the stored manifest of {base} is invalid"))?;
        held.extend(base_manifest.artifacts.iter().map(|a| a.digest));
    }
    let mut receipt_site = None;
    if let Some(path) = &opts.receipt {
        let expected = opts
            .site_key
            .as_deref()
            .map(|p| {
                std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read the site key {}", p.display()))
                    .and_then(|pem| {
                        keys::snapshot::PublicKey::from_pem(&pem)
                            .with_context(|| format!("{}: not a site public key", p.display()))
                    })
            })
            .transpose()?;
        let r = crate::receipt::load(path, expected.as_ref())?;
        progress.println(&format!(
            "receipt from site {} ({}): {} blobs held, live {}",
            r.site,
            r.created,
            r.held.len(),
            if r.live.is_empty() {
                "none".to_owned()
            } else {
                r.live.values().cloned().collect::<Vec<_>>().join(", ")
            }
        ));
        held.extend(r.held.iter().copied());
        receipt_site = Some(r.site.clone());
    }
    let carried: BTreeMap<Digest, u64> = blobs
        .iter()
        .filter(|(d, _)| !held.contains(d))
        .map(|(d, s)| (*d, *s))
        .collect();
    let omitted_blobs = (blobs.len() - carried.len()) as u64;
    let omitted_bytes = bytes_total - carried.values().sum::<u64>();

    // The layout: parts for files over the limit, volumes when asked.
    let detected = detect_filesystem(&opts.to[0]);
    let max_file_size = opts.max_file_size.or(detected.max_file_size());
    let layout = if detected.is_fat() && carried.len() > media::FAT_FLAT_DIR_LIMIT {
        BlobLayout::Sharded
    } else {
        BlobLayout::Flat
    };
    let capacity = match opts.volume_size {
        Some(v) => {
            let reserve = metadata_reserve(cut.bytes.len() as u64, carried.len());
            Some(v.checked_sub(reserve).filter(|c| *c > 0).ok_or_else(|| {
                anyhow!("--volume-size {v} leaves no room for files after the snapshot's metadata ({reserve} bytes)")
            })?)
        }
        None => None,
    };
    let files = media::plan(
        &carried,
        max_file_size,
        capacity,
        allocation_unit(&opts.to[0]),
    )?;
    let volumes = media::volume_count(&files);
    let targets: Vec<(u32, PathBuf)> = match (opts.volume, opts.to.len()) {
        (Some(v), 1) if v >= 1 && v <= volumes => vec![(v, opts.to[0].clone())],
        (Some(v), 1) => bail!("--volume {v}: the snapshot spans {volumes} volume(s)"),
        (Some(_), _) => bail!("--volume writes one volume: give --to once"),
        (None, n) if n as u32 == volumes => (1..=volumes).zip(opts.to.iter().cloned()).collect(),
        (None, n) => bail!(
            "{} needs {volumes} volume(s) of at most {} bytes but {n} --to were given: give --to once per volume, or write one volume at a time with --to DRIVE --volume N",
            manifest.name(),
            opts.volume_size.unwrap_or(0)
        ),
    };

    // Part digests of split blobs (cached per blob and part size; computed once from the
    // store, which also re-checks the whole blob's digest).
    let mut part_digests: HashMap<Digest, Vec<Digest>> = HashMap::new();
    if let Some(max) = max_file_size {
        for (d, size) in carried.iter().filter(|(_, s)| **s > max) {
            let parts = match src.state.part_digests(d, max)? {
                Some(p) => p,
                None => {
                    progress.phase("hashing parts");
                    let p = hash_parts(&src.cas, d, *size, max)?;
                    src.state.put_part_digests(d, max, &p)?;
                    p
                }
            };
            part_digests.insert(*d, parts);
        }
    }
    let table = media::blob_table(&files, &part_digests).map_err(|e| anyhow!(e))?;
    let layout_index = if volumes == 1 {
        let oci: Vec<Artifact> = manifest
            .artifacts
            .iter()
            .filter(|a| {
                matches!(
                    a.kind,
                    ArtifactKind::OciTag | ArtifactKind::OciManifest | ArtifactKind::OciBlob
                )
            })
            .cloned()
            .collect();
        layout_index(&oci)?
    } else {
        None
    };
    Ok(Plan {
        blobs,
        bytes_total,
        carried,
        omitted_blobs,
        omitted_bytes,
        receipt_site,
        detected,
        max_file_size,
        layout,
        files,
        volumes,
        targets,
        part_digests,
        table,
        layout_index,
    })
}

/// Bytes kept free on each volume for the snapshot directory (manifest, signatures,
/// media description) and the OCI layout files, for a manifest of `manifest_len` bytes
/// and a drive set carrying `blobs` blobs.
pub fn metadata_reserve(manifest_len: u64, blobs: usize) -> u64 {
    // The media description lists each blob in ~200 bytes of pretty JSON (more for parts);
    // filesystems round files up to clusters (32 KiB on large FAT32 volumes).
    2 * manifest_len + 512 * blobs as u64 + 4 * 1024 * 1024
}

/// Reads store blob `digest` once and returns the digests of its parts of `part_size`
/// bytes (the last one shorter), checking the whole blob's digest and size on the way.
pub(super) fn hash_parts(
    cas: &Cas,
    digest: &Digest,
    size: u64,
    part_size: u64,
) -> anyhow::Result<Vec<Digest>> {
    let mut input = cas
        .reader(digest)
        .with_context(|| format!("store blob {digest}: run `mirror-sync sync` again"))?;
    let mut whole = Hasher::new();
    let mut part = Hasher::new();
    let mut in_part = 0u64;
    let mut parts = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = input
            .read(&mut buf)
            .with_context(|| format!("read store blob {digest}"))?;
        if n == 0 {
            break;
        }
        whole.update(&buf[..n]);
        let mut chunk = &buf[..n];
        while !chunk.is_empty() {
            let take = ((part_size - in_part) as usize).min(chunk.len());
            part.update(&chunk[..take]);
            in_part += take as u64;
            chunk = &chunk[take..];
            if in_part == part_size {
                parts.push(std::mem::replace(&mut part, Hasher::new()).finish().0);
                in_part = 0;
            }
        }
    }
    if in_part > 0 {
        parts.push(part.finish().0);
    }
    let (got, len) = whole.finish();
    if got != *digest || len != size {
        bail!(
            "store blob {digest} no longer matches its name (got {got}, {len} bytes); remove it and run `mirror-sync sync` again"
        );
    }
    Ok(parts)
}
