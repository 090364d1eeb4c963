//! Reading OpenPGP keyring files the way `gpgv` and APT's `signed-by=` do.
//!
//! A keyring file, as it is found on real systems, is one of:
//!
//! - **binary** (`.gpg`): transferable public keys (RFC 9580 §10.1) one after the other, as
//!   `gpg --export` writes them. Keyrings that GnuPG itself maintained (`pubring.gpg`,
//!   `gpg --export-options backup`, and files such as Ubuntu's
//!   `ubuntu-archive-keyring.gpg`) also hold **trust packets** (tag 12, RFC 9580 §5.10:
//!   "implementation-specific", never part of a transferable key) after the key, user ID
//!   and signature packets;
//! - **armored** (`.asc`): one or more `-----BEGIN PGP PUBLIC KEY BLOCK-----` blocks
//!   (RFC 9580 §6.2), each holding one or more keys;
//! - a **GnuPG keybox** (`.kbx`, what `gpg --no-default-keyring --keyring FILE --import`
//!   creates): `gpgv --keyring` reads it, APT's `signed-by=` does not. Each OpenPGP blob
//!   holds one key block (GnuPG `kbx/keybox-blob.c`: blob length and type 2 at bytes 0–4,
//!   key block offset and length at bytes 8–15).
//!
//! The reader splits the data into packets with its own framing parser (RFC 9580 §4.2, old
//! and new packet headers; only as far as needed to find packet boundaries and tags), drops
//! what GnuPG drops between and inside keys — trust (12), marker (10) and padding (21)
//! packets, and packets of other tags — then parses each packet with rpgp and assembles the
//! keys. A packet that does not parse (an unknown public-key algorithm, an unsupported
//! signature version, damaged bytes) is skipped together with what hangs off it, as GnuPG
//! does: a bad signature is dropped, a bad subkey or user ID is dropped with its
//! signatures, a bad primary key drops that whole key. Each skip is recorded as a note
//! naming the key and the byte offset, so a signature that no usable key verifies can say
//! why. Which keys and subkeys are *valid* (expired, revoked, unbound) is decided at
//! verification time, per signature, not here: an expired or revoked subkey never poisons
//! its key.
//!
//! Refused outright: data with no usable public key at all, and any secret key material
//! (tags 5 and 7, or an armored private key block) — a keyring holds public keys only.

use std::io::Read as _;

use pgp::armor::{BlockType, Dearmor};
use pgp::composed::{SignedPublicKey, SignedPublicKeyParser};
use pgp::packet::{Packet, PacketParser};
use pgp::types::KeyDetails as _;

/// OpenPGP packet tags (RFC 9580 §5) the reader cares about.
mod tag {
    pub const SIGNATURE: u8 = 2;
    pub const SECRET_KEY: u8 = 5;
    pub const PUBLIC_KEY: u8 = 6;
    pub const SECRET_SUBKEY: u8 = 7;
    pub const MARKER: u8 = 10;
    pub const TRUST: u8 = 12;
    pub const USER_ID: u8 = 13;
    pub const PUBLIC_SUBKEY: u8 = 14;
    pub const USER_ATTRIBUTE: u8 = 17;
    pub const PADDING: u8 = 21;
}

/// What a keyring file yielded: the usable keys, and notes on what was skipped.
pub(crate) struct ReadKeyring {
    pub keys: Vec<SignedPublicKey>,
    /// One line per skipped key, subkey, user ID or damaged region (never key material).
    pub notes: Vec<String>,
}

/// One packet of a binary stream: its tag, where it starts, and its header and body bytes.
struct RawPacket<'a> {
    tag: u8,
    offset: usize,
    bytes: &'a [u8],
}

/// Splits `data` into packets (RFC 9580 §4.2). Returns the packets up to the first framing
/// error and that error (as "offset N: what"), if any.
fn split_packets(data: &[u8]) -> (Vec<RawPacket<'_>>, Option<String>) {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < data.len() {
        match frame_at(data, pos) {
            Ok((tag, end)) => {
                out.push(RawPacket {
                    tag,
                    offset: pos,
                    bytes: data.get(pos..end).unwrap_or_default(),
                });
                pos = end;
            }
            Err(e) => return (out, Some(format!("byte offset {pos}: {e}"))),
        }
    }
    (out, None)
}

/// Reads the packet header at `pos`; returns the tag and the end offset of the packet.
fn frame_at(data: &[u8], pos: usize) -> Result<(u8, usize), String> {
    let byte = |i: usize| -> Result<usize, String> {
        data.get(i)
            .map(|b| usize::from(*b))
            .ok_or_else(|| "the packet header is truncated".to_string())
    };
    let be = |from: usize, n: usize| -> Result<usize, String> {
        (from..from + n).try_fold(0usize, |acc, i| Ok((acc << 8) | byte(i)?))
    };
    let ctb = byte(pos)?;
    if ctb & 0x80 == 0 {
        return Err(format!(
            "0x{ctb:02x} is not an OpenPGP packet header (bit 7 clear)"
        ));
    }
    let (tag, body_start, len) = if ctb & 0x40 != 0 {
        // New format (RFC 9580 §4.2.1).
        let tag = (ctb & 0x3f) as u8;
        let o1 = byte(pos + 1)?;
        match o1 {
            0..=191 => (tag, pos + 2, o1),
            192..=223 => (tag, pos + 3, ((o1 - 192) << 8) + byte(pos + 2)? + 192),
            255 => (tag, pos + 6, be(pos + 2, 4)?),
            _ => {
                return Err(format!(
                    "packet tag {tag} uses a partial body length, which only data packets may use (not part of a keyring)"
                ));
            }
        }
    } else {
        // Legacy format (RFC 9580 §4.2.2).
        let tag = ((ctb >> 2) & 0x0f) as u8;
        match ctb & 0x03 {
            0 => (tag, pos + 2, byte(pos + 1)?),
            1 => (tag, pos + 3, be(pos + 1, 2)?),
            2 => (tag, pos + 5, be(pos + 1, 4)?),
            // Indeterminate length: the packet runs to the end of the data.
            _ => (tag, pos + 1, data.len().saturating_sub(pos + 1)),
        }
    };
    let end = body_start
        .checked_add(len)
        .filter(|end| *end <= data.len())
        .ok_or_else(|| {
            format!(
                "packet tag {tag} declares {len} bytes but the data ends {} bytes later (truncated file?)",
                data.len().saturating_sub(body_start)
            )
        })?;
    Ok((tag, end))
}

/// Parses one raw packet with rpgp.
fn parse_packet(raw: &RawPacket<'_>) -> Result<Packet, String> {
    match PacketParser::new(raw.bytes).next() {
        Some(Ok(p)) => Ok(p),
        Some(Err(e)) => Err(crate::openpgp::pgp_message(&e)),
        None => Err("empty packet".into()),
    }
}

/// Is `data` a GnuPG keybox (header blob of type 1 with magic `KBXf` at byte 8)?
fn is_keybox(data: &[u8]) -> bool {
    data.get(4) == Some(&1) && data.get(8..12) == Some(&b"KBXf"[..])
}

/// The OpenPGP key blocks of a GnuPG keybox, with their offsets in the file.
fn keybox_keyblocks(data: &[u8]) -> Result<Vec<(usize, &[u8])>, String> {
    let u32_at = |i: usize| -> Option<usize> {
        let b = data.get(i..i + 4)?;
        Some(usize::try_from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])).unwrap_or(usize::MAX))
    };
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < data.len() {
        let bad = |what: &str| format!("keybox blob at byte offset {pos}: {what}");
        let len = u32_at(pos).ok_or_else(|| bad("truncated blob header"))?;
        let end = pos
            .checked_add(len)
            .filter(|e| *e <= data.len() && len >= 5)
            .ok_or_else(|| bad("blob length runs past the end of the file"))?;
        // Blob types: 0 empty, 1 header, 2 OpenPGP, 3 X.509.
        if data.get(pos + 4) == Some(&2) {
            let off = u32_at(pos + 8).ok_or_else(|| bad("truncated OpenPGP blob"))?;
            let klen = u32_at(pos + 12).ok_or_else(|| bad("truncated OpenPGP blob"))?;
            let start = pos
                .checked_add(off)
                .ok_or_else(|| bad("key block offset overflows"))?;
            let block = start
                .checked_add(klen)
                .filter(|e| *e <= end)
                .and_then(|e| data.get(start..e))
                .ok_or_else(|| bad("key block lies outside its blob"))?;
            out.push((start, block));
        }
        pos = end;
    }
    Ok(out)
}

/// Reads a keyring file's bytes (module docs). `Err` carries the reason for refusing it.
pub(crate) fn read_keyring(bytes: &[u8]) -> Result<ReadKeyring, String> {
    let mut r = ReadKeyring {
        keys: Vec::new(),
        notes: Vec::new(),
    };
    if is_keybox(bytes) {
        for (offset, block) in keybox_keyblocks(bytes)? {
            read_binary(block, &format!("keybox key block at byte {offset}"), &mut r)?;
        }
    } else {
        let first = bytes
            .iter()
            .copied()
            .find(|b| !b.is_ascii_whitespace())
            .ok_or_else(|| "the keyring is empty".to_string())?;
        if first & 0x80 != 0 {
            read_binary(bytes, "", &mut r)?;
        } else {
            read_armored(bytes, &mut r)?;
        }
    }
    if r.keys.is_empty() {
        let mut reason = "no usable public key found".to_string();
        if !r.notes.is_empty() {
            reason.push_str(&format!(" ({})", r.notes.join("; ")));
        }
        return Err(reason);
    }
    Ok(r)
}

fn read_armored(bytes: &[u8], r: &mut ReadKeyring) -> Result<(), String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| "neither binary OpenPGP data nor ASCII armor".to_string())?;
    if text.contains("-----BEGIN PGP PRIVATE KEY BLOCK-----") {
        return Err("it contains a secret key; a keyring must hold only public keys".into());
    }
    const BEGIN: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
    let starts: Vec<usize> = text.match_indices(BEGIN).map(|(i, _)| i).collect();
    if starts.is_empty() {
        return Err(format!("no \"{BEGIN}\" block found"));
    }
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(text.len());
        let block = text.get(start..end).unwrap_or_default();
        let label = format!("armor block {}", n + 1);
        let mut dearmor = Dearmor::new(block.as_bytes());
        let mut data = Vec::new();
        dearmor
            .read_to_end(&mut data)
            .map_err(|e| format!("{label}: {e}"))?;
        if dearmor.typ != Some(BlockType::PublicKey) {
            return Err(format!("{label}: not a public key block"));
        }
        read_binary(&data, &label, r)?;
    }
    Ok(())
}

/// Reads the keys of one binary packet stream into `r`. `label` names the stream in notes
/// ("" for the whole file).
fn read_binary(data: &[u8], label: &str, r: &mut ReadKeyring) -> Result<(), String> {
    let at = |offset: usize| {
        if label.is_empty() {
            format!("byte offset {offset}")
        } else {
            format!("{label}, byte offset {offset}")
        }
    };
    let (packets, framing) = split_packets(data);
    // Group into key blocks, each starting at a public-key packet.
    let mut blocks: Vec<Vec<RawPacket<'_>>> = Vec::new();
    let mut stray = 0usize;
    for p in packets {
        match p.tag {
            tag::TRUST | tag::MARKER | tag::PADDING => {}
            tag::SECRET_KEY | tag::SECRET_SUBKEY => {
                return Err(format!(
                    "{}: a secret key packet; a keyring must hold only public keys",
                    at(p.offset)
                ));
            }
            tag::PUBLIC_KEY => blocks.push(vec![p]),
            tag::SIGNATURE | tag::USER_ID | tag::PUBLIC_SUBKEY | tag::USER_ATTRIBUTE => {
                match blocks.last_mut() {
                    Some(b) => b.push(p),
                    None => stray += 1,
                }
            }
            // Other packet types have no place in a keyring; GnuPG skips them.
            _ => {}
        }
    }
    if stray > 0 {
        r.notes.push(format!(
            "{}: {stray} packet(s) before the first public key ignored",
            at(0)
        ));
    }
    for block in blocks {
        if let Some(key) = assemble_key(&block, &at, &mut r.notes) {
            r.keys.push(key);
        }
    }
    if let Some(e) = framing {
        let where_ = if label.is_empty() {
            e
        } else {
            format!("{label}, {e}")
        };
        r.notes.push(format!("{where_}; the rest is unreadable"));
    }
    Ok(())
}

/// Builds one transferable public key from its packets, skipping what does not parse.
fn assemble_key(
    block: &[RawPacket<'_>],
    at: &dyn Fn(usize) -> String,
    notes: &mut Vec<String>,
) -> Option<SignedPublicKey> {
    let mut parsed: Vec<Packet> = Vec::with_capacity(block.len());
    // Signatures after a skipped user ID or subkey belong to it: skip them too.
    let mut skipping = false;
    let mut name = String::new();
    for raw in block {
        match (raw.tag, parse_packet(raw)) {
            (tag::SIGNATURE, Ok(p)) => {
                if !skipping {
                    parsed.push(p);
                }
            }
            // A signature GnuPG cannot use (unknown version or algorithm) is ignored.
            (tag::SIGNATURE, Err(_)) => {}
            (tag::PUBLIC_KEY, Ok(p)) => {
                if let Packet::PublicKey(k) = &p {
                    name = format!("{:X}", k.fingerprint());
                }
                parsed.push(p);
            }
            (tag::PUBLIC_KEY, Err(e)) => {
                notes.push(format!(
                    "{}: public key skipped (unreadable: {e})",
                    at(raw.offset)
                ));
                return None;
            }
            (_, Ok(p)) => {
                skipping = false;
                parsed.push(p);
            }
            (t, Err(e)) => {
                skipping = true;
                let what = if t == tag::PUBLIC_SUBKEY {
                    "subkey"
                } else {
                    "user ID"
                };
                notes.push(format!(
                    "{}: {what} of key {name} skipped (unreadable: {e})",
                    at(raw.offset)
                ));
            }
        }
    }
    let offset = block.first().map_or(0, |p| p.offset);
    let mut parser = SignedPublicKeyParser::from_packets(parsed.into_iter().map(Ok).peekable());
    match parser.next() {
        Some(Ok(key)) => Some(key),
        Some(Err(e)) => {
            notes.push(format!("{}: key {name} skipped ({e})", at(offset)));
            None
        }
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_reads_both_header_formats_and_refuses_truncation() {
        // New format, one-octet length 3; legacy format, one-octet length 1.
        let data = [0xc0 | 12, 3, 1, 2, 3, 0x80 | (12 << 2), 1, 9];
        let (p, err) = split_packets(&data);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(
            p.iter().map(|p| (p.tag, p.offset)).collect::<Vec<_>>(),
            [(12, 0), (12, 5)]
        );
        // Two-octet new-format length (192..=223 first octet): 192 + 1 = 193 bytes.
        let mut long = vec![0xc0 | 13, 192, 1];
        long.extend(std::iter::repeat_n(b'a', 193));
        let (p, err) = split_packets(&long);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].bytes.len(), long.len());
        // Truncated body.
        let (p, err) = split_packets(&[0xc0 | 6, 10, 1, 2]);
        assert!(p.is_empty());
        assert!(err.unwrap().contains("truncated"));
        // Partial body lengths are for data packets only.
        let (_, err) = split_packets(&[0xc0 | 6, 0xe1, 0, 0]);
        assert!(err.unwrap().contains("partial body length"));
        // Not a packet header.
        let (_, err) = split_packets(b"hello");
        assert!(err.unwrap().contains("not an OpenPGP packet header"));
    }

    #[test]
    fn damaged_keyrings_never_panic() {
        let key = crate::openpgp::RepoSigningKey::generate("Fuzz <f@mirror.invalid>").unwrap();
        let mut good = key.public_binary().unwrap();
        // A trust packet between two copies, so both paths (skip, assemble) are exercised.
        good.extend_from_slice(&[0xb0, 2, 0, 0]);
        good.extend(key.public_binary().unwrap());
        assert_eq!(read_keyring(&good).unwrap().keys.len(), 2);
        // Every truncation, and every single byte flipped three ways.
        for len in 0..good.len() {
            let _ = read_keyring(good.get(..len).unwrap());
        }
        for i in 0..good.len() {
            for x in [0x01u8, 0x80, 0xff] {
                let mut d = good.clone();
                d[i] ^= x;
                let _ = read_keyring(&d);
            }
        }
        // The same inside a keybox frame.
        let mut kbx = vec![0, 0, 0, 32, 1, 1, 0, 0];
        kbx.extend_from_slice(b"KBXf");
        kbx.resize(32, 0);
        let blob_len = u32::try_from(16 + good.len()).unwrap();
        kbx.extend_from_slice(&blob_len.to_be_bytes());
        kbx.extend_from_slice(&[2, 1, 0, 0]);
        kbx.extend_from_slice(&16u32.to_be_bytes());
        kbx.extend_from_slice(&u32::try_from(good.len()).unwrap().to_be_bytes());
        kbx.extend_from_slice(&good);
        assert_eq!(read_keyring(&kbx).unwrap().keys.len(), 2);
        for i in 0..48 {
            let mut d = kbx.clone();
            d[i] ^= 0xff;
            let _ = read_keyring(&d);
        }
    }

    #[test]
    fn keybox_blobs_outside_the_file_are_refused() {
        // Header blob (type 1, KBXf), then an OpenPGP blob claiming a key block past its end.
        let mut data = vec![0, 0, 0, 32, 1, 1, 0, 0];
        data.extend_from_slice(b"KBXf");
        data.resize(32, 0);
        data.extend_from_slice(&[0, 0, 0, 16, 2, 1, 0, 0, 0, 0, 0, 16, 0, 0, 0, 99]);
        assert!(is_keybox(&data));
        let err = keybox_keyblocks(&data).unwrap_err();
        assert!(err.contains("outside its blob"), "{err}");
        assert!(read_keyring(&data).is_err());
    }
}
