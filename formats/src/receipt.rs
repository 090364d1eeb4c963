//! Site receipts: what an air-gapped site holds, signed by the site's key, carried back to
//! release engineering so a catch-up drive holds exactly the blobs the site lacks.
//!
//! Specified in `docs/receipt-format.md`. Pure types, encoders and parsers; no I/O.
//!
//! A receipt file is a DSSE v1.0 envelope (in-toto DSSE, `envelope.md`): JSON
//! `{"payloadType": PAYLOAD_TYPE, "payload": "<base64>", "signatures": [{"keyid", "sig"}]}`
//! whose signature is Ed25519 over [`pae`] of the payload type and the payload bytes
//! (DSSE `protocol.md` §Signature definition). The payload is the JSON [`Receipt`]. The set of
//! blob digests the site holds is a [`BlobSet`]: the sorted raw 32-byte digests,
//! concatenated, gzipped, base64-encoded.
//!
//! Readers refuse: a `receipt_version` they do not know (before reading any other field),
//! another payload type, bad base64 or gzip, blob data whose length is not a multiple of
//! 32, a `count` that does not match, unsorted or duplicate digests, duplicate JSON keys,
//! and input over the size limits ([`MAX_ENVELOPE_BYTES`], [`MAX_PAYLOAD_BYTES`],
//! [`MAX_BLOB_DATA_BYTES`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{Read, Write};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// DSSE `payloadType` of a receipt.
pub const PAYLOAD_TYPE: &str = "application/vnd.mirror.receipt.v1+json";
/// The receipt version this crate reads and writes.
pub const RECEIPT_VERSION: u32 = 1;
/// The only [`BlobSet::encoding`] this crate knows.
pub const BLOB_ENCODING: &str = "sha256-sorted-gzip-base64";
/// Largest decompressed blob data accepted, in bytes (256 MiB: 8,388,608 digests).
pub const MAX_BLOB_DATA_BYTES: u64 = 256 * 1024 * 1024;
/// Largest payload accepted after base64 decoding, in bytes (384 MiB: room for a full
/// [`MAX_BLOB_DATA_BYTES`] blob set, which gzip cannot shrink, in base64).
pub const MAX_PAYLOAD_BYTES: u64 = 384 * 1024 * 1024;
/// Largest envelope file accepted, in bytes (544 MiB: a [`MAX_PAYLOAD_BYTES`] payload in
/// base64).
pub const MAX_ENVELOPE_BYTES: u64 = 544 * 1024 * 1024;
/// Conventional file name of a receipt.
pub const RECEIPT_FILE: &str = "receipt.json";

/// Why a receipt (envelope or payload) was refused. Messages say what is wrong and, for
/// limits, the limit.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReceiptError {
    /// An input is over its size limit.
    #[error("{what} is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// What was too large (`receipt envelope`, `receipt payload`, `blob data`).
        what: &'static str,
        /// Its size in bytes (at least `limit + 1` when the rest was not read).
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// Not JSON, a duplicate key, or not the expected shape.
    #[error("{what} is not valid JSON of the expected shape: {reason}")]
    Malformed {
        /// `receipt envelope` or `receipt payload`.
        what: &'static str,
        /// The parser's message.
        reason: String,
    },
    /// The envelope's `payloadType` is not [`PAYLOAD_TYPE`].
    #[error("payloadType is {0:?}, not {PAYLOAD_TYPE:?}: this file is not a site receipt")]
    PayloadType(String),
    /// The envelope carries no signature.
    #[error("the receipt envelope has no signature")]
    Unsigned,
    /// A base64 field does not decode.
    #[error("{field} is not valid base64: {reason}")]
    Base64 {
        /// The field (`payload`, `signatures[0].sig`, `blobs.data`).
        field: String,
        /// The decoder's message.
        reason: String,
    },
    /// A `receipt_version` this reader does not know.
    #[error(
        "unknown receipt version {found} (this reader knows version {RECEIPT_VERSION}); use a newer mirror-sync"
    )]
    UnknownVersion {
        /// The version found.
        found: u64,
    },
    /// A `blobs.encoding` this reader does not know.
    #[error("unknown blob encoding {0:?} (this reader knows {BLOB_ENCODING:?})")]
    UnknownEncoding(String),
    /// `blobs.data` is not a valid gzip stream.
    #[error("blobs.data is not valid gzip: {0}")]
    Gzip(String),
    /// The decompressed blob data is not a whole number of 32-byte digests.
    #[error("blob data is {0} bytes, not a multiple of 32 (one raw SHA-256 digest each)")]
    BlobDataLength(u64),
    /// `blobs.count` differs from the number of digests in the data.
    #[error("blobs.count is {count} but the data holds {found} digests")]
    CountMismatch {
        /// The declared count.
        count: u64,
        /// Digests in the data.
        found: u64,
    },
    /// The digests are not in strictly ascending byte order.
    #[error(
        "blob digest {index} ({digest}) is not greater than the one before it: digests must be sorted and unique"
    )]
    Unsorted {
        /// 0-based position of the offending digest.
        index: u64,
        /// The offending digest.
        digest: Digest,
    },
    /// A field that parses but breaks a rule.
    #[error("invalid receipt: {0}")]
    Invalid(String),
}

/// The receipt payload (`receipt_version` 1): what the site holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Always [`RECEIPT_VERSION`] for what this crate writes.
    pub receipt_version: u32,
    /// Key id of the site key, `ed25519:<16 lower hex>` (`keys::snapshot::PublicKey::key_id`).
    pub site: String,
    /// The site's Ed25519 public key as SPKI PEM (RFC 8410 §4).
    pub site_public_key: String,
    /// When the receipt was made, RFC 3339 in UTC (`2026-11-21T15:10:59Z`).
    pub created: String,
    /// The live snapshot of every channel: channel → `<channel>/<sequence>`.
    #[serde(deserialize_with = "unique_map")]
    pub live: BTreeMap<String, String>,
    /// Every snapshot the site holds (live or retained), sorted by channel then sequence.
    pub snapshots: Vec<SnapshotEntry>,
    /// Every blob the site's store holds.
    pub blobs: BlobSet,
}

/// One held snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotEntry {
    /// `<channel>/<sequence>`.
    pub name: String,
    /// Digest of the snapshot's manifest (`manifest.json`) bytes.
    pub manifest: Digest,
    /// Live on its channel.
    pub live: bool,
    /// Pinned (kept by garbage collection).
    pub pinned: bool,
}

/// A set of SHA-256 digests in compact form (`blobs` of a [`Receipt`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobSet {
    /// Number of digests.
    pub count: u64,
    /// Always [`BLOB_ENCODING`]: `data` is standard base64 (RFC 4648 §4, padded) of a gzip
    /// stream (RFC 1952) of the raw 32-byte digests, sorted ascending, concatenated.
    pub encoding: String,
    /// The encoded digests.
    pub data: String,
}

/// Builds the [`BlobSet`] of `digests` (sorted by the set's order, which is byte order).
pub fn encode_blobs(digests: &BTreeSet<Digest>) -> BlobSet {
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(digests.len() * 32 + 32),
        flate2::Compression::default(),
    );
    for d in digests {
        // Writing into a Vec cannot fail.
        let _ = gz.write_all(d.as_bytes());
    }
    let compressed = gz.finish().unwrap_or_default();
    BlobSet {
        count: digests.len() as u64,
        encoding: BLOB_ENCODING.to_owned(),
        data: STANDARD.encode(compressed),
    }
}

impl BlobSet {
    /// Decodes the digests, checking everything a reader must refuse.
    ///
    /// # Errors
    /// [`ReceiptError::UnknownEncoding`], [`ReceiptError::Base64`], [`ReceiptError::Gzip`],
    /// [`ReceiptError::TooLarge`] (over [`MAX_BLOB_DATA_BYTES`] decompressed; decompression
    /// stops at the limit), [`ReceiptError::BlobDataLength`], [`ReceiptError::CountMismatch`],
    /// [`ReceiptError::Unsorted`] (also for duplicates).
    pub fn digests(&self) -> Result<BTreeSet<Digest>, ReceiptError> {
        if self.encoding != BLOB_ENCODING {
            return Err(ReceiptError::UnknownEncoding(self.encoding.clone()));
        }
        // The text is bounded by the payload limit; the decompressed size by the take().
        let compressed = decode_b64("blobs.data", &self.data)?;
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(compressed.as_slice())
            .take(MAX_BLOB_DATA_BYTES + 1)
            .read_to_end(&mut raw)
            .map_err(|e| ReceiptError::Gzip(e.to_string()))?;
        if raw.len() as u64 > MAX_BLOB_DATA_BYTES {
            return Err(ReceiptError::TooLarge {
                what: "blob data (decompressed)",
                size: raw.len() as u64,
                limit: MAX_BLOB_DATA_BYTES,
            });
        }
        if raw.len() % 32 != 0 {
            return Err(ReceiptError::BlobDataLength(raw.len() as u64));
        }
        let found = (raw.len() / 32) as u64;
        if found != self.count {
            return Err(ReceiptError::CountMismatch {
                count: self.count,
                found,
            });
        }
        let mut out = BTreeSet::new();
        let mut prev: Option<[u8; 32]> = None;
        for (i, chunk) in raw.chunks_exact(32).enumerate() {
            let mut bytes = [0u8; 32];
            bytes.copy_from_slice(chunk);
            if prev.is_some_and(|p| p >= bytes) {
                return Err(ReceiptError::Unsorted {
                    index: i as u64,
                    digest: Digest::from_bytes(bytes),
                });
            }
            prev = Some(bytes);
            out.insert(Digest::from_bytes(bytes));
        }
        Ok(out)
    }
}

/// DSSE v1 pre-authentication encoding (DSSE `protocol.md` §Signature definition):
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, where `LEN` is the length in bytes
/// as ASCII decimal without leading zeros. This is what is signed, never the bare payload.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let head = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    );
    let mut out = Vec::with_capacity(head.len() + payload.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(payload);
    out
}

/// One DSSE signature.
#[derive(Clone, PartialEq, Eq)]
pub struct Signature {
    /// Key id of the signing key (`ed25519:<16 hex>`); empty when the envelope gave none.
    pub keyid: String,
    /// The raw signature bytes (64 for Ed25519).
    pub sig: Vec<u8>,
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signature")
            .field("keyid", &self.keyid)
            .field("sig_len", &self.sig.len())
            .finish()
    }
}

/// A DSSE v1.0 envelope holding a receipt (in-toto DSSE `envelope.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Always [`PAYLOAD_TYPE`] once parsed.
    pub payload_type: String,
    /// The payload bytes (decoded from base64): the JSON [`Receipt`].
    pub payload: Vec<u8>,
    /// The signatures, in file order (at least one once parsed).
    pub signatures: Vec<Signature>,
}

#[derive(Serialize, Deserialize)]
struct WireEnvelope {
    #[serde(rename = "payloadType")]
    payload_type: String,
    payload: String,
    signatures: Vec<WireSignature>,
}

#[derive(Serialize, Deserialize)]
struct WireSignature {
    #[serde(default)]
    keyid: String,
    sig: String,
}

/// Decodes base64: standard alphabet first, then the URL-safe one (DSSE allows either),
/// both padded.
fn decode_b64(field: &str, text: &str) -> Result<Vec<u8>, ReceiptError> {
    STANDARD
        .decode(text)
        .or_else(|e| URL_SAFE.decode(text).map_err(|_| e))
        .map_err(|e| ReceiptError::Base64 {
            field: field.to_owned(),
            reason: e.to_string(),
        })
}

impl Envelope {
    /// An envelope of `payload` (type [`PAYLOAD_TYPE`]) with no signature yet.
    pub fn new(payload: Vec<u8>) -> Envelope {
        Envelope {
            payload_type: PAYLOAD_TYPE.to_owned(),
            payload,
            signatures: Vec::new(),
        }
    }

    /// The bytes to sign and verify: [`pae`] of the payload type and payload.
    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }

    /// Adds a signature (`sig` over [`Envelope::pae`]) made by the key `keyid`.
    pub fn add_signature(&mut self, keyid: &str, sig: &[u8]) {
        self.signatures.push(Signature {
            keyid: keyid.to_owned(),
            sig: sig.to_vec(),
        });
    }

    /// The file bytes: compact JSON with `payloadType`, `payload` and `signatures` (base64
    /// standard, padded) and a trailing newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let wire = WireEnvelope {
            payload_type: self.payload_type.clone(),
            payload: STANDARD.encode(&self.payload),
            signatures: self
                .signatures
                .iter()
                .map(|s| WireSignature {
                    keyid: s.keyid.clone(),
                    sig: STANDARD.encode(&s.sig),
                })
                .collect(),
        };
        // Strings and vectors always serialize.
        let mut v = serde_json::to_vec(&wire).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// Parses envelope bytes: size limit ([`MAX_ENVELOPE_BYTES`]), JSON shape (duplicate
    /// keys refused), `payloadType` = [`PAYLOAD_TYPE`], at least one signature, base64 of
    /// the payload ([`MAX_PAYLOAD_BYTES`]) and of every signature. Signatures are not
    /// verified here (that needs the key; see `mirror_sync::receipt::load`).
    ///
    /// # Errors
    /// [`ReceiptError::TooLarge`], [`ReceiptError::Malformed`], [`ReceiptError::PayloadType`],
    /// [`ReceiptError::Unsigned`], [`ReceiptError::Base64`].
    pub fn parse(bytes: &[u8]) -> Result<Envelope, ReceiptError> {
        if bytes.len() as u64 > MAX_ENVELOPE_BYTES {
            return Err(ReceiptError::TooLarge {
                what: "receipt envelope",
                size: bytes.len() as u64,
                limit: MAX_ENVELOPE_BYTES,
            });
        }
        let wire: WireEnvelope =
            serde_json::from_slice(bytes).map_err(|e| ReceiptError::Malformed {
                what: "receipt envelope",
                reason: e.to_string(),
            })?;
        if wire.payload_type != PAYLOAD_TYPE {
            return Err(ReceiptError::PayloadType(wire.payload_type));
        }
        if wire.signatures.is_empty() {
            return Err(ReceiptError::Unsigned);
        }
        // 3 base64 characters per 4 bytes, rounded up: refuse before decoding.
        let decoded_len = (wire.payload.len() as u64).div_ceil(4) * 3;
        if decoded_len > MAX_PAYLOAD_BYTES + 3 {
            return Err(ReceiptError::TooLarge {
                what: "receipt payload",
                size: decoded_len,
                limit: MAX_PAYLOAD_BYTES,
            });
        }
        let payload = decode_b64("payload", &wire.payload)?;
        if payload.len() as u64 > MAX_PAYLOAD_BYTES {
            return Err(ReceiptError::TooLarge {
                what: "receipt payload",
                size: payload.len() as u64,
                limit: MAX_PAYLOAD_BYTES,
            });
        }
        let signatures = wire
            .signatures
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                Ok(Signature {
                    sig: decode_b64(&format!("signatures[{i}].sig"), &s.sig)?,
                    keyid: s.keyid,
                })
            })
            .collect::<Result<Vec<_>, ReceiptError>>()?;
        Ok(Envelope {
            payload_type: wire.payload_type,
            payload,
            signatures,
        })
    }
}

#[derive(Deserialize)]
struct VersionProbe {
    receipt_version: Option<serde_json::Value>,
}

impl Receipt {
    /// Serializes to the payload bytes (pretty JSON, trailing newline).
    pub fn to_bytes(&self) -> Vec<u8> {
        // Strings, maps of strings, numbers and booleans always serialize.
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// Parses and validates payload bytes.
    ///
    /// Order: size limit ([`MAX_PAYLOAD_BYTES`]), then the version (an unknown version is
    /// refused before any other field is read), then the shape (duplicate keys refused,
    /// unknown fields ignored), then [`Receipt::validate`]. The blob set is not decoded
    /// here; call [`BlobSet::digests`].
    ///
    /// # Errors
    /// [`ReceiptError::TooLarge`], [`ReceiptError::UnknownVersion`],
    /// [`ReceiptError::Malformed`], and what [`Receipt::validate`] returns.
    pub fn from_slice(bytes: &[u8]) -> Result<Receipt, ReceiptError> {
        if bytes.len() as u64 > MAX_PAYLOAD_BYTES {
            return Err(ReceiptError::TooLarge {
                what: "receipt payload",
                size: bytes.len() as u64,
                limit: MAX_PAYLOAD_BYTES,
            });
        }
        let malformed = |e: serde_json::Error| ReceiptError::Malformed {
            what: "receipt payload",
            reason: e.to_string(),
        };
        let probe: VersionProbe = serde_json::from_slice(bytes).map_err(malformed)?;
        match probe.receipt_version {
            Some(serde_json::Value::Number(n)) if n.as_u64() == Some(RECEIPT_VERSION as u64) => {}
            Some(serde_json::Value::Number(n)) => {
                return Err(ReceiptError::UnknownVersion {
                    found: n.as_u64().unwrap_or(u64::MAX),
                });
            }
            _ => {
                return Err(ReceiptError::Malformed {
                    what: "receipt payload",
                    reason: "missing or non-numeric receipt_version".into(),
                });
            }
        }
        let r: Receipt = serde_json::from_slice(bytes).map_err(malformed)?;
        r.validate()?;
        Ok(r)
    }

    /// Checks the rules the types cannot express: `site` is `ed25519:<16 lower hex>`,
    /// `site_public_key` is a PEM public key block, `created` is RFC 3339, every snapshot
    /// name is `<channel>/<sequence>` (valid channel, sequence ≥ 1) and unique, every `live`
    /// entry names a held snapshot of its own channel, the `live` flags agree with the `live`
    /// map, and the blob encoding is known. Whether the key id matches the key, and the
    /// signature, are checked by the verifier (it needs the `keys` crate).
    ///
    /// # Errors
    /// [`ReceiptError::Invalid`] naming the field, [`ReceiptError::UnknownEncoding`].
    pub fn validate(&self) -> Result<(), ReceiptError> {
        let invalid = |s: String| Err(ReceiptError::Invalid(s));
        if !is_key_id(&self.site) {
            return invalid(format!(
                "site {:?} is not a key id (ed25519:<16 lower-case hex digits>)",
                self.site
            ));
        }
        let pem = self.site_public_key.trim();
        if !(pem.starts_with("-----BEGIN PUBLIC KEY-----")
            && pem.ends_with("-----END PUBLIC KEY-----"))
        {
            return invalid(
                "site_public_key is not a PEM public key (-----BEGIN PUBLIC KEY-----)".into(),
            );
        }
        if chrono::DateTime::parse_from_rfc3339(&self.created).is_err() {
            return invalid(format!(
                "created {:?} is not an RFC 3339 time",
                self.created
            ));
        }
        let mut names: BTreeMap<&str, bool> = BTreeMap::new();
        for s in &self.snapshots {
            parse_name(&s.name).map_err(ReceiptError::Invalid)?;
            if names.insert(s.name.as_str(), s.live).is_some() {
                return invalid(format!("snapshot {} is listed twice", s.name));
            }
        }
        for (channel, name) in &self.live {
            let (c, _) = parse_name(name).map_err(ReceiptError::Invalid)?;
            if c != channel {
                return invalid(format!(
                    "live[{channel:?}] is {name}, a snapshot of another channel"
                ));
            }
            match names.get(name.as_str()) {
                Some(true) => {}
                Some(false) => {
                    return invalid(format!(
                        "live[{channel:?}] is {name} but its snapshot entry says live: false"
                    ));
                }
                None => {
                    return invalid(format!(
                        "live[{channel:?}] is {name}, which is not among the snapshots"
                    ));
                }
            }
        }
        for s in &self.snapshots {
            if s.live
                && parse_name(&s.name).ok().and_then(|(c, _)| self.live.get(c)) != Some(&s.name)
            {
                return invalid(format!(
                    "snapshot {} says live: true but the live map does not name it",
                    s.name
                ));
            }
        }
        if self.blobs.encoding != BLOB_ENCODING {
            return Err(ReceiptError::UnknownEncoding(self.blobs.encoding.clone()));
        }
        Ok(())
    }
}

/// `ed25519:` and 16 lower-case hex digits.
fn is_key_id(s: &str) -> bool {
    s.strip_prefix("ed25519:").is_some_and(|h| {
        h.len() == 16
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Splits `<channel>/<sequence>`; the channel must be valid and the sequence ≥ 1 without
/// leading zeros.
fn parse_name(name: &str) -> Result<(&str, u64), String> {
    let bad = || format!("snapshot name {name:?} is not <channel>/<sequence>");
    let (channel, seq) = name.split_once('/').ok_or_else(bad)?;
    crate::snapshot::validate_channel(channel)?;
    if seq.is_empty() || seq.starts_with('0') || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = seq.parse().map_err(|_| bad())?;
    Ok((channel, n))
}

/// Deserializes a JSON object into a map, refusing a key that appears twice (serde_json
/// keeps the last one otherwise).
fn unique_map<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = BTreeMap<String, String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of strings")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut a: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((k, v)) = a.next_entry::<String, String>()? {
                if out.contains_key(&k) {
                    return Err(serde::de::Error::custom(format!("duplicate key {k:?}")));
                }
                out.insert(k, v);
            }
            Ok(out)
        }
    }
    d.deserialize_map(V)
}

#[cfg(test)]
mod tests;
