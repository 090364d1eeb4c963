//! Manifests: the four manifest media types, descriptors, and the parser of image
//! manifests and indexes (OCI image-spec §Descriptor, §Image Manifest, §Image Index;
//! Docker schema 2 manifest and manifest list).

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::error::{MAX_MANIFEST_BYTES, OciError};
use super::platform::Platform;
use crate::digest::Digest;

/// OCI image manifest media type (image-spec §Image Manifest).
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type (image-spec §Image Index).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker Image Manifest V2, Schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (Schema 2 "fat manifest").
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// `Accept` header value listing the four manifest types this module parses.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json";

/// Docker schema 1 media types, recognised only to refuse them by name.
const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// A content descriptor (OCI image-spec §Descriptor; Docker schema 2 uses the same
/// fields). JSON field names: `mediaType`, `digest`, `size`, `platform`,
/// `artifactType`, `annotations`, `urls`; empty optionals are omitted when serializing.
/// Parsing fails for a digest other than `sha256:<64 lowercase hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Size of the referenced content in bytes.
    pub size: u64,
    /// Platform, for entries of an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Artifact type (OCI 1.1), for referrers and artifact manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Annotations, key-sorted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Alternate download URLs (foreign/non-distributable layers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

impl Descriptor {
    /// A descriptor with only media type, digest and size set.
    pub fn new(media_type: impl Into<String>, digest: Digest, size: u64) -> Self {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            platform: None,
            artifact_type: None,
            annotations: BTreeMap::new(),
            urls: Vec::new(),
        }
    }
}

/// Whether a manifest is a single image (OCI manifest / Docker schema 2) or an index
/// (OCI index / Docker manifest list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    /// [`OCI_MANIFEST`] or [`DOCKER_MANIFEST`].
    Image,
    /// [`OCI_INDEX`] or [`DOCKER_MANIFEST_LIST`].
    Index,
}

/// A parsed manifest or index: the fields a mirror needs to follow references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedManifest {
    /// Image or index.
    pub kind: ManifestKind,
    /// The effective media type (one of the four constants).
    pub media_type: String,
    /// Config descriptor (images only).
    pub config: Option<Descriptor>,
    /// Layer descriptors in order (images only; may be empty for artifacts).
    pub layers: Vec<Descriptor>,
    /// Child manifest descriptors (indexes only).
    pub manifests: Vec<Descriptor>,
    /// OCI 1.1 `subject`: the manifest this one refers to.
    pub subject: Option<Descriptor>,
    /// OCI 1.1 top-level `artifactType`.
    pub artifact_type: Option<String>,
    /// Top-level annotations.
    pub annotations: BTreeMap<String, String>,
}

impl ParsedManifest {
    /// Every blob the manifest references: the config, then the layers, in order.
    /// Empty for an index.
    pub fn blobs(&self) -> Vec<&Descriptor> {
        self.config.iter().chain(self.layers.iter()).collect()
    }

    /// The `artifactType` this manifest has in a referrers list (distribution-spec v1.1
    /// §Listing Referrers; image-spec v1.1 §Image Manifest `artifactType`): its own
    /// top-level `artifactType` when set and non-empty, else — for an image manifest —
    /// its **config** descriptor's `mediaType` ("if artifactType is empty or missing in an
    /// image manifest, the value of artifactType MUST be set to the config descriptor
    /// mediaType"). Never a layer's media type. `None` for an index without
    /// `artifactType` (the spec leaves it empty there).
    pub fn referrer_artifact_type(&self) -> Option<String> {
        match &self.artifact_type {
            Some(t) if !t.is_empty() => Some(t.clone()),
            _ => self
                .config
                .as_ref()
                .map(|c| c.media_type.clone())
                .filter(|t| !t.is_empty()),
        }
    }
}

/// First pass over a manifest: fields that decide the type, without parsing descriptors.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestHead {
    schema_version: Option<serde_json::Value>,
    media_type: Option<String>,
    config: Option<IgnoredAny>,
    layers: Option<IgnoredAny>,
    manifests: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestBody {
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    artifact_type: Option<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// The media type without parameters (`; charset=...`), trimmed.
fn bare_media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or_default().trim()
}

pub(super) fn check_size(len: usize) -> Result<(), OciError> {
    let len = u64::try_from(len).unwrap_or(u64::MAX);
    if len > MAX_MANIFEST_BYTES {
        return Err(OciError::TooLarge(len));
    }
    Ok(())
}

/// Parses an image manifest or index (image-spec §Image Manifest, §Image Index; Docker
/// schema 2 manifest and manifest list).
///
/// The media type is the JSON `mediaType` field, else `content_type` (parameters
/// stripped) if it is one of the four manifest types, else inferred: `manifests` -> OCI
/// index, `config` and `layers` -> OCI manifest.
///
/// Errors: [`OciError::TooLarge`] over [`MAX_MANIFEST_BYTES`]; [`OciError::Manifest`] for
/// invalid JSON, an unsupported media type (including Docker schema 1), `schemaVersion`
/// other than 2, a missing `config` (image) or `manifests` (index), or a descriptor
/// that does not parse (e.g. a non-sha256 digest).
pub fn parse_manifest(
    bytes: &[u8],
    content_type: Option<&str>,
) -> Result<ParsedManifest, OciError> {
    check_size(bytes.len())?;
    let head: ManifestHead = serde_json::from_slice(bytes)
        .map_err(|e| OciError::Manifest(format!("manifest is not a JSON object: {e}")))?;
    let schema_version = head
        .schema_version
        .as_ref()
        .and_then(serde_json::Value::as_u64);
    let content_type = content_type.map(bare_media_type).filter(|c| !c.is_empty());
    let known = |m: &str| {
        [
            OCI_MANIFEST,
            OCI_INDEX,
            DOCKER_MANIFEST,
            DOCKER_MANIFEST_LIST,
        ]
        .contains(&m)
    };
    let media_type: String = match (&head.media_type, content_type) {
        (Some(m), _) => m.clone(),
        (None, Some(c)) if known(c) || c == DOCKER_SCHEMA1 || c == DOCKER_SCHEMA1_SIGNED => {
            c.to_owned()
        }
        _ if schema_version == Some(1) => DOCKER_SCHEMA1.to_owned(),
        _ if head.manifests.is_some() => OCI_INDEX.to_owned(),
        _ if head.config.is_some() && head.layers.is_some() => OCI_MANIFEST.to_owned(),
        (None, Some(c)) => c.to_owned(),
        (None, None) => {
            return Err(OciError::Manifest(
                "no mediaType field, no content type, and neither config nor manifests present"
                    .into(),
            ));
        }
    };
    if media_type == DOCKER_SCHEMA1
        || media_type == DOCKER_SCHEMA1_SIGNED
        || schema_version == Some(1)
    {
        return Err(OciError::Manifest(format!(
            "unsupported media type {media_type} (Docker schema 1 manifests are not supported; \
             ask the registry for schema 2 or OCI)"
        )));
    }
    let kind = match media_type.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => ManifestKind::Image,
        OCI_INDEX | DOCKER_MANIFEST_LIST => ManifestKind::Index,
        other => {
            return Err(OciError::Manifest(format!(
                "unsupported media type {other} (expected one of {MANIFEST_ACCEPT})"
            )));
        }
    };
    if schema_version != Some(2) {
        return Err(OciError::Manifest(format!(
            "schemaVersion is {}, expected 2",
            head.schema_version
                .map_or_else(|| "missing".to_owned(), |v| v.to_string())
        )));
    }
    let body: ManifestBody = serde_json::from_slice(bytes)
        .map_err(|e| OciError::Manifest(format!("{media_type}: {e}")))?;
    let (config, layers, manifests) = match kind {
        ManifestKind::Image => {
            let config = body
                .config
                .ok_or_else(|| OciError::Manifest(format!("{media_type}: missing config")))?;
            (Some(config), body.layers.unwrap_or_default(), Vec::new())
        }
        ManifestKind::Index => {
            let manifests = body
                .manifests
                .ok_or_else(|| OciError::Manifest(format!("{media_type}: missing manifests")))?;
            (None, Vec::new(), manifests)
        }
    };
    Ok(ParsedManifest {
        kind,
        media_type,
        config,
        layers,
        manifests,
        subject: body.subject,
        artifact_type: body.artifact_type,
        annotations: body.annotations,
    })
}

/// True for layers that registries are not expected to serve (the content lives at the
/// descriptor's `urls`): Docker's `application/vnd.docker.image.rootfs.foreign.diff.tar.gzip`
/// and the OCI `application/vnd.oci.image.layer.nondistributable.v1.tar[+gzip|+zstd]` types.
pub fn is_foreign_layer(media_type: &str) -> bool {
    matches!(
        bare_media_type(media_type),
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
    )
}
