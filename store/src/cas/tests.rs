use super::*;
use sha2::{Digest as _, Sha512};

fn store() -> (tempfile::TempDir, Cas) {
    let dir = tempfile::tempdir().unwrap();
    let cas = Cas::open(&dir.path().join("store")).unwrap();
    (dir, cas)
}

fn tmp_is_empty(cas: &Cas) -> bool {
    fs::read_dir(cas.tmp_dir()).unwrap().next().is_none()
}

#[test]
fn put_read_contains() {
    let (_d, cas) = store();
    let d = cas.put_bytes(b"hello").unwrap();
    assert_eq!(d, Digest::of(b"hello"));
    assert_eq!(cas.contains(&d).unwrap(), Some(5));
    assert_eq!(cas.read_bytes(&d, 5).unwrap(), b"hello");
    assert!(matches!(
        cas.read_bytes(&d, 4),
        Err(CasError::TooLarge {
            size: 5,
            max: 4,
            ..
        })
    ));
    assert!(
        cas.blob_path(&d)
            .ends_with(format!("blobs/sha256/{}", d.hex()))
    );
    // Putting it again is a no-op: the same file (inode) stays, nothing is rewritten.
    use std::os::unix::fs::MetadataExt;
    let ino = fs::metadata(cas.blob_path(&d)).unwrap().ino();
    assert_eq!(cas.put_bytes(b"hello").unwrap(), d);
    assert_eq!(fs::metadata(cas.blob_path(&d)).unwrap().ino(), ino);
    assert_eq!(cas.iter_digests().unwrap(), vec![d]);
    assert!(tmp_is_empty(&cas));
}

#[test]
fn missing_blob() {
    let (_d, cas) = store();
    let d = Digest::of(b"nope");
    assert_eq!(cas.contains(&d).unwrap(), None);
    assert!(matches!(cas.read_bytes(&d, 10), Err(CasError::Missing(x)) if x == d));
}

#[test]
fn writer_mismatch_removes_temp_and_stores_nothing() {
    let (_d, cas) = store();
    let mut w = cas.writer().unwrap();
    w.write_all(b"abc").unwrap();
    assert_eq!(w.bytes_written(), 3);
    let err = w
        .commit(&Expected::exact(Digest::of(b"abd"), 3))
        .unwrap_err();
    match err {
        CasError::Mismatch {
            what,
            expected,
            actual,
        } => {
            assert_eq!(what, "sha256");
            assert_eq!(expected, Digest::of(b"abd").to_string());
            assert_eq!(actual, Digest::of(b"abc").to_string());
        }
        other => panic!("{other}"),
    }
    let mut w = cas.writer().unwrap();
    w.write_all(b"abc").unwrap();
    let err = w
        .commit(&Expected {
            size: Some(4),
            ..Expected::default()
        })
        .unwrap_err();
    assert!(
        matches!(err, CasError::Mismatch { ref what, .. } if what == "size"),
        "{err}"
    );
    assert!(tmp_is_empty(&cas));
    assert!(cas.iter_digests().unwrap().is_empty());
}

#[test]
fn sha512_is_checked() {
    let (_d, cas) = store();
    let good = hex::encode(Sha512::digest(b"data"));
    let mut w = cas.writer_with_sha512().unwrap();
    w.write_all(b"data").unwrap();
    w.commit(&Expected {
        sha512_hex: Some(good.to_uppercase()),
        ..Expected::default()
    })
    .unwrap();
    let mut w = cas.writer_with_sha512().unwrap();
    w.write_all(b"datb").unwrap();
    let err = w
        .commit(&Expected {
            sha512_hex: Some(good),
            ..Expected::default()
        })
        .unwrap_err();
    assert!(
        matches!(err, CasError::Mismatch { ref what, .. } if what == "sha512"),
        "{err}"
    );
    assert!(tmp_is_empty(&cas));
}

#[test]
fn dropped_writer_removes_temp() {
    let (_d, cas) = store();
    let mut w = cas.writer().unwrap();
    w.write_all(b"partial").unwrap();
    let p = w.temp_path().to_path_buf();
    assert!(p.exists());
    drop(w);
    assert!(!p.exists());
}

#[test]
fn copy_in_and_verify() {
    let (dir, cas) = store();
    let src = dir.path().join("src.bin");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(&src, &data).unwrap();
    let want = Digest::of(&data);
    let (d, n) = cas
        .copy_in(&src, &Expected::exact(want, data.len() as u64))
        .unwrap();
    assert_eq!((d, n), (want, data.len() as u64));
    cas.verify_blob(&d).unwrap();
    // Already present: no copy even if the source vanished.
    fs::remove_file(&src).unwrap();
    assert_eq!(
        cas.copy_in(&src, &Expected::exact(want, data.len() as u64))
            .unwrap(),
        (want, data.len() as u64)
    );
    // Damage on disk is detected.
    fs::write(cas.blob_path(&d), b"damaged").unwrap();
    assert!(matches!(
        cas.verify_blob(&d),
        Err(CasError::Mismatch { .. })
    ));
    assert!(matches!(
        cas.read_bytes(&d, u64::MAX),
        Err(CasError::Mismatch { .. })
    ));
}

#[test]
fn hash_and_remove() {
    let (_d, cas) = store();
    let d = cas.put_bytes(b"content").unwrap();
    let mut seen = 0;
    assert_eq!(cas.hash_blob(&d, |n| seen += n).unwrap(), (d, 7));
    assert_eq!(seen, 7);
    fs::write(cas.blob_path(&d), b"changed!").unwrap();
    assert_eq!(
        cas.hash_blob(&d, |_| {}).unwrap(),
        (Digest::of(b"changed!"), 8)
    );
    assert_eq!(cas.remove_blob(&d).unwrap(), Some(8));
    assert_eq!(cas.remove_blob(&d).unwrap(), None);
    assert!(matches!(
        cas.hash_blob(&d, |_| {}),
        Err(CasError::Missing(_))
    ));
}

#[test]
fn symlink_is_not_a_blob() {
    let (dir, cas) = store();
    let target = dir.path().join("target");
    fs::write(&target, b"x").unwrap();
    let d = Digest::of(b"x");
    std::os::unix::fs::symlink(&target, cas.blob_path(&d)).unwrap();
    assert_eq!(cas.contains(&d).unwrap(), None);
    assert!(matches!(cas.open_blob(&d), Err(CasError::Missing(_))));
    assert!(cas.iter_digests().unwrap().is_empty());
    // Committing the real content replaces the link with a regular file.
    assert_eq!(cas.put_bytes(b"x").unwrap(), d);
    assert_eq!(cas.contains(&d).unwrap(), Some(1));
    assert!(
        fs::symlink_metadata(cas.blob_path(&d))
            .unwrap()
            .file_type()
            .is_file()
    );
}

#[test]
fn adopt_moves_from_staging() {
    let (dir, cas) = store();
    let staging = Cas::open(&dir.path().join("store/tmp/import-1")).unwrap();
    let d = staging.put_bytes(b"staged").unwrap();
    assert_eq!(cas.contains(&d).unwrap(), None);
    cas.adopt(&staging, &d).unwrap();
    assert_eq!(cas.contains(&d).unwrap(), Some(6));
    assert_eq!(staging.contains(&d).unwrap(), None);
}

#[test]
fn unsynced_commit_checks_as_commit_and_adopt_unsynced_reports_renames() {
    let (dir, cas) = store();
    let staging = Cas::open(&dir.path().join("store/tmp/resume-1")).unwrap();
    // A mismatch publishes nothing and leaves no temp file, as commit does.
    let mut w = staging.writer().unwrap();
    w.write_all(b"batch").unwrap();
    let wrong = Digest::of(b"other");
    assert!(matches!(
        w.commit_unsynced(&Expected::exact(wrong, 5)),
        Err(CasError::Mismatch { .. })
    ));
    assert_eq!(staging.contains(&wrong).unwrap(), None);
    assert!(tmp_is_empty(&staging));
    let mut w = staging.writer().unwrap();
    w.write_all(b"batch").unwrap();
    let d = Digest::of(b"batch");
    assert_eq!(w.commit_unsynced(&Expected::exact(d, 5)).unwrap(), (d, 5));
    assert!(tmp_is_empty(&staging));
    crate::fsio::sync_filesystem(staging.root()).unwrap();
    assert_eq!(staging.read_bytes(&d, 5).unwrap(), b"batch");
    // Renamed in: true; already held: the staged copy is dropped, false.
    assert!(cas.adopt_unsynced(&staging, &d).unwrap());
    assert_eq!(cas.contains(&d).unwrap(), Some(5));
    assert_eq!(staging.contains(&d).unwrap(), None);
    let again = staging.put_bytes(b"batch").unwrap();
    assert!(!cas.adopt_unsynced(&staging, &again).unwrap());
    assert_eq!(staging.contains(&d).unwrap(), None);
    assert!(matches!(
        cas.adopt_unsynced(&staging, &d),
        Err(CasError::Missing(_))
    ));
}

#[test]
fn open_regular_refuses_links_and_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    fs::write(&f, b"1").unwrap();
    let l = dir.path().join("l");
    std::os::unix::fs::symlink(&f, &l).unwrap();
    assert!(open_regular(&f).is_ok());
    assert_eq!(
        open_regular(&l).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    assert_eq!(
        open_regular(dir.path()).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    assert_eq!(
        open_regular(&dir.path().join("none")).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
}

#[test]
fn resume_writer_continues_a_kept_partial() {
    let (_d, cas) = store();
    let data = b"hello resumable world";
    let d = Digest::of(data);
    let mut w = cas.resume_writer(&d, true).unwrap();
    assert!(w.is_resumable());
    assert_eq!(w.bytes_written(), 0);
    w.write_all(&data[..8]).unwrap();
    drop(w); // a cut connection or a killed process: the partial stays
    assert_eq!(fs::read(cas.partial_path(&d)).unwrap(), &data[..8]);
    let mut w = cas.resume_writer(&d, true).unwrap();
    assert_eq!(w.bytes_written(), 8, "re-hashed what was on disk");
    w.write_all(&data[8..]).unwrap();
    let sha512 = hex::encode(Sha512::digest(data));
    let got = w
        .commit(&Expected {
            sha512_hex: Some(sha512),
            ..Expected::exact(d, data.len() as u64)
        })
        .unwrap();
    assert_eq!(got, (d, data.len() as u64));
    assert_eq!(cas.read_bytes(&d, 100).unwrap(), data);
    assert!(!cas.partial_path(&d).exists());
    assert!(tmp_is_empty(&cas));
}

#[test]
fn resumed_partial_with_wrong_bytes_is_refused_and_removed() {
    let (_d, cas) = store();
    let data = b"the right content";
    let d = Digest::of(data);
    let mut w = cas.resume_writer(&d, false).unwrap();
    w.write_all(b"THE WRONG").unwrap(); // e.g. damaged by a crash
    drop(w);
    let mut w = cas.resume_writer(&d, false).unwrap();
    w.write_all(&data[9..]).unwrap();
    let err = w
        .commit(&Expected::exact(d, data.len() as u64))
        .unwrap_err();
    assert!(matches!(err, CasError::Mismatch { ref what, .. } if what == "sha256"));
    assert_eq!(cas.contains(&d).unwrap(), None);
    assert!(tmp_is_empty(&cas), "a rejected partial is not resumed");
    assert_eq!(cas.resume_writer(&d, false).unwrap().bytes_written(), 0);
}

#[test]
fn discard_and_remove_partial() {
    let (_d, cas) = store();
    let d = Digest::of(b"x");
    let mut w = cas.resume_writer(&d, false).unwrap();
    w.write_all(b"abc").unwrap();
    w.discard();
    assert!(tmp_is_empty(&cas));
    let mut w = cas.resume_writer(&d, false).unwrap();
    w.write_all(b"abc").unwrap();
    // Held: not removed.
    assert!(!cas.remove_partial(&d).unwrap());
    drop(w);
    assert!(cas.remove_partial(&d).unwrap());
    assert!(!cas.remove_partial(&d).unwrap());
    assert!(tmp_is_empty(&cas));
}

#[test]
fn a_held_partial_is_not_shared() {
    let (_d, cas) = store();
    let d = Digest::of(b"shared");
    let mut first = cas.resume_writer(&d, false).unwrap();
    first.write_all(b"sha").unwrap();
    let mut second = cas.resume_writer(&d, false).unwrap();
    assert!(!second.is_resumable(), "falls back to a private temp file");
    assert_eq!(second.bytes_written(), 0);
    assert_ne!(second.temp_path(), first.temp_path());
    second.write_all(b"shared").unwrap();
    assert_eq!(second.commit(&Expected::exact(d, 6)).unwrap(), (d, 6));
    first.write_all(b"red").unwrap();
    // Already stored by the other writer: the partial is removed.
    assert_eq!(first.commit(&Expected::exact(d, 6)).unwrap(), (d, 6));
    assert!(tmp_is_empty(&cas));
}

#[test]
fn a_link_at_the_partial_name_is_never_followed() {
    let (dir, cas) = store();
    let d = Digest::of(b"linked");
    let target = dir.path().join("outside");
    fs::write(&target, b"keep me").unwrap();
    std::os::unix::fs::symlink(&target, cas.partial_path(&d)).unwrap();
    let mut w = cas.resume_writer(&d, false).unwrap();
    assert!(!w.is_resumable());
    assert_eq!(w.bytes_written(), 0);
    w.write_all(b"linked").unwrap();
    w.commit(&Expected::exact(d, 6)).unwrap();
    assert_eq!(fs::read(&target).unwrap(), b"keep me");
    assert!(
        fs::symlink_metadata(cas.partial_path(&d))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn readers_refuse_a_link_at_the_blob_name() {
    let (dir, cas) = store();
    let target = dir.path().join("outside");
    fs::write(&target, b"not a blob").unwrap();
    let d = Digest::of(b"not a blob");
    std::os::unix::fs::symlink(&target, cas.blob_path(&d)).unwrap();
    assert_eq!(cas.stat(&d).unwrap(), None);
    assert!(matches!(cas.reader(&d), Err(CasError::Missing(_))));
    assert!(matches!(
        cas.open_range(&d, 0..1),
        Err(CasError::Missing(_))
    ));
}

#[test]
fn append_from_copies_in_the_kernel_and_hashes_what_landed() {
    let (dir, cas) = store();
    let src_path = dir.path().join("src");
    let data: Vec<u8> = (0..1_000_003u32).map(|i| (i % 241) as u8).collect();
    fs::write(&src_path, &data).unwrap();
    let src = LocalBlob::new(File::open(&src_path).unwrap(), data.len() as u64);
    // Mixed: a plain write first (an odd length, so the next mapping starts mid-page),
    // then kernel copies in uneven steps.
    let mut w = cas.writer_with_sha512().unwrap();
    w.write_all(&data[..777]).unwrap();
    for r in [777u64..70_000, 70_000..70_001, 70_001..1_000_003] {
        assert_eq!(w.append_from(&src, r.clone()).unwrap(), r.end - r.start);
    }
    assert_eq!(w.bytes_written(), data.len() as u64);
    let sha512 = hex::encode(Sha512::digest(&data));
    let mut want = Expected::exact(Digest::of(&data), data.len() as u64);
    want.sha512_hex = Some(sha512);
    let (d, n) = w.commit(&want).unwrap();
    assert_eq!((d, n), (Digest::of(&data), data.len() as u64));
    assert_eq!(fs::read(cas.blob_path(&d)).unwrap(), data);

    // A source that differs from what is expected by one byte is refused, and nothing is
    // stored.
    let mut other = data.clone();
    other[500_000] ^= 1;
    fs::write(&src_path, &other).unwrap();
    let src = LocalBlob::new(File::open(&src_path).unwrap(), other.len() as u64);
    let (_d2, cas2) = store();
    let mut w = cas2.writer().unwrap();
    w.append_from(&src, 0..other.len() as u64).unwrap();
    assert!(matches!(
        w.commit(&Expected::exact(Digest::of(&data), data.len() as u64)),
        Err(CasError::Mismatch { .. })
    ));
    assert!(cas2.contains(&Digest::of(&data)).unwrap().is_none());
    assert!(tmp_is_empty(&cas2));

    // A source that ends early is an error, not a short blob.
    let mut w = cas2.writer().unwrap();
    let e = w.append_from(&src, 0..other.len() as u64 + 10).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
}
