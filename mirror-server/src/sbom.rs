//! `mirror-server sbom show|diff`: the SBOMs of held snapshots or of drives, for security
//! review on the Cube side.
//!
//! A snapshot is named either by a drive path (a drive root holding one snapshot, a
//! snapshot directory or its `manifest.json`) or by its name `<channel>/<seq>` among the
//! store's held snapshots (`--store`). The bytes are checked against the digest the
//! manifest pins.

use std::path::Path;

use anyhow::{Context, anyhow, bail};
use formats::sbom::{self, Component, SnapshotDiff};
use formats::snapshot::{ArtifactKind, SBOM_CYCLONEDX_PATH};
use store::Store;

/// The SBOM formats `--format` accepts.
pub const FORMATS: [&str; 2] = ["cyclonedx", "spdx"];

/// Reads the SBOM of `target` (drive path, or a held snapshot of `store`): the snapshot's
/// name and the document's bytes.
///
/// Errors: not a path and not a held snapshot, no SBOM of that format, a missing or
/// damaged blob.
pub fn load(target: &str, store: Option<&Path>, format: &str) -> anyhow::Result<(String, Vec<u8>)> {
    let doc_path = sbom::document_path(format)
        .ok_or_else(|| anyhow!("unknown SBOM format {format:?} (use cyclonedx or spdx)"))?;
    let path = Path::new(target);
    if path.exists() {
        return Ok(drive::read_artifact(path, doc_path, sbom::MAX_SBOM_BYTES)?);
    }
    let Some(store) = store else {
        bail!("{target}: no such drive path; to name a held snapshot (CHANNEL/SEQ) pass --store");
    };
    let rec = held_record(store, Some(target))?;
    let cas = Store::at(store).cas();
    let (manifest, _) = crate::lifecycle::read_manifest(&cas, &rec)?;
    let a = manifest
        .artifacts
        .iter()
        .find(|a| a.kind == ArtifactKind::Sbom && a.path == doc_path)
        .ok_or_else(|| anyhow!("snapshot {target} carries no {doc_path}"))?;
    let bytes = cas
        .read_bytes(&a.digest, sbom::MAX_SBOM_BYTES)
        .with_context(|| format!("{doc_path} of {target}"))?;
    Ok((rec.name, bytes))
}

/// The record of snapshot `name` held by `store`, or of its live snapshot when `name` is
/// `None` (for the verbs that take a drive path or `CHANNEL/SEQ`).
///
/// Errors: the store has no index (`no snapshot imported yet`), no live snapshot, or
/// `name` is not held (the message lists the held ones).
pub fn held_record(store: &Path, name: Option<&str>) -> anyhow::Result<store::SnapshotRecord> {
    let index = Store::at(store)
        .index_read_only()?
        .ok_or_else(|| anyhow!("{}: no snapshot imported yet", store.display()))?;
    let name = match name {
        Some(t) => t.to_owned(),
        None => index
            .current()?
            .ok_or_else(|| anyhow!("{}: no live snapshot", store.display()))?,
    };
    index.snapshot(&name)?.ok_or_else(|| {
        let held: Vec<String> = index
            .snapshots()
            .map(|v| v.into_iter().map(|r| r.name).collect())
            .unwrap_or_default();
        anyhow!(
            "{name}: not a drive path and not a snapshot held by {} (held: {})",
            store.display(),
            held.join(", ")
        )
    })
}

/// The components of `target`'s CycloneDX SBOM, with the snapshot's name.
///
/// Errors: as [`load`], or the document does not parse.
pub fn components(target: &str, store: Option<&Path>) -> anyhow::Result<(String, Vec<Component>)> {
    let (name, bytes) = load(target, store, "cyclonedx")?;
    let comps = sbom::parse_cyclonedx(&bytes)
        .with_context(|| format!("{SBOM_CYCLONEDX_PATH} of {name}"))?;
    Ok((name, comps))
}

/// Diffs the SBOMs of two snapshots (old `a`, new `b`).
///
/// Errors: as [`components`].
pub fn diff(a: &str, b: &str, store: Option<&Path>) -> anyhow::Result<SnapshotDiff> {
    let (old, ca) = components(a, store)?;
    let (new, cb) = components(b, store)?;
    Ok(SnapshotDiff::between((old, &ca), (new, &cb)))
}
