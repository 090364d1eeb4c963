//! The arguments of every `mirror-server` verb (clap derive). `--store` is declared once
//! ([`StoreArg`], flattened into each verb that works on the store).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

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
    /// Match a snapshot's packages against the snapshot's own OSV vulnerability data;
    /// optionally write a CycloneDX 1.6 VEX document.
    Vulns(VulnsArgs),
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

/// Environment variable that gives `--store` when the flag is absent.
pub const STORE_ENV: &str = "MIRROR_SERVER_STORE";

/// `--store` of every verb that works on the store (flattened into its arguments).
#[derive(Debug, Clone, Args)]
pub struct StoreArg {
    /// The server's store directory.
    #[arg(long, env = STORE_ENV)]
    pub store: PathBuf,
}

/// The optional `--store` of `sbom show` and `sbom diff` (flattened).
#[derive(Debug, Clone, Args)]
pub struct HeldStoreArg {
    /// The server's store directory, to find held snapshots by name.
    #[arg(long, env = STORE_ENV)]
    pub store: Option<PathBuf>,
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
        #[command(flatten)]
        store: HeldStoreArg,
    },
    /// List the packages added, removed and changed (old version -> new version) from
    /// snapshot A to snapshot B, per ecosystem (deb, pypi, oci), and the vulnerabilities
    /// fixed and introduced when both carry OSV data (each matched against its own data).
    Diff {
        /// The older snapshot: drive path or CHANNEL/SEQ.
        a: String,
        /// The newer snapshot: drive path or CHANNEL/SEQ.
        b: String,
        #[command(flatten)]
        store: HeldStoreArg,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// `mirror-server vulns`.
#[derive(Debug, Args)]
#[command(
    after_help = "Debian and Ubuntu packages are matched by their source package and version \
against the OSV records of their release (the source's distro: debian-12 -> Debian:12, \
ubuntu-24.04 -> Ubuntu:24.04:LTS); Python files by their PEP 503 name and PEP 440 version \
against PyPI records. Images are not matched. A snapshot without OSV data says so: that is \
not \"no vulnerabilities\". The age of the data (newest record's modified time) is printed.\n\n\
Exit status: 0 when the scan ran (findings or not), 1 on an error, or with \
--fail-on-findings when there is at least one finding (after the report).\n\n\
Examples:\n  mirror-server vulns --store /srv/mirror\n  \
mirror-server vulns cube-stable/12 --store /srv/mirror --json\n  \
mirror-server vulns /media/drive --vex /tmp/vex.json"
)]
pub struct VulnsArgs {
    /// Drive path or CHANNEL/SEQ held by --store; default the store's live snapshot.
    pub snapshot: Option<String>,
    #[command(flatten)]
    pub store: HeldStoreArg,
    /// Print one JSON object (the scan report).
    #[arg(long)]
    pub json: bool,
    /// Also write a CycloneDX 1.6 VEX document of the findings to FILE.
    #[arg(long, value_name = "FILE")]
    pub vex: Option<PathBuf>,
    /// Exit with status 1 when there is at least one finding.
    #[arg(long)]
    pub fail_on_findings: bool,
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
    #[arg(long, env = STORE_ENV)]
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
    #[command(flatten)]
    pub store: StoreArg,
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
    #[command(flatten)]
    pub store: StoreArg,
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
    #[command(flatten)]
    pub store: StoreArg,
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
    #[command(flatten)]
    pub store: StoreArg,
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
    #[command(flatten)]
    pub store: StoreArg,
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
    #[command(flatten)]
    pub store: StoreArg,
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
    #[command(flatten)]
    pub store: StoreArg,
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
    #[command(flatten)]
    pub store: StoreArg,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `mirror-server audit show`.
#[derive(Debug, Args)]
pub struct AuditShowArgs {
    #[command(flatten)]
    pub store: StoreArg,
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
    #[command(flatten)]
    pub store: StoreArg,
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
    #[command(flatten)]
    pub store: StoreArg,
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
    /// Do not serve the read-only web console under /ui/ (by default it is served on the
    /// same listener, to the same clients as the artifacts).
    #[arg(long, env = "MIRROR_SERVER_NO_UI")]
    pub no_ui: bool,
}

/// Parses a positive number of seconds (`10`, `0.5`) for the serve timeouts.
pub(super) fn parse_seconds(s: &str) -> Result<Duration, String> {
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
