//! The one HTTP retry and status loop of the sync side ([`Fetcher::exchange`]): send,
//! classify the status (RFC 9110 §15), retry transient failures with exponential backoff,
//! and name the resource only by its redacted form in errors. The plain fetcher
//! ([`Fetcher::get_optional`]) and the registry client (its requests and its token
//! requests) go through it; the resumable download into the store
//! ([`Fetcher::fetch_response_to_store`]) shares its status rule ([`classify`]) and
//! backoff ([`backoff`]). [`read_limited`] is the one bounded body read.
//!
//! The pause before a retry is the exponential [`backoff`], or longer when a transient
//! answer (503, 429, …) carried `Retry-After` (RFC 9110 §10.2.3): then the asked pause,
//! cut to [`RETRY_AFTER_CAP`] so that a hostile or confused upstream cannot stall a sync.

use std::time::Duration;

use anyhow::{anyhow, bail};
use futures_util::StreamExt as _;
use reqwest::{Response, StatusCode};
use url::Url;

use super::Fetcher;

/// What an answer's status means to the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// 2xx: read the body.
    Success,
    /// 404 or 410: the resource does not exist.
    Missing,
    /// 5xx, 408 or 429: worth another attempt.
    Transient,
    /// 401 or 403: refused.
    Denied,
    /// Any other status: a final error.
    Failed,
}

/// Classifies `status`: 5xx, 408 and 429 are transient; 404/410 missing; 401/403 denied;
/// 2xx success; anything else a final failure.
pub(crate) fn classify(status: StatusCode) -> Class {
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        Class::Transient
    } else if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
        Class::Missing
    } else if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        Class::Denied
    } else if status.is_success() {
        Class::Success
    } else {
        Class::Failed
    }
}

/// A failed step of one attempt: retried, or final.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Worth another attempt (a transport error, a cut connection).
    Transient(anyhow::Error),
    /// Final: returned at once.
    Permanent(anyhow::Error),
}

/// How [`Fetcher::exchange`] names and treats one request.
pub(crate) struct Exchange {
    /// The request as errors name it: `<verb> <url>`, credentials redacted.
    what: String,
    /// A 404/410 is `Ok(None)` (else it is a final `HTTP 404` error).
    missing_ok: bool,
    /// Said after `<what>: HTTP 401/403: ` (else a 401/403 is a plain final error).
    denied: Option<&'static str>,
    /// A `304 Not Modified` goes to `read` (a conditional request); else it is a final
    /// error like any other 3xx that was not followed.
    not_modified_ok: bool,
}

impl Exchange {
    /// A request named `<verb> <url>` in errors (`GET …`, `token request to …`), the URL
    /// without its credentials ([`super::redact`]). A 404/410 and a 401/403 are plain
    /// final errors unless [`Exchange::missing_ok`] or [`Exchange::denied`] say otherwise.
    pub(crate) fn new(verb: &str, url: &Url) -> Exchange {
        Exchange {
            what: format!("{verb} {}", super::redact(url)),
            missing_ok: false,
            denied: None,
            not_modified_ok: false,
        }
    }

    /// A `304 Not Modified` is handed to `read` (the request was conditional).
    pub(crate) fn not_modified_ok(mut self) -> Exchange {
        self.not_modified_ok = true;
        self
    }

    /// A 404/410 is `Ok(None)`.
    pub(crate) fn missing_ok(mut self) -> Exchange {
        self.missing_ok = true;
        self
    }

    /// A 401/403 is `<what>: HTTP <status>: <hint>`.
    pub(crate) fn denied(mut self, hint: &'static str) -> Exchange {
        self.denied = Some(hint);
        self
    }

    /// The request as errors name it (credentials redacted).
    pub(crate) fn what(&self) -> &str {
        &self.what
    }
}

/// The backoff before retry number `attempt` (1-based): 0.5 s, 1 s, 2 s, … capped at 16 s.
fn backoff_of(attempt: u32) -> Duration {
    Duration::from_millis(250u64.saturating_mul(1 << attempt.min(6)))
}

/// Sleeps before retry number `attempt` (1-based): [`backoff_of`], or the pause the last
/// answer asked for in `Retry-After` when that is longer (an [`Asked`] in `last`'s chain).
pub(crate) async fn backoff(attempt: u32, last: Option<&anyhow::Error>) {
    let asked = last.and_then(|e| e.downcast_ref::<Asked>()).map(|a| a.0);
    let pause = backoff_of(attempt).max(asked.unwrap_or_default());
    tokio::time::sleep(pause).await;
}

/// The longest pause a `Retry-After` is granted; a longer one is cut to this.
pub(crate) const RETRY_AFTER_CAP: Duration = Duration::from_secs(30);

/// A transient answer's `Retry-After`, as the pause before the next attempt: carried in
/// the error chain of the failed attempt (`downcast_ref::<Asked>()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Asked(pub Duration);

impl std::fmt::Display for Asked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the server asked to retry after {} s", self.0.as_secs())
    }
}

impl std::error::Error for Asked {}

/// The pause `headers` ask for in `Retry-After` (RFC 9110 §10.2.3): delta-seconds or an
/// HTTP-date (a date in the past is no pause), cut to [`RETRY_AFTER_CAP`]. `None` when
/// absent or unreadable.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let pause = match v.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
            (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
                .to_std()
                .unwrap_or_default()
        }
    };
    Some(pause.min(RETRY_AFTER_CAP))
}

/// `HTTP <status>` for a transient answer, carrying its `Retry-After` ([`Asked`]) if any.
pub(crate) fn transient_status(what: &str, resp: &Response) -> anyhow::Error {
    let msg = if what.is_empty() {
        format!("HTTP {}", resp.status())
    } else {
        format!("{what}: HTTP {}", resp.status())
    };
    match retry_after(resp.headers()) {
        Some(pause) => anyhow::Error::new(Asked(pause)).context(msg),
        None => anyhow!(msg),
    }
}

/// Reads `resp`'s body into memory, at most `max` bytes, whatever `Content-Length` says.
/// Errors: the stream fails (a `reqwest::Error`: the connection was cut), or the body
/// goes over `max` (`body over the <max>-byte limit`).
pub(crate) async fn read_limited(resp: Response, max: u64) -> anyhow::Result<bytes::Bytes> {
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let c = chunk?;
        if body.len() as u64 + c.len() as u64 > max {
            bail!("body over the {max}-byte limit");
        }
        body.extend_from_slice(&c);
    }
    Ok(body.into())
}

impl Fetcher {
    /// The one retry and status loop: up to [`Fetcher::retries`] attempts, each counted in
    /// [`super::Stats::requests`] and preceded (from the second on) by [`backoff`].
    ///
    /// Each attempt awaits `send()`; a [`Failure::Transient`] is retried, a
    /// [`Failure::Permanent`] returned; both get `what` as context. The status is then
    /// [`classify`]'d: `Missing` is `Ok(None)` when `missing_ok`; `Transient` is retried
    /// (`<what>: HTTP <status>`); `Denied` with a hint is final
    /// (`<what>: HTTP <status>: <hint>`); any other non-success is final
    /// (`<what>: HTTP <status>`). A success goes to `read`, whose failures carry their own
    /// context. After the last attempt the last error is returned (`<what>: no attempt
    /// made` when `retries` is 0, which [`Fetcher::new`] never allows). With
    /// [`Exchange::not_modified_ok`] a `304` goes to `read` too.
    pub(crate) async fn exchange<T>(
        &self,
        ex: &Exchange,
        mut send: impl AsyncFnMut() -> Result<Response, Failure>,
        mut read: impl AsyncFnMut(Response) -> Result<T, Failure>,
    ) -> anyhow::Result<Option<T>> {
        let what = ex.what();
        let mut last = None;
        for attempt in 0..self.retries {
            if attempt > 0 {
                backoff(attempt, last.as_ref()).await;
            }
            self.stats
                .requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(request = %what, attempt = attempt + 1, "send");
            let resp = match send().await {
                Ok(r) => r,
                Err(Failure::Transient(e)) => {
                    tracing::info!(request = %what, error = %format!("{e:#}"), "request failed; retrying");
                    last = Some(e.context(what.to_owned()));
                    continue;
                }
                Err(Failure::Permanent(e)) => return Err(e.context(what.to_owned())),
            };
            let status = resp.status();
            match (classify(status), ex.denied) {
                (Class::Success, _) => {}
                (_, _) if status == StatusCode::NOT_MODIFIED && ex.not_modified_ok => {}
                (Class::Missing, _) if ex.missing_ok => return Ok(None),
                (Class::Transient, _) => {
                    last = Some(transient_status(what, &resp));
                    continue;
                }
                (Class::Denied, Some(hint)) => bail!("{what}: HTTP {status}: {hint}"),
                _ => bail!("{what}: HTTP {status}"),
            }
            match read(resp).await {
                Ok(v) => return Ok(Some(v)),
                Err(Failure::Transient(e)) => last = Some(e),
                Err(Failure::Permanent(e)) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("{what}: no attempt made")))
    }
}
