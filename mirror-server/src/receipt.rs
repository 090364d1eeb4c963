//! Site receipts (`mirror-server receipt`): a signed record of what this site holds, for
//! release engineering to cut a catch-up drive of exactly the blobs the site lacks.
//!
//! The format is `formats::receipt` (docs/receipt-format.md): a DSSE v1.0 envelope whose
//! payload lists the live snapshot per channel, every held snapshot (name, manifest
//! digest, live, pinned) and the set of blob digests in `STORE/blobs/sha256`, signed with
//! the **site key**. It carries nothing else: no path, host name, user name, pin reason or
//! drive name.
//!
//! The site key is an Ed25519 key kept in the store:
//!
//! | file            | what                                                            |
//! |-----------------|-----------------------------------------------------------------|
//! | `site.key`      | PKCS#8 PEM private key (RFC 8410 §7), mode 0600, made on first use |
//! | `site.pub`      | SPKI PEM public key (RFC 8410 §4), rewritten when missing or stale |
//!
//! [`make_receipt`] runs under the store lock ([`crate::lifecycle::lock_store`]): it may
//! create the site key, it appends to the audit log, and the lock keeps an import from
//! adding blobs or snapshots halfway through the listing.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use formats::digest::Digest;
use formats::receipt::{Envelope, RECEIPT_VERSION, Receipt, SnapshotEntry, encode_blobs};
use keys::snapshot::SigningKey;
use serde::Serialize;
use store::cas::open_regular;
use store::{Cas, SnapshotRecord, Store, StoreIoError};

use crate::audit::{self, AuditError};
use crate::lifecycle::{LifecycleError, read_state};

pub use store::layout::{SITE_KEY_FILE, SITE_PUB_FILE};
/// Audit event appended for each receipt.
pub const AUDIT_EVENT: &str = "receipt";
/// Largest site key file read, in bytes (a PKCS#8 Ed25519 PEM is about 120 bytes).
const MAX_KEY_FILE: u64 = 64 * 1024;

/// Why a receipt could not be made. Nothing is written to stdout or `--out` then; the only
/// change a failure can leave is a new site key (made before the failing step).
#[derive(Debug, thiserror::Error)]
pub enum SiteReceiptError {
    /// The store has no index, or the index or store lock failed.
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    /// A file-system operation in the store failed.
    #[error(transparent)]
    Io(#[from] StoreIoError),
    /// `STORE/site.key` exists but is not a usable key.
    #[error(
        "{}: {reason}; this file is the site's identity: restore it from a backup, or move it away to make a new site key (release engineering must then pin the new {SITE_PUB_FILE})",
        path.display()
    )]
    SiteKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The receipt built does not pass its own format's checks (a bug or an index that
    /// breaks its own rules).
    #[error("the receipt built from {} does not pass its format checks: {source}", store.display())]
    Format {
        /// The store directory.
        store: PathBuf,
        /// The check that failed.
        #[source]
        source: formats::receipt::ReceiptError,
    },
    /// The audit record could not be appended (no receipt is output then).
    #[error("cannot append the receipt record to the audit log, so no receipt is output: {0}")]
    Audit(#[from] AuditError),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> StoreIoError + '_ {
    move |source| StoreIoError {
        path: path.to_path_buf(),
        source,
    }
}

/// What [`make_receipt`] made (for the operator; not part of the receipt).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReceiptSummary {
    /// Key id of the site key, `ed25519:<16 hex>`.
    pub site: String,
    /// True when this call created the site key.
    pub site_key_created: bool,
    /// The site's public key file (`STORE/site.pub`), to pin on the connected side.
    pub site_pub: PathBuf,
    /// The receipt's `created` time (RFC 3339, UTC).
    pub created: String,
    /// Channel → live snapshot, as in the receipt.
    pub live: BTreeMap<String, String>,
    /// Held snapshots listed.
    pub snapshots: u64,
    /// Of which pinned.
    pub pinned: u64,
    /// Blob digests listed.
    pub blobs: u64,
    /// Size of the receipt (envelope) in bytes.
    pub bytes: u64,
    /// SHA-256 of the receipt (envelope) bytes, also in the audit record.
    pub sha256: Digest,
    /// Line of the audit record appended.
    pub audit_seq: u64,
    /// Warnings: `STORE/site.key` readable by its group or other users
    /// ([`keys::perms::private_key_exposure`]); `mirror-server receipt` prints them on
    /// stderr too.
    pub warnings: Vec<String>,
}

/// Loads `STORE/site.key`, or creates it (and `STORE/site.pub`) when absent. Returns the key
/// and whether it was created. Call it under the store lock.
///
/// Creation: a fresh key is written to a temp file in the store created with mode 0600
/// (`O_EXCL`), fsynced, renamed to `site.key` and the directory fsynced, so the key file
/// never exists half-written or with wider permissions. `site.pub` is rewritten (same way,
/// mode 0644 before the umask) whenever it is missing or does not match the key.
///
/// # Errors
/// [`SiteReceiptError::SiteKey`] when `site.key` is not a regular file or not an Ed25519
/// PKCS#8 PEM key; [`SiteReceiptError::Io`] naming the file on write failures.
pub fn site_key(store: &Path) -> Result<(SigningKey, bool), SiteReceiptError> {
    let path = store.join(SITE_KEY_FILE);
    let (key, created) = match open_regular(&path) {
        Ok((f, _)) => {
            let mut pem = String::new();
            f.take(MAX_KEY_FILE).read_to_string(&mut pem).map_err(|e| {
                SiteReceiptError::SiteKey {
                    path: path.clone(),
                    reason: format!("cannot read it: {e}"),
                }
            })?;
            let key = SigningKey::from_pkcs8_pem(&pem).map_err(|e| SiteReceiptError::SiteKey {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            (key, false)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let key = SigningKey::generate();
            write_atomic(store, SITE_KEY_FILE, key.to_pkcs8_pem().as_bytes(), 0o600)?;
            (key, true)
        }
        Err(e) => {
            return Err(SiteReceiptError::SiteKey {
                path,
                reason: e.to_string(),
            });
        }
    };
    let pub_pem = key.public_key().to_pem();
    let pub_path = store.join(SITE_PUB_FILE);
    let current = fs::read(&pub_path).ok();
    if current.as_deref() != Some(pub_pem.as_bytes()) {
        write_atomic(store, SITE_PUB_FILE, pub_pem.as_bytes(), 0o644)?;
    }
    Ok((key, created))
}

/// Writes `STORE/<name>` atomically with `mode` ([`store::fsio::write_atomic`]).
fn write_atomic(store: &Path, name: &str, bytes: &[u8], mode: u32) -> Result<(), StoreIoError> {
    let path = store.join(name);
    store::fsio::write_atomic(&path, bytes, mode).map_err(io_at(&path))
}

/// Makes a signed receipt of `store`: under the store lock, loads or creates the site key
/// ([`site_key`]), reads the index (held snapshots, live per channel, pins) and every blob
/// name in `STORE/blobs/sha256` (names that are not 64 lower-case hex digits, and entries
/// that are not regular files, are skipped), builds the `formats::receipt::Receipt`, signs
/// its DSSE PAE with the site key and appends a `receipt` audit record (`site`,
/// `snapshots`, `blobs`, `sha256` of the envelope, `bytes`, `site_key_created`).
///
/// Returns the envelope bytes (the receipt file) and a summary. A blob is listed when its
/// file is present; its bytes are not re-hashed (run `mirror-server verify` for that).
///
/// # Errors
/// [`SiteReceiptError`]: no index (`no snapshot imported yet`), lock, index, site key,
/// blob directory, audit failures.
pub fn make_receipt(store: &Path) -> Result<(Vec<u8>, ReceiptSummary), SiteReceiptError> {
    // Validate before locking, so a mistyped --store does not get a lock file.
    read_state(store)?;
    let _lock = Store::at(store).lock()?;
    let state = read_state(store)?;
    let (key, site_key_created) = site_key(store)?;
    let public = key.public_key();
    let site = public.key_id();

    let mut records: Vec<&SnapshotRecord> = state.snapshots.iter().collect();
    records.sort_by(|a, b| (&a.channel, a.sequence).cmp(&(&b.channel, b.sequence)));
    let held: BTreeSet<&str> = records.iter().map(|r| r.name.as_str()).collect();
    // Only live entries naming a held snapshot of their channel: the receipt states what
    // the site holds.
    let live: BTreeMap<String, String> = state
        .live
        .iter()
        .filter(|(c, n)| {
            held.contains(n.as_str()) && state.get(n).is_some_and(|r| &r.channel == *c)
        })
        .map(|(c, n)| (c.clone(), n.clone()))
        .collect();
    let snapshots: Vec<SnapshotEntry> = records
        .iter()
        .map(|r| SnapshotEntry {
            name: r.name.clone(),
            manifest: r.manifest,
            live: live.get(&r.channel) == Some(&r.name),
            pinned: state.pins.contains_key(&r.name),
        })
        .collect();

    let cas = Cas::at(store);
    let blobs: BTreeSet<Digest> = match cas.iter_digests() {
        Ok(v) => v.into_iter().collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeSet::new(),
        Err(e) => return Err(io_at(&cas.blobs_dir())(e).into()),
    };

    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let receipt = Receipt {
        receipt_version: RECEIPT_VERSION,
        site: site.clone(),
        site_public_key: public.to_pem(),
        created: created.clone(),
        live: live.clone(),
        snapshots,
        blobs: encode_blobs(&blobs),
    };
    receipt
        .validate()
        .map_err(|source| SiteReceiptError::Format {
            store: store.to_path_buf(),
            source,
        })?;
    let mut envelope = Envelope::new(receipt.to_bytes());
    let sig = key.sign(&envelope.pae());
    envelope.add_signature(&site, &sig);
    let bytes = envelope.to_bytes();
    let sha256 = Digest::of(&bytes);

    let pinned = receipt.snapshots.iter().filter(|s| s.pinned).count() as u64;
    let mut fields = serde_json::Map::new();
    fields.insert("site".into(), site.clone().into());
    fields.insert("snapshots".into(), receipt.snapshots.len().into());
    fields.insert("blobs".into(), blobs.len().into());
    fields.insert("sha256".into(), sha256.to_string().into());
    fields.insert("bytes".into(), bytes.len().into());
    fields.insert("site_key_created".into(), site_key_created.into());
    let record = audit::append(store, AUDIT_EVENT, fields)?;

    let summary = ReceiptSummary {
        site,
        site_key_created,
        site_pub: store.join(SITE_PUB_FILE),
        created,
        live,
        snapshots: receipt.snapshots.len() as u64,
        pinned,
        blobs: blobs.len() as u64,
        bytes: bytes.len() as u64,
        sha256,
        audit_seq: record.seq,
        warnings: keys::perms::private_key_exposure(&store.join(SITE_KEY_FILE))
            .into_iter()
            .collect(),
    };
    Ok((bytes, summary))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn site_key_is_made_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path();
        let (k1, created) = site_key(store).unwrap();
        assert!(created);
        let key_path = store.join(SITE_KEY_FILE);
        let mode = fs::metadata(&key_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            fs::read_to_string(store.join(SITE_PUB_FILE)).unwrap(),
            k1.public_key().to_pem()
        );
        let (k2, created) = site_key(store).unwrap();
        assert!(!created);
        assert_eq!(k1.public_key(), k2.public_key());
        // No temp files left.
        let mut names: Vec<String> = fs::read_dir(store)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [SITE_KEY_FILE, SITE_PUB_FILE]);
        // A missing or stale site.pub is rewritten from the key.
        fs::write(store.join(SITE_PUB_FILE), "stale").unwrap();
        site_key(store).unwrap();
        assert_eq!(
            fs::read_to_string(store.join(SITE_PUB_FILE)).unwrap(),
            k1.public_key().to_pem()
        );
    }

    #[test]
    fn a_bad_site_key_is_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path();
        fs::write(store.join(SITE_KEY_FILE), "not a key").unwrap();
        let e = site_key(store).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("site.key") && msg.contains("restore it"),
            "{msg}"
        );
        assert_eq!(
            fs::read_to_string(store.join(SITE_KEY_FILE)).unwrap(),
            "not a key"
        );
        // A symlink is refused too (not followed).
        let other = tempfile::tempdir().unwrap();
        let real = other.path().join("k");
        fs::write(&real, SigningKey::generate().to_pkcs8_pem()).unwrap();
        fs::remove_file(store.join(SITE_KEY_FILE)).unwrap();
        std::os::unix::fs::symlink(&real, store.join(SITE_KEY_FILE)).unwrap();
        let msg = site_key(store).unwrap_err().to_string();
        assert!(msg.contains("symbolic link"), "{msg}");
    }

    #[test]
    fn no_store_is_refused_without_writing() {
        let dir = tempfile::tempdir().unwrap();
        let e = make_receipt(dir.path()).unwrap_err();
        assert!(e.to_string().contains("no snapshot imported yet"), "{e}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
