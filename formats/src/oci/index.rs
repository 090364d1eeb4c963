//! Rendered indexes: the `index.json` of an OCI image layout, referrers responses and
//! their `artifactType` filter, and the referrers fallback tag (image-spec §Image Layout,
//! distribution-spec v1.1 §Listing Referrers, §Referrers Tag Schema).

use std::collections::BTreeMap;

use serde::Serialize;

use super::error::OciError;
use super::manifest::{Descriptor, ManifestKind, OCI_INDEX, parse_manifest};
use crate::digest::Digest;

/// Annotation naming a manifest in an OCI image layout `index.json` (image-spec
/// §Pre-Defined Annotation Keys).
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
/// Content of the `oci-layout` file at the root of an OCI image layout (image-spec
/// §Image Layout).
pub const OCI_LAYOUT_FILE_CONTENT: &str = "{\"imageLayoutVersion\":\"1.0.0\"}";

/// The referrers fallback tag of `digest` (distribution-spec v1.1 §Referrers Tag Schema):
/// `<alg>-<hex>`, i.e. `sha256-<64 hex>`. On a registry without the referrers API
/// (`GET /v2/<name>/referrers/<digest>` answers 404), clients push an image index under
/// this tag whose `manifests` are the referrers of `digest`, and a client listing
/// referrers MUST read it.
pub fn referrers_tag(digest: &Digest) -> String {
    format!("sha256-{}", digest.hex())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IndexOut<'a> {
    schema_version: u32,
    media_type: &'a str,
    manifests: &'a [Descriptor],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

fn render_index(manifests: &[Descriptor], annotations: &BTreeMap<String, String>) -> Vec<u8> {
    let index = IndexOut {
        schema_version: 2,
        media_type: OCI_INDEX,
        manifests,
        annotations,
    };
    // Strings, integers and string maps always serialize.
    serde_json::to_vec(&index).expect("an index of descriptors serializes")
}

/// Renders the `index.json` of an OCI image layout (image-spec §Image Layout):
/// `{"schemaVersion":2,"mediaType":OCI_INDEX,"manifests":[...]}`, one descriptor per
/// entry with annotation [`REF_NAME_ANNOTATION`] set to the entry's reference name
/// (e.g. `docker.io/library/ubuntu:24.04`). Sorted by reference name, then digest;
/// compact JSON with key-sorted annotations, so equal input gives equal bytes.
pub fn render_layout_index(entries: &[(Descriptor, String)]) -> Vec<u8> {
    let mut sorted: Vec<&(Descriptor, String)> = entries.iter().collect();
    sorted.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.digest.cmp(&b.0.digest)));
    let manifests: Vec<Descriptor> = sorted
        .into_iter()
        .map(|(d, name)| {
            let mut d = d.clone();
            d.annotations
                .insert(REF_NAME_ANNOTATION.to_owned(), name.clone());
            d
        })
        .collect();
    render_index(&manifests, &BTreeMap::new())
}

/// Renders a referrers response (distribution-spec §Listing Referrers): an OCI image
/// index (`schemaVersion` 2, `mediaType` [`OCI_INDEX`]) whose `manifests` are the given
/// descriptors, sorted by digest with duplicate digests dropped (the first kept), as
/// compact JSON. An empty slice gives an index with an empty `manifests` array.
pub fn render_referrers_index(descriptors: &[Descriptor]) -> Vec<u8> {
    let mut sorted: Vec<Descriptor> = descriptors.to_vec();
    sorted.sort_by_key(|a| a.digest);
    sorted.dedup_by(|a, b| a.digest == b.digest);
    render_index(&sorted, &BTreeMap::new())
}

/// Filters a referrers index (distribution-spec §Listing Referrers, `?artifactType=`):
/// returns new bytes, rendered exactly as [`render_referrers_index`] renders (so filtering
/// an index this module rendered equals rendering the kept descriptors), with only the
/// `manifests` entries whose `artifactType` equals `artifact_type`, in their original
/// order. Top-level annotations are kept; unknown fields are dropped.
///
/// Errors: those of [`parse_manifest`], or [`OciError::Manifest`] if the input is not an
/// index.
pub fn filter_referrers(index: &[u8], artifact_type: &str) -> Result<Vec<u8>, OciError> {
    let parsed = parse_manifest(index, Some(OCI_INDEX))?;
    if parsed.kind != ManifestKind::Index {
        return Err(OciError::Manifest(format!(
            "referrers response has media type {}, expected {OCI_INDEX}",
            parsed.media_type
        )));
    }
    let kept: Vec<Descriptor> = parsed
        .manifests
        .into_iter()
        .filter(|m| m.artifact_type.as_deref() == Some(artifact_type))
        .collect();
    Ok(render_index(&kept, &parsed.annotations))
}
