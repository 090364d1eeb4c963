//! Key handling for the air-gap mirror.
//!
//! - [`snapshot`]: Ed25519 (RFC 8032) signing keys for snapshot manifests. Keys are stored as
//!   PKCS#8 / SPKI PEM (RFC 8410), so `openssl pkeyutl -verify -rawin` can check a manifest
//!   signature without this program.
//! - [`openpgp`]: the OpenPGP (RFC 4880 / RFC 9580, v4 keys) repository key that signs the
//!   served APT `InRelease` / `Release.gpg`, and verification of upstream APT signatures
//!   against a configured keyring.
//!
//! Errors are [`KeyError`] (loading, parsing, writing keys), [`SignatureError`] (Ed25519
//! snapshot signatures) and [`VerifyError`] (upstream OpenPGP signatures). No error message
//! and no `Debug` output contains secret key material.

mod error;
mod fsutil;
pub mod openpgp;
pub mod snapshot;

pub use error::{KeyError, SignatureError, VerifyError};
