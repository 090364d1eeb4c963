//! The cut's rendering: what the server will serve, generated from the synced states. Per
//! APT upstream the `Packages` indexes (plain, gz, xz, and their by-hash copies), a
//! `Release`, and an `InRelease` and `Release.gpg` signed with the repository key; one
//! merged PEP 503 HTML and PEP 691 JSON simple index over every `[[pypi]]` upstream; for
//! `[[oci]]` upstreams one generated referrers index (`v2/<repo>/referrers/sha256:<hex>`)
//! per subject that has referrers, and the drive root's OCI image layout index.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, anyhow, bail};
use formats::apt::packages::compress_index;
use formats::apt::release::{ReleaseFields, render_release};
use formats::digest::Digest;
use formats::pypi::simple::{self, ServedFile};
use formats::snapshot::{Artifact, ArtifactKind, Meta};
use keys::openpgp::RepoSigningKey;
use store::Cas;

use crate::state::{AptIndexState, UpstreamState};

pub(super) fn put(
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
pub(super) fn render_apt(
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
            not_automatic: info.not_automatic,
            but_automatic_upgrades: info.but_automatic_upgrades,
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
pub(super) fn render_simple(cas: &Cas, states: &[&UpstreamState]) -> anyhow::Result<Vec<Artifact>> {
    let mut by_path: BTreeMap<String, Artifact> = BTreeMap::new();
    for st in states {
        merge_by_path(
            &mut by_path,
            st.artifacts.iter().filter(|a| {
                matches!(
                    a.kind,
                    ArtifactKind::Wheel | ArtifactKind::Sdist | ArtifactKind::CoreMetadata
                )
            }),
            "remove it from one of them",
        )?;
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

/// Adds the artifacts of one OCI upstream to `into` (keyed by path). Two upstreams may
/// mirror the same repository (same registry); equal paths must then have equal bytes.
/// Referrers indexes are left out: export generates them from the whole snapshot.
pub(super) fn merge_oci(
    into: &mut BTreeMap<String, Artifact>,
    artifacts: &[Artifact],
) -> anyhow::Result<()> {
    merge_by_path(
        into,
        artifacts
            .iter()
            .filter(|a| a.kind != ArtifactKind::OciReferrers),
        "a tag moved between their syncs: sync both again",
    )
}

/// Adds `artifacts` to `into` keyed by path. The same path from two upstreams must carry
/// the same bytes; otherwise the error names both and ends with `remedy`.
fn merge_by_path<'a>(
    into: &mut BTreeMap<String, Artifact>,
    artifacts: impl Iterator<Item = &'a Artifact>,
    remedy: &str,
) -> anyhow::Result<()> {
    for a in artifacts {
        match into.get(&a.path) {
            Some(prev) if prev.digest != a.digest => bail!(
                "{} comes from upstreams {} and {} with different bytes ({} vs {}); {remedy}",
                a.path,
                prev.upstream.as_deref().unwrap_or("?"),
                a.upstream.as_deref().unwrap_or("?"),
                prev.digest,
                a.digest
            ),
            Some(_) => {}
            None => {
                into.insert(a.path.clone(), a.clone());
            }
        }
    }
    Ok(())
}

/// A generated file: (logical path, upstream it belongs to, bytes).
pub type GeneratedIndex = (String, Option<String>, Vec<u8>);

/// Splits `v2/<repo>/manifests/<reference>` into (`<repo>`, `<reference>`).
fn split_manifest_path(path: &str) -> Option<(&str, &str)> {
    path.strip_prefix("v2/")?.rsplit_once("/manifests/")
}

/// The generated referrers indexes (distribution-spec §Listing Referrers) of a set of OCI
/// artifacts: for each repository and each subject digest that some `oci-manifest` of that
/// repository names in `meta.subject` (an OCI 1.1 `subject`, or the image a cosign
/// `sha256-<hex>.sig/.att/.sbom` tag belongs to), one OCI image index at
/// `v2/<repo>/referrers/sha256:<hex>` listing those manifests' descriptors: `mediaType`,
/// `digest`, `size`, `artifactType` (`meta.artifact_type`, else the manifest's
/// `artifactType`, else its config media type) and the manifest's `annotations`.
///
/// `read_manifest` returns a manifest's bytes by digest (annotations are read from them).
/// Returns (logical path, upstream of the first referrer, index bytes), sorted by path.
///
/// Errors: a manifest that cannot be read or parsed.
pub fn referrers_indexes(
    artifacts: &[Artifact],
    read_manifest: impl Fn(&Digest) -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<Vec<GeneratedIndex>> {
    let mut groups: BTreeMap<(String, Digest), (Option<String>, Vec<formats::oci::Descriptor>)> =
        BTreeMap::new();
    let mut seen: BTreeSet<(String, Digest, Digest)> = BTreeSet::new();
    for a in artifacts {
        if a.kind != ArtifactKind::OciManifest {
            continue;
        }
        let Some(subject) = a.meta.subject else {
            continue;
        };
        let Some((repo, _)) = split_manifest_path(&a.path) else {
            bail!(
                "{}: not a v2/<repository>/manifests/<reference> path",
                a.path
            );
        };
        if !seen.insert((repo.to_owned(), subject, a.digest)) {
            continue;
        }
        let bytes = read_manifest(&a.digest)
            .with_context(|| format!("cannot read manifest {} ({})", a.digest, a.path))?;
        let parsed = formats::oci::parse_manifest(&bytes, a.media_type.as_deref())
            .with_context(|| format!("manifest {} ({})", a.digest, a.path))?;
        let mut d = formats::oci::Descriptor::new(
            a.media_type
                .clone()
                .unwrap_or_else(|| parsed.media_type.clone()),
            a.digest,
            a.size,
        );
        d.artifact_type = a
            .meta
            .artifact_type
            .clone()
            .or_else(|| parsed.artifact_type.clone())
            .or_else(|| parsed.config.as_ref().map(|c| c.media_type.clone()));
        d.annotations = parsed.annotations.clone();
        let e = groups
            .entry((repo.to_owned(), subject))
            .or_insert_with(|| (a.upstream.clone(), Vec::new()));
        e.1.push(d);
    }
    groups
        .into_iter()
        .map(|((repo, subject), (upstream, descs))| {
            let path = format!("v2/{repo}/referrers/{subject}");
            formats::path::validate(&path)?;
            Ok((path, upstream, formats::oci::render_referrers_index(&descs)))
        })
        .collect()
}

/// The `index.json` of the drive as an OCI image layout (image-spec §Image Layout): one
/// descriptor (media type, digest, size of the manifest it names) per `oci-tag` artifact,
/// annotated with `org.opencontainers.image.ref.name` = `meta.reference` (the full
/// reference with the original registry host, `docker.io/library/ubuntu:24.04`; derived
/// from the path when absent). `None` when there is no tag.
///
/// Errors: a tag artifact whose path is not `v2/<repo>/manifests/<tag>`.
pub fn layout_index(artifacts: &[Artifact]) -> anyhow::Result<Option<Vec<u8>>> {
    let mut entries = Vec::new();
    for a in artifacts.iter().filter(|a| a.kind == ArtifactKind::OciTag) {
        let reference = match &a.meta.reference {
            Some(r) => r.clone(),
            None => {
                let (repo, tag) = split_manifest_path(&a.path).ok_or_else(|| {
                    anyhow!("{}: not a v2/<repository>/manifests/<tag> path", a.path)
                })?;
                match formats::oci::split_served_name(repo) {
                    Some((registry, path)) => format!("{registry}/{path}:{tag}"),
                    None => format!("{repo}:{tag}"),
                }
            }
        };
        let media_type = a
            .media_type
            .clone()
            .unwrap_or_else(|| formats::oci::OCI_MANIFEST.to_owned());
        entries.push((
            formats::oci::Descriptor::new(media_type, a.digest, a.size),
            reference,
        ));
    }
    if entries.is_empty() {
        return Ok(None);
    }
    Ok(Some(formats::oci::render_layout_index(&entries)))
}
