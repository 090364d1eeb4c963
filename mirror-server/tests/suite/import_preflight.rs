//! `mirror-server import` checks every trust prerequisite (snapshot key, upstream keyrings
//! and their fingerprints, cosign policy keys) and the store's free space before it copies
//! a single blob byte, reports all unmet ones in one error with the command that fixes
//! each, leaves the store unchanged and audits the refusal (issue 12, point 5).
//!
//! "Before a single blob byte": the drives here carry a truncated blob. Had import read or
//! even sized it first, the refusal would name the blob instead.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::common::{Fixture, Import, drive_blob, tree_digest_except_audit};
use formats::snapshot::Manifest;
use keys::openpgp::RepoSigningKey;
use mirror_server::preflight;

const DEB: &[u8] = b"!<arch>\ndebian-binary   fake deb for preflight tests\n";
const UBUNTU_DEB: &[u8] = b"!<arch>\ndebian-binary   fake ubuntu deb\n";
const PAGE: &[u8] = b"<html><body>foo-bar</body></html>\n";
const BUNDLE: &str = "mirror-sync keys bundle --config mirror.toml --out keys/trusted/";

/// Makes the fixture's `cuda` APT source, and a second one `ubuntu`, need upstream
/// keyrings (`cuda-archive.gpg`, `ubuntu-archive-keyring.gpg`) signed at sync time by
/// `signers`; their `.deb` artifacts belong to them.
fn needs_keyrings(m: &mut Manifest, cuda_signer: &str, ubuntu_signer: &str) {
    use formats::snapshot::{Source, SourceKind};
    m.sources.push(Source::new(
        "ubuntu",
        SourceKind::Apt,
        "https://archive.example.org/ubuntu",
    ));
    for s in &mut m.sources {
        match s.name.as_str() {
            "cuda" => {
                s.upstream_keyring = Some("cuda-archive.gpg".into());
                s.upstream_signers = vec![cuda_signer.to_owned()];
            }
            "ubuntu" => {
                s.upstream_keyring = Some("ubuntu-archive-keyring.gpg".into());
                s.upstream_signers = vec![ubuntu_signer.to_owned()];
            }
            _ => {}
        }
    }
    for a in &mut m.artifacts {
        if let Some(rest) = a.path.strip_prefix("apt/") {
            a.upstream = rest.split('/').next().map(str::to_owned);
        }
    }
}

fn files<'a>(extra: &[(&'a str, &'a [u8])]) -> Vec<(&'a str, &'a [u8])> {
    let mut v = vec![
        ("apt/cuda/cuda-x_1_amd64.deb", DEB),
        ("apt/ubuntu/pool/main/h/htop/htop_3_amd64.deb", UBUNTU_DEB),
        ("simple/foo-bar/index.html", PAGE),
    ];
    v.extend_from_slice(extra);
    v
}

/// A store that already holds snapshot test/1 (so refusals are audited).
fn with_store() -> Fixture {
    let fx = Fixture::new();
    let d = fx.drive("drive1", 1, &[("simple/foo-bar/index.html", PAGE)]);
    fx.import(&d, &[]).unwrap();
    fx
}

/// Truncates `file` to half its length (a drive blob that no longer matches).
fn truncate(file: &Path) {
    let len = fs::metadata(file).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(file)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
}

/// The last audit record of the store.
fn last_audit(store: &Path) -> serde_json::Value {
    let log = fs::read_to_string(store.join("audit.log")).unwrap();
    serde_json::from_str(log.lines().last().unwrap()).unwrap()
}

fn assert_contains(msg: &str, want: &[&str]) {
    for w in want {
        assert!(msg.contains(w), "error {msg:?} should contain {w:?}");
    }
    assert!(!msg.contains('\n'), "one-line error: {msg:?}");
}

#[test]
fn every_missing_trust_anchor_is_reported_at_once_before_any_blob_is_read() {
    let fx = with_store();
    let before = tree_digest_except_audit(&fx.store);
    let cuda_key = RepoSigningKey::generate("CUDA <cuda@example.invalid>").unwrap();
    let ubuntu_key = RepoSigningKey::generate("Ubuntu <u@example.invalid>").unwrap();
    let drive = fx.drive_with(
        "drive2",
        2,
        &files(&[]),
        |m| needs_keyrings(m, &cuda_key.fingerprint(), &ubuntu_key.fingerprint()),
        None,
    );
    truncate(&drive_blob(&drive, DEB));
    // Upstream: cuda's keyring is missing; ubuntu's is installed but holds another key.
    let upstream = fx.trusted.join("upstream");
    fs::create_dir_all(&upstream).unwrap();
    let stranger = RepoSigningKey::generate("Stranger <s@example.invalid>").unwrap();
    fs::write(
        upstream.join("ubuntu-archive-keyring.gpg"),
        stranger.public_binary().unwrap(),
    )
    .unwrap();
    // The policy names a cosign key that is not there.
    let policy = fx.dir.path().join("policy.toml");
    fs::write(
        &policy,
        "[verify]\n\"nvcr.io/nvidia/*\" = { keys = [\"nvidia-cosign.pub\"], required = true }\n",
    )
    .unwrap();
    let policy_s = policy.to_str().unwrap();

    let err = fx.import(&drive, &["--policy", policy_s]).unwrap_err();
    let msg = err.to_string();
    assert_contains(
        &msg,
        &[
            "import refused before copying anything: 3 prerequisite(s) not met",
            "(1) ",
            "(2) ",
            "(3) ",
            // The policy key, with where to put it.
            "nvidia-cosign.pub",
            "copy the cosign public key",
            // The missing keyring, with the command that writes it and where it goes.
            "APT upstream cuda: upstream keyring cuda-archive.gpg is not installed at",
            &upstream.join("cuda-archive.gpg").display().to_string(),
            BUNDLE,
            &cuda_key.fingerprint(),
            // The wrong keyring: what it holds and what signed the upstream.
            "APT upstream ubuntu: upstream keyring",
            &format!(
                "holds {} but none of the keys that signed this upstream at sync time ({})",
                stranger.fingerprint(),
                ubuntu_key.fingerprint()
            ),
            "the store is unchanged",
        ],
    );
    // Not a word about the truncated blob: it was never looked at.
    assert!(!msg.contains("size"), "{msg}");
    assert_eq!(tree_digest_except_audit(&fx.store), before);
    let audit = last_audit(&fx.store);
    assert_eq!(audit["event"], "import-refused", "{audit}");
    assert_eq!(audit["reason"].as_str(), Some(msg.as_str()));

    // With the trust anchors in place, import gets past the prerequisites and finds the
    // damaged blob, as before.
    fs::write(
        upstream.join("cuda-archive.gpg"),
        cuda_key.public_binary().unwrap(),
    )
    .unwrap();
    fs::write(
        upstream.join("ubuntu-archive-keyring.gpg"),
        ubuntu_key.public_binary().unwrap(),
    )
    .unwrap();
    let msg = fx.import(&drive, &[]).unwrap_err().to_string();
    assert!(!msg.contains("prerequisite"), "{msg}");
    assert!(
        msg.contains(&drive_blob(&drive, DEB).display().to_string()) && msg.contains("size"),
        "{msg}"
    );
    assert_eq!(tree_digest_except_audit(&fx.store), before);
}

#[test]
fn an_empty_trust_directory_reports_the_snapshot_key_and_the_keyrings_together() {
    let fx = Fixture::new();
    let key = RepoSigningKey::generate("CUDA <cuda@example.invalid>").unwrap();
    let drive = fx.drive_with(
        "drive",
        1,
        &files(&[]),
        |m| needs_keyrings(m, &key.fingerprint(), &key.fingerprint()),
        None,
    );
    let empty = fx.dir.path().join("new-cube-trust");
    fs::create_dir(&empty).unwrap();
    let err = mirror_server::cli::run([
        "mirror-server".as_ref(),
        "import".as_ref(),
        drive.as_os_str(),
        "--store".as_ref(),
        fx.store.as_os_str(),
        "--trusted-keys".as_ref(),
        empty.as_os_str(),
    ])
    .unwrap_err();
    assert_contains(
        &err.to_string(),
        &[
            "3 prerequisite(s) not met",
            "no trusted keys in",
            "cuda-archive.gpg",
            "ubuntu-archive-keyring.gpg",
            "(named by the unverified manifest)",
            BUNDLE,
            &empty.display().to_string(),
        ],
    );
    assert!(
        !fx.store.exists(),
        "a refused first import creates no store"
    );
}

#[test]
fn a_drive_that_does_not_fit_is_refused_before_copying() {
    let fx = with_store();
    let before = tree_digest_except_audit(&fx.store);
    let drive = fx.drive_with(
        "drive2",
        2,
        &[("simple/foo-bar/index.html", PAGE)],
        |m| {
            // 1 EiB: more than any test machine's free space. Its blob is not on the drive
            // at all, which import would report if it looked.
            m.artifacts.push(formats::snapshot::Artifact {
                kind: formats::snapshot::ArtifactKind::Wheel,
                upstream: None,
                path: "simple/huge/huge-1-py3-none-any.whl".into(),
                digest: formats::digest::Digest::of(b"not on the drive"),
                size: 1 << 60,
                media_type: None,
                meta: Default::default(),
            });
        },
        None,
    );
    let msg = fx.import(&drive, &[]).unwrap_err().to_string();
    assert_contains(
        &msg,
        &[
            "1 prerequisite(s) not met",
            &format!("the filesystem of the store {}", fx.store.display()),
            "this import writes 1073741824.00 GiB (",
            "blob(s) the store lacks",
            "free at least",
        ],
    );
    assert!(!msg.contains("missing blob"), "{msg}");
    assert_eq!(tree_digest_except_audit(&fx.store), before);
    assert_eq!(last_audit(&fx.store)["event"], "import-refused");
}

/// A drive with a few hundred MB of blobs (one of them truncated) and a missing upstream
/// keyring is refused in well under a second: the time does not grow with the drive.
#[test]
fn a_large_drive_is_refused_in_well_under_a_second() {
    let fx = with_store();
    let before = tree_digest_except_audit(&fx.store);
    let key = RepoSigningKey::generate("CUDA <cuda@example.invalid>").unwrap();
    const MB: usize = 1024 * 1024;
    let big: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i + 1; 100 * MB]).collect();
    let names = [
        "apt/cuda/libcublas_1_amd64.deb",
        "apt/cuda/libcusparse_1_amd64.deb",
        "apt/cuda/libnccl2_1_amd64.deb",
    ];
    let extra: Vec<(&str, &[u8])> = names
        .iter()
        .zip(&big)
        .map(|(n, b)| (*n, b.as_slice()))
        .collect();
    let drive = fx.drive_with(
        "big-drive",
        2,
        &files(&extra),
        |m| needs_keyrings(m, &key.fingerprint(), &key.fingerprint()),
        None,
    );
    let blob_bytes: u64 = blob_bytes(&drive);
    assert!(blob_bytes >= 300 * MB as u64, "{blob_bytes}");
    let upstream = fx.trusted.join("upstream");
    fs::create_dir_all(&upstream).unwrap();
    fs::write(
        upstream.join("ubuntu-archive-keyring.gpg"),
        key.public_binary().unwrap(),
    )
    .unwrap();
    let mb = blob_bytes as f64 / MB as f64;
    // The import also checks the store's filesystem for room (the drive's blobs plus a
    // margin). On a small temporary filesystem that is a second, honest prerequisite; the
    // refusal must then name both, and still come before any blob is read.
    let avail = preflight::available_bytes(&fx.store).unwrap();
    let fits = avail >= blob_bytes + preflight::space_margin(blob_bytes);
    let mut expected = vec!["cuda-archive.gpg", BUNDLE];
    if fits {
        expected.push("1 prerequisite(s) not met");
    } else {
        eprintln!("the temporary filesystem has {avail} bytes free: too small for this drive");
        expected.extend(["2 prerequisite(s) not met", "free at least"]);
    }

    let refuse = |label: &str| {
        let t = Instant::now();
        let err = fx.import(&drive, &[]).unwrap_err();
        let took = t.elapsed();
        eprintln!(
            "time to refuse a {mb:.0} MB drive ({label}) for a missing upstream keyring: {:.1} ms",
            took.as_secs_f64() * 1000.0
        );
        assert_contains(&err.to_string(), &expected);
        assert!(
            took.as_secs_f64() < 1.0,
            "refusing took {took:?}; it must not depend on the drive's size"
        );
        assert_eq!(tree_digest_except_audit(&fx.store), before);
    };
    refuse("intact");

    // For comparison, what a refusal after staging costs: with the keyring installed the
    // import copies and hashes every blob, then stops at upstream provenance (which these
    // hand-made drives cannot pass: they carry no upstream InRelease).
    let cuda_ring = upstream.join("cuda-archive.gpg");
    fs::write(&cuda_ring, key.public_binary().unwrap()).unwrap();
    let t = Instant::now();
    let err = fx.import(&drive, &[]).unwrap_err().to_string();
    eprintln!(
        "for comparison, refusing the {mb:.0} MB drive after staging it: {:.1} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    if fits {
        assert!(err.contains("upstream-signed Packages of cuda"), "{err}");
        assert!(!err.contains("prerequisite"), "{err}");
    } else {
        assert_contains(&err, &["1 prerequisite(s) not met", "free at least"]);
    }
    assert_eq!(tree_digest_except_audit(&fx.store), before);

    // A truncated blob changes nothing: the keyring is missing again, and that is all the
    // refusal says.
    fs::remove_file(&cuda_ring).unwrap();
    truncate(&drive_blob(&drive, &big[1]));
    refuse("one blob truncated");
}

/// Total bytes of the blob files on `drive`.
fn blob_bytes(drive: &Path) -> u64 {
    let dir: PathBuf = drive.join("blobs/sha256");
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}
