//! Debian package version ordering and syntax (deb-version(7), Debian Policy §5.6.12).
//!
//! A version is `[epoch:]upstream_version[-debian_revision]`. The epoch is a decimal
//! number (default 0); the revision is everything after the last `-` (absent means
//! empty, which sorts like `0`). Upstream versions and revisions are compared with the
//! dpkg algorithm: alternately a non-digit run, compared character by character with
//! `~` before everything (even the end of the string) and letters before non-letters,
//! then a digit run compared numerically.

use std::cmp::Ordering;

/// The three parts of a version string; no validation.
struct Parts<'a> {
    epoch: &'a str,
    upstream: &'a str,
    revision: &'a str,
}

fn split(v: &str) -> Parts<'_> {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) => (e, r),
        None => ("", v),
    };
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((u, r)) => (u, r),
        None => (rest, ""),
    };
    Parts {
        epoch,
        upstream,
        revision,
    }
}

/// Compares two epochs numerically without overflow (any length of digits).
fn compare_epoch(a: &str, b: &str) -> Ordering {
    let a = a.trim().trim_start_matches('0');
    let b = b.trim().trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Sort weight of one character in a non-digit run (dpkg `order()`): the end of the
/// string and digits weigh 0, `~` weighs -1, letters their code, anything else its code
/// plus 256 (so letters sort before non-letters).
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg `verrevcmp`: compares an upstream version or a revision.
fn verrevcmp(a: &str, b: &str) -> Ordering {
    let a = a.as_bytes();
    let b = b.as_bytes();
    let (mut i, mut j) = (0usize, 0usize);
    let is_digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        // Non-digit run.
        while (i < a.len() && !is_digit(a, i)) || (j < b.len() && !is_digit(b, j)) {
            let ac = order(a.get(i).copied());
            let bc = order(b.get(j).copied());
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        // Digit run: skip leading zeros, then the longer run is larger, else the first
        // differing digit decides.
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while is_digit(a, i) && is_digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if is_digit(a, i) {
            return Ordering::Greater;
        }
        if is_digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

/// Orders two Debian versions per deb-version(7) (epoch, then upstream version, then
/// revision). Total on any input: invalid strings are compared with the same rules and
/// never panic, but only [`is_valid`] versions have a meaningful order.
///
/// `"1.0~rc1" < "1.0" < "1.0-1" < "1.0a" < "1.0+b1" < "1.0.1" < "1:0.1"`.
pub fn compare(a: &str, b: &str) -> Ordering {
    let pa = split(a);
    let pb = split(b);
    compare_epoch(pa.epoch, pb.epoch)
        .then_with(|| verrevcmp(pa.upstream, pb.upstream))
        .then_with(|| verrevcmp(pa.revision, pb.revision))
}

/// Largest accepted epoch (dpkg stores it in an `int`).
const MAX_EPOCH: u64 = i32::MAX as u64;

/// Whether `v` is a syntactically valid Debian version (Debian Policy §5.6.12, as dpkg
/// `parseversion` checks it): optional decimal epoch before the first `:` (not empty,
/// at most 2147483647); upstream version not empty, starting with a digit, made of
/// ASCII alphanumerics and `. + - ~ :`; revision (after the last `-`) not empty when the
/// `-` is present, made of ASCII alphanumerics and `. + ~`; no whitespace anywhere.
pub fn is_valid(v: &str) -> bool {
    if v.is_empty() || v.chars().any(|c| c.is_whitespace()) {
        return false;
    }
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) => (Some(e), r),
        None => (None, v),
    };
    if let Some(e) = epoch {
        if e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        match e.parse::<u64>() {
            Ok(n) if n <= MAX_EPOCH => {}
            _ => return false,
        }
    }
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((u, r)) => (u, Some(r)),
        None => (rest, None),
    };
    if !upstream.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return false;
    }
    if !upstream
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b".+-~:".contains(&b))
    {
        return false;
    }
    if let Some(r) = revision
        && (r.is_empty()
            || !r
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".+~".contains(&b)))
    {
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[track_caller]
    fn check(a: &str, b: &str, want: Ordering) {
        assert_eq!(compare(a, b), want, "compare({a:?}, {b:?})");
        assert_eq!(compare(b, a), want.reverse(), "compare({b:?}, {a:?})");
    }

    #[test]
    fn equal_versions() {
        for (a, b) in [
            ("1.0", "1.0"),
            ("0:1.0", "1.0"),
            ("00:1.0", "1.0"),
            ("1.0", "1.0-0"),
            ("1.0-0", "1.0-"),
            ("1.00", "1.0"),
            ("1.001", "1.1"),
            ("1.6-2.1", "1.6-2.1"),
            ("", ""),
        ] {
            check(a, b, Equal);
        }
    }

    #[test]
    fn tilde_sorts_before_everything() {
        check("1.0~rc1", "1.0", Less);
        check("1.0~~", "1.0~", Less);
        check("1.0~~a", "1.0~~", Greater);
        check("1.0~", "1.0", Less);
        check("1.0~beta", "1.0~rc", Less);
        check("2.0~rc1-1", "2.0-1", Less);
        check("1.0-1~bpo1", "1.0-1", Less);
        check("1.0-1", "1.0-1+deb12u1", Less);
    }

    #[test]
    fn letters_before_non_letters() {
        check("1.0a", "1.0+", Less);
        check("1.0a", "1.0.", Less);
        check("1.0", "1.0a", Less);
        check("1.0a", "1.0b", Less);
        check("1.0Z", "1.0a", Less);
        check("1.0+b1", "1.0.1", Less); // '+' (43) < '.' (46)
    }

    #[test]
    fn numeric_runs_compare_as_numbers() {
        check("1.9", "1.10", Less);
        check("1.10", "1.010", Equal);
        check("10", "9", Greater);
        check("1.2.3", "1.2.3.0", Less);
        check("1.2.3", "1.2.3.a", Less);
        check("1.2.3~", "1.2.3", Less);
        check("1.2.3.~", "1.2.3", Greater);
        check(
            "99999999999999999999999",
            "99999999999999999999998",
            Greater,
        );
    }

    #[test]
    fn epoch_dominates() {
        check("1:0.1", "9.9", Greater);
        check("2:1.0", "10:0.1", Less);
        check("1:1.0-1", "1:1.0-2", Less);
        check("99999999999999999999:1", "9:1", Greater);
    }

    #[test]
    fn revision_after_upstream() {
        check("1.0-1", "1.0-2", Less);
        check("1.0-10", "1.0-9", Greater);
        check("1.0-1", "1.0.1-1", Less);
        check("1.6-2.1", "1.6-2", Greater);
        check("1.6-2.1", "1.6.1-1", Less);
        // Hyphens in the upstream version when a revision is present.
        check("1.0-beta-1", "1.0-beta-2", Less);
        check("1.0-beta-1", "1.0-1", Greater); // upstream "1.0-beta" > "1.0"
    }

    #[test]
    fn real_world_orderings() {
        let mut v = vec![
            "2.41-6",
            "2.36-9+deb12u4",
            "2.36-9",
            "2.36-9+deb12u10",
            "1:2.0",
            "2.36-9~bpo11+1",
            "12.4.127-1",
            "2.36",
        ];
        v.sort_by(|a, b| compare(a, b));
        assert_eq!(
            v,
            [
                "2.36",
                "2.36-9~bpo11+1",
                "2.36-9",
                "2.36-9+deb12u4",
                "2.36-9+deb12u10",
                "2.41-6",
                "12.4.127-1",
                "1:2.0",
            ]
        );
    }

    #[test]
    fn valid_versions() {
        for v in [
            "1",
            "1.0",
            "1.6-2.1",
            "1:2.3.4-5",
            "1.0~rc1-1",
            "2.36-9+deb12u4",
            "1.0-beta-1",
            "1:2:3-1",
            "0:0",
            "12.4.127-1",
            "1.17.3-1",
            "7.88.1-10+deb12u5",
            "1.2+dfsg-1ubuntu0.1",
            "2147483647:1",
        ] {
            assert!(is_valid(v), "{v:?} should be valid");
        }
    }

    #[test]
    fn invalid_versions() {
        for v in [
            "",
            " 1.0",
            "1.0 ",
            "1 .0",
            "a1.0",
            ":1.0",
            "a:1.0",
            "-1:1.0",
            "1.0-",
            "1.0-a_b",
            "1.0_1",
            "1.0-1:2",
            "2147483648:1",
            "1:",
            "1:a",
            "1.0/2",
            "1.0\n",
            "-1",
        ] {
            assert!(!is_valid(v), "{v:?} should be invalid");
        }
    }

    #[test]
    fn compare_never_panics_on_junk() {
        for a in ["", ":", "-", "::-", "~", "\u{e9}", "a:b:c-d-e", "0000"] {
            for b in ["", "1", "~~", "1:"] {
                let _ = compare(a, b);
            }
        }
    }
}
