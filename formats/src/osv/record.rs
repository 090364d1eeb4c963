//! The OSV record types (OSV schema 1.6, "Open Source Vulnerability format"): one JSON
//! object per advisory. Only the fields the matcher, the scan report and the VEX export
//! use are kept; every other field (`references`, `credits`, `database_specific`, …) is
//! ignored while parsing, and unknown fields are allowed (newer schema versions).

use serde::{Deserialize, Serialize};

/// One OSV record (OSV schema §Top-level fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vulnerability {
    /// The advisory's id (`DSA-5678-1`, `USN-6543-1`, `PYSEC-2024-12`, `GHSA-xxxx-…`;
    /// §id): its database prefix, a dash, the database's own id.
    pub id: String,
    /// When the record last changed, RFC 3339 UTC (§modified; required by the schema).
    pub modified: String,
    /// When the record was first published, RFC 3339 UTC (§published).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// When the record was withdrawn, RFC 3339 UTC (§withdrawn): a withdrawn record
    /// matches nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<String>,
    /// Other ids of the same vulnerability, typically CVE ids (§aliases).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// One-line summary (§summary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Longer description, CommonMark (§details).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// Severity scores of the whole record (§severity).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub severity: Vec<Severity>,
    /// The affected packages and their versions (§affected).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub affected: Vec<Affected>,
}

/// A severity score (§severity): a type and a score in that type's notation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Severity {
    /// `CVSS_V2`, `CVSS_V3`, `CVSS_V4` (the score is a CVSS vector string) or `Ubuntu`
    /// (the score is an Ubuntu priority: `negligible`, `low`, `medium`, `high`,
    /// `critical`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The score: a CVSS vector (`CVSS:3.1/AV:N/AC:L/…`) or a word.
    pub score: String,
}

/// One affected package (§affected[]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    /// The package (§affected[].package).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<Package>,
    /// Per-package severity (§affected[].severity), when the record gives one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub severity: Vec<Severity>,
    /// Version ranges (§affected[].ranges[]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<Range>,
    /// Explicitly listed affected versions (§affected[].versions[]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
}

/// An affected package's identity (§affected[].package).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// The ecosystem (`Debian:12`, `Ubuntu:24.04:LTS`, `PyPI`; §affected[].package.ecosystem).
    pub ecosystem: String,
    /// The package name in that ecosystem: for Debian and Ubuntu the SOURCE package.
    pub name: String,
    /// A package URL, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
}

/// The kind of a version range (§affected[].ranges[].type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RangeType {
    /// Versions ordered by SemVer 2.0.
    #[serde(rename = "SEMVER")]
    Semver,
    /// Versions ordered by the ecosystem's own rules (Debian: deb-version(7); PyPI: PEP 440).
    #[serde(rename = "ECOSYSTEM")]
    Ecosystem,
    /// Git commit hashes; not evaluated by this crate (no history on the Cube).
    #[serde(rename = "GIT")]
    Git,
}

/// A version range (§affected[].ranges[]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Range {
    /// How the event versions are ordered.
    #[serde(rename = "type")]
    pub kind: RangeType,
    /// The events, in any order (the matcher sorts them).
    #[serde(default)]
    pub events: Vec<Event>,
}

/// One event of a range (§affected[].ranges[].events[]): exactly one of the four fields
/// is set in a valid record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The first affected version; `"0"` means "before every version".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced: Option<String>,
    /// The first version that is no longer affected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    /// The last affected version (every later one is not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_affected: Option<String>,
    /// An upper limit on the range: versions at or above every limit are outside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

impl Event {
    /// The event's version, whichever field holds it.
    pub fn version(&self) -> Option<&str> {
        self.introduced
            .as_deref()
            .or(self.fixed.as_deref())
            .or(self.last_affected.as_deref())
            .or(self.limit.as_deref())
    }
}
