//! Dependency closure over a universe of APT package entries (pure, no I/O).
//!
//! Given the entries of every fetched Packages index and the configured requests, pick
//! the entries to mirror: the requested packages plus everything they need through
//! `Depends`/`Pre-Depends` (and `Recommends` on request), following Debian Policy §7.1
//! (relations, alternatives) and §7.5 (virtual packages via `Provides`). This is a
//! mirror's closure, not an installer's: several versions of one package may be
//! selected, and conflicts are not considered.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;
use std::str::FromStr;

use formats::apt::packages::PackageEntry;
use formats::apt::relation::{Alternatives, Relation};
use formats::apt::version;

/// One configured package request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `jq`: the newest version of the package.
    Name(String),
    /// `jq=1.6-2.1`: exactly that version (compared per deb-version(7), so `0:1.0`
    /// matches `1.0`).
    Pinned {
        /// Package name.
        name: String,
        /// Wanted version.
        version: String,
    },
    /// `lib*`, `cuda-toolkit-12-?`: the newest version of every package whose name
    /// matches the glob (`*` any run, `?` any one character).
    Pattern(String),
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Name(n) | Request::Pattern(n) => f.write_str(n),
            Request::Pinned { name, version } => write!(f, "{name}={version}"),
        }
    }
}

/// Whether `name` is a Debian package name (Debian Policy §5.6.1): at least two
/// characters, lowercase letters, digits, `+`, `-`, `.`, starting with a letter or digit.
fn valid_package_name(name: &str) -> bool {
    let mut b = name.bytes();
    name.len() >= 2
        && b.next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && b.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"+-.".contains(&c))
}

impl FromStr for Request {
    type Err = ResolveError;

    /// `"jq"` → [`Request::Name`], `"jq=1.6-2.1"` → [`Request::Pinned`], a name with
    /// `*` or `?` → [`Request::Pattern`]. Surrounding whitespace is ignored.
    ///
    /// # Errors
    /// [`ResolveError::InvalidRequest`] for a name outside Debian Policy §5.6.1, an
    /// invalid version (deb-version(7)), or a glob with other characters.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let invalid = |reason: &str| ResolveError::InvalidRequest {
            request: s.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some((name, ver)) = s.split_once('=') {
            if !valid_package_name(name) {
                return Err(invalid(
                    "package name must be lowercase letters, digits, + - . (Debian Policy §5.6.1)",
                ));
            }
            if !version::is_valid(ver) {
                return Err(invalid(
                    "pinned version is not a Debian version (deb-version(7))",
                ));
            }
            return Ok(Request::Pinned {
                name: name.to_owned(),
                version: ver.to_owned(),
            });
        }
        if s.contains(['*', '?']) {
            let ok = s
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"+-.*?".contains(&c));
            if !ok {
                return Err(invalid(
                    "a pattern may use lowercase letters, digits, + - . and the globs * ?",
                ));
            }
            return Ok(Request::Pattern(s.to_owned()));
        }
        if !valid_package_name(s) {
            return Err(invalid(
                "expected NAME, NAME=VERSION or a glob; a name is lowercase letters, digits, + - . (Debian Policy §5.6.1)",
            ));
        }
        Ok(Request::Name(s.to_owned()))
    }
}

/// How to resolve.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Architectures to mirror, e.g. `["amd64"]`. Packages of architecture `all` are
    /// always candidates. Each architecture is resolved separately (a dependency of an
    /// `amd64` package is looked for among `amd64` and `all` packages) and the results
    /// are merged. An empty list means no architecture restriction (one pass over all).
    pub architectures: Vec<String>,
    /// Also follow `Recommends`.
    pub with_recommends: bool,
}

/// The outcome of [`resolve`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolution {
    /// Indices into the universe slice, sorted and unique. For a `(name, version,
    /// architecture)` present several times (e.g. in two suites) only the first index
    /// is ever selected.
    pub selected: Vec<usize>,
    /// Dependency groups nothing in the universe satisfies, human-readable and unique,
    /// e.g. `"jq 1.6-2.1 depends on libfoo (>= 2) | libbar: no candidate"`.
    pub unsatisfied: Vec<String>,
}

/// Why resolution failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// A request string is not a valid name, pin or pattern.
    #[error("invalid package request {request:?}: {reason}")]
    InvalidRequest {
        /// The request as given.
        request: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A request matches no package of an allowed architecture in the fetched indexes.
    #[error(
        "no package matches request {request:?} (architectures: {architectures}); check the name, the version and the configured suites/components"
    )]
    NoMatch {
        /// The request as written (`jq`, `jq=1.6-2.1`, `lib*`).
        request: String,
        /// The allowed architectures, comma-separated (`any` when unrestricted).
        architectures: String,
    },
}

/// Glob match on bytes: `*` matches any run (also empty), `?` exactly one byte.
fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == b'?' || n.get(ni) == Some(&c) => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi.min(p.len())..].iter().all(|&c| c == b'*')
}

/// Whether a `Provides` entry with `provided` version satisfies `rel` (Debian Policy
/// §7.5: an unversioned Provides satisfies only unversioned relations).
fn provide_satisfies(rel: &Relation, provided: Option<&str>) -> bool {
    match (&rel.constraint, provided) {
        (None, _) => true,
        (Some(_), Some(v)) => rel.satisfied_by(v),
        (Some(_), None) => false,
    }
}

fn group_text(group: &Alternatives) -> String {
    group
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Resolution state for one architecture pass.
struct Pass<'u> {
    universe: &'u [PackageEntry],
    /// Candidate real packages per name: newest version first, then lowest index.
    by_name: HashMap<&'u str, Vec<usize>>,
    /// Candidate providers per virtual name: `(index, provided version)`, ordered by
    /// provider name, newest provider version, lowest index.
    providers: HashMap<&'u str, Vec<(usize, Option<&'u str>)>>,
    selected: BTreeSet<usize>,
    selected_by_name: HashMap<&'u str, Vec<usize>>,
    selected_provides: HashMap<&'u str, Vec<Option<&'u str>>>,
    queue: VecDeque<usize>,
}

impl<'u> Pass<'u> {
    fn new(universe: &'u [PackageEntry], candidates: &[usize]) -> Self {
        let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut providers: HashMap<&str, Vec<(usize, Option<&str>)>> = HashMap::new();
        for &i in candidates {
            let e = &universe[i];
            by_name.entry(e.name.as_str()).or_default().push(i);
            for p in &e.provides {
                let v = p.constraint.as_ref().map(|(_, v)| v.as_str());
                providers.entry(p.name.as_str()).or_default().push((i, v));
            }
        }
        for list in by_name.values_mut() {
            list.sort_by(|&a, &b| {
                version::compare(&universe[b].version, &universe[a].version).then(a.cmp(&b))
            });
        }
        for list in providers.values_mut() {
            list.sort_by(|&(a, _), &(b, _)| {
                let (ea, eb) = (&universe[a], &universe[b]);
                ea.name
                    .cmp(&eb.name)
                    .then_with(|| version::compare(&eb.version, &ea.version))
                    .then(a.cmp(&b))
            });
        }
        Pass {
            universe,
            by_name,
            providers,
            selected: BTreeSet::new(),
            selected_by_name: HashMap::new(),
            selected_provides: HashMap::new(),
            queue: VecDeque::new(),
        }
    }

    fn select(&mut self, i: usize) {
        if !self.selected.insert(i) {
            return;
        }
        let e = &self.universe[i];
        self.selected_by_name
            .entry(e.name.as_str())
            .or_default()
            .push(i);
        for p in &e.provides {
            let v = p.constraint.as_ref().map(|(_, v)| v.as_str());
            self.selected_provides
                .entry(p.name.as_str())
                .or_default()
                .push(v);
        }
        self.queue.push_back(i);
    }

    fn newest(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).and_then(|l| l.first().copied())
    }

    fn is_satisfied(&self, rel: &Relation) -> bool {
        let by_name = self
            .selected_by_name
            .get(rel.name.as_str())
            .is_some_and(|l| {
                l.iter()
                    .any(|&j| rel.satisfied_by(&self.universe[j].version))
            });
        by_name
            || self
                .selected_provides
                .get(rel.name.as_str())
                .is_some_and(|l| l.iter().any(|&v| provide_satisfies(rel, v)))
    }

    /// The entry to select for an unsatisfied group: the newest real package of the
    /// first alternative that has one satisfying the constraint; otherwise a provider
    /// (already selected if possible, else smallest name, newest version).
    fn choose(&self, group: &Alternatives) -> Option<usize> {
        for rel in group {
            if let Some(list) = self.by_name.get(rel.name.as_str())
                && let Some(&j) = list
                    .iter()
                    .find(|&&j| rel.satisfied_by(&self.universe[j].version))
            {
                return Some(j);
            }
        }
        for rel in group {
            let Some(list) = self.providers.get(rel.name.as_str()) else {
                continue;
            };
            let mut ok = list
                .iter()
                .filter(|(_, v)| provide_satisfies(rel, *v))
                .map(|&(j, _)| j);
            let first = ok.clone().next();
            if let Some(j) = ok.find(|j| self.selected.contains(j)).or(first) {
                return Some(j);
            }
        }
        None
    }

    /// Runs the worklist until every selected entry's groups have been visited.
    fn close(&mut self, with_recommends: bool, unsatisfied: &mut Vec<String>) {
        let universe = self.universe;
        while let Some(i) = self.queue.pop_front() {
            let e = &universe[i];
            let recommends: &[Alternatives] = if with_recommends { &e.recommends } else { &[] };
            let groups = e
                .depends
                .iter()
                .map(|g| ("depends", g))
                .chain(recommends.iter().map(|g| ("recommends", g)));
            for (kind, group) in groups {
                if group.iter().any(|r| self.is_satisfied(r)) {
                    continue;
                }
                match self.choose(group) {
                    Some(j) => self.select(j),
                    None => unsatisfied.push(format!(
                        "{} {} {kind} on {}: no candidate",
                        e.name,
                        e.version,
                        group_text(group)
                    )),
                }
            }
        }
    }
}

/// Closes `requests` under dependencies within `universe`.
///
/// - No requests: every entry of an allowed architecture is selected (its unmet
///   dependencies are still reported in [`Resolution::unsatisfied`]).
/// - [`Request::Name`]: the newest version (deb-version(7)) of that name;
///   [`Request::Pinned`]: that exact version; [`Request::Pattern`]: the newest version of
///   every matching name. With several architectures each is resolved on its own, so a
///   request picks the newest version per architecture.
/// - Closure: for every selected entry and every `Depends`/`Pre-Depends` group (and
///   `Recommends` group if [`Options::with_recommends`]): nothing happens if a selected
///   entry already satisfies an alternative (same name with a satisfying version, or a
///   satisfying `Provides`: an unversioned Provides satisfies only unversioned
///   relations, Debian Policy §7.5); otherwise the newest satisfying real package of the
///   first alternative that has one is selected; failing that, a provider (already
///   selected if possible, else the smallest package name, newest version); failing
///   that, the group is recorded in [`Resolution::unsatisfied`].
/// - Architecture qualifiers (`:any`, `:native`, `:amd64`) are ignored for matching.
///   Entries repeated with the same `(name, version, architecture)` are only candidates
///   at their first index. The result is deterministic for a given input order.
///
/// # Errors
/// [`ResolveError::NoMatch`] naming the first request that matches nothing in any
/// architecture pass.
pub fn resolve(
    universe: &[PackageEntry],
    requests: &[Request],
    opts: &Options,
) -> Result<Resolution, ResolveError> {
    // The first index of every (name, version, architecture).
    let mut seen: HashSet<(&str, &str, &str)> = HashSet::new();
    let canonical: Vec<usize> = universe
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            seen.insert((e.name.as_str(), e.version.as_str(), e.architecture.as_str()))
        })
        .map(|(i, _)| i)
        .collect();

    let mut passes: Vec<Option<&str>> = Vec::new();
    for a in &opts.architectures {
        if !passes.contains(&Some(a.as_str())) {
            passes.push(Some(a.as_str()));
        }
    }
    if passes.is_empty() {
        passes.push(None);
    }

    let mut matched = vec![false; requests.len()];
    let mut selected: BTreeSet<usize> = BTreeSet::new();
    let mut unsatisfied: Vec<String> = Vec::new();
    let mut reported: HashSet<String> = HashSet::new();
    for arch in passes {
        let candidates: Vec<usize> = canonical
            .iter()
            .copied()
            .filter(|&i| {
                let a = universe[i].architecture.as_str();
                a == "all" || arch.is_none_or(|want| want == a)
            })
            .collect();
        let mut pass = Pass::new(universe, &candidates);
        if requests.is_empty() {
            for &i in &candidates {
                pass.select(i);
            }
        }
        for (r, req) in requests.iter().enumerate() {
            let picks: Vec<usize> = match req {
                Request::Name(n) => pass.newest(n).into_iter().collect(),
                Request::Pinned {
                    name,
                    version: want,
                } => pass
                    .by_name
                    .get(name.as_str())
                    .and_then(|l| {
                        l.iter()
                            .copied()
                            .find(|&j| version::compare(&universe[j].version, want).is_eq())
                    })
                    .into_iter()
                    .collect(),
                Request::Pattern(p) => {
                    let names: BTreeMap<&str, usize> = pass
                        .by_name
                        .iter()
                        .filter(|(n, _)| glob_match(p, n))
                        .filter_map(|(n, l)| l.first().map(|&j| (*n, j)))
                        .collect();
                    names.into_values().collect()
                }
            };
            if !picks.is_empty() {
                matched[r] = true;
            }
            for j in picks {
                pass.select(j);
            }
        }
        let mut pass_unsatisfied = Vec::new();
        pass.close(opts.with_recommends, &mut pass_unsatisfied);
        for u in pass_unsatisfied {
            if reported.insert(u.clone()) {
                unsatisfied.push(u);
            }
        }
        selected.extend(pass.selected);
    }

    if let Some(r) = matched.iter().position(|m| !m) {
        return Err(ResolveError::NoMatch {
            request: requests[r].to_string(),
            architectures: if opts.architectures.is_empty() {
                "any".to_owned()
            } else {
                opts.architectures.join(", ")
            },
        });
    }
    Ok(Resolution {
        selected: selected.into_iter().collect(),
        unsatisfied,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use formats::apt::packages::parse_packages;

    /// A stanza with the mandatory fields plus `extra` lines (`"Depends: a"`).
    fn stanza(name: &str, version: &str, arch: &str, extra: &[&str]) -> String {
        let mut s = format!(
            "Package: {name}\nVersion: {version}\nArchitecture: {arch}\nFilename: pool/main/{name}_{version}_{arch}.deb\nSize: 100\nSHA256: {}\n",
            "0".repeat(64)
        );
        for e in extra {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    fn universe(stanzas: &[String]) -> Vec<PackageEntry> {
        parse_packages(&stanzas.join("\n")).unwrap()
    }

    fn amd64() -> Options {
        Options {
            architectures: vec!["amd64".into()],
            with_recommends: false,
        }
    }

    fn reqs(r: &[&str]) -> Vec<Request> {
        r.iter().map(|s| s.parse().unwrap()).collect()
    }

    /// The selected entries as "name=version" strings, in index order.
    fn picked(u: &[PackageEntry], res: &Resolution) -> Vec<String> {
        res.selected
            .iter()
            .map(|&i| format!("{}={}", u[i].name, u[i].version))
            .collect()
    }

    #[test]
    fn parses_requests() {
        assert_eq!("jq".parse::<Request>().unwrap(), Request::Name("jq".into()));
        assert_eq!(
            " jq=1.6-2.1 ".parse::<Request>().unwrap(),
            Request::Pinned {
                name: "jq".into(),
                version: "1.6-2.1".into()
            }
        );
        assert_eq!(
            "lib*".parse::<Request>().unwrap(),
            Request::Pattern("lib*".into())
        );
        assert_eq!(
            "cuda-toolkit-12-?".parse::<Request>().unwrap(),
            Request::Pattern("cuda-toolkit-12-?".into())
        );
        for bad in [
            "", "j", "JQ", "jq!", "jq=", "jq=abc", "=1.0", "lib[a]*", "a b", "-jq", "jq:amd64",
        ] {
            assert!(
                matches!(
                    bad.parse::<Request>(),
                    Err(ResolveError::InvalidRequest { .. })
                ),
                "{bad:?}"
            );
        }
        assert_eq!(
            "jq=1:1.6-2".parse::<Request>().unwrap().to_string(),
            "jq=1:1.6-2"
        );
    }

    #[test]
    fn glob() {
        assert!(glob_match("lib*", "libjq1"));
        assert!(glob_match("*", "x"));
        assert!(glob_match("*jq*", "libjq1"));
        assert!(glob_match("l?bjq1", "libjq1"));
        assert!(glob_match("lib*1", "libjq1"));
        assert!(glob_match("a*b*c", "aXbYbZc"));
        assert!(!glob_match("lib*", "jq"));
        assert!(!glob_match("lib?", "lib"));
        assert!(!glob_match("jq", "jq1"));
        assert!(!glob_match("a*b", "aXbY"));
        assert!(glob_match("**", ""));
    }

    #[test]
    fn name_picks_newest_and_follows_depends() {
        let u = universe(&[
            stanza(
                "jq",
                "1.6-2.1",
                "amd64",
                &["Depends: libjq1 (= 1.6-2.1), libc6 (>= 2.14)"],
            ),
            stanza(
                "jq",
                "1.7.1-3",
                "amd64",
                &["Depends: libjq1 (= 1.7.1-3), libc6 (>= 2.34)"],
            ),
            stanza("libjq1", "1.6-2.1", "amd64", &["Depends: libonig5"]),
            stanza(
                "libjq1",
                "1.7.1-3",
                "amd64",
                &["Depends: libonig5 (>= 6.1)"],
            ),
            stanza("libonig5", "6.9.9-1", "amd64", &[]),
            stanza("libc6", "2.36-9", "amd64", &[]),
            stanza("libc6", "2.36-9", "arm64", &[]),
            stanza("unrelated", "1", "amd64", &[]),
        ]);
        let r = resolve(&u, &reqs(&["jq"]), &amd64()).unwrap();
        assert_eq!(
            picked(&u, &r),
            [
                "jq=1.7.1-3",
                "libjq1=1.7.1-3",
                "libonig5=6.9.9-1",
                "libc6=2.36-9"
            ]
        );
        assert_eq!(r.selected, [1, 3, 4, 5]);
        assert!(r.unsatisfied.is_empty());
    }

    #[test]
    fn pinned_version() {
        let u = universe(&[
            stanza("jq", "1.6-2.1", "amd64", &["Depends: libjq1 (= 1.6-2.1)"]),
            stanza("jq", "1.7.1-3", "amd64", &["Depends: libjq1 (= 1.7.1-3)"]),
            stanza("libjq1", "1.6-2.1", "amd64", &[]),
            stanza("libjq1", "1.7.1-3", "amd64", &[]),
        ]);
        let r = resolve(&u, &reqs(&["jq=1.6-2.1"]), &amd64()).unwrap();
        assert_eq!(picked(&u, &r), ["jq=1.6-2.1", "libjq1=1.6-2.1"]);
        let r = resolve(&u, &reqs(&["jq=0:1.6-2.1"]), &amd64()).unwrap();
        assert_eq!(r.selected, [0, 2]);
        let e = resolve(&u, &reqs(&["jq=1.5-1"]), &amd64()).unwrap_err();
        assert_eq!(
            e,
            ResolveError::NoMatch {
                request: "jq=1.5-1".into(),
                architectures: "amd64".into()
            }
        );
    }

    #[test]
    fn constraint_picks_older_version() {
        let u = universe(&[
            stanza("app", "1.0", "amd64", &["Depends: libfoo (<< 2)"]),
            stanza("libfoo", "2.1", "amd64", &[]),
            stanza("libfoo", "1.9", "amd64", &[]),
            stanza("libfoo", "1.5", "amd64", &[]),
        ]);
        let r = resolve(&u, &reqs(&["app"]), &amd64()).unwrap();
        assert_eq!(picked(&u, &r), ["app=1.0", "libfoo=1.9"]);
    }

    #[test]
    fn alternatives() {
        // alt-a missing -> alt-b chosen.
        let u = universe(&[
            stanza("app", "1", "amd64", &["Depends: alt-a | alt-b"]),
            stanza("alt-b", "1", "amd64", &[]),
        ]);
        let r = resolve(&u, &reqs(&["app"]), &amd64()).unwrap();
        assert_eq!(picked(&u, &r), ["app=1", "alt-b=1"]);
        // alt-a present -> alt-a chosen, alt-b not.
        let u = universe(&[
            stanza("app", "1", "amd64", &["Depends: alt-a | alt-b"]),
            stanza("alt-b", "1", "amd64", &[]),
            stanza("alt-a", "1", "amd64", &[]),
        ]);
        let r = resolve(&u, &reqs(&["app"]), &amd64()).unwrap();
        assert_eq!(picked(&u, &r), ["app=1", "alt-a=1"]);
        // alt-b already selected by another request -> alt-a not added.
        let r = resolve(&u, &reqs(&["app", "alt-b"]), &amd64()).unwrap();
        assert_eq!(picked(&u, &r), ["app=1", "alt-b=1"]);
        // alt-a exists but too old -> alt-b.
        let u = universe(&[
            stanza("app", "1", "amd64", &["Depends: alt-a (>= 2) | alt-b"]),
            stanza("alt-a", "1", "amd64", &[]),
            stanza("alt-b", "1", "amd64", &[]),
        ]);
        let r = resolve(&u, &reqs(&["app"]), &amd64()).unwrap();
        assert_eq!(picked(&u, &r), ["app=1", "alt-b=1"]);
    }

    #[test]
    fn virtual_packages() {
        let u = universe(&[
            stanza(
                "mailer",
                "1",
                "amd64",
                &["Depends: default-mta | mail-transport-agent"],
            ),
            stanza(
                "postfix",
                "3.7.11-0+deb12u1",
                "amd64",
                &["Provides: mail-transport-agent"],
            ),
            stanza(
                "exim4-daemon-light",
                "4.96-15",
                "amd64",
                &["Provides: mail-transport-agent"],
            ),
        ]);
        let r = resolve(&u, &reqs(&["mailer"]), &amd64()).unwrap();
        // Smallest provider name wins when none is selected.
        assert_eq!(picked(&u, &r), ["mailer=1", "exim4-daemon-light=4.96-15"]);
        // A provider that is already selected satisfies the group.
        let r = resolve(&u, &reqs(&["mailer", "postfix"]), &amd64()).unwrap();
        assert_eq!(picked(&u, &r), ["mailer=1", "postfix=3.7.11-0+deb12u1"]);
        assert!(r.unsatisfied.is_empty());
    }

    #[test]
    fn real_package_preferred_over_provider() {
        let u = universe(&[
            stanza("app", "1", "amd64", &["Depends: awk"]),
            stanza("mawk", "1.3.4", "amd64", &["Provides: awk"]),
            stanza("awk", "1", "amd64", &[]),
        ]);
        let r = resolve(&u, &reqs(&["app"]), &amd64()).unwrap();
        assert_eq!(picked(&u, &r), ["app=1", "awk=1"]);
    }

    #[test]
    fn versioned_provides() {
        let u = universe(&[
            stanza("app", "1", "amd64", &["Depends: libabi (>= 2)"]),
            stanza("old", "1", "amd64", &["Provides: libabi (= 1)"]),
            stanza("unversioned", "1", "amd64", &["Provides: libabi"]),
            stanza("new", "1", "amd64", &["Provides: libabi (= 2.5)"]),
            stanza("plain", "1", "amd64", &["Depends: libabi"]),
        ]);
        let r = resolve(&u, &reqs(&["app"]), &amd64()).unwrap();
        assert_eq!(picked(&u, &r), ["app=1", "new=1"]);
        // An unversioned relation accepts any provider; smallest name first.
        let r = resolve(&u, &reqs(&["plain"]), &amd64()).unwrap();
        assert_eq!(picked(&u, &r), ["new=1", "plain=1"]);
        // Only unversioned / too-old providers: unsatisfied.
        let u = universe(&[
            stanza("app", "1", "amd64", &["Depends: libabi (>= 2)"]),
            stanza("old", "1", "amd64", &["Provides: libabi (= 1)"]),
            stanza("unversioned", "1", "amd64", &["Provides: libabi"]),
        ]);
        let r = resolve(&u, &reqs(&["app", "unversioned"]), &amd64()).unwrap();
        assert_eq!(picked(&u, &r), ["app=1", "unversioned=1"]);
        assert_eq!(
            r.unsatisfied,
            ["app 1 depends on libabi (>= 2): no candidate"]
        );
    }

    #[test]
    fn cycles_terminate() {
        let u = universe(&[
            stanza("pa", "1", "amd64", &["Depends: pb"]),
            stanza("pb", "1", "amd64", &["Pre-Depends: pc (>= 1)"]),
            stanza("pc", "1", "amd64", &["Depends: pa (= 1), pc"]),
        ]);
        let r = resolve(&u, &reqs(&["pa"]), &amd64()).unwrap();
        assert_eq!(r.selected, [0, 1, 2]);
        assert!(r.unsatisfied.is_empty());
    }

    #[test]
    fn long_chain_does_not_recurse() {
        let n = 20_000;
        let stanzas: Vec<String> = (0..n)
            .map(|i| {
                let dep = format!("Depends: p{}", i + 1);
                stanza(&format!("p{i}"), "1", "amd64", &[dep.as_str()])
            })
            .collect();
        let u = universe(&stanzas);
        let r = resolve(&u, &reqs(&["p0"]), &amd64()).unwrap();
        assert_eq!(r.selected.len(), n);
        assert_eq!(
            r.unsatisfied,
            [format!("p{} 1 depends on p{n}: no candidate", n - 1)]
        );
    }

    #[test]
    fn unsatisfied_message() {
        let u = universe(&[stanza(
            "jq",
            "1.6-2.1",
            "amd64",
            &[
                "Depends: libfoo (>= 2) | libbar, libc6:any",
                "Recommends: jq-doc",
            ],
        )]);
        let r = resolve(&u, &reqs(&["jq"]), &amd64()).unwrap();
        assert_eq!(
            r.unsatisfied,
            [
                "jq 1.6-2.1 depends on libfoo (>= 2) | libbar: no candidate",
                "jq 1.6-2.1 depends on libc6:any: no candidate",
            ]
        );
        let opts = Options {
            with_recommends: true,
            ..amd64()
        };
        let r = resolve(&u, &reqs(&["jq"]), &opts).unwrap();
        assert_eq!(
            r.unsatisfied.last().unwrap(),
            "jq 1.6-2.1 recommends on jq-doc: no candidate"
        );
    }

    #[test]
    fn recommends_only_when_asked() {
        let u = universe(&[
            stanza("jq", "1", "amd64", &["Recommends: jq-doc"]),
            stanza("jq-doc", "1", "all", &[]),
        ]);
        let r = resolve(&u, &reqs(&["jq"]), &amd64()).unwrap();
        assert_eq!(r.selected, [0]);
        let opts = Options {
            with_recommends: true,
            ..amd64()
        };
        let r = resolve(&u, &reqs(&["jq"]), &opts).unwrap();
        assert_eq!(r.selected, [0, 1]);
    }

    #[test]
    fn architectures_and_arch_qualifiers() {
        let u = universe(&[
            stanza("tool", "1", "amd64", &["Depends: python3:any, libx"]),
            stanza("tool", "2", "arm64", &["Depends: python3:any, libx"]),
            stanza("python3", "3.11", "amd64", &[]),
            stanza("python3", "3.11", "arm64", &[]),
            stanza("libx", "1", "all", &[]),
            stanza("tool", "3", "i386", &[]),
        ]);
        let r = resolve(&u, &reqs(&["tool"]), &amd64()).unwrap();
        assert_eq!(r.selected, [0, 2, 4]);
        let both = Options {
            architectures: vec!["amd64".into(), "arm64".into(), "amd64".into()],
            with_recommends: false,
        };
        let r = resolve(&u, &reqs(&["tool"]), &both).unwrap();
        assert_eq!(r.selected, [0, 1, 2, 3, 4]);
        // Only i386 has it: not a candidate for amd64.
        let u = universe(&[stanza("x32only", "1", "i386", &[])]);
        let e = resolve(&u, &reqs(&["x32only"]), &amd64()).unwrap_err();
        assert!(e.to_string().contains("x32only"), "{e}");
        // No architecture restriction.
        let any = Options::default();
        assert_eq!(
            resolve(&u, &reqs(&["x32only"]), &any).unwrap().selected,
            [0]
        );
    }

    #[test]
    fn patterns() {
        let u = universe(&[
            stanza("libfoo1", "1", "amd64", &[]),
            stanza("libfoo1", "2", "amd64", &[]),
            stanza("libbar2", "1", "amd64", &["Depends: base"]),
            stanza("base", "1", "amd64", &[]),
            stanza("tool", "1", "amd64", &[]),
        ]);
        let r = resolve(&u, &reqs(&["lib*"]), &amd64()).unwrap();
        assert_eq!(picked(&u, &r), ["libfoo1=2", "libbar2=1", "base=1"]);
        let e = resolve(&u, &reqs(&["tool", "nothing-*"]), &amd64()).unwrap_err();
        assert_eq!(
            e,
            ResolveError::NoMatch {
                request: "nothing-*".into(),
                architectures: "amd64".into()
            }
        );
    }

    #[test]
    fn unknown_request_is_an_error() {
        let u = universe(&[stanza("jq", "1", "amd64", &[])]);
        let e = resolve(&u, &reqs(&["jq", "nosuchpkg"]), &amd64()).unwrap_err();
        assert!(matches!(&e, ResolveError::NoMatch { request, .. } if request == "nosuchpkg"));
        assert!(e.to_string().contains("\"nosuchpkg\""), "{e}");
        // Virtual names are not requests.
        let u = universe(&[stanza(
            "postfix",
            "1",
            "amd64",
            &["Provides: mail-transport-agent"],
        )]);
        assert!(resolve(&u, &reqs(&["mail-transport-agent"]), &amd64()).is_err());
    }

    #[test]
    fn empty_requests_select_everything_allowed() {
        let u = universe(&[
            stanza("a", "1", "amd64", &["Depends: missing"]),
            stanza("b", "1", "all", &[]),
            stanza("c", "1", "arm64", &[]),
            stanza("a", "1", "amd64", &["Depends: missing"]),
        ]);
        let r = resolve(&u, &[], &amd64()).unwrap();
        assert_eq!(r.selected, [0, 1]);
        assert_eq!(r.unsatisfied, ["a 1 depends on missing: no candidate"]);
        let r = resolve(&u, &[], &Options::default()).unwrap();
        assert_eq!(r.selected, [0, 1, 2]);
    }

    #[test]
    fn duplicates_select_first_index_deterministically() {
        // The same package in two suites, listed twice.
        let u = universe(&[
            stanza("app", "1", "amd64", &["Depends: lib"]),
            stanza("lib", "1", "amd64", &[]),
            stanza("app", "1", "amd64", &["Depends: lib"]),
            stanza("lib", "1", "amd64", &[]),
        ]);
        for _ in 0..5 {
            let r = resolve(&u, &reqs(&["app"]), &amd64()).unwrap();
            assert_eq!(r.selected, [0, 1]);
        }
        let r = resolve(&u, &reqs(&["app=1"]), &amd64()).unwrap();
        assert_eq!(r.selected, [0, 1]);
    }

    #[test]
    fn provider_choice_is_deterministic_by_name_then_version() {
        let u = universe(&[
            stanza("zz-mta", "9", "amd64", &["Provides: mta"]),
            stanza("aa-mta", "1", "amd64", &["Provides: mta"]),
            stanza("aa-mta", "2", "amd64", &["Provides: mta"]),
            stanza("app", "1", "amd64", &["Depends: mta"]),
        ]);
        let r = resolve(&u, &reqs(&["app"]), &amd64()).unwrap();
        assert_eq!(picked(&u, &r), ["aa-mta=2", "app=1"]);
    }
}
