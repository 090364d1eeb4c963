//! HTTP fetching for every upstream: one reqwest client (rustls), bounded parallelism,
//! retries with exponential backoff, and streaming into the content-addressed store with
//! the hash checked while the bytes arrive.
//!
//! Credentials in a URL's userinfo are sent as HTTP basic auth and never recorded: every
//! URL that reaches a log, an error, the state or the manifest goes through
//! [`redact`] first.

use std::io::Write as _;
use std::sync::Arc;
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
    client: reqwest::Client,
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

fn transient(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}

impl Fetcher {
    /// Builds the client. `concurrency` bounds simultaneous downloads; `retries` is the
    /// number of attempts per request; `timeout` applies to connecting and to each read.
    pub fn new(
        cas: Arc<Cas>,
        concurrency: usize,
        retries: u32,
        timeout: Duration,
        progress: Progress,
    ) -> anyhow::Result<Fetcher> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("mirror-sync/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Fetcher {
            client,
            retries: retries.max(1),
            cas,
            limit: Arc::new(tokio::sync::Semaphore::new(concurrency.max(1))),
            progress,
            stats: Arc::default(),
        })
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

    fn request(&self, url: &Url, accept: Option<&str>) -> reqwest::RequestBuilder {
        let mut clean = url.clone();
        let user = url.username().to_owned();
        let pass = url.password().map(str::to_owned);
        let _ = clean.set_username("");
        let _ = clean.set_password(None);
        let mut rb = self.client.get(clean);
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
        let mut last_err = None;
        for attempt in 0..self.retries {
            if attempt > 0 {
                Self::backoff(attempt).await;
            }
            self.stats
                .requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let resp = match self.request(url, accept).send().await {
                Ok(r) => r,
                Err(e) => {
                    last_err = Some(anyhow!(e).context(format!("GET {shown}")));
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
    /// When `expected.digest` is already in the store the download is skipped. Returns
    /// the digest and size. A mismatch is retried once (a cut proxy answer), then is an
    /// error naming the URL, the expected and the actual value.
    pub async fn fetch_to_store(
        &self,
        url: &Url,
        expected: &Expected,
        label: &str,
    ) -> anyhow::Result<(Digest, u64)> {
        if let Some(d) = &expected.digest
            && let Some(size) = self.cas.contains(d)?
            && expected.size.is_none_or(|s| s == size)
        {
            self.stats
                .files_present
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.stats
                .bytes_present
                .fetch_add(size, std::sync::atomic::Ordering::Relaxed);
            self.progress.inc_done(size);
            return Ok((*d, size));
        }
        let _permit = self.limit.acquire().await?;
        let shown = redact(url);
        let mut last_err = None;
        let mut mismatches = 0;
        for attempt in 0..self.retries {
            if attempt > 0 {
                Self::backoff(attempt).await;
            }
            match self.try_fetch(url, expected, label).await {
                Ok(v) => {
                    self.stats
                        .files_fetched
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return Ok(v);
                }
                Err(FetchFailure::Permanent(e)) => return Err(e.context(format!("GET {shown}"))),
                Err(FetchFailure::Mismatch(e)) => {
                    mismatches += 1;
                    if mismatches >= 2 {
                        return Err(e.context(format!(
                            "GET {shown}: content does not match the upstream index"
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

    async fn try_fetch(
        &self,
        url: &Url,
        expected: &Expected,
        label: &str,
    ) -> Result<(Digest, u64), FetchFailure> {
        self.stats
            .requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let resp = self
            .request(url, None)
            .send()
            .await
            .map_err(|e| FetchFailure::Transient(anyhow!(e)))?;
        let status = resp.status();
        if transient(status) {
            return Err(FetchFailure::Transient(anyhow!("HTTP {status}")));
        }
        if !status.is_success() {
            return Err(FetchFailure::Permanent(anyhow!("HTTP {status}")));
        }
        if let (Some(len), Some(want)) = (resp.content_length(), expected.size)
            && len != want
        {
            return Err(FetchFailure::Mismatch(anyhow!(
                "server announces {len} bytes, the index says {want}"
            )));
        }
        let cas = self.cas.clone();
        let mut writer = if expected.sha512_hex.is_some() {
            cas.writer_with_sha512()
        } else {
            cas.writer()
        }
        .map_err(|e| {
            FetchFailure::Permanent(anyhow!(e).context("cannot create a temp file in the store"))
        })?;
        let bar = self
            .progress
            .file_bar(label, expected.size.or(resp.content_length()));
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| FetchFailure::Transient(anyhow!(e).context("connection cut")))?;
            if let Some(want) = expected.size
                && writer.bytes_written() + chunk.len() as u64 > want
            {
                return Err(FetchFailure::Mismatch(anyhow!(
                    "more bytes than the {want} the index says"
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
        let exp = expected.clone();
        let res = tokio::task::spawn_blocking(move || writer.commit(&exp))
            .await
            .map_err(|e| FetchFailure::Permanent(anyhow!(e)))?;
        match res {
            Ok((d, n)) => {
                self.progress.inc_done(n);
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
}

enum FetchFailure {
    Transient(anyhow::Error),
    Mismatch(anyhow::Error),
    Permanent(anyhow::Error),
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
