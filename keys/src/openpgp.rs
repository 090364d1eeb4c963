//! OpenPGP keys for APT: the mirror's repository signing key, and verification of upstream
//! `InRelease` / `Release.gpg` signatures against a configured keyring (rpgp 0.21).
//!
//! - [`RepoSigningKey`] is a v4 OpenPGP key (RFC 4880 / RFC 9580 §5.5.2) with an Ed25519
//!   (`EdDSALegacy`, algorithm 22) primary key that certifies and signs. It produces the
//!   cleartext-signed `InRelease` (RFC 9580 §7, "Cleartext Signature Framework") and the
//!   armored detached `Release.gpg` that APT fetches (Debian wiki "DebianRepository/Format"
//!   §"Release"). v4 matters: gpgv 2.2, which APT runs, cannot read v6 keys.
//! - [`Keyring`] holds upstream public keys (for example the Debian archive keyring) and
//!   verifies upstream signatures, including signatures made by signing subkeys.
//!
//! # What "valid" means in [`Keyring::verify_inrelease`] / [`Keyring::verify_detached`]
//!
//! A signature is accepted when all of these hold:
//! - it is a data signature (type 0x00 binary or 0x01 text) with a creation time, made with
//!   a hash other than MD5, SHA-1 or RIPEMD-160, and not past its signature expiration time;
//! - it verifies cryptographically against a primary key of the keyring, or against a
//!   subkey whose newest valid binding signature (0x18) verifies against the primary, carries
//!   the "sign" key flag and a valid embedded primary-key binding signature (0x19);
//! - the primary key has at least one valid self-signature (user ID certification or direct
//!   key signature; bindings and self-signatures follow "Hash algorithms" below: SHA-1 is
//!   accepted and reported, MD5 and RIPEMD-160 do not count); its newest self-signature's
//!   key expiration time, and the subkey's
//!   newest binding signature's key expiration time, lie after the signature's creation
//!   time; neither key was created after the signature;
//! - the primary key (and the subkey, if one signed) has no valid revocation signature.
//!   "Key superseded" and "key retired" revocations only apply from the revocation time on;
//!   other reasons apply to all signatures.
//!
//! Expiry is checked against the signature's creation time, not the current time: freshness
//! of an APT repository is the job of the Release file's `Valid-Until` field.
//! Revocations issued by designated revokers (RFC 9580 §5.2.3.23) are not checked; third
//! party certifications are ignored (they are what makes rpgp's whole-key
//! `SignedPublicKey::verify_bindings` fail on the Debian keys).
//!
//! # Hash algorithms: data signatures versus key bindings
//!
//! - **Data signatures** (the signature over `InRelease`/`Release`) made with MD5, SHA-1 or
//!   RIPEMD-160 are refused (RFC 9580 §9.5: collision resistance is what protects a data
//!   signature, and SHA-1 has none left).
//! - **Self-signatures and bindings** (user ID self-certifications 0x10–0x13, direct key
//!   signatures 0x1F, subkey bindings 0x18 and primary key bindings 0x19) made with MD5 or
//!   RIPEMD-160 do not count: a key whose only self-signatures use them has no valid
//!   self-signature. Made with **SHA-1 they are accepted** — many vendor keys still in use
//!   for APT repositories were created by GnuPG versions that bound keys with SHA-1 — and
//!   **reported**: the signer's fingerprint is listed in [`Verified::sha1_bound_signers`] so
//!   the snapshot records it for a reviewer. The reasoning: a self-signature is made by the
//!   key holder over its own key material, so forging one needs a second preimage, not a
//!   collision (the distinction Sequoia's policy draws with `HashAlgoSecurity`); rpgp also
//!   hashes SHA-1 with collision detection (`sha1-checked`). GnuPG 2.2 and APT's `gpgv`
//!   accept such keys as well. The binding that counts is the newest valid one: the
//!   primary key's newest self-signature, and the signing subkey's newest binding and its
//!   embedded back-signature.
//! - Revocations are honoured whatever their hash algorithm (refusing a revocation would
//!   fail open).

use std::fmt;
use std::path::{Path, PathBuf};

use pgp::composed::{
    ArmorOptions, CleartextSignedMessage, Deserializable, DetachedSignature, KeyType,
    SecretKeyParamsBuilder, SignedPublicKey, SignedPublicSubKey, SignedSecretKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{self, RevocationCode, Signature, SignatureType, SubpacketData};
use pgp::ser::Serialize as _;
use pgp::types::{KeyDetails, KeyVersion, Password, Tag, Timestamp};

use crate::fsutil;
pub use crate::{KeyError, VerifyError};

/// File name of the armored secret repository key written by [`write_repo_key`].
pub const REPO_SECRET_KEY_FILE: &str = "repo.key.asc";
/// File name of the armored public repository key written by [`write_repo_key`].
pub const REPO_PUBLIC_ARMORED_FILE: &str = "repo.pub.asc";
/// File name of the binary public keyring (APT `signed-by=`) written by [`write_repo_key`].
pub const REPO_PUBLIC_KEYRING_FILE: &str = "repo.pub.gpg";

const SECRET_EXPECTED: &str =
    "OpenPGP secret key (armored, \"-----BEGIN PGP PRIVATE KEY BLOCK-----\")";
const KEYRING_EXPECTED: &str =
    "OpenPGP public keyring (binary .gpg, armored .asc, or GnuPG keybox .kbx)";

fn pgp_err(operation: &'static str) -> impl FnOnce(pgp::errors::Error) -> KeyError {
    move |e| KeyError::OpenPgp {
        operation,
        reason: pgp_message(&e),
    }
}

/// An rPGP error as a one-line message: its `Display`, except for a wrapped error
/// (`InvalidPacketContent`), whose `Display` prints the inner error with `{:?}`, and so,
/// when `RUST_BACKTRACE` is set, the inner error's whole backtrace, resolved. That costs
/// milliseconds and hundreds of MB of symbol tables per malformed packet, and puts a
/// backtrace in the user's error message (found by fuzzing the keyring reader, issue 16).
/// Here the inner error shows its own message instead.
pub(crate) fn pgp_message(e: &pgp::errors::Error) -> String {
    match e {
        pgp::errors::Error::InvalidPacketContent { source } => {
            format!("invalid packet content: {}", pgp_message(source))
        }
        other => other.to_string(),
    }
}

fn fmt_fingerprint(key: &impl KeyDetails) -> String {
    format!("{:X}", key.fingerprint())
}

/// The mirror's OpenPGP repository signing key (an unprotected v4 secret key).
///
/// `Debug` prints only the fingerprint.
#[derive(Clone)]
pub struct RepoSigningKey {
    key: SignedSecretKey,
}

impl RepoSigningKey {
    /// Generates a v4 key with an Ed25519 (`EdDSALegacy`) primary key that can certify and
    /// sign, one User ID (`user_id`, e.g.
    /// `"Air-gap mirror repository key <repo@mirror.invalid>"`), preferred hash SHA-256 and
    /// no expiration. gpgv 2.2 and APT accept the result.
    ///
    /// # Errors
    /// [`KeyError::OpenPgp`] if rpgp rejects the parameters (for example an empty user id).
    pub fn generate(user_id: &str) -> Result<Self, KeyError> {
        if user_id.trim().is_empty() {
            return Err(KeyError::OpenPgp {
                operation: "key generation",
                reason:
                    "the user id is empty; use e.g. \"Mirror repository key <repo@mirror.invalid>\""
                        .into(),
            });
        }
        let params = SecretKeyParamsBuilder::default()
            .version(KeyVersion::V4)
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(true)
            .primary_user_id(user_id.to_string())
            .preferred_hash_algorithms(vec![HashAlgorithm::Sha256].into())
            .build()
            .map_err(|e| KeyError::OpenPgp {
                operation: "key generation",
                reason: e.to_string(),
            })?;
        let key = params
            .generate(rand::thread_rng())
            .map_err(pgp_err("key generation"))?;
        Ok(RepoSigningKey { key })
    }

    /// Parses an armored, unprotected OpenPGP secret key (`-----BEGIN PGP PRIVATE KEY
    /// BLOCK-----`), as written by [`RepoSigningKey::to_armored_secret`] or
    /// `gpg --export-secret-keys --armor` for a key without passphrase. The first key of the
    /// block is used; its primary key signs.
    ///
    /// # Errors
    /// [`KeyError::Invalid`] if the text is not such a key, is not a v4 key, or its primary
    /// key is not signing-capable; [`KeyError::Protected`] if it is passphrase-protected.
    pub fn from_armored(text: &str) -> Result<Self, KeyError> {
        Self::from_armored_with_origin(text, "armored input")
    }

    fn from_armored_with_origin(text: &str, origin: &str) -> Result<Self, KeyError> {
        let invalid = |reason: String| KeyError::Invalid {
            origin: origin.to_string(),
            expected: SECRET_EXPECTED,
            reason,
        };
        let (key, _headers) = SignedSecretKey::from_string(text.trim_start())
            .map_err(|e| invalid(pgp_message(&e)))?;
        if key.primary_key.secret_params().is_encrypted()
            || key
                .secret_subkeys
                .iter()
                .any(|s| s.key.secret_params().is_encrypted())
        {
            return Err(KeyError::Protected {
                origin: origin.to_string(),
            });
        }
        if key.primary_key.version() != KeyVersion::V4 {
            return Err(invalid(format!(
                "the key is a {:?} key; only v4 keys are supported (gpgv 2.2, used by APT, \
                 cannot read newer versions)",
                key.primary_key.version()
            )));
        }
        let public = key.primary_key.public_key();
        let newest_self_sig = key
            .details
            .users
            .iter()
            .flat_map(|u| {
                u.signatures.iter().filter(move |s| {
                    is_user_certification(s)
                        && s.verify_certification(public, Tag::UserId, &u.id).is_ok()
                })
            })
            .chain(
                key.details
                    .direct_signatures
                    .iter()
                    .filter(|s| s.verify_key(public).is_ok()),
            )
            .max_by_key(|s| s.created().map(Timestamp::as_secs));
        match newest_self_sig {
            None => {
                return Err(invalid(
                    "the primary key has no valid self-signature".into(),
                ));
            }
            Some(sig) if has_key_flags(sig) && !sig.key_flags().sign() => {
                return Err(invalid(
                    "the primary key is not signing-capable (its key flags lack \"sign\"); \
                     the repository key must sign with its primary key"
                        .into(),
                ));
            }
            Some(_) => {}
        }
        Ok(RepoSigningKey { key })
    }

    /// Loads an armored unprotected secret key file (see [`RepoSigningKey::from_armored`]).
    ///
    /// # Errors
    /// [`KeyError::Io`] if the file cannot be read; otherwise as `from_armored`, naming the
    /// path.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let bytes = fsutil::read(path)?;
        let origin = path.display().to_string();
        let text = std::str::from_utf8(&bytes).map_err(|_| KeyError::Invalid {
            origin: origin.clone(),
            expected: SECRET_EXPECTED,
            reason: "file is not UTF-8 text (binary secret keys are not supported; export \
                     with --armor)"
                .into(),
        })?;
        Self::from_armored_with_origin(text, &origin)
    }

    /// The secret key, armored (`-----BEGIN PGP PRIVATE KEY BLOCK-----`), unprotected.
    ///
    /// # Errors
    /// [`KeyError::OpenPgp`] if serialisation fails.
    pub fn to_armored_secret(&self) -> Result<String, KeyError> {
        self.key
            .to_armored_string(ArmorOptions::default())
            .map_err(pgp_err("secret key export"))
    }

    /// The public key (transferable public key), armored
    /// (`-----BEGIN PGP PUBLIC KEY BLOCK-----`).
    ///
    /// # Errors
    /// [`KeyError::OpenPgp`] if serialisation fails.
    pub fn public_armored(&self) -> Result<String, KeyError> {
        self.key
            .to_public_key()
            .to_armored_string(ArmorOptions::default())
            .map_err(pgp_err("public key export"))
    }

    /// The public key as a binary OpenPGP keyring, usable as APT `signed-by=` file (`.gpg`)
    /// and as `gpgv --keyring`.
    ///
    /// # Errors
    /// [`KeyError::OpenPgp`] if serialisation fails.
    pub fn public_binary(&self) -> Result<Vec<u8>, KeyError> {
        self.key
            .to_public_key()
            .to_bytes()
            .map_err(pgp_err("public key export"))
    }

    /// The v4 fingerprint, 40 upper-case hex digits.
    pub fn fingerprint(&self) -> String {
        fmt_fingerprint(&self.key.primary_key)
    }

    /// Signs `release_text` (the content of a `Release` file) as a cleartext-signed
    /// `InRelease` (RFC 9580 §7, text signature 0x01, `Hash: SHA256`).
    ///
    /// As with `gpg --clearsign`, a final line break of `release_text` becomes the line break
    /// before `-----BEGIN PGP SIGNATURE-----`; the signed text is everything before it.
    ///
    /// # Errors
    /// [`KeyError::OpenPgp`] if signing fails.
    pub fn sign_inrelease(&self, release_text: &str) -> Result<String, KeyError> {
        let body = release_text
            .strip_suffix("\r\n")
            .or_else(|| release_text.strip_suffix('\n'))
            .unwrap_or(release_text);
        CleartextSignedMessage::sign(
            rand::thread_rng(),
            body,
            &self.key.primary_key,
            &Password::empty(),
        )
        .and_then(|msg| msg.to_armored_string(ArmorOptions::default()))
        .map_err(pgp_err("InRelease signing"))
    }

    /// Signs the exact bytes of `release_text` with a binary-data signature (type 0x00,
    /// SHA-256) and returns it armored (`-----BEGIN PGP SIGNATURE-----`): the `Release.gpg`
    /// that goes next to `Release`.
    ///
    /// # Errors
    /// [`KeyError::OpenPgp`] if signing fails.
    pub fn sign_detached(&self, release_text: &str) -> Result<String, KeyError> {
        DetachedSignature::sign_binary_data(
            rand::thread_rng(),
            &self.key.primary_key,
            &Password::empty(),
            HashAlgorithm::Sha256,
            release_text.as_bytes(),
        )
        .and_then(|sig| sig.to_armored_string(ArmorOptions::default()))
        .map_err(pgp_err("Release.gpg signing"))
    }
}

impl fmt::Debug for RepoSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RepoSigningKey")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

/// Writes `repo.key.asc` (armored secret key, created with mode 0600), `repo.pub.asc`
/// (armored public key) and `repo.pub.gpg` (binary public keyring for APT `signed-by=`,
/// mode 0644 before the umask) into `dir` (created with mode 0700 if missing). Returns the
/// three paths in that order.
///
/// # Errors
/// [`KeyError::AlreadyExists`] if any of the files exists and `force` is false (nothing is
/// written then); [`KeyError::Io`] / [`KeyError::OpenPgp`] otherwise. With `force`, files are
/// written to fresh temporary files and renamed into place.
pub fn write_repo_key(
    dir: &Path,
    key: &RepoSigningKey,
    force: bool,
) -> Result<[PathBuf; 3], KeyError> {
    fsutil::ensure_dir(dir)?;
    let secret_path = dir.join(REPO_SECRET_KEY_FILE);
    let armored_path = dir.join(REPO_PUBLIC_ARMORED_FILE);
    let binary_path = dir.join(REPO_PUBLIC_KEYRING_FILE);
    if !force {
        fsutil::refuse_existing(&[&secret_path, &armored_path, &binary_path])?;
    }
    let secret = key.to_armored_secret()?;
    let armored = key.public_armored()?;
    let binary = key.public_binary()?;
    fsutil::write_file(&secret_path, secret.as_bytes(), fsutil::PRIVATE_MODE, force)?;
    fsutil::write_file(
        &armored_path,
        armored.as_bytes(),
        fsutil::PUBLIC_MODE,
        force,
    )?;
    fsutil::write_file(&binary_path, &binary, fsutil::PUBLIC_MODE, force)?;
    Ok([secret_path, armored_path, binary_path])
}

/// Result of a successful upstream signature verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The text that the signature covers. For `InRelease`: the cleartext body after
    /// dash-unescaping, with CRLF normalised to LF and without the line break that precedes
    /// `-----BEGIN PGP SIGNATURE-----` (so usually without a final newline). For a detached
    /// signature: the data, decoded as UTF-8 (lossily).
    pub signed_text: String,
    /// Primary-key fingerprints (40 upper-case hex digits for v4) of the keyring keys whose
    /// primary key or subkey made a valid signature, without duplicates.
    pub signer_fingerprints: Vec<String>,
    /// The subset of [`Verified::signer_fingerprints`] whose validity rests on a SHA-1 key
    /// binding: every valid signature of that key was accepted only through a primary-key
    /// self-signature, subkey binding or back-signature hashed with SHA-1 (module docs,
    /// "Hash algorithms"). Empty for keys bound with SHA-256 or stronger.
    pub sha1_bound_signers: Vec<String>,
}

/// Upstream OpenPGP public keys, e.g. the Debian archive keyring.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
    /// What the reader skipped (unreadable keys, subkeys, user IDs, damaged regions).
    notes: Vec<String>,
}

impl Keyring {
    /// Parses a keyring as `gpgv --keyring` and APT's `signed-by=` read it:
    ///
    /// - binary (`.gpg`): several concatenated transferable public keys (RFC 9580 §10.1),
    ///   as `gpg --export` writes them, including GnuPG's trust packets (tag 12, written by
    ///   `gpg --export-options backup` and present in distribution keyrings such as
    ///   `ubuntu-archive-keyring.gpg`), marker and padding packets, which are skipped;
    /// - armored (`.asc`): one or more `-----BEGIN PGP PUBLIC KEY BLOCK-----` blocks, each
    ///   with one or more keys;
    /// - a GnuPG keybox (`.kbx`, magic `KBXf`), which `gpgv` reads (APT's `signed-by=`
    ///   does not).
    ///
    /// Keys with expired or revoked subkeys, third-party certifications and SHA-1
    /// bindings load; validity is decided per signature by [`Keyring::verify_inrelease`].
    /// A key, subkey, user ID or signature that does not parse (an unknown algorithm, a
    /// damaged packet) is skipped as GnuPG skips it, and noted ([`Keyring::notes`]).
    ///
    /// # Errors
    /// [`KeyError::Invalid`] if the data is empty, is not OpenPGP data, holds secret key
    /// material, or holds no usable public key (the reason lists what was skipped).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        Self::from_bytes_with_origin(bytes, "keyring data")
    }

    fn from_bytes_with_origin(bytes: &[u8], origin: &str) -> Result<Self, KeyError> {
        let read =
            crate::keyring_read::read_keyring(bytes).map_err(|reason| KeyError::Invalid {
                origin: origin.to_string(),
                expected: KEYRING_EXPECTED,
                reason,
            })?;
        Ok(Keyring {
            keys: read.keys,
            notes: read
                .notes
                .into_iter()
                .map(|n| format!("{origin}: {n}"))
                .collect(),
        })
    }

    /// What reading the keyring skipped, one line each, prefixed with the file (or "keyring
    /// data"): keys, subkeys or user IDs that do not parse, damaged regions. Empty for a
    /// clean keyring. Listed again in [`VerifyError::NoValidSignature`] when no key
    /// verifies a signature.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Loads a keyring file (see [`Keyring::from_bytes`]).
    ///
    /// # Errors
    /// [`KeyError::Io`] if the file cannot be read, [`KeyError::Invalid`] naming the path if
    /// it does not parse.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let bytes = fsutil::read(path)?;
        Self::from_bytes_with_origin(&bytes, &path.display().to_string())
    }

    /// Primary-key fingerprints (upper-case hex, 40 digits for v4 keys), in keyring order.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys.iter().map(fmt_fingerprint).collect()
    }

    /// True if the keyring holds no key (never the case for a parsed keyring).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verifies a cleartext-signed `InRelease` (RFC 9580 §7). At least one of its signatures
    /// must be valid (see the module documentation) against a key of this keyring.
    ///
    /// Returns the signed text (see [`Verified::signed_text`]) — parse that, never the
    /// unverified input — and the fingerprints of the keys that signed it.
    ///
    /// # Errors
    /// [`VerifyError::Malformed`] if the input is not a cleartext-signed message;
    /// [`VerifyError::NoValidSignature`] if no signature is valid.
    pub fn verify_inrelease(&self, inrelease: &str) -> Result<Verified, VerifyError> {
        let (msg, _headers) =
            CleartextSignedMessage::from_string(inrelease).map_err(|e| VerifyError::Malformed {
                what: "InRelease (OpenPGP cleartext-signed message)",
                reason: pgp_message(&e),
            })?;
        let signed = msg.signed_text();
        let (signers, sha1_bound) = self.verify_signatures(msg.signatures(), signed.as_bytes())?;
        Ok(Verified {
            signed_text: signed.replace("\r\n", "\n"),
            signer_fingerprints: signers,
            sha1_bound_signers: sha1_bound,
        })
    }

    /// Verifies a detached signature (`Release.gpg`, armored or binary, possibly holding
    /// several signature packets) over the exact bytes of `data`.
    ///
    /// # Errors
    /// [`VerifyError::Malformed`] if `signature` holds no parsable signature packets;
    /// [`VerifyError::NoValidSignature`] if no signature is valid.
    pub fn verify_detached(&self, data: &[u8], signature: &[u8]) -> Result<Verified, VerifyError> {
        let malformed = |reason: String| VerifyError::Malformed {
            what: "detached signature (Release.gpg)",
            reason,
        };
        if signature.iter().all(u8::is_ascii_whitespace) {
            return Err(malformed("the signature file is empty".into()));
        }
        let (parsed, _headers) = DetachedSignature::from_reader_many(signature)
            .map_err(|e| malformed(pgp_message(&e)))?;
        let mut sigs = Vec::new();
        for sig in parsed {
            sigs.push(sig.map_err(|e| malformed(pgp_message(&e)))?.signature);
        }
        if sigs.is_empty() {
            return Err(malformed("no signature packet found".into()));
        }
        let (signers, sha1_bound) = self.verify_signatures(&sigs, data)?;
        Ok(Verified {
            signed_text: String::from_utf8_lossy(data).into_owned(),
            signer_fingerprints: signers,
            sha1_bound_signers: sha1_bound,
        })
    }

    /// Checks every signature; returns the primary fingerprints of the valid signers, and
    /// those of them whose every accepted signature rested on a SHA-1 binding.
    fn verify_signatures(
        &self,
        sigs: &[Signature],
        data: &[u8],
    ) -> Result<(Vec<String>, Vec<String>), VerifyError> {
        let mut signers: Vec<String> = Vec::new();
        let mut strongly_bound: Vec<String> = Vec::new();
        let mut rejected = Vec::new();
        for sig in sigs {
            if let Some((fp, sha1_bound)) = self.check_data_signature(sig, data, &mut rejected) {
                if !sha1_bound && !strongly_bound.contains(&fp) {
                    strongly_bound.push(fp.clone());
                }
                if !signers.contains(&fp) {
                    signers.push(fp);
                }
            }
        }
        if signers.is_empty() {
            let mut ids: Vec<String> = Vec::new();
            for sig in sigs {
                let id = issuer_label(sig);
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            rejected.extend(self.notes.iter().cloned());
            return Err(VerifyError::NoValidSignature {
                signature_key_ids: ids,
                keyring_fingerprints: self.fingerprints(),
                rejected,
            });
        }
        let sha1_bound = signers
            .iter()
            .filter(|fp| !strongly_bound.contains(fp))
            .cloned()
            .collect();
        Ok((signers, sha1_bound))
    }

    /// Returns the primary fingerprint of the keyring key that made `sig` validly, if any,
    /// and whether that validity rests on a SHA-1 binding. Signatures that verify
    /// cryptographically but fail a policy check add a reason to `rejected`.
    fn check_data_signature(
        &self,
        sig: &Signature,
        data: &[u8],
        rejected: &mut Vec<String>,
    ) -> Option<(String, bool)> {
        if !matches!(sig.typ(), Some(SignatureType::Binary | SignatureType::Text)) {
            rejected.push(format!(
                "signature by {} is not a data signature (type {:?})",
                issuer_label(sig),
                sig.typ()
            ));
            return None;
        }
        for key in &self.keys {
            let primary_fp = fmt_fingerprint(key);
            if sig.verify(&key.primary_key, data).is_ok() {
                match signature_policy(sig).and_then(|t| primary_valid_at(key, t)) {
                    Ok(sha1_bound) => return Some((primary_fp, sha1_bound)),
                    Err(reason) => rejected.push(reason),
                }
            }
            for sub in &key.public_subkeys {
                if sig.verify(sub, data).is_ok() {
                    let valid = signature_policy(sig).and_then(|t| {
                        let primary_sha1 = primary_valid_at(key, t)?;
                        let sub_sha1 = subkey_valid_at(&key.primary_key, sub, t)?;
                        Ok(primary_sha1 || sub_sha1)
                    });
                    match valid {
                        Ok(sha1_bound) => return Some((primary_fp, sha1_bound)),
                        Err(reason) => rejected.push(reason),
                    }
                }
            }
        }
        None
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("fingerprints", &self.fingerprints())
            .finish()
    }
}

/// Issuer fingerprint (preferred) or key id of a signature, upper-case hex.
fn issuer_label(sig: &Signature) -> String {
    if let Some(fp) = sig.issuer_fingerprint().first() {
        return format!("{fp:X}");
    }
    if let Some(id) = sig.issuer_key_id().first() {
        return hex::encode_upper(id);
    }
    "(no issuer)".to_string()
}

fn fmt_time(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp(i64::from(t.as_secs()), 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| format!("@{}", t.as_secs()))
}

/// Checks the data signature's own properties; returns its creation time.
fn signature_policy(sig: &Signature) -> Result<Timestamp, String> {
    let who = issuer_label(sig);
    let created = sig
        .created()
        .ok_or_else(|| format!("signature by {who} has no creation time"))?;
    if let Some(hash) = sig.hash_alg()
        && (is_broken_hash(hash) || hash == HashAlgorithm::Sha1)
    {
        return Err(format!(
            "signature by {who} uses the weak hash algorithm {hash}"
        ));
    }
    if let Some(valid_for) = sig.signature_expiration_time()
        && valid_for.as_secs() > 0
    {
        let expires = u64::from(created.as_secs()) + u64::from(valid_for.as_secs());
        if u64::from(Timestamp::now().as_secs()) >= expires {
            return Err(format!(
                "signature by {who} made {} has expired",
                fmt_time(created)
            ));
        }
    }
    Ok(created)
}

/// MD5 and RIPEMD-160: refused on every signature, key bindings included (module docs).
fn is_broken_hash(hash: HashAlgorithm) -> bool {
    matches!(hash, HashAlgorithm::Md5 | HashAlgorithm::Ripemd160)
}

/// A self-signature or binding whose hash algorithm may count (not MD5/RIPEMD-160).
fn binding_hash_ok(sig: &Signature) -> bool {
    sig.hash_alg().is_none_or(|h| !is_broken_hash(h))
}

/// A self-signature or binding hashed with SHA-1 (accepted, but reported).
fn is_sha1(sig: &Signature) -> bool {
    sig.hash_alg() == Some(HashAlgorithm::Sha1)
}

fn is_user_certification(sig: &Signature) -> bool {
    matches!(
        sig.typ(),
        Some(
            SignatureType::CertGeneric
                | SignatureType::CertPersona
                | SignatureType::CertCasual
                | SignatureType::CertPositive
        )
    )
}

fn has_key_flags(sig: &Signature) -> bool {
    sig.config().is_some_and(|c| {
        c.hashed_subpackets()
            .any(|p| matches!(p.data, SubpacketData::KeyFlags(_)))
    })
}

/// Could `sig` have been issued by `key` (issuer subpackets match, or there are none)?
fn issued_by(sig: &Signature, key: &impl KeyDetails) -> bool {
    let ids = sig.issuer_key_id();
    let fps = sig.issuer_fingerprint();
    if ids.is_empty() && fps.is_empty() {
        return true;
    }
    let id = key.legacy_key_id();
    let fp = key.fingerprint();
    ids.iter().any(|i| **i == id) || fps.iter().any(|f| **f == fp)
}

/// Does a verified revocation signature apply to a signature made at `t`?
fn revocation_applies(rev: &Signature, t: Timestamp) -> bool {
    match rev.revocation_reason_code() {
        // Soft revocations: the key was fine until it was revoked.
        Some(RevocationCode::KeySuperseded | RevocationCode::KeyRetired) => rev
            .created()
            .is_none_or(|revoked_at| revoked_at.as_secs() <= t.as_secs()),
        // No reason, key compromised, or anything else: all signatures are suspect.
        _ => true,
    }
}

/// `Err` with a reason if a key created at `created`, whose newest binding/self-signature is
/// `sig`, had expired at `t`.
fn check_expiry(
    what: &str,
    created: Timestamp,
    sig: &Signature,
    t: Timestamp,
) -> Result<(), String> {
    if t.as_secs() < created.as_secs() {
        return Err(format!(
            "{what} was created at {}, after the signature ({})",
            fmt_time(created),
            fmt_time(t)
        ));
    }
    if let Some(valid_for) = sig.key_expiration_time()
        && valid_for.as_secs() > 0
    {
        let expires = u64::from(created.as_secs()) + u64::from(valid_for.as_secs());
        if u64::from(t.as_secs()) >= expires {
            let expires_at = u32::try_from(expires).map(Timestamp::from_secs);
            return Err(format!(
                "{what} expired at {} before the signature was made ({})",
                expires_at
                    .map(fmt_time)
                    .unwrap_or_else(|_| expires.to_string()),
                fmt_time(t)
            ));
        }
    }
    Ok(())
}

/// Is the primary key of `key` valid for a data signature made at `t`? `Ok(true)` when it
/// is, but its newest valid self-signature is hashed with SHA-1.
fn primary_valid_at(key: &SignedPublicKey, t: Timestamp) -> Result<bool, String> {
    let primary = &key.primary_key;
    let what = format!("primary key {}", fmt_fingerprint(primary));

    for rev in &key.details.revocation_signatures {
        if issued_by(rev, primary) && rev.verify_key(primary).is_ok() && revocation_applies(rev, t)
        {
            return Err(format!("{what} is revoked"));
        }
    }

    let user_sigs = key.details.users.iter().flat_map(|user| {
        user.signatures.iter().filter(move |sig| {
            is_user_certification(sig)
                && issued_by(sig, primary)
                && sig
                    .verify_certification(primary, Tag::UserId, &user.id)
                    .is_ok()
        })
    });
    let direct_sigs = key
        .details
        .direct_signatures
        .iter()
        .filter(|sig| issued_by(sig, primary) && sig.verify_key(primary).is_ok());
    let mut broken = 0usize;
    let newest = user_sigs
        .chain(direct_sigs)
        .filter(|sig| sig.created().is_some())
        .filter(|sig| {
            let ok = binding_hash_ok(sig);
            broken += usize::from(!ok);
            ok
        })
        .max_by_key(|sig| sig.created().map(Timestamp::as_secs))
        .ok_or_else(|| {
            if broken > 0 {
                format!(
                    "{what} has no valid self-signature ({broken} made with MD5 or RIPEMD-160, which are refused)"
                )
            } else {
                format!("{what} has no valid self-signature")
            }
        })?;
    check_expiry(&what, primary.created_at(), newest, t)?;
    Ok(is_sha1(newest))
}

/// Is `sub` a valid signing subkey of `primary` for a data signature made at `t`?
/// `Ok(true)` when it is, but its newest binding or that binding's back-signature is
/// hashed with SHA-1.
fn subkey_valid_at(
    primary: &packet::PublicKey,
    sub: &SignedPublicSubKey,
    t: Timestamp,
) -> Result<bool, String> {
    let what = format!(
        "signing subkey {} of {}",
        fmt_fingerprint(&sub.key),
        fmt_fingerprint(primary)
    );
    let mut newest: Option<&Signature> = None;
    for sig in &sub.signatures {
        let verified = sig.verify_subkey_binding(primary, &sub.key).is_ok();
        if !verified {
            continue;
        }
        match sig.typ() {
            Some(SignatureType::SubkeyRevocation) if revocation_applies(sig, t) => {
                return Err(format!("{what} is revoked"));
            }
            Some(SignatureType::SubkeyBinding) => {
                let Some(created) = sig.created() else {
                    continue;
                };
                if !binding_hash_ok(sig) {
                    continue;
                }
                if newest
                    .and_then(Signature::created)
                    .is_none_or(|n| n.as_secs() <= created.as_secs())
                {
                    newest = Some(sig);
                }
            }
            _ => {}
        }
    }
    let binding = newest.ok_or_else(|| format!("{what} has no valid binding signature"))?;
    if !binding.key_flags().sign() {
        return Err(format!("{what} is not marked for signing (key flags)"));
    }
    let backsig = binding.embedded_signature().filter(|back| {
        binding_hash_ok(back) && back.verify_primary_key_binding(&sub.key, primary).is_ok()
    });
    let Some(backsig) = backsig else {
        return Err(format!(
            "{what} has no valid primary key binding signature (not cross-certified, or made with MD5 or RIPEMD-160)"
        ));
    };
    check_expiry(&what, sub.key.created_at(), binding, t)?;
    Ok(is_sha1(binding) || is_sha1(backsig))
}

#[cfg(test)]
mod tests;
