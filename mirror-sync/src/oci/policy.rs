//! The cosign signature policy of an `[[oci]]` upstream (`[oci.verify]`), applied at sync
//! time: an image a `required` rule covers goes into the snapshot only if one of its cosign
//! signatures verifies with one of the rule's keys and names its manifest digest.
//!
//! ```toml
//! [[oci]]
//! name = "nvidia"
//! registry = "nvcr.io"
//! images = ["nvidia/cuda:12.4.1-base-ubuntu22.04"]
//! [oci.verify]
//! "nvcr.io/nvidia/*" = { keys = ["keys/nvidia-cosign.pub"], required = true }
//! ```
//!
//! - The key of each rule is a glob over the full image name without tag or digest,
//!   `<registry>/<repository>` with the registry host as configured (`127.0.0.1:5000/team/app`,
//!   not the served `127.0.0.1__5000/...`). `*` matches any run of characters, `/`
//!   included; the longest matching pattern wins. Matching and verification are
//!   [`keys::cosign`], shared with `mirror-server import --policy`.
//! - `keys`: SPKI PEM public keys (ECDSA P-256 or Ed25519), relative to the config file.
//! - `required = true`: no verifying signature → the image is refused (not in the
//!   snapshot) with an error naming the image, the digest and why (unsigned, wrong key,
//!   signature naming another digest). `required = false` (default): signatures are
//!   verified when present and recorded, the image is never dropped.
//!
//! Key ids that verified go to `meta.signed_by` of the image's manifest artifact.
//! Verification is offline: no Rekor, no Fulcio, no TUF.

use anyhow::Context as _;
use formats::digest::Digest;
use keys::cosign::SignatureCandidate;
pub use keys::cosign::{Policy, VerifyRule};

use crate::config::{Config, OciUpstream};

pub use super::VerifyConfig;

/// One cosign signature found for an image: a layer of a `sha256-<hex>.sig` manifest (media
/// type `application/vnd.dev.cosign.simplesigning.v1+json`) and its
/// `dev.cosignproject.cosign/signature` annotation. The OCI sync collects these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundSignature {
    /// Digest of the signature manifest (the one tagged `sha256-<hex>.sig`).
    pub manifest_digest: Digest,
    /// Digest of the simple-signing payload layer (its bytes are read with `load_blob`).
    pub payload_digest: Digest,
    /// The base64 signature annotation over the payload bytes.
    pub signature_b64: String,
}

/// Loads the keys of `up.verify`; key paths resolve against the config file's directory.
///
/// Errors: a key file that cannot be read or is not an ECDSA P-256 / Ed25519 SPKI PEM
/// public key, an empty pattern, a required rule without keys — naming the upstream.
pub fn load(cfg: &Config, up: &OciUpstream) -> anyhow::Result<Policy> {
    load_table(&up.verify, &cfg.base_dir)
        .with_context(|| format!("[[oci]] {}: [oci.verify]", up.name))
}

/// Loads a verify table whose relative key paths are relative to `base_dir`.
pub fn load_table(table: &VerifyConfig, base_dir: &std::path::Path) -> anyhow::Result<Policy> {
    Ok(Policy::load(table, base_dir)?)
}

/// Applies `policy` to one image.
///
/// `reference` is the image as `<registry>/<path>[:tag][@digest]` with the registry host
/// as configured; `subject` the digest its tag resolves to (an index digest for a
/// multi-platform image); `signatures` the cosign signatures found for `subject`;
/// `load_blob` reads a payload by digest (from the store). A payload that cannot be read
/// counts as a failing signature, not as an error of its own.
///
/// Returns the key ids that verified (for `meta.signed_by`; empty when no rule matches).
///
/// Errors: the matching rule is `required` and no signature verifies; the message names
/// the image, the digest, the rule and why (unsigned / wrong key / another digest).
pub fn check(
    policy: &Policy,
    reference: &str,
    subject: &Digest,
    signatures: &[FoundSignature],
    load_blob: impl Fn(&Digest) -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<Vec<String>> {
    if policy.rule_for(reference).is_none() {
        return Ok(Vec::new());
    }
    let candidates: Vec<SignatureCandidate> = signatures
        .iter()
        .map(|s| SignatureCandidate {
            label: format!("signature manifest {}", s.manifest_digest),
            payload: load_blob(&s.payload_digest)
                .map_err(|e| format!("payload {}: {e:#}", s.payload_digest)),
            signature_b64: s.signature_b64.clone(),
        })
        .collect();
    Ok(policy.evaluate(reference, subject, &candidates)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::process::Command;

    fn openssl(dir: &Path, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn payload_for(d: &Digest) -> Vec<u8> {
        format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"127.0.0.1:5000/team/app"}},"image":{{"docker-manifest-digest":"{d}"}},"type":"cosign container image signature"}},"optional":null}}"#
        )
        .into_bytes()
    }

    /// Generates an ECDSA P-256 key `<name>.pem`/`<name>.pub` and signs `payload`.
    fn sign(dir: &Path, name: &str, payload: &[u8]) -> String {
        let k = format!("{name}.pem");
        std::fs::write(dir.join("payload"), payload).unwrap();
        if !dir.join(&k).exists() {
            openssl(
                dir,
                &[
                    "ecparam",
                    "-name",
                    "prime256v1",
                    "-genkey",
                    "-noout",
                    "-out",
                    &k,
                ],
            );
            openssl(
                dir,
                &["ec", "-in", &k, "-pubout", "-out", &format!("{name}.pub")],
            );
        }
        openssl(
            dir,
            &["dgst", "-sha256", "-sign", &k, "-out", "sig.der", "payload"],
        );
        base64::engine::general_purpose::STANDARD
            .encode(std::fs::read(dir.join("sig.der")).unwrap())
    }

    #[test]
    fn check_reads_payloads_and_applies_rules() {
        let dir = tempfile::tempdir().unwrap();
        let image = Digest::of(b"index");
        let payload = payload_for(&image);
        let other_payload = payload_for(&Digest::of(b"other"));
        let good = sign(dir.path(), "good", &payload);
        let wrong = sign(dir.path(), "wrong", &payload);
        let misdirected = sign(dir.path(), "good", &other_payload);
        let table: VerifyConfig = toml::from_str(
            r#"
"127.0.0.1:5000/team/*" = { keys = ["good.pub"], required = true }
"127.0.0.1:5000/team/optional" = { keys = ["good.pub"] }
"#,
        )
        .unwrap();
        let policy = load_table(&table, dir.path()).unwrap();
        let blobs: BTreeMap<Digest, Vec<u8>> = [
            (Digest::of(&payload), payload.clone()),
            (Digest::of(&other_payload), other_payload.clone()),
        ]
        .into();
        let load = |d: &Digest| {
            blobs
                .get(d)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("not in the store"))
        };
        let found = |p: &[u8], sig: &str| FoundSignature {
            manifest_digest: Digest::of(sig.as_bytes()),
            payload_digest: Digest::of(p),
            signature_b64: sig.to_owned(),
        };
        let good_id = keys::cosign::CosignKey::load(&dir.path().join("good.pub"))
            .unwrap()
            .key_id();

        let r = "127.0.0.1:5000/team/app:v1";
        assert_eq!(
            check(
                &policy,
                r,
                &image,
                &[found(&payload, &wrong), found(&payload, &good)],
                load
            )
            .unwrap(),
            vec![good_id.clone()]
        );
        let msg = |sigs: &[FoundSignature]| {
            format!("{:#}", check(&policy, r, &image, sigs, load).unwrap_err())
        };
        let unsigned = msg(&[]);
        assert!(
            unsigned.contains(r)
                && unsigned.contains(&image.to_string())
                && unsigned.contains("unsigned"),
            "{unsigned}"
        );
        assert!(msg(&[found(&payload, &wrong)]).contains("does not verify"));
        assert!(msg(&[found(&other_payload, &misdirected)]).contains("signs manifest"));
        let missing = FoundSignature {
            payload_digest: Digest::of(b"absent"),
            ..found(&payload, &good)
        };
        assert!(msg(&[missing]).contains("not in the store"));

        // Not required: recorded, never refused.
        let opt = "127.0.0.1:5000/team/optional:1";
        assert_eq!(
            check(&policy, opt, &image, &[], load).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            check(&policy, opt, &image, &[found(&payload, &good)], load).unwrap(),
            vec![good_id]
        );
        // No rule.
        assert!(
            check(&policy, "docker.io/library/ubuntu:24.04", &image, &[], load)
                .unwrap()
                .is_empty()
        );
    }
}
