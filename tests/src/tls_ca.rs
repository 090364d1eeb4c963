//! A test certificate authority made with the real `openssl` CLI: a CA, server
//! certificates for 127.0.0.1 / localhost, client certificates (mTLS). TEST-ONLY: keys
//! are unencrypted P-256 keys in a temporary directory, valid for two days.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;

use crate::run_checked;

/// A CA: its directory, certificate and key.
pub struct TestCa {
    /// Where everything it issues is written.
    pub dir: PathBuf,
    /// CA certificate (PEM).
    pub cert: PathBuf,
    key: PathBuf,
    name: String,
}

/// A certificate issued by a [`TestCa`]: PEM certificate and key paths.
#[derive(Debug, Clone)]
pub struct Issued {
    /// Certificate (PEM).
    pub cert: PathBuf,
    /// Private key (PEM, PKCS #8, mode 0600).
    pub key: PathBuf,
}

fn openssl(dir: &Path) -> Command {
    let mut c = Command::new("openssl");
    c.current_dir(dir);
    c
}

fn chmod_600(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("chmod 600 {}", path.display()))
}

impl TestCa {
    /// Creates CA `name` (its files `<name>-ca.pem`, `<name>-ca.key`) under `dir`.
    ///
    /// Errors: `openssl` fails.
    pub fn new(dir: &Path, name: &str) -> anyhow::Result<TestCa> {
        std::fs::create_dir_all(dir)?;
        let cert = dir.join(format!("{name}-ca.pem"));
        let key = dir.join(format!("{name}-ca.key"));
        run_checked(openssl(dir).args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN=mirror test CA {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            key.to_str().context("utf-8 path")?,
            "-out",
            cert.to_str().context("utf-8 path")?,
        ]))
        .context("openssl req -x509 (test CA)")?;
        chmod_600(&key)?;
        Ok(TestCa {
            dir: dir.to_path_buf(),
            cert,
            key,
            name: name.to_owned(),
        })
    }

    /// Issues a certificate `file` (`<file>.pem`, `<file>.key`) for CN `cn`, with
    /// extensions `ext` (OpenSSL x509v3 config lines) and serial `serial`.
    fn issue(&self, file: &str, cn: &str, ext: &str, serial: u64) -> anyhow::Result<Issued> {
        let cert = self.dir.join(format!("{file}.pem"));
        let key = self.dir.join(format!("{file}.key"));
        let csr = self.dir.join(format!("{file}.csr"));
        let ext_file = self.dir.join(format!("{file}.ext"));
        std::fs::write(&ext_file, ext)?;
        let p = |p: &Path| p.to_str().map(str::to_owned).context("utf-8 path");
        run_checked(openssl(&self.dir).args([
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            &format!("/CN={cn}"),
            "-keyout",
            &p(&key)?,
            "-out",
            &p(&csr)?,
        ]))
        .with_context(|| format!("openssl req ({file}, CA {})", self.name))?;
        chmod_600(&key)?;
        run_checked(openssl(&self.dir).args([
            "x509",
            "-req",
            "-in",
            &p(&csr)?,
            "-CA",
            &p(&self.cert)?,
            "-CAkey",
            &p(&self.key)?,
            "-set_serial",
            &serial.to_string(),
            "-days",
            "2",
            "-extfile",
            &p(&ext_file)?,
            "-out",
            &p(&cert)?,
        ]))
        .with_context(|| format!("openssl x509 -req ({file}, CA {})", self.name))?;
        Ok(Issued { cert, key })
    }

    /// A server certificate for `127.0.0.1`, `::1` and `localhost` (`serverAuth`), with
    /// serial `serial`, in `<file>.pem` / `<file>.key`.
    ///
    /// Errors: `openssl` fails.
    pub fn server(&self, file: &str, serial: u64) -> anyhow::Result<Issued> {
        self.issue(
            file,
            "127.0.0.1",
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n",
            serial,
        )
    }

    /// A client certificate for CN `cn` (`clientAuth`), in `<file>.pem` / `<file>.key`.
    ///
    /// Errors: `openssl` fails.
    pub fn client(&self, file: &str, cn: &str) -> anyhow::Result<Issued> {
        self.issue(
            file,
            cn,
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
            7,
        )
    }
}

/// The serial number of the certificate `host:port` presents, as `openssl x509 -serial`
/// prints it (`serial=0A1B…`, upper-case hex), read with `openssl s_client`.
///
/// Errors: the handshake fails (the CA is `ca`; `client` is presented when given) or
/// openssl prints no certificate.
pub fn served_serial(addr: &str, ca: &Path, client: Option<&Issued>) -> anyhow::Result<String> {
    let mut s = Command::new("openssl");
    s.args(["s_client", "-connect", addr, "-CAfile"])
        .arg(ca)
        .args(["-verify_return_error", "-servername", "localhost"]);
    if let Some(c) = client {
        s.arg("-cert").arg(&c.cert).arg("-key").arg(&c.key);
    }
    s.stdin(std::process::Stdio::null());
    let pem = run_checked(&mut s).context("openssl s_client")?;
    let mut x = Command::new("openssl");
    x.args(["x509", "-noout", "-serial"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = x.spawn().context("openssl x509")?;
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().context("stdin")?;
        stdin.write_all(&pem)?;
    }
    let out = child.wait_with_output()?;
    anyhow::ensure!(
        out.status.success(),
        "openssl x509 found no certificate in the s_client output: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
