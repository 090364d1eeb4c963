//! Package relationship fields: `Depends`, `Pre-Depends`, `Recommends`, `Provides`, …
//! (Debian Policy §7.1 syntax, §7.5 virtual packages).
//!
//! A field is a comma-separated list of groups; a group is a `|`-separated list of
//! alternatives; an alternative is `name[:archqual] [(op version)] [[arch list]] [<profiles>]`.
//! Whitespace (including the newlines of folded fields) may appear between any tokens.
//! Architecture restriction lists `[...]` and build-profile formulas `<...>` only occur
//! in source-package relations; they are parsed and dropped.

use std::fmt;

use super::version;

/// A version relation operator (Debian Policy §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionOp {
    /// `<<`: strictly earlier.
    Lt,
    /// `<=`: earlier or equal (also the obsolete `<`).
    Le,
    /// `=`: exactly equal.
    Eq,
    /// `>=`: later or equal (also the obsolete `>`).
    Ge,
    /// `>>`: strictly later.
    Gt,
}

impl VersionOp {
    /// The operator as written in control files: `<<`, `<=`, `=`, `>=`, `>>`.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionOp::Lt => "<<",
            VersionOp::Le => "<=",
            VersionOp::Eq => "=",
            VersionOp::Ge => ">=",
            VersionOp::Gt => ">>",
        }
    }
}

impl fmt::Display for VersionOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alternative of a relationship field: a package name, an optional architecture
/// qualifier and an optional version constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// Package (or virtual package) name.
    pub name: String,
    /// Architecture qualifier without the `:` (`any`, `native`, `amd64`), if present.
    pub arch: Option<String>,
    /// Version constraint `(op, version)`, if present.
    pub constraint: Option<(VersionOp, String)>,
}

impl Relation {
    /// Whether a package at `version` satisfies this relation's version constraint
    /// (deb-version(7) ordering). Always true without a constraint. The name and the
    /// architecture qualifier are not checked.
    pub fn satisfied_by(&self, version: &str) -> bool {
        let Some((op, want)) = &self.constraint else {
            return true;
        };
        let ord = version::compare(version, want);
        match op {
            VersionOp::Lt => ord.is_lt(),
            VersionOp::Le => ord.is_le(),
            VersionOp::Eq => ord.is_eq(),
            VersionOp::Ge => ord.is_ge(),
            VersionOp::Gt => ord.is_gt(),
        }
    }
}

/// Renders as in a control file: `name[:arch][ (op version)]`.
impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(arch) = &self.arch {
            write!(f, ":{arch}")?;
        }
        if let Some((op, v)) = &self.constraint {
            write!(f, " ({op} {v})")?;
        }
        Ok(())
    }
}

/// One comma-separated group of a relationship field: any one alternative satisfies it.
pub type Alternatives = Vec<Relation>;

/// A relationship field that does not follow Debian Policy §7.1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid package relation {input:?}: {message}")]
pub struct RelationError {
    /// The offending part of the field (one alternative or group).
    pub input: String,
    /// What is wrong with it.
    pub message: String,
}

fn err<T>(input: &str, message: impl Into<String>) -> Result<T, RelationError> {
    Err(RelationError {
        input: input.trim().to_owned(),
        message: message.into(),
    })
}

/// Whether `name` is acceptable as a package name in a relation: starts with an ASCII
/// letter or digit, then ASCII letters, digits, `+`, `-`, `.` (Debian Policy §5.6.1;
/// upper case is tolerated as APT does).
fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

fn valid_arch(arch: &str) -> bool {
    !arch.is_empty() && arch.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Parses one alternative: `name[:arch] [(op version)] [[archs]] [<profiles>]*`.
fn parse_alternative(s: &str) -> Result<Relation, RelationError> {
    let input = s;
    let s = s.trim_start();
    let end = s
        .find(|c: char| c.is_whitespace() || "([<".contains(c))
        .unwrap_or(s.len());
    let (token, mut rest) = s.split_at(end);
    if token.is_empty() {
        return err(input, "missing package name");
    }
    let (name, arch) = match token.split_once(':') {
        Some((n, a)) => (n, Some(a)),
        None => (token, None),
    };
    if !valid_name(name) {
        return err(
            input,
            format!("bad package name {name:?} (Debian Policy §5.6.1: letters, digits, + - .)"),
        );
    }
    if let Some(a) = arch
        && !valid_arch(a)
    {
        return err(input, format!("bad architecture qualifier {a:?}"));
    }

    let mut constraint = None;
    rest = rest.trim_start();
    if let Some(after) = rest.strip_prefix('(') {
        let Some(close) = after.find(')') else {
            return err(input, "unclosed '(' in version constraint");
        };
        let inner = after[..close].trim();
        rest = &after[close + 1..];
        let (op, v) = if let Some(v) = inner.strip_prefix("<<") {
            (VersionOp::Lt, v)
        } else if let Some(v) = inner.strip_prefix("<=") {
            (VersionOp::Le, v)
        } else if let Some(v) = inner.strip_prefix(">=") {
            (VersionOp::Ge, v)
        } else if let Some(v) = inner.strip_prefix(">>") {
            (VersionOp::Gt, v)
        } else if let Some(v) = inner.strip_prefix('=') {
            (VersionOp::Eq, v)
        } else if let Some(v) = inner.strip_prefix('<') {
            (VersionOp::Le, v)
        } else if let Some(v) = inner.strip_prefix('>') {
            (VersionOp::Ge, v)
        } else {
            return err(
                input,
                format!("version constraint {inner:?} lacks an operator (<< <= = >= >>)"),
            );
        };
        let v = v.trim();
        if !version::is_valid(v) {
            return err(
                input,
                format!("bad version {v:?} in constraint (deb-version(7))"),
            );
        }
        constraint = Some((op, v.to_owned()));
    }

    rest = rest.trim_start();
    if let Some(after) = rest.strip_prefix('[') {
        let Some(close) = after.find(']') else {
            return err(input, "unclosed '[' in architecture restriction");
        };
        rest = &after[close + 1..];
    }
    rest = rest.trim_start();
    while let Some(after) = rest.strip_prefix('<') {
        let Some(close) = after.find('>') else {
            return err(input, "unclosed '<' in build-profile restriction");
        };
        rest = after[close + 1..].trim_start();
    }
    if !rest.is_empty() {
        return err(
            input,
            format!("unexpected text {rest:?} after the relation"),
        );
    }
    Ok(Relation {
        name: name.to_owned(),
        arch: arch.map(str::to_owned),
        constraint,
    })
}

/// Parses a relationship field such as `Depends` (Debian Policy §7.1):
/// `"a (>= 1), b | c:any, d [amd64] <!nocheck>"` gives
/// `[[a (>= 1)], [b, c:any], [d]]`.
///
/// An empty or whitespace-only field gives an empty list; one trailing comma is
/// tolerated (`a, b,`), as libapt-pkg tolerates it.
///
/// # Errors
/// [`RelationError`] for an empty group (`, a` or `a, , b`: dpkg and libapt-pkg refuse
/// both), an empty alternative (`a | , b`), a bad package name or architecture
/// qualifier, a constraint without a known operator or with an invalid version, unclosed
/// brackets, or trailing text.
pub fn parse_relations(field: &str) -> Result<Vec<Alternatives>, RelationError> {
    let mut out = Vec::new();
    let groups: Vec<&str> = field.split(',').collect();
    let last = groups.len() - 1;
    for (i, group) in groups.into_iter().enumerate() {
        if group.trim().is_empty() {
            if i == last {
                continue;
            }
            return err(field, "empty relation between commas");
        }
        let alts = group
            .split('|')
            .map(|alt| {
                if alt.trim().is_empty() {
                    err(group, "empty alternative around '|'")
                } else {
                    parse_alternative(alt)
                }
            })
            .collect::<Result<Alternatives, _>>()?;
        out.push(alts);
    }
    Ok(out)
}

/// Parses a `Provides` field (Debian Policy §7.5): `"foo (= 1.0), bar"`.
///
/// # Errors
/// [`RelationError`] for anything [`parse_relations`] refuses, for alternatives (`|`),
/// and for a version constraint other than `=` (only exact versions may be provided).
pub fn parse_provides(field: &str) -> Result<Vec<Relation>, RelationError> {
    let mut out = Vec::new();
    for group in parse_relations(field)? {
        let mut group = group.into_iter();
        let (Some(rel), None) = (group.next(), group.next()) else {
            return err(field, "alternatives ('|') are not allowed in Provides");
        };
        if let Some((op, _)) = &rel.constraint
            && *op != VersionOp::Eq
        {
            return err(
                &rel.to_string(),
                "only exact versions '(= v)' may be used in Provides (Debian Policy §7.5)",
            );
        }
        out.push(rel);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(name: &str, arch: Option<&str>, c: Option<(VersionOp, &str)>) -> Relation {
        Relation {
            name: name.into(),
            arch: arch.map(Into::into),
            constraint: c.map(|(o, v)| (o, v.into())),
        }
    }

    #[test]
    fn parses_the_documented_example() {
        let r = parse_relations("a (>= 1), b | c:any, d [amd64] <!nocheck>").unwrap();
        assert_eq!(
            r,
            vec![
                vec![rel("a", None, Some((VersionOp::Ge, "1")))],
                vec![rel("b", None, None), rel("c", Some("any"), None)],
                vec![rel("d", None, None)],
            ]
        );
    }

    #[test]
    fn parses_real_depends() {
        let f = "libc6 (>= 2.34), libjq1 (= 1.6-2.1), debconf (>= 0.5) | debconf-2.0,\n libssl3t64 (>= 3.0.0)";
        let r = parse_relations(f).unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!(
            r[1][0],
            rel("libjq1", None, Some((VersionOp::Eq, "1.6-2.1")))
        );
        assert_eq!(r[2].len(), 2);
        assert_eq!(r[2][1].name, "debconf-2.0");
        assert_eq!(r[3][0].name, "libssl3t64");
    }

    #[test]
    fn operators_and_whitespace() {
        let r = parse_relations(
            "a(<<1),b (<= 2) ,c( = 3 ),\n\td (>=4),e (>>5), f (< 6), g (> 7), h:amd64 (>= 1:2.0-1~bpo1)",
        )
        .unwrap();
        let ops: Vec<_> = r
            .iter()
            .map(|g| g[0].constraint.clone().unwrap().0)
            .collect();
        assert_eq!(
            ops,
            [
                VersionOp::Lt,
                VersionOp::Le,
                VersionOp::Eq,
                VersionOp::Ge,
                VersionOp::Gt,
                VersionOp::Le,
                VersionOp::Ge,
                VersionOp::Ge
            ]
        );
        assert_eq!(r[2][0].constraint.as_ref().unwrap().1, "3");
        assert_eq!(
            r[7][0],
            rel("h", Some("amd64"), Some((VersionOp::Ge, "1:2.0-1~bpo1")))
        );
    }

    #[test]
    fn source_restrictions_are_dropped() {
        let r = parse_relations(
            "debhelper-compat (= 13), libonig-dev [!hurd-i386], bats <!nocheck> <!cross>, \
             python3-sphinx [amd64 arm64] <!nodoc>",
        )
        .unwrap();
        let names: Vec<_> = r.iter().map(|g| g[0].name.as_str()).collect();
        assert_eq!(
            names,
            ["debhelper-compat", "libonig-dev", "bats", "python3-sphinx"]
        );
        assert!(r[1][0].constraint.is_none());
    }

    #[test]
    fn empty_field_and_trailing_comma() {
        assert!(parse_relations("").unwrap().is_empty());
        assert!(parse_relations(" \n ").unwrap().is_empty());
        assert_eq!(parse_relations("a, b,").unwrap().len(), 2);
        assert_eq!(parse_relations("a, b, \n ").unwrap().len(), 2);
    }

    /// Found by tests/tests/differential.rs: the empty groups were skipped anywhere, where
    /// dpkg (`missing package name`) and libapt-pkg refuse a leading or inner one.
    #[test]
    fn an_empty_group_before_the_last_comma_is_refused() {
        for bad in [", a", "a, , b", "a,,b", " , "] {
            let e = parse_relations(bad).unwrap_err();
            assert!(e.message.contains("empty relation"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn errors() {
        for bad in [
            "a | , b",
            "a |",
            "(>= 1)",
            "a (>= 1",
            "a (1.0)",
            "a (>= )",
            "a (>= x1)",
            "a b",
            "-a",
            "a_b",
            "a:",
            "a:am_d64",
            "a [amd64",
            "a <!nocheck",
            "a (>= 1) junk",
        ] {
            let e = parse_relations(bad);
            assert!(e.is_err(), "{bad:?} should fail, got {e:?}");
        }
        let e = parse_relations("libc6 (>= 2.34), foo (~ 1)").unwrap_err();
        assert_eq!(e.input, "foo (~ 1)");
        assert!(e.to_string().contains("operator"), "{e}");
    }

    #[test]
    fn satisfied_by() {
        let r = |op, v: &str| rel("x", None, Some((op, v)));
        assert!(rel("x", None, None).satisfied_by("anything"));
        assert!(r(VersionOp::Ge, "1.0").satisfied_by("1.0"));
        assert!(r(VersionOp::Ge, "1.0").satisfied_by("1.0-1"));
        assert!(!r(VersionOp::Ge, "1.0").satisfied_by("1.0~rc1"));
        assert!(r(VersionOp::Gt, "1.0").satisfied_by("1.0.1"));
        assert!(!r(VersionOp::Gt, "1.0").satisfied_by("1.0"));
        assert!(!r(VersionOp::Lt, "2").satisfied_by("1:0"));
        assert!(r(VersionOp::Lt, "2").satisfied_by("1.99"));
        assert!(r(VersionOp::Le, "2").satisfied_by("2"));
        assert!(!r(VersionOp::Le, "2").satisfied_by("2.0"));
        assert!(r(VersionOp::Eq, "1.6-2.1").satisfied_by("1.6-2.1"));
        assert!(!r(VersionOp::Eq, "1.6-2.1").satisfied_by("1.6-2"));
    }

    #[test]
    fn display_round_trips() {
        let f = "a (>= 1), b | c:any, e (= 1:2-3)";
        let r = parse_relations(f).unwrap();
        let shown = r
            .iter()
            .map(|g| {
                g.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" | ")
            })
            .collect::<Vec<_>>()
            .join(", ");
        assert_eq!(shown, f);
    }

    #[test]
    fn provides() {
        let p =
            parse_provides("mail-transport-agent, libfoo-abi-2 (= 2.1-1),\n default-mta").unwrap();
        assert_eq!(
            p,
            vec![
                rel("mail-transport-agent", None, None),
                rel("libfoo-abi-2", None, Some((VersionOp::Eq, "2.1-1"))),
                rel("default-mta", None, None),
            ]
        );
        assert!(parse_provides("").unwrap().is_empty());
        assert!(parse_provides("a | b").is_err());
        assert!(parse_provides("a (>= 1)").is_err());
    }
}
