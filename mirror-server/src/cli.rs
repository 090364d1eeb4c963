//! Command line: `mirror-server import …`, `serve …`, `snapshots …`, `rollback …`,
//! `pin …`, `unpin …`, `gc …`, `verify …`, `audit verify|show …`, `receipt …`,
//! `client-config …` and `completions SHELL` (plus the hidden `generate-manpages DIR`
//! that `deploy/deb/build.sh` uses for the package's man pages).
//!
//! Exit codes: 0 success, 1 error (printed as `error: <msg>` plus `  caused by: …` lines;
//! also when `verify` or `audit verify` finds a problem, after the report), 2 usage error.
//! Every command that reports takes `--json` (one JSON value on stdout; for `receipt`,
//! whose stdout is the receipt, on stderr). A command run with `--json` that fails before
//! printing its document prints `{"ok": false, "error": "<the whole context chain>",
//! "causes": […]}` there instead ([`error_json`]), besides the `error:` lines on stderr.

use std::ffi::OsString;
use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use formats::display::Escaped;

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
    /// List the held snapshots (name, channel, sequence, created, signer, size, artifacts,
    /// live and pinned markers).
    Snapshots(SnapshotsArgs),
    /// Make an older held snapshot live again (or any held one with --to).
    Rollback(RollbackArgs),
    /// Pin a snapshot so that gc keeps it.
    Pin(PinArgs),
    /// Remove the pin of a snapshot.
    Unpin(UnpinArgs),
    /// Remove old snapshots and every blob only they used.
    Gc(GcArgs),
    /// Re-hash every blob and check every held snapshot; non-zero exit on any problem.
    Verify(VerifyArgs),
    /// Check or show the store's hash-chained audit log.
    Audit(AuditArgs),
    /// Write a signed receipt of what this site holds (snapshots, blob digests), for a
    /// catch-up drive (`mirror-sync export --receipt`).
    Receipt(ReceiptArgs),
    /// Show or compare snapshot SBOMs (CycloneDX 1.6, SPDX 2.3).
    #[command(subcommand)]
    Sbom(SbomCommand),
    /// Print the client configuration for everything the live snapshot serves: apt
    /// sources (deb822 and one-line, every suite and component, Signed-By the repository
    /// key), pip.conf and uv.toml, and containerd hosts.toml, docker daemon.json and podman
    /// registries.conf when images are served.
    ClientConfig(ClientConfigArgs),
    /// Print the shell completion script for SHELL on stdout.
    Completions(CompletionsArgs),
    /// Write one man page per command and subcommand into DIR (for packaging).
    #[command(hide = true)]
    GenerateManpages(GenerateManpagesArgs),
}

/// `mirror-server completions SHELL`.
#[derive(Debug, Args)]
#[command(
    after_help = "Installed by the Debian package for bash, zsh and fish. By hand, e.g.:\n  \
    mirror-server completions bash > ~/.local/share/bash-completion/completions/mirror-server"
)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: formats::cli_docs::Shell,
}

/// `mirror-server generate-manpages DIR` (hidden).
#[derive(Debug, Args)]
pub struct GenerateManpagesArgs {
    /// Directory to write the pages into (created; `mirror-server.1`,
    /// `mirror-server-import.1`, …, uncompressed roff).
    pub dir: PathBuf,
}

/// `mirror-server sbom`.
#[derive(Debug, Subcommand)]
pub enum SbomCommand {
    /// Print a snapshot's SBOM document (exact bytes, checked against the manifest).
    ///
    /// SNAPSHOT is a drive path (a drive root with one snapshot, a snapshot directory or its
    /// manifest.json) or CHANNEL/SEQ of a snapshot held by --store.
    Show {
        /// Drive path or CHANNEL/SEQ.
        snapshot: String,
        /// Document format.
        #[arg(long, default_value = "cyclonedx", value_parser = crate::sbom::FORMATS)]
        format: String,
        /// The server's store directory, to find held snapshots by name.
        #[arg(long, env = "MIRROR_SERVER_STORE")]
        store: Option<PathBuf>,
    },
    /// List the packages added, removed and changed (old version -> new version) from
    /// snapshot A to snapshot B, per ecosystem (deb, pypi, oci).
    Diff {
        /// The older snapshot: drive path or CHANNEL/SEQ.
        a: String,
        /// The newer snapshot: drive path or CHANNEL/SEQ.
        b: String,
        /// The server's store directory, to find held snapshots by name.
        #[arg(long, env = "MIRROR_SERVER_STORE")]
        store: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// `mirror-server client-config`.
#[derive(Debug, Args)]
#[command(
    after_help = "Each file is printed after a `### <kind>: <path>` line, with its suggested \
path; the commands before them install the repository key where the apt sources' Signed-By \
says. --json prints {base_url, snapshot, apt, repo_key, pypi_index_url, oci, tls, files: [{kind, \
path, content}], commands, notes}. With an https base URL, --ca-cert adds the CA settings of \
each client (and --client-cert/--client-key the mTLS ones); private keys are never printed, \
only copied by --write. Nothing is refused because one ecosystem is not served: \
its files are left out and a note says so.\n\n\
Examples:\n  mirror-server client-config --store /srv/mirror --base-url http://mirror.cube:8080\n  \
mirror-server client-config --store /srv/mirror --write /tmp/client   # then copy /tmp/client/etc onto the client"
)]
pub struct ClientConfigArgs {
    /// The URL clients reach this server at (`http(s)://host[:port]`; a bare `host:port`
    /// means http).
    #[arg(
        long,
        visible_aliases = ["base-url", "listen"],
        value_name = "URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub listen_url: String,
    /// The server's store directory: configure everything its live snapshot serves.
    #[arg(long, env = "MIRROR_SERVER_STORE")]
    pub store: Option<PathBuf>,
    /// An upstream registry, HOST or HOST:PORT, to configure in addition to the served ones.
    #[arg(long = "registry", value_name = "HOST[:PORT]")]
    pub registries: Vec<String>,
    /// Where clients install the APT repository key: the `Signed-By:` path of the sources.
    #[arg(long, value_name = "FILE", default_value = crate::client_config::DEFAULT_KEYRING_PATH)]
    pub keyring_path: String,
    /// Also write every file (and the repository key) under DIR, at DIR/SUGGESTED_PATH.
    #[arg(long, value_name = "DIR")]
    pub write: Option<PathBuf>,
    /// PEM CA certificate the server's TLS certificate chains to (https base URL only):
    /// configures apt, pip, uv, curl, Docker, podman and containerd to trust it for the
    /// mirror (copied to TLS_DIR/mirror-ca.crt and the certs.d directories).
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Client certificate (PEM) the clients present to a server started with
    /// --tls-client-ca (mTLS); needs --client-key and --ca-cert.
    #[arg(long, value_name = "FILE", requires_all = ["client_key", "ca_cert"])]
    pub client_cert: Option<PathBuf>,
    /// Private key (PEM) of --client-cert; copied by --write with mode 0600, never printed.
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// Directory on the client for the CA certificate, client certificate and uv.env.
    #[arg(long, value_name = "DIR", default_value = crate::client_config::DEFAULT_TLS_DIR)]
    pub tls_dir: String,
    /// Print the configuration as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `mirror-server snapshots`.
#[derive(Debug, Args)]
#[command(
    after_help = "In the table, * marks the snapshot live on its channel and P a pinned one; \
the snapshot served at the root is named below the table. --json adds imported_at, the \
manifest and signature blobs, current, and the pin's reason and time."
)]
pub struct SnapshotsArgs {
    /// The server's store directory.
    #[arg(long, env = "MIRROR_SERVER_STORE")]
    pub store: PathBuf,
    /// Print the list as one JSON array.
    #[arg(long)]
    pub json: bool,
}

/// `mirror-server rollback`.
#[derive(Debug, Args)]
#[command(
    after_help = "Without --to: the next lower sequence still held on the channel of the \
snapshot served at the root (or on --channel). The target's blobs are checked present with the \
right size first; then it becomes live and current in one transaction, running servers switch \
within a second, and a rollback record is appended to the audit log.\n\n\
Examples:\n  mirror-server rollback --store /srv/mirror\n  \
mirror-server rollback --to stable/41 --store /srv/mirror --json"
)]
pub struct RollbackArgs {
    /// The server's store directory.
    #[arg(long, env = "MIRROR_SERVER_STORE")]
    pub store: PathBuf,
    /// The snapshot to make live, CHANNEL/SEQ (default: the previous one held).
    #[arg(long, value_name = "CHANNEL/SEQ")]
    pub to: Option<String>,
    /// The channel to roll back (default: that of --to, else of the snapshot served at
    /// the root).
    #[arg(long)]
    pub channel: Option<String>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `mirror-server pin`.
#[derive(Debug, Args)]
#[command(
    after_help = "A pinned snapshot is never removed by gc and stays reachable under \
/snapshots/<channel>/<seq>/. Pinning is recorded in the audit log.\n\n\
Example:\n  mirror-server pin stable/41 --reason \"release 4.1 baseline\" --store /srv/mirror"
)]
pub struct PinArgs {
    /// The snapshot, CHANNEL/SEQ.
    #[arg(value_name = "CHANNEL/SEQ")]
    pub name: String,
    /// The server's store directory.
    #[arg(long, env = "MIRROR_SERVER_STORE")]
    pub store: PathBuf,
    /// Why it is pinned (kept in the index and the audit log).
    #[arg(long)]
    pub reason: Option<String>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `mirror-server unpin`.
#[derive(Debug, Args)]
#[command(after_help = "The snapshot stays held until gc removes it. Recorded in the audit log.")]
pub struct UnpinArgs {
    /// The snapshot, CHANNEL/SEQ.
    #[arg(value_name = "CHANNEL/SEQ")]
    pub name: String,
    /// The server's store directory.
    #[arg(long, env = "MIRROR_SERVER_STORE")]
    pub store: PathBuf,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `mirror-server gc`.
#[derive(Debug, Args)]
#[command(
    after_help = "Kept: the live snapshot of every channel, the snapshot served at the \
root, pinned snapshots, and the --keep highest sequences of every channel. Every other \
snapshot record is removed (one transaction), then every blob no kept snapshot references, \
and stale import staging directories. Holds the store lock, so it never runs during an \
import. Recorded in the audit log.\n\n\
Examples:\n  mirror-server gc --keep 3 --store /srv/mirror --dry-run\n  \
mirror-server gc --keep 3 --store /srv/mirror"
)]
pub struct GcArgs {
    /// The server's store directory.
    #[arg(long, env = "MIRROR_SERVER_STORE")]
    pub store: PathBuf,
    /// How many of the highest sequences to keep on every channel (at least 1).
    #[arg(long, value_name = "N")]
    pub keep: usize,
    /// Only report what would be removed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `mirror-server verify`.
#[derive(Debug, Args)]
#[command(
    after_help = "Reports every blob whose bytes no longer match its name or size, every \
blob a held snapshot references that is missing, and every snapshot whose manifest blob does \
not parse, each with the snapshots and paths using it; exits 1 if there is any. Orphan blobs \
and stale staging directories are reported as information (gc removes them). Hashes on all \
cores; progress on stderr (a bar on a terminal, else a plain line every \
MIRROR_PROGRESS_INTERVAL seconds, default 10)."
)]
pub struct VerifyArgs {
    /// The server's store directory.
    #[arg(long, env = "MIRROR_SERVER_STORE")]
    pub store: PathBuf,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Hashing threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// `mirror-server receipt`.
#[derive(Debug, Args)]
#[command(
    after_help = "The receipt (a DSSE-signed JSON file, docs/receipt-format.md) goes to stdout, \
or to --out; a one-line summary goes to stderr (--json: one JSON object on stderr). It lists \
the live snapshot of every channel, every held snapshot (name, manifest digest, live, pinned) \
and the digests of every blob in the store, and nothing else: no paths, host or user names. It \
is signed with the site key STORE/site.key, made on first use (public half: STORE/site.pub, \
to pin on the connected side). Recorded in the audit log. Do not run gc between making a \
receipt and importing the catch-up drive cut from it.\n\n\
Examples:\n  mirror-server receipt --store /srv/mirror > receipt.json\n  \
mirror-server receipt --store /srv/mirror --out /media/usb/receipt.json"
)]
pub struct ReceiptArgs {
    /// The server's store directory.
    #[arg(long, env = "MIRROR_SERVER_STORE")]
    pub store: PathBuf,
    /// Write the receipt to FILE (atomically) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print the summary as one JSON object on stderr.
    #[arg(long)]
    pub json: bool,
}

/// `mirror-server audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// What to do with the audit log.
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// `mirror-server audit …` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain of STORE/audit.log; exit 1 naming the first broken line.
    #[command(
        after_help = "Each record carries seq (its line number) and prev, the SHA-256 of \
the previous line (the first line: the SHA-256 of the empty string). Lines without seq/prev \
written by older versions are accepted only before the first chained record. STORE/audit.head \
records the last line's hash, so removing or editing the last record is detected too."
    )]
    Verify(AuditVerifyArgs),
    /// Print the records of STORE/audit.log.
    Show(AuditShowArgs),
}

/// `mirror-server audit verify`.
#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    /// The server's store directory.
    #[arg(long, env = "MIRROR_SERVER_STORE")]
    pub store: PathBuf,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `mirror-server audit show`.
#[derive(Debug, Args)]
pub struct AuditShowArgs {
    /// The server's store directory.
    #[arg(long, env = "MIRROR_SERVER_STORE")]
    pub store: PathBuf,
    /// Print the records as one JSON array (each record as stored).
    #[arg(long)]
    pub json: bool,
    /// Only the last N records.
    #[arg(long, value_name = "N")]
    pub last: Option<usize>,
}

/// `mirror-server import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Root of the snapshot drive (holds blobs/ and snapshots/). For a snapshot spread
    /// over several volumes, give every volume at hand, in any order; the import keeps what
    /// it verified and says which volumes are still needed.
    #[arg(required = true, value_name = "DRIVE")]
    pub drives: Vec<PathBuf>,
    /// The server's store directory.
    #[arg(long, env = "MIRROR_SERVER_STORE")]
    pub store: PathBuf,
    /// The trust bundle written by `mirror-sync keys bundle`: trusted ed25519 snapshot keys
    /// (*.pub / *.pem, PEM) and, in upstream/, the upstream APT keyrings. Checked, with
    /// the store's free space, before anything is copied.
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
    /// Serving threads, each with its own event loop, sharing one listening socket
    /// (default: one per CPU).
    #[arg(long, env = "MIRROR_SERVER_WORKERS", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: Option<u16>,
    /// Write one line per request (time, client, method, target, status, bytes, duration,
    /// snapshot) to FILE, appended, or to standard output with `-`. Default: no access
    /// log.
    #[arg(long, value_name = "FILE|-", env = "MIRROR_SERVER_ACCESS_LOG")]
    pub access_log: Option<String>,
    /// Access-log line format: `combined` (Apache/nginx combined log format plus
    /// duration, snapshot and completeness) or `json` (one object per line).
    #[arg(
        long,
        value_enum,
        default_value = "combined",
        env = "MIRROR_SERVER_ACCESS_LOG_FORMAT"
    )]
    pub access_log_format: crate::serve::AccessLogFormat,
    /// Format of the server's own log on standard error: `text` (human-readable) or
    /// `json` (one JSON object per event; level, time, message and fields). RUST_LOG
    /// filters it (default `info`).
    #[arg(
        long,
        value_enum,
        default_value = "text",
        env = "MIRROR_SERVER_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
    /// Cap on open client connections; over it a new connection is closed at once and
    /// counted in mirror_connections_refused_total (default: the descriptor limit minus a
    /// reserve for the store and reloads, at most 4096).
    #[arg(long, value_name = "N", env = "MIRROR_SERVER_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,
    /// Seconds a client has to send its first request after connecting, and to finish a
    /// request head once it has started one (cuts slowloris clients).
    #[arg(long, value_name = "SECONDS", default_value = "10", env = "MIRROR_SERVER_HEADER_TIMEOUT", value_parser = parse_seconds)]
    pub header_timeout: Duration,
    /// Seconds an idle keep-alive connection (no request in flight) is kept open.
    #[arg(long, value_name = "SECONDS", default_value = "60", env = "MIRROR_SERVER_IDLE_TIMEOUT", value_parser = parse_seconds)]
    pub idle_timeout: Duration,
    /// Minimum rate, in bytes per second, of a download whose client stops reading; a
    /// response below it for --min-rate-period is cut (0: never cut).
    #[arg(
        long,
        value_name = "BYTES_PER_SECOND",
        default_value = "1024",
        env = "MIRROR_SERVER_MIN_RATE"
    )]
    pub min_rate: u64,
    /// Seconds over which --min-rate is measured.
    #[arg(long, value_name = "SECONDS", default_value = "30", env = "MIRROR_SERVER_MIN_RATE_PERIOD", value_parser = parse_seconds)]
    pub min_rate_period: Duration,
    /// Seconds SIGTERM/SIGINT lets in-flight requests finish before every connection is
    /// closed and the server exits.
    #[arg(long, value_name = "SECONDS", default_value = "10", env = "MIRROR_SERVER_DRAIN_TIMEOUT", value_parser = parse_seconds)]
    pub drain_timeout: Duration,
    /// Serve HTTPS (HTTP/1.1 and HTTP/2 by ALPN) with this PEM certificate chain (server
    /// certificate first); needs --tls-key. Re-read on SIGHUP.
    #[arg(
        long,
        value_name = "FILE",
        env = "MIRROR_SERVER_TLS_CERT",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (not readable by other users). Re-read on SIGHUP.
    #[arg(
        long,
        value_name = "FILE",
        env = "MIRROR_SERVER_TLS_KEY",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates (mTLS) chaining to a CA certificate of this PEM file;
    /// needs --tls-cert. Re-read on SIGHUP.
    #[arg(
        long,
        value_name = "FILE",
        env = "MIRROR_SERVER_TLS_CLIENT_CA",
        requires = "tls_cert"
    )]
    pub tls_client_ca: Option<PathBuf>,
}

/// Parses a positive number of seconds (`10`, `0.5`) for the serve timeouts.
fn parse_seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds (e.g. 10 or 0.5)"))?;
    if !v.is_finite() || v <= 0.0 || v > 86_400.0 {
        return Err(format!(
            "{s} seconds: give a number above 0 and at most 86400"
        ));
    }
    Ok(Duration::from_secs_f64(v))
}

/// Format of `serve`'s own log (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (tracing-subscriber's JSON formatter).
    Json,
}

/// `println!` for human output: the text goes through [`formats::display::escape_text`],
/// since it shows snapshot names, paths, reasons and package names that came from a
/// drive or an upstream (`--json` output is printed as is: JSON escapes them itself).
macro_rules! say {
    ($($arg:tt)*) => {
        println!("{}", formats::display::escape_text(&format!($($arg)*)))
    };
}

/// [`say!`] on stderr.
macro_rules! esay {
    ($($arg:tt)*) => {
        eprintln!("{}", formats::display::escape_text(&format!($($arg)*)))
    };
}

/// Entry point of the binary: parses `std::env::args_os`, runs, reports errors.
pub fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            if !e.use_stderr() {
                return ExitCode::SUCCESS;
            }
            if args.iter().any(|a| a == "--json") {
                let rendered = e.render().to_string();
                // The message paragraph (before the usage), on one line.
                let joined = rendered
                    .split("\n\n")
                    .next()
                    .unwrap_or_default()
                    .lines()
                    .map(str::trim)
                    .collect::<Vec<_>>()
                    .join(" ");
                let message = joined.trim_start_matches("error: ");
                println!(
                    "{}",
                    serde_json::json!({
                        "ok": false,
                        "error": message,
                        "causes": [message],
                        "usage": true,
                    })
                );
            }
            return ExitCode::from(2);
        }
    };
    let json_to = json_output(&cli.command);
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", format_error(&e));
            match json_to {
                Some(JsonTo::Stdout) if !JSON_PRINTED.load(Ordering::SeqCst) => {
                    println!("{}", error_json(&e));
                }
                Some(JsonTo::Stderr) => eprintln!("{}", error_json(&e)),
                _ => {}
            }
            ExitCode::from(1)
        }
    }
}

/// Set once a command has printed its `--json` document on stdout: a failure after that
/// (`verify` finding problems after its report) does not print a second document.
static JSON_PRINTED: AtomicBool = AtomicBool::new(false);

/// Prints `value` as the command's `--json` document on stdout (one line, or pretty).
fn print_json<T: serde::Serialize + ?Sized>(value: &T, pretty: bool) -> anyhow::Result<()> {
    let text = if pretty {
        serde_json::to_string_pretty(value)?
    } else {
        serde_json::to_string(value)?
    };
    println!("{text}");
    JSON_PRINTED.store(true, Ordering::SeqCst);
    Ok(())
}

/// Where a command's `--json` document goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonTo {
    /// stdout (every command but `receipt`).
    Stdout,
    /// stderr (`receipt`, whose stdout is the receipt).
    Stderr,
}

/// Where `command`'s `--json` document goes; `None` without `--json`.
fn json_output(command: &Command) -> Option<JsonTo> {
    let json = match command {
        Command::Import(a) => a.json,
        Command::Serve(_) => false,
        Command::Snapshots(a) => a.json,
        Command::Rollback(a) => a.json,
        Command::Pin(a) => a.json,
        Command::Unpin(a) => a.json,
        Command::Gc(a) => a.json,
        Command::Verify(a) => a.json,
        Command::Audit(a) => match &a.command {
            AuditCommand::Verify(v) => v.json,
            AuditCommand::Show(v) => v.json,
        },
        Command::Receipt(a) => return a.json.then_some(JsonTo::Stderr),
        Command::Sbom(SbomCommand::Diff { json, .. }) => *json,
        Command::Sbom(SbomCommand::Show { .. }) => false,
        Command::ClientConfig(a) => a.json,
        Command::Completions(_) | Command::GenerateManpages(_) => false,
    };
    json.then_some(JsonTo::Stdout)
}

/// The `--json` document of a failed command ([`formats::cli_error::document`]):
/// `{"ok": false, "error": "<message>: <cause>: …", "causes": [...]}`.
pub fn error_json(e: &anyhow::Error) -> String {
    let causes: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    formats::cli_error::document(&causes).to_string()
}

/// `error: <msg>` followed by one `  caused by: <cause>` line per source in the chain;
/// a cause whose text the previous line already contains is not repeated. Each message is
/// escaped ([`formats::display::escape`]): errors quote drive and upstream strings.
pub fn format_error(e: &anyhow::Error) -> String {
    use formats::display::escape;
    let mut s = format!("error: {}", escape(&e.to_string()));
    let mut last = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !last.contains(&text) {
            s.push_str(&format!("\n  caused by: {}", escape(&text)));
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
        Command::Rollback(a) => run_rollback(a),
        Command::Pin(a) => run_pin(a),
        Command::Unpin(a) => run_unpin(a),
        Command::Gc(a) => run_gc(a),
        Command::Verify(a) => run_verify(a),
        Command::Audit(a) => match a.command {
            AuditCommand::Verify(v) => run_audit_verify(v),
            AuditCommand::Show(v) => run_audit_show(v),
        },
        Command::Receipt(a) => run_receipt(a),
        Command::ClientConfig(a) => run_client_config(a),
        Command::Completions(a) => {
            let script = formats::cli_docs::completion(command(), a.shell, "mirror-server");
            std::io::Write::write_all(&mut std::io::stdout(), &script)
                .context("cannot write the completion script to stdout")
        }
        Command::GenerateManpages(a) => write_manpages(command(), &a.dir),
        Command::Sbom(SbomCommand::Show {
            snapshot,
            format,
            store,
        }) => {
            let (_, bytes) = crate::sbom::load(&snapshot, store.as_deref(), &format)?;
            std::io::Write::write_all(&mut std::io::stdout(), &bytes)?;
            Ok(())
        }
        Command::Sbom(SbomCommand::Diff { a, b, store, json }) => {
            let r = crate::sbom::diff(&a, &b, store.as_deref())?;
            if json {
                print_json(&r, true)?;
            } else {
                print!("{}", formats::display::escape_text(&r.render()));
            }
            Ok(())
        }
    }
}

/// The clap definition of the `mirror-server` command line (every subcommand and flag), for
/// the man pages and completions ([`formats::cli_docs`]).
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// Writes [`formats::cli_docs::manpages`] of `cmd` into `dir` (created), one file per page,
/// dated by `SOURCE_DATE_EPOCH` when it is set (else today, UTC).
///
/// Errors: `dir` cannot be created or a page cannot be written (the path is named).
pub fn write_manpages(cmd: clap::Command, dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the man page directory {}", dir.display()))?;
    let date = formats::cli_docs::man_date(
        std::env::var("SOURCE_DATE_EPOCH").ok().as_deref(),
        chrono::Utc::now(),
    );
    let pages = formats::cli_docs::manpages(cmd, &date).context("cannot render the man pages")?;
    for page in pages {
        let path = dir.join(&page.file_name);
        std::fs::write(&path, &page.roff)
            .with_context(|| format!("cannot write the man page {}", path.display()))?;
    }
    Ok(())
}

fn run_client_config(a: ClientConfigArgs) -> anyhow::Result<()> {
    let live = match &a.store {
        Some(store) => crate::live::load(store)
            .with_context(|| format!("cannot read the live snapshot of {}", store.display()))?,
        None => None,
    };
    if live.is_none() && a.registries.is_empty() {
        match &a.store {
            Some(store) => anyhow::bail!(
                "{}: no snapshot imported yet, so nothing to configure (run mirror-server import first, or name registries with --registry)",
                store.display()
            ),
            None => anyhow::bail!(
                "nothing to configure: give the server's store with --store (or MIRROR_SERVER_STORE), or name registries with --registry"
            ),
        }
    }
    let store = a.store.clone().unwrap_or_default();
    let config = crate::client_config::build(
        live.as_ref(),
        &store,
        &crate::client_config::Options {
            base_url: &a.listen_url,
            keyring_path: &a.keyring_path,
            registries: &a.registries,
            tls: a
                .ca_cert
                .as_deref()
                .map(|ca| crate::client_config::TlsOptions {
                    ca_cert: ca,
                    client: a.client_cert.as_deref().zip(a.client_key.as_deref()),
                    dir: &a.tls_dir,
                }),
        },
    )?;
    if let Some(dir) = &a.write {
        let written = crate::client_config::write_files(&config, live.as_ref(), &store, dir)?;
        if !a.json {
            esay!("wrote {} files under {}", written.len(), dir.display());
        }
    }
    if a.json {
        print_json(&config, true)?;
    } else {
        print!(
            "{}",
            formats::display::escape_text(&crate::client_config::render_text(&config))
        );
    }
    Ok(())
}

fn run_snapshots(a: SnapshotsArgs) -> anyhow::Result<()> {
    let rows = crate::lifecycle::held_snapshots(&a.store)?;
    if a.json {
        print_json(&rows, true)?;
        return Ok(());
    }
    say!(
        "{:<4} {:<3} {:<28} {:<20} {:>8} {:<22} {:<26} {:>10} {:>9}",
        "live",
        "pin",
        "snapshot",
        "channel",
        "sequence",
        "created",
        "signer",
        "size",
        "artifacts"
    );
    for r in &rows {
        say!(
            "{:<4} {:<3} {:<28} {:<20} {:>8} {:<22} {:<26} {:>10} {:>9}",
            if r.live { "*" } else { "" },
            if r.pinned { "P" } else { "" },
            Escaped(&r.record.name),
            Escaped(&r.record.channel),
            r.record.sequence,
            Escaped(&r.record.created),
            Escaped(&r.record.signer),
            human_bytes(r.record.bytes),
            r.record.artifacts
        );
    }
    let current = rows
        .iter()
        .find(|r| r.current)
        .map(|r| r.record.name.as_str());
    say!(
        "(* live on its channel, P pinned; served at the root: {})",
        current.unwrap_or("none")
    );
    Ok(())
}

fn run_rollback(a: RollbackArgs) -> anyhow::Result<()> {
    let s = crate::lifecycle::rollback(&crate::lifecycle::RollbackOptions {
        store: a.store,
        to: a.to,
        channel: a.channel,
    })?;
    if a.json {
        print_json(&s, false)?;
    } else {
        say!(
            "rolled back channel {}: {} -> {} (live and served at the root; generation {})",
            s.channel,
            s.from.as_deref().unwrap_or("none"),
            s.to,
            s.generation
        );
        say!(
            "  {} blobs checked present; running servers switch within a second",
            s.blobs_checked
        );
    }
    Ok(())
}

fn print_pin(s: &crate::lifecycle::PinSummary, json: bool) -> anyhow::Result<()> {
    if json {
        print_json(s, false)?;
        return Ok(());
    }
    match (s.pinned, s.changed) {
        (true, true) => match &s.reason {
            Some(r) => say!("pinned {} ({r})", s.snapshot),
            None => say!("pinned {}", s.snapshot),
        },
        (true, false) => say!("{} was already pinned; nothing changed", s.snapshot),
        (false, true) => say!("unpinned {} (gc may now remove it)", s.snapshot),
        (false, false) => say!("{} was not pinned; nothing changed", s.snapshot),
    }
    Ok(())
}

fn run_pin(a: PinArgs) -> anyhow::Result<()> {
    let s = crate::lifecycle::pin(&a.store, &a.name, a.reason.as_deref())?;
    print_pin(&s, a.json)
}

fn run_unpin(a: UnpinArgs) -> anyhow::Result<()> {
    let s = crate::lifecycle::unpin(&a.store, &a.name)?;
    print_pin(&s, a.json)
}

fn run_gc(a: GcArgs) -> anyhow::Result<()> {
    let s = crate::gc::gc(&crate::gc::GcOptions {
        store: a.store,
        keep: a.keep,
        dry_run: a.dry_run,
    })?;
    if a.json {
        print_json(&s, false)?;
        return Ok(());
    }
    let (remove, delete) = if s.dry_run {
        ("would remove", "would delete")
    } else {
        ("removed", "deleted")
    };
    let kept: Vec<String> = s
        .kept
        .iter()
        .map(|k| format!("{} ({})", k.name, k.reasons.join(", ")))
        .collect();
    say!("kept {} snapshots: {}", kept.len(), kept.join(", "));
    if s.snapshots_removed.is_empty() {
        say!("{remove} no snapshot");
    } else {
        say!(
            "{remove} {} snapshots: {}",
            s.snapshots_removed.len(),
            s.snapshots_removed.join(", ")
        );
    }
    say!(
        "{delete} {} blobs ({}); {} blobs kept; {} stale staging entries",
        s.blobs_removed,
        human_bytes(s.bytes_freed),
        s.blobs_kept,
        s.staging_removed
    );
    if s.dry_run {
        say!("dry run: nothing was changed");
    }
    Ok(())
}

fn run_verify(a: VerifyArgs) -> anyhow::Result<()> {
    let r = crate::verify::verify(&crate::verify::VerifyOptions {
        store: a.store.clone(),
        progress: !a.json,
        threads: a.threads,
    })?;
    if a.json {
        print_json(&r, true)?;
    } else {
        say!(
            "checked {} blobs ({}) of {} snapshots in {:.1} s",
            r.blobs_checked,
            human_bytes(r.bytes_hashed),
            r.snapshots,
            r.elapsed_secs
        );
        for p in &r.problems {
            say!("{}", p.describe());
        }
        if r.orphans > 0 {
            say!(
                "info: {} orphan blobs ({}) are referenced by no held snapshot (gc removes them)",
                r.orphans,
                human_bytes(r.orphan_bytes)
            );
        }
        if !r.stale_staging.is_empty() {
            say!(
                "info: {} stale staging entries in {} (gc removes them)",
                r.stale_staging.len(),
                a.store.join("tmp").display()
            );
        }
        if r.ok {
            say!("store OK");
        }
    }
    if !r.ok {
        anyhow::bail!(
            "{}: {} problems found (listed above); re-import the affected snapshots from their drives",
            a.store.display(),
            r.problems.len()
        );
    }
    Ok(())
}

fn run_audit_verify(a: AuditVerifyArgs) -> anyhow::Result<()> {
    let r = crate::audit::verify(&a.store)?;
    if a.json {
        print_json(&r, true)?;
    } else if !r.exists {
        say!("{}: no audit log (nothing recorded yet)", r.path.display());
    } else if r.ok() {
        say!(
            "{}: chain intact: {} lines ({} legacy before the chain, {} chained){}",
            r.path.display(),
            r.lines,
            r.legacy,
            r.chained,
            match r.head_seq {
                Some(h) => format!(", head at line {h}"),
                None => String::new(),
            }
        );
    }
    if let Some(b) = &r.broken {
        anyhow::bail!(
            "{}: broken at line {}: {}",
            r.path.display(),
            b.line,
            b.reason
        );
    }
    Ok(())
}

fn run_audit_show(a: AuditShowArgs) -> anyhow::Result<()> {
    let lines = crate::audit::read_log(&a.store)?;
    let skip = a.last.map_or(0, |n| lines.len().saturating_sub(n));
    let shown = lines.get(skip..).unwrap_or_default();
    if a.json {
        let out: Vec<serde_json::Value> = shown
            .iter()
            .map(|l| match &l.record {
                Some(r) => serde_json::Value::Object(r.clone()),
                None => serde_json::json!({ "line": l.line, "error": l.error }),
            })
            .collect();
        print_json(&out, true)?;
        return Ok(());
    }
    const SHOWN_ELSEWHERE: [&str; 6] = ["seq", "time", "actor", "event", "snapshot", "prev"];
    for l in shown {
        let Some(r) = &l.record else {
            say!(
                "{:>5} (unreadable: {})",
                l.line,
                l.error.as_deref().unwrap_or("?")
            );
            continue;
        };
        let s = |k: &str| r.get(k).and_then(serde_json::Value::as_str).unwrap_or("");
        let actor = r.get("actor").map_or(String::new(), |a| {
            match (a.get("user").and_then(|u| u.as_str()), a.get("uid")) {
                (Some(u), _) => u.to_owned(),
                (None, Some(uid)) if !uid.is_null() => format!("uid {uid}"),
                _ => "?".into(),
            }
        });
        let details: Vec<String> = r
            .iter()
            .filter(|(k, _)| !SHOWN_ELSEWHERE.contains(&k.as_str()))
            .map(|(k, v)| match v {
                serde_json::Value::String(t) => format!("{}={}", Escaped(k), Escaped(t)),
                other => format!("{}={other}", Escaped(k)),
            })
            .collect();
        let marker = if r.contains_key("prev") {
            ""
        } else {
            " (legacy)"
        };
        say!(
            "{:>5} {:<24} {:<10} {:<22} {:<24} {}{marker}",
            l.line,
            Escaped(s("time")),
            Escaped(&actor),
            Escaped(s("event")),
            Escaped(s("snapshot")),
            details.join(" ")
        );
    }
    Ok(())
}

fn run_receipt(a: ReceiptArgs) -> anyhow::Result<()> {
    let (bytes, s) = crate::receipt::make_receipt(&a.store)?;
    match &a.out {
        Some(out) => write_file_atomic(out, &bytes)
            .with_context(|| format!("cannot write the receipt to {}", out.display()))?,
        None => {
            let mut stdout = std::io::stdout().lock();
            std::io::Write::write_all(&mut stdout, &bytes)
                .and_then(|()| std::io::Write::flush(&mut stdout))
                .context("cannot write the receipt to stdout")?;
        }
    }
    if a.json {
        // The document (on stderr) carries the warnings; a text line would break it.
        eprintln!("{}", serde_json::to_string(&s)?);
        return Ok(());
    }
    for w in &s.warnings {
        esay!("warning: {w}");
    }
    if s.site_key_created {
        esay!(
            "created the site key; its public key is {}: give it to release engineering to pin",
            s.site_pub.display()
        );
    }
    let live: Vec<&str> = s.live.values().map(String::as_str).collect();
    esay!(
        "receipt of site {}: {} snapshots ({} pinned; live: {}), {} blobs; {}, {}{}",
        s.site,
        s.snapshots,
        s.pinned,
        if live.is_empty() {
            "none".to_owned()
        } else {
            live.join(", ")
        },
        s.blobs,
        human_bytes(s.bytes),
        s.sha256,
        match &a.out {
            Some(out) => format!("; written to {}", out.display()),
            None => String::new(),
        }
    );
    Ok(())
}

/// Writes `path` via a new temp file in the same directory (fsynced, then renamed over
/// `path`), so a reader never sees a half-written file.
fn write_file_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp_name = OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    // Best effort: make the rename durable (fails harmlessly on some removable media).
    let _ = std::fs::File::open(&dir).and_then(|d| d.sync_all());
    Ok(())
}

fn run_import(a: ImportArgs) -> anyhow::Result<()> {
    let mut drives = a.drives.into_iter();
    let opts = ImportOptions {
        drive: drives.next().unwrap_or_default(),
        volumes: drives.collect(),
        store: a.store,
        trusted_keys: a.trusted_keys,
        snapshot: a.snapshot,
        allow_downgrade: a.allow_downgrade,
        policy: a.policy,
        progress: !a.quiet && !a.json,
    };
    let summary = import(&opts)?;
    if a.json {
        print_json(&summary, false)?;
    } else if !a.quiet {
        print!(
            "{}",
            formats::display::escape_text(&render_summary(&summary))
        );
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
        "  {} artifacts, {} blobs: {} copied, {} already present{}{}\n",
        s.artifacts,
        s.blobs,
        s.blobs_copied,
        s.blobs_present,
        if s.blobs_resumed > 0 {
            format!(", {} verified by an earlier run", s.blobs_resumed)
        } else {
            String::new()
        },
        if s.blobs_joined > 0 {
            format!(", {} joined from parts", s.blobs_joined)
        } else {
            String::new()
        }
    ));
    if s.volumes_read.len() > 1 || s.volumes_read.first().is_some_and(|v| *v > 1) {
        out.push_str(&format!(
            "  volumes read: {}\n",
            s.volumes_read
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
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
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    let _ = match a.log_format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_current_span(false)
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .try_init(),
    };
    // A typo in --store fails here, not as 503 forever (an empty directory still serves 503).
    crate::live::check_store_dir(&a.store)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let log_format = a.log_format;
    let a_drain = a.drain_timeout;
    let r = rt.block_on(async move {
        let workers = a
            .workers
            .map_or_else(crate::serve::default_workers, usize::from);
        let tls = match (a.tls_cert, a.tls_key) {
            (Some(cert), Some(key)) => Some(crate::serve::tls::TlsSettings {
                cert,
                key,
                client_ca: a.tls_client_ca,
            }),
            _ => None,
        };
        let opts = crate::serve::ServeOptions {
            workers,
            access_log: a
                .access_log
                .as_deref()
                .map(|t| crate::serve::AccessLogConfig {
                    target: crate::serve::AccessLogTarget::parse(t),
                    format: a.access_log_format,
                }),
            max_connections: a.max_connections.map(|n| n as usize),
            header_timeout: a.header_timeout,
            idle_timeout: a.idle_timeout,
            min_rate: a.min_rate,
            min_rate_period: a.min_rate_period,
            drain_timeout: a.drain_timeout,
            tls,
        };
        let handle = crate::serve::start_with(a.store, a.listen, opts).await?;
        let scheme = if handle.tls.is_some() {
            "https"
        } else {
            "http"
        };
        // SIGHUP is caught from here on (before the address is announced).
        let _sighup = tokio::spawn(reload_tls_on_sighup(handle.tls.clone())?);
        match log_format {
            LogFormat::Text => esay!("mirror-server listening on {scheme}://{}", handle.addr),
            // Every stderr line stays one JSON object.
            LogFormat::Json => tracing::info!(addr = %handle.addr, scheme, "listening"),
        }
        wait_for_signal().await;
        tracing::info!(
            drain_timeout_s = a_drain.as_secs_f64(),
            "stopping: draining connections"
        );
        handle.shutdown().await;
        Ok(())
    });
    // Blocking reads still running (a snapshot load) get one second, not forever.
    rt.shutdown_timeout(Duration::from_secs(1));
    r
}

/// Catches SIGHUP (from the call on) and returns the task that, on each one, re-reads the
/// TLS files ([`crate::serve::tls::Tls::reload`]: new connections use the new certificate;
/// a failed reload keeps the old one and logs why). Without TLS a SIGHUP is logged and
/// ignored, never the default action, which would end the server on `systemctl reload`.
///
/// Errors: the signal handler cannot be installed.
fn reload_tls_on_sighup(
    tls: Option<std::sync::Arc<crate::serve::tls::Tls>>,
) -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = signal(SignalKind::hangup()).context("cannot catch SIGHUP")?;
        Ok(async move {
            while hup.recv().await.is_some() {
                match &tls {
                    Some(t) => {
                        let _ = t.reload();
                    }
                    None => tracing::info!("SIGHUP: nothing to reload (serving plain HTTP)"),
                }
            }
        })
    }
    #[cfg(not(unix))]
    {
        let _ = tls;
        Ok(std::future::pending())
    }
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
}
