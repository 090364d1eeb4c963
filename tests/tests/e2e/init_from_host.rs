//! `mirror-sync init --from-host` on fixture host roots (`fixtures/hosts/`): Debian
//! bookworm with a one-line `sources.list` and with deb822 `.sources`, and Ubuntu noble's
//! `ubuntu.sources`. The generated configuration must parse and validate with nothing
//! edited but the package list, with keyrings resolved, security archives included, the
//! suites of one URL grouped, and unsupported entries skipped with a comment; and, for a
//! host root whose sources point at local signed archives, it must sync unedited.

use std::path::{Path, PathBuf};
use std::process::Command;

use mirror_e2e::apt_archives::Archive;
use mirror_e2e::apt_fixture::{DebSpec, generate_test_key};
use mirror_e2e::product::{s, sync_cli, sync_json};
use mirror_e2e::{StaticServer, fixtures_dir, require_tools, run_checked};
use mirror_sync::config::Config;

/// A copy of `fixtures/hosts/<name>` in `dir/root`, with a generated test keyring at
/// each of `keyrings` (host paths such as `/usr/share/keyrings/x.gpg`).
fn host_root(dir: &Path, name: &str, keyrings: &[&str]) -> PathBuf {
    let root = dir.join("root");
    run_checked(
        Command::new("cp")
            .arg("-r")
            .arg(fixtures_dir().join("hosts").join(name))
            .arg(&root),
    )
    .expect("copy the fixture host root");
    for (n, k) in keyrings.iter().enumerate() {
        let path = root.join(k.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        generate_test_key(
            &dir.join(format!("gnupg-{n}")),
            "Host Archive Key <host@example.invalid>",
            &path,
        )
        .expect("test key");
    }
    root
}

/// `mirror-sync init --from-host --host-root ROOT --packages foo` (no pip: the Python
/// command does not exist), written to `dir/mirror.toml`; returns its path and text.
fn init(dir: &Path, root: &Path, extra: &[&str]) -> (PathBuf, String) {
    let mut out = Vec::new();
    let mut args = vec![
        "mirror-sync",
        "init",
        "--from-host",
        "--host-root",
        s(root),
        "--python-cmd",
        "/nonexistent/python3",
        "--packages",
        "foo",
    ];
    args.extend_from_slice(extra);
    mirror_sync::cli::run_to(args, &mut out).expect("init");
    let text = String::from_utf8(out).unwrap();
    let path = dir.join("mirror.toml");
    std::fs::write(&path, &text).unwrap();
    (path, text)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| (*x).to_owned()).collect()
}

fn gpg_available() -> bool {
    require_tools(&["gpg", "gpg-agent", "gpgconf"])
}

#[test]
fn bookworm_one_line_sources_list() {
    if !gpg_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = host_root(
        tmp.path(),
        "bookworm-one-line",
        &["/usr/share/keyrings/debian-archive-keyring.gpg"],
    );
    let (path, text) = init(tmp.path(), &root, &[]);
    let cfg = Config::load_with_host_root(&path, &root).unwrap_or_else(|e| panic!("{e:#}\n{text}"));
    let keyring = root.join("usr/share/keyrings/debian-archive-keyring.gpg");
    assert_eq!(cfg.apt.len(), 2, "{text}");
    let main = &cfg.apt[0];
    assert_eq!(main.name, "debian");
    assert_eq!(main.url, "http://archive.example.org/debian");
    assert_eq!(main.suites, strings(&["bookworm", "bookworm-updates"]));
    assert_eq!(main.components, strings(&["main", "non-free-firmware"]));
    assert_eq!(
        main.keyring, keyring,
        "apt's default Debian keyring: {text}"
    );
    assert_eq!(main.packages, strings(&["foo"]));
    let sec = &cfg.apt[1];
    assert_eq!(sec.name, "debian-security");
    assert_eq!(sec.url, "http://security.example.org/debian-security");
    assert_eq!(sec.suites, strings(&["bookworm-security"]));
    assert_eq!(sec.components, strings(&["main", "non-free-firmware"]));
    assert_eq!(sec.keyring, keyring);
    assert!(!text.contains("EDIT: the source"), "{text}");
    // Skipped with a comment: the DVD and the three deb-src lines (not the commented-out
    // DVD line).
    assert!(
        text.contains("#   /etc/apt/sources.list:3: deb cdrom:[Debian GNU/Linux 12.5.0")
            && text.contains("cdrom: URIs are not supported"),
        "{text}"
    );
    assert_eq!(
        text.matches("source packages (deb-src) are not mirrored")
            .count(),
        3,
        "{text}"
    );
    assert!(!text.contains("sources.list:1:"), "{text}");
}

#[test]
fn bookworm_deb822_sources() {
    if !gpg_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = host_root(
        tmp.path(),
        "bookworm-deb822",
        &["/usr/share/keyrings/debian-archive-keyring.gpg"],
    );
    let (path, text) = init(tmp.path(), &root, &[]);
    let cfg = Config::load_with_host_root(&path, &root).unwrap_or_else(|e| panic!("{e:#}\n{text}"));
    assert_eq!(
        cfg.apt
            .iter()
            .map(|a| (a.name.as_str(), a.suites.clone()))
            .collect::<Vec<_>>(),
        [
            ("debian", strings(&["bookworm", "bookworm-updates"])),
            ("debian-security", strings(&["bookworm-security"])),
        ],
        "{text}"
    );
    for a in &cfg.apt {
        assert_eq!(
            a.keyring,
            root.join("usr/share/keyrings/debian-archive-keyring.gpg")
        );
        assert_eq!(a.components, strings(&["main", "non-free-firmware"]));
    }
    assert!(
        text.contains("/etc/apt/sources.list.d/local.sources: deb file:/srv/local-repo ./: file: URIs are not supported"),
        "{text}"
    );
}

#[test]
fn noble_ubuntu_sources() {
    if !gpg_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = host_root(
        tmp.path(),
        "noble",
        &["/usr/share/keyrings/ubuntu-archive-keyring.gpg"],
    );
    let (path, text) = init(tmp.path(), &root, &["--packages", "curl"]);
    let cfg = Config::load_with_host_root(&path, &root).unwrap_or_else(|e| panic!("{e:#}\n{text}"));
    let four = strings(&["main", "restricted", "universe", "multiverse"]);
    let keyring = root.join("usr/share/keyrings/ubuntu-archive-keyring.gpg");
    assert_eq!(cfg.apt.len(), 2, "{text}");
    let (main, sec) = (&cfg.apt[0], &cfg.apt[1]);
    assert_eq!(main.name, "ubuntu");
    assert_eq!(main.url, "http://archive.example.org/ubuntu");
    assert_eq!(
        main.suites,
        strings(&["noble", "noble-updates", "noble-backports"])
    );
    assert_eq!(sec.name, "ubuntu-security", "{text}");
    assert_eq!(sec.url, "http://security.example.org/ubuntu");
    assert_eq!(sec.suites, strings(&["noble-security"]));
    for a in [main, sec] {
        assert_eq!(a.components, four);
        assert_eq!(a.keyring, keyring);
        assert_eq!(a.packages, strings(&["foo", "curl"]));
    }

    // Without the keyring on the host the generated config says what to give, and does
    // not validate.
    std::fs::remove_file(&keyring).unwrap();
    let dir2 = tmp.path().join("again");
    std::fs::create_dir_all(&dir2).unwrap();
    let (path, text) = init(&dir2, &root, &[]);
    assert!(
        text.contains("keyring = \"\"   # EDIT: Signed-By names /usr/share/keyrings/ubuntu-archive-keyring.gpg, which is not on this host"),
        "{text}"
    );
    let e = format!(
        "{:#}",
        Config::load_with_host_root(&path, &root).unwrap_err()
    );
    assert!(e.contains("keyring is empty"), "{e}");
}

#[test]
fn the_generated_config_syncs_unedited() {
    if !require_tools(&[
        "dpkg-deb",
        "dpkg-scanpackages",
        "apt-ftparchive",
        "gpg",
        "xz",
        "python3",
    ]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let up = tmp.path().join("up");
    let main = Archive::build(
        &up.join("main"),
        "stable",
        "Test Main Archive <main@example.invalid>",
        &[
            DebSpec::new("foo", "1.0", "amd64").field("Depends", "libbar (>= 1)"),
            DebSpec::new("libbar", "2.0-1", "amd64"),
        ],
        &[],
    )
    .unwrap();
    let security = Archive::build(
        &up.join("security"),
        "stable-security",
        "Test Security Archive <security@example.invalid>",
        &[DebSpec::new("foo", "1.1", "amd64").field("Depends", "libbar (>= 2)")],
        &[],
    )
    .unwrap();
    let server = StaticServer::start(&up).unwrap();
    // A Debian host: a one-line main archive without signed-by (apt's default keyring)
    // and a deb822 security archive with Signed-By.
    let root = tmp.path().join("root");
    let keyrings = root.join("usr/share/keyrings");
    std::fs::create_dir_all(root.join("etc/apt/sources.list.d")).unwrap();
    std::fs::create_dir_all(&keyrings).unwrap();
    std::fs::write(
        root.join("etc/os-release"),
        "ID=debian\nVERSION_ID=\"12\"\n",
    )
    .unwrap();
    std::fs::copy(&main.keyring, keyrings.join("debian-archive-keyring.gpg")).unwrap();
    std::fs::copy(&security.keyring, keyrings.join("test-security.gpg")).unwrap();
    std::fs::write(
        root.join("etc/apt/sources.list"),
        format!(
            "deb {u}/main/www/ stable main\ndeb-src {u}/main/www/ stable main\n",
            u = server.url
        ),
    )
    .unwrap();
    std::fs::write(
        root.join("etc/apt/sources.list.d/security.sources"),
        format!(
            "Types: deb\nURIs: {u}/security/www/\nSuites: stable-security\nComponents: main\nSigned-By: /usr/share/keyrings/test-security.gpg\n",
            u = server.url
        ),
    )
    .unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let config = work.join("mirror.toml");
    sync_cli(&[
        "init",
        "--from-host",
        "--host-root",
        s(&root),
        "--python-cmd",
        "/nonexistent/python3",
        "--packages",
        "foo",
        "--store",
        "store",
        "--output",
        s(&config),
    ])
    .expect("init");
    sync_cli(&["keys", "generate", "--out", s(&work.join("keys"))]).expect("keys");
    let text = std::fs::read_to_string(&config).unwrap();
    let (r, summary) = sync_json(&config);
    r.unwrap_or_else(|e| panic!("{e:#}\n{text}"));
    let mut got: Vec<(String, u64, usize)> = summary["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let r = &u["report"];
            assert_eq!(r["unsatisfied"], serde_json::json!([]), "{summary:#}");
            (
                r["name"].as_str().unwrap().to_owned(),
                r["files"].as_u64().unwrap(),
                r["signers"].as_array().unwrap().len(),
            )
        })
        .collect();
    got.sort();
    // foo 1.1 from the security archive, libbar from the main one; each verified by its
    // own key.
    assert_eq!(
        got,
        [("www".to_owned(), 1, 1), ("www-security".to_owned(), 1, 1)],
        "{summary:#}\n{text}"
    );
}
