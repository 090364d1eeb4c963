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

#[cfg(test)]
mod tests {
    use super::*;
    use formats::snapshot::{ArtifactKind, Meta};

    fn manifest_artifact(cas: &store::Cas, bytes: &[u8]) -> Artifact {
        let digest = cas.put_bytes(bytes).unwrap();
        Artifact {
            kind: ArtifactKind::OciManifest,
            upstream: Some("r".into()),
            path: format!("v2/r/manifests/{digest}"),
            digest,
            size: bytes.len() as u64,
            media_type: Some(formats::oci::OCI_MANIFEST.into()),
            meta: Meta::default(),
        }
    }

    fn image(cas: &store::Cas, config: &[u8], annotations: &str) -> Artifact {
        let c = cas.put_bytes(config).unwrap();
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{c}","size":{}}},"layers":[]{annotations}}}"#,
            config.len()
        );
        manifest_artifact(cas, m.as_bytes())
    }

    #[test]
    fn vendor_from_the_annotation_else_the_config_label() {
        let t = tempfile::tempdir().unwrap();
        let cas = store::Cas::open(t.path()).unwrap();
        let labelled =
            br#"{"architecture":"amd64","os":"linux","config":{"Labels":{"org.opencontainers.image.vendor":"NVIDIA Corporation"}}}"#;
        let a = image(&cas, labelled, "");
        assert_eq!(vendor_of(&cas, &a).as_deref(), Some("NVIDIA Corporation"));
        let a = image(
            &cas,
            labelled,
            r#","annotations":{"org.opencontainers.image.vendor":"Canonical"}"#,
        );
        assert_eq!(
            vendor_of(&cas, &a).as_deref(),
            Some("Canonical"),
            "the manifest's annotation wins"
        );
        let plain = br#"{"architecture":"amd64","os":"linux","config":{}}"#;
        assert_eq!(vendor_of(&cas, &image(&cas, plain, "")), None);
        let hostile =
            br#"{"config":{"Labels":{"org.opencontainers.image.vendor":"evil\u0007bell"}}}"#;
        assert_eq!(vendor_of(&cas, &image(&cas, hostile, "")), None);
        let mut missing = image(&cas, plain, "");
        missing.digest = formats::digest::Digest::of(b"not stored");
        assert_eq!(vendor_of(&cas, &missing), None, "never fails the sync");
    }
}
