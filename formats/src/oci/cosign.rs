//! Cosign artifacts: the `sha256-<hex>.<sig|att|sbom>` tag scheme and the simple-signing
//! payload cosign signs (containers/image "atomic container signature" format).

use serde::Deserialize;

use super::error::OciError;
use super::manifest::check_size;
use super::reference::parse_digest;
use crate::digest::Digest;

/// Media type of the cosign simple-signing payload layer.
pub const COSIGN_SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer annotation holding the base64 cosign signature over the simple-signing payload.
pub const COSIGN_SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

const COSIGN_SUFFIXES: [&str; 3] = ["sig", "att", "sbom"];

/// The tag cosign stores an artifact for `digest` under: `sha256-<hex>.<suffix>`, with
/// suffix `sig` (signature), `att` (attestation) or `sbom`.
pub fn cosign_tag(digest: &Digest, suffix: &str) -> String {
    format!("sha256-{}.{suffix}", digest.hex())
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
