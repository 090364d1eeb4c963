//! `mirror-server sbom show|diff`: the SBOMs of held snapshots or of drives, for security
//! review on the Cube side.
//!
//! A snapshot is named either by a drive path (a drive root holding one snapshot, a
//! snapshot directory or its `manifest.json`) or by its name `<channel>/<seq>` among the
//! store's held snapshots (`--store`). The bytes are checked against the digest the
//! manifest pins.

use std::path::Path;

use anyhow::{Context, anyhow, bail};
use formats::sbom::{self, Component, SbomDiff};
use formats::snapshot::{ArtifactKind, SBOM_CYCLONEDX_PATH, SBOM_SPDX_PATH};
use store::{Cas, Index};

use crate::live::INDEX_FILE;

/// The SBOM document formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SbomFormat {
    /// CycloneDX 1.6 JSON.
    Cyclonedx,
    /// SPDX 2.3 JSON.
    Spdx,
}

impl SbomFormat {
    /// The document's logical path in a snapshot.
    pub fn path(self) -> &'static str {
        match self {
            SbomFormat::Cyclonedx => SBOM_CYCLONEDX_PATH,
            SbomFormat::Spdx => SBOM_SPDX_PATH,
        }
    }
}

/// Reads the SBOM of `target` (drive path, or a held snapshot of `store`): the snapshot's
/// name and the document's bytes.
///
/// Errors: not a path and not a held snapshot, no SBOM of that format, a missing or
/// damaged blob.
pub fn load(
    target: &str,
    store: Option<&Path>,
    format: SbomFormat,
) -> anyhow::Result<(String, Vec<u8>)> {
    let path = Path::new(target);
    if path.exists() {
        return Ok(store::drive::read_artifact(
            path,
            format.path(),
            sbom::MAX_SBOM_BYTES,
        )?);
    }
    let Some(store) = store else {
        bail!("{target}: no such drive path; to name a held snapshot (CHANNEL/SEQ) pass --store");
    };
    let index = Index::open_read_only(&store.join(INDEX_FILE))?
        .ok_or_else(|| anyhow!("{}: no snapshot imported yet", store.display()))?;
    let rec = index.snapshot(target)?.ok_or_else(|| {
        let held: Vec<String> = index
            .snapshots()
            .map(|v| v.into_iter().map(|r| r.name).collect())
            .unwrap_or_default();
        anyhow!(
            "{target}: not a drive path and not a snapshot held by {} (held: {})",
            store.display(),
            held.join(", ")
        )
    })?;
    drop(index);
    let cas = Cas::at(store);
    let (manifest, _) = crate::lifecycle::read_manifest(&cas, &rec)?;
    let a = manifest
        .artifacts
        .iter()
        .find(|a| a.kind == ArtifactKind::Sbom && a.path == format.path())
        .ok_or_else(|| anyhow!("snapshot {target} carries no {}", format.path()))?;
    let bytes = cas
        .read_bytes(&a.digest, sbom::MAX_SBOM_BYTES)
        .with_context(|| format!("{} of {target}", format.path()))?;
    Ok((rec.name, bytes))
}

/// The components of `target`'s CycloneDX SBOM, with the snapshot's name.
///
/// Errors: as [`load`], or the document does not parse.
pub fn components(target: &str, store: Option<&Path>) -> anyhow::Result<(String, Vec<Component>)> {
    let (name, bytes) = load(target, store, SbomFormat::Cyclonedx)?;
    let comps = sbom::parse_cyclonedx(&bytes)
        .with_context(|| format!("{SBOM_CYCLONEDX_PATH} of {name}"))?;
    Ok((name, comps))
}

/// What `sbom diff` prints with `--json`: the two snapshots and what changed.
#[derive(Debug, serde::Serialize)]
pub struct DiffReport {
    /// The old snapshot's name.
    pub old: String,
    /// The new snapshot's name.
    pub new: String,
    /// Added, removed and changed packages.
    #[serde(flatten)]
    pub diff: SbomDiff,
}

/// Diffs the SBOMs of two snapshots (old `a`, new `b`).
///
/// Errors: as [`components`].
pub fn diff(a: &str, b: &str, store: Option<&Path>) -> anyhow::Result<DiffReport> {
    let (old, ca) = components(a, store)?;
    let (new, cb) = components(b, store)?;
    Ok(DiffReport {
        old,
        new,
        diff: sbom::diff(&ca, &cb),
    })
}
