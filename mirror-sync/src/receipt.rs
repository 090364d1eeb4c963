//! Reading a site receipt (made on the air-gapped side by `mirror-server receipt`), to cut
//! a catch-up drive holding exactly the blobs the site lacks.
//!
//! Format: `formats::receipt`, docs/receipt-format.md (a DSSE v1.0 envelope signed with
//! the site's Ed25519 key). [`load`] reads the file, checks its shape, verifies the DSSE
//! signature against the key the payload names, checks that the key id, the payload's
//! `site` and the signature's `keyid` agree, optionally that the site is the one expected
//! (a pinned `site.pub`), and decodes the blob set.
//!
//! Without an expected key the signature only proves the receipt was not changed since
//! the holder of the key it embeds signed it; pin the site's `site.pub` to know *which*
//! site it came from.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail};
use formats::digest::Digest;
use formats::receipt::{Envelope, MAX_ENVELOPE_BYTES, Receipt, SnapshotEntry};
use keys::snapshot::PublicKey;

/// A verified site receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteReceipt {
    /// The file it was read from.
    pub path: PathBuf,
    /// Key id of the site key, `ed25519:<16 hex>`.
    pub site: String,
    /// The site's public key (verified the receipt's signature).
    pub site_key: PublicKey,
    /// When the site made the receipt (RFC 3339, UTC).
    pub created: String,
    /// Channel → the snapshot live on it at the site (`<channel>/<sequence>`).
    pub live: BTreeMap<String, String>,
    /// Every snapshot the site holds, with its manifest digest, live and pinned flags.
    pub snapshots: Vec<SnapshotEntry>,
    /// Every blob digest the site's store holds.
    pub held: BTreeSet<Digest>,
    /// SHA-256 of the receipt file's bytes (the site's audit log records the same value).
    pub envelope_sha256: Digest,
}

impl SiteReceipt {
    /// Whether the site holds blob `d`.
    pub fn holds(&self, d: &Digest) -> bool {
        self.held.contains(d)
    }

    /// Whether the site holds snapshot `name` (`<channel>/<sequence>`).
    pub fn holds_snapshot(&self, name: &str) -> bool {
        self.snapshots.iter().any(|s| s.name == name)
    }

    /// The digests of `wanted` the site does not hold, sorted and without duplicates: what
    /// a catch-up drive must carry.
    pub fn missing<'a>(&self, wanted: impl IntoIterator<Item = &'a Digest>) -> BTreeSet<Digest> {
        wanted
            .into_iter()
            .filter(|d| !self.held.contains(d))
            .copied()
            .collect()
    }
}

/// Reads and verifies the receipt at `path`.
///
/// Checks, in order: size (at most [`MAX_ENVELOPE_BYTES`]); the DSSE envelope
/// (`formats::receipt::Envelope::parse`); the payload (`Receipt::from_slice`: known
/// version, shape, consistency); `site_public_key` parses as an Ed25519 SPKI PEM key whose
/// key id equals `site`; a signature whose `keyid` is `site` exists and verifies over the
/// DSSE PAE; `expected_site`, when given, is that same key; the blob set decodes (sorted,
/// unique, count matches, within its size limit).
///
/// # Errors
/// One message naming the file, what is wrong and what to do (make a new receipt on the
/// site, or check which site's key was pinned).
pub fn load(path: &Path, expected_site: Option<&PublicKey>) -> anyhow::Result<SiteReceipt> {
    let shown = path.display();
    let remake = "make a new one on the site with `mirror-server receipt`";
    let bytes = read_capped(path)?;
    let envelope_sha256 = Digest::of(&bytes);
    let envelope = Envelope::parse(&bytes)
        .map_err(|e| anyhow!("{shown}: not a usable site receipt: {e}; {remake}"))?;
    let receipt = Receipt::from_slice(&envelope.payload)
        .map_err(|e| anyhow!("{shown}: not a usable site receipt: {e}; {remake}"))?;
    let key = PublicKey::from_pem(&receipt.site_public_key)
        .map_err(|e| anyhow!("{shown}: site_public_key: {e}; {remake}"))?;
    let key_id = key.key_id();
    if key_id != receipt.site {
        bail!(
            "{shown}: the receipt names site {} but its site_public_key has key id {key_id}: the receipt was altered; {remake}",
            receipt.site
        );
    }
    let pae = envelope.pae();
    let ours: Vec<_> = envelope
        .signatures
        .iter()
        .filter(|s| s.keyid == receipt.site)
        .collect();
    if ours.is_empty() {
        let ids: Vec<&str> = envelope
            .signatures
            .iter()
            .map(|s| s.keyid.as_str())
            .collect();
        bail!(
            "{shown}: no signature by the site key {key_id} (signatures by: {}); {remake}",
            ids.join(", ")
        );
    }
    if !ours.iter().any(|s| key.verify(&pae, &s.sig).is_ok()) {
        bail!(
            "{shown}: the signature does not verify against site key {key_id}: the receipt was changed after the site signed it (or damaged in transit); {remake}"
        );
    }
    if let Some(expected) = expected_site
        && expected != &key
    {
        bail!(
            "{shown}: the receipt is from site {key_id}, but the expected site key is {}: this receipt comes from another site (or the site's key was replaced); check which site it is, or pin that site's site.pub",
            expected.key_id()
        );
    }
    let held = receipt
        .blobs
        .digests()
        .map_err(|e| anyhow!("{shown}: blobs: {e}; {remake}"))?;
    Ok(SiteReceipt {
        path: path.to_path_buf(),
        site: receipt.site,
        site_key: key,
        created: receipt.created,
        live: receipt.live,
        snapshots: receipt.snapshots,
        held,
        envelope_sha256,
    })
}

/// Reads the receipt with [`store::fsio::read_bounded`]: at most [`MAX_ENVELOPE_BYTES`],
/// a regular file that is neither a symbolic nor a hard link.
fn read_capped(path: &Path) -> anyhow::Result<Vec<u8>> {
    use store::fsio::ReadError;
    store::fsio::read_bounded(path, MAX_ENVELOPE_BYTES).map_err(|e| match e {
        ReadError::TooLarge { .. } => anyhow!(
            "{}: over the {MAX_ENVELOPE_BYTES}-byte limit of a site receipt; is this the receipt file?",
            path.display()
        ),
        ReadError::NotFound { .. } => anyhow::Error::new(std::io::Error::from(rustix::io::Errno::NOENT))
        .context(format!("cannot open the site receipt {}", path.display())),
        e => anyhow::Error::new(e)
            .context(format!("cannot read the site receipt {}", path.display())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use formats::receipt::{RECEIPT_VERSION, encode_blobs, pae};
    use keys::snapshot::SigningKey;

    fn receipt_for(key: &SigningKey, blobs: &BTreeSet<Digest>) -> Receipt {
        Receipt {
            receipt_version: RECEIPT_VERSION,
            site: key.public_key().key_id(),
            site_public_key: key.public_key().to_pem(),
            created: "2026-11-21T15:10:59Z".into(),
            live: BTreeMap::from([("stable".into(), "stable/2".into())]),
            snapshots: vec![
                SnapshotEntry {
                    name: "stable/1".into(),
                    manifest: Digest::of(b"m1"),
                    live: false,
                    pinned: true,
                },
                SnapshotEntry {
                    name: "stable/2".into(),
                    manifest: Digest::of(b"m2"),
                    live: true,
                    pinned: false,
                },
            ],
            blobs: encode_blobs(blobs),
        }
    }

    fn sign(key: &SigningKey, r: &Receipt) -> Vec<u8> {
        let mut env = Envelope::new(r.to_bytes());
        let sig = key.sign(&env.pae());
        env.add_signature(&key.public_key().key_id(), &sig);
        env.to_bytes()
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn blobs() -> BTreeSet<Digest> {
        [b"a".as_slice(), b"b", b"c"]
            .iter()
            .map(|b| Digest::of(b))
            .collect()
    }

    #[test]
    fn loads_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate();
        let bytes = sign(&key, &receipt_for(&key, &blobs()));
        let p = write(dir.path(), "receipt.json", &bytes);
        let r = load(&p, None).unwrap();
        assert_eq!(r.site, key.public_key().key_id());
        assert_eq!(r.held, blobs());
        assert_eq!(r.envelope_sha256, Digest::of(&bytes));
        assert_eq!(r.live["stable"], "stable/2");
        assert!(r.holds_snapshot("stable/1") && !r.holds_snapshot("stable/3"));
        assert!(r.holds(&Digest::of(b"a")));
        let other = Digest::of(b"z");
        assert_eq!(
            r.missing([Digest::of(b"a"), other, other].iter()),
            BTreeSet::from([other])
        );
        // With the right pinned key.
        load(&p, Some(&key.public_key())).unwrap();
    }

    #[test]
    fn another_sites_receipt_is_refused_naming_both() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate();
        let pinned = SigningKey::generate().public_key();
        let p = write(
            dir.path(),
            "r.json",
            &sign(&key, &receipt_for(&key, &blobs())),
        );
        let msg = load(&p, Some(&pinned)).unwrap_err().to_string();
        assert!(msg.contains(&key.public_key().key_id()), "{msg}");
        assert!(msg.contains(&pinned.key_id()), "{msg}");
        assert!(msg.contains("r.json"), "{msg}");
    }

    #[test]
    fn tampering_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate();
        let r = receipt_for(&key, &blobs());
        let good = sign(&key, &r);

        // Payload changed after signing (a blob dropped from the set).
        let mut env = Envelope::parse(&good).unwrap();
        let mut changed = r.clone();
        changed.blobs = encode_blobs(&blobs().into_iter().take(2).collect());
        env.payload = changed.to_bytes();
        let p = write(dir.path(), "t1.json", &env.to_bytes());
        let msg = load(&p, None).unwrap_err().to_string();
        assert!(msg.contains("does not verify"), "{msg}");
        assert!(msg.contains("mirror-server receipt"), "{msg}");

        // Re-signed by another key but claiming the original site.
        let thief = SigningKey::generate();
        let mut env = Envelope::new(r.to_bytes());
        env.add_signature(&r.site, &thief.sign(&pae(&env.payload_type, &env.payload)));
        let p = write(dir.path(), "t2.json", &env.to_bytes());
        assert!(
            load(&p, None)
                .unwrap_err()
                .to_string()
                .contains("does not verify")
        );

        // Site id that does not match the embedded key.
        let mut wrong = r.clone();
        wrong.site = "ed25519:0000000000000000".into();
        let mut env = Envelope::new(wrong.to_bytes());
        env.add_signature(
            &wrong.site,
            &key.sign(&pae(&env.payload_type, &env.payload)),
        );
        let p = write(dir.path(), "t3.json", &env.to_bytes());
        let msg = load(&p, None).unwrap_err().to_string();
        assert!(msg.contains("was altered"), "{msg}");

        // Signature under another keyid.
        let mut env = Envelope::new(r.to_bytes());
        env.add_signature("ed25519:1111111111111111", &key.sign(&env.pae()));
        let p = write(dir.path(), "t4.json", &env.to_bytes());
        let msg = load(&p, None).unwrap_err().to_string();
        assert!(msg.contains("no signature by the site key"), "{msg}");

        // Not JSON at all, and a missing file.
        let p = write(dir.path(), "t5.json", b"hello");
        assert!(load(&p, None).unwrap_err().to_string().contains("t5.json"));
        let msg = load(&dir.path().join("absent.json"), None)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("absent.json"), "{msg}");
    }

    #[test]
    fn a_bad_blob_set_is_refused_even_when_signed() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate();
        let mut r = receipt_for(&key, &blobs());
        r.blobs.count += 1;
        let p = write(dir.path(), "r.json", &sign(&key, &r));
        let msg = load(&p, None).unwrap_err().to_string();
        assert!(msg.contains("blobs.count is 4"), "{msg}");
    }
}
