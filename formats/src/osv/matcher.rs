//! Evaluating an OSV `affected[]` entry against one installed version (OSV schema 1.6
//! §"Evaluation": `IncludedInRanges`, `BeforeLimits`).
//!
//! - `ECOSYSTEM` ranges are ordered by the ecosystem's own rules ([`Scheme`]): Debian
//!   and Ubuntu by deb-version(7) ([`crate::apt::version::compare`], epochs and `~`
//!   included), PyPI by PEP 440 (`pep440_rs`).
//! - `SEMVER` ranges are ordered by SemVer 2.0 (`semver`); a leading `v` is not accepted.
//! - `GIT` ranges name commits, which cannot be ordered without the repository's history:
//!   they are ignored (a record with only `GIT` ranges matches through its `versions`
//!   list alone).
//! - The events of a range are sorted by version (`introduced: "0"` first) and walked:
//!   an `introduced` at or below the version makes it affected, a `fixed` at or below it
//!   unaffected, a `last_affected` below it unaffected. A range with `limit` events only
//!   covers versions below at least one limit (`"*"` is no limit).
//! - The `versions` list matches a version equal to one of its entries (in the ecosystem's
//!   ordering, so `1.0` and `1.0.0` are equal under PEP 440).
//!
//! An event version or an installed version that does not parse in its ordering
//! (PEP 440, SemVer) is left out of the comparison; [`Scheme::parses`] lets a caller
//! report such installed versions instead of calling them unaffected.

use std::cmp::Ordering;
use std::str::FromStr;

use super::ecosystem::Family;
use super::record::{Affected, Range, RangeType};

/// How the versions of an `ECOSYSTEM` range are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// deb-version(7): Debian and Ubuntu.
    Debian,
    /// PEP 440: PyPI.
    Pep440,
}

impl Scheme {
    /// The ordering of an ecosystem family.
    pub fn of(family: Family) -> Scheme {
        match family {
            Family::Debian | Family::Ubuntu => Scheme::Debian,
            Family::PyPI => Scheme::Pep440,
        }
    }

    /// Whether `version` has a place in this ordering (a valid Debian version, a PEP 440
    /// version).
    pub fn parses(self, version: &str) -> bool {
        match self {
            Scheme::Debian => crate::apt::version::is_valid(version),
            Scheme::Pep440 => pep440_rs::Version::from_str(version).is_ok(),
        }
    }

    /// Orders two versions; `None` when one does not parse.
    pub fn compare(self, a: &str, b: &str) -> Option<Ordering> {
        match self {
            Scheme::Debian => Some(crate::apt::version::compare(a, b)),
            Scheme::Pep440 => Some(
                pep440_rs::Version::from_str(a)
                    .ok()?
                    .cmp(&pep440_rs::Version::from_str(b).ok()?),
            ),
        }
    }
}

/// Orders `a` and `b` as the versions of a range of `kind` in an ecosystem ordered by
/// `scheme`; `None` when one does not parse (or for `GIT`).
fn compare(kind: RangeType, scheme: Scheme, a: &str, b: &str) -> Option<Ordering> {
    match kind {
        RangeType::Ecosystem => scheme.compare(a, b),
        RangeType::Semver => Some(
            semver::Version::parse(a)
                .ok()?
                .cmp(&semver::Version::parse(b).ok()?),
        ),
        RangeType::Git => None,
    }
}

/// The sort key of an event version: `"0"` (as `introduced`) sorts before everything.
fn event_cmp(kind: RangeType, scheme: Scheme, a: &str, b: &str) -> Ordering {
    match (a == "0", b == "0") {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => compare(kind, scheme, a, b).unwrap_or(Ordering::Equal),
    }
}

/// Whether `version` is in `range` (OSV schema `IncludedInRange` and `BeforeLimits`).
/// Always false for `GIT` ranges and for a `version` that does not parse.
pub fn range_includes(range: &Range, scheme: Scheme, version: &str) -> bool {
    let kind = range.kind;
    if kind == RangeType::Git || compare(kind, scheme, version, version).is_none() {
        return false;
    }
    // Events whose version parses (an `introduced: "0"` always does).
    let mut events: Vec<_> = range
        .events
        .iter()
        .filter_map(|e| e.version().map(|v| (e, v)))
        .filter(|(e, v)| {
            (e.introduced.is_some() && *v == "0")
                || (e.limit.is_some() && *v == "*")
                || compare(kind, scheme, v, v).is_some()
        })
        .collect();
    events.sort_by(|(_, a), (_, b)| event_cmp(kind, scheme, a, b));
    let cmp = |other: &str| compare(kind, scheme, version, other);
    let mut affected = false;
    for (e, v) in &events {
        if e.introduced.is_some() {
            if *v == "0" || matches!(cmp(v), Some(Ordering::Greater | Ordering::Equal)) {
                affected = true;
            }
        } else if e.fixed.is_some() {
            if matches!(cmp(v), Some(Ordering::Greater | Ordering::Equal)) {
                affected = false;
            }
        } else if e.last_affected.is_some() && cmp(v) == Some(Ordering::Greater) {
            affected = false;
        }
    }
    let limits: Vec<&str> = events
        .iter()
        .filter(|(e, _)| e.limit.is_some())
        .map(|(_, v)| *v)
        .collect();
    let before_limits = limits.is_empty()
        || limits
            .iter()
            .any(|l| *l == "*" || cmp(l) == Some(Ordering::Less));
    affected && before_limits
}

/// The outcome of [`evaluate`] for an affected version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The smallest `fixed` event version above the installed one over the entry's
    /// ranges, if the record names one.
    pub fixed: Option<String>,
}

/// Whether `version` of a package is affected by the `affected[]` entry `a` (its
/// `versions` list, then its ranges; see the module docs), with the fix to upgrade to.
/// `None` when it is not affected.
pub fn evaluate(a: &Affected, scheme: Scheme, version: &str) -> Option<Hit> {
    let listed = a
        .versions
        .iter()
        .any(|v| v == version || (scheme.compare(v, version) == Some(Ordering::Equal)));
    let in_range = a.ranges.iter().any(|r| range_includes(r, scheme, version));
    if !listed && !in_range {
        return None;
    }
    let mut fixed: Option<(RangeType, &str)> = None;
    for r in a.ranges.iter().filter(|r| r.kind != RangeType::Git) {
        for f in r.events.iter().filter_map(|e| e.fixed.as_deref()) {
            if compare(r.kind, scheme, f, version) != Some(Ordering::Greater) {
                continue;
            }
            let smaller = match fixed {
                None => true,
                Some((k, cur)) => {
                    k == r.kind && compare(r.kind, scheme, f, cur) == Some(Ordering::Less)
                }
            };
            if smaller {
                fixed = Some((r.kind, f));
            }
        }
    }
    Some(Hit {
        fixed: fixed.map(|(_, f)| f.to_owned()),
    })
}
