//! The Debian packages on a clean root (this machine; CI is a fresh Debian 12 running as
//! root): `deploy/deb/build.sh` builds `mirror-server` and `mirror-sync` with cargo-deb
//! from the binaries `cargo test` already built (stripped; lintian must report no error),
//! `dpkg -i` installs them, and then, as the operator of a Cube would (docs/cube-setup.md):
//! the trust bundle goes into `/etc/mirror/trusted`, the `mirror` user imports a real
//! fixture drive into `/var/lib/mirror-server` and serves it, `client-config` configures
//! an isolated `apt-get`, which installs from it. The man pages, completions and the
//! unit's `systemd-analyze security` exposure (≤ 2.0) are checked, `dpkg -r` keeps the
//! data, and `dpkg --purge` leaves nothing behind (no user, group, store, trust bundle,
//! unit or enablement link). A drop guard purges the packages even when an assertion
//! fails, so the machine is left as it was found.
//!
//! Needs root; without root it skips (and fails under CI). Set `MIRROR_TEST_DEB_DIR` to a
//! directory holding prebuilt `mirror-server_*.deb` and `mirror-sync_*.deb` to test those
//! instead of building (lintian still runs).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mirror_e2e::apt_client::IsolatedApt;
use mirror_e2e::product::{s, sync_cli};
use mirror_e2e::world::world_in;
use mirror_e2e::{Output, in_ci, require_tools, run_command, workspace_bin};

/// The packages this test installs, in install order.
const PACKAGES: [&str; 2] = ["mirror-server", "mirror-sync"];
/// The unit file as installed by the package.
const UNIT: &str = "/usr/lib/systemd/system/mirror-server.service";
/// The most `systemd-analyze security` may report for the unit (the issue's bar).
const MAX_EXPOSURE: f64 = 2.0;

fn run(cmd: &mut Command) -> Output {
    run_command(cmd).unwrap()
}

/// `dpkg ARGS`, retried for up to a minute while another process holds the dpkg lock.
fn dpkg(args: &[&str]) -> Output {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = run(Command::new("dpkg")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive"));
        if out.success() || !out.combined().contains("lock") || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

fn is_installed(package: &str) -> bool {
    run(Command::new("dpkg-query").args(["-W", "-f=${db:Status-Status}", package]))
        .stdout
        .trim()
        == "installed"
}

fn getent(db: &str, key: &str) -> Option<String> {
    let out = run(Command::new("getent").args([db, key]));
    out.success().then(|| out.stdout.trim().to_owned())
}

/// Purges the packages when dropped (the test passed, failed or panicked), so that a
/// failing run does not leave the `mirror` user, the store or the unit on the machine.
struct PurgeGuard;

impl Drop for PurgeGuard {
    fn drop(&mut self) {
        for p in PACKAGES.iter().rev() {
            let out = dpkg(&["--purge", p]);
            if !out.success() {
                eprintln!("cleanup: dpkg --purge {p} failed:\n{out}");
            }
        }
    }
}

/// Kills a child process (the server) when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `.deb` of `package` in `dir` (the one file `<package>_*.deb`).
fn deb_in(dir: &Path, package: &str) -> PathBuf {
    let prefix = format!("{package}_");
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(&prefix) && name.ends_with(".deb")
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {prefix}*.deb in {}: {found:?}",
        dir.display()
    );
    found.into_iter().next().unwrap()
}

/// Builds both packages with `deploy/deb/build.sh --profile P --no-build` from the
/// binaries next to this test (P is the profile they were built with), lintian included;
/// or takes them from `MIRROR_TEST_DEB_DIR` and runs lintian on them. Returns the paths
/// in [`PACKAGES`] order.
fn packages() -> Vec<PathBuf> {
    if let Some(dir) = std::env::var_os("MIRROR_TEST_DEB_DIR") {
        let dir = PathBuf::from(dir);
        let debs: Vec<PathBuf> = PACKAGES.iter().map(|p| deb_in(&dir, p)).collect();
        run(Command::new("lintian")
            .args(["--fail-on", "error"])
            .args(&debs))
        .assert_success();
        return debs;
    }
    let server = workspace_bin("mirror-server").expect("the mirror-server binary");
    workspace_bin("mirror-sync").expect("the mirror-sync binary");
    let profile_dir = server.parent().unwrap();
    let profile = match profile_dir.file_name().unwrap().to_str().unwrap() {
        "debug" => "dev",
        other => other,
    };
    let target_dir = profile_dir.parent().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/deb/build.sh");
    let out = run(Command::new(&script)
        .args(["--profile", profile, "--no-build"])
        .env("CARGO_TARGET_DIR", target_dir));
    out.assert_success();
    // The last lines name the packages.
    let debs: Vec<PathBuf> = out
        .stdout
        .lines()
        .rev()
        .take(2)
        .map(PathBuf::from)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    for (deb, p) in debs.iter().zip(PACKAGES) {
        let name = deb.file_name().unwrap().to_string_lossy();
        assert!(name.starts_with(&format!("{p}_")) && deb.is_file(), "{out}");
    }
    debs
}

/// A free TCP port on 127.0.0.1 (bound, then released for the server to take).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `url` with curl until it answers 200, for at most `limit`.
fn wait_ok(url: &str, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        let out = run(Command::new("curl").args([
            "-sS",
            "--noproxy",
            "*",
            "--max-time",
            "2",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            url,
        ]));
        if out.stdout.trim() == "200" {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{url} did not answer 200 within {limit:?}:\n{out}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether the ELF file at `path` has no symbol table and no debug sections.
fn assert_stripped(path: &str) {
    let out = run(Command::new("readelf").args(["-S", "-W", path]));
    out.assert_success();
    for section in [".symtab", ".debug_info", ".debug_line"] {
        assert!(
            !out.stdout.contains(section),
            "{path} is not stripped: it has {section}\n{out}"
        );
    }
}

/// The overall exposure `systemd-analyze security --offline=true UNIT` reports.
fn exposure(unit: &str) -> f64 {
    let out = run(Command::new("systemd-analyze").args(["security", "--offline=true", unit]));
    out.assert_success();
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure line\n{out}"));
    line.rsplit(':')
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("cannot read the exposure in {line:?}"))
}

#[test]
fn packages_install_import_serve_and_purge_on_a_clean_root() {
    if !is_root() {
        assert!(
            !in_ci(),
            "deb_package needs root (dpkg -i on this machine), and CI is set: run it as root"
        );
        eprintln!("skipping: deb_package needs root (it installs the packages with dpkg -i)");
        return;
    }
    if !require_tools(&[
        "dpkg",
        "dpkg-query",
        "lintian",
        "systemd-analyze",
        "runuser",
        "setpriv",
        "adduser",
        "readelf",
        "curl",
        "gzip",
    ]) {
        return;
    }
    if std::env::var_os("MIRROR_TEST_DEB_DIR").is_none() && !require_tools(&["cargo-deb"]) {
        return;
    }
    // A clean root: nothing of ours is here before the test.
    for p in PACKAGES {
        assert!(
            !is_installed(p),
            "{p} is already installed; this test needs a clean root (dpkg --purge {p})"
        );
    }
    assert_eq!(
        getent("passwd", "mirror"),
        None,
        "a user mirror exists already"
    );
    assert!(!Path::new("/var/lib/mirror-server").exists());
    assert!(!Path::new("/etc/mirror").exists());

    // The connected side: a real fixture drive and its trust bundle.
    let parent = tempfile::Builder::new()
        .prefix("deb-package-")
        .tempdir()
        .unwrap();
    let Some(w) = world_in(parent.path()) else {
        return;
    };
    sync_cli(&["sync", "--config", s(&w.config)]).expect("sync");
    let drive = w.path("drive");
    sync_cli(&["export", "--config", s(&w.config), "--to", s(&drive)]).expect("export");
    // The mirror user reads the drive as it would a mounted USB drive.
    for dir in [parent.path(), w.tmp.path()] {
        run(Command::new("chmod").args(["0755", s(dir)])).assert_success();
    }
    let debs = packages();
    // As docs/cube-setup.md has it: the package and the trust bundle carried on the drive
    // next to the snapshot (import ignores them).
    let server_deb = drive.join(debs[0].file_name().unwrap());
    std::fs::copy(&debs[0], &server_deb).unwrap();
    run(Command::new("cp").args(["-r", s(&w.keys.join("trusted")), s(&drive.join("trusted"))]))
        .assert_success();
    let bundle = drive.join("trusted");

    // ---- the Cube: from here on, what docs/cube-setup.md tells the operator to do.
    let started = Instant::now();
    let _purge = PurgeGuard;
    let install = dpkg(&["-i", s(&server_deb), s(&debs[1])]);
    install.assert_success();
    let installed_at = started.elapsed();
    for p in PACKAGES {
        assert!(is_installed(p), "{p} not installed\n{install}");
    }

    // The system user (Debian Policy §9.2.1): a system uid, no login shell, its home the
    // store, which it owns; the trust bundle directory is root's.
    let passwd = getent("passwd", "mirror").expect("postinst creates the user mirror");
    let fields: Vec<&str> = passwd.split(':').collect();
    let uid: u32 = fields[2].parse().unwrap();
    assert!(uid < 1000, "mirror is a system user: {passwd}");
    assert_eq!(fields[5], "/var/lib/mirror-server", "{passwd}");
    assert_eq!(fields[6], "/usr/sbin/nologin", "{passwd}");
    assert!(
        getent("group", "mirror").is_some(),
        "postinst creates the group mirror"
    );
    let owner = |p: &str| {
        run(Command::new("stat").args(["-c", "%U:%G %a", p]))
            .stdout
            .trim()
            .to_owned()
    };
    assert_eq!(owner("/var/lib/mirror-server"), "mirror:mirror 755");
    assert_eq!(owner("/etc/mirror/trusted"), "root:root 755");

    // Stripped binaries, and one man page per visible command and subcommand of the real
    // CLIs, gzipped roff (`.TH` header).
    for bin in PACKAGES {
        assert_stripped(&format!("/usr/bin/{bin}"));
    }
    let expected_pages: Vec<String> = [
        formats::cli_docs::manpages(mirror_server::cli::command(), "2026-01-01").unwrap(),
        formats::cli_docs::manpages(mirror_sync::cli::command(), "2026-01-01").unwrap(),
    ]
    .concat()
    .into_iter()
    .map(|p| p.file_name)
    .collect();
    assert!(expected_pages.len() >= 25, "{expected_pages:?}");
    for page in &expected_pages {
        let path = format!("/usr/share/man/man1/{page}.gz");
        let out = run(Command::new("gzip").args(["-dc", &path]));
        assert!(out.success(), "man page {path} missing or not gzip\n{out}");
        assert!(out.stdout.contains(".TH "), "{path} is not a man page");
    }
    // Completions for bash, zsh and fish, the scripts the CLIs print.
    for (bin, cmd) in [
        ("mirror-server", mirror_server::cli::command()),
        ("mirror-sync", mirror_sync::cli::command()),
    ] {
        use formats::cli_docs::{Shell, completion};
        for (shell, path) in [
            (
                Shell::Bash,
                format!("/usr/share/bash-completion/completions/{bin}"),
            ),
            (
                Shell::Zsh,
                format!("/usr/share/zsh/vendor-completions/_{bin}"),
            ),
            (
                Shell::Fish,
                format!("/usr/share/fish/vendor_completions.d/{bin}.fish"),
            ),
        ] {
            let installed = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(
                installed,
                completion(cmd.clone(), shell, bin),
                "{path} is not the {shell} completion of {bin}"
            );
        }
    }
    // The unit: the packaged binary, enabled (dh_installsystemd's link), hardened.
    let unit = std::fs::read_to_string(UNIT).expect("the unit is installed");
    let repo_unit =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/systemd/mirror-server.service");
    assert_eq!(
        unit,
        std::fs::read_to_string(&repo_unit).unwrap(),
        "the package installs deploy/systemd/mirror-server.service as is"
    );
    assert!(
        unit.contains("ExecStart=/usr/bin/mirror-server serve --store /var/lib/mirror-server"),
        "{unit}"
    );
    for directive in ["LimitNOFILE=", "MemoryMax=", "User=mirror"] {
        assert!(
            unit.contains(directive),
            "{directive} missing from the unit"
        );
    }
    assert!(
        Path::new("/etc/systemd/system/multi-user.target.wants/mirror-server.service").exists(),
        "the unit is enabled on install"
    );
    let score = exposure(UNIT);
    eprintln!("systemd-analyze security exposure of {UNIT}: {score}");
    assert!(score <= MAX_EXPOSURE, "exposure {score} > {MAX_EXPOSURE}");

    // The trust bundle, then the import, as the mirror user.
    run(Command::new("cp").args([
        "-r",
        "--no-preserve=ownership",
        &format!("{}/.", s(&bundle)),
        "/etc/mirror/trusted/",
    ]))
    .assert_success();
    let before_import = started.elapsed();
    let import = run(Command::new("runuser").args([
        "-u",
        "mirror",
        "--",
        "/usr/bin/mirror-server",
        "import",
        s(&drive),
        "--store",
        "/var/lib/mirror-server",
        "--trusted-keys",
        "/etc/mirror/trusted",
    ]));
    import.assert_success();
    let import_done = started.elapsed();
    let strays = run(Command::new("find").args(["/var/lib/mirror-server", "!", "-user", "mirror"]));
    assert_eq!(
        strays.stdout.trim(),
        "",
        "files in the store not owned by mirror"
    );

    // Serve as the mirror user (setpriv execs: the child is the server itself).
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = Command::new("setpriv")
        .args([
            "--reuid=mirror",
            "--regid=mirror",
            "--init-groups",
            "--",
            "/usr/bin/mirror-server",
            "serve",
            "--store",
            "/var/lib/mirror-server",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the server");
    let server = KillOnDrop(server);
    let before_serve = started.elapsed();
    wait_ok(&format!("{base}/healthz"), Duration::from_secs(20)).unwrap();
    let serving_after = started.elapsed() - before_serve;
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.0.id())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line
            .split_whitespace()
            .skip(1)
            .all(|u| u == uid.to_string()),
        "the server runs as mirror: {uid_line}"
    );

    // The client configuration the operator copies, unedited, then apt-get.
    let apt = IsolatedApt::new(&[]).unwrap();
    let keyring = apt.root().join("keyrings/mirror.gpg");
    let cc = run(Command::new("/usr/bin/mirror-server").args([
        "client-config",
        "--store",
        "/var/lib/mirror-server",
        "--base-url",
        &base,
        "--keyring-path",
        s(&keyring),
        "--json",
    ]));
    cc.assert_success();
    let v: serde_json::Value = serde_json::from_str(&cc.stdout).unwrap();
    for cmd in v["commands"].as_array().unwrap() {
        run(Command::new("sh").args(["-c", cmd.as_str().unwrap()])).assert_success();
    }
    let sources = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "apt-sources")
        .and_then(|f| f["content"].as_str())
        .unwrap_or_else(|| panic!("no apt-sources in {v}"));
    std::fs::write(
        apt.root().join("etc/sources.list.d/mirror.sources"),
        sources,
    )
    .unwrap();
    apt.update().assert_success();
    apt.install_download_only(&["cube-tool"]).assert_success();
    assert!(
        apt.downloaded_debs()
            .iter()
            .any(|d| d == "cube-tool_1.0-1_amd64.deb"),
        "{:?}",
        apt.downloaded_debs()
    );
    let elapsed = started.elapsed();
    eprintln!(
        "Cube setup (dpkg -i, trust bundle, import, serve, client-config, apt-get, and this \
         test's checks): {:.1} s; dpkg -i {:.1} s, import {:.2} s, serve to /healthz {:.2} s",
        elapsed.as_secs_f64(),
        installed_at.as_secs_f64(),
        (import_done - before_import).as_secs_f64(),
        serving_after.as_secs_f64(),
    );
    drop(server);

    // Installing the same package again (dpkg runs the upgrade path: prerm upgrade,
    // postinst configure with the old version) keeps the user, the store and its owner.
    dpkg(&["-i", s(&debs[0])]).assert_success();
    assert_eq!(
        getent("passwd", "mirror"),
        Some(passwd.clone()),
        "the user is kept"
    );
    assert_eq!(owner("/var/lib/mirror-server"), "mirror:mirror 755");
    let snapshots = run(Command::new("/usr/bin/mirror-server").args([
        "snapshots",
        "--store",
        "/var/lib/mirror-server",
    ]));
    snapshots.assert_success();
    assert!(snapshots.stdout.contains("cube-test/1"), "{snapshots}");

    // dpkg -r keeps the data and the user (a reinstall serves the same snapshots).
    dpkg(&["-r", "mirror-server"]).assert_success();
    assert!(!Path::new("/usr/bin/mirror-server").exists());
    assert!(!Path::new(UNIT).exists());
    assert!(
        getent("passwd", "mirror").is_some(),
        "remove keeps the user"
    );
    assert!(
        std::fs::read_dir("/var/lib/mirror-server")
            .unwrap()
            .next()
            .is_some(),
        "remove keeps the store"
    );
    assert!(Path::new("/etc/mirror/trusted/snapshot.pub").exists());

    // dpkg --purge removes everything the package made.
    for p in PACKAGES.iter().rev() {
        dpkg(&["--purge", p]).assert_success();
        assert!(!is_installed(p));
    }
    assert_eq!(getent("passwd", "mirror"), None, "purge removes the user");
    assert_eq!(getent("group", "mirror"), None, "purge removes the group");
    for gone in [
        "/var/lib/mirror-server",
        "/etc/mirror",
        "/usr/bin/mirror-server",
        "/usr/bin/mirror-sync",
        "/usr/share/man/man1/mirror-server.1.gz",
        "/usr/share/bash-completion/completions/mirror-server",
        UNIT,
        "/etc/systemd/system/multi-user.target.wants/mirror-server.service",
        "/var/lib/systemd/deb-systemd-helper-enabled/mirror-server.service.dsh-also",
        "/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/mirror-server.service",
    ] {
        assert!(!Path::new(gone).exists(), "{gone} is left after purge");
    }
}

/// Whether this process runs as root (effective uid 0).
fn is_root() -> bool {
    run(Command::new("id").arg("-u")).stdout.trim() == "0"
}
