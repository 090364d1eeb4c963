//! `mirror-sync sbom show|diff`: the SBOMs of exported snapshots, for security review.
//!
//! A snapshot is named either by a drive path (a drive root holding one snapshot, a
//! snapshot directory `DRIVE/snapshots/<channel>/<seq>`, or its `manifest.json`) or by its
//! name `<channel>/<seq>` in this host's export history (`--config`). The SBOM is read
//! from the drive or the store and checked against the digest the manifest pins.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use formats::sbom::{self, Component, SnapshotDiff};
use formats::snapshot::{ArtifactKind, Manifest, SBOM_CYCLONEDX_PATH};
use store::Cas;

use crate::config::Config;
use crate::state::State;

/// The SBOM formats `--format` accepts.
pub const FORMATS: [&str; 2] = ["cyclonedx", "spdx"];

/// One snapshot's SBOM document.
#[derive(Debug, Clone)]
pub struct SbomDocument {
    /// `<channel>/<seq>`.
    pub snapshot: String,
    /// Where it was read from (the drive or the store).
    pub from: PathBuf,
    /// The exact bytes.
    pub bytes: Vec<u8>,
}

/// Reads the SBOM of `target` (a drive path or a snapshot name, see the module docs).
///
/// Errors: the target is neither an existing path nor a known snapshot name, the
/// snapshot carries no SBOM of that format, or its blob is missing or damaged.
pub fn load(target: &str, config: Option<&Path>, format: &str) -> anyhow::Result<SbomDocument> {
    let doc_path = sbom::document_path(format)
        .ok_or_else(|| anyhow!("unknown SBOM format {format:?} (use cyclonedx or spdx)"))?;
    let path = Path::new(target);
    if path.exists() {
        let (snapshot, bytes) = drive::read_artifact(path, doc_path, sbom::MAX_SBOM_BYTES)?;
        return Ok(SbomDocument {
            snapshot,
            from: path.to_path_buf(),
            bytes,
        });
    }
    let Some(config) = config else {
        bail!(
            "{target}: no such drive path; to name an exported snapshot (CHANNEL/SEQ) pass --config"
        );
    };
    let cfg = Config::load(config)?;
    let state = State::open(&cfg.store_dir())?;
    let exports = state.exports()?;
    let rec = exports.iter().find(|r| r.name == target).ok_or_else(|| {
        anyhow!(
            "{target}: not a drive path and not an exported snapshot of {} (exported: {})",
            config.display(),
            exports
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let cas = Cas::at(&cfg.store_dir());
    let bytes = cas
        .read_bytes(&rec.manifest, formats::snapshot::MAX_MANIFEST_BYTES)
        .with_context(|| format!("manifest of {target}"))?;
    let manifest = Manifest::from_slice(&bytes).with_context(|| format!("manifest of {target}"))?;
    let (digest, _) = sbom_artifact(&manifest, doc_path, target)?;
    let bytes = cas
        .read_bytes(&digest, sbom::MAX_SBOM_BYTES)
        .with_context(|| format!("{doc_path} of {target}"))?;
    Ok(SbomDocument {
        snapshot: rec.name.clone(),
        from: cfg.store_dir(),
        bytes,
    })
}

fn sbom_artifact(
    m: &Manifest,
    doc_path: &str,
    target: &str,
) -> anyhow::Result<(formats::digest::Digest, u64)> {
    m.artifacts
        .iter()
        .find(|a| a.kind == ArtifactKind::Sbom && a.path == doc_path)
        .map(|a| (a.digest, a.size))
        .ok_or_else(|| {
            anyhow!(
                "{target}: snapshot {} carries no {doc_path} (cut before SBOMs were written?)",
                m.name(),
            )
        })
}

/// The components of `target`'s CycloneDX SBOM.
///
/// Errors: as [`load`], or the document does not parse.
pub fn components(target: &str, config: Option<&Path>) -> anyhow::Result<(String, Vec<Component>)> {
    let doc = load(target, config, "cyclonedx")?;
    let comps = sbom::parse_cyclonedx(&doc.bytes)
        .with_context(|| format!("{SBOM_CYCLONEDX_PATH} of {}", doc.snapshot))?;
    Ok((doc.snapshot, comps))
}

/// Diffs the SBOMs of two snapshots (old `a`, new `b`).
///
/// Errors: as [`components`].
pub fn diff(a: &str, b: &str, config: Option<&Path>) -> anyhow::Result<SnapshotDiff> {
    let (old, ca) = components(a, config)?;
    let (new, cb) = components(b, config)?;
    Ok(SnapshotDiff::between((old, &ca), (new, &cb)))
}
