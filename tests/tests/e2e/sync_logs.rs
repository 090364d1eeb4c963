//! `mirror-sync -v` / `-vv` / `RUST_LOG`: the run's log goes to stderr, never into the
//! `--json` document on stdout, which stays one valid JSON document.

use std::process::{Command, Stdio};

use mirror_e2e::product::s;
use mirror_e2e::workspace_bin;
use mirror_e2e::world::world;

/// Runs `mirror-sync ARGS` (stdin closed, `RUST_LOG` as given or unset); returns
/// (success, stdout, stderr).
fn sync_run(args: &[&str], rust_log: Option<&str>) -> (bool, String, String) {
    let bin = workspace_bin("mirror-sync").expect("cargo build -p mirror-sync first");
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(v) = rust_log {
        cmd.env("RUST_LOG", v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// stdout parses as exactly one JSON document with `"ok": true`.
fn one_document(stdout: &str) -> serde_json::Value {
    let mut docs = serde_json::Deserializer::from_str(stdout).into_iter::<serde_json::Value>();
    let first = docs
        .next()
        .unwrap_or_else(|| panic!("no JSON document on stdout: {stdout:?}"))
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout:?}"));
    assert!(docs.next().is_none(), "more than one document: {stdout:?}");
    assert_eq!(first["ok"], true, "{first}");
    first
}

#[test]
fn verbose_logs_go_to_stderr_and_json_stays_alone_on_stdout() {
    let Some(w) = world() else { return };
    let config = s(&w.config);

    // No -v: no log lines (warnings only), and the document.
    let (ok, out, err) = sync_run(&["sync", "--json", "--config", config], None);
    assert!(ok, "{err}");
    one_document(&out);
    assert!(!err.contains(" INFO "), "{err}");

    // -v: info events on stderr (the run's start, each upstream, the end); not on stdout.
    let (ok, out, err) = sync_run(&["-v", "sync", "--json", "--config", config], None);
    assert!(ok, "{err}");
    one_document(&out);
    for event in ["sync started", "apt upstream synced", "sync finished"] {
        assert!(
            err.lines()
                .any(|l| l.contains(" INFO ") && l.contains(event)),
            "no INFO {event:?} on stderr:\n{err}"
        );
    }
    assert!(!err.contains(" DEBUG "), "-v printed debug lines:\n{err}");
    assert!(!out.contains("sync started"), "{out}");

    // -vv: debug events for each request (the store already holds every file).
    let (ok, out, err) = sync_run(&["-vv", "sync", "--json", "--config", config], None);
    assert!(ok, "{err}");
    one_document(&out);
    assert!(
        err.lines()
            .any(|l| l.contains(" DEBUG ")
                && (l.contains("GET") || l.contains("already in the store"))),
        "no DEBUG request lines on stderr:\n{err}"
    );

    // RUST_LOG overrides -v: errors only.
    let (ok, out, err) = sync_run(
        &["-vv", "sync", "--json", "--config", config],
        Some("error"),
    );
    assert!(ok, "{err}");
    one_document(&out);
    assert!(!err.contains(" INFO ") && !err.contains(" DEBUG "), "{err}");
}
