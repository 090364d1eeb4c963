//! `mirror-sync export`: cut a signed snapshot from the last sync of every configured
//! upstream and write it onto a drive (docs/media-format.md).
//!
//! 1. Render what the server will serve: per APT upstream the `Packages` indexes (plain,
//!    gz, xz, and their by-hash copies), a `Release`, and an `InRelease` and `Release.gpg`
//!    signed with the repository key; one merged PEP 503 HTML and PEP 691 JSON simple
//!    index over every `[[pypi]]` upstream; the repository public key.
//! 2. Build the manifest (every artifact: kind, upstream, logical path, digest, size,
//!    metadata), sign its exact bytes with the ed25519 snapshot key.
//! 3. Write `blobs/sha256/<hex>` for every unique digest (temp name, hash checked while
//!    copying, fsync, rename; blobs already on the drive with the right size are kept, so
//!    an interrupted export resumes), then the manifest, its signature and the signer's
//!    public key last: a drive without a manifest is visibly incomplete.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use formats::apt::packages::compress_index;
use formats::apt::release::{ReleaseFields, render_release};
use formats::digest::{Digest, Hasher};
use formats::pypi::simple::{self, ServedFile};
use formats::snapshot::{
    self, Artifact, ArtifactKind, MANIFEST_VERSION, Manifest, Meta, SourceKind,
};
use keys::openpgp::RepoSigningKey;
use keys::snapshot::SigningKey;
use serde::Serialize;
use store::Cas;

use crate::config::Config;
use crate::progress::Progress;
use crate::state::{AptIndexState, ExportRecord, State, UpstreamState};

/// What `export` did, for the summary and `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    /// `channel/sequence`.
    pub snapshot: String,
    /// Channel.
    pub channel: String,
    /// Sequence number.
    pub sequence: u64,
    /// Drive directory.
    pub drive: PathBuf,
    /// Manifest path on the drive.
    pub manifest: PathBuf,
    /// Digest of the manifest bytes.
    pub manifest_digest: Digest,
    /// Snapshot signing key id.
    pub signer: String,
    /// Repository key fingerprint (signs the served APT indexes).
    pub repo_signer: String,
    /// Artifacts in the manifest.
    pub artifacts: usize,
    /// Package artifacts (deb, wheel, sdist).
    pub packages: usize,
    /// Unique blobs the snapshot references.
    pub blobs: usize,
    /// Blobs written now (the others were already on the drive).
    pub blobs_written: usize,
    /// Bytes written now.
    pub bytes_written: u64,
    /// Total bytes of all unique blobs.
    pub bytes_total: u64,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Options of one export.
pub struct ExportOptions {
    /// Drive directory (created if missing).
    pub to: PathBuf,
}

const REPO_KEY_ASC: &str = "keys/repo.asc";
const REPO_KEY_GPG: &str = "keys/repo.gpg";

/// Cuts and writes a snapshot. See the module docs for the steps.
///
/// Errors: an upstream never synced, unreadable keys, a conflict between two upstreams
/// (the same served path with different bytes), a store blob whose bytes no longer match
/// its digest, or I/O on the drive — each naming what and where.
pub fn export(
    cfg: &Config,
    opts: &ExportOptions,
    progress: &Progress,
) -> anyhow::Result<ExportReport> {
    let started = Instant::now();
    let store_dir = cfg.store_dir();
    let state = State::open(&store_dir)?;
    let cas = Cas::open(&store_dir)
        .with_context(|| format!("cannot open store {}", store_dir.display()))?;

    let mut states = Vec::new();
    for name in cfg
        .apt
        .iter()
        .map(|a| &a.name)
        .chain(cfg.pypi.iter().map(|p| &p.name))
    {
        let st = state.upstream(name)?.ok_or_else(|| {
            anyhow!("upstream {name} has never been synced: run `mirror-sync sync --config <this config>` first")
        })?;
        states.push(st);
    }
    let snap_key_path = cfg.resolve(&cfg.signing.snapshot_key);
    let snap_key = SigningKey::load(&snap_key_path)
        .with_context(|| format!("cannot load the snapshot key {}", snap_key_path.display()))?;
    let repo_key_path = cfg.resolve(&cfg.signing.repo_key);
    let repo_key = RepoSigningKey::load(&repo_key_path)
        .with_context(|| format!("cannot load the repository key {}", repo_key_path.display()))?;
    let repo_fpr = repo_key.fingerprint();

    let sequence = state.last_sequence(&cfg.channel)? + 1;
    let created = crate::now_rfc3339();
    let now = chrono::Utc::now();

    let mut artifacts: Vec<Artifact> = Vec::new();
    let mut sources = Vec::new();
    for st in &states {
        let mut src = st.source.clone();
        if src.kind == SourceKind::Apt {
            src.repo_signer = Some(repo_fpr.clone());
        }
        sources.push(src);
        artifacts.extend(
            st.artifacts
                .iter()
                .filter(|a| {
                    a.kind != ArtifactKind::Wheel
                        && a.kind != ArtifactKind::Sdist
                        && a.kind != ArtifactKind::CoreMetadata
                })
                .cloned(),
        );
    }

    // APT: indexes, Release, InRelease, Release.gpg.
    for (st, up) in states.iter().zip(&cfg.apt) {
        artifacts.extend(render_apt(
            &cas,
            st,
            &up.architectures,
            &up.components,
            &repo_key,
            now,
        )?);
    }
    // Repository public key.
    if !cfg.apt.is_empty() {
        for (path, bytes) in [
            (REPO_KEY_ASC, repo_key.public_armored()?.into_bytes()),
            (REPO_KEY_GPG, repo_key.public_binary()?),
        ] {
            let digest = cas.put_bytes(&bytes)?;
            artifacts.push(Artifact {
                kind: ArtifactKind::RepoKey,
                upstream: None,
                path: path.into(),
                digest,
                size: bytes.len() as u64,
                media_type: Some(
                    if path.ends_with(".asc") {
                        "application/pgp-keys"
                    } else {
                        "application/octet-stream"
                    }
                    .into(),
                ),
                meta: Meta::default(),
            });
        }
    }
    // PyPI: files from every upstream, merged into one simple index.
    let pypi_states: Vec<&UpstreamState> = states
        .iter()
        .filter(|s| s.source.kind == SourceKind::Pypi)
        .collect();
    if !pypi_states.is_empty() {
        artifacts.extend(render_simple(&cas, &pypi_states)?);
    }

    artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    let manifest = Manifest {
        manifest_version: MANIFEST_VERSION,
        channel: cfg.channel.clone(),
        sequence,
        created: created.clone(),
        base: None,
        generator: format!("mirror-sync {}", env!("CARGO_PKG_VERSION")),
        signer: snap_key.public_key().key_id(),
        sources,
        artifacts,
    };
    manifest
        .validate()
        .context("the snapshot about to be written is invalid (a bug)")?;
    let bytes = manifest.to_bytes();
    let signature = snap_key.sign(&bytes);

    // Blobs, then the manifest last.
    let mut blobs: BTreeMap<Digest, u64> = BTreeMap::new();
    for a in &manifest.artifacts {
        if let Some(prev) = blobs.insert(a.digest, a.size)
            && prev != a.size
        {
            bail!(
                "{} has size {} but the same digest elsewhere has {prev}",
                a.path,
                a.size
            );
        }
    }
    let bytes_total: u64 = blobs.values().sum();
    let snap_dir = opts
        .to
        .join(snapshot::snapshot_dir(&manifest.channel, sequence));
    if snap_dir.exists() {
        bail!(
            "{} already exists on the drive; the channel state and the drive disagree",
            snap_dir.display()
        );
    }
    let blob_dir = opts.to.join("blobs/sha256");
    std::fs::create_dir_all(&blob_dir)
        .with_context(|| format!("cannot create {}", blob_dir.display()))?;
    progress.phase("writing blobs");
    progress.add_total(bytes_total);
    let mut blobs_written = 0;
    let mut bytes_written = 0;
    for (digest, size) in &blobs {
        let dst = blob_dir.join(digest.hex());
        if let Ok(md) = std::fs::symlink_metadata(&dst)
            && md.is_file()
            && md.len() == *size
        {
            progress.inc_done(*size);
            continue;
        }
        copy_blob(&cas, digest, *size, &dst, progress)?;
        blobs_written += 1;
        bytes_written += size;
    }
    sync_dir(&blob_dir)?;
    std::fs::create_dir_all(&snap_dir)
        .with_context(|| format!("cannot create {}", snap_dir.display()))?;
    write_file(
        &snap_dir.join(snapshot::SIGNER_FILE),
        snap_key.public_key().to_pem().as_bytes(),
    )?;
    write_file(&snap_dir.join(snapshot::SIGNATURE_FILE), &signature)?;
    write_file(&snap_dir.join(snapshot::MANIFEST_FILE), &bytes)?;
    sync_dir(&snap_dir)?;
    progress.finish();

    let manifest_digest = cas.put_bytes(&bytes)?;
    state.record_export(
        &manifest.channel,
        sequence,
        &ExportRecord {
            name: manifest.name(),
            manifest: manifest_digest,
            created,
            artifacts: manifest.artifacts.len() as u64,
            bytes: bytes_total,
        },
    )?;
    Ok(ExportReport {
        snapshot: manifest.name(),
        channel: manifest.channel.clone(),
        sequence,
        drive: opts.to.clone(),
        manifest: snap_dir.join(snapshot::MANIFEST_FILE),
        manifest_digest,
        signer: manifest.signer.clone(),
        repo_signer: repo_fpr,
        artifacts: manifest.artifacts.len(),
        packages: manifest
            .artifacts
            .iter()
            .filter(|a| a.kind.is_package())
            .count(),
        blobs: blobs.len(),
        blobs_written,
        bytes_written,
        bytes_total,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn put(
    cas: &Cas,
    kind: ArtifactKind,
    upstream: Option<&str>,
    path: String,
    bytes: &[u8],
    media_type: &str,
) -> anyhow::Result<Artifact> {
    formats::path::validate(&path)?;
    let digest = cas.put_bytes(bytes)?;
    Ok(Artifact {
        kind,
        upstream: upstream.map(str::to_owned),
        path,
        digest,
        size: bytes.len() as u64,
        media_type: Some(media_type.into()),
        meta: Meta::default(),
    })
}

/// Renders the served indexes of one APT upstream (see the module docs).
fn render_apt(
    cas: &Cas,
    st: &UpstreamState,
    architectures: &[String],
    components: &[String],
    repo_key: &RepoSigningKey,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Vec<Artifact>> {
    let name = st.name.as_str();
    let mut out = Vec::new();
    let dists: BTreeSet<Option<String>> = st.apt_indexes.iter().map(|i| i.suite.clone()).collect();
    for dist in dists {
        let root = match &dist {
            Some(s) => format!("apt/{name}/dists/{s}"),
            None => format!("apt/{name}"),
        };
        let mut entries: Vec<(String, u64, String)> = Vec::new();
        for idx in st.apt_indexes.iter().filter(|i| i.suite == dist) {
            let dir = index_subdir(idx);
            let text = if idx.stanzas.is_empty() {
                String::new()
            } else {
                let mut t = idx.stanzas.join("\n\n");
                t.push('\n');
                t
            };
            let (gz, xz) = compress_index(&text);
            for (file, bytes, mt) in [
                ("Packages", text.as_bytes(), "text/plain; charset=utf-8"),
                ("Packages.gz", gz.as_slice(), "application/gzip"),
                ("Packages.xz", xz.as_slice(), "application/x-xz"),
            ] {
                let rel = format!("{dir}{file}");
                let a = put(
                    cas,
                    ArtifactKind::AptIndex,
                    Some(name),
                    format!("{root}/{rel}"),
                    bytes,
                    mt,
                )?;
                entries.push((rel, a.size, a.digest.hex()));
                if dist.is_some() {
                    let mut by_hash = a.clone();
                    by_hash.path = format!("{root}/{dir}by-hash/SHA256/{}", a.digest.hex());
                    out.push(by_hash);
                }
                out.push(a);
            }
        }
        let info = st
            .apt_suites
            .iter()
            .find(|s| s.dist == dist)
            .cloned()
            .unwrap_or_default();
        let fields = ReleaseFields {
            origin: info.origin.unwrap_or_else(|| name.to_owned()),
            label: info.label.unwrap_or_else(|| name.to_owned()),
            suite: dist
                .as_ref()
                .map(|d| info.suite.clone().unwrap_or_else(|| d.clone())),
            codename: if dist.is_some() {
                info.codename.clone()
            } else {
                None
            },
            date: now,
            architectures: architectures.to_vec(),
            components: if dist.is_some() {
                components.to_vec()
            } else {
                Vec::new()
            },
            description: info.description,
            acquire_by_hash: dist.is_some(),
        };
        let release = render_release(&fields, &entries);
        let inrelease = repo_key.sign_inrelease(&release)?;
        let release_gpg = repo_key.sign_detached(&release)?;
        for (file, bytes) in [
            ("Release", release.as_bytes()),
            ("InRelease", inrelease.as_bytes()),
            ("Release.gpg", release_gpg.as_bytes()),
        ] {
            out.push(put(
                cas,
                ArtifactKind::AptRelease,
                Some(name),
                format!("{root}/{file}"),
                bytes,
                "text/plain; charset=utf-8",
            )?);
        }
    }
    Ok(out)
}

fn index_subdir(idx: &AptIndexState) -> String {
    match (&idx.component, &idx.architecture) {
        (Some(c), Some(a)) => format!("{c}/binary-{a}/"),
        _ => String::new(),
    }
}

/// Merges the files of every PyPI upstream into one simple index and renders its pages.
fn render_simple(cas: &Cas, states: &[&UpstreamState]) -> anyhow::Result<Vec<Artifact>> {
    let mut by_path: BTreeMap<String, Artifact> = BTreeMap::new();
    for st in states {
        for a in st.artifacts.iter().filter(|a| {
            matches!(
                a.kind,
                ArtifactKind::Wheel | ArtifactKind::Sdist | ArtifactKind::CoreMetadata
            )
        }) {
            match by_path.get(&a.path) {
                Some(prev) if prev.digest != a.digest => bail!(
                    "{} comes from upstreams {} and {} with different bytes ({} vs {}); remove it from one of them",
                    a.path,
                    prev.upstream.as_deref().unwrap_or("?"),
                    a.upstream.as_deref().unwrap_or("?"),
                    prev.digest,
                    a.digest
                ),
                Some(_) => {}
                None => {
                    by_path.insert(a.path.clone(), a.clone());
                }
            }
        }
    }
    let mut projects: BTreeMap<String, Vec<&Artifact>> = BTreeMap::new();
    for a in by_path.values() {
        if !matches!(a.kind, ArtifactKind::Wheel | ArtifactKind::Sdist) {
            continue;
        }
        let project = a
            .path
            .strip_prefix("simple/")
            .and_then(|r| r.split_once('/'))
            .map(|(p, _)| p.to_owned())
            .ok_or_else(|| anyhow!("unexpected path {}", a.path))?;
        projects.entry(project).or_default().push(a);
    }
    let mut out: Vec<Artifact> = by_path.values().cloned().collect();
    let mut names = Vec::new();
    for (project, files) in &projects {
        let display = files
            .iter()
            .find_map(|a| a.meta.name.clone())
            .unwrap_or_else(|| project.clone());
        names.push(display.clone());
        let served: Vec<ServedFile> = files
            .iter()
            .map(|a| {
                let filename = a
                    .meta
                    .filename
                    .clone()
                    .unwrap_or_else(|| a.path.rsplit('/').next().unwrap_or("").to_owned());
                ServedFile {
                    href: filename.clone(),
                    filename,
                    sha256: a.digest.hex(),
                    requires_python: a.meta.requires_python.clone(),
                    yanked: a.meta.yanked.clone(),
                    core_metadata_sha256: a.meta.core_metadata.map(|d| d.hex()),
                    size: a.size,
                    upload_time: a.meta.upload_time.clone(),
                }
            })
            .collect();
        let html = simple::render_project_html(&display, &served);
        let json = simple::render_project_json(&display, &served);
        out.extend(simple_pages(
            cas,
            &format!("simple/{project}"),
            &html,
            &json,
        )?);
    }
    let html = simple::render_index_html(&names);
    let json = simple::render_index_json(&names);
    out.extend(simple_pages(cas, "simple", &html, &json)?);
    Ok(out)
}

/// The PEP 503 HTML and PEP 691 JSON renderings of one page, as `<dir>/index.html` and
/// `<dir>/index.json` (the server picks one by content negotiation).
fn simple_pages(cas: &Cas, dir: &str, html: &str, json: &[u8]) -> anyhow::Result<[Artifact; 2]> {
    Ok([
        put(
            cas,
            ArtifactKind::SimplePage,
            None,
            format!("{dir}/index.html"),
            html.as_bytes(),
            "text/html; charset=utf-8",
        )?,
        put(
            cas,
            ArtifactKind::SimplePage,
            None,
            format!("{dir}/index.json"),
            json,
            simple::JSON_MEDIA_TYPE,
        )?,
    ])
}

/// Copies one blob from the store onto the drive: temp file, sha256 checked while
/// copying (a store blob that rotted is caught here), fsync, rename.
fn copy_blob(
    cas: &Cas,
    digest: &Digest,
    size: u64,
    dst: &Path,
    progress: &Progress,
) -> anyhow::Result<()> {
    let src = cas.blob_path(digest);
    let mut input = std::fs::File::open(&src).with_context(|| {
        format!(
            "store blob {digest} is missing ({}); run `mirror-sync sync` again",
            src.display()
        )
    })?;
    let tmp = dst.with_extension("partial");
    let mut out =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut hasher = Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = input
            .read(&mut buf)
            .with_context(|| format!("read {}", src.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .with_context(|| format!("write {}", tmp.display()))?;
        progress.inc_done(n as u64);
    }
    let (got, len) = hasher.finish();
    if got != *digest || len != size {
        let _ = std::fs::remove_file(&tmp);
        bail!(
            "store blob {} no longer matches its name (got {got}, {len} bytes; expected {size}); remove it and run `mirror-sync sync` again",
            src.display()
        );
    }
    out.sync_all()
        .with_context(|| format!("fsync {}", tmp.display()))?;
    drop(out);
    std::fs::rename(&tmp, dst)
        .with_context(|| format!("rename {} -> {}", tmp.display(), dst.display()))?;
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("partial");
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("write {}", tmp.display()))?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path).with_context(|| format!("rename to {}", path.display()))?;
    Ok(())
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    store::cas::sync_dir(dir).with_context(|| format!("fsync {}", dir.display()))
}
