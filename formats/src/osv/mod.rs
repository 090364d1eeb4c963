//! Offline vulnerability data in the OSV format (OSV schema 1.6, the "Open Source
//! Vulnerability format" of the OpenSSF): the records ([`record`]), the per-ecosystem
//! export archives `mirror-sync` carries as `osv` artifacts ([`archive`]), the OSV
//! ecosystems the mirror knows ([`ecosystem`]), the range evaluation ([`matcher`]), the
//! scan of a snapshot's packages against its own OSV data ([`mod@scan`]), the difference
//! between two scans ([`diff`]) and the CycloneDX 1.6 VEX export ([`vex`]).
//!
//! Pure: callers hand in the archive bytes and the manifest.

pub mod archive;
pub mod diff;
pub mod ecosystem;
pub mod matcher;
pub mod record;
pub mod scan;
pub mod vex;

#[cfg(test)]
mod tests;

pub use archive::{Database, MAX_ARCHIVE_BYTES, parse_archive};
pub use diff::{VulnChange, VulnDiff, VulnDiffOutcome};
pub use record::{Affected, Event, Package, Range, RangeType, Severity, Vulnerability};
pub use scan::{DatabaseSummary, Finding, ScanReport, SourcePackage, scan};
pub use vex::cyclonedx_vex;

/// File name of an OSV export inside `osv/<upstream>/<ecosystem>/` (the name the OSV
/// project publishes per ecosystem: `<base>/<ecosystem>/all.zip`).
pub const ARCHIVE_FILE: &str = "all.zip";

/// Media type of an `osv` artifact (a zip archive of OSV JSON records).
pub const ARCHIVE_MEDIA_TYPE: &str = "application/zip";

/// The logical path of the OSV export of `ecosystem` synced by upstream `upstream`:
/// `osv/<upstream>/<ecosystem>/all.zip` (docs/media-format.md §osv).
pub fn archive_path(upstream: &str, ecosystem: &str) -> String {
    format!("osv/{upstream}/{ecosystem}/{ARCHIVE_FILE}")
}

/// Why OSV data was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OsvError {
    /// Over a size limit.
    #[error("{what} is larger than {max} bytes")]
    TooLarge {
        /// What was too large.
        what: String,
        /// The limit, in bytes.
        max: u64,
    },
    /// The zip archive itself cannot be read.
    #[error("{0}")]
    Archive(String),
    /// One member is not an acceptable OSV record.
    #[error("member {member}: {reason}")]
    Record {
        /// The member's name in the archive (escaped).
        member: String,
        /// What is wrong.
        reason: String,
    },
    /// An ecosystem this crate does not match (or Ubuntu Pro).
    #[error(
        "OSV ecosystem {0:?} is not supported: use Debian:<release>, Ubuntu:<release>[:LTS] or PyPI"
    )]
    Ecosystem(String),
}

/// The human form of a scan: one line per OSV artifact with its record count and age
/// (relative to `now`, RFC 3339), a table of findings (package, version, advisory,
/// aliases, fixed version and whether the fix is in the snapshot), and a summary line.
/// A snapshot without OSV data says so: that is not "no vulnerabilities".
pub fn render(report: &ScanReport, now: &str) -> String {
    let mut t = format!("snapshot {} (cut {})\n", report.snapshot, report.created);
    if report.databases.is_empty() {
        t.push_str(
            "no OSV data in this snapshot: vulnerabilities are UNKNOWN (add an [[osv]] upstream to mirror-sync's configuration)\n",
        );
        return t;
    }
    for d in &report.databases {
        let age = d
            .newest_modified
            .as_deref()
            .map(|m| format!("newest record modified {m}{}", age(m, now)))
            .unwrap_or_else(|| "no records".into());
        t.push_str(&format!(
            "OSV data {} ({}): {} records ({} withdrawn), {age}\n",
            d.ecosystem, d.path, d.records, d.withdrawn
        ));
    }
    if !report.findings.is_empty() {
        t.push_str(&format!(
            "\n{:<28} {:<24} {:<22} {:<20} {}\n",
            "PACKAGE", "VERSION", "ADVISORY", "FIXED", "ALIASES"
        ));
        for f in &report.findings {
            let fixed = match (&f.fixed, &f.fixed_in_snapshot) {
                (Some(x), Some(s)) if s == x => format!("{x} (on drive)"),
                (Some(x), Some(s)) => format!("{x} ({s} on drive)"),
                (Some(x), None) => x.clone(),
                (None, _) => "-".into(),
            };
            let name = match &f.source {
                Some(s) if s.name != f.name => format!("{} [{}]", f.name, s.name),
                _ => f.name.clone(),
            };
            t.push_str(&format!(
                "{name:<28} {:<24} {:<22} {fixed:<20} {}\n",
                f.version,
                f.id,
                f.aliases.join(",")
            ));
        }
        t.push('\n');
    }
    let fixable = report
        .findings
        .iter()
        .filter(|f| f.fixed_in_snapshot.is_some())
        .count();
    t.push_str(&format!(
        "{} findings: {} advisories on {} of {} packages ({} with the fix in this snapshot); {} packages not covered by the OSV data{}\n",
        report.findings.len(),
        report.advisories(),
        report.affected_packages(),
        report.packages,
        fixable,
        report.not_covered,
        if report.unparsed_versions.is_empty() {
            String::new()
        } else {
            format!(
                "; {} with a version that does not parse (not evaluated)",
                report.unparsed_versions.len()
            )
        }
    ));
    t
}

/// ` (N days before <now>)` for RFC 3339 `then`, or nothing when a time does not parse.
fn age(then: &str, now: &str) -> String {
    match (
        chrono::DateTime::parse_from_rfc3339(then),
        chrono::DateTime::parse_from_rfc3339(now),
    ) {
        (Ok(a), Ok(b)) => {
            let days = (b - a).num_days();
            format!(", {days} days old")
        }
        _ => String::new(),
    }
}
