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
