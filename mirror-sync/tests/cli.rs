//! The `mirror-sync` binary itself: exit codes, help, and error messages.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mirror-sync"))
}

#[test]
fn help_lists_the_commands() {
    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["keys", "init", "sync", "export", "snapshots"] {
        assert!(text.contains(cmd), "{cmd} missing from --help:\n{text}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let out = bin().args(["sync"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config"));
}

#[test]
fn a_missing_config_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let out = bin()
        .args(["sync", "--config"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: cannot read config"), "{err}");
    assert!(err.contains("nope.toml"), "{err}");
}

#[test]
fn export_before_sync_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let out = bin()
        .args(["--quiet", "keys", "generate", "--out"])
        .arg(&keys)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = std::fs::metadata(keys.join("snapshot.key")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    let cfg = dir.path().join("mirror.toml");
    std::fs::write(
        &cfg,
        r#"
store = "store"
channel = "c"
[signing]
snapshot_key = "keys/snapshot.key"
repo_key = "keys/repo.key.asc"
[[pypi]]
name = "p"
url = "http://127.0.0.1:9/simple/"
projects = ["x"]
"#,
    )
    .unwrap();
    let out = bin()
        .args(["export", "--config"])
        .arg(&cfg)
        .arg("--to")
        .arg(dir.path().join("drive"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("upstream p has never been synced"), "{err}");
    assert!(
        !dir.path().join("drive").exists(),
        "nothing written on failure"
    );
}

/// Parses the whole of `stdout` as one JSON document.
fn json_doc(stdout: &[u8]) -> serde_json::Value {
    serde_json::from_slice(stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}",
            String::from_utf8_lossy(stdout)
        )
    })
}

#[test]
fn json_failure_before_any_output_is_a_json_error_document() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    for args in [
        vec!["--json", "sync", "--config"],
        vec!["--json", "snapshots", "--config"],
    ] {
        let out = bin().args(&args).arg(&missing).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let v = json_doc(&out.stdout);
        assert_eq!(v["ok"], false, "{v}");
        let error = v["error"].as_str().unwrap();
        assert!(error.starts_with("cannot read config"), "{v}");
        assert!(error.contains("nope.toml"), "{v}");
        // The whole chain: the OS error is in it too.
        assert!(v["causes"].as_array().unwrap().len() >= 2, "{v}");
        assert!(
            String::from_utf8_lossy(&out.stderr).starts_with("error: cannot read config"),
            "the human error stays on stderr"
        );
    }
}

/// A sync whose upstreams fail (one unreachable, one with a keyring that is not a
/// keyring) prints one JSON document with `"ok": false` and each upstream's reason.
#[test]
fn failed_json_sync_carries_the_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let out = bin()
        .args(["--quiet", "keys", "generate", "--out"])
        .arg(&keys)
        .output()
        .unwrap();
    assert!(out.status.success());
    // Port 9 (discard) on loopback: nothing listens, the connection is refused.
    std::fs::write(dir.path().join("bad-keyring.gpg"), b"not a keyring").unwrap();
    let cfg = dir.path().join("mirror.toml");
    std::fs::write(
        &cfg,
        r#"
store = "store"
channel = "c"
[signing]
snapshot_key = "keys/snapshot.key"
repo_key = "keys/repo.key.asc"
[sync]
retries = 0
[[pypi]]
name = "unreachable"
url = "http://127.0.0.1:9/simple/"
projects = ["x"]
[[apt]]
name = "badkey"
url = "http://127.0.0.1:9/debian/"
suites = ["stable"]
components = ["main"]
architectures = ["amd64"]
packages = ["jq"]
keyring = "bad-keyring.gpg"
"#,
    )
    .unwrap();
    let out = bin()
        .args(["--json", "sync", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v = json_doc(&out.stdout);
    assert_eq!(v["ok"], false, "{v}");
    let error = v["error"].as_str().unwrap();
    let unreachable = v["errors"]["unreachable"].as_str().unwrap();
    assert!(unreachable.contains("127.0.0.1:9"), "{v}");
    let badkey = v["errors"]["badkey"].as_str().unwrap();
    assert!(badkey.contains("bad-keyring.gpg"), "{v}");
    assert!(
        error.contains("unreachable: ") && error.contains("badkey: "),
        "{v}"
    );
    // The summary's shape is kept.
    assert_eq!(
        v["failed"],
        serde_json::json!(["badkey", "unreachable"]),
        "{v}"
    );
    assert!(v["upstreams"].as_array().unwrap().is_empty(), "{v}");
}

#[test]
fn json_usage_error_is_a_json_document_too() {
    let out = bin().args(["--json", "sync"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v = json_doc(&out.stdout);
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["usage"], true, "{v}");
    assert!(v["error"].as_str().unwrap().contains("--config"), "{v}");
    // Without --json, stdout stays empty.
    let out = bin().args(["sync"]).output().unwrap();
    assert!(out.stdout.is_empty());
}

/// Writes a minimal configuration (one unreachable PyPI upstream) into `dir`, with the
/// keys generated under `dir/keys`, and returns its path.
fn minimal_config(dir: &std::path::Path, store: &str) -> std::path::PathBuf {
    let out = bin()
        .args(["--quiet", "keys", "generate", "--out"])
        .arg(dir.join("keys"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg = dir.join("mirror.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
store = "{store}"
channel = "c"
[signing]
snapshot_key = "keys/snapshot.key"
repo_key = "keys/repo.key.asc"
[[pypi]]
name = "p"
url = "http://127.0.0.1:9/simple/"
projects = ["x"]
"#
        ),
    )
    .unwrap();
    cfg
}

#[test]
fn a_store_that_is_a_file_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = minimal_config(dir.path(), "store");
    std::fs::write(dir.path().join("store"), "not a directory").unwrap();
    for cmd in ["snapshots", "sync"] {
        let out = bin().args([cmd, "--config"]).arg(&cfg).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{cmd}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "the store path {} is a file, not a directory",
                dir.path().join("store").display()
            )),
            "{cmd}: {err}"
        );
        assert!(!err.contains("File exists"), "{cmd}: {err}");
    }
    // A parent of the store path that is a file.
    let cfg = minimal_config(&dir.path().join("second"), "store/inner");
    std::fs::write(dir.path().join("second/store"), "x").unwrap();
    let out = bin()
        .args(["snapshots", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is a file, not a directory"), "{err}");
    assert!(!err.contains("File exists"), "{err}");
}

#[test]
fn permission_denied_on_the_state_database_says_so() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let cfg = minimal_config(dir.path(), "store");
    // Creates store/state.redb.
    let out = bin()
        .args(["snapshots", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state = dir.path().join("store/state.redb");
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
    let out = if root {
        // Root reads anything: run the command as nobody against root's store.
        if !std::path::Path::new("/usr/bin/setpriv").exists() {
            eprintln!("skipped: setpriv (util-linux) not installed");
            return;
        }
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        Command::new("/usr/bin/setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_mirror-sync"))
            .args(["snapshots", "--config"])
            .arg(&cfg)
            .output()
            .unwrap()
    } else {
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o000)).unwrap();
        bin()
            .args(["snapshots", "--config"])
            .arg(&cfg)
            .output()
            .unwrap()
    };
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "cannot open {}: permission denied",
            state.display()
        )),
        "{err}"
    );
    assert!(err.contains("owned by uid "), "{err}");
    assert!(err.contains("this mirror-sync runs as uid "), "{err}");
    if root {
        assert!(err.contains("owned by uid 0 (root), mode 0644"), "{err}");
        assert!(err.contains("runs as uid 65534"), "{err}");
    }
    assert!(!err.contains("another mirror-sync"), "{err}");
}

#[test]
fn private_keys_others_can_read_are_warned_about() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let cfg = minimal_config(dir.path(), "store");
    let key = dir.path().join("keys/snapshot.key");
    let repo = dir.path().join("keys/repo.key.asc");
    let bundle = |d: &str| {
        bin()
            .args(["--json", "keys", "bundle", "--config"])
            .arg(&cfg)
            .arg("--out")
            .arg(dir.path().join(d))
            .output()
            .unwrap()
    };
    // 0600 as generated: no warning.
    let out = bundle("t1");
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
    assert_eq!(json_doc(&out.stdout)["warnings"], serde_json::json!([]));

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&repo, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = bundle("t2");
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let want = format!(
        "warning: private key {} is readable by its group and other users (mode 0644): anyone who can read it can sign with it; run chmod 600 {}",
        key.display(),
        key.display()
    );
    assert!(err.contains(&want), "{err}");
    let doc = json_doc(&out.stdout);
    assert_eq!(doc["warnings"].as_array().unwrap().len(), 1, "{doc}");

    // export reads both keys: both are warned about (it then stops: nothing synced yet).
    let out = bin()
        .args(["export", "--config"])
        .arg(&cfg)
        .arg("--to")
        .arg(dir.path().join("drive"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&want), "{err}");
    assert!(
        err.contains(&format!(
            "warning: private key {} is readable by its group (mode 0640)",
            repo.display()
        )),
        "{err}"
    );
}

#[test]
fn errors_reach_the_terminal_escaped() {
    // A path carrying a clear-screen sequence and a right-to-left override: the error
    // quotes it, escaped; the --json document keeps it exact.
    let dir = tempfile::tempdir().unwrap();
    let hostile = dir.path().join("x\u{1b}[2J\u{202e}.toml");
    let out = bin()
        .args(["--json", "sync", "--config"])
        .arg(&hostile)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("x\\u{1b}[2J\\u{202e}.toml"), "{err}");
    assert!(
        !err.contains('\u{1b}') && !err.contains('\u{202e}'),
        "{err:?}"
    );
    let v = json_doc(&out.stdout);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("x\u{1b}[2J\u{202e}.toml"),
        "{v}"
    );
}
