//! What the ecosystems' render steps share ([`crate::apt::render`],
//! [`crate::pypi::render`], [`crate::oci::render`]): storing a generated file in the CAS
//! as a snapshot artifact ([`put`]) and merging the artifacts of several upstreams by
//! logical path ([`merge_by_path`]).

use std::collections::BTreeMap;

use anyhow::bail;
use formats::snapshot::{Artifact, ArtifactKind, Meta};
use store::Cas;

/// Stores `bytes` in `cas` and describes them as an artifact of `kind` at the logical
/// `path` (docs/media-format.md), owned by `upstream` (`None` for files merged over
/// upstreams), with `media_type` and empty `meta`.
///
/// Errors: `path` is not a valid logical path ([`formats::path::validate`]); the CAS
/// write fails.
pub fn put(
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

/// Adds `artifacts` to `into` keyed by path. The same path from two upstreams must carry
/// the same bytes; otherwise the error names both and ends with `remedy`.
pub fn merge_by_path<'a>(
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
