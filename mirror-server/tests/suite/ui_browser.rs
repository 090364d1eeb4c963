//! The web console in a real browser: headless Chromium (Debian's `chromium`, installed by
//! deploy/test-deps.sh; `CHROMIUM` names another binary) loads the pages of a real
//! `mirror-server serve` process over an imported store and the test checks the DOM it
//! rendered. Skipped with a message when Chromium is absent, unless `CI` is set (then it
//! fails).
//!
//! The screenshots in docs/images/ come from the ignored test [`screenshots`]:
//! `cargo test -p mirror-server --test suite ui_browser::screenshots -- --ignored`
//! rewrites them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::common::{Fixture, Import};
use formats::snapshot::{Manifest, Meta};

const BIN: &str = env!("CARGO_BIN_EXE_mirror-server");

/// The packages of the showcase snapshots: (ecosystem, name, version in test/1, version
/// in test/2 (`None`: removed), license, supplier).
type Showcase = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
    Option<&'static str>,
);
const PACKAGES: &[Showcase] = &[
    (
        "deb",
        "curl",
        "7.88.1-10",
        Some("7.88.1-10+deb12u8"),
        "curl",
        Some("Debian Curl Maintainers <team+curl@tracker.example>"),
    ),
    (
        "deb",
        "libssl3",
        "3.0.11-1",
        Some("3.0.15-1"),
        "Apache-2.0",
        Some("Debian OpenSSL Team <pkg-openssl-devel@lists.example>"),
    ),
    (
        "deb",
        "openssl",
        "3.0.11-1",
        Some("3.0.15-1"),
        "Apache-2.0",
        Some("Debian OpenSSL Team <pkg-openssl-devel@lists.example>"),
    ),
    (
        "deb",
        "zlib1g",
        "1.2.13.dfsg-1",
        Some("1.2.13.dfsg-1"),
        "Zlib",
        Some("Mark Brown <broonie@debian.example>"),
    ),
    (
        "deb",
        "hello",
        "2.10-3",
        Some("2.10-3"),
        "GPL-3.0-or-later",
        Some("Santiago Vila <sanvila@debian.example>"),
    ),
    ("deb", "telnet", "0.17+2.4-2", None, "BSD-4-Clause", None),
    (
        "whl",
        "requests",
        "2.31.0",
        Some("2.32.3"),
        "Apache-2.0",
        Some("Kenneth Reitz"),
    ),
    ("whl", "urllib3", "2.0.7", Some("2.2.3"), "MIT", None),
    ("whl", "idna", "3.6", Some("3.10"), "BSD-3-Clause", None),
    (
        "whl",
        "certifi",
        "2024.2.2",
        Some("2024.8.30"),
        "MPL-2.0",
        Some("Kenneth Reitz"),
    ),
];

/// Writes drive `name` with snapshot `test/<seq>`: the [`PACKAGES`] at their version in
/// that snapshot (`seq` 1 or 2), plus `jinja2 3.1.4` in test/2.
fn showcase_drive(fx: &Fixture, name: &str, seq: u64) -> PathBuf {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut metas: Vec<(String, Meta, Option<&str>)> = Vec::new();
    let mut add = |eco: &str, pkg: &str, ver: &str, license: &str, supplier: Option<&str>| {
        // Debs name no upstream source (an APT one would need its signed indexes on the
        // drive); the wheels name the fixture's `pypi`.
        let (path, upstream) = if eco == "deb" {
            (format!("apt/debian/pool/main/{pkg}_{ver}_amd64.deb"), None)
        } else {
            (
                format!("simple/{pkg}/{pkg}-{ver}-py3-none-any.whl"),
                Some("pypi"),
            )
        };
        files.push((path.clone(), format!("{pkg} {ver}").into_bytes()));
        metas.push((
            path.clone(),
            Meta {
                name: Some(pkg.into()),
                version: Some(ver.into()),
                architecture: (eco == "deb").then(|| "amd64".into()),
                license: Some(license.into()),
                supplier: supplier.map(str::to_owned),
                upstream_url: Some(format!(
                    "https://{}.example/{path}",
                    upstream.unwrap_or("debian")
                )),
                filename: (eco == "whl").then(|| format!("{pkg}-{ver}-py3-none-any.whl")),
                ..Meta::default()
            },
            upstream,
        ));
    };
    for (eco, pkg, v1, v2, license, supplier) in PACKAGES {
        let ver = if seq == 1 { Some(*v1) } else { *v2 };
        if let Some(ver) = ver {
            add(eco, pkg, ver, license, *supplier);
        }
    }
    if seq == 2 {
        add("whl", "jinja2", "3.1.4", "BSD-3-Clause", Some("Pallets"));
    }
    files.push(("keys/repo.gpg".into(), b"key".to_vec()));
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    fx.drive_with(
        name,
        seq,
        &refs,
        |m: &mut Manifest| {
            for a in &mut m.artifacts {
                if let Some((_, meta, upstream)) = metas.iter().find(|(p, _, _)| *p == a.path) {
                    a.meta = meta.clone();
                    a.upstream = upstream.map(str::to_owned);
                }
            }
        },
        None,
    )
}

/// A store holding the two showcase snapshots (test/2 current) and one passed `verify`.
fn showcase() -> Fixture {
    let fx = Fixture::new();
    let d1 = showcase_drive(&fx, "d1", 1);
    fx.import(&d1, &[]).unwrap();
    let d2 = showcase_drive(&fx, "d2", 2);
    fx.import(&d2, &[]).unwrap();
    // verify records its outcome in the audit log; the overview shows it.
    mirror_server::cli::run([
        "mirror-server",
        "verify",
        "--store",
        fx.store.to_str().unwrap(),
        "--json",
    ])
    .unwrap();
    fx
}

/// A `mirror-server serve` process on 127.0.0.1 (an ephemeral port), killed on drop.
struct Serve {
    child: Child,
    base: String,
}

impl Serve {
    fn start(store: &Path, extra: &[&str]) -> Serve {
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--workers",
                "1",
                "--store",
            ])
            .arg(store)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mirror-server serve");
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("serve exited before announcing its address")
                .unwrap();
            if let Some(url) = line.split("listening on ").nth(1) {
                break url.trim().to_owned();
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Serve { child, base }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Chromium binary, or `None` (with the reason printed) when the test must be
/// skipped. Panics when it is absent under CI.
fn chromium() -> Option<String> {
    let bin = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let found = Command::new(&bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some(bin);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{bin} not found but CI is set: install Debian's chromium (deploy/test-deps.sh)"
    );
    eprintln!("SKIPPED: {bin} not found (install Debian's chromium: deploy/test-deps.sh)");
    None
}

/// Runs headless Chromium with `args` then `url` (own profile in `profile`); its stdout.
fn browse(bin: &str, profile: &Path, args: &[&str], url: &str) -> String {
    let out = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn chromium_renders_the_console() {
    let Some(bin) = chromium() else {
        return;
    };
    let fx = showcase();
    let serve = Serve::start(&fx.store, &[]);
    let profile = fx.dir.path().join("chromium-profile");
    let dom = |path: &str| {
        browse(
            &bin,
            &profile,
            &["--dump-dom"],
            &format!("{}{path}", serve.base),
        )
    };

    // The live snapshot, and verify's outcome.
    let d = dom("/ui/");
    assert!(
        d.contains(r#"<strong class="live-name">test/2</strong>"#),
        "{d}"
    );
    assert!(d.contains("passed at "), "{d}");
    assert!(d.contains("test/1"), "{d}");

    // A search that finds one package and not another.
    let d = dom("/ui/snapshots/test/2/packages?q=ssl&ecosystem=deb");
    assert!(d.contains(r#"<td class="pkg-name">libssl3</td>"#), "{d}");
    assert!(d.contains(r#"<td class="pkg-name">openssl</td>"#), "{d}");
    assert!(!d.contains(r#"<td class="pkg-name">curl</td>"#), "{d}");
    assert!(!d.contains(r#"<td class="pkg-name">requests</td>"#), "{d}");
    assert!(d.contains("2 of 10 packages match"), "{d}");
    // The form kept the search (the browser parsed the escaped value back).
    assert!(d.contains(r#"value="ssl""#), "{d}");

    // The diff lists a changed package, an added and a removed one.
    let d = dom("/ui/diff?a=test/1&b=test/2");
    assert!(d.contains(r#"<td class="pkg-name">libssl3</td>"#), "{d}");
    assert!(d.contains("3.0.15-1"), "{d}");
    assert!(d.contains(r#"<td class="pkg-name">jinja2</td>"#), "{d}");
    assert!(d.contains(r#"<td class="pkg-name">telnet</td>"#), "{d}");
    assert!(
        d.contains("No vulnerability data in these snapshots: not compared:"),
        "{d}"
    );

    // The audit log with its chain intact.
    let d = dom("/ui/audit");
    assert!(d.contains("chain intact"), "{d}");
    assert!(d.contains(r#"<td class="event">verify</td>"#), "{d}");

    // The client setup for the server's own address.
    let d = dom("/ui/clients");
    assert!(d.contains(&format!("{}/simple/", serve.base)), "{d}");
}

/// Regenerates the screenshots in docs/images/ (see the module docs).
#[test]
#[ignore = "writes docs/images/console-*.png; run with --ignored to regenerate them"]
fn screenshots() {
    let bin = chromium().expect("screenshots need chromium");
    let fx = showcase();
    let serve = Serve::start(&fx.store, &[]);
    let profile = fx.dir.path().join("chromium-profile");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/images");
    std::fs::create_dir_all(&dir).unwrap();
    for (file, path) in [
        ("console-overview.png", "/ui/"),
        (
            "console-packages.png",
            "/ui/snapshots/test/2/packages?q=ssl",
        ),
        ("console-diff.png", "/ui/diff?a=test/1&b=test/2"),
        ("console-audit.png", "/ui/audit"),
    ] {
        let out = dir.join(file);
        browse(
            &bin,
            &profile,
            &[
                &format!("--screenshot={}", out.display()),
                "--window-size=1280,900",
            ],
            &format!("{}{path}", serve.base),
        );
        let size = std::fs::metadata(&out).unwrap().len();
        assert!(size > 1000 && size < 200 * 1024, "{file}: {size} bytes");
        eprintln!("wrote {} ({size} bytes)", out.display());
    }
}

/// The status line of a plain `GET path` to `base` (`http://host:port`).
fn status_line(base: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let authority = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(authority).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[test]
fn serve_no_ui_flag_turns_the_console_off() {
    let fx = showcase();
    let on = Serve::start(&fx.store, &[]);
    assert_eq!(status_line(&on.base, "/ui/"), "HTTP/1.1 200 OK");
    drop(on);
    let off = Serve::start(&fx.store, &["--no-ui"]);
    assert_eq!(status_line(&off.base, "/ui/"), "HTTP/1.1 404 Not Found");
    assert_eq!(status_line(&off.base, "/keys/repo.gpg"), "HTTP/1.1 200 OK");
}
