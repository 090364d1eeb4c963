//! Distribution-spec v2 pull client (OCI distribution-spec v1.1 §Pull, §Content
//! Discovery) over the shared [`Fetcher`]'s reqwest client (rustls).
//!
//! Authentication (Docker registry token flow, "Token Authentication Specification"):
//! requests go out anonymously first; a `401` with `WWW-Authenticate: Bearer
//! realm=…,service=…,scope=…` makes the client fetch a token from the realm (HTTP basic
//! with the configured credentials when there are any), cache it per scope and send the
//! request again; a `Basic` challenge switches the client to HTTP basic with the
//! configured credentials. An expired token simply gets a new challenge and a new token.
//!
//! Credentials ([`Credentials`]) come from an environment variable, a file or a docker
//! `config.json` ([`CredentialSource`]). Neither they nor tokens ever appear in an error,
//! a log line, the state or the manifest: `Debug` on them prints `<redacted>`.
//!
//! Every request with a status to judge (manifests, tag and referrer pages, token
//! requests) goes through the fetcher's one retry and status loop
//! (`Fetcher::exchange`); blobs go through its resumable download
//! ([`Fetcher::fetch_response_to_store`]). The parts: `credentials` (where credentials
//! come from), `challenge` (the `WWW-Authenticate` and `Link` grammars), this file (the
//! client).

mod challenge;
mod credentials;

use std::collections::HashMap;
use std::sync::Mutex;

use anyhow::{Context as _, anyhow, bail};
use formats::digest::Digest;
use formats::oci::{self, Descriptor};
use reqwest::{RequestBuilder, Response, StatusCode, header};
use store::Expected;
use url::Url;

use crate::fetch::{Exchange, Failure, Fetcher, read_limited, redact};

pub use challenge::{Challenge, parse_next_link, parse_www_authenticate};
pub use credentials::{
    CredentialSource, Credentials, CredentialsError, OAUTH_TOKEN_USER, from_docker_config,
};

/// Largest token response, tags page or referrers page read into memory (bytes).
const MAX_SMALL_BODY: u64 = 8 * 1024 * 1024;
/// Upper bound on pages followed through `Link: <…>; rel="next"`.
const MAX_PAGES: usize = 10_000;

// ---------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------

/// A manifest as fetched: exact bytes, the `Content-Type` and the digest of the bytes.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    /// The exact bytes.
    pub bytes: bytes::Bytes,
    /// `Content-Type` header, parameters stripped (`None` when absent).
    pub content_type: Option<String>,
    /// SHA-256 of `bytes`.
    pub digest: Digest,
    /// URL fetched (without credentials).
    pub url: String,
}

#[derive(Default)]
struct AuthState {
    /// Registry asked for HTTP basic.
    basic: bool,
    /// Bearer tokens by scope (`repository:<path>:pull`).
    tokens: HashMap<String, String>,
}

/// A pull client for one registry. Cheap to share by reference across tasks.
pub struct RegistryClient {
    f: Fetcher,
    base: Url,
    creds: Option<Credentials>,
    auth: Mutex<AuthState>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("base", &redact(&self.base))
            .field("creds", &self.creds)
            .finish_non_exhaustive()
    }
}

fn scope_for(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

fn bare(ct: &str) -> String {
    ct.split(';').next().unwrap_or_default().trim().to_owned()
}

impl RegistryClient {
    /// A client for the registry whose API root is `base` (ending in `/`; `v2/…` is
    /// joined to it). Userinfo in `base` is used as credentials when `creds` is `None`,
    /// and is never sent in the URL.
    pub fn new(f: &Fetcher, base: &Url, creds: Option<Credentials>) -> RegistryClient {
        let mut clean = base.clone();
        let user = percent_encoding::percent_decode_str(base.username())
            .decode_utf8_lossy()
            .into_owned();
        let pass = base.password().map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned()
        });
        let _ = clean.set_username("");
        let _ = clean.set_password(None);
        let creds = creds.or_else(|| match pass {
            Some(p) if !user.is_empty() => Some(Credentials::new(&user, &p)),
            _ => None,
        });
        RegistryClient {
            f: f.clone(),
            base: clean,
            creds,
            auth: Mutex::new(AuthState::default()),
        }
    }

    /// The API base URL (no credentials).
    pub fn base(&self) -> &Url {
        &self.base
    }

    fn url(&self, rel: &str) -> anyhow::Result<Url> {
        crate::fetch::join(&self.base, rel)
    }

    fn authorize(&self, rb: RequestBuilder, scope: &str) -> RequestBuilder {
        let (token, basic) = match self.auth.lock() {
            Ok(a) => (a.tokens.get(scope).cloned(), a.basic),
            Err(_) => (None, false),
        };
        match (token, &self.creds) {
            (Some(t), _) => rb.bearer_auth(t),
            (None, Some(c)) if basic => rb.basic_auth(&c.username, Some(&c.secret)),
            _ => rb,
        }
    }

    /// Sends `build()` with the cached auth for `repo`'s pull scope; on a `401` answers
    /// the challenge (token or basic) and sends once more. Returns the last response
    /// whatever its status. Errors: transport failures, a failed token request.
    pub async fn send(
        &self,
        repo: &str,
        build: &(dyn Fn() -> RequestBuilder + Send + Sync),
    ) -> anyhow::Result<Response> {
        let scope = scope_for(repo);
        let resp = self.authorize(build(), &scope).send().await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenges: Vec<Challenge> = resp
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(parse_www_authenticate)
            .collect();
        if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            let token = self.fetch_token(bearer, &scope).await?;
            if let Ok(mut a) = self.auth.lock() {
                a.tokens.insert(scope.clone(), token);
            }
        } else if challenges.iter().any(|c| c.scheme == "basic") {
            if self.creds.is_none() {
                return Ok(resp);
            }
            if let Ok(mut a) = self.auth.lock() {
                a.basic = true;
            }
        } else {
            return Ok(resp);
        }
        self.f
            .stats()
            .requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(self.authorize(build(), &scope).send().await?)
    }

    /// Gets a bearer token from the challenge's realm (GET with `service` and `scope`
    /// query parameters, HTTP basic when credentials are configured), reading `token` or
    /// `access_token` from the JSON answer.
    async fn fetch_token(&self, ch: &Challenge, scope: &str) -> anyhow::Result<String> {
        let realm = ch
            .param("realm")
            .ok_or_else(|| anyhow!("registry sent a Bearer challenge without a realm"))?;
        let mut url = Url::parse(realm)
            .with_context(|| format!("registry sent an invalid token realm {realm:?}"))?;
        match url.scheme() {
            "https" => {}
            "http" if self.base.scheme() == "http" || self.creds.is_none() => {}
            "http" => bail!(
                "registry {} asks for credentials to be sent to a plain-http token realm {}; refusing",
                redact(&self.base),
                redact(&url)
            ),
            s => bail!("token realm uses unsupported scheme {s:?}"),
        }
        let _ = url.set_username("");
        let _ = url.set_password(None);
        {
            let mut q = url.query_pairs_mut();
            if let Some(service) = ch.param("service") {
                q.append_pair("service", service);
            }
            q.append_pair("scope", ch.param("scope").unwrap_or(scope));
        }
        let ex = Exchange::new("token request to", &url).denied(if self.creds.is_some() {
            "the registry refused the configured credentials; check them"
        } else {
            "the registry wants credentials; set credentials = in this [[oci]] table"
        });
        let what = ex.what();
        let send = async || {
            let mut rb = self
                .f
                .http()
                .get(url.clone())
                .header(header::ACCEPT, "application/json");
            if let Some(c) = &self.creds {
                rb = rb.basic_auth(&c.username, Some(&c.secret));
            }
            rb.send().await.map_err(|e| Failure::Transient(anyhow!(e)))
        };
        let read = async |resp: Response| {
            let body = read_limited(resp, MAX_SMALL_BODY)
                .await
                .map_err(|e| Failure::Transient(e.context(what.to_owned())))?;
            #[derive(serde::Deserialize)]
            struct TokenAnswer {
                token: Option<String>,
                access_token: Option<String>,
            }
            let t: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
                Failure::Permanent(anyhow!(
                    "{what}: answer is not JSON (line {}, column {})",
                    e.line(),
                    e.column()
                ))
            })?;
            t.token
                .filter(|t| !t.is_empty())
                .or(t.access_token.filter(|t| !t.is_empty()))
                .ok_or_else(|| {
                    Failure::Permanent(anyhow!("{what}: answer has neither token nor access_token"))
                })
        };
        self.f
            .exchange(&ex, send, read)
            .await?
            .ok_or_else(|| anyhow!("{what}: no answer"))
    }

    /// GETs a small document with retries. `Ok(None)` on 404/410. Returns the response
    /// headers and the body (at most `max` bytes).
    async fn get_small(
        &self,
        repo: &str,
        url: &Url,
        accept: &str,
        max: u64,
    ) -> anyhow::Result<Option<(header::HeaderMap, Url, bytes::Bytes)>> {
        let ex = Exchange::new("GET", url)
            .missing_ok()
            .denied(if self.creds.is_some() {
                "access denied (check the configured credentials and their permissions)"
            } else {
                "access denied (set credentials = in this [[oci]] table)"
            });
        let what = ex.what();
        let build = || {
            self.f
                .http()
                .get(url.clone())
                .header(header::ACCEPT, accept)
        };
        let send = async || {
            // A refused token request is final; transport errors are retried.
            self.send(repo, &build).await.map_err(|e| {
                if e.downcast_ref::<reqwest::Error>().is_some() {
                    Failure::Transient(e)
                } else {
                    Failure::Permanent(e)
                }
            })
        };
        let read = async |resp: Response| {
            if let Some(len) = resp.content_length()
                && len > max
            {
                return Err(Failure::Permanent(anyhow!(
                    "{what}: {len} bytes, over the {max}-byte limit"
                )));
            }
            let headers = resp.headers().clone();
            let final_url = resp.url().clone();
            match read_limited(resp, max).await {
                Ok(body) => {
                    self.f
                        .stats()
                        .bytes_fetched
                        .fetch_add(body.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    Ok((headers, final_url, body))
                }
                Err(e) if e.downcast_ref::<reqwest::Error>().is_some() => Err(Failure::Transient(
                    e.context(format!("{what}: connection cut")),
                )),
                Err(e) => Err(Failure::Permanent(e.context(what.to_owned()))),
            }
        };
        self.f.exchange(&ex, send, read).await
    }

    /// Fetches a manifest or index (distribution-spec §Pulling manifests) by tag or
    /// digest, with `Accept` = [`oci::MANIFEST_ACCEPT`], at most
    /// [`oci::MAX_MANIFEST_BYTES`]. `Ok(None)` on 404.
    ///
    /// Errors: transport or HTTP errors after the retries; a body over the limit; for a
    /// digest reference, bytes that do not hash to it.
    pub async fn get_manifest_optional(
        &self,
        repo: &str,
        reference: &str,
    ) -> anyhow::Result<Option<FetchedManifest>> {
        let url = self.url(&format!("v2/{repo}/manifests/{reference}"))?;
        let Some((headers, _, body)) = self
            .get_small(repo, &url, oci::MANIFEST_ACCEPT, oci::MAX_MANIFEST_BYTES)
            .await?
        else {
            return Ok(None);
        };
        let digest = Digest::of(&body);
        if reference.starts_with("sha256:") {
            let want = oci::parse_digest(reference)?;
            if want != digest {
                bail!(
                    "GET {}: manifest bytes hash to {digest}, not the requested {want}; the registry served wrong content",
                    redact(&url)
                );
            }
        }
        if let Some(announced) = headers
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| oci::parse_digest(v.trim()).ok())
            && announced != digest
        {
            bail!(
                "GET {}: manifest bytes hash to {digest}, but the registry announces Docker-Content-Digest {announced}; the answer was altered in transit",
                redact(&url)
            );
        }
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(bare)
            .filter(|c| !c.is_empty());
        Ok(Some(FetchedManifest {
            bytes: body,
            content_type,
            digest,
            url: redact(&url),
        }))
    }

    /// Like [`RegistryClient::get_manifest_optional`], but a 404 is an error
    /// (`MANIFEST_UNKNOWN` upstream).
    pub async fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> anyhow::Result<FetchedManifest> {
        self.get_manifest_optional(repo, reference)
            .await?
            .ok_or_else(|| {
                anyhow!(
                    "manifest {repo}:{reference} not found at {} (HTTP 404)",
                    redact(&self.base)
                )
            })
    }

    /// Lists every tag of `repo` (distribution-spec §Listing Tags), following
    /// `Link: <…>; rel="next"` pages on the same origin.
    ///
    /// Errors: the repository is unknown (404), HTTP/transport errors, a page that is
    /// not `{"name":…,"tags":[…]}`, a `Link` to another origin, or more than 10 000 pages.
    pub async fn list_tags(&self, repo: &str) -> anyhow::Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut url = self.url(&format!("v2/{repo}/tags/list"))?;
        let mut tags = Vec::new();
        for _ in 0..MAX_PAGES {
            let Some((headers, final_url, body)) = self
                .get_small(repo, &url, "application/json", MAX_SMALL_BODY)
                .await?
            else {
                bail!(
                    "GET {}: repository {repo} not found (HTTP 404)",
                    redact(&url)
                );
            };
            let page: TagList = serde_json::from_slice(&body)
                .map_err(|e| anyhow!("GET {}: not a tag list: {e}", redact(&url)))?;
            tags.extend(page.tags.unwrap_or_default());
            match self.next_page(&headers, &final_url)? {
                Some(next) => url = next,
                None => return Ok(tags),
            }
        }
        bail!("GET {}: more than {MAX_PAGES} pages of tags", redact(&url))
    }

    fn next_page(&self, headers: &header::HeaderMap, current: &Url) -> anyhow::Result<Option<Url>> {
        let Some(link) = headers
            .get_all(header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(parse_next_link)
        else {
            return Ok(None);
        };
        let next = crate::fetch::join(current, &link)?;
        if next.origin() != self.base.origin() {
            bail!(
                "registry pagination link points to another origin ({}); refusing",
                redact(&next)
            );
        }
        Ok(Some(next))
    }

    /// The referrers of `digest` in `repo` (distribution-spec §Listing Referrers), all
    /// pages; `Ok(None)` when the registry has no referrers API (404).
    ///
    /// Errors: HTTP/transport errors, a page that is not an OCI image index.
    pub async fn referrers(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> anyhow::Result<Option<Vec<Descriptor>>> {
        let mut url = self.url(&format!("v2/{repo}/referrers/{digest}"))?;
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let Some((headers, final_url, body)) = self
                .get_small(repo, &url, oci::OCI_INDEX, oci::MAX_MANIFEST_BYTES)
                .await?
            else {
                return Ok(None);
            };
            let index = oci::parse_manifest(&body, Some(oci::OCI_INDEX))
                .with_context(|| format!("GET {}: not a referrers index", redact(&url)))?;
            out.extend(index.manifests);
            match self.next_page(&headers, &final_url)? {
                Some(next) => url = next,
                None => return Ok(Some(out)),
            }
        }
        bail!(
            "GET {}: more than {MAX_PAGES} pages of referrers",
            redact(&url)
        )
    }

    /// Downloads blob `desc` of `repo` (distribution-spec §Pulling blobs) into the
    /// store, verified against the descriptor's digest and size while streaming, resumed
    /// with `Range` after a cut connection, skipped when already present. Returns whether
    /// it was already present.
    ///
    /// Errors: see [`Fetcher::fetch_response_to_store`].
    pub async fn fetch_blob(&self, repo: &str, desc: &Descriptor) -> anyhow::Result<bool> {
        let present = self.f.cas().contains(&desc.digest)? == Some(desc.size);
        let url = self.url(&format!("v2/{repo}/blobs/{}", desc.digest))?;
        let shown = redact(&url);
        let hex = desc.digest.hex();
        let label = format!("{repo}@{}", hex.get(..12).unwrap_or_default());
        self.f
            .fetch_response_to_store(
                &shown,
                &Expected::exact(desc.digest, desc.size),
                &label,
                |offset| {
                    let url = url.clone();
                    async move {
                        let build = move || {
                            let rb = self.f.http().get(url.clone());
                            if offset > 0 {
                                rb.header(header::RANGE, format!("bytes={offset}-"))
                            } else {
                                rb
                            }
                        };
                        self.send(repo, &build).await
                    }
                },
            )
            .await?;
        Ok(present)
    }

    /// Downloads a non-distributable layer from one of its descriptor `urls` (no
    /// registry credentials are sent there), verified like [`RegistryClient::fetch_blob`].
    /// Falls back to the registry's blob endpoint when `urls` is empty or every URL fails.
    ///
    /// Errors: every source failed; the last error is returned.
    pub async fn fetch_foreign(&self, repo: &str, desc: &Descriptor) -> anyhow::Result<bool> {
        let present = self.f.cas().contains(&desc.digest)? == Some(desc.size);
        let mut last = None;
        for u in &desc.urls {
            let Ok(url) = Url::parse(u) else { continue };
            if !matches!(url.scheme(), "http" | "https") {
                continue;
            }
            let shown = redact(&url);
            let r = self
                .f
                .fetch_response_to_store(
                    &shown,
                    &Expected::exact(desc.digest, desc.size),
                    &shown,
                    |offset| {
                        let mut rb = self.f.http().get(url.clone());
                        if offset > 0 {
                            rb = rb.header(header::RANGE, format!("bytes={offset}-"));
                        }
                        async move { Ok(rb.send().await?) }
                    },
                )
                .await;
            match r {
                Ok(_) => return Ok(present),
                Err(e) => last = Some(e),
            }
        }
        match self.fetch_blob(repo, desc).await {
            Ok(p) => Ok(p),
            Err(e) => Err(last.unwrap_or(e)),
        }
    }
}

#[cfg(test)]
mod tests;
