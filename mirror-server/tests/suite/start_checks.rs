//! What the real `mirror-server` binary says when it is pointed at the wrong thing:
//! `serve --store` at a path that is not a store fails at start (and an empty directory
//! still serves 503), `import` of a drive path that does not exist says so.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mirror-server");

/// Runs `serve --store STORE` on a free port; returns its exit code and stderr when it
/// exits within `limit`, or `None` (and kills it) when it is still running.
fn serve_exits(store: &Path, limit: Duration) -> Option<(Option<i32>, String)> {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--store",
        ])
        .arg(store)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            return Some((status.code(), err));
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serve_refuses_a_store_that_is_not_there() {
    let tmp = tempfile::tempdir().unwrap();
    let typo = tmp.path().join("mirror-servr");
    let (code, err) = serve_exits(&typo, Duration::from_secs(20)).expect("serve must exit");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("does not exist"), "{err}");
    assert!(err.contains(&typo.display().to_string()), "{err}");
    assert!(err.contains("--store"), "{err}");
}

#[test]
fn serve_refuses_a_file_and_a_directory_of_other_files() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("store.txt");
    std::fs::write(&file, "not a store").unwrap();
    let (code, err) = serve_exits(&file, Duration::from_secs(20)).expect("serve must exit");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("is a file, not a directory"), "{err}");

    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::write(home.join("notes.txt"), "x").unwrap();
    std::fs::create_dir(home.join("Downloads")).unwrap();
    let (code, err) = serve_exits(&home, Duration::from_secs(20)).expect("serve must exit");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("is not a mirror-server store"), "{err}");
    assert!(err.contains("Downloads, notes.txt"), "{err}");
}

#[test]
fn serve_on_an_empty_store_directory_answers_503() {
    if !Path::new("/usr/bin/curl").exists() {
        eprintln!("skipped: curl not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    std::fs::create_dir(&store).unwrap();
    // A store whose only record is a refused import is still a store with nothing in it.
    std::fs::write(store.join("audit.log"), "").unwrap();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--store",
        ])
        .arg(&store)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let addr = loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => {
                if let Some(a) = line.strip_prefix("mirror-server listening on http://") {
                    break a.to_owned();
                }
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("serve did not start on an empty store directory: {e}");
            }
        }
    };
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .arg(format!("http://{addr}/simple/"))
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "503");
}

#[test]
fn import_of_a_missing_drive_says_the_path_does_not_exist() {
    let tmp = tempfile::tempdir().unwrap();
    let trusted = tmp.path().join("trusted");
    std::fs::create_dir(&trusted).unwrap();
    let key = keys::snapshot::SigningKey::generate();
    std::fs::write(trusted.join("site.pub"), key.public_key().to_pem()).unwrap();
    let missing = tmp.path().join("media/usb0");
    let out = Command::new(BIN)
        .arg("import")
        .arg(&missing)
        .arg("--store")
        .arg(tmp.path().join("store"))
        .arg("--trusted-keys")
        .arg(&trusted)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("drive {}: does not exist", missing.display())),
        "{err}"
    );
    assert!(!err.contains("no snapshot found"), "{err}");
    assert!(!tmp.path().join("store").exists(), "nothing created");

    // The human error is escaped; the path is quoted, not obeyed.
    let hostile = tmp.path().join("usb\u{1b}]0;owned\u{7}");
    let out = Command::new(BIN)
        .arg("import")
        .arg(&hostile)
        .arg("--store")
        .arg(tmp.path().join("store"))
        .arg("--trusted-keys")
        .arg(&trusted)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("usb\\u{1b}]0;owned\\u{7}: does not exist"),
        "{err}"
    );
    assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "{err:?}");

    let file = tmp.path().join("drive.img");
    std::fs::write(&file, "x").unwrap();
    let out = Command::new(BIN)
        .arg("import")
        .arg(&file)
        .arg("--store")
        .arg(tmp.path().join("store"))
        .arg("--trusted-keys")
        .arg(&trusted)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is a file, not a directory"), "{err}");
}

#[test]
fn snapshots_and_audit_show_escape_drive_strings() {
    // A record as an older mirror-server (before `created` was checked) could have stored
    // it: `created` carrying a clear-screen sequence and a right-to-left override.
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    std::fs::create_dir(&store).unwrap();
    let hostile = "2026-11-21T15:10:59Z\u{1b}[2J\u{202e}";
    let index = store::Index::open(&store.join("index.redb")).unwrap();
    index
        .commit_import(&store::SnapshotRecord {
            name: "stable/1".into(),
            channel: "stable".into(),
            sequence: 1,
            created: hostile.into(),
            signer: "ed25519:0011223344556677".into(),
            signer_key_file: "site.pub".into(),
            manifest: formats::digest::Digest::of(b"m"),
            signature: formats::digest::Digest::of(b"s"),
            imported_at: "2026-11-21T15:11:00Z".into(),
            artifacts: 1,
            bytes: 1,
        })
        .unwrap();
    drop(index);
    let mut fields = serde_json::Map::new();
    fields.insert("snapshot".into(), "stable/1".into());
    fields.insert("reason".into(), format!("bad {hostile}").into());
    mirror_server::audit::append(&store, "import-refused", fields).unwrap();

    for args in [&["snapshots"][..], &["audit", "show"][..]] {
        let out = Command::new(BIN)
            .args(args)
            .arg("--store")
            .arg(&store)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}: {text}");
        assert!(
            text.contains("2026-11-21T15:10:59Z\\u{1b}[2J\\u{202e}"),
            "{args:?}: {text}"
        );
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{202e}'),
            "{args:?}: {text:?}"
        );
    }
    // --json keeps the exact value (JSON escapes it).
    let out = Command::new(BIN)
        .args(["snapshots", "--json", "--store"])
        .arg(&store)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc[0]["created"].as_str(), Some(hostile), "{doc}");
}
