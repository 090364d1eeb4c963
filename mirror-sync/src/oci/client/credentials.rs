//! Registry credentials ([`Credentials`]) and where they come from ([`CredentialSource`]):
//! an environment variable, a file or a docker `config.json`. Neither they nor tokens ever
//! appear in an error, a log line, the state or the manifest: `Debug` prints `<redacted>`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;

/// User name sent with a bare API key (no `user:` part), as nvcr.io expects.
pub const OAUTH_TOKEN_USER: &str = "$oauthtoken";

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
    /// The password, token or API key (never shown).
    pub(super) secret: String,
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
