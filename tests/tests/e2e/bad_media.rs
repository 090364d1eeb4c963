//! The bad-media matrix (issue 4): one test per hostile or damaged drive.
//!
//! Every drive starts as a real one: the offline APT + PyPI scenario is synced and
//! exported twice (snapshot 1, then snapshot 2 carrying an upgraded package). Store A
//! holds snapshot 1 live; store B holds 1 and 2 with 2 live. Each case copies a store and
//! snapshot 2's drive, damages the drive the way the case says (re-signing the manifest
//! with the trusted snapshot key where the case is "a signer that went wrong"), imports
//! it, and asserts that
//!
//! - the import is refused with a one-line message naming the cause;
//! - a hash over the whole store directory, leaving out the audit log, is unchanged, and
//!   the live snapshot is the same;
//! - the audit log gained exactly one `import-refused` record naming the snapshot.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use formats::digest::Digest;
use formats::snapshot::{
    Artifact, ArtifactKind, Manifest, Meta, SBOM_CYCLONEDX_PATH, Source, SourceKind,
};
use mirror_e2e::apt_fixture::DebSpec;
use mirror_e2e::product::{import_drive, read_manifest, s, server_cli, sync_cli};
use mirror_e2e::world::{World, world_in};
use mirror_e2e::{run_command, tree_digest_except_audit};

struct Base {
    w: World,
    drive1: PathBuf,
    drive2: PathBuf,
    /// Snapshot 1 live.
    store_a: PathBuf,
    /// Snapshots 1 and 2, 2 live.
    store_b: PathBuf,
}

fn base() -> Option<&'static Base> {
    static BASE: OnceLock<Option<Base>> = OnceLock::new();
    BASE.get_or_init(|| {
        let parent = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bad-media");
        let _ = std::fs::remove_dir_all(&parent);
        std::fs::create_dir_all(&parent).unwrap();
        let w = world_in(&parent)?;
        sync_cli(&["sync", "--config", s(&w.config), "--quiet"]).expect("sync 1");
        let drive1 = w.path("drive1");
        sync_cli(&[
            "export",
            "--config",
            s(&w.config),
            "--to",
            s(&drive1),
            "--quiet",
        ])
        .expect("export 1");
        w.apt
            .add_standard_deb(
                &DebSpec::new("libcube1", "1.3-1", "amd64").field("Depends", "cube-base"),
            )
            .unwrap();
        w.apt.refresh_standard().unwrap();
        sync_cli(&["sync", "--config", s(&w.config), "--quiet"]).expect("sync 2");
        let drive2 = w.path("drive2");
        sync_cli(&[
            "export",
            "--config",
            s(&w.config),
            "--to",
            s(&drive2),
            "--quiet",
        ])
        .expect("export 2");
        let store_a = w.path("store-a");
        let store_b = w.path("store-b");
        let trusted = w.keys.join("trusted");
        for (store, drives) in [
            (&store_a, vec![&drive1]),
            (&store_b, vec![&drive1, &drive2]),
        ] {
            for d in drives {
                import_drive(d, store, &trusted).expect("base import");
            }
        }
        Some(Base {
            w,
            drive1,
            drive2,
            store_a,
            store_b,
        })
    })
    .as_ref()
}

/// One case: private copies of a store and of a drive.
struct Case {
    _dir: tempfile::TempDir,
    base: &'static Base,
    drive: PathBuf,
    store: PathBuf,
    before: String,
    live: Option<String>,
    audit_lines: usize,
}

fn cp(from: &Path, to: &Path) {
    run_command(Command::new("cp").arg("-a").arg(from).arg(to))
        .unwrap()
        .assert_success();
}

fn live_of(store: &Path) -> Option<String> {
    let index = store::Index::open_read_only(&store.join("index.redb"))
        .unwrap()
        .unwrap();
    index.current().unwrap()
}

fn audit_records(store: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(store.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
        .collect()
}

impl Case {
    /// Copies store A (snapshot 1 live) or B (2 live) and the given drive.
    fn new(store_b: bool, drive: fn(&Base) -> &PathBuf) -> Option<Case> {
        let base = base()?;
        let dir = tempfile::Builder::new()
            .prefix("case-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        let store = dir.path().join("store");
        cp(
            if store_b {
                &base.store_b
            } else {
                &base.store_a
            },
            &store,
        );
        let d = dir.path().join("drive");
        cp(drive(base), &d);
        Some(Case {
            before: tree_digest_except_audit(&store),
            live: live_of(&store),
            audit_lines: audit_records(&store).len(),
            _dir: dir,
            base,
            drive: d,
            store,
        })
    }

    /// Store A and a copy of snapshot 2's drive: the usual starting point.
    fn standard() -> Option<Case> {
        Case::new(false, |b| &b.drive2)
    }

    fn manifest_path(&self) -> PathBuf {
        read_manifest(&self.drive).0
    }

    fn manifest(&self) -> Manifest {
        read_manifest(&self.drive).1
    }

    fn manifest_json(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.manifest_path()).unwrap()).unwrap()
    }

    /// Writes `bytes` as the manifest and signs them with the trusted snapshot key
    /// ([`testkit::drive::sign_snapshot`]: the media description follows).
    fn sign(&self, bytes: &[u8]) {
        testkit::drive::sign_snapshot(&self.manifest_path(), bytes, &self.key());
    }

    /// Regenerates both SBOMs for `m` (a consistent signer that went wrong elsewhere),
    /// writes them as blobs, and signs the result ([`testkit::drive::reseal`]).
    fn reseal(&self, m: Manifest) {
        testkit::drive::reseal(&self.drive, &self.manifest_path(), m, &self.key());
    }

    /// The trusted snapshot key of the scenario.
    fn key(&self) -> keys::snapshot::SigningKey {
        keys::snapshot::SigningKey::load(&self.base.w.keys.join("snapshot.key")).unwrap()
    }

    fn put_blob(&self, bytes: &[u8]) -> (Digest, u64) {
        testkit::drive::put_blob(&self.drive, bytes)
    }

    fn blob(&self, d: &Digest) -> PathBuf {
        self.drive.join("blobs/sha256").join(d.hex())
    }

    /// The upgraded .deb: in snapshot 2, not in the store of snapshot 1.
    fn fresh_deb(&self) -> Artifact {
        self.manifest()
            .artifacts
            .into_iter()
            .find(|a| a.path.ends_with("/libcube1_1.3-1_amd64.deb"))
            .expect("the upgrade is in snapshot 2")
    }

    fn import(&self, extra: &[&str]) -> anyhow::Result<()> {
        let trusted = self.base.w.keys.join("trusted");
        let mut args = vec![
            "import",
            s(&self.drive),
            "--store",
            s(&self.store),
            "--trusted-keys",
            s(&trusted),
            "--quiet",
        ];
        args.extend_from_slice(extra);
        server_cli(&args)
    }

    /// Imports, and asserts the refusal, the untouched store, and the audit record.
    fn assert_refused(&self, needles: &[&str]) {
        let err = self.import(&[]).expect_err("the drive must be refused");
        let msg = format!("{err:#}");
        for n in needles {
            assert!(msg.contains(n), "error should name {n:?}: {msg}");
        }
        assert!(!msg.contains('\n'), "one-line error: {msg}");
        assert_eq!(
            tree_digest_except_audit(&self.store),
            self.before,
            "the store changed after: {msg}"
        );
        assert_eq!(live_of(&self.store), self.live, "the live snapshot changed");
        let audit = audit_records(&self.store);
        assert_eq!(
            audit.len(),
            self.audit_lines + 1,
            "one audit record for the refusal"
        );
        let last = audit.last().unwrap();
        assert_eq!(last["event"], "import-refused", "{last}");
        let reason = last["reason"].as_str().unwrap_or_default();
        assert!(reason.contains(needles[0]), "audit reason {reason:?}");
    }
}

fn flip_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

/// A signer that went wrong carries "OSV data" that is not an OSV export (issue 17):
/// refused at step 6b, naming the artifact, before anything changes.
#[test]
fn malformed_osv_data() {
    for (bytes, why) in [
        (
            &b"PK\x03\x04 truncated, not a zip"[..],
            "not a readable zip archive",
        ),
        (&osv_zip_with(b"{\"id\": 7}")[..], "not an OSV record"),
    ] {
        let Some(c) = Case::standard() else { return };
        let mut m = c.manifest();
        m.sources.retain(|s| s.name != "osv");
        m.artifacts.retain(|a| a.kind != ArtifactKind::Osv);
        m.sources
            .push(Source::new("osv", SourceKind::Osv, "https://osv.example/"));
        let (digest, size) = c.put_blob(bytes);
        m.artifacts.push(Artifact {
            kind: ArtifactKind::Osv,
            upstream: Some("osv".into()),
            path: "osv/osv/Debian:12/all.zip".into(),
            digest,
            size,
            media_type: Some("application/zip".into()),
            meta: Meta {
                name: Some("Debian:12".into()),
                ..Meta::default()
            },
        });
        c.reseal(m);
        c.assert_refused(&[
            "osv/osv/Debian:12/all.zip",
            "not acceptable OSV vulnerability data",
            why,
        ]);
    }
}

/// A zip archive holding one member `X-1.json` with `record` as its bytes.
fn osv_zip_with(record: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("X-1.json", zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(record).unwrap();
    w.finish().unwrap().into_inner()
}

#[test]
fn wrong_key() {
    let Some(c) = Case::standard() else { return };
    let other = c._dir.path().join("other-keys");
    sync_cli(&["keys", "generate", "--out", s(&other), "--quiet"]).unwrap();
    let key = keys::snapshot::SigningKey::load(&other.join("snapshot.key")).unwrap();
    let bytes = std::fs::read(c.manifest_path()).unwrap();
    std::fs::write(
        c.manifest_path().with_extension("json.sig"),
        key.sign(&bytes),
    )
    .unwrap();
    c.assert_refused(&["not signed by any trusted key", "manifest.json"]);
}

#[test]
fn tampered_manifest_byte() {
    let Some(c) = Case::standard() else { return };
    let text = std::fs::read_to_string(c.manifest_path()).unwrap();
    std::fs::write(
        c.manifest_path(),
        text.replacen("cube-tool", "cube-tooL", 1),
    )
    .unwrap();
    c.assert_refused(&["not signed by any trusted key"]);
}

#[test]
fn tampered_sbom() {
    let Some(c) = Case::standard() else { return };
    let sbom = c
        .manifest()
        .artifacts
        .into_iter()
        .find(|a| a.path == SBOM_CYCLONEDX_PATH)
        .expect("the snapshot carries a CycloneDX SBOM");
    flip_byte(&c.blob(&sbom.digest));
    c.assert_refused(&["content has sha256:", SBOM_CYCLONEDX_PATH]);
}

#[test]
fn sbom_missing_a_component() {
    let Some(c) = Case::standard() else { return };
    let m = c.manifest();
    let deb = c.fresh_deb();
    // The CycloneDX document without the upgraded package's component, re-signed.
    let sbom = m
        .artifacts
        .iter()
        .find(|a| a.path == SBOM_CYCLONEDX_PATH)
        .unwrap()
        .clone();
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(c.blob(&sbom.digest)).unwrap()).unwrap();
    let comps = doc["components"].as_array_mut().unwrap();
    let n = comps.len();
    comps.retain(|x| x["bom-ref"] != deb.path.as_str());
    assert_eq!(comps.len(), n - 1, "the component was there");
    let bytes = serde_json::to_vec_pretty(&doc).unwrap();
    let (digest, size) = c.put_blob(&bytes);
    let mut m2 = m.clone();
    for a in &mut m2.artifacts {
        if a.path == SBOM_CYCLONEDX_PATH {
            a.digest = digest;
            a.size = size;
        }
    }
    c.sign(&m2.to_bytes());
    c.assert_refused(&[&deb.path, "SBOM"]);
}

#[test]
fn flipped_blob_byte() {
    let Some(c) = Case::standard() else { return };
    let deb = c.fresh_deb();
    flip_byte(&c.blob(&deb.digest));
    c.assert_refused(&["content has sha256:", &deb.path]);
}

#[test]
fn truncated_blob() {
    let Some(c) = Case::standard() else { return };
    let deb = c.fresh_deb();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(c.blob(&deb.digest))
        .unwrap();
    f.set_len(deb.size / 2).unwrap();
    c.assert_refused(&[
        &format!("size {} but manifest says {}", deb.size / 2, deb.size),
        &deb.path,
    ]);
}

#[test]
fn missing_blob() {
    let Some(c) = Case::standard() else { return };
    let deb = c.fresh_deb();
    std::fs::remove_file(c.blob(&deb.digest)).unwrap();
    c.assert_refused(&["missing blob", &deb.path]);
}

#[test]
fn dot_dot_in_a_path() {
    let Some(c) = Case::standard() else { return };
    let mut v = c.manifest_json();
    v["artifacts"][0]["path"] = "apt/../../../etc/cron.d/evil".into();
    c.sign(&serde_json::to_vec_pretty(&v).unwrap());
    c.assert_refused(&["invalid manifest", "..", "etc/cron.d/evil"]);
}

#[test]
fn created_not_rfc3339() {
    // A signer that went wrong: `created` is not a date, and carries a terminal escape
    // (clear the screen) that must not reach the operator's terminal raw.
    for bad in ["last tuesday", "2026-11-21T15:10:59Z\u{1b}[2J"] {
        let Some(c) = Case::standard() else { return };
        let mut m = c.manifest();
        m.created = bad.into();
        c.sign(&m.to_bytes());
        c.assert_refused(&["invalid manifest", "RFC 3339"]);
        let msg = format!("{:#}", c.import(&[]).unwrap_err());
        assert!(!msg.contains('\u{1b}'), "raw ESC in the error: {msg:?}");
    }
}

#[test]
fn foreign_media_description() {
    // Snapshot 1's media.json (signed by the same key) on snapshot 2's drive: the message
    // says what differs, each digest once.
    let Some(c) = Case::standard() else { return };
    let (m1_path, m1) = read_manifest(&c.base.drive1);
    let dir1 = m1_path.parent().unwrap();
    let dir2 = c.manifest_path().parent().unwrap().to_path_buf();
    for f in [
        formats::media::MEDIA_FILE,
        formats::media::MEDIA_SIGNATURE_FILE,
    ] {
        std::fs::copy(dir1.join(f), dir2.join(f)).unwrap();
    }
    let ours = Digest::of(&std::fs::read(c.manifest_path()).unwrap()).to_string();
    let theirs = Digest::of(&std::fs::read(&m1_path).unwrap()).to_string();
    c.assert_refused(&[
        "media.json",
        &m1.name(),
        &c.manifest().name(),
        &ours,
        &theirs,
    ]);
    let msg = format!("{:#}", c.import(&[]).unwrap_err());
    assert_eq!(msg.matches(&ours).count(), 1, "{msg}");
    assert_eq!(msg.matches(&theirs).count(), 1, "{msg}");
}

#[test]
fn absolute_path() {
    let Some(c) = Case::standard() else { return };
    let mut v = c.manifest_json();
    v["artifacts"][0]["path"] = "/etc/passwd".into();
    c.sign(&serde_json::to_vec_pretty(&v).unwrap());
    c.assert_refused(&["invalid manifest", "absolute path", "/etc/passwd"]);
}

#[test]
fn nul_byte_in_a_path() {
    let Some(c) = Case::standard() else { return };
    let mut v = c.manifest_json();
    v["artifacts"][0]["path"] = "apt/a\u{0}b".into();
    c.sign(&serde_json::to_vec_pretty(&v).unwrap());
    c.assert_refused(&["invalid manifest", "NUL"]);
}

#[test]
fn symlink_on_the_drive() {
    let Some(c) = Case::standard() else { return };
    let deb = c.fresh_deb();
    let blob = c.blob(&deb.digest);
    let aside = c._dir.path().join("aside");
    std::fs::rename(&blob, &aside).unwrap();
    std::os::unix::fs::symlink(&aside, &blob).unwrap();
    c.assert_refused(&["symbolic link", &deb.digest.hex()]);
}

#[test]
fn hard_link_on_the_drive() {
    let Some(c) = Case::standard() else { return };
    let deb = c.fresh_deb();
    let blob = c.blob(&deb.digest);
    std::fs::hard_link(&blob, c._dir.path().join("second-name")).unwrap();
    c.assert_refused(&["hard link", &deb.digest.hex()]);
}

#[test]
fn lying_size() {
    let Some(c) = Case::standard() else { return };
    let deb = c.fresh_deb();
    let mut m = c.manifest();
    for a in &mut m.artifacts {
        if a.digest == deb.digest {
            a.size -= 1;
        }
    }
    c.reseal(m);
    c.assert_refused(&[
        &format!("size {} but manifest says {}", deb.size, deb.size - 1),
        &deb.path,
    ]);
}

#[test]
fn oversized_manifest() {
    let Some(c) = Case::standard() else { return };
    // A sparse file: refused by its size before a byte is read.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(c.manifest_path())
        .unwrap();
    f.set_len(formats::snapshot::MAX_MANIFEST_BYTES + 1)
        .unwrap();
    c.assert_refused(&["over the", "limit", "manifest.json"]);
}

#[test]
fn duplicate_json_keys() {
    let Some(c) = Case::standard() else { return };
    let text = std::fs::read_to_string(c.manifest_path()).unwrap();
    let dup = text.replacen(
        "\"sequence\": 2,",
        "\"sequence\": 2,\n  \"sequence\": 9,",
        1,
    );
    assert_ne!(dup, text);
    c.sign(dup.as_bytes());
    c.assert_refused(&["duplicate field `sequence`"]);
}

#[test]
fn unknown_version() {
    let Some(c) = Case::standard() else { return };
    let text = std::fs::read_to_string(c.manifest_path()).unwrap();
    c.sign(
        text.replacen("\"manifest_version\": 1", "\"manifest_version\": 2", 1)
            .as_bytes(),
    );
    c.assert_refused(&["unknown manifest version 2"]);
}

#[test]
fn older_sequence_is_a_rollback() {
    let Some(c) = Case::new(true, |b| &b.drive1) else {
        return;
    };
    c.assert_refused(&["not newer than", "refusing a rollback"]);
}

#[test]
fn allow_downgrade_is_accepted_and_audited() {
    let Some(c) = Case::new(true, |b| &b.drive1) else {
        return;
    };
    c.import(&["--allow-downgrade"]).expect("forced downgrade");
    assert_eq!(live_of(&c.store).as_deref(), Some("cube-test/1"));
    let audit = audit_records(&c.store);
    let last = audit.last().unwrap();
    assert_eq!(last["event"], "import", "{last}");
    assert_eq!(last["snapshot"], "cube-test/1");
    assert_eq!(last["forced"], true, "{last}");
    assert_eq!(last["previous_live"], "cube-test/2", "{last}");
}

/// The upstream-signed InRelease of the standard repository, as carried on the drive.
fn upstream_inrelease(m: &Manifest) -> Artifact {
    m.artifacts
        .iter()
        .find(|a| {
            a.kind == ArtifactKind::UpstreamRelease && a.path.ends_with("/dists/stable/InRelease")
        })
        .expect("the drive carries the upstream InRelease")
        .clone()
}

#[test]
fn upstream_inrelease_with_a_bad_signature() {
    let Some(c) = Case::standard() else { return };
    let mut m = c.manifest();
    let inrelease = upstream_inrelease(&m);
    let text = std::fs::read_to_string(c.blob(&inrelease.digest)).unwrap();
    let forged = text.replacen("Origin: Test", "Origin: Tesu", 1);
    assert_ne!(forged, text);
    let (digest, size) = c.put_blob(forged.as_bytes());
    for a in &mut m.artifacts {
        if a.path == inrelease.path {
            a.digest = digest;
            a.size = size;
        }
    }
    c.reseal(m);
    c.assert_refused(&["upstream signature does not verify", &inrelease.path]);
}

#[test]
fn deb_not_in_the_upstream_packages() {
    let Some(c) = Case::standard() else { return };
    let mut m = c.manifest();
    let deb = c.fresh_deb();
    let mut evil = deb.clone();
    evil.path = "apt/fixture/pool/main/e/evil/evil_1.0-1_amd64.deb".into();
    evil.meta.name = Some("evil".into());
    evil.meta.version = Some("1.0-1".into());
    m.artifacts.push(evil.clone());
    c.reseal(m);
    c.assert_refused(&[
        &evil.path,
        "not listed in the upstream-signed Packages of fixture",
    ]);
}

#[test]
fn gz_bomb_in_an_upstream_index() {
    let Some(c) = Case::standard() else { return };
    if !mirror_e2e::require_tools(&["gzip", "head"]) {
        return;
    }
    let mut m = c.manifest();
    // 600 MiB of blank 1 KiB lines (over the 512 MiB bound on the whole text; no line or
    // stanza is over its own bound), gzip'd to about 600 KiB, listed in a Release signed
    // by the real upstream key: only the decompression bound stops it.
    let bomb_path = c._dir.path().join("Packages.gz");
    let out = std::fs::File::create(&bomb_path).unwrap();
    let status = Command::new("sh")
        .args([
            "-c",
            "yes \"$(printf '%1023s' '')\" | head -c 629145600 | gzip -1",
        ])
        .stdout(out)
        .status()
        .unwrap();
    assert!(status.success());
    let bomb = std::fs::read(&bomb_path).unwrap();
    let (bomb_digest, bomb_size) = c.put_blob(&bomb);

    let index = m
        .artifacts
        .iter()
        .find(|a| a.kind == ArtifactKind::UpstreamIndex && a.path.contains("/dists/stable/"))
        .expect("the drive carries the upstream Packages index")
        .clone();
    let dir = index.path[..index.path.find("/dists/stable/").unwrap()].to_owned() + "/dists/stable";
    let rel = "main/binary-amd64/Packages.gz";
    // A Release listing only the bomb, signed by the upstream key.
    let release_src =
        std::fs::read_to_string(c.base.w.apt.standard.join("dists/stable/Release")).unwrap();
    let mut release = String::new();
    for line in release_src.lines() {
        if line.starts_with(' ') {
            continue;
        }
        if line.ends_with(':') {
            if line == "SHA256:" {
                release.push_str(&format!(
                    "SHA256:\n {} {bomb_size} {rel}\n",
                    bomb_digest.hex()
                ));
            }
            continue;
        }
        release.push_str(line);
        release.push('\n');
    }
    let rel_file = c._dir.path().join("Release");
    std::fs::write(&rel_file, &release).unwrap();
    let inrelease_file = c._dir.path().join("InRelease");
    c.base
        .w
        .apt
        .sign(
            &rel_file,
            Some(&inrelease_file),
            &c._dir.path().join("Release.gpg"),
        )
        .unwrap();
    let (ir_digest, ir_size) = c.put_blob(&std::fs::read(&inrelease_file).unwrap());
    m.artifacts.retain(|a| {
        !(a.path.starts_with(&format!("{dir}/"))
            && matches!(
                a.kind,
                ArtifactKind::UpstreamIndex | ArtifactKind::UpstreamRelease
            ))
    });
    m.artifacts.push(Artifact {
        digest: ir_digest,
        size: ir_size,
        path: format!("{dir}/InRelease"),
        ..upstream_inrelease(&c.manifest())
    });
    m.artifacts.push(Artifact {
        digest: bomb_digest,
        size: bomb_size,
        path: format!("{dir}/{rel}"),
        ..index
    });
    c.reseal(m);
    c.assert_refused(&["decompressed index exceeds the limit", rel]);
}
