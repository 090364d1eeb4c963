//! Step 1, **select** ([`plan`] stops here): the configured projects of every table resolved
//! together, per target, into one set of pins, plus the lock-file inputs, and the files
//! kept for each target.

use std::collections::HashSet;
use std::str::FromStr as _;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use formats::pypi::filename::DistFilename;
use formats::pypi::simple::FileEntry;
use futures_util::StreamExt as _;
use pep508_rs::{Requirement, VerbatimUrl};
use url::Url;

use super::pages::MetadataFound;
use super::pages::sha256_of;
use crate::config::Config;
use crate::fetch::Fetcher;
use crate::pypi::lock::{self, LockedFiles};
use crate::pypi::resolve::{self, Cache, Universe};
use crate::pypi::select::{self, Target};

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

/// One file to keep.
pub(super) struct Job {
    pub(super) upstream: usize,
    pub(super) project: String,
    pub(super) fe: FileEntry,
    pub(super) parsed: DistFilename,
    /// sha256 to check the download against (lowercase hex).
    pub(super) sha256: String,
    pub(super) meta: Option<Arc<MetadataFound>>,
}

pub(super) struct Selection {
    pub(super) uni: Arc<Universe>,
    pub(super) cache: Cache,
    pub(super) jobs: Vec<Job>,
}

/// The configured requirements of every table. Errors: not PEP 508, or a direct URL.
pub(super) fn root_requirements(cfg: &Config) -> anyhow::Result<Vec<Requirement<VerbatimUrl>>> {
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
pub(super) async fn select_files(f: &Fetcher, cfg: &Config) -> anyhow::Result<Selection> {
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

pub(super) fn shown_target(t: &Target) -> String {
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
/// Errors: as `sync_all`'s resolution (a conflict with its chain, an unreachable
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
pub(super) async fn head_size(f: &Fetcher, url: &Url) -> Option<u64> {
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
