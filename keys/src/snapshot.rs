//! Ed25519 snapshot signing (RFC 8032 "pure" Ed25519, no pre-hash, no context).
//!
//! A snapshot manifest is signed over its exact bytes; the 64-byte signature is stored raw
//! next to it. Keys are PEM files in the formats OpenSSL uses (RFC 8410):
//!
//! - private: PKCS#8 `-----BEGIN PRIVATE KEY-----`, as `openssl genpkey -algorithm ed25519`
//!   writes it;
//! - public: SubjectPublicKeyInfo `-----BEGIN PUBLIC KEY-----`, as `openssl pkey -pubout`
//!   writes it.
//!
//! So a signature can be checked without this program:
//! `openssl pkeyutl -verify -pubin -inkey snapshot.pub -rawin -in manifest.json -sigfile manifest.json.sig`.

use std::fmt;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::spki::der::zeroize::Zeroizing;
use ed25519_dalek::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, KeypairBytes,
};
use sha2::{Digest, Sha256};

use crate::fsutil;
pub use crate::{KeyError, SignatureError};

/// Length of an Ed25519 signature in bytes (RFC 8032 §5.1.6).
pub const SIGNATURE_LENGTH: usize = ed25519_dalek::SIGNATURE_LENGTH;

/// File name of the private snapshot key written by [`write_keypair`].
pub const PRIVATE_KEY_FILE: &str = "snapshot.key";
/// File name of the public snapshot key written by [`write_keypair`].
pub const PUBLIC_KEY_FILE: &str = "snapshot.pub";

const PRIVATE_EXPECTED: &str = "Ed25519 private key (PKCS#8 PEM, \"-----BEGIN PRIVATE KEY-----\")";
const PUBLIC_EXPECTED: &str = "Ed25519 public key (SPKI PEM, \"-----BEGIN PUBLIC KEY-----\")";

/// An Ed25519 private key that signs snapshot manifests.
///
/// The secret is zeroized on drop (ed25519-dalek `zeroize`). `Debug` prints only the key id.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// Generates a new random key from the operating system RNG (`OsRng`).
    pub fn generate() -> Self {
        SigningKey(ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// Parses a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`, RFC 8410 §7), as
    /// written by `openssl genpkey -algorithm ed25519` or [`SigningKey::to_pkcs8_pem`].
    /// PKCS#8 v2 documents that embed the public key are accepted if it matches.
    ///
    /// # Errors
    /// [`KeyError::Invalid`] if the text is not an Ed25519 PKCS#8 PEM private key (an
    /// encrypted PKCS#8 key is refused too).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        Self::from_pem_with_origin(pem, "PEM input")
    }

    fn from_pem_with_origin(pem: &str, origin: &str) -> Result<Self, KeyError> {
        ed25519_dalek::SigningKey::from_pkcs8_pem(pem.trim_start())
            .map(SigningKey)
            .map_err(|e| KeyError::Invalid {
                origin: origin.to_string(),
                expected: PRIVATE_EXPECTED,
                reason: e.to_string(),
            })
    }

    /// Encodes the key as PKCS#8 v1 PEM (`-----BEGIN PRIVATE KEY-----`, LF line endings),
    /// the same layout `openssl genpkey -algorithm ed25519` writes.
    ///
    /// The returned `String` holds the secret; intermediate buffers are zeroized, the
    /// returned string is the caller's to protect.
    pub fn to_pkcs8_pem(&self) -> String {
        let keypair = KeypairBytes {
            secret_key: self.0.to_bytes(),
            public_key: None,
        };
        match keypair.to_pkcs8_pem(LineEnding::LF) {
            Ok(pem) => pem.as_str().to_owned(),
            // Encoding a fixed-size 32-byte key into DER/PEM cannot fail; keep a clear message
            // rather than a panic should the encoder ever change.
            Err(e) => format!("# PKCS#8 encoding failed: {e}\n"),
        }
    }

    /// The public half of this key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs `message` (its exact bytes) with pure Ed25519 (RFC 8032 §5.1.6) and returns
    /// the 64-byte signature (R || S).
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LENGTH] {
        use ed25519_dalek::Signer as _;
        self.0.sign(message).to_bytes()
    }

    /// Loads a PKCS#8 PEM private key file (see [`SigningKey::from_pkcs8_pem`]).
    ///
    /// # Errors
    /// [`KeyError::Io`] if the file cannot be read, [`KeyError::Invalid`] (naming the path)
    /// if it is not an Ed25519 PKCS#8 PEM key.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let bytes = Zeroizing::new(fsutil::read(path)?);
        let text = std::str::from_utf8(&bytes).map_err(|_| KeyError::Invalid {
            origin: path.display().to_string(),
            expected: PRIVATE_EXPECTED,
            reason: "file is not UTF-8 text".into(),
        })?;
        Self::from_pem_with_origin(text, &path.display().to_string())
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_id", &self.public_key().key_id())
            .finish_non_exhaustive()
    }
}

/// An Ed25519 public key that verifies snapshot signatures.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl PublicKey {
    /// Parses an SPKI PEM public key (`-----BEGIN PUBLIC KEY-----`, RFC 8410 §4), as written
    /// by `openssl pkey -pubout` or [`PublicKey::to_pem`].
    ///
    /// # Errors
    /// [`KeyError::Invalid`] if the text is not an Ed25519 SPKI PEM key, or the key is a
    /// weak (small-order) point.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        Self::from_pem_with_origin(pem, "PEM input")
    }

    fn from_pem_with_origin(pem: &str, origin: &str) -> Result<Self, KeyError> {
        let invalid = |reason: String| KeyError::Invalid {
            origin: origin.to_string(),
            expected: PUBLIC_EXPECTED,
            reason,
        };
        let key = ed25519_dalek::VerifyingKey::from_public_key_pem(pem.trim_start())
            .map_err(|e| invalid(e.to_string()))?;
        if key.is_weak() {
            return Err(invalid("the key is a small-order (weak) point".into()));
        }
        Ok(PublicKey(key))
    }

    /// Encodes the key as SPKI PEM (`-----BEGIN PUBLIC KEY-----`, LF line endings).
    pub fn to_pem(&self) -> String {
        match self.0.to_public_key_pem(LineEnding::LF) {
            Ok(pem) => pem,
            // A 32-byte key always encodes; see SigningKey::to_pkcs8_pem.
            Err(e) => format!("# SPKI encoding failed: {e}\n"),
        }
    }

    /// The raw 32-byte public key (RFC 8032 §5.1.5 encoding).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Short identifier: `"ed25519:"` followed by the first 16 lower-case hex digits of
    /// SHA-256 over the raw 32-byte public key, e.g. `ed25519:3f2a9c0d11e4b7a8`.
    pub fn key_id(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        let hex = hex::encode(digest);
        format!("ed25519:{}", &hex[..16])
    }

    /// Verifies a pure Ed25519 signature over the exact bytes of `message`, using
    /// `verify_strict` (rejects non-canonical and small-order components).
    ///
    /// # Errors
    /// [`SignatureError::Length`] if `signature` is not exactly 64 bytes,
    /// [`SignatureError::Invalid`] if it does not verify.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        let bytes: &[u8; SIGNATURE_LENGTH] =
            signature.try_into().map_err(|_| SignatureError::Length {
                len: signature.len(),
            })?;
        let sig = ed25519_dalek::Signature::from_bytes(bytes);
        self.0
            .verify_strict(message, &sig)
            .map_err(|_| SignatureError::Invalid {
                key_id: self.key_id(),
            })
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PublicKey").field(&self.key_id()).finish()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key_id())
    }
}

/// Key id of `key`; the same as [`PublicKey::key_id`] (the `signer` field of a manifest).
pub fn key_id(key: &PublicKey) -> String {
    key.key_id()
}

/// The set of public keys a server accepts snapshot signatures from.
#[derive(Debug, Clone)]
pub struct TrustedKeys {
    keys: Vec<(PathBuf, PublicKey)>,
}

impl TrustedKeys {
    /// Loads every regular file in `dir` whose name ends in `.pub` or `.pem` as an Ed25519
    /// SPKI PEM public key. Other file names are ignored. Keys are ordered by file name.
    ///
    /// # Errors
    /// - [`KeyError::Io`] if the directory cannot be listed or a key file cannot be read;
    /// - [`KeyError::NotRegularFile`] for a `.pub`/`.pem` entry that is a symlink, directory
    ///   or special file (symlinks are not followed);
    /// - [`KeyError::Invalid`] naming the file if a key file does not parse (files are never
    ///   skipped silently);
    /// - [`KeyError::NoTrustedKeys`] if no key file is found.
    pub fn load_dir(dir: &Path) -> Result<Self, KeyError> {
        let list_err = |source| KeyError::Io {
            action: "list",
            path: dir.to_path_buf(),
            source,
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(list_err)? {
            let entry = entry.map_err(list_err)?;
            let path = entry.path();
            let is_key_name = path
                .extension()
                .is_some_and(|ext| ext == "pub" || ext == "pem");
            if !is_key_name {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).map_err(|source| KeyError::Io {
                action: "inspect",
                path: path.clone(),
                source,
            })?;
            if !meta.file_type().is_file() {
                return Err(KeyError::NotRegularFile { path });
            }
            paths.push(path);
        }
        paths.sort();

        let mut keys = Vec::with_capacity(paths.len());
        for path in paths {
            let bytes = fsutil::read(&path)?;
            let origin = path.display().to_string();
            let text = std::str::from_utf8(&bytes).map_err(|_| KeyError::Invalid {
                origin: origin.clone(),
                expected: PUBLIC_EXPECTED,
                reason: "file is not UTF-8 text".into(),
            })?;
            let key = PublicKey::from_pem_with_origin(text, &origin)?;
            keys.push((path, key));
        }
        if keys.is_empty() {
            return Err(KeyError::NoTrustedKeys {
                dir: dir.to_path_buf(),
            });
        }
        Ok(TrustedKeys { keys })
    }

    /// Builds a set from keys already in memory (the paths are only used in messages).
    pub fn from_keys(keys: Vec<(PathBuf, PublicKey)>) -> Self {
        TrustedKeys { keys }
    }

    /// The trusted keys with the file each came from.
    pub fn keys(&self) -> impl Iterator<Item = (&Path, &PublicKey)> {
        self.keys.iter().map(|(p, k)| (p.as_path(), k))
    }

    /// Verifies `signature` over the exact bytes of `message` against every trusted key and
    /// returns the first key that verifies it.
    ///
    /// # Errors
    /// [`SignatureError::Length`] if `signature` is not 64 bytes; otherwise
    /// [`SignatureError::Untrusted`] listing the trusted key ids when no key verifies it.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<&PublicKey, SignatureError> {
        if signature.len() != SIGNATURE_LENGTH {
            return Err(SignatureError::Length {
                len: signature.len(),
            });
        }
        self.keys
            .iter()
            .map(|(_, key)| key)
            .find(|key| key.verify(message, signature).is_ok())
            .ok_or_else(|| SignatureError::Untrusted {
                trusted: self.keys.iter().map(|(_, k)| k.key_id()).collect(),
            })
    }
}

/// Writes `<dir>/snapshot.key` (PKCS#8 PEM, created with mode 0600) and `<dir>/snapshot.pub`
/// (SPKI PEM, mode 0644 before the umask) and returns `(private path, public path)`.
/// `dir` is created (mode 0700) if missing.
///
/// # Errors
/// [`KeyError::AlreadyExists`] if either file exists and `force` is false (nothing is written
/// then); [`KeyError::Io`] on write failures. With `force`, each file is written to a fresh
/// temporary file and renamed over the old one, so an old file's permissions never apply.
pub fn write_keypair(
    dir: &Path,
    key: &SigningKey,
    force: bool,
) -> Result<(PathBuf, PathBuf), KeyError> {
    fsutil::ensure_dir(dir)?;
    let private = dir.join(PRIVATE_KEY_FILE);
    let public = dir.join(PUBLIC_KEY_FILE);
    if !force {
        fsutil::refuse_existing(&[&private, &public])?;
    }
    let pem = Zeroizing::new(key.to_pkcs8_pem());
    fsutil::write_file(&private, pem.as_bytes(), fsutil::PRIVATE_MODE, force)?;
    fsutil::write_file(
        &public,
        key.public_key().to_pem().as_bytes(),
        fsutil::PUBLIC_MODE,
        force,
    )?;
    Ok((private, public))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_round_trip() {
        let key = SigningKey::generate();
        let msg = b"manifest bytes\n";
        let sig = key.sign(msg);
        key.public_key().verify(msg, &sig).unwrap();
    }

    #[test]
    fn flipped_message_or_signature_byte_fails() {
        let key = SigningKey::generate();
        let msg = b"manifest bytes\n".to_vec();
        let sig = key.sign(&msg);
        let pk = key.public_key();

        let mut bad_msg = msg.clone();
        bad_msg[3] ^= 0x01;
        assert!(matches!(
            pk.verify(&bad_msg, &sig),
            Err(SignatureError::Invalid { .. })
        ));

        for i in [0, 31, 32, 63] {
            let mut bad_sig = sig;
            bad_sig[i] ^= 0x80;
            assert!(
                pk.verify(&msg, &bad_sig).is_err(),
                "flipped byte {i} accepted"
            );
        }
    }

    #[test]
    fn wrong_key_and_wrong_length_fail() {
        let key = SigningKey::generate();
        let other = SigningKey::generate();
        let sig = key.sign(b"x");
        let err = other.public_key().verify(b"x", &sig).unwrap_err();
        assert_eq!(
            err,
            SignatureError::Invalid {
                key_id: other.public_key().key_id()
            }
        );
        assert_eq!(
            key.public_key().verify(b"x", &sig[..63]),
            Err(SignatureError::Length { len: 63 })
        );
        let mut long = sig.to_vec();
        long.push(0);
        assert_eq!(
            key.public_key().verify(b"x", &long),
            Err(SignatureError::Length { len: 65 })
        );
    }

    #[test]
    fn key_id_is_sha256_prefix_and_stable() {
        // RFC 8032 §7.1 TEST 1 public key.
        let raw = hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
            .unwrap();
        let raw: [u8; 32] = raw.try_into().unwrap();
        let pk = PublicKey(ed25519_dalek::VerifyingKey::from_bytes(&raw).unwrap());
        let expected = format!("ed25519:{}", &hex::encode(Sha256::digest(raw))[..16]);
        assert_eq!(pk.key_id(), expected);
        assert_eq!(pk.key_id().len(), "ed25519:".len() + 16);
        // Stable across PEM round trips.
        assert_eq!(
            PublicKey::from_pem(&pk.to_pem()).unwrap().key_id(),
            expected
        );
    }

    #[test]
    fn rfc8032_test_vector_1() {
        // RFC 8032 §7.1 TEST 1: empty message.
        let secret: [u8; 32] =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap()
                .try_into()
                .unwrap();
        let key = SigningKey(ed25519_dalek::SigningKey::from_bytes(&secret));
        let sig = key.sign(b"");
        assert_eq!(
            hex::encode(sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
             5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }

    #[test]
    fn pem_round_trips() {
        let key = SigningKey::generate();
        let pem = key.to_pkcs8_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem:?}");
        let again = SigningKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        assert_eq!(again.sign(b"m"), key.sign(b"m"));

        let pub_pem = key.public_key().to_pem();
        assert!(pub_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert_eq!(PublicKey::from_pem(&pub_pem).unwrap(), key.public_key());
    }

    #[test]
    fn wrong_pem_kinds_are_rejected_without_echoing_them() {
        let key = SigningKey::generate();
        let priv_pem = key.to_pkcs8_pem();
        let err = PublicKey::from_pem(&priv_pem).unwrap_err();
        assert!(matches!(err, KeyError::Invalid { .. }));
        let body = priv_pem.lines().nth(1).unwrap();
        assert!(!err.to_string().contains(body));

        assert!(SigningKey::from_pkcs8_pem(&key.public_key().to_pem()).is_err());
        assert!(SigningKey::from_pkcs8_pem("garbage").is_err());
    }

    #[test]
    fn debug_shows_only_the_key_id() {
        let key = SigningKey::generate();
        let dbg = format!("{key:?}");
        assert!(dbg.contains(&key.public_key().key_id()), "{dbg}");
        let pem = key.to_pkcs8_pem();
        let body = pem.lines().nth(1).unwrap();
        assert!(!dbg.contains(body));
        assert!(!dbg.contains(&hex::encode(key.0.to_bytes())));
    }
}
