//! `--json` runs that fail print a JSON error document — `{"ok": false, "error": "<the
//! whole context chain>", "causes": […]}` — where the command's document would have gone
//! (stdout; stderr for `receipt`), besides the `error:` lines on stderr.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn run(args: &[&str], store: &Path) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mirror-server"))
        .args(args)
        .arg("--store")
        .arg(store)
        .env_remove("MIRROR_SERVER_STORE")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn error_doc(text: &str) -> Value {
    let v: Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{text}"));
    assert_eq!(v["ok"], Value::Bool(false), "{v}");
    assert!(!v["causes"].as_array().unwrap().is_empty(), "{v}");
    v
}

#[test]
fn failed_json_commands_print_an_error_document() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let missing = dir.path().join("no-such-drive");

    // import: the drive is missing.
    let (code, stdout, stderr) = run(
        &[
            "import",
            missing.to_str().unwrap(),
            "--trusted-keys",
            dir.path().to_str().unwrap(),
            "--json",
        ],
        &store,
    );
    assert_eq!(code, Some(1));
    assert!(stderr.starts_with("error: "), "{stderr}");
    let v = error_doc(&stdout);
    let error = v["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!("drive {}: does not exist", missing.display())),
        "{v}"
    );
    // A cause the message already holds is not repeated.
    assert_eq!(error.matches("does not exist").count(), 1, "{v}");

    // rollback: nothing to roll back to in an empty store.
    let (code, stdout, _) = run(&["rollback", "--json"], &store);
    assert_eq!(code, Some(1));
    error_doc(&stdout);

    // pin: nothing imported yet.
    let (code, stdout, _) = run(&["pin", "nope/1", "--json"], &store);
    assert_eq!(code, Some(1));
    let v = error_doc(&stdout);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("no snapshot imported yet"),
        "{v}"
    );

    // Without --json: no JSON on stdout.
    let (code, stdout, _) = run(&["pin", "nope/1"], &store);
    assert_eq!(code, Some(1));
    assert!(stdout.is_empty(), "{stdout}");
}

#[test]
fn json_usage_error_is_a_json_document_too() {
    let out = Command::new(env!("CARGO_BIN_EXE_mirror-server"))
        .args(["gc", "--json", "--keep", "many"])
        .env_remove("MIRROR_SERVER_STORE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v = error_doc(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(v["usage"], Value::Bool(true), "{v}");
}
