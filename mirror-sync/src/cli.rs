//! Command line of `mirror-sync`: arguments, output and exit codes only. The work lives
//! in the library modules: [`crate::sync`] (the sync driver and state commit),
//! [`crate::trust`] (keys and the trust bundle), [`crate::export`], [`crate::verify`],
//! [`crate::plan`], [`crate::sbom`], [`crate::init`]. `--config` is declared once
//! (`ConfigArg`, flattened) where commands share its help.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use indicatif::HumanBytes;
use serde::Serialize;

use crate::config::Config;
use crate::export::{ExportOptions, export};
use crate::init::{InitOptions, init_from_host};
use crate::progress::Progress;
use crate::state::State;

/// Sync APT repositories and Python indexes into a verified, content-addressed store,
/// and cut signed snapshots onto removable media for air-gapped sites.
#[derive(Debug, Parser)]
#[command(name = "mirror-sync", version, propagate_version = true)]
pub struct Cli {
    /// Print nothing but errors (and the --json document).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Print the result as one JSON document on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Log what the run does on stderr: `-v` info (each upstream, each phase), `-vv`
    /// debug (each request and file). RUST_LOG, when set, overrides (tracing-subscriber
    /// EnvFilter syntax, e.g. `RUST_LOG=mirror_sync=debug`). Logs never go to stdout, so
    /// the --json document stays alone there.
    #[arg(long, short, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Write a starting configuration from this host's apt sources and pip configuration.
    Init(InitArgs),
    /// Fetch and verify every configured upstream into the local store.
    Sync(SyncArgs),
    /// Show what `sync` would fetch, per upstream (files, bytes, already in the store,
    /// unsatisfied dependencies), reading only the indexes: no package is downloaded and
    /// nothing is written. Exit status 1 when the sync would fail.
    Plan(ConfigArg),
    /// Cut a signed snapshot from the last sync and write it onto a drive: full, delta
    /// (--base), catch-up (--receipt), split for FAT32 (--max-file-size) or over several
    /// volumes (--volume-size).
    Export(ExportArgs),
    /// Read a written drive back: signatures, every blob and part digest.
    Verify(VerifyArgs),
    /// List the snapshots exported from this store.
    Snapshots(ConfigArg),
    /// Show or compare snapshot SBOMs (CycloneDX 1.6, SPDX 2.3).
    #[command(subcommand)]
    Sbom(SbomCommand),
    /// Print the shell completion script for SHELL on stdout.
    #[command(
        after_help = "Installed by the Debian package for bash, zsh and fish. By hand, e.g.:\n  \
        mirror-sync completions bash > ~/.local/share/bash-completion/completions/mirror-sync"
    )]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: formats::cli_docs::Shell,
    },
    /// Write one man page per command and subcommand into DIR (for packaging).
    #[command(hide = true)]
    GenerateManpages {
        /// Directory to write the pages into (created; `mirror-sync.1`,
        /// `mirror-sync-sync.1`, …, uncompressed roff).
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum SbomCommand {
    /// Print a snapshot's SBOM document (exact bytes, checked against the manifest).
    ///
    /// SNAPSHOT is a drive path (a drive root with one snapshot, a snapshot directory or
    /// its manifest.json) or CHANNEL/SEQ of a snapshot exported with --config.
    Show {
        /// Drive path or CHANNEL/SEQ.
        snapshot: String,
        /// Document format.
        #[arg(long, default_value = "cyclonedx", value_parser = crate::sbom::FORMATS)]
        format: String,
        /// Configuration, to find exported snapshots by name.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// List the packages added, removed and changed (old version -> new version) from
    /// snapshot A to snapshot B, per ecosystem (deb, pypi, oci).
    Diff {
        /// The older snapshot: drive path or CHANNEL/SEQ.
        a: String,
        /// The newer snapshot: drive path or CHANNEL/SEQ.
        b: String,
        /// Configuration, to find exported snapshots by name.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Generate the ed25519 snapshot key and the OpenPGP repository key.
    ///
    /// Writes snapshot.key (PKCS#8 PEM, mode 0600), snapshot.pub, trusted/snapshot.pub
    /// (ready for `mirror-server import --trusted-keys`), repo.key.asc (mode 0600),
    /// repo.pub.asc and repo.pub.gpg (ready for apt's signed-by=).
    Generate {
        /// Directory to write the keys into.
        #[arg(long)]
        out: PathBuf,
        /// Overwrite existing key files.
        #[arg(long)]
        force: bool,
        /// User id of the OpenPGP repository key.
        #[arg(
            long,
            default_value = "Air-gap mirror repository key <repo@mirror.invalid>"
        )]
        uid: String,
    },
    /// Write the trust bundle a Cube installs as its --trusted-keys directory.
    ///
    /// DIR/snapshot.pub: the public snapshot key of the config's signing.snapshot_key;
    /// DIR/upstream/<file>: each [[apt]] upstream's keyring, byte for byte, under its file
    /// name (import re-verifies every upstream InRelease against it). Check the printed
    /// fingerprints before installing the bundle on the Cube.
    Bundle {
        /// The mirror-sync configuration.
        #[arg(long)]
        config: PathBuf,
        /// Directory to write the bundle into (created; existing files are replaced).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
struct InitArgs {
    /// Read the upstreams from this host (apt sources, pip configuration).
    #[arg(long, required = true)]
    from_host: bool,
    /// `store =` of the generated config.
    #[arg(long, default_value = "/var/lib/mirror-sync")]
    store: String,
    /// `channel =` of the generated config.
    #[arg(long, default_value = "cube-stable")]
    channel: String,
    /// Packages for every [[apt]] (comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    packages: Vec<String>,
    /// PEP 508 requirements for every [[pypi]] (repeat the flag for each).
    #[arg(long = "project")]
    projects: Vec<String>,
    /// Python versions for every [[pypi]].
    #[arg(long, value_delimiter = ',', default_value = "3.12")]
    python: Vec<String>,
    /// Wheel platform tags for every [[pypi]].
    #[arg(
        long = "platform",
        value_delimiter = ',',
        default_value = "manylinux_2_17_x86_64,any"
    )]
    platforms: Vec<String>,
    /// Root of the filesystem whose etc/apt is read.
    #[arg(long, default_value = "/", hide = true)]
    host_root: PathBuf,
    /// Python interpreter asked for pip's configuration.
    #[arg(long, default_value = "python3", hide = true)]
    python_cmd: String,
    /// Write the configuration to this file instead of stdout (refuses to overwrite).
    #[arg(long, short)]
    output: Option<PathBuf>,
}

// `--config`, declared once and flattened into each command that needs the file (a
// plain comment: a doc comment here would become the about text of those commands).
#[derive(Debug, Args)]
struct ConfigArg {
    /// Configuration file.
    #[arg(long, short)]
    config: PathBuf,
}

#[derive(Debug, Args)]
struct SyncArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Only sync these upstreams (by name; repeatable).
    #[arg(long)]
    only: Vec<String>,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  full drive          mirror-sync export -c mirror.toml --to /media/usb
  delta drive         mirror-sync export -c mirror.toml --to /media/usb --base cube-stable/41
  catch-up drive      mirror-sync export -c mirror.toml --to /media/usb --receipt receipt.json
  FAT32, 1 GiB parts  mirror-sync export -c mirror.toml --to /media/usb --max-file-size 1GiB
  three volumes       mirror-sync export -c mirror.toml --volume-size 500G --to /mnt/a --to /mnt/b --to /mnt/c
  one volume a time   mirror-sync export -c mirror.toml --volume-size 500G --volume 2 --to /media/usb
An interrupted export resumes when run again with the same arguments.")]
struct ExportArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Drive directory to write onto (created if missing); once per volume with
    /// --volume-size, or once with --volume N.
    #[arg(long, required = true)]
    to: Vec<PathBuf>,
    /// Delta: leave out the blobs of this snapshot (CHANNEL/SEQ), which the site already holds.
    #[arg(long, value_name = "CHANNEL/SEQ", conflicts_with = "receipt")]
    base: Option<String>,
    /// Catch-up: leave out exactly the blobs a site's receipt (`mirror-server receipt`)
    /// says it holds.
    #[arg(long, value_name = "FILE")]
    receipt: Option<PathBuf>,
    /// The site's public key (PEM, `STORE/site.pub` on the Cube) the receipt must be signed with.
    #[arg(long, value_name = "FILE", requires = "receipt")]
    site_key: Option<PathBuf>,
    /// Split files larger than SIZE into parts (e.g. 4GiB, 1MiB). Default: 4 GiB - 1 when
    /// the drive is FAT, otherwise no limit.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_file_size: Option<u64>,
    /// Spread the snapshot over volumes of at most SIZE (e.g. 500G = 500*10^9 bytes).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    volume_size: Option<u64>,
    /// Write only volume N of the set to the single --to (swap drives between runs).
    #[arg(long, value_name = "N", requires = "volume_size")]
    volume: Option<u32>,
    /// Write an already cut snapshot (CHANNEL/SEQ) again, e.g. onto a second drive.
    #[arg(long, value_name = "CHANNEL/SEQ")]
    snapshot: Option<String>,
    /// Cut a new snapshot even if an interrupted export of the same content could be resumed.
    #[arg(long, conflicts_with = "snapshot")]
    new_cut: bool,
}

fn parse_size(s: &str) -> Result<u64, String> {
    formats::media::parse_size(s)
}

#[derive(Debug, Args)]
#[command(after_help = "\
Exit status: 0 when every check passes, 1 when any file fails (each is listed).")]
struct VerifyArgs {
    /// Drive (or volume) to check.
    drive: PathBuf,
    /// Configuration file: its snapshot key is the trusted key.
    #[arg(long, short, required_unless_present = "key")]
    config: Option<PathBuf>,
    /// Trust this public key (PEM) or every *.pub/*.pem key in this directory instead.
    #[arg(long, value_name = "FILE|DIR")]
    key: Option<PathBuf>,
    /// The snapshot to check when the drive holds several (CHANNEL/SEQ); default: all.
    #[arg(long, value_name = "CHANNEL/SEQ")]
    snapshot: Option<String>,
}

/// Entry point of the binary: parses `std::env::args_os`, runs, and maps errors to exit
/// codes (1 on failure, 2 on usage errors), printing the error chain on stderr.
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
                println!("{}", usage_error_json(&e));
            }
            return ExitCode::from(2);
        }
    };
    init_logging(cli.verbose);
    match execute_reporting(cli, &mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            print_error(&e);
            ExitCode::from(1)
        }
    }
}

/// The log filter for `-v` given `verbose` times: warnings only by default, `info` with
/// `-v`, `debug` for the workspace's crates (`info` for the libraries) with `-vv`, and
/// `debug` everywhere with `-vvv` (tracing-subscriber `EnvFilter` directives).
pub fn log_filter(verbose: u8) -> &'static str {
    match verbose {
        0 => "warn",
        1 => "info",
        2 => "info,mirror_sync=debug,formats=debug,store=debug,keys=debug",
        _ => "debug",
    }
}

/// Starts the log on stderr: `RUST_LOG` when set (and valid), else [`log_filter`]. ANSI
/// colours only on a terminal. Logging never writes to stdout.
fn init_logging(verbose: u8) {
    use std::io::IsTerminal as _;
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => match tracing_subscriber::EnvFilter::try_new(&v) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("warning: RUST_LOG={v:?} is not a valid filter ({e}); using -v's");
                tracing_subscriber::EnvFilter::new(log_filter(verbose))
            }
        },
        _ => tracing_subscriber::EnvFilter::new(log_filter(verbose)),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// The `--json` document of a failed command ([`formats::cli_error::document`]):
/// `{"ok": false, "error": "<message>: <cause>: …", "causes": [...]}`.
pub fn error_json(e: &anyhow::Error) -> serde_json::Value {
    let causes: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    formats::cli_error::document(&causes)
}

/// The `--json` document of a usage error (exit status 2): `{"ok": false, "error":
/// "<clap's message>", "causes": ["<clap's message>"], "usage": true}`.
pub fn usage_error_json(e: &clap::Error) -> serde_json::Value {
    let rendered = e.render().to_string();
    // The message paragraph (before the usage), on one line.
    let message = rendered
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
        .trim_start_matches("error: ")
        .to_owned();
    serde_json::json!({
        "ok": false,
        "error": message,
        "causes": [message],
        "usage": true,
    })
}

/// A writer that remembers whether anything was written through it.
struct Tracked<'a> {
    inner: &'a mut dyn std::io::Write,
    wrote: bool,
}

impl std::io::Write for Tracked<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.wrote |= n > 0;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Runs `cli`, writing its output to `out`; with `--json`, a failure that happens before
/// the command printed its document prints [`error_json`] to `out` instead, so a script
/// always reads one JSON document saying what failed. (A command that printed its
/// document and then fails — `sync` with a failed upstream — carries `"ok": false` and
/// the reasons in that document.)
fn execute_reporting(cli: Cli, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    let json = cli.json;
    let mut tracked = Tracked {
        inner: &mut *out,
        wrote: false,
    };
    let result = execute(cli, &mut tracked);
    let wrote = tracked.wrote;
    if let Err(e) = &result
        && json
        && !wrote
    {
        let _ = serde_json::to_writer_pretty(&mut *out, &error_json(e));
        let _ = writeln!(out);
    }
    result
}

/// Prints `error: …` and each cause on its own line.
pub fn print_error(e: &anyhow::Error) {
    let mut err = std::io::stderr().lock();
    // Error messages quote upstream and drive strings: escaped (formats::display).
    let _ = writeln!(err, "error: {}", formats::display::escape(&e.to_string()));
    for cause in e.chain().skip(1) {
        let _ = writeln!(
            err,
            "  caused by: {}",
            formats::display::escape(&cause.to_string())
        );
    }
}

/// Runs a command line in-process (`args[0]` is the program name); used by tests.
pub fn run<I, T>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = Cli::try_parse_from(args).map_err(|e| anyhow::anyhow!("{e}"))?;
    execute_reporting(cli, &mut std::io::stdout().lock())
}

/// Like [`run`], but what the command prints on stdout (its summary, its `--json`
/// document, or with `--json` the [`error_json`] document of a failure) goes to `out`.
pub fn run_to<I, T>(args: I, out: &mut dyn std::io::Write) -> anyhow::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = Cli::try_parse_from(args).map_err(|e| anyhow::anyhow!("{e}"))?;
    execute_reporting(cli, out)
}

/// The clap definition of the `mirror-sync` command line (every subcommand and flag), for
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

fn emit<T: Serialize>(
    out: &mut dyn std::io::Write,
    json: bool,
    value: &T,
    human: impl FnOnce() -> String,
    quiet: bool,
) -> anyhow::Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *out, value)?;
        writeln!(out)?;
    } else if !quiet {
        // Drive and upstream strings reach the terminal escaped (formats::display).
        write!(out, "{}", formats::display::escape_text(&human()))?;
    }
    Ok(())
}

fn execute(cli: Cli, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    match cli.command {
        Command::Completions { shell } => {
            let script = formats::cli_docs::completion(command(), shell, "mirror-sync");
            out.write_all(&script)
                .context("cannot write the completion script to stdout")
        }
        Command::GenerateManpages { dir } => write_manpages(command(), &dir),
        Command::Keys(KeysCommand::Generate {
            out: dir,
            force,
            uid,
        }) => {
            let r = crate::trust::generate_keys(&dir, force, &uid)?;
            emit(out, cli.json, &r, || r.render(), cli.quiet)
        }
        Command::Keys(KeysCommand::Bundle { config, out: dir }) => {
            let cfg = Config::load(&config)?;
            let r = crate::trust::write_bundle(&cfg, &dir, &Progress::new(false, cli.quiet))?;
            emit(out, cli.json, &r, || r.render(), cli.quiet)
        }
        Command::Init(a) => {
            let opts = InitOptions {
                root: a.host_root,
                store: a.store,
                channel: a.channel,
                packages: a.packages,
                projects: a.projects,
                python: a.python,
                platforms: a.platforms,
                python_cmd: a.python_cmd,
            };
            let text = init_from_host(&opts)?;
            match a.output {
                Some(p) => {
                    let mut f = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&p)
                        .with_context(|| {
                            format!("cannot create {} (it must not exist yet)", p.display())
                        })?;
                    f.write_all(text.as_bytes())?;
                    if !cli.quiet {
                        eprintln!("wrote {}; review the lines marked EDIT", p.display());
                    }
                }
                // Often read on a terminal: host strings escaped (TOML strings never
                // hold raw control characters, so a redirected file reads the same).
                None => write!(out, "{}", formats::display::escape_text(&text))?,
            }
            Ok(())
        }
        Command::Sync(a) => {
            let config = &a.config.config;
            let cfg = Config::load(config)?;
            let progress = Progress::new(!cli.json, cli.quiet);
            let r = crate::sync::sync(&cfg, config, &a.only, &progress)?;
            emit(out, cli.json, &r.summary, || r.render(), cli.quiet)?;
            r.into_result()
        }
        Command::Plan(a) => plan(out, &a.config, cli.json, cli.quiet),
        Command::Export(a) => {
            let cfg = Config::load(&a.config.config)?;
            let progress = Progress::new(!cli.json, cli.quiet);
            let opts = ExportOptions {
                to: a.to,
                base: a.base,
                receipt: a.receipt,
                site_key: a.site_key,
                max_file_size: a.max_file_size,
                volume_size: a.volume_size,
                volume: a.volume,
                snapshot: a.snapshot,
                new_cut: a.new_cut,
            };
            let r = export(&cfg, &opts, &progress)?;
            emit(out, cli.json, &r, || render_export(&r), cli.quiet)
        }
        Command::Verify(a) => {
            let progress = Progress::new(!cli.json, cli.quiet);
            let keys = match (&a.key, &a.config) {
                (Some(k), _) => crate::verify::TrustedKeySource::Path(k.clone()),
                (None, Some(c)) => {
                    let cfg = Config::load(c)?;
                    let key = cfg.resolve(&cfg.signing.snapshot_key);
                    if let Some(w) = keys::perms::private_key_exposure(&key) {
                        progress.warn(&w);
                    }
                    crate::verify::TrustedKeySource::SigningKey(key)
                }
                (None, None) => anyhow::bail!("give --config or --key"),
            };
            let r = crate::verify::verify_drive(&a.drive, &keys, a.snapshot.as_deref(), &progress)?;
            emit(out, cli.json, &r, || r.render(), cli.quiet)?;
            if !r.ok {
                return Err(anyhow::anyhow!(
                    "{} of {} checks failed on {}",
                    r.failures.len(),
                    r.checked_files,
                    a.drive.display()
                ));
            }
            Ok(())
        }
        Command::Sbom(SbomCommand::Show {
            snapshot,
            format,
            config,
        }) => {
            let doc = crate::sbom::load(&snapshot, config.as_deref(), &format)?;
            out.write_all(&doc.bytes)?;
            Ok(())
        }
        Command::Sbom(SbomCommand::Diff { a, b, config }) => {
            let r = crate::sbom::diff(&a, &b, config.as_deref())?;
            emit(out, cli.json, &r, || r.render(), cli.quiet)
        }
        Command::Snapshots(a) => {
            let cfg = Config::load(&a.config)?;
            let state = State::open(&cfg.store_dir())?;
            let list = state.exports()?;
            emit(
                out,
                cli.json,
                &list,
                || {
                    let mut s = format!(
                        "{:<28} {:<22} {:>10} {:>12}  manifest\n",
                        "snapshot", "created", "artifacts", "size"
                    );
                    for r in &list {
                        s.push_str(&format!(
                            "{:<28} {:<22} {:>10} {:>12}  {}\n",
                            r.name,
                            r.created,
                            r.artifacts,
                            HumanBytes(r.bytes).to_string(),
                            r.manifest
                        ));
                    }
                    s
                },
                cli.quiet,
            )
        }
    }
}

/// `mirror-sync plan`: prints the [`crate::plan::PlanReport`] (human or `--json`), then
/// fails when a sync of this configuration would fail.
fn plan(
    stdout: &mut dyn std::io::Write,
    config: &std::path::Path,
    json: bool,
    quiet: bool,
) -> anyhow::Result<()> {
    let cfg = Config::load(config)?;
    let progress = Progress::new(!json, quiet);
    let r = crate::plan::plan(&cfg, &progress)?;
    emit(stdout, json, &r, || r.render(), quiet)?;
    if r.would_fail() {
        anyhow::bail!(
            "a sync of {} would fail: {} request(s) in no source, {} upstream(s) whose indexes do not verify:\n  {}",
            config.display(),
            r.missing.len(),
            r.failed.len(),
            r.missing
                .iter()
                .chain(&r.failed)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
    Ok(())
}

/// The human summary of an export.
fn render_export(r: &crate::export::ExportReport) -> String {
    let mut s = format!(
        "exported snapshot {}{}\n  manifest   {} ({})\n  signed by  {} (repo key {})\n  artifacts  {} ({} packages), {} unique blobs, {}\n",
        r.snapshot,
        if r.resumed { " (resumed)" } else { "" },
        r.manifest.display(),
        r.manifest_digest,
        r.signer,
        r.repo_signer,
        r.artifacts,
        r.packages,
        r.blobs,
        HumanBytes(r.bytes_total),
    );
    if let Some(b) = &r.base {
        s.push_str(&format!(
            "  delta      against {b}: carries {} blobs ({}), leaves out {} ({})\n",
            r.blobs_carried,
            HumanBytes(r.bytes_carried),
            r.blobs_omitted,
            HumanBytes(r.bytes_omitted)
        ));
    }
    if let Some(site) = &r.receipt_site {
        s.push_str(&format!(
            "  catch-up   for site {site}: carries {} blobs ({}), the site holds {} ({})\n",
            r.blobs_carried,
            HumanBytes(r.bytes_carried),
            r.blobs_omitted,
            HumanBytes(r.bytes_omitted)
        ));
    }
    if let Some(m) = r.max_file_size {
        s.push_str(&format!(
            "  parts      files over {} split ({} blobs split; filesystem {})\n",
            HumanBytes(m),
            r.split_blobs,
            r.filesystem
        ));
    }
    for v in &r.volumes_written {
        s.push_str(&format!(
            "  volume     {} of {}: {} files, {} -> {}\n",
            v.volume,
            r.volumes,
            v.files,
            HumanBytes(v.bytes),
            v.drive.display()
        ));
    }
    s.push_str(&format!(
        "  written    {} files, {} in {:.1}s\n",
        r.blobs_written,
        HumanBytes(r.bytes_written),
        r.seconds
    ));
    if r.finished {
        s.push_str(&format!(
            "check with: mirror-sync verify --config <config> {}\n",
            r.drive.display()
        ));
    } else {
        let rest: Vec<String> = r.volumes_remaining.iter().map(u32::to_string).collect();
        s.push_str(&format!(
            "NOT FINISHED: volume(s) {} still to write (--volume N)\n",
            rest.join(", ")
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_pages_and_completions() {
        let dir = tempfile::tempdir().unwrap();
        run([
            "mirror-sync",
            "generate-manpages",
            dir.path().to_str().unwrap(),
        ])
        .unwrap();
        for want in [
            "mirror-sync.1",
            "mirror-sync-sync.1",
            "mirror-sync-keys-bundle.1",
            "mirror-sync-completions.1",
        ] {
            assert!(dir.path().join(want).is_file(), "{want} missing");
        }
        assert!(!dir.path().join("mirror-sync-generate-manpages.1").exists());
        let mut out = Vec::new();
        run_to(["mirror-sync", "completions", "bash"], &mut out).unwrap();
        let script = String::from_utf8(out).unwrap();
        assert!(script.contains("complete -F _mirror__sync"), "{script}");
        assert!(script.contains("export"), "{script}");
    }
}
