//! A minimal OCI registry on `127.0.0.1` whose one image carries a huge layer of
//! deterministic bytes generated on the fly (never a file on disk), for the multi-GB and
//! resume tests.
//!
//! Protocol (OCI distribution-spec v1.1 §Pull): `GET /v2/`, `GET
//! /v2/<repo>/manifests/<tag|digest>` (an OCI image manifest, image-spec §manifest, with
//! `Docker-Content-Digest`), `GET /v2/<repo>/blobs/<digest>` for the config, a few small
//! layers and the big layer. Blobs honour `Range: bytes=<first>-[<last>]` with `206
//! Partial Content` and `Content-Range` (RFC 9110 §14.2, §14.4; `416` past the end);
//! everything else is `404` (so the referrers API and cosign tags are absent).
//!
//! The big layer is a [`Stream`]: a 1 MiB block of `splitmix64(seed + n)` words, segment
//! `k` of the layer being that block rotated by `k * 7919` bytes, so any range is
//! generated directly with a few copies. Its SHA-256 is computed once at
//! [`BigUpstream::start`].
//!
//! Faults and pacing, for the tests:
//! - `cut_at`: the first download of the big layer that starts at byte 0 gets a `200`
//!   announcing the whole length, then the connection is closed after `cut_at` bytes.
//!   Once only.
//! - [`BigUpstream::set_rate`]: bytes per second for big-layer bodies (so a `kill -9`
//!   lands mid-stream); changeable while running.
//!
//! Every request is logged ([`BigUpstream::requests`]) with its `Range` start, and the
//! big-layer body bytes sent are counted ([`BigUpstream::big_bytes_served`]), so a test
//! can prove a resume used `Range` and did not restart from 0.
//!
//! TEST-ONLY: one thread per connection, `Connection: close` on every answer.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::oci_fixture::{OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST, sha256_digest};

/// Repository path of the one image.
pub const REPO: &str = "big/artifact";
/// Its tag.
pub const TAG: &str = "v1";

/// Size of each chunk of a big-layer body written to the socket (bytes).
const CHUNK: usize = 256 * 1024;

/// What the upstream serves and how it misbehaves.
#[derive(Debug, Clone)]
pub struct BigOptions {
    /// Size of the big layer in bytes.
    pub size: u64,
    /// Seed of the big layer's byte stream.
    pub seed: u64,
    /// Cut the first full download of the big layer after this many body bytes.
    pub cut_at: Option<u64>,
    /// Initial pacing of big-layer bodies in bytes per second (`None`: as fast as the
    /// socket takes them).
    pub rate: Option<u64>,
    /// Number of small layers besides the big one (each with its own content).
    pub small_layers: usize,
    /// Size of each small layer in bytes.
    pub small_layer_size: usize,
}

impl BigOptions {
    /// A big layer of `size` bytes, no cut, no pacing, two small 64 KiB layers.
    pub fn new(size: u64) -> Self {
        BigOptions {
            size,
            seed: 0x5eed_0001,
            cut_at: None,
            rate: None,
            small_layers: 2,
            small_layer_size: 64 * 1024,
        }
    }
}

/// One request the upstream received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// Path and query as sent.
    pub path: String,
    /// First byte of a `Range: bytes=<first>-…` header, if one was sent.
    pub range_start: Option<u64>,
}

struct Shared {
    opts: BigOptions,
    manifest: Vec<u8>,
    manifest_digest: String,
    /// (digest, bytes) of the config and the small layers.
    small: Vec<(String, Vec<u8>)>,
    big_digest: String,
    stream: Stream,
    log: Mutex<Vec<Request>>,
    big_bytes: AtomicU64,
    /// Big-layer answers being written right now.
    big_open: AtomicU64,
    cut_done: AtomicBool,
    /// Bytes per second; 0 means unpaced.
    rate: AtomicU64,
    stop: AtomicBool,
}

/// The running upstream; stops (and closes every connection it serves) on drop.
pub struct BigUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

/// `splitmix64` (Steele, Lea, Flood 2014): a bijective 64-bit mixer.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Length of a segment of the stream and of its base block (1 MiB).
pub const SEGMENT: u64 = 1 << 20;
/// Rotation added per segment (a prime, so rotations repeat only after 2^20 segments,
/// 1 TiB).
const STEP: u64 = 7919;

/// A deterministic, seekable byte stream (see the module docs): a 1 MiB block of
/// `splitmix64` output, segment `k` being that block rotated left by `k * 7919` bytes.
/// Any range is produced with at most a few `memcpy`s, fast even in a debug build.
#[derive(Clone)]
pub struct Stream {
    block: Vec<u8>,
}

impl Stream {
    /// The stream of `seed`.
    pub fn new(seed: u64) -> Stream {
        let mut block = Vec::with_capacity(SEGMENT as usize);
        for w in 0..SEGMENT / 8 {
            block.extend_from_slice(&splitmix64(seed.wrapping_add(w)).to_le_bytes());
        }
        Stream { block }
    }

    /// Fills `buf` with the bytes at `offset..offset + buf.len()`.
    pub fn fill(&self, offset: u64, buf: &mut [u8]) {
        let mut pos = offset;
        let mut done = 0usize;
        while done < buf.len() {
            let within = pos % SEGMENT;
            let rot = (pos / SEGMENT).wrapping_mul(STEP) % SEGMENT;
            let from = (within + rot) % SEGMENT;
            let n = (buf.len() - done)
                .min((SEGMENT - within) as usize)
                .min((SEGMENT - from) as usize);
            buf[done..done + n].copy_from_slice(&self.block[from as usize..from as usize + n]);
            done += n;
            pos += n as u64;
        }
    }

    /// `sha256:<hex>` of the first `size` bytes, hashed in 1 MiB pieces (flat memory).
    pub fn digest(&self, size: u64) -> String {
        let mut h = Sha256::new();
        let mut buf = vec![0u8; SEGMENT as usize];
        let mut pos = 0u64;
        while pos < size {
            let n = (size - pos).min(buf.len() as u64) as usize;
            self.fill(pos, &mut buf[..n]);
            h.update(&buf[..n]);
            pos += n as u64;
        }
        format!("sha256:{}", hex::encode(h.finalize()))
    }
}

/// A small deterministic blob (config-free layer content) of `len` bytes for index `i`.
fn small_blob(i: usize, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    Stream::new(0xa11_0000 + i as u64).fill(0, &mut v);
    v
}

impl BigUpstream {
    /// Builds the image (config, small layers, big layer digest computed by streaming
    /// the generator once) and starts serving on `127.0.0.1:0`.
    ///
    /// Errors: the listener cannot be bound.
    pub fn start(opts: BigOptions) -> anyhow::Result<BigUpstream> {
        let stream = Stream::new(opts.seed);
        let big_digest = stream.digest(opts.size);
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
        }))?;
        let mut small = vec![(sha256_digest(&config), config.clone())];
        let mut layers = Vec::new();
        for i in 0..opts.small_layers {
            let b = small_blob(i, opts.small_layer_size);
            let d = sha256_digest(&b);
            layers.push(json!({"mediaType": OCI_LAYER_GZIP, "digest": d, "size": b.len()}));
            small.push((d, b));
        }
        layers.push(json!({"mediaType": OCI_LAYER_GZIP, "digest": big_digest, "size": opts.size}));
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(&config), "size": config.len()},
            "layers": layers,
        }))?;
        let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            manifest_digest: sha256_digest(&manifest),
            manifest,
            small,
            big_digest,
            stream,
            log: Mutex::new(Vec::new()),
            big_bytes: AtomicU64::new(0),
            big_open: AtomicU64::new(0),
            cut_done: AtomicBool::new(false),
            rate: AtomicU64::new(opts.rate.unwrap_or(0)),
            stop: AtomicBool::new(false),
            opts,
        });
        let s2 = shared.clone();
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s2.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let s3 = s2.clone();
                std::thread::spawn(move || {
                    let _ = handle(conn, &s3);
                });
            }
        });
        Ok(BigUpstream {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// `127.0.0.1:<port>`, the registry name as configured.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:<port>/`, the API base URL.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// `sha256:<hex>` of the big layer.
    pub fn big_digest(&self) -> &str {
        &self.shared.big_digest
    }

    /// Size of the big layer in bytes.
    pub fn big_size(&self) -> u64 {
        self.shared.opts.size
    }

    /// The path of the big layer's blob endpoint, `/v2/<repo>/blobs/<digest>`.
    pub fn big_path(&self) -> String {
        format!("/v2/{REPO}/blobs/{}", self.shared.big_digest)
    }

    /// `sha256:<hex>` of the config and each small layer.
    pub fn small_digests(&self) -> Vec<String> {
        self.shared.small.iter().map(|(d, _)| d.clone()).collect()
    }

    /// `sha256:<hex>` of the image manifest.
    pub fn manifest_digest(&self) -> &str {
        &self.shared.manifest_digest
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.shared
            .log
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// Requests for `path` so far.
    pub fn requests_for(&self, path: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// Big-layer body bytes written to sockets so far (cut and resumed answers included).
    pub fn big_bytes_served(&self) -> u64 {
        self.shared.big_bytes.load(Ordering::SeqCst)
    }

    /// Waits (up to `timeout`) until no big-layer answer is being written, so that
    /// [`BigUpstream::big_bytes_served`] is final for the connections so far (after a
    /// client was killed, the server notices at its next write). Returns whether it is.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        while self.shared.big_open.load(Ordering::SeqCst) > 0 {
            if Instant::now() > until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// Whether the one cut has happened.
    pub fn cut_done(&self) -> bool {
        self.shared.cut_done.load(Ordering::SeqCst)
    }

    /// Paces big-layer bodies at `rate` bytes per second from now on (`None`: unpaced).
    pub fn set_rate(&self, rate: Option<u64>) {
        self.shared.rate.store(rate.unwrap_or(0), Ordering::SeqCst);
    }

    /// A `mirror-sync` configuration syncing this upstream's image into `store`, with
    /// `[sync]` lines `sync` (e.g. `retries = 3`). The signing key paths are placeholders
    /// (`sync` does not read them).
    pub fn mirror_toml(&self, store: &Path, sync: &str) -> String {
        format!(
            r#"store = "{store}"
channel = "big"

[signing]
snapshot_key = "keys/snapshot.key"
repo_key = "keys/repo.key.asc"

[sync]
{sync}

[[oci]]
name = "big"
registry = "{host}"
url = "{url}"
images = ["{REPO}:{TAG}"]
referrers = false
"#,
            store = store.display(),
            host = self.host(),
            url = self.url(),
        )
    }
}

impl Drop for BigUpstream {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

/// Parses `bytes=<first>-[<last>]` into (first, last inclusive).
fn parse_range(v: &str) -> Option<(u64, Option<u64>)> {
    let r = v.trim().strip_prefix("bytes=")?;
    let (first, last) = r.split_once('-')?;
    let first = first.trim().parse().ok()?;
    let last = match last.trim() {
        "" => None,
        l => Some(l.parse().ok()?),
    };
    Some((first, last))
}

fn write_head(
    conn: &mut TcpStream,
    status: &str,
    len: u64,
    headers: &[(&str, String)],
) -> std::io::Result<()> {
    let mut h = format!("HTTP/1.1 {status}\r\ncontent-length: {len}\r\nconnection: close\r\n");
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    conn.write_all(h.as_bytes())
}

fn handle(mut conn: TcpStream, s: &Shared) -> std::io::Result<()> {
    conn.set_nodelay(true)?;
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.trim().eq_ignore_ascii_case("range")
        {
            range = parse_range(v);
        }
    }
    if let Ok(mut l) = s.log.lock() {
        l.push(Request {
            method: method.clone(),
            path: path.clone(),
            range_start: range.map(|r| r.0),
        });
    }
    let head_only = method == "HEAD";
    let not_found = |conn: &mut TcpStream| {
        let body = br#"{"errors":[{"code":"NOT_FOUND","message":"unknown"}]}"#;
        write_head(
            conn,
            "404 Not Found",
            body.len() as u64,
            &[("content-type", "application/json".into())],
        )?;
        conn.write_all(body)
    };
    if path == "/v2/" {
        write_head(&mut conn, "200 OK", 2, &[])?;
        return conn.write_all(b"{}");
    }
    let manifests = format!("/v2/{REPO}/manifests/");
    let blobs = format!("/v2/{REPO}/blobs/");
    if let Some(reference) = path.strip_prefix(&manifests) {
        if reference != TAG && reference != s.manifest_digest {
            return not_found(&mut conn);
        }
        write_head(
            &mut conn,
            "200 OK",
            s.manifest.len() as u64,
            &[
                ("content-type", OCI_MANIFEST.into()),
                ("docker-content-digest", s.manifest_digest.clone()),
            ],
        )?;
        if !head_only {
            conn.write_all(&s.manifest)?;
        }
        return Ok(());
    }
    let Some(digest) = path.strip_prefix(&blobs) else {
        return not_found(&mut conn);
    };
    let is_big = digest == s.big_digest;
    let small = s.small.iter().find(|(d, _)| d == digest).map(|(_, b)| b);
    let total = match (is_big, small) {
        (true, _) => s.opts.size,
        (false, Some(b)) => b.len() as u64,
        (false, None) => return not_found(&mut conn),
    };
    let (start, end) = match range {
        None => (0, total),
        Some((first, last)) => {
            if first >= total {
                write_head(
                    &mut conn,
                    "416 Range Not Satisfiable",
                    0,
                    &[("content-range", format!("bytes */{total}"))],
                )?;
                return Ok(());
            }
            let end = last.map_or(total, |l| l.saturating_add(1).min(total));
            (first, end)
        }
    };
    let mut headers = vec![
        ("content-type", "application/octet-stream".to_owned()),
        ("docker-content-digest", digest.to_owned()),
        ("accept-ranges", "bytes".to_owned()),
    ];
    let status = if range.is_some() {
        headers.push((
            "content-range",
            format!("bytes {start}-{}/{total}", end - 1),
        ));
        "206 Partial Content"
    } else {
        "200 OK"
    };
    write_head(&mut conn, status, end - start, &headers)?;
    if head_only {
        return Ok(());
    }
    if let Some(b) = small {
        return conn.write_all(&b[start as usize..end as usize]);
    }
    // The big layer: generated chunk by chunk, paced, cut once.
    s.big_open.fetch_add(1, Ordering::SeqCst);
    let r = stream_big(&mut conn, s, start, end);
    s.big_open.fetch_sub(1, Ordering::SeqCst);
    r
}

/// Writes bytes `start..end` of the big layer to `conn` (see [`handle`]).
fn stream_big(conn: &mut TcpStream, s: &Shared, start: u64, end: u64) -> std::io::Result<()> {
    let cut = match s.opts.cut_at {
        Some(c) if start == 0 && c < end && !s.cut_done.swap(true, Ordering::SeqCst) => Some(c),
        _ => None,
    };
    let stop_at = cut.unwrap_or(end);
    let mut buf = vec![0u8; CHUNK];
    let mut pos = start;
    let began = Instant::now();
    let mut sent_here = 0u64;
    while pos < stop_at {
        if s.stop.load(Ordering::SeqCst) {
            break;
        }
        let rate = s.rate.load(Ordering::SeqCst);
        let piece = if rate > 0 {
            (rate / 20).clamp(4096, CHUNK as u64)
        } else {
            CHUNK as u64
        };
        let n = (stop_at - pos).min(piece) as usize;
        s.stream.fill(pos, &mut buf[..n]);
        conn.write_all(&buf[..n])?;
        pos += n as u64;
        sent_here += n as u64;
        s.big_bytes.fetch_add(n as u64, Ordering::SeqCst);
        if rate > 0 {
            let due = Duration::from_secs_f64(sent_here as f64 / rate as f64);
            let elapsed = began.elapsed();
            if due > elapsed {
                std::thread::sleep(due - elapsed);
            }
        }
    }
    conn.flush()?;
    // A cut (or a stop): close without the rest of the announced body.
    let _ = conn.shutdown(Shutdown::Both);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_is_seekable() {
        let st = Stream::new(7);
        let total = 3 * SEGMENT as usize + 100;
        let mut whole = vec![0u8; total];
        st.fill(0, &mut whole);
        let seg = SEGMENT as usize;
        for (off, len) in [
            (0, 1),
            (3, 5),
            (13, 987),
            (seg - 3, 10),
            (seg, seg),
            (seg + 5, 2 * seg),
            (total - 1, 1),
            (1, 0),
        ] {
            let mut part = vec![0u8; len];
            st.fill(off as u64, &mut part);
            assert!(part == whole[off..off + len], "offset {off} len {len}");
        }
        // Segments differ from each other, and other seeds give other bytes.
        assert!(whole[..seg] != whole[seg..2 * seg]);
        let mut other = vec![0u8; 1000];
        Stream::new(8).fill(0, &mut other);
        assert!(other[..] != whole[..1000]);
    }

    #[test]
    fn stream_digest_matches_one_shot() {
        let st = Stream::new(9);
        let mut whole = vec![0u8; 3 * SEGMENT as usize + 5];
        st.fill(0, &mut whole);
        assert_eq!(st.digest(whole.len() as u64), sha256_digest(&whole));
    }

    #[test]
    fn ranges_parse() {
        assert_eq!(parse_range("bytes=10-"), Some((10, None)));
        assert_eq!(parse_range(" bytes=0-99"), Some((0, Some(99))));
        assert_eq!(parse_range("bytes=-5"), None);
        assert_eq!(parse_range("items=1-2"), None);
    }
}
