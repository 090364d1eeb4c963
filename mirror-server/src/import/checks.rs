//! Steps 1–3b of an import: locate the snapshot on the drive, read its manifest and
//! signature, verify them, and check every prerequisite before the store is touched.
//! Every read of the drive goes through the [`drive`] crate.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use drive::Located;
use formats::digest::Digest;
use formats::media::Media;
use formats::snapshot::{MANIFEST_FILE, Manifest, ManifestError, SIGNATURE_FILE};
use keys::snapshot::TrustedKeys;
use store::Cas;

use super::error::{ImportError, locate_err, read_err};
use super::{ImportOptions, load_policy};
use crate::preflight::{self, Prerequisite};
use store::layout::RESUME_PREFIX;

/// Length of an ed25519 signature in bytes (RFC 8032 §5.1.6).
const SIGNATURE_LEN: usize = drive::SIGNATURE_LEN;

/// A snapshot whose manifest verifies with a trusted key, whose directory matches its
/// name, and whose prerequisites are met (the outcome of steps 1–3b).
pub(super) struct Verified {
    /// `DRIVE/snapshots/<channel>/<sequence>`.
    pub dir: PathBuf,
    /// `manifest.json` in it.
    pub manifest_path: PathBuf,
    /// Its exact (signed) bytes.
    pub manifest_bytes: Vec<u8>,
    /// SHA-256 of those bytes.
    pub digest: Digest,
    /// The 64-byte signature.
    pub sig: Vec<u8>,
    /// The parsed, validated manifest.
    pub manifest: Manifest,
    /// `<channel>/<sequence>`.
    pub name: String,
    /// The trusted keys.
    pub trusted: TrustedKeys,
    /// Key id of the key that verified the signature.
    pub signer: String,
    /// Its file name in the trusted-keys directory.
    pub signer_key_file: String,
    /// The `--policy`, loaded.
    pub policy: Option<keys::cosign::Policy>,
}

/// Step 1: the snapshot directory (exactly one, or the one `--snapshot` names).
pub(super) fn locate(drive: &Path, wanted: Option<&str>) -> Result<Located, ImportError> {
    drive::locate(drive, wanted).map_err(locate_err)
}

/// Step 2: `manifest.json` (size-limited) and `manifest.json.sig` (exactly 64 bytes).
pub(super) fn read_signed(located: &Located) -> Result<(Vec<u8>, Vec<u8>), ImportError> {
    let manifest = drive::read_manifest(&located.dir).map_err(|e| read_err(e, "manifest"))?;
    let sig_path = located.dir.join(SIGNATURE_FILE);
    let sig = drive::read_signature(&sig_path).map_err(|e| match read_err(e, "signature") {
        ImportError::BadFile { path, reason } => ImportError::BadSignature { path, reason },
        other => other,
    })?;
    if sig.len() != SIGNATURE_LEN {
        return Err(ImportError::BadSignature {
            path: sig_path,
            reason: format!(
                "signature is {} bytes; an ed25519 signature is exactly {SIGNATURE_LEN} bytes",
                sig.len()
            ),
        });
    }
    Ok((manifest, sig))
}

/// What step 3 found: the manifest parsed, and the signature verified or not. Trust
/// prerequisites are gathered (`unmet`), not returned one by one: step 3b reports them all.
pub(super) struct Checked {
    manifest_path: PathBuf,
    manifest_bytes: Vec<u8>,
    sig: Vec<u8>,
    manifest: Manifest,
    trusted: Option<TrustedKeys>,
    signer: Option<String>,
    untrusted: Option<ImportError>,
    unmet: Vec<Prerequisite>,
}

/// Step 3: refuse an unknown `manifest_version`, then verify the signature over the exact
/// bytes against the trusted-keys directory, then validate the manifest fully.
pub(super) fn verify_manifest(
    opts: &ImportOptions,
    located: &Located,
    (manifest_bytes, sig): (Vec<u8>, Vec<u8>),
) -> Result<Checked, ImportError> {
    let mut unmet: Vec<Prerequisite> = Vec::new();
    let trusted = match TrustedKeys::load_dir(&opts.trusted_keys) {
        Ok(t) => Some(t),
        Err(e) => {
            unmet.push(Prerequisite {
                what: ImportError::TrustedKeys(e).to_string(),
                fix: preflight::bundle_fix("keys/trusted/", &opts.trusted_keys),
            });
            None
        }
    };
    if let Some(p) = &opts.policy {
        unmet.extend(preflight::policy_keys(p));
    }
    let manifest_path = located.dir.join(MANIFEST_FILE);
    let sig_path = located.dir.join(SIGNATURE_FILE);
    let parsed = Manifest::from_slice(&manifest_bytes);
    if let Err(ManifestError::UnknownVersion { found }) = &parsed {
        return Err(ImportError::UnknownVersion {
            path: manifest_path,
            found: *found,
        });
    }
    let mut untrusted: Option<ImportError> = None;
    let signer = match &trusted {
        None => None,
        Some(trusted) => match trusted.verify(&manifest_bytes, &sig) {
            Ok(key) => Some(key.key_id()),
            Err(keys::SignatureError::Length { len }) => {
                return Err(ImportError::BadSignature {
                    path: sig_path,
                    reason: format!(
                        "signature is {len} bytes; an ed25519 signature is exactly 64 bytes"
                    ),
                });
            }
            Err(_) => {
                untrusted = Some(ImportError::Untrusted {
                    path: manifest_path.clone(),
                    dir: opts.trusted_keys.clone(),
                    trusted: trusted.keys().map(|(_, k)| k.key_id()).collect(),
                });
                None
            }
        },
    };
    let manifest = match parsed {
        Ok(m) => m,
        // An unverified manifest that does not even parse: the signature is the news.
        Err(_) if untrusted.is_some() || trusted.is_none() => {
            return Err(refuse_prerequisites(unmet, untrusted, opts, None));
        }
        Err(e) => {
            return Err(ImportError::InvalidManifest {
                path: manifest_path.clone(),
                reason: e.to_string(),
            });
        }
    };

    Ok(Checked {
        manifest_path,
        manifest_bytes,
        sig,
        manifest,
        trusted,
        signer,
        untrusted,
        unmet,
    })
}

/// Step 3b: every other trust prerequisite, and free space, before anything is copied or
/// the store is touched: the upstream keyrings the APT sources need, the policy keys, and
/// room on the store's filesystem for the blobs it lacks ([`crate::preflight`]). Then the
/// manifest must lie in the directory its name says, and the `--policy` must load.
pub(super) fn prerequisites(
    opts: &ImportOptions,
    located: &Located,
    checked: Checked,
) -> Result<Verified, ImportError> {
    let Checked {
        manifest_path,
        manifest_bytes,
        sig,
        manifest,
        trusted,
        signer,
        untrusted,
        mut unmet,
    } = checked;
    let snap_dir = &located.dir;
    let verified = signer.is_some();
    unmet.extend(preflight::upstream_keyrings(
        &manifest,
        &opts.trusted_keys,
        !verified,
    ));
    if verified {
        let media = trusted.as_ref().and_then(|t| {
            drive::read_media(snap_dir, t, &Digest::of(&manifest_bytes), &manifest.name())
                .ok()
                .flatten()
        });
        let (needed, blobs) =
            bytes_to_write(&manifest, &opts.store, &manifest_bytes, media.as_ref());
        match preflight::available_bytes(&opts.store) {
            Ok(available) => {
                unmet.extend(preflight::free_space(&opts.store, needed, blobs, available));
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot tell the free space of the store's filesystem")
            }
        }
    }
    let (Some(trusted), Some(signer), true) = (trusted, signer, unmet.is_empty()) else {
        return Err(refuse_prerequisites(
            unmet,
            untrusted,
            opts,
            Some(&manifest.signer),
        ));
    };

    let signer_key_file = trusted
        .keys()
        .find(|(_, k)| k.key_id() == signer)
        .and_then(|(p, _)| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (dir_channel, dir_seq) = (&located.name.channel, located.name.sequence);
    if manifest.channel != *dir_channel || manifest.sequence != dir_seq {
        return Err(ImportError::InvalidManifest {
            path: manifest_path,
            reason: format!(
                "manifest is for snapshot {} but lies in snapshots/{dir_channel}/{dir_seq}; the drive was rearranged",
                manifest.name()
            ),
        });
    }
    let policy = opts.policy.as_deref().map(load_policy).transpose()?;
    Ok(Verified {
        dir: located.dir.clone(),
        manifest_path,
        digest: Digest::of(&manifest_bytes),
        manifest_bytes,
        sig,
        name: manifest.name(),
        manifest,
        trusted,
        signer,
        signer_key_file,
        policy,
    })
}

/// The refusal for unmet prerequisites (step 3b): the manifest signature failure alone
/// stays [`ImportError::Untrusted`] (it may be tampering, not a missing key); anything
/// else is [`ImportError::Prerequisites`], listing the signature failure first.
/// `drive_signer` is the key id the (unverified) manifest says signed it.
fn refuse_prerequisites(
    mut unmet: Vec<Prerequisite>,
    untrusted: Option<ImportError>,
    opts: &ImportOptions,
    drive_signer: Option<&str>,
) -> ImportError {
    match untrusted {
        Some(e) if unmet.is_empty() => e,
        Some(e) => {
            let signed_by = drive_signer
                .map(|s| format!(" (the manifest names {s} as its signer)"))
                .unwrap_or_default();
            unmet.insert(
                0,
                Prerequisite {
                    what: format!("{e}{signed_by}"),
                    fix: preflight::bundle_fix("keys/trusted/snapshot.pub", &opts.trusted_keys),
                },
            );
            ImportError::Prerequisites { unmet }
        }
        None => ImportError::Prerequisites { unmet },
    }
}

/// Bytes this import would write into the store's filesystem, and how many blobs: every
/// distinct blob of `manifest` the store at `store` lacks and no earlier run of this import
/// staged already; a blob split into parts on the drive counts twice (its parts are staged,
/// then joined). One `stat` per blob; no blob is read.
fn bytes_to_write(
    manifest: &Manifest,
    store: &Path,
    manifest_bytes: &[u8],
    media: Option<&Media>,
) -> (u64, u64) {
    let main = Cas::at(store);
    let staged = Cas::at(&main.tmp_dir().join(format!(
        "{RESUME_PREFIX}{}",
        Digest::of(manifest_bytes).hex()
    )));
    let mut seen: BTreeSet<Digest> = BTreeSet::new();
    let (mut bytes, mut blobs) = (0u64, 0u64);
    for a in &manifest.artifacts {
        if !seen.insert(a.digest) {
            continue;
        }
        let have = |cas: &Cas| cas.contains(&a.digest).ok().flatten() == Some(a.size);
        if have(&main) || have(&staged) {
            continue;
        }
        let split = media
            .and_then(|m| m.blob(&a.digest))
            .is_some_and(|e| !e.parts.is_empty());
        bytes = bytes.saturating_add(if split {
            a.size.saturating_mul(2)
        } else {
            a.size
        });
        blobs += 1;
    }
    (
        bytes.saturating_add(manifest_bytes.len() as u64 + SIGNATURE_LEN as u64),
        blobs,
    )
}
