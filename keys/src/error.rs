//! Error types shared by [`crate::snapshot`] and [`crate::openpgp`].

use std::path::PathBuf;

/// Loading, parsing, generating or writing a key failed.
///
/// Messages name the file involved (or say the key came from memory) and never contain key
/// material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A file or directory could not be read, created or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was attempted: "read", "create", "write", "list", "rename".
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system error.
        #[source]
        source: std::io::Error,
    },

    /// A key file already exists and overwriting was not requested.
    #[error(
        "{} already exists; refusing to overwrite a key file (remove it first or use --force)",
        path.display()
    )]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },

    /// The data is not a key of the expected kind.
    #[error("invalid {expected} in {origin}: {reason}")]
    Invalid {
        /// Where the data came from: a path, or a description such as "PEM input".
        origin: String,
        /// What was expected, e.g. "Ed25519 PKCS#8 private key (PEM)".
        expected: &'static str,
        /// Why it was rejected (never contains key material).
        reason: String,
    },

    /// An OpenPGP secret key is protected by a passphrase; only unprotected keys are supported.
    #[error(
        "the OpenPGP secret key in {origin} is passphrase-protected; export it without a \
         passphrase (the file itself must be protected by its permissions, mode 0600)"
    )]
    Protected {
        /// Where the key came from.
        origin: String,
    },

    /// An entry of a trusted-key directory is not a regular file (symlink, directory, device).
    #[error(
        "{} is not a regular file; trusted-key directories may only hold regular files \
         (symlinks are refused)",
        path.display()
    )]
    NotRegularFile {
        /// The offending entry.
        path: PathBuf,
    },

    /// A trusted-key directory holds no `*.pub` / `*.pem` key.
    #[error(
        "no trusted keys in {} (expected *.pub or *.pem files holding Ed25519 public keys, \
         \"-----BEGIN PUBLIC KEY-----\")",
        dir.display()
    )]
    NoTrustedKeys {
        /// The directory.
        dir: PathBuf,
    },

    /// An OpenPGP operation (generation, signing, serialisation) failed.
    #[error("OpenPGP {operation} failed: {reason}")]
    OpenPgp {
        /// What was attempted, e.g. "key generation", "InRelease signing".
        operation: &'static str,
        /// The underlying error message.
        reason: String,
    },
}

/// An Ed25519 snapshot signature (RFC 8032) did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature is not 64 bytes long.
    #[error("signature is {len} bytes long; an Ed25519 signature is exactly 64 bytes")]
    Length {
        /// Length of the given signature in bytes.
        len: usize,
    },

    /// The signature does not verify with this key over these bytes.
    #[error("Ed25519 signature does not verify with key {key_id} (wrong key, or modified data)")]
    Invalid {
        /// Key id of the key that was tried (see `PublicKey::key_id`).
        key_id: String,
    },

    /// None of the trusted keys verifies the signature.
    #[error(
        "signature is not from a trusted key: none of the trusted keys [{}] verifies it \
         (add the signer's public key to the trusted-key directory, or check the data was \
         not modified)",
        trusted.join(", ")
    )]
    Untrusted {
        /// Key ids of all trusted keys that were tried.
        trusted: Vec<String>,
    },
}

/// Verifying an upstream OpenPGP signature (APT `InRelease` / `Release.gpg`) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The signed message, the armor or the signature packets could not be parsed.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being parsed, e.g. "InRelease (cleartext-signed message)".
        what: &'static str,
        /// Parser message.
        reason: String,
    },

    /// No signature verified against the keyring.
    #[error(
        "no valid OpenPGP signature from the configured keyring: the data is signed by key \
         id(s) [{}], the keyring holds [{}]{}; check the `keyring` configured for this \
         upstream (it must contain the upstream's archive signing key)",
        signature_key_ids.join(", "),
        keyring_fingerprints.join(", "),
        if rejected.is_empty() { String::new() } else { format!("; rejected: {}", rejected.join("; ")) }
    )]
    NoValidSignature {
        /// Issuer key ids / fingerprints (upper-case hex) of the signatures found.
        signature_key_ids: Vec<String>,
        /// Primary fingerprints (upper-case hex) of the keys in the keyring.
        keyring_fingerprints: Vec<String>,
        /// Signatures that matched a key cryptographically but were refused, with the reason
        /// (expired or revoked key, weak hash, …), followed by what reading the keyring
        /// skipped ([`crate::openpgp::Keyring::notes`]).
        rejected: Vec<String>,
    },
}
