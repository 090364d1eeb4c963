//! The contract of [`BlobStore`], written against the trait so that every backend runs
//! the same checks; here on the file-system backend ([`Cas`]).

use std::io::{Read, Write};

use super::*;
use crate::Cas;

fn fs_backend() -> (tempfile::TempDir, Cas) {
    let dir = tempfile::tempdir().unwrap();
    let cas = Cas::open(&dir.path().join("store")).unwrap();
    (dir, cas)
}

fn put<S: BlobStore>(s: &S, bytes: &[u8]) -> Digest {
    let mut w = s.writer().unwrap();
    w.write_all(bytes).unwrap();
    let d = Digest::of(bytes);
    assert_eq!(
        w.commit(&Expected::exact(d, bytes.len() as u64)).unwrap(),
        (d, bytes.len() as u64)
    );
    d
}

fn read_all(mut r: BlobReader) -> Vec<u8> {
    let mut out = Vec::new();
    r.read_to_end(&mut out).unwrap();
    assert_eq!(out.len() as u64, r.len());
    out
}

fn range_reads_at_the_edges<S: BlobStore>(s: &S) {
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let d = put(s, &data);
    assert_eq!(s.stat(&d).unwrap(), Some(1000));
    assert!(s.exists(&d).unwrap());
    let whole = s.reader(&d).unwrap();
    assert_eq!((whole.range(), whole.blob_size()), (0..1000, 1000));
    assert_eq!(read_all(whole), data);
    for r in [
        0..1,
        0..1000,
        999..1000,
        1000..1000,
        0..0,
        10..20,
        500..1000,
    ] {
        let reader = s.open_range(&d, r.clone()).unwrap();
        assert_eq!(reader.range(), r);
        assert_eq!(reader.blob_size(), 1000);
        assert_eq!(reader.is_empty(), r.is_empty());
        let want = &data[r.start as usize..r.end as usize];
        assert_eq!(read_all(reader), want, "{r:?}");
    }
    #[allow(clippy::reversed_empty_ranges)]
    for r in [0..1001, 1000..1001, 1001..1001, 20..10] {
        let err = s.open_range(&d, r.clone()).unwrap_err();
        assert!(
            matches!(err, CasError::Range { start, end, size: 1000, .. } if start == r.start && end == r.end),
            "{r:?}: {err}"
        );
    }
    let absent = Digest::of(b"absent");
    assert_eq!(s.stat(&absent).unwrap(), None);
    assert!(matches!(
        s.open_range(&absent, 0..0),
        Err(CasError::Missing(_))
    ));
    assert!(matches!(s.reader(&absent), Err(CasError::Missing(_))));
}

fn a_mismatched_write_is_not_published<S: BlobStore>(s: &S) {
    let claimed = Digest::of(b"the real thing");
    let mut w = s.writer().unwrap();
    w.write_all(b"something else").unwrap();
    assert_eq!(w.bytes_written(), 14);
    let err = w.commit(&Expected::exact(claimed, 14)).unwrap_err();
    assert!(
        matches!(err, CasError::Mismatch { ref what, .. } if what == "sha256"),
        "{err}"
    );
    assert_eq!(s.stat(&claimed).unwrap(), None);
    assert_eq!(s.stat(&Digest::of(b"something else")).unwrap(), None);
    assert!(s.list().unwrap().is_empty());
    let mut w = s.writer().unwrap();
    w.write_all(b"short").unwrap();
    let err = w
        .commit(&Expected::exact(Digest::of(b"short"), 6))
        .unwrap_err();
    assert!(
        matches!(err, CasError::Mismatch { ref what, .. } if what == "size"),
        "{err}"
    );
    assert!(s.list().unwrap().is_empty());
}

fn concurrent_writers_of_one_blob<S: BlobStore + Sync>(s: &S) {
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let d = Digest::of(&data);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    let mut w = s.writer().unwrap();
                    for chunk in data.chunks(4096) {
                        w.write_all(chunk).unwrap();
                    }
                    w.commit(&Expected::exact(d, data.len() as u64)).unwrap()
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), (d, data.len() as u64));
        }
    });
    assert_eq!(s.list().unwrap(), vec![d]);
    assert_eq!(s.read_bytes(&d, u64::MAX).unwrap(), data);
    assert_eq!(s.delete(&d).unwrap(), Some(data.len() as u64));
    assert_eq!(s.delete(&d).unwrap(), None);
    assert!(!s.exists(&d).unwrap());
}

fn a_crash_mid_write_leaves_nothing_visible<S: BlobStore>(s: &S) {
    let data = b"half of it";
    let d = Digest::of(data);
    let mut w = s.writer().unwrap();
    w.write_all(&data[..4]).unwrap();
    drop(w); // an error or a panic on the way
    let mut w = s.writer().unwrap();
    w.write_all(&data[..4]).unwrap();
    std::mem::forget(w); // a crash: no destructor runs
    assert_eq!(s.stat(&d).unwrap(), None);
    assert_eq!(s.stat(&Digest::of(&data[..4])).unwrap(), None);
    assert!(s.list().unwrap().is_empty());
}

fn seeks_read_the_same_bytes_as_ranges<S: BlobStore>(s: &S) {
    use std::io::{Seek, SeekFrom};
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let d = put(s, &data);
    let mut b = SeekableBlob::open(s, &d).unwrap();
    assert_eq!(b.size(), data.len() as u64);
    let mut buf = [0u8; 10];
    // From the end, from the start, relative both ways, and a read across a reopen.
    assert_eq!(b.seek(SeekFrom::End(-10)).unwrap(), 99_990);
    b.read_exact(&mut buf).unwrap();
    assert_eq!(buf, data[99_990..]);
    assert_eq!(b.read(&mut buf).unwrap(), 0, "at the end");
    b.seek(SeekFrom::Start(5)).unwrap();
    b.read_exact(&mut buf).unwrap();
    assert_eq!(buf, data[5..15]);
    assert_eq!(b.seek(SeekFrom::Current(-3)).unwrap(), 12);
    b.read_exact(&mut buf).unwrap();
    assert_eq!(buf, data[12..22]);
    assert_eq!(b.seek(SeekFrom::Current(50_000)).unwrap(), 50_022);
    let mut rest = Vec::new();
    b.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, data[50_022..]);
    // Past the end reads nothing; before the start is refused and the position stays.
    b.seek(SeekFrom::Start(200_000)).unwrap();
    assert_eq!(b.read(&mut buf).unwrap(), 0);
    let err = b.seek(SeekFrom::Current(-300_000)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(b.stream_position().unwrap(), 200_000);
    // A blob the store does not hold.
    assert!(matches!(
        SeekableBlob::open(s, &Digest::of(b"absent")),
        Err(CasError::Missing(_))
    ));
    // Deleted underneath an open handle: the next reopen says so.
    let mut b = SeekableBlob::open(s, &d).unwrap();
    s.delete(&d).unwrap();
    let err = b.read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn fs_seeks_read_the_same_bytes_as_ranges() {
    let (_d, cas) = fs_backend();
    seeks_read_the_same_bytes_as_ranges(&cas);
}

#[test]
fn fs_range_reads_at_the_edges() {
    let (_d, cas) = fs_backend();
    range_reads_at_the_edges(&cas);
}

#[test]
fn fs_a_mismatched_write_is_not_published() {
    let (_d, cas) = fs_backend();
    a_mismatched_write_is_not_published(&cas);
    assert_eq!(std::fs::read_dir(cas.tmp_dir()).unwrap().count(), 0);
}

#[test]
fn fs_concurrent_writers_of_one_blob() {
    let (_d, cas) = fs_backend();
    concurrent_writers_of_one_blob(&cas);
    assert_eq!(std::fs::read_dir(cas.tmp_dir()).unwrap().count(), 0);
}

#[test]
fn fs_a_crash_mid_write_leaves_nothing_visible() {
    let (_d, cas) = fs_backend();
    a_crash_mid_write_leaves_nothing_visible(&cas);
    // The forgotten writer's temp file stays in tmp/ under the blob-temp prefix, where the
    // stale-staging sweep finds it once its process is gone.
    let left: Vec<String> = std::fs::read_dir(cas.tmp_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left.len(), 1);
    assert!(
        left[0].starts_with(crate::layout::BLOB_TEMP_PREFIX),
        "{left:?}"
    );
}
