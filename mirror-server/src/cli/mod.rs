//! Command line: `mirror-server import …`, `serve …`, `snapshots …`, `rollback …`,
//! `pin …`, `unpin …`, `gc …`, `verify …`, `audit verify|show …`, `receipt …`,
//! `sbom show|diff …`, `vulns …`, `client-config …` and `completions SHELL` (plus the hidden `generate-manpages DIR`
//! that `deploy/deb/build.sh` uses for the package's man pages).
//!
//! Exit codes: 0 success, 1 error (printed as `error: <msg>` plus `  caused by: …` lines;
//! also when `verify` or `audit verify` finds a problem, after the report), 2 usage error.
//! Every command that reports takes `--json` (one JSON value on stdout; for `receipt`,
//! whose stdout is the receipt, on stderr). A command run with `--json` that fails before
//! printing its document prints `{"ok": false, "error": "<the whole context chain>",
//! "causes": […]}` there instead ([`error_json`]), besides the `error:` lines on stderr.
//!
//! Arguments and rendering only: [`args`] declares every verb's arguments (`--store` once,
//! [`StoreArg`]); `verbs` calls the module each verb drives ([`crate::import`],
//! [`crate::lifecycle`], [`crate::gc`], [`crate::verify`], [`crate::audit`],
//! [`crate::receipt`], [`crate::client_config`], [`crate::serve`]) and renders its result.

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use clap::Parser;

pub mod args;
pub use args::*;

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

mod verbs;
use verbs::*;
pub use verbs::{human_bytes, render_summary};

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
        Command::Vulns(a) => a.json,
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
        Command::Vulns(a) => run_vulns(a),
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
            let (_, bytes) = crate::sbom::load(&snapshot, store.store.as_deref(), &format)?;
            std::io::Write::write_all(&mut std::io::stdout(), &bytes)?;
            Ok(())
        }
        Command::Sbom(SbomCommand::Diff { a, b, store, json }) => {
            let r = crate::sbom::diff(&a, &b, store.store.as_deref())?;
            let vulns = crate::vulns::diff(&a, &b, store.store.as_deref())?;
            if json {
                #[derive(serde::Serialize)]
                struct WithVulns<'a> {
                    #[serde(flatten)]
                    sbom: &'a formats::sbom::SnapshotDiff,
                    vulnerabilities: &'a formats::osv::VulnDiffOutcome,
                }
                print_json(
                    &WithVulns {
                        sbom: &r,
                        vulnerabilities: &vulns,
                    },
                    true,
                )?;
            } else {
                print!("{}", formats::display::escape_text(&r.render()));
                print!("{}", formats::display::escape_text(&vulns.render()));
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

#[cfg(test)]
mod tests;
