//! Key handling for the air-gap mirror.
//!
//! - [`snapshot`]: Ed25519 (RFC 8032) signing keys for snapshot manifests. Keys are stored as
//!   PKCS#8 / SPKI PEM (RFC 8410), so `openssl pkeyutl -verify -rawin` can check a manifest
//!   signature without this program.
//! - [`openpgp`]: the OpenPGP (RFC 4880 / RFC 9580, v4 keys) repository key that signs the
//!   served APT `InRelease` / `Release.gpg`, and verification of upstream APT signatures
//!   against a configured keyring.
//! - [`cosign`]: offline verification of cosign image signatures (ECDSA P-256 / Ed25519
//!   public keys, simple-signing payloads; no Rekor, no TUF) and the per-image signature
//!   policy shared by `mirror-sync` and `mirror-server`.
//! - [`perms`]: the warning for a private key file its group or other users can read.
//!
//! Errors are [`KeyError`] (loading, parsing, writing keys), [`SignatureError`] (Ed25519
//! snapshot signatures) and [`VerifyError`] (upstream OpenPGP signatures). No error message
//! and no `Debug` output contains secret key material.

pub mod cosign;
mod error;
mod fsutil;
mod keyring_read;
pub mod openpgp;
pub mod perms;
pub mod snapshot;

pub use error::{KeyError, SignatureError, VerifyError};
