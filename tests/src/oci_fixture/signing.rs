//! Signatures for the in-test registry: ECDSA P-256 keys and raw signatures made by the
//! real `openssl` CLI, cosign-style signature manifests (simple signing, tagged
//! `sha256-<hex>.sig`) and OCI 1.1 referrers pushed with their fallback tags.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::{
    COSIGN_SIGNATURE_ANNOTATION, COSIGN_SIMPLESIGNING, Descriptor, OCI_CONFIG, OCI_INDEX,
    OCI_MANIFEST, Registry, SBOM_ARTIFACT_TYPE, cosign_sig_tag, referrer_manifest,
    referrers_fallback_tag, simple_signing_payload, to_bytes,
};
use crate::run_checked;

/// A P-256 key pair made by the `openssl` CLI.
#[derive(Debug, Clone)]
pub struct KeyPair {
    /// PKCS#8 PEM private key.
    pub private: PathBuf,
    /// PKIX (SubjectPublicKeyInfo) PEM public key, the format of `cosign.pub`.
    pub public: PathBuf,
}

/// Generates an ECDSA P-256 key pair into `dir/<name>.key` and `dir/<name>.pub` with
/// `openssl genpkey` / `openssl pkey -pubout`.
///
/// Errors: openssl is missing or fails.
pub fn generate_p256_keypair(dir: &Path, name: &str) -> anyhow::Result<KeyPair> {
    std::fs::create_dir_all(dir)?;
    let private = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    run_checked(
        Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
            ])
            .arg(&private),
    )?;
    run_checked(
        Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&private)
            .arg("-out")
            .arg(&public),
    )?;
    Ok(KeyPair { private, public })
}

/// Signs `data` with `openssl dgst -sha256 -sign KEY` and returns the raw signature
/// (DER ECDSA-Sig-Value for EC keys, PKCS#1 v1.5 for RSA keys).
///
/// Errors: openssl fails (bad key, missing tool).
pub fn openssl_sign(key: &Path, data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut input = tempfile::NamedTempFile::new()?;
    input.write_all(data)?;
    input.flush()?;
    run_checked(
        Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(key)
            .arg(input.path()),
    )
}

/// Pushes a cosign-style signature for `repo@image_digest` signed with `key` (PEM
/// private key): the simple-signing payload naming `image_digest`, signed by the real
/// `openssl` CLI, tagged `sha256-<hex>.sig`. Returns the signature manifest's descriptor.
///
/// Errors: signing or any registry request fails.
pub fn cosign_sign(
    registry: &Registry,
    repo: &str,
    image_digest: &str,
    key: &Path,
) -> anyhow::Result<Descriptor> {
    cosign_sign_naming(registry, repo, image_digest, image_digest, key)
}

/// Like [`cosign_sign`], but the payload names `payload_digest` while the signature is
/// tagged for `image_digest` — a signature "for another image", which verifiers must
/// refuse.
///
/// Errors: signing or any registry request fails.
pub fn cosign_sign_naming(
    registry: &Registry,
    repo: &str,
    image_digest: &str,
    payload_digest: &str,
    key: &Path,
) -> anyhow::Result<Descriptor> {
    let payload = simple_signing_payload(&format!("{}/{repo}", registry.host), payload_digest);
    let sig = openssl_sign(key, &payload)?;
    let sig_b64 = STANDARD.encode(&sig);
    let mut layer = Descriptor::of(COSIGN_SIMPLESIGNING, &payload);
    layer
        .annotations
        .insert(COSIGN_SIGNATURE_ANNOTATION.to_owned(), sig_b64);
    // cosign's config: an image config whose single diff_id is the payload's digest.
    let config_bytes = to_bytes(&json!({
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
        "config": {},
    }));
    let config = Descriptor::of(OCI_CONFIG, &config_bytes);
    let manifest = to_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.to_json(),
        "layers": [layer.to_json()],
    }));
    registry.push_blob(repo, &config_bytes)?;
    registry.push_blob(repo, &payload)?;
    registry.push_manifest(repo, &cosign_sig_tag(image_digest), OCI_MANIFEST, &manifest)?;
    Ok(Descriptor::of(OCI_MANIFEST, &manifest))
}

/// Pushes an OCI 1.1 referrer ([`referrer_manifest`]) of `subject` into `repo`, by
/// digest, and — because distribution 2.8 has no referrers API — makes it discoverable
/// two ways: the fallback index tagged `sha256-<subject hex>` listing it
/// (distribution-spec v1.1 §referrers tag schema), and the same manifest tagged
/// `sha256-<subject hex>.sbom` as cosign attaches SBOMs. Returns the referrer
/// manifest's descriptor (with `artifactType`).
///
/// Errors: any registry request fails.
pub fn push_referrer(
    registry: &Registry,
    repo: &str,
    subject: &Descriptor,
    body: &[u8],
) -> anyhow::Result<Descriptor> {
    let (manifest, blobs) = referrer_manifest(subject, body);
    for (_, b) in &blobs {
        registry.push_blob(repo, b)?;
    }
    let mut desc = Descriptor::of(OCI_MANIFEST, &manifest);
    registry.push_manifest(repo, &desc.digest, OCI_MANIFEST, &manifest)?;
    registry.push_manifest(
        repo,
        &format!("{}.sbom", referrers_fallback_tag(&subject.digest)),
        OCI_MANIFEST,
        &manifest,
    )?;
    desc.artifact_type = Some(SBOM_ARTIFACT_TYPE.to_owned());
    let fallback = to_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [desc.to_json()],
    }));
    registry.push_manifest(
        repo,
        &referrers_fallback_tag(&subject.digest),
        OCI_INDEX,
        &fallback,
    )?;
    Ok(desc)
}
