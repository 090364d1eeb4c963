//! Upstreams laid out like NVIDIA's, for the preset tests. TEST-ONLY.
//!
//! - [`build_nvidia_apt`] writes two flat APT repositories, made by real tools (`gpg`,
//!   `dpkg-deb`, `apt-ftparchive`), under the URL paths NVIDIA uses:
//!   - `compute/cuda/repos/ubuntu2404/x86_64/` — CUDA-like: `Packages` by `apt-ftparchive
//!     packages .` (`Filename: ./<name>_<version>_<arch>.deb` with `MD5sum`, `SHA1`,
//!     `SHA256` and `SHA512`), a `Release` listing all four hash kinds, `InRelease` and
//!     `Release.gpg`, signed by an RSA key bound with SHA-256 (like the 2022 CUDA key);
//!   - `libnvidia-container/stable/deb/amd64/` — container-toolkit-like: an `InRelease`
//!     only (no `Release`), `Hash: SHA512`, listing **SHA512 only**, `Date` frozen in
//!     2018 and no `Valid-Until`, with a `Packages` whose stanzas list SHA512 only; signed
//!     by an old-style RSA key whose self-signature is hashed with **SHA-1**
//!     (`gpg --cert-digest-algo SHA1`; the data signature is SHA-512).
//!
//!   The keyrings get the file names NVIDIA's packages use (`cuda-archive-keyring.gpg`,
//!   `nvidia-container-toolkit-keyring.gpg`). Every property above is checked after
//!   building, so a tool that changes its output fails here, not in a later assertion.
//! - [`NgcRegistry`] is an nvcr.io-style front for a real `docker-registry`: an axum server
//!   that answers every `/v2/…` request without a valid bearer token with `401` and
//!   `WWW-Authenticate: Bearer realm="…/proxy_auth",scope="repository:<name>:pull"` (no
//!   `service`, as nvcr.io does), hands out opaque tokens at `/proxy_auth` only for HTTP
//!   basic `$oauthtoken:<API key>`, and forwards authorised requests to the registry.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};

use crate::apt_fixture::{DebSpec, build_deb, gpg, stop_gpg_agent};
use crate::oci_fixture::Registry;
use crate::run_checked;

/// External programs [`build_nvidia_apt`] needs (plus `apt-get` for the client side).
pub const REQUIRED_TOOLS: &[&str] = &[
    "gpg",
    "gpg-agent",
    "gpgconf",
    "dpkg-deb",
    "apt-ftparchive",
    "apt-get",
    "gzip",
    "python3",
];

/// URL path (below the served root) of the CUDA-like repository.
pub const CUDA_PATH: &str = "compute/cuda/repos/ubuntu2404/x86_64/";
/// URL path (below the served root) of the container-toolkit-like repository.
pub const TOOLKIT_PATH: &str = "libnvidia-container/stable/deb/amd64/";
/// The frozen `Date` of the container-toolkit-like `InRelease` (NVIDIA's is from 2018).
pub const TOOLKIT_DATE: &str = "Fri, 27 Apr 2018 21:29:25 +0000";

/// One flat repository of the fixture.
#[derive(Debug, Clone)]
pub struct FlatRepo {
    /// The repository directory (`InRelease`, `Packages`, the `.deb` files).
    pub dir: PathBuf,
    /// Its URL path below the served root, ending in `/`.
    pub url_path: &'static str,
    /// Binary public keyring of the signing key, named like NVIDIA's keyring file.
    pub keyring: PathBuf,
    /// Primary-key fingerprint of the signing key (40 upper-case hex digits).
    pub fingerprint: String,
    /// The packages in the repository.
    pub packages: Vec<DebSpec>,
}

impl FlatRepo {
    /// The `.deb` of `spec` in this repository.
    pub fn deb(&self, spec: &DebSpec) -> PathBuf {
        self.dir.join(spec.file_name())
    }
}

/// Both NVIDIA-style APT repositories (module docs).
#[derive(Debug, Clone)]
pub struct NvidiaApt {
    /// Directory to serve (holds `compute/…` and `libnvidia-container/…`).
    pub root: PathBuf,
    /// The CUDA-like repository.
    pub cuda: FlatRepo,
    /// The container-toolkit-like repository (SHA-1-bound key, SHA512-only, 2018 date).
    pub toolkit: FlatRepo,
}

/// CUDA-like packages: `cuda-toolkit-12-6` closes over `cuda-compiler-12-6`,
/// `cuda-nvcc-12-6 12.6.77-1` (not `12.6.68-1`), `cuda-libraries-12-6` and the `all`
/// package `cuda-toolkit-config-common`; `cuda-toolkit-12-5` and `cuda-keyring` are in
/// nobody's closure.
pub fn cuda_packages() -> Vec<DebSpec> {
    vec![
        DebSpec::new("cuda-toolkit-12-6", "12.6.3-1", "amd64").field(
            "Depends",
            "cuda-compiler-12-6 (>= 12.6.3), cuda-libraries-12-6 (>= 12.6.3)",
        ),
        DebSpec::new("cuda-compiler-12-6", "12.6.3-1", "amd64")
            .field("Depends", "cuda-nvcc-12-6 (>= 12.6.77)"),
        DebSpec::new("cuda-nvcc-12-6", "12.6.68-1", "amd64"),
        DebSpec::new("cuda-nvcc-12-6", "12.6.77-1", "amd64"),
        DebSpec::new("cuda-libraries-12-6", "12.6.3-1", "amd64")
            .field("Depends", "cuda-toolkit-config-common"),
        DebSpec::new("cuda-toolkit-config-common", "12.6.77-1", "all"),
        DebSpec::new("cuda-toolkit-12-5", "12.5.1-1", "amd64"),
        DebSpec::new("cuda-keyring", "1.1-1", "all"),
    ]
}

/// The packages `apt-get install cuda-toolkit-12-6` downloads, as file names.
pub fn cuda_closure() -> Vec<String> {
    [
        "cuda-toolkit-12-6_12.6.3-1_amd64.deb",
        "cuda-compiler-12-6_12.6.3-1_amd64.deb",
        "cuda-nvcc-12-6_12.6.77-1_amd64.deb",
        "cuda-libraries-12-6_12.6.3-1_amd64.deb",
        "cuda-toolkit-config-common_12.6.77-1_all.deb",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Container-toolkit-like packages: `nvidia-container-toolkit` closes over
/// `nvidia-container-toolkit-base`, `libnvidia-container-tools` and
/// `libnvidia-container1 1.17.3-1` (not `1.17.2-1`).
pub fn toolkit_packages() -> Vec<DebSpec> {
    vec![
        DebSpec::new("nvidia-container-toolkit", "1.17.3-1", "amd64").field(
            "Depends",
            "nvidia-container-toolkit-base (= 1.17.3-1), libnvidia-container-tools (>= 1.17.3-1), libnvidia-container-tools (<< 2.0.0)",
        ),
        DebSpec::new("nvidia-container-toolkit-base", "1.17.3-1", "amd64"),
        DebSpec::new("libnvidia-container-tools", "1.17.3-1", "amd64")
            .field("Depends", "libnvidia-container1 (>= 1.17.3-1)"),
        DebSpec::new("libnvidia-container1", "1.17.2-1", "amd64"),
        DebSpec::new("libnvidia-container1", "1.17.3-1", "amd64"),
    ]
}

/// The packages `apt-get install nvidia-container-toolkit` downloads, as file names.
pub fn toolkit_closure() -> Vec<String> {
    [
        "nvidia-container-toolkit_1.17.3-1_amd64.deb",
        "nvidia-container-toolkit-base_1.17.3-1_amd64.deb",
        "libnvidia-container-tools_1.17.3-1_amd64.deb",
        "libnvidia-container1_1.17.3-1_amd64.deb",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Generates an RSA-2048 sign+certify key for `uid` in a fresh GnuPG home; with
/// `sha1_binding` its self-signature is hashed with SHA-1 (checked with `gpg
/// --list-packets`). Exports the public key to `keyring`. Returns the fingerprint.
fn generate_rsa_key(
    home: &Path,
    uid: &str,
    sha1_binding: bool,
    keyring: &Path,
) -> anyhow::Result<String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(home)?;
    std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o700))?;
    let result = (|| {
        let mut args = vec!["--passphrase", "", "--pinentry-mode", "loopback"];
        if sha1_binding {
            args.extend(["--cert-digest-algo", "SHA1"]);
        }
        args.extend(["--quick-gen-key", uid, "rsa2048", "sign,cert", "never"]);
        gpg(home, &args)?;
        let colons =
            String::from_utf8_lossy(&gpg(home, &["--with-colons", "--list-keys"])?).into_owned();
        let fpr = colons
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .map(str::to_owned)
            .context("gpg listed no fingerprint")?;
        let public = gpg(home, &["--export", &fpr])?;
        std::fs::write(keyring, &public)?;
        // The self-signature's hash algorithm (2 = SHA-1, 8 = SHA-256, RFC 9580 §9.5).
        let packets =
            String::from_utf8_lossy(&gpg(home, &["--list-packets", &keyring.to_string_lossy()])?)
                .into_owned();
        let sha1 = packets.contains("digest algo 2,");
        if sha1 != sha1_binding {
            bail!(
                "expected a self-signature {} SHA-1, gpg wrote:\n{packets}",
                if sha1_binding { "with" } else { "without" }
            );
        }
        Ok(fpr)
    })();
    stop_gpg_agent(home);
    result.with_context(|| format!("generating the RSA key {uid:?}"))
}

/// Signs `file` with the key `fpr` in `home`, hash `digest`: a clear-signed copy to
/// `clear` and/or an armored detached signature to `detached`.
fn sign(
    home: &Path,
    fpr: &str,
    digest: &str,
    file: &Path,
    clear: Option<&Path>,
    detached: Option<&Path>,
) -> anyhow::Result<()> {
    let file_s = file.to_string_lossy().into_owned();
    let result = (|| -> anyhow::Result<()> {
        if let Some(out) = clear {
            let out = out.to_string_lossy().into_owned();
            gpg(
                home,
                &[
                    "--yes",
                    "--local-user",
                    fpr,
                    "--digest-algo",
                    digest,
                    "--clearsign",
                    "--output",
                    &out,
                    &file_s,
                ],
            )?;
        }
        if let Some(out) = detached {
            let out = out.to_string_lossy().into_owned();
            gpg(
                home,
                &[
                    "--yes",
                    "--local-user",
                    fpr,
                    "--digest-algo",
                    digest,
                    "--armor",
                    "--detach-sign",
                    "--output",
                    &out,
                    &file_s,
                ],
            )?;
        }
        Ok(())
    })();
    stop_gpg_agent(home);
    result.with_context(|| format!("signing {}", file.display()))
}

fn gzip_to(plain: &Path, out: &Path) -> anyhow::Result<()> {
    let gz = run_checked(Command::new("gzip").args(["-9", "-n", "-c"]).arg(plain))?;
    std::fs::write(out, gz)?;
    Ok(())
}

/// Builds both repositories under `dir` (module docs); serve [`NvidiaApt::root`].
///
/// Errors: a tool is missing or fails, or its output lacks a property the fixture
/// promises (all four hashes and `./` file names for CUDA; SHA512 only, the 2018 date
/// and a SHA-1 self-signature for the toolkit).
pub fn build_nvidia_apt(dir: &Path) -> anyhow::Result<NvidiaApt> {
    let root = dir.join("www");
    let cuda = build_cuda(dir, &root)?;
    let toolkit = build_toolkit(dir, &root)?;
    Ok(NvidiaApt {
        root,
        cuda,
        toolkit,
    })
}

fn build_debs(specs: &[DebSpec], into: &Path) -> anyhow::Result<()> {
    for spec in specs {
        let scratch = tempfile::Builder::new().prefix("nvdeb-").tempdir()?;
        let built = build_deb(spec, scratch.path())?;
        std::fs::copy(&built, into.join(spec.file_name()))?;
    }
    Ok(())
}

fn build_cuda(dir: &Path, root: &Path) -> anyhow::Result<FlatRepo> {
    let repo = root.join(CUDA_PATH);
    std::fs::create_dir_all(&repo)?;
    let home = dir.join("gnupg-cuda");
    let keyring = dir.join("cuda-archive-keyring.gpg");
    let fpr = generate_rsa_key(
        &home,
        "CUDA-like Test Repository <cuda@example.invalid>",
        false,
        &keyring,
    )?;
    let packages = cuda_packages();
    build_debs(&packages, &repo)?;
    let index = run_checked(
        Command::new("apt-ftparchive")
            .args(["packages", "."])
            .current_dir(&repo),
    )
    .context("apt-ftparchive packages (CUDA-like)")?;
    let text = String::from_utf8_lossy(&index).into_owned();
    for field in ["Filename: ./", "MD5sum: ", "SHA1: ", "SHA256: ", "SHA512: "] {
        if !text.contains(field) {
            bail!("the CUDA-like Packages lacks {field:?}:\n{text}");
        }
    }
    std::fs::write(repo.join("Packages"), &index)?;
    gzip_to(&repo.join("Packages"), &repo.join("Packages.gz"))?;
    let release = run_checked(
        Command::new("apt-ftparchive")
            .args([
                "-o",
                "APT::FTPArchive::Release::Origin=NVIDIA",
                "-o",
                "APT::FTPArchive::Release::Label=NVIDIA CUDA",
                "-o",
                "APT::FTPArchive::Release::Architectures=x86_64",
                "release",
                ".",
            ])
            .current_dir(&repo),
    )
    .context("apt-ftparchive release (CUDA-like)")?;
    let rtext = String::from_utf8_lossy(&release).into_owned();
    for field in ["MD5Sum:", "SHA1:", "SHA256:", "SHA512:"] {
        if !rtext.lines().any(|l| l.trim_end() == field) {
            bail!("the CUDA-like Release lacks {field}:\n{rtext}");
        }
    }
    let outside = dir.join("cuda-Release.new");
    std::fs::write(&outside, &release)?;
    std::fs::rename(&outside, repo.join("Release"))?;
    sign(
        &home,
        &fpr,
        "SHA256",
        &repo.join("Release"),
        Some(&repo.join("InRelease")),
        Some(&repo.join("Release.gpg")),
    )?;
    Ok(FlatRepo {
        dir: repo,
        url_path: CUDA_PATH,
        keyring,
        fingerprint: fpr,
        packages,
    })
}

fn build_toolkit(dir: &Path, root: &Path) -> anyhow::Result<FlatRepo> {
    let repo = root.join(TOOLKIT_PATH);
    std::fs::create_dir_all(&repo)?;
    let home = dir.join("gnupg-toolkit");
    let keyring = dir.join("nvidia-container-toolkit-keyring.gpg");
    let fpr = generate_rsa_key(
        &home,
        "Container-toolkit-like Test Repository (old key) <nct@example.invalid>",
        true,
        &keyring,
    )?;
    let packages = toolkit_packages();
    build_debs(&packages, &repo)?;
    let sha512_only = [
        "-o",
        "APT::FTPArchive::MD5=false",
        "-o",
        "APT::FTPArchive::SHA1=false",
        "-o",
        "APT::FTPArchive::SHA256=false",
        "-o",
        "APT::FTPArchive::SHA512=true",
    ];
    let index = run_checked(
        Command::new("apt-ftparchive")
            .args(sha512_only)
            .args(["packages", "."])
            .current_dir(&repo),
    )
    .context("apt-ftparchive packages (toolkit-like)")?;
    let text = String::from_utf8_lossy(&index).into_owned();
    if !text.contains("Filename: ./")
        || !text.contains("SHA512: ")
        || text.contains("SHA256: ")
        || text.contains("MD5sum: ")
    {
        bail!("the toolkit-like Packages must list SHA512 only:\n{text}");
    }
    std::fs::write(repo.join("Packages"), &index)?;
    gzip_to(&repo.join("Packages"), &repo.join("Packages.gz"))?;
    let release = run_checked(
        Command::new("apt-ftparchive")
            .args(sha512_only)
            .args([
                "-o",
                "APT::FTPArchive::Release::Origin=https://nvidia.github.io/libnvidia-container/stable",
                "-o",
                "APT::FTPArchive::Release::Label=NVIDIA CORPORATION (test fixture)",
                "-o",
                "APT::FTPArchive::Release::Codename=stable",
                "-o",
                "APT::FTPArchive::Release::Components=main",
                "-o",
                "APT::FTPArchive::Release::Architectures=amd64",
                "-o",
                "APT::FTPArchive::Release::Version=1.0",
                "-o",
                "APT::FTPArchive::Release::Description=NVIDIA container runtime library repository (test fixture)",
                "release",
                ".",
            ])
            .current_dir(&repo),
    )
    .context("apt-ftparchive release (toolkit-like)")?;
    // Freeze the Date in 2018, as NVIDIA's is.
    let mut lines: Vec<String> = Vec::new();
    let mut dated = false;
    for l in String::from_utf8_lossy(&release).lines() {
        if l.starts_with("Date:") {
            lines.push(format!("Date: {TOOLKIT_DATE}"));
            dated = true;
        } else {
            lines.push(l.to_owned());
        }
    }
    if !dated {
        bail!("apt-ftparchive wrote no Date line");
    }
    let rtext = lines.join("\n") + "\n";
    let has = |f: &str| rtext.lines().any(|l| l.trim_end() == f);
    if !has("SHA512:") || has("SHA256:") || has("SHA1:") || has("MD5Sum:") {
        bail!("the toolkit-like Release must list SHA512 only:\n{rtext}");
    }
    if rtext.contains("Valid-Until") {
        bail!("the toolkit-like Release must have no Valid-Until:\n{rtext}");
    }
    // InRelease only, as NVIDIA's (no Release / Release.gpg next to it).
    let unsigned = dir.join("toolkit-Release");
    std::fs::write(&unsigned, &rtext)?;
    sign(
        &home,
        &fpr,
        "SHA512",
        &unsigned,
        Some(&repo.join("InRelease")),
        None,
    )?;
    let inrelease = std::fs::read_to_string(repo.join("InRelease"))?;
    if !inrelease.contains("Hash: SHA512") || !inrelease.contains(TOOLKIT_DATE) {
        bail!("unexpected toolkit-like InRelease:\n{inrelease}");
    }
    Ok(FlatRepo {
        dir: repo,
        url_path: TOOLKIT_PATH,
        keyring,
        fingerprint: fpr,
        packages,
    })
}

// ---------------------------------------------------------------------------
// nvcr.io-style registry front
// ---------------------------------------------------------------------------

/// User name NGC expects with an API key.
pub const NGC_USER: &str = "$oauthtoken";

/// What the [`NgcRegistry`] front saw, for assertions.
#[derive(Debug, Default)]
pub struct NgcStats {
    /// `401` answers with a Bearer challenge to `/v2/…` requests.
    pub challenges: AtomicU64,
    /// Tokens issued (right API key).
    pub tokens_issued: AtomicU64,
    /// Token requests refused (missing or wrong credentials).
    pub tokens_refused: AtomicU64,
    /// `/v2/…` requests forwarded with a valid bearer token.
    pub authorized: AtomicU64,
}

struct Front {
    url: String,
    backend: String,
    api_key: String,
    tokens: Mutex<HashMap<String, HashSet<String>>>,
    counter: AtomicU64,
    stats: Arc<NgcStats>,
    client: reqwest::Client,
}

/// An nvcr.io-style authenticating front (module docs) for a [`Registry`] started
/// without auth. The server runs on its own tokio runtime; dropping stops it (and the
/// registry).
pub struct NgcRegistry {
    /// Base URL of the front, `http://127.0.0.1:PORT` (what `url =` points at).
    pub url: String,
    /// The API key it accepts (with user [`NGC_USER`]).
    pub api_key: String,
    /// The registry behind it (push seeds straight to it).
    pub registry: Registry,
    /// What the front saw.
    pub stats: Arc<NgcStats>,
    rt: Option<tokio::runtime::Runtime>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl NgcRegistry {
    /// Starts the front on 127.0.0.1:0 for `registry`, accepting `api_key`.
    ///
    /// Errors: the runtime, the listener or the HTTP client cannot be created.
    pub fn start(registry: Registry, api_key: &str) -> anyhow::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let url = format!("http://{}", listener.local_addr()?);
        let stats = Arc::new(NgcStats::default());
        let front = Arc::new(Front {
            url: url.clone(),
            backend: registry.url.clone(),
            api_key: api_key.to_owned(),
            tokens: Mutex::new(HashMap::new()),
            counter: AtomicU64::new(0),
            stats: stats.clone(),
            client: reqwest::Client::builder().no_proxy().build()?,
        });
        let app = axum::Router::new()
            .route("/proxy_auth", axum::routing::get(token))
            .fallback(forward)
            .with_state(front);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        rt.spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(NgcRegistry {
            url,
            api_key: api_key.to_owned(),
            registry,
            stats,
            rt: Some(rt),
            shutdown: Some(tx),
        })
    }

    /// `127.0.0.1:PORT` of the front.
    pub fn host(&self) -> &str {
        self.url.trim_start_matches("http://")
    }
}

impl Drop for NgcRegistry {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(std::time::Duration::from_secs(2));
        }
    }
}

fn json_error(
    status: StatusCode,
    code: &str,
    message: &str,
    challenge: Option<String>,
) -> Response {
    let body = serde_json::json!({"errors": [{"code": code, "message": message}]}).to_string();
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(c) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, c);
    }
    r
}

/// `GET /proxy_auth?scope=repository:<name>:pull[&service=…]`: an opaque token for the
/// named repositories, only with HTTP basic `$oauthtoken:<API key>`.
async fn token(
    State(front): State<Arc<Front>>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<Vec<(String, String)>>,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    if presented.as_deref() != Some(&format!("{NGC_USER}:{}", front.api_key)) {
        front.stats.tokens_refused.fetch_add(1, Ordering::Relaxed);
        return json_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "authentication required: user $oauthtoken and your NGC API key",
            Some("Basic realm=\"nvcr-like\"".to_owned()),
        );
    }
    let mut repos = HashSet::new();
    for (k, v) in &query {
        if k != "scope" {
            continue;
        }
        for scope in v.split(' ') {
            let mut parts = scope.splitn(3, ':');
            if let (Some("repository"), Some(name), Some(actions)) =
                (parts.next(), parts.next(), parts.next())
                && actions.split(',').any(|a| a == "pull")
            {
                repos.insert(name.to_owned());
            }
        }
    }
    let n = front.counter.fetch_add(1, Ordering::Relaxed);
    let token = hex::encode(Sha256::digest(format!(
        "{n}:{}:{:?}",
        front.api_key,
        std::time::SystemTime::now()
    )));
    if let Ok(mut t) = front.tokens.lock() {
        t.insert(token.clone(), repos);
    }
    front.stats.tokens_issued.fetch_add(1, Ordering::Relaxed);
    let body = serde_json::json!({"token": token, "expires_in": 300}).to_string();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The repository name of a distribution-spec path (`/v2/<name>/manifests/<ref>`,
/// `/blobs/`, `/tags/list`), or `None` for `/v2/` itself.
fn repo_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v2/")?;
    ["/manifests/", "/blobs/", "/tags/", "/referrers/"]
        .iter()
        .filter_map(|m| rest.rfind(m).map(|i| &rest[..i]))
        .max_by_key(|s| s.len())
        .map(str::to_owned)
}

/// Every other request: `/v2/…` with a valid bearer token is forwarded to the registry;
/// without one, `401` with nvcr.io's challenge (realm and scope, no service).
async fn forward(State(front): State<Arc<Front>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    if !path.starts_with("/v2/") {
        return json_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such endpoint", None);
    }
    let repo = repo_of(&path);
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let allowed = bearer.is_some_and(|t| {
        front.tokens.lock().is_ok_and(|tokens| {
            tokens
                .get(&t)
                .is_some_and(|repos| repo.as_ref().is_none_or(|r| repos.contains(r)))
        })
    });
    if !allowed {
        front.stats.challenges.fetch_add(1, Ordering::Relaxed);
        let challenge = match &repo {
            Some(r) => format!(
                "Bearer realm=\"{}/proxy_auth\",scope=\"repository:{r}:pull\"",
                front.url
            ),
            None => format!("Bearer realm=\"{}/proxy_auth\"", front.url),
        };
        return json_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "authentication required",
            Some(challenge),
        );
    }
    front.stats.authorized.fetch_add(1, Ordering::Relaxed);
    let target = format!(
        "{}{}",
        front.backend,
        req.uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or(&path)
    );
    let req_is_head = req.method() == axum::http::Method::HEAD;
    let Ok(method) = reqwest::Method::from_bytes(req.method().as_str().as_bytes()) else {
        return json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "method",
            None,
        );
    };
    let mut rb = front.client.request(method, &target);
    for name in [header::ACCEPT, header::RANGE] {
        if let Some(v) = req.headers().get(&name).and_then(|v| v.to_str().ok()) {
            rb = rb.header(name.as_str(), v);
        }
    }
    let upstream = match rb.send().await {
        Ok(r) => r,
        Err(e) => {
            return json_error(StatusCode::BAD_GATEWAY, "UNAVAILABLE", &e.to_string(), None);
        }
    };
    let status =
        StatusCode::from_u16(upstream.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut headers = HeaderMap::new();
    for (k, v) in upstream.headers() {
        let keep = matches!(
            k.as_str(),
            "content-type"
                | "docker-content-digest"
                | "content-range"
                | "link"
                | "etag"
                | "docker-distribution-api-version"
        );
        if keep
            && let (Ok(name), Ok(value)) = (
                header::HeaderName::from_bytes(k.as_str().as_bytes()),
                HeaderValue::from_bytes(v.as_bytes()),
            )
        {
            headers.insert(name, value);
        }
    }
    let head_length = (req_is_head)
        .then(|| {
            upstream
                .headers()
                .get(reqwest::header::CONTENT_LENGTH)
                .cloned()
        })
        .flatten();
    let body = match upstream.bytes().await {
        Ok(b) => b,
        Err(e) => {
            return json_error(StatusCode::BAD_GATEWAY, "UNAVAILABLE", &e.to_string(), None);
        }
    };
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    if let Some(v) = head_length.and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok()) {
        // A HEAD answer carries the length of the body it describes.
        r.headers_mut().insert(header::CONTENT_LENGTH, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_of_paths() {
        assert_eq!(repo_of("/v2/"), None);
        assert_eq!(
            repo_of("/v2/nvidia/cuda/manifests/12.6.0-base-ubuntu24.04").as_deref(),
            Some("nvidia/cuda")
        );
        assert_eq!(
            repo_of("/v2/nvidia/cuda/blobs/sha256:ab").as_deref(),
            Some("nvidia/cuda")
        );
        assert_eq!(
            repo_of("/v2/nvidia/k8s/device-plugin/tags/list").as_deref(),
            Some("nvidia/k8s/device-plugin")
        );
    }

    #[test]
    fn closures_name_packages_of_the_fixture() {
        let files: HashSet<String> = cuda_packages().iter().map(DebSpec::file_name).collect();
        assert!(cuda_closure().iter().all(|f| files.contains(f)));
        let files: HashSet<String> = toolkit_packages().iter().map(DebSpec::file_name).collect();
        assert!(toolkit_closure().iter().all(|f| files.contains(f)));
    }
}
