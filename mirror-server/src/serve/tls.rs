//! TLS for `mirror-server serve` (TLS 1.2 and 1.3, RFC 8446, with rustls and its
//! aws-lc-rs provider, the one reqwest already brings in).
//!
//! - **Files**: a PEM certificate chain (`--tls-cert`, leaf first, then intermediates;
//!   RFC 7468 `CERTIFICATE` blocks) and its PEM private key (`--tls-key`: PKCS #8
//!   `PRIVATE KEY`, PKCS #1 `RSA PRIVATE KEY` or SEC1 `EC PRIVATE KEY`). [`Tls::load`]
//!   refuses a file that is missing, unreadable or not PEM, a key that does not match the
//!   leaf certificate's public key, and a key file that other users can read or write
//!   (mode `o+r` / `o+w`; `chmod 600` or `640` with the server's group fixes it).
//! - **ALPN** (RFC 7301): the server offers `h2` then `http/1.1`; [`negotiated_h2`] tells
//!   the connection task which HTTP version to speak (RFC 9113 §3.2 for `h2` over TLS,
//!   RFC 9112 otherwise). A client that offers no ALPN gets HTTP/1.1.
//! - **Reload** ([`Tls::reload`], called on `SIGHUP`): the files are read and checked
//!   again; on success, new handshakes use the new certificate (connections already open
//!   keep theirs); on failure the old certificate stays and the reason is logged.
//! - **Client certificates** (mTLS, `--tls-client-ca`): when set, a client must present a
//!   certificate chaining to one of the CA certificates of that PEM file (RFC 8446 §4.3.2,
//!   §4.4.2, checked by webpki with the `clientAuth` extended key usage); the handshake
//!   of any other client fails, so it is never served.
//!
//! Everything is read at load time: the serving threads never touch the files.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context as _, bail};
use sha2::Digest as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;

/// ALPN protocol id of HTTP/2 over TLS (RFC 9113 §3.2).
pub const ALPN_H2: &[u8] = b"h2";
/// ALPN protocol id of HTTP/1.1 (RFC 7301 §6).
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// How long a client may take to complete the TLS handshake after connecting; a client
/// that stalls longer is disconnected.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest certificate, key or CA file read (a chain of a few certificates is a few KiB).
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// Where `serve` reads its TLS files from (`--tls-cert`, `--tls-key`, `--tls-client-ca`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM certificate chain: the server's certificate first, then any intermediates.
    pub cert: PathBuf,
    /// PEM private key of the first certificate (PKCS #8, PKCS #1 or SEC1), readable by
    /// the server's user only (or its group).
    pub key: PathBuf,
    /// PEM file of the CA certificates client certificates must chain to (mTLS); `None`
    /// serves every client.
    pub client_ca: Option<PathBuf>,
}

/// What a loaded certificate is, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// SHA-256 of the leaf certificate's DER, lower-case hex (what
    /// `openssl x509 -noout -fingerprint -sha256` prints, without the colons).
    pub sha256: String,
    /// Certificates in the chain (leaf included).
    pub chain_len: usize,
    /// True when client certificates are required.
    pub client_auth: bool,
    /// The leaf certificate's notBefore and notAfter (RFC 5280 §4.1.2.5), seconds since
    /// the Unix epoch; `None` when the certificate cannot be parsed as X.509 (rustls
    /// still serves it; clients decide).
    pub validity: Option<(u64, u64)>,
}

impl CertInfo {
    /// Logs the certificate's validity: a warning when it is expired or not yet valid
    /// (clients will refuse it), or expires within 14 days.
    fn log_validity(&self, cert: &Path) {
        let Some((not_before, not_after)) = self.validity else {
            return;
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let at = |t: u64| {
            chrono::DateTime::from_timestamp(i64::try_from(t).unwrap_or(i64::MAX), 0)
                .map_or_else(|| t.to_string(), |d| d.to_rfc3339())
        };
        if now > not_after {
            tracing::warn!(cert = %cert.display(), not_after = %at(not_after), "TLS certificate has expired: clients will refuse it; renew it and send SIGHUP");
        } else if now < not_before {
            tracing::warn!(cert = %cert.display(), not_before = %at(not_before), "TLS certificate is not valid yet: clients will refuse it until then (check the clock)");
        } else if not_after - now < 14 * 24 * 3600 {
            tracing::warn!(cert = %cert.display(), not_after = %at(not_after), "TLS certificate expires within 14 days; renew it and send SIGHUP");
        }
    }
}

/// notBefore and notAfter of the X.509 certificate `der`, in Unix seconds.
fn validity(der: &[u8]) -> Option<(u64, u64)> {
    use x509_cert::der::Decode as _;
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    let v = cert.tbs_certificate().validity();
    Some((
        v.not_before.to_unix_duration().as_secs(),
        v.not_after.to_unix_duration().as_secs(),
    ))
}

/// A reloadable TLS acceptor: the current rustls server configuration, swapped as a whole
/// by [`Tls::reload`].
#[derive(Debug)]
pub struct Tls {
    settings: TlsSettings,
    current: RwLock<(Arc<rustls::ServerConfig>, CertInfo)>,
}

impl Tls {
    /// Reads and checks the files of `settings` and builds the acceptor.
    ///
    /// Errors (each names the file and what to do): a file is missing, unreadable, larger
    /// than 1 MiB or holds no PEM block of the expected kind; the key file can be read or
    /// written by other users; the key does not match the first certificate; the client
    /// CA file holds no usable CA certificate.
    pub fn load(settings: &TlsSettings) -> anyhow::Result<Arc<Tls>> {
        let (config, info) = build_config(settings)?;
        tracing::info!(
            cert = %settings.cert.display(),
            sha256 = %info.sha256,
            chain = info.chain_len,
            client_auth = info.client_auth,
            "TLS certificate loaded"
        );
        info.log_validity(&settings.cert);
        Ok(Arc::new(Tls {
            settings: settings.clone(),
            current: RwLock::new((config, info)),
        }))
    }

    /// The settings the files are read from.
    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    /// The certificate currently used for new handshakes.
    pub fn info(&self) -> CertInfo {
        self.read().1.clone()
    }

    /// The rustls configuration currently used for new handshakes.
    pub fn config(&self) -> Arc<rustls::ServerConfig> {
        self.read().0.clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, (Arc<rustls::ServerConfig>, CertInfo)> {
        match self.current.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Reads the files again (same checks as [`Tls::load`]). On success new handshakes use
    /// the new certificate, key and client CA; on error nothing changes. Either way the
    /// outcome is logged (info with the new certificate's SHA-256, or a warning with why).
    ///
    /// Errors: as [`Tls::load`].
    pub fn reload(&self) -> anyhow::Result<CertInfo> {
        match build_config(&self.settings) {
            Ok((config, info)) => {
                tracing::info!(
                    cert = %self.settings.cert.display(),
                    sha256 = %info.sha256,
                    chain = info.chain_len,
                    client_auth = info.client_auth,
                    "TLS certificate reloaded; new connections use it"
                );
                info.log_validity(&self.settings.cert);
                let mut g = match self.current.write() {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                *g = (config, info.clone());
                Ok(info)
            }
            Err(e) => {
                tracing::warn!(
                    error = %format!("{e:#}"),
                    sha256 = %self.info().sha256,
                    "TLS reload failed; still using the previous certificate"
                );
                Err(e)
            }
        }
    }

    /// Runs the server side of a TLS handshake on `io` (usually a `TcpStream`) with the
    /// current configuration, within [`HANDSHAKE_TIMEOUT`].
    ///
    /// Errors: the handshake fails (bad client hello, no common version or cipher suite,
    /// a client certificate missing or not chaining to the client CA when mTLS is on:
    /// kind `InvalidData` and friends from rustls), the peer closes, or it times out
    /// (kind `TimedOut`).
    pub async fn accept<IO>(&self, io: IO) -> io::Result<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.config());
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(io)).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "TLS handshake not completed within {} s",
                    HANDSHAKE_TIMEOUT.as_secs()
                ),
            )),
        }
    }
}

/// The ALPN protocol the handshake of `stream` settled on (`h2`, `http/1.1`), if any.
pub fn negotiated_alpn<IO>(stream: &TlsStream<IO>) -> Option<&[u8]> {
    stream.get_ref().1.alpn_protocol()
}

/// True when the handshake of `stream` negotiated HTTP/2 (ALPN `h2`); HTTP/1.1 otherwise.
pub fn negotiated_h2<IO>(stream: &TlsStream<IO>) -> bool {
    negotiated_alpn(stream) == Some(ALPN_H2)
}

/// The provider of every TLS object here: aws-lc-rs, the one rustls is built with in this
/// workspace (never the process default, so a second provider cannot change it).
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Reads `path` (`what` names it in errors: "TLS certificate", …), at most
/// [`MAX_PEM_BYTES`]; returns its bytes and the metadata of the file read.
fn read_pem_file(
    path: &Path,
    what: &str,
    flag: &str,
) -> anyhow::Result<(Vec<u8>, std::fs::Metadata)> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => anyhow::anyhow!(
            "{what} {} does not exist; give {flag} the path of a PEM file",
            path.display()
        ),
        io::ErrorKind::PermissionDenied => anyhow::anyhow!(
            "{what} {} cannot be read by this user ({e}); make it readable by the server's user (e.g. chown root:mirror, chmod 640)",
            path.display()
        ),
        _ => anyhow::anyhow!("cannot open {what} {}: {e}", path.display()),
    })?;
    let meta = file
        .metadata()
        .with_context(|| format!("cannot stat {what} {}", path.display()))?;
    if !meta.is_file() {
        bail!(
            "{what} {} is not a regular file; give {flag} a PEM file",
            path.display()
        );
    }
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        bail!(
            "{what} {} is larger than {MAX_PEM_BYTES} bytes: not a PEM file for {flag}",
            path.display()
        );
    }
    Ok((bytes, meta))
}

/// PEM `CERTIFICATE` blocks of `bytes` (RFC 7468 §5), in order.
fn pem_certs(
    bytes: &[u8],
    path: &Path,
    what: &str,
    flag: &str,
) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            anyhow::anyhow!(
                "{what} {} is not valid PEM: {e}; give {flag} a PEM file of -----BEGIN CERTIFICATE----- blocks",
                path.display()
            )
        })?;
    if certs.is_empty() {
        bail!(
            "{what} {} holds no PEM certificate (no -----BEGIN CERTIFICATE----- block); give {flag} a PEM file (convert DER with: openssl x509 -inform der -in FILE -out FILE.pem)",
            path.display()
        );
    }
    Ok(certs)
}

/// Refuses a private key file other users can read or write (mode bits `o+r`, `o+w`).
#[cfg(unix)]
fn check_key_mode(path: &Path, meta: &std::fs::Metadata) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o006 != 0 {
        bail!(
            "TLS private key {} is accessible to every user (mode {mode:04o}); restrict it: chmod 600 {} (or chmod 640 with the server's group)",
            path.display(),
            path.display()
        );
    }
    if mode & 0o040 != 0 {
        tracing::debug!(key = %path.display(), mode = %format!("{mode:04o}"), "TLS private key is group-readable");
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_key_mode(_path: &Path, _meta: &std::fs::Metadata) -> anyhow::Result<()> {
    Ok(())
}

/// Builds a rustls server configuration from the files of `s`: the checks of
/// [`Tls::load`], ALPN `h2` and `http/1.1`, TLS 1.2 and 1.3.
fn build_config(s: &TlsSettings) -> anyhow::Result<(Arc<rustls::ServerConfig>, CertInfo)> {
    let (cert_bytes, _) = read_pem_file(&s.cert, "TLS certificate", "--tls-cert")?;
    let chain = pem_certs(&cert_bytes, &s.cert, "TLS certificate", "--tls-cert")?;

    let (key_bytes, meta) = read_pem_file(&s.key, "TLS private key", "--tls-key")?;
    check_key_mode(&s.key, &meta)?;
    let key = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => anyhow::anyhow!(
            "TLS private key {} holds no PEM private key (expected -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY); give --tls-key the key of --tls-cert",
            s.key.display()
        ),
        e => anyhow::anyhow!(
            "TLS private key {} is not a valid PEM private key: {e}",
            s.key.display()
        ),
    })?;

    let provider = provider();
    let certified = rustls::sign::CertifiedKey::from_der(chain.clone(), key, &provider).map_err(
        |e| match e {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                anyhow::anyhow!(
                    "TLS private key {} does not match the certificate {} (their public keys differ); give the key the certificate was issued for",
                    s.key.display(),
                    s.cert.display()
                )
            }
            e => anyhow::anyhow!(
                "cannot use TLS private key {} with certificate {}: {e}",
                s.key.display(),
                s.cert.display()
            ),
        },
    )?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match &s.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let (bytes, _) = read_pem_file(ca, "TLS client CA file", "--tls-client-ca")?;
            let certs = pem_certs(&bytes, ca, "TLS client CA file", "--tls-client-ca")?;
            let mut roots = rustls::RootCertStore::empty();
            for (i, c) in certs.into_iter().enumerate() {
                roots.add(c).map_err(|e| {
                    anyhow::anyhow!(
                        "certificate {} of TLS client CA file {} cannot be a trust anchor: {e}",
                        i + 1,
                        ca.display()
                    )
                })?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot verify client certificates with {}: {e}",
                    ca.display()
                )
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config =
        builder.with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
    config.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_HTTP11.to_vec()];
    let info = CertInfo {
        sha256: hex::encode(sha2::Sha256::digest(chain[0].as_ref())),
        chain_len: chain.len(),
        client_auth: s.client_ca.is_some(),
        validity: validity(chain[0].as_ref()),
    };
    Ok((Arc::new(config), info))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &Path) -> TlsSettings {
        TlsSettings {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            client_ca: None,
        }
    }

    fn err(s: &TlsSettings) -> String {
        format!("{:#}", Tls::load(s).unwrap_err())
    }

    #[test]
    fn refuses_missing_and_non_pem_files() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(dir.path());
        let e = err(&s);
        assert!(e.contains("cert.pem does not exist"), "{e}");
        assert!(e.contains("--tls-cert"), "{e}");
        std::fs::write(&s.cert, b"not a certificate\n").unwrap();
        let e = err(&s);
        assert!(e.contains("holds no PEM certificate"), "{e}");
        std::fs::write(
            &s.cert,
            b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = err(&s);
        assert!(e.contains("is not valid PEM"), "{e}");
        std::fs::create_dir(dir.path().join("d")).unwrap();
        let e = err(&TlsSettings {
            cert: dir.path().join("d"),
            ..s.clone()
        });
        assert!(e.contains("not a regular file"), "{e}");
    }
}
