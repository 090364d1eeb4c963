use super::*;

#[test]
fn a_waiter_never_keeps_a_removed_lock_file() {
    use std::os::unix::fs::MetadataExt as _;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path());
    let mut first = store.lock().unwrap();
    first.remove_on_drop(true);
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        tx.send(()).unwrap();
        let second = store.lock().unwrap();
        // The file it holds is the one at STORE/lock: a third process would wait on it.
        let held = second.file.metadata().unwrap();
        let now = fs::metadata(second.path()).unwrap();
        (held.ino(), now.ino())
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    // Give the waiter time to open the old file and block on it (the assertion holds
    // either way; this makes the test exercise the re-check).
    std::thread::sleep(Duration::from_millis(200));
    drop(first);
    let (held, at_path) = waiter.join().unwrap();
    assert_eq!(
        held, at_path,
        "the waiter holds a lock file no longer at the path"
    );
}

#[test]
fn staging_names() {
    assert_eq!(staging_pid("import-123-456"), Some(123));
    assert_eq!(staging_pid(".blob-77-1-2"), Some(77));
    for bad in [
        "import-",
        "import-x-1",
        "import-12",
        "other-1-2",
        ".blob--1",
    ] {
        assert_eq!(staging_pid(bad), None, "{bad}");
    }
}

#[test]
fn sweep_keeps_running_and_foreign_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path());
    let tmp = store.tmp_dir();
    fs::create_dir_all(tmp.join("import-999999999-1/blobs/sha256")).unwrap();
    fs::write(tmp.join("import-999999999-1/blobs/sha256/x"), b"x").unwrap();
    fs::write(tmp.join(".blob-999999998-0-1"), b"partial").unwrap();
    let mine = tmp.join(format!("import-{}-5", std::process::id()));
    fs::create_dir_all(&mine).unwrap();
    fs::create_dir_all(tmp.join("unrelated")).unwrap();
    fs::create_dir_all(tmp.join("resume-ab")).unwrap();
    assert_eq!(store.stale_staging().unwrap().len(), 2);
    assert_eq!(store.sweep_stale_staging().unwrap(), 2);
    assert!(mine.is_dir() && tmp.join("unrelated").is_dir());
    assert!(!tmp.join("import-999999999-1").exists());
    assert_eq!(store.sweep_stale_staging().unwrap(), 0);
    assert_eq!(
        store.resumable_staging().unwrap(),
        vec![tmp.join("resume-ab")]
    );
    assert_eq!(store.sweep_resumable_staging().unwrap(), 1);
    assert!(store.resumable_staging().unwrap().is_empty());
    // No tmp directory at all.
    let none = Store::at(&dir.path().join("none"));
    assert_eq!(none.sweep_stale_staging().unwrap(), 0);
    assert!(none.resumable_staging().unwrap().is_empty());
}

#[test]
fn generation_counts_up() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path());
    assert_eq!(store.generation(), None);
    assert_eq!(store.bump_generation().unwrap(), 1);
    assert_eq!(store.bump_generation().unwrap(), 2);
    assert_eq!(
        fs::read_to_string(dir.path().join(GENERATION_FILE)).unwrap(),
        "2\n"
    );
    assert_eq!(store.generation().as_deref(), Some("2"));
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn lock_is_exclusive() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path());
    let a = store.lock().unwrap();
    let path = a.path().to_path_buf();
    assert_eq!(path, dir.path().join(LOCK_FILE));
    let other = File::open(&path).unwrap();
    assert!(matches!(
        other.try_lock(),
        Err(fs::TryLockError::WouldBlock)
    ));
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let _b = store.lock().unwrap();
        tx.send(()).unwrap();
    });
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    drop(a);
    rx.recv_timeout(Duration::from_secs(5)).unwrap();
    t.join().unwrap();
}

#[test]
fn paths_follow_the_layout() {
    let store = Store::at(Path::new("/s"));
    assert_eq!(store.index_path(), Path::new("/s/index.redb"));
    assert_eq!(store.tmp_dir(), Path::new("/s/tmp"));
    assert_eq!(store.audit_log_path(), Path::new("/s/audit.log"));
    assert_eq!(store.audit_head_path(), Path::new("/s/audit.head"));
    assert_eq!(store.generation_path(), Path::new("/s/current.gen"));
    assert_eq!(store.cas().root(), Path::new("/s"));
}
