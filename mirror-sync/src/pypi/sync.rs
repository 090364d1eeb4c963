//! Sync of one `[[pypi]]` upstream (any PEP 503/691 simple index).
//!
//! 1. **Resolve**, in waves: fetch each needed project page once (PEP 691 JSON when the
//!    index offers it, else PEP 503 HTML; relative file URLs resolved against the page
//!    URL), choose the newest version matching each requirement for each target
//!    (`python` × `platforms`), read its core metadata, and queue the `Requires-Dist`
//!    entries whose markers hold for that target (extras only when asked for).
//!    Core metadata comes from the store when an earlier sync kept it (the blob named by
//!    the advertised sidecar hash, or the file itself), so a re-sync asks upstream for
//!    project pages only; else from the PEP 658/714 `.metadata` sidecar — advertised
//!    (hash checked) or not (indexes that have sidecars their HTML does not advertise) —
//!    or else from the file itself.
//! 2. **Download** every kept file of every chosen version concurrently, each checked
//!    against the index's sha256 while it streams into the store.
//! 3. **Core metadata** for every wheel is the `METADATA` member of the wheel itself
//!    (PEP 658 requires the sidecar to be exactly that file); an upstream sidecar that
//!    differs is reported and not used.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Read as _;
use std::str::FromStr as _;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use formats::digest::Digest;
use formats::pypi::filename::DistFilename;
use formats::pypi::metadata::CoreMetadata;
use formats::pypi::name::normalize;
use formats::pypi::simple::{self, CoreMetadataRef, FileEntry, ProjectPage};
use formats::snapshot::{Artifact, ArtifactKind, Meta, Source, SourceKind};
use futures_util::StreamExt as _;
use pep440_rs::{Version, VersionSpecifiers};
use store::{Cas, Expected};
use url::Url;

use crate::config::{Config, PypiUpstream};
use crate::fetch::{self, Fetcher, redact};
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
    /// Projects in the closure.
    pub projects: usize,
    /// Releases (project, version) kept.
    pub releases: usize,
    /// Files kept (wheels and sdists).
    pub files: usize,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Problems that did not stop the sync (e.g. a sidecar that differs from the wheel).
    pub warnings: Vec<String>,
}

struct Page {
    page: ProjectPage,
    parsed: Vec<Option<DistFilename>>,
    provenance: Artifact,
}

#[derive(Clone)]
struct Need {
    project: String,
    specifiers: VersionSpecifiers,
    extras: Vec<String>,
    target: usize,
    why: String,
}

/// Syncs one PyPI upstream into the store; returns the state `export` needs.
pub async fn sync(
    f: &Fetcher,
    _cfg: &Config,
    up: &PypiUpstream,
) -> anyhow::Result<(UpstreamState, PypiReport)> {
    let base = fetch::base_url(&up.url)?;
    let targets = select::targets(&up.python, &up.platforms)
        .map_err(|e| anyhow!("[[pypi]] {}: {e}", up.name))?;
    let policy = FilePolicy {
        platforms: up.platforms.clone(),
        targets: targets.clone(),
        sdists: up.sdists,
    };
    let mut report = PypiReport {
        name: up.name.clone(),
        ..PypiReport::default()
    };

    // Initial requirements, for every target whose environment the marker admits.
    let mut wave: Vec<Need> = Vec::new();
    for spec in &up.projects {
        let req = pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(spec)
            .map_err(|e| anyhow!("[[pypi]] {}: invalid requirement {spec:?}: {e}", up.name))?;
        let specifiers = match &req.version_or_url {
            None => VersionSpecifiers::empty(),
            Some(pep508_rs::VersionOrUrl::VersionSpecifier(s)) => s.clone(),
            Some(pep508_rs::VersionOrUrl::Url(_)) => {
                bail!(
                    "[[pypi]] {}: {spec:?}: direct URL requirements are not supported; name a version",
                    up.name
                )
            }
        };
        for (ti, t) in targets.iter().enumerate() {
            if !req.marker.evaluate(&select::marker_env(t), &[]) {
                continue;
            }
            wave.push(Need {
                project: normalize(req.name.as_ref()),
                specifiers: specifiers.clone(),
                extras: req.extras.iter().map(|e| e.to_string()).collect(),
                target: ti,
                why: format!("configured {spec:?}"),
            });
        }
    }

    let mut pages: HashMap<String, Arc<Page>> = HashMap::new();
    let mut chosen: BTreeMap<String, BTreeSet<Version>> = BTreeMap::new();
    let mut metadata: HashMap<(String, Version), Arc<MetadataFound>> = HashMap::new();
    let mut seen: HashSet<(String, String, Vec<String>, usize)> = HashSet::new();

    while !wave.is_empty() {
        f.progress().phase(&format!(
            "{}: resolving ({} projects)",
            up.name,
            chosen.len()
        ));
        wave.retain(|n| {
            let mut ex = n.extras.clone();
            ex.sort();
            seen.insert((n.project.clone(), n.specifiers.to_string(), ex, n.target))
        });
        // Pages, concurrently.
        let missing: BTreeSet<String> = wave
            .iter()
            .map(|n| n.project.clone())
            .filter(|p| !pages.contains_key(p))
            .collect();
        let base = &base;
        let fetched: Vec<anyhow::Result<(String, Page)>> = futures_util::stream::iter(missing)
            .map(|p| async move {
                let page = fetch_page(f, base, &p, &up.name).await?;
                Ok((p, page))
            })
            .buffer_unordered(16)
            .collect()
            .await;
        for r in fetched {
            let (p, page) = r?;
            pages.insert(p, Arc::new(page));
        }
        // Versions.
        let mut need_meta: Vec<(String, Version, usize)> = Vec::new();
        let mut chosen_now: Vec<(Need, Version)> = Vec::new();
        for n in &wave {
            let page = &pages[&n.project];
            let files: Vec<(FileEntry, DistFilename)> = page
                .page
                .files
                .iter()
                .zip(&page.parsed)
                .filter_map(|(fe, p)| p.clone().map(|p| (fe.clone(), p)))
                .collect();
            let t = &targets[n.target];
            let v = select::choose_version(&files, &n.specifiers, t, &policy).ok_or_else(|| {
                let mut avail: Vec<String> = files.iter().map(|(_, d)| d.version().to_string()).collect();
                avail.dedup();
                avail.truncate(20);
                anyhow!(
                    "[[pypi]] {}: no release of {} matches {:?} with a file for python {}.{} on {} (needed by {}); versions listed upstream: {}",
                    up.name,
                    n.project,
                    n.specifiers.to_string(),
                    t.python.0,
                    t.python.1,
                    t.platform,
                    n.why,
                    if avail.is_empty() { "none".into() } else { avail.join(", ") }
                )
            })?;
            chosen
                .entry(n.project.clone())
                .or_default()
                .insert(v.clone());
            if !metadata.contains_key(&(n.project.clone(), v.clone())) {
                need_meta.push((n.project.clone(), v.clone(), n.target));
            }
            chosen_now.push((n.clone(), v));
        }
        need_meta.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        need_meta.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        // Core metadata, concurrently.
        let found: Vec<anyhow::Result<((String, Version), MetadataFound)>> =
            futures_util::stream::iter(need_meta)
                .map(|(p, v, ti)| {
                    let page = pages[&p].clone();
                    let target = targets[ti].clone();
                    let policy = &policy;
                    async move {
                        let m = core_metadata_for(f, &page, &v, &target, policy)
                            .await
                            .with_context(|| {
                                format!("[[pypi]] {}: core metadata of {p} {v}", up.name)
                            })?;
                        Ok(((p, v), m))
                    }
                })
                .buffer_unordered(16)
                .collect()
                .await;
        for r in found {
            let (k, m) = r?;
            metadata.insert(k, Arc::new(m));
        }
        // Next wave: dependencies.
        let mut next = Vec::new();
        for (n, v) in chosen_now {
            let m = &metadata[&(n.project.clone(), v.clone())];
            let reqs = select::applicable_requirements(
                &m.metadata.requires_dist,
                &targets[n.target],
                &n.extras,
            )
            .map_err(|e| anyhow!("[[pypi]] {}: {} {v}: {e}", up.name, n.project))?;
            for r in reqs {
                let specifiers = match &r.version_or_url {
                    None => VersionSpecifiers::empty(),
                    Some(pep508_rs::VersionOrUrl::VersionSpecifier(s)) => s.clone(),
                    Some(pep508_rs::VersionOrUrl::Url(_)) => {
                        report.warnings.push(format!(
                            "{} {v} requires {r} by URL; not mirrored",
                            n.project
                        ));
                        continue;
                    }
                };
                next.push(Need {
                    project: normalize(r.name.as_ref()),
                    specifiers,
                    extras: r.extras.iter().map(|e| e.to_string()).collect(),
                    target: n.target,
                    why: format!("{} {v}", n.project),
                });
            }
        }
        wave = next;
    }

    // Files to keep.
    f.progress().phase(&format!("{}: downloading", up.name));
    let mut jobs: Vec<(String, FileEntry, DistFilename, Option<Arc<MetadataFound>>)> = Vec::new();
    for (project, versions) in &chosen {
        let page = &pages[project];
        for (fe, parsed) in page.page.files.iter().zip(&page.parsed) {
            let Some(parsed) = parsed else { continue };
            if !versions.contains(parsed.version()) || !select::keep_file(fe, parsed, &policy) {
                continue;
            }
            let m = metadata
                .get(&(project.clone(), parsed.version().clone()))
                .cloned();
            jobs.push((project.clone(), fe.clone(), parsed.clone(), m));
        }
        report.releases += versions.len();
    }
    report.projects = chosen.len();
    report.files = jobs.len();
    // Sizes the index announces (PEP 700); the report counts what arrived.
    f.progress()
        .add_total(jobs.iter().filter_map(|j| j.1.size).sum());

    let results: Vec<anyhow::Result<(Vec<Artifact>, Option<String>)>> =
        futures_util::stream::iter(jobs)
            .map(|(project, fe, parsed, m)| async move {
                keep_file(f, &up.name, &project, &fe, &parsed, m.as_deref())
                    .await
                    .with_context(|| format!("[[pypi]] {}: {}", up.name, fe.filename))
            })
            .buffer_unordered(64)
            .collect()
            .await;
    let mut artifacts = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok((a, warn)) => {
                artifacts.extend(a);
                report.warnings.extend(warn);
            }
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    if !errors.is_empty() {
        let n = errors.len();
        errors.truncate(5);
        bail!(
            "[[pypi]] {}: {n} of {} files failed (verified files are kept; re-run to resume):\n  {}",
            up.name,
            report.files,
            errors.join("\n  ")
        );
    }
    report.bytes = artifacts
        .iter()
        .filter(|a| a.kind.is_package())
        .map(|a| a.size)
        .sum();
    artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    let mut prov: Vec<Artifact> = chosen.keys().map(|p| pages[p].provenance.clone()).collect();
    prov.sort_by(|a, b| a.path.cmp(&b.path));
    artifacts.extend(prov);

    let state = UpstreamState {
        name: up.name.clone(),
        synced_at: crate::now_rfc3339(),
        source: Source::new(&up.name, SourceKind::Pypi, &redact(&base)),
        artifacts,
        apt_indexes: vec![],
        apt_suites: vec![],
    };
    Ok((state, report))
}

async fn fetch_page(
    f: &Fetcher,
    base: &Url,
    project: &str,
    upstream: &str,
) -> anyhow::Result<Page> {
    let url = fetch::join(base, &format!("{project}/"))?;
    let doc = f
        .get_optional(&url, Some(ACCEPT), MAX_PAGE)
        .await?
        .ok_or_else(|| {
            anyhow!(
                "[[pypi]] {upstream}: project {project} not found at {}",
                redact(&url)
            )
        })?;
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
    Ok(Page {
        page,
        parsed,
        provenance,
    })
}

/// Core metadata of a release, and which file of it gave it.
struct MetadataFound {
    metadata: CoreMetadata,
    /// The file whose upstream `.metadata` sidecar was used, and the sidecar's bytes.
    sidecar: Option<(String, Vec<u8>)>,
}

fn sha256_of(fe: &FileEntry) -> Option<&str> {
    fe.hashes.get("sha256").map(String::as_str)
}

async fn core_metadata_for(
    f: &Fetcher,
    page: &Page,
    version: &Version,
    target: &Target,
    policy: &FilePolicy,
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
    cands.sort_by_key(|(_, p)| matches!(p, DistFilename::Sdist(_)));
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
        });
    } else if !matches!(fe.core_metadata, CoreMetadataRef::Absent) {
        bail!("{}: advertised by the index but missing", redact(&meta_url));
    }
    // 2. The file itself (it is kept anyway).
    let sha = sha256_of(fe).ok_or_else(|| anyhow!("{}: the index gives no sha256", fe.filename))?;
    let expected = Expected {
        digest: Some(Digest::from_hex(sha).map_err(|e| anyhow!("{}: {e}", fe.filename))?),
        size: fe.size,
        sha512_hex: None,
    };
    let (digest, _) = f.fetch_to_store(&fe.url, &expected, &fe.filename).await?;
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
async fn keep_file(
    f: &Fetcher,
    upstream: &str,
    project: &str,
    fe: &FileEntry,
    parsed: &DistFilename,
    release_meta: Option<&MetadataFound>,
) -> anyhow::Result<(Vec<Artifact>, Option<String>)> {
    let sha = sha256_of(fe).ok_or_else(|| {
        anyhow!("the index gives no sha256 for this file; refusing to mirror it unverified")
    })?;
    let expected = Expected {
        digest: Some(Digest::from_hex(sha).map_err(|e| anyhow!("{e}"))?),
        size: fe.size,
        sha512_hex: None,
    };
    let (digest, size) = f.fetch_to_store(&fe.url, &expected, &fe.filename).await?;
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
