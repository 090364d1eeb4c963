//! Step 4 of the OCI upstreams, the render: the artifacts of every `[[oci]]` upstream
//! merged by path ([`merge_oci`]), one generated referrers index
//! (`v2/<repo>/referrers/sha256:<hex>`) per subject that has referrers
//! ([`referrers_indexes`]), and the drive root's OCI image layout index
//! ([`layout_index`]). They span the whole snapshot, so the export calls them when it cuts
//! (`export/cut.rs`) and plans the drive (`export/plan.rs`, one volume only).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, anyhow, bail};
use formats::digest::Digest;
use formats::snapshot::{Artifact, ArtifactKind};

use crate::render::merge_by_path;

/// Adds the artifacts of one OCI upstream to `into` (keyed by path). Two upstreams may
/// mirror the same repository (same registry); equal paths must then have equal bytes.
/// Referrers indexes are left out: export generates them from the whole snapshot.
pub fn merge_oci(
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
