//! PEP 440 version specifiers as version ranges for the PubGrub solver.
//!
//! [`Vs`] is the version set [`crate::pypi::resolve`] gives to the `pubgrub` crate: a
//! union of intervals of [`Version`]s (pubgrub's `version_ranges::Ranges`) with a
//! `Display` that prints PEP 440 specifiers again (`>=1.0, <2`), so conflict reports read like the
//! requirements that caused them.
//!
//! [`from_specifiers`] follows PEP 440 §Version specifiers, including its exclusive
//! ordered comparisons: `<V` admits no pre-release of `V` unless `V` is one, `>V` admits
//! no post-release of `V` unless `V` is one, and `==V` (no local label) admits `V+local`.
//! The internal `min`/`max` versions of `pep440_rs` mark those bounds; they never reach
//! a report.

use std::fmt;
use std::ops::Bound;

use pep440_rs::{Operator, Version, VersionSpecifier, VersionSpecifiers};
use pubgrub::{Ranges, VersionSet};

/// A set of PEP 440 versions: what a requirement admits, for the solver.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Vs(pub Ranges<Version>);

impl VersionSet for Vs {
    type V = Version;
    fn empty() -> Self {
        Vs(Ranges::empty())
    }
    fn singleton(v: Version) -> Self {
        Vs(Ranges::singleton(v))
    }
    fn complement(&self) -> Self {
        Vs(self.0.complement())
    }
    fn intersection(&self, other: &Self) -> Self {
        Vs(self.0.intersection(&other.0))
    }
    fn contains(&self, v: &Version) -> bool {
        self.0.contains(v)
    }
    fn full() -> Self {
        Vs(Ranges::full())
    }
    fn union(&self, other: &Self) -> Self {
        Vs(self.0.union(&other.0))
    }
    fn is_disjoint(&self, other: &Self) -> bool {
        self.0.is_disjoint(&other.0)
    }
    fn subset_of(&self, other: &Self) -> bool {
        self.0.subset_of(&other.0)
    }
}

/// The smallest post-release of a final `v` (`v.post0.dev0`): the exclusive upper bound
/// of "`v` with any local label".
fn above_locals(v: &Version) -> Option<Version> {
    (v.pre().is_none() && v.post().is_none() && v.dev().is_none() && v.local().is_empty())
        .then(|| v.clone().with_post(Some(0)).with_dev(Some(0)))
}

/// The lowest version with release prefix `release` (epoch kept): `<prefix>min0`.
fn prefix_floor(epoch: u64, release: &[u64]) -> Version {
    Version::new(release.iter().copied())
        .with_epoch(epoch)
        .with_min(Some(0))
}

/// The versions one specifier admits (PEP 440 §Version specifiers).
pub fn from_specifier(s: &VersionSpecifier) -> Ranges<Version> {
    let v = s.version().clone();
    match s.operator() {
        Operator::Equal => match above_locals(&v) {
            Some(top) => Ranges::from_range_bounds(v..top),
            None => Ranges::singleton(v),
        },
        Operator::ExactEqual => Ranges::singleton(v),
        Operator::NotEqual => match above_locals(&v) {
            Some(top) => Ranges::from_range_bounds(v..top).complement(),
            None => Ranges::singleton(v).complement(),
        },
        Operator::EqualStar | Operator::NotEqualStar => {
            let release = v.release();
            let low = prefix_floor(v.epoch(), release);
            let mut next = release.to_vec();
            if let Some(last) = next.last_mut() {
                *last = last.saturating_add(1);
            }
            let high = prefix_floor(v.epoch(), &next);
            let r = Ranges::from_range_bounds(low..high);
            if *s.operator() == Operator::EqualStar {
                r
            } else {
                r.complement()
            }
        }
        Operator::TildeEqual => {
            let release = v.release();
            let mut upper = release[..release.len().saturating_sub(1).max(1)].to_vec();
            if let Some(last) = upper.last_mut() {
                *last = last.saturating_add(1);
            }
            Ranges::from_range_bounds(v.clone()..prefix_floor(v.epoch(), &upper))
        }
        Operator::LessThan => {
            if v.any_prerelease() || v.is_post() || !v.local().is_empty() {
                Ranges::strictly_lower_than(v)
            } else {
                Ranges::strictly_lower_than(v.with_min(Some(0)))
            }
        }
        Operator::LessThanEqual => match above_locals(&v) {
            Some(top) => Ranges::strictly_lower_than(top),
            None => Ranges::lower_than(v),
        },
        Operator::GreaterThan => {
            if v.is_dev() || v.is_post() || !v.local().is_empty() || v.is_pre() {
                Ranges::strictly_higher_than(v)
            } else {
                Ranges::strictly_higher_than(v.with_max(Some(0)))
            }
        }
        Operator::GreaterThanEqual => Ranges::higher_than(v),
    }
}

/// The versions a specifier set admits (the intersection of its specifiers; an empty
/// set admits every version).
pub fn from_specifiers(specs: &VersionSpecifiers) -> Vs {
    Vs(specs.iter().fold(Ranges::full(), |acc, s| {
        acc.intersection(&from_specifier(s))
    }))
}

/// A bound's version as PEP 440 text, without the internal `min`/`max` markers.
fn plain(v: &Version) -> String {
    let mut v = v.clone();
    if Version::min(&v).is_some() {
        v = v.with_min(None);
    }
    if Version::max(&v).is_some() {
        v = v.with_max(None);
    }
    v.to_string()
}

/// For `v.post0.dev0` (see [`above_locals`]), the `v` it closes.
fn closes_locals_of(v: &Version) -> Option<Version> {
    (v.post() == Some(0) && v.dev() == Some(0) && v.pre().is_none() && v.local().is_empty())
        .then(|| v.clone().with_post(None).with_dev(None))
}

fn segment(lo: &Bound<Version>, hi: &Bound<Version>) -> String {
    match (lo, hi) {
        (Bound::Unbounded, Bound::Unbounded) => "*".into(),
        (Bound::Included(a), Bound::Included(b)) if a == b => format!("=={}", plain(a)),
        (Bound::Included(a), Bound::Excluded(b)) if closes_locals_of(b).as_ref() == Some(a) => {
            format!("=={}", plain(a))
        }
        _ => {
            let lo = match lo {
                Bound::Unbounded => None,
                Bound::Included(a) => Some(match closes_locals_of(a) {
                    Some(c) => format!(">{c}"),
                    None => format!(">={}", plain(a)),
                }),
                Bound::Excluded(a) => Some(format!(">{}", plain(a))),
            };
            let hi = match hi {
                Bound::Unbounded => None,
                Bound::Included(b) => Some(format!("<={}", plain(b))),
                Bound::Excluded(b) => Some(match closes_locals_of(b) {
                    Some(c) => format!("<={c}"),
                    None => format!("<{}", plain(b)),
                }),
            };
            [lo, hi]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}

impl fmt::Display for Vs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(no version)");
        }
        let parts: Vec<String> = self.0.iter().map(|(lo, hi)| segment(lo, hi)).collect();
        f.write_str(&parts.join(" | "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr as _;

    fn v(s: &str) -> Version {
        Version::from_str(s).unwrap()
    }
    fn r(s: &str) -> Vs {
        from_specifiers(&VersionSpecifiers::from_str(s).unwrap())
    }

    #[test]
    fn ranges_agree_with_pep440_contains() {
        let versions = [
            "0.9",
            "1.0.dev1",
            "1.0a1",
            "1.0rc2",
            "1.0",
            "1.0+cpu",
            "1.0.post1",
            "1.1",
            "1.1.5",
            "1.2.0",
            "1.9",
            "2.0.dev0",
            "2.0rc1",
            "2.0",
            "2.0+cu124",
            "2.0.post2",
            "2.1",
            "3.0",
            "1!0.5",
        ];
        let specs = [
            "<2",
            "<=2.0",
            ">1.0",
            ">=1.0",
            "==1.0",
            "!=1.0",
            "==1.*",
            "!=1.*",
            "~=1.1",
            "~=1.1.0",
            ">=1.0, <2",
            "==2.0",
            ">1.0.post1",
            "===1.0",
            ">=1.0a1,<1.1",
        ];
        for sp in specs {
            let set = VersionSpecifiers::from_str(sp).unwrap();
            let ranges = from_specifiers(&set);
            for ver in versions {
                let ver = v(ver);
                assert_eq!(
                    ranges.contains(&ver),
                    set.contains(&ver),
                    "{sp} on {ver} (ranges {ranges})"
                );
            }
        }
    }

    #[test]
    fn display_reads_as_specifiers() {
        assert_eq!(r("<2").to_string(), "<2");
        assert_eq!(r(">=1.0, <2").to_string(), ">=1.0, <2");
        assert_eq!(r("==2.5.1").to_string(), "==2.5.1");
        assert_eq!(r("<=2.0").to_string(), "<=2.0");
        assert_eq!(r(">1.0").to_string(), ">1.0");
        assert_eq!(r("").to_string(), "*");
        assert_eq!(r("!=1.5").to_string(), "<1.5 | >1.5");
        assert_eq!(Vs::singleton(v("1.2")).to_string(), "==1.2");
    }
}
