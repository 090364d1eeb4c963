//! Sync of one `[[apt]]` upstream: verify the upstream `InRelease` (or `Release` +
//! `Release.gpg`) against the configured keyring, check every index against the Release
//! hashes, close the package selection under dependencies, and stream every `.deb` into
//! the store checked against its `Packages` entry.
//!
//! Standard layout: `dists/<suite>/InRelease`, `dists/<suite>/<component>/binary-<arch>/Packages.{xz,gz}`
//! (by-hash when the Release says `Acquire-By-Hash: yes`), files under the archive root.
//! Flat layout (`deb URL /`): `InRelease` or `Release`, and `Packages.{xz,gz}`, in the
//! repository directory itself; `Filename`s are relative to it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

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

use crate::apt::resolve::{self, Request};
use crate::config::{AptUpstream, Config};
use crate::fetch::{self, Fetcher, MAX_INDEX_BYTES, redact};
use crate::state::{AptIndexState, AptSuiteInfo, UpstreamState};

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
    /// Packages selected (after the dependency closure).
    pub selected: usize,
    /// Unique `.deb` files.
    pub files: usize,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Dependencies that no candidate satisfies (the selection is not closed there).
    pub unsatisfied: Vec<String>,
    /// Fingerprints of the upstream keys whose signatures verified.
    pub signers: Vec<String>,
    /// Those of `signers` accepted only through a SHA-1 key binding (an old upstream key;
    /// see `keys::openpgp`), recorded in the snapshot's source for reviewers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sha1_bound_signers: Vec<String>,
}

struct IndexOrigin {
    suite: Option<String>,
    component: Option<String>,
    architecture: Option<String>,
}

/// Syncs one APT upstream into the store; returns the state `export` needs.
///
/// Errors name the upstream, the URL and what did not verify. Files already verified
/// into the store stay there, so re-running resumes.
///
/// `previous` is this upstream's last successful sync: entries that list only SHA512
/// (no SHA256, as NVIDIA's container-toolkit repository does) are matched against it so
/// that a file already verified into the store is not downloaded again.
pub async fn sync(
    f: &Fetcher,
    cfg: &Config,
    up: &AptUpstream,
    previous: Option<&UpstreamState>,
) -> anyhow::Result<(UpstreamState, AptReport)> {
    let keyring_path = cfg.resolve(&up.keyring);
    let keyring = Keyring::load(&keyring_path).with_context(|| {
        format!(
            "[[apt]] {}: cannot load keyring {}",
            up.name,
            keyring_path.display()
        )
    })?;
    let base = fetch::base_url(&up.url)?;
    let mut universe: Vec<PackageEntry> = Vec::new();
    let mut origin_of: Vec<usize> = Vec::new();
    // Each entry's stanza is a byte range of its index's text; the entries themselves
    // keep only the parsed fields (no paragraph), which keeps a 60k-package index small.
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    let mut origins: Vec<IndexOrigin> = Vec::new();
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
        let verified = fetch_release(f, &keyring, &keyring_path, &dir, &prov_prefix, &up.name)
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
        suites_info.push(AptSuiteInfo {
            dist: dist.clone(),
            origin: p.get("Origin").map(str::to_owned),
            label: p.get("Label").map(str::to_owned),
            suite: p.get("Suite").map(str::to_owned),
            codename: p.get("Codename").map(str::to_owned),
            version: p.get("Version").map(str::to_owned),
            description: p.get("Description").map(str::to_owned),
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
            let text = decompress_index(&entry.path, &bytes, MAX_PACKAGES_TEXT)
                .with_context(|| format!("[[apt]] {} {what}: index {}", up.name, entry.path))?;
            drop(bytes);
            let oi = origins.len();
            for_each_package(&text, |mut e, range| {
                e.paragraph = Paragraph::new();
                universe.push(e);
                ranges.push(range);
                origin_of.push(oi);
            })
            .with_context(|| format!("[[apt]] {} {what}: index {}", up.name, entry.path))?;
            texts.push(text);
            origins.push(IndexOrigin {
                suite: dist.clone(),
                component,
                architecture,
            });
        }
    }

    // Dependency closure.
    f.progress().phase(&format!("{}: resolving", up.name));
    let requests = up
        .packages
        .iter()
        .map(|s| {
            s.parse::<Request>()
                .map_err(|e| anyhow!("[[apt]] {}: package {s:?}: {e}", up.name))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let resolution = resolve::resolve(
        &universe,
        &requests,
        &resolve::Options {
            architectures: up.architectures.clone(),
            with_recommends: up.recommends,
        },
    )
    .map_err(|e| anyhow!("[[apt]] {}: {e}", up.name))?;
    let selected: BTreeSet<(String, String, String)> = resolution
        .selected
        .iter()
        .map(|&i| {
            let e = &universe[i];
            (e.name.clone(), e.version.clone(), e.architecture.clone())
        })
        .collect();

    // Every index entry of a selected (name, version, arch) — a package listed in two
    // suites appears in both served indexes.
    let stanza_of = |i: usize| texts[origin_of[i]][ranges[i].clone()].trim_end();
    let mut by_file: BTreeMap<String, usize> = BTreeMap::new();
    let mut stanzas: Vec<Vec<String>> = vec![Vec::new(); origins.len()];
    for (i, e) in universe.iter().enumerate() {
        if !selected.contains(&(e.name.clone(), e.version.clone(), e.architecture.clone())) {
            continue;
        }
        let file = e.filename.trim_start_matches("./").to_owned();
        if let Some(&j) = by_file.get(&file) {
            let other = &universe[j];
            if other.sha256 != e.sha256 || other.sha512 != e.sha512 || other.size != e.size {
                bail!(
                    "[[apt]] {}: {} is listed with different hashes in two indexes; the upstream is inconsistent",
                    up.name,
                    e.filename
                );
            }
        } else {
            by_file.insert(file, i);
        }
        stanzas[origin_of[i]].push(stanza_of(i).to_owned());
    }

    // Download.
    let known_sha512 = previous
        .map(|p| sha512_digests(p, &up.name))
        .unwrap_or_default();
    f.progress().phase(&format!("{}: downloading", up.name));
    let total: u64 = by_file.values().map(|&i| universe[i].size).sum();
    f.progress().add_total_files(by_file.len() as u64, total);
    let mut jobs = Vec::new();
    for (file, &i) in &by_file {
        let e = &universe[i];
        let o = &origins[origin_of[i]];
        let url = fetch::join(&base, file)?;
        let path = formats::path::join(&format!("apt/{}", up.name), file).with_context(|| {
            format!(
                "[[apt]] {}: package {} has an unsafe Filename",
                up.name, e.name
            )
        })?;
        let digest = match (&e.sha256, &e.sha512) {
            (Some(h), _) => Some(
                Digest::from_hex(h)
                    .map_err(|err| anyhow!("[[apt]] {}: {}: {err}", up.name, e.name))?,
            ),
            (None, Some(h512)) => known_sha512.get(&(file.clone(), h512.clone())).copied(),
            (None, None) => None,
        };
        let expected = Expected {
            digest,
            size: Some(e.size),
            sha512_hex: if e.sha256.is_none() {
                e.sha512.clone()
            } else {
                None
            },
        };
        let stanza = formats::deb822::parse(stanza_of(i))
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
    let mut artifacts = Vec::with_capacity(results.len() + provenance.len());
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
            by_file.len(),
            errors.join("\n  ")
        );
    }
    artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    artifacts.extend(provenance);

    let report = AptReport {
        name: up.name.clone(),
        candidates: universe.len(),
        selected: selected.len(),
        files: by_file.len(),
        bytes: total,
        unsatisfied: resolution.unsatisfied.clone(),
        signers: signers.iter().cloned().collect(),
        sha1_bound_signers: sha1_bound.iter().cloned().collect(),
    };
    let apt_indexes = origins
        .into_iter()
        .zip(stanzas)
        .map(|(o, stanzas)| AptIndexState {
            suite: o.suite,
            component: o.component,
            architecture: o.architecture,
            stanzas,
        })
        .collect();
    let state = UpstreamState {
        name: up.name.clone(),
        synced_at: crate::now_rfc3339(),
        source: Source {
            name: up.name.clone(),
            kind: SourceKind::Apt,
            url: redact(&base),
            flat: up.flat,
            suites: up.suites.clone(),
            components: up.components.clone(),
            architectures: up.architectures.clone(),
            upstream_signers: report.signers.clone(),
            repo_signer: None,
            registry: None,
            origin: suites_info.iter().find_map(|s| s.origin.clone()),
            upstream_keyring: keyring_path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned()),
            upstream_sha1_bound_signers: report.sha1_bound_signers.clone(),
        },
        artifacts,
        apt_indexes,
        apt_suites: suites_info,
    };
    Ok((state, report))
}

/// `(file name, sha512)` → sha256 digest of every `.deb` of a previous sync whose
/// stanza lists a SHA512.
fn sha512_digests(prev: &UpstreamState, name: &str) -> HashMap<(String, String), Digest> {
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

/// Fetches and verifies `InRelease`, or `Release` + `Release.gpg`, in `dir`.
async fn fetch_release(
    f: &Fetcher,
    keyring: &Keyring,
    keyring_path: &std::path::Path,
    dir: &Url,
    prov_prefix: &str,
    upstream: &str,
) -> anyhow::Result<VerifiedRelease> {
    const MAX_RELEASE: u64 = 64 * 1024 * 1024;
    let mut artifacts = Vec::new();
    let mut keep = |f: &Fetcher, name: &str, url: &Url, body: &[u8]| -> anyhow::Result<()> {
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
