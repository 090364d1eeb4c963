//! Upstream faults during sync (issue 16): a fault-injecting proxy
//! (`mirror_e2e::fault_proxy`) in front of the real fixture upstreams (the signed APT
//! archive and the PyPI index, both served by `python3 -m http.server`).
//!
//! In every case the sync never stores a byte that fails its digest (every blob in the
//! store is re-hashed against its name), never reports success on incomplete data,
//! retries with bounded backoff (honouring `Retry-After` up to its cap), and names the
//! file when it gives up. A later sync without the faults completes from what is there.

use std::path::Path;
use std::time::{Duration, Instant};

use mirror_e2e::fault_proxy::{Fault, FaultProxy, Rule, StallServer};
use mirror_e2e::product::sync_json;
use mirror_e2e::world::{World, world};
use sha2::{Digest as _, Sha256};

/// The world's config pointed at two fault proxies (APT, PyPI), with 4 attempts per
/// request and a 3 s timeout.
struct Faulty {
    w: World,
    apt: FaultProxy,
    pypi: FaultProxy,
}

fn origin_of(config: &str, key: &str) -> String {
    let at = config.find(key).expect("upstream url in the config");
    let rest = &config[at + key.len()..];
    let url = &rest[..rest.find('"').unwrap()];
    let after_scheme = url.find("://").unwrap() + 3;
    let end = url[after_scheme..]
        .find('/')
        .map_or(url.len(), |i| after_scheme + i);
    url[..end].to_owned()
}

fn faulty() -> Option<Faulty> {
    let w = world()?;
    let cfg = std::fs::read_to_string(&w.config).unwrap();
    let apt_origin = origin_of(&cfg, "url = \"");
    let pypi_origin = origin_of(&cfg, "[[pypi]]\nname = \"fixture-pypi\"\nurl = \"");
    let apt = FaultProxy::start(&apt_origin).unwrap();
    let pypi = FaultProxy::start(&pypi_origin).unwrap();
    let cfg = cfg
        .replace(&apt_origin, &apt.url)
        .replace(&pypi_origin, &pypi.url)
        + "\n[sync]\nretries = 4\ntimeout_secs = 3\n";
    std::fs::write(&w.config, cfg).unwrap();
    Some(Faulty { w, apt, pypi })
}

impl Faulty {
    fn sync(&self) -> (anyhow::Result<()>, serde_json::Value) {
        sync_json(&self.w.config)
    }

    fn store(&self) -> std::path::PathBuf {
        self.w.path("store")
    }
}

/// Every blob under `STORE/blobs/sha256/` hashes to its name; returns how many there are.
fn every_blob_matches_its_name(store: &Path) -> usize {
    let dir = store.join("blobs/sha256");
    let mut n = 0;
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let bytes = std::fs::read(&p).unwrap();
            let got = hex::encode(Sha256::digest(&bytes));
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            assert_eq!(got, name, "{} holds other bytes than its name", p.display());
            n += 1;
        }
    }
    n
}

/// The failed sync's error and its `--json` summary, where each failed upstream names its
/// failed files.
fn err_text((r, doc): &(anyhow::Result<()>, serde_json::Value)) -> String {
    let e = format!("{:#}", r.as_ref().expect_err("the sync must fail"));
    format!("{e}\n{doc}")
}

/// Resets, short bodies, 503 bursts (with and without `Retry-After`) and a 1 KB/s drip,
/// each fewer times than the attempts: the sync completes, every blob is whole, and the
/// pause after a `Retry-After: 2` is at least 2 s.
#[test]
fn transient_faults_are_retried_and_the_sync_completes() {
    let Some(f) = faulty() else { return };
    f.apt.set_rules(vec![
        Rule::new(
            "InRelease",
            Fault::Status {
                code: 503,
                retry_after: None,
            },
            2,
        ),
        Rule::new(".deb", Fault::ResetMidBody, 2),
        Rule::new(".deb", Fault::ShortBody, 1),
    ]);
    f.pypi.set_rules(vec![
        Rule::new(
            "/simple/cube-client/",
            Fault::Status {
                code: 503,
                retry_after: Some(2),
            },
            1,
        ),
        Rule::new(".whl", Fault::ResetMidBody, 1),
        Rule::new(".whl", Fault::ShortBody, 1),
        Rule::new(
            ".metadata",
            Fault::Drip {
                bytes_per_sec: 1024,
            },
            1,
        ),
    ]);
    let (r, doc) = f.sync();
    r.unwrap_or_else(|e| panic!("sync through transient faults: {e:#}\n{doc}"));
    let blobs = every_blob_matches_its_name(&f.store());
    assert!(blobs > 5, "the sync stored {blobs} blobs");

    // Each fault was met and then retried.
    let faulted = |p: &FaultProxy| p.log().iter().filter(|l| l.fault.is_some()).count();
    assert_eq!(faulted(&f.apt), 5, "{:#?}", f.apt.log());
    assert!(faulted(&f.pypi) >= 3, "{:#?}", f.pypi.log());
    let page = f.pypi.requests_for("/simple/cube-client/");
    assert!(page.len() >= 2, "the page was asked again: {page:#?}");
    let gap = page[1].at - page[0].at;
    assert!(
        gap >= Duration::from_secs(2),
        "Retry-After: 2 was honoured: the next attempt came after {gap:?}"
    );
    assert!(gap < Duration::from_secs(10), "but not much later: {gap:?}");
}

/// A right-length body with wrong bytes, every time: the sync fails naming the file and
/// the digest mismatch, and the store holds no byte of it; without the fault the next
/// sync completes.
#[test]
fn wrong_bytes_are_never_stored() {
    let Some(f) = faulty() else { return };
    f.apt
        .set_rules(vec![Rule::always(".deb", Fault::WrongBytes)]);
    let e = err_text(&f.sync());
    assert!(e.contains(".deb"), "the error names the file: {e}");
    assert!(
        e.contains("does not match") || e.contains("digest"),
        "the error says why: {e}"
    );
    every_blob_matches_its_name(&f.store());
    // A digest mismatch is tried once more, then the file is given up.
    let wrong = f.apt.requests_for(".deb");
    for l in &wrong {
        let n = wrong.iter().filter(|o| o.path == l.path).count();
        assert_eq!(n, 2, "{} fetched {n} times", l.path);
    }

    f.apt.set_rules(vec![]);
    let (r, doc) = f.sync();
    r.unwrap_or_else(|e| panic!("sync without the fault: {e:#}\n{doc}"));
    every_blob_matches_its_name(&f.store());
}

/// A 500 on every attempt of the wheels and a short body on every attempt of the debs:
/// the sync gives up after the configured 4 attempts, in bounded time, naming each file.
#[test]
fn a_fault_that_outlasts_the_attempts_fails_naming_the_file() {
    let Some(f) = faulty() else { return };
    // (The cut of a long `Retry-After` to its 30 s cap is a unit test of mirror-sync's
    // fetch; here the pauses are the backoff's 0.5, 1 and 2 s.)
    f.pypi.set_rules(vec![Rule::always(
        ".whl",
        Fault::Status {
            code: 500,
            retry_after: None,
        },
    )]);
    f.apt
        .set_rules(vec![Rule::always(".deb", Fault::ShortBody)]);
    let started = Instant::now();
    let res = f.sync();
    let took = started.elapsed();
    let e = err_text(&res);
    assert!(e.contains(".whl") && e.contains("HTTP 500"), "{e}");
    assert!(
        e.contains(".deb") && e.contains("giving up after 4 attempts"),
        "{e}"
    );
    assert!(took < Duration::from_secs(60), "gave up in {took:?}");
    for proxy in [&f.pypi, &f.apt] {
        let faulted: Vec<_> = proxy
            .log()
            .into_iter()
            .filter(|l| l.fault.is_some())
            .collect();
        assert!(!faulted.is_empty());
        let first = faulted[0].path.clone();
        let same: Vec<_> = faulted.iter().filter(|l| l.path == first).collect();
        assert_eq!(same.len(), 4, "4 attempts for {first}: {same:#?}");
        let gaps: Vec<Duration> = same.windows(2).map(|p| p[1].at - p[0].at).collect();
        assert!(
            gaps.windows(2).all(|g| g[1] >= g[0]) && gaps[0] >= Duration::from_millis(400),
            "the pauses grow from 0.5 s: {gaps:?}"
        );
    }
    every_blob_matches_its_name(&f.store());
}

/// A redirect loop ends with an error naming the file, not a hang.
#[test]
fn a_redirect_loop_fails_naming_the_file() {
    let Some(f) = faulty() else { return };
    f.pypi.set_rules(vec![Rule::always(
        "/simple/cube-client/",
        Fault::RedirectLoop,
    )]);
    let started = Instant::now();
    let e = err_text(&f.sync());
    assert!(e.contains("cube-client"), "{e}");
    assert!(e.to_lowercase().contains("redirect"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(60));
    every_blob_matches_its_name(&f.store());
}

/// An upstream whose TLS handshake never completes: the sync fails within the timeout's
/// bound, naming the upstream's URL.
#[test]
fn a_stalled_tls_handshake_times_out() {
    let Some(f) = faulty() else { return };
    let stall = StallServer::start().unwrap();
    let cfg = std::fs::read_to_string(&f.w.config).unwrap();
    let cfg = cfg.replace(&f.pypi.url, &format!("https://{}", stall.addr));
    std::fs::write(&f.w.config, cfg).unwrap();
    let started = Instant::now();
    let res = f.sync();
    let took = started.elapsed();
    let e = err_text(&res);
    assert!(e.contains(&stall.addr), "the error names the upstream: {e}");
    assert!(stall.accepted() >= 1, "the handshake was attempted");
    // 4 attempts of a 3 s timeout and the pauses between them.
    assert!(took < Duration::from_secs(60), "gave up in {took:?}: {e}");
    every_blob_matches_its_name(&f.store());
}
