//! HTTP fetching for every upstream: reqwest clients (rustls), bounded parallelism,
//! retries with exponential backoff, and streaming into the content-addressed store with
//! the hash checked while the bytes arrive.
//!
//! The system's CA roots are loaded only when a run first needs TLS (see `Clients`): a
//! run against plain-http upstreams never reads them, which is a few milliseconds of every
//! re-sync. `https` requests are made exactly as before, by a client with the platform
//! verifier (`rustls-platform-verifier`, system roots).
//!
//! Downloads whose SHA-256 is known beforehand resume: the bytes go to the store's
//! partial file for that digest ([`store::Cas::resume_writer`]), which outlives a cut
//! connection, a failed run or a `kill -9`; the next attempt, in this run or the next,
//! asks only for the rest with `Range: bytes=<len>-` (RFC 9110 §14.2). Memory stays flat
//! whatever the size: each chunk is hashed and written as it arrives.
//!
//! Credentials in a URL's userinfo are sent as HTTP basic auth and never recorded: every
//! URL that reaches a log, an error, the state or the manifest goes through
//! [`redact`] first.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use formats::digest::Digest;
use futures_util::StreamExt as _;
use reqwest::StatusCode;
use store::{Cas, Expected};
use url::Url;

use crate::progress::Progress;

/// Largest index or page fetched into memory (bytes). Bigger answers are refused.
pub const MAX_INDEX_BYTES: u64 = 512 * 1024 * 1024;

/// Shared fetcher for one command run.
#[derive(Clone)]
pub struct Fetcher {
    clients: Arc<Clients>,
    retries: u32,
    cas: Arc<Cas>,
    limit: Arc<tokio::sync::Semaphore>,
    progress: Progress,
    stats: Arc<Stats>,
}

/// Counters for the end-of-run summary.
#[derive(Default, Debug)]
pub struct Stats {
    /// Bytes downloaded from upstreams (indexes and files).
    pub bytes_fetched: std::sync::atomic::AtomicU64,
    /// Files downloaded into the store.
    pub files_fetched: std::sync::atomic::AtomicU64,
    /// Files already in the store, not downloaded again.
    pub files_present: std::sync::atomic::AtomicU64,
    /// Bytes of those files (deduplicated).
    pub bytes_present: std::sync::atomic::AtomicU64,
    /// HTTP requests sent (including retries).
    pub requests: std::sync::atomic::AtomicU64,
}

/// A fetched small document.
#[derive(Debug)]
pub struct Fetched {
    /// Final URL after redirects (redacted).
    pub url: Url,
    /// `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: bytes::Bytes,
}

/// Removes userinfo (credentials) from a URL for display and records.
pub fn redact(u: &Url) -> String {
    let mut u = u.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// Most redirects followed for one request, as reqwest's default policy
/// (`redirect::Policy::limited(10)`).
const MAX_REDIRECTS: usize = 10;

/// The HTTP clients of a run: one that never makes a TLS handshake, for `http://` URLs, and
/// one with the system's CA roots, built on first need (reading and parsing the roots
/// takes milliseconds, a large share of a re-sync with nothing to do).
///
/// A request is sent as it was with one client: an `https` URL goes to the TLS client. An
/// `http` URL goes to the plain client, whose redirect policy follows only plain-http hops
/// within reqwest's default limit of 10; anything else (a redirect to `https`, an 11th hop,
/// another scheme) is handed over: the same request is sent again from the start by the
/// TLS client, whose default policy then decides as before (so the errors are reqwest's
/// own), and later `http` requests of the run go to the TLS client directly. When a proxy
/// for `http` URLs is itself reached over `https` (`HTTP_PROXY`/`ALL_PROXY`), every request
/// goes to the TLS client.
struct Clients {
    /// No CA roots (an empty root store), never asked to make a TLS handshake.
    plain: reqwest::Client,
    /// `false` when a proxy needs TLS: the plain client is not used then.
    plain_usable: bool,
    /// Set when a plain request was handed over: later `http` requests skip the plain try.
    handed_over: AtomicBool,
    /// The TLS client, or why it could not be built (no CA roots on this system).
    tls: OnceLock<Result<reqwest::Client, String>>,
    /// Set once [`Fetcher::http`] has warned that the TLS client could not be built.
    warned: AtomicBool,
    /// Connect and read timeout of both clients.
    timeout: Duration,
}

/// The error the plain client's redirect policy returns for a hop it does not take.
#[derive(Debug)]
struct HandOver;

impl std::fmt::Display for HandOver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("redirect not followed by the client without CA roots")
    }
}

impl std::error::Error for HandOver {}

/// Whether `e` is the plain client's hand-over of a redirect (see [`Clients`]).
fn is_hand_over(e: &reqwest::Error) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = src {
        if err.is::<HandOver>() {
            return true;
        }
        src = err.source();
    }
    false
}

/// Whether a proxy setting (the value of `HTTP_PROXY` or `ALL_PROXY`) names a proxy that is
/// reached over TLS (`https://…`, any case).
fn proxy_needs_tls(value: &str) -> bool {
    value
        .trim()
        .get(..8)
        .is_some_and(|p| p.eq_ignore_ascii_case("https://"))
}

/// A client builder with the settings common to both clients.
fn client_builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(concat!("mirror-sync/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(timeout)
        .read_timeout(timeout)
}

impl Clients {
    /// Builds the plain client (cheap: no file is read). Errors: reqwest cannot build it.
    fn new(timeout: Duration) -> anyhow::Result<Clients> {
        let plain = client_builder(timeout)
            .tls_certs_only(Vec::new())
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                if attempt.url().scheme() == "http" && attempt.previous().len() <= MAX_REDIRECTS {
                    attempt.follow()
                } else {
                    attempt.error(HandOver)
                }
            }))
            .build()
            .context("cannot build the HTTP client")?;
        // The variables reqwest reads for the proxy of `http` URLs (hyper-util's matcher).
        let plain_usable = !["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
            .iter()
            .filter_map(|k| std::env::var(k).ok())
            .any(|v| proxy_needs_tls(&v));
        Ok(Clients {
            plain,
            plain_usable,
            handed_over: AtomicBool::new(false),
            tls: OnceLock::new(),
            warned: AtomicBool::new(false),
            timeout,
        })
    }

    /// The TLS client, built (system CA roots loaded) on the first call. Errors: the roots
    /// cannot be loaded (none on this system) or reqwest cannot build the client.
    fn tls(&self) -> anyhow::Result<&reqwest::Client> {
        self.tls
            .get_or_init(|| {
                client_builder(self.timeout)
                    .build()
                    .map_err(|e| format!("{:#}", anyhow!(e)))
            })
            .as_ref()
            .map_err(|e| anyhow!("cannot build the HTTPS client: {e}"))
    }

    /// Whether a request for `url` is tried with the plain client first.
    fn plain_first(&self, url: &Url) -> bool {
        self.plain_usable
            && url.scheme() == "http"
            && !self.handed_over.load(AtomicOrdering::Relaxed)
    }
}

fn transient(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}

impl Fetcher {
    /// Builds the fetcher. `concurrency` bounds simultaneous downloads; `retries` is the
    /// number of attempts per request; `timeout` applies to connecting and to each read.
    /// The system's CA roots are not read here but on the first request that needs TLS.
    /// Errors: reqwest cannot build its client.
    pub fn new(
        cas: Arc<Cas>,
        concurrency: usize,
        retries: u32,
        timeout: Duration,
        progress: Progress,
    ) -> anyhow::Result<Fetcher> {
        Ok(Fetcher {
            clients: Arc::new(Clients::new(timeout)?),
            retries: retries.max(1),
            cas,
            limit: Arc::new(tokio::sync::Semaphore::new(concurrency.max(1))),
            progress,
            stats: Arc::default(),
        })
    }

    /// [`Fetcher::new`] with the configuration's `[sync]` tuning (concurrency, retries,
    /// timeout in seconds). Errors: as [`Fetcher::new`].
    pub fn for_config(
        cas: Arc<Cas>,
        cfg: &crate::config::Config,
        progress: Progress,
    ) -> anyhow::Result<Fetcher> {
        Fetcher::new(
            cas,
            cfg.sync.concurrency,
            cfg.sync.retries,
            Duration::from_secs(cfg.sync.timeout_secs),
            progress,
        )
    }

    /// The store downloads go into.
    pub fn cas(&self) -> &Arc<Cas> {
        &self.cas
    }

    /// Run counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The progress display.
    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// The shared HTTP client (rustls with the system's CA roots, user agent and timeouts
    /// set), for protocols that build their own requests (the OCI registry client adds auth
    /// and `Accept`). The roots are loaded on the first call. When they cannot be loaded (a
    /// system without CA certificates) a warning saying why is printed once and the client
    /// without roots is returned: plain `http` works, every `https` handshake fails as an
    /// unknown issuer, and a redirect to `https` is an error.
    pub fn http(&self) -> &reqwest::Client {
        match self.clients.tls() {
            Ok(c) => c,
            Err(e) => {
                if !self.clients.warned.swap(true, AtomicOrdering::Relaxed) {
                    self.progress.println(&format!("warning: {e:#}"));
                }
                &self.clients.plain
            }
        }
    }

    /// Whether this run has built its TLS client (loaded the system's CA roots), for tests
    /// and diagnostics.
    pub fn tls_loaded(&self) -> bool {
        self.clients.tls.get().is_some()
    }

    /// Attempts per request, as configured (`[sync] retries`, at least 1).
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// Sleeps before retry number `attempt` (1-based): 0.5 s, 1 s, 2 s, … capped at 16 s.
    pub async fn retry_pause(attempt: u32) {
        Self::backoff(attempt).await
    }

    /// Streams the answers of `send` into the store, with the checks, counters and
    /// progress of [`Fetcher::fetch_to_store`], for requests the caller builds itself
    /// (registry auth, custom headers).
    ///
    /// `send(offset)` must send the request and return the response whatever its status;
    /// when `offset > 0` it must ask for `Range: bytes=<offset>-`. A connection cut after
    /// some bytes keeps the partial temp file and the next attempt resumes from there: a
    /// `206` whose `Content-Range` starts at `offset` is appended, a `200` restarts from
    /// byte 0. When `expected.digest` is set the partial file is the store's
    /// [`store::Cas::resume_writer`] file, so it also survives this run (a failure after
    /// the retries, a `kill -9`): the next run's first request already asks for the rest.
    /// `shown` names the resource in errors (never put credentials in it).
    ///
    /// Skipped when `expected.digest` is already in the store. Errors: a 4xx status
    /// (other than 408/429) at once, a digest or size mismatch after two tries, anything
    /// else after `retries` attempts; each names `shown` and what was expected.
    pub async fn fetch_response_to_store<F, Fut>(
        &self,
        shown: &str,
        expected: &Expected,
        label: &str,
        mut send: F,
    ) -> anyhow::Result<(Digest, u64)>
    where
        F: FnMut(u64) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<reqwest::Response>>,
    {
        if let Some(d) = &expected.digest
            && let Some(size) = self.cas.contains(d)?
            && expected.size.is_none_or(|s| s == size)
        {
            // A partial left by an interrupted run is of no use any more.
            let _ = self.cas.remove_partial(d);
            tracing::debug!(url = %shown, size, "already in the store");
            self.note_present(size);
            return Ok((*d, size));
        }
        let _permit = self.limit.acquire().await?;
        // Resume what an earlier run left on disk: the first request asks for the rest.
        let mut writer: Option<store::BlobWriter> = Some(
            self.open_writer(expected)
                .await
                .map_err(|e| e.context(format!("GET {shown}")))?,
        );
        if let (Some(w), Some(want)) = (&writer, expected.size)
            && w.bytes_written() > want
        {
            // Longer than the blob can be: not a prefix of it.
            discard(&mut writer);
        }
        let mut last_err = None;
        let mut mismatches = 0;
        for attempt in 0..self.retries {
            if attempt > 0 {
                Self::backoff(attempt).await;
            }
            tracing::debug!(url = %shown, attempt = attempt + 1, "download");
            match self
                .try_fetch_response(&mut writer, expected, label, &mut send)
                .await
            {
                Ok(v) => {
                    tracing::debug!(url = %shown, digest = %v.0, size = v.1, "downloaded");
                    self.stats
                        .files_fetched
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return Ok(v);
                }
                Err(FetchFailure::Permanent(e)) => return Err(e.context(format!("GET {shown}"))),
                Err(FetchFailure::Mismatch(e)) => {
                    discard(&mut writer);
                    mismatches += 1;
                    if mismatches >= 2 {
                        return Err(e.context(format!(
                            "GET {shown}: content does not match the digest and size the upstream index lists"
                        )));
                    }
                    last_err = Some(e);
                }
                Err(FetchFailure::Transient(e)) => last_err = Some(e),
            }
        }
        Err(last_err
            .unwrap_or_else(|| anyhow!("no attempt made"))
            .context(format!(
                "GET {shown}: giving up after {} attempts",
                self.retries
            )))
    }

    /// A writer for `expected`: the digest's resumable partial file when the SHA-256 is
    /// known (re-hashing what is already there, off the async threads), else a fresh
    /// temp file. SHA-512 is computed when `expected` names one.
    async fn open_writer(&self, expected: &Expected) -> anyhow::Result<store::BlobWriter> {
        let cas = self.cas.clone();
        let digest = expected.digest;
        let sha512 = expected.sha512_hex.is_some();
        tokio::task::spawn_blocking(move || match digest {
            Some(d) => cas.resume_writer(&d, sha512),
            None if sha512 => cas.writer_with_sha512(),
            None => cas.writer(),
        })
        .await
        .map_err(|e| anyhow!(e))?
        .map_err(|e| anyhow!(e).context("cannot create a temp file in the store"))
    }

    fn note_present(&self, size: u64) {
        self.stats
            .files_present
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.stats
            .bytes_present
            .fetch_add(size, std::sync::atomic::Ordering::Relaxed);
        self.progress.inc_done(size);
        self.progress.file_done();
    }

    async fn try_fetch_response<F, Fut>(
        &self,
        slot: &mut Option<store::BlobWriter>,
        expected: &Expected,
        label: &str,
        send: &mut F,
    ) -> Result<(Digest, u64), FetchFailure>
    where
        F: FnMut(u64) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<reqwest::Response>>,
    {
        let offset = slot.as_ref().map_or(0, |w| w.bytes_written());
        let complete = expected.size.is_some_and(|s| offset == s && s > 0);
        if !complete {
            self.stats
                .requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let resp = send(offset).await.map_err(FetchFailure::Transient)?;
            let status = resp.status();
            if transient(status) {
                return Err(FetchFailure::Transient(anyhow!("HTTP {status}")));
            }
            if !status.is_success() {
                return Err(FetchFailure::Permanent(anyhow!("HTTP {status}")));
            }
            let resumed = offset > 0
                && status == StatusCode::PARTIAL_CONTENT
                && resp
                    .headers()
                    .get(reqwest::header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(content_range_start)
                    == Some(offset);
            if offset > 0 && !resumed {
                if status == StatusCode::PARTIAL_CONTENT {
                    discard(slot);
                    return Err(FetchFailure::Transient(anyhow!(
                        "server answered a range other than the one asked for; restarting"
                    )));
                }
                // The server ignored the Range header: start over.
                discard(slot);
            }
            let start = if resumed { offset } else { 0 };
            if let (Some(len), Some(want)) = (resp.content_length(), expected.size)
                && start + len != want
            {
                return Err(FetchFailure::Mismatch(anyhow!(
                    "server announces {} bytes, the descriptor says {want}",
                    start + len
                )));
            }
            if slot.is_none() {
                let w = self
                    .open_writer(expected)
                    .await
                    .map_err(FetchFailure::Permanent)?;
                *slot = Some(w);
            }
            let Some(writer) = slot.as_mut() else {
                return Err(FetchFailure::Permanent(anyhow!("no temp file")));
            };
            let bar = self.progress.file_bar(label, expected.size);
            bar.set_position(start);
            let mut stream = resp.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk
                    .map_err(|e| FetchFailure::Transient(anyhow!(e).context("connection cut")))?;
                if let Some(want) = expected.size
                    && writer.bytes_written() + chunk.len() as u64 > want
                {
                    discard(slot);
                    return Err(FetchFailure::Mismatch(anyhow!(
                        "more bytes than the {want} the descriptor says"
                    )));
                }
                writer.write_all(&chunk).map_err(|e| {
                    FetchFailure::Permanent(anyhow!(e).context("cannot write to the store"))
                })?;
                self.stats
                    .bytes_fetched
                    .fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
                bar.inc(chunk.len() as u64);
            }
            bar.finish_and_clear();
        }
        let Some(writer) = slot.take() else {
            return Err(FetchFailure::Transient(anyhow!("nothing downloaded")));
        };
        let exp = expected.clone();
        let res = tokio::task::spawn_blocking(move || writer.commit(&exp))
            .await
            .map_err(|e| FetchFailure::Permanent(anyhow!(e)))?;
        match res {
            Ok((d, n)) => {
                self.progress.inc_done(n);
                self.progress.file_done();
                Ok((d, n))
            }
            Err(store::CasError::Mismatch {
                what,
                expected,
                actual,
            }) => Err(FetchFailure::Mismatch(anyhow!(
                "{what} mismatch: expected {expected}, got {actual}"
            ))),
            Err(e) => Err(FetchFailure::Permanent(anyhow!(e))),
        }
    }

    /// Builds the TLS client up front when `url` needs it, so that a system without CA
    /// roots fails at once instead of once per retry. Errors: that build fails (`GET shown`).
    fn tls_ready(&self, url: &Url, shown: &str) -> anyhow::Result<()> {
        if url.scheme() != "http" {
            self.clients.tls().with_context(|| format!("GET {shown}"))?;
        }
        Ok(())
    }

    /// Sends `GET url` (credentials in its userinfo as basic auth, `Accept` when given,
    /// `Range: bytes=<offset>-` when `offset > 0`) through the client the URL needs (see
    /// [`Clients`]). Errors: transport errors, and the TLS client cannot be built.
    async fn send_get(
        &self,
        url: &Url,
        accept: Option<&str>,
        offset: u64,
    ) -> anyhow::Result<reqwest::Response> {
        let clients = &self.clients;
        if clients.plain_first(url) {
            match Self::request(&clients.plain, url, accept, offset)
                .send()
                .await
            {
                Err(e) if is_hand_over(&e) => {
                    clients.handed_over.store(true, AtomicOrdering::Relaxed)
                }
                other => return Ok(other?),
            }
        }
        let tls = clients.tls()?;
        Ok(Self::request(tls, url, accept, offset).send().await?)
    }

    fn request(
        client: &reqwest::Client,
        url: &Url,
        accept: Option<&str>,
        offset: u64,
    ) -> reqwest::RequestBuilder {
        let mut clean = url.clone();
        let user = url.username().to_owned();
        let pass = url.password().map(str::to_owned);
        let _ = clean.set_username("");
        let _ = clean.set_password(None);
        let mut rb = client.get(clean);
        if !user.is_empty() {
            let user = percent_encoding::percent_decode_str(&user)
                .decode_utf8_lossy()
                .into_owned();
            let pass = pass.map(|p| {
                percent_encoding::percent_decode_str(&p)
                    .decode_utf8_lossy()
                    .into_owned()
            });
            rb = rb.basic_auth(user, pass);
        }
        if let Some(a) = accept {
            rb = rb.header(reqwest::header::ACCEPT, a);
        }
        if offset > 0 {
            rb = rb.header(reqwest::header::RANGE, format!("bytes={offset}-"));
        }
        rb
    }

    async fn backoff(attempt: u32) {
        let ms = 250u64.saturating_mul(1 << attempt.min(6));
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    /// GETs `url` into memory (at most `max` bytes). `Ok(None)` on 404/410.
    ///
    /// Errors: any other non-success status after the retries, a body over `max`, or a
    /// transport failure after the retries; the error names the (redacted) URL.
    pub async fn get_optional(
        &self,
        url: &Url,
        accept: Option<&str>,
        max: u64,
    ) -> anyhow::Result<Option<Fetched>> {
        let _permit = self.limit.acquire().await?;
        let shown = redact(url);
        self.tls_ready(url, &shown)?;
        let mut last_err = None;
        for attempt in 0..self.retries {
            if attempt > 0 {
                Self::backoff(attempt).await;
            }
            self.stats
                .requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(url = %shown, attempt = attempt + 1, "GET");
            let resp = match self.send_get(url, accept, 0).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::info!(url = %shown, error = %format!("{e:#}"), "request failed; retrying");
                    last_err = Some(e.context(format!("GET {shown}")));
                    continue;
                }
            };
            let status = resp.status();
            if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
                return Ok(None);
            }
            if transient(status) {
                last_err = Some(anyhow!("GET {shown}: HTTP {status}"));
                continue;
            }
            if !status.is_success() {
                bail!("GET {shown}: HTTP {status}");
            }
            if let Some(len) = resp.content_length()
                && len > max
            {
                bail!("GET {shown}: {len} bytes, over the {max}-byte limit for an index");
            }
            let final_url = resp.url().clone();
            let content_type = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let mut body = Vec::new();
            let mut stream = resp.bytes_stream();
            let mut failed = None;
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(c) => {
                        if body.len() as u64 + c.len() as u64 > max {
                            bail!("GET {shown}: body over the {max}-byte limit for an index");
                        }
                        body.extend_from_slice(&c);
                    }
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            if let Some(e) = failed {
                last_err = Some(anyhow!(e).context(format!("GET {shown}: connection cut")));
                continue;
            }
            self.stats
                .bytes_fetched
                .fetch_add(body.len() as u64, std::sync::atomic::Ordering::Relaxed);
            return Ok(Some(Fetched {
                url: final_url,
                content_type,
                body: body.into(),
            }));
        }
        Err(last_err.unwrap_or_else(|| anyhow!("GET {shown}: no attempt made")))
    }

    /// Like [`Fetcher::get_optional`], but a 404 is an error.
    pub async fn get(&self, url: &Url, accept: Option<&str>, max: u64) -> anyhow::Result<Fetched> {
        self.get_optional(url, accept, max)
            .await?
            .ok_or_else(|| anyhow!("GET {}: HTTP 404 Not Found", redact(url)))
    }

    /// Downloads `url` into the store, checking `expected` (sha256 and/or sha512, size)
    /// while the bytes stream; nothing unverified ever gets a blob name.
    ///
    /// When `expected.digest` is already in the store the download is skipped. A cut
    /// connection resumes with `Range` (see [`Fetcher::fetch_response_to_store`]). Returns
    /// the digest and size. A mismatch is retried once (a cut proxy answer), then is an
    /// error naming the URL, the expected and the actual value.
    pub async fn fetch_to_store(
        &self,
        url: &Url,
        expected: &Expected,
        label: &str,
    ) -> anyhow::Result<(Digest, u64)> {
        let shown = redact(url);
        self.tls_ready(url, &shown)?;
        self.fetch_response_to_store(&shown, expected, label, |offset| {
            self.send_get(url, None, offset)
        })
        .await
    }
}

/// Throws away the bytes in `slot` (the partial file too): the next attempt starts at 0.
fn discard(slot: &mut Option<store::BlobWriter>) {
    if let Some(w) = slot.take() {
        w.discard();
    }
}

enum FetchFailure {
    Transient(anyhow::Error),
    Mismatch(anyhow::Error),
    Permanent(anyhow::Error),
}

/// The first byte position of a `Content-Range: bytes <first>-<last>/<complete>` value
/// (RFC 9110 §14.4); `None` when it is not of that form.
pub fn content_range_start(v: &str) -> Option<u64> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, _complete) = rest.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let first: u64 = first.trim().parse().ok()?;
    let last: u64 = last.trim().parse().ok()?;
    (first <= last).then_some(first)
}

/// Resolves `rel` against `base`, refusing results outside http(s).
pub fn join(base: &Url, rel: &str) -> anyhow::Result<Url> {
    let u = base
        .join(rel)
        .with_context(|| format!("cannot resolve {rel:?} against {}", redact(base)))?;
    match u.scheme() {
        "http" | "https" => Ok(u),
        s => bail!("refusing {s}: URL {}", redact(&u)),
    }
}

/// Parses a configured base URL and makes sure it ends in `/` so that joins stay below it.
pub fn base_url(s: &str) -> anyhow::Result<Url> {
    let mut u = Url::parse(s).with_context(|| format!("invalid url {s:?}"))?;
    if !u.path().ends_with('/') {
        let p = format!("{}/", u.path());
        u.set_path(&p);
    }
    Ok(u)
}

#[cfg(test)]
mod tests;
