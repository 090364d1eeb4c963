//! Man pages and shell completion scripts rendered from a command line's clap
//! [`clap::Command`], so that what `man` and the shell offer is exactly what the binary
//! parses. Both CLIs call this from their `completions SHELL` and hidden
//! `generate-manpages DIR` subcommands; `deploy/deb/build.sh` packs the output.
//!
//! Pure: the functions return bytes, the caller writes them (stdout or files).

/// The shells [`completion`] writes scripts for (bash, elvish, fish, powershell, zsh);
/// a `clap::ValueEnum`, so a CLI can take it as an argument.
pub use clap_complete::Shell;

/// One rendered man page: its file name (`<command>[-<subcommand>…].1`) and its roff
/// source (`man-pages(7)` conventions, section 1 "User Commands").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManPage {
    /// File name, e.g. `mirror-server.1` or `mirror-server-audit-verify.1`.
    pub file_name: String,
    /// The page in roff (`man(7)` macros), uncompressed.
    pub roff: Vec<u8>,
}

/// The manual these pages belong to (the centre footer of each page).
const MANUAL: &str = "air-gap mirror";

/// Renders one man page for `cmd` and one for every visible subcommand, recursively
/// (`mirror-server-audit-verify.1` for `mirror-server audit verify`). Hidden subcommands
/// and clap's `help` subcommand get no page. Pages are ordered parent first, then
/// subcommands in declaration order.
///
/// `date` is the `.TH` date of every page (`YYYY-MM-DD`, `man-pages(7)`: the last
/// change; callers take it from `SOURCE_DATE_EPOCH` for reproducible packages, see
/// [`man_date`]). Every page's source is `<command> <version>` of `cmd`.
///
/// Errors: none in practice (rendering writes into memory); an I/O error from the roff
/// writer is returned as is.
pub fn manpages(cmd: clap::Command, date: &str) -> std::io::Result<Vec<ManPage>> {
    fn walk(
        cmd: clap::Command,
        date: &str,
        source: &str,
        out: &mut Vec<ManPage>,
    ) -> std::io::Result<()> {
        let subcommands: Vec<clap::Command> = cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .cloned()
            .collect();
        let man = clap_mangen::Man::new(cmd)
            .manual(MANUAL)
            .date(date)
            .source(source);
        let mut roff = Vec::new();
        man.render(&mut roff)?;
        out.push(ManPage {
            file_name: man.get_filename(),
            roff,
        });
        for sub in subcommands {
            walk(sub, date, source, out)?;
        }
        Ok(())
    }
    // Building sets each subcommand's display name (`mirror-server-audit-verify`), which
    // names its page.
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let source = format!(
        "{} {}",
        cmd.get_name(),
        cmd.get_version().unwrap_or_default()
    );
    let mut out = Vec::new();
    walk(cmd, date, source.trim_end(), &mut out)?;
    Ok(out)
}

/// The man pages' date (`YYYY-MM-DD`, UTC) for `source_date_epoch`, the value of the
/// `SOURCE_DATE_EPOCH` environment variable (seconds since 1970-01-01 UTC; the
/// reproducible-builds convention), or `now` when it is unset or not a valid time.
pub fn man_date(source_date_epoch: Option<&str>, now: chrono::DateTime<chrono::Utc>) -> String {
    source_date_epoch
        .and_then(|v| v.trim().parse::<i64>().ok())
        .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
        .unwrap_or(now)
        .format("%Y-%m-%d")
        .to_string()
}

/// The completion script of `cmd` for `shell`, completing the binary named `bin_name`
/// (bash: source it or install it as
/// `/usr/share/bash-completion/completions/<bin_name>`; zsh: `_<bin_name>` on `$fpath`;
/// fish: `<bin_name>.fish` in a `vendor_completions.d` directory).
pub fn completion(mut cmd: clap::Command, shell: Shell, bin_name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, bin_name, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> clap::Command {
        clap::Command::new("tool")
            .version("1.0")
            .about("A tool.")
            .subcommand(
                clap::Command::new("audit")
                    .about("Audit things.")
                    .subcommand(clap::Command::new("verify").about("Verify the log.")),
            )
            .subcommand(
                clap::Command::new("secret")
                    .hide(true)
                    .about("Not documented."),
            )
            .arg(clap::Arg::new("store").long("store").help("The store."))
    }

    #[test]
    fn one_page_per_visible_command() {
        let pages = manpages(sample(), "2026-12-02").unwrap();
        let names: Vec<&str> = pages.iter().map(|p| p.file_name.as_str()).collect();
        assert_eq!(names, ["tool.1", "tool-audit.1", "tool-audit-verify.1"]);
        let top = String::from_utf8(pages[0].roff.clone()).unwrap();
        assert!(top.starts_with(".ie \\n(.g .ds Aq"), "{top}");
        assert!(
            top.contains(".TH tool 1 2026-12-02 \"tool 1.0\" \"air-gap mirror\""),
            "{top}"
        );
        assert!(top.contains("\\-\\-store"), "{top}");
        let verify = String::from_utf8(pages[2].roff.clone()).unwrap();
        assert!(verify.contains("Verify the log."), "{verify}");
        // Subcommands carry the top command's version, not an empty one.
        assert!(verify.contains("\"tool 1.0\""), "{verify}");
    }

    #[test]
    fn man_date_from_source_date_epoch() {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert_eq!(man_date(Some("1764633600"), now), "2025-12-02");
        assert_eq!(man_date(None, now), "2027-01-15");
        assert_eq!(man_date(Some("soon"), now), "2027-01-15");
    }

    #[test]
    fn completions_name_the_subcommands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let script = String::from_utf8(completion(sample(), shell, "tool")).unwrap();
            assert!(script.contains("audit"), "{shell}: {script}");
            assert!(script.contains("store"), "{shell}: {script}");
        }
        let bash = String::from_utf8(completion(sample(), Shell::Bash, "tool")).unwrap();
        assert!(bash.contains("complete -F _tool"), "{bash}");
    }
}
