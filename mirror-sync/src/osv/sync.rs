//! Step 2 of the `[[osv]]` upstreams: fetch each ecosystem's export, check it, store it
//! ([`sync`]).

use formats::osv;
use formats::snapshot::{Artifact, ArtifactKind, Meta, Source, SourceKind};
use serde::Serialize;

use super::OsvUpstream;
use crate::fetch::{Fetcher, base_url, join, redact};
use crate::state::UpstreamState;

/// What one `[[osv]]` upstream's sync did.
#[derive(Debug, Clone, Serialize)]
pub struct OsvReport {
    /// The upstream's name.
    pub name: String,
    /// Per ecosystem: its records, withdrawn records and newest `modified` time.
    pub ecosystems: Vec<EcosystemReport>,
    /// Bytes of the exports together.
    pub bytes: u64,
}

/// One ecosystem's export, as synced.
#[derive(Debug, Clone, Serialize)]
pub struct EcosystemReport {
    /// The OSV ecosystem.
    pub ecosystem: String,
    /// Records in the export.
    pub records: u64,
    /// Withdrawn records among them.
    pub withdrawn: u64,
    /// The newest record's `modified` time (how fresh the data is).
    pub newest_modified: Option<String>,
    /// The export's size in bytes.
    pub bytes: u64,
    /// False when the upstream answered `304 Not Modified` (the stored export is kept).
    pub changed: bool,
}

/// Fetches `<url>/<ecosystem>/all.zip` for every ecosystem of `up` (a conditional GET
/// when the store holds an earlier answer), refuses an export that is not a readable OSV
/// archive, and returns the upstream's new state (one `osv` artifact per ecosystem, the
/// exact upstream bytes) with a report.
///
/// Errors: a bad URL, an HTTP failure (404 included: the ecosystem is not published
/// there), an export over [`osv::MAX_ARCHIVE_BYTES`], or one that does not parse
/// ([`osv::parse_archive`]); each names the ecosystem and the URL. The previous state is
/// then kept (the caller writes nothing).
pub async fn sync(
    fetcher: &Fetcher,
    up: &OsvUpstream,
) -> anyhow::Result<(UpstreamState, OsvReport)> {
    let base = base_url(&up.url)?;
    let mut artifacts = Vec::new();
    let mut report = OsvReport {
        name: up.name.clone(),
        ecosystems: Vec::new(),
        bytes: 0,
    };
    for eco in &up.ecosystems {
        // `./` keeps `Debian:12` from reading as a URL scheme.
        let url = join(&base, &format!("./{eco}/{}", osv::ARCHIVE_FILE))?;
        let shown = redact(&url);
        let got = fetcher
            .get_revalidated(&url, None, osv::MAX_ARCHIVE_BYTES)
            .await?
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "[[osv]] {}: {eco}: GET {shown}: HTTP 404 Not Found (is {eco:?} an ecosystem the upstream publishes?)",
                    up.name
                )
            })?;
        let bytes = &got.doc.body;
        let db = osv::parse_archive(bytes).map_err(|e| {
            anyhow::anyhow!(
                "[[osv]] {}: {eco}: {shown} is not an OSV export: {e}",
                up.name
            )
        })?;
        let path = osv::archive_path(&up.name, eco);
        formats::path::validate(&path)?;
        artifacts.push(Artifact {
            kind: ArtifactKind::Osv,
            upstream: Some(up.name.clone()),
            path,
            digest: got.digest,
            size: bytes.len() as u64,
            media_type: Some(osv::ARCHIVE_MEDIA_TYPE.into()),
            meta: Meta {
                name: Some(eco.clone()),
                upstream_url: Some(shown),
                ..Meta::default()
            },
        });
        report.bytes += bytes.len() as u64;
        report.ecosystems.push(EcosystemReport {
            ecosystem: eco.clone(),
            records: db.records.len() as u64,
            withdrawn: db.withdrawn,
            newest_modified: db.newest_modified,
            bytes: bytes.len() as u64,
            changed: !got.not_modified,
        });
    }
    let state = UpstreamState {
        name: up.name.clone(),
        synced_at: crate::now_rfc3339(),
        source: Source::new(&up.name, SourceKind::Osv, &redact(&base)),
        artifacts,
        apt_indexes: Vec::new(),
        apt_suites: Vec::new(),
    };
    Ok((state, report))
}
