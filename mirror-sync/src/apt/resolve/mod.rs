//! Dependency closure over one universe of APT package entries (pure, no I/O).
//!
//! The universe is every `Packages` index of every `[[apt]]` upstream that shares an
//! architecture, as apt sees all its sources at once: given the entries and each
//! upstream's requests, pick the entries to mirror — the requested packages plus
//! everything they need through `Depends`/`Pre-Depends` (and `Recommends` on request),
//! wherever it lives, following apt's candidate rule (apt_preferences(5): highest pin
//! priority, then highest version), Debian Policy §7.1 (relations, alternatives) and
//! §7.5 (virtual packages via `Provides`). Every request that matches nothing and every
//! dependency nothing satisfies is reported, with the chain that needs it. This is a
//! mirror's closure, not an installer's: several versions of one package may be
//! selected, and conflicts are not considered.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;
use std::str::FromStr;

use formats::apt::version;

mod table;
pub use table::{Entry, Group, PackageTable, Rel1, Sym, TableFull};

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
/// apt's default pin priority of a configured suite (apt_preferences(5), "How APT
/// Interprets Priorities": versions of a suite that is not `NotAutomatic`).
pub const DEFAULT_PRIORITY: i32 = 500;
/// Priority of a suite whose Release says `NotAutomatic: yes` (apt_preferences(5);
/// Debian's experimental).
pub const NOT_AUTOMATIC_PRIORITY: i32 = 1;
/// Priority of a suite whose Release says `NotAutomatic: yes` and
/// `ButAutomaticUpgrades: yes` (apt_preferences(5); Debian and Ubuntu backports).
pub const BUT_AUTOMATIC_UPGRADES_PRIORITY: i32 = 100;

/// The default pin priority apt gives the versions of a suite, from its Release
/// fields `NotAutomatic` and `ButAutomaticUpgrades` (apt_preferences(5)): 500, 100 or 1.
pub fn release_priority(not_automatic: bool, but_automatic_upgrades: bool) -> i32 {
    match (not_automatic, but_automatic_upgrades) {
        (false, _) => DEFAULT_PRIORITY,
        (true, true) => BUT_AUTOMATIC_UPGRADES_PRIORITY,
        (true, false) => NOT_AUTOMATIC_PRIORITY,
    }
}

/// One source of the universe: an `[[apt]]` upstream as the resolver sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source {
    /// The upstream's name, for messages.
    pub name: String,
    /// Its architectures, e.g. `["amd64"]`; `all` packages always come along. Sources
    /// that share an architecture form one universe for it. Empty: no restriction (the
    /// source takes part in every architecture's universe, and every entry of it is a
    /// candidate).
    pub architectures: Vec<String>,
    /// Its requests, resolved over the whole universe (a request named by one upstream
    /// may be satisfied by another). Empty: every entry of this source is requested.
    pub requests: Vec<Request>,
    /// Also follow `Recommends` in the closure of this source's requests.
    pub with_recommends: bool,
}

/// One `Packages` index of the universe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexInfo {
    /// The [`Source`] (position in [`Universe::sources`]) it belongs to.
    pub source: usize,
    /// apt's pin priority of its versions ([`release_priority`]).
    pub priority: i32,
}

/// Everything resolution looks at: the entries of every index of every source.
#[derive(Debug, Clone, Copy)]
pub struct Universe<'u> {
    /// The package entries, in config order (source by source, index by index).
    pub entries: &'u PackageTable,
    /// For each entry, its index (position in [`Universe::indexes`]); same length as
    /// `entries`.
    pub index_of: &'u [u32],
    /// The indexes.
    pub indexes: &'u [IndexInfo],
    /// The sources.
    pub sources: &'u [Source],
}

impl Universe<'_> {
    fn info(&self, i: usize) -> IndexInfo {
        self.indexes[self.index_of[i] as usize]
    }
}

/// A dependency group no entry of the universe satisfies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsatisfied {
    /// The source of the entry that declares the relation.
    pub source: usize,
    /// `"depends"` (Depends and Pre-Depends) or `"recommends"`.
    pub kind: &'static str,
    /// The group as written, alternatives joined by ` | `: `libfoo (>= 2) | libbar`.
    pub relation: String,
    /// `name version` of every entry from the requested package down to the one that
    /// declares the relation (last); one element when that one was requested itself.
    pub chain: Vec<String>,
}

impl fmt::Display for Unsatisfied {
    /// `libbar 2.0-1 depends on libbaz (>= 3): no candidate (needed through foo 1.1 ->
    /// libbar 2.0-1)`; the parenthesis only when the chain is longer than one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self.chain.last().map(String::as_str).unwrap_or("?");
        write!(f, "{last} {} on {}: no candidate", self.kind, self.relation)?;
        if self.chain.len() > 1 {
            write!(f, " (needed through {})", self.chain.join(" -> "))?;
        }
        Ok(())
    }
}

/// A request that matches no entry of the universe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// The source whose `packages` names it.
    pub source: usize,
    /// The request as written (`jq`, `jq=1.6-2.1`, `lib*`).
    pub request: String,
    /// The architectures looked in, comma-separated (`any` when unrestricted).
    pub architectures: String,
    /// What the universe has instead, when something close exists: the name only for
    /// other architectures, other versions, or a virtual package's providers.
    pub hint: Option<String>,
}

impl fmt::Display for Missing {
    /// `no package matches request "nosuch" in any source (architectures: amd64)`, then
    /// `; <hint>` if there is one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no package matches request {:?} in any source (architectures: {})",
            self.request, self.architectures
        )?;
        if let Some(h) = &self.hint {
            write!(f, "; {h}")?;
        }
        Ok(())
    }
}

/// The outcome of [`resolve`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolution {
    /// Indices into [`Universe::entries`], sorted and unique. For a `(name, version,
    /// architecture)` present several times (in two suites, or two upstreams) only the
    /// first index of an architecture's universe is selected; the caller maps it to its
    /// equal copies.
    pub selected: Vec<usize>,
    /// Every dependency group nothing satisfies, unique, in discovery order.
    pub unsatisfied: Vec<Unsatisfied>,
    /// Every request that matches nothing, in source and request order.
    pub missing: Vec<Missing>,
}

/// Why a request cannot be used.
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
fn provide_satisfies(rel: Rel1<'_>, provided: Option<&str>) -> bool {
    match (rel.version(), provided) {
        (None, _) => true,
        (Some(_), Some(v)) => rel.satisfied_by(v),
        (Some(_), None) => false,
    }
}

/// Longest chain shown in an [`Unsatisfied`] report (entries, with the `…`).
pub const CHAIN_SHOWN: usize = 8;

/// Resolution state for one architecture's universe.
struct Pass<'u> {
    u: Universe<'u>,
    /// Candidate real packages per name: highest pin priority first, then newest
    /// version, then lowest index (apt's candidate first).
    by_name: HashMap<Sym, Vec<usize>>,
    /// Candidate providers per virtual name: `(index, provided version)`, ordered by
    /// provider name, priority, newest provider version, lowest index.
    providers: HashMap<Sym, Vec<(usize, Option<&'u str>)>>,
    selected: BTreeSet<usize>,
    selected_by_name: HashMap<Sym, Vec<usize>>,
    selected_provides: HashMap<Sym, Vec<(usize, Option<&'u str>)>>,
    /// The entry that pulled each selected entry in (absent for requested ones).
    parent: HashMap<usize, usize>,
    /// Selected entries whose `Recommends` are followed.
    recommends: HashSet<usize>,
    queue: VecDeque<usize>,
}

impl<'u> Pass<'u> {
    fn new(u: Universe<'u>, candidates: &[usize]) -> Self {
        let entries = u.entries;
        let mut by_name: HashMap<Sym, Vec<usize>> = HashMap::new();
        let mut providers: HashMap<Sym, Vec<(usize, Option<&str>)>> = HashMap::new();
        for &i in candidates {
            let e = entries.entry(i);
            by_name.entry(e.name_sym()).or_default().push(i);
            for p in e.provides() {
                providers
                    .entry(p.name_sym())
                    .or_default()
                    .push((i, p.version()));
            }
        }
        let prio = |i: usize| u.info(i).priority;
        let ver = |i: usize| entries.entry(i).version();
        for list in by_name.values_mut() {
            list.sort_by(|&a, &b| {
                prio(b)
                    .cmp(&prio(a))
                    .then_with(|| version::compare(ver(b), ver(a)))
                    .then(a.cmp(&b))
            });
        }
        for list in providers.values_mut() {
            list.sort_by(|&(a, _), &(b, _)| {
                let (ea, eb) = (entries.entry(a), entries.entry(b));
                ea.name()
                    .cmp(eb.name())
                    .then_with(|| prio(b).cmp(&prio(a)))
                    .then_with(|| version::compare(eb.version(), ea.version()))
                    .then(a.cmp(&b))
            });
        }
        Pass {
            u,
            by_name,
            providers,
            selected: BTreeSet::new(),
            selected_by_name: HashMap::new(),
            selected_provides: HashMap::new(),
            parent: HashMap::new(),
            recommends: HashSet::new(),
            queue: VecDeque::new(),
        }
    }

    /// Selects entry `i`, pulled in by `parent` (None: requested). An entry selected
    /// again with `with_recommends` where it had none is visited again for them.
    fn select(&mut self, i: usize, parent: Option<usize>, with_recommends: bool) {
        if !self.selected.insert(i) {
            if with_recommends && self.recommends.insert(i) {
                self.queue.push_back(i);
            }
            return;
        }
        let e = self.u.entries.entry(i);
        self.selected_by_name
            .entry(e.name_sym())
            .or_default()
            .push(i);
        for p in e.provides() {
            self.selected_provides
                .entry(p.name_sym())
                .or_default()
                .push((i, p.version()));
        }
        if let Some(p) = parent {
            self.parent.insert(i, p);
        }
        if with_recommends {
            self.recommends.insert(i);
        }
        self.queue.push_back(i);
    }

    /// apt's candidate for `name`: highest priority, then newest version.
    fn candidate(&self, name: &str) -> Option<usize> {
        self.candidate_sym(self.u.entries.sym(name)?)
    }

    fn candidate_sym(&self, name: Sym) -> Option<usize> {
        self.by_name.get(&name).and_then(|l| l.first().copied())
    }

    /// For a purely virtual `name` provided by exactly one package name, that package's
    /// candidate, as `apt-get install` selects it ("selecting P instead of V"); `None`
    /// when several packages provide it (apt asks to pick one).
    fn sole_provider(&self, name: &str) -> Option<usize> {
        let entries = self.u.entries;
        let list = self.providers.get(&entries.sym(name)?)?;
        let first = entries.entry(list.first()?.0).name_sym();
        if list
            .iter()
            .all(|&(j, _)| entries.entry(j).name_sym() == first)
        {
            self.candidate_sym(first)
        } else {
            None
        }
    }

    /// A selected entry that satisfies `rel` (by name and version, or by `Provides`).
    fn satisfier(&self, rel: Rel1<'_>) -> Option<usize> {
        let entries = self.u.entries;
        self.selected_by_name
            .get(&rel.name_sym())
            .and_then(|l| {
                l.iter()
                    .copied()
                    .find(|&j| rel.satisfied_by(entries.entry(j).version()))
            })
            .or_else(|| {
                self.selected_provides
                    .get(&rel.name_sym())
                    .and_then(|l| l.iter().find(|&&(_, v)| provide_satisfies(rel, v)))
                    .map(|&(j, _)| j)
            })
    }

    /// The entry to select for an unsatisfied group: the first real package (candidate
    /// order) of the first alternative that has one satisfying the constraint; otherwise
    /// a provider (already selected if possible, else smallest name, highest priority,
    /// newest version).
    fn choose(&self, group: Group<'_>) -> Option<usize> {
        let entries = self.u.entries;
        for rel in group.iter() {
            if let Some(list) = self.by_name.get(&rel.name_sym())
                && let Some(&j) = list
                    .iter()
                    .find(|&&j| rel.satisfied_by(entries.entry(j).version()))
            {
                return Some(j);
            }
        }
        for rel in group.iter() {
            let Some(list) = self.providers.get(&rel.name_sym()) else {
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

    /// `name version` from the requested entry down to `i`; a chain longer than
    /// [`CHAIN_SHOWN`] keeps its first entry, `…`, and its last entries.
    fn chain(&self, mut i: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut root_reached = false;
        // Parents are selected before their children, so the walk ends; the bound keeps
        // a pathological chain from costing more than a few thousand steps per report.
        for _ in 0..4096 {
            out.push(i);
            match self.parent.get(&i) {
                Some(&p) => i = p,
                None => {
                    root_reached = true;
                    break;
                }
            }
        }
        out.reverse();
        let name = |j: usize| {
            let e = self.u.entries.entry(j);
            format!("{} {}", e.name(), e.version())
        };
        if out.len() <= CHAIN_SHOWN && root_reached {
            return out.into_iter().map(name).collect();
        }
        let tail = CHAIN_SHOWN - 2;
        let mut shown = Vec::with_capacity(CHAIN_SHOWN);
        if root_reached {
            shown.push(name(out[0]));
        }
        shown.push("…".to_owned());
        shown.extend(
            out[out.len().saturating_sub(tail)..]
                .iter()
                .map(|&j| name(j)),
        );
        shown
    }

    /// Runs the worklist until every selected entry's groups have been visited.
    fn close(&mut self, unsatisfied: &mut Vec<Unsatisfied>) {
        let entries = self.u.entries;
        while let Some(i) = self.queue.pop_front() {
            let e = entries.entry(i);
            let rec = self.recommends.contains(&i);
            let groups = e.depends().map(|g| ("depends", g)).chain(
                e.recommends()
                    .take(if rec { usize::MAX } else { 0 })
                    .map(|g| ("recommends", g)),
            );
            for (kind, group) in groups {
                if let Some(j) = group.iter().find_map(|r| self.satisfier(r)) {
                    // Already there; it now serves a closure that wants Recommends.
                    if rec {
                        self.select(j, Some(i), true);
                    }
                    continue;
                }
                match self.choose(group) {
                    Some(j) => self.select(j, Some(i), rec),
                    None => unsatisfied.push(Unsatisfied {
                        source: self.u.info(i).source,
                        kind,
                        relation: group.to_string(),
                        chain: self.chain(i),
                    }),
                }
            }
        }
    }
}

/// Closes the requests of every source under dependencies within the universe, as apt
/// would pick the packages (apt_preferences(5) candidate rule, Debian Policy §7.1 and
/// §7.5).
///
/// - Universes: one per architecture named by any source (a source with no
///   architectures joins each; with none named anywhere, one universe without
///   restriction). The universe of architecture `A` holds the entries of architecture
///   `A` and `all` of every source that lists `A`: a dependency may be satisfied from
///   any of them. Results of all universes are merged.
/// - Candidate (apt's rule with default pins): the highest pin priority
///   ([`IndexInfo::priority`], 500 for a normal suite), then the highest version
///   (deb-version(7)), then the first index.
/// - Requests: [`Request::Name`] picks the candidate of the name (for a purely virtual
///   name provided by one package only, that package's candidate, as `apt-get install`
///   does; with several providers it is missing, and the hint names them);
///   [`Request::Pinned`]
///   that exact version; [`Request::Pattern`] the candidate of every matching name; a
///   source without requests selects every entry of its own. A request matching nothing
///   in any universe it takes part in is reported in [`Resolution::missing`] (all of
///   them, not only the first).
/// - Closure: for every selected entry and every `Depends`/`Pre-Depends` group (and
///   `Recommends` group when the requesting source asks for them): nothing happens if a
///   selected entry already satisfies an alternative (same name with a satisfying
///   version, or a satisfying `Provides`: an unversioned Provides satisfies only
///   unversioned relations, Debian Policy §7.5); otherwise the first satisfying real
///   package, in candidate order, of the first alternative that has one is selected;
///   failing that a provider (already selected if possible, else the smallest package
///   name); failing that, the group is reported in [`Resolution::unsatisfied`] with the
///   chain that needs it (every such group, not only the first).
/// - Architecture qualifiers (`:any`, `:native`, `:amd64`) are ignored for matching.
///   Entries repeated with the same `(name, version, architecture)` are one candidate:
///   the copy of the highest priority, else the first index. The result is
///   deterministic for a given input order.
///
/// Memory: a few index vectors and maps over the candidates; the entries are borrowed.
pub fn resolve(u: Universe<'_>) -> Resolution {
    let entries = u.entries;
    let mut passes: Vec<Option<&str>> = Vec::new();
    for s in u.sources {
        for a in &s.architectures {
            if !passes.contains(&Some(a.as_str())) {
                passes.push(Some(a.as_str()));
            }
        }
    }
    if passes.is_empty() {
        passes.push(None);
    }
    let takes_part = |s: &Source, arch: Option<&str>| {
        s.architectures.is_empty() || arch.is_some_and(|a| s.architectures.iter().any(|x| x == a))
    };

    let mut matched: Vec<Vec<bool>> = u
        .sources
        .iter()
        .map(|s| vec![false; s.requests.len()])
        .collect();
    let mut selected: BTreeSet<usize> = BTreeSet::new();
    let mut unsatisfied: Vec<Unsatisfied> = Vec::new();
    let mut reported: HashSet<String> = HashSet::new();
    for arch in passes {
        // One candidate per (name, version, architecture): the copy of the highest pin
        // priority (apt pins a version by its best source), else the first.
        let mut slot: HashMap<(Sym, &str, Sym), usize> = HashMap::new();
        let mut candidates: Vec<usize> = Vec::new();
        for e in entries.iter() {
            let i = e.index();
            let s = &u.sources[u.info(i).source];
            let a = e.architecture();
            if !takes_part(s, arch) || !(a == "all" || arch.is_none_or(|want| want == a)) {
                continue;
            }
            let key = (e.name_sym(), e.version(), e.arch_sym());
            match slot.get(&key) {
                None => {
                    slot.insert(key, candidates.len());
                    candidates.push(i);
                }
                Some(&k) if u.info(i).priority > u.info(candidates[k]).priority => {
                    candidates[k] = i;
                }
                Some(_) => {}
            }
        }
        drop(slot);
        candidates.sort_unstable();
        let mut pass = Pass::new(u, &candidates);
        for (si, src) in u.sources.iter().enumerate() {
            if !takes_part(src, arch) {
                continue;
            }
            if src.requests.is_empty() {
                for &i in &candidates {
                    if u.info(i).source == si {
                        pass.select(i, None, src.with_recommends);
                    }
                }
            }
            for (r, req) in src.requests.iter().enumerate() {
                let picks: Vec<usize> = match req {
                    Request::Name(n) => pass
                        .candidate(n)
                        .or_else(|| pass.sole_provider(n))
                        .into_iter()
                        .collect(),
                    Request::Pinned {
                        name,
                        version: want,
                    } => entries
                        .sym(name)
                        .and_then(|n| pass.by_name.get(&n))
                        .and_then(|l| {
                            l.iter().copied().find(|&j| {
                                version::compare(entries.entry(j).version(), want).is_eq()
                            })
                        })
                        .into_iter()
                        .collect(),
                    Request::Pattern(p) => {
                        let names: BTreeMap<&str, usize> = pass
                            .by_name
                            .iter()
                            .map(|(&n, l)| (entries.name_of(n), l))
                            .filter(|(n, _)| glob_match(p, n))
                            .filter_map(|(n, l)| l.first().map(|&j| (n, j)))
                            .collect();
                        names.into_values().collect()
                    }
                };
                if !picks.is_empty() {
                    matched[si][r] = true;
                }
                for j in picks {
                    pass.select(j, None, src.with_recommends);
                }
            }
        }
        let mut pass_unsatisfied = Vec::new();
        pass.close(&mut pass_unsatisfied);
        for un in pass_unsatisfied {
            if reported.insert(un.to_string()) {
                unsatisfied.push(un);
            }
        }
        selected.extend(pass.selected);
    }

    let mut missing = Vec::new();
    for (si, src) in u.sources.iter().enumerate() {
        for (r, req) in src.requests.iter().enumerate() {
            if matched[si][r] {
                continue;
            }
            missing.push(Missing {
                source: si,
                request: req.to_string(),
                architectures: if src.architectures.is_empty() {
                    "any".to_owned()
                } else {
                    src.architectures.join(", ")
                },
                hint: hint(entries, req, src),
            });
        }
    }
    Resolution {
        selected: selected.into_iter().collect(),
        unsatisfied,
        missing,
    }
}

/// What the universe holds near a request that matched nothing (one scan of the
/// entries): the name in other architectures only, other versions of a pinned name, or
/// the providers of a virtual name.
fn hint(entries: &PackageTable, req: &Request, src: &Source) -> Option<String> {
    let name = match req {
        Request::Name(n) | Request::Pinned { name: n, .. } => n.as_str(),
        Request::Pattern(_) => return None,
    };
    let mut arches = BTreeSet::new();
    let mut versions = BTreeSet::new();
    let mut providers = BTreeSet::new();
    for e in entries.iter() {
        let a = e.architecture();
        let arch_ok =
            src.architectures.is_empty() || a == "all" || src.architectures.iter().any(|x| x == a);
        if e.name() == name {
            if arch_ok {
                versions.insert(e.version());
            } else {
                arches.insert(a);
            }
        }
        if arch_ok && e.provides().any(|p| p.name() == name) {
            providers.insert(e.name());
        }
    }
    let list = |s: BTreeSet<&str>| {
        let mut v: Vec<&str> = s.into_iter().take(8).collect();
        v.sort_by(|a, b| version::compare(b, a));
        v.join(", ")
    };
    if !versions.is_empty() {
        return Some(format!("available versions: {}", list(versions)));
    }
    if !providers.is_empty() {
        return Some(format!(
            "a virtual package, provided by {}: request one of them",
            providers.into_iter().take(8).collect::<Vec<_>>().join(", ")
        ));
    }
    if !arches.is_empty() {
        return Some(format!(
            "only built for {}",
            arches.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    None
}

/// [`resolve`] over one source whose entries all come from one index of default
/// priority: the shape of a single upstream (tests, tools).
pub fn resolve_single(
    entries: &PackageTable,
    requests: &[Request],
    architectures: &[String],
    with_recommends: bool,
) -> Resolution {
    let index_of = vec![0u32; entries.len()];
    let indexes = [IndexInfo {
        source: 0,
        priority: DEFAULT_PRIORITY,
    }];
    let sources = [Source {
        name: String::new(),
        architectures: architectures.to_vec(),
        requests: requests.to_vec(),
        with_recommends,
    }];
    resolve(Universe {
        entries,
        index_of: &index_of,
        indexes: &indexes,
        sources: &sources,
    })
}

#[cfg(test)]
mod tests;
