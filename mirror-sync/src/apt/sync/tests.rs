use formats::digest::Digest;
use formats::snapshot::{Artifact, ArtifactKind, Meta, Source, SourceKind};

use super::*;
use crate::state::AptIndexState;

#[test]
fn put_once_leaves_a_stored_blob_alone() {
    use std::os::unix::fs::MetadataExt as _;
    let dir = tempfile::tempdir().unwrap();
    let cas = std::sync::Arc::new(store::Cas::open(dir.path()).unwrap());
    let f = Fetcher::new(
        cas.clone(),
        1,
        1,
        std::time::Duration::from_secs(5),
        crate::progress::Progress::hidden(),
    )
    .unwrap();
    let body = b"Origin: Example\n";
    let d = put_once(&f, body, None).unwrap();
    assert_eq!(d, Digest::of(body));
    let ino = std::fs::metadata(cas.blob_path(&d)).unwrap().ino();
    // Again, with the digest given: the same file, not a rewritten one.
    assert_eq!(put_once(&f, body, Some(d)).unwrap(), d);
    assert_eq!(std::fs::metadata(cas.blob_path(&d)).unwrap().ino(), ino);
    // A file of another size under a blob's name (a torn write) is replaced.
    let other = b"Origin: Other\n";
    let d2 = Digest::of(other);
    std::fs::write(cas.blob_path(&d2), &other[..4]).unwrap();
    assert_eq!(put_once(&f, other, Some(d2)).unwrap(), d2);
    assert_eq!(std::fs::read(cas.blob_path(&d2)).unwrap(), other);
}

#[test]
fn sha512_only_entries_map_to_stored_digests() {
    let d = Digest::of(b"deb bytes");
    let prev = UpstreamState {
        name: "nv".into(),
        synced_at: String::new(),
        source: Source::new("nv", SourceKind::Apt, "http://flat.example/"),
        artifacts: vec![Artifact {
            kind: ArtifactKind::Deb,
            upstream: Some("nv".into()),
            path: "apt/nv/tk_1.0_amd64.deb".into(),
            digest: d,
            size: 9,
            media_type: None,
            meta: Meta::default(),
        }],
        apt_indexes: vec![AptIndexState {
            suite: None,
            component: None,
            architecture: None,
            stanzas: vec![
                "Package: tk\nVersion: 1.0\nArchitecture: amd64\nFilename: ./tk_1.0_amd64.deb\nSize: 9\nSHA512: ABCDEF".into(),
                "Package: other\nFilename: ./other.deb\nSHA512: 1234".into(),
            ],
        }],
        apt_suites: vec![],
    };
    let m = sha512_digests(&prev, "nv");
    assert_eq!(m.len(), 1, "only files that were stored: {m:?}");
    assert_eq!(
        m.get(&("tk_1.0_amd64.deb".to_owned(), "abcdef".to_owned())),
        Some(&d)
    );
}
