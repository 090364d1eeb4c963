//! Command line: `mirror-server import …`, `serve …`, `snapshots …` and `client-config …`.
//!
//! Exit codes: 0 success, 1 error (printed as `error: <msg>` plus `  caused by: …` lines),
//! 2 usage error.

use std::ffi::OsString;
use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use crate::import::{ImportOptions, ImportSummary, import};

/// The air-gapped mirror server: import snapshot drives, serve them.
#[derive(Debug, Parser)]
#[command(name = "mirror-server", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Verify a snapshot drive and make its snapshot live (all or nothing).
    Import(ImportArgs),
    /// Serve the live snapshot over HTTP (read-only).
    Serve(ServeArgs),
    /// List the imported snapshots (name, channel, sequence, created, signer, size, live).
    Snapshots(SnapshotsArgs),
    /// Print containerd hosts.toml, docker daemon.json and podman registries.conf entries
    /// that point clients at this server's OCI registry.
    ClientConfig(ClientConfigArgs),
}

/// `mirror-server client-config`.
#[derive(Debug, Args)]
pub struct ClientConfigArgs {
    /// The URL clients reach this server at.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    pub listen_url: String,
    /// The server's store directory: configure every registry its live snapshot serves.
    #[arg(long, env = "MIRROR_SERVER_STORE")]
    pub store: Option<PathBuf>,
    /// An upstream registry, HOST or HOST:PORT, to configure in addition to the served ones.
    #[arg(long = "registry", value_name = "HOST[:PORT]")]
    pub registries: Vec<String>,
    /// Print the configuration as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `mirror-server snapshots`.
#[derive(Debug, Args)]
pub struct SnapshotsArgs {
    /// The server's store directory.
    #[arg(long, env = "MIRROR_SERVER_STORE")]
    pub store: PathBuf,
    /// Print the list as one JSON array.
    #[arg(long)]
    pub json: bool,
}

/// `mirror-server import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Root of the snapshot drive (holds blobs/ and snapshots/).
    pub drive: PathBuf,
    /// The server's store directory.
    #[arg(long, env = "MIRROR_SERVER_STORE")]
    pub store: PathBuf,
    /// Directory of trusted ed25519 public keys (*.pub / *.pem, PEM).
    #[arg(long, env = "MIRROR_SERVER_TRUSTED_KEYS")]
    pub trusted_keys: PathBuf,
    /// Snapshot to import, CHANNEL/SEQ, when the drive holds several.
    #[arg(long, value_name = "CHANNEL/SEQ")]
    pub snapshot: Option<String>,
    /// Accept a snapshot that is not newer than the live one (recorded in the audit log).
    #[arg(long)]
    pub allow_downgrade: bool,
    /// Cosign signature policy for OCI images (TOML `[verify]` table, same rules as
    /// mirror-sync's `[oci.verify]`; key paths relative to the file). An image a
    /// `required` rule covers without a verifying signature refuses the import.
    #[arg(long, value_name = "FILE", env = "MIRROR_SERVER_POLICY")]
    pub policy: Option<PathBuf>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// No progress bar and no summary.
    #[arg(long)]
    pub quiet: bool,
}

/// `mirror-server serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The server's store directory.
    #[arg(long, env = "MIRROR_SERVER_STORE")]
    pub store: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "MIRROR_SERVER_LISTEN")]
    pub listen: SocketAddr,
}

/// Entry point of the binary: parses `std::env::args_os`, runs, reports errors.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(std::env::args_os()) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", format_error(&e));
            ExitCode::from(1)
        }
    }
}

/// `error: <msg>` followed by one `  caused by: <cause>` line per source in the chain;
/// a cause whose text the previous line already contains is not repeated.
pub fn format_error(e: &anyhow::Error) -> String {
    let mut s = format!("error: {e}");
    let mut last = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !last.contains(&text) {
            s.push_str(&format!("\n  caused by: {text}"));
        }
        last = text;
    }
    s
}

/// Parses `args` (`args[0]` is the program name) and runs the command in-process.
/// `--help`/`--version` print and return `Ok`; usage errors are returned as errors.
pub fn run<I, T>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    execute(cli)
}

fn execute(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Import(a) => run_import(a),
        Command::Serve(a) => run_serve(a),
        Command::Snapshots(a) => run_snapshots(a),
        Command::ClientConfig(a) => run_client_config(a),
    }
}

fn run_client_config(a: ClientConfigArgs) -> anyhow::Result<()> {
    use crate::serve::oci::client_config::{client_config, render_text, served_registries};
    let mut registries = a.registries;
    if let Some(store) = &a.store {
        let live = crate::live::load(store)
            .with_context(|| format!("cannot read the live snapshot of {}", store.display()))?;
        match live {
            Some(l) => registries.extend(served_registries(&l.oci)),
            None if registries.is_empty() => anyhow::bail!(
                "{}: no snapshot imported yet (run mirror-server import, or name registries with --registry)",
                store.display()
            ),
            None => {}
        }
    }
    let config = client_config(&a.listen_url, &registries)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&config)?);
    } else {
        print!("{}", render_text(&config));
    }
    Ok(())
}

#[derive(serde::Serialize)]
struct SnapshotRow {
    #[serde(flatten)]
    record: store::SnapshotRecord,
    live: bool,
    current: bool,
}

fn run_snapshots(a: SnapshotsArgs) -> anyhow::Result<()> {
    let index_path = a.store.join(crate::live::INDEX_FILE);
    let Some(index) = store::Index::open_read_only(&index_path)? else {
        anyhow::bail!(
            "{}: no snapshot imported yet (run mirror-server import)",
            index_path.display()
        );
    };
    let current = index.current()?;
    let mut rows = Vec::new();
    for record in index.snapshots()? {
        let live = index.live(&record.channel)?.as_deref() == Some(record.name.as_str());
        let is_current = current.as_deref() == Some(record.name.as_str());
        rows.push(SnapshotRow {
            record,
            live,
            current: is_current,
        });
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<2} {:<28} {:<20} {:>8} {:<22} {:<26} {:>10}  artifacts",
        "", "snapshot", "channel", "sequence", "created", "signer", "size"
    );
    for r in &rows {
        let marker = match (r.current, r.live) {
            (true, _) => "*",
            (false, true) => "+",
            _ => "",
        };
        println!(
            "{:<2} {:<28} {:<20} {:>8} {:<22} {:<26} {:>10}  {}",
            marker,
            r.record.name,
            r.record.channel,
            r.record.sequence,
            r.record.created,
            r.record.signer,
            human_bytes(r.record.bytes),
            r.record.artifacts
        );
    }
    println!("(* served at the root, + live on its channel)");
    Ok(())
}

fn run_import(a: ImportArgs) -> anyhow::Result<()> {
    let opts = ImportOptions {
        drive: a.drive,
        store: a.store,
        trusted_keys: a.trusted_keys,
        snapshot: a.snapshot,
        allow_downgrade: a.allow_downgrade,
        policy: a.policy,
        progress: !a.quiet && !a.json && std::io::stderr().is_terminal(),
    };
    let summary = import(&opts)?;
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else if !a.quiet {
        print!("{}", render_summary(&summary));
    }
    Ok(())
}

/// Human-readable import summary (several lines, trailing newline).
pub fn render_summary(s: &ImportSummary) -> String {
    let mut out = format!(
        "imported snapshot {} (channel {}, sequence {})\n",
        s.snapshot, s.channel, s.sequence
    );
    out.push_str(&format!(
        "  signed by {} ({})\n",
        s.signer, s.signer_key_file
    ));
    out.push_str(&format!(
        "  {} artifacts, {} blobs: {} copied, {} already present\n",
        s.artifacts, s.blobs, s.blobs_copied, s.blobs_present
    ));
    out.push_str(&format!(
        "  copied {} in {:.1} s ({}/s)\n",
        human_bytes(s.bytes_copied),
        s.elapsed_secs,
        human_bytes(s.throughput_bytes_per_sec as u64)
    ));
    match &s.previous_live {
        Some(p) => out.push_str(&format!("  live on {} (was {p})", s.channel)),
        None => out.push_str(&format!("  live on {}", s.channel)),
    }
    if s.forced {
        out.push_str(" — downgrade forced, recorded in the audit log");
    }
    out.push('\n');
    out
}

/// `1536` → `"1.5 KiB"`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS.get(u).copied().unwrap_or("B"))
    }
}

fn run_serve(a: ServeArgs) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let handle = crate::serve::start(a.store, a.listen).await?;
        eprintln!("mirror-server listening on http://{}", handle.addr);
        wait_for_signal().await;
        handle.shutdown().await;
        Ok(())
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
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
    fn error_chain_format() {
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(format_error(&e), "error: outer\n  caused by: inner");
        let e = anyhow::anyhow!("disk full").context("/x: disk full");
        assert_eq!(format_error(&e), "error: /x: disk full");
    }
}
