//! `mirror-server serve` over TLS with a test CA made by the real `openssl` CLI:
//!
//! - the built binary with `--tls-cert/--tls-key`: real `curl` over HTTP/1.1 and HTTP/2
//!   (ALPN) with `--cacert`, refused with another CA; SIGHUP reloads the certificate (the
//!   served serial changes, read with `openssl s_client`), a broken reload keeps the old
//!   one; `--tls-client-ca` (mTLS): curl without a client certificate is refused, with one
//!   it is served; start refused for missing, non-PEM, mismatched and world-readable files;
//!   50 stalled handshakes do not delay a real client and are cut after 10 s;
//! - the in-process server requiring client certificates, configured from what
//!   `client-config --ca-cert --client-cert --client-key --write` wrote: real `apt-get`
//!   (isolated), `pip`, `uv` and `skopeo` (`--src-cert-dir` = the certs.d directory).

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mirror_e2e::apt_client::IsolatedApt;
use mirror_e2e::oci_fixture::{Registry, seed_registry, skopeo};
use mirror_e2e::product::{import_drive, s, sync_cli, sync_json};
use mirror_e2e::py_clients::{installed_dists, uv_command, venv_site_packages};
use mirror_e2e::tls_ca::{Issued, TestCa, served_serial};
use mirror_e2e::world::world;
use mirror_e2e::{
    Output, require_tools, run_checked, run_command, scrub_client_env, workspace_bin,
};
use serde_json::Value;

/// How long a started server may take to print its address, and a reload to show.
const WAIT: Duration = Duration::from_secs(30);

/// The `mirror-server` binary with the machine's server settings removed.
fn server_bin() -> Command {
    let bin = workspace_bin("mirror-server").expect("cargo build -p mirror-server first");
    let mut c = Command::new(bin);
    for v in [
        "MIRROR_SERVER_STORE",
        "MIRROR_SERVER_LISTEN",
        "MIRROR_SERVER_TLS_CERT",
        "MIRROR_SERVER_TLS_KEY",
        "MIRROR_SERVER_TLS_CLIENT_CA",
    ] {
        c.env_remove(v);
    }
    c
}

/// A `mirror-server serve` process; killed on drop.
struct Served {
    child: Child,
    addr: String,
    log: Arc<Mutex<String>>,
}

impl Served {
    /// Starts `serve --store STORE --listen 127.0.0.1:0 ARGS…` and waits (at most
    /// [`WAIT`]) for its "listening on SCHEME://ADDR" line.
    fn start(store: &Path, args: &[&str]) -> Served {
        let mut child = server_bin()
            .args(["serve", "--store", s(store), "--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mirror-server serve");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().expect("stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(a) = line.strip_prefix("mirror-server listening on ") {
                    let _ = tx.send(a.trim().to_owned());
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr = match rx.recv_timeout(WAIT) {
            Ok(a) => a
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .to_owned(),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "serve printed no https address within {WAIT:?}:\n{}",
                    log.lock().unwrap()
                );
            }
        };
        Served { child, addr, log }
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn sighup(&self) {
        let pid = self.child.id().to_string();
        run_checked(Command::new("kill").args(["-HUP", &pid])).expect("kill -HUP");
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Removes the machine's CA-bundle variables from `cmd` (and the proxies and pip/uv
/// settings, [`scrub_client_env`]): only what client-config wrote may decide whom the
/// clients trust. (requests, and so pip, prefers `REQUESTS_CA_BUNDLE` / `CURL_CA_BUNDLE`
/// to pip.conf's `cert`; uv and OpenSSL read `SSL_CERT_FILE` / `SSL_CERT_DIR`.)
fn scrub(cmd: &mut Command) -> &mut Command {
    scrub_client_env(cmd);
    for v in [
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    ] {
        cmd.env_remove(v);
    }
    cmd
}

/// `curl` with proxies and the machine's client settings removed, bounded to 20 s.
fn curl() -> Command {
    let mut c = Command::new("curl");
    scrub(&mut c);
    c.args(["-sS", "--max-time", "20"]);
    c
}

/// `serve ARGS…` expected to refuse to start: its output (bounded by [`WAIT`]).
fn refused(store: &Path, args: &[&str]) -> Output {
    let mut child = server_bin()
        .args(["serve", "--store", s(store), "--listen", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mirror-server serve");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if start.elapsed() > WAIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve {args:?} did not refuse to start within {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    Output::from_std(format!("mirror-server serve {args:?}"), out)
}

/// An empty store (nothing imported: `/healthz` answers, content routes 503).
fn empty_store(dir: &Path) -> PathBuf {
    let store = dir.join("store");
    store::Cas::open(&store).expect("store");
    store
}

#[test]
fn https_alpn_wrong_ca_sighup_reload_mtls_and_refusals() {
    if !require_tools(&["openssl", "curl"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = empty_store(tmp.path());
    let ca = TestCa::new(&tmp.path().join("ca"), "good").unwrap();
    let other = TestCa::new(&tmp.path().join("other"), "other").unwrap();
    let first = ca.server("server-1", 0x1111).unwrap();
    let second = ca.server("server-2", 0x2222).unwrap();
    // The files the server is started with; the reload replaces their contents.
    let cert = tmp.path().join("tls.crt");
    let key = tmp.path().join("tls.key");
    std::fs::copy(&first.cert, &cert).unwrap();
    std::fs::copy(&first.key, &key).unwrap();

    let served = Served::start(&store, &["--tls-cert", s(&cert), "--tls-key", s(&key)]);
    let health = served.url("/healthz");
    // The test certificates live two days: the server warns that renewal is due.
    let log = served.log();
    assert!(log.contains("TLS certificate loaded"), "{log}");
    assert!(
        log.contains("TLS certificate expires within 14 days"),
        "{log}"
    );
    for (flag, want) in [("--http1.1", "1.1"), ("--http2", "2")] {
        let out = run_command(
            curl()
                .args([flag, "--cacert", s(&ca.cert), "-w", "\n%{http_version}"])
                .arg(&health),
        )
        .unwrap();
        out.assert_success();
        assert!(out.stdout.contains("\"status\":\"ok\""), "{out}");
        assert_eq!(out.stdout.lines().last(), Some(want), "{out}");
    }
    // ALPN: curl says which protocol the server accepted.
    let out = run_command(
        curl()
            .args(["-v", "--http2", "--cacert", s(&ca.cert)])
            .arg(&health),
    )
    .unwrap();
    assert!(out.stderr.contains("ALPN: server accepted h2"), "{out}");
    // Another CA: curl refuses the server's certificate (exit 60).
    let out = run_command(curl().args(["--cacert", s(&other.cert)]).arg(&health)).unwrap();
    out.assert_failure();
    assert_eq!(out.status.code(), Some(60), "{out}");
    // Plain HTTP on the TLS port is not served.
    let out = run_command(curl().arg(format!("http://{}/healthz", served.addr))).unwrap();
    assert!(!out.stdout.contains("\"status\":\"ok\""), "{out}");

    // SIGHUP: new handshakes present the new certificate.
    assert_eq!(
        served_serial(&served.addr, &ca.cert, None).unwrap(),
        "serial=1111"
    );
    std::fs::copy(&second.cert, &cert).unwrap();
    std::fs::copy(&second.key, &key).unwrap();
    served.sighup();
    let start = Instant::now();
    loop {
        let serial = served_serial(&served.addr, &ca.cert, None).unwrap();
        if serial == "serial=2222" {
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "still {serial} {WAIT:?} after SIGHUP:\n{}",
            served.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A reload with a broken certificate keeps the current one and says why.
    std::fs::write(&cert, b"garbage\n").unwrap();
    served.sighup();
    let start = Instant::now();
    while !served.log().contains("TLS reload failed") {
        assert!(
            start.elapsed() < WAIT,
            "no reload failure logged:\n{}",
            served.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        served.log().contains("holds no PEM certificate"),
        "{}",
        served.log()
    );
    assert_eq!(
        served_serial(&served.addr, &ca.cert, None).unwrap(),
        "serial=2222"
    );
    drop(served);

    // Without TLS a SIGHUP (systemctl reload) is logged and ignored, not fatal.
    let mut plain = Served::start(&store, &[]);
    plain.sighup();
    let start = Instant::now();
    while !plain.log().contains("SIGHUP: nothing to reload") {
        assert!(
            start.elapsed() < WAIT,
            "SIGHUP not logged:\n{}",
            plain.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        plain.child.try_wait().unwrap().is_none(),
        "SIGHUP ended the server"
    );
    let out = run_command(curl().arg(format!("http://{}/healthz", plain.addr))).unwrap();
    assert!(out.stdout.contains("\"status\":\"ok\""), "{out}");
    drop(plain);

    // mTLS: only clients with a certificate of the client CA are served.
    let client_ca = TestCa::new(&tmp.path().join("clients"), "clients").unwrap();
    let client = client_ca.client("cube-2", "cube-2").unwrap();
    let stranger = other.client("stranger", "stranger").unwrap();
    let served = Served::start(
        &store,
        &[
            "--tls-cert",
            s(&first.cert),
            "--tls-key",
            s(&first.key),
            "--tls-client-ca",
            s(&client_ca.cert),
        ],
    );
    let health = served.url("/healthz");
    let with = |c: Option<&Issued>| {
        let mut cmd = curl();
        cmd.args(["--cacert", s(&ca.cert)]);
        if let Some(c) = c {
            cmd.args(["--cert", s(&c.cert), "--key", s(&c.key)]);
        }
        run_command(cmd.arg(&health)).unwrap()
    };
    let out = with(None);
    out.assert_failure();
    assert!(!out.stdout.contains("\"status\":\"ok\""), "{out}");
    let out = with(Some(&stranger));
    out.assert_failure();
    assert!(!out.stdout.contains("\"status\":\"ok\""), "{out}");
    let out = with(Some(&client));
    out.assert_success();
    assert!(out.stdout.contains("\"status\":\"ok\""), "{out}");
    drop(served);

    // Refused at start, with the file and the reason.
    let missing = tmp.path().join("missing.pem");
    let not_pem = tmp.path().join("not-pem.pem");
    std::fs::write(&not_pem, b"hello\n").unwrap();
    let not_pem_key = tmp.path().join("not-pem.key");
    std::fs::write(&not_pem_key, b"hello\n").unwrap();
    let open_key = tmp.path().join("open.key");
    std::fs::copy(&first.key, &open_key).unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&open_key, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&not_pem_key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let cases: [(&[&str], &str); 6] = [
        (
            &["--tls-cert", s(&missing), "--tls-key", s(&first.key)],
            "missing.pem does not exist",
        ),
        (
            &["--tls-cert", s(&not_pem), "--tls-key", s(&first.key)],
            "holds no PEM certificate",
        ),
        (
            &["--tls-cert", s(&first.cert), "--tls-key", s(&not_pem_key)],
            "holds no PEM private key",
        ),
        (
            &["--tls-cert", s(&first.cert), "--tls-key", s(&second.key)],
            "does not match the certificate",
        ),
        (
            &["--tls-cert", s(&first.cert), "--tls-key", s(&open_key)],
            "accessible to every user (mode 0644)",
        ),
        (
            &[
                "--tls-cert",
                s(&first.cert),
                "--tls-key",
                s(&first.key),
                "--tls-client-ca",
                s(&not_pem),
            ],
            "TLS client CA file",
        ),
    ];
    for (args, want) in cases {
        let out = refused(&store, args);
        out.assert_failure();
        assert!(out.stderr.contains(want), "{want}: {out}");
    }
    // --tls-cert without --tls-key is a usage error.
    let out = refused(&store, &["--tls-cert", s(&first.cert)]);
    out.assert_failure();
    assert!(out.stderr.contains("--tls-key"), "{out}");
}

/// The printed file of kind `kind`.
fn content<'a>(v: &'a Value, kind: &str) -> &'a str {
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == kind)
        .and_then(|f| f["content"].as_str())
        .unwrap_or_else(|| panic!("no {kind} file in {v}"))
}

#[test]
fn apt_pip_uv_and_skopeo_over_mtls_from_client_config() {
    let Some(w) = world() else { return };
    if !require_tools(&["openssl", "curl", "uv", "skopeo", "docker-registry"]) {
        return;
    }
    // One image next to the APT and PyPI fixtures.
    let reg = Registry::start().expect("registry");
    seed_registry(&reg, &w.path("oci")).expect("seed the registry");
    let mut config = std::fs::read_to_string(&w.config).unwrap();
    config.push_str(&format!(
        "\n[[oci]]\nname = \"local\"\nregistry = \"{}\"\nurl = \"{}\"\nimages = [\"team/app:1.0\"]\nplatforms = [\"linux/amd64\"]\n",
        reg.host, reg.url
    ));
    std::fs::write(&w.config, config).unwrap();
    let (r, summary) = sync_json(&w.config);
    r.unwrap_or_else(|e| panic!("sync: {e:#}\n{summary}"));
    let drive = w.path("drive");
    sync_cli(&["export", "--config", s(&w.config), "--to", s(&drive)]).expect("export");
    let store = w.path("server-store");
    import_drive(&drive, &store, &w.keys.join("trusted")).expect("import");

    let ca = TestCa::new(&w.path("ca"), "mirror").unwrap();
    let server = ca.server("server", 0x42).unwrap();
    let client_ca = TestCa::new(&w.path("clients"), "clients").unwrap();
    let client = client_ca.client("cube-2", "cube-2").unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let handle = rt
        .block_on(mirror_server::serve::start_with(
            store.clone(),
            "127.0.0.1:0".parse().unwrap(),
            mirror_server::serve::ServeOptions {
                tls: Some(mirror_server::serve::tls::TlsSettings {
                    cert: server.cert.clone(),
                    key: server.key.clone(),
                    client_ca: Some(client_ca.cert.clone()),
                }),
                ..Default::default()
            },
        ))
        .expect("serve over TLS");
    let authority = format!("127.0.0.1:{}", handle.addr.port());
    let base = format!("https://{authority}");

    // client-config writes the tree; the TLS directory is a real path on this machine.
    let apt = IsolatedApt::new(&[]).unwrap();
    let keyring = apt.root().join("keyrings/mirror.gpg");
    let tls_dir = w.path("client-tls");
    let written = w.path("written");
    let out = run_command(server_bin().args([
        "client-config",
        "--store",
        s(&store),
        "--base-url",
        &base,
        "--keyring-path",
        s(&keyring),
        "--ca-cert",
        s(&ca.cert),
        "--client-cert",
        s(&client.cert),
        "--client-key",
        s(&client.key),
        "--tls-dir",
        s(&tls_dir),
        "--write",
        s(&written),
        "--json",
    ]))
    .unwrap();
    out.assert_success();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    // The private key is copied, never printed.
    let key_pem = std::fs::read_to_string(&client.key).unwrap();
    let key_body = key_pem.lines().nth(1).unwrap();
    assert!(!out.stdout.contains(key_body), "the client key was printed");
    run_checked(
        Command::new("cp")
            .arg("-a")
            .arg(written.join(tls_dir.strip_prefix("/").unwrap()))
            .arg(&tls_dir),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(tls_dir.join("client.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "client.key mode {mode:o}");
    }
    assert_eq!(
        std::fs::read(tls_dir.join("mirror-ca.crt")).unwrap(),
        std::fs::read(&ca.cert).unwrap()
    );

    // The printed commands (curl with --cacert, --cert, --key) install the key.
    for cmd in v["commands"].as_array().unwrap() {
        let cmd = cmd.as_str().unwrap();
        let mut sh = Command::new("sh");
        scrub(&mut sh);
        run_command(sh.args(["-c", cmd])).unwrap().assert_success();
    }
    assert_eq!(
        std::fs::read(&keyring).unwrap(),
        std::fs::read(w.keys.join("repo.pub.gpg")).unwrap()
    );

    // apt-get: the printed sources and apt.conf.d snippet (CaInfo, SslCert, SslKey).
    std::fs::write(
        apt.root().join("etc/sources.list.d/mirror.sources"),
        content(&v, "apt-sources"),
    )
    .unwrap();
    let without_tls = IsolatedApt::new(&[]).unwrap();
    std::fs::write(
        without_tls.root().join("etc/sources.list.d/mirror.sources"),
        content(&v, "apt-sources"),
    )
    .unwrap();
    let refused = without_tls.update();
    assert!(
        refused.combined().contains("Err:"),
        "apt reached the mirror without its TLS settings: {refused}"
    );
    std::fs::write(
        apt.root().join("etc/apt.conf.d/60mirror-tls"),
        content(&v, "apt-tls"),
    )
    .unwrap();
    let update = apt.update();
    update.assert_success();
    assert!(!update.combined().contains("Err:"), "{update}");
    apt.install_download_only(&["cube-tool", "nv-tool"])
        .assert_success();
    let got = apt.downloaded_debs();
    assert!(
        got.iter().any(|d| d == "cube-tool_1.0-1_amd64.deb"),
        "{got:?}"
    );

    // pip with the written pip.conf (index-url, cert, client-cert).
    let py = w.path("py");
    std::fs::create_dir_all(&py).unwrap();
    let target = py.join("pip-target");
    let mut pip = Command::new("python3");
    scrub(&mut pip);
    let pip = run_command(
        pip.args([
            "-m",
            "pip",
            "install",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--no-input",
            "--timeout",
            "20",
            "--target",
        ])
        .arg(&target)
        .arg("cube-client")
        .env("PIP_CONFIG_FILE", written.join("etc/pip.conf")),
    )
    .unwrap();
    pip.assert_success();
    assert!(pip.combined().contains(&format!("{base}/simple/")), "{pip}");
    assert!(
        installed_dists(&target)
            .iter()
            .any(|(n, _)| n == "cube_client"),
        "{pip}"
    );

    // uv with the written uv.toml and uv.env (SSL_CERT_FILE, SSL_CLIENT_CERT).
    let uv_env: Vec<(String, String)> = content(&v, "uv-env")
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    assert_eq!(uv_env.len(), 2, "{uv_env:?}");
    let uv_toml = written.join("etc/uv/uv.toml");
    let venv = py.join("venv");
    let mut uv = uv_command().unwrap();
    scrub(&mut uv);
    uv.arg("venv")
        .arg(&venv)
        .args(["--python", "python3", "--config-file"])
        .arg(&uv_toml);
    run_command(&mut uv).unwrap().assert_success();
    let mut uv = uv_command().unwrap();
    scrub(&mut uv);
    uv.args(["pip", "install", "--no-cache", "--config-file"])
        .arg(&uv_toml)
        .arg("--python")
        .arg(venv.join("bin/python"))
        .arg("cube-client")
        .envs(uv_env.iter().map(|(k, v)| (k, v)));
    let out = run_command(&mut uv).unwrap();
    out.assert_success();
    let site = venv_site_packages(&venv).unwrap();
    assert!(
        installed_dists(&site)
            .iter()
            .any(|(n, _)| n == "cube_client"),
        "{out}"
    );

    // skopeo with the certs.d directory client-config wrote (ca.crt, client.cert/.key).
    let cert_dir = written.join(format!("etc/containers/certs.d/{authority}"));
    for f in ["ca.crt", "client.cert", "client.key"] {
        assert!(cert_dir.join(f).is_file(), "{f} not written");
    }
    let image = format!(
        "docker://{authority}/{}/team/app:1.0",
        reg.host.replace(':', "__")
    );
    let dest = w.path("pulled");
    let out = run_command(
        scrub(&mut skopeo())
            .args(["copy", "--src-cert-dir", s(&cert_dir)])
            .arg(&image)
            .arg(format!("oci:{}:x", dest.display())),
    )
    .unwrap();
    out.assert_success();
    assert!(dest.join("index.json").is_file(), "{out}");
    // Without the client certificate the server refuses skopeo.
    let no_client = w.path("ca-only");
    std::fs::create_dir_all(&no_client).unwrap();
    std::fs::copy(cert_dir.join("ca.crt"), no_client.join("ca.crt")).unwrap();
    let out = run_command(
        scrub(&mut skopeo())
            .args(["inspect", "--cert-dir", s(&no_client)])
            .arg(&image),
    )
    .unwrap();
    out.assert_failure();

    rt.block_on(handle.shutdown());
}

#[test]
fn stalled_handshakes_do_not_block_others_and_are_cut_after_ten_seconds() {
    use std::io::Read as _;
    if !require_tools(&["openssl", "curl"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = empty_store(tmp.path());
    let ca = TestCa::new(&tmp.path().join("ca"), "good").unwrap();
    let server = ca.server("server", 1).unwrap();
    let served = Served::start(
        &store,
        &[
            "--tls-cert",
            s(&server.cert),
            "--tls-key",
            s(&server.key),
            "--workers",
            "1",
        ],
    );
    // 50 clients connect and never send a ClientHello (one serving thread, so they all
    // sit on the same event loop as the real client below).
    let opened = Instant::now();
    let mut stalled: Vec<std::net::TcpStream> = (0..50)
        .map(|_| std::net::TcpStream::connect(&served.addr).unwrap())
        .collect();
    let out = run_command(
        curl()
            .args(["--cacert", s(&ca.cert), "-w", "\n%{time_total}"])
            .arg(served.url("/healthz")),
    )
    .unwrap();
    out.assert_success();
    let took: f64 = out.stdout.lines().last().unwrap().parse().unwrap();
    assert!(
        took < 2.0,
        "a real client waited {took} s behind stalled handshakes"
    );
    // Each stalled connection is closed by the server once the handshake timeout passes.
    for c in &mut stalled {
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut buf = [0u8; 64];
        match c.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => panic!("the server sent {n} bytes to a client that said nothing"),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("connection not closed after {:?}: {e}", opened.elapsed()),
        }
    }
    let waited = opened.elapsed();
    assert!(
        waited >= Duration::from_secs(9) && waited < Duration::from_secs(15),
        "stalled handshakes closed after {waited:?}, expected about 10 s"
    );
}
