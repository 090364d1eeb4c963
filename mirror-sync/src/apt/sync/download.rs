//! Phase 3, [`download`]: an upstream's selected `.deb`s streamed into the store, checked
//! against their `Packages` entries.

use std::collections::HashMap;

use anyhow::{Context, bail};
use formats::digest::Digest;
use formats::snapshot::{Artifact, ArtifactKind, Meta, Source, SourceKind};
use futures_util::StreamExt as _;
use store::Expected;

use super::select::Selection;
use super::universe::AptUniverse;
use crate::apt::resolve::Entry;
use crate::config::Config;
use crate::fetch::{self, Fetcher, redact};
use crate::state::{AptIndexState, UpstreamState};

/// Media type served for `.deb` files.
pub const DEB_MEDIA_TYPE: &str = "application/vnd.debian.binary-package";

/// Figures of one APT upstream's sync, for the summary.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AptReport {
    /// Upstream name.
    pub name: String,
    /// Entries read from the upstream indexes.
    pub candidates: usize,
    /// Packages selected from this upstream (after the dependency closure over the
    /// universe of all APT upstreams).
    pub selected: usize,
    /// Unique `.deb` files.
    pub files: usize,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Dependencies of this upstream's selected packages that no source satisfies (the
    /// selection is not closed there), each with the chain that needs it.
    pub unsatisfied: Vec<String>,
    /// Fingerprints of the upstream keys whose signatures verified.
    pub signers: Vec<String>,
    /// Those of `signers` accepted only through a SHA-1 key binding (an old upstream key;
    /// see `keys::openpgp`), recorded in the snapshot's source for reviewers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sha1_bound_signers: Vec<String>,
}

/// Reads the license of downloaded debs from their copyright files
/// ([`crate::apt::deb_archive`], [`formats::apt::copyright`]), at most one per CPU at a
/// time (each holds a decompressor), reusing what the previous sync read for a digest.
struct LicenseReader<'a> {
    cas: std::sync::Arc<store::Cas>,
    known: &'a HashMap<Digest, String>,
    permits: tokio::sync::Semaphore,
}

impl<'a> LicenseReader<'a> {
    fn new(cas: std::sync::Arc<store::Cas>, known: &'a HashMap<Digest, String>) -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        LicenseReader {
            cas,
            known,
            permits: tokio::sync::Semaphore::new(cpus),
        }
    }

    /// The SPDX license expression of the deb `digest` (package `package`): `Ok(Ok(x))`,
    /// `x` `None` when its copyright file names no license this can read; `Ok(Err(other))`
    /// when its documentation links to the package `other`'s, whose license applies.
    async fn license(
        &self,
        digest: Digest,
        package: &str,
    ) -> anyhow::Result<Result<Option<String>, String>> {
        use crate::apt::deb_archive::{Copyright, copyright};
        if let Some(l) = self.known.get(&digest) {
            return Ok(Ok(Some(l.clone())));
        }
        let _permit = self.permits.acquire().await?;
        let cas = self.cas.clone();
        let package = package.to_owned();
        tokio::task::spawn_blocking(move || {
            let reader = cas.reader(&digest)?;
            Ok(match copyright(reader, &package)? {
                Copyright::Text(t) => Ok(formats::apt::copyright::license_expression(&t)),
                Copyright::LinkedTo(other) => Err(other),
                Copyright::Absent => Ok(None),
            })
        })
        .await?
    }
}

/// Gives each deb whose documentation links to another package's the license of that
/// package among `artifacts` (Debian Policy §12.5), for the `linked` (logical path,
/// package) pairs; one whose package is not among them keeps no license.
fn fill_linked_licenses(artifacts: &mut [Artifact], linked: &[(String, String)]) {
    let by_name: HashMap<String, String> = artifacts
        .iter()
        .filter_map(|a| Some((a.meta.name.clone()?, a.meta.license.clone()?)))
        .collect();
    let linked: HashMap<&str, &str> = linked
        .iter()
        .map(|(p, o)| (p.as_str(), o.as_str()))
        .collect();
    for a in artifacts.iter_mut() {
        if let Some(l) = linked.get(a.path.as_str()).and_then(|o| by_name.get(*o)) {
            a.meta.license = Some(l.clone());
        }
    }
}

/// How a selected `.deb` is expected in the store: its sha256 (from the index, or for
/// a SHA512-only entry from `known_sha512` of the previous sync), size and sha512
/// (lowercase hex, for an entry without SHA256).
pub fn expected_of(
    e: Entry<'_>,
    file: &str,
    known_sha512: &HashMap<(String, String), Digest>,
) -> Expected {
    let sha512_hex = e.sha512_hex();
    let digest = match (e.sha256(), &sha512_hex) {
        (Some(d), _) => Some(d),
        (None, Some(h512)) => known_sha512.get(&(file.to_owned(), h512.clone())).copied(),
        (None, None) => None,
    };
    Expected {
        digest,
        size: Some(e.size()),
        sha512_hex,
    }
}

/// Phase 3 for the upstream at `k` in [`AptUniverse::upstreams`]: downloads its
/// selected `.deb`s into the store and returns the state `export` needs.
///
/// Errors name the upstream, the URL and what did not verify. Files already verified
/// into the store stay there, so re-running resumes.
///
/// `previous` is this upstream's last successful sync: entries that list only SHA512
/// (no SHA256, as NVIDIA's container-toolkit repository does) are matched against it so
/// that a file already verified into the store is not downloaded again.
pub async fn download(
    f: &Fetcher,
    cfg: &Config,
    uni: &AptUniverse,
    sel: &Selection,
    k: usize,
    previous: Option<&UpstreamState>,
) -> anyhow::Result<(UpstreamState, AptReport)> {
    let fu = &uni.upstreams[k];
    let us = &sel.upstreams[k];
    let up = &cfg.apt[fu.config_index];
    if let Some(e) = &us.error {
        bail!("{e}");
    }
    let base = &fu.base;
    let known_sha512 = previous
        .map(|p| sha512_digests(p, &up.name))
        .unwrap_or_default();
    // The selected stanzas, one index decompressed at a time.
    let mut stanza_text: HashMap<usize, String> = HashMap::new();
    for (&n, entries) in &us.stanzas {
        for (i, text) in uni
            .stanzas_of(f.cas(), n, entries)
            .with_context(|| format!("[[apt]] {}", up.name))?
        {
            stanza_text.insert(i, text);
        }
    }
    f.progress().phase(&format!("{}: downloading", up.name));
    let total: u64 = us
        .by_file
        .values()
        .map(|&i| uni.entries.entry(i).size())
        .sum();
    f.progress().add_total_files(us.by_file.len() as u64, total);
    let mut jobs = Vec::new();
    for (file, &i) in &us.by_file {
        let e = uni.entries.entry(i);
        let o = uni.origin(i);
        let url = fetch::join(base, file)?;
        let path = formats::path::join(&format!("apt/{}", up.name), file).with_context(|| {
            format!(
                "[[apt]] {}: package {} has an unsafe Filename",
                up.name,
                e.name()
            )
        })?;
        let expected = expected_of(e, file, &known_sha512);
        let stanza = formats::deb822::parse(stanza_text.get(&i).map_or("", String::as_str))
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_default();
        let depends = ["Pre-Depends", "Depends"]
            .iter()
            .filter_map(|k| stanza.get(k))
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        let meta = Meta {
            name: Some(e.name().to_owned()),
            version: Some(e.version().to_owned()),
            architecture: Some(e.architecture().to_owned()),
            suite: o.suite.clone(),
            component: o.component.clone(),
            upstream_url: Some(redact(&url)),
            depends,
            supplier: stanza.get("Maintainer").map(|m| m.trim().to_owned()),
            source: stanza
                .get("Source")
                .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" ")),
            ..Meta::default()
        };
        jobs.push((
            url,
            expected,
            path,
            meta,
            format!("{}_{}", e.name(), e.version()),
        ));
    }
    // Licenses read from the debs at the last sync, by digest: not read again.
    let known_licenses: HashMap<Digest, String> = previous
        .map(|p| {
            p.artifacts
                .iter()
                .filter(|a| a.kind == ArtifactKind::Deb)
                .filter_map(|a| a.meta.license.clone().map(|l| (a.digest, l)))
                .collect()
        })
        .unwrap_or_default();
    let licenses = LicenseReader::new(f.cas().clone(), &known_licenses);
    let licenses = &licenses;
    let results: Vec<anyhow::Result<(Artifact, Option<String>)>> = futures_util::stream::iter(jobs)
        .map(|(url, expected, path, mut meta, label)| async move {
            let (digest, size) = f.fetch_to_store(&url, &expected, &label).await?;
            let mut linked = None;
            match licenses.license(digest, meta.name.as_deref().unwrap_or_default()).await {
                Ok(Ok(l)) => meta.license = l,
                Ok(Err(other)) => linked = Some(other),
                Err(e) => f.progress().println(&format!(
                    "warning: [[apt]] {}: {label}: no license read from the package ({e:#}); the SBOM says NOASSERTION",
                    up.name
                )),
            }
            Ok((Artifact {
                kind: ArtifactKind::Deb,
                upstream: Some(up.name.clone()),
                path,
                digest,
                size,
                media_type: Some(DEB_MEDIA_TYPE.into()),
                meta,
            }, linked))
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let mut artifacts = Vec::with_capacity(results.len() + fu.provenance.len());
    let mut linked = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok((a, l)) => {
                if let Some(other) = l {
                    linked.push((a.path.clone(), other));
                }
                artifacts.push(a)
            }
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    fill_linked_licenses(&mut artifacts, &linked);
    if !errors.is_empty() {
        let n = errors.len();
        errors.truncate(5);
        bail!(
            "[[apt]] {}: {n} of {} downloads failed (verified files are kept; re-run to resume):\n  {}",
            up.name,
            us.by_file.len(),
            errors.join("\n  ")
        );
    }
    artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    artifacts.extend(fu.provenance.iter().cloned());

    let report = AptReport {
        name: up.name.clone(),
        candidates: fu.candidates,
        selected: us.selected,
        files: us.by_file.len(),
        bytes: total,
        unsatisfied: us.unsatisfied.clone(),
        signers: fu.signers.iter().cloned().collect(),
        sha1_bound_signers: fu.sha1_bound.iter().cloned().collect(),
    };
    // Every index of the upstream is served, also those none of whose entries is
    // selected (an empty Packages), so the served suite has the layout it promises.
    let apt_indexes = uni
        .indexes
        .iter()
        .enumerate()
        .filter(|(_, o)| o.upstream == k)
        .map(|(n, o)| AptIndexState {
            suite: o.suite.clone(),
            component: o.component.clone(),
            architecture: o.architecture.clone(),
            stanzas: us
                .stanzas
                .get(&(n as u32))
                .map(|v| {
                    v.iter()
                        .filter_map(|i| stanza_text.get(i).cloned())
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    let state = UpstreamState {
        name: up.name.clone(),
        synced_at: crate::now_rfc3339(),
        source: Source {
            name: up.name.clone(),
            kind: SourceKind::Apt,
            url: redact(base),
            flat: up.flat,
            suites: up.suites.clone(),
            components: up.components.clone(),
            architectures: up.architectures.clone(),
            upstream_signers: report.signers.clone(),
            repo_signer: None,
            registry: None,
            origin: fu.suites_info.iter().find_map(|s| s.origin.clone()),
            distro: up.target_distro.clone().or_else(|| {
                fu.suites_info.iter().find_map(|s| {
                    crate::apt::config::distro_of(s.origin.as_deref(), s.version.as_deref())
                })
            }),
            upstream_keyring: fu
                .keyring_path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned()),
            upstream_sha1_bound_signers: report.sha1_bound_signers.clone(),
        },
        artifacts,
        apt_indexes,
        apt_suites: fu.suites_info.clone(),
    };
    Ok((state, report))
}

/// `(file name, sha512)` → sha256 digest of every `.deb` of a previous sync whose
/// stanza lists a SHA512.
pub fn sha512_digests(prev: &UpstreamState, name: &str) -> HashMap<(String, String), Digest> {
    let by_path: HashMap<&str, Digest> = prev
        .artifacts
        .iter()
        .filter(|a| a.kind == ArtifactKind::Deb)
        .map(|a| (a.path.as_str(), a.digest))
        .collect();
    let mut out = HashMap::new();
    for stanza in prev.apt_indexes.iter().flat_map(|i| &i.stanzas) {
        let Ok(paras) = formats::deb822::parse(stanza) else {
            continue;
        };
        let Some(p) = paras.first() else { continue };
        let (Some(file), Some(h)) = (p.get("Filename"), p.get("SHA512")) else {
            continue;
        };
        let file = file.trim_start_matches("./");
        if let Some(d) = by_path.get(format!("apt/{name}/{file}").as_str()) {
            out.insert((file.to_owned(), h.trim().to_ascii_lowercase()), *d);
        }
    }
    out
}
