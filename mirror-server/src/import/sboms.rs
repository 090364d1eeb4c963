//! Step 6 of an import: the SBOMs, pinned by digest in the signed manifest (so verified
//! with the blobs), parsed, and their components one-to-one with the snapshot's component
//! artifacts.

use formats::snapshot::Manifest;

use super::copy::Staged;
use super::error::ImportError;

/// Step 6: both SBOMs are present as artifacts, parse, and describe exactly the
/// snapshot's component artifacts ([`formats::sbom::check_against`]).
pub(super) fn check_sboms(manifest: &Manifest, blobs: &Staged) -> Result<(), ImportError> {
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
