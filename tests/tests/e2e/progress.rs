//! Progress off a terminal: `mirror-sync sync` with stderr piped (as under cron, CI,
//! systemd or `| tee`) prints plain progress lines at the interval
//! `MIRROR_PROGRESS_INTERVAL` sets — phase, files done/total, bytes done/total, rate, eta —
//! and a last line when it finishes; `--json` and `--quiet` print none.

use std::process::{Command, Stdio};

use mirror_e2e::product::s;
use mirror_e2e::workspace_bin;
use mirror_e2e::world::world;

/// Runs `mirror-sync ARGS` with stderr piped and the given progress interval; returns
/// (success, stdout, stderr).
fn sync_piped(args: &[&str], interval: &str) -> (bool, String, String) {
    let bin = workspace_bin("mirror-sync").expect("cargo build -p mirror-sync first");
    let out = Command::new(bin)
        .args(args)
        .env("MIRROR_PROGRESS_INTERVAL", interval)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `(done, total)` of `"<label> <done>/<total>,"` in a progress line.
fn pair<'a>(line: &'a str, label: &str) -> (&'a str, &'a str) {
    let rest = line
        .split_once(&format!(" {label} "))
        .unwrap_or_else(|| panic!("no {label} in {line:?}"))
        .1;
    let field = rest.split(',').next().unwrap();
    field.split_once('/').unwrap_or_else(|| panic!("{line:?}"))
}

#[test]
fn sync_off_a_terminal_prints_periodic_progress_lines() {
    let Some(w) = world() else { return };
    let (ok, _, stderr) = sync_piped(&["sync", "--config", s(&w.config)], "0.02");
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("progress: "))
        .collect();
    let (last, periodic) = lines.split_last().expect("progress lines");
    assert!(
        periodic.len() >= 3,
        "expected periodic lines during the sync, got:\n{stderr}"
    );
    for l in &lines {
        for field in [": files ", ", bytes ", ", rate ", "/s, eta ", ", elapsed "] {
            assert!(l.contains(field), "{field:?} missing from {l:?}");
        }
    }
    // The phases the sync goes through are named (the APT universe, `apt: …`, or one of
    // the world's APT upstreams, `fixture: …`/`flat: …`, whichever a tick falls in).
    assert!(
        periodic.iter().any(|l| ["apt: ", "fixture: ", "flat: "]
            .iter()
            .any(|p| l.contains(p))),
        "no APT phase in:\n{stderr}"
    );
    // The last line says the run finished; every announced file was counted once.
    assert!(last.starts_with("progress: finished: files "), "{last}");
    let (done, total) = pair(last, "files");
    assert_eq!(done, total, "{last}");
    assert!(total.parse::<u64>().unwrap() >= 8, "{last}");
    // Every byte counted once: done equals total at the end, and never exceeds it before.
    let (done, total) = pair(last, "bytes");
    assert_eq!(done, total, "{last}");
    for l in periodic {
        let (d, t) = pair(l, "files");
        assert!(
            d.parse::<u64>().unwrap() <= t.parse::<u64>().unwrap(),
            "{l}"
        );
    }

    // --json and --quiet: no progress lines.
    for flag in ["--json", "--quiet"] {
        let (ok, _, stderr) = sync_piped(&[flag, "sync", "--config", s(&w.config)], "0.02");
        assert!(ok, "{stderr}");
        assert!(!stderr.contains("progress: "), "{flag}: {stderr}");
    }
}

#[test]
fn export_and_import_off_a_terminal_print_progress_lines() {
    let Some(w) = world() else { return };
    let (ok, _, stderr) = sync_piped(&["--quiet", "sync", "--config", s(&w.config)], "0.02");
    assert!(ok, "{stderr}");
    let drive = w.path("drive");
    let (ok, _, stderr) = sync_piped(
        &["export", "--config", s(&w.config), "--to", s(&drive)],
        "0.02",
    );
    assert!(ok, "{stderr}");
    let last = stderr
        .lines()
        .rfind(|l| l.starts_with("progress: "))
        .unwrap_or_else(|| panic!("no progress line from export:\n{stderr}"));
    assert!(last.starts_with("progress: finished: "), "{last}");
    let (done, total) = pair(last, "bytes");
    assert_eq!(done, total, "{last}");
    // Every blob written onto the drive is one file of the total.
    let (done, total) = pair(last, "files");
    assert_eq!(done, total, "{last}");
    let blobs = std::fs::read_dir(drive.join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(total, blobs.to_string(), "{last}");

    let server = workspace_bin("mirror-server").expect("cargo build -p mirror-server first");
    let out = Command::new(server)
        .arg("import")
        .arg(&drive)
        .arg("--store")
        .arg(w.path("server-store"))
        .arg("--trusted-keys")
        .arg(w.keys.join("trusted"))
        .env("MIRROR_PROGRESS_INTERVAL", "0.02")
        .env_remove("MIRROR_SERVER_STORE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let last = stderr
        .lines()
        .rfind(|l| l.starts_with("progress: verifying cube-test/1: bytes "))
        .unwrap_or_else(|| panic!("no progress line from import:\n{stderr}"));
    for field in [", rate ", "/s, eta ", ", elapsed "] {
        assert!(last.contains(field), "{field:?} missing from {last:?}");
    }
    let (done, total) = pair(last, "bytes");
    assert_eq!(done, total, "{last}");
}
