//! The switch is atomic and survives crashes (issue 4).
//!
//! - **Crash consistency**: `mirror-server import` runs as a child process and is killed
//!   with SIGKILL after a random delay, in [`trials`] trials (20 by default,
//!   `MIRROR_CRASH_TRIALS` for more). After each kill the server still serves a whole
//!   snapshot (the old one, or the new one when the kill came after the commit), the old
//!   one stays reachable under `/snapshots/<name>/`, `mirror-server verify` is clean, and
//!   a re-import succeeds.
//! - **Crash points of the batched durability** (issue 15): the import is stopped exactly
//!   before its sync, after it, and after the renames into the store (a test hook,
//!   `MIRROR_IMPORT_PAUSE_AT`) and killed there; the same checks hold, and a blob whose
//!   bytes a power loss before the sync could have lost is hashed again, not trusted.
//! - **Load during a switch**: clients read APT, PyPI and OCI paths while imports and
//!   rollbacks switch the live snapshot; no request fails and every body is one
//!   snapshot's bytes for that path.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::{Fixture, Import, OciFile};
use formats::digest::Digest;
use formats::oci::OCI_MANIFEST;
use formats::snapshot::Meta;
pub(super) use testkit::crash::{Rng, cp_dir, kill_after, seed};

pub(super) const BIN: &str = env!("CARGO_BIN_EXE_mirror-server");

/// Paths every snapshot serves, with bytes that differ per snapshot.
pub(super) const APT_PATH: &str = "apt/cuda/dists/stable/main/binary-amd64/Packages";
pub(super) const PAGE_PATH: &str = "simple/foo-bar/index.html";
pub(super) const TAG: &str = "latest";
pub(super) const REPO: &str = "docker.io/library/app";

/// The files of snapshot `k`: an APT index, a simple page, an OCI image (config, layer,
/// manifest, tag), and `bulk` extra blobs of `bulk_size` bytes each so that an import
/// takes long enough to be killed in every phase.
pub(super) fn snapshot_files(k: u64, bulk: usize, bulk_size: usize) -> Vec<OciFile> {
    let config = format!("{{\"snapshot\":{k}}}").into_bytes();
    let layer = format!("layer of snapshot {k}\n").into_bytes();
    let desc = |mt: &str, b: &[u8]| serde_json::json!({"mediaType": mt, "digest": Digest::of(b).to_string(), "size": b.len()});
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": desc("application/vnd.oci.image.config.v1+json", &config),
        "layers": [desc("application/vnd.oci.image.layer.v1.tar", &layer)],
    }))
    .unwrap();
    let md = Digest::of(&manifest);
    let mut files = vec![
        OciFile::new(
            APT_PATH,
            format!("Package: cuda-snap\nVersion: {k}\n").as_bytes(),
            "text/plain",
        ),
        OciFile::new(
            PAGE_PATH,
            format!("<html><body>snapshot {k}</body></html>\n").as_bytes(),
            "text/html",
        ),
        OciFile::new(
            format!("v2/{REPO}/blobs/{}", Digest::of(&config)),
            &config,
            "application/vnd.oci.image.config.v1+json",
        ),
        OciFile::new(
            format!("v2/{REPO}/blobs/{}", Digest::of(&layer)),
            &layer,
            "application/vnd.oci.image.layer.v1.tar",
        ),
        OciFile::new(format!("v2/{REPO}/manifests/{md}"), &manifest, OCI_MANIFEST),
        OciFile {
            meta: Meta {
                reference: Some(format!("{REPO}:{TAG}")),
                ..Meta::default()
            },
            ..OciFile::new(
                format!("v2/{REPO}/manifests/{TAG}"),
                &manifest,
                OCI_MANIFEST,
            )
        },
    ];
    for i in 0..bulk {
        let mut bytes = vec![0u8; bulk_size];
        let seed = format!("snapshot {k} bulk {i}");
        bytes[..seed.len()].copy_from_slice(seed.as_bytes());
        files.push(OciFile::new(
            format!("keys/bulk/{k}/{i}.bin"),
            &bytes,
            "application/octet-stream",
        ));
    }
    files
}

/// The served path for a logical path (`v2/<repo>/manifests/<tag>` → `/v2/…`).
pub(super) fn url_path(logical: &str) -> String {
    format!("/{logical}")
}

pub(super) fn bin(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

pub(super) fn live_of(store: &Path) -> Option<String> {
    store::Index::open_read_only(&store.join("index.redb"))
        .unwrap()
        .and_then(|i| i.current().unwrap())
}

/// Crash trials per test: `MIRROR_CRASH_TRIALS`, else 20.
pub(super) fn trials() -> usize {
    testkit::crash::trials(20)
}

/// A trial's own store, a copy of `template` at `dir/name`, and a server on it (a free
/// port on 127.0.0.1): the store, the server (shut it down at the end of the trial) and
/// its base URL.
pub(super) async fn trial_server(
    dir: &Path,
    template: &Path,
    name: &str,
) -> (PathBuf, mirror_server::serve::ServerHandle, String) {
    let store = dir.join(name);
    cp_dir(template, &store);
    let server = mirror_server::serve::start(store.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", server.addr);
    (store, server, base)
}

/// Runs `mirror-server verify` on `store` and fails the test, naming `what`, unless it
/// passes.
pub(super) fn verify(store: &Path, what: &str) {
    let out = bin(&["verify", "--store", store.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{what}: verify failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(super) async fn get(client: &reqwest::Client, base: &str, path: &str) -> (u16, Vec<u8>) {
    let r = client
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = r.status().as_u16();
    (status, r.bytes().await.unwrap().to_vec())
}

/// Waits (up to 10 s: the server polls every second, and CI machines are loaded) until the server at `base` serves `want` at `path`.
pub(super) async fn wait_for(client: &reqwest::Client, base: &str, path: &str, want: &[u8]) {
    let start = Instant::now();
    loop {
        let (status, body) = get(client, base, path).await;
        if status == 200 && body == want {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{path} still serves {status} {:?}",
            String::from_utf8_lossy(&body)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_import_leaves_a_consistent_store() {
    let fx = Fixture::new();
    let one = snapshot_files(1, 2, 1024);
    let two = snapshot_files(2, 400, 64 * 1024);
    let d1 = fx.oci_drive("drive1", 1, &one, &["docker.io"]);
    let d2 = fx.oci_drive("drive2", 2, &two, &["docker.io"]);
    fx.import(&d1, &[]).expect("base import");
    let template = fx.dir.path().join("template");
    cp_dir(&fx.store, &template);
    let bytes_of = |files: &[OciFile], p: &str| -> Vec<u8> {
        files.iter().find(|f| f.path == p).unwrap().bytes.clone()
    };
    let trusted = fx.trusted.to_str().unwrap().to_owned();

    // How long an uninterrupted import takes: the kills land in [0, 1.5 × that].
    let timing = fx.dir.path().join("timing");
    cp_dir(&template, &timing);
    let t0 = Instant::now();
    let import_args = |store: &Path| -> Vec<String> {
        [
            "import",
            d2.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
            "--trusted-keys",
            &trusted,
            "--quiet",
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let out = Command::new(BIN)
        .args(import_args(&timing))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let full = t0.elapsed();
    let seed = seed();
    eprintln!("import takes {full:?}; MIRROR_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let client = reqwest::Client::new();
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    for trial in 0..trials() {
        let (store, server, base) =
            trial_server(fx.dir.path(), &template, &format!("trial-{trial}")).await;
        let delay = rng.delay(full * 3 / 2);
        let finished = kill_after(Command::new(BIN).args(import_args(&store)), delay);
        let live = live_of(&store);
        let committed = match live.as_deref() {
            Some("test/1") => false,
            Some("test/2") => true,
            other => panic!("trial {trial} (delay {delay:?}): live snapshot {other:?}"),
        };
        *outcomes
            .entry(match (finished, committed) {
                (true, _) => "finished before the kill",
                (false, true) => "killed after the commit",
                (false, false) => "killed before the commit",
            })
            .or_default() += 1;
        // The live snapshot serves whole, and the old one stays reachable by name.
        let files = if committed { &two } else { &one };
        for p in [APT_PATH, PAGE_PATH, &format!("v2/{REPO}/manifests/{TAG}")] {
            wait_for(&client, &base, &url_path(p), &bytes_of(files, p)).await;
        }
        let (status, body) = get(&client, &base, &format!("/snapshots/test/1/{PAGE_PATH}")).await;
        assert_eq!(
            (status, body),
            (200, bytes_of(&one, PAGE_PATH)),
            "trial {trial}"
        );
        // The store is consistent.
        verify(&store, &format!("trial {trial} (delay {delay:?})"));
        // A re-import succeeds (forced when the killed run had already committed).
        let mut args = import_args(&store);
        if committed {
            args.push("--allow-downgrade".into());
        }
        let out = Command::new(BIN).args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "trial {trial} (delay {delay:?}): re-import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(live_of(&store).as_deref(), Some("test/2"));
        let leftovers: Vec<_> = std::fs::read_dir(store.join("tmp"))
            .map(|r| r.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(
            leftovers.is_empty(),
            "trial {trial}: staging left: {leftovers:?}"
        );
        let out = bin(&["verify", "--store", store.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "trial {trial}: verify after re-import"
        );
        wait_for(
            &client,
            &base,
            &url_path(PAGE_PATH),
            &bytes_of(&two, PAGE_PATH),
        )
        .await;
        server.shutdown().await;
        std::fs::remove_dir_all(&store).unwrap();
    }
    eprintln!("crash trials: {} {outcomes:?}", trials());
    assert!(
        outcomes
            .get("killed before the commit")
            .copied()
            .unwrap_or(0)
            > 0,
        "no trial killed an import before its commit: {outcomes:?}"
    );
}

/// The staging store of an import of the store at `store`, `tmp/resume-<hex>`.
fn staging_of(store: &Path) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(store.join("tmp"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("resume-"))
        })
        .collect();
    assert_eq!(dirs.len(), 1, "one staging store: {dirs:?}");
    dirs.pop().unwrap()
}

/// The blob files under `dir/blobs/sha256`.
fn blob_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir.join("blobs/sha256"))
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// Kill -9 exactly at each new point of the batched-durability import (issue 15), using
/// the import's `MIRROR_IMPORT_PAUSE_AT` hook: `staged` (every blob copied, nothing
/// synced, the staging not sealed), `synced` (one syncfs done, staging sealed, nothing
/// moved into the store) and `adopted` (blobs renamed into the store and its directory
/// synced, index not committed). After each kill the old snapshot is live and serves, the
/// store verifies, and a re-import commits: after `staged` it re-hashes what the unsealed
/// staging holds and copies again a staged blob whose bytes were lost (zeros written over
/// one, as a power loss before the sync can leave it); after `synced` it trusts the sealed
/// staging and reads nothing from the drive; after `adopted` it finds every blob in the
/// store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_each_durability_point_leaves_a_consistent_store() {
    use std::io::BufRead;
    let fx = Fixture::new();
    let one = snapshot_files(1, 2, 1024);
    let two = snapshot_files(2, 40, 16 * 1024);
    let d1 = fx.oci_drive("drive1", 1, &one, &["docker.io"]);
    let d2 = fx.oci_drive("drive2", 2, &two, &["docker.io"]);
    fx.import(&d1, &[]).expect("base import");
    let template = fx.dir.path().join("template");
    cp_dir(&fx.store, &template);
    let bytes_of = |files: &[OciFile], p: &str| -> Vec<u8> {
        files.iter().find(|f| f.path == p).unwrap().bytes.clone()
    };
    let trusted = fx.trusted.to_str().unwrap().to_owned();
    let import_args = |store: &Path| -> Vec<String> {
        [
            "import",
            d2.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
            "--trusted-keys",
            &trusted,
            "--json",
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let new_blobs: std::collections::BTreeSet<Digest> =
        two.iter().map(|f| Digest::of(&f.bytes)).collect();
    let client = reqwest::Client::new();
    for point in ["staged", "synced", "adopted"] {
        let (store, server, base) =
            trial_server(fx.dir.path(), &template, &format!("at-{point}")).await;
        let mut child = Command::new(BIN)
            .args(import_args(&store))
            .env("MIRROR_IMPORT_PAUSE_AT", point)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let want = format!("import paused at {point}");
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) if line == want => break,
                Ok(line) => seen.push(line),
                Err(e) => {
                    let _ = child.kill();
                    panic!("{point}: the import never paused ({e}): {seen:?}");
                }
            }
        }
        child.kill().unwrap(); // SIGKILL
        assert!(!child.wait().unwrap().success());

        // The old snapshot is live, serves whole, and the store verifies.
        assert_eq!(live_of(&store).as_deref(), Some("test/1"), "{point}");
        for p in [APT_PATH, PAGE_PATH, &format!("v2/{REPO}/manifests/{TAG}")] {
            wait_for(&client, &base, &url_path(p), &bytes_of(&one, p)).await;
        }
        verify(&store, point);
        let staging = staging_of(&store);
        let sealed = staging.join("synced").is_file();
        let in_store = blob_files(&store)
            .iter()
            .filter(|p| {
                new_blobs.iter().any(|d| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy() == d.hex())
                })
            })
            .count();
        let staged = blob_files(&staging);
        let mut damaged = None;
        match point {
            "staged" => {
                assert!(
                    !sealed,
                    "staged: the staging must not be sealed before its sync"
                );
                assert!(!staged.is_empty(), "staged: nothing staged");
                // What a power loss before the sync can leave: the name, not the bytes.
                let victim = staged
                    .iter()
                    .max_by_key(|p| p.metadata().unwrap().len())
                    .unwrap();
                let len = victim.metadata().unwrap().len() as usize;
                std::fs::write(victim, vec![0u8; len]).unwrap();
                damaged = Some(victim.file_name().unwrap().to_owned());
            }
            "synced" => {
                assert!(sealed, "synced: the staging is sealed after its sync");
                assert!(!staged.is_empty(), "synced: nothing staged");
            }
            _ => {
                assert!(sealed, "adopted: the staging stays sealed");
                assert!(in_store > 0, "adopted: no new blob moved into the store");
            }
        }

        // A re-import commits.
        let out = Command::new(BIN)
            .args(import_args(&store))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{point}: re-import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let n = |k: &str| {
            summary[k]
                .as_u64()
                .unwrap_or_else(|| panic!("{k}: {summary}"))
        };
        match point {
            "staged" => {
                assert_eq!(n("blobs_copied"), 1, "{point}: {summary}");
                assert_eq!(
                    n("blobs_resumed"),
                    staged.len() as u64 - 1,
                    "{point}: {summary}"
                );
            }
            "synced" => {
                assert_eq!(n("blobs_copied"), 0, "{point}: {summary}");
                assert_eq!(
                    n("blobs_resumed"),
                    staged.len() as u64,
                    "{point}: {summary}"
                );
            }
            _ => {
                assert_eq!(n("blobs_copied"), 0, "{point}: {summary}");
                assert!(n("blobs_present") >= in_store as u64, "{point}: {summary}");
            }
        }
        assert_eq!(live_of(&store).as_deref(), Some("test/2"), "{point}");
        if let Some(name) = damaged {
            let fixed = std::fs::read(store.join("blobs/sha256").join(&name)).unwrap();
            assert_eq!(
                Digest::of(&fixed).hex(),
                name.to_string_lossy(),
                "{point}: the damaged staged blob was trusted"
            );
        }
        let leftovers: Vec<_> = std::fs::read_dir(store.join("tmp"))
            .map(|r| r.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(leftovers.is_empty(), "{point}: staging left: {leftovers:?}");
        let out = bin(&["verify", "--store", store.to_str().unwrap()]);
        assert!(out.status.success(), "{point}: verify after re-import");
        wait_for(
            &client,
            &base,
            &url_path(PAGE_PATH),
            &bytes_of(&two, PAGE_PATH),
        )
        .await;
        server.shutdown().await;
        std::fs::remove_dir_all(&store).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_fails_or_mixes_snapshots_during_switches() {
    let fx = Fixture::new();
    let snaps: Vec<Vec<OciFile>> = (1..=3).map(|k| snapshot_files(k, 1, 64)).collect();
    let drives: Vec<PathBuf> = snaps
        .iter()
        .enumerate()
        .map(|(i, f)| fx.oci_drive(&format!("drive{}", i + 1), i as u64 + 1, f, &["docker.io"]))
        .collect();
    fx.import(&drives[0], &[]).unwrap();
    let paths = [
        APT_PATH.to_owned(),
        PAGE_PATH.to_owned(),
        format!("v2/{REPO}/manifests/{TAG}"),
    ];
    // path → the bodies each snapshot serves there.
    let mut expected: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    for p in &paths {
        for files in &snaps {
            let b = files.iter().find(|f| &f.path == p).unwrap().bytes.clone();
            expected.entry(url_path(p)).or_default().push(b);
        }
    }
    let expected = Arc::new(expected);
    let server = mirror_server::serve::start(fx.store.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", server.addr);
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..4 {
        let (base, stop, expected) = (base.clone(), stop.clone(), expected.clone());
        let paths: Vec<String> = paths.iter().map(|p| url_path(p)).collect();
        clients.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let (mut ok, mut seen) = (0u64, std::collections::BTreeSet::new());
            let mut i = c;
            while !stop.load(Ordering::Relaxed) {
                let p = &paths[i % paths.len()];
                i += 1;
                let (status, body) = get(&client, &base, p).await;
                assert_eq!(status, 200, "GET {p} failed during a switch");
                let k = expected[p]
                    .iter()
                    .position(|b| *b == body)
                    .unwrap_or_else(|| panic!("GET {p}: body of no snapshot: {body:?}"));
                seen.insert(k + 1);
                ok += 1;
            }
            (ok, seen)
        }));
    }
    // Three imports and rollbacks, each given time to be picked up by the server.
    let settle = || std::thread::sleep(Duration::from_millis(1300));
    settle();
    fx.import(&drives[1], &[]).unwrap();
    settle();
    fx.import(&drives[2], &[]).unwrap();
    settle();
    mirror_server::cli::run([
        "mirror-server",
        "rollback",
        "--store",
        fx.store.to_str().unwrap(),
    ])
    .unwrap();
    settle();
    mirror_server::cli::run([
        "mirror-server",
        "rollback",
        "--to",
        "test/1",
        "--store",
        fx.store.to_str().unwrap(),
    ])
    .unwrap();
    settle();
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    let mut seen = std::collections::BTreeSet::new();
    for c in clients {
        let (ok, s) = c.await.expect("a client saw a failed or mixed response");
        total += ok;
        seen.extend(s);
    }
    server.shutdown().await;
    eprintln!("{total} requests, snapshots seen: {seen:?}");
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), [1, 2, 3]);
    assert!(total > 100, "the load generator ran ({total} requests)");
}
