//! Docker token authentication for the in-test registry: [`TokenAuth`] (an RSA key and
//! self-signed certificate made by `openssl`, the service and issuer names, one user) and
//! [`TokenServer`], the tiny token endpoint of distribution `docs/spec/auth/token.md`
//! that mints RS256 JWTs for the scopes asked.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::{openssl_sign, to_bytes};
use crate::run_checked;

/// Docker token authentication material and its token server: an RSA key and
/// self-signed certificate made by `openssl`, the service and issuer names, and the one
/// user allowed in.
pub struct TokenAuth {
    /// The token server (`realm` = `{server.url}/token`).
    pub server: TokenServer,
    /// `service` claim / registry `auth.token.service`.
    pub service: String,
    /// `iss` claim / registry `auth.token.issuer`.
    pub issuer: String,
    /// The user name the token server accepts.
    pub user: String,
    /// That user's password.
    pub password: String,
    /// PEM certificate (the registry's `rootcertbundle`).
    pub cert: PathBuf,
    signer: Arc<JwtSigner>,
    _dir: tempfile::TempDir,
}

struct JwtSigner {
    key: PathBuf,
    cert_der_b64: String,
    service: String,
    issuer: String,
    counter: AtomicU64,
}

impl JwtSigner {
    /// An RS256 JWT (RFC 7519 / RFC 7515 compact form) granting `access`.
    fn mint(&self, sub: &str, access: &[Value]) -> anyhow::Result<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let header = json!({"typ": "JWT", "alg": "RS256", "x5c": [self.cert_der_b64]});
        let jti = self.counter.fetch_add(1, Ordering::Relaxed);
        let claims = json!({
            "iss": self.issuer,
            "sub": sub,
            "aud": self.service,
            "exp": now + 600,
            "nbf": now - 60,
            "iat": now - 60,
            "jti": format!("mirror-e2e-{now}-{jti}"),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(to_bytes(&header)),
            URL_SAFE_NO_PAD.encode(to_bytes(&claims))
        );
        let sig = openssl_sign(&self.key, signing_input.as_bytes())?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

impl TokenAuth {
    pub(super) fn new(dir: tempfile::TempDir, user: &str, password: &str) -> anyhow::Result<Self> {
        let key = dir.path().join("token.key");
        let cert = dir.path().join("token.crt");
        run_checked(
            Command::new("openssl")
                .args([
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-sha256",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=mirror-e2e token issuer",
                    "-keyout",
                ])
                .arg(&key)
                .arg("-out")
                .arg(&cert),
        )?;
        let der = run_checked(
            Command::new("openssl")
                .args(["x509", "-outform", "DER", "-in"])
                .arg(&cert),
        )?;
        let service = "mirror-e2e-registry".to_owned();
        let issuer = "mirror-e2e-issuer".to_owned();
        let signer = Arc::new(JwtSigner {
            key,
            cert_der_b64: STANDARD.encode(der),
            service: service.clone(),
            issuer: issuer.clone(),
            counter: AtomicU64::new(0),
        });
        let server = TokenServer::start(signer.clone(), user, password)?;
        Ok(TokenAuth {
            server,
            service,
            issuer,
            user: user.to_owned(),
            password: password.to_owned(),
            cert,
            signer,
            _dir: dir,
        })
    }

    /// Mints a token for `sub` directly (no HTTP), granting `(type, name, actions)`
    /// entries, e.g. `("repository", "team/app", &["pull"])`.
    ///
    /// Errors: openssl fails to sign.
    pub fn mint(&self, sub: &str, access: &[(&str, &str, &[&str])]) -> anyhow::Result<String> {
        let access: Vec<Value> = access
            .iter()
            .map(|(t, n, a)| json!({"type": t, "name": n, "actions": a}))
            .collect();
        self.signer.mint(sub, &access)
    }
}

/// The in-test Docker token server: answers `GET /token?service=S&scope=T:N:A,..`
/// (distribution `docs/spec/auth/token.md`) with `{"token","access_token",
/// "expires_in","issued_at"}` when the request carries the right HTTP basic credentials,
/// and 401 otherwise. One thread, one connection at a time, `Connection: close`.
pub struct TokenServer {
    /// Base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    stop: Arc<AtomicBool>,
    port: u16,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TokenServer {
    fn start(signer: Arc<JwtSigner>, user: &str, password: &str) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let expected = format!("{user}:{password}");
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = conn {
                    let _ = serve_token_request(stream, &signer, &expected);
                }
            }
        });
        Ok(TokenServer {
            url: format!("http://127.0.0.1:{port}"),
            stop,
            port,
            thread: Some(thread),
        })
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Percent-decodes a query component (`+` is a space).
pub(super) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b'%') => {
                let h = s
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(b) = h {
                    out.push(b);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            Some(b'+') => out.push(b' '),
            Some(b) => out.push(*b),
            None => {}
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses scopes `type:name:action1,action2` (the name may itself contain `:` only for
/// a registry with a port, which test repos never have).
pub(super) fn parse_scopes(query: &str) -> Vec<Value> {
    let mut access = Vec::new();
    for pair in query.split('&') {
        let Some((k, v)) = pair.split_once('=') else {
            continue;
        };
        if k != "scope" {
            continue;
        }
        for scope in percent_decode(v).split(' ') {
            let mut parts = scope.splitn(3, ':');
            let (Some(t), Some(n), Some(a)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let actions: Vec<&str> = a.split(',').filter(|x| !x.is_empty()).collect();
            access.push(json!({"type": t, "name": n, "actions": actions}));
        }
    }
    access
}

fn serve_token_request(
    stream: TcpStream,
    signer: &JwtSigner,
    expected: &str,
) -> anyhow::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut authorization = None;
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.trim().eq_ignore_ascii_case("authorization") {
                authorization = Some(v.trim().to_owned());
            } else if k.trim().eq_ignore_ascii_case("content-length") {
                content_length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    if content_length > 0 {
        let mut sink = vec![0u8; content_length.min(1 << 20)];
        let _ = reader.read_exact(&mut sink);
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("/");
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let user = authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let mut stream = stream;
    let respond = |stream: &mut TcpStream, status: &str, extra: &str, body: &str| {
        write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
            body.len()
        )
    };
    match user {
        Some(u) if u == expected => {
            let sub = expected.split(':').next().unwrap_or("");
            let token = signer.mint(sub, &parse_scopes(query))?;
            let body = json!({
                "token": token,
                "access_token": token,
                "expires_in": 600,
                "issued_at": "2026-01-01T00:00:00Z",
            })
            .to_string();
            respond(&mut stream, "200 OK", "", &body)?;
        }
        _ => {
            let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"credentials required"}]}"#;
            respond(
                &mut stream,
                "401 Unauthorized",
                "WWW-Authenticate: Basic realm=\"mirror-e2e\"\r\n",
                body,
            )?;
        }
    }
    stream.flush()?;
    Ok(())
}
