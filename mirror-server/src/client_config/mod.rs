//! What `mirror-server client-config` prints: the client configuration for everything the
//! live snapshot serves, so that apt, pip, uv, containerd, Docker and podman work from the
//! printed files as they are.
//!
//! - **APT**, per served repository `apt/<name>/`: one deb822 stanza (sources.list(5),
//!   "DEB822-STYLE FORMAT") naming **every** suite served under `dists/` and every
//!   component and architecture its served `Release` lists (`Architectures:` without
//!   `all`, which apt adds itself), `Signed-By:` the keyring where the operator installs
//!   the repository key (`/keys/repo.gpg` of the server, the same key as the build host's
//!   `keys/repo.pub.gpg`). A flat repository is `URIs: <base>/apt/<name>/` with
//!   `Suites: /` and no `Components:`. All stanzas go in one `mirror.sources` file; the
//!   one-line form (`deb [signed-by=…] URI suite component…`, one line per suite) is
//!   printed too, as `mirror.list` — install one of the two, not both.
//! - **PyPI** (when `/simple/` is served): `pip.conf` (`[global] index-url = <base>/simple/`,
//!   plus `trusted-host` for plain HTTP to a host other than loopback, which pip would
//!   otherwise ignore) and `uv.toml` (one `[[index]]` with `default = true`, and
//!   `python-downloads = "never"`, since an air-gapped host cannot fetch interpreters).
//! - **OCI** (when images are served, or `--registry` names some): containerd, Docker and
//!   podman, see [`oci`].
//! - **TLS** (an `https` base URL and `--ca-cert`, see [`TlsOptions`]): the CA certificate
//!   goes to `<tls-dir>/mirror-ca.crt` (default [`DEFAULT_TLS_DIR`]) and each client is
//!   told to trust it for the mirror only: apt (`Acquire::https::<host>::CaInfo` in
//!   [`APT_TLS_CONF_PATH`], apt.conf(5)), pip (`cert` in pip.conf), uv (`SSL_CERT_FILE` in
//!   `<tls-dir>/uv.env`: uv reads no CA path from uv.toml), curl (`--cacert` in the key
//!   command), Docker and podman (`/etc/{docker,containers}/certs.d/<host[:port]>/ca.crt`,
//!   docker(1) "certs.d", containers-certs.d(5)) and containerd (`ca` of the mirror's
//!   `[host]` in hosts.toml). With `--client-cert` and `--client-key` (a server started
//!   with `--tls-client-ca`), the same clients present that certificate: apt `SslCert` /
//!   `SslKey`, pip `client-cert` and uv `SSL_CLIENT_CERT` (one PEM file of key and
//!   certificate), `client.cert` / `client.key` in the certs.d directories, containerd
//!   `client`. The private key is never printed: it is copied by `--write`, mode 0600.
//!
//! The served layout read here is the one `mirror-sync export` renders
//! (docs/media-format.md): `apt/<name>/dists/<suite>/Release` for a standard repository,
//! `apt/<name>/Release` for a flat one, `simple/` for the Python index.
//!
//! Layout, one module per client: [`apt`] (repositories and sources files), [`pypi`] (pip
//! and uv), [`oci`] (containerd, Docker, podman), [`tls`] (CA and client certificate files
//! for all of them); this module assembles them ([`build`]), renders them ([`render_text`]) and writes them
//! ([`write_files`]).

use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;

use self::oci::{ClientConfig as OciClientConfig, client_config, parse_base_url};
use crate::serve::routes::Live;

pub mod apt;
pub mod oci;
pub mod pypi;
pub mod tls;

pub use apt::{AptRepo, apt_repos, deb822_stanza, one_line};
pub use pypi::{pip_conf, uv_toml};

/// Where the deb822 sources file goes.
pub const APT_SOURCES_PATH: &str = "/etc/apt/sources.list.d/mirror.sources";
/// Where the one-line sources file goes (the alternative to [`APT_SOURCES_PATH`]).
pub const APT_LIST_PATH: &str = "/etc/apt/sources.list.d/mirror.list";
/// Default keyring path of the repository key (`--keyring-path` changes it).
pub const DEFAULT_KEYRING_PATH: &str = "/etc/apt/keyrings/mirror.gpg";
/// Where pip's site-wide configuration goes.
pub const PIP_CONF_PATH: &str = "/etc/pip.conf";
/// Where uv's system-level configuration goes.
pub const UV_TOML_PATH: &str = "/etc/uv/uv.toml";
/// Logical path of the binary repository key in a snapshot.
pub const REPO_KEY_PATH: &str = "keys/repo.gpg";
/// Default directory of the TLS files on a client (`--tls-dir`).
pub const DEFAULT_TLS_DIR: &str = "/etc/mirror/tls";
/// apt.conf.d snippet naming the CA (and client certificate) for the mirror's host.
pub const APT_TLS_CONF_PATH: &str = "/etc/apt/apt.conf.d/60mirror-tls";
/// Directory Docker reads per-registry CA and client certificates from.
pub const DOCKER_CERTS_DIR: &str = "/etc/docker/certs.d";
/// Directory podman, skopeo and buildah read per-registry certificates from.
pub const PODMAN_CERTS_DIR: &str = "/etc/containers/certs.d";
/// Largest repository key read.
const MAX_KEY_BYTES: u64 = 1024 * 1024;

/// Why a client configuration cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientConfigError {
    /// The base URL is not an `http`/`https` origin, or a registry name is invalid.
    #[error(transparent)]
    Oci(#[from] oci::ClientConfigError),
    /// A served `Release` file cannot be read from the store.
    #[error(
        "cannot read {path} (blob {digest}) of the live snapshot: {source}; run mirror-server verify, then re-import the snapshot"
    )]
    Release {
        /// Logical path of the `Release`.
        path: String,
        /// Its blob.
        digest: formats::digest::Digest,
        /// The store error.
        source: Box<store::CasError>,
    },
    /// `--ca-cert` and the base URL disagree, or a TLS file is missing or not PEM.
    #[error("{0}")]
    Tls(String),
    /// A served `Release` file does not parse.
    #[error("{path} of the live snapshot does not parse: {source}")]
    ReleaseParse {
        /// Logical path of the `Release`.
        path: String,
        /// The parse error.
        source: formats::apt::AptFormatError,
    },
}

/// One file to install on a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientFile {
    /// What it configures: `apt-sources`, `apt-list`, `pip`, `uv`, `containerd`, `docker`,
    /// `podman`.
    pub kind: String,
    /// Suggested absolute path on the client.
    pub path: String,
    /// The file's content (UTF-8 text).
    pub content: String,
}

/// A file copied from the server host onto the client (`--write` copies it; the text
/// and JSON forms name it without its content: it may be a private key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopiedFile {
    /// What it is: `client-cert`, `client-key`, `client-pem` (key then certificate, for
    /// pip and uv), `docker-client-cert`, `docker-client-key`, `podman-client-cert`,
    /// `podman-client-key`.
    pub kind: String,
    /// The files on this host whose bytes are concatenated into it, in order.
    pub from: Vec<String>,
    /// Suggested absolute path on the client.
    pub path: String,
    /// Unix mode to give it (`0o600` for anything holding a private key, else `0o644`);
    /// JSON shows it in octal, `"0600"`.
    #[serde(serialize_with = "octal_mode")]
    pub mode: u32,
}

fn octal_mode<S: serde::Serializer>(mode: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{mode:04o}"))
}

/// TLS inputs of [`build`]: files on this host that clients need for an `https` mirror.
#[derive(Debug, Clone, Copy)]
pub struct TlsOptions<'a> {
    /// PEM file of the CA certificate(s) the server's certificate chains to (`--ca-cert`).
    pub ca_cert: &'a Path,
    /// Client certificate and its private key (PEM) for a server requiring client
    /// certificates (`--client-cert`, `--client-key`).
    pub client: Option<(&'a Path, &'a Path)>,
    /// Directory on the client for the CA, client certificate and `uv.env`
    /// (`--tls-dir`, default [`DEFAULT_TLS_DIR`]).
    pub dir: &'a str,
}

/// The TLS part of the configuration (`--json`: `tls`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsClientConfig {
    /// Where the CA certificate goes on the client.
    pub ca_path: String,
    /// SHA-256 fingerprints of the CA certificates (lower-case hex of the DER).
    pub ca_sha256: Vec<String>,
    /// Where the client certificate goes (mTLS), if any.
    pub client_cert_path: Option<String>,
    /// Where the client's private key goes (mTLS), if any.
    pub client_key_path: Option<String>,
    /// Key and certificate in one PEM file (pip `client-cert`, uv `SSL_CLIENT_CERT`).
    pub client_pem_path: Option<String>,
    /// Files copied from this host (certificates and keys), not printed.
    pub copies: Vec<CopiedFile>,
}

/// The repository key clients install for `Signed-By:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoKey {
    /// Where the key goes (the `Signed-By:` path).
    pub keyring_path: String,
    /// The URL the server offers it at (`<base>/keys/repo.gpg`, binary OpenPGP).
    pub url: String,
    /// Primary-key fingerprints (upper-case hex), to check against the build host's
    /// `mirror-sync keys generate` output; empty when the key does not parse.
    pub fingerprints: Vec<String>,
}

/// Everything `client-config` prints; `--json` prints this object.
#[derive(Debug, Clone, Serialize)]
pub struct FullClientConfig {
    /// The base URL clients reach the server at (no trailing `/`).
    pub base_url: String,
    /// The live snapshot the configuration was made from (`<channel>/<sequence>`), if any.
    pub snapshot: Option<String>,
    /// The served APT repositories.
    pub apt: Vec<AptRepo>,
    /// The repository key (only when APT repositories are served).
    pub repo_key: Option<RepoKey>,
    /// The PEP 503 index URL (`<base>/simple/`) when the snapshot serves one.
    pub pypi_index_url: Option<String>,
    /// The OCI part (registries, containerd, Docker, podman) when images are served or
    /// `--registry` names some.
    pub oci: Option<OciClientConfig>,
    /// The TLS part (an `https` base URL with `--ca-cert`).
    pub tls: Option<TlsClientConfig>,
    /// Every file, in the order printed.
    pub files: Vec<ClientFile>,
    /// Shell commands to run before using the files (installing the repository key).
    pub commands: Vec<String>,
    /// What is not configured and why (`no APT repository is served`, …).
    pub notes: Vec<String>,
}

/// Quotes `s` for a POSIX shell when it holds anything but `[A-Za-z0-9_./:=@%+-]`.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=@%+-".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Options of [`build`].
#[derive(Debug, Clone)]
pub struct Options<'a> {
    /// The URL clients reach the server at: `http(s)://host[:port]`, or `host:port`
    /// (then `http://` is assumed).
    pub base_url: &'a str,
    /// Where the repository key is installed (the `Signed-By:` path).
    pub keyring_path: &'a str,
    /// Extra OCI registries (`host[:port]`) to configure.
    pub registries: &'a [String],
    /// The CA (and client certificate) for an `https` base URL; `None` leaves clients to
    /// their system trust store.
    pub tls: Option<TlsOptions<'a>>,
}

/// The live snapshot of `store` to configure clients for (`None` without a store).
///
/// Errors: the store's live snapshot cannot be read; nothing to configure (no snapshot
/// imported, or no store, and no `registries`): the message says what to pass.
pub fn live_snapshot(store: Option<&Path>, registries: &[String]) -> anyhow::Result<Option<Live>> {
    let live = match store {
        Some(store) => crate::serve::routes::load(store)
            .with_context(|| format!("cannot read the live snapshot of {}", store.display()))?,
        None => None,
    };
    if live.is_none() && registries.is_empty() {
        match store {
            Some(store) => anyhow::bail!(
                "{}: no snapshot imported yet, so nothing to configure (run mirror-server import first, or name registries with --registry)",
                store.display()
            ),
            None => anyhow::bail!(
                "nothing to configure: give the server's store with --store (or MIRROR_SERVER_STORE), or name registries with --registry"
            ),
        }
    }
    Ok(live)
}

/// Builds the configuration for everything `live` serves (nothing when `None`: then only
/// the `--registry` OCI part, if any). `store` is the store the blobs are read from.
///
/// Errors: an invalid base URL or registry ([`ClientConfigError::Oci`]); a served
/// `Release` that cannot be read or parsed.
pub fn build(
    live: Option<&Live>,
    store: &Path,
    opts: &Options<'_>,
) -> Result<FullClientConfig, ClientConfigError> {
    let given = if opts.base_url.contains("://") {
        opts.base_url.to_owned()
    } else {
        format!("http://{}", opts.base_url)
    };
    let base = parse_base_url(&given)?;
    let base_url = base.origin.clone();
    if opts.tls.is_some() && base.insecure {
        return Err(ClientConfigError::Tls(format!(
            "--ca-cert is for an https mirror, but the base URL {base_url} is plain http; give --base-url https://…"
        )));
    }
    let mut registries: Vec<String> = opts.registries.to_vec();
    if let Some(l) = live {
        registries.extend(oci::served_registries(&l.oci));
    }
    let oci = if registries.is_empty() {
        None
    } else {
        Some(client_config(&given, &registries)?)
    };
    let mut files = Vec::new();
    let mut commands = Vec::new();
    let mut notes = Vec::new();
    let tls = match &opts.tls {
        Some(t) => {
            notes.push(
                "install the ca-cert file (and, with a client certificate, the copied client files) before running the commands: curl reads them".to_owned(),
            );
            Some(tls::tls_config(t, &base, &mut files)?)
        }
        None => {
            if !base.insecure {
                notes.push(
                    "https without --ca-cert: clients must already trust the server's certificate (system trust store); give --ca-cert to configure them".to_owned(),
                );
            }
            None
        }
    };
    // curl options for the key download: the mirror's CA and client certificate.
    let curl_tls = tls
        .as_ref()
        .map(|t| {
            let mut o = format!(" --cacert {}", shell_quote(&t.ca_path));
            if let (Some(c), Some(k)) = (&t.client_cert_path, &t.client_key_path) {
                o.push_str(&format!(
                    " --cert {} --key {}",
                    shell_quote(c),
                    shell_quote(k)
                ));
            }
            o
        })
        .unwrap_or_default();

    let apt = match live {
        Some(l) => apt_repos(l, store, &base_url)?,
        None => Vec::new(),
    };
    let mut repo_key = None;
    if apt.is_empty() {
        notes.push("no APT repository is served: no apt sources".to_owned());
    } else {
        let sources: Vec<String> = apt
            .iter()
            .map(|r| deb822_stanza(r, opts.keyring_path))
            .collect();
        files.push(ClientFile {
            kind: "apt-sources".into(),
            path: APT_SOURCES_PATH.into(),
            content: format!(
                "# apt sources for the mirror (deb822, sources.list(5)); every served suite.\n\
                 # Install the repository key first (see the commands); use this file or\n\
                 # {APT_LIST_PATH}, not both.\n\n{}",
                sources.join("\n")
            ),
        });
        let lines: String = apt.iter().map(|r| one_line(r, opts.keyring_path)).collect();
        files.push(ClientFile {
            kind: "apt-list".into(),
            path: APT_LIST_PATH.into(),
            content: format!(
                "# The same sources in the one-line form (use this file or {APT_SOURCES_PATH}, not both).\n{lines}"
            ),
        });
        let key_url = format!("{base_url}/{REPO_KEY_PATH}");
        let fingerprints = live
            .and_then(|l| l.get(REPO_KEY_PATH))
            .and_then(|e| {
                store::Cas::at(store)
                    .read_bytes(&e.digest, MAX_KEY_BYTES)
                    .ok()
            })
            .and_then(|b| keys::openpgp::Keyring::from_bytes(&b).ok())
            .map(|k| k.fingerprints())
            .unwrap_or_default();
        let dir = Path::new(opts.keyring_path)
            .parent()
            .map(|p| p.display().to_string())
            .filter(|p| !p.is_empty());
        if let Some(d) = dir {
            commands.push(format!("install -d -m 0755 {}", shell_quote(&d)));
        }
        commands.push(format!(
            "curl -fsS{curl_tls} -o {} {}",
            shell_quote(opts.keyring_path),
            shell_quote(&key_url)
        ));
        repo_key = Some(RepoKey {
            keyring_path: opts.keyring_path.to_owned(),
            url: key_url,
            fingerprints,
        });
    }

    let serves_simple = live.is_some_and(|l| l.routes.keys().any(|p| p.starts_with("simple/")));
    let pypi_index_url = serves_simple.then(|| format!("{base_url}/simple/"));
    match &pypi_index_url {
        Some(index) => {
            let trusted = (base.insecure && !base.loopback).then(|| base.host.clone());
            let mut pip = pip_conf(index, trusted.as_deref());
            if let Some(t) = &tls {
                // pip.conf(5) [global]: `cert` = CA bundle, `client-cert` = key + certificate.
                pip.push_str(&format!("cert = {}\n", t.ca_path));
                if let Some(c) = &t.client_pem_path {
                    pip.push_str(&format!("client-cert = {c}\n"));
                }
            }
            files.push(ClientFile {
                kind: "pip".into(),
                path: PIP_CONF_PATH.into(),
                content: pip,
            });
            files.push(ClientFile {
                kind: "uv".into(),
                path: UV_TOML_PATH.into(),
                content: uv_toml(index),
            });
            if let Some(t) = &tls {
                let dir = t.ca_path.rsplit_once('/').map_or("", |(d, _)| d);
                let mut env = format!(
                    "# uv reads its CA bundle and client certificate only from the environment:\n\
                     # run uv as: env $(grep -v '^#' {dir}/uv.env) uv …\n\
                     SSL_CERT_FILE={}\n",
                    t.ca_path
                );
                if let Some(c) = &t.client_pem_path {
                    env.push_str(&format!("SSL_CLIENT_CERT={c}\n"));
                }
                files.push(ClientFile {
                    kind: "uv-env".into(),
                    path: format!("{dir}/uv.env"),
                    content: env,
                });
            }
        }
        None => notes.push("no Python index is served: no pip.conf or uv.toml".to_owned()),
    }

    match &oci {
        Some(c) => {
            for h in &c.containerd {
                let mut content = h.hosts_toml.clone();
                if let Some(t) = &tls {
                    // The mirror's [host."<origin>"] table is the file's last table.
                    content.push_str(&format!("  ca = \"{}\"\n", t.ca_path));
                    if let (Some(c), Some(k)) = (&t.client_cert_path, &t.client_key_path) {
                        content.push_str(&format!("  client = [[\"{c}\", \"{k}\"]]\n"));
                    }
                }
                files.push(ClientFile {
                    kind: "containerd".into(),
                    path: h.path.clone(),
                    content,
                });
            }
            if let Some(d) = &c.docker {
                let mut json = serde_json::to_string_pretty(&d.daemon_json).unwrap_or_default();
                json.push('\n');
                files.push(ClientFile {
                    kind: "docker".into(),
                    path: d.path.clone(),
                    content: json,
                });
            }
            files.push(ClientFile {
                kind: "podman".into(),
                path: c.podman.path.clone(),
                content: c.podman.registries_conf.clone(),
            });
        }
        None => notes.push(
            "no OCI image is served: no containerd, Docker or podman configuration".to_owned(),
        ),
    }
    Ok(FullClientConfig {
        base_url,
        snapshot: live.map(|l| l.name.clone()),
        apt,
        repo_key,
        pypi_index_url,
        oci,
        tls,
        files,
        commands,
        notes,
    })
}

/// Renders the configuration as text: the commands, then each file preceded by a
/// `### <kind>: <path>` line, then the notes (as `# note:` lines).
pub fn render_text(c: &FullClientConfig) -> String {
    let mut out = format!(
        "# Client configuration for the mirror at {}{}\n",
        c.base_url,
        c.snapshot
            .as_deref()
            .map(|s| format!(" (live snapshot {s})"))
            .unwrap_or_default()
    );
    if let Some(k) = &c.repo_key {
        out.push_str(&format!(
            "\n### apt repository key: {} (or copy keys/repo.pub.gpg from the build host)\n",
            k.keyring_path
        ));
        for cmd in &c.commands {
            out.push_str(&format!("{cmd}\n"));
        }
        if !k.fingerprints.is_empty() {
            out.push_str(&format!("# fingerprint: {}\n", k.fingerprints.join(" ")));
        }
    }
    for f in &c.files {
        let label = match f.kind.as_str() {
            "docker" => "docker (docker.io only)",
            other => other,
        };
        out.push_str(&format!("\n### {label}: {}\n{}", f.path, f.content));
    }
    for f in c.tls.iter().flat_map(|t| &t.copies) {
        out.push_str(&format!(
            "\n### {}: {} (mode {:04o}; copy of {}; not printed, --write copies it)\n",
            f.kind,
            f.path,
            f.mode,
            f.from.join(" + ")
        ));
    }
    if !c.notes.is_empty() {
        out.push('\n');
        for n in &c.notes {
            out.push_str(&format!("# note: {n}\n"));
        }
    }
    out
}

/// Writes every file of `c` under `dir` (`dir` + the file's absolute path), creating
/// directories, and the repository key (read from the live snapshot's `keys/repo.gpg`)
/// at `dir` + its keyring path. Returns the paths written.
///
/// Errors: a file cannot be written, or the key cannot be read from the store.
pub fn write_files(
    c: &FullClientConfig,
    live: Option<&Live>,
    store: &Path,
    dir: &Path,
) -> anyhow::Result<Vec<std::path::PathBuf>> {
    use anyhow::Context as _;
    let under = |p: &str| dir.join(p.trim_start_matches('/'));
    let mut written = Vec::new();
    let mut put = |path: std::path::PathBuf, bytes: &[u8]| -> anyhow::Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
        Ok(())
    };
    for f in &c.files {
        put(under(&f.path), f.content.as_bytes())?;
    }
    for f in c.tls.iter().flat_map(|t| &t.copies) {
        let mut bytes = Vec::new();
        for from in &f.from {
            let b = std::fs::read(from).with_context(|| format!("cannot read {from}"))?;
            bytes.extend_from_slice(&b);
            if !bytes.ends_with(b"\n") {
                bytes.push(b'\n');
            }
        }
        let path = under(&f.path);
        put(path.clone(), &[])?;
        set_mode(&path, f.mode)?;
        std::fs::write(&path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let (Some(k), Some(l)) = (&c.repo_key, live) {
        let entry = l.get(REPO_KEY_PATH).with_context(|| {
            format!("the live snapshot has no {REPO_KEY_PATH}; copy keys/repo.pub.gpg from the build host to {}", k.keyring_path)
        })?;
        let bytes = store::Cas::at(store)
            .read_bytes(&entry.digest, MAX_KEY_BYTES)
            .with_context(|| {
                format!(
                    "cannot read {REPO_KEY_PATH} (blob {}) from the store",
                    entry.digest
                )
            })?;
        put(under(&k.keyring_path), &bytes)?;
    }
    Ok(written)
}

/// Gives `path` the Unix permission bits `mode` (nothing elsewhere).
fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use anyhow::Context as _;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot set the mode of {}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

#[cfg(test)]
mod tests;
