//! Step 6b of an import: the snapshot's offline vulnerability data (`osv` artifacts),
//! pinned by digest in the signed manifest (so verified with the blobs), must be what
//! `mirror-sync` writes: from an `osv` source, at `osv/<upstream>/<ecosystem>/all.zip`
//! for an ecosystem the server matches, and a readable OSV export. A drive is hostile
//! until proved otherwise: a malformed archive is refused here rather than later by
//! `mirror-server vulns`.

use formats::osv;
use formats::snapshot::{ArtifactKind, Manifest, SourceKind};

use super::copy::Staged;
use super::error::ImportError;

/// Step 6b (see the module docs).
///
/// Errors: [`ImportError::Osv`] naming the artifact and what is wrong.
pub(super) fn check_osv(manifest: &Manifest, blobs: &Staged) -> Result<(), ImportError> {
    use crate::provenance::BlobSource as _;
    for a in manifest
        .artifacts
        .iter()
        .filter(|a| a.kind == ArtifactKind::Osv)
    {
        let bad = |reason: String| ImportError::Osv {
            path: a.path.clone(),
            reason,
        };
        let upstream = a
            .upstream
            .as_deref()
            .ok_or_else(|| bad("it names no upstream".into()))?;
        let kind = manifest
            .sources
            .iter()
            .find(|s| s.name == upstream)
            .map(|s| s.kind);
        if kind != Some(SourceKind::Osv) {
            return Err(bad(format!(
                "its upstream {upstream:?} is not an osv source"
            )));
        }
        let eco = a
            .meta
            .name
            .as_deref()
            .ok_or_else(|| bad("meta.name (the OSV ecosystem) is missing".into()))?;
        osv::archive::check_ecosystem(eco).map_err(|e| bad(e.to_string()))?;
        let want = osv::archive_path(upstream, eco);
        if a.path != want {
            return Err(bad(format!(
                "an export of {eco} from {upstream} belongs at {want}"
            )));
        }
        if a.size > osv::MAX_ARCHIVE_BYTES {
            return Err(bad(format!(
                "{} bytes, over the {}-byte limit",
                a.size,
                osv::MAX_ARCHIVE_BYTES
            )));
        }
        let bytes = blobs
            .read(&a.digest, osv::MAX_ARCHIVE_BYTES)
            .map_err(|e| bad(format!("cannot read the blob: {e}")))?;
        osv::parse_archive(&bytes).map_err(|e| bad(e.to_string()))?;
    }
    Ok(())
}
