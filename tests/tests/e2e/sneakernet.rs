//! Sneakernet drives (issue 5), on the standard offline scenario with real exports and
//! real imports:
//!
//! - a delta drive holds exactly the blobs its base lacks; a Cube holding the base imports
//!   it, a Cube without it refuses before changing anything and names what is missing;
//! - a receipt-driven drive brings a site from A to C after the B drive was lost;
//! - files over `--max-file-size` are split into parts; `verify` and `import` both catch a
//!   flipped byte in one part, and a good drive is joined back byte for byte;
//! - a snapshot spread over 3 volumes imports in the order 3, 1, 2 (resuming from what
//!   the earlier runs verified), and with volume 2 missing the import says so and the live
//!   snapshot and the store's content stay as they were;
//! - `kill -9` during export or import, then a rerun: the drive is byte-identical to an
//!   uninterrupted export, and the store to an uninterrupted import;
//! - every drive's file and directory names are valid on FAT32 (no `:`, no case collisions).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use formats::digest::Digest;
use formats::media::Media;
use formats::snapshot::Manifest;
use mirror_e2e::apt_fixture::DebSpec;
use mirror_e2e::product::{read_manifest, s, server_cli, sync_cli, sync_cli_json};
use mirror_e2e::tree::{tree_digest, tree_manifest};
use mirror_e2e::workspace_bin;
use mirror_e2e::world::{World, world};
use mirror_server::import::{ImportError, ImportOptions, ImportSummary, import};

fn import_into(w: &World, store: &Path, drives: &[&Path]) -> Result<ImportSummary, ImportError> {
    import(&ImportOptions {
        drive: drives[0].to_path_buf(),
        volumes: drives[1..].iter().map(|p| p.to_path_buf()).collect(),
        store: store.to_path_buf(),
        trusted_keys: w.keys.join("trusted"),
        snapshot: None,
        allow_downgrade: false,
        progress: false,
        policy: None,
    })
}

fn digests(m: &Manifest) -> BTreeSet<Digest> {
    m.artifacts.iter().map(|a| a.digest).collect()
}

fn sizes(m: &Manifest) -> BTreeMap<Digest, u64> {
    m.artifacts.iter().map(|a| (a.digest, a.size)).collect()
}

/// The blobs stored whole under `dir/blobs/sha256/` (a drive, or a store).
fn blob_files(dir: &Path) -> BTreeSet<Digest> {
    let mut out = BTreeSet::new();
    let Ok(rd) = std::fs::read_dir(dir.join("blobs/sha256")) else {
        return out;
    };
    for e in rd {
        let name = e.unwrap().file_name().into_string().unwrap();
        out.insert(format!("sha256:{name}").parse().expect("blob file name"));
    }
    out
}

/// Every regular file under `dir`, as (relative path, size).
fn files_under(dir: &Path) -> Vec<(String, u64)> {
    tree_manifest(dir)
        .into_iter()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[1] == "f").then(|| (f[0].to_owned(), f[3].parse().unwrap()))
        })
        .collect()
}

fn assert_fat_safe(drive: &Path) {
    let paths: Vec<String> = tree_manifest(drive)
        .into_iter()
        .map(|l| l.split('\t').next().unwrap().to_owned())
        .collect();
    let problems = formats::media::fat_problems(paths.iter().map(String::as_str));
    assert!(problems.is_empty(), "not FAT32-safe: {problems:?}");
}

fn media_of(drive: &Path, name: &str) -> Media {
    let p = drive.join("snapshots").join(name).join("media.json");
    Media::from_slice(&std::fs::read(&p).unwrap()).unwrap()
}

/// Snapshot B: libcube1 upgraded upstream.
fn upgrade(w: &World) {
    w.apt
        .add_standard_deb(&DebSpec::new("libcube1", "1.3-1", "amd64").field("Depends", "cube-base"))
        .unwrap();
    w.apt.refresh_standard().unwrap();
}

/// Snapshot C: cube-alt dropped, unrelated added.
fn change_selection(w: &World) {
    let cfg = std::fs::read_to_string(&w.config).unwrap();
    let changed = cfg.replace(
        r#"packages = ["cube-tool", "cube-alt", "cube-plus"]"#,
        r#"packages = ["cube-tool", "cube-plus", "unrelated"]"#,
    );
    assert_ne!(cfg, changed, "the package list is in the config");
    std::fs::write(&w.config, changed).unwrap();
}

fn sync(w: &World) {
    sync_cli(&["sync", "--config", s(&w.config)]).expect("sync");
}

fn export(w: &World, drive: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["export", "--config", s(&w.config), "--to", s(drive)];
    args.extend_from_slice(extra);
    let (r, doc) = sync_cli_json(&args);
    r.expect("export");
    doc
}

#[test]
fn delta_drive_holds_only_new_blobs_and_needs_its_base() {
    let Some(w) = world() else { return };
    sync(&w);
    let drive_a = w.path("drive-a");
    export(&w, &drive_a, &[]);
    let site = w.path("site");
    import_into(&w, &site, &[&drive_a]).expect("import A");

    upgrade(&w);
    sync(&w);
    let drive_b = w.path("drive-b");
    let r = export(&w, &drive_b, &["--base", "cube-test/1"]);
    assert_eq!(r["snapshot"], "cube-test/2");
    let (_, a) = read_manifest(&drive_a);
    let (_, b) = read_manifest(&drive_b);
    assert_eq!(b.base, None, "the manifest is the same whole or as a delta");
    let new: BTreeSet<Digest> = digests(&b).difference(&digests(&a)).copied().collect();
    assert!(!new.is_empty() && new.len() < digests(&b).len());
    assert_eq!(blob_files(&drive_b), new, "exactly the blobs A lacks");
    let sz = sizes(&b);
    let changed: u64 = new.iter().map(|d| sz[d]).sum();
    let files = files_under(&drive_b);
    let blob_bytes: u64 = files
        .iter()
        .filter(|(p, _)| p.starts_with("blobs/"))
        .map(|(_, n)| n)
        .sum();
    let drive_bytes: u64 = files.iter().map(|(_, n)| n).sum();
    assert_eq!(blob_bytes, changed, "the blobs are the changed artifacts");
    assert_eq!(r["bytes_carried"], changed);
    let full: u64 = sz.values().sum();
    eprintln!(
        "DELTA changed artifacts {changed} bytes in {} blobs; drive {drive_bytes} bytes ({} of metadata: manifest, media description, signatures); full snapshot {full} bytes",
        new.len(),
        drive_bytes - changed
    );
    let media = media_of(&drive_b, "cube-test/2");
    assert_eq!(media.base.as_deref(), Some("cube-test/1"));
    assert_eq!(media.omitted_blobs as usize, digests(&b).len() - new.len());
    assert_fat_safe(&drive_b);

    // Read back: a pass that says it is a delta.
    let (ok, v) = sync_cli_json(&["verify", s(&drive_b), "--config", s(&w.config)]);
    ok.expect("verify passes");
    assert_eq!(v["ok"], true);
    assert_eq!(v["snapshots"][0]["base"], "cube-test/1");
    assert_eq!(v["checked_files"], new.len());

    // A Cube without the base: refused before anything changes, naming what is missing.
    let bare = w.path("bare-site");
    let err = import_into(&w, &bare, &[&drive_b]).expect_err("no base");
    let msg = err.to_string();
    assert!(matches!(err, ImportError::MissingBase { .. }), "{msg}");
    for needle in [
        "cube-test/1",
        "leaves out",
        "apt/fixture/",
        "held here: nothing",
    ] {
        assert!(msg.contains(needle), "{needle:?} in {msg}");
    }
    assert!(!bare.exists(), "the refused import left nothing behind");

    // The Cube holding A: accepted, copying only the new blobs.
    let before = blob_files(&site);
    let sum = import_into(&w, &site, &[&drive_b]).expect("import the delta");
    assert_eq!(sum.snapshot, "cube-test/2");
    assert_eq!(sum.blobs_copied as usize, new.len());
    assert_eq!(sum.blobs_present as usize, digests(&b).len() - new.len());
    let after = blob_files(&site);
    assert!(after.is_superset(&before) && after.is_superset(&digests(&b)));
    server_cli(&["verify", "--store", s(&site), "--json"]).expect("store verifies");
}

#[test]
fn receipt_drive_catches_a_site_up_after_a_lost_drive() {
    let Some(w) = world() else { return };
    sync(&w);
    let drive_a = w.path("drive-a");
    export(&w, &drive_a, &[]);
    let site = w.path("site");
    import_into(&w, &site, &[&drive_a]).expect("import A");

    // B is cut and its drive lost on the way.
    upgrade(&w);
    sync(&w);
    let drive_b = w.path("drive-b-lost");
    export(&w, &drive_b, &["--base", "cube-test/1"]);
    // C is cut from the next sync.
    change_selection(&w);
    sync(&w);

    let receipt = w.path("receipt.json");
    server_cli(&["receipt", "--store", s(&site), "--out", s(&receipt)]).expect("receipt");
    let text = std::fs::read_to_string(&receipt).unwrap();
    assert!(!text.contains(s(&site)), "the receipt names no site path");

    let drive_c = w.path("drive-c");
    let site_pub = site.join("site.pub");
    let r = export(
        &w,
        &drive_c,
        &["--receipt", s(&receipt), "--site-key", s(&site_pub)],
    );
    assert_eq!(r["snapshot"], "cube-test/3");
    let (_, a) = read_manifest(&drive_a);
    let (_, b) = read_manifest(&drive_b);
    let (_, c) = read_manifest(&drive_c);
    let held = blob_files(&site);
    let needed: BTreeSet<Digest> = digests(&c).difference(&held).copied().collect();
    assert_eq!(blob_files(&drive_c), needed, "exactly what the site lacks");
    // It carries what only the lost B drive had (a delta against B would not).
    let only_in_b: BTreeSet<Digest> = digests(&b)
        .difference(&digests(&a))
        .filter(|d| digests(&c).contains(d))
        .copied()
        .collect();
    assert!(!only_in_b.is_empty());
    assert!(only_in_b.is_subset(&blob_files(&drive_c)));
    let media = media_of(&drive_c, "cube-test/3");
    assert!(
        media
            .receipt_site
            .as_deref()
            .is_some_and(|k| k.starts_with("ed25519:"))
    );

    // A delta against the lost B is refused by the site, naming B.
    let drive_c_delta = w.path("drive-c-delta");
    export(
        &w,
        &drive_c_delta,
        &["--snapshot", "cube-test/3", "--base", "cube-test/2"],
    );
    let err = import_into(&w, &site, &[&drive_c_delta]).expect_err("B was never imported");
    assert!(err.to_string().contains("cube-test/2"), "{err}");

    // The receipt drive brings the site to C.
    let sum = import_into(&w, &site, &[&drive_c]).expect("catch-up import");
    assert_eq!(sum.snapshot, "cube-test/3");
    assert_eq!(sum.previous_live.as_deref(), Some("cube-test/1"));
    server_cli(&["verify", "--store", s(&site), "--json"]).expect("store verifies");

    // A receipt signed by another site key is refused when the key is pinned.
    let other = w.path("other-site.pub");
    std::fs::write(
        &other,
        keys::snapshot::SigningKey::generate().public_key().to_pem(),
    )
    .unwrap();
    let (res, _) = sync_cli_json(&[
        "export",
        "--config",
        s(&w.config),
        "--snapshot",
        "cube-test/3",
        "--to",
        s(&w.path("drive-wrong-site")),
        "--receipt",
        s(&receipt),
        "--site-key",
        s(&other),
    ]);
    assert!(res.is_err(), "a receipt from another site is refused");
}

#[test]
fn split_parts_are_joined_and_a_flipped_part_byte_is_caught() {
    let Some(w) = world() else { return };
    sync(&w);
    let drive = w.path("drive");
    let limit = 16 * 1024u64;
    let r = export(&w, &drive, &["--max-file-size", "16KiB"]);
    assert_eq!(r["max_file_size"], limit);
    let media = media_of(&drive, "cube-test/1");
    let split: Vec<_> = media.blobs.iter().filter(|b| !b.parts.is_empty()).collect();
    assert!(!split.is_empty(), "the fixture has files over 16 KiB");
    for (p, n) in files_under(&drive) {
        if p.starts_with("blobs/") || p.starts_with("parts/") {
            assert!(n <= limit, "{p} is {n} bytes, over the limit");
        }
    }
    assert_fat_safe(&drive);
    let (ok, v) = sync_cli_json(&["verify", s(&drive), "--config", s(&w.config)]);
    ok.expect("verify passes");
    assert_eq!(v["snapshots"][0]["reassembled"], split.len());

    // A copy with one byte flipped in one part.
    let bad = w.path("drive-bad");
    copy_tree(&drive, &bad);
    let victim = format!("parts/sha256/{}/1", split[0].digest.hex());
    let path = bad.join(&victim);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[7] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let (res, v) = sync_cli_json(&["verify", s(&bad), "--config", s(&w.config)]);
    assert!(res.is_err(), "verify fails");
    assert_eq!(v["ok"], false);
    let failures = v["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0]["file"].as_str().unwrap().ends_with(&victim),
        "{failures:?}"
    );
    let site = w.path("site");
    let err = import_into(&w, &site, &[&bad]).expect_err("flipped part");
    assert!(err.to_string().contains(&victim), "{err}");
    assert!(!site.exists(), "the refused import left nothing behind");

    // The good drive: joined back, and served bytes hash right.
    let sum = import_into(&w, &site, &[&drive]).expect("import");
    assert_eq!(sum.blobs_joined as usize, split.len());
    for b in &split {
        let stored = std::fs::read(site.join("blobs/sha256").join(b.digest.hex())).unwrap();
        assert_eq!(Digest::of(&stored), b.digest);
    }
    server_cli(&["verify", "--store", s(&site), "--json"]).expect("store verifies");
}

#[test]
fn three_volumes_import_in_any_order() {
    let Some(w) = world() else { return };
    sync(&w);
    let drive_a = w.path("drive-a");
    export(&w, &drive_a, &[]);
    let site = w.path("site");
    import_into(&w, &site, &[&drive_a]).expect("import A");
    upgrade(&w);
    sync(&w);
    let full = w.path("drive-full");
    export(&w, &full, &[]);
    let (mpath, m) = read_manifest(&full);

    // Pick a volume size that the product's own planner spreads over exactly 3 volumes.
    let limit = 16 * 1024;
    let blobs = sizes(&m);
    let reserve = mirror_sync::export::metadata_reserve(
        std::fs::metadata(&mpath).unwrap().len(),
        blobs.len(),
    );
    let block = mirror_sync::export::allocation_unit(&w.path("."));
    let total: u64 = blobs.values().map(|s| s.div_ceil(block) * block).sum();
    let volume_size = (1..200)
        .map(|i| reserve + total * i / 500 + limit)
        .find(|v| {
            formats::media::plan(&blobs, Some(limit), Some(v - reserve), block)
                .is_ok_and(|p| formats::media::volume_count(&p) == 3)
        })
        .expect("a volume size giving 3 volumes");
    let vols: Vec<PathBuf> = (1..=3).map(|i| w.path(&format!("vol{i}"))).collect();
    let size_arg = volume_size.to_string();
    let mut args = vec![
        "export",
        "--config",
        s(&w.config),
        "--snapshot",
        "cube-test/2",
        "--max-file-size",
        "16KiB",
        "--volume-size",
        &size_arg,
    ];
    for v in &vols {
        args.extend(["--to", s(v)]);
    }
    let (r, doc) = sync_cli_json(&args);
    r.expect("export over 3 volumes");
    assert_eq!(doc["volumes"], 3);
    // One drive at a time (`--volume N`) writes exactly the same volume.
    let alone = w.path("vol2-alone");
    let (r, doc) = sync_cli_json(&[
        "export",
        "--config",
        s(&w.config),
        "--snapshot",
        "cube-test/2",
        "--max-file-size",
        "16KiB",
        "--volume-size",
        &size_arg,
        "--volume",
        "2",
        "--to",
        s(&alone),
    ]);
    r.expect("--volume 2");
    assert_eq!(doc["volumes_written"][0]["volume"], 2);
    assert_eq!(tree_manifest(&alone), tree_manifest(&vols[1]));
    for (i, v) in vols.iter().enumerate() {
        let media = media_of(v, "cube-test/2");
        assert_eq!((media.volume, media.volumes), (i as u32 + 1, 3));
        assert_fat_safe(v);
        let used: u64 = files_under(v).iter().map(|(_, n)| n).sum();
        assert!(
            used <= volume_size,
            "volume {} holds {used} > {volume_size}",
            i + 1
        );
        let (ok, check) = sync_cli_json(&["verify", s(v), "--config", s(&w.config)]);
        ok.expect("each volume verifies on its own");
        assert!(check["snapshots"][0]["on_other_volumes"].as_u64().unwrap() > 0);
    }

    // Volume 2 missing: said so, and nothing the site serves or stores changes.
    let content = |store: &Path| -> Vec<String> {
        tree_manifest(store)
            .into_iter()
            .filter(|l| !l.starts_with("tmp") && !l.contains("audit"))
            .collect()
    };
    let before = content(&site);
    let err = import_into(&w, &site, &[&vols[0], &vols[2]]).expect_err("volume 2 missing");
    let msg = err.to_string();
    assert!(msg.contains("still needed: volume(s) 2"), "{msg}");
    assert_eq!(content(&site), before, "{msg}");
    let live = || {
        store::Index::open_read_only(&site.join("index.redb"))
            .unwrap()
            .unwrap()
            .live("cube-test")
            .unwrap()
    };
    assert_eq!(live().as_deref(), Some("cube-test/1"));

    // gc drops the verified work of unfinished imports: start over, one drive at a
    // time, in the order 3, 1, 2.
    server_cli(&["gc", "--store", s(&site), "--keep", "5", "--json"]).expect("gc");
    assert!(
        mirror_server::lifecycle::resumable_staging(&site)
            .unwrap()
            .is_empty()
    );
    let err = import_into(&w, &site, &[&vols[2]]).expect_err("1 and 2 missing");
    assert!(
        err.to_string().contains("still needed: volume(s) 1, 2"),
        "{err}"
    );
    let err = import_into(&w, &site, &[&vols[0]]).expect_err("2 missing");
    assert!(
        err.to_string().contains("still needed: volume(s) 2"),
        "{err}"
    );
    assert!(
        err.to_string().contains("verified so far: volume(s) 1, 3"),
        "{err}"
    );
    let sum = import_into(&w, &site, &[&vols[1]]).expect("last volume completes it");
    assert_eq!(sum.snapshot, "cube-test/2");
    assert!(sum.blobs_resumed > 0, "volumes 1 and 3 were not read again");
    assert_eq!(live().as_deref(), Some("cube-test/2"));
    assert!(
        mirror_server::lifecycle::resumable_staging(&site)
            .unwrap()
            .is_empty(),
        "staging is gone once committed"
    );
    server_cli(&["verify", "--store", s(&site), "--json"]).expect("store verifies");
}

/// Polls until `ready` or the child exits; then `kill -9`. Returns true when the child
/// was killed while still running.
fn kill_when(child: &mut std::process::Child, ready: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if ready() || Instant::now() > deadline {
            let _ = child.kill();
            let status = child.wait().unwrap();
            return !status.success();
        }
        std::thread::sleep(Duration::from_micros(300));
    }
}

/// Regular files under `dir` (not `*.partial`), counted while another process writes
/// there: a directory not created yet, or an entry renamed away mid-walk, counts as
/// nothing (the poll simply runs again).
fn count_files(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => count_files(&e.path()),
            Ok(t) if t.is_file() && !e.file_name().to_string_lossy().ends_with(".partial") => 1,
            _ => 0,
        })
        .sum()
}

#[test]
fn killed_export_and_import_resume_to_identical_bytes() {
    let Some(w) = world() else { return };
    let (Ok(sync_bin), Ok(server_bin)) =
        (workspace_bin("mirror-sync"), workspace_bin("mirror-server"))
    else {
        assert!(
            !mirror_e2e::in_ci(),
            "binaries must be built in CI (cargo test --workspace)"
        );
        return;
    };
    sync(&w);
    // Export, killed once it has written a few files.
    let drive = w.path("drive");
    let mut child = Command::new(&sync_bin)
        .args(["--quiet", "export", "--config", s(&w.config)])
        .args(["--max-file-size", "16KiB", "--to", s(&drive)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let blobs_dir = drive.join("blobs");
    assert!(
        kill_when(&mut child, || count_files(&blobs_dir) >= 3),
        "the export was killed mid-way"
    );
    assert!(
        !drive.join("snapshots/cube-test/1/manifest.json").exists(),
        "a cut-short drive has no manifest"
    );
    let (r, doc) = sync_cli_json(&[
        "export",
        "--config",
        s(&w.config),
        "--max-file-size",
        "16KiB",
        "--to",
        s(&drive),
    ]);
    r.expect("resumed export");
    assert_eq!(
        doc["snapshot"], "cube-test/1",
        "the same cut, not a new one"
    );
    assert_eq!(doc["resumed"], true);
    assert!(
        doc["blobs_written"].as_u64().unwrap() < doc["blobs_carried"].as_u64().unwrap(),
        "files written before the kill were kept"
    );
    let reference = w.path("drive-ref");
    export(
        &w,
        &reference,
        &["--snapshot", "cube-test/1", "--max-file-size", "16KiB"],
    );
    assert_eq!(
        tree_manifest(&drive),
        tree_manifest(&reference),
        "resumed drive == uninterrupted drive"
    );

    // Import, killed once it has verified a few blobs into its staging.
    let site = w.path("site");
    let mut child = Command::new(&server_bin)
        .args(["import", s(&drive), "--quiet", "--store", s(&site)])
        .args(["--trusted-keys", s(&w.keys.join("trusted"))])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let tmp = site.join("tmp");
    let staged = || {
        mirror_server::lifecycle::resumable_staging(&site)
            .unwrap_or_default()
            .iter()
            .any(|d| {
                count_files(&d.join("blobs/sha256")) + count_files(&d.join("parts/blobs")) >= 3
            })
    };
    let killed = kill_when(&mut child, staged);
    assert!(killed, "the import was killed mid-way");
    assert!(
        !site.join("index.redb").exists()
            || store::Index::open_read_only(&site.join("index.redb"))
                .unwrap()
                .and_then(|i| i.live("cube-test").unwrap())
                .is_none(),
        "nothing live after the kill"
    );
    assert!(tmp.is_dir());
    let sum = import_into(&w, &site, &[&drive]).expect("resumed import");
    assert!(sum.blobs_resumed > 0, "verified blobs were kept");
    let reference_site = w.path("site-ref");
    import_into(&w, &reference_site, &[&reference]).expect("uninterrupted import");
    assert_eq!(
        tree_digest(&site.join("blobs")),
        tree_digest(&reference_site.join("blobs")),
        "resumed store == uninterrupted store"
    );
    assert!(
        mirror_server::lifecycle::resumable_staging(&site)
            .unwrap()
            .is_empty()
    );
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}
