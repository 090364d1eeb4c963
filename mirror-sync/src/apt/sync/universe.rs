//! Phase 1, [`fetch_universe`]: every `[[apt]]` upstream's `InRelease` (or `Release` +
//! `Release.gpg`) verified against its keyring, every index checked against the Release
//! hashes, the parsed entries of all upstreams as one [`AptUniverse`].

use std::collections::BTreeSet;
use std::io::BufReader;
use std::ops::Range;
use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use formats::apt::release::{HashKind, IndexEntry, Release, parse_date};
use formats::apt::stream::{PackageReader, copy_ranges, index_reader};
use formats::digest::Digest;
use formats::snapshot::{Artifact, ArtifactKind, Meta};
use keys::openpgp::Keyring;
use url::Url;

use crate::apt::resolve::{self, PackageTable};
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
    /// The index's path in the Release (`main/binary-amd64/Packages.xz`), which says
    /// its compression.
    pub(super) path: String,
    /// The index as fetched, in the store (a provenance blob); `None` for a plan.
    pub(super) blob: Option<Digest>,
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
/// Memory: no index text and no index bytes are kept. Each index is decompressed and
/// parsed as a stream, one stanza at a time, into a [`PackageTable`] (interned names,
/// one string arena, binary digests, a flat relation arena), and each entry keeps the
/// byte range of its stanza in its index's text. Phase 3 reads the index again from the
/// store, where phase 1 put it as provenance, and copies the selected stanzas out by
/// range. A plan stores nothing and copies no stanza.
#[derive(Debug, Default)]
pub struct AptUniverse {
    /// The entries of every index, upstream by upstream in config order.
    pub entries: PackageTable,
    /// For each entry, its index (position in `indexes`).
    pub(super) index_of: Vec<u32>,
    /// For each entry, its stanza's byte range in its index's text.
    ranges: Vec<Range<u64>>,
    pub(super) indexes: Vec<IndexOrigin>,
    /// The upstreams that verified, in config order.
    pub upstreams: Vec<FetchedUpstream>,
}

impl AptUniverse {
    /// The stanzas (exactly as upstream wrote them, no trailing blank line) of the
    /// `wanted` entries, all of index `n`, read back from the index's provenance blob in
    /// `cas` and decompressed once, as a stream.
    ///
    /// Errors: the index was not stored (a plan), cannot be read, or no longer holds the
    /// entries at the ranges they were parsed from (their `Package`, `Version` and
    /// `Architecture` are checked).
    pub(super) fn stanzas_of(
        &self,
        cas: &store::Cas,
        n: u32,
        wanted: &[usize],
    ) -> anyhow::Result<Vec<(usize, String)>> {
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let o = &self.indexes[n as usize];
        let path = &o.path;
        let digest = o
            .blob
            .ok_or_else(|| anyhow!("index {path} was not stored"))?;
        let mut wanted = wanted.to_vec();
        wanted.sort_by_key(|&i| self.ranges[i].start);
        wanted.dedup();
        let ranges: Vec<Range<u64>> = wanted.iter().map(|&i| self.ranges[i].clone()).collect();
        let blob = cas
            .reader(&digest)
            .with_context(|| format!("index {path} (blob {digest})"))?;
        let mut out = Vec::with_capacity(wanted.len());
        copy_ranges(
            path,
            index_reader(path, BufReader::new(blob))?,
            &ranges,
            |k, text| {
                out.push((wanted[k], text.trim_end().to_owned()));
            },
        )
        .with_context(|| format!("index {path} (blob {digest})"))?;
        for (i, text) in &out {
            let e = self.entries.entry(*i);
            let p = formats::deb822::parse(text).ok().and_then(|mut p| p.pop());
            let field = |k: &str| p.as_ref().and_then(|p| p.get(k)).map(str::trim);
            if field("Package") != Some(e.name())
                || field("Version") != Some(e.version())
                || field("Architecture") != Some(e.architecture())
            {
                bail!(
                    "index {path} (blob {digest}) no longer holds {} {} at bytes {:?}; the store changed under the sync, run it again",
                    e.name(),
                    e.version(),
                    self.ranges[*i]
                );
            }
        }
        Ok(out)
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
    bound_heap_growth();
    let mut uni = AptUniverse::default();
    let mut failed = Vec::new();
    for (k, up) in cfg.apt.iter().enumerate() {
        let mark = (uni.entries.len(), uni.indexes.len());
        if let Err(e) = fetch_upstream(f, cfg, k, up, store, &mut uni).await {
            uni.entries.truncate(mark.0);
            uni.index_of.truncate(mark.0);
            uni.ranges.truncate(mark.0);
            uni.indexes.truncate(mark.1);
            failed.push((up.name.clone(), e));
        }
    }
    uni.entries.shrink_to_fit();
    uni.index_of.shrink_to_fit();
    uni.ranges.shrink_to_fit();
    release_free_memory();
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
        let (
            SuiteDir {
                dir,
                prov_prefix,
                what,
            },
            verified,
        ) = fetch_suite_release(
            f,
            &keyring,
            &keyring_path,
            &base,
            &up.name,
            dist.as_deref(),
            store,
        )
        .await?;
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
            let mut blob = None;
            if store {
                // check_index verified the bytes against this SHA256 already.
                let known = match entry.hash_kind {
                    HashKind::Sha256 => Digest::from_hex(&entry.hash_hex).ok(),
                    HashKind::Sha512 => None,
                };
                let digest = put_once(f, &bytes, known)?;
                blob = Some(digest);
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
            let oi = u32::try_from(uni.indexes.len()).context("too many indexes")?;
            // A sync parses the index back from the store, so the fetched bytes are not
            // held next to the decompressor and the growing universe; a plan parses them.
            match blob {
                Some(d) => {
                    drop(bytes);
                    parse_stored_index(f.cas(), uni, &entry.path, d, oi)
                }
                None => parse_index(uni, &entry.path, &bytes[..], oi),
            }
            .with_context(|| format!("[[apt]] {} {what}: index {}", up.name, entry.path))?;
            uni.indexes.push(IndexOrigin {
                upstream: upstream_pos,
                suite: dist.clone(),
                component,
                architecture,
                priority,
                path: entry.path.clone(),
                blob,
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

/// Parses one fetched index (`path` says its compression) into `uni` as index `oi`:
/// decompressed and parsed as a stream, one stanza at a time, never the whole text.
///
/// Errors: the index does not decompress, exceeds [`MAX_PACKAGES_TEXT`] or holds an
/// invalid stanza (with its line number); the universe outgrows its 32-bit offsets.
fn parse_index(
    uni: &mut AptUniverse,
    path: &str,
    bytes: impl std::io::Read,
    oi: u32,
) -> anyhow::Result<()> {
    let reader = BufReader::with_capacity(64 * 1024, index_reader(path, bytes)?);
    let mut packages = PackageReader::new(path, reader, MAX_PACKAGES_TEXT);
    while let Some((e, range)) = packages.next_entry()? {
        uni.entries.push(&e)?;
        uni.ranges.push(range);
        uni.index_of.push(oi);
    }
    Ok(())
}

/// [`parse_index`] over blob `digest` of `cas` (an index verified and stored a moment
/// ago), hashing it as it is read: bytes that changed in the store since are refused.
///
/// Errors: as [`parse_index`]; the blob cannot be read or no longer has its digest.
fn parse_stored_index(
    cas: &store::Cas,
    uni: &mut AptUniverse,
    path: &str,
    digest: Digest,
    oi: u32,
) -> anyhow::Result<()> {
    struct Hashing<R>(R, sha2::Sha256);
    impl<R: std::io::Read> std::io::Read for Hashing<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            use sha2::Digest as _;
            let n = self.0.read(buf)?;
            self.1.update(&buf[..n]);
            Ok(n)
        }
    }
    use sha2::Digest as _;
    let mut r = Hashing(cas.reader(&digest)?, sha2::Sha256::new());
    parse_index(uni, path, &mut r, oi)?;
    std::io::copy(&mut r, &mut std::io::sink())?;
    let got = Digest::from_bytes(r.1.finalize().into());
    anyhow::ensure!(
        got == digest,
        "blob {digest} changed in the store while it was read (now {got})"
    );
    Ok(())
}

/// Fixes glibc's mmap threshold at 1 MiB for the rest of the process (`mallopt
/// M_MMAP_THRESHOLD`, which also turns off its dynamic raising). Without it, freeing one
/// large block (a fetched index) raises the threshold to that block's size, and the
/// universe's growing arrays are then copied within the heap as they double, leaving
/// their old copies resident: about 10 MiB more peak RSS on a 63k-package index.
/// Blocks of 1 MiB or more are mapped on their own and grow by `mremap`, without copies.
fn bound_heap_growth() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it takes no pointers and is
    // thread-safe (glibc locks the arenas).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Returns freed heap memory to the operating system (glibc `malloc_trim(0)`), between
/// the phases: the per-stanza parse and the resolver's maps leave freed pages below the
/// long-lived universe that the allocator would otherwise keep resident next to the
/// decompressor of the next phase.
pub(super) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's arenas; it takes no
    // pointers and is thread-safe (it locks each arena).
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Where one suite (or a flat repository) lives upstream, and how errors name it.
pub(super) struct SuiteDir {
    /// `<base>/dists/<suite>/`, or the flat repository's directory.
    pub(super) dir: Url,
    /// Where its Release files and indexes go in the snapshot (`provenance/apt/…`).
    pub(super) prov_prefix: String,
    /// `suite <name>` or `flat repository`.
    pub(super) what: String,
}

/// Fetches and verifies the Release files of suite `dist` (`None`: the flat repository
/// at `base`) of upstream `up_name` ([`fetch_release`]; with `store` they are stored),
/// and refuses a Release whose `Valid-Until` has passed.
///
/// Errors: as [`fetch_release`], an expired or unreadable `Valid-Until`; each names the
/// upstream and the suite.
pub(super) async fn fetch_suite_release(
    f: &Fetcher,
    keyring: &Keyring,
    keyring_path: &std::path::Path,
    base: &Url,
    up_name: &str,
    dist: Option<&str>,
    store: bool,
) -> anyhow::Result<(SuiteDir, VerifiedRelease)> {
    let (dir, prov_prefix, what) = match dist {
        Some(s) => (
            fetch::join(base, &format!("dists/{s}/"))?,
            format!("provenance/apt/{up_name}/dists/{s}"),
            format!("suite {s}"),
        ),
        None => (
            base.clone(),
            format!("provenance/apt/{up_name}"),
            "flat repository".to_owned(),
        ),
    };
    f.progress().phase(&format!("{up_name}: {what}"));
    let verified = fetch_release(f, keyring, keyring_path, &dir, &prov_prefix, up_name, store)
        .await
        .with_context(|| format!("[[apt]] {up_name} {what}"))?;
    if let Some(vu) = verified.release.valid_until() {
        match parse_date(vu) {
            Some(t) if t < chrono::Utc::now() => bail!(
                "[[apt]] {up_name} {what}: the upstream Release expired at {vu} (Valid-Until); the upstream mirror is stale, pick a fresher one"
            ),
            Some(_) => {}
            None => bail!("[[apt]] {up_name} {what}: unreadable Valid-Until {vu:?}"),
        }
    }
    Ok((
        SuiteDir {
            dir,
            prov_prefix,
            what,
        },
        verified,
    ))
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
