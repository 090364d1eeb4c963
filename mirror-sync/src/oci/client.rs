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

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use formats::digest::Digest;
use formats::oci::{self, Descriptor};
use futures_util::StreamExt as _;
use reqwest::{RequestBuilder, Response, StatusCode, header};
use store::Expected;
use url::Url;

use crate::fetch::{Fetcher, redact};

/// User name sent with a bare API key (no `user:` part), as nvcr.io expects.
pub const OAUTH_TOKEN_USER: &str = "$oauthtoken";

/// Largest token response, tags page or referrers page read into memory (bytes).
const MAX_SMALL_BODY: u64 = 8 * 1024 * 1024;
/// Upper bound on pages followed through `Link: <…>; rel="next"`.
const MAX_PAGES: usize = 10_000;

// ---------------------------------------------------------------------------
// Credentials
// ---------------------------------------------------------------------------

/// Why credentials could not be loaded. Messages name the source (variable name, file
/// path, registry) but never a secret.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The `credentials =` value is not one of the accepted forms.
    #[error(
        "invalid credentials source {0:?}: use env:VAR, file:PATH, docker-config or docker-config:PATH"
    )]
    InvalidSource(String),
    /// `env:VAR` names an unset or non-UTF-8 variable.
    #[error("credentials: environment variable {0} is not set (or not UTF-8)")]
    MissingEnv(String),
    /// A credentials file or docker config cannot be read.
    #[error("credentials: cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The value is empty or has an empty user or secret.
    #[error("credentials from {0} are empty: expected \"user:secret\" or an API key")]
    Empty(String),
    /// A docker config that does not parse or has a malformed entry.
    #[error("credentials: docker config {path}: {reason}")]
    DockerConfig {
        /// The file.
        path: String,
        /// What is wrong (never the secret).
        reason: String,
    },
    /// The docker config has no entry for the registry.
    #[error(
        "credentials: docker config {path} has no auths entry for {registry}{hint}; run `docker login {registry}` or use env:/file:"
    )]
    NoEntry {
        /// The file.
        path: String,
        /// The registry looked up.
        registry: String,
        /// Extra advice (credential helpers are not run).
        hint: String,
    },
}

/// Where `credentials =` says the credentials are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// `env:VAR`: the variable's value.
    Env(String),
    /// `file:PATH`: the file's content, trimmed (relative paths are relative to the config).
    File(PathBuf),
    /// `docker-config[:PATH]`: the `auths` entry for the registry in a docker
    /// `config.json`; default `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
    DockerConfig(Option<PathBuf>),
}

impl CredentialSource {
    /// Parses `env:VAR`, `file:PATH`, `docker-config` or `docker-config:PATH`.
    ///
    /// Errors: [`CredentialsError::InvalidSource`] for anything else, an empty variable
    /// name or path, or a variable name outside `[A-Za-z0-9_]`.
    pub fn parse(s: &str) -> Result<CredentialSource, CredentialsError> {
        let bad = || CredentialsError::InvalidSource(s.to_owned());
        if let Some(var) = s.strip_prefix("env:") {
            if var.is_empty() || !var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(bad());
            }
            return Ok(CredentialSource::Env(var.to_owned()));
        }
        if let Some(p) = s.strip_prefix("file:") {
            if p.is_empty() {
                return Err(bad());
            }
            return Ok(CredentialSource::File(PathBuf::from(p)));
        }
        if s == "docker-config" {
            return Ok(CredentialSource::DockerConfig(None));
        }
        if let Some(p) = s.strip_prefix("docker-config:") {
            if p.is_empty() {
                return Err(bad());
            }
            return Ok(CredentialSource::DockerConfig(Some(PathBuf::from(p))));
        }
        Err(bad())
    }

    /// Loads the credentials for `registry` (as configured, e.g. `docker.io`). Relative
    /// paths are resolved against `base_dir` (the config file's directory).
    ///
    /// Errors: see [`CredentialsError`].
    pub fn load(&self, registry: &str, base_dir: &Path) -> Result<Credentials, CredentialsError> {
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base_dir.join(p)
            }
        };
        match self {
            CredentialSource::Env(var) => {
                let v =
                    std::env::var(var).map_err(|_| CredentialsError::MissingEnv(var.clone()))?;
                Credentials::from_value(&v)
                    .ok_or_else(|| CredentialsError::Empty(format!("${var}")))
            }
            CredentialSource::File(p) => {
                let path = resolve(p);
                let v =
                    std::fs::read_to_string(&path).map_err(|source| CredentialsError::Read {
                        path: path.clone(),
                        source,
                    })?;
                Credentials::from_value(&v)
                    .ok_or_else(|| CredentialsError::Empty(path.display().to_string()))
            }
            CredentialSource::DockerConfig(p) => {
                let path = match p {
                    Some(p) => resolve(p),
                    None => {
                        default_docker_config().ok_or_else(|| CredentialsError::DockerConfig {
                            path: "config.json".into(),
                            reason: "neither DOCKER_CONFIG nor HOME is set".into(),
                        })?
                    }
                };
                let bytes = std::fs::read(&path).map_err(|source| CredentialsError::Read {
                    path: path.clone(),
                    source,
                })?;
                from_docker_config(&bytes, registry, &path.display().to_string())
            }
        }
    }
}

fn default_docker_config() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

/// A user name and secret for a registry. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name (`$oauthtoken` for a bare API key).
    pub username: String,
    secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// Credentials from a user name and secret.
    pub fn new(username: &str, secret: &str) -> Credentials {
        Credentials {
            username: username.to_owned(),
            secret: secret.to_owned(),
        }
    }

    /// Parses a secret value: `user:secret`, or a bare secret, which is an API key sent
    /// with user [`OAUTH_TOKEN_USER`] (nvcr.io). Surrounding whitespace (a trailing
    /// newline in a file) is trimmed. `None` when the value, the user or the secret is empty.
    pub fn from_value(v: &str) -> Option<Credentials> {
        let v = v.trim();
        if v.is_empty() {
            return None;
        }
        match v.split_once(':') {
            Some((u, s)) if !u.is_empty() && !s.is_empty() => Some(Credentials::new(u, s)),
            Some(_) => None,
            None => Some(Credentials::new(OAUTH_TOKEN_USER, v)),
        }
    }

    /// The secret (password, token or API key).
    pub fn secret(&self) -> &str {
        &self.secret
    }
}

/// The `auths` keys a docker `config.json` may use for `registry`: the host itself,
/// with `https://`/`http://` and with a `/v1/` or `/v2/` path, plus Docker Hub's legacy
/// index key for `docker.io`.
fn docker_config_keys(registry: &str) -> Vec<String> {
    let mut hosts = vec![registry.to_owned()];
    if registry == "docker.io" {
        hosts.push("index.docker.io".into());
        hosts.push("registry-1.docker.io".into());
    }
    let mut keys = Vec::new();
    for h in &hosts {
        keys.push(h.clone());
        for scheme in ["https://", "http://"] {
            keys.push(format!("{scheme}{h}"));
            keys.push(format!("{scheme}{h}/"));
            keys.push(format!("{scheme}{h}/v1/"));
            keys.push(format!("{scheme}{h}/v2/"));
        }
    }
    keys
}

/// Reads the credentials for `registry` from docker `config.json` bytes: the `auths`
/// entry's `auth` (base64 of `user:password`), or its `username` and `password`.
/// `path` only names the file in errors.
///
/// Errors: [`CredentialsError::DockerConfig`] for invalid JSON (position only, never
/// content), bad base64, an `identitytoken`-only entry; [`CredentialsError::NoEntry`]
/// when no entry matches (with a hint when `credsStore`/`credHelpers` are set, which are
/// not run).
pub fn from_docker_config(
    bytes: &[u8],
    registry: &str,
    path: &str,
) -> Result<Credentials, CredentialsError> {
    #[derive(serde::Deserialize)]
    struct Entry {
        auth: Option<String>,
        username: Option<String>,
        password: Option<String>,
        identitytoken: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct DockerConfig {
        #[serde(default)]
        auths: BTreeMap<String, Entry>,
        #[serde(default, rename = "credsStore")]
        creds_store: Option<String>,
        #[serde(default, rename = "credHelpers")]
        cred_helpers: BTreeMap<String, String>,
    }
    let err = |reason: String| CredentialsError::DockerConfig {
        path: path.to_owned(),
        reason,
    };
    let cfg: DockerConfig = serde_json::from_slice(bytes).map_err(|e| {
        err(format!(
            "not a docker config.json (JSON error at line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let entry = docker_config_keys(registry)
        .iter()
        .find_map(|k| cfg.auths.get(k));
    let Some(entry) = entry else {
        let hint = if cfg.cred_helpers.contains_key(registry) || cfg.creds_store.is_some() {
            " (credential helpers and credsStore are not run by mirror-sync)".to_owned()
        } else {
            String::new()
        };
        return Err(CredentialsError::NoEntry {
            path: path.to_owned(),
            registry: registry.to_owned(),
            hint,
        });
    };
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| err(format!("the auth of {registry} is not valid base64")))?;
        let text = String::from_utf8(raw)
            .map_err(|_| err(format!("the auth of {registry} is not UTF-8")))?;
        let (u, s) = text
            .split_once(':')
            .filter(|(u, s)| !u.is_empty() && !s.is_empty())
            .ok_or_else(|| err(format!("the auth of {registry} is not user:password")))?;
        return Ok(Credentials::new(u, s));
    }
    match (&entry.username, &entry.password) {
        (Some(u), Some(p)) if !u.is_empty() && !p.is_empty() => Ok(Credentials::new(u, p)),
        _ if entry.identitytoken.is_some() => Err(err(format!(
            "the entry of {registry} only has an identitytoken (OAuth refresh token), which is not supported; use env: or file: with user:secret"
        ))),
        _ => Err(err(format!(
            "the entry of {registry} has neither auth nor username and password"
        ))),
    }
}

// ---------------------------------------------------------------------------
// Header parsing
// ---------------------------------------------------------------------------

/// One challenge of a `WWW-Authenticate` header (RFC 9110 §11.6.1): the scheme,
/// lower-cased, and its auth-params with lower-cased names and unquoted values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Auth scheme, lower-case (`bearer`, `basic`).
    pub scheme: String,
    /// Auth-params (`realm`, `service`, `scope`, …).
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    /// The value of param `name` (lower-case), if present.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Parses a `WWW-Authenticate` value into its challenges, e.g.
/// `Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"`
/// or `Basic realm="x", Bearer realm="y"`. Quoted values may contain commas and `\"`.
/// Tokens that fit no challenge are skipped; a header with no scheme gives an empty list.
pub fn parse_www_authenticate(v: &str) -> Vec<Challenge> {
    let b = v.as_bytes();
    let mut i = 0;
    let mut out: Vec<Challenge> = Vec::new();
    let is_tchar = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/".contains(&c);
    while i < b.len() {
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t' || b[i] == b',') {
            i += 1;
        }
        let start = i;
        while i < b.len() && is_tchar(b[i]) {
            i += 1;
        }
        if i == start {
            // Not a token: skip one byte to make progress.
            i += 1;
            continue;
        }
        let token = &v[start..i];
        let mut j = i;
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        if j < b.len() && b[j] == b'=' {
            // auth-param: token = ( token / quoted-string ); dropped before any scheme.
            j += 1;
            while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
                j += 1;
            }
            let mut value = String::new();
            if j < b.len() && b[j] == b'"' {
                j += 1;
                let mut bytes = Vec::new();
                while j < b.len() && b[j] != b'"' {
                    if b[j] == b'\\' && j + 1 < b.len() {
                        j += 1;
                    }
                    bytes.push(b[j]);
                    j += 1;
                }
                j += 1; // closing quote (or end)
                value = String::from_utf8_lossy(&bytes).into_owned();
            } else {
                let vs = j;
                while j < b.len() && b[j] != b',' && b[j] != b' ' && b[j] != b'\t' {
                    j += 1;
                }
                value.push_str(&v[vs..j]);
            }
            if let Some(c) = out.last_mut() {
                c.params.insert(token.to_ascii_lowercase(), value);
            }
            i = j;
        } else {
            out.push(Challenge {
                scheme: token.to_ascii_lowercase(),
                params: BTreeMap::new(),
            });
            // token68 after the scheme (e.g. `Negotiate abc==`) is ignored.
        }
    }
    out
}

/// The target of the `rel="next"` link in a `Link` header (RFC 8288), as used by
/// distribution-spec §Listing Tags and §Listing Referrers pagination:
/// `</v2/a/tags/list?n=100&last=b>; rel="next"`. `None` when there is no such link.
pub fn parse_next_link(v: &str) -> Option<String> {
    let mut rest = v;
    while let Some(open) = rest.find('<') {
        let after = rest.get(open + 1..)?;
        let close = after.find('>')?;
        let target = after.get(..close)?;
        let tail = after.get(close + 1..)?;
        let params_end = tail.find('<').unwrap_or(tail.len());
        let params = tail.get(..params_end)?;
        let is_next = params.split(';').skip(1).any(|p| {
            let Some((k, val)) = p.split_once('=') else {
                return false;
            };
            k.trim().eq_ignore_ascii_case("rel")
                && val
                    .trim()
                    .trim_end_matches(',')
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.to_owned());
        }
        rest = tail;
    }
    None
}

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

fn transient(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
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
        let shown = redact(&url);
        let mut last = None;
        for attempt in 0..self.f.retries() {
            if attempt > 0 {
                Fetcher::retry_pause(attempt).await;
            }
            self.f
                .stats()
                .requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut rb = self
                .f
                .http()
                .get(url.clone())
                .header(header::ACCEPT, "application/json");
            if let Some(c) = &self.creds {
                rb = rb.basic_auth(&c.username, Some(&c.secret));
            }
            let resp = match rb.send().await {
                Ok(r) => r,
                Err(e) => {
                    last = Some(anyhow!(e).context(format!("token request to {shown}")));
                    continue;
                }
            };
            let status = resp.status();
            if transient(status) {
                last = Some(anyhow!("token request to {shown}: HTTP {status}"));
                continue;
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                bail!(
                    "token request to {shown}: HTTP {status}: {}",
                    if self.creds.is_some() {
                        "the registry refused the configured credentials; check them"
                    } else {
                        "the registry wants credentials; set credentials = in this [[oci]] table"
                    }
                );
            }
            if !status.is_success() {
                bail!("token request to {shown}: HTTP {status}");
            }
            let body = match read_limited(resp, MAX_SMALL_BODY).await {
                Ok(b) => b,
                Err(e) => {
                    last = Some(e.context(format!("token request to {shown}")));
                    continue;
                }
            };
            #[derive(serde::Deserialize)]
            struct TokenAnswer {
                token: Option<String>,
                access_token: Option<String>,
            }
            let t: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
                anyhow!(
                    "token request to {shown}: answer is not JSON (line {}, column {})",
                    e.line(),
                    e.column()
                )
            })?;
            return t
                .token
                .filter(|t| !t.is_empty())
                .or(t.access_token.filter(|t| !t.is_empty()))
                .ok_or_else(|| {
                    anyhow!("token request to {shown}: answer has neither token nor access_token")
                });
        }
        Err(last.unwrap_or_else(|| anyhow!("token request to {shown}: no attempt made")))
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
        let shown = redact(url);
        let mut last = None;
        for attempt in 0..self.f.retries() {
            if attempt > 0 {
                Fetcher::retry_pause(attempt).await;
            }
            self.f
                .stats()
                .requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let build = || {
                self.f
                    .http()
                    .get(url.clone())
                    .header(header::ACCEPT, accept)
            };
            let resp = match self.send(repo, &build).await {
                Ok(r) => r,
                Err(e) => {
                    // A refused token request is final; transport errors are retried.
                    if e.downcast_ref::<reqwest::Error>().is_none() {
                        return Err(e.context(format!("GET {shown}")));
                    }
                    last = Some(e.context(format!("GET {shown}")));
                    continue;
                }
            };
            let status = resp.status();
            if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
                return Ok(None);
            }
            if transient(status) {
                last = Some(anyhow!("GET {shown}: HTTP {status}"));
                continue;
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                bail!(
                    "GET {shown}: HTTP {status}: access denied ({})",
                    if self.creds.is_some() {
                        "check the configured credentials and their permissions"
                    } else {
                        "set credentials = in this [[oci]] table"
                    }
                );
            }
            if !status.is_success() {
                bail!("GET {shown}: HTTP {status}");
            }
            if let Some(len) = resp.content_length()
                && len > max
            {
                bail!("GET {shown}: {len} bytes, over the {max}-byte limit");
            }
            let headers = resp.headers().clone();
            let final_url = resp.url().clone();
            match read_limited(resp, max).await {
                Ok(body) => {
                    self.f
                        .stats()
                        .bytes_fetched
                        .fetch_add(body.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    return Ok(Some((headers, final_url, body)));
                }
                Err(e) if e.downcast_ref::<reqwest::Error>().is_some() => {
                    last = Some(e.context(format!("GET {shown}: connection cut")));
                }
                Err(e) => return Err(e.context(format!("GET {shown}"))),
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("GET {shown}: no attempt made")))
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

async fn read_limited(resp: Response, max: u64) -> anyhow::Result<bytes::Bytes> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge_with_quoted_commas() {
        let c = parse_www_authenticate(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("https://auth.example/token"));
        assert_eq!(c[0].param("service"), Some("registry.example"));
        assert_eq!(c[0].param("scope"), Some("repository:a/b:pull,push"));
    }

    #[test]
    fn several_challenges_and_escapes() {
        let c = parse_www_authenticate(
            r#"Basic realm="Registry \"x\"", charset=UTF-8, BEARER Realm=https://t.example/tok , error="insufficient_scope""#,
        );
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].param("realm"), Some("Registry \"x\""));
        assert_eq!(c[0].param("charset"), Some("UTF-8"));
        assert_eq!(c[1].scheme, "bearer");
        assert_eq!(c[1].param("realm"), Some("https://t.example/tok"));
        assert_eq!(c[1].param("error"), Some("insufficient_scope"));
        assert!(parse_www_authenticate("").is_empty());
        assert!(parse_www_authenticate("=, ,").is_empty());
        assert!(parse_www_authenticate(r#"realm="a b", x=y"#).is_empty());
        // Unterminated quote does not panic.
        let c = parse_www_authenticate(r#"Bearer realm="abc"#);
        assert_eq!(c[0].param("realm"), Some("abc"));
    }

    #[test]
    fn next_link() {
        assert_eq!(
            parse_next_link(r#"</v2/a/tags/list?n=2&last=b>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?n=2&last=b")
        );
        assert_eq!(
            parse_next_link(
                r#"<https://x.example/prev>; rel="prev", <https://x.example/n?last=z>; rel=next"#
            )
            .as_deref(),
            Some("https://x.example/n?last=z")
        );
        assert_eq!(parse_next_link(r#"</a>; rel="prev""#), None);
        assert_eq!(parse_next_link("garbage"), None);
        assert_eq!(parse_next_link("<unterminated; rel=next"), None);
    }

    #[test]
    fn credential_sources() {
        assert_eq!(
            CredentialSource::parse("env:TOKEN_1").unwrap(),
            CredentialSource::Env("TOKEN_1".into())
        );
        assert_eq!(
            CredentialSource::parse("file:keys/ngc").unwrap(),
            CredentialSource::File("keys/ngc".into())
        );
        assert_eq!(
            CredentialSource::parse("docker-config").unwrap(),
            CredentialSource::DockerConfig(None)
        );
        assert_eq!(
            CredentialSource::parse("docker-config:/x/config.json").unwrap(),
            CredentialSource::DockerConfig(Some("/x/config.json".into()))
        );
        for bad in ["", "env:", "env:A-B", "file:", "token", "docker-config:"] {
            assert!(CredentialSource::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn credential_values() {
        let c = Credentials::from_value("alice:s3cr:et\n").unwrap();
        assert_eq!((c.username.as_str(), c.secret()), ("alice", "s3cr:et"));
        let c = Credentials::from_value("  nvapi-KEY \n").unwrap();
        assert_eq!(
            (c.username.as_str(), c.secret()),
            (OAUTH_TOKEN_USER, "nvapi-KEY")
        );
        assert!(Credentials::from_value("\n").is_none());
        assert!(Credentials::from_value(":x").is_none());
        assert!(Credentials::from_value("x:").is_none());
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("nvapi-KEY") && shown.contains("redacted"),
            "{shown}"
        );
    }

    #[test]
    fn credentials_from_env_and_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ngc"), "nvapi-FROMFILE\n").unwrap();
        let c = CredentialSource::parse("file:ngc")
            .unwrap()
            .load("nvcr.io", dir.path())
            .unwrap();
        assert_eq!(
            (c.username.as_str(), c.secret()),
            (OAUTH_TOKEN_USER, "nvapi-FROMFILE")
        );
        let err = CredentialSource::parse("file:missing")
            .unwrap()
            .load("nvcr.io", dir.path())
            .unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
        let err = CredentialSource::parse("env:MIRROR_SYNC_TEST_SURELY_UNSET_VAR")
            .unwrap()
            .load("nvcr.io", dir.path())
            .unwrap_err();
        assert!(matches!(err, CredentialsError::MissingEnv(_)), "{err}");
    }

    #[test]
    fn docker_config_auths() {
        let auth = base64::engine::general_purpose::STANDARD.encode("bob:pa:ss");
        let json = format!(
            r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{auth}"}},
                "127.0.0.1:5000":{{"username":"u","password":"p"}},
                "tok.example":{{"identitytoken":"SECRET-REFRESH"}},
                "bad.example":{{"auth":"!!notbase64"}}}},
                "credHelpers":{{"helper.example":"ecr-login"}}}}"#
        );
        let c = from_docker_config(json.as_bytes(), "docker.io", "cfg").unwrap();
        assert_eq!((c.username.as_str(), c.secret()), ("bob", "pa:ss"));
        let c = from_docker_config(json.as_bytes(), "127.0.0.1:5000", "cfg").unwrap();
        assert_eq!((c.username.as_str(), c.secret()), ("u", "p"));
        let e = from_docker_config(json.as_bytes(), "tok.example", "cfg").unwrap_err();
        assert!(
            e.to_string().contains("identitytoken") && !e.to_string().contains("SECRET"),
            "{e}"
        );
        let e = from_docker_config(json.as_bytes(), "bad.example", "cfg").unwrap_err();
        assert!(e.to_string().contains("base64"), "{e}");
        let e = from_docker_config(json.as_bytes(), "helper.example", "cfg").unwrap_err();
        assert!(e.to_string().contains("credential helpers"), "{e}");
        let e = from_docker_config(json.as_bytes(), "none.example", "cfg").unwrap_err();
        assert!(matches!(e, CredentialsError::NoEntry { .. }), "{e}");
        let e = from_docker_config(br#"{"auths": "SECRET-VALUE"}"#, "x", "cfg").unwrap_err();
        assert!(!e.to_string().contains("SECRET"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), &json).unwrap();
        let c = CredentialSource::parse("docker-config:config.json")
            .unwrap()
            .load("127.0.0.1:5000", dir.path())
            .unwrap();
        assert_eq!(c.username, "u");
    }

    use super::super::test_server::{Route, serve};

    fn fetcher(dir: &Path) -> Fetcher {
        let cas = std::sync::Arc::new(store::Cas::open(dir).unwrap());
        Fetcher::new(
            cas,
            2,
            2,
            std::time::Duration::from_secs(5),
            crate::progress::Progress::hidden(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn bearer_token_flow_manifest_digest_and_tag_pagination() {
        let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#.to_vec();
        let mdigest = Digest::of(&manifest);
        let basic = format!(
            "basic {}",
            base64::engine::general_purpose::STANDARD.encode("alice:s3cret")
        )
        .to_ascii_lowercase();
        let realm = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let realm2 = realm.clone();
        let m2 = manifest.clone();
        let route: std::sync::Arc<Route> = std::sync::Arc::new(move |path: &str, head: &str| {
            let authed = head.contains("authorization: bearer tok-1");
            if path.starts_with("/token") {
                return if head.contains(&format!("authorization: {basic}"))
                    && path.contains("scope=repository%3Ateam%2Fapp%3Apull")
                    && path.contains("service=reg")
                {
                    (200, vec![], br#"{"access_token":"tok-1"}"#.to_vec())
                } else {
                    (401, vec![], b"{}".to_vec())
                };
            }
            if !authed {
                let r = realm2.lock().unwrap().clone();
                return (
                    401,
                    vec![(
                        "www-authenticate".into(),
                        format!(
                            r#"Bearer realm="{r}token",service="reg",scope="repository:team/app:pull""#
                        ),
                    )],
                    b"{}".to_vec(),
                );
            }
            match path {
                "/v2/team/app/manifests/v1" => (
                    200,
                    vec![(
                        "content-type".into(),
                        "application/vnd.oci.image.manifest.v1+json".into(),
                    )],
                    m2.clone(),
                ),
                "/v2/team/app/manifests/bad" => (
                    200,
                    vec![(
                        "docker-content-digest".into(),
                        Digest::of(b"other").to_string(),
                    )],
                    m2.clone(),
                ),
                "/v2/team/app/tags/list" => (
                    200,
                    vec![(
                        "link".into(),
                        r#"</v2/team/app/tags/list?n=2&last=b>; rel="next""#.into(),
                    )],
                    br#"{"name":"team/app","tags":["a","b"]}"#.to_vec(),
                ),
                "/v2/team/app/tags/list?n=2&last=b" => {
                    (200, vec![], br#"{"name":"team/app","tags":["c"]}"#.to_vec())
                }
                p if p.starts_with("/v2/team/app/manifests/sha256:") => (200, vec![], m2.clone()),
                _ => (
                    404,
                    vec![],
                    br#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#.to_vec(),
                ),
            }
        });
        let (base, log) = serve(route).await;
        *realm.lock().unwrap() = base.to_string();
        let dir = tempfile::tempdir().unwrap();
        let f = fetcher(dir.path());
        let c = RegistryClient::new(&f, &base, Some(Credentials::new("alice", "s3cret")));
        let m = c.get_manifest("team/app", "v1").await.unwrap();
        assert_eq!(m.digest, mdigest);
        assert_eq!(m.bytes.as_ref(), manifest.as_slice());
        assert_eq!(
            m.content_type.as_deref(),
            Some("application/vnd.oci.image.manifest.v1+json")
        );
        // By digest: the cached token is reused, the bytes must hash to the digest.
        let by_digest = c
            .get_manifest("team/app", &mdigest.to_string())
            .await
            .unwrap();
        assert_eq!(by_digest.digest, mdigest);
        let other = Digest::of(b"other");
        let err = c
            .get_manifest("team/app", &other.to_string())
            .await
            .unwrap_err();
        assert!(format!("{err:#}").contains("not the requested"), "{err:#}");
        assert!(
            c.get_manifest_optional("team/app", "missing")
                .await
                .unwrap()
                .is_none()
        );
        let err = c.get_manifest("team/app", "bad").await.unwrap_err();
        assert!(
            format!("{err:#}").contains("Docker-Content-Digest"),
            "{err:#}"
        );
        assert_eq!(c.list_tags("team/app").await.unwrap(), vec!["a", "b", "c"]);
        let log = log.lock().unwrap().clone();
        let tokens = log.iter().filter(|l| l.starts_with("/token")).count();
        assert_eq!(tokens, 1, "token cached per scope: {log:?}");
        assert!(log.iter().all(|l| !l.contains("s3cret")));
        // Wrong credentials: a clear error that does not show the secret.
        let bad = RegistryClient::new(&f, &base, Some(Credentials::new("alice", "nope-secret")));
        let err = format!(
            "{:#}",
            bad.get_manifest("team/app", "v1").await.unwrap_err()
        );
        assert!(err.contains("refused the configured credentials"), "{err}");
        assert!(!err.contains("nope-secret"), "{err}");
    }
}
