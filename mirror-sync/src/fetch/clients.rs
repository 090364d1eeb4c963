//! The HTTP clients of a run and how a plain `GET` is sent: a client without CA roots for
//! `http://` URLs and one with the system's roots, built on first need (see [`Clients`]).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::time::Duration;

use anyhow::{Context, anyhow};
use url::Url;

use super::Fetcher;

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
pub(super) struct Clients {
    /// No CA roots (an empty root store), never asked to make a TLS handshake.
    pub(super) plain: reqwest::Client,
    /// `false` when a proxy needs TLS: the plain client is not used then.
    plain_usable: bool,
    /// Set when a plain request was handed over: later `http` requests skip the plain try.
    handed_over: AtomicBool,
    /// The TLS client, or why it could not be built (no CA roots on this system).
    pub(super) tls: OnceLock<Result<reqwest::Client, String>>,
    /// Set once [`Fetcher::http`] has warned that the TLS client could not be built.
    pub(super) warned: AtomicBool,
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
pub(super) fn proxy_needs_tls(value: &str) -> bool {
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
    pub(super) fn new(timeout: Duration) -> anyhow::Result<Clients> {
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
    pub(super) fn tls(&self) -> anyhow::Result<&reqwest::Client> {
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

impl Fetcher {
    /// Builds the TLS client up front when `url` needs it, so that a system without CA
    /// roots fails at once instead of once per retry. Errors: that build fails (`GET shown`).
    pub(super) fn tls_ready(&self, url: &Url, shown: &str) -> anyhow::Result<()> {
        if url.scheme() != "http" {
            self.clients.tls().with_context(|| format!("GET {shown}"))?;
        }
        Ok(())
    }

    /// Sends `GET url` (credentials in its userinfo as basic auth, `Accept` when given,
    /// `Range: bytes=<offset>-` when `offset > 0`) through the client the URL needs (see
    /// [`Clients`]). Errors: transport errors, and the TLS client cannot be built.
    pub(super) async fn send_get(
        &self,
        url: &Url,
        accept: Option<&str>,
        offset: u64,
    ) -> anyhow::Result<reqwest::Response> {
        self.send_get_if(url, accept, offset, None).await
    }

    /// [`Fetcher::send_get`] with, when `validators` are given, the conditional headers
    /// `If-None-Match` (its `ETag`) and `If-Modified-Since` (its `Last-Modified`)
    /// (RFC 9110 §13.1.2, §13.1.3). Errors: as [`Fetcher::send_get`].
    pub(super) async fn send_get_if(
        &self,
        url: &Url,
        accept: Option<&str>,
        offset: u64,
        validators: Option<&super::Validators>,
    ) -> anyhow::Result<reqwest::Response> {
        let clients = &self.clients;
        if clients.plain_first(url) {
            match Self::request(&clients.plain, url, accept, offset, validators)
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
        Ok(Self::request(tls, url, accept, offset, validators)
            .send()
            .await?)
    }

    fn request(
        client: &reqwest::Client,
        url: &Url,
        accept: Option<&str>,
        offset: u64,
        validators: Option<&super::Validators>,
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
        if let Some(v) = validators {
            if let Some(etag) = &v.etag {
                rb = rb.header(reqwest::header::IF_NONE_MATCH, etag);
            }
            if let Some(lm) = &v.last_modified {
                rb = rb.header(reqwest::header::IF_MODIFIED_SINCE, lm);
            }
        }
        rb
    }
}
