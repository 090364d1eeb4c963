//! Unit tests of [`crate::receipt`].

use super::*;

fn digests(n: u8) -> BTreeSet<Digest> {
    (0..n).map(|i| Digest::of(&[i])).collect()
}

fn sample() -> Receipt {
    Receipt {
        receipt_version: RECEIPT_VERSION,
        site: "ed25519:0011223344556677".into(),
        site_public_key: "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"
            .into(),
        created: "2026-11-21T15:10:59Z".into(),
        live: BTreeMap::from([("cube-stable".into(), "cube-stable/41".into())]),
        snapshots: vec![
            SnapshotEntry {
                name: "cube-stable/40".into(),
                manifest: Digest::of(b"m40"),
                live: false,
                pinned: true,
            },
            SnapshotEntry {
                name: "cube-stable/41".into(),
                manifest: Digest::of(b"m41"),
                live: true,
                pinned: false,
            },
        ],
        blobs: encode_blobs(&digests(5)),
    }
}

/// A blob set whose data is `raw` gzipped, with `count` declared.
fn raw_set(raw: &[u8], count: u64) -> BlobSet {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(raw).unwrap();
    BlobSet {
        count,
        encoding: BLOB_ENCODING.into(),
        data: STANDARD.encode(gz.finish().unwrap()),
    }
}

#[test]
fn pae_matches_the_dsse_spec_example() {
    // DSSE protocol.md test vector.
    assert_eq!(
        pae("http://example.com/HelloWorld", b"hello world"),
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
    );
    assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
}

#[test]
fn blobs_round_trip_sorted() {
    let set = digests(200);
    let b = encode_blobs(&set);
    assert_eq!(b.count, 200);
    assert_eq!(b.encoding, BLOB_ENCODING);
    assert_eq!(b.digests().unwrap(), set);
    // The raw data is the sorted concatenation.
    let raw: Vec<u8> = set.iter().flat_map(|d| d.as_bytes().to_vec()).collect();
    assert_eq!(raw_set(&raw, 200).digests().unwrap(), set);
    // Empty set.
    let e = encode_blobs(&BTreeSet::new());
    assert_eq!(e.count, 0);
    assert!(e.digests().unwrap().is_empty());
}

#[test]
fn blob_sets_readers_must_refuse() {
    let set = digests(3);
    let sorted: Vec<[u8; 32]> = set.iter().map(|d| *d.as_bytes()).collect();
    let cat = |v: &[[u8; 32]]| v.iter().flatten().copied().collect::<Vec<u8>>();

    let mut b = encode_blobs(&set);
    b.count = 4;
    assert_eq!(
        b.digests().unwrap_err(),
        ReceiptError::CountMismatch { count: 4, found: 3 }
    );

    let unsorted = [sorted[1], sorted[0], sorted[2]];
    let e = raw_set(&cat(&unsorted), 3).digests().unwrap_err();
    assert!(matches!(e, ReceiptError::Unsorted { index: 1, .. }), "{e}");

    let dup = [sorted[0], sorted[1], sorted[1]];
    let e = raw_set(&cat(&dup), 3).digests().unwrap_err();
    assert!(matches!(e, ReceiptError::Unsorted { index: 2, .. }), "{e}");

    let mut short = cat(&sorted);
    short.pop();
    assert_eq!(
        raw_set(&short, 3).digests().unwrap_err(),
        ReceiptError::BlobDataLength(95)
    );

    let mut b = encode_blobs(&set);
    b.data.insert(3, '!');
    assert!(matches!(
        b.digests().unwrap_err(),
        ReceiptError::Base64 { .. }
    ));

    let b = BlobSet {
        data: STANDARD.encode(b"not gzip at all"),
        ..encode_blobs(&set)
    };
    assert!(matches!(b.digests().unwrap_err(), ReceiptError::Gzip(_)));

    let b = BlobSet {
        encoding: "sha512-plain".into(),
        ..encode_blobs(&set)
    };
    assert_eq!(
        b.digests().unwrap_err(),
        ReceiptError::UnknownEncoding("sha512-plain".into())
    );
}

#[test]
fn gzip_bomb_stops_at_the_limit() {
    // 257 MiB of zeros compress to about 260 KiB.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..257 {
        gz.write_all(&zeros).unwrap();
    }
    let b = BlobSet {
        count: 1,
        encoding: BLOB_ENCODING.into(),
        data: STANDARD.encode(gz.finish().unwrap()),
    };
    let e = b.digests().unwrap_err();
    assert!(
        matches!(
            e,
            ReceiptError::TooLarge {
                limit: MAX_BLOB_DATA_BYTES,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("268435456-byte limit"), "{e}");
}

#[test]
fn payload_round_trips_and_validates() {
    let r = sample();
    let bytes = r.to_bytes();
    assert!(bytes.ends_with(b"}\n"));
    assert_eq!(Receipt::from_slice(&bytes).unwrap(), r);

    let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    v["receipt_version"] = 2.into();
    v["snapshots"] = "garbage".into();
    assert_eq!(
        Receipt::from_slice(&serde_json::to_vec(&v).unwrap()).unwrap_err(),
        ReceiptError::UnknownVersion { found: 2 }
    );

    // Unknown fields are ignored.
    let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    v["future_field"] = 1.into();
    assert_eq!(
        Receipt::from_slice(&serde_json::to_vec(&v).unwrap()).unwrap(),
        r
    );
}

#[test]
fn duplicate_keys_are_refused() {
    let text = String::from_utf8(sample().to_bytes()).unwrap();
    let dup = text.replacen(
        "\"cube-stable\": \"cube-stable/41\"",
        "\"cube-stable\": \"cube-stable/41\",\n    \"cube-stable\": \"cube-stable/40\"",
        1,
    );
    assert_ne!(dup, text);
    let e = Receipt::from_slice(dup.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("duplicate"), "{e}");
    let dup = text.replacen(
        "\"created\": ",
        "\"created\": \"2020-01-01T00:00:00Z\",\n  \"created\": ",
        1,
    );
    let e = Receipt::from_slice(dup.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("duplicate"), "{e}");
}

#[test]
fn inconsistent_payloads_are_refused() {
    type Case = (&'static str, Box<dyn Fn(&mut Receipt)>);
    let cases: Vec<Case> = vec![
        ("key id", Box::new(|r| r.site = "ed25519:XYZ".into())),
        ("PEM", Box::new(|r| r.site_public_key = "hello".into())),
        ("RFC 3339", Box::new(|r| r.created = "yesterday".into())),
        (
            "not <channel>",
            Box::new(|r| r.snapshots[0].name = "a/b/c".into()),
        ),
        (
            "not <channel>",
            Box::new(|r| r.snapshots[0].name = "a/0".into()),
        ),
        (
            "listed twice",
            Box::new(|r| {
                let s = r.snapshots[1].clone();
                r.snapshots.push(s)
            }),
        ),
        (
            "not among",
            Box::new(|r| {
                r.live.insert("other".into(), "other/1".into());
            }),
        ),
        (
            "another channel",
            Box::new(|r| {
                r.live.insert("x".into(), "cube-stable/41".into());
            }),
        ),
        ("live: false", Box::new(|r| r.snapshots[1].live = false)),
        ("does not name it", Box::new(|r| r.snapshots[0].live = true)),
        (
            "unknown blob encoding",
            Box::new(|r| r.blobs.encoding = "zstd".into()),
        ),
    ];
    for (needle, f) in cases {
        let mut r = sample();
        f(&mut r);
        let e = Receipt::from_slice(&r.to_bytes()).unwrap_err();
        assert!(e.to_string().contains(needle), "{needle}: {e}");
    }
}

#[test]
fn envelope_round_trips() {
    let payload = sample().to_bytes();
    let mut env = Envelope::new(payload.clone());
    env.add_signature("ed25519:0011223344556677", &[7u8; 64]);
    let bytes = env.to_bytes();
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(
        text.starts_with(&format!(
            "{{\"payloadType\":\"{PAYLOAD_TYPE}\",\"payload\":\""
        )),
        "{text}"
    );
    assert!(text.ends_with("}\n"));
    let back = Envelope::parse(&bytes).unwrap();
    assert_eq!(back, env);
    assert_eq!(back.pae(), pae(PAYLOAD_TYPE, &payload));
    // Standard base64 as written; URL-safe is read too.
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        STANDARD.decode(v["payload"].as_str().unwrap()).unwrap(),
        payload
    );
}

#[test]
fn envelopes_readers_must_refuse() {
    let mut env = Envelope::new(b"{}".to_vec());
    env.add_signature("k", &[1u8; 64]);
    let good: serde_json::Value = serde_json::from_slice(&env.to_bytes()).unwrap();
    let parse = |v: &serde_json::Value| Envelope::parse(&serde_json::to_vec(v).unwrap());

    let mut v = good.clone();
    v["payloadType"] = "application/vnd.in-toto+json".into();
    assert!(matches!(parse(&v), Err(ReceiptError::PayloadType(_))));

    let mut v = good.clone();
    v["signatures"] = serde_json::json!([]);
    assert_eq!(parse(&v).unwrap_err(), ReceiptError::Unsigned);

    let mut v = good.clone();
    v["payload"] = "***".into();
    assert!(matches!(parse(&v), Err(ReceiptError::Base64 { .. })));

    let mut v = good.clone();
    v["signatures"][0]["sig"] = "%%".into();
    let e = parse(&v).unwrap_err();
    assert!(e.to_string().contains("signatures[0].sig"), "{e}");

    assert!(matches!(
        Envelope::parse(b"not json"),
        Err(ReceiptError::Malformed { .. })
    ));
    let text = String::from_utf8(env.to_bytes()).unwrap();
    let dup = text.replacen(
        "{\"payloadType\"",
        "{\"payload\":\"e30=\",\"payloadType\"",
        1,
    );
    let e = Envelope::parse(dup.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("duplicate"), "{e}");
}
