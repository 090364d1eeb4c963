//! Upstream provenance of APT content, checked again at import (DESIGN.md §Trust on the
//! Cube, issue 4 step 6).
//!
//! The snapshot signature says "release engineering cut this". Provenance says "and every
//! `.deb` in it is what the upstream archive signed". For every APT source of the manifest:
//!
//! 1. the keyring the source names ([`formats::snapshot::Source::upstream_keyring`], a file
//!    name) must be installed in the importer's upstream-keyrings directory;
//! 2. every upstream `InRelease` (or `Release` + `Release.gpg`) carried as an
//!    [`ArtifactKind::UpstreamRelease`] artifact must verify against that keyring;
//! 3. every upstream `Packages` index carried as an [`ArtifactKind::UpstreamIndex`] artifact
//!    must be listed in the verified Release of its directory with the same size and hash
//!    (SHA256, or SHA512 for repositories that list only SHA512);
//! 4. the index is decompressed as it is read, with a bound of [`MAX_INDEX_TEXT`] bytes
//!    (gzip/xz bombs are refused), one stanza at a time; every [`ArtifactKind::Deb`]
//!    artifact of the source must appear in it (`Filename`) with the same `Size` and
//!    `SHA256` (or `SHA512`, computed from the blob while streaming). Only the stanzas of
//!    those `.deb`s are parsed in full and kept, so memory does not grow with the
//!    archive (a Cube's noble indexes list over 100,000 packages; a snapshot carries a
//!    few hundred).
//!
//! Every refusal names the artifact and the upstream. Blobs are read through the caller's
//! closures, which return bytes that import has already verified against the manifest.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use formats::apt::release::{HashKind, Release};
use formats::apt::stream::{StanzaReader, index_reader, package_entry, stanza_field};
use formats::digest::Digest;
use formats::snapshot::{Artifact, ArtifactKind, Manifest, SourceKind};
use keys::openpgp::Keyring;
use sha2::Digest as _;

/// Largest decompressed upstream `Packages` text accepted, in bytes (512 MiB; the largest
/// Debian and Ubuntu indexes are under 100 MB). A gzip or xz bomb is refused here.
pub const MAX_INDEX_TEXT: u64 = 512 * 1024 * 1024;

/// Largest upstream `InRelease`/`Release`/`Release.gpg` read, in bytes.
pub const MAX_RELEASE_BYTES: u64 = 64 * 1024 * 1024;

/// Directory name, inside the trusted-keys directory, of the upstream APT keyrings.
pub const UPSTREAM_KEYRINGS_DIR: &str = "upstream";

/// Why upstream provenance failed. Messages name the upstream and the artifact.
#[derive(Debug, thiserror::Error)]
pub enum ProvenanceError {
    /// The snapshot does not say which keyring verifies an APT upstream.
    #[error(
        "APT upstream {upstream}: the snapshot names no upstream keyring, so its InRelease cannot be verified here; re-export the snapshot with this version of mirror-sync"
    )]
    NoKeyringNamed {
        /// The source name.
        upstream: String,
    },
    /// The keyring name is not a plain file name.
    #[error("APT upstream {upstream}: keyring name {name:?} is not a plain file name")]
    BadKeyringName {
        /// The source name.
        upstream: String,
        /// The name found.
        name: String,
    },
    /// The named keyring is not installed.
    #[error(
        "APT upstream {upstream}: upstream keyring {name} is not installed at {}; copy the keyring that signs this upstream's InRelease there (check its fingerprint first)",
        path.display()
    )]
    KeyringMissing {
        /// The source name.
        upstream: String,
        /// The keyring file name.
        name: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The keyring cannot be loaded.
    #[error("APT upstream {upstream}: upstream keyring {}: {reason}", path.display())]
    KeyringUnreadable {
        /// The source name.
        upstream: String,
        /// The keyring file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An upstream directory has no Release file.
    #[error("APT upstream {upstream}: no upstream InRelease or Release for {dir}")]
    NoRelease {
        /// The source name.
        upstream: String,
        /// The provenance directory.
        dir: String,
    },
    /// An upstream signature does not verify against the installed keyring.
    #[error(
        "artifact {artifact}: the upstream signature does not verify against the installed keyring {}: {reason}",
        keyring.display()
    )]
    BadSignature {
        /// The InRelease or Release.gpg artifact.
        artifact: String,
        /// The keyring file.
        keyring: PathBuf,
        /// Why.
        reason: String,
    },
    /// An upstream index does not match the upstream-signed Release.
    #[error("artifact {artifact}: {reason}")]
    Index {
        /// The index artifact.
        artifact: String,
        /// Why.
        reason: String,
    },
    /// A `.deb` that the upstream-signed Packages does not list, or lists with other bytes.
    #[error("artifact {artifact}: {reason}")]
    Deb {
        /// The deb artifact.
        artifact: String,
        /// Why.
        reason: String,
    },
    /// A blob could not be read.
    #[error("artifact {artifact}: cannot read its blob: {reason}")]
    Read {
        /// The artifact.
        artifact: String,
        /// Why.
        reason: String,
    },
}

/// What the provenance check covered, for the import summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProvenanceReport {
    /// Upstream Release files whose signature verified.
    pub releases_verified: u64,
    /// Upstream Packages indexes matched against their Release.
    pub indexes_verified: u64,
    /// `.deb` artifacts found in an upstream-signed Packages index.
    pub debs_verified: u64,
}

/// Access to verified blob bytes.
pub trait BlobSource {
    /// The whole blob, refused if over `max` bytes.
    fn read(&self, digest: &Digest, max: u64) -> Result<Vec<u8>, String>;
    /// A reader over the blob.
    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + '_>, String>;
}

/// Hash and size a `Packages` stanza states for one file.
struct Listed {
    size: u64,
    sha256: Option<String>,
    sha512: Option<String>,
}

/// Checks the upstream provenance of every APT source of `manifest` (module docs):
/// [`prepare_apt`], then [`Prepared::check_debs`]. `keyrings_dir` holds the installed
/// upstream keyrings.
///
/// Errors: the first failure, as a [`ProvenanceError`] naming the upstream and artifact.
pub fn check_apt(
    manifest: &Manifest,
    keyrings_dir: &Path,
    blobs: &(dyn BlobSource + Sync),
) -> Result<ProvenanceReport, ProvenanceError> {
    prepare_apt(manifest, keyrings_dir, blobs)?.check_debs(manifest, blobs)
}

/// The upstream-signed package lists of every APT source of a manifest, checked and
/// parsed ([`prepare_apt`]): what [`Prepared::check_debs`] matches the `.deb`s against.
pub struct Prepared {
    /// Source name → pool path (`pool/…`) → what its upstream-signed `Packages` lists.
    listed: HashMap<String, HashMap<String, Listed>>,
    /// Releases and indexes verified so far (`debs_verified` is 0).
    report: ProvenanceReport,
}

/// One upstream `Packages` index to decompress and parse (a task of [`prepare_apt`]).
struct IndexTask<'a> {
    /// The source it belongs to.
    source: &'a str,
    /// The index artifact (its blob was matched against the signed Release).
    artifact: &'a Artifact,
    /// Its path relative to its Release (`main/binary-amd64/Packages.xz`).
    rel: &'a str,
    /// The pool paths (`pool/…`) of the source's `.deb`s: the only stanzas kept.
    wanted: &'a HashSet<&'a str>,
}

/// Steps 1–4 of the module docs but the `.deb` match: for every APT source of
/// `manifest` whose artifacts need it, load its keyring, verify every upstream Release,
/// match every upstream index against its Release, then decompress and parse the indexes
/// on all CPUs (one index per thread at a time, at most
/// [`std::thread::available_parallelism`] threads). Reads only the Release and index
/// blobs, so an import can run it while it still copies the `.deb`s and wheels.
///
/// Errors: the first failure in source, directory and manifest order, as a
/// [`ProvenanceError`] naming the upstream and artifact.
pub fn prepare_apt(
    manifest: &Manifest,
    keyrings_dir: &Path,
    blobs: &(dyn BlobSource + Sync),
) -> Result<Prepared, ProvenanceError> {
    let mut report = ProvenanceReport::default();
    // Per APT source, the pool paths of its `.deb`s (what `check_debs` looks up).
    let mut wanted: HashMap<&str, HashSet<&str>> = HashMap::new();
    for source in manifest
        .sources
        .iter()
        .filter(|s| s.kind == SourceKind::Apt)
    {
        let prefix = format!("apt/{}/", source.name);
        let debs = manifest.artifacts.iter().filter(|a| {
            a.kind == ArtifactKind::Deb && a.upstream.as_deref() == Some(source.name.as_str())
        });
        wanted.insert(
            source.name.as_str(),
            debs.filter_map(|a| a.path.strip_prefix(&prefix)).collect(),
        );
    }
    let none = HashSet::new();
    let mut tasks: Vec<IndexTask<'_>> = Vec::new();
    let mut listed: HashMap<String, HashMap<String, Listed>> = HashMap::new();
    for source in manifest
        .sources
        .iter()
        .filter(|s| s.kind == SourceKind::Apt)
    {
        let up = source.name.as_str();
        if !needs_keyring(manifest, up) {
            continue;
        }
        listed.entry(up.to_owned()).or_default();
        let of_source = |kind: ArtifactKind| {
            manifest
                .artifacts
                .iter()
                .filter(move |a| a.kind == kind && a.upstream.as_deref() == Some(up))
        };
        let keyring_path = keyring_path(up, source.upstream_keyring.as_deref(), keyrings_dir)?;
        let keyring =
            Keyring::load(&keyring_path).map_err(|e| ProvenanceError::KeyringUnreadable {
                upstream: up.to_owned(),
                path: keyring_path.clone(),
                reason: e.to_string(),
            })?;
        // Group the Release files by directory.
        let mut dirs: BTreeMap<&str, HashMap<&str, &Artifact>> = BTreeMap::new();
        for r in of_source(ArtifactKind::UpstreamRelease) {
            let (dir, name) = r.path.rsplit_once('/').unwrap_or(("", &r.path));
            dirs.entry(dir).or_default().insert(name, r);
        }
        for (dir, files) in &dirs {
            let release = verified_release(up, dir, files, &keyring, &keyring_path, blobs)?;
            report.releases_verified += 1;
            let entries = release.entries().map_err(|e| ProvenanceError::NoRelease {
                upstream: up.to_owned(),
                dir: format!("{dir} ({e})"),
            })?;
            let prefix = format!("{dir}/");
            for idx in of_source(ArtifactKind::UpstreamIndex) {
                let Some(rel) = idx.path.strip_prefix(&prefix) else {
                    continue;
                };
                check_index_entry(idx, rel, &entries, blobs)?;
                report.indexes_verified += 1;
                tasks.push(IndexTask {
                    source: up,
                    artifact: idx,
                    rel,
                    wanted: wanted.get(up).unwrap_or(&none),
                });
            }
        }
    }
    // Parse on all CPUs; merge in task order, so a later index overrides an earlier one
    // for the same file, as a sequential pass would.
    for (task, parsed) in tasks.iter().zip(parse_all(&tasks, blobs)) {
        let entries = parsed?;
        let map = listed.entry(task.source.to_owned()).or_default();
        map.reserve(entries.len());
        map.extend(entries);
    }
    Ok(Prepared { listed, report })
}

/// One index parsed: every stanza's pool path with what it lists, or why not.
type Parsed = Result<Vec<(String, Listed)>, ProvenanceError>;

/// Decompresses and parses every task's index, over up to
/// [`std::thread::available_parallelism`] scoped threads; one result per task, in order.
fn parse_all(tasks: &[IndexTask<'_>], blobs: &(dyn BlobSource + Sync)) -> Vec<Parsed> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(tasks.len());
    let results: Mutex<Vec<Option<Parsed>>> = Mutex::new((0..tasks.len()).map(|_| None).collect());
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(task) = tasks.get(i) else {
                        return;
                    };
                    let r = parse_index(task, blobs);
                    if let Ok(mut all) = results.lock()
                        && let Some(slot) = all.get_mut(i)
                    {
                        *slot = Some(r);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .zip(tasks)
        .map(|(r, t)| {
            r.unwrap_or_else(|| {
                Err(ProvenanceError::Read {
                    artifact: t.artifact.path.clone(),
                    reason: "not parsed (a parsing thread failed)".into(),
                })
            })
        })
        .collect()
}

/// Reads one upstream index, decompressing as it goes (bounded by [`MAX_INDEX_TEXT`]),
/// one stanza at a time: the stanzas whose `Filename` is one of the task's `.deb`s are
/// parsed in full, and their pool path, size and hashes returned; the others are only
/// looked at for that field.
fn parse_index(
    task: &IndexTask<'_>,
    blobs: &(dyn BlobSource + Sync),
) -> Result<Vec<(String, Listed)>, ProvenanceError> {
    let idx = task.artifact;
    let bad = |reason: String| ProvenanceError::Index {
        artifact: idx.path.clone(),
        reason,
    };
    let blob = blobs
        .open(&idx.digest)
        .map_err(|reason| ProvenanceError::Read {
            artifact: idx.path.clone(),
            reason,
        })?;
    let text = index_reader(task.rel, blob).map_err(|e| bad(e.to_string()))?;
    let mut stanzas = StanzaReader::new(
        task.rel,
        BufReader::with_capacity(256 * 1024, text),
        MAX_INDEX_TEXT,
    );
    let mut out = Vec::new();
    let mut index = 0;
    while let Some(st) = stanzas.next_stanza().map_err(|e| bad(e.to_string()))? {
        index += 1;
        let listed = stanza_field(st.text, "Filename")
            .is_some_and(|f| task.wanted.contains(f.trim_start_matches("./")));
        if !listed {
            continue;
        }
        let Some(e) = package_entry(&st, index - 1).map_err(|e| bad(e.to_string()))? else {
            continue;
        };
        out.push((
            e.pool_path().to_owned(),
            Listed {
                size: e.size,
                sha256: e.sha256,
                sha512: e.sha512,
            },
        ));
    }
    Ok(out)
}

impl Prepared {
    /// Step 4's match: every [`ArtifactKind::Deb`] artifact of each prepared source must
    /// be listed in its upstream-signed `Packages` with the same size and SHA256 (or
    /// SHA512, streamed from the blob, which must be readable now). Returns the whole
    /// report.
    ///
    /// Errors: the first `.deb` (in source and manifest order) that does not match.
    pub fn check_debs(
        self,
        manifest: &Manifest,
        blobs: &(dyn BlobSource + Sync),
    ) -> Result<ProvenanceReport, ProvenanceError> {
        let mut report = self.report;
        for source in manifest
            .sources
            .iter()
            .filter(|s| s.kind == SourceKind::Apt)
        {
            let up = source.name.as_str();
            let Some(listed) = self.listed.get(up) else {
                continue;
            };
            let deb_prefix = format!("apt/{up}/");
            for deb in manifest
                .artifacts
                .iter()
                .filter(|a| a.kind == ArtifactKind::Deb && a.upstream.as_deref() == Some(up))
            {
                check_deb(deb, &deb_prefix, listed, up, blobs)?;
                report.debs_verified += 1;
            }
        }
        Ok(report)
    }
}

/// The blobs [`prepare_apt`] reads: those of every upstream Release file and index
/// artifact of `manifest`.
pub fn index_blobs(manifest: &Manifest) -> std::collections::HashSet<Digest> {
    manifest
        .artifacts
        .iter()
        .filter(|a| {
            matches!(
                a.kind,
                ArtifactKind::UpstreamRelease | ArtifactKind::UpstreamIndex
            )
        })
        .map(|a| a.digest)
        .collect()
}

/// Does APT source `upstream` of `manifest` carry anything whose provenance [`check_apt`]
/// verifies (a `.deb` or an upstream Release file), and so need its upstream keyring?
pub(crate) fn needs_keyring(manifest: &Manifest, upstream: &str) -> bool {
    manifest.artifacts.iter().any(|a| {
        matches!(a.kind, ArtifactKind::Deb | ArtifactKind::UpstreamRelease)
            && a.upstream.as_deref() == Some(upstream)
    })
}

/// The installed keyring file `dir/name` of APT source `upstream`.
///
/// Errors: no name, a name that is not a plain file name, or no regular file there.
pub(crate) fn keyring_path(
    upstream: &str,
    name: Option<&str>,
    dir: &Path,
) -> Result<PathBuf, ProvenanceError> {
    let Some(name) = name else {
        return Err(ProvenanceError::NoKeyringNamed {
            upstream: upstream.to_owned(),
        });
    };
    if name.is_empty()
        || name.starts_with('.')
        || name.contains(['/', '\\', '\0'])
        || name.len() > 255
    {
        return Err(ProvenanceError::BadKeyringName {
            upstream: upstream.to_owned(),
            name: name.to_owned(),
        });
    }
    let path = dir.join(name);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => Ok(path),
        _ => Err(ProvenanceError::KeyringMissing {
            upstream: upstream.to_owned(),
            name: name.to_owned(),
            path,
        }),
    }
}

/// Verifies the InRelease (or Release + Release.gpg) of one directory; returns the Release.
fn verified_release(
    upstream: &str,
    dir: &str,
    files: &HashMap<&str, &Artifact>,
    keyring: &Keyring,
    keyring_path: &Path,
    blobs: &(dyn BlobSource + Sync),
) -> Result<Release, ProvenanceError> {
    let read = |a: &Artifact| {
        blobs
            .read(&a.digest, MAX_RELEASE_BYTES)
            .map_err(|reason| ProvenanceError::Read {
                artifact: a.path.clone(),
                reason,
            })
    };
    let bad_sig = |a: &Artifact, reason: String| ProvenanceError::BadSignature {
        artifact: a.path.clone(),
        keyring: keyring_path.to_path_buf(),
        reason,
    };
    let text = if let Some(inrelease) = files.get("InRelease") {
        let bytes = read(inrelease)?;
        let text =
            std::str::from_utf8(&bytes).map_err(|_| bad_sig(inrelease, "not UTF-8 text".into()))?;
        keyring
            .verify_inrelease(text)
            .map_err(|e| bad_sig(inrelease, e.to_string()))?
            .signed_text
    } else if let (Some(rel), Some(sig)) = (files.get("Release"), files.get("Release.gpg")) {
        let body = read(rel)?;
        let signature = read(sig)?;
        keyring
            .verify_detached(&body, &signature)
            .map_err(|e| bad_sig(sig, e.to_string()))?;
        String::from_utf8(body).map_err(|_| bad_sig(rel, "not UTF-8 text".into()))?
    } else {
        return Err(ProvenanceError::NoRelease {
            upstream: upstream.to_owned(),
            dir: dir.to_owned(),
        });
    };
    Release::parse(&text).map_err(|e| ProvenanceError::NoRelease {
        upstream: upstream.to_owned(),
        dir: format!("{dir} (the signed Release does not parse: {e})"),
    })
}

fn check_index_entry(
    idx: &Artifact,
    rel: &str,
    entries: &[formats::apt::release::IndexEntry],
    blobs: &(dyn BlobSource + Sync),
) -> Result<(), ProvenanceError> {
    let bad = |reason: String| ProvenanceError::Index {
        artifact: idx.path.clone(),
        reason,
    };
    let mine: Vec<_> = entries.iter().filter(|e| e.path == rel).collect();
    if mine.is_empty() {
        return Err(bad(format!(
            "{rel} is not listed in the upstream-signed Release"
        )));
    }
    for e in &mine {
        if e.size != idx.size {
            return Err(bad(format!(
                "size {} but the upstream-signed Release lists {} bytes",
                idx.size, e.size
            )));
        }
    }
    if let Some(e) = mine.iter().find(|e| e.hash_kind == HashKind::Sha256) {
        if !e.hash_hex.eq_ignore_ascii_case(&idx.digest.hex()) {
            return Err(bad(format!(
                "sha256 {} but the upstream-signed Release lists {}",
                idx.digest.hex(),
                e.hash_hex
            )));
        }
        return Ok(());
    }
    if let Some(e) = mine.iter().find(|e| e.hash_kind == HashKind::Sha512) {
        let actual = sha512_of(idx, blobs)?;
        if !e.hash_hex.eq_ignore_ascii_case(&actual) {
            return Err(bad(format!(
                "sha512 {actual} but the upstream-signed Release lists {}",
                e.hash_hex
            )));
        }
        return Ok(());
    }
    Err(bad(
        "the upstream-signed Release gives no SHA256 or SHA512 for it".into(),
    ))
}

fn check_deb(
    deb: &Artifact,
    prefix: &str,
    listed: &HashMap<String, Listed>,
    upstream: &str,
    blobs: &(dyn BlobSource + Sync),
) -> Result<(), ProvenanceError> {
    let bad = |reason: String| ProvenanceError::Deb {
        artifact: deb.path.clone(),
        reason,
    };
    let Some(entry) = deb
        .path
        .strip_prefix(prefix)
        .and_then(|file| listed.get(file))
    else {
        return Err(bad(format!(
            "not listed in the upstream-signed Packages of {upstream}; the snapshot holds a package its upstream never published"
        )));
    };
    if entry.size != deb.size {
        return Err(bad(format!(
            "size {} but the upstream-signed Packages of {upstream} lists {}",
            deb.size, entry.size
        )));
    }
    if let Some(h) = &entry.sha256 {
        if !h.eq_ignore_ascii_case(&deb.digest.hex()) {
            return Err(bad(format!(
                "sha256 {} but the upstream-signed Packages of {upstream} lists {h}",
                deb.digest.hex()
            )));
        }
        return Ok(());
    }
    if let Some(h) = &entry.sha512 {
        let actual = sha512_of(deb, blobs)?;
        if !h.eq_ignore_ascii_case(&actual) {
            return Err(bad(format!(
                "sha512 {actual} but the upstream-signed Packages of {upstream} lists {h}"
            )));
        }
        return Ok(());
    }
    Err(bad(format!(
        "the upstream-signed Packages of {upstream} gives no SHA256 or SHA512 for it"
    )))
}

/// SHA-512 (lowercase hex) of an artifact's blob, streamed.
fn sha512_of(a: &Artifact, blobs: &dyn BlobSource) -> Result<String, ProvenanceError> {
    let err = |reason: String| ProvenanceError::Read {
        artifact: a.path.clone(),
        reason,
    };
    let mut r = blobs.open(&a.digest).map_err(err)?;
    let mut h = sha2::Sha512::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(err(e.to_string())),
        }
    }
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyring_names_are_plain_file_names() {
        let dir = Path::new("/nonexistent-keyrings");
        for bad in ["", ".hidden", "../x.gpg", "a/b.gpg", "a\0b"] {
            assert!(
                matches!(
                    keyring_path("u", Some(bad), dir),
                    Err(ProvenanceError::BadKeyringName { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            keyring_path("u", None, dir),
            Err(ProvenanceError::NoKeyringNamed { .. })
        ));
        let err = keyring_path("debian", Some("debian-archive.gpg"), dir).unwrap_err();
        assert!(matches!(err, ProvenanceError::KeyringMissing { .. }));
        assert!(err.to_string().contains("debian-archive.gpg"), "{err}");
    }
}
