//! `mirror-sync export`: cut a signed snapshot from the last sync of every configured
//! upstream and write it onto a drive, or a set of volumes (docs/media-format.md).
//!
//! 1. Open the store, its state and the two signing keys (`cut::Source`).
//! 2. The cut (`cut`): an existing snapshot (`--snapshot`), the unfinished cut of an
//!    interrupted export (same upstream state), or a new one: what the server will serve
//!    rendered (`render`, which calls each ecosystem's render step: APT indexes signed
//!    with the repository key, one merged PEP 503/691 simple index, OCI referrers
//!    indexes), the manifest built (every artifact:
//!    kind, upstream, logical path, digest, size, metadata) and its exact bytes signed
//!    with the ed25519 snapshot key.
//! 3. The plan (`plan`): the blobs the drive set carries (minus those a `--base`
//!    snapshot or a site's receipt holds), parts for files over the size limit and the
//!    blob directory layout for the drive's filesystem (`filesystem`: FAT32's 4 GiB − 1
//!    and directory limits, exFAT), the volumes, the blob table.
//! 4. Per volume, write the blobs (`write::blobs`: `blobs/sha256/<hex>` for every unique
//!    digest, temp name, hash checked while copying, fsync, rename; blobs already on the
//!    drive with the right size are kept, so an interrupted export resumes).
//! 5. Per volume, write the snapshot files (`write::snapshot_files`): the OCI image
//!    layout at the drive root when the snapshot has tags (image-spec §Image Layout:
//!    `oci-layout`, `index.json` with one descriptor per tag annotated
//!    `org.opencontainers.image.ref.name`), the signer's public key, the signatures, the
//!    media description, and the manifest last: a drive without a manifest is visibly
//!    incomplete. The volume is recorded as done in the channel's pending record.
//! 6. A cut whose every volume is written becomes an exported snapshot (`finish`).

mod cut;
mod filesystem;
mod options;
mod plan;
mod render;
#[cfg(test)]
mod tests;
mod write;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::bail;
use formats::digest::Digest;
use serde::Serialize;

pub use filesystem::{Filesystem, allocation_unit, detect_filesystem};
pub use options::ExportOptions;
pub use plan::metadata_reserve;
pub use render::{layout_index, referrers_indexes};
pub use write::{OCI_LAYOUT_FILE, OCI_LAYOUT_INDEX_FILE};

use crate::config::Config;
use crate::progress::Progress;
use crate::state::{ExportRecord, State};

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
    // 1. Open.
    let src = cut::Source::open(cfg, progress)?;
    // 2. The cut.
    let mut cut = cut::choose(cfg, &src, opts.snapshot.as_deref(), opts.new_cut, progress)?;
    // 3. The plan.
    let plan = plan::plan(opts, &src, &cut, progress)?;
    let mut drives = Vec::new();
    let (mut blobs_written, mut bytes_written) = (0usize, 0u64);
    for (volume, to) in &plan.targets {
        // 4. The blobs.
        let (n, b) = write::blobs(&src.cas, &cut, &plan, *volume, to, progress)?;
        blobs_written += n;
        bytes_written += b;
        // 5. The snapshot files, the manifest last; the volume is recorded as done.
        write::snapshot_files(
            &cut,
            &plan,
            &src.snap_key,
            opts.base.as_deref(),
            *volume,
            to,
        )?;
        let mine = plan.files.iter().filter(|f| f.volume == *volume);
        drives.push(VolumeReport {
            volume: *volume,
            drive: to.clone(),
            files: mine.clone().count(),
            bytes: mine.map(|f| f.size).sum(),
        });
        record_volume(&src.state, &mut cut, *volume)?;
    }
    progress.finish();
    // 6. The exported snapshot.
    let remaining = finish(&src.state, &cut, &plan)?;
    let manifest = &cut.manifest;
    Ok(ExportReport {
        snapshot: manifest.name(),
        channel: manifest.channel.clone(),
        sequence: manifest.sequence,
        drive: plan
            .targets
            .first()
            .map(|(_, p)| p.clone())
            .unwrap_or_default(),
        manifest: plan
            .targets
            .first()
            .map(|(_, p)| {
                p.join(formats::snapshot::snapshot_dir(
                    &manifest.channel,
                    manifest.sequence,
                ))
                .join(formats::snapshot::MANIFEST_FILE)
            })
            .unwrap_or_default(),
        manifest_digest: cut.digest,
        signer: manifest.signer.clone(),
        repo_signer: src.repo_fpr.clone(),
        artifacts: manifest.artifacts.len(),
        packages: manifest
            .artifacts
            .iter()
            .filter(|a| a.kind.is_package())
            .count(),
        blobs: plan.blobs.len(),
        blobs_written,
        bytes_written,
        bytes_total: plan.bytes_total,
        resumed: cut.resumed,
        finished: opts.snapshot.is_some() || remaining.is_empty(),
        base: opts.base.clone(),
        receipt_site: plan.receipt_site.clone(),
        blobs_carried: plan.carried.len(),
        bytes_carried: plan.carried.values().sum(),
        blobs_omitted: plan.omitted_blobs as usize,
        bytes_omitted: plan.omitted_bytes,
        max_file_size: plan.max_file_size,
        filesystem: plan.detected.name().to_owned(),
        split_blobs: plan.part_digests.len(),
        volumes: plan.volumes,
        volumes_written: drives,
        volumes_remaining: remaining,
        seconds: started.elapsed().as_secs_f64(),
        warnings: src.warnings,
    })
}

/// Records `volume` as written in the cut's pending record, so `--volume N` runs add up
/// to a finished export. (This process holds the state database: nobody else changed
/// the record meanwhile.)
fn record_volume(state: &State, cut: &mut cut::Cut, volume: u32) -> anyhow::Result<()> {
    if let Some(p) = &mut cut.pending
        && !p.volumes_done.contains(&volume)
    {
        p.volumes_done.push(volume);
        p.volumes_done.sort_unstable();
        state.put_pending(&cut.manifest.channel, p)?;
    }
    Ok(())
}

/// Step 6: a cut whose every volume is written becomes an exported snapshot. Returns the
/// volumes still to write.
fn finish(state: &State, cut: &cut::Cut, plan: &plan::Plan) -> anyhow::Result<Vec<u32>> {
    let manifest = &cut.manifest;
    let remaining: Vec<u32> = cut.pending.as_ref().map_or(Vec::new(), |p| {
        (1..=plan.volumes)
            .filter(|v| !p.volumes_done.contains(v))
            .collect()
    });
    if cut.pending.is_some() && remaining.is_empty() {
        state.finish_export(
            &manifest.channel,
            manifest.sequence,
            &ExportRecord {
                name: manifest.name(),
                manifest: cut.digest,
                created: manifest.created.clone(),
                artifacts: manifest.artifacts.len() as u64,
                bytes: plan.bytes_total,
            },
        )?;
    }
    Ok(remaining)
}
