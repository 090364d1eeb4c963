//! `mirror-sync export`: cut a signed snapshot from the last sync of every configured
//! upstream and write it onto a drive (docs/media-format.md).
//!
//! 1. Render what the server will serve: per APT upstream the `Packages` indexes (plain,
//!    gz, xz, and their by-hash copies), a `Release`, and an `InRelease` and `Release.gpg`
//!    signed with the repository key; one merged PEP 503 HTML and PEP 691 JSON simple
//!    index over every `[[pypi]]` upstream; the repository public key; for `[[oci]]`
//!    upstreams the synced manifests, tags and blobs plus one generated referrers index
//!    (`v2/<repo>/referrers/sha256:<hex>`) per subject that has referrers.
//! 2. Build the manifest (every artifact: kind, upstream, logical path, digest, size,
//!    metadata), sign its exact bytes with the ed25519 snapshot key.
//! 3. Write `blobs/sha256/<hex>` for every unique digest (temp name, hash checked while
//!    copying, fsync, rename; blobs already on the drive with the right size are kept, so
//!    an interrupted export resumes), then the manifest, its signature and the signer's
//!    public key last: a drive without a manifest is visibly incomplete. When the snapshot
//!    has OCI tags, the drive root also becomes an OCI image layout (image-spec §Image
//!    Layout): `oci-layout` and `index.json` (one descriptor per tag, annotated
//!    `org.opencontainers.image.ref.name` = the full reference) are written just before
//!    the manifest, each to a temporary name and renamed.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use formats::apt::packages::compress_index;
use formats::apt::release::{ReleaseFields, render_release};
use formats::digest::{Digest, Hasher};
use formats::media::{self, BlobLayout, Media};
use formats::pypi::simple::{self, ServedFile};
use formats::snapshot::{
    self, Artifact, ArtifactKind, MANIFEST_VERSION, Manifest, Meta, SourceKind,
};
use keys::openpgp::RepoSigningKey;
use keys::snapshot::SigningKey;
use serde::Serialize;
use store::Cas;

use crate::config::Config;
use crate::progress::Progress;
use crate::state::{AptIndexState, ExportRecord, PendingExport, State, UpstreamState};

/// What `export` did, for the summary and `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    /// `channel/sequence`.
    pub snapshot: String,
    /// Channel.
    pub channel: String,
    /// Sequence number.
    pub sequence: u64,
    /// Drive directory.
    pub drive: PathBuf,
    /// Manifest path on the drive.
    pub manifest: PathBuf,
    /// Digest of the manifest bytes.
    pub manifest_digest: Digest,
    /// Snapshot signing key id.
    pub signer: String,
    /// Repository key fingerprint (signs the served APT indexes).
    pub repo_signer: String,
    /// Artifacts in the manifest.
    pub artifacts: usize,
    /// Package artifacts (deb, wheel, sdist).
    pub packages: usize,
    /// Unique blobs the snapshot references.
    pub blobs: usize,
    /// Blobs written now (the others were already on the drive).
    pub blobs_written: usize,
    /// Bytes written now.
    pub bytes_written: u64,
    /// Total bytes of all unique blobs.
    pub bytes_total: u64,
    /// True when an existing cut was written (an interrupted export resumed, or `--snapshot`).
    pub resumed: bool,
    /// True when every volume of the snapshot has now been written.
    pub finished: bool,
    /// The delta's base snapshot, if any.
    pub base: Option<String>,
    /// The key id of the site whose receipt decided the drive's content, if any.
    pub receipt_site: Option<String>,
    /// Blobs the drive set carries.
    pub blobs_carried: usize,
    /// Their bytes.
    pub bytes_carried: u64,
    /// Blobs left out (held by the base or the site).
    pub blobs_omitted: usize,
    /// Their bytes.
    pub bytes_omitted: u64,
    /// Files larger than this are split into parts.
    pub max_file_size: Option<u64>,
    /// The filesystem detected on the (first) drive.
    pub filesystem: String,
    /// Blobs split into parts.
    pub split_blobs: usize,
    /// Volumes the snapshot spans.
    pub volumes: u32,
    /// The volumes written by this run.
    pub volumes_written: Vec<VolumeReport>,
    /// Volumes still to write (`--volume N` runs).
    pub volumes_remaining: Vec<u32>,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Warnings (a private key file its group or other users can read,
    /// [`keys::perms::private_key_exposure`]); also printed on stderr.
    pub warnings: Vec<String>,
}

/// Options of one export.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Drive directories (created if missing): one, or one per volume.
    pub to: Vec<PathBuf>,
    /// Write a delta: leave out the blobs of this exported snapshot (`channel/sequence`).
    pub base: Option<String>,
    /// Write a catch-up drive: leave out the blobs a site's receipt says it holds.
    pub receipt: Option<PathBuf>,
    /// The site's public key (PEM) the receipt must be signed with.
    pub site_key: Option<PathBuf>,
    /// Split files larger than this many bytes (default: detected from the drive's
    /// filesystem, 4 GiB − 1 on FAT).
    pub max_file_size: Option<u64>,
    /// Spread the snapshot over volumes of at most this many bytes.
    pub volume_size: Option<u64>,
    /// Write only this volume (1-based) to the single `to`.
    pub volume: Option<u32>,
    /// Write this already cut snapshot (`channel/sequence`) instead of cutting one.
    pub snapshot: Option<String>,
    /// Cut a new snapshot even when an interrupted export could be resumed.
    pub new_cut: bool,
}

/// One volume written by an export.
#[derive(Debug, Clone, Serialize)]
pub struct VolumeReport {
    /// Volume number, 1-based.
    pub volume: u32,
    /// Where it was written.
    pub drive: PathBuf,
    /// Files (whole blobs and parts) on it.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// OCI image layout marker file at the drive root (image-spec §Image Layout).
pub const OCI_LAYOUT_FILE: &str = "oci-layout";
/// OCI image layout index at the drive root (image-spec §Image Layout).
pub const OCI_LAYOUT_INDEX_FILE: &str = "index.json";

const REPO_KEY_ASC: &str = "keys/repo.asc";
const REPO_KEY_GPG: &str = "keys/repo.gpg";

/// Cuts and writes a snapshot. See the module docs for the steps.
///
/// Errors: an upstream never synced, unreadable keys, a conflict between two upstreams
/// (the same served path with different bytes), a store blob whose bytes no longer match
/// its digest, or I/O on the drive — each naming what and where.
pub fn export(
    cfg: &Config,
    opts: &ExportOptions,
    progress: &Progress,
) -> anyhow::Result<ExportReport> {
    let started = Instant::now();
    if opts.to.is_empty() {
        bail!("no drive given: pass --to DRIVE (once per volume with --volume-size)");
    }
    let store_dir = cfg.store_dir();
    let state = State::open(&store_dir)?;
    let cas = Cas::open(&store_dir)
        .with_context(|| format!("cannot open store {}", store_dir.display()))?;
    let snap_key_path = cfg.resolve(&cfg.signing.snapshot_key);
    let snap_key = SigningKey::load(&snap_key_path)
        .with_context(|| format!("cannot load the snapshot key {}", snap_key_path.display()))?;
    let repo_key_path = cfg.resolve(&cfg.signing.repo_key);
    let repo_key = RepoSigningKey::load(&repo_key_path)
        .with_context(|| format!("cannot load the repository key {}", repo_key_path.display()))?;
    let repo_fpr = repo_key.fingerprint();
    let warnings: Vec<String> = [&snap_key_path, &repo_key_path]
        .into_iter()
        .filter_map(|p| keys::perms::private_key_exposure(p))
        .collect();
    for w in &warnings {
        progress.warn(w);
    }

    // 1. The cut: an existing snapshot (--snapshot), the unfinished cut of an interrupted
    //    export (same upstream state), or a new one.
    let (bytes, resumed, mut pending) = match &opts.snapshot {
        Some(name) => {
            let rec = state
                .exports()?
                .into_iter()
                .find(|r| &r.name == name)
                .map(|r| r.manifest)
                .or(state
                    .pending(name.split('/').next().unwrap_or(""))?
                    .filter(|p| &p.name == name)
                    .map(|p| p.manifest))
                .ok_or_else(|| {
                    anyhow!(
                        "snapshot {name} was not cut from this store (see `mirror-sync snapshots`)"
                    )
                })?;
            let bytes = cas
                .read_bytes(&rec, snapshot::MAX_MANIFEST_BYTES)
                .with_context(|| format!("cannot read the manifest of {name} from the store"))?;
            (bytes, true, None)
        }
        None => {
            let states = upstream_states(cfg, &state)?;
            let inputs = inputs_digest(cfg, &states, &snap_key, &repo_fpr);
            match state.pending(&cfg.channel)? {
                Some(p) if p.inputs == inputs && !opts.new_cut => {
                    let bytes = cas
                        .read_bytes(&p.manifest, snapshot::MAX_MANIFEST_BYTES)
                        .with_context(|| {
                            format!("cannot read the manifest of the unfinished cut {}", p.name)
                        })?;
                    progress.println(&format!(
                        "resuming the unfinished export of {} (cut {}); --new-cut starts a new snapshot instead",
                        p.name, p.created
                    ));
                    (bytes, true, Some(p))
                }
                prev => {
                    // A cut that was never fully written keeps its sequence number: the
                    // new one gets the next, so no two different manifests share a name.
                    let sequence = state
                        .last_sequence(&cfg.channel)?
                        .max(prev.map_or(0, |p| p.sequence))
                        + 1;
                    let manifest = cut(cfg, &cas, &states, &snap_key, &repo_key, sequence)?;
                    let bytes = manifest.to_bytes();
                    let digest = cas.put_bytes(&bytes)?;
                    let p = PendingExport {
                        name: manifest.name(),
                        sequence,
                        manifest: digest,
                        created: manifest.created.clone(),
                        inputs,
                        volumes_done: Vec::new(),
                    };
                    state.put_pending(&cfg.channel, &p)?;
                    (bytes, false, Some(p))
                }
            }
        }
    };
    let manifest = Manifest::from_slice(&bytes).context("the stored manifest is invalid")?;
    let manifest_digest = Digest::of(&bytes);
    // Ed25519 signatures are deterministic (RFC 8032): a resumed export writes the same bytes.
    let signature = snap_key.sign(&bytes);

    // 2. What the drive set carries: every blob, minus those the base or the site holds.
    let mut blobs: BTreeMap<Digest, u64> = BTreeMap::new();
    for a in &manifest.artifacts {
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
        let rec = state
            .exports()?
            .into_iter()
            .find(|r| &r.name == base)
            .ok_or_else(|| {
                anyhow!("--base {base}: no such snapshot was exported from this store (see `mirror-sync snapshots`)")
            })?;
        let base_bytes = cas
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

    // 3. The layout: parts for files over the limit, volumes when asked.
    let detected = detect_filesystem(&opts.to[0]);
    let max_file_size = opts.max_file_size.or(detected.max_file_size());
    let layout = if detected.is_fat() && carried.len() > media::FAT_FLAT_DIR_LIMIT {
        BlobLayout::Sharded
    } else {
        BlobLayout::Flat
    };
    let capacity = match opts.volume_size {
        Some(v) => {
            let reserve = metadata_reserve(bytes.len() as u64, carried.len());
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
    let targets: Vec<(u32, &PathBuf)> = match (opts.volume, opts.to.len()) {
        (Some(v), 1) if v >= 1 && v <= volumes => vec![(v, &opts.to[0])],
        (Some(v), 1) => bail!("--volume {v}: the snapshot spans {volumes} volume(s)"),
        (Some(_), _) => bail!("--volume writes one volume: give --to once"),
        (None, n) if n as u32 == volumes => (1..=volumes).zip(opts.to.iter()).collect(),
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
            let parts = match state.part_digests(d, max)? {
                Some(p) => p,
                None => {
                    progress.phase("hashing parts");
                    let p = hash_parts(&cas, d, *size, max)?;
                    state.put_part_digests(d, max, &p)?;
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

    // 4. Write each volume: files (sequential, hash checked, fsynced, renamed), then the
    //    snapshot's metadata, the manifest last.
    let mut blobs_written = 0usize;
    let mut bytes_written = 0u64;
    let mut drives = Vec::new();
    for (volume, to) in &targets {
        let mine: Vec<&media::PlannedFile> = files.iter().filter(|f| f.volume == *volume).collect();
        let snap_dir = to.join(snapshot::snapshot_dir(&manifest.channel, manifest.sequence));
        let manifest_path = snap_dir.join(snapshot::MANIFEST_FILE);
        if let Ok(existing) = std::fs::read(&manifest_path)
            && existing != bytes
        {
            bail!(
                "{} holds a different manifest for {}; the channel state and the drive disagree (use another drive)",
                manifest_path.display(),
                manifest.name()
            );
        }
        progress.phase(&format!("volume {volume}/{volumes}: writing"));
        progress.add_total_files(mine.len() as u64, mine.iter().map(|f| f.size).sum());
        // Files are written one after the other (removable media are fastest that way);
        // each one's fsync and rename run on a second thread so the next file's reading
        // and hashing overlaps the medium catching up. A file gets its final name only
        // after its bytes are on the medium.
        let (tx, rx) = std::sync::mpsc::sync_channel::<(std::fs::File, PathBuf, PathBuf)>(2);
        let finisher = std::thread::spawn(move || -> anyhow::Result<()> {
            for (file, tmp, dst) in rx {
                file.sync_all()
                    .with_context(|| format!("fsync {}", tmp.display()))?;
                drop(file);
                std::fs::rename(&tmp, &dst)
                    .with_context(|| format!("rename {} -> {}", tmp.display(), dst.display()))?;
            }
            Ok(())
        });
        let written = (|| -> anyhow::Result<(usize, u64)> {
            let (mut n, mut b) = (0usize, 0u64);
            for f in &mine {
                let dst = to.join(f.path(layout));
                if let Ok(md) = std::fs::symlink_metadata(&dst)
                    && md.is_file()
                    && md.len() == f.size
                {
                    progress.inc_done(f.size);
                    progress.file_done();
                    continue;
                }
                if let Some(parent) = dst.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create {}", parent.display()))?;
                }
                let expected = match f.part {
                    None => f.blob,
                    Some(i) => *part_digests
                        .get(&f.blob)
                        .and_then(|p| p.get(i))
                        .ok_or_else(|| anyhow!("no digest for part {i} of {}", f.blob))?,
                };
                let (file, tmp) = copy_range(&cas, f, &expected, &dst, progress)?;
                if tx.send((file, tmp, dst)).is_err() {
                    break; // the finisher failed; its error is reported below
                }
                progress.file_done();
                n += 1;
                b += f.size;
            }
            Ok((n, b))
        })();
        drop(tx);
        let finished = finisher
            .join()
            .map_err(|_| anyhow!("the fsync thread panicked"))?;
        let (n, b) = written?;
        finished?;
        blobs_written += n;
        bytes_written += b;
        for dir in mine
            .iter()
            .filter_map(|f| to.join(f.path(layout)).parent().map(Path::to_path_buf))
            .collect::<BTreeSet<_>>()
        {
            sync_dir(&dir)?;
        }
        if let Some(index) = &layout_index {
            write_file(
                &to.join(OCI_LAYOUT_FILE),
                formats::oci::OCI_LAYOUT_FILE_CONTENT.as_bytes(),
            )?;
            write_file(&to.join(OCI_LAYOUT_INDEX_FILE), index)?;
            sync_dir(to)?;
        }
        let media_doc = Media {
            media_version: media::MEDIA_VERSION,
            snapshot: manifest.name(),
            manifest: manifest_digest,
            volume: *volume,
            volumes,
            max_file_size,
            layout,
            base: opts.base.clone(),
            receipt_site: receipt_site.clone(),
            omitted_blobs,
            omitted_bytes,
            blobs: table.clone(),
        };
        let media_bytes = media_doc.to_bytes();
        std::fs::create_dir_all(&snap_dir)
            .with_context(|| format!("cannot create {}", snap_dir.display()))?;
        write_file(
            &snap_dir.join(snapshot::SIGNER_FILE),
            snap_key.public_key().to_pem().as_bytes(),
        )?;
        write_file(&snap_dir.join(snapshot::SIGNATURE_FILE), &signature)?;
        write_file(
            &snap_dir.join(media::MEDIA_SIGNATURE_FILE),
            &snap_key.sign(&media_bytes),
        )?;
        write_file(&snap_dir.join(media::MEDIA_FILE), &media_bytes)?;
        write_file(&manifest_path, &bytes)?;
        sync_dir(&snap_dir)?;
        drives.push(VolumeReport {
            volume: *volume,
            drive: (*to).clone(),
            files: mine.len(),
            bytes: mine.iter().map(|f| f.size).sum(),
        });
        // Record progress so `--volume N` runs add up to a finished export. (This
        // process holds the state database: nobody else changed the record meanwhile.)
        if let Some(p) = &mut pending
            && !p.volumes_done.contains(volume)
        {
            p.volumes_done.push(*volume);
            p.volumes_done.sort_unstable();
            state.put_pending(&manifest.channel, p)?;
        }
    }
    progress.finish();

    // 5. A cut whose every volume is written becomes an exported snapshot.
    let remaining: Vec<u32> = pending.as_ref().map_or(Vec::new(), |p| {
        (1..=volumes)
            .filter(|v| !p.volumes_done.contains(v))
            .collect()
    });
    let finished = opts.snapshot.is_some() || remaining.is_empty();
    if pending.is_some() && remaining.is_empty() {
        state.finish_export(
            &manifest.channel,
            manifest.sequence,
            &ExportRecord {
                name: manifest.name(),
                manifest: manifest_digest,
                created: manifest.created.clone(),
                artifacts: manifest.artifacts.len() as u64,
                bytes: bytes_total,
            },
        )?;
    }
    Ok(ExportReport {
        snapshot: manifest.name(),
        channel: manifest.channel.clone(),
        sequence: manifest.sequence,
        drive: targets
            .first()
            .map(|(_, p)| (*p).clone())
            .unwrap_or_default(),
        manifest: targets
            .first()
            .map(|(_, p)| {
                p.join(snapshot::snapshot_dir(&manifest.channel, manifest.sequence))
                    .join(snapshot::MANIFEST_FILE)
            })
            .unwrap_or_default(),
        manifest_digest,
        signer: manifest.signer.clone(),
        repo_signer: repo_fpr,
        artifacts: manifest.artifacts.len(),
        packages: manifest
            .artifacts
            .iter()
            .filter(|a| a.kind.is_package())
            .count(),
        blobs: blobs.len(),
        blobs_written,
        bytes_written,
        bytes_total,
        resumed,
        finished,
        base: opts.base.clone(),
        receipt_site,
        blobs_carried: carried.len(),
        bytes_carried: carried.values().sum(),
        blobs_omitted: omitted_blobs as usize,
        bytes_omitted: omitted_bytes,
        max_file_size,
        filesystem: detected.name().to_owned(),
        split_blobs: part_digests.len(),
        volumes,
        volumes_written: drives,
        volumes_remaining: remaining,
        seconds: started.elapsed().as_secs_f64(),
        warnings,
    })
}

/// The last sync of every configured upstream, in configuration order.
fn upstream_states(cfg: &Config, state: &State) -> anyhow::Result<Vec<UpstreamState>> {
    let mut states = Vec::new();
    for name in cfg
        .apt
        .iter()
        .map(|a| &a.name)
        .chain(cfg.pypi.iter().map(|p| &p.name))
        .chain(cfg.oci.iter().map(|o| &o.name))
    {
        let st = state.upstream(name)?.ok_or_else(|| {
            anyhow!("upstream {name} has never been synced: run `mirror-sync sync --config <this config>` first")
        })?;
        states.push(st);
    }
    Ok(states)
}

/// A digest over everything a cut is made from: the channel, the keys and every
/// upstream's synced state. Equal digests mean a new cut would hold the same content.
fn inputs_digest(
    cfg: &Config,
    states: &[UpstreamState],
    snap_key: &SigningKey,
    repo_fpr: &str,
) -> Digest {
    let mut h = Hasher::new();
    h.update(cfg.channel.as_bytes());
    h.update(b"\n");
    h.update(snap_key.public_key().key_id().as_bytes());
    h.update(b"\n");
    h.update(repo_fpr.as_bytes());
    for st in states {
        h.update(b"\n");
        h.update(&serde_json::to_vec(st).unwrap_or_default());
    }
    h.finish().0
}

/// Bytes kept free on each volume for the snapshot directory (manifest, signatures,
/// media description) and the OCI layout files, for a manifest of `manifest_len` bytes
/// and a drive set carrying `blobs` blobs.
pub fn metadata_reserve(manifest_len: u64, blobs: usize) -> u64 {
    // The media description lists each blob in ~200 bytes of pretty JSON (more for parts);
    // filesystems round files up to clusters (32 KiB on large FAT32 volumes).
    2 * manifest_len + 512 * blobs as u64 + 4 * 1024 * 1024
}

/// Builds and validates the manifest of snapshot `sequence` on the configured channel from
/// the upstream `states` (see the module docs, steps 1–2). Every generated file is put in
/// the store's CAS.
fn cut(
    cfg: &Config,
    cas: &Cas,
    states: &[UpstreamState],
    snap_key: &SigningKey,
    repo_key: &RepoSigningKey,
    sequence: u64,
) -> anyhow::Result<Manifest> {
    let repo_fpr = repo_key.fingerprint();
    let created = crate::now_rfc3339();
    let now = chrono::Utc::now();
    let mut artifacts: Vec<Artifact> = Vec::new();
    let mut oci_artifacts: BTreeMap<String, Artifact> = BTreeMap::new();
    let mut sources = Vec::new();
    for st in states {
        if st.source.kind == SourceKind::Oci {
            sources.push(st.source.clone());
            merge_oci(&mut oci_artifacts, &st.artifacts)?;
            continue;
        }
        let mut src = st.source.clone();
        if src.kind == SourceKind::Apt {
            src.repo_signer = Some(repo_fpr.clone());
        }
        sources.push(src);
        artifacts.extend(
            st.artifacts
                .iter()
                .filter(|a| {
                    a.kind != ArtifactKind::Wheel
                        && a.kind != ArtifactKind::Sdist
                        && a.kind != ArtifactKind::CoreMetadata
                })
                .cloned(),
        );
    }

    // APT: indexes, Release, InRelease, Release.gpg.
    for (st, up) in states.iter().zip(&cfg.apt) {
        artifacts.extend(render_apt(
            cas,
            st,
            &up.architectures,
            &up.components,
            repo_key,
            now,
        )?);
    }
    // Repository public key.
    if !cfg.apt.is_empty() {
        for (path, bytes) in [
            (REPO_KEY_ASC, repo_key.public_armored()?.into_bytes()),
            (REPO_KEY_GPG, repo_key.public_binary()?),
        ] {
            let digest = cas.put_bytes(&bytes)?;
            artifacts.push(Artifact {
                kind: ArtifactKind::RepoKey,
                upstream: None,
                path: path.into(),
                digest,
                size: bytes.len() as u64,
                media_type: Some(
                    if path.ends_with(".asc") {
                        "application/pgp-keys"
                    } else {
                        "application/octet-stream"
                    }
                    .into(),
                ),
                meta: Meta::default(),
            });
        }
    }
    // PyPI: files from every upstream, merged into one simple index.
    let pypi_states: Vec<&UpstreamState> = states
        .iter()
        .filter(|s| s.source.kind == SourceKind::Pypi)
        .collect();
    if !pypi_states.is_empty() {
        artifacts.extend(render_simple(cas, &pypi_states)?);
    }
    // OCI: the synced artifacts, the generated referrers indexes, the image layout.
    let oci: Vec<Artifact> = oci_artifacts.into_values().collect();
    let read_manifest = |d: &Digest| -> anyhow::Result<Vec<u8>> {
        Ok(cas.read_bytes(d, formats::oci::MAX_MANIFEST_BYTES)?)
    };
    for (path, upstream, bytes) in referrers_indexes(&oci, read_manifest)? {
        let a = put(
            cas,
            ArtifactKind::OciReferrers,
            upstream.as_deref(),
            path,
            &bytes,
            formats::oci::OCI_INDEX,
        )?;
        artifacts.push(a);
    }
    artifacts.extend(oci);

    artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    let mut manifest = Manifest {
        manifest_version: MANIFEST_VERSION,
        channel: cfg.channel.clone(),
        sequence,
        created,
        base: None,
        generator: format!("mirror-sync {}", env!("CARGO_PKG_VERSION")),
        signer: snap_key.public_key().key_id(),
        sources,
        artifacts,
    };
    // The SBOMs describe every other artifact and are themselves artifacts, so the signed
    // manifest pins their digests.
    for (path, bytes, media_type) in [
        (
            snapshot::SBOM_CYCLONEDX_PATH,
            formats::sbom::cyclonedx(&manifest),
            "application/vnd.cyclonedx+json",
        ),
        (
            snapshot::SBOM_SPDX_PATH,
            formats::sbom::spdx(&manifest),
            "application/spdx+json",
        ),
    ] {
        let a = put(
            cas,
            ArtifactKind::Sbom,
            None,
            path.to_owned(),
            &bytes,
            media_type,
        )?;
        manifest.artifacts.push(a);
    }
    manifest.artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    manifest
        .validate()
        .context("the snapshot about to be written is invalid (a bug)")?;
    Ok(manifest)
}

fn put(
    cas: &Cas,
    kind: ArtifactKind,
    upstream: Option<&str>,
    path: String,
    bytes: &[u8],
    media_type: &str,
) -> anyhow::Result<Artifact> {
    formats::path::validate(&path)?;
    let digest = cas.put_bytes(bytes)?;
    Ok(Artifact {
        kind,
        upstream: upstream.map(str::to_owned),
        path,
        digest,
        size: bytes.len() as u64,
        media_type: Some(media_type.into()),
        meta: Meta::default(),
    })
}

/// Renders the served indexes of one APT upstream (see the module docs).
fn render_apt(
    cas: &Cas,
    st: &UpstreamState,
    architectures: &[String],
    components: &[String],
    repo_key: &RepoSigningKey,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Vec<Artifact>> {
    let name = st.name.as_str();
    let mut out = Vec::new();
    let dists: BTreeSet<Option<String>> = st.apt_indexes.iter().map(|i| i.suite.clone()).collect();
    for dist in dists {
        let root = match &dist {
            Some(s) => format!("apt/{name}/dists/{s}"),
            None => format!("apt/{name}"),
        };
        let mut entries: Vec<(String, u64, String)> = Vec::new();
        for idx in st.apt_indexes.iter().filter(|i| i.suite == dist) {
            let dir = index_subdir(idx);
            let text = if idx.stanzas.is_empty() {
                String::new()
            } else {
                let mut t = idx.stanzas.join("\n\n");
                t.push('\n');
                t
            };
            let (gz, xz) = compress_index(&text);
            for (file, bytes, mt) in [
                ("Packages", text.as_bytes(), "text/plain; charset=utf-8"),
                ("Packages.gz", gz.as_slice(), "application/gzip"),
                ("Packages.xz", xz.as_slice(), "application/x-xz"),
            ] {
                let rel = format!("{dir}{file}");
                let a = put(
                    cas,
                    ArtifactKind::AptIndex,
                    Some(name),
                    format!("{root}/{rel}"),
                    bytes,
                    mt,
                )?;
                entries.push((rel, a.size, a.digest.hex()));
                if dist.is_some() {
                    let mut by_hash = a.clone();
                    by_hash.path = format!("{root}/{dir}by-hash/SHA256/{}", a.digest.hex());
                    out.push(by_hash);
                }
                out.push(a);
            }
        }
        let info = st
            .apt_suites
            .iter()
            .find(|s| s.dist == dist)
            .cloned()
            .unwrap_or_default();
        let fields = ReleaseFields {
            origin: info.origin.unwrap_or_else(|| name.to_owned()),
            label: info.label.unwrap_or_else(|| name.to_owned()),
            suite: dist
                .as_ref()
                .map(|d| info.suite.clone().unwrap_or_else(|| d.clone())),
            codename: if dist.is_some() {
                info.codename.clone()
            } else {
                None
            },
            date: now,
            architectures: architectures.to_vec(),
            components: if dist.is_some() {
                components.to_vec()
            } else {
                Vec::new()
            },
            description: info.description,
            acquire_by_hash: dist.is_some(),
            not_automatic: info.not_automatic,
            but_automatic_upgrades: info.but_automatic_upgrades,
        };
        let release = render_release(&fields, &entries);
        let inrelease = repo_key.sign_inrelease(&release)?;
        let release_gpg = repo_key.sign_detached(&release)?;
        for (file, bytes) in [
            ("Release", release.as_bytes()),
            ("InRelease", inrelease.as_bytes()),
            ("Release.gpg", release_gpg.as_bytes()),
        ] {
            out.push(put(
                cas,
                ArtifactKind::AptRelease,
                Some(name),
                format!("{root}/{file}"),
                bytes,
                "text/plain; charset=utf-8",
            )?);
        }
    }
    Ok(out)
}

fn index_subdir(idx: &AptIndexState) -> String {
    match (&idx.component, &idx.architecture) {
        (Some(c), Some(a)) => format!("{c}/binary-{a}/"),
        _ => String::new(),
    }
}

/// Merges the files of every PyPI upstream into one simple index and renders its pages.
fn render_simple(cas: &Cas, states: &[&UpstreamState]) -> anyhow::Result<Vec<Artifact>> {
    let mut by_path: BTreeMap<String, Artifact> = BTreeMap::new();
    for st in states {
        merge_by_path(
            &mut by_path,
            st.artifacts.iter().filter(|a| {
                matches!(
                    a.kind,
                    ArtifactKind::Wheel | ArtifactKind::Sdist | ArtifactKind::CoreMetadata
                )
            }),
            "remove it from one of them",
        )?;
    }
    let mut projects: BTreeMap<String, Vec<&Artifact>> = BTreeMap::new();
    for a in by_path.values() {
        if !matches!(a.kind, ArtifactKind::Wheel | ArtifactKind::Sdist) {
            continue;
        }
        let project = a
            .path
            .strip_prefix("simple/")
            .and_then(|r| r.split_once('/'))
            .map(|(p, _)| p.to_owned())
            .ok_or_else(|| anyhow!("unexpected path {}", a.path))?;
        projects.entry(project).or_default().push(a);
    }
    let mut out: Vec<Artifact> = by_path.values().cloned().collect();
    let mut names = Vec::new();
    for (project, files) in &projects {
        let display = files
            .iter()
            .find_map(|a| a.meta.name.clone())
            .unwrap_or_else(|| project.clone());
        names.push(display.clone());
        let served: Vec<ServedFile> = files
            .iter()
            .map(|a| {
                let filename = a
                    .meta
                    .filename
                    .clone()
                    .unwrap_or_else(|| a.path.rsplit('/').next().unwrap_or("").to_owned());
                ServedFile {
                    href: filename.clone(),
                    filename,
                    sha256: a.digest.hex(),
                    requires_python: a.meta.requires_python.clone(),
                    yanked: a.meta.yanked.clone(),
                    core_metadata_sha256: a.meta.core_metadata.map(|d| d.hex()),
                    size: a.size,
                    upload_time: a.meta.upload_time.clone(),
                }
            })
            .collect();
        let html = simple::render_project_html(&display, &served);
        let json = simple::render_project_json(&display, &served);
        out.extend(simple_pages(
            cas,
            &format!("simple/{project}"),
            &html,
            &json,
        )?);
    }
    let html = simple::render_index_html(&names);
    let json = simple::render_index_json(&names);
    out.extend(simple_pages(cas, "simple", &html, &json)?);
    Ok(out)
}

/// The PEP 503 HTML and PEP 691 JSON renderings of one page, as `<dir>/index.html` and
/// `<dir>/index.json` (the server picks one by content negotiation).
fn simple_pages(cas: &Cas, dir: &str, html: &str, json: &[u8]) -> anyhow::Result<[Artifact; 2]> {
    Ok([
        put(
            cas,
            ArtifactKind::SimplePage,
            None,
            format!("{dir}/index.html"),
            html.as_bytes(),
            "text/html; charset=utf-8",
        )?,
        put(
            cas,
            ArtifactKind::SimplePage,
            None,
            format!("{dir}/index.json"),
            json,
            simple::JSON_MEDIA_TYPE,
        )?,
    ])
}

/// Adds the artifacts of one OCI upstream to `into` (keyed by path). Two upstreams may
/// mirror the same repository (same registry); equal paths must then have equal bytes.
/// Referrers indexes are left out: export generates them from the whole snapshot.
fn merge_oci(into: &mut BTreeMap<String, Artifact>, artifacts: &[Artifact]) -> anyhow::Result<()> {
    merge_by_path(
        into,
        artifacts
            .iter()
            .filter(|a| a.kind != ArtifactKind::OciReferrers),
        "a tag moved between their syncs: sync both again",
    )
}

/// Adds `artifacts` to `into` keyed by path. The same path from two upstreams must carry
/// the same bytes; otherwise the error names both and ends with `remedy`.
fn merge_by_path<'a>(
    into: &mut BTreeMap<String, Artifact>,
    artifacts: impl Iterator<Item = &'a Artifact>,
    remedy: &str,
) -> anyhow::Result<()> {
    for a in artifacts {
        match into.get(&a.path) {
            Some(prev) if prev.digest != a.digest => bail!(
                "{} comes from upstreams {} and {} with different bytes ({} vs {}); {remedy}",
                a.path,
                prev.upstream.as_deref().unwrap_or("?"),
                a.upstream.as_deref().unwrap_or("?"),
                prev.digest,
                a.digest
            ),
            Some(_) => {}
            None => {
                into.insert(a.path.clone(), a.clone());
            }
        }
    }
    Ok(())
}

/// A generated file: (logical path, upstream it belongs to, bytes).
pub type GeneratedIndex = (String, Option<String>, Vec<u8>);

/// Splits `v2/<repo>/manifests/<reference>` into (`<repo>`, `<reference>`).
fn split_manifest_path(path: &str) -> Option<(&str, &str)> {
    path.strip_prefix("v2/")?.rsplit_once("/manifests/")
}

/// The generated referrers indexes (distribution-spec §Listing Referrers) of a set of OCI
/// artifacts: for each repository and each subject digest that some `oci-manifest` of that
/// repository names in `meta.subject` (an OCI 1.1 `subject`, or the image a cosign
/// `sha256-<hex>.sig/.att/.sbom` tag belongs to), one OCI image index at
/// `v2/<repo>/referrers/sha256:<hex>` listing those manifests' descriptors: `mediaType`,
/// `digest`, `size`, `artifactType` (`meta.artifact_type`, else the manifest's
/// `artifactType`, else its config media type) and the manifest's `annotations`.
///
/// `read_manifest` returns a manifest's bytes by digest (annotations are read from them).
/// Returns (logical path, upstream of the first referrer, index bytes), sorted by path.
///
/// Errors: a manifest that cannot be read or parsed.
pub fn referrers_indexes(
    artifacts: &[Artifact],
    read_manifest: impl Fn(&Digest) -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<Vec<GeneratedIndex>> {
    let mut groups: BTreeMap<(String, Digest), (Option<String>, Vec<formats::oci::Descriptor>)> =
        BTreeMap::new();
    let mut seen: BTreeSet<(String, Digest, Digest)> = BTreeSet::new();
    for a in artifacts {
        if a.kind != ArtifactKind::OciManifest {
            continue;
        }
        let Some(subject) = a.meta.subject else {
            continue;
        };
        let Some((repo, _)) = split_manifest_path(&a.path) else {
            bail!(
                "{}: not a v2/<repository>/manifests/<reference> path",
                a.path
            );
        };
        if !seen.insert((repo.to_owned(), subject, a.digest)) {
            continue;
        }
        let bytes = read_manifest(&a.digest)
            .with_context(|| format!("cannot read manifest {} ({})", a.digest, a.path))?;
        let parsed = formats::oci::parse_manifest(&bytes, a.media_type.as_deref())
            .with_context(|| format!("manifest {} ({})", a.digest, a.path))?;
        let mut d = formats::oci::Descriptor::new(
            a.media_type
                .clone()
                .unwrap_or_else(|| parsed.media_type.clone()),
            a.digest,
            a.size,
        );
        d.artifact_type = a
            .meta
            .artifact_type
            .clone()
            .or_else(|| parsed.artifact_type.clone())
            .or_else(|| parsed.config.as_ref().map(|c| c.media_type.clone()));
        d.annotations = parsed.annotations.clone();
        let e = groups
            .entry((repo.to_owned(), subject))
            .or_insert_with(|| (a.upstream.clone(), Vec::new()));
        e.1.push(d);
    }
    groups
        .into_iter()
        .map(|((repo, subject), (upstream, descs))| {
            let path = format!("v2/{repo}/referrers/{subject}");
            formats::path::validate(&path)?;
            Ok((path, upstream, formats::oci::render_referrers_index(&descs)))
        })
        .collect()
}

/// The `index.json` of the drive as an OCI image layout (image-spec §Image Layout): one
/// descriptor (media type, digest, size of the manifest it names) per `oci-tag` artifact,
/// annotated with `org.opencontainers.image.ref.name` = `meta.reference` (the full
/// reference with the original registry host, `docker.io/library/ubuntu:24.04`; derived
/// from the path when absent). `None` when there is no tag.
///
/// Errors: a tag artifact whose path is not `v2/<repo>/manifests/<tag>`.
pub fn layout_index(artifacts: &[Artifact]) -> anyhow::Result<Option<Vec<u8>>> {
    let mut entries = Vec::new();
    for a in artifacts.iter().filter(|a| a.kind == ArtifactKind::OciTag) {
        let reference = match &a.meta.reference {
            Some(r) => r.clone(),
            None => {
                let (repo, tag) = split_manifest_path(&a.path).ok_or_else(|| {
                    anyhow!("{}: not a v2/<repository>/manifests/<tag> path", a.path)
                })?;
                match formats::oci::split_served_name(repo) {
                    Some((registry, path)) => format!("{registry}/{path}:{tag}"),
                    None => format!("{repo}:{tag}"),
                }
            }
        };
        let media_type = a
            .media_type
            .clone()
            .unwrap_or_else(|| formats::oci::OCI_MANIFEST.to_owned());
        entries.push((
            formats::oci::Descriptor::new(media_type, a.digest, a.size),
            reference,
        ));
    }
    if entries.is_empty() {
        return Ok(None);
    }
    Ok(Some(formats::oci::render_layout_index(&entries)))
}

/// Copies one planned file (a whole blob, or one part of it) from the store onto the
/// drive under its temporary name, with the sha256 of the bytes checked against
/// `expected` while copying (a store blob that rotted is caught here). Returns the open
/// file and its temporary path: the caller fsyncs it and renames it to `dst`.
fn copy_range(
    cas: &Cas,
    f: &media::PlannedFile,
    expected: &Digest,
    dst: &Path,
    progress: &Progress,
) -> anyhow::Result<(std::fs::File, PathBuf)> {
    use std::io::Seek as _;
    let src = cas.blob_path(&f.blob);
    let mut input = std::fs::File::open(&src).with_context(|| {
        format!(
            "store blob {} is missing ({}); run `mirror-sync sync` again",
            f.blob,
            src.display()
        )
    })?;
    if f.offset > 0 {
        input
            .seek(std::io::SeekFrom::Start(f.offset))
            .with_context(|| format!("seek {}", src.display()))?;
    }
    let mut input = input.take(f.size);
    let tmp = partial_name(dst);
    let mut out =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    // Reading runs on its own thread, so the medium's reads overlap the hashing and
    // writing here. Four 4 MiB buffers circulate: memory stays flat whatever the size.
    const CHUNK: usize = 4 << 20;
    let mut hasher = Hasher::new();
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<std::io::Result<(Vec<u8>, usize)>>(4);
    let (empty_tx, empty_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
    for _ in 0..4 {
        let _ = empty_tx.send(vec![0u8; CHUNK]);
    }
    let copied = std::thread::scope(|scope| -> anyhow::Result<()> {
        scope.spawn(move || {
            while let Ok(mut buf) = empty_rx.recv() {
                let r = read_full(&mut input, &mut buf);
                let done = !matches!(r, Ok(n) if n > 0);
                if full_tx.send(r.map(|n| (buf, n))).is_err() || done {
                    return;
                }
            }
        });
        let result = (|| -> anyhow::Result<()> {
            while let Ok(r) = full_rx.recv() {
                let (buf, n) = r.with_context(|| format!("read {}", src.display()))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                out.write_all(&buf[..n])
                    .with_context(|| format!("write {}", tmp.display()))?;
                progress.inc_done(n as u64);
                // The reader may have finished already (it saw the end): the chunks it
                // queued are still received above, so a refused buffer is no error.
                let _ = empty_tx.send(buf);
            }
            Ok(())
        })();
        // Ends the reader if it is still waiting for a buffer.
        drop(empty_tx);
        drop(full_rx);
        result
    });
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let (got, len) = hasher.finish();
    if got != *expected || len != f.size {
        let _ = std::fs::remove_file(&tmp);
        bail!(
            "store blob {} no longer matches its name (bytes {}..{} hash to {got}, {len} bytes; expected {expected}); remove it and run `mirror-sync sync` again",
            src.display(),
            f.offset,
            f.offset + f.size,
        );
    }
    Ok((out, tmp))
}

/// Reads until `buf` is full or the input ends; returns the bytes read (0 at the end).
fn read_full(r: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The temporary name a file is written under before its rename: `<name>.partial`.
fn partial_name(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

/// Reads store blob `digest` once and returns the digests of its parts of `part_size`
/// bytes (the last one shorter), checking the whole blob's digest and size on the way.
fn hash_parts(
    cas: &Cas,
    digest: &Digest,
    size: u64,
    part_size: u64,
) -> anyhow::Result<Vec<Digest>> {
    let src = cas.blob_path(digest);
    let mut input = std::fs::File::open(&src)
        .with_context(|| format!("store blob {digest} is missing ({})", src.display()))?;
    let mut whole = Hasher::new();
    let mut part = Hasher::new();
    let mut in_part = 0u64;
    let mut parts = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = input
            .read(&mut buf)
            .with_context(|| format!("read {}", src.display()))?;
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
            "store blob {} no longer matches its name (got {got}, {len} bytes); remove it and run `mirror-sync sync` again",
            src.display()
        );
    }
    Ok(parts)
}

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

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = partial_name(path);
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("write {}", tmp.display()))?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path).with_context(|| format!("rename to {}", path.display()))?;
    Ok(())
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    store::cas::sync_dir(dir).with_context(|| format!("fsync {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use formats::oci::{COSIGN_SIMPLESIGNING, OCI_INDEX, OCI_MANIFEST, REF_NAME_ANNOTATION};
    use serde_json::Value;

    fn art(kind: ArtifactKind, path: &str, bytes: &[u8], meta: Meta) -> Artifact {
        Artifact {
            kind,
            upstream: Some("reg".into()),
            path: path.into(),
            digest: Digest::of(bytes),
            size: bytes.len() as u64,
            media_type: Some(OCI_MANIFEST.into()),
            meta,
        }
    }

    fn manifest(config_type: &str, extra: &str) -> Vec<u8> {
        let c = Digest::of(b"config");
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{config_type}","digest":"{c}","size":6}},"layers":[]{extra}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn referrers_are_grouped_by_repo_and_subject() {
        let image = manifest("application/vnd.oci.image.config.v1+json", "");
        let image_d = Digest::of(&image);
        let sig = manifest(
            "application/vnd.oci.image.config.v1+json",
            r#","annotations":{"created-by":"test"}"#,
        );
        let sbom = manifest(
            "application/vnd.oci.empty.v1+json",
            r#","artifactType":"application/spdx+json""#,
        );
        let repo = "v2/127.0.0.1__5000/team/app";
        let other = "v2/127.0.0.1__5000/team/other";
        let arts = vec![
            art(
                ArtifactKind::OciManifest,
                &format!("{repo}/manifests/{image_d}"),
                &image,
                Meta::default(),
            ),
            art(
                ArtifactKind::OciTag,
                &format!("{repo}/manifests/v1"),
                &image,
                Meta::default(),
            ),
            art(
                ArtifactKind::OciManifest,
                &format!("{repo}/manifests/{}", Digest::of(&sig)),
                &sig,
                Meta {
                    subject: Some(image_d),
                    artifact_type: Some(COSIGN_SIMPLESIGNING.into()),
                    ..Meta::default()
                },
            ),
            art(
                ArtifactKind::OciManifest,
                &format!("{repo}/manifests/{}", Digest::of(&sbom)),
                &sbom,
                Meta {
                    subject: Some(image_d),
                    ..Meta::default()
                },
            ),
            // The same referrer in another repository gets its own index.
            art(
                ArtifactKind::OciManifest,
                &format!("{other}/manifests/{}", Digest::of(&sig)),
                &sig,
                Meta {
                    subject: Some(image_d),
                    ..Meta::default()
                },
            ),
        ];
        let store: BTreeMap<Digest, Vec<u8>> = [&image, &sig, &sbom]
            .into_iter()
            .map(|b| (Digest::of(b), b.clone()))
            .collect();
        let read = |d: &Digest| store.get(d).cloned().ok_or_else(|| anyhow!("missing {d}"));
        let out = referrers_indexes(&arts, read).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].0, format!("{repo}/referrers/{image_d}"));
        assert_eq!(out[0].1.as_deref(), Some("reg"));
        assert_eq!(out[1].0, format!("{other}/referrers/{image_d}"));
        let v: Value = serde_json::from_slice(&out[0].2).unwrap();
        assert_eq!(v["mediaType"], OCI_INDEX);
        assert_eq!(v["schemaVersion"], 2);
        let m = v["manifests"].as_array().unwrap();
        assert_eq!(m.len(), 2);
        let by_digest = |d: Digest| m.iter().find(|x| x["digest"] == d.to_string()).unwrap();
        let s = by_digest(Digest::of(&sig));
        assert_eq!(s["artifactType"], COSIGN_SIMPLESIGNING);
        assert_eq!(s["annotations"]["created-by"], "test");
        assert_eq!(s["size"], sig.len());
        assert_eq!(s["mediaType"], OCI_MANIFEST);
        // artifactType falls back to the manifest's own field.
        assert_eq!(
            by_digest(Digest::of(&sbom))["artifactType"],
            "application/spdx+json"
        );
        // Other repo: the config media type is the fallback of last resort.
        let v: Value = serde_json::from_slice(&out[1].2).unwrap();
        assert_eq!(
            v["manifests"][0]["artifactType"],
            "application/vnd.oci.image.config.v1+json"
        );
        // A referrer whose bytes are missing is an error naming it.
        let e = referrers_indexes(&arts, |d: &Digest| Err(anyhow!("gone {d}"))).unwrap_err();
        assert!(format!("{e:#}").contains("gone"), "{e:#}");
        // No referrers, no index.
        assert!(referrers_indexes(&arts[..2], read).unwrap().is_empty());
    }

    #[test]
    fn layout_index_lists_every_tag_with_its_reference() {
        let image = manifest("application/vnd.oci.image.config.v1+json", "");
        let mut tag = art(
            ArtifactKind::OciTag,
            "v2/docker.io/library/ubuntu/manifests/24.04",
            &image,
            Meta {
                reference: Some("docker.io/library/ubuntu:24.04".into()),
                ..Meta::default()
            },
        );
        tag.media_type = Some(OCI_INDEX.into());
        let no_ref = art(
            ArtifactKind::OciTag,
            "v2/127.0.0.1__5000/team/app/manifests/v1",
            &image,
            Meta::default(),
        );
        let digest_only = art(
            ArtifactKind::OciManifest,
            &format!(
                "v2/docker.io/library/ubuntu/manifests/{}",
                Digest::of(&image)
            ),
            &image,
            Meta::default(),
        );
        assert!(
            layout_index(std::slice::from_ref(&digest_only))
                .unwrap()
                .is_none()
        );
        let bytes = layout_index(&[tag, no_ref, digest_only]).unwrap().unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["schemaVersion"], 2);
        let m = v["manifests"].as_array().unwrap();
        assert_eq!(m.len(), 2);
        // Sorted by reference name.
        assert_eq!(
            m[0]["annotations"][REF_NAME_ANNOTATION],
            "127.0.0.1:5000/team/app:v1"
        );
        assert_eq!(m[0]["mediaType"], OCI_MANIFEST);
        assert_eq!(
            m[1]["annotations"][REF_NAME_ANNOTATION],
            "docker.io/library/ubuntu:24.04"
        );
        assert_eq!(m[1]["mediaType"], OCI_INDEX);
        assert_eq!(m[1]["digest"], Digest::of(&image).to_string());
        assert_eq!(m[1]["size"], image.len());
    }

    #[test]
    fn copy_range_copies_many_chunks_and_part_ranges_exactly() {
        let t = tempfile::tempdir().unwrap();
        let cas = Cas::open(&t.path().join("store")).unwrap();
        // 5 chunks and a bit: the reader thread finishes well before the writer.
        let data: Vec<u8> = (0..(20 << 20) + 7u32)
            .map(|i| (i * 7 + i / 4099) as u8)
            .collect();
        let d = cas.put_bytes(&data).unwrap();
        let progress = Progress::hidden();
        let whole = media::PlannedFile {
            blob: d,
            part: None,
            offset: 0,
            size: data.len() as u64,
            volume: 1,
        };
        let dst = t.path().join("whole");
        let (f, tmp) = copy_range(&cas, &whole, &d, &dst, &progress).unwrap();
        drop(f);
        assert_eq!(std::fs::read(&tmp).unwrap(), data);
        let (off, len) = (5usize << 20, (9usize << 20) + 3);
        let range = &data[off..off + len];
        let part = media::PlannedFile {
            blob: d,
            part: Some(1),
            offset: off as u64,
            size: len as u64,
            volume: 1,
        };
        let dst = t.path().join("part");
        let (_, tmp) = copy_range(&cas, &part, &Digest::of(range), &dst, &progress).unwrap();
        assert_eq!(std::fs::read(&tmp).unwrap(), range);
        // A wrong expected digest is refused and leaves no temp file.
        let dst = t.path().join("bad");
        assert!(copy_range(&cas, &part, &d, &dst, &progress).is_err());
        assert!(!partial_name(&dst).exists());
        // Part digests match the ranges they name.
        let parts = hash_parts(&cas, &d, data.len() as u64, 8 << 20).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[1], Digest::of(&data[8 << 20..16 << 20]));
        assert_eq!(parts[2], Digest::of(&data[16 << 20..]));
    }

    #[test]
    fn equal_paths_from_two_upstreams_must_agree() {
        let mut into = BTreeMap::new();
        let a = art(
            ArtifactKind::OciTag,
            "v2/r.example/a/manifests/v1",
            b"one",
            Meta::default(),
        );
        merge_oci(&mut into, std::slice::from_ref(&a)).unwrap();
        merge_oci(&mut into, std::slice::from_ref(&a)).unwrap();
        assert_eq!(into.len(), 1);
        let b = art(
            ArtifactKind::OciTag,
            "v2/r.example/a/manifests/v1",
            b"two",
            Meta::default(),
        );
        assert!(merge_oci(&mut into, &[b]).is_err());
    }
}
