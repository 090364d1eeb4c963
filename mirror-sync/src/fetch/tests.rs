use std::io::Write as _;

use super::clients::proxy_needs_tls;
use super::*;
use std::sync::atomic::Ordering;

#[test]
fn content_range_start_parses_rfc9110_form() {
    assert_eq!(content_range_start("bytes 100-199/200"), Some(100));
    assert_eq!(content_range_start("bytes 0-0/*"), Some(0));
    assert_eq!(content_range_start("bytes */200"), None);
    assert_eq!(content_range_start("bytes 9-3/20"), None);
    assert_eq!(content_range_start("items 1-2/3"), None);
}

/// A one-route HTTP server on 127.0.0.1: the first GET gets a 200 announcing the
/// whole body but is cut after `cut` bytes; later GETs honour `Range: bytes=<n>-`
/// with a 206. Returns the address and the Range headers seen.
async fn cutting_server(
    body: Vec<u8>,
    cut: usize,
) -> (
    std::net::SocketAddr,
    Arc<std::sync::Mutex<Vec<Option<String>>>>,
) {
    range_server(body, Some(cut), true).await
}

/// Like [`cutting_server`], with the cut optional and, when `honour_range` is false,
/// every `Range` header ignored (a full 200 each time).
async fn range_server(
    body: Vec<u8>,
    cut: Option<usize>,
    honour_range: bool,
) -> (
    std::net::SocketAddr,
    Arc<std::sync::Mutex<Vec<Option<String>>>>,
) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        let mut first = true;
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = sock.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            let text = String::from_utf8_lossy(&req).to_ascii_lowercase();
            let range = text
                .lines()
                .find_map(|l| l.strip_prefix("range: bytes="))
                .map(|r| r.trim().trim_end_matches('-').to_owned());
            seen2.lock().unwrap().push(range.clone());
            if let (true, Some(cut)) = (first, cut) {
                first = false;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                sock.write_all(head.as_bytes()).await.unwrap();
                sock.write_all(&body[..cut]).await.unwrap();
                continue; // dropped: connection cut
            }
            let start: usize = range
                .filter(|_| honour_range)
                .and_then(|r| r.parse().ok())
                .unwrap_or(0);
            let head = if start > 0 {
                format!(
                    "HTTP/1.1 206 Partial Content\r\ncontent-length: {}\r\ncontent-range: bytes {start}-{}/{}\r\nconnection: close\r\n\r\n",
                    body.len() - start,
                    body.len() - 1,
                    body.len()
                )
            } else {
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                )
            };
            sock.write_all(head.as_bytes()).await.unwrap();
            sock.write_all(&body[start..]).await.unwrap();
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn cut_download_resumes_with_range_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let cas = Arc::new(Cas::open(dir.path()).unwrap());
    let f = Fetcher::new(
        cas.clone(),
        2,
        3,
        Duration::from_secs(5),
        Progress::hidden(),
    )
    .unwrap();
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let (addr, seen) = cutting_server(body.clone(), 70_000).await;
    let url = format!("http://{addr}/blob");
    let expected = Expected::exact(Digest::of(&body), body.len() as u64);
    let send = |offset: u64| {
        let mut rb = f.http().get(&url);
        if offset > 0 {
            rb = rb.header(reqwest::header::RANGE, format!("bytes={offset}-"));
        }
        async move { Ok(rb.send().await?) }
    };
    let (d, n) = f
        .fetch_response_to_store("test blob", &expected, "blob", send)
        .await
        .unwrap();
    assert_eq!((d, n), (Digest::of(&body), body.len() as u64));
    assert_eq!(cas.read_bytes(&d, 1 << 20).unwrap(), body);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0], None);
    let resumed_at: u64 = seen[1].as_deref().unwrap().parse().unwrap();
    assert!(resumed_at > 0 && resumed_at <= 70_000, "{seen:?}");
    // Present now: no request at all.
    let (d2, _) = f
        .fetch_response_to_store("test blob", &expected, "blob", |_| async {
            Err(anyhow!("must not be called"))
        })
        .await
        .unwrap();
    assert_eq!(d2, d);
    assert_eq!(
        f.stats()
            .files_present
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test]
async fn wrong_content_is_refused_and_nothing_stored() {
    let dir = tempfile::tempdir().unwrap();
    let cas = Arc::new(Cas::open(dir.path()).unwrap());
    let f = Fetcher::new(
        cas.clone(),
        2,
        3,
        Duration::from_secs(5),
        Progress::hidden(),
    )
    .unwrap();
    let body = vec![7u8; 1000];
    // Cut at 0 bytes, then served whole, but the expectation names other bytes.
    let (addr, _) = cutting_server(body.clone(), 0).await;
    let url = format!("http://{addr}/blob");
    let expected = Expected::exact(Digest::of(b"something else"), 1000);
    let err = f
        .fetch_response_to_store("test blob", &expected, "blob", |offset| {
            let mut rb = f.http().get(&url);
            if offset > 0 {
                rb = rb.header(reqwest::header::RANGE, format!("bytes={offset}-"));
            }
            async move { Ok(rb.send().await?) }
        })
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("sha256 mismatch"), "{err:#}");
    assert!(cas.iter_digests().unwrap().is_empty());
}

fn fetcher(cas: &Arc<Cas>, retries: u32) -> Fetcher {
    Fetcher::new(
        cas.clone(),
        2,
        retries,
        Duration::from_secs(5),
        Progress::hidden(),
    )
    .unwrap()
}

async fn fetch_url(f: &Fetcher, url: &str, expected: &Expected) -> anyhow::Result<(Digest, u64)> {
    let url = Url::parse(url).unwrap();
    f.fetch_to_store(&url, expected, "blob").await
}

/// A run that gives up after a cut keeps the bytes it got; the next run (a new
/// Fetcher, as after a restart) asks only for the rest and verifies the whole.
#[tokio::test]
async fn next_run_resumes_the_partial_of_a_failed_one() {
    let dir = tempfile::tempdir().unwrap();
    let cas = Arc::new(Cas::open(dir.path()).unwrap());
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    let expected = Expected::exact(Digest::of(&body), body.len() as u64);
    let (addr, seen) = cutting_server(body.clone(), 90_000).await;
    let url = format!("http://{addr}/blob");
    // One attempt only: the cut is final for this run.
    let err = fetch_url(&fetcher(&cas, 1), &url, &expected)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("giving up"), "{err:#}");
    assert_eq!(cas.contains(&Digest::of(&body)).unwrap(), None);
    let kept = std::fs::metadata(cas.partial_path(&Digest::of(&body)))
        .unwrap()
        .len();
    assert!(kept > 0 && kept <= 90_000, "{kept}");
    // The next run.
    let (d, n) = fetch_url(&fetcher(&cas, 3), &url, &expected).await.unwrap();
    assert_eq!((d, n), (Digest::of(&body), body.len() as u64));
    assert_eq!(cas.read_bytes(&d, 1 << 20).unwrap(), body);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen, vec![None, Some(kept.to_string())]);
    assert!(!cas.partial_path(&d).exists());
    assert!(std::fs::read_dir(cas.tmp_dir()).unwrap().next().is_none());
}

/// A server that ignores `Range` answers 200 with the whole body: the partial is
/// thrown away and the download restarts from byte 0, still verified.
#[tokio::test]
async fn a_server_without_range_support_restarts_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let cas = Arc::new(Cas::open(dir.path()).unwrap());
    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 239) as u8).collect();
    let d = Digest::of(&body);
    let mut w = cas.resume_writer(&d, false).unwrap();
    w.write_all(&body[..40_000]).unwrap();
    drop(w);
    let (addr, seen) = range_server(body.clone(), None, false).await;
    let url = format!("http://{addr}/blob");
    let got = fetch_url(
        &fetcher(&cas, 2),
        &url,
        &Expected::exact(d, body.len() as u64),
    )
    .await
    .unwrap();
    assert_eq!(got, (d, body.len() as u64));
    assert_eq!(cas.read_bytes(&d, 1 << 20).unwrap(), body);
    assert_eq!(seen.lock().unwrap().clone(), vec![Some("40000".to_owned())]);
}

/// A partial whose bytes are wrong (a crash that left garbage) is detected by the
/// whole-content check, thrown away, and the blob fetched again from 0.
#[tokio::test]
async fn a_damaged_partial_is_refetched_whole() {
    let dir = tempfile::tempdir().unwrap();
    let cas = Arc::new(Cas::open(dir.path()).unwrap());
    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 233) as u8).collect();
    let d = Digest::of(&body);
    let mut w = cas.resume_writer(&d, false).unwrap();
    w.write_all(&vec![0u8; 30_000]).unwrap();
    drop(w);
    let (addr, seen) = range_server(body.clone(), None, true).await;
    let url = format!("http://{addr}/blob");
    let got = fetch_url(
        &fetcher(&cas, 3),
        &url,
        &Expected::exact(d, body.len() as u64),
    )
    .await
    .unwrap();
    assert_eq!(got, (d, body.len() as u64));
    assert_eq!(cas.read_bytes(&d, 1 << 20).unwrap(), body);
    assert_eq!(
        seen.lock().unwrap().clone(),
        vec![Some("30000".to_owned()), None]
    );
}

/// A partial already holding every byte is committed without any request; one
/// longer than the blob is thrown away.
#[tokio::test]
async fn complete_or_overlong_partials() {
    let dir = tempfile::tempdir().unwrap();
    let cas = Arc::new(Cas::open(dir.path()).unwrap());
    let body = b"all of it".to_vec();
    let d = Digest::of(&body);
    let mut w = cas.resume_writer(&d, false).unwrap();
    w.write_all(&body).unwrap();
    drop(w);
    let f = fetcher(&cas, 2);
    let got = f
        .fetch_response_to_store("b", &Expected::exact(d, 9), "b", |_| async {
            Err(anyhow!("must not be called"))
        })
        .await
        .unwrap();
    assert_eq!(got, (d, 9));
    let other = b"0123456789".to_vec();
    let d2 = Digest::of(&other);
    let mut w = cas.resume_writer(&d2, false).unwrap();
    w.write_all(b"0123456789 and more").unwrap();
    drop(w);
    let (addr, seen) = range_server(other.clone(), None, true).await;
    let url = format!("http://{addr}/blob");
    assert_eq!(
        fetch_url(&f, &url, &Expected::exact(d2, 10)).await.unwrap(),
        (d2, 10)
    );
    assert_eq!(seen.lock().unwrap().clone(), vec![None]);
}

/// A server answering every request with `respond(path)` (a whole HTTP/1.1 response),
/// one request per connection. Returns its address and the paths asked for.
async fn answering_server(
    respond: impl Fn(&str) -> String + Send + Sync + 'static,
) -> (std::net::SocketAddr, Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&req).into_owned();
            let path = text.split(' ').nth(1).unwrap_or("").to_owned();
            seen2.lock().unwrap().push(path.clone());
            let _ = sock.write_all(respond(&path).as_bytes()).await;
        }
    });
    (addr, seen)
}

fn redirect_to(location: &str) -> String {
    format!(
        "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )
}

/// Plain-http requests, redirects between http URLs included, never load the CA roots.
#[tokio::test]
async fn plain_http_never_loads_the_ca_roots() {
    let dir = tempfile::tempdir().unwrap();
    let cas = Arc::new(Cas::open(dir.path()).unwrap());
    let f = fetcher(&cas, 1);
    let (addr, seen) = answering_server(|path| match path {
        "/old" => redirect_to("/new"),
        _ => "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello".into(),
    })
    .await;
    let got = f
        .get(
            &Url::parse(&format!("http://{addr}/old")).unwrap(),
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(&got.body[..], b"hello");
    assert_eq!(got.url.path(), "/new");
    let (d, _) = fetch_url(&f, &format!("http://{addr}/blob"), &Expected::default())
        .await
        .unwrap();
    assert_eq!(cas.read_bytes(&d, 100).unwrap(), b"hello");
    assert_eq!(seen.lock().unwrap().clone(), ["/old", "/new", "/blob"]);
    assert!(!f.tls_loaded());
}

/// An http URL redirected to https is sent again by the TLS client, which follows the
/// redirect and makes the handshake (here with a server that does not speak TLS).
#[tokio::test]
async fn a_redirect_to_https_goes_to_the_tls_client() {
    use tokio::io::AsyncReadExt as _;
    let dir = tempfile::tempdir().unwrap();
    let cas = Arc::new(Cas::open(dir.path()).unwrap());
    let f = fetcher(&cas, 1);
    let tls_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tls_addr = tls_listener.local_addr().unwrap();
    let hello = tokio::spawn(async move {
        let (mut sock, _) = tls_listener.accept().await.unwrap();
        let mut first = [0u8; 1];
        sock.read_exact(&mut first).await.unwrap();
        first[0]
    });
    let (addr, seen) =
        answering_server(move |_| redirect_to(&format!("https://{tls_addr}/file"))).await;
    let err = f
        .get(
            &Url::parse(&format!("http://{addr}/file")).unwrap(),
            None,
            100,
        )
        .await
        .unwrap_err();
    assert!(!format!("{err:#}").contains("without CA roots"), "{err:#}");
    // 0x16: a TLS handshake record (the ClientHello).
    assert_eq!(hello.await.unwrap(), 0x16);
    assert!(f.tls_loaded());
    // Once by the plain client, once again by the TLS client.
    assert_eq!(seen.lock().unwrap().clone(), ["/file", "/file"]);
}

/// A redirect loop ends with reqwest's own error after its default 10 hops.
#[tokio::test]
async fn a_redirect_loop_ends_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let cas = Arc::new(Cas::open(dir.path()).unwrap());
    let f = fetcher(&cas, 1);
    let (addr, _) = answering_server(|_| redirect_to("/again")).await;
    let err = f
        .get(
            &Url::parse(&format!("http://{addr}/loop")).unwrap(),
            None,
            100,
        )
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("too many redirects"), "{err:#}");
}

#[test]
fn proxies_reached_over_tls_are_recognised() {
    assert!(proxy_needs_tls("https://proxy.example:3128"));
    assert!(proxy_needs_tls(" HTTPS://proxy.example"));
    assert!(!proxy_needs_tls("http://proxy.example:3128"));
    assert!(!proxy_needs_tls("proxy.example:3128"));
    assert!(!proxy_needs_tls("socks5h://proxy.example"));
    assert!(!proxy_needs_tls(""));
}

/// A one-document server that sends `ETag: "v1"` and answers `304` to a request whose
/// `If-None-Match` is `"v1"`. Returns the address and each request's `If-None-Match`.
async fn etag_server(
    body: &'static [u8],
) -> (
    std::net::SocketAddr,
    Arc<std::sync::Mutex<Vec<Option<String>>>>,
) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = sock.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            let text = String::from_utf8_lossy(&req).to_ascii_lowercase();
            let inm = text
                .lines()
                .find_map(|l| l.strip_prefix("if-none-match: "))
                .map(|v| v.trim().to_owned());
            seen2.lock().unwrap().push(inm.clone());
            if inm.as_deref() == Some("\"v1\"") {
                sock.write_all(
                    b"HTTP/1.1 304 Not Modified\r\netag: \"v1\"\r\nconnection: close\r\n\r\n",
                )
                .await
                .unwrap();
            } else {
                let head = format!(
                    "HTTP/1.1 200 OK\r\netag: \"v1\"\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                sock.write_all(head.as_bytes()).await.unwrap();
                sock.write_all(body).await.unwrap();
            }
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn an_etag_is_sent_back_and_a_304_is_answered_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let cas = Arc::new(Cas::open(dir.path()).unwrap());
    let body: &'static [u8] = b"Origin: Test\nSuite: stable\n";
    let (addr, seen) = etag_server(body).await;
    let url = url::Url::parse(&format!("http://{addr}/dists/stable/InRelease")).unwrap();

    // First run: a 200, stored, its ETag learned.
    let f = fetcher(&cas, 1);
    let r = f
        .get_revalidated(&url, None, 1 << 20)
        .await
        .unwrap()
        .unwrap();
    assert!(!r.not_modified);
    assert_eq!(&r.doc.body[..], body);
    assert_eq!(r.digest, Digest::of(body));
    assert!(cas.contains(&r.digest).unwrap().is_some());
    let learned = f.learned_documents();
    assert_eq!(learned.len(), 1, "{learned:?}");
    assert_eq!(learned[0].1.validators.etag.as_deref(), Some("\"v1\""));
    // Asked again in the same run: this run's copy, no request.
    assert!(
        f.get_revalidated(&url, None, 1 << 20)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(seen.lock().unwrap().len(), 1);

    // Next run: the ETag goes out, the 304 costs no body, the bytes come from the store.
    let f = fetcher(&cas, 1);
    f.know_documents(learned.clone());
    let r = f
        .get_revalidated(&url, None, 1 << 20)
        .await
        .unwrap()
        .unwrap();
    assert!(r.not_modified);
    assert_eq!(&r.doc.body[..], body);
    assert_eq!(f.stats().bytes_fetched.load(Ordering::Relaxed), 0);
    assert!(f.learned_documents().is_empty(), "nothing new to write");
    assert_eq!(
        seen.lock().unwrap().clone(),
        [None, Some("\"v1\"".to_owned())]
    );

    // A run whose stored copy is gone sends no validators: a full GET.
    cas.remove_blob(&Digest::of(body)).unwrap();
    let f = fetcher(&cas, 1);
    f.know_documents(learned);
    let r = f
        .get_revalidated(&url, None, 1 << 20)
        .await
        .unwrap()
        .unwrap();
    assert!(!r.not_modified);
    assert_eq!(seen.lock().unwrap().last().unwrap(), &None);
    assert!(cas.contains(&Digest::of(body)).unwrap().is_some());
}

#[test]
fn a_recent_last_modified_is_not_used_as_a_validator() {
    use reqwest::header::{DATE, ETAG, HeaderMap, HeaderValue, LAST_MODIFIED};
    let mut h = HeaderMap::new();
    h.insert(
        DATE,
        HeaderValue::from_static("Thu, 03 Dec 2026 07:00:00 GMT"),
    );
    h.insert(
        LAST_MODIFIED,
        HeaderValue::from_static("Thu, 03 Dec 2026 06:59:30 GMT"),
    );
    // Changed 30 s before the answer: the same second may hold another change.
    assert_eq!(validators_of(&h), Validators::default());
    h.insert(
        LAST_MODIFIED,
        HeaderValue::from_static("Thu, 03 Dec 2026 06:59:00 GMT"),
    );
    h.insert(ETAG, HeaderValue::from_static("\"abc\""));
    assert_eq!(
        validators_of(&h),
        Validators {
            etag: Some("\"abc\"".into()),
            last_modified: Some("Thu, 03 Dec 2026 06:59:00 GMT".into()),
        }
    );
}

/// `Retry-After` (RFC 9110 §10.2.3): delta-seconds or an HTTP-date, cut to the cap; a
/// past date is no pause; anything else is ignored.
#[test]
fn retry_after_reads_seconds_and_dates_within_the_cap() {
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
    use std::time::Duration;
    let with = |v: &str| {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_str(v).unwrap());
        super::retry::retry_after(&h)
    };
    assert_eq!(with("2"), Some(Duration::from_secs(2)));
    assert_eq!(with(" 0 "), Some(Duration::ZERO));
    assert_eq!(with("86400"), Some(super::retry::RETRY_AFTER_CAP));
    assert_eq!(with("Sun, 06 Nov 1994 08:49:37 GMT"), Some(Duration::ZERO));
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(10)).to_rfc2822();
    let got = with(&soon).unwrap();
    assert!(
        got > Duration::from_secs(7) && got <= Duration::from_secs(10),
        "{got:?}"
    );
    assert_eq!(with("soon"), None);
    assert_eq!(with("-1"), None);
    assert_eq!(super::retry::retry_after(&HeaderMap::new()), None);
}
