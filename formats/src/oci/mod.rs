//! OCI registry data: repository/tag/digest grammar, image references, manifests and
//! indexes, cosign signature artifacts, and the OCI image layout and referrers indexes.
//!
//! Sources: OCI distribution-spec v1.1 (§Pulling for the name/tag grammar, §Listing
//! Referrers), OCI image-spec v1.1 (§Descriptor, §Image Manifest, §Image Index,
//! §Image Layout), Docker Image Manifest V2 Schema 2, and the containers/image "simple
//! signing" payload that cosign signs.
//!
//! Everything here is pure: callers hand in bytes and get typed values or rendered bytes.
//!
//! Mirror naming: a repository is served as `<registry component>/<path>`, where the
//! registry component is the upstream host with `:` replaced by `__`
//! ([`registry_to_component`]), because the distribution name grammar forbids `:`.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// OCI image manifest media type (image-spec §Image Manifest).
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type (image-spec §Image Index).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker Image Manifest V2, Schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (Schema 2 "fat manifest").
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Media type of the cosign simple-signing payload layer.
pub const COSIGN_SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer annotation holding the base64 cosign signature over the simple-signing payload.
pub const COSIGN_SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Annotation naming a manifest in an OCI image layout `index.json` (image-spec
/// §Pre-Defined Annotation Keys).
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
/// `Accept` header value listing the four manifest types this module parses.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json";
/// Largest manifest accepted, in bytes (4 MiB, the limit distribution applies).
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;
/// Content of the `oci-layout` file at the root of an OCI image layout (image-spec
/// §Image Layout).
pub const OCI_LAYOUT_FILE_CONTENT: &str = "{\"imageLayoutVersion\":\"1.0.0\"}";

/// Docker schema 1 media types, recognised only to refuse them by name.
const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// Errors from OCI parsing and validation.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OciError {
    /// A repository name that does not match the distribution-spec name grammar.
    #[error(
        "invalid repository name {0:?}: expected lowercase path components \
         [a-z0-9]+ joined by '.', '_', '__' or '-', separated by '/', at most 255 bytes"
    )]
    InvalidName(String),
    /// A tag that does not match `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
    #[error("invalid tag {0:?}: expected [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}")]
    InvalidTag(String),
    /// A string that is not a digest (`algorithm:encoded`), or a malformed sha256 digest.
    #[error("invalid digest {0:?}: expected sha256:<64 lowercase hex digits>")]
    InvalidDigest(String),
    /// A well-formed digest with an algorithm other than sha256.
    #[error("unsupported digest {0:?}: only sha256 digests are supported")]
    UnsupportedDigest(String),
    /// An image reference that cannot be parsed.
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference {
        /// The reference as given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A manifest, index or signature payload that cannot be used.
    #[error("invalid manifest: {0}")]
    Manifest(String),
    /// A manifest larger than [`MAX_MANIFEST_BYTES`]; holds its size in bytes.
    #[error("manifest is {0} bytes, larger than the {MAX_MANIFEST_BYTES}-byte limit")]
    TooLarge(u64),
}

// ---------------------------------------------------------------------------
// Grammar
// ---------------------------------------------------------------------------

/// True if `component` matches `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn is_valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    let mut expect_alnum = true;
    while i < bytes.len() {
        let start = i;
        if expect_alnum {
            while i < bytes.len() && alnum(bytes[i]) {
                i += 1;
            }
            if i == start {
                return false;
            }
        } else {
            while i < bytes.len() && !alnum(bytes[i]) {
                i += 1;
            }
            let sep = &component[start..i];
            let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
            if !ok {
                return false;
            }
        }
        expect_alnum = !expect_alnum;
    }
    // Non-empty and ending on an alphanumeric run.
    !bytes.is_empty() && !expect_alnum
}

/// OCI distribution-spec §Pulling: true if `name` matches the repository name grammar
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*` and is at
/// most 255 bytes long.
pub fn is_valid_repository(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && name.split('/').all(is_valid_path_component)
}

/// OCI distribution-spec §Pulling: true if `tag` matches `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    match bytes.split_first() {
        Some((&first, rest)) => {
            bytes.len() <= 128
                && (first.is_ascii_alphanumeric() || first == b'_')
                && rest
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        }
        None => false,
    }
}

/// Parses an OCI digest (image-spec §Digests: `algorithm[+algorithm]:encoded`, with
/// algorithm components `[a-z0-9]+` joined by `+ . _ -`, encoded `[a-zA-Z0-9=_-]+`).
///
/// Errors: `sha256:` not followed by exactly 64 lowercase hex digits, or anything not
/// matching the grammar -> [`OciError::InvalidDigest`]; a well-formed digest with another
/// algorithm (e.g. `sha512:`) -> [`OciError::UnsupportedDigest`].
pub fn parse_digest(s: &str) -> Result<Digest, OciError> {
    let invalid = || OciError::InvalidDigest(s.to_owned());
    let (algorithm, encoded) = s.split_once(':').ok_or_else(invalid)?;
    let algorithm_ok = !algorithm.is_empty()
        && algorithm.split(['+', '.', '_', '-']).all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    let encoded_ok = !encoded.is_empty()
        && encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'));
    if !algorithm_ok || !encoded_ok {
        return Err(invalid());
    }
    if algorithm != "sha256" {
        return Err(OciError::UnsupportedDigest(s.to_owned()));
    }
    Digest::from_hex(encoded).map_err(|_| invalid())
}

// ---------------------------------------------------------------------------
// Registry names and image references
// ---------------------------------------------------------------------------

/// Maps a registry host (optionally `host:port`) to the first repository component the
/// mirror serves it under: lowercased, `:` replaced by `__` (`127.0.0.1:5000` ->
/// `127.0.0.1__5000`). Reversible with [`component_to_registry`] because DNS host names
/// never contain `__`.
pub fn registry_to_component(registry: &str) -> String {
    registry.to_ascii_lowercase().replace(':', "__")
}

/// Inverse of [`registry_to_component`]: `127.0.0.1__5000` -> `127.0.0.1:5000`.
pub fn component_to_registry(component: &str) -> String {
    component.replacen("__", ":", 1)
}

/// Splits a served repository name back into (registry host, upstream repository path):
/// `docker.io/library/ubuntu` -> (`docker.io`, `library/ubuntu`), `127.0.0.1__5000/app`
/// -> (`127.0.0.1:5000`, `app`). `None` if the name has a single component (or an
/// empty part).
pub fn split_served_name(name: &str) -> Option<(String, String)> {
    let (first, rest) = name.split_once('/')?;
    if first.is_empty() || rest.is_empty() {
        return None;
    }
    Some((component_to_registry(first), rest.to_owned()))
}

/// Checks a registry host: `host[:port]`, host of `[a-z0-9.-]` (case-insensitive),
/// port of 1–5 digits, and the mapped component valid in the name grammar.
fn check_registry(registry: &str) -> Result<(), String> {
    let (host, port) = match registry.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (registry, None),
    };
    if host.is_empty() {
        return Err(format!("empty registry host in {registry:?}"));
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return Err(format!(
            "registry host {host:?} may only contain letters, digits, '.' and '-' \
             (IPv6 literals are not supported)"
        ));
    }
    if let Some(port) = port
        && (port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("registry port {port:?} is not a number"));
    }
    if !is_valid_path_component(&registry_to_component(registry)) {
        return Err(format!(
            "registry host {registry:?} is not a valid host name"
        ));
    }
    Ok(())
}

/// A parsed image reference `[registry/]path[:tag][@digest]`.
///
/// `registry` is the host (with `:port` if any) as written, lowercased; `repository`
/// is the path inside that registry. A reference without a tag or digest has both
/// `None`: callers that pull by tag apply the conventional `latest` themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host, e.g. `docker.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// Repository path inside the registry, e.g. `library/ubuntu`.
    pub repository: String,
    /// Tag, if given.
    pub tag: Option<String>,
    /// Manifest digest, if given (`@sha256:...`).
    pub digest: Option<Digest>,
}

impl ImageRef {
    /// Parses an image reference with Docker's rules: the first `/`-separated component
    /// is a registry only if it contains `.` or `:`, is `localhost`, or has uppercase
    /// letters; otherwise the reference is in `default_registry`. For `docker.io` (and
    /// its alias `index.docker.io`) a single-segment path gets `library/`.
    ///
    /// Accepts e.g. `ubuntu`, `library/ubuntu:24.04`, `registry.example/team/cuda:12.6.0-base`,
    /// `127.0.0.1:5000/team/app@sha256:<hex>`, `x:tag@sha256:<hex>`.
    ///
    /// Errors: [`OciError::InvalidReference`] for an empty or malformed reference, a bad
    /// registry host, a repository or tag outside the distribution grammar, or a served
    /// name over 255 bytes; [`OciError::InvalidDigest`]/[`OciError::UnsupportedDigest`]
    /// for the `@digest` part.
    pub fn parse(s: &str, default_registry: &str) -> Result<Self, OciError> {
        let fail = |reason: String| OciError::InvalidReference {
            reference: s.to_owned(),
            reason,
        };
        if s.is_empty() {
            return Err(fail("empty reference".into()));
        }
        if s.bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(fail("contains whitespace or control characters".into()));
        }
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(parse_digest(d)?)),
            None => (s, None),
        };
        // A ':' after the last '/' starts the tag; earlier ones belong to a registry port.
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].find(':') {
            Some(i) => {
                let at = last_slash + i;
                (&name_tag[..at], Some(&name_tag[at + 1..]))
            }
            None => (name_tag, None),
        };
        if let Some(tag) = tag
            && !is_valid_tag(tag)
        {
            return Err(fail(format!(
                "tag {tag:?} does not match [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}"
            )));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.bytes().any(|b| b.is_ascii_uppercase()) =>
            {
                (first, rest)
            }
            _ => (default_registry, name),
        };
        check_registry(registry).map_err(fail)?;
        let mut registry = registry.to_ascii_lowercase();
        let mut repository = path.to_owned();
        if registry == "index.docker.io" {
            registry = "docker.io".into();
        }
        if registry == "docker.io" && !repository.contains('/') {
            repository = format!("library/{repository}");
        }
        if !is_valid_repository(&repository) {
            return Err(fail(format!(
                "repository {repository:?} does not match the distribution name grammar \
                 (lowercase [a-z0-9] components joined by '.', '_', '__' or '-')"
            )));
        }
        let r = ImageRef {
            registry,
            repository,
            tag: tag.map(str::to_owned),
            digest,
        };
        let served = r.served_name();
        if served.len() > 255 {
            return Err(fail(format!(
                "served name {served:?} is {} bytes, over the 255-byte limit",
                served.len()
            )));
        }
        Ok(r)
    }

    /// `<registry_to_component(registry)>/<repository>`: the repository name the mirror
    /// serves this image under (e.g. `127.0.0.1__5000/team/app`).
    pub fn served_name(&self) -> String {
        format!(
            "{}/{}",
            registry_to_component(&self.registry),
            self.repository
        )
    }

    /// `<registry>/<repository>`, then `:tag` and/or `@digest` when present, e.g.
    /// `127.0.0.1:5000/team/app:v1@sha256:<hex>`.
    pub fn to_reference_string(&self) -> String {
        let mut s = format!("{}/{}", self.registry, self.repository);
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        s
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_reference_string())
    }
}

// ---------------------------------------------------------------------------
// Platform and descriptors
// ---------------------------------------------------------------------------

/// Image platform (image-spec §Image Index `platform`): JSON fields `os`,
/// `architecture`, optional `variant`. Other fields (`os.version`, `os.features`) are
/// ignored when parsing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Platform {
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// CPU architecture (GOARCH), e.g. `amd64`, `arm64`.
    pub architecture: String,
    /// CPU variant, e.g. `v8`, `v7`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// Parses `os/architecture[/variant]` (e.g. `linux/amd64`, `linux/arm64/v8`).
    /// Errors: [`OciError::Manifest`] for an empty part, more than three parts, or
    /// characters outside `[A-Za-z0-9._-]`.
    pub fn parse(s: &str) -> Result<Self, OciError> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok_part = |p: &&str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        };
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(ok_part) {
            return Err(OciError::Manifest(format!(
                "invalid platform {s:?}: expected os/architecture[/variant], e.g. linux/arm64/v8"
            )));
        }
        Ok(Platform {
            os: parts.first().copied().unwrap_or_default().to_owned(),
            architecture: parts.get(1).copied().unwrap_or_default().to_owned(),
            variant: parts.get(2).map(|v| (*v).to_owned()),
        })
    }

    /// `os/architecture[/variant]`, e.g. `linux/amd64`, `linux/arm64/v8`.
    pub fn to_string_short(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }

    /// True if `self` (an index entry's platform) satisfies `wanted`: same os and
    /// architecture, and, when `wanted` names a variant, the same variant. As in
    /// containerd's platform matcher, `arm64` without a variant counts as `arm64/v8`.
    pub fn matches(&self, wanted: &Platform) -> bool {
        if self.os != wanted.os || self.architecture != wanted.architecture {
            return false;
        }
        match &wanted.variant {
            None => true,
            Some(w) => {
                let mine = match (&self.variant, self.architecture.as_str()) {
                    (Some(v), _) => Some(v.as_str()),
                    (None, "arm64") => Some("v8"),
                    (None, _) => None,
                };
                mine == Some(w.as_str())
            }
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_short())
    }
}

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

// ---------------------------------------------------------------------------
// Manifests
// ---------------------------------------------------------------------------

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

fn check_size(len: usize) -> Result<(), OciError> {
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

// ---------------------------------------------------------------------------
// Cosign
// ---------------------------------------------------------------------------

const COSIGN_SUFFIXES: [&str; 3] = ["sig", "att", "sbom"];

/// The tag cosign stores an artifact for `digest` under: `sha256-<hex>.<suffix>`, with
/// suffix `sig` (signature), `att` (attestation) or `sbom`.
pub fn cosign_tag(digest: &Digest, suffix: &str) -> String {
    format!("sha256-{}.{suffix}", digest.hex())
}

/// The referrers fallback tag of `digest` (distribution-spec v1.1 §Referrers Tag Schema):
/// `<alg>-<hex>`, i.e. `sha256-<64 hex>`. On a registry without the referrers API
/// (`GET /v2/<name>/referrers/<digest>` answers 404), clients push an image index under
/// this tag whose `manifests` are the referrers of `digest`, and a client listing
/// referrers MUST read it.
pub fn referrers_tag(digest: &Digest) -> String {
    format!("sha256-{}", digest.hex())
}

/// Inverse of [`cosign_tag`]: `Some((digest, suffix))` for `sha256-<64 hex>.<sig|att|sbom>`,
/// `None` for any other tag.
pub fn parse_cosign_tag(tag: &str) -> Option<(Digest, String)> {
    let rest = tag.strip_prefix("sha256-")?;
    let (hex, suffix) = rest.split_once('.')?;
    if !COSIGN_SUFFIXES.contains(&suffix) {
        return None;
    }
    let digest = Digest::from_hex(hex).ok()?;
    Some((digest, suffix.to_owned()))
}

/// The simple-signing payload cosign signs (containers/image "atomic container
/// signature" format, `critical` section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleSigning {
    /// `critical.image.docker-manifest-digest`: the signed manifest.
    pub docker_manifest_digest: Digest,
    /// `critical.identity.docker-reference`: the image reference as signed.
    pub docker_reference: String,
    /// `critical.type`, e.g. `cosign container image signature`.
    pub kind: String,
}

#[derive(Deserialize)]
struct SsRaw {
    critical: SsCritical,
}
#[derive(Deserialize)]
struct SsCritical {
    identity: SsIdentity,
    image: SsImage,
    #[serde(rename = "type")]
    kind: String,
}
#[derive(Deserialize)]
struct SsIdentity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}
#[derive(Deserialize)]
struct SsImage {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

impl SimpleSigning {
    /// Parses `{"critical":{"identity":{"docker-reference":..},"image":{"docker-manifest-digest":"sha256:.."},"type":..},"optional":{..}}`.
    /// The `type` is returned, not checked. Errors: [`OciError::Manifest`] for missing
    /// fields or invalid JSON; [`OciError::InvalidDigest`]/[`OciError::UnsupportedDigest`]
    /// for the digest.
    pub fn parse(bytes: &[u8]) -> Result<Self, OciError> {
        check_size(bytes.len())?;
        let raw: SsRaw = serde_json::from_slice(bytes)
            .map_err(|e| OciError::Manifest(format!("simple signing payload: {e}")))?;
        Ok(SimpleSigning {
            docker_manifest_digest: parse_digest(&raw.critical.image.docker_manifest_digest)?,
            docker_reference: raw.critical.identity.docker_reference,
            kind: raw.critical.kind,
        })
    }
}

// ---------------------------------------------------------------------------
// Rendered indexes
// ---------------------------------------------------------------------------

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

#[cfg(test)]
mod tests {
    use super::*;

    const HEX_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const HEX_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const HEX_C: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
    const HEX_D: &str = "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";

    fn d(hex: &str) -> Digest {
        Digest::from_hex(hex).unwrap()
    }

    #[test]
    fn repository_grammar() {
        for ok in [
            "a",
            "ubuntu",
            "library/ubuntu",
            "a__b",
            "a_b",
            "a.b",
            "a-b",
            "a---b",
            "127.0.0.1__5000/team/app",
            "docker.io/library/ubuntu",
            "x9/y-z.w__v/0",
        ] {
            assert!(is_valid_repository(ok), "{ok} should be valid");
        }
        for bad in [
            "",
            "Ubuntu",
            "library/Ubuntu",
            "a___b",
            "a_.b",
            "a.-b",
            "a..b",
            "a-",
            "a.",
            "a_",
            "-a",
            ".a",
            "_a",
            "a/",
            "/a",
            "a//b",
            "a:b",
            "a b",
            "a/../b",
            "ü",
        ] {
            assert!(!is_valid_repository(bad), "{bad:?} should be invalid");
        }
        let max = "a".repeat(255);
        assert!(is_valid_repository(&max));
        let over = "a".repeat(256);
        assert!(!is_valid_repository(&over));
        let over_path = format!("{}/{}", "a".repeat(127), "b".repeat(128));
        assert_eq!(over_path.len(), 256);
        assert!(!is_valid_repository(&over_path));
    }

    #[test]
    fn tag_grammar() {
        for ok in [
            "latest",
            "24.04",
            "_x",
            "v1.2.3-rc_1",
            "A",
            &"a".repeat(128),
        ] {
            assert!(is_valid_tag(ok), "{ok} should be valid");
        }
        for bad in ["", ".x", "-x", "a:b", "a/b", "a b", "a@b", &"a".repeat(129)] {
            assert!(!is_valid_tag(bad), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn digest_parsing() {
        assert_eq!(parse_digest(&format!("sha256:{HEX_A}")).unwrap(), d(HEX_A));
        let sha512 = format!("sha512:{}", "a".repeat(128));
        assert_eq!(
            parse_digest(&sha512),
            Err(OciError::UnsupportedDigest(sha512.clone()))
        );
        assert!(matches!(
            parse_digest("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8"),
            Err(OciError::UnsupportedDigest(_))
        ));
        for bad in [
            "",
            "sha256",
            "sha256:",
            ":abc",
            "sha256:abc",
            &format!("sha256:{}", HEX_A.to_uppercase()),
            &format!("sha256:{HEX_A}a"),
            "SHA256:abc",
            "sha256:../../etc/passwd",
            "sha+:abc",
            "sha256:a b",
        ] {
            assert!(
                matches!(parse_digest(bad), Err(OciError::InvalidDigest(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn registry_component_mapping() {
        assert_eq!(registry_to_component("127.0.0.1:5000"), "127.0.0.1__5000");
        assert_eq!(
            registry_to_component("Registry.Example"),
            "registry.example"
        );
        assert_eq!(component_to_registry("127.0.0.1__5000"), "127.0.0.1:5000");
        assert_eq!(component_to_registry("docker.io"), "docker.io");
        for host in ["localhost:5000", "registry.example", "a-b.example:443"] {
            assert_eq!(component_to_registry(&registry_to_component(host)), host);
        }
        assert_eq!(
            split_served_name("docker.io/library/ubuntu"),
            Some(("docker.io".into(), "library/ubuntu".into()))
        );
        assert_eq!(
            split_served_name("127.0.0.1__5000/app"),
            Some(("127.0.0.1:5000".into(), "app".into()))
        );
        assert_eq!(split_served_name("ubuntu"), None);
        assert_eq!(split_served_name("docker.io/"), None);
    }

    #[test]
    fn image_reference_table() {
        let dig = format!("sha256:{HEX_A}");
        // (input, registry, repository, tag, digest?)
        let cases: Vec<(String, &str, &str, Option<&str>, bool)> = vec![
            ("ubuntu".into(), "docker.io", "library/ubuntu", None, false),
            (
                "ubuntu:24.04".into(),
                "docker.io",
                "library/ubuntu",
                Some("24.04"),
                false,
            ),
            (
                "library/ubuntu:24.04".into(),
                "docker.io",
                "library/ubuntu",
                Some("24.04"),
                false,
            ),
            ("team/app".into(), "docker.io", "team/app", None, false),
            (
                "docker.io/ubuntu".into(),
                "docker.io",
                "library/ubuntu",
                None,
                false,
            ),
            (
                "index.docker.io/ubuntu".into(),
                "docker.io",
                "library/ubuntu",
                None,
                false,
            ),
            (
                "registry.example/nvidia/cuda:12.6.0-base".into(),
                "registry.example",
                "nvidia/cuda",
                Some("12.6.0-base"),
                false,
            ),
            (
                "registry.example/app".into(),
                "registry.example",
                "app",
                None,
                false,
            ),
            (
                "localhost/app:v1".into(),
                "localhost",
                "app",
                Some("v1"),
                false,
            ),
            (
                "localhost:5000/app".into(),
                "localhost:5000",
                "app",
                None,
                false,
            ),
            (
                format!("127.0.0.1:5000/team/app@{dig}"),
                "127.0.0.1:5000",
                "team/app",
                None,
                true,
            ),
            (
                format!("x:tag@{dig}"),
                "docker.io",
                "library/x",
                Some("tag"),
                true,
            ),
            (
                "Registry.Example/app".into(),
                "registry.example",
                "app",
                None,
                false,
            ),
            (
                "localhost".into(),
                "docker.io",
                "library/localhost",
                None,
                false,
            ),
        ];
        for (input, registry, repository, tag, has_digest) in cases {
            let r = ImageRef::parse(&input, "docker.io").unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.registry, registry, "{input}");
            assert_eq!(r.repository, repository, "{input}");
            assert_eq!(r.tag.as_deref(), tag, "{input}");
            assert_eq!(r.digest, has_digest.then(|| d(HEX_A)), "{input}");
        }
    }

    #[test]
    fn image_reference_other_default_registry() {
        let r = ImageRef::parse("team/app:v1", "127.0.0.1:5000").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.served_name(), "127.0.0.1__5000/team/app");
        assert_eq!(r.to_reference_string(), "127.0.0.1:5000/team/app:v1");
        // No library/ outside docker.io.
        let r = ImageRef::parse("app", "registry.example").unwrap();
        assert_eq!(r.repository, "app");
    }

    #[test]
    fn image_reference_rendering() {
        let r = ImageRef::parse(
            &format!("127.0.0.1:5000/team/app:v1@sha256:{HEX_A}"),
            "docker.io",
        )
        .unwrap();
        assert_eq!(r.served_name(), "127.0.0.1__5000/team/app");
        assert_eq!(
            r.to_reference_string(),
            format!("127.0.0.1:5000/team/app:v1@sha256:{HEX_A}")
        );
        assert_eq!(r.to_string(), r.to_reference_string());
        let back = ImageRef::parse(&r.to_reference_string(), "docker.io").unwrap();
        assert_eq!(back, r);
        let u = ImageRef::parse("ubuntu:24.04", "docker.io").unwrap();
        assert_eq!(u.to_reference_string(), "docker.io/library/ubuntu:24.04");
        assert_eq!(u.served_name(), "docker.io/library/ubuntu");
        assert_eq!(
            split_served_name(&u.served_name()),
            Some((u.registry.clone(), u.repository.clone()))
        );
    }

    #[test]
    fn image_reference_errors() {
        for bad in [
            "",
            "Ubuntu",
            "registry.example/Team/app",
            "app:",
            "app:-bad",
            "app:a/b",
            "a___b",
            "registry.example/",
            "/app",
            "app@",
            "app @x",
            "[::1]:5000/app",
            "registry.example:port/app",
            "-bad.example/app",
            "registry_x.example/app",
        ] {
            let e = ImageRef::parse(bad, "docker.io");
            assert!(
                matches!(
                    e,
                    Err(OciError::InvalidReference { .. } | OciError::InvalidDigest(_))
                ),
                "{bad:?} gave {e:?}"
            );
        }
        assert!(matches!(
            ImageRef::parse(&format!("app@sha512:{}", "a".repeat(128)), "docker.io"),
            Err(OciError::UnsupportedDigest(_))
        ));
        assert!(matches!(
            ImageRef::parse("app@sha256:abc", "docker.io"),
            Err(OciError::InvalidDigest(_))
        ));
        let long = format!("registry.example/{}", "a".repeat(250));
        assert!(matches!(
            ImageRef::parse(&long, "docker.io"),
            Err(OciError::InvalidReference { .. })
        ));
        // Error message names the reference and the problem.
        let msg = ImageRef::parse("app:-bad", "docker.io")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("app:-bad") && msg.contains("tag"), "{msg}");
    }

    #[test]
    fn platform_parse_and_match() {
        let p = Platform::parse("linux/arm64/v8").unwrap();
        assert_eq!(p.os, "linux");
        assert_eq!(p.architecture, "arm64");
        assert_eq!(p.variant.as_deref(), Some("v8"));
        assert_eq!(p.to_string_short(), "linux/arm64/v8");
        let amd = Platform::parse("linux/amd64").unwrap();
        assert_eq!(amd.variant, None);
        assert_eq!(amd.to_string_short(), "linux/amd64");
        for bad in [
            "",
            "linux",
            "linux/",
            "/amd64",
            "linux/arm/v7/x",
            "linux/am d64",
        ] {
            assert!(Platform::parse(bad).is_err(), "{bad:?}");
        }
        let armv7 = Platform::parse("linux/arm/v7").unwrap();
        let armv6 = Platform::parse("linux/arm/v6").unwrap();
        let arm = Platform::parse("linux/arm").unwrap();
        assert!(armv7.matches(&arm));
        assert!(armv7.matches(&armv7));
        assert!(!armv6.matches(&armv7));
        assert!(!arm.matches(&armv7));
        assert!(!amd.matches(&p));
        assert!(!Platform::parse("windows/amd64").unwrap().matches(&amd));
        // arm64 without a variant is arm64/v8.
        let arm64 = Platform::parse("linux/arm64").unwrap();
        assert!(arm64.matches(&p));
        assert!(!arm64.matches(&Platform::parse("linux/arm64/v9").unwrap()));
    }

    #[test]
    fn descriptor_json_field_names() {
        let mut desc = Descriptor::new(OCI_MANIFEST, d(HEX_A), 42);
        let json = serde_json::to_string(&desc).unwrap();
        assert_eq!(
            json,
            format!(r#"{{"mediaType":"{OCI_MANIFEST}","digest":"sha256:{HEX_A}","size":42}}"#)
        );
        desc.platform = Some(Platform::parse("linux/amd64").unwrap());
        desc.artifact_type = Some("application/example".into());
        desc.annotations.insert("k".into(), "v".into());
        desc.urls.push("https://blobs.example/x".into());
        let json = serde_json::to_string(&desc).unwrap();
        for key in [
            r#""mediaType":"#,
            r#""platform":{"os":"linux","architecture":"amd64"}"#,
            r#""artifactType":"application/example""#,
            r#""annotations":{"k":"v"}"#,
            r#""urls":["https://blobs.example/x"]"#,
        ] {
            assert!(json.contains(key), "{key} missing in {json}");
        }
        let back: Descriptor = serde_json::from_str(&json).unwrap();
        assert_eq!(back, desc);
        let sha512 = format!(
            r#"{{"mediaType":"x","digest":"sha512:{}","size":1}}"#,
            "a".repeat(128)
        );
        assert!(serde_json::from_str::<Descriptor>(&sha512).is_err());
    }

    fn docker_schema2() -> String {
        format!(
            r#"{{
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
   "config": {{
      "mediaType": "application/vnd.docker.container.image.v1+json",
      "size": 7023,
      "digest": "sha256:{HEX_A}"
   }},
   "layers": [
      {{
         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
         "size": 32654,
         "digest": "sha256:{HEX_B}"
      }},
      {{
         "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
         "size": 16724,
         "digest": "sha256:{HEX_C}",
         "urls": ["https://blobs.example/layer"]
      }}
   ]
}}"#
        )
    }

    #[test]
    fn parses_docker_schema2_manifest() {
        let m = parse_manifest(docker_schema2().as_bytes(), Some(DOCKER_MANIFEST)).unwrap();
        assert_eq!(m.kind, ManifestKind::Image);
        assert_eq!(m.media_type, DOCKER_MANIFEST);
        let config = m.config.as_ref().unwrap();
        assert_eq!(
            config.media_type,
            "application/vnd.docker.container.image.v1+json"
        );
        assert_eq!(config.size, 7023);
        assert_eq!(config.digest, d(HEX_A));
        assert_eq!(m.layers.len(), 2);
        assert_eq!(
            m.layers[1].urls,
            vec!["https://blobs.example/layer".to_string()]
        );
        let blobs: Vec<Digest> = m.blobs().iter().map(|b| b.digest).collect();
        assert_eq!(blobs, vec![d(HEX_A), d(HEX_B), d(HEX_C)]);
        assert!(!is_foreign_layer(&m.layers[0].media_type));
        assert!(is_foreign_layer(&m.layers[1].media_type));
        assert!(m.manifests.is_empty() && m.subject.is_none());
    }

    #[test]
    fn foreign_layer_types() {
        for t in [
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            "application/vnd.oci.image.layer.nondistributable.v1.tar",
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        ] {
            assert!(is_foreign_layer(t), "{t}");
        }
        for t in [
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "",
        ] {
            assert!(!is_foreign_layer(t), "{t}");
        }
    }

    #[test]
    fn parses_oci_index_with_platforms() {
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[
              {{"mediaType":"{OCI_MANIFEST}","digest":"sha256:{HEX_A}","size":100,
                "platform":{{"architecture":"amd64","os":"linux"}}}},
              {{"mediaType":"{OCI_MANIFEST}","digest":"sha256:{HEX_B}","size":200,
                "platform":{{"architecture":"arm64","os":"linux","variant":"v8","os.features":["x"]}}}},
              {{"mediaType":"{OCI_MANIFEST}","digest":"sha256:{HEX_C}","size":300,
                "annotations":{{"vnd.docker.reference.type":"attestation-manifest"}},
                "platform":{{"architecture":"unknown","os":"unknown"}}}}
            ],"annotations":{{"org.opencontainers.image.created":"2024-01-01T00:00:00Z"}}}}"#
        );
        let m = parse_manifest(json.as_bytes(), None).unwrap();
        assert_eq!(m.kind, ManifestKind::Index);
        assert_eq!(m.media_type, OCI_INDEX);
        assert!(m.config.is_none() && m.layers.is_empty() && m.blobs().is_empty());
        assert_eq!(m.manifests.len(), 3);
        let wanted = Platform::parse("linux/arm64/v8").unwrap();
        let picked: Vec<Digest> = m
            .manifests
            .iter()
            .filter(|c| c.platform.as_ref().is_some_and(|p| p.matches(&wanted)))
            .map(|c| c.digest)
            .collect();
        assert_eq!(picked, vec![d(HEX_B)]);
        assert_eq!(
            m.manifests[0].platform.as_ref().unwrap().to_string_short(),
            "linux/amd64"
        );
        assert_eq!(m.annotations.len(), 1);
    }

    #[test]
    fn parses_docker_manifest_list_by_content_type() {
        let json = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{DOCKER_MANIFEST}","digest":"sha256:{HEX_A}","size":1,"platform":{{"os":"linux","architecture":"arm","variant":"v7"}}}}]}}"#
        );
        let m = parse_manifest(
            json.as_bytes(),
            Some("application/vnd.docker.distribution.manifest.list.v2+json; charset=utf-8"),
        )
        .unwrap();
        assert_eq!(m.kind, ManifestKind::Index);
        assert_eq!(m.media_type, DOCKER_MANIFEST_LIST);
    }

    #[test]
    fn parses_artifact_manifest_with_subject() {
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}",
              "artifactType":"application/vnd.example.sbom.v1+json",
              "config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"data":"e30="}},
              "layers":[{{"mediaType":"application/vnd.example.sbom.v1+json","digest":"sha256:{HEX_B}","size":10}}],
              "subject":{{"mediaType":"{OCI_MANIFEST}","digest":"sha256:{HEX_A}","size":500}},
              "annotations":{{"org.opencontainers.image.created":"2024-01-01T00:00:00Z"}}}}"#
        );
        let m = parse_manifest(json.as_bytes(), Some("application/octet-stream")).unwrap();
        assert_eq!(m.kind, ManifestKind::Image);
        assert_eq!(
            m.artifact_type.as_deref(),
            Some("application/vnd.example.sbom.v1+json")
        );
        let subject = m.subject.as_ref().unwrap();
        assert_eq!(subject.digest, d(HEX_A));
        assert_eq!(subject.size, 500);
        assert_eq!(m.blobs().len(), 2);
    }

    #[test]
    fn infers_oci_manifest_without_media_type() {
        let json = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{HEX_A}","size":3}},"layers":[]}}"#
        );
        let m = parse_manifest(json.as_bytes(), None).unwrap();
        assert_eq!(m.media_type, OCI_MANIFEST);
        assert_eq!(m.kind, ManifestKind::Image);
        assert!(m.layers.is_empty());
        // Content type wins over inference when it names a manifest type.
        let m = parse_manifest(json.as_bytes(), Some(DOCKER_MANIFEST)).unwrap();
        assert_eq!(m.media_type, DOCKER_MANIFEST);
    }

    #[test]
    fn refuses_schema1() {
        let json = r#"{"schemaVersion":1,"name":"library/x","tag":"latest","architecture":"amd64",
            "fsLayers":[{"blobSum":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}],"history":[]}"#;
        for ct in [
            None,
            Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
            Some("application/json"),
        ] {
            let e = parse_manifest(json.as_bytes(), ct).unwrap_err();
            match e {
                OciError::Manifest(msg) => {
                    assert!(msg.starts_with("unsupported media type"), "{msg}")
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn manifest_errors() {
        let big = vec![b' '; usize::try_from(MAX_MANIFEST_BYTES).unwrap() + 1];
        assert_eq!(
            parse_manifest(&big, None),
            Err(OciError::TooLarge(MAX_MANIFEST_BYTES + 1))
        );
        let schema3 = format!(r#"{{"schemaVersion":3,"mediaType":"{OCI_INDEX}","manifests":[]}}"#);
        assert!(matches!(
            parse_manifest(schema3.as_bytes(), None),
            Err(OciError::Manifest(m)) if m.contains("schemaVersion")
        ));
        let missing = format!(r#"{{"mediaType":"{OCI_INDEX}","manifests":[]}}"#);
        assert!(parse_manifest(missing.as_bytes(), None).is_err());
        let unknown = r#"{"schemaVersion":2,"mediaType":"application/vnd.example+json"}"#;
        assert!(matches!(
            parse_manifest(unknown.as_bytes(), None),
            Err(OciError::Manifest(m)) if m.starts_with("unsupported media type application/vnd.example+json")
        ));
        let no_config =
            format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","layers":[]}}"#);
        assert!(matches!(
            parse_manifest(no_config.as_bytes(), None),
            Err(OciError::Manifest(m)) if m.contains("config")
        ));
        let no_manifests = format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}"}}"#);
        assert!(parse_manifest(no_manifests.as_bytes(), None).is_err());
        let sha512_child = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"sha512:{}","size":1}}]}}"#,
            "a".repeat(128)
        );
        assert!(parse_manifest(sha512_child.as_bytes(), None).is_err());
        for junk in [&b"not json"[..], b"[]", b"", b"{\"schemaVersion\":2}"] {
            assert!(parse_manifest(junk, None).is_err());
        }
    }

    #[test]
    fn manifest_accept_lists_all_types() {
        for t in [
            OCI_MANIFEST,
            OCI_INDEX,
            DOCKER_MANIFEST,
            DOCKER_MANIFEST_LIST,
        ] {
            assert!(MANIFEST_ACCEPT.split(", ").any(|x| x == t), "{t}");
        }
    }

    #[test]
    fn referrers_fallback_tag() {
        let tag = referrers_tag(&d(HEX_A));
        assert_eq!(tag, format!("sha256-{HEX_A}"));
        assert!(is_valid_tag(&tag));
        assert_eq!(parse_cosign_tag(&tag), None);
    }

    #[test]
    fn referrer_artifact_type_is_config_media_type_when_missing() {
        // A cosign-style signature: subject, no artifactType, a simple-signing layer.
        let subject =
            format!(r#"{{"mediaType":"{OCI_MANIFEST}","digest":"sha256:{HEX_A}","size":10}}"#);
        let manifest = |artifact_type: &str| {
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}",{artifact_type}
                "config":{{"mediaType":"application/vnd.example.config.v1+json","digest":"sha256:{HEX_B}","size":2}},
                "layers":[{{"mediaType":"{COSIGN_SIMPLESIGNING}","digest":"sha256:{HEX_C}","size":3}}],
                "subject":{subject}}}"#
            )
        };
        let m = parse_manifest(manifest("").as_bytes(), None).unwrap();
        assert_eq!(
            m.referrer_artifact_type().as_deref(),
            Some("application/vnd.example.config.v1+json")
        );
        let m = parse_manifest(manifest(r#""artifactType":"","#).as_bytes(), None).unwrap();
        assert_eq!(
            m.referrer_artifact_type().as_deref(),
            Some("application/vnd.example.config.v1+json")
        );
        let m = parse_manifest(
            manifest(r#""artifactType":"application/vnd.example.sbom","#).as_bytes(),
            None,
        )
        .unwrap();
        assert_eq!(
            m.referrer_artifact_type().as_deref(),
            Some("application/vnd.example.sbom")
        );
        let index = format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[]}}"#);
        let m = parse_manifest(index.as_bytes(), None).unwrap();
        assert_eq!(m.referrer_artifact_type(), None);
    }

    #[test]
    fn cosign_tag_round_trip() {
        let digest = d(HEX_A);
        for suffix in ["sig", "att", "sbom"] {
            let tag = cosign_tag(&digest, suffix);
            assert_eq!(tag, format!("sha256-{HEX_A}.{suffix}"));
            assert!(is_valid_tag(&tag));
            assert_eq!(parse_cosign_tag(&tag), Some((digest, suffix.to_string())));
        }
        for bad in [
            "latest".to_string(),
            format!("sha256-{HEX_A}"),
            format!("sha256-{HEX_A}.exe"),
            format!("sha256-{HEX_A}.sig.sig"),
            format!("sha512-{HEX_A}.sig"),
            "sha256-abc.sig".to_string(),
            format!("sha256-{}.sig", HEX_A.to_uppercase()),
        ] {
            assert_eq!(parse_cosign_tag(&bad), None, "{bad}");
        }
    }

    #[test]
    fn simple_signing_parse() {
        let payload = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"127.0.0.1:5000/team/app"}},"image":{{"docker-manifest-digest":"sha256:{HEX_A}"}},"type":"cosign container image signature"}},"optional":{{"creator":"test"}}}}"#
        );
        let s = SimpleSigning::parse(payload.as_bytes()).unwrap();
        assert_eq!(s.docker_manifest_digest, d(HEX_A));
        assert_eq!(s.docker_reference, "127.0.0.1:5000/team/app");
        assert_eq!(s.kind, "cosign container image signature");

        let no_opt = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"x"}},"image":{{"docker-manifest-digest":"sha256:{HEX_B}"}},"type":"atomic container signature"}}}}"#
        );
        assert_eq!(
            SimpleSigning::parse(no_opt.as_bytes())
                .unwrap()
                .docker_manifest_digest,
            d(HEX_B)
        );
        let bad_digest = r#"{"critical":{"identity":{"docker-reference":"x"},"image":{"docker-manifest-digest":"sha256:abc"},"type":"t"}}"#;
        assert!(matches!(
            SimpleSigning::parse(bad_digest.as_bytes()),
            Err(OciError::InvalidDigest(_))
        ));
        let missing =
            r#"{"critical":{"image":{"docker-manifest-digest":"sha256:abc"},"type":"t"}}"#;
        assert!(matches!(
            SimpleSigning::parse(missing.as_bytes()),
            Err(OciError::Manifest(_))
        ));
    }

    #[test]
    fn layout_index_render() {
        let a = Descriptor::new(OCI_INDEX, d(HEX_A), 10);
        let b = Descriptor::new(DOCKER_MANIFEST, d(HEX_B), 20);
        let entries = vec![
            (b.clone(), "registry.example/team/app:v2".to_string()),
            (a.clone(), "docker.io/library/ubuntu:24.04".to_string()),
        ];
        let bytes = render_layout_index(&entries);
        let reversed: Vec<_> = entries.iter().rev().cloned().collect();
        assert_eq!(render_layout_index(&reversed), bytes, "order-independent");
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(text.starts_with(&format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":["#
        )));
        let m = parse_manifest(&bytes, None).unwrap();
        assert_eq!(m.kind, ManifestKind::Index);
        assert_eq!(m.manifests.len(), 2);
        assert_eq!(m.manifests[0].digest, d(HEX_A));
        assert_eq!(
            m.manifests[0]
                .annotations
                .get(REF_NAME_ANNOTATION)
                .map(String::as_str),
            Some("docker.io/library/ubuntu:24.04")
        );
        assert_eq!(
            m.manifests[1]
                .annotations
                .get(REF_NAME_ANNOTATION)
                .map(String::as_str),
            Some("registry.example/team/app:v2")
        );
        assert_eq!(m.manifests[1].media_type, DOCKER_MANIFEST);
        let layout: serde_json::Value = serde_json::from_str(OCI_LAYOUT_FILE_CONTENT).unwrap();
        assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    }

    #[test]
    fn referrers_render_and_filter() {
        let mut sig = Descriptor::new(OCI_MANIFEST, d(HEX_C), 30);
        sig.artifact_type = Some(COSIGN_SIMPLESIGNING.into());
        let mut sbom = Descriptor::new(OCI_MANIFEST, d(HEX_B), 40);
        sbom.artifact_type = Some("application/vnd.example.sbom.v1+json".into());
        sbom.annotations
            .insert("org.opencontainers.image.created".into(), "2024".into());
        let mut plain = Descriptor::new(OCI_MANIFEST, d(HEX_D), 50);
        plain.artifact_type = None;

        let bytes =
            render_referrers_index(&[sig.clone(), sbom.clone(), plain.clone(), sig.clone()]);
        assert_eq!(
            bytes,
            render_referrers_index(&[plain.clone(), sbom.clone(), sig.clone()]),
            "deterministic, deduplicated"
        );
        let m = parse_manifest(&bytes, Some(OCI_INDEX)).unwrap();
        assert_eq!(m.kind, ManifestKind::Index);
        assert_eq!(m.manifests, vec![sbom.clone(), sig.clone(), plain.clone()]);

        let filtered = filter_referrers(&bytes, COSIGN_SIMPLESIGNING).unwrap();
        let fm = parse_manifest(&filtered, None).unwrap();
        assert_eq!(fm.media_type, OCI_INDEX);
        assert_eq!(fm.manifests, vec![sig.clone()]);
        assert_eq!(filtered, render_referrers_index(&[sig]));

        let none = filter_referrers(&bytes, "application/none").unwrap();
        assert!(parse_manifest(&none, None).unwrap().manifests.is_empty());
        let empty = render_referrers_index(&[]);
        assert_eq!(
            std::str::from_utf8(&empty).unwrap(),
            format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[]}}"#)
        );

        assert!(matches!(
            filter_referrers(b"{}", "x"),
            Err(OciError::Manifest(_))
        ));
        assert!(matches!(
            filter_referrers(b"nope", "x"),
            Err(OciError::Manifest(_))
        ));
    }
}
