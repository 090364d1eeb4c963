//! `mirror-server import`: verify a snapshot drive and ingest it into the store, all or
//! nothing.
//!
//! Drive layout (docs/media-format.md; written by `mirror-sync export`):
//!
//! ```text
//! DRIVE/blobs/sha256/<hex>                               every artifact once
//! DRIVE/snapshots/<channel>/<sequence>/manifest.json     the manifest (exact signed bytes)
//! DRIVE/snapshots/<channel>/<sequence>/manifest.json.sig 64-byte ed25519 signature
//! DRIVE/snapshots/<channel>/<sequence>/media.json(.sig)  the signed media description
//! DRIVE/snapshots/<channel>/<sequence>/signer.pub        informational only
//! ```
//!
//! Every read of the drive goes through the [`drive`] crate, the one reader and checker
//! `mirror-sync verify` and `sbom show` use too; this module words its refusals
//! ([`ImportError`]) and writes the store.
//!
//! Steps, in order, one function each (nothing the server serves changes before step 8):
//!
//! 1. locate the snapshot directory (exactly one, or the one `--snapshot` names;
//!    `checks`);
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
//!    [`ImportError::Untrusted`]. The manifest must lie in the directory its name says;
//!    the `--policy` file must load;
//! 4. take the store lock ([`crate::lifecycle::lock_store`]), sweep staging left by a killed
//!    import, and apply anti-rollback: refuse a sequence not newer than the live one on the
//!    channel (or the live snapshot itself) unless `--allow-downgrade` (audited as forced;
//!    `commit`);
//!    4b. the drive set: this drive and any further volumes (`--volume`), each with its
//!    signed media description (`plan`);
//! 5. plan: stat every blob the store lacks on the drive set (regular file, one link,
//!    declared size; `plan`), then copy and hash them (and the parts of split blobs) in
//!    parallel into a staging store under `STORE/tmp/resume-<manifest hex>` (no fsync per
//!    blob) and join split blobs, then make them durable with one `syncfs` and seal the
//!    staging (`copy`, `durable`; ADR 0013). The Release and index blobs are copied
//!    first; the upstream package lists of step 7 are verified, decompressed and parsed
//!    on all CPUs beside the rest of the copy ([`provenance::prepare_apt`]);
//! 6. the SBOMs (`sboms`): both documents present, parsed, and their components
//!    one-to-one with the snapshot's package and image artifacts;
//!    6b. the OSV vulnerability data (`osv`): every `osv` artifact comes from an `osv`
//!    source, lies at `osv/<upstream>/<ecosystem>/all.zip` for a supported ecosystem and
//!    parses as an OSV export ([`formats::osv::parse_archive`], bounded);
//! 7. upstream provenance ([`crate::provenance::check_apt`]): every upstream APT
//!    `InRelease` verifies against the keyring the snapshot names, installed in
//!    `TRUSTED_KEYS/upstream/`; every `.deb` is listed in the upstream-signed `Packages`
//!    (matched here against the lists parsed during step 5);
//!    then, with `--policy FILE`, the cosign signature policy over the OCI images
//!    ([`check_oci_policy`]; `policy`);
//! 8. commit: move staged blobs (and the manifest and signature blobs) into the store
//!    (renames, then one fsync of the blob directory), record
//!    the snapshot and make it live in one redb transaction, bump `STORE/current.gen` so
//!    running servers switch (`commit`);
//! 9. audit: append a hash-chained record to `STORE/audit.log`.
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
//! Drive files are opened by the [`drive`] crate with [`store::fsio::open_regular`] (lstat,
//! open, compare device and inode with fstat) rather than `O_NOFOLLOW`, whose value differs
//! between architectures, and read with [`store::fsio::read_bounded`]; every directory on
//! the way is checked with `symlink_metadata` as well. Symbolic links, hard links, devices
//! and FIFOs on the drive are refused.

mod checks;
mod cleanup;
mod commit;
mod copy;
mod durable;
mod error;
mod osv;
mod plan;
mod policy;
pub mod preflight;
pub mod provenance;
mod sboms;

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

pub use error::ImportError;
pub use policy::{check_oci_policy, load_policy};

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
    /// Blobs verified by an earlier, interrupted run of this import (not read from the
    /// drive again; re-hashed in the store when that run stopped before its sync).
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
    let result = run(opts, &mut snapshot);
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

/// The steps of the module docs, one call each.
fn run(
    opts: &ImportOptions,
    snapshot_name: &mut Option<String>,
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    // 1. Locate the snapshot directory.
    let located = checks::locate(&opts.drive, opts.snapshot.as_deref())?;
    // 2. Read the manifest and its signature.
    let signed = checks::read_signed(&located)?;
    // 3. Version first, then the signature, then full validation.
    let checked = checks::verify_manifest(opts, &located, signed)?;
    // 3b. Every other prerequisite, before anything is copied or the store is touched.
    let v = checks::prerequisites(opts, &located, checked)?;
    *snapshot_name = Some(v.name.clone());
    // 4. The store lock, stale staging, anti-rollback.
    let mut open = commit::open_store(opts, &v.manifest)?;
    // 4b. The drive set.
    let set = plan::drive_set(opts, &v)?;
    // 5. Plan the blobs, then stage (copy and hash) them.
    let plan = plan::plan(&opts.store, &v, &set)?;
    // The upstream package lists (step 7's heavy part) are checked and parsed while the
    // other blobs copy.
    let keyrings_dir = opts.trusted_keys.join(provenance::UPSTREAM_KEYRINGS_DIR);
    let early = provenance::index_blobs(&v.manifest);
    let (staged, prepared) = copy::stage(opts, &v, &set, &plan, &mut open.cleanup, &early, |s| {
        provenance::prepare_apt(&v.manifest, &keyrings_dir, s)
    })?;
    // 6. The SBOMs.
    sboms::check_sboms(&v.manifest, &staged)?;
    // 6b. The OSV vulnerability data.
    osv::check_osv(&v.manifest, &staged)?;
    // 7. Upstream provenance, then the cosign policy.
    let provenance = policy::check(&v, &plan, &staged, prepared)?;
    // 8. Commit.
    let committed = commit::commit(opts, &v, &plan, &staged, &mut open)?;
    // 9. Audit.
    commit::audit(opts, &v, &committed, open);
    Ok(summary(&v, &plan, &set, committed, provenance, started))
}

/// What the import did ([`ImportSummary`]).
fn summary(
    v: &checks::Verified,
    plan: &plan::Plan,
    set: &plan::DriveSet,
    c: commit::Committed,
    provenance: crate::provenance::ProvenanceReport,
    started: Instant,
) -> ImportSummary {
    let bytes_to_copy: u64 = plan.jobs.iter().map(|j| j.size).sum();
    let elapsed = started.elapsed().as_secs_f64();
    ImportSummary {
        snapshot: v.name.clone(),
        channel: v.manifest.channel.clone(),
        sequence: v.manifest.sequence,
        signer: v.signer.clone(),
        signer_key_file: v.signer_key_file.clone(),
        artifacts: v.manifest.artifacts.len() as u64,
        blobs: plan.order.len() as u64,
        blobs_copied: plan.jobs.iter().filter(|j| j.part_of.is_none()).count() as u64,
        blobs_present: plan.present,
        blobs_resumed: plan.resumed,
        blobs_joined: plan.assemble.len() as u64,
        volumes_read: set.roots.keys().copied().collect(),
        bytes_copied: bytes_to_copy,
        elapsed_secs: elapsed,
        throughput_bytes_per_sec: if elapsed > 0.0 {
            bytes_to_copy as f64 / elapsed
        } else {
            0.0
        },
        previous_live: c.previous_live,
        forced: c.forced,
        generation: c.generation,
        provenance,
    }
}
