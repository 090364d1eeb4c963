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
