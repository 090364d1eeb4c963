//! `mirror-server serve`: a hand-built signed drive is imported and served on 127.0.0.1:0,
//! then checked with a plain HTTP client.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use crate::common::{Fixture, Import};
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
    LOCATION, RANGE, VARY,
};

const DEB_PATH: &str = "apt/cuda/cuda-x+1_amd64.deb";
const WHEEL: &str = "simple/foo-bar/foo_bar-1.0-py3-none-any.whl";
const JSON_PAGE: &[u8] = br#"{"meta":{"api-version":"1.0"},"name":"foo-bar","files":[]}"#;
const HTML_PAGE: &[u8] =
    b"<!DOCTYPE html><html><body><a href=\"foo_bar-1.0-py3-none-any.whl\">x</a></body></html>\n";

fn deb_bytes() -> Vec<u8> {
    (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

fn files(deb: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (DEB_PATH, deb.to_vec()),
        ("apt/cuda/Packages", b"Package: cuda-x\n".to_vec()),
        ("apt/cuda/InRelease", b"signed release\n".to_vec()),
        ("simple/index.html", b"<html>root</html>\n".to_vec()),
        (
            "simple/index.json",
            br#"{"meta":{"api-version":"1.0"},"projects":[]}"#.to_vec(),
        ),
        ("simple/foo-bar/index.html", HTML_PAGE.to_vec()),
        ("simple/foo-bar/index.json", JSON_PAGE.to_vec()),
        (WHEEL, b"PK\x03\x04 fake wheel".to_vec()),
        (
            "simple/foo-bar/foo_bar-1.0-py3-none-any.whl.metadata",
            b"Metadata-Version: 2.1\nName: foo-bar\n".to_vec(),
        ),
        ("keys/repo.gpg", b"repo key\n".to_vec()),
    ]
}

fn as_refs<'a>(v: &'a [(&'static str, Vec<u8>)]) -> Vec<(&'static str, &'a [u8])> {
    v.iter().map(|(p, b)| (*p, b.as_slice())).collect()
}

/// Sends one raw HTTP/1.1 request (paths a URL library would normalize) and returns the
/// status code.
fn raw_status(addr: SocketAddr, method: &str, path: &str) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn serves_an_imported_snapshot() {
    let fx = Fixture::new();
    let deb = deb_bytes();
    let f1 = files(&deb);
    let drive = fx.drive("drive1", 1, &as_refs(&f1));
    fx.import(&drive, &[]).unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let handle = mirror_server::serve::start(fx.store.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = handle.addr;
        let base = format!("http://{addr}");
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let etag = format!(
            "\"{}\"",
            formats::digest::Digest::of(&deb).hex()
        );

        // apt asks for flat/./file with '+' percent-encoded.
        let url = format!("{base}/apt/cuda/./cuda-x%2b1_amd64.deb");
        let r = client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CONTENT_TYPE], "application/vnd.debian.binary-package");
        assert_eq!(r.headers()[ACCEPT_RANGES], "bytes");
        assert_eq!(r.headers()[ETAG], etag.as_str());
        assert_eq!(r.headers()[CONTENT_LENGTH], deb.len().to_string().as_str());
        assert_eq!(r.bytes().await.unwrap().as_ref(), deb.as_slice());
        // The client normalizes "/./"; send it raw too.
        assert_eq!(raw_status(addr, "GET", "/apt/cuda/./cuda-x%2B1_amd64.deb"), 200);

        // HEAD: headers only.
        let r = client.head(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CONTENT_LENGTH], deb.len().to_string().as_str());
        assert_eq!(r.headers()[ETAG], etag.as_str());
        assert!(r.bytes().await.unwrap().is_empty());

        // Ranges.
        let r = client.get(&url).header(RANGE, "bytes=10-19").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(
            r.headers()[CONTENT_RANGE],
            format!("bytes 10-19/{}", deb.len()).as_str()
        );
        assert_eq!(r.bytes().await.unwrap().as_ref(), &deb[10..20]);
        let r = client.get(&url).header(RANGE, "bytes=-5").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(r.bytes().await.unwrap().as_ref(), &deb[deb.len() - 5..]);
        let r = client.get(&url).header(RANGE, "bytes=199990-").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(r.bytes().await.unwrap().as_ref(), &deb[199_990..]);
        let r = client
            .get(&url)
            .header(RANGE, format!("bytes={}-", deb.len()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(
            r.headers()[CONTENT_RANGE],
            format!("bytes */{}", deb.len()).as_str()
        );
        let r = client.get(&url).header(RANGE, "bytes=0-1,5-6").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.unwrap().len(), deb.len());

        // ETag revalidation.
        let r = client.get(&url).header(IF_NONE_MATCH, &etag).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        assert!(r.bytes().await.unwrap().is_empty());
        let r = client.get(&url).header(IF_NONE_MATCH, "\"other\"").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);

        // APT indexes.
        let r = client.get(format!("{base}/apt/cuda/InRelease")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/plain"));
        assert_eq!(r.text().await.unwrap(), "signed release\n");

        // The page files at their logical paths (the manifest's paths), root included:
        // not taken for a project named "index.html".
        for (logical, want) in [
            ("simple/index.html", &b"<html>root</html>\n"[..]),
            ("simple/foo-bar/index.json", JSON_PAGE),
        ] {
            let r = client.get(format!("{base}/{logical}")).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{logical}");
            assert_eq!(r.bytes().await.unwrap().as_ref(), want, "{logical}");
        }
        let r = client.get(format!("{base}/simple/index.json")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");

        // PEP 691 negotiation.
        let page = format!("{base}/simple/foo-bar/");
        let r = client
            .get(&page)
            .header(
                ACCEPT,
                "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.1, text/html;q=0.01",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CONTENT_TYPE], "application/vnd.pypi.simple.v1+json");
        assert_eq!(r.headers()[VARY], "Accept");
        assert_eq!(r.bytes().await.unwrap().as_ref(), JSON_PAGE);
        let r = client.get(&page).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
        assert_eq!(r.bytes().await.unwrap().as_ref(), HTML_PAGE);
        let r = client
            .get(&page)
            .header(ACCEPT, "application/vnd.pypi.simple.v1+html")
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()[CONTENT_TYPE], "application/vnd.pypi.simple.v1+html");
        let r = client
            .get(format!("{page}?format=application/vnd.pypi.simple.v1%2Bjson"))
            .header(ACCEPT, "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()[CONTENT_TYPE], "application/vnd.pypi.simple.v1+json");
        let r = client
            .get(&page)
            .header(ACCEPT, "application/xml")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_ACCEPTABLE);
        let r = client
            .get(format!("{base}/simple/"))
            .header(ACCEPT, "application/vnd.pypi.simple.latest+json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CONTENT_TYPE], "application/vnd.pypi.simple.v1+json");

        // PEP 503 normalization redirects (query kept), and the trailing slash.
        let r = client
            .get(format!("{base}/simple/Foo_Bar/?format=text/html"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(r.headers()[LOCATION], "/simple/foo-bar/?format=text/html");
        let r = client.get(format!("{base}/simple/foo-bar")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(r.headers()[LOCATION], "/simple/foo-bar/");
        let r = client.get(format!("{base}/simple/Foo.Bar/{}", WHEEL.rsplit('/').next().unwrap())).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(r.headers()[LOCATION], format!("/{WHEEL}").as_str());

        // Distribution files and core metadata, with ranges.
        let r = client.get(format!("{base}/{WHEEL}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.unwrap().as_ref(), b"PK\x03\x04 fake wheel");
        let r = client
            .get(format!("{base}/{WHEEL}"))
            .header(RANGE, "bytes=0-3")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(r.bytes().await.unwrap().as_ref(), b"PK\x03\x04");
        let r = client.get(format!("{base}/{WHEEL}.metadata")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.text().await.unwrap().starts_with("Metadata-Version"));

        // Other logical paths; absent ones; bad ones; other methods.
        let r = client.get(format!("{base}/keys/repo.gpg")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.text().await.unwrap(), "repo key\n");
        for missing in ["/keys/none.gpg", "/simple/nope/", "/apt/cuda/nope.deb", "/", "/apt/cuda//Packages"] {
            let r = client.get(format!("{base}{missing}")).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{missing}");
        }
        assert_eq!(raw_status(addr, "GET", "/apt/cuda/../cuda/Packages"), 400);
        assert_eq!(raw_status(addr, "GET", "/apt/cuda/%2e%2e/x"), 400);
        assert_eq!(raw_status(addr, "GET", "/keys%2frepo.gpg"), 400);
        let r = client.post(format!("{base}/keys/repo.gpg")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers()["allow"], "GET, HEAD");

        // Health and metrics.
        let r = client.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v, serde_json::json!({"status": "ok", "snapshot": "test/1"}));
        let m = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(m.contains("mirror_snapshot_sequence{channel=\"test\"} 1\n"), "{m}");
        assert!(m.contains("mirror_http_requests_total{route=\"apt\",status=\"206\"} 3"), "{m}");
        assert!(m.contains("mirror_http_requests_total{route=\"simple\",status=\"406\"} 1"), "{m}");
        assert!(m.contains("mirror_snapshot_info{name=\"test/1\",channel=\"test\"} 1"), "{m}");
        assert!(handle.state.metrics.completed_bytes() >= deb.len() as u64);

        // Import a newer snapshot while serving: the server switches without a restart.
        let new_deb: Vec<u8> = b"new deb content".to_vec();
        let mut f2 = files(&deb);
        f2[0].1 = new_deb.clone();
        let drive2 = fx.drive("drive2", 2, &as_refs(&f2));
        let store = fx.store.clone();
        let trusted = fx.trusted.clone();
        tokio::task::spawn_blocking(move || {
            mirror_server::cli::run([
                "mirror-server".as_ref(),
                "import".as_ref(),
                drive2.as_os_str(),
                "--store".as_ref(),
                store.as_os_str(),
                "--trusted-keys".as_ref(),
                trusted.as_os_str(),
                "--quiet".as_ref(),
            ])
        })
        .await
        .unwrap()
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let v: serde_json::Value = client
                .get(format!("{base}/healthz"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if v["snapshot"] == "test/2" {
                break;
            }
            assert!(Instant::now() < deadline, "server did not switch to test/2: {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let r = client.get(&url).send().await.unwrap();
        assert_eq!(r.bytes().await.unwrap().as_ref(), new_deb.as_slice());

        handle.shutdown().await;
    });
}

#[test]
fn empty_store_answers_503() {
    let fx = Fixture::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let handle = mirror_server::serve::start(fx.store.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let base = format!("http://{}", handle.addr);
        let r = reqwest::get(format!("{base}/simple/")).await.unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("no snapshot imported yet: run mirror-server import")
        );
        let v: serde_json::Value = reqwest::get(format!("{base}/healthz"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v, serde_json::json!({"status": "ok", "snapshot": null}));
        handle.shutdown().await;
    });
    // Serving did not create the store.
    assert!(!fx.store.exists());
}

/// Small blobs come from the in-memory cache (filled after a digest check), large ones are
/// streamed in pooled frames: both give exact bytes and ranges, across frame boundaries;
/// a damaged small blob is refused (never cached, never served), a truncated large one too.
#[test]
fn small_blobs_are_checked_and_large_blobs_stream_in_frames() {
    const BIG: &str = "apt/cuda/big_1.0_amd64.deb";
    const SMALL: &str = "apt/cuda/small_1.0_amd64.deb";
    const BAD: &str = "apt/cuda/bad_1.0_amd64.deb";
    let fx = Fixture::new();
    // 1 MiB + 3 bytes: four full 256 KiB frames and a short one.
    let big: Vec<u8> = (0..(1u32 << 20) + 3)
        .map(|i| (i * 31 % 253) as u8)
        .collect();
    let small = b"small blob, served from memory\n".to_vec();
    let bad = b"this one will be damaged in the store\n".to_vec();
    let f = vec![
        (BIG, big.as_slice()),
        (SMALL, small.as_slice()),
        (BAD, bad.as_slice()),
    ];
    let drive = fx.drive("drive1", 1, &f);
    fx.import(&drive, &[]).unwrap();
    // Same size, one byte flipped: only a digest check can tell.
    let cas = store::Cas::at(&fx.store);
    let bad_path = cas.blob_path(&formats::digest::Digest::of(&bad));
    let mut damaged = bad.clone();
    damaged[0] ^= 1;
    std::fs::set_permissions(&bad_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&bad_path, &damaged).unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let handle = mirror_server::serve::start_with(
            fx.store.clone(),
            "127.0.0.1:0".parse().unwrap(),
            mirror_server::serve::ServeOptions {
                workers: 2,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let base = format!("http://{}", handle.addr);
        let client = reqwest::Client::new();
        for _ in 0..3 {
            let r = client.get(format!("{base}/{BIG}")).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.bytes().await.unwrap().as_ref(), big.as_slice());
            let r = client.get(format!("{base}/{SMALL}")).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.bytes().await.unwrap().as_ref(), small.as_slice());
        }
        // A range across the first frame boundary, and the last bytes.
        let lo = 256 * 1024 - 5;
        let r = client
            .get(format!("{base}/{BIG}"))
            .header(RANGE, format!("bytes={lo}-{}", lo + 9))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(r.bytes().await.unwrap().as_ref(), &big[lo..lo + 10]);
        let r = client
            .get(format!("{base}/{BIG}"))
            .header(RANGE, "bytes=-4")
            .send()
            .await
            .unwrap();
        assert_eq!(r.bytes().await.unwrap().as_ref(), &big[big.len() - 4..]);
        let r = client
            .get(format!("{base}/{SMALL}"))
            .header(RANGE, "bytes=6-9")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(
            r.headers()[CONTENT_RANGE],
            format!("bytes 6-9/{}", small.len()).as_str()
        );
        assert_eq!(r.bytes().await.unwrap().as_ref(), &small[6..10]);
        assert_eq!(
            handle.state.small.usage().0,
            1,
            "only the good small blob is cached"
        );

        // The damaged small blob: refused every time, with a message that says what to do.
        for _ in 0..2 {
            let r = client.get(format!("{base}/{BAD}")).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
            let text = r.text().await.unwrap();
            assert!(
                text.contains("damaged") && text.contains("re-import"),
                "{text}"
            );
        }
        assert_eq!(handle.state.small.usage().0, 1);

        // A truncated large blob: refused before any byte is sent.
        let big_path = cas.blob_path(&formats::digest::Digest::of(&big));
        std::fs::set_permissions(&big_path, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(&big_path, &big[..1000]).unwrap();
        let r = client.get(format!("{base}/{BIG}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(r.text().await.unwrap().contains("damaged"));
        handle.shutdown().await;
    });
}
