//! Sync of the `[[apt]]` upstreams, in three phases over one universe:
//!
//! 1. [`fetch_universe`]: for every upstream, verify the upstream `InRelease` (or
//!    `Release` + `Release.gpg`) against its configured keyring and check every index
//!    against the Release hashes; the parsed entries of all upstreams form one universe.
//! 2. [`select`]: resolve every upstream's requests over that universe
//!    ([`crate::apt::resolve`]: apt's candidate rule, a dependency satisfied from any
//!    source), reporting every missing request and unsatisfied dependency at once, and
//!    map the selection back to each upstream's indexes (a `.deb` stays under the
//!    upstream and suite it came from).
//! 3. [`download`]: stream each upstream's selected `.deb`s into the store, checked
//!    against their `Packages` entries.
//!
//! [`sync_all`] runs the three for `mirror-sync sync`; `mirror-sync plan` runs 1 and 2
//! only, writing nothing ([`crate::plan`]).
//!
//! What fails the sync: an upstream whose Release or indexes do not verify (no APT
//! upstream is updated then, since the universe is incomplete), and a requested package
//! that is in no source (all of them are listed; nothing is downloaded). An unsatisfied
//! dependency of a selected package is a warning: the selection is not closed there,
//! exactly as `apt-get` would fail on that package, and the rest is mirrored.
//!
//! Standard layout: `dists/<suite>/InRelease`, `dists/<suite>/<component>/binary-<arch>/Packages.{xz,gz}`
//! (by-hash when the Release says `Acquire-By-Hash: yes`), files under the archive root.
//! Flat layout (`deb URL /`): `InRelease` or `Release`, and `Packages.{xz,gz}`, in the
//! repository directory itself; `Filename`s are relative to it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use formats::apt::packages::{PackageEntry, decompress_index, for_each_package};
use formats::apt::release::{HashKind, IndexEntry, Release, parse_date};
use formats::deb822::Paragraph;
use formats::digest::Digest;
use formats::snapshot::{Artifact, ArtifactKind, Meta, Source, SourceKind};
use futures_util::StreamExt as _;
use keys::openpgp::Keyring;
use store::Expected;
use url::Url;

use crate::apt::resolve::{self, IndexInfo, Request, Unsatisfied};
use crate::config::{AptUpstream, Config};
use crate::fetch::{self, Fetcher, MAX_INDEX_BYTES, redact};
use crate::state::{AptIndexState, AptSuiteInfo, State, UpstreamState};

/// Largest decompressed `Packages` index accepted (bytes); bigger is treated as a bomb.
pub const MAX_PACKAGES_TEXT: u64 = 2 * 1024 * 1024 * 1024;

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

/// Where one `Packages` index of the universe came from.
#[derive(Debug, Clone)]
struct IndexOrigin {
    /// Position in [`AptUniverse::upstreams`].
    upstream: usize,
    suite: Option<String>,
    component: Option<String>,
    architecture: Option<String>,
    /// apt's pin priority of the suite ([`resolve::release_priority`]).
    priority: i32,
}

/// One upstream's verified Release files and indexes (phase 1).
#[derive(Debug)]
pub struct FetchedUpstream {
    /// Position of the upstream in [`Config::apt`].
    pub config_index: usize,
    base: Url,
    keyring_path: PathBuf,
    /// Release files and indexes as provenance artifacts (empty for a plan).
    provenance: Vec<Artifact>,
    suites_info: Vec<AptSuiteInfo>,
    signers: BTreeSet<String>,
    sha1_bound: BTreeSet<String>,
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
    index_of: Vec<u32>,
    /// For each entry, its stanza's byte range in its index's text.
    ranges: Vec<Range<usize>>,
    /// Each index as fetched (`Packages.xz`, `.gz` or plain), with its path (which says
    /// the compression); empty bytes when not kept (a plan).
    raw: Vec<(String, bytes::Bytes)>,
    indexes: Vec<IndexOrigin>,
    /// The upstreams that verified, in config order.
    pub upstreams: Vec<FetchedUpstream>,
}

impl AptUniverse {
    /// The stanzas (exactly as upstream wrote them, no trailing blank line) of the
    /// `wanted` entries, all of index `n`, decompressing the index once.
    ///
    /// Errors: the index was not kept (a plan), or no longer decompresses to the text the
    /// entries were parsed from.
    fn stanzas_of(&self, n: u32, wanted: &[usize]) -> anyhow::Result<Vec<(usize, String)>> {
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

    fn origin(&self, i: usize) -> &IndexOrigin {
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
async fn fetch_upstream(
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

/// What phase 2 picked from one upstream.
#[derive(Debug, Default)]
pub struct UpstreamSelection {
    /// Distinct `(name, version, architecture)` selected from this upstream.
    pub selected: usize,
    /// Each `.deb` to fetch: its `Filename` (without `./`) → the entry (universe index).
    pub by_file: BTreeMap<String, usize>,
    /// The selected entries of each of this upstream's indexes, by universe index
    /// position of the index; served as that suite's `Packages`.
    stanzas: BTreeMap<u32, Vec<usize>>,
    /// Unsatisfied dependencies of entries of this upstream.
    pub unsatisfied: Vec<String>,
    /// Why this upstream's selection is unusable (an inconsistent upstream), if so.
    pub error: Option<String>,
}

/// The outcome of phase 2.
#[derive(Debug, Default)]
pub struct Selection {
    /// One per [`AptUniverse::upstreams`], aligned with it.
    pub upstreams: Vec<UpstreamSelection>,
    /// Every unsatisfied dependency, `[[apt]] NAME: …`, with its chain.
    pub unsatisfied: Vec<String>,
    /// Every request that matches nothing, `[[apt]] NAME[, NAME…]: …` (one line per
    /// request, naming every upstream that lists it).
    pub missing: Vec<String>,
}

/// Phase 2: resolves every fetched upstream's `packages` over the universe and maps the
/// selected entries back to every index of the same upstream that lists an identical
/// copy (same name, version, architecture, size and hash): a package listed in two
/// suites of an upstream is served by both. A version several upstreams list is taken
/// from the first in config order (apt's tie rule) and stored under that upstream only;
/// a client configured with every served repository finds it there.
///
/// # Errors
/// An invalid request string in the configuration (all of them are listed).
pub fn select(cfg: &Config, uni: &AptUniverse) -> anyhow::Result<Selection> {
    let mut bad = Vec::new();
    let sources: Vec<resolve::Source> = uni
        .upstreams
        .iter()
        .map(|fu| {
            let up = &cfg.apt[fu.config_index];
            let requests = up
                .packages
                .iter()
                .filter_map(|s| match s.parse::<Request>() {
                    Ok(r) => Some(r),
                    Err(e) => {
                        bad.push(format!("[[apt]] {}: package {s:?}: {e}", up.name));
                        None
                    }
                })
                .collect();
            resolve::Source {
                name: up.name.clone(),
                architectures: up.architectures.clone(),
                requests,
                with_recommends: up.recommends,
            }
        })
        .collect();
    if !bad.is_empty() {
        bail!("{}", bad.join("\n"));
    }
    let infos: Vec<IndexInfo> = uni
        .indexes
        .iter()
        .map(|o| IndexInfo {
            source: o.upstream,
            priority: o.priority,
        })
        .collect();
    let resolution = resolve::resolve(resolve::Universe {
        entries: &uni.entries,
        index_of: &uni.index_of,
        indexes: &infos,
        sources: &sources,
    });
    let name_of = |s: usize| sources[s].name.as_str();
    let mut sel = Selection {
        upstreams: (0..uni.upstreams.len())
            .map(|_| UpstreamSelection::default())
            .collect(),
        unsatisfied: resolution
            .unsatisfied
            .iter()
            .map(|u: &Unsatisfied| format!("[[apt]] {}: {u}", name_of(u.source)))
            .collect(),
        missing: Vec::new(),
    };
    // The same request in several upstreams' lists (init writes one list into each) is
    // reported once, naming them all.
    let mut missing: Vec<(String, Vec<&str>)> = Vec::new();
    for m in &resolution.missing {
        let text = m.to_string();
        match missing.iter_mut().find(|(t, _)| *t == text) {
            Some((_, names)) => names.push(name_of(m.source)),
            None => missing.push((text, vec![name_of(m.source)])),
        }
    }
    sel.missing = missing
        .into_iter()
        .map(|(text, names)| format!("[[apt]] {}: {text}", names.join(", ")))
        .collect();
    for u in &resolution.unsatisfied {
        sel.upstreams[u.source].unsatisfied.push(u.to_string());
    }

    // Identity of a selected copy: (name, version, arch) → (size, sha256, sha512).
    type Key<'a> = (&'a str, &'a str, &'a str);
    let mut chosen: HashMap<Key<'_>, Vec<usize>> = HashMap::new();
    for &i in &resolution.selected {
        let e = &uni.entries[i];
        chosen
            .entry((&e.name, &e.version, &e.architecture))
            .or_default()
            .push(i);
    }
    let same = |a: &PackageEntry, b: &PackageEntry| {
        a.size == b.size
            && match (&a.sha256, &b.sha256) {
                (Some(x), Some(y)) => x == y,
                _ => a.sha512.is_some() && a.sha512 == b.sha512,
            }
    };
    let mut triples: Vec<BTreeSet<Key<'_>>> = vec![BTreeSet::new(); uni.upstreams.len()];
    for (i, e) in uni.entries.iter().enumerate() {
        let key = (e.name.as_str(), e.version.as_str(), e.architecture.as_str());
        let Some(picks) = chosen.get(&key) else {
            continue;
        };
        let origin = uni.origin(i);
        if !picks.iter().any(|&j| {
            j == i || (uni.origin(j).upstream == origin.upstream && same(&uni.entries[j], e))
        }) {
            continue;
        }
        let us = &mut sel.upstreams[origin.upstream];
        triples[origin.upstream].insert(key);
        let file = e.filename.trim_start_matches("./").to_owned();
        if let Some(&j) = us.by_file.get(&file) {
            let other = &uni.entries[j];
            if other.sha256 != e.sha256 || other.sha512 != e.sha512 || other.size != e.size {
                us.error.get_or_insert_with(|| {
                    format!(
                        "[[apt]] {}: {} is listed with different hashes in two indexes; the upstream is inconsistent",
                        name_of(origin.upstream),
                        e.filename
                    )
                });
            }
        } else {
            us.by_file.insert(file, i);
        }
        us.stanzas.entry(uni.index_of[i]).or_default().push(i);
    }
    for (us, t) in sel.upstreams.iter_mut().zip(triples) {
        us.selected = t.len();
    }
    Ok(sel)
}

/// How a selected `.deb` is expected in the store: its sha256 (from the index, or for
/// a SHA512-only entry from `known_sha512` of the previous sync), size and sha512.
///
/// Errors: the index's SHA256 is not hex.
pub fn expected_of(
    e: &PackageEntry,
    file: &str,
    known_sha512: &HashMap<(String, String), Digest>,
) -> anyhow::Result<Expected> {
    let digest = match (&e.sha256, &e.sha512) {
        (Some(h), _) => Some(Digest::from_hex(h).map_err(|err| anyhow!("{}: {err}", e.name))?),
        (None, Some(h512)) => known_sha512.get(&(file.to_owned(), h512.clone())).copied(),
        (None, None) => None,
    };
    Ok(Expected {
        digest,
        size: Some(e.size),
        sha512_hex: if e.sha256.is_none() {
            e.sha512.clone()
        } else {
            None
        },
    })
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
            .stanzas_of(n, entries)
            .with_context(|| format!("[[apt]] {}", up.name))?
        {
            stanza_text.insert(i, text);
        }
    }
    f.progress().phase(&format!("{}: downloading", up.name));
    let total: u64 = us.by_file.values().map(|&i| uni.entries[i].size).sum();
    f.progress().add_total_files(us.by_file.len() as u64, total);
    let mut jobs = Vec::new();
    for (file, &i) in &us.by_file {
        let e = &uni.entries[i];
        let o = uni.origin(i);
        let url = fetch::join(base, file)?;
        let path = formats::path::join(&format!("apt/{}", up.name), file).with_context(|| {
            format!(
                "[[apt]] {}: package {} has an unsafe Filename",
                up.name, e.name
            )
        })?;
        let expected = expected_of(e, file, &known_sha512)
            .map_err(|err| anyhow!("[[apt]] {}: {err}", up.name))?;
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
            name: Some(e.name.clone()),
            version: Some(e.version.clone()),
            architecture: Some(e.architecture.clone()),
            suite: o.suite.clone(),
            component: o.component.clone(),
            upstream_url: Some(redact(&url)),
            depends,
            ..Meta::default()
        };
        jobs.push((
            url,
            expected,
            path,
            meta,
            format!("{}_{}", e.name, e.version),
        ));
    }
    let results: Vec<anyhow::Result<Artifact>> = futures_util::stream::iter(jobs)
        .map(|(url, expected, path, meta, label)| async move {
            let (digest, size) = f.fetch_to_store(&url, &expected, &label).await?;
            Ok(Artifact {
                kind: ArtifactKind::Deb,
                upstream: Some(up.name.clone()),
                path,
                digest,
                size,
                media_type: Some(DEB_MEDIA_TYPE.into()),
                meta,
            })
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let mut artifacts = Vec::with_capacity(results.len() + fu.provenance.len());
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(a) => artifacts.push(a),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
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

/// The outcome of [`sync_all`].
#[derive(Default)]
pub struct AptRun {
    /// One per wanted upstream that was downloaded or tried: its name and its new
    /// state and figures, or why it was not updated.
    pub outcomes: Vec<(String, anyhow::Result<(UpstreamState, AptReport)>)>,
    /// Set when no upstream could be updated (an upstream's indexes do not verify, a
    /// request is invalid or in no source): the message listing every cause, and the
    /// wanted upstreams, all failed.
    pub blocked: Option<(String, Vec<String>)>,
    /// Every unsatisfied dependency (warnings), `[[apt]] NAME: …` with its chain.
    pub unsatisfied: Vec<String>,
}

/// `mirror-sync sync` for the APT upstreams: phase 1 over every `[[apt]]` upstream
/// (the universe always holds all of them, also with `--only`), phase 2, then phase 3
/// for each upstream `wanted` accepts. Each successful upstream's state is written to
/// `state` as soon as it is downloaded.
///
/// When an upstream's indexes do not verify, or a request is in no source, nothing is
/// downloaded and [`AptRun::blocked`] lists all the causes.
///
/// # Errors
/// Only the state database failing.
pub async fn sync_all(
    f: &Fetcher,
    cfg: &Config,
    state: &State,
    wanted: &dyn Fn(&str) -> bool,
) -> anyhow::Result<AptRun> {
    let names: Vec<String> = cfg
        .apt
        .iter()
        .map(|u| u.name.clone())
        .filter(|n| wanted(n))
        .collect();
    if names.is_empty() {
        return Ok(AptRun::default());
    }
    let (uni, failed) = fetch_universe(f, cfg, true).await;
    if !failed.is_empty() {
        let list: Vec<String> = failed.iter().map(|(_, e)| format!("{e:#}")).collect();
        return Ok(AptRun {
            blocked: Some((
                format!(
                    "the APT universe is incomplete, so no [[apt]] upstream was updated (their previous state is kept); fix or remove the failing upstream(s):\n  {}",
                    list.join("\n  ")
                ),
                names,
            )),
            ..AptRun::default()
        });
    }
    f.progress().phase("apt: resolving over all sources");
    let sel = match select(cfg, &uni) {
        Ok(s) => s,
        Err(e) => {
            return Ok(AptRun {
                blocked: Some((format!("{e:#}"), names)),
                ..AptRun::default()
            });
        }
    };
    if !sel.missing.is_empty() {
        return Ok(AptRun {
            blocked: Some((
                format!(
                    "{} requested package(s) are in no configured source, so no [[apt]] upstream was updated and nothing was downloaded (check the names, or add the suite or component that has them; `mirror-sync plan` checks without downloading):\n  {}",
                    sel.missing.len(),
                    sel.missing.join("\n  ")
                ),
                names,
            )),
            unsatisfied: sel.unsatisfied,
            ..AptRun::default()
        });
    }
    let mut run = AptRun::default();
    for (k, fu) in uni.upstreams.iter().enumerate() {
        let name = &cfg.apt[fu.config_index].name;
        if !wanted(name) {
            continue;
        }
        let previous = state.upstream(name)?;
        let result = download(f, cfg, &uni, &sel, k, previous.as_ref()).await;
        if let Ok((st, _)) = &result {
            state.put_upstream(st)?;
        }
        run.outcomes.push((name.clone(), result));
    }
    run.unsatisfied = sel.unsatisfied;
    Ok(run)
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

/// Stores `bytes` ([`store::Cas::put_bytes`], which leaves a blob already present
/// alone). `known` is the bytes' SHA-256 when the caller has already checked it (an index
/// verified against the Release's SHA256): a blob already stored under it with this size
/// is then found without hashing the bytes again (a large `Packages` on every re-sync).
///
/// Errors: the store cannot be read or written.
fn put_once(f: &Fetcher, bytes: &[u8], known: Option<Digest>) -> anyhow::Result<Digest> {
    if let Some(d) = known
        && f.cas().contains(&d)? == Some(bytes.len() as u64)
    {
        return Ok(d);
    }
    Ok(f.cas().put_bytes(bytes)?)
}

struct VerifiedRelease {
    release: Release,
    artifacts: Vec<Artifact>,
    signers: Vec<String>,
    sha1_bound: Vec<String>,
}

/// Fetches and verifies `InRelease`, or `Release` + `Release.gpg`, in `dir`. With
/// `store` the files go into the store and are returned as provenance artifacts;
/// without (a plan), nothing is written.
async fn fetch_release(
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
    let mut keep = |f: &Fetcher, name: &str, url: &Url, body: &[u8]| -> anyhow::Result<()> {
        if !store {
            return Ok(());
        }
        let digest = f.cas().put_bytes(body)?;
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
        f.get_optional(&inrelease_url, None, MAX_RELEASE).await?
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
        keep(f, "InRelease", &inrelease_url, &doc.body)?;
        (v.signed_text.clone(), v)
    } else {
        let rel_url = fetch::join(dir, "Release")?;
        let sig_url = fetch::join(dir, "Release.gpg")?;
        let rel = f
            .get(&rel_url, None, MAX_RELEASE)
            .await
            .context("no InRelease, and no Release")?;
        let sig = f
            .get_optional(&sig_url, None, MAX_RELEASE)
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
        keep(f, "Release", &rel_url, &rel.body)?;
        keep(f, "Release.gpg", &sig_url, &sig.body)?;
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
async fn fetch_index(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_once_leaves_a_stored_blob_alone() {
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir().unwrap();
        let cas = std::sync::Arc::new(store::Cas::open(dir.path()).unwrap());
        let f = Fetcher::new(
            cas.clone(),
            1,
            1,
            std::time::Duration::from_secs(5),
            crate::progress::Progress::hidden(),
        )
        .unwrap();
        let body = b"Origin: Example\n";
        let d = put_once(&f, body, None).unwrap();
        assert_eq!(d, Digest::of(body));
        let ino = std::fs::metadata(cas.blob_path(&d)).unwrap().ino();
        // Again, with the digest given: the same file, not a rewritten one.
        assert_eq!(put_once(&f, body, Some(d)).unwrap(), d);
        assert_eq!(std::fs::metadata(cas.blob_path(&d)).unwrap().ino(), ino);
        // A file of another size under a blob's name (a torn write) is replaced.
        let other = b"Origin: Other\n";
        let d2 = Digest::of(other);
        std::fs::write(cas.blob_path(&d2), &other[..4]).unwrap();
        assert_eq!(put_once(&f, other, Some(d2)).unwrap(), d2);
        assert_eq!(std::fs::read(cas.blob_path(&d2)).unwrap(), other);
    }

    #[test]
    fn sha512_only_entries_map_to_stored_digests() {
        let d = Digest::of(b"deb bytes");
        let prev = UpstreamState {
            name: "nv".into(),
            synced_at: String::new(),
            source: Source::new("nv", SourceKind::Apt, "http://flat.example/"),
            artifacts: vec![Artifact {
                kind: ArtifactKind::Deb,
                upstream: Some("nv".into()),
                path: "apt/nv/tk_1.0_amd64.deb".into(),
                digest: d,
                size: 9,
                media_type: None,
                meta: Meta::default(),
            }],
            apt_indexes: vec![AptIndexState {
                suite: None,
                component: None,
                architecture: None,
                stanzas: vec![
                    "Package: tk\nVersion: 1.0\nArchitecture: amd64\nFilename: ./tk_1.0_amd64.deb\nSize: 9\nSHA512: ABCDEF".into(),
                    "Package: other\nFilename: ./other.deb\nSHA512: 1234".into(),
                ],
            }],
            apt_suites: vec![],
        };
        let m = sha512_digests(&prev, "nv");
        assert_eq!(m.len(), 1, "only files that were stored: {m:?}");
        assert_eq!(
            m.get(&("tk_1.0_amd64.deb".to_owned(), "abcdef".to_owned())),
            Some(&d)
        );
    }
}
