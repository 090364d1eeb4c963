//! Sync of the `[[pypi]]` upstreams (any PEP 503/691 simple indexes), as one universe.
//!
//! 1. **Select** ([`plan`] stops here): resolve the configured `projects` of every table
//!    together, per target, into one consistent set of pins ([`crate::pypi::resolve`]:
//!    PubGrub, index routing, markers, extras), and add the lock-file inputs as pinned
//!    ([`crate::pypi::lock`]). Project pages are fetched once (PEP 691 JSON when the
//!    index offers it, else PEP 503 HTML; relative file URLs resolved against the page
//!    URL). Core metadata is read only for the versions the solver tries: from the store
//!    when an earlier sync kept it (the blob named by the advertised sidecar hash, or
//!    the file itself), else from the PEP 658/714 `.metadata` sidecar — advertised (hash
//!    checked) or not — or else from the file itself. For each target and pinned release
//!    the file pip would install there is kept ([`select::files_for_target`]), plus the
//!    sdist when the table has `sdists = true`.
//! 2. **Download** every kept file concurrently, each checked against its sha256 (the
//!    index's, or the lock file's) while it streams into the store. A file already
//!    downloaded in step 1 to read its metadata is not downloaded or counted again.
//! 3. **Core metadata** for every wheel is the `METADATA` member of the wheel itself
//!    (PEP 658 requires the sidecar to be exactly that file); an upstream sidecar that
//!    differs is reported and not used.
//!
//! Each file is recorded under the upstream it came from; the served `/simple/` merges
//! them into one index (a project comes from one index only, so nothing collides).
//!
//! Progress has two phases with their own counters: "resolving" (project pages, metadata
//! sidecars and whole files read for their metadata; no total is known in advance) and
//! "downloading" (the kept files; the total is the sizes the index announces, PEP 700).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Read as _;
use std::str::FromStr as _;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use formats::digest::Digest;
use formats::pypi::filename::DistFilename;
use formats::pypi::metadata::CoreMetadata;
use formats::pypi::simple::{self, CoreMetadataRef, FileEntry, ProjectPage};
use formats::snapshot::{Artifact, ArtifactKind, Meta, Source, SourceKind};
use futures_util::StreamExt as _;
use pep440_rs::Version;
use pep508_rs::{Requirement, VerbatimUrl};
use store::{Cas, Expected};
use url::Url;

use crate::config::Config;
use crate::fetch::{self, Fetcher, redact};
use crate::pypi::lock::{self, LockedFiles};
use crate::pypi::resolve::{self, Cache, Universe};
use crate::pypi::select::{self, FilePolicy, Target};
use crate::state::UpstreamState;

/// `Accept` sent for project pages: PEP 691 JSON preferred, HTML accepted.
pub const ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

/// Largest core metadata accepted (bytes).
pub const MAX_METADATA: u64 = 16 * 1024 * 1024;
/// Largest project page accepted (bytes).
pub const MAX_PAGE: u64 = 128 * 1024 * 1024;

/// Figures of one PyPI upstream's sync, for the summary.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PypiReport {
    /// Upstream name.
    pub name: String,
    /// Projects taken from this index.
    pub projects: usize,
    /// Releases (project, version) kept.
    pub releases: usize,
    /// Files kept (wheels and sdists).
    pub files: usize,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Bytes downloaded from this index to read core metadata during resolution
    /// (sidecars, and whole files where no sidecar exists), counted once.
    pub metadata_bytes: u64,
    /// Problems that did not stop the sync (e.g. a sidecar that differs from the wheel).
    pub warnings: Vec<String>,
}

/// What a sync would fetch, per upstream: the output of [`plan`].
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PypiPlan {
    /// Per `[[pypi]]` table, in configuration order (tables that serve nothing included).
    pub upstreams: Vec<PlannedUpstream>,
    /// Bytes downloaded while resolving (core metadata; pages not counted).
    pub metadata_bytes: u64,
}

/// The files one upstream would serve.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PlannedUpstream {
    /// The table's `name`.
    pub name: String,
    /// The files, sorted by project then file name.
    pub files: Vec<PlannedFile>,
}

/// One file a sync would keep.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlannedFile {
    /// Project, normalized (PEP 503).
    pub project: String,
    /// Release version.
    pub version: String,
    /// File name (wheel or sdist).
    pub filename: String,
    /// Size in bytes as the index announces it (PEP 700); `None` when it does not.
    pub size: Option<u64>,
    /// The sha256 it is checked against (lowercase hex): the store holds the file when it
    /// holds this digest (`mirror-sync plan` checks that against the real store).
    pub sha256: String,
}

/// A project page as fetched: the parsed page, the parsed file names (same order;
/// `None` for names that do not parse) and the provenance artifact of the page itself.
pub struct Page {
    /// The parsed page.
    pub page: ProjectPage,
    /// `DistFilename::parse` of each file, in page order.
    pub parsed: Vec<Option<DistFilename>>,
    provenance: Artifact,
}

/// One file to keep.
struct Job {
    upstream: usize,
    project: String,
    fe: FileEntry,
    parsed: DistFilename,
    /// sha256 to check the download against (lowercase hex).
    sha256: String,
    meta: Option<Arc<MetadataFound>>,
}

struct Selection {
    uni: Arc<Universe>,
    cache: Cache,
    jobs: Vec<Job>,
}

/// The configured requirements of every table. Errors: not PEP 508, or a direct URL.
fn root_requirements(cfg: &Config) -> anyhow::Result<Vec<Requirement<VerbatimUrl>>> {
    let mut out = Vec::new();
    for up in &cfg.pypi {
        for spec in &up.projects {
            let req = Requirement::<VerbatimUrl>::from_str(spec)
                .map_err(|e| anyhow!("[[pypi]] {}: invalid requirement {spec:?}: {e}", up.name))?;
            if matches!(req.version_or_url, Some(pep508_rs::VersionOrUrl::Url(_))) {
                bail!(
                    "[[pypi]] {}: {spec:?}: direct URL requirements are not supported; name a version",
                    up.name
                );
            }
            out.push(req);
        }
    }
    Ok(out)
}

/// Resolves and selects every file to keep, for all tables.
async fn select_files(f: &Fetcher, cfg: &Config) -> anyhow::Result<Selection> {
    let uni = Arc::new(Universe::new(cfg)?);
    let roots = root_requirements(cfg)?;
    let mut cache = Cache::default();
    f.progress().start_phase("pypi: resolving", None);
    let pins = if roots.is_empty() {
        vec![resolve::Pins::new(); uni.targets.len()]
    } else {
        resolve::resolve(f, uni.clone(), roots, &mut cache).await?
    };
    let mut jobs: Vec<Job> = Vec::new();
    let mut taken: HashSet<(usize, String)> = HashSet::new();
    let mut push = |jobs: &mut Vec<Job>, job: Job| {
        if taken.insert((job.upstream, job.fe.filename.clone())) {
            jobs.push(job);
        }
    };
    for (ti, pins) in pins.iter().enumerate() {
        let target = &uni.targets[ti];
        for (project, version) in pins {
            let Some(Some(rp)) = cache.pages.get(project).cloned() else {
                bail!("[[pypi]]: {project} was resolved but its page is gone");
            };
            let policy = &uni.policies[rp.upstream];
            let files: Vec<(&FileEntry, &DistFilename)> =
                rp.files().filter(|(_, p)| p.version() == version).collect();
            let mut chosen = select::files_for_target(&files, target, policy, false);
            if chosen.is_empty() {
                chosen = select::files_for_target(&files, target, policy, true);
            }
            if chosen.is_empty() {
                bail!(
                    "[[pypi]] {}: {project} {version} was resolved for {} but no file of it installs there",
                    uni.ups[rp.upstream].name,
                    shown_target(target)
                );
            }
            let meta = cache
                .metadata
                .get(&(project.clone(), version.clone()))
                .cloned();
            for i in chosen {
                let (fe, parsed) = files[i];
                let sha = sha256_of(fe).map(str::to_ascii_lowercase).ok_or_else(|| {
                    anyhow!(
                        "[[pypi]] {}: {}: the index gives no sha256 for this file; refusing to mirror it unverified",
                        uni.ups[rp.upstream].name,
                        fe.filename
                    )
                })?;
                push(
                    &mut jobs,
                    Job {
                        upstream: rp.upstream,
                        project: project.clone(),
                        fe: fe.clone(),
                        parsed: parsed.clone(),
                        sha256: sha,
                        meta: meta.clone(),
                    },
                );
            }
        }
    }
    // Lock-file inputs: pinned, nothing resolved.
    for up in &cfg.pypi {
        if up.requirements.is_empty() && up.lock.is_empty() {
            continue;
        }
        let reqs: Vec<std::path::PathBuf> =
            up.requirements.iter().map(|p| cfg.resolve(p)).collect();
        let locks: Vec<std::path::PathBuf> = up.lock.iter().map(|p| cfg.resolve(p)).collect();
        let pkgs = lock::load(
            &reqs.iter().map(|p| p.as_path()).collect::<Vec<_>>(),
            &locks.iter().map(|p| p.as_path()).collect::<Vec<_>>(),
        )
        .with_context(|| format!("[[pypi]] {}", up.name))?;
        let names: Vec<String> = pkgs.iter().map(|p| p.project.clone()).collect();
        cache.pages(f, &uni, &names).await?;
        for lp in pkgs {
            let applicable: Vec<&Target> = uni
                .targets
                .iter()
                .filter(|t| {
                    lp.marker
                        .as_ref()
                        .is_none_or(|m| m.evaluate(&select::marker_env(t), &[]))
                })
                .collect();
            if applicable.is_empty() {
                continue;
            }
            let Some(Some(rp)) = cache.pages.get(&lp.project).cloned() else {
                let routes: Vec<&str> = uni
                    .route(&lp.project)
                    .into_iter()
                    .map(|i| uni.ups[i].name.as_str())
                    .collect();
                bail!(
                    "{}: project {} is not on any index that may serve it ([[pypi]] {})",
                    lp.origin,
                    lp.project,
                    routes.join(", ")
                );
            };
            let index_name = &uni.ups[rp.upstream].name;
            let policy = &uni.policies[rp.upstream];
            let fits = |fe: &FileEntry, p: &DistFilename| {
                applicable
                    .iter()
                    .any(|t| select::installable(fe, p, t, policy, true))
            };
            let files: Vec<(&FileEntry, &DistFilename)> = rp
                .files()
                .filter(|(_, p)| *p.version() == lp.version)
                .collect();
            let mut picked: Vec<(&FileEntry, &DistFilename, String)> = Vec::new();
            match &lp.files {
                LockedFiles::Hashes(hashes) => {
                    let listed: Vec<(&FileEntry, &DistFilename, String)> = files
                        .iter()
                        .filter_map(|(fe, p)| {
                            let sha = sha256_of(fe)?.to_ascii_lowercase();
                            hashes.contains(&sha).then_some((*fe, *p, sha))
                        })
                        .collect();
                    if listed.is_empty() {
                        let found: Vec<String> = files
                            .iter()
                            .map(|(fe, _)| {
                                format!(
                                    "{} (sha256 {})",
                                    fe.filename,
                                    sha256_of(fe).unwrap_or("not given")
                                )
                            })
                            .collect();
                        bail!(
                            "{}: no file of {} {} on [[pypi]] {index_name} has one of the listed hashes ({}); the index has: {}. The lock file and the index disagree: a wrong hash, or the file was replaced upstream",
                            lp.origin,
                            lp.project,
                            lp.version,
                            hashes.join(", "),
                            if found.is_empty() {
                                "no file of that version".into()
                            } else {
                                found.join(", ")
                            }
                        );
                    }
                    picked.extend(listed.into_iter().filter(|(fe, p, _)| fits(fe, p)));
                }
                LockedFiles::Files(list) => {
                    for lf in list {
                        let Some((fe, p)) = files.iter().find(|(fe, _)| fe.filename == lf.filename)
                        else {
                            bail!(
                                "{}: {} is not listed on [[pypi]] {index_name} for {} {}",
                                lp.origin,
                                lf.filename,
                                lp.project,
                                lp.version
                            );
                        };
                        if let Some(index_sha) = sha256_of(fe)
                            && !index_sha.eq_ignore_ascii_case(&lf.sha256)
                        {
                            bail!(
                                "{}: {}: the lock file lists sha256 {} but [[pypi]] {index_name} gives {index_sha}; the lock file and the index disagree",
                                lp.origin,
                                lf.filename,
                                lf.sha256
                            );
                        }
                        if fits(fe, p) {
                            picked.push((*fe, *p, lf.sha256.clone()));
                        }
                    }
                }
            }
            if picked.is_empty() {
                bail!(
                    "{}: none of the listed files of {} {} installs on a configured target ({})",
                    lp.origin,
                    lp.project,
                    lp.version,
                    applicable
                        .iter()
                        .map(|t| shown_target(t))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            for (fe, p, sha) in picked {
                push(
                    &mut jobs,
                    Job {
                        upstream: rp.upstream,
                        project: lp.project.clone(),
                        fe: fe.clone(),
                        parsed: p.clone(),
                        sha256: sha,
                        meta: None,
                    },
                );
            }
        }
    }
    jobs.sort_by(|a, b| {
        (a.upstream, &a.project, &a.fe.filename).cmp(&(b.upstream, &b.project, &b.fe.filename))
    });
    Ok(Selection { uni, cache, jobs })
}

fn shown_target(t: &Target) -> String {
    format!("python {}.{} on {}", t.python.0, t.python.1, t.platform)
}

/// Resolves every `[[pypi]]` table and lists, per table, the files a sync would keep,
/// with their sizes, without downloading any distribution beyond what core metadata
/// needs (sidecars, or whole files for indexes without them) and without writing the
/// state. For `mirror-sync plan`.
///
/// Returns a [`PypiPlan`]: one [`PlannedUpstream`] per table in configuration order,
/// each with its [`PlannedFile`]s (`size` from the index, PEP 700, or else from a HEAD
/// request's `Content-Length`).
///
/// Errors: as [`sync_all`]'s resolution (a conflict with its chain, an unreachable
/// index, a lock file that does not match the index).
pub async fn plan(f: &Fetcher, cfg: &Config) -> anyhow::Result<PypiPlan> {
    let sel = select_files(f, cfg).await?;
    let mut out = PypiPlan {
        upstreams: cfg
            .pypi
            .iter()
            .map(|u| PlannedUpstream {
                name: u.name.clone(),
                files: Vec::new(),
            })
            .collect(),
        metadata_bytes: sel.cache.metadata_bytes.values().sum(),
    };
    // Indexes that announce no size (PEP 503 HTML has no `size`; PEP 700 is JSON only)
    // are asked with a HEAD per file, a few at a time: the plan is about bytes.
    let sizes: Vec<Option<u64>> = futures_util::stream::iter(sel.jobs.iter())
        .map(|j| async move {
            match j.fe.size {
                Some(n) => Some(n),
                None => head_size(f, &j.fe.url).await,
            }
        })
        .buffered(8)
        .collect()
        .await;
    for (j, size) in sel.jobs.iter().zip(sizes) {
        out.upstreams[j.upstream].files.push(PlannedFile {
            project: j.project.clone(),
            version: j.parsed.version().to_string(),
            filename: j.fe.filename.clone(),
            size,
            sha256: j.sha256.clone(),
        });
    }
    Ok(out)
}

/// The `Content-Length` of a HEAD on `url`; `None` when the request fails or the
/// server gives none (the plan then says the size is unknown).
async fn head_size(f: &Fetcher, url: &Url) -> Option<u64> {
    let resp = f.http().head(url.clone()).send().await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    resp.headers()
        .get(reqwest::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// What [`keep_file`] gives: the file's artifacts and an optional warning.
type Kept = (Vec<Artifact>, Option<String>);

/// Result of one table's part of [`sync_all`].
pub type UpstreamResult = anyhow::Result<(UpstreamState, PypiReport)>;

/// Syncs the `[[pypi]]` tables that `wanted` accepts (by name) into the store: resolve
/// all tables as one universe, then download what the wanted ones serve.
///
/// Returns, per wanted table in configuration order, its name and the state `export`
/// needs with its report, or the download errors of that table (verified files are kept
/// in the store; a re-run resumes).
///
/// Errors (for all tables at once): the resolution fails (a conflict, with its chain),
/// a lock file is invalid or disagrees with the index, an index cannot be read.
pub async fn sync_all(
    f: &Fetcher,
    cfg: &Config,
    wanted: &dyn Fn(&str) -> bool,
) -> anyhow::Result<Vec<(String, UpstreamResult)>> {
    let sel = select_files(f, cfg).await?;
    let uni = &sel.uni;
    // Files downloaded whole during resolution: already in the store, already counted.
    let fetched_now: HashSet<Digest> = sel
        .cache
        .metadata
        .values()
        .filter_map(|m| m.downloaded)
        .collect();
    let jobs: Vec<&Job> = sel
        .jobs
        .iter()
        .filter(|j| wanted(&uni.ups[j.upstream].name))
        .collect();
    let pending: Vec<&&Job> = jobs
        .iter()
        .filter(|j| {
            Digest::from_hex(&j.sha256)
                .map(|d| !fetched_now.contains(&d))
                .unwrap_or(true)
        })
        .collect();
    let total = pending.iter().map(|j| j.fe.size).sum::<Option<u64>>();
    f.progress()
        .start_phase(&format!("pypi: downloading {} files", pending.len()), total);
    f.progress().add_total_files(pending.len() as u64, 0);
    let fetched_now = &fetched_now;
    let results: Vec<(usize, anyhow::Result<Kept>)> =
        futures_util::stream::iter(jobs.iter().copied())
            .map(|j| async move {
                let up = &uni.ups[j.upstream].name;
                let r = keep_file(f, up, j, fetched_now)
                    .await
                    .with_context(|| format!("[[pypi]] {up}: {}", j.fe.filename));
                (j.upstream, r)
            })
            .buffer_unordered(64)
            .collect()
            .await;
    // Per table: artifacts, warnings, errors.
    type Outcome = (Vec<Artifact>, Vec<String>, Vec<String>);
    let mut per: BTreeMap<usize, Outcome> = BTreeMap::new();
    for (u, r) in results {
        let e = per.entry(u).or_default();
        match r {
            Ok((a, warn)) => {
                e.0.extend(a);
                e.1.extend(warn);
            }
            Err(err) => e.2.push(format!("{err:#}")),
        }
    }
    let mut out = Vec::new();
    for (i, up) in cfg.pypi.iter().enumerate() {
        if !wanted(&up.name) {
            continue;
        }
        let (mut artifacts, warnings, mut errors) = per.remove(&i).unwrap_or_default();
        let mine: Vec<&&Job> = jobs.iter().filter(|j| j.upstream == i).collect();
        let mut report = PypiReport {
            name: up.name.clone(),
            projects: mine
                .iter()
                .map(|j| &j.project)
                .collect::<BTreeSet<_>>()
                .len(),
            releases: mine
                .iter()
                .map(|j| (&j.project, j.parsed.version()))
                .collect::<BTreeSet<_>>()
                .len(),
            files: mine.len(),
            bytes: 0,
            metadata_bytes: sel.cache.metadata_bytes.get(&i).copied().unwrap_or(0),
            warnings,
        };
        if !errors.is_empty() {
            let n = errors.len();
            errors.truncate(5);
            out.push((
                up.name.clone(),
                Err(anyhow!(
                    "[[pypi]] {}: {n} of {} files failed (verified files are kept; re-run to resume):\n  {}",
                    up.name,
                    report.files,
                    errors.join("\n  ")
                )),
            ));
            continue;
        }
        report.bytes = artifacts
            .iter()
            .filter(|a| a.kind.is_package())
            .map(|a| a.size)
            .sum();
        artifacts.sort_by(|a, b| a.path.cmp(&b.path));
        let projects: BTreeSet<&String> = mine.iter().map(|j| &j.project).collect();
        let mut prov: Vec<Artifact> = projects
            .into_iter()
            .filter_map(|p| sel.cache.pages.get(p).cloned().flatten())
            .map(|rp| rp.page.provenance.clone())
            .collect();
        prov.sort_by(|a, b| a.path.cmp(&b.path));
        artifacts.extend(prov);
        let state = UpstreamState {
            name: up.name.clone(),
            synced_at: crate::now_rfc3339(),
            source: Source::new(&up.name, SourceKind::Pypi, &redact(&uni.bases[i])),
            artifacts,
            apt_indexes: vec![],
            apt_suites: vec![],
        };
        out.push((up.name.clone(), Ok((state, report))));
    }
    Ok(out)
}

/// Fetches the page of `project` from one index. `Ok(None)` when the index has no such
/// project (404/410). The page's bytes go into the store (provenance).
///
/// Errors: another failure status, a transport failure after the retries, a page that
/// does not parse.
pub async fn fetch_page(
    f: &Fetcher,
    base: &Url,
    project: &str,
    upstream: &str,
) -> anyhow::Result<Option<Page>> {
    let url = fetch::join(base, &format!("{project}/"))?;
    let Some(doc) = f.get_optional(&url, Some(ACCEPT), MAX_PAGE).await? else {
        return Ok(None);
    };
    let is_json = doc
        .content_type
        .as_deref()
        .is_some_and(|c| c.trim_start().starts_with(simple::JSON_MEDIA_TYPE));
    let page = if is_json {
        simple::parse_project_json(&doc.url, &doc.body)
    } else {
        let text = String::from_utf8_lossy(&doc.body);
        simple::parse_project_html(&doc.url, &text)
    }
    .map_err(|e| anyhow!("[[pypi]] {upstream}: page {}: {e}", redact(&doc.url)))?;
    let parsed = page
        .files
        .iter()
        .map(|fe| DistFilename::parse(&fe.filename, Some(project)).ok())
        .collect();
    let digest = f.cas().put_bytes(&doc.body)?;
    let ext = if is_json { "index.json" } else { "index.html" };
    let provenance = Artifact {
        kind: ArtifactKind::UpstreamPage,
        upstream: Some(upstream.to_owned()),
        path: formats::path::join(&format!("provenance/pypi/{upstream}/{project}"), ext)?,
        digest,
        size: doc.body.len() as u64,
        media_type: Some(if is_json {
            simple::JSON_MEDIA_TYPE.into()
        } else {
            "text/html".into()
        }),
        meta: Meta {
            name: Some(project.to_owned()),
            upstream_url: Some(redact(&doc.url)),
            ..Meta::default()
        },
    };
    Ok(Some(Page {
        page,
        parsed,
        provenance,
    }))
}

/// Core metadata of a release, and which file of it gave it.
pub struct MetadataFound {
    /// The parsed core metadata.
    pub metadata: CoreMetadata,
    /// The file whose upstream `.metadata` sidecar was used, and the sidecar's bytes.
    sidecar: Option<(String, Vec<u8>)>,
    /// Bytes downloaded in this sync to get it (0 when the store had it).
    pub fetched_bytes: u64,
    /// The file downloaded whole to read it, when that was needed (its digest).
    pub downloaded: Option<Digest>,
}

fn sha256_of(fe: &FileEntry) -> Option<&str> {
    fe.hashes.get("sha256").map(String::as_str)
}

/// Core metadata of `version` of the project on `page`, from a file installable on
/// `target` (the wheel pip would install there first): from the store, else the PEP
/// 658/714 sidecar (advertised, hash checked, or probed), else — when `whole_file` — the
/// file itself (downloaded into the store).
///
/// Errors: no file of the release installs on the target, an advertised sidecar is
/// missing or has another hash, a download fails, the metadata does not parse.
pub async fn core_metadata_for(
    f: &Fetcher,
    page: &Page,
    version: &Version,
    target: &Target,
    policy: &FilePolicy,
    whole_file: bool,
) -> anyhow::Result<MetadataFound> {
    // Candidate files of this version that the target can install, wheels first.
    let mut cands: Vec<(&FileEntry, &DistFilename)> = page
        .page
        .files
        .iter()
        .zip(&page.parsed)
        .filter_map(|(fe, p)| p.as_ref().map(|p| (fe, p)))
        .filter(|(_, p)| p.version() == version)
        .filter(|(fe, p)| match p {
            DistFilename::Wheel(w) => {
                formats::pypi::tags::wheel_is_compatible(w, target)
                    && select::keep_file(fe, p, policy)
            }
            DistFilename::Sdist(_) => true,
        })
        .collect();
    // The file pip would install there first (so a file downloaded for its metadata is
    // the one kept), sdists last.
    cands.sort_by_key(|(_, p)| match p {
        DistFilename::Wheel(w) => (0, select::wheel_rank(w, target)),
        DistFilename::Sdist(_) => (1, None),
    });
    let (fe, parsed) = *cands
        .first()
        .ok_or_else(|| anyhow!("no file of this release installs on the target"))?;
    let advertised_sha = match &fe.core_metadata {
        CoreMetadataRef::Hashes(h) => h.get("sha256").cloned(),
        _ => None,
    };
    // 0. Already in the store (a re-sync): no request.
    if let Some(found) = stored_metadata(f, fe, parsed, advertised_sha.as_deref()).await? {
        return Ok(found);
    }
    // 1. The sidecar: advertised (hash checked) or probed.
    let meta_url = Url::parse(&format!("{}.metadata", fe.url)).context("metadata URL")?;
    if let Some(doc) = f.get_optional(&meta_url, None, MAX_METADATA).await? {
        if let Some(want) = &advertised_sha {
            let got = Digest::of(&doc.body).hex();
            if &got != want {
                bail!(
                    "{}: sha256 {got} but the index advertises {want}",
                    redact(&meta_url)
                );
            }
        }
        let metadata =
            CoreMetadata::parse(&doc.body).map_err(|e| anyhow!("{}: {e}", redact(&meta_url)))?;
        return Ok(MetadataFound {
            metadata,
            sidecar: Some((fe.filename.clone(), doc.body.to_vec())),
            fetched_bytes: doc.body.len() as u64,
            downloaded: None,
        });
    } else if !matches!(fe.core_metadata, CoreMetadataRef::Absent) {
        bail!("{}: advertised by the index but missing", redact(&meta_url));
    }
    // 2. The file itself (kept when this version is chosen), unless only cheap sources
    //    are wanted (a speculative prefetch).
    if !whole_file {
        bail!("{}: no sidecar; the file itself is needed", fe.filename);
    }
    let sha = sha256_of(fe).ok_or_else(|| anyhow!("{}: the index gives no sha256", fe.filename))?;
    let expected = Expected {
        digest: Some(Digest::from_hex(sha).map_err(|e| anyhow!("{}: {e}", fe.filename))?),
        size: fe.size,
        sha512_hex: None,
    };
    let (digest, size) = f.fetch_to_store(&fe.url, &expected, &fe.filename).await?;
    let cas = f.cas().clone();
    let is_wheel = matches!(parsed, DistFilename::Wheel(_));
    let filename = fe.filename.clone();
    let bytes =
        tokio::task::spawn_blocking(move || extract_metadata(&cas, &digest, &filename, is_wheel))
            .await??;
    let metadata = CoreMetadata::parse(&bytes).map_err(|e| anyhow!("{}: {e}", fe.filename))?;
    Ok(MetadataFound {
        metadata,
        sidecar: None,
        fetched_bytes: size,
        downloaded: Some(digest),
    })
}

/// Core metadata of `fe` from the store alone, as a re-sync finds it: the blob whose
/// sha256 the index advertises for the `.metadata` file (PEP 658/714; content-addressed,
/// so those are the sidecar's exact bytes, kept by an earlier sync as the wheel's
/// `METADATA`), else, for a wheel, the wheel itself when the store holds it under the
/// index's sha256 (and size, where the index gives one). Not for an sdist: its served
/// `.metadata` is the upstream sidecar, which only a request finds. `Ok(None)` when
/// nothing fits: the caller asks upstream.
///
/// Errors: a stored blob that cannot be read or no longer hashes to its name, or core
/// metadata that does not parse.
async fn stored_metadata(
    f: &Fetcher,
    fe: &FileEntry,
    parsed: &DistFilename,
    advertised_sha: Option<&str>,
) -> anyhow::Result<Option<MetadataFound>> {
    if let Some(d) = advertised_sha.and_then(|h| Digest::from_hex(h).ok())
        && f.cas().contains(&d)?.is_some()
    {
        let cas = f.cas().clone();
        let body = tokio::task::spawn_blocking(move || cas.read_bytes(&d, MAX_METADATA)).await??;
        let metadata = CoreMetadata::parse(&body)
            .map_err(|e| anyhow!("{}.metadata (stored): {e}", fe.filename))?;
        return Ok(Some(MetadataFound {
            metadata,
            sidecar: Some((fe.filename.clone(), body)),
            fetched_bytes: 0,
            downloaded: None,
        }));
    }
    if !matches!(parsed, DistFilename::Wheel(_)) {
        return Ok(None);
    }
    let Some(d) = sha256_of(fe).and_then(|h| Digest::from_hex(h).ok()) else {
        return Ok(None);
    };
    match f.cas().contains(&d)? {
        Some(size) if fe.size.is_none_or(|s| s == size) => {}
        _ => return Ok(None),
    }
    let cas = f.cas().clone();
    let filename = fe.filename.clone();
    let bytes =
        tokio::task::spawn_blocking(move || extract_metadata(&cas, &d, &filename, true)).await??;
    let metadata = CoreMetadata::parse(&bytes).map_err(|e| anyhow!("{}: {e}", fe.filename))?;
    Ok(Some(MetadataFound {
        metadata,
        sidecar: None,
        fetched_bytes: 0,
        downloaded: None,
    }))
}

/// Reads the core metadata out of a stored wheel (`*.dist-info/METADATA`) or sdist
/// (`<name>-<version>/PKG-INFO`), bounded by [`MAX_METADATA`].
pub fn extract_metadata(
    cas: &Cas,
    digest: &Digest,
    filename: &str,
    is_wheel: bool,
) -> anyhow::Result<Vec<u8>> {
    let path = cas.blob_path(digest);
    let file = std::fs::File::open(&path).with_context(|| format!("open {}", path.display()))?;
    let read_bounded = |r: &mut dyn std::io::Read| -> anyhow::Result<Vec<u8>> {
        let mut out = Vec::new();
        r.take(MAX_METADATA + 1).read_to_end(&mut out)?;
        if out.len() as u64 > MAX_METADATA {
            bail!("{filename}: core metadata over {MAX_METADATA} bytes");
        }
        Ok(out)
    };
    if is_wheel || filename.ends_with(".zip") {
        let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
            .with_context(|| format!("{filename}: not a zip archive"))?;
        let wanted = |n: &str| {
            let parts: Vec<&str> = n.split('/').collect();
            if is_wheel {
                parts.len() == 2 && parts[0].ends_with(".dist-info") && parts[1] == "METADATA"
            } else {
                parts.len() == 2 && parts[1] == "PKG-INFO"
            }
        };
        let names: Vec<String> = zip
            .file_names()
            .filter_map(Result::ok)
            .filter(|n| wanted(n))
            .map(|n| n.into_owned())
            .collect();
        let name = match names.as_slice() {
            [one] => one.clone(),
            [] => bail!("{filename}: no core metadata member in the archive"),
            _ => bail!(
                "{filename}: several core metadata members in the archive: {}",
                names.join(", ")
            ),
        };
        let mut entry = zip
            .by_name(&name)
            .with_context(|| format!("{filename}: {name}"))?;
        return read_bounded(&mut entry);
    }
    if filename.ends_with(".tar.gz") {
        let gz = flate2::read::GzDecoder::new(std::io::BufReader::new(file));
        let mut ar = tar::Archive::new(gz);
        for entry in ar
            .entries()
            .with_context(|| format!("{filename}: not a tar.gz"))?
        {
            let mut entry = entry.with_context(|| format!("{filename}: corrupt tar"))?;
            let p = entry.path()?.to_string_lossy().into_owned();
            let parts: Vec<&str> = p.split('/').collect();
            if parts.len() == 2 && parts[1] == "PKG-INFO" {
                return read_bounded(&mut entry);
            }
        }
        bail!("{filename}: no PKG-INFO in the sdist");
    }
    bail!("{filename}: unsupported archive type")
}

/// Downloads one kept file and builds its artifacts (the file, and its core metadata).
///
/// The download is checked against `job.sha256` (the index's or the lock file's); a file
/// in `fetched_now` (downloaded whole in this sync to read its metadata) is taken from
/// the store without another request or count.
async fn keep_file(
    f: &Fetcher,
    upstream: &str,
    job: &Job,
    fetched_now: &HashSet<Digest>,
) -> anyhow::Result<Kept> {
    let (project, fe, parsed) = (job.project.as_str(), &job.fe, &job.parsed);
    let release_meta = job.meta.as_deref();
    let want = Digest::from_hex(&job.sha256).map_err(|e| anyhow!("sha256 {}: {e}", job.sha256))?;
    let expected = Expected {
        digest: Some(want),
        size: fe.size,
        sha512_hex: None,
    };
    let stored = if fetched_now.contains(&want) {
        f.cas().contains(&want)?.map(|size| (want, size))
    } else {
        None
    };
    let (digest, size) = match stored {
        Some(v) => v,
        None => f
            .fetch_to_store(&fe.url, &expected, &fe.filename)
            .await
            .map_err(|e| {
                e.context(format!(
                    "{}: fetching and checking against sha256 {} failed; nothing unverified was kept",
                    fe.filename, job.sha256
                ))
            })?,
    };
    let is_wheel = matches!(parsed, DistFilename::Wheel(_));
    let mut warning = None;
    // Core metadata: from the wheel itself; for an sdist, only an upstream sidecar.
    let sidecar = release_meta
        .and_then(|m| m.sidecar.as_ref())
        .filter(|(name, _)| name == &fe.filename)
        .map(|(_, b)| b.clone());
    let meta_bytes = if is_wheel {
        let cas = f.cas().clone();
        let name = fe.filename.clone();
        let extracted =
            tokio::task::spawn_blocking(move || extract_metadata(&cas, &digest, &name, true))
                .await??;
        if let Some(sc) = &sidecar
            && sc != &extracted
        {
            warning = Some(format!(
                "{}: the upstream .metadata sidecar differs from the wheel's METADATA; serving the wheel's",
                fe.filename
            ));
        }
        Some(extracted)
    } else {
        sidecar
    };
    let parsed_meta = match &meta_bytes {
        Some(b) => CoreMetadata::parse(b).ok(),
        None => release_meta.map(|m| m.metadata.clone()),
    };
    let dir = format!("simple/{project}");
    let mut out = Vec::new();
    let mut core_digest = None;
    if let Some(b) = &meta_bytes {
        let d = f.cas().put_bytes(b)?;
        core_digest = Some(d);
        out.push(Artifact {
            kind: ArtifactKind::CoreMetadata,
            upstream: Some(upstream.to_owned()),
            path: formats::path::join(&dir, &format!("{}.metadata", fe.filename))?,
            digest: d,
            size: b.len() as u64,
            media_type: Some("text/plain; charset=utf-8".into()),
            meta: Meta {
                name: Some(project.to_owned()),
                version: Some(parsed.version().to_string()),
                filename: Some(fe.filename.clone()),
                ..Meta::default()
            },
        });
    }
    let media_type = if fe.filename.ends_with(".tar.gz") {
        "application/gzip"
    } else {
        "application/zip"
    };
    out.push(Artifact {
        kind: if is_wheel {
            ArtifactKind::Wheel
        } else {
            ArtifactKind::Sdist
        },
        upstream: Some(upstream.to_owned()),
        path: formats::path::join(&dir, &fe.filename)?,
        digest,
        size,
        media_type: Some(media_type.into()),
        meta: Meta {
            name: Some(
                parsed_meta
                    .as_ref()
                    .map(|m| m.name.clone())
                    .unwrap_or_else(|| project.to_owned()),
            ),
            version: Some(parsed.version().to_string()),
            filename: Some(fe.filename.clone()),
            requires_python: fe.requires_python.clone(),
            yanked: fe.yanked.clone(),
            core_metadata: core_digest,
            upload_time: fe.upload_time.clone(),
            upstream_url: Some(redact(&fe.url)),
            license: parsed_meta.as_ref().and_then(license_of),
            depends: parsed_meta.map(|m| m.requires_dist).unwrap_or_default(),
            ..Meta::default()
        },
    });
    Ok((out, warning))
}

/// The license a release states: `License-Expression` (Metadata 2.4), else a short
/// one-line `License` field (long ones are usually the whole license text).
fn license_of(m: &CoreMetadata) -> Option<String> {
    m.license_expression.clone().or_else(|| {
        m.license
            .as_deref()
            .map(str::trim)
            .filter(|l| !l.is_empty() && l.len() <= 100 && !l.contains('\n'))
            .map(str::to_owned)
    })
}
