//! Steps 2 and 3 for one file, [`keep_file`]: download it into the store checked against
//! its sha256, and record its core metadata from the wheel itself.

use std::collections::HashSet;

use anyhow::anyhow;
use formats::digest::Digest;
use formats::pypi::filename::DistFilename;
use formats::pypi::metadata::CoreMetadata;
use formats::snapshot::{Artifact, ArtifactKind, Meta};
use store::Expected;

use super::pages::extract_metadata;
use super::pages::license_of;
use super::selection::Job;
use crate::fetch::{Fetcher, redact};

/// Figures of one PyPI upstream's sync, for the summary.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
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

/// What [`keep_file`] gives: the file's artifacts and an optional warning.
pub(super) type Kept = (Vec<Artifact>, Option<String>);

/// Downloads one kept file and builds its artifacts (the file, and its core metadata).
///
/// The download is checked against `job.sha256` (the index's or the lock file's); a file
/// in `fetched_now` (downloaded whole in this sync to read its metadata) is taken from
/// the store without another request or count.
pub(super) async fn keep_file(
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
            supplier: parsed_meta.as_ref().and_then(|m| m.supplier()),
            depends: parsed_meta.map(|m| m.requires_dist).unwrap_or_default(),
            ..Meta::default()
        },
    });
    Ok((out, warning))
}
