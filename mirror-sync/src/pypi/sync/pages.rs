//! Project pages (PEP 503/691) and core metadata (PEP 658/714 sidecars, the store, or the
//! file itself), as the solver of step 1 and the check of step 3 read them.

use std::io::Read as _;

use anyhow::{Context, anyhow, bail};
use formats::digest::Digest;
use formats::pypi::filename::DistFilename;
use formats::pypi::metadata::CoreMetadata;
use formats::pypi::simple::{self, CoreMetadataRef, FileEntry, ProjectPage};
use formats::snapshot::{Artifact, ArtifactKind, Meta};
use pep440_rs::Version;
use store::{Cas, Expected};
use url::Url;

use crate::fetch::{self, Fetcher, redact};
use crate::pypi::select::{self, FilePolicy, Target};

/// `Accept` sent for project pages: PEP 691 JSON preferred, HTML accepted.
pub const ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

/// Largest core metadata accepted (bytes).
pub const MAX_METADATA: u64 = 16 * 1024 * 1024;
/// Largest project page accepted (bytes).
pub const MAX_PAGE: u64 = 128 * 1024 * 1024;

/// A project page as fetched: the parsed page, the parsed file names (same order;
/// `None` for names that do not parse) and the provenance artifact of the page itself.
pub struct Page {
    /// The parsed page.
    pub page: ProjectPage,
    /// `DistFilename::parse` of each file, in page order.
    pub parsed: Vec<Option<DistFilename>>,
    pub(super) provenance: Artifact,
}

/// The URL of `project`'s page (normalized name) on the index at `base`: `<base><project>/`
/// (PEP 503). Errors: the result is not an http(s) URL.
pub fn page_url(base: &Url, project: &str) -> anyhow::Result<Url> {
    fetch::join(base, &format!("{project}/"))
}

/// Fetches the page of `project` from one index. `Ok(None)` when the index has no such
/// project (404/410). The page's bytes go into the store (provenance). The request is
/// conditional when the store holds an earlier copy ([`Fetcher::get_revalidated`]).
///
/// Errors: another failure status, a transport failure after the retries, a page that
/// does not parse.
pub async fn fetch_page(
    f: &Fetcher,
    base: &Url,
    project: &str,
    upstream: &str,
) -> anyhow::Result<Option<Page>> {
    let url = page_url(base, project)?;
    // Conditional when the store holds the page (a 304 costs no body); kept in the store.
    let Some(fetch::Revalidated { doc, digest, .. }) =
        f.get_revalidated(&url, Some(ACCEPT), MAX_PAGE).await?
    else {
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
    pub(super) sidecar: Option<(String, Vec<u8>)>,
    /// Bytes downloaded in this sync to get it (0 when the store had it).
    pub fetched_bytes: u64,
    /// The file downloaded whole to read it, when that was needed (its digest).
    pub downloaded: Option<Digest>,
}

pub(super) fn sha256_of(fe: &FileEntry) -> Option<&str> {
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
pub(super) async fn stored_metadata(
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
    let file = store::SeekableBlob::open(cas, digest)
        .with_context(|| format!("{filename}: the stored file"))?;
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

/// The license a release states: `License-Expression` (Metadata 2.4), else a short
/// one-line `License` field (long ones are usually the whole license text).
pub(super) fn license_of(m: &CoreMetadata) -> Option<String> {
    m.license_expression.clone().or_else(|| {
        m.license
            .as_deref()
            .map(str::trim)
            .filter(|l| !l.is_empty() && l.len() <= 100 && !l.contains('\n'))
            .map(str::to_owned)
    })
}
