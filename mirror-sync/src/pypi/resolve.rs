//! Dependency resolution of the `[[pypi]]` requirements: one consistent set of pins per
//! target, as pip or uv would install them, with the PubGrub algorithm (`pubgrub` crate).
//!
//! **Universe and routing.** All `[[pypi]]` tables form one universe. A project listed in
//! some table's `bind` is taken from that index only ([`Universe::route`]), and so is a
//! project named in a non-`explicit` table's `projects` (unless bound elsewhere); any
//! other project (a dependency) from the first non-`explicit` index, in configuration
//! order, that has a page for it (uv's `first-index` strategy). An index never serves a project bound elsewhere,
//! and an `explicit` index serves nothing but its bound projects, so a higher version on
//! another index can never replace a bound project (no dependency confusion).
//!
//! **Targets.** Every configured Python version on every configured platform tag of all
//! tables ([`crate::pypi::select::targets`]) is resolved on its own; the mirror holds the
//! union. For a target, a version of a project is a candidate only when the index has a
//! file installable there ([`select::installable`]: wheel tags, `Requires-Python`, sdists
//! only when the serving table has `sdists = true`; yanked files only when a requirement
//! pins that version with `==`/`===`, PEP 592). Newest first; pre-releases only when a
//! requirement on that project names one or no final release is a candidate (PEP 440).
//! Markers are evaluated with the target's environment ([`select::marker_env`]).
//!
//! **Extras** are virtual packages, as in uv: `name[extra]` at version V depends on
//! `name ==V` and on the `Requires-Dist` entries that only hold with that extra.
//!
//! **Laziness.** The solver runs on a blocking thread and asks the async side for
//! project pages and core metadata (only for the versions it tries); the async side
//! fetches them once per sync ([`Cache`]) through [`crate::pypi::sync`]'s sources (store,
//! PEP 658 sidecar, unadvertised sidecar, the file itself).
//!
//! **Conflicts** are reported with PubGrub's derivation tree, rendered as text: "Because
//! app ==1.0 depends on lib <2 and you asked for lib >=2, …".

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::str::FromStr as _;
use std::sync::Arc;

use anyhow::{anyhow, bail};
use formats::pypi::filename::DistFilename;
use formats::pypi::name::normalize;
use futures_util::StreamExt as _;
use pep440_rs::{Operator, Version};
use pep508_rs::{ExtraName, MarkerEnvironment, Requirement, VerbatimUrl, VersionOrUrl};
use pubgrub::{
    DefaultStringReporter, Dependencies, DependencyProvider, PackageResolutionStatistics,
    PubGrubError, Reporter as _, VersionSet as _,
};
use tokio::sync::{mpsc, oneshot};
use url::Url;

use crate::config::{Config, PypiUpstream};
use crate::fetch::{self, Fetcher};
use crate::pypi::ranges::{Vs, from_specifiers};
use crate::pypi::select::{self, FilePolicy, Target};
use crate::pypi::sync::pages::{MetadataFound, Page, core_metadata_for, fetch_page};

/// A package for the solver.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pkg {
    /// The configured requirements of all `[[pypi]]` tables.
    Root,
    /// A project, by normalized name (PEP 503).
    Project(String),
    /// A project with one extra (PEP 685 normalized): depends on the project at the same
    /// version and on the extra's requirements.
    Extra(String, String),
}

impl fmt::Display for Pkg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pkg::Root => f.write_str(ROOT_NAME),
            Pkg::Project(n) => f.write_str(n),
            Pkg::Extra(n, e) => write!(f, "{n}[{e}]"),
        }
    }
}

const ROOT_NAME: &str = "the configuration";

/// A project page and the index it came from.
pub struct RoutedPage {
    /// Index into `Config::pypi` of the upstream that serves the project.
    pub upstream: usize,
    /// The parsed page.
    pub page: Page,
}

impl RoutedPage {
    /// The page's files whose names parse, with their parsed names.
    pub fn files(
        &self,
    ) -> impl Iterator<Item = (&formats::pypi::simple::FileEntry, &DistFilename)> {
        self.page
            .page
            .files
            .iter()
            .zip(&self.page.parsed)
            .filter_map(|(fe, p)| p.as_ref().map(|p| (fe, p)))
    }
}

/// The `[[pypi]]` tables as one universe: index URLs, routing, targets and file policies.
pub struct Universe {
    /// The tables, in configuration order.
    pub ups: Vec<PypiUpstream>,
    /// Their base URLs.
    pub bases: Vec<Url>,
    /// Bound project (normalized) → index of its table: the table whose `bind` lists
    /// it, else the first non-`explicit` table whose `projects` names it.
    pub bound: HashMap<String, usize>,
    /// Every target of every table, without duplicates.
    pub targets: Vec<Target>,
    /// Per table: its file policy over all targets and all platforms, with its `sdists`.
    pub policies: Vec<FilePolicy>,
}

impl Universe {
    /// Builds the universe of `cfg.pypi`.
    ///
    /// Errors: an invalid URL, Python version or platform tag (naming the table).
    pub fn new(cfg: &Config) -> anyhow::Result<Universe> {
        let mut bases = Vec::new();
        let mut bound = HashMap::new();
        let mut targets: Vec<Target> = Vec::new();
        let mut platforms: Vec<String> = Vec::new();
        for (i, up) in cfg.pypi.iter().enumerate() {
            bases.push(fetch::base_url(&up.url)?);
            for b in &up.bind {
                bound.insert(normalize(b), i);
            }
            for t in select::targets(&up.python, &up.platforms)
                .map_err(|e| anyhow!("[[pypi]] {}: {e}", up.name))?
            {
                if !targets.contains(&t) {
                    targets.push(t);
                }
            }
            for p in &up.platforms {
                if !platforms.contains(p) {
                    platforms.push(p.clone());
                }
            }
        }
        // A project a table asks for by name comes from that table's index, unless a
        // `bind` sends it elsewhere.
        for (i, up) in cfg.pypi.iter().enumerate() {
            if up.explicit {
                continue;
            }
            for spec in &up.projects {
                if let Ok(req) = Requirement::<VerbatimUrl>::from_str(spec) {
                    bound.entry(normalize(req.name.as_ref())).or_insert(i);
                }
            }
        }
        let policies = cfg
            .pypi
            .iter()
            .map(|up| FilePolicy {
                platforms: platforms.clone(),
                targets: targets.clone(),
                sdists: up.sdists,
            })
            .collect();
        Ok(Universe {
            ups: cfg.pypi.clone(),
            bases,
            bound,
            targets,
            policies,
        })
    }

    /// The tables that may serve `project` (normalized), in the order they are asked: the
    /// table it is bound to alone (by `bind`, or by being named in that table's
    /// `projects`), else every non-`explicit` table in configuration order.
    pub fn route(&self, project: &str) -> Vec<usize> {
        match self.bound.get(project) {
            Some(&i) => vec![i],
            None => (0..self.ups.len())
                .filter(|&i| !self.ups[i].explicit)
                .collect(),
        }
    }
}

/// Pages and core metadata fetched during one sync, shared by every target's resolution
/// and by the download step.
#[derive(Default)]
pub struct Cache {
    /// Project → its routed page (`None`: no index that may serve it has it).
    pub pages: HashMap<String, Option<Arc<RoutedPage>>>,
    /// (project, version) → core metadata.
    pub metadata: HashMap<(String, Version), Arc<MetadataFound>>,
    /// Per table (index into `Config::pypi`): bytes downloaded to read core metadata
    /// (sidecars and whole files).
    pub metadata_bytes: HashMap<usize, u64>,
}

impl Cache {
    /// The routed pages of `names` (normalized), fetching the missing ones concurrently:
    /// each from the first table of [`Universe::route`] that has a page for it.
    ///
    /// Errors: a page fetch fails for another reason than 404/410, or does not parse.
    pub async fn pages(
        &mut self,
        f: &Fetcher,
        uni: &Universe,
        names: &[String],
    ) -> anyhow::Result<Vec<Option<Arc<RoutedPage>>>> {
        let missing: Vec<String> = names
            .iter()
            .filter(|n| !self.pages.contains_key(*n))
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let fetched: Vec<anyhow::Result<(String, Option<Arc<RoutedPage>>)>> =
            futures_util::stream::iter(missing)
                .map(|p| async move {
                    for i in uni.route(&p) {
                        if let Some(page) =
                            fetch_page(f, &uni.bases[i], &p, &uni.ups[i].name).await?
                        {
                            return Ok((p, Some(Arc::new(RoutedPage { upstream: i, page }))));
                        }
                    }
                    Ok((p, None))
                })
                .buffer_unordered(16)
                .collect()
                .await;
        for r in fetched {
            let (p, page) = r?;
            self.pages.insert(p, page);
        }
        Ok(names.iter().map(|n| self.pages[n].clone()).collect())
    }

    /// Core metadata of `project` `version`, read from a file installable on `target`.
    ///
    /// Errors: the page is not fetched yet, or the metadata cannot be had (see
    /// [`core_metadata_for`]).
    pub async fn metadata(
        &mut self,
        f: &Fetcher,
        uni: &Universe,
        project: &str,
        version: &Version,
        target: usize,
    ) -> anyhow::Result<Arc<MetadataFound>> {
        let key = (project.to_owned(), version.clone());
        if let Some(m) = self.metadata.get(&key) {
            return Ok(m.clone());
        }
        let Some(Some(rp)) = self.pages.get(project).cloned() else {
            bail!("{project}: no project page");
        };
        let up = &uni.ups[rp.upstream];
        let m = core_metadata_for(
            f,
            &rp.page,
            version,
            &uni.targets[target],
            &uni.policies[rp.upstream],
            true,
        )
        .await
        .map_err(|e| {
            anyhow!(
                "[[pypi]] {}: core metadata of {project} {version}: {e:#}",
                up.name
            )
        })?;
        *self.metadata_bytes.entry(rp.upstream).or_default() += m.fetched_bytes;
        let m = Arc::new(m);
        self.metadata.insert(key, m.clone());
        Ok(m)
    }
}

impl Cache {
    /// Reads the core metadata of several releases concurrently (the solver's likely next
    /// picks), for `target`, from the store or sidecars only: a guess never downloads a
    /// whole file. Failures are not reported here: the solver asks for a release again
    /// when it needs it, and that request reports them (or reads the file itself).
    pub async fn prefetch_metadata(
        &mut self,
        f: &Fetcher,
        uni: &Universe,
        items: Vec<(String, Version)>,
        target: usize,
    ) {
        let todo: Vec<(String, Version, Arc<RoutedPage>)> = items
            .into_iter()
            .filter(|k| !self.metadata.contains_key(k))
            .filter_map(|(p, v)| {
                let rp = self.pages.get(&p).cloned().flatten()?;
                Some((p, v, rp))
            })
            .collect();
        // ((project, version), serving table, metadata) per release read.
        type Read = ((String, Version), usize, MetadataFound);
        let got: Vec<Option<Read>> = futures_util::stream::iter(todo)
            .map(|(p, v, rp)| async move {
                let m = core_metadata_for(
                    f,
                    &rp.page,
                    &v,
                    &uni.targets[target],
                    &uni.policies[rp.upstream],
                    false,
                )
                .await
                .ok()?;
                Some(((p, v), rp.upstream, m))
            })
            .buffer_unordered(8)
            .collect()
            .await;
        for (k, up, m) in got.into_iter().flatten() {
            *self.metadata_bytes.entry(up).or_default() += m.fetched_bytes;
            self.metadata.insert(k, Arc::new(m));
        }
    }
}

/// A request from the solver thread to the async side.
enum Ask {
    Pages(
        Vec<String>,
        oneshot::Sender<Result<Vec<Option<Arc<RoutedPage>>>, String>>,
    ),
    Metadata(
        String,
        Version,
        usize,
        oneshot::Sender<Result<Arc<MetadataFound>, String>>,
    ),
    /// Read these releases' metadata concurrently, for the target; reply when done.
    Prefetch(Vec<(String, Version)>, usize, oneshot::Sender<()>),
}

/// A fetch failed while the solver was running.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FetchFailed(String);

/// The pins of one target: project (normalized) → version.
pub type Pins = BTreeMap<String, Version>;

/// Resolves `roots` (the configured requirements) for every target of `uni`.
///
/// Returns one [`Pins`] per target of `uni.targets`, in that order. Pages and metadata
/// land in `cache`. Progress shows the resolving phase with its own byte counter.
///
/// Errors: a conflict (the derivation tree as text, naming the target), a requirement
/// that no index can serve, a fetch that fails.
pub async fn resolve(
    f: &Fetcher,
    uni: Arc<Universe>,
    roots: Vec<Requirement<VerbatimUrl>>,
    cache: &mut Cache,
) -> anyhow::Result<Vec<Pins>> {
    let (tx, mut rx) = mpsc::channel::<Ask>(1);
    let solver_uni = uni.clone();
    let handle = tokio::task::spawn_blocking(move || solve_targets(&solver_uni, &roots, tx));
    while let Some(ask) = rx.recv().await {
        match ask {
            Ask::Pages(names, reply) => {
                let r = cache
                    .pages(f, &uni, &names)
                    .await
                    .map_err(|e| format!("{e:#}"));
                let _ = reply.send(r);
            }
            Ask::Prefetch(items, t, reply) => {
                cache.prefetch_metadata(f, &uni, items, t).await;
                let _ = reply.send(());
            }
            Ask::Metadata(p, v, t, reply) => {
                let r = cache
                    .metadata(f, &uni, &p, &v, t)
                    .await
                    .map_err(|e| format!("{e:#}"));
                let _ = reply.send(r);
            }
        }
        f.progress().phase(&format!(
            "pypi: resolving ({} projects, {} releases read)",
            cache.pages.len(),
            cache.metadata.len()
        ));
    }
    handle
        .await
        .map_err(|e| anyhow!("the resolver thread failed: {e}"))?
}

fn solve_targets(
    uni: &Universe,
    roots: &[Requirement<VerbatimUrl>],
    tx: mpsc::Sender<Ask>,
) -> anyhow::Result<Vec<Pins>> {
    let mut out = Vec::new();
    for (ti, t) in uni.targets.iter().enumerate() {
        let provider = Provider {
            uni,
            target: ti,
            env: select::marker_env(t),
            roots,
            tx: &tx,
            pages: RefCell::default(),
            pinned: RefCell::default(),
            pre_ok: RefCell::default(),
            seen: RefCell::default(),
            prefetched: RefCell::default(),
            usable: RefCell::default(),
        };
        let shown = format!("python {}.{} on {}", t.python.0, t.python.1, t.platform);
        match pubgrub::resolve(&provider, Pkg::Root, Version::new([0u64])) {
            Ok(sol) => {
                let mut pins = Pins::new();
                for (p, v) in sol {
                    if let Pkg::Project(n) = p {
                        pins.insert(n, v);
                    }
                }
                out.push(pins);
            }
            Err(PubGrubError::NoSolution(mut tree)) => {
                tree.collapse_no_versions();
                let text = render_report(&DefaultStringReporter::report(&tree));
                let mut missing: Vec<String> = provider
                    .pages
                    .borrow()
                    .iter()
                    .filter(|(_, p)| p.is_none())
                    .map(|(n, _)| {
                        let asked: Vec<&str> = uni
                            .route(n)
                            .into_iter()
                            .map(|i| uni.ups[i].name.as_str())
                            .collect();
                        format!("{n} (asked [[pypi]] {})", asked.join(", "))
                    })
                    .collect();
                missing.sort();
                let missing = if missing.is_empty() {
                    String::new()
                } else {
                    format!(
                        "\nnot found on any index that may serve them: {}",
                        missing.join("; ")
                    )
                };
                bail!(
                    "[[pypi]]: no set of versions satisfies the requirements for {shown}:\n{text}{missing}\n(a version counts only when the index has a file for this target; relax a requirement or bind the project to another index)"
                );
            }
            Err(PubGrubError::ErrorChoosingVersion { package, source }) => {
                bail!("[[pypi]] resolving for {shown}: {package}: {source}")
            }
            Err(PubGrubError::ErrorRetrievingDependencies {
                package,
                version,
                source,
            }) => bail!("[[pypi]] resolving for {shown}: {package} {version}: {source}"),
            Err(e) => bail!("[[pypi]] resolving for {shown}: {e}"),
        }
    }
    Ok(out)
}

/// PubGrub's text with the root package worded for people: "you asked for lib >=2"
/// instead of "the configuration ==0 depends on lib >=2", "app" instead of "app *" (any
/// version), and "app cannot be used" instead of "the configuration, app * are
/// incompatible".
fn render_report(text: &str) -> String {
    let root0 = format!("{ROOT_NAME} ==0");
    let text = text
        .replace(&format!("{root0} depends on"), "you asked for")
        .replace(&format!("{ROOT_NAME} depends on"), "you asked for")
        .replace(
            &format!("{root0} is forbidden"),
            "the requirements cannot be met",
        )
        .replace(&root0, ROOT_NAME);
    let any_version = regex::Regex::new(r"(\S) \*([ ,.;]|$)").expect("valid regex");
    let text = any_version.replace_all(&text, "$1$2");
    let with_root = regex::Regex::new(&format!(r"{ROOT_NAME}, ([^,.]+?) are incompatible"))
        .expect("valid regex");
    with_root
        .replace_all(&text, "$1 cannot be used together with your requirements")
        .into_owned()
}

struct Provider<'a> {
    uni: &'a Universe,
    target: usize,
    env: MarkerEnvironment,
    roots: &'a [Requirement<VerbatimUrl>],
    tx: &'a mpsc::Sender<Ask>,
    pages: RefCell<HashMap<String, Option<Arc<RoutedPage>>>>,
    /// (project, version) pinned with `==`/`===` by some requirement: yanked files of it
    /// count (PEP 592).
    pinned: RefCell<HashSet<(String, Version)>>,
    /// Projects some requirement names a pre-release of.
    pre_ok: RefCell<HashSet<String>>,
    /// Order in which projects were first required (breadth-first from the root, each
    /// release's requirements in metadata order): earlier ones are decided first, as pip
    /// and uv do.
    seen: RefCell<HashMap<String, usize>>,
    /// Projects whose likely version's metadata was already prefetched (once each).
    prefetched: RefCell<HashSet<String>>,
    /// Per project: see [`Provider::usable`].
    usable: RefCell<HashMap<String, Usable>>,
}

/// Versions with a file installable on the target, and whether an unyanked one is among
/// them, in ascending version order.
type Usable = Arc<Vec<(Version, bool)>>;

type Deps = pubgrub::Map<Pkg, Vs>;

impl Provider<'_> {
    fn ask_pages(&self, names: Vec<String>) -> Result<(), FetchFailed> {
        let missing: Vec<String> = {
            let have = self.pages.borrow();
            names
                .into_iter()
                .filter(|n| !have.contains_key(n))
                .collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .blocking_send(Ask::Pages(missing.clone(), reply))
            .map_err(|_| FetchFailed("the sync stopped".into()))?;
        let pages = rx
            .blocking_recv()
            .map_err(|_| FetchFailed("the sync stopped".into()))?
            .map_err(FetchFailed)?;
        let mut have = self.pages.borrow_mut();
        for (n, p) in missing.into_iter().zip(pages) {
            have.insert(n, p);
        }
        Ok(())
    }

    /// The versions of `name` with a file installable on this target, each with whether
    /// an unyanked one is among them (computed once per project and target).
    fn usable(&self, name: &str, rp: &RoutedPage) -> Usable {
        if let Some(u) = self.usable.borrow().get(name) {
            return u.clone();
        }
        let target = &self.uni.targets[self.target];
        let policy = &self.uni.policies[rp.upstream];
        let mut by_version: BTreeMap<Version, bool> = BTreeMap::new();
        for (fe, parsed) in rp.files() {
            if select::installable(fe, parsed, target, policy, true) {
                *by_version.entry(parsed.version().clone()).or_default() |= fe.yanked.is_none();
            }
        }
        let u = Arc::new(by_version.into_iter().collect::<Vec<_>>());
        self.usable.borrow_mut().insert(name.to_owned(), u.clone());
        u
    }

    fn page(&self, name: &str) -> Result<Option<Arc<RoutedPage>>, FetchFailed> {
        self.ask_pages(vec![name.to_owned()])?;
        Ok(self.pages.borrow().get(name).cloned().flatten())
    }

    fn metadata(&self, project: &str, v: &Version) -> Result<Arc<MetadataFound>, FetchFailed> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .blocking_send(Ask::Metadata(
                project.to_owned(),
                v.clone(),
                self.target,
                reply,
            ))
            .map_err(|_| FetchFailed("the sync stopped".into()))?;
        rx.blocking_recv()
            .map_err(|_| FetchFailed("the sync stopped".into()))?
            .map_err(FetchFailed)
    }

    /// Adds `req` to `deps`. `parent`: the project (and version) whose metadata lists it.
    /// `Err`: why the dependencies are unavailable.
    fn add(
        &self,
        deps: &mut Deps,
        req: &Requirement<VerbatimUrl>,
        parent: Option<(&str, &Version)>,
    ) -> Result<(), String> {
        let name = normalize(req.name.as_ref());
        {
            let mut seen = self.seen.borrow_mut();
            let next = seen.len();
            seen.entry(name.clone()).or_insert(next);
        }
        let range = match &req.version_or_url {
            None => Vs::full(),
            Some(VersionOrUrl::VersionSpecifier(specs)) => {
                for s in specs.iter() {
                    if matches!(s.operator(), Operator::Equal | Operator::ExactEqual) {
                        self.pinned
                            .borrow_mut()
                            .insert((name.clone(), s.version().clone()));
                    }
                    if s.any_prerelease() {
                        self.pre_ok.borrow_mut().insert(name.clone());
                    }
                }
                from_specifiers(specs)
            }
            Some(VersionOrUrl::Url(_)) => {
                return Err(format!(
                    "it requires {name} by direct URL ({req}), which an index mirror cannot serve"
                ));
            }
        };
        let mut put = |p: Pkg, r: Vs| {
            let merged = match deps.get(&p) {
                Some(old) => old.intersection(&r),
                None => r,
            };
            deps.insert(p, merged);
        };
        match parent {
            Some((pn, pv)) if pn == name => {
                // `foo[all]` requiring `foo[a]`: the same release's extras.
                for e in &req.extras {
                    put(
                        Pkg::Extra(name.clone(), e.to_string()),
                        Vs::singleton(pv.clone()),
                    );
                }
            }
            _ => {
                for e in &req.extras {
                    put(Pkg::Extra(name.clone(), e.to_string()), range.clone());
                }
                put(Pkg::Project(name), range);
            }
        }
        Ok(())
    }

    /// Fetches the pages of every dependency at once, then the core metadata sidecars of
    /// the version each new one would most likely get (the newest candidate its range
    /// admits; once per project and target), all concurrently: the solver then finds them in the cache instead of waiting for
    /// one request after another.
    fn prefetch(&self, deps: &Deps) -> Result<(), FetchFailed> {
        let names: Vec<String> = deps
            .keys()
            .filter_map(|p| match p {
                Pkg::Project(n) | Pkg::Extra(n, _) => Some(n.clone()),
                Pkg::Root => None,
            })
            .collect();
        self.ask_pages(names)?;
        let mut guesses = Vec::new();
        for (p, range) in deps {
            if let Pkg::Project(n) = p
                && self.prefetched.borrow_mut().insert(n.clone())
                && let Some(v) = self.choose_version(p, range)?
            {
                guesses.push((n.clone(), v));
            }
        }
        if guesses.is_empty() {
            return Ok(());
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .blocking_send(Ask::Prefetch(guesses, self.target, reply))
            .map_err(|_| FetchFailed("the sync stopped".into()))?;
        rx.blocking_recv()
            .map_err(|_| FetchFailed("the sync stopped".into()))
    }
}

impl DependencyProvider for Provider<'_> {
    type P = Pkg;
    type V = Version;
    type VS = Vs;
    type M = String;
    type Err = FetchFailed;
    type Priority = (u32, u8, std::cmp::Reverse<usize>);

    fn prioritize(
        &self,
        package: &Pkg,
        range: &Vs,
        stats: &PackageResolutionStatistics,
    ) -> Self::Priority {
        // The packages that conflicted most, then root, then exact pins, then in the
        // order they were first required.
        let rank = match package {
            Pkg::Root => 2,
            _ if range.0.as_singleton().is_some() => 1,
            _ => 0,
        };
        let order = match package {
            Pkg::Root => 0,
            Pkg::Project(n) | Pkg::Extra(n, _) => {
                self.seen.borrow().get(n).copied().unwrap_or(usize::MAX)
            }
        };
        (stats.conflict_count(), rank, std::cmp::Reverse(order))
    }

    fn choose_version(&self, package: &Pkg, range: &Vs) -> Result<Option<Version>, FetchFailed> {
        let name = match package {
            Pkg::Root => return Ok(Some(Version::new([0u64]))),
            Pkg::Project(n) | Pkg::Extra(n, _) => n,
        };
        let Some(rp) = self.page(name)? else {
            return Ok(None);
        };
        let usable = self.usable(name, &rp);
        let pinned = self.pinned.borrow();
        let mut best_final: Option<&Version> = None;
        let mut best_any: Option<&Version> = None;
        for (v, unyanked) in usable.iter() {
            if !range.contains(v) {
                continue;
            }
            if !unyanked && !pinned.contains(&(name.clone(), v.clone())) {
                continue;
            }
            if !v.any_prerelease() && best_final.is_none_or(|b| v > b) {
                best_final = Some(v);
            }
            if best_any.is_none_or(|b| v > b) {
                best_any = Some(v);
            }
        }
        let chosen = if self.pre_ok.borrow().contains(name) {
            best_any
        } else {
            best_final.or(best_any)
        };
        Ok(chosen.cloned())
    }

    fn get_dependencies(
        &self,
        package: &Pkg,
        version: &Version,
    ) -> Result<Dependencies<Pkg, Vs, String>, FetchFailed> {
        let mut deps = Deps::default();
        match package {
            Pkg::Root => {
                for r in self.roots {
                    if !r.evaluate_markers(&self.env, &[]) {
                        continue;
                    }
                    if let Err(why) = self.add(&mut deps, r, None) {
                        return Ok(Dependencies::Unavailable(why));
                    }
                }
            }
            Pkg::Project(n) => {
                let m = self.metadata(n, version)?;
                for entry in &m.metadata.requires_dist {
                    let req = match Requirement::<VerbatimUrl>::from_str(entry) {
                        Ok(r) => r,
                        Err(e) => {
                            return Ok(Dependencies::Unavailable(format!(
                                "its Requires-Dist entry {entry:?} is not PEP 508: {e}"
                            )));
                        }
                    };
                    if !req.evaluate_markers(&self.env, &[]) {
                        continue;
                    }
                    if let Err(why) = self.add(&mut deps, &req, Some((n, version))) {
                        return Ok(Dependencies::Unavailable(why));
                    }
                }
            }
            Pkg::Extra(n, e) => {
                deps.insert(Pkg::Project(n.clone()), Vs::singleton(version.clone()));
                let Ok(extra) = ExtraName::from_str(e) else {
                    return Ok(Dependencies::Unavailable(format!(
                        "{e:?} is not a valid extra name (PEP 685)"
                    )));
                };
                let m = self.metadata(n, version)?;
                for entry in &m.metadata.requires_dist {
                    let Ok(req) = Requirement::<VerbatimUrl>::from_str(entry) else {
                        continue; // reported by the project itself
                    };
                    if !req.evaluate_markers(&self.env, std::slice::from_ref(&extra))
                        || req.evaluate_markers(&self.env, &[])
                    {
                        continue;
                    }
                    if let Err(why) = self.add(&mut deps, &req, Some((n, version))) {
                        return Ok(Dependencies::Unavailable(why));
                    }
                }
            }
        }
        self.prefetch(&deps)?;
        Ok(Dependencies::Available(deps.into_iter().collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_wording_without_root_version() {
        let t = "Because app * depends on lib <2 and the configuration ==0 depends on lib >=2, the configuration, app * are incompatible.\nAnd because the configuration ==0 depends on app *, the configuration ==0 is forbidden.";
        assert_eq!(
            render_report(t),
            "Because app depends on lib <2 and you asked for lib >=2, app cannot be used together with your requirements.\nAnd because you asked for app, the requirements cannot be met."
        );
    }

    #[test]
    fn report_wording() {
        let t = "Because app ==1.0 depends on lib <2 and the configuration ==0 depends on lib >=2, the configuration ==0 is forbidden.";
        assert_eq!(
            render_report(t),
            "Because app ==1.0 depends on lib <2 and you asked for lib >=2, the requirements cannot be met."
        );
    }
}
