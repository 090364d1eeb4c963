//! Driving the product in-process: the `mirror-sync` and `mirror-server` command lines
//! (the same entry points the binaries call), `serve` on an ephemeral port, and reading a
//! drive's manifest.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use formats::snapshot::Manifest;

/// A path as `&str` for argument lists (test paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `mirror-sync --quiet ARGS…`, in-process.
pub fn sync_cli(args: &[&str]) -> anyhow::Result<()> {
    let mut v = vec!["mirror-sync", "--quiet"];
    v.extend_from_slice(args);
    mirror_sync::cli::run(v)
}

/// `mirror-sync --json ARGS…`, in-process: the result and the JSON document printed
/// (`null` when nothing parsable was printed).
pub fn sync_cli_json(args: &[&str]) -> (anyhow::Result<()>, serde_json::Value) {
    let mut v = vec!["mirror-sync", "--json"];
    v.extend_from_slice(args);
    let mut out = Vec::new();
    let r = mirror_sync::cli::run_to(v, &mut out);
    let doc = serde_json::from_slice(&out).unwrap_or(serde_json::Value::Null);
    (r, doc)
}

/// `mirror-sync --json sync --config CONFIG`: the result and the summary document it
/// printed (printed even when the sync fails, e.g. images refused by policy).
pub fn sync_json(config: &Path) -> (anyhow::Result<()>, serde_json::Value) {
    sync_cli_json(&["sync", "--config", s(config)])
}

/// `mirror-server ARGS…`, in-process.
pub fn server_cli(args: &[&str]) -> anyhow::Result<()> {
    let mut v = vec!["mirror-server"];
    v.extend_from_slice(args);
    mirror_server::cli::run(v)
}

/// `mirror-server import DRIVE --store STORE --trusted-keys TRUSTED --quiet`, in-process.
pub fn import_drive(drive: &Path, store: &Path, trusted: &Path) -> anyhow::Result<()> {
    server_cli(&[
        "import",
        s(drive),
        "--store",
        s(store),
        "--trusted-keys",
        s(trusted),
        "--quiet",
    ])
}

/// Starts `mirror-server serve` in-process on 127.0.0.1:0, on its own runtime (keep the
/// runtime alive as long as the server should run).
pub fn serve(
    store: &Path,
) -> (
    tokio::runtime::Runtime,
    mirror_server::serve::ServerHandle,
    SocketAddr,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let handle = rt
        .block_on(mirror_server::serve::start(
            store.to_path_buf(),
            "127.0.0.1:0".parse().expect("addr"),
        ))
        .expect("serve");
    let addr = handle.addr;
    (rt, handle, addr)
}

/// The one snapshot on a drive: its manifest path and parsed manifest. Panics unless the
/// drive holds exactly one.
pub fn read_manifest(drive: &Path) -> (PathBuf, Manifest) {
    let mut found = Vec::new();
    for ch in std::fs::read_dir(drive.join("snapshots")).expect("snapshots/") {
        for seq in std::fs::read_dir(ch.expect("entry").path()).expect("channel dir") {
            found.push(seq.expect("entry").path().join("manifest.json"));
        }
    }
    assert_eq!(found.len(), 1, "one snapshot on the drive: {found:?}");
    let path = found.remove(0);
    let m = Manifest::from_slice(&std::fs::read(&path).expect("manifest")).expect("valid manifest");
    (path, m)
}
