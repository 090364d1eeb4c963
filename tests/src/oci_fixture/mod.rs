//! OCI upstream fixtures: a real CNCF distribution registry (Debian's `docker-registry`,
//! distribution 2.8) on `127.0.0.1`, optionally behind token authentication served by a
//! small in-test token server; OCI image layouts written byte-for-byte by this module
//! (deterministic tar + gzip layers, config and manifest JSON), pushed with `skopeo`; an
//! OCI 1.1 referrer and cosign-style signatures pushed with plain HTTP (`curl`).
//!
//! Specs followed: OCI image-spec v1.1 (§image-layout, §manifest, §image-index,
//! §descriptor, §config), OCI distribution-spec v1.1 (§push: POST+PUT blob upload,
//! manifest PUT; §referrers "tag schema" fallback `sha256-<hex>`), Docker token
//! authentication (distribution `docs/spec/auth/token.md`, `jwt.md`), and cosign's
//! simple-signing signature layout (`sha256-<hex>.sig` tag, layer
//! `application/vnd.dev.cosign.simplesigning.v1+json`, annotation
//! `dev.cosignproject.cosign/signature`).
//!
//! The token server is in `token` ([`TokenAuth`], [`TokenServer`]); keys, cosign
//! signatures and referrers in `signing` ([`generate_p256_keypair`], [`cosign_sign`],
//! [`push_referrer`]); both re-exported here.
//!
//! Everything here is TEST-ONLY and panics are acceptable only in test code that calls
//! it; functions return `anyhow::Result` with messages naming the failed command.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::{Output, run_checked, run_command, scrub_client_env};

mod signing;
mod token;
pub use signing::{
    KeyPair, cosign_sign, cosign_sign_naming, generate_p256_keypair, openssl_sign, push_referrer,
};
pub use token::{TokenAuth, TokenServer};

/// OCI image manifest media type (image-spec §manifest).
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type (image-spec §image-index).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config media type (image-spec §config).
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// gzip-compressed tar layer (image-spec §layer).
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The empty descriptor's media type (image-spec v1.1 §guidelines for artifact usage).
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// cosign's simple-signing payload media type.
pub const COSIGN_SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// cosign's signature annotation key (value: base64 of the DER ECDSA signature).
pub const COSIGN_SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Artifact type of the OCI 1.1 referrer the fixtures push (a made-up SBOM type).
pub const SBOM_ARTIFACT_TYPE: &str = "application/vnd.example.sbom.v1+json";
/// The layout annotation naming a tag (image-spec §image-layout index.json).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// How long a registry may take to answer its first `GET /v2/`.
pub const REGISTRY_START_TIMEOUT: Duration = Duration::from_secs(30);

/// `"sha256:<lowercase hex>"` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The cosign signature tag for an image digest: `sha256:<hex>` -> `sha256-<hex>.sig`.
pub fn cosign_sig_tag(digest: &str) -> String {
    format!("{}.sig", digest.replacen(':', "-", 1))
}

/// The referrers fallback tag (distribution-spec v1.1 §referrers tag schema):
/// `sha256:<hex>` -> `sha256-<hex>`.
pub fn referrers_fallback_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

/// A content descriptor (image-spec §descriptor): media type, `sha256:` digest, size in
/// bytes, and optional platform / artifact type / annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// `sha256:<hex>` of the content.
    pub digest: String,
    /// Size of the content in bytes.
    pub size: u64,
    /// `(os, architecture)` for index entries.
    pub platform: Option<(String, String)>,
    /// `artifactType` for artifact manifests in a referrers index.
    pub artifact_type: Option<String>,
    /// Annotations (sorted, so the JSON is deterministic).
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// The descriptor of `bytes` with `media_type`.
    pub fn of(media_type: &str, bytes: &[u8]) -> Self {
        Descriptor {
            media_type: media_type.to_owned(),
            digest: sha256_digest(bytes),
            size: bytes.len() as u64,
            platform: None,
            artifact_type: None,
            annotations: BTreeMap::new(),
        }
    }

    /// JSON form with the spec's field names (`mediaType`, `digest`, `size`, ...).
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        });
        if let Some((os, arch)) = &self.platform {
            v["platform"] = json!({"architecture": arch, "os": os});
        }
        if let Some(t) = &self.artifact_type {
            v["artifactType"] = json!(t);
        }
        if !self.annotations.is_empty() {
            v["annotations"] = json!(self.annotations);
        }
        v
    }

    /// The hex part of the digest.
    pub fn hex(&self) -> &str {
        self.digest.strip_prefix("sha256:").unwrap_or(&self.digest)
    }
}

/// Serialises JSON compactly (the bytes that get hashed and pushed).
fn to_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// A deterministic gzip-compressed tar layer: `files` are `(path, contents)`, regular
/// files, mode 0644, uid/gid 0, mtime 0; gzip header mtime 0, no file name.
///
/// Returns `(compressed bytes, diff_id)` where diff_id is the `sha256:` of the
/// uncompressed tar (image-spec §config `rootfs.diff_ids`).
pub fn layer_tar_gz(files: &[(&str, &[u8])]) -> anyhow::Result<(Vec<u8>, String)> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.mode(tar::HeaderMode::Deterministic);
    for (path, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut h, path, *data)
            .with_context(|| format!("adding {path} to a layer tar"))?;
    }
    let tar_bytes = builder.into_inner().context("finishing the layer tar")?;
    let diff_id = sha256_digest(&tar_bytes);
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar_bytes)?;
    Ok((gz.finish()?, diff_id))
}

/// One image manifest written to a layout, with what went into it.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    /// Descriptor of the manifest (media type [`OCI_MANIFEST`]).
    pub manifest: Descriptor,
    /// Exact manifest bytes.
    pub manifest_bytes: Vec<u8>,
    /// Descriptor of the config blob.
    pub config: Descriptor,
    /// Descriptors of the layers, in order.
    pub layers: Vec<Descriptor>,
}

/// One image index written to a layout, with its children.
#[derive(Debug, Clone)]
pub struct BuiltIndex {
    /// Descriptor of the index (media type [`OCI_INDEX`]).
    pub index: Descriptor,
    /// Exact index bytes.
    pub index_bytes: Vec<u8>,
    /// `("linux/amd64", image)` for each child, in index order.
    pub children: Vec<(String, BuiltImage)>,
    /// The layer every child shares (to test blob deduplication).
    pub shared_layer: Descriptor,
}

/// An OCI image layout directory (image-spec §image-layout): `oci-layout`,
/// `blobs/sha256/<hex>` and `index.json` with one entry per tag, named by the
/// [`REF_NAME`] annotation (what `skopeo copy oci:DIR:TAG` looks up).
#[derive(Debug)]
pub struct OciLayout {
    /// The layout's root directory.
    pub dir: PathBuf,
    tags: Vec<(String, Descriptor)>,
}

impl OciLayout {
    /// Creates (or reuses) `dir` as an empty layout: writes `oci-layout` and an empty
    /// `index.json`.
    ///
    /// Errors: the directory or files cannot be written.
    pub fn create(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir.join("blobs/sha256"))
            .with_context(|| format!("creating layout {}", dir.display()))?;
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        let layout = OciLayout {
            dir: dir.to_path_buf(),
            tags: Vec::new(),
        };
        layout.write_index()?;
        Ok(layout)
    }

    /// Stores `bytes` as a blob and returns its descriptor with `media_type`.
    ///
    /// Errors: the blob cannot be written.
    pub fn add_blob(&mut self, media_type: &str, bytes: &[u8]) -> anyhow::Result<Descriptor> {
        let d = Descriptor::of(media_type, bytes);
        let path = self.dir.join("blobs/sha256").join(d.hex());
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        Ok(d)
    }

    /// Names `desc` `tag` in `index.json` (replacing an older entry of that name).
    ///
    /// Errors: `index.json` cannot be written.
    pub fn tag(&mut self, tag: &str, desc: &Descriptor) -> anyhow::Result<()> {
        self.tags.retain(|(t, _)| t != tag);
        self.tags.push((tag.to_owned(), desc.clone()));
        self.write_index()
    }

    fn write_index(&self) -> anyhow::Result<()> {
        let manifests: Vec<Value> = self
            .tags
            .iter()
            .map(|(t, d)| {
                let mut d = d.clone();
                d.platform = None;
                d.annotations.insert(REF_NAME.to_owned(), t.clone());
                d.to_json()
            })
            .collect();
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
        std::fs::write(self.dir.join("index.json"), to_bytes(&index))?;
        Ok(())
    }

    /// Writes a single-platform image (config + the given layers, each a list of
    /// `(path, contents)` files) and returns it. Nothing is tagged.
    ///
    /// Errors: a blob cannot be written.
    pub fn write_image(
        &mut self,
        os: &str,
        arch: &str,
        layers: &[Vec<(&str, &[u8])>],
    ) -> anyhow::Result<BuiltImage> {
        let mut descs = Vec::new();
        let mut diff_ids = Vec::new();
        for files in layers {
            let (gz, diff_id) = layer_tar_gz(files)?;
            descs.push(self.add_blob(OCI_LAYER_GZIP, &gz)?);
            diff_ids.push(diff_id);
        }
        self.write_image_from_layers(os, arch, descs, diff_ids)
    }

    fn write_image_from_layers(
        &mut self,
        os: &str,
        arch: &str,
        layers: Vec<Descriptor>,
        diff_ids: Vec<String>,
    ) -> anyhow::Result<BuiltImage> {
        let config = json!({
            "architecture": arch,
            "os": os,
            "config": {"Cmd": ["/hello"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": diff_ids.iter().map(|_| json!({"created_by": "mirror-e2e fixture"})).collect::<Vec<_>>(),
        });
        let config = self.add_blob(OCI_CONFIG, &to_bytes(&config))?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config.to_json(),
            "layers": layers.iter().map(Descriptor::to_json).collect::<Vec<_>>(),
        });
        let manifest_bytes = to_bytes(&manifest);
        let manifest = self.add_blob(OCI_MANIFEST, &manifest_bytes)?;
        Ok(BuiltImage {
            manifest,
            manifest_bytes,
            config,
            layers,
        })
    }

    /// A one-layer linux/amd64 image whose single file `/hello` contains `content`,
    /// tagged `tag`.
    ///
    /// Errors: a blob or `index.json` cannot be written.
    pub fn single_image(&mut self, tag: &str, content: &str) -> anyhow::Result<BuiltImage> {
        let img = self.write_image("linux", "amd64", &[vec![("hello", content.as_bytes())]])?;
        self.tag(tag, &img.manifest)?;
        Ok(img)
    }

    /// A two-platform index (linux/amd64 + linux/arm64) tagged `tag`. Each child has two
    /// layers: one SHARED by both children (same bytes, same digest) and one of its own.
    ///
    /// Errors: a blob or `index.json` cannot be written.
    pub fn multi_platform_index(&mut self, tag: &str, seed: &str) -> anyhow::Result<BuiltIndex> {
        let shared_text = format!("shared base layer {seed}\n").repeat(64);
        let (shared_gz, shared_diff) = layer_tar_gz(&[("base.txt", shared_text.as_bytes())])?;
        let shared_layer = self.add_blob(OCI_LAYER_GZIP, &shared_gz)?;
        let mut children = Vec::new();
        for arch in ["amd64", "arm64"] {
            let own = format!("binary for linux/{arch} {seed}\n");
            let (gz, diff) = layer_tar_gz(&[("hello", own.as_bytes())])?;
            let own_layer = self.add_blob(OCI_LAYER_GZIP, &gz)?;
            let mut img = self.write_image_from_layers(
                "linux",
                arch,
                vec![shared_layer.clone(), own_layer],
                vec![shared_diff.clone(), diff],
            )?;
            img.manifest.platform = Some(("linux".to_owned(), arch.to_owned()));
            children.push((format!("linux/{arch}"), img));
        }
        let index = json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": children.iter().map(|(_, c)| c.manifest.to_json()).collect::<Vec<_>>(),
        });
        let index_bytes = to_bytes(&index);
        let index = self.add_blob(OCI_INDEX, &index_bytes)?;
        self.tag(tag, &index)?;
        Ok(BuiltIndex {
            index,
            index_bytes,
            children,
            shared_layer,
        })
    }
}

/// An OCI 1.1 artifact manifest (image-spec v1.1 §manifest `artifactType`, `subject`)
/// with the empty config and one layer of [`SBOM_ARTIFACT_TYPE`] holding `body`.
///
/// Returns `(manifest bytes, [(media type, blob bytes)] for config and layer)`.
pub fn referrer_manifest(subject: &Descriptor, body: &[u8]) -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    let empty = b"{}".to_vec();
    let config = Descriptor::of(OCI_EMPTY, &empty);
    let layer = Descriptor::of(SBOM_ARTIFACT_TYPE, body);
    let mut subject = subject.clone();
    subject.platform = None;
    subject.annotations.clear();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SBOM_ARTIFACT_TYPE,
        "config": config.to_json(),
        "layers": [layer.to_json()],
        "subject": subject.to_json(),
        "annotations": {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"},
    });
    (
        to_bytes(&manifest),
        vec![
            (OCI_EMPTY.to_owned(), empty),
            (SBOM_ARTIFACT_TYPE.to_owned(), body.to_vec()),
        ],
    )
}

/// The simple-signing payload cosign signs (containers/image "simple signing" with
/// cosign's type string): names `docker_reference` (`HOST/repo`) and `manifest_digest`.
pub fn simple_signing_payload(docker_reference: &str, manifest_digest: &str) -> Vec<u8> {
    to_bytes(&json!({
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": manifest_digest},
            "type": "cosign container image signature",
        },
        "optional": null,
    }))
}

/// `skopeo` with proxies scrubbed and `--insecure-policy` (the machine's
/// `policy.json` is not the test's business).
pub fn skopeo() -> Command {
    let mut cmd = Command::new("skopeo");
    scrub_client_env(&mut cmd);
    cmd.arg("--insecure-policy");
    cmd
}

/// `skopeo copy --all --dest-tls-verify=false oci:LAYOUT:TAG docker://HOST/DEST` with
/// optional `--dest-creds user:password`.
///
/// Errors: skopeo cannot start or fails (its output is in the message).
pub fn skopeo_push(
    layout: &Path,
    tag: &str,
    dest: &str,
    creds: Option<&str>,
) -> anyhow::Result<()> {
    let mut cmd = skopeo();
    cmd.args(["copy", "--all", "--dest-tls-verify=false"]);
    if let Some(c) = creds {
        cmd.args(["--dest-creds", c]);
    }
    cmd.arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker://{dest}"));
    run_checked(&mut cmd)?;
    Ok(())
}

/// Finds a free TCP port on 127.0.0.1 (bind :0, read, release). Racy by nature; callers
/// retry on a failed start.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A plain HTTP/1.0 GET on 127.0.0.1 returning the status code, or `None` when nothing
/// answers. Used to wait for servers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The answer to one `curl` request: status, raw response headers, body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Response header block(s) as received.
    pub headers: String,
    /// Response body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The last value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
            .next_back()
    }
}

/// One HTTP request with `curl` (proxies off). `body` is sent from a temporary file.
///
/// Errors: curl cannot start or the transfer fails (not an HTTP error status).
pub fn curl_request(
    method: &str,
    url: &str,
    headers: &[String],
    body: Option<&[u8]>,
) -> anyhow::Result<HttpResponse> {
    let dir = tempfile::tempdir()?;
    let hdr = dir.path().join("headers");
    let out = dir.path().join("body");
    let mut cmd = Command::new("curl");
    scrub_client_env(&mut cmd);
    cmd.args(["-sS", "--noproxy", "*", "-X", method, "-D"])
        .arg(&hdr)
        .arg("-o")
        .arg(&out)
        .args(["-w", "%{http_code}"]);
    if method == "HEAD" {
        cmd.arg("-I");
    }
    for h in headers {
        cmd.arg("-H").arg(h);
    }
    if let Some(b) = body {
        let f = dir.path().join("upload");
        std::fs::write(&f, b)?;
        cmd.arg("--data-binary").arg(format!("@{}", f.display()));
    }
    cmd.arg(url);
    let stdout = run_checked(&mut cmd)?;
    let status = String::from_utf8_lossy(&stdout)
        .trim()
        .parse()
        .with_context(|| format!("curl {method} {url}: no status code"))?;
    Ok(HttpResponse {
        status,
        headers: std::fs::read_to_string(&hdr).unwrap_or_default(),
        body: std::fs::read(&out).unwrap_or_default(),
    })
}

/// A running `docker-registry serve` (CNCF distribution 2.8) on 127.0.0.1, with its
/// storage and configuration in a temporary directory; killed on drop.
pub struct Registry {
    /// Base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    /// `127.0.0.1:PORT`, the registry part of references.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Token authentication, when started with [`Registry::start_with_token_auth`].
    pub auth: Option<TokenAuth>,
    child: Child,
    dir: tempfile::TempDir,
}

impl Registry {
    /// Starts an anonymous registry (pull and push open to all).
    ///
    /// Errors: `docker-registry` is missing, exits, or does not answer `GET /v2/` within
    /// [`REGISTRY_START_TIMEOUT`] (its log is in the message).
    pub fn start() -> anyhow::Result<Self> {
        Self::start_inner(None)
    }

    /// Starts a registry behind distribution's token authentication (`auth: token:`):
    /// the realm is an in-test token server ([`TokenServer`]) that grants the scopes a
    /// client asks for when it presents HTTP basic credentials `user`/`password`, and
    /// refuses everyone else with 401. Tokens are RS256 JWTs with an `x5c` header whose
    /// certificate is the registry's `rootcertbundle`.
    ///
    /// Errors: as [`Registry::start`], or openssl fails to make the key and certificate.
    pub fn start_with_token_auth(user: &str, password: &str) -> anyhow::Result<Self> {
        let keydir = tempfile::Builder::new().prefix("oci-token-").tempdir()?;
        let auth = TokenAuth::new(keydir, user, password)?;
        Self::start_inner(Some(auth))
    }

    fn start_inner(auth: Option<TokenAuth>) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("oci-registry-").tempdir()?;
        let mut last_err = None;
        for _ in 0..3 {
            let port = free_port()?;
            let auth_yaml = match &auth {
                Some(a) => format!(
                    "auth:\n  token:\n    realm: {}/token\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    a.server.url,
                    a.service,
                    a.issuer,
                    a.cert.display()
                ),
                None => String::new(),
            };
            let config = format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  cache:\n    blobdescriptor: inmemory\nhttp:\n  addr: 127.0.0.1:{port}\n{auth_yaml}",
                dir.path().join("data").display()
            );
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config)?;
            let log_path = dir.path().join("registry.log");
            let log = std::fs::File::create(&log_path)?;
            let mut cmd = Command::new("docker-registry");
            cmd.arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(Stdio::from(log.try_clone()?))
                .stderr(Stdio::from(log));
            let mut child = cmd
                .spawn()
                .context("starting `docker-registry serve`; is docker-registry installed?")?;
            let deadline = Instant::now() + REGISTRY_START_TIMEOUT;
            let mut up = false;
            while Instant::now() < deadline {
                if http_status(port, "/v2/").is_some() {
                    up = true;
                    break;
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if up {
                return Ok(Registry {
                    url: format!("http://127.0.0.1:{port}"),
                    host: format!("127.0.0.1:{port}"),
                    port,
                    auth,
                    child,
                    dir,
                });
            }
            let _ = child.kill();
            let _ = child.wait();
            last_err = Some(std::fs::read_to_string(&log_path).unwrap_or_default());
        }
        bail!(
            "docker-registry did not answer GET /v2/ on 127.0.0.1 within {:?} (3 tries); log:\n{}",
            REGISTRY_START_TIMEOUT,
            last_err.unwrap_or_default()
        )
    }

    /// The registry's log so far (stdout and stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// `user:password` for skopeo's `--creds`, when the registry has token auth.
    pub fn creds(&self) -> Option<String> {
        self.auth
            .as_ref()
            .map(|a| format!("{}:{}", a.user, a.password))
    }

    /// Headers that authorise a push/pull on `repo`: a freshly minted bearer token with
    /// `pull,push` when the registry has token auth, none otherwise.
    fn auth_headers(&self, repo: &str) -> anyhow::Result<Vec<String>> {
        match &self.auth {
            Some(a) => {
                let token = a.mint(&a.user, &[("repository", repo, &["pull", "push"])])?;
                Ok(vec![format!("Authorization: Bearer {token}")])
            }
            None => Ok(Vec::new()),
        }
    }

    /// Uploads `bytes` as a blob of `repo` (distribution-spec §push: `POST
    /// /v2/<repo>/blobs/uploads/` then `PUT <location>&digest=`). Returns its digest.
    ///
    /// Errors: the registry does not answer 202 then 201.
    pub fn push_blob(&self, repo: &str, bytes: &[u8]) -> anyhow::Result<String> {
        let digest = sha256_digest(bytes);
        let auth = self.auth_headers(repo)?;
        let start = curl_request(
            "POST",
            &format!("{}/v2/{repo}/blobs/uploads/", self.url),
            &auth,
            None,
        )?;
        if start.status != 202 {
            bail!(
                "starting a blob upload to {repo}: HTTP {} {}",
                start.status,
                String::from_utf8_lossy(&start.body)
            );
        }
        let location = start
            .header("Location")
            .context("blob upload answered 202 without Location")?;
        let location = if location.starts_with('/') {
            format!("{}{location}", self.url)
        } else {
            location
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let mut headers = auth;
        headers.push("Content-Type: application/octet-stream".to_owned());
        let done = curl_request(
            "PUT",
            &format!("{location}{sep}digest={digest}"),
            &headers,
            Some(bytes),
        )?;
        if done.status != 201 {
            bail!(
                "finishing the blob upload of {digest} to {repo}: HTTP {} {}",
                done.status,
                String::from_utf8_lossy(&done.body)
            );
        }
        Ok(digest)
    }

    /// `PUT /v2/<repo>/manifests/<reference>` with `Content-Type: media_type`.
    ///
    /// Errors: the registry does not answer 201.
    pub fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> anyhow::Result<()> {
        let mut headers = self.auth_headers(repo)?;
        headers.push(format!("Content-Type: {media_type}"));
        let r = curl_request(
            "PUT",
            &format!("{}/v2/{repo}/manifests/{reference}", self.url),
            &headers,
            Some(bytes),
        )?;
        if r.status != 201 {
            bail!(
                "pushing manifest {repo}:{reference}: HTTP {} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
        }
        Ok(())
    }

    /// `GET /v2/<repo>/manifests/<reference>` accepting OCI and Docker manifest and
    /// index types (authorised when the registry has token auth).
    ///
    /// Errors: curl fails to run (HTTP errors are in the returned status).
    pub fn get_manifest(&self, repo: &str, reference: &str) -> anyhow::Result<HttpResponse> {
        let mut headers = self.auth_headers(repo)?;
        headers.push(format!(
            "Accept: {OCI_MANIFEST}, {OCI_INDEX}, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json"
        ));
        curl_request(
            "GET",
            &format!("{}/v2/{repo}/manifests/{reference}", self.url),
            &headers,
            None,
        )
    }

    /// `docker://HOST/repo:tag_or_@digest` for skopeo.
    pub fn docker_ref(&self, repo_and_ref: &str) -> String {
        format!("docker://{}/{repo_and_ref}", self.host)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What [`seed_registry`] pushed, with the exact bytes and digests.
#[derive(Debug, Clone)]
pub struct Seeded {
    /// `team/app:1.0`, a single-platform linux/amd64 image.
    pub app: BuiltImage,
    /// `team/multi:2.0`, the two-platform index.
    pub multi: BuiltIndex,
    /// `team/withref:1.0`, an image that has an OCI 1.1 referrer.
    pub withref: BuiltImage,
    /// The referrer of `withref` (artifactType [`SBOM_ARTIFACT_TYPE`]).
    pub referrer: Descriptor,
    /// The layout directory the images were pushed from.
    pub layout: PathBuf,
}

/// Builds the standard test images into an OCI layout under `work` and pushes them to
/// `registry` with `skopeo copy --all` (plus `--dest-creds` when the registry has token
/// auth): `team/app:1.0`, `team/multi:2.0`, `team/withref:1.0` and its referrer
/// (pushed by digest and listed under the `sha256-<hex>` fallback tag).
///
/// Errors: writing the layout, skopeo or a registry request fails.
pub fn seed_registry(registry: &Registry, work: &Path) -> anyhow::Result<Seeded> {
    let layout_dir = work.join("oci-layout");
    let mut layout = OciLayout::create(&layout_dir)?;
    let app = layout.single_image("app-1.0", "hello from team/app 1.0\n")?;
    let multi = layout.multi_platform_index("multi-2.0", "team/multi 2.0")?;
    let withref = layout.single_image("withref-1.0", "hello from team/withref 1.0\n")?;
    let creds = registry.creds();
    for (tag, dest) in [
        ("app-1.0", "team/app:1.0"),
        ("multi-2.0", "team/multi:2.0"),
        ("withref-1.0", "team/withref:1.0"),
    ] {
        skopeo_push(
            &layout_dir,
            tag,
            &format!("{}/{dest}", registry.host),
            creds.as_deref(),
        )?;
    }
    let referrer = push_referrer(
        registry,
        "team/withref",
        &withref.manifest,
        br#"{"sbom":"mirror-e2e fixture"}"#,
    )?;
    Ok(Seeded {
        app,
        multi,
        withref,
        referrer,
        layout: layout_dir,
    })
}

/// `skopeo inspect [--raw] --tls-verify=false docker://...` with optional `--creds`.
///
/// Errors: skopeo cannot be started (a failed inspect is in the returned [`Output`]).
pub fn skopeo_inspect(reference: &str, raw: bool, creds: Option<&str>) -> anyhow::Result<Output> {
    let mut cmd = skopeo();
    cmd.args(["inspect", "--tls-verify=false"]);
    if raw {
        cmd.arg("--raw");
    }
    if let Some(c) = creds {
        cmd.args(["--creds", c]);
    }
    cmd.arg(reference);
    run_command(&mut cmd)
}

#[cfg(test)]
mod tests {
    use super::token::{parse_scopes, percent_decode};
    use super::*;

    #[test]
    fn layers_are_deterministic() {
        let a = layer_tar_gz(&[("x", b"1")]).unwrap();
        let b = layer_tar_gz(&[("x", b"1")]).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.0, layer_tar_gz(&[("x", b"2")]).unwrap().0);
    }

    #[test]
    fn tags_and_scopes() {
        let d = "sha256:abcd";
        assert_eq!(cosign_sig_tag(d), "sha256-abcd.sig");
        assert_eq!(referrers_fallback_tag(d), "sha256-abcd");
        let s = parse_scopes("service=x&scope=repository%3Ateam%2Fapp%3Apull%2Cpush");
        assert_eq!(
            s,
            vec![json!({"type":"repository","name":"team/app","actions":["pull","push"]})]
        );
        assert_eq!(percent_decode("a%20b+c%zz"), "a b c%zz");
    }
}
