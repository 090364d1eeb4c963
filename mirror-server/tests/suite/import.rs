//! `mirror-server import`: success, and every refusal leaves the store byte for byte as it was.

use std::fs;

use crate::common::{Fixture, Import, drive_blob, tree_digest_except_audit};
use store::{Cas, Index};

const DEB: &[u8] = b"!<arch>\ndebian-binary   fake deb for tests\n";
const PAGE: &[u8] = b"<html><body>foo-bar</body></html>\n";
const KEY: &[u8] =
    b"-----BEGIN PGP PUBLIC KEY BLOCK-----\ntest\n-----END PGP PUBLIC KEY BLOCK-----\n";

fn read_manifest(drive: &std::path::Path) -> formats::snapshot::Manifest {
    formats::snapshot::Manifest::from_slice(
        &fs::read(drive.join("snapshots/test/1/manifest.json")).unwrap(),
    )
    .unwrap()
}

fn files() -> Vec<(&'static str, &'static [u8])> {
    vec![
        ("apt/cuda/cuda-x+1_amd64.deb", DEB),
        ("simple/foo-bar/index.html", PAGE),
        ("keys/repo.gpg", KEY),
        // Same bytes under a second path: one blob.
        ("keys/repo-copy.gpg", KEY),
    ]
}

/// Asserts that `result` failed with a message containing every part of `want`, and that the
/// store tree is unchanged.
fn assert_refused(fx: &Fixture, before: &str, result: anyhow::Result<()>, want: &[&str]) {
    let err = result.expect_err("import should have been refused");
    let msg = err.to_string();
    for w in want {
        assert!(msg.contains(w), "error {msg:?} should contain {w:?}");
    }
    assert!(!msg.contains('\n'), "one-line error: {msg:?}");
    assert_eq!(
        tree_digest_except_audit(&fx.store),
        before,
        "store changed after: {msg}"
    );
    if fx.store.exists() {
        let log = fs::read_to_string(fx.store.join("audit.log")).unwrap();
        let last: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
        assert_eq!(last["event"], "import-refused", "{last}");
        assert_eq!(last["reason"].as_str(), Some(msg.as_str()));
    }
}

/// A fixture whose store already holds snapshot test/1.
fn with_first_import() -> Fixture {
    let fx = Fixture::new();
    let d = fx.drive("drive1", 1, &files());
    fx.import(&d, &[]).unwrap();
    fx
}

#[test]
fn import_succeeds_and_records_everything() {
    let fx = Fixture::new();
    let drive = fx.drive("drive", 1, &files());
    let summary = mirror_server::import::import(&mirror_server::import::ImportOptions {
        drive: drive.clone(),
        store: fx.store.clone(),
        trusted_keys: fx.trusted.clone(),
        snapshot: None,
        allow_downgrade: false,
        progress: false,
        policy: None,
        volumes: Vec::new(),
    })
    .unwrap();
    // The four files plus the two SBOMs every snapshot carries.
    let sbom_bytes: u64 = read_manifest(&drive)
        .artifacts
        .iter()
        .filter(|a| a.kind == formats::snapshot::ArtifactKind::Sbom)
        .map(|a| a.size)
        .sum();
    assert_eq!(summary.snapshot, "test/1");
    assert_eq!(summary.artifacts, 6);
    assert_eq!(summary.blobs, 5);
    assert_eq!(summary.blobs_copied, 5);
    assert_eq!(summary.blobs_present, 0);
    assert_eq!(
        summary.bytes_copied,
        (DEB.len() + PAGE.len() + KEY.len()) as u64 + sbom_bytes
    );
    assert_eq!(summary.signer, fx.key.public_key().key_id());
    assert_eq!(summary.signer_key_file, "site.pub");
    assert_eq!(summary.generation, 1);
    assert!(!summary.forced);

    let cas = Cas::at(&fx.store);
    for bytes in [DEB, PAGE, KEY] {
        let d = formats::digest::Digest::of(bytes);
        assert_eq!(cas.contains(&d).unwrap(), Some(bytes.len() as u64));
        cas.verify_blob(&d).unwrap();
    }
    let index = Index::open_read_only(&fx.store.join("index.redb"))
        .unwrap()
        .unwrap();
    assert_eq!(index.current().unwrap().as_deref(), Some("test/1"));
    assert_eq!(index.live("test").unwrap().as_deref(), Some("test/1"));
    let rec = index.snapshot("test/1").unwrap().unwrap();
    let manifest = cas.read_bytes(&rec.manifest, 1 << 20).unwrap();
    assert_eq!(
        manifest,
        fs::read(drive.join("snapshots/test/1/manifest.json")).unwrap()
    );
    assert_eq!(cas.read_bytes(&rec.signature, 64).unwrap().len(), 64);
    drop(index);
    assert_eq!(
        fs::read_to_string(fx.store.join("current.gen"))
            .unwrap()
            .trim(),
        "1"
    );
    // No staging left behind.
    assert_eq!(fs::read_dir(fx.store.join("tmp")).unwrap().count(), 0);

    // A second, newer snapshot sharing blobs copies only what is new.
    let mut f2 = files();
    f2.push(("simple/foo-bar/index.json", b"{}\n"));
    let drive2 = fx.drive("drive2", 2, &f2);
    let s2 = mirror_server::import::import(&mirror_server::import::ImportOptions {
        drive: drive2,
        store: fx.store.clone(),
        trusted_keys: fx.trusted.clone(),
        snapshot: None,
        allow_downgrade: false,
        progress: false,
        policy: None,
        volumes: Vec::new(),
    })
    .unwrap();
    // New: index.json and the two SBOMs of snapshot 2.
    assert_eq!((s2.blobs_copied, s2.blobs_present), (3, 3));
    assert_eq!(s2.previous_live.as_deref(), Some("test/1"));
    assert_eq!(s2.generation, 2);
}

#[test]
fn json_summary_and_snapshot_list_via_the_binary() {
    let fx = Fixture::new();
    let d = fx.drive("drive", 1, &files());
    let bin = env!("CARGO_BIN_EXE_mirror-server");
    let out = std::process::Command::new(bin)
        .arg("import")
        .arg(&d)
        .arg("--store")
        .arg(&fx.store)
        .arg("--trusted-keys")
        .arg(&fx.trusted)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["snapshot"], "test/1");
    assert_eq!(v["artifacts"], 6);
    assert_eq!(v["blobs_copied"], 5);

    let out = std::process::Command::new(bin)
        .arg("snapshots")
        .arg("--store")
        .arg(&fx.store)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["name"], "test/1");
    assert_eq!(list[0]["live"], true);
    assert_eq!(list[0]["current"], true);

    // An empty store is a clear error, not an empty list.
    let empty = fx.store.with_file_name("empty-store");
    let out = std::process::Command::new(bin)
        .args(["snapshots", "--store"])
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no snapshot imported yet"));
}

#[test]
fn tampered_manifest_is_refused() {
    let fx = with_first_import();
    let before = tree_digest_except_audit(&fx.store);
    let d = fx.drive("drive2", 2, &files());
    let mpath = d.join("snapshots/test/2/manifest.json");
    let text = fs::read_to_string(&mpath).unwrap();
    fs::write(
        &mpath,
        text.replace("2026-11-21T15:10:59Z", "2026-11-21T15:10:58Z"),
    )
    .unwrap();
    assert_refused(
        &fx,
        &before,
        fx.import(&d, &[]),
        &[
            &mpath.display().to_string(),
            "not signed by any trusted key in",
            &fx.key.public_key().key_id(),
        ],
    );
}

#[test]
fn wrong_key_is_refused() {
    let fx = with_first_import();
    let before = tree_digest_except_audit(&fx.store);
    let other = keys::snapshot::SigningKey::generate();
    let d = fx.drive_with("drive2", 2, &files(), |_| {}, Some(&other));
    assert_refused(
        &fx,
        &before,
        fx.import(&d, &[]),
        &[
            "manifest.json: not signed by any trusted key in",
            &fx.trusted.display().to_string(),
            &fx.key.public_key().key_id(),
        ],
    );
}

#[test]
fn short_signature_is_refused() {
    let fx = with_first_import();
    let before = tree_digest_except_audit(&fx.store);
    let d = fx.drive("drive2", 2, &files());
    let sig = d.join("snapshots/test/2/manifest.json.sig");
    let bytes = fs::read(&sig).unwrap();
    fs::write(&sig, &bytes[..63]).unwrap();
    assert_refused(
        &fx,
        &before,
        fx.import(&d, &[]),
        &["manifest.json.sig", "63 bytes", "exactly 64 bytes"],
    );
}

#[test]
fn flipped_blob_byte_is_refused() {
    let fx = with_first_import();
    let before = tree_digest_except_audit(&fx.store);
    let new_deb: &[u8] = b"!<arch>\nanother fake deb, version 2\n";
    let mut f = files();
    f[0] = ("apt/cuda/cuda-x+2_amd64.deb", new_deb);
    let d = fx.drive("drive2", 2, &f);
    let blob = drive_blob(&d, new_deb);
    let mut bytes = fs::read(&blob).unwrap();
    bytes[3] ^= 0x01;
    fs::write(&blob, &bytes).unwrap();
    assert_refused(
        &fx,
        &before,
        fx.import(&d, &[]),
        &[
            &blob.display().to_string(),
            "apt/cuda/cuda-x+2_amd64.deb",
            "manifest says sha256:",
            "damaged or was modified",
        ],
    );
}

#[test]
fn flipped_blob_on_first_import_leaves_no_store() {
    let fx = Fixture::new();
    let d = fx.drive("drive", 1, &files());
    let blob = drive_blob(&d, PAGE);
    let mut bytes = fs::read(&blob).unwrap();
    bytes[0] ^= 0x80;
    fs::write(&blob, &bytes).unwrap();
    assert_refused(
        &fx,
        "absent",
        fx.import(&d, &[]),
        &["simple/foo-bar/index.html", "manifest says"],
    );
    assert!(!fx.store.exists());
}

/// The names in a directory, sorted.
fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn refused_first_import_into_an_empty_directory_is_audited_and_leaves_no_lock() {
    // A fresh store directory (as a package creates /var/lib/mirror-server): a refusal
    // after the lock was taken (a damaged blob) and one before (a wrong key) are both
    // recorded, and the directory then holds the audit log and nothing else.
    let fx = Fixture::new();
    fs::create_dir(&fx.store).unwrap();
    let d = fx.drive("drive", 1, &files());
    let blob = drive_blob(&d, PAGE);
    let mut bytes = fs::read(&blob).unwrap();
    bytes[0] ^= 0x80;
    fs::write(&blob, &bytes).unwrap();
    let err = fx.import(&d, &[]).expect_err("damaged blob").to_string();
    assert!(err.contains("simple/foo-bar/index.html"), "{err}");
    assert_eq!(entries(&fx.store), ["audit.head", "audit.log"]);

    let other = keys::snapshot::SigningKey::generate();
    let d2 = fx.drive_with("drive2", 1, &files(), |_| {}, Some(&other));
    let err2 = fx.import(&d2, &[]).expect_err("wrong key").to_string();
    assert_eq!(entries(&fx.store), ["audit.head", "audit.log"]);

    let report = mirror_server::audit::verify(&fx.store).unwrap();
    assert!(report.ok(), "{report:?}");
    let log = fs::read_to_string(fx.store.join("audit.log")).unwrap();
    let recs: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 2, "{log}");
    assert_eq!(recs[0]["event"], "import-refused");
    assert_eq!(recs[0]["reason"].as_str(), Some(err.as_str()));
    assert_eq!(recs[1]["event"], "import-refused");
    assert_eq!(recs[1]["reason"].as_str(), Some(err2.as_str()));

    // A good drive still imports into it, and the chain goes on.
    let good = fx.drive("good", 1, &files());
    fx.import(&good, &[]).unwrap();
    assert!(mirror_server::audit::verify(&fx.store).unwrap().ok());
    assert!(fx.store.join("lock").is_file());
}

#[test]
fn missing_blob_is_refused() {
    let fx = with_first_import();
    let before = tree_digest_except_audit(&fx.store);
    let new: &[u8] = b"brand new page\n";
    let mut f = files();
    f.push(("simple/index.html", new));
    let d = fx.drive("drive2", 2, &f);
    let blob = drive_blob(&d, new);
    fs::remove_file(&blob).unwrap();
    assert_refused(
        &fx,
        &before,
        fx.import(&d, &[]),
        &[
            &blob.display().to_string(),
            "missing blob for artifact simple/index.html",
        ],
    );
}

#[test]
fn wrong_size_blob_is_refused() {
    let fx = with_first_import();
    let before = tree_digest_except_audit(&fx.store);
    let new: &[u8] = b"brand new page\n";
    let mut f = files();
    f.push(("simple/index.html", new));
    let d = fx.drive("drive2", 2, &f);
    let blob = drive_blob(&d, new);
    fs::write(&blob, b"brand new page\n!").unwrap();
    assert_refused(
        &fx,
        &before,
        fx.import(&d, &[]),
        &[
            &blob.display().to_string(),
            &format!("size {} but manifest says {}", new.len() + 1, new.len()),
        ],
    );
}

#[test]
fn unknown_version_is_refused() {
    let fx = with_first_import();
    let before = tree_digest_except_audit(&fx.store);
    let d = fx.drive_with("drive2", 2, &files(), |m| m.manifest_version = 2, None);
    assert_refused(
        &fx,
        &before,
        fx.import(&d, &[]),
        &[
            "manifest.json: unknown manifest version 2",
            "newer mirror-server",
        ],
    );
}

#[test]
fn symlinked_blob_is_refused() {
    let fx = with_first_import();
    let before = tree_digest_except_audit(&fx.store);
    let new: &[u8] = b"linked content\n";
    let mut f = files();
    f.push(("keys/other.gpg", new));
    let d = fx.drive("drive2", 2, &f);
    let blob = drive_blob(&d, new);
    let elsewhere = fx.dir.path().join("elsewhere");
    fs::rename(&blob, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &blob).unwrap();
    assert_refused(
        &fx,
        &before,
        fx.import(&d, &[]),
        &[&blob.display().to_string(), "symbolic link"],
    );
}

#[test]
fn symlinked_manifest_is_refused() {
    let fx = with_first_import();
    let before = tree_digest_except_audit(&fx.store);
    let d = fx.drive("drive2", 2, &files());
    let m = d.join("snapshots/test/2/manifest.json");
    let elsewhere = fx.dir.path().join("manifest-elsewhere");
    fs::rename(&m, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &m).unwrap();
    assert_refused(
        &fx,
        &before,
        fx.import(&d, &[]),
        &[&m.display().to_string(), "symbolic link"],
    );
}

#[test]
fn rollback_is_refused_unless_forced() {
    let fx = Fixture::new();
    let d2 = fx.drive("drive2", 2, &files());
    fx.import(&d2, &[]).unwrap();
    let before = tree_digest_except_audit(&fx.store);

    let d1 = fx.drive("drive1", 1, &files());
    assert_refused(
        &fx,
        &before,
        fx.import(&d1, &[]),
        &[
            "snapshot test/1 is not newer than test/2",
            "--allow-downgrade",
        ],
    );
    assert_refused(
        &fx,
        &before,
        fx.import(&d2, &[]),
        &["test/2 is already imported"],
    );

    fx.import(&d1, &["--allow-downgrade"]).unwrap();
    let index = Index::open_read_only(&fx.store.join("index.redb"))
        .unwrap()
        .unwrap();
    assert_eq!(index.live("test").unwrap().as_deref(), Some("test/1"));
    assert_eq!(index.snapshots().unwrap().len(), 2);
    drop(index);
    let audit = fs::read_to_string(fx.store.join("audit.log")).unwrap();
    let last: serde_json::Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    assert_eq!(last["snapshot"], "test/1");
    assert_eq!(last["forced"], true);
    assert_eq!(last["previous_live"], "test/2");
}

#[test]
fn several_snapshots_need_a_choice() {
    let fx = with_first_import();
    let d = fx.drive("drive2", 2, &files());
    // Same drive, a third snapshot.
    let d3 = fx.drive("drive2", 3, &files());
    assert_eq!(d, d3);
    let before = tree_digest_except_audit(&fx.store);
    assert_refused(
        &fx,
        &before,
        fx.import(&d, &[]),
        &["test/2, test/3", "--snapshot CHANNEL/SEQ"],
    );
    assert_refused(
        &fx,
        &before,
        fx.import(&d, &["--snapshot", "test/9"]),
        &["snapshot test/9 is not on the drive"],
    );
    fx.import(&d, &["--snapshot", "test/2"]).unwrap();
}

#[test]
fn untrusted_dir_errors_are_clear() {
    let fx = Fixture::new();
    let d = fx.drive("drive", 1, &files());
    let empty = fx.dir.path().join("empty-trust");
    fs::create_dir(&empty).unwrap();
    let err = mirror_server::cli::run([
        "mirror-server".as_ref(),
        "import".as_ref(),
        d.as_os_str(),
        "--store".as_ref(),
        fx.store.as_os_str(),
        "--trusted-keys".as_ref(),
        empty.as_os_str(),
    ])
    .unwrap_err();
    assert!(err.to_string().contains("no trusted keys"), "{err}");
    assert!(!fx.store.exists());
}

/// A blob over 16 MiB is copied with its drive reads on a second thread (issue 15): it
/// lands in the store byte for byte, and a byte flipped near its end is still refused.
#[test]
fn large_blob_is_copied_exactly_and_a_late_flip_is_refused() {
    let big: Vec<u8> = (0..20 * 1024 * 1024 + 12_345u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let fx = Fixture::new();
    let mut f = files();
    f.push(("simple/big/big-1.0-py3-none-any.whl", &big));
    let d = fx.drive("drive", 1, &f);
    fx.import(&d, &[]).unwrap();
    let stored = Cas::at(&fx.store)
        .read_bytes(&formats::digest::Digest::of(&big), big.len() as u64)
        .unwrap();
    assert!(stored == big, "the stored blob differs from the drive's");

    let fx = Fixture::new();
    let d = fx.drive("drive", 1, &f);
    let blob = drive_blob(&d, &big);
    let mut bytes = fs::read(&blob).unwrap();
    let at = bytes.len() - 3;
    bytes[at] ^= 0x20;
    fs::write(&blob, &bytes).unwrap();
    assert_refused(
        &fx,
        "absent",
        fx.import(&d, &[]),
        &["simple/big/big-1.0-py3-none-any.whl", "manifest says"],
    );
    assert!(!fx.store.exists());
}
