//! Snapshot data for the console pages, read from the store and cached.
//!
//! A held snapshot never changes, so everything is keyed by its manifest blob's digest:
//! [`Cache`] keeps every snapshot's artifact counts (small) and the package tables
//! ([`SnapshotData`]) of the last [`DATA_CACHE`] snapshots a page asked for (a
//! 100 000-artifact snapshot's table is tens of MB). All loading is blocking: call it on
//! the blocking pool.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use formats::digest::Digest;
use formats::sbom::{self, Component, Ecosystem};
use formats::snapshot::{ArtifactKind, Manifest};
use store::{SnapshotRecord, Store};

/// How many snapshots' package tables [`Cache`] keeps.
pub const DATA_CACHE: usize = 2;

/// Most snapshots whose artifact counts [`Cache`] keeps (it starts over past that).
pub const COUNTS_CACHE: usize = 1024;

/// Artifacts per kind (the manifest's kebab-case kind names: `deb`, `wheel`,
/// `oci-manifest`, …), sorted by kind name.
pub type KindCounts = Vec<(String, u64)>;

/// One package of a snapshot: an SBOM component ([`formats::sbom::components`]) with the
/// rest of its artifact's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRow {
    /// `deb`, `pypi` or `oci`.
    pub ecosystem: Ecosystem,
    /// Name as upstream spells it (OCI: the repository's last segment).
    pub name: String,
    /// Lower-case [`Self::name`], for search.
    pub name_lower: String,
    /// Version (OCI: the manifest digest); may be empty.
    pub version: String,
    /// Debian architecture or OCI platform architecture.
    pub arch: Option<String>,
    /// The SBOM component's declared license ([`Component::license`]).
    pub license: Option<String>,
    /// The SBOM component's supplier, `Name <e-mail>` ([`Component::supplier`]: its own,
    /// else its registry or source).
    pub supplier: Option<String>,
    /// Package URL (purl-spec).
    pub purl: Option<String>,
    /// SHA-256 of the artifact.
    pub digest: Digest,
    /// The artifact's logical path (its URL path on the server).
    pub path: String,
    /// The artifact's `upstream` (the configured source's name).
    pub upstream: Option<String>,
    /// `meta.upstream_url`: where the bytes were fetched from.
    pub upstream_url: Option<String>,
}

/// What the pages need of one held snapshot.
#[derive(Debug)]
pub struct SnapshotData {
    /// `<channel>/<sequence>`.
    pub name: String,
    /// The manifest blob.
    pub manifest: Digest,
    /// Every package, in [`formats::sbom::components`] order.
    pub packages: Vec<PackageRow>,
    /// The SBOM components (for the diff).
    pub components: Vec<Component>,
}

/// Artifacts per kind of `m`.
pub fn kind_counts(m: &Manifest) -> KindCounts {
    let mut by_kind: HashMap<ArtifactKind, u64> = HashMap::new();
    for a in &m.artifacts {
        *by_kind.entry(a.kind).or_default() += 1;
    }
    let named: BTreeMap<String, u64> = by_kind.into_iter().map(|(k, n)| (k.name(), n)).collect();
    named.into_iter().collect()
}

impl SnapshotData {
    /// The packages of `m`: [`formats::sbom::components`] joined, by logical path, with
    /// the artifacts' license, supplier, upstream and upstream URL.
    pub fn from_manifest(m: &Manifest, manifest: Digest) -> SnapshotData {
        let components = sbom::components(m);
        let by_path: HashMap<&str, &formats::snapshot::Artifact> =
            m.artifacts.iter().map(|a| (a.path.as_str(), a)).collect();
        let packages = components
            .iter()
            .map(|c| {
                let a = by_path.get(c.bom_ref.as_str());
                PackageRow {
                    ecosystem: c.ecosystem,
                    name: c.name.clone(),
                    name_lower: c.name.to_lowercase(),
                    version: c.version.clone(),
                    arch: c.arch.clone(),
                    license: c.license.clone(),
                    supplier: c.supplier.as_ref().map(|s| s.display()),
                    purl: c.purl.clone(),
                    digest: c.sha256,
                    path: c.bom_ref.clone(),
                    upstream: a.and_then(|a| a.upstream.clone()),
                    upstream_url: a.and_then(|a| a.meta.upstream_url.clone()),
                }
            })
            .collect();
        SnapshotData {
            name: m.name(),
            manifest,
            packages,
            components,
        }
    }
}

/// The console's cache of parsed snapshots (see the module docs).
#[derive(Debug, Default)]
pub struct Cache {
    data: Mutex<VecDeque<Arc<SnapshotData>>>,
    counts: Mutex<HashMap<Digest, Arc<KindCounts>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// The index record of held snapshot `name`; `Ok(None)` when the store holds no such
/// snapshot (or nothing at all).
///
/// Errors: the index cannot be read (the message names the store).
pub fn record(store: &Path, name: &str) -> Result<Option<SnapshotRecord>, String> {
    let dir = Store::at(store);
    let index = dir
        .index_read_only()
        .map_err(|e| format!("cannot read the store's index: {e}"))?;
    let Some(index) = index else {
        return Ok(None);
    };
    index
        .snapshot(name)
        .map_err(|e| format!("cannot read snapshot {name} from the store's index: {e}"))
}

fn read_manifest(store: &Path, rec: &SnapshotRecord) -> Result<Manifest, String> {
    crate::lifecycle::read_manifest(&Store::at(store).cas(), rec)
        .map(|(m, _)| m)
        .map_err(|e| format!("{e} (run mirror-server verify; re-import the snapshot)"))
}

impl Cache {
    /// The package table of held snapshot `rec` (from the cache, else read from `store`
    /// and cached).
    ///
    /// Errors: the manifest blob is missing, damaged or does not parse.
    pub fn snapshot(
        &self,
        store: &Path,
        rec: &SnapshotRecord,
    ) -> Result<Arc<SnapshotData>, String> {
        {
            let mut c = lock(&self.data);
            if let Some(i) = c.iter().position(|d| d.manifest == rec.manifest)
                && let Some(d) = c.remove(i)
            {
                c.push_front(d.clone());
                return Ok(d);
            }
        }
        let m = read_manifest(store, rec)?;
        let counts = Arc::new(kind_counts(&m));
        let d = Arc::new(SnapshotData::from_manifest(&m, rec.manifest));
        drop(m);
        crate::serve::routes::release_free_memory();
        self.put_counts(rec.manifest, counts);
        let mut c = lock(&self.data);
        if !c.iter().any(|e| e.manifest == d.manifest) {
            c.push_front(d.clone());
            c.truncate(DATA_CACHE);
        }
        Ok(d)
    }

    /// The artifact counts per kind of held snapshot `rec` (from the cache, else read
    /// from `store`).
    ///
    /// Errors: as [`Cache::snapshot`].
    pub fn counts(&self, store: &Path, rec: &SnapshotRecord) -> Result<Arc<KindCounts>, String> {
        if let Some(c) = lock(&self.counts).get(&rec.manifest) {
            return Ok(c.clone());
        }
        let m = read_manifest(store, rec)?;
        let counts = Arc::new(kind_counts(&m));
        drop(m);
        crate::serve::routes::release_free_memory();
        self.put_counts(rec.manifest, counts.clone());
        Ok(counts)
    }

    fn put_counts(&self, manifest: Digest, counts: Arc<KindCounts>) {
        let mut c = lock(&self.counts);
        if c.len() >= COUNTS_CACHE {
            c.clear();
        }
        c.insert(manifest, counts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use formats::snapshot::{Artifact, MANIFEST_VERSION, Meta};

    #[test]
    fn rows_join_components_and_meta() {
        let deb = Artifact {
            kind: ArtifactKind::Deb,
            upstream: Some("ubuntu".into()),
            path: "apt/ubuntu/pool/main/h/hello/hello_2.10-3_amd64.deb".into(),
            digest: Digest::of(b"hello"),
            size: 5,
            media_type: None,
            meta: Meta {
                name: Some("hello".into()),
                version: Some("2.10-3".into()),
                architecture: Some("amd64".into()),
                license: Some("GPL-3.0-or-later".into()),
                upstream_url: Some("https://apt.example/pool/hello.deb".into()),
                ..Meta::default()
            },
        };
        let key = Artifact {
            kind: ArtifactKind::RepoKey,
            upstream: None,
            path: "keys/repo.gpg".into(),
            digest: Digest::of(b"key"),
            size: 3,
            media_type: None,
            meta: Meta::default(),
        };
        let m = Manifest {
            manifest_version: MANIFEST_VERSION,
            channel: "stable".into(),
            sequence: 3,
            created: "2026-11-21T15:10:59Z".into(),
            base: None,
            generator: "t".into(),
            signer: "k".into(),
            sources: vec![],
            artifacts: vec![deb, key],
        };
        let d = SnapshotData::from_manifest(&m, Digest::of(b"m"));
        assert_eq!(d.name, "stable/3");
        assert_eq!(d.packages.len(), 1, "{:?}", d.packages);
        let p = &d.packages[0];
        assert_eq!(p.name, "hello");
        assert_eq!(p.version, "2.10-3");
        assert_eq!(p.license.as_deref(), Some("GPL-3.0-or-later"));
        assert_eq!(p.supplier, None);
        assert_eq!(p.upstream.as_deref(), Some("ubuntu"));
        assert_eq!(
            p.upstream_url.as_deref(),
            Some("https://apt.example/pool/hello.deb")
        );
        assert_eq!(
            kind_counts(&m),
            vec![("deb".to_owned(), 1), ("repo-key".to_owned(), 1)]
        );
    }
}
