//! Phase 1, [`fetch_universe`]: every `[[apt]]` upstream's `InRelease` (or `Release` +
//! `Release.gpg`) verified against its keyring, every index checked against the Release
//! hashes, the parsed entries of all upstreams as one [`AptUniverse`].

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use formats::apt::packages::{PackageEntry, decompress_index, for_each_package};
use formats::apt::release::{HashKind, IndexEntry, Release, parse_date};
use formats::deb822::Paragraph;
use formats::digest::Digest;
use formats::snapshot::{Artifact, ArtifactKind, Meta};
use keys::openpgp::Keyring;
use url::Url;

use crate::apt::resolve::{self};
use crate::config::{AptUpstream, Config};
use crate::fetch::{self, Fetcher, MAX_INDEX_BYTES, redact};
use crate::state::{AptIndexState, AptSuiteInfo};

use super::cached::{Doc, release_file, stored_index};

/// Largest decompressed `Packages` index accepted (bytes); bigger is treated as a bomb.
pub const MAX_PACKAGES_TEXT: u64 = 2 * 1024 * 1024 * 1024;

/// Where one `Packages` index of the universe came from.
#[derive(Debug, Clone)]
pub(super) struct IndexOrigin {
    /// Position in [`AptUniverse::upstreams`].
    pub(super) upstream: usize,
    pub(super) suite: Option<String>,
    pub(super) component: Option<String>,
    pub(super) architecture: Option<String>,
    /// apt's pin priority of the suite ([`resolve::release_priority`]).
    pub(super) priority: i32,
}

/// One upstream's verified Release files and indexes (phase 1).
#[derive(Debug)]
pub struct FetchedUpstream {
    /// Position of the upstream in [`Config::apt`].
    pub config_index: usize,
    pub(super) base: Url,
    pub(super) keyring_path: PathBuf,
    /// Release files and indexes as provenance artifacts (empty for a plan).
    pub(super) provenance: Vec<Artifact>,
    pub(super) suites_info: Vec<AptSuiteInfo>,
    pub(super) signers: BTreeSet<String>,
    pub(super) sha1_bound: BTreeSet<String>,
    /// Entries read from its indexes.
    pub candidates: usize,
}

/// The verified indexes of every fetched APT upstream (phase 1): one universe.
///
/// Memory: each entry keeps only its parsed fields (no paragraph) and its stanza is a
/// byte range into its index's text. The decompressed texts are not kept: each index is
/// kept as fetched (compressed, a tenth of the text for `Packages.xz`) and decompressed
/// again, one at a time, when phase 3 copies the selected stanzas out of it. A plan
/// keeps no index bytes at all.
#[derive(Debug, Default)]
pub struct AptUniverse {
    /// The entries of every index, upstream by upstream in config order.
    pub entries: Vec<PackageEntry>,
    /// For each entry, its index (position in `indexes`).
    pub(super) index_of: Vec<u32>,
    /// For each entry, its stanza's byte range in its index's text.
    ranges: Vec<Range<usize>>,
    /// Each index as fetched (`Packages.xz`, `.gz` or plain), with its path (which says
    /// the compression); empty bytes when not kept (a plan).
    raw: Vec<(String, bytes::Bytes)>,
    pub(super) indexes: Vec<IndexOrigin>,
    /// The upstreams that verified, in config order.
    pub upstreams: Vec<FetchedUpstream>,
}

impl AptUniverse {
    /// The stanzas (exactly as upstream wrote them, no trailing blank line) of the
    /// `wanted` entries, all of index `n`, decompressing the index once.
    ///
    /// Errors: the index was not kept (a plan), or no longer decompresses to the text the
    /// entries were parsed from.
    pub(super) fn stanzas_of(
        &self,
        n: u32,
        wanted: &[usize],
    ) -> anyhow::Result<Vec<(usize, String)>> {
        let (path, bytes) = &self.raw[n as usize];
        anyhow::ensure!(
            !bytes.is_empty() || wanted.is_empty(),
            "index {path} was not kept"
        );
        let text = decompress_index(path, bytes, MAX_PACKAGES_TEXT)
            .with_context(|| format!("index {path}"))?;
        wanted
            .iter()
            .map(|&i| {
                let s = text
                    .get(self.ranges[i].clone())
                    .ok_or_else(|| anyhow!("index {path} changed in memory"))?;
                Ok((i, s.trim_end().to_owned()))
            })
            .collect()
    }

    pub(super) fn origin(&self, i: usize) -> &IndexOrigin {
        &self.indexes[self.index_of[i] as usize]
    }
}

/// Phase 1 for every `[[apt]]` upstream: fetch and verify its Release files and
/// indexes, and parse them into one [`AptUniverse`]. With `store` the Release files and
/// indexes go into the store (provenance); without (a plan), nothing is written.
///
/// Returns the universe of the upstreams that verified and, for each that did not, its
/// name and the error (naming the URL and what did not verify).
pub async fn fetch_universe(
    f: &Fetcher,
    cfg: &Config,
    store: bool,
) -> (AptUniverse, Vec<(String, anyhow::Error)>) {
    let mut uni = AptUniverse::default();
    let mut failed = Vec::new();
    for (k, up) in cfg.apt.iter().enumerate() {
        let mark = (uni.entries.len(), uni.raw.len(), uni.indexes.len());
        if let Err(e) = fetch_upstream(f, cfg, k, up, store, &mut uni).await {
            uni.entries.truncate(mark.0);
            uni.index_of.truncate(mark.0);
            uni.ranges.truncate(mark.0);
            uni.raw.truncate(mark.1);
            uni.indexes.truncate(mark.2);
            failed.push((up.name.clone(), e));
        }
    }
    (uni, failed)
}

/// Phase 1 for one upstream, appending to `uni` (on error the caller rolls back).
pub(super) async fn fetch_upstream(
    f: &Fetcher,
    cfg: &Config,
    config_index: usize,
    up: &AptUpstream,
    store: bool,
    uni: &mut AptUniverse,
) -> anyhow::Result<()> {
    let keyring_path = cfg.resolve(&up.keyring);
    let keyring = Keyring::load(&keyring_path).with_context(|| {
        format!(
            "[[apt]] {}: cannot load keyring {}",
            up.name,
            keyring_path.display()
        )
    })?;
    let base = fetch::base_url(&up.url)?;
    let upstream_pos = uni.upstreams.len();
    let first_entry = uni.entries.len();
    let mut provenance: Vec<Artifact> = Vec::new();
    let mut suites_info = Vec::new();
    let mut signers = BTreeSet::new();
    let mut sha1_bound = BTreeSet::new();

    let dists: Vec<Option<String>> = if up.flat {
        vec![None]
    } else {
        up.suites.iter().cloned().map(Some).collect()
    };
    for dist in &dists {
        let (dir, prov_prefix) = match dist {
            Some(s) => (
                fetch::join(&base, &format!("dists/{s}/"))?,
                format!("provenance/apt/{}/dists/{s}", up.name),
            ),
            None => (base.clone(), format!("provenance/apt/{}", up.name)),
        };
        let what = dist
            .as_deref()
            .map(|s| format!("suite {s}"))
            .unwrap_or_else(|| "flat repository".into());
        f.progress().phase(&format!("{}: {what}", up.name));
        let verified = fetch_release(
            f,
            &keyring,
            &keyring_path,
            &dir,
            &prov_prefix,
            &up.name,
            store,
        )
        .await
        .with_context(|| format!("[[apt]] {} {what}", up.name))?;
        signers.extend(verified.signers.iter().cloned());
        for fp in &verified.sha1_bound {
            if sha1_bound.insert(fp.clone()) {
                f.progress().println(&format!(
                    "warning: [[apt]] {}: upstream key {fp} is bound with SHA-1 (an old key; accepted, and recorded in the snapshot)",
                    up.name
                ));
            }
        }
        provenance.extend(verified.artifacts);
        let release = verified.release;
        if let Some(vu) = release.valid_until() {
            match parse_date(vu) {
                Some(t) if t < chrono::Utc::now() => bail!(
                    "[[apt]] {} {what}: the upstream Release expired at {vu} (Valid-Until); the upstream mirror is stale, pick a fresher one",
                    up.name
                ),
                Some(_) => {}
                None => bail!("[[apt]] {} {what}: unreadable Valid-Until {vu:?}", up.name),
            }
        }
        let p = &release.paragraph;
        let yes = |k: &str| {
            p.get(k)
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("yes"))
        };
        let priority = resolve::release_priority(yes("NotAutomatic"), yes("ButAutomaticUpgrades"));
        suites_info.push(AptSuiteInfo {
            dist: dist.clone(),
            origin: p.get("Origin").map(str::to_owned),
            label: p.get("Label").map(str::to_owned),
            suite: p.get("Suite").map(str::to_owned),
            codename: p.get("Codename").map(str::to_owned),
            version: p.get("Version").map(str::to_owned),
            description: p.get("Description").map(str::to_owned),
            not_automatic: yes("NotAutomatic"),
            but_automatic_upgrades: yes("ButAutomaticUpgrades"),
        });
        let entries = release
            .entries()
            .with_context(|| format!("[[apt]] {} {what}: Release", up.name))?;
        let targets: Vec<(Option<String>, Option<String>, String)> = match dist {
            Some(_) => up
                .components
                .iter()
                .flat_map(|c| {
                    up.architectures.iter().map(move |a| {
                        (Some(c.clone()), Some(a.clone()), format!("{c}/binary-{a}/"))
                    })
                })
                .collect(),
            None => vec![(None, None, String::new())],
        };
        for (component, architecture, prefix) in targets {
            let entry = ["Packages.xz", "Packages.gz", "Packages"]
                .iter()
                .find_map(|n| entries.iter().find(|e| e.path == format!("{prefix}{n}")))
                .ok_or_else(|| {
                    anyhow!(
                        "[[apt]] {} {what}: the Release lists no {prefix}Packages index; check components and architectures",
                        up.name
                    )
                })?
                .clone();
            let bytes = fetch_index(f, &dir, &entry, release.acquire_by_hash())
                .await
                .with_context(|| format!("[[apt]] {} {what}: index {}", up.name, entry.path))?;
            if store {
                // check_index verified the bytes against this SHA256 already.
                let known = match entry.hash_kind {
                    HashKind::Sha256 => Digest::from_hex(&entry.hash_hex).ok(),
                    HashKind::Sha512 => None,
                };
                let digest = put_once(f, &bytes, known)?;
                provenance.push(Artifact {
                    kind: ArtifactKind::UpstreamIndex,
                    upstream: Some(up.name.clone()),
                    path: formats::path::join(&prov_prefix, &entry.path)?,
                    digest,
                    size: bytes.len() as u64,
                    media_type: None,
                    meta: Meta {
                        suite: dist.clone(),
                        component: component.clone(),
                        architecture: architecture.clone(),
                        upstream_url: Some(redact(&fetch::join(&dir, &entry.path)?)),
                        ..Meta::default()
                    },
                });
            }
            let text = decompress_index(&entry.path, &bytes, MAX_PACKAGES_TEXT)
                .with_context(|| format!("[[apt]] {} {what}: index {}", up.name, entry.path))?;
            let oi = u32::try_from(uni.indexes.len()).context("too many indexes")?;
            let AptUniverse {
                entries,
                index_of,
                ranges,
                ..
            } = &mut *uni;
            for_each_package(&text, |mut e, range| {
                e.paragraph = Paragraph::new();
                entries.push(e);
                ranges.push(range);
                index_of.push(oi);
            })
            .with_context(|| format!("[[apt]] {} {what}: index {}", up.name, entry.path))?;
            drop(text);
            uni.raw.push((
                entry.path.clone(),
                if store { bytes } else { bytes::Bytes::new() },
            ));
            uni.indexes.push(IndexOrigin {
                upstream: upstream_pos,
                suite: dist.clone(),
                component,
                architecture,
                priority,
            });
        }
    }
    uni.upstreams.push(FetchedUpstream {
        config_index,
        base,
        keyring_path,
        provenance,
        suites_info,
        signers,
        sha1_bound,
        candidates: uni.entries.len() - first_entry,
    });
    Ok(())
}

/// Stores `bytes` ([`store::Cas::put_bytes`], which leaves a blob already present
/// alone). `known` is the bytes' SHA-256 when the caller has already checked it (an index
/// verified against the Release's SHA256): a blob already stored under it with this size
/// is then found without hashing the bytes again (a large `Packages` on every re-sync).
///
/// Errors: the store cannot be read or written.
pub(super) fn put_once(f: &Fetcher, bytes: &[u8], known: Option<Digest>) -> anyhow::Result<Digest> {
    if let Some(d) = known
        && f.cas().contains(&d)? == Some(bytes.len() as u64)
    {
        return Ok(d);
    }
    Ok(f.cas().put_bytes(bytes)?)
}

pub(super) struct VerifiedRelease {
    pub(super) release: Release,
    pub(super) artifacts: Vec<Artifact>,
    pub(super) signers: Vec<String>,
    pub(super) sha1_bound: Vec<String>,
}

/// Fetches and verifies `InRelease`, or `Release` + `Release.gpg`, in `dir`. With
/// `store` the files go into the store and are returned as provenance artifacts;
/// without (a plan), nothing is written.
pub(super) async fn fetch_release(
    f: &Fetcher,
    keyring: &Keyring,
    keyring_path: &std::path::Path,
    dir: &Url,
    prov_prefix: &str,
    upstream: &str,
    store: bool,
) -> anyhow::Result<VerifiedRelease> {
    const MAX_RELEASE: u64 = 64 * 1024 * 1024;
    let mut artifacts = Vec::new();
    let mut keep = |f: &Fetcher, name: &str, url: &Url, doc: &Doc| -> anyhow::Result<()> {
        if !store {
            return Ok(());
        }
        let body = &doc.body;
        let digest = put_once(f, body, doc.digest)?;
        artifacts.push(Artifact {
            kind: ArtifactKind::UpstreamRelease,
            upstream: Some(upstream.to_owned()),
            path: formats::path::join(prov_prefix, name)?,
            digest,
            size: body.len() as u64,
            media_type: Some("text/plain".into()),
            meta: Meta {
                upstream_url: Some(redact(url)),
                ..Meta::default()
            },
        });
        Ok(())
    };
    let inrelease_url = fetch::join(dir, "InRelease")?;
    let (text, verified) = if let Some(doc) =
        release_file(f, &inrelease_url, MAX_RELEASE, store).await?
    {
        let text = std::str::from_utf8(&doc.body)
            .with_context(|| format!("{} is not UTF-8", redact(&inrelease_url)))?;
        let v = keyring.verify_inrelease(text).with_context(|| {
            format!(
                "{}: signature does not verify against keyring {}",
                redact(&inrelease_url),
                keyring_path.display()
            )
        })?;
        keep(f, "InRelease", &inrelease_url, &doc)?;
        (v.signed_text.clone(), v)
    } else {
        let rel_url = fetch::join(dir, "Release")?;
        let sig_url = fetch::join(dir, "Release.gpg")?;
        let rel = release_file(f, &rel_url, MAX_RELEASE, store)
            .await?
            .ok_or_else(|| anyhow!("GET {}: HTTP 404 Not Found", redact(&rel_url)))
            .context("no InRelease, and no Release")?;
        let sig = release_file(f, &sig_url, MAX_RELEASE, store)
            .await?
            .ok_or_else(|| anyhow!("{} has no InRelease and no Release.gpg: the repository is unsigned, refusing it", redact(dir)))?;
        let v = keyring
            .verify_detached(&rel.body, &sig.body)
            .with_context(|| {
                format!(
                    "{}: signature does not verify against keyring {}",
                    redact(&sig_url),
                    keyring_path.display()
                )
            })?;
        let text = String::from_utf8(rel.body.to_vec())
            .with_context(|| format!("{} is not UTF-8", redact(&rel_url)))?;
        keep(f, "Release", &rel_url, &rel)?;
        keep(f, "Release.gpg", &sig_url, &sig)?;
        (text, v)
    };
    let release = Release::parse(&text).with_context(|| format!("Release in {}", redact(dir)))?;
    Ok(VerifiedRelease {
        release,
        artifacts,
        signers: verified.signer_fingerprints,
        sha1_bound: verified.sha1_bound_signers,
    })
}

/// Fetches one index listed in a verified Release and checks its size and hash.
/// With `Acquire-By-Hash: yes` the by-hash path is tried first, then the plain one.
pub(super) async fn fetch_index(
    f: &Fetcher,
    dir: &Url,
    entry: &IndexEntry,
    by_hash: bool,
) -> anyhow::Result<bytes::Bytes> {
    let mut urls = Vec::new();
    if by_hash {
        let (parent, _) = entry.path.rsplit_once('/').unwrap_or(("", &entry.path));
        let algo = match entry.hash_kind {
            HashKind::Sha256 => "SHA256",
            HashKind::Sha512 => "SHA512",
        };
        let p = if parent.is_empty() {
            format!("by-hash/{algo}/{}", entry.hash_hex)
        } else {
            format!("{parent}/by-hash/{algo}/{}", entry.hash_hex)
        };
        urls.push(fetch::join(dir, &p)?);
    }
    urls.push(fetch::join(dir, &entry.path)?);
    // An index the store already holds under the Release's SHA256: no request.
    if let Some(bytes) = stored_index(f, entry).await {
        return Ok(bytes);
    }
    for url in urls {
        let Some(doc) = f.get_optional(&url, None, MAX_INDEX_BYTES).await? else {
            continue;
        };
        check_index(&doc.body, entry)
            .with_context(|| format!("{} does not match the signed Release", redact(&url)))?;
        return Ok(doc.body);
    }
    bail!(
        "{} is listed in the Release but missing upstream",
        entry.path
    )
}

/// Checks bytes against a Release entry (size, then SHA256 or SHA512).
pub fn check_index(bytes: &[u8], entry: &IndexEntry) -> anyhow::Result<()> {
    use sha2::Digest as _;
    if bytes.len() as u64 != entry.size {
        bail!("size {} but the Release says {}", bytes.len(), entry.size);
    }
    let actual = match entry.hash_kind {
        HashKind::Sha256 => hex::encode(sha2::Sha256::digest(bytes)),
        HashKind::Sha512 => hex::encode(sha2::Sha512::digest(bytes)),
    };
    if actual != entry.hash_hex {
        bail!(
            "{:?} {actual} but the Release says {}",
            entry.hash_kind,
            entry.hash_hex
        );
    }
    Ok(())
}

/// Groups the selected stanzas of several indexes by served index path, for tests and
/// diagnostics: `dists/<suite>/<component>/binary-<arch>` (or `""` for flat).
pub fn index_dir(st: &AptIndexState) -> String {
    match (&st.suite, &st.component, &st.architecture) {
        (Some(s), Some(c), Some(a)) => format!("dists/{s}/{c}/binary-{a}"),
        _ => String::new(),
    }
}
