use std::time::Duration;

use super::*;

#[test]
fn bytes() {
    assert_eq!(human_bytes(10), "10 B");
    assert_eq!(human_bytes(1536), "1.5 KiB");
    assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
}

#[test]
fn usage_errors() {
    let e = run(["mirror-server", "import"]).unwrap_err();
    assert!(e.downcast_ref::<clap::Error>().is_some());
    let e = run(["mirror-server", "serve", "--store", "x", "--listen", "nope"]).unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
}

#[test]
fn man_pages_for_every_visible_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    run([
        "mirror-server",
        "generate-manpages",
        dir.path().to_str().unwrap(),
    ])
    .unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for want in [
        "mirror-server.1",
        "mirror-server-import.1",
        "mirror-server-serve.1",
        "mirror-server-audit-verify.1",
        "mirror-server-sbom-diff.1",
        "mirror-server-vulns.1",
        "mirror-server-completions.1",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    assert!(
        !names
            .iter()
            .any(|n| n.contains("generate-manpages") || n.contains("help")),
        "{names:?}"
    );
    let serve = std::fs::read_to_string(dir.path().join("mirror-server-serve.1")).unwrap();
    assert!(serve.contains("\\-\\-listen"), "{serve}");
}

#[test]
fn completions_parse() {
    for shell in ["bash", "zsh", "fish"] {
        run(["mirror-server", "completions", shell]).unwrap();
    }
    assert!(run(["mirror-server", "completions", "tcsh"]).is_err());
}

#[test]
fn serve_timeouts_are_positive_seconds() {
    assert_eq!(parse_seconds("10"), Ok(Duration::from_secs(10)));
    assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
    for bad in ["0", "-1", "nan", "inf", "ten", "86401"] {
        assert!(parse_seconds(bad).is_err(), "{bad}");
    }
    let e = run([
        "mirror-server",
        "serve",
        "--store",
        "x",
        "--drain-timeout",
        "0",
    ])
    .unwrap_err();
    assert!(e.to_string().contains("above 0"), "{e}");
}

#[test]
fn error_chain_format() {
    let e = anyhow::anyhow!("inner").context("outer");
    assert_eq!(format_error(&e), "error: outer\n  caused by: inner");
    let e = anyhow::anyhow!("disk full").context("/x: disk full");
    assert_eq!(format_error(&e), "error: /x: disk full");
}
