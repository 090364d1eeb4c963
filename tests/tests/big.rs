//! Big artifacts and interrupted syncs, through the real `mirror-sync` binary against
//! [`BigUpstream`] (a minimal OCI registry whose image has one huge layer of generated
//! bytes; see `tests/src/big_upstream.rs`).
//!
//! - CI-sized, always run: a 48 MiB layer cut once mid-download resumes with `Range`,
//!   the digest in the store is right and peak RSS stays under 64 MiB; a run that gives up
//!   reports failure and the next resumes; a `kill -9` mid-download, then a rerun that
//!   asks only for the missing bytes and does not fetch again the blobs completed before
//!   the kill.
//! - Heavy, opt-in (`MIRROR_HEAVY_TESTS=1`): the same with a 5 GiB layer; prints the peak
//!   RSS, the wall time and the throughput.
//!
//! The binary is `MIRROR_SYNC_BIN` when set (e.g. a release build), else the one next to
//! this test (`cargo test --workspace` builds it; `cargo test -p mirror-e2e` alone does not:
//! run `cargo build -p mirror-sync` first). Without it the tests are skipped with a
//! reason, except under CI where that is a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use formats::digest::Digest;
use mirror_e2e::big_upstream::{BigOptions, BigUpstream};
use serde_json::Value;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;
/// The requirement: peak RSS under 64 MB while syncing a multi-GB artifact.
const RSS_LIMIT_KIB: u64 = 64 * 1024;

/// The `mirror-sync` binary to run, or `None` (skip) when it is not built.
fn sync_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MIRROR_SYNC_BIN") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "MIRROR_SYNC_BIN={} is not a file", p.display());
        return Some(p);
    }
    match mirror_e2e::workspace_bin("mirror-sync") {
        Ok(p) => Some(p),
        Err(e) if mirror_e2e::in_ci() => panic!("CI must build mirror-sync: {e}"),
        Err(e) => {
            eprintln!("skipping: {e}");
            None
        }
    }
}

/// What one `mirror-sync --json sync` process did.
#[derive(Debug)]
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    /// Highest `VmHWM` sampled from `/proc/<pid>/status` (KiB).
    peak_rss_kib: u64,
    wall: Duration,
    /// Whether the test killed it (SIGKILL).
    killed: bool,
}

impl Run {
    fn summary(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or(Value::Null)
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (killed: {}), peak RSS {} KiB, {:.1}s\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status,
            self.killed,
            self.peak_rss_kib,
            self.wall.as_secs_f64(),
            self.stdout,
            self.stderr
        )
    }
}

/// `VmHWM` (peak resident set size) of `pid` in KiB; `None` once it has exited.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Runs `BIN --json sync --config CONFIG`, sampling its peak RSS every 20 ms, and sends
/// it SIGKILL as soon as `kill_when()` says so. Panics after `deadline`.
fn run_sync(
    bin: &Path,
    config: &Path,
    deadline: Duration,
    mut kill_when: impl FnMut() -> bool,
) -> Run {
    let dir = config.parent().unwrap();
    let out_path = dir.join("sync.stdout");
    let err_path = dir.join("sync.stderr");
    let mut cmd = Command::new(bin);
    cmd.args(["--json", "sync", "--config"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    for var in [
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ] {
        cmd.env_remove(var);
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("start mirror-sync");
    let pid = child.id();
    let mut peak = 0;
    let mut killed = false;
    let status = loop {
        if let Some(kib) = vm_hwm_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if !killed && kill_when() {
            child.kill().unwrap(); // SIGKILL
            killed = true;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "mirror-sync still running after {deadline:?}; stderr:\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        status,
        stdout: std::fs::read_to_string(&out_path).unwrap(),
        stderr: std::fs::read_to_string(&err_path).unwrap(),
        peak_rss_kib: peak,
        wall: started.elapsed(),
        killed,
    }
}

/// A scratch directory with `mirror.toml` for `up` and its store.
struct Site {
    tmp: tempfile::TempDir,
}

impl Site {
    fn new(up: &BigUpstream, sync: &str) -> Site {
        let tmp = tempfile::Builder::new()
            .prefix("mirror-big-")
            .tempdir()
            .unwrap();
        let site = Site { tmp };
        site.write_config(up, sync);
        site
    }

    fn write_config(&self, up: &BigUpstream, sync: &str) {
        std::fs::write(self.config(), up.mirror_toml(&self.store(), sync)).unwrap();
    }

    fn config(&self) -> PathBuf {
        self.tmp.path().join("mirror.toml")
    }

    fn store(&self) -> PathBuf {
        self.tmp.path().join("store")
    }

    fn cas(&self) -> store::Cas {
        store::Cas::at(&self.store())
    }

    /// Size of the big layer's partial download on disk, if any.
    fn partial_len(&self, up: &BigUpstream) -> Option<u64> {
        let d: Digest = up.big_digest().parse().unwrap();
        std::fs::metadata(self.cas().partial_path(&d))
            .ok()
            .map(|m| m.len())
    }

    /// Whether the store's state records the upstream (a completed sync).
    fn state_has_upstream(&self) -> bool {
        let state = mirror_sync::state::State::open(&self.store()).unwrap();
        state.upstream("big").unwrap().is_some()
    }

    /// Entries left in `STORE/tmp`.
    fn tmp_entries(&self) -> Vec<String> {
        match std::fs::read_dir(self.store().join("tmp")) {
            Ok(rd) => rd
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// The big layer is in the store under its name and its bytes hash to it (re-read from
/// disk, 1 MiB at a time).
fn assert_big_blob_stored(site: &Site, up: &BigUpstream) {
    let d: Digest = up.big_digest().parse().unwrap();
    let cas = site.cas();
    assert_eq!(cas.contains(&d).unwrap(), Some(up.big_size()));
    let (actual, n) = cas.hash_blob(&d, |_| {}).unwrap();
    assert_eq!(
        (actual, n),
        (d, up.big_size()),
        "stored bytes hash to the digest"
    );
}

/// A successful sync whose summary lists the big upstream.
fn assert_synced(run: &Run, up: &BigUpstream) {
    assert!(run.status.success(), "sync failed: {run}");
    let v = run.summary();
    assert_eq!(v["failed"], serde_json::json!([]), "{v}");
    let rep = &v["upstreams"][0]["report"];
    assert_eq!(rep["name"], "big", "{v}");
    assert_eq!(rep["images"], 1, "{v}");
    let small = up.small_digests().len() as u64 - 1; // small_digests includes the config
    assert_eq!(
        rep["blobs"],
        small + 2,
        "config, small layers, big layer: {v}"
    );
}

/// One full sync of a layer of `size` bytes cut once at `cut`: resumed with `Range`
/// from where the cut left it, verified, with flat memory. Returns the run.
fn cut_once_and_resume(bin: &Path, size: u64, cut: u64, deadline: Duration) -> Run {
    let t = Instant::now();
    let up = BigUpstream::start(BigOptions {
        cut_at: Some(cut),
        ..BigOptions::new(size)
    })
    .unwrap();
    eprintln!(
        "upstream ready: {} bytes, {} (digest computed in {:.1}s)",
        size,
        up.big_digest(),
        t.elapsed().as_secs_f64()
    );
    let site = Site::new(&up, "retries = 4\ntimeout_secs = 60");
    let run = run_sync(bin, &site.config(), deadline, || false);
    assert_synced(&run, &up);
    assert!(up.cut_done(), "the upstream cut the first download");
    let big = up.requests_for(&up.big_path());
    assert_eq!(big.len(), 2, "one cut download and one resume: {big:?}");
    assert_eq!(big[0].range_start, None, "{big:?}");
    let resumed_at = big[1]
        .range_start
        .expect("the second request is a Range request");
    assert!(
        resumed_at > 0 && resumed_at <= cut,
        "resumed at {resumed_at}, cut at {cut}"
    );
    // Not restarted from 0: the cut answer plus exactly the rest.
    assert_eq!(up.big_bytes_served(), cut + (size - resumed_at));
    assert_big_blob_stored(&site, &up);
    assert!(site.tmp_entries().is_empty(), "{:?}", site.tmp_entries());
    assert!(site.state_has_upstream());
    let secs = run.wall.as_secs_f64();
    println!(
        "big sync: {} MiB layer, cut at {} MiB, resumed at byte {resumed_at}; peak RSS {:.1} MiB; wall {secs:.1}s; {:.0} MiB/s",
        size / MIB,
        cut / MIB,
        run.peak_rss_kib as f64 / 1024.0,
        size as f64 / MIB as f64 / secs
    );
    assert!(run.peak_rss_kib > 0, "RSS was sampled");
    assert!(
        run.peak_rss_kib < RSS_LIMIT_KIB,
        "peak RSS {} KiB, limit {RSS_LIMIT_KIB} KiB",
        run.peak_rss_kib
    );
    run
}

/// CI-sized: 48 MiB, one cut in the middle of the first download.
#[test]
fn cut_download_resumes_with_range_and_flat_memory() {
    let Some(bin) = sync_bin() else { return };
    cut_once_and_resume(&bin, 48 * MIB, 21 * MIB + 12345, Duration::from_secs(300));
}

/// Heavy, opt-in: 5 GiB, one cut. `MIRROR_HEAVY_TESTS=1` runs it.
#[test]
fn multi_gb_artifact_streams_with_flat_memory() {
    if std::env::var("MIRROR_HEAVY_TESTS").as_deref() != Ok("1") {
        eprintln!(
            "skipping: heavy test (5 GiB through a local upstream, ~10 GiB of disk I/O); set MIRROR_HEAVY_TESTS=1 to run it"
        );
        return;
    }
    let Some(bin) = sync_bin() else { return };
    let run = cut_once_and_resume(&bin, 5 * GIB, 2 * GIB + 777, Duration::from_secs(3600));
    println!(
        "HEAVY 5 GiB: peak RSS {} KiB ({:.1} MiB), wall {:.1}s, {:.0} MiB/s (binary {})",
        run.peak_rss_kib,
        run.peak_rss_kib as f64 / 1024.0,
        run.wall.as_secs_f64(),
        (5 * GIB) as f64 / MIB as f64 / run.wall.as_secs_f64(),
        bin.display()
    );
}

/// A run that gives up (one attempt, the connection cut) fails, says so, and stores
/// nothing under the blob's name; the next run resumes from the bytes the failed one
/// kept.
#[test]
fn a_failed_run_reports_failure_and_the_next_resumes() {
    let Some(bin) = sync_bin() else { return };
    let size = 24 * MIB;
    let cut = 9 * MIB + 1;
    let up = BigUpstream::start(BigOptions {
        cut_at: Some(cut),
        ..BigOptions::new(size)
    })
    .unwrap();
    let site = Site::new(&up, "retries = 1\ntimeout_secs = 30");
    let failed = run_sync(&bin, &site.config(), Duration::from_secs(120), || false);
    assert!(
        !failed.status.success(),
        "must not report success: {failed}"
    );
    assert_eq!(
        failed.summary()["failed"],
        serde_json::json!(["big"]),
        "{failed}"
    );
    assert!(failed.stderr.contains("giving up"), "{failed}");
    let d: Digest = up.big_digest().parse().unwrap();
    assert_eq!(site.cas().contains(&d).unwrap(), None);
    assert!(
        !site.state_has_upstream(),
        "no state recorded for a failed sync"
    );
    let kept = site.partial_len(&up).expect("the partial download is kept");
    assert!(kept > 0 && kept <= cut, "{kept}");

    site.write_config(&up, "retries = 4\ntimeout_secs = 30");
    let before = up.requests().len();
    let ok = run_sync(&bin, &site.config(), Duration::from_secs(120), || false);
    assert_synced(&ok, &up);
    let rerun = &up.requests()[before..];
    let big: Vec<_> = rerun.iter().filter(|r| r.path == up.big_path()).collect();
    assert_eq!(big.len(), 1, "{big:?}");
    assert_eq!(big[0].range_start, Some(kept), "asks only for the rest");
    assert_eq!(up.big_bytes_served(), cut + (size - kept));
    assert_big_blob_stored(&site, &up);
    assert!(site.tmp_entries().is_empty(), "{:?}", site.tmp_entries());
}

/// `kill -9` in the middle of a 256 MiB layer (the upstream paced so the kill lands
/// mid-stream), after the config and small layers are complete. The killed run reports
/// nothing and records no state; the rerun fetches neither the config nor the small
/// layers again, asks for the big layer with `Range` from the length already on disk, and
/// stores it verified.
#[test]
fn kill_9_mid_download_then_rerun_resumes() {
    let Some(bin) = sync_bin() else { return };
    let size = 256 * MIB;
    let up = BigUpstream::start(BigOptions {
        rate: Some(32 * MIB),
        ..BigOptions::new(size)
    })
    .unwrap();
    let site = Site::new(&up, "retries = 4\ntimeout_secs = 30\nconcurrency = 4");
    let smalls: Vec<Digest> = up
        .small_digests()
        .iter()
        .map(|d| d.parse().unwrap())
        .collect();
    let cas = site.cas();
    let killed = run_sync(&bin, &site.config(), Duration::from_secs(120), || {
        smalls.iter().all(|d| cas.contains(d).unwrap().is_some())
            && site.partial_len(&up).is_some_and(|n| n >= 64 * MIB)
    });
    assert!(killed.killed, "{killed}");
    assert!(!killed.status.success(), "{killed}");
    assert!(killed.stdout.trim().is_empty(), "no summary: {killed}");
    let d: Digest = up.big_digest().parse().unwrap();
    assert_eq!(cas.contains(&d).unwrap(), None, "nothing partial is named");
    assert!(
        !site.state_has_upstream(),
        "no state recorded for a killed sync"
    );
    let on_disk = site.partial_len(&up).expect("partial kept in STORE/tmp");
    assert!(on_disk >= 64 * MIB && on_disk < size, "{on_disk}");
    assert!(
        up.wait_idle(Duration::from_secs(10)),
        "upstream noticed the kill"
    );
    let served_before = up.big_bytes_served();
    assert!(served_before < size, "killed mid-stream: {served_before}");

    up.set_rate(None);
    let before = up.requests().len();
    let rerun = run_sync(&bin, &site.config(), Duration::from_secs(120), || false);
    assert_synced(&rerun, &up);
    let reqs = &up.requests()[before..];
    for small in up.small_digests() {
        let path = format!("/v2/{}/blobs/{small}", mirror_e2e::big_upstream::REPO);
        assert!(
            reqs.iter().all(|r| r.path != path),
            "{small} was complete before the kill and must not be fetched again: {reqs:?}"
        );
    }
    let big: Vec<_> = reqs.iter().filter(|r| r.path == up.big_path()).collect();
    assert_eq!(big.len(), 1, "{big:?}");
    assert_eq!(
        big[0].range_start,
        Some(on_disk),
        "resumes from the offset on disk"
    );
    assert_eq!(up.big_bytes_served() - served_before, size - on_disk);
    let v = rerun.summary();
    assert_eq!(
        v["upstreams"][0]["report"]["blobs_present"],
        up.small_digests().len(),
        "{v}"
    );
    assert_big_blob_stored(&site, &up);
    assert!(site.tmp_entries().is_empty(), "{:?}", site.tmp_entries());
    println!(
        "kill -9 at {} MiB on disk; rerun fetched {} MiB in {:.1}s, peak RSS {:.1} MiB",
        on_disk / MIB,
        (size - on_disk) / MIB,
        rerun.wall.as_secs_f64(),
        rerun.peak_rss_kib as f64 / 1024.0
    );
}
