//! Offline verification of cosign image signatures with public keys, and the per-image
//! signature policy both `mirror-sync` (at sync time) and `mirror-server` (at import time)
//! apply.
//!
//! A cosign signature (cosign "signature specification", key-based signing) is a manifest
//! tagged `sha256-<hex>.sig` in the image's repository. Each of its layers of media type
//! `application/vnd.dev.cosign.simplesigning.v1+json` holds a *simple-signing* payload
//! (containers/image "atomic container signature" JSON) whose
//! `critical.image.docker-manifest-digest` names the signed manifest, and carries the
//! annotation `dev.cosignproject.cosign/signature`: the base64 signature over the exact
//! payload bytes — ASN.1 DER ECDSA P-256 with SHA-256, or pure Ed25519 (RFC 8032).
//!
//! Verification uses `sigstore::crypto::CosignVerificationKey` only: no Rekor
//! transparency-log lookup, no Fulcio certificate, no TUF trust root, no network at all.
//!
//! Policy ([`Policy`]): rules keyed by an image pattern, a glob over the full image name
//! without tag or digest (`<registry>/<repository>`, e.g. `nvcr.io/nvidia/cuda`). `*`
//! matches any run of characters, `/` included (`nvcr.io/nvidia/*` matches
//! `nvcr.io/nvidia/cuda` and `nvcr.io/nvidia/k8s/driver`, not `nvcr.io/nvidia` itself);
//! every other character matches itself, case-insensitively (registry hosts are
//! case-insensitive, repository names are lower-case). When several patterns match, the
//! longest pattern wins (ties: the lexicographically smaller one).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use formats::digest::Digest;
use formats::oci::SimpleSigning;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use sigstore::crypto::{CosignVerificationKey, Signature};
use sigstore::errors::SigstoreError;

use crate::{KeyError, fsutil};

const PUBLIC_EXPECTED: &str =
    "cosign public key (SPKI PEM \"-----BEGIN PUBLIC KEY-----\", ECDSA P-256 or Ed25519)";

/// Largest key file read, in bytes (a PEM public key is a few hundred bytes).
const MAX_KEY_FILE: usize = 64 * 1024;

/// A cosign public key: ECDSA P-256 (verifies ASN.1 DER ECDSA-SHA256 signatures) or
/// Ed25519 (verifies pure RFC 8032 signatures), from an SPKI PEM file as written by
/// `cosign generate-key-pair` (`cosign.pub`) or `openssl ec|pkey -pubout`.
#[derive(Clone)]
pub struct CosignKey {
    key: CosignVerificationKey,
    id: String,
    origin: String,
}

impl fmt::Debug for CosignKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CosignKey")
            .field("key_id", &self.id)
            .field("algorithm", &self.algorithm())
            .field("origin", &self.origin)
            .finish()
    }
}

impl CosignKey {
    /// Loads an SPKI PEM public key file (see [`CosignKey::from_pem`]).
    ///
    /// # Errors
    /// [`KeyError::Io`] if the file cannot be read; [`KeyError::Invalid`] (naming the path)
    /// if it is not an ECDSA P-256 or Ed25519 public key in SPKI PEM.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let bytes = fsutil::read(path)?;
        let origin = path.display().to_string();
        if bytes.len() > MAX_KEY_FILE {
            return Err(invalid(
                &origin,
                format!("file is over {MAX_KEY_FILE} bytes"),
            ));
        }
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| invalid(&origin, "file is not UTF-8 text".into()))?;
        Self::from_pem(text, &origin)
    }

    /// Parses an SPKI PEM public key (`-----BEGIN PUBLIC KEY-----`, RFC 5480 for ECDSA
    /// P-256, RFC 8410 for Ed25519). `origin` names where it came from, for messages.
    ///
    /// # Errors
    /// [`KeyError::Invalid`] for anything else: not PEM, a private key, an RSA or other
    /// curve key.
    pub fn from_pem(pem: &str, origin: &str) -> Result<Self, KeyError> {
        if !pem.contains("-----BEGIN PUBLIC KEY-----") {
            return Err(invalid(
                origin,
                "no \"-----BEGIN PUBLIC KEY-----\" block (a private key or another format?)".into(),
            ));
        }
        let key = CosignVerificationKey::try_from_pem(pem.trim().as_bytes())
            .map_err(|e| invalid(origin, e.to_string()))?;
        let spki = match &key {
            CosignVerificationKey::ECDSA_P256_SHA256_ASN1(der)
            | CosignVerificationKey::ED25519(der) => der.clone(),
            _ => {
                return Err(invalid(
                    origin,
                    "unsupported key algorithm: cosign keys here must be ECDSA P-256 or Ed25519"
                        .into(),
                ));
            }
        };
        let id = format!("cosign:{}", &hex::encode(Sha256::digest(&spki))[..16]);
        Ok(CosignKey {
            key,
            id,
            origin: origin.to_owned(),
        })
    }

    /// Key id: `cosign:` + the first 16 hex digits of the SHA-256 of the DER
    /// SubjectPublicKeyInfo (`openssl pkey -pubin -outform DER | sha256sum`).
    pub fn key_id(&self) -> String {
        self.id.clone()
    }

    /// Where the key came from (its path, or the origin given to [`CosignKey::from_pem`]).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// `"ecdsa-p256"` or `"ed25519"`.
    pub fn algorithm(&self) -> &'static str {
        match self.key {
            CosignVerificationKey::ED25519(_) => "ed25519",
            _ => "ecdsa-p256",
        }
    }
}

fn invalid(origin: &str, reason: String) -> KeyError {
    KeyError::Invalid {
        origin: origin.to_owned(),
        expected: PUBLIC_EXPECTED,
        reason,
    }
}

/// Why a cosign signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignError {
    /// No key verifies the signature over the payload (wrong key, or modified payload).
    #[error(
        "the cosign signature does not verify with any of the keys [{}] (signed with another key, or the payload was modified)",
        tried.join(", ")
    )]
    BadSignature {
        /// Key ids of the keys tried.
        tried: Vec<String>,
    },
    /// The signature verifies, but its payload signs another manifest digest.
    #[error(
        "the cosign signature is valid but signs manifest {signed}, not {image} (a signature copied from another image)"
    )]
    DigestMismatch {
        /// `docker-manifest-digest` of the payload.
        signed: Digest,
        /// The digest of the image being checked.
        image: Digest,
    },
    /// The signature is not base64, or the payload is not simple-signing JSON.
    #[error("malformed cosign signature: {0}")]
    Malformed(String),
}

/// Verifies a cosign simple-signing signature offline.
///
/// `signature_b64` is the `dev.cosignproject.cosign/signature` layer annotation (base64 of
/// a DER ECDSA P-256 signature or a raw 64-byte Ed25519 signature), `payload` the exact
/// bytes of the simple-signing layer. The signature must verify with one of `keys` over
/// the payload; then the payload is parsed ([`SimpleSigning::parse`]) and its
/// `docker-manifest-digest` must equal `image_digest` (for a multi-platform image, the
/// index digest). Returns the key id ([`CosignKey::key_id`]) of the first key that
/// verifies.
///
/// # Errors
/// [`CosignError::Malformed`] for bad base64 or a payload that is not simple-signing JSON;
/// [`CosignError::BadSignature`] when no key verifies (also when `keys` is empty);
/// [`CosignError::DigestMismatch`] when the signed digest is another one.
pub fn verify_simple_signing(
    payload: &[u8],
    signature_b64: &str,
    image_digest: &Digest,
    keys: &[CosignKey],
) -> Result<String, CosignError> {
    let mut verified = None;
    for k in keys {
        match k.key.verify_signature(
            Signature::Base64Encoded(signature_b64.trim().as_bytes()),
            payload,
        ) {
            Ok(()) => {
                verified = Some(k.key_id());
                break;
            }
            Err(SigstoreError::Base64DecodeError(e)) => {
                return Err(CosignError::Malformed(format!(
                    "signature annotation is not base64: {e}"
                )));
            }
            Err(_) => {}
        }
    }
    let Some(id) = verified else {
        return Err(CosignError::BadSignature {
            tried: keys.iter().map(CosignKey::key_id).collect(),
        });
    };
    let ss = SimpleSigning::parse(payload)
        .map_err(|e| CosignError::Malformed(format!("simple-signing payload: {e}")))?;
    if ss.docker_manifest_digest != *image_digest {
        return Err(CosignError::DigestMismatch {
            signed: ss.docker_manifest_digest,
            image: *image_digest,
        });
    }
    Ok(id)
}

/// One rule of a `verify` table as written in TOML: `{ keys = ["k.pub"], required = true }`.
/// Used for `[oci.verify]` in the mirror-sync configuration and `[verify]` in the
/// mirror-server `--policy` file. Key paths are relative to the file they appear in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRule {
    /// SPKI PEM cosign public keys (ECDSA P-256 or Ed25519).
    #[serde(default)]
    pub keys: Vec<PathBuf>,
    /// `true`: a matching image needs at least one signature that verifies with one of
    /// `keys` and names its manifest digest, or it is refused. `false` (the default):
    /// signatures are checked and recorded when present, never required.
    #[serde(default)]
    pub required: bool,
}

/// A loaded rule: the pattern and its keys.
#[derive(Debug, Clone)]
pub struct PolicyRule {
    /// The image pattern (see the module docs for the glob syntax).
    pub pattern: String,
    /// Keys that may sign matching images.
    pub keys: Vec<CosignKey>,
    /// Whether a verified signature is required.
    pub required: bool,
}

/// A signature policy: rules keyed by image pattern (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    rules: Vec<PolicyRule>,
}

/// A signature found for an image, ready to check: its payload bytes (or why they could
/// not be read) and its base64 signature annotation.
#[derive(Debug, Clone)]
pub struct SignatureCandidate {
    /// What it is, for messages (e.g. the signature manifest's digest).
    pub label: String,
    /// The simple-signing payload bytes, or why they are unavailable.
    pub payload: Result<Vec<u8>, String>,
    /// The `dev.cosignproject.cosign/signature` annotation.
    pub signature_b64: String,
}

/// An image refused by a `required` rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("image {image} ({digest}) refused by signature rule {pattern:?}: {reason}")]
pub struct PolicyError {
    /// The image reference as given to [`Policy::evaluate`].
    pub image: String,
    /// The manifest (or index) digest that needed a signature.
    pub digest: Digest,
    /// The matching pattern.
    pub pattern: String,
    /// Why: unsigned, or each signature's failure (wrong key, another digest, …).
    pub reason: String,
}

impl Policy {
    /// A policy of the given rules.
    pub fn new(rules: Vec<PolicyRule>) -> Policy {
        Policy { rules }
    }

    /// Loads the keys of a `verify` table; relative key paths are resolved against
    /// `base_dir` (the directory of the file the table came from).
    ///
    /// # Errors
    /// [`KeyError`] for a key file that cannot be read or is not a cosign public key;
    /// [`KeyError::Invalid`] for an empty pattern or a required rule without keys.
    pub fn load(table: &BTreeMap<String, VerifyRule>, base_dir: &Path) -> Result<Policy, KeyError> {
        let mut rules = Vec::with_capacity(table.len());
        for (pattern, rule) in table {
            let bad = |reason: &str| KeyError::Invalid {
                origin: format!("verify rule {pattern:?}"),
                expected: "a rule `\"<registry>/<repository glob>\" = { keys = [\"key.pub\"], required = true }`",
                reason: reason.to_owned(),
            };
            if pattern.is_empty() {
                return Err(bad("empty pattern"));
            }
            if rule.required && rule.keys.is_empty() {
                return Err(bad("required = true needs at least one key in keys"));
            }
            let keys = rule
                .keys
                .iter()
                .map(|p| {
                    let path = if p.is_absolute() {
                        p.clone()
                    } else {
                        base_dir.join(p)
                    };
                    CosignKey::load(&path)
                })
                .collect::<Result<Vec<_>, _>>()?;
            rules.push(PolicyRule {
                pattern: pattern.clone(),
                keys,
                required: rule.required,
            });
        }
        Ok(Policy { rules })
    }

    /// True when the policy has no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules, in the order given.
    pub fn rules(&self) -> &[PolicyRule] {
        &self.rules
    }

    /// The rule for an image: the longest matching pattern (ties: the lexicographically
    /// smaller pattern). `reference` may carry a tag or digest; they are ignored
    /// ([`image_name`]).
    pub fn rule_for(&self, reference: &str) -> Option<&PolicyRule> {
        let name = image_name(reference).to_ascii_lowercase();
        self.rules
            .iter()
            .filter(|r| glob_match(&r.pattern.to_ascii_lowercase(), &name))
            .min_by(|a, b| {
                b.pattern
                    .len()
                    .cmp(&a.pattern.len())
                    .then_with(|| a.pattern.cmp(&b.pattern))
            })
    }

    /// Applies the policy to one image: `reference` (`<registry>/<repository>[:tag]
    /// [@digest]`), `subject` its manifest or index digest, `signatures` the cosign
    /// signatures found for `subject`.
    ///
    /// Returns the key ids whose signatures verified and name `subject` (sorted, no
    /// duplicates; empty when no rule matches or nothing verified under a non-required
    /// rule).
    ///
    /// # Errors
    /// [`PolicyError`] when the matching rule is `required` and no signature verifies;
    /// its reason says "unsigned" when there is none, else lists each signature's failure.
    pub fn evaluate(
        &self,
        reference: &str,
        subject: &Digest,
        signatures: &[SignatureCandidate],
    ) -> Result<Vec<String>, PolicyError> {
        let Some(rule) = self.rule_for(reference) else {
            return Ok(Vec::new());
        };
        let mut ok: Vec<String> = Vec::new();
        let mut failures: Vec<String> = Vec::new();
        for s in signatures {
            let result = match &s.payload {
                Ok(p) => verify_simple_signing(p, &s.signature_b64, subject, &rule.keys)
                    .map_err(|e| e.to_string()),
                Err(e) => Err(format!("payload unavailable: {e}")),
            };
            match result {
                Ok(id) => ok.push(id),
                Err(e) => failures.push(format!("{}: {e}", s.label)),
            }
        }
        ok.sort();
        ok.dedup();
        if ok.is_empty() && rule.required {
            let reason = if signatures.is_empty() {
                format!(
                    "unsigned: no cosign signature (tag sha256-{}.sig) was found",
                    subject.hex()
                )
            } else {
                format!(
                    "no signature verifies with the rule's keys [{}]: {}",
                    rule.keys
                        .iter()
                        .map(CosignKey::key_id)
                        .collect::<Vec<_>>()
                        .join(", "),
                    failures.join("; ")
                )
            };
            return Err(PolicyError {
                image: reference.to_owned(),
                digest: *subject,
                pattern: rule.pattern.clone(),
                reason,
            });
        }
        Ok(ok)
    }
}

/// The image name of a reference, without tag or digest: `reg/a/b:1@sha256:…` → `reg/a/b`.
/// A `:` before the last `/` is a registry port and is kept (`host:5000/app:v1` →
/// `host:5000/app`).
pub fn image_name(reference: &str) -> &str {
    let name = reference.split_once('@').map_or(reference, |(n, _)| n);
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name.get(last_slash..).and_then(|t| t.find(':')) {
        Some(i) => name.get(..last_slash + i).unwrap_or(name),
        None => name,
    }
}

/// Glob match: `*` matches any run of characters (`/` included, possibly empty), every
/// other character matches itself. The whole `text` must match. Linear backtracking on the
/// last `*`, so no exponential blow-up.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if Some(c) == t.get(ti) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use std::process::Command;

    fn openssl(dir: &Path, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the openssl CLI is installed");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn payload_for(d: &Digest) -> Vec<u8> {
        format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"registry.example/team/app"}},"image":{{"docker-manifest-digest":"{d}"}},"type":"cosign container image signature"}},"optional":null}}"#
        )
        .into_bytes()
    }

    /// A key made and used by the openssl CLI: (public key, signature over `payload`).
    struct Signed {
        key: CosignKey,
        sig_b64: String,
    }

    fn sign(dir: &Path, alg: &str, name: &str, payload: &[u8]) -> Signed {
        let k = format!("{name}.pem");
        let p = format!("{name}.pub");
        let sig = format!("{name}.sig");
        let input = format!("{name}.payload");
        std::fs::write(dir.join(&input), payload).unwrap();
        match alg {
            "p256" => {
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
                openssl(dir, &["ec", "-in", &k, "-pubout", "-out", &p]);
                openssl(dir, &["dgst", "-sha256", "-sign", &k, "-out", &sig, &input]);
            }
            _ => {
                openssl(dir, &["genpkey", "-algorithm", "ed25519", "-out", &k]);
                openssl(dir, &["pkey", "-in", &k, "-pubout", "-out", &p]);
                openssl(
                    dir,
                    &[
                        "pkeyutl", "-sign", "-rawin", "-inkey", &k, "-in", &input, "-out", &sig,
                    ],
                );
            }
        }
        Signed {
            key: CosignKey::load(&dir.join(&p)).unwrap(),
            sig_b64: base64::engine::general_purpose::STANDARD
                .encode(std::fs::read(dir.join(&sig)).unwrap()),
        }
    }

    #[test]
    fn openssl_signatures_verify_and_fail_honestly() {
        let dir = tempfile::tempdir().unwrap();
        let image = Digest::of(b"image manifest");
        let payload = payload_for(&image);
        for alg in ["p256", "ed25519"] {
            let s = sign(dir.path(), alg, alg, &payload);
            let other = sign(dir.path(), alg, &format!("{alg}-other"), &payload);
            assert_eq!(
                s.key.algorithm(),
                if alg == "p256" {
                    "ecdsa-p256"
                } else {
                    "ed25519"
                }
            );
            assert!(s.key.key_id().starts_with("cosign:") && s.key.key_id().len() == 23);
            assert_ne!(s.key.key_id(), other.key.key_id());

            // Verifies with its key, also when other keys come first.
            assert_eq!(
                verify_simple_signing(
                    &payload,
                    &s.sig_b64,
                    &image,
                    &[other.key.clone(), s.key.clone()]
                ),
                Ok(s.key.key_id()),
                "{alg}"
            );
            // Wrong key.
            let err = verify_simple_signing(
                &payload,
                &s.sig_b64,
                &image,
                std::slice::from_ref(&other.key),
            )
            .unwrap_err();
            assert_eq!(
                err,
                CosignError::BadSignature {
                    tried: vec![other.key.key_id()]
                }
            );
            // Flipped payload byte.
            let mut flipped = payload.clone();
            flipped[10] ^= 1;
            assert!(matches!(
                verify_simple_signing(&flipped, &s.sig_b64, &image, std::slice::from_ref(&s.key)),
                Err(CosignError::BadSignature { .. })
            ));
            // Valid signature over a payload naming another digest.
            let elsewhere = Digest::of(b"another image");
            let s2 = sign(
                dir.path(),
                alg,
                &format!("{alg}-elsewhere"),
                &payload_for(&elsewhere),
            );
            assert_eq!(
                verify_simple_signing(
                    &payload_for(&elsewhere),
                    &s2.sig_b64,
                    &image,
                    std::slice::from_ref(&s2.key)
                ),
                Err(CosignError::DigestMismatch {
                    signed: elsewhere,
                    image
                })
            );
            // Not base64.
            assert!(matches!(
                verify_simple_signing(&payload, "@@@", &image, std::slice::from_ref(&s.key)),
                Err(CosignError::Malformed(_))
            ));
        }
    }

    #[test]
    fn key_id_is_sha256_of_spki_der() {
        let dir = tempfile::tempdir().unwrap();
        openssl(
            dir.path(),
            &["genpkey", "-algorithm", "ed25519", "-out", "k.pem"],
        );
        openssl(
            dir.path(),
            &["pkey", "-in", "k.pem", "-pubout", "-out", "k.pub"],
        );
        openssl(
            dir.path(),
            &[
                "pkey", "-pubin", "-in", "k.pub", "-outform", "DER", "-out", "k.der",
            ],
        );
        let der = std::fs::read(dir.path().join("k.der")).unwrap();
        let want = format!("cosign:{}", &hex::encode(Sha256::digest(&der))[..16]);
        assert_eq!(
            CosignKey::load(&dir.path().join("k.pub")).unwrap().key_id(),
            want
        );
    }

    #[test]
    fn unsupported_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        openssl(
            dir.path(),
            &[
                "ecparam",
                "-name",
                "secp384r1",
                "-genkey",
                "-noout",
                "-out",
                "k.pem",
            ],
        );
        openssl(
            dir.path(),
            &["ec", "-in", "k.pem", "-pubout", "-out", "k.pub"],
        );
        let err = CosignKey::load(&dir.path().join("k.pub")).unwrap_err();
        assert!(err.to_string().contains("unsupported"), "{err}");
        // A private key is not a public key.
        let err = CosignKey::load(&dir.path().join("k.pem")).unwrap_err();
        assert!(err.to_string().contains("BEGIN PUBLIC KEY"), "{err}");
        assert!(CosignKey::from_pem("garbage", "x").is_err());
    }

    #[test]
    fn globs() {
        assert!(glob_match("nvcr.io/nvidia/*", "nvcr.io/nvidia/cuda"));
        assert!(glob_match("nvcr.io/nvidia/*", "nvcr.io/nvidia/k8s/driver"));
        assert!(!glob_match("nvcr.io/nvidia/*", "nvcr.io/nvidia"));
        assert!(!glob_match("nvcr.io/nvidia/*", "nvcr.io/nvidiax/cuda"));
        assert!(glob_match("*", "anything/at/all"));
        assert!(glob_match("*/library/*", "docker.io/library/ubuntu"));
        assert!(glob_match(
            "docker.io/library/ubuntu",
            "docker.io/library/ubuntu"
        ));
        assert!(!glob_match(
            "docker.io/library/ubuntu",
            "docker.io/library/ubuntu2"
        ));
        assert!(glob_match("a*b*c", "aXXbYYbZc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(!glob_match(&"*a".repeat(20), &"a".repeat(19)));
    }

    #[test]
    fn image_names() {
        assert_eq!(
            image_name("docker.io/library/ubuntu:24.04"),
            "docker.io/library/ubuntu"
        );
        assert_eq!(
            image_name("127.0.0.1:5000/team/app:v1"),
            "127.0.0.1:5000/team/app"
        );
        assert_eq!(
            image_name("127.0.0.1:5000/team/app"),
            "127.0.0.1:5000/team/app"
        );
        let d = Digest::of(b"x");
        assert_eq!(
            image_name(&format!("reg.example/app:1@{d}")),
            "reg.example/app"
        );
        assert_eq!(
            image_name(&format!("reg.example/app@{d}")),
            "reg.example/app"
        );
    }

    fn rule(pattern: &str, keys: Vec<CosignKey>, required: bool) -> PolicyRule {
        PolicyRule {
            pattern: pattern.into(),
            keys,
            required,
        }
    }

    #[test]
    fn most_specific_rule_wins() {
        let p = Policy::new(vec![
            rule("*", vec![], false),
            rule("nvcr.io/nvidia/*", vec![], true),
            rule("nvcr.io/nvidia/cuda", vec![], false),
        ]);
        assert_eq!(
            p.rule_for("nvcr.io/nvidia/cuda:12").unwrap().pattern,
            "nvcr.io/nvidia/cuda"
        );
        assert_eq!(
            p.rule_for("nvcr.io/nvidia/tritonserver:1").unwrap().pattern,
            "nvcr.io/nvidia/*"
        );
        assert_eq!(
            p.rule_for("NVCR.IO/nvidia/x").unwrap().pattern,
            "nvcr.io/nvidia/*"
        );
        assert_eq!(
            p.rule_for("docker.io/library/ubuntu:24.04")
                .unwrap()
                .pattern,
            "*"
        );
        assert!(Policy::default().rule_for("docker.io/x/y").is_none());
    }

    #[test]
    fn evaluate_required_and_optional() {
        let dir = tempfile::tempdir().unwrap();
        let image = Digest::of(b"image");
        let payload = payload_for(&image);
        let good = sign(dir.path(), "ed25519", "good", &payload);
        let wrong = sign(dir.path(), "p256", "wrong", &payload);
        let cand = |s: &Signed| SignatureCandidate {
            label: "sig".into(),
            payload: Ok(payload.clone()),
            signature_b64: s.sig_b64.clone(),
        };
        let p = Policy::new(vec![
            rule("reg.example/signed/*", vec![good.key.clone()], true),
            rule("reg.example/optional/*", vec![good.key.clone()], false),
        ]);
        // Required: a good signature among bad ones verifies.
        assert_eq!(
            p.evaluate(
                "reg.example/signed/app:1",
                &image,
                &[cand(&wrong), cand(&good)]
            ),
            Ok(vec![good.key.key_id()])
        );
        // Required and unsigned.
        let e = p
            .evaluate("reg.example/signed/app:1", &image, &[])
            .unwrap_err();
        assert!(e.reason.starts_with("unsigned"), "{e}");
        assert!(
            e.to_string().contains(&image.to_string())
                && e.to_string().contains("reg.example/signed/app:1")
        );
        // Required, wrong key only.
        let e = p
            .evaluate("reg.example/signed/app:1", &image, &[cand(&wrong)])
            .unwrap_err();
        assert!(e.reason.contains("does not verify"), "{e}");
        // Required, payload unreadable.
        let e = p
            .evaluate(
                "reg.example/signed/app:1",
                &image,
                &[SignatureCandidate {
                    label: "sig".into(),
                    payload: Err("missing blob".into()),
                    signature_b64: good.sig_b64.clone(),
                }],
            )
            .unwrap_err();
        assert!(e.reason.contains("missing blob"), "{e}");
        // Optional: never refused; records what verified.
        assert_eq!(
            p.evaluate("reg.example/optional/app:1", &image, &[cand(&wrong)]),
            Ok(vec![])
        );
        assert_eq!(
            p.evaluate("reg.example/optional/app:1", &image, &[cand(&good)]),
            Ok(vec![good.key.key_id()])
        );
        // No rule.
        assert_eq!(
            p.evaluate("reg.example/other/app:1", &image, &[]),
            Ok(vec![])
        );
    }

    #[test]
    fn load_resolves_relative_paths_and_checks_rules() {
        let dir = tempfile::tempdir().unwrap();
        let s = sign(dir.path(), "p256", "k", b"x");
        let table: BTreeMap<String, VerifyRule> = BTreeMap::from([(
            "reg.example/*".to_owned(),
            VerifyRule {
                keys: vec![PathBuf::from("k.pub")],
                required: true,
            },
        )]);
        let p = Policy::load(&table, dir.path()).unwrap();
        assert_eq!(p.rules()[0].keys[0].key_id(), s.key.key_id());
        let bad: BTreeMap<String, VerifyRule> = BTreeMap::from([(
            "x/*".to_owned(),
            VerifyRule {
                keys: vec![],
                required: true,
            },
        )]);
        assert!(Policy::load(&bad, dir.path()).is_err());
        let missing: BTreeMap<String, VerifyRule> = BTreeMap::from([(
            "x/*".to_owned(),
            VerifyRule {
                keys: vec![PathBuf::from("nope.pub")],
                required: false,
            },
        )]);
        assert!(matches!(
            Policy::load(&missing, dir.path()),
            Err(KeyError::Io { .. })
        ));
    }
}
