//! `mirror-server receipt`: run the real binary on a real store (drives hand-built and
//! signed in tests/suite/common.rs, imported with the real import) and read the receipt back with
//! the connected side's reader, `mirror_sync::receipt::load`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{Fixture, Import, tree_digest};
use formats::digest::Digest;
use formats::receipt::{Envelope, Receipt};
use keys::snapshot::PublicKey;
use store::{Cas, Index};

const BIN: &str = env!("CARGO_BIN_EXE_mirror-server");

fn receipt_cmd(store: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .arg("receipt")
        .arg("--store")
        .arg(store)
        .args(extra)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A store holding test/1 (pinned) and test/2 (live), sharing one file.
fn two_snapshots() -> Fixture {
    let fx = Fixture::new();
    let d1 = fx.drive(
        "d1",
        1,
        &[
            ("keys/shared.gpg", b"shared\n"),
            ("keys/one.gpg", b"only in one\n"),
        ],
    );
    fx.import(&d1, &[]).unwrap();
    let d2 = fx.drive(
        "d2",
        2,
        &[
            ("keys/shared.gpg", b"shared\n"),
            ("keys/two.gpg", b"only in two\n"),
        ],
    );
    fx.import(&d2, &[]).unwrap();
    mirror_server::cli::run([
        "mirror-server".as_ref(),
        "pin".as_ref(),
        "test/1".as_ref(),
        "--store".as_ref(),
        fx.store.as_os_str(),
    ])
    .unwrap();
    fx
}

/// Runs `receipt`, checks success, writes stdout to `<tmp>/<name>` and returns that path.
fn make(fx: &Fixture, name: &str) -> (PathBuf, Output) {
    let o = receipt_cmd(&fx.store, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let path = fx.dir.path().join(name);
    fs::write(&path, &o.stdout).unwrap();
    (path, o)
}

fn site_pub(fx: &Fixture) -> PublicKey {
    PublicKey::from_pem(&fs::read_to_string(fx.store.join("site.pub")).unwrap()).unwrap()
}

fn store_blobs(store: &Path) -> BTreeSet<Digest> {
    Cas::at(store).iter_digests().unwrap().into_iter().collect()
}

#[test]
fn receipt_lists_snapshots_and_exactly_the_stores_blobs() {
    let fx = two_snapshots();
    // A stray file in the blob directory is not a blob.
    fs::write(fx.store.join("blobs/sha256/README"), b"not a blob").unwrap();
    let (path, o) = make(&fx, "receipt.json");
    let err = stderr(&o);
    assert!(err.contains("created the site key"), "{err}");
    assert!(err.contains("receipt of site ed25519:"), "{err}");

    let r = mirror_sync::receipt::load(&path, Some(&site_pub(&fx))).unwrap();
    assert_eq!(r.site, site_pub(&fx).key_id());
    assert_eq!(
        r.live,
        BTreeMap::from([("test".to_owned(), "test/2".to_owned())])
    );
    let index = Index::open_read_only(&fx.store.join("index.redb"))
        .unwrap()
        .unwrap();
    let listed: Vec<(String, Digest, bool, bool)> = r
        .snapshots
        .iter()
        .map(|s| (s.name.clone(), s.manifest, s.live, s.pinned))
        .collect();
    let manifest = |n: &str| index.snapshot(n).unwrap().unwrap().manifest;
    assert_eq!(
        listed,
        vec![
            ("test/1".to_owned(), manifest("test/1"), false, true),
            ("test/2".to_owned(), manifest("test/2"), true, false),
        ]
    );
    // Exactly the blobs of the store: every artifact, manifest and signature blob.
    let blobs = store_blobs(&fx.store);
    assert_eq!(r.held, blobs);
    for bytes in [b"shared\n".as_slice(), b"only in one\n", b"only in two\n"] {
        assert!(r.holds(&Digest::of(bytes)));
    }
    assert!(r.holds(&manifest("test/1")) && r.holds(&manifest("test/2")));
    assert_eq!(r.envelope_sha256, Digest::of(&fs::read(&path).unwrap()));

    // The audit log records it, and the chain stays intact.
    let log = mirror_server::audit::read_log(&fx.store).unwrap();
    let last = log.last().unwrap().record.clone().unwrap();
    assert_eq!(last["event"], "receipt");
    assert_eq!(last["site"], r.site.as_str());
    assert_eq!(last["sha256"], r.envelope_sha256.to_string().as_str());
    assert_eq!(last["snapshots"], 2);
    assert_eq!(last["blobs"], blobs.len());
    assert_eq!(last["site_key_created"], true);
    assert!(mirror_server::audit::verify(&fx.store).unwrap().ok());

    // The site key is private.
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(fx.store.join("site.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn tampering_with_one_payload_byte_is_refused() {
    let fx = two_snapshots();
    let (path, _) = make(&fx, "receipt.json");
    let mut env = Envelope::parse(&fs::read(&path).unwrap()).unwrap();
    // Change one hex digit of a manifest digest: still valid JSON and a valid digest, so
    // only the signature can tell.
    let text = String::from_utf8(env.payload.clone()).unwrap();
    let at = text.find("\"manifest\": \"sha256:").unwrap() + "\"manifest\": \"sha256:".len();
    let old = env.payload[at];
    env.payload[at] = if old == b'0' { b'1' } else { b'0' };
    Receipt::from_slice(&env.payload).unwrap();
    let bad = fx.dir.path().join("tampered.json");
    fs::write(&bad, env.to_bytes()).unwrap();
    let msg = mirror_sync::receipt::load(&bad, None)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("does not verify"), "{msg}");
    assert!(msg.contains("tampered.json"), "{msg}");

    // A receipt checked against another site's key is refused, naming both.
    let other = keys::snapshot::SigningKey::generate().public_key();
    let msg = mirror_sync::receipt::load(&path, Some(&other))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(&other.key_id()) && msg.contains(&site_pub(&fx).key_id()),
        "{msg}"
    );
}

#[test]
fn a_second_receipt_uses_the_same_site_key() {
    let fx = two_snapshots();
    let (first, _) = make(&fx, "r1.json");
    let key_bytes = fs::read(fx.store.join("site.key")).unwrap();
    let out = fx.dir.path().join("r2.json");
    let o = receipt_cmd(&fx.store, &["--out", out.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout.is_empty(), "--out leaves stdout empty");
    let summary: serde_json::Value = serde_json::from_slice(&o.stderr).unwrap();
    assert_eq!(summary["site_key_created"], false);
    assert_eq!(summary["snapshots"], 2);
    assert_eq!(summary["pinned"], 1);
    assert_eq!(fs::read(fx.store.join("site.key")).unwrap(), key_bytes);
    let a = mirror_sync::receipt::load(&first, None).unwrap();
    let b = mirror_sync::receipt::load(&out, Some(&a.site_key)).unwrap();
    assert_eq!(a.site, b.site);
    assert_eq!(summary["site"], b.site.as_str());
    assert_eq!(summary["sha256"], b.envelope_sha256.to_string().as_str());
    assert_eq!(a.held, b.held);
    // No temp file next to --out.
    let names: BTreeSet<String> = fs::read_dir(fx.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn the_payload_reveals_no_path_host_or_user() {
    let fx = two_snapshots();
    let (path, _) = make(&fx, "receipt.json");
    let env = Envelope::parse(&fs::read(&path).unwrap()).unwrap();
    let payload = String::from_utf8(env.payload.clone()).unwrap();
    let whole = format!(
        "{payload}{}",
        String::from_utf8(fs::read(&path).unwrap()).unwrap()
    );
    for secret in [
        fx.store.to_string_lossy().into_owned(),
        fx.dir.path().to_string_lossy().into_owned(),
        "trusted".to_owned(),
        "site.pub".to_owned(),
        "shared.gpg".to_owned(),
    ] {
        assert!(!whole.contains(&secret), "receipt contains {secret:?}");
    }
    if let Ok(host) = fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if host.len() >= 4 {
            assert!(!payload.contains(host), "receipt contains the host name");
        }
    }
    // Exactly the documented fields, nothing more.
    let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
    let keys: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "receipt_version",
            "site",
            "site_public_key",
            "created",
            "live",
            "snapshots",
            "blobs"
        ])
    );
    for s in v["snapshots"].as_array().unwrap() {
        let keys: BTreeSet<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["name", "manifest", "live", "pinned"]));
    }
    // The file is the documented DSSE envelope.
    let file: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    assert_eq!(
        file["payloadType"],
        "application/vnd.mirror.receipt.v1+json"
    );
    assert!(file["payload"].is_string());
    assert!(
        file["signatures"][0]["keyid"]
            .as_str()
            .unwrap()
            .starts_with("ed25519:")
    );
}

#[test]
fn a_store_without_snapshots_is_refused_and_unchanged() {
    let fx = Fixture::new();
    fs::create_dir_all(&fx.store).unwrap();
    let before = tree_digest(&fx.store);
    let o = receipt_cmd(&fx.store, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    assert!(
        stderr(&o).contains("no snapshot imported yet"),
        "{}",
        stderr(&o)
    );
    assert_eq!(tree_digest(&fx.store), before);
}

#[test]
fn a_site_key_others_can_read_is_warned_about() {
    use std::os::unix::fs::PermissionsExt as _;
    let fx = two_snapshots();
    let (_, first) = make(&fx, "r1.dsse");
    assert!(!stderr(&first).contains("warning"), "{}", stderr(&first));
    let key = fx.store.join("site.key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let (_, o) = make(&fx, "r2.dsse");
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "warning: private key {} is readable by its group and other users (mode 0644)",
            key.display()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("chmod 600 {}", key.display())),
        "{err}"
    );
    // --json: the warning is in the document (stderr stays one JSON document).
    let o = receipt_cmd(&fx.store, &["--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(stderr(&o).trim()).unwrap();
    let warnings = doc["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{doc}");
    assert!(warnings[0].as_str().unwrap().contains("chmod 600"), "{doc}");
}
