//! Observability of `mirror-server serve`: the access log (combined and JSON, written when a
//! response body ends, cut downloads marked incomplete), `/metrics` (checked whole by
//! `promtool check metrics`, with the snapshot, latency and completed-bytes series), the
//! server's JSON log, the `Host` rules of RFC 9112 §3.2 and error bodies that never echo
//! raw control bytes. Every wait is bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Fixture, Import};
use mirror_server::serve::{
    AccessLogConfig, AccessLogFormat, AccessLogTarget, ServeOptions, ServerHandle, start_with,
};

const DEB: &str = "apt/cuda/cuda-x_1_amd64.deb";
const BIG: &str = "files/big.bin";
const KEY: &str = "keys/repo.gpg";
/// Far more than the kernel's socket buffers on both ends can absorb, so a client that
/// stops reading really cuts the download.
const BIG_LEN: usize = 32 * 1024 * 1024;

fn deb() -> Vec<u8> {
    (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

/// A fixture store with snapshot `test/1` holding a deb, a big file and a key.
fn imported(with_big: bool) -> Fixture {
    let fx = Fixture::new();
    let deb = deb();
    let big: Vec<u8> = if with_big {
        (0..BIG_LEN).map(|i| (i % 253) as u8).collect()
    } else {
        Vec::new()
    };
    let mut files: Vec<(&str, &[u8])> = vec![(DEB, &deb), (KEY, b"repo key\n")];
    if with_big {
        files.push((BIG, &big));
    }
    let drive = fx.drive("drive1", 1, &files);
    fx.import(&drive, &[]).unwrap();
    fx
}

async fn serve(store: &Path, access_log: Option<AccessLogConfig>) -> ServerHandle {
    start_with(
        store.to_path_buf(),
        "127.0.0.1:0".parse().unwrap(),
        ServeOptions {
            workers: 1,
            access_log,
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

/// One raw request (`head` is everything before the blank line, without it) on a fresh
/// connection; returns (status, response head, body).
fn raw(addr: SocketAddr, head: &str) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(b"\r\n\r\n").unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head: {:?}", String::from_utf8_lossy(&out)));
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head, out[split + 4..].to_vec())
}

/// Starts a download of `path` and closes the connection after about 64 KiB of body.
fn cut_download(addr: SocketAddr, path: &str) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: cutter\r\n\r\n"
    )
    .unwrap();
    let mut got = 0;
    let mut buf = [0u8; 16 * 1024];
    while got < 64 * 1024 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    assert!(got >= 64 * 1024, "the download did not start ({got} bytes)");
    // Closing with unread data sends a reset: the server's next write fails.
}

/// `curl -s -o /dev/null -w %{http_code}:%{size_download}` for `url`.
fn curl(url: &str) -> (u16, u64) {
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "20",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}:%{size_download}",
            url,
        ])
        .output()
        .expect("curl (deploy/test-deps.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (code, size) = text.split_once(':').unwrap_or_else(|| panic!("{text}"));
    (code.parse().unwrap(), size.parse().unwrap())
}

/// The log's lines once it has at least `n` of them (waits at most 10 s).
fn wait_lines(log: &Path, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if lines.len() >= n {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} access-log lines in {}, got:\n{text}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn line_for<'a>(lines: &'a [String], needle: &str) -> &'a str {
    let found: Vec<&String> = lines.iter().filter(|l| l.contains(needle)).collect();
    assert_eq!(
        found.len(),
        1,
        "one line with {needle:?} expected in {lines:#?}"
    );
    found[0]
}

/// Fields of a `combined` line after the request line: status, bytes, referer, user
/// agent, duration, snapshot, completeness.
fn combined_tail(line: &str) -> (u16, u64, f64, String, String) {
    let (_, after_request) = line.split_once("\" ").unwrap();
    let mut it = after_request.splitn(3, ' ');
    let status = it.next().unwrap().parse().unwrap();
    let bytes = it.next().unwrap().parse().unwrap();
    let rest = it.next().unwrap();
    // "referer" "agent" duration "snapshot" complete
    let (rest, complete) = rest.rsplit_once(' ').unwrap();
    let (rest, snapshot) = rest.rsplit_once(' ').unwrap();
    let (_, duration) = rest.rsplit_once(' ').unwrap();
    (
        status,
        bytes,
        duration.parse().unwrap(),
        snapshot.to_owned(),
        complete.to_owned(),
    )
}

#[test]
fn access_log_lines_in_both_formats() {
    let fx = imported(true);
    let rt = tokio::runtime::Runtime::new().unwrap();
    for format in [AccessLogFormat::Combined, AccessLogFormat::Json] {
        let log: PathBuf = fx.dir.path().join(format!("access-{format:?}.log"));
        rt.block_on(async {
            let handle = serve(
                &fx.store,
                Some(AccessLogConfig {
                    target: AccessLogTarget::File(log.clone()),
                    format,
                }),
            )
            .await;
            let addr = handle.addr;
            let (code, size) = tokio::task::spawn_blocking(move || {
                let r = curl(&format!("http://{addr}/{DEB}"));
                assert_eq!(curl(&format!("http://{addr}/nope%1b")).0, 404);
                cut_download(addr, BIG);
                let (st, _, _) = raw(
                    addr,
                    &format!(
                        "GET /{KEY}?q=%22x HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nReferer: http://r.example/\r\nUser-Agent: evil \"agent\"\\ é"
                    ),
                );
                assert_eq!(st, 200);
                r
            })
            .await
            .unwrap();
            assert_eq!((code, size), (200, deb().len() as u64));

            let lines = wait_lines(&log, 4);
            assert_eq!(lines.len(), 4, "{lines:#?}");
            for l in &lines {
                assert!(
                    l.bytes().all(|b| (0x20..0x7f).contains(&b)),
                    "raw control or non-ASCII byte in {l:?}"
                );
            }
            match format {
                AccessLogFormat::Combined => {
                    let l = line_for(&lines, DEB);
                    assert!(l.starts_with("127.0.0.1 - - ["), "{l}");
                    assert!(l.contains(&format!("\"GET /{DEB} HTTP/1.1\" 200 200000 \"-\" \"curl/")), "{l}");
                    let (status, bytes, took, snap, complete) = combined_tail(l);
                    assert_eq!((status, bytes), (200, 200_000));
                    assert!(took > 0.0 && took < 10.0, "{l}");
                    assert_eq!((snap.as_str(), complete.as_str()), ("\"test/1\"", "complete"));

                    let l = line_for(&lines, "/nope%1b");
                    let (status, bytes, _, _, complete) = combined_tail(l);
                    assert_eq!(status, 404);
                    assert!(bytes > 0, "{l}");
                    assert_eq!(complete, "complete");

                    let l = line_for(&lines, BIG);
                    let (status, bytes, _, _, complete) = combined_tail(l);
                    assert_eq!(status, 200);
                    assert!(bytes >= 64 * 1024 && bytes < BIG_LEN as u64, "{l}");
                    assert_eq!(complete, "incomplete", "{l}");

                    let l = line_for(&lines, KEY);
                    assert!(l.contains(&format!("\"GET /{KEY}?q=%22x HTTP/1.1\" 200 9 \"http://r.example/\" \"evil \\\"agent\\\"\\\\ \\xC3\\xA9\"")), "{l}");
                }
                AccessLogFormat::Json => {
                    let parsed: Vec<serde_json::Value> = lines
                        .iter()
                        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
                        .collect();
                    let by_target = |t: &str| {
                        parsed
                            .iter()
                            .find(|v| v["target"] == t)
                            .unwrap_or_else(|| panic!("no line for {t}: {parsed:#?}"))
                    };
                    let v = by_target(&format!("/{DEB}"));
                    assert_eq!(v["method"], "GET");
                    assert_eq!(v["status"], 200);
                    assert_eq!(v["bytes"], 200_000);
                    assert_eq!(v["snapshot"], "test/1");
                    assert_eq!(v["complete"], true);
                    assert_eq!(v["protocol"], "HTTP/1.1");
                    assert_eq!(v["class"], "apt");
                    assert!(v["client"].as_str().unwrap().starts_with("127.0.0.1:"), "{v}");
                    assert!(v["duration_seconds"].as_f64().unwrap() > 0.0, "{v}");
                    assert!(
                        chrono::DateTime::parse_from_rfc3339(v["time"].as_str().unwrap()).is_ok(),
                        "{v}"
                    );
                    assert!(v["user_agent"].as_str().unwrap().starts_with("curl/"), "{v}");
                    let v = by_target("/nope%1b");
                    assert_eq!(v["status"], 404);
                    assert_eq!(v["complete"], true);
                    let v = by_target(&format!("/{BIG}"));
                    assert_eq!(v["status"], 200);
                    assert_eq!(v["complete"], false, "{v}");
                    let b = v["bytes"].as_u64().unwrap();
                    assert!(b >= 64 * 1024 && b < BIG_LEN as u64, "{v}");
                    let v = by_target(&format!("/{KEY}?q=%22x"));
                    assert_eq!(v["user_agent"], "evil \"agent\"\\ \\xC3\\xA9");
                    assert_eq!(v["referer"], "http://r.example/");
                    assert_eq!(v["bytes"], 9);
                }
            }
            assert_eq!(handle.state.metrics.incomplete(), 1);
            handle.shutdown().await;
        });
    }
}

/// Whether `promtool` may be skipped: only when it is absent and neither `CI` nor
/// `MIRROR_TEST_REQUIRE_TOOLS` is set (the rule of `mirror_e2e::require_tool`).
fn have_promtool() -> bool {
    let present = Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return true;
    }
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"));
    if set("CI") || set("MIRROR_TEST_REQUIRE_TOOLS") {
        panic!(
            "promtool is not installed (Debian package prometheus): deploy/test-deps.sh installs it"
        );
    }
    eprintln!(
        "\n\n*** SKIPPING the promtool check: promtool is not installed (apt-get install prometheus; deploy/test-deps.sh) ***\n\n"
    );
    false
}

fn sample(m: &str, series: &str) -> f64 {
    let prefix = format!("{series} ");
    m.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {series} in:\n{m}"))
        .parse()
        .unwrap()
}

#[test]
fn metrics_pass_promtool_and_carry_the_new_series() {
    let fx = imported(false);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let handle = serve(&fx.store, None).await;
        let base = format!("http://{}", handle.addr);
        // One client, one request at a time: each response is complete before the next
        // request, so the scrape sees every earlier body.
        let client = reqwest::Client::builder().http1_only().build().unwrap();
        let mut received = 0u64;
        for path in [DEB, DEB, DEB, KEY, "nope", "keys/nope"] {
            let r = client.get(format!("{base}/{path}")).send().await.unwrap();
            received += r.bytes().await.unwrap().len() as u64;
        }
        let r = client.head(format!("{base}/{DEB}")).send().await.unwrap();
        received += r.bytes().await.unwrap().len() as u64;
        assert_eq!(
            received,
            3 * 200_000
                + 9
                + "not found: /nope\n".len() as u64
                + "not found: /keys/nope\n".len() as u64
        );

        let m = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(
            sample(&m, "mirror_http_completed_response_bytes_total"),
            received as f64
        );
        assert_eq!(sample(&m, "mirror_http_incomplete_responses_total"), 0.0);
        assert_eq!(
            sample(&m, "mirror_request_duration_seconds_count{class=\"apt\"}"),
            4.0
        );
        assert_eq!(
            sample(
                &m,
                "mirror_request_duration_seconds_bucket{class=\"apt\",le=\"+Inf\"}"
            ),
            4.0
        );
        assert_eq!(
            sample(&m, "mirror_request_duration_seconds_count{class=\"files\"}"),
            3.0
        );
        assert_eq!(
            sample(
                &m,
                "mirror_request_duration_seconds_count{class=\"metrics\"}"
            ),
            0.0
        );
        assert!(sample(&m, "mirror_request_duration_seconds_sum{class=\"apt\"}") > 0.0);
        // Buckets are cumulative.
        let apt_buckets: Vec<f64> = m
            .lines()
            .filter(|l| l.starts_with("mirror_request_duration_seconds_bucket{class=\"apt\""))
            .map(|l| l.rsplit_once(' ').unwrap().1.parse().unwrap())
            .collect();
        assert_eq!(apt_buckets.len(), 14, "{m}");
        assert!(apt_buckets.windows(2).all(|w| w[0] <= w[1]), "{m}");
        assert_eq!(
            sample(&m, "mirror_snapshot_sequence{channel=\"test\"}"),
            1.0
        );
        // The fixture's manifest was created in the past.
        let age = sample(&m, "mirror_snapshot_age_seconds{channel=\"test\"}");
        let created = chrono::DateTime::parse_from_rfc3339("2026-11-21T15:10:59Z").unwrap();
        let expected =
            (chrono::Utc::now() - created.with_timezone(&chrono::Utc)).num_seconds() as f64;
        assert!(
            age > 0.0 && (age - expected).abs() < 60.0,
            "age {age}, expected about {expected}"
        );
        assert!(
            m.contains("mirror_snapshot_info{name=\"test/1\",channel=\"test\"} 1\n"),
            "{m}"
        );
        assert!(
            m.contains("mirror_http_requests_total{route=\"apt\",status=\"200\"} 4\n"),
            "{m}"
        );

        if have_promtool() {
            let mut child = Command::new("promtool")
                .args(["check", "metrics"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(m.as_bytes()).unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
                "promtool check metrics: {}\n{}{}\n--- exposition:\n{m}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }

        // A newer snapshot: the sequence follows within the reload period.
        let drive = fx.drive("drive2", 2, &[(KEY, b"repo key 2\n")]);
        fx.import(&drive, &[]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let m = client
                .get(format!("{base}/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if m.contains("mirror_snapshot_sequence{channel=\"test\"} 2\n") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the sequence never became 2:\n{m}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        handle.shutdown().await;
    });
}

#[test]
fn host_header_rules_over_raw_tcp() {
    let fx = imported(false);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let handle = serve(&fx.store, None).await;
        let addr = handle.addr;
        tokio::task::spawn_blocking(move || {
            let close = "Connection: close";
            let (st, _, body) = raw(addr, &format!("GET /healthz HTTP/1.1\r\n{close}"));
            assert_eq!(st, 400, "{}", String::from_utf8_lossy(&body));
            assert!(String::from_utf8_lossy(&body).contains("Host"));
            let (st, _, _) = raw(
                addr,
                &format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nHost: other.example\r\n{close}"),
            );
            assert_eq!(st, 400);
            let (st, _, _) = raw(
                addr,
                &format!("GET /healthz HTTP/1.1\r\nHost: a@b\r\n{close}"),
            );
            assert_eq!(st, 400);
            let (st, _, _) = raw(
                addr,
                &format!("GET /{KEY} HTTP/1.1\r\nHost: {addr}\r\n{close}"),
            );
            assert_eq!(st, 200);
            // HTTP/1.0 has no Host requirement; two are still refused.
            let (st, _, _) = raw(addr, "GET /healthz HTTP/1.0");
            assert_eq!(st, 200);
            let (st, _, _) = raw(addr, "GET /healthz HTTP/1.0\r\nHost: a\r\nHost: b");
            assert_eq!(st, 400);
            // HTTP/2 carries the authority in :authority (curl sends no Host header).
            let out = Command::new("curl")
                .args([
                    "-s",
                    "--max-time",
                    "20",
                    "--http2-prior-knowledge",
                    "-o",
                    "/dev/null",
                ])
                .args(["-w", "%{http_version}:%{http_code}"])
                .arg(format!("http://{addr}/healthz"))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), "2:200");
        })
        .await
        .unwrap();
        assert_eq!(handle.state.metrics.requests("health", 400), 4);
        handle.shutdown().await;
    });
}

#[test]
fn error_bodies_never_echo_control_bytes() {
    let fx = imported(false);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let handle = serve(&fx.store, None).await;
        let addr = handle.addr;
        tokio::task::spawn_blocking(move || {
            for path in [
                "/keys/%1b%5b2J%07x",
                "/apt/cuda/%1b]0;owned%07.deb",
                "/simple/%1b/",
                "/simple/x/%9b%0a%0d",
                "/snapshots/test/1/keys/%1bx",
                "/v2/%1b/manifests/x",
            ] {
                let (st, _, body) = raw(
                    addr,
                    &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close"),
                );
                assert!((400..500).contains(&st), "{path}: {st}");
                let text =
                    String::from_utf8(body.clone()).unwrap_or_else(|_| panic!("{path}: {body:?}"));
                let inner = text.strip_suffix('\n').unwrap_or(&text);
                assert!(
                    !inner.chars().any(char::is_control),
                    "{path}: raw control character in {text:?}"
                );
            }
            let (_, _, body) = raw(
                addr,
                &format!("GET /keys/%1bx HTTP/1.1\r\nHost: {addr}\r\nConnection: close"),
            );
            assert_eq!(
                String::from_utf8(body).unwrap(),
                "not found: /keys/\\u{1b}x\n"
            );
        })
        .await
        .unwrap();
        handle.shutdown().await;
    });
}

/// Reads `r` line by line into a channel, from a thread, until EOF.
fn lines_of(r: impl Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn serve_binary_logs_json_and_writes_the_access_log_to_stdout() {
    let fx = imported(false);
    let mut child = Command::new(env!("CARGO_BIN_EXE_mirror-server"))
        .args(["serve", "--listen", "127.0.0.1:0", "--workers", "1"])
        .args([
            "--log-format",
            "json",
            "--access-log",
            "-",
            "--access-log-format",
            "json",
        ])
        .arg("--store")
        .arg(&fx.store)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = lines_of(child.stderr.take().unwrap());
    let stdout = lines_of(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    let addr: SocketAddr = loop {
        let l = stderr
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("no 'listening' log line ({e}); got {seen:#?}"));
        let v: serde_json::Value =
            serde_json::from_str(&l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}"));
        seen.push(l);
        if v["fields"]["message"] == "listening" {
            break v["fields"]["addr"].as_str().unwrap().parse().unwrap();
        }
    };
    assert!(
        seen.iter()
            .any(|l| l.contains("\"level\":\"INFO\"") && l.contains("serving")),
        "{seen:#?}"
    );
    let (code, _) = curl(&format!("http://{addr}/healthz"));
    assert_eq!(code, 200);
    let line = stdout
        .recv_timeout(Duration::from_secs(10))
        .expect("an access-log line on stdout");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["target"], "/healthz");
    assert_eq!(v["status"], 200);
    assert_eq!(v["snapshot"], "test/1");
    // SIGTERM to our own child: it stops, and everything it logged is JSON.
    // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve did not stop within 20 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    loop {
        match stderr.recv_timeout(Duration::from_secs(10)) {
            Ok(l) => {
                serde_json::from_str::<serde_json::Value>(&l)
                    .unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}"));
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(e) => panic!("stderr still open 10 s after exit: {e}"),
        }
    }
}

#[test]
fn an_access_log_that_cannot_be_opened_stops_the_start_with_its_path() {
    let fx = imported(false);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bad = fx.dir.path().join("no-such-dir/access.log");
    let err = rt
        .block_on(start_with(
            fx.store.clone(),
            "127.0.0.1:0".parse().unwrap(),
            ServeOptions {
                workers: 1,
                access_log: Some(AccessLogConfig {
                    target: AccessLogTarget::File(bad.clone()),
                    format: AccessLogFormat::Combined,
                }),
                ..Default::default()
            },
        ))
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("cannot open the access log") && msg.contains(&bad.display().to_string()),
        "{msg}"
    );
}

#[test]
fn the_access_log_names_the_snapshot_that_answered() {
    let fx = imported(false);
    let drive = fx.drive("drive2", 2, &[(KEY, b"repo key 2\n")]);
    fx.import(&drive, &[]).unwrap();
    let log = fx.dir.path().join("access.json");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let handle = serve(
            &fx.store,
            Some(AccessLogConfig {
                target: AccessLogTarget::File(log.clone()),
                format: AccessLogFormat::Json,
            }),
        )
        .await;
        let addr = handle.addr;
        tokio::task::spawn_blocking(move || {
            assert_eq!(curl(&format!("http://{addr}/{KEY}")), (200, 11));
            assert_eq!(
                curl(&format!("http://{addr}/snapshots/test/1/{KEY}")),
                (200, 9)
            );
        })
        .await
        .unwrap();
        let lines = wait_lines(&log, 2);
        let snap = |target: &str| {
            lines
                .iter()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .find(|v| v["target"] == target)
                .unwrap_or_else(|| panic!("no {target} in {lines:#?}"))["snapshot"]
                .clone()
        };
        assert_eq!(snap(&format!("/{KEY}")), "test/2");
        assert_eq!(snap(&format!("/snapshots/test/1/{KEY}")), "test/1");
        handle.shutdown().await;
    });
}
