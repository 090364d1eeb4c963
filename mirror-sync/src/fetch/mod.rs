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
//!
//! The parts: `clients` (the two reqwest clients and how a plain `GET` is sent), `retry`
//! (the one retry and status loop, `Fetcher::exchange`, shared with the OCI registry
//! client, and the one bounded body read), `download` (resumable, verified downloads into
//! the store), `revalidate` (conditional `GET`s of the small documents the store keeps:
//! `If-None-Match`/`If-Modified-Since`, a `304` answered from the store). This file
//! holds the [`Fetcher`] and its small-document API.

use std::sync::Arc;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use formats::digest::Digest;
use store::{Cas, Expected};
use url::Url;

use crate::progress::Progress;

mod clients;
mod download;
mod retry;
mod revalidate;

use clients::Clients;
pub use download::content_range_start;
pub(crate) use retry::{
    Class, Exchange, Failure, backoff, classify, read_limited, transient_status,
};
pub use revalidate::{
    KnownDocument, Revalidated, STRONG_LAST_MODIFIED_SECS, Validators, document_key, validators_of,
};

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
    documents: Arc<revalidate::Documents>,
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
            documents: Arc::default(),
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
        let ex = Exchange::new("GET", url).missing_ok();
        let what = ex.what();
        let send = async || {
            self.send_get(url, accept, 0)
                .await
                .map_err(Failure::Transient)
        };
        let read = async |resp: reqwest::Response| self.read_document(what, resp, max).await;
        self.exchange(&ex, send, read).await
    }

    /// Reads the body of a small document (an index, a page, a Release file) into memory:
    /// at most `max` bytes, refused early by its `Content-Length`; counted in the run's
    /// fetched bytes. `what` names the request in errors.
    ///
    /// Errors: [`Failure::Permanent`] for a body over `max`, [`Failure::Transient`] when the
    /// connection is cut while reading (the retry loop tries again).
    async fn read_document(
        &self,
        what: &str,
        resp: reqwest::Response,
        max: u64,
    ) -> Result<Fetched, Failure> {
        if let Some(len) = resp.content_length()
            && len > max
        {
            return Err(Failure::Permanent(anyhow!(
                "{what}: {len} bytes, over the {max}-byte limit for an index"
            )));
        }
        let final_url = resp.url().clone();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = match read_limited(resp, max).await {
            Ok(b) => b,
            Err(e) if e.downcast_ref::<reqwest::Error>().is_some() => {
                return Err(Failure::Transient(
                    e.context(format!("{what}: connection cut")),
                ));
            }
            Err(_) => {
                return Err(Failure::Permanent(anyhow!(
                    "{what}: body over the {max}-byte limit for an index"
                )));
            }
        };
        self.stats
            .bytes_fetched
            .fetch_add(body.len() as u64, AtomicOrdering::Relaxed);
        Ok(Fetched {
            url: final_url,
            content_type,
            body,
        })
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

/// Checks that `u` is an absolute http(s) URL (an upstream's `url`).
///
/// Errors: `invalid url "<u>"` (with the parse error) or `unsupported url scheme "<s>" in
/// "<u>": use http or https`.
pub fn check_url(u: &str) -> anyhow::Result<()> {
    let parsed = Url::parse(u).with_context(|| format!("invalid url {u:?}"))?;
    match parsed.scheme() {
        "http" | "https" => Ok(()),
        s => bail!("unsupported url scheme {s:?} in {u:?}: use http or https"),
    }
}

#[cfg(test)]
mod tests;
