//! The supplier of an image for the SBOM: the `org.opencontainers.image.vendor`
//! annotation of its manifest or index (OCI image-spec §Pre-Defined Annotation Keys), else
//! the same key among its config's `config.Labels` (where `docker build` and buildah put
//! `LABEL`s). Read from the store after the blobs are downloaded.

use formats::digest::Digest;
use formats::snapshot::Artifact;

/// The annotation and label key (OCI image-spec §Pre-Defined Annotation Keys).
pub const VENDOR_KEY: &str = "org.opencontainers.image.vendor";

/// Largest manifest or config blob read for the vendor, in bytes (4 MiB).
const MAX_READ: u64 = 4 * 1024 * 1024;

/// Longest vendor kept, in characters.
const MAX_VENDOR_CHARS: usize = 200;

/// The vendor of the manifest artifact `a`, or `None` when neither its annotations nor
/// its config's labels name one (or the bytes cannot be read or parsed: the SBOM then
/// falls back to the registry, so this never fails the sync).
pub fn vendor_of(cas: &store::Cas, a: &Artifact) -> Option<String> {
    let bytes = cas.read_bytes(&a.digest, MAX_READ).ok()?;
    let parsed = formats::oci::parse_manifest(&bytes, a.media_type.as_deref()).ok()?;
    if let Some(v) = parsed.annotations.get(VENDOR_KEY).and_then(|v| clean(v)) {
        return Some(v);
    }
    let config = parsed.config.as_ref()?;
    label_of(cas, &config.digest)
}

fn label_of(cas: &store::Cas, config: &Digest) -> Option<String> {
    let bytes = cas.read_bytes(config, MAX_READ).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("config")?
        .get("Labels")?
        .get(VENDOR_KEY)?
        .as_str()
        .and_then(clean)
}

fn clean(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty() && !v.chars().any(char::is_control))
        .then(|| v.chars().take(MAX_VENDOR_CHARS).collect())
}
