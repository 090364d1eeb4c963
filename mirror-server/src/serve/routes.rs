//! The live routing table: which blob answers which logical path.
//!
//! Built from the current snapshot of a store (`index.redb` → manifest blob → its routing
//! fields, [`formats::snapshot::RouteView`]) and swapped in whole, so a request sees exactly one
//! snapshot. The generation file `STORE/current.gen` (a decimal counter that `import`,
//! `rollback` and `gc` rewrite atomically after each commit) tells running servers to
//! rebuild the table. [`load_named`] builds the table of any held snapshot (for
//! `/snapshots/<channel>/<sequence>/…`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use formats::digest::Digest;
use formats::snapshot::{ArtifactKind, MAX_MANIFEST_BYTES, RouteView};
use store::{Cas, Index};

pub use store::layout::{GENERATION_FILE, INDEX_FILE, STORE_ENTRIES};

/// What `serve --store` was given, when it is usable ([`check_store_dir`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreDir {
    /// A store: `index.redb` is there.
    Store,
    /// A store with nothing imported yet: an empty directory, or one that holds only
    /// store files (an audit log of refused imports, a lock file). Served as 503 until an
    /// import.
    Fresh,
}

/// Why a `--store` path is not a store ([`check_store_dir`]). Every message names the path
/// and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreDirError {
    /// Nothing at the path.
    #[error(
        "store {} does not exist: check --store (it names the directory `mirror-server import --store` wrote), or create it empty (mkdir) to serve 503 until the first import",
        formats::display::escape(&.0.to_string_lossy())
    )]
    Missing(PathBuf),
    /// The path is a file, a device, ….
    #[error(
        "store {} is a {kind}, not a directory: --store names the store directory (the one `mirror-server import --store` wrote)",
        formats::display::escape(&.path.to_string_lossy())
    )]
    NotADirectory {
        /// The path.
        path: PathBuf,
        /// What it is (`file`, `symlink to a file`, …).
        kind: String,
    },
    /// A directory without `index.redb` that holds other files.
    #[error(
        "{} is not a mirror-server store: it has no {INDEX_FILE} and holds other files ({}); check --store, or import a drive into an empty directory first",
        formats::display::escape(&.path.to_string_lossy()),
        formats::display::escape(&.examples.join(", "))
    )]
    NotAStore {
        /// The path.
        path: PathBuf,
        /// Up to three of the foreign entries.
        examples: Vec<String>,
    },
    /// The directory cannot be read.
    #[error(
        "cannot read the store {}: {source} (serve needs read access to it: run as the store's owner)",
        formats::display::escape(&.path.to_string_lossy())
    )]
    Unreadable {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Checks the path `serve --store` names before anything is bound: a store
/// (`index.redb` present), or a store with nothing imported yet (an empty directory, or
/// one holding only [`STORE_ENTRIES`] and hidden temp files). A missing path, a
/// non-directory, and a directory of other files are refused: a typo in `--store` fails
/// at start instead of serving 503 forever.
///
/// Errors: [`StoreDirError`], naming the path and the fix.
pub fn check_store_dir(store: &Path) -> Result<StoreDir, StoreDirError> {
    let meta = match std::fs::metadata(store) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StoreDirError::Missing(store.to_path_buf()));
        }
        Err(source) => {
            return Err(StoreDirError::Unreadable {
                path: store.to_path_buf(),
                source,
            });
        }
    };
    if !meta.is_dir() {
        let kind = if meta.is_file() {
            "file"
        } else {
            "special file"
        };
        let kind = if std::fs::symlink_metadata(store).is_ok_and(|m| m.file_type().is_symlink()) {
            format!("symbolic link to a {kind}")
        } else {
            kind.to_owned()
        };
        return Err(StoreDirError::NotADirectory {
            path: store.to_path_buf(),
            kind,
        });
    }
    let unreadable = |source| StoreDirError::Unreadable {
        path: store.to_path_buf(),
        source,
    };
    let mut foreign = Vec::new();
    let mut has_index = false;
    for entry in std::fs::read_dir(store).map_err(unreadable)? {
        let name = entry.map_err(unreadable)?.file_name();
        let name = name.to_string_lossy();
        if name == INDEX_FILE {
            has_index = true;
        } else if !STORE_ENTRIES.contains(&name.as_ref()) && !name.starts_with('.') {
            foreign.push(name.into_owned());
        }
    }
    if has_index {
        return Ok(StoreDir::Store);
    }
    if foreign.is_empty() {
        return Ok(StoreDir::Fresh);
    }
    foreign.sort();
    foreign.truncate(3);
    Err(StoreDirError::NotAStore {
        path: store.to_path_buf(),
        examples: foreign,
    })
}

/// One servable file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// SHA-256 of the content (the CAS blob).
    pub digest: Digest,
    /// Size in bytes, as listed in the manifest (and verified at import).
    pub size: u64,
    /// `Content-Type` from the manifest, when it sets one (shared between the entries
    /// that use the same type).
    pub media_type: Option<Arc<str>>,
}

/// The routing table of one snapshot.
#[derive(Debug, Clone)]
pub struct Live {
    /// Snapshot name, `<channel>/<sequence>`.
    pub name: String,
    /// The snapshot's channel.
    pub channel: String,
    /// The snapshot's sequence number.
    pub sequence: u64,
    /// Logical path (no leading `/`) → file. About 150 bytes per artifact with the path.
    pub routes: HashMap<Box<str>, Entry>,
    /// OCI content discovery, precomputed: repositories and their tags.
    pub oci: OciCatalog,
}

/// The OCI repositories of a snapshot and their tags, computed once per snapshot from the
/// `v2/<repository>/{manifests,blobs,referrers}/<reference>` logical paths, so that
/// `_catalog` and `tags/list` never parse the manifest per request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OciCatalog {
    /// Every repository name (`docker.io/library/ubuntu`, `127.0.0.1__5000/team/app`)
    /// that has at least one OCI artifact, sorted lexically (byte order), no duplicates.
    pub repositories: Vec<String>,
    /// Repository → its tags (from [`ArtifactKind::OciTag`] artifacts), sorted lexically
    /// (byte order). Repositories without tags have an empty list.
    pub tags: HashMap<String, Vec<String>>,
    /// First components of the repositories (`docker.io`, `127.0.0.1__5000`): the served
    /// registries, in [`formats::oci::registry_to_component`] form, sorted.
    pub components: Vec<String>,
}

impl OciCatalog {
    /// Builds the catalog from a manifest's `(kind, logical path)` pairs, using the OCI
    /// kinds (`oci-manifest`, `oci-tag`, `oci-blob`, `oci-referrers`). Paths that do not
    /// have the form `v2/<repository>/<manifests|blobs|referrers>/<reference>` are ignored.
    pub fn from_artifacts<'a>(
        artifacts: impl IntoIterator<Item = (ArtifactKind, &'a str)>,
    ) -> OciCatalog {
        let mut tags: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (kind, path) in artifacts {
            let resource = match kind {
                ArtifactKind::OciManifest | ArtifactKind::OciTag => "manifests",
                ArtifactKind::OciBlob => "blobs",
                ArtifactKind::OciReferrers => "referrers",
                _ => continue,
            };
            let Some((repo, reference)) = split_oci_path(path, resource) else {
                continue;
            };
            let set = tags.entry(repo).or_default();
            if kind == ArtifactKind::OciTag {
                set.insert(reference);
            }
        }
        let repositories: Vec<String> = tags.keys().map(|r| (*r).to_owned()).collect();
        let components: BTreeSet<&str> = tags
            .keys()
            .map(|r| r.split_once('/').map_or(*r, |(first, _)| first))
            .collect();
        OciCatalog {
            repositories,
            components: components.into_iter().map(str::to_owned).collect(),
            tags: tags
                .into_iter()
                .map(|(r, t)| (r.to_owned(), t.into_iter().map(str::to_owned).collect()))
                .collect(),
        }
    }

    /// True when `repository` has at least one OCI artifact in the snapshot.
    pub fn has_repository(&self, repository: &str) -> bool {
        self.tags.contains_key(repository)
    }

    /// True when `component` (`docker.io`, `127.0.0.1__5000`) is the first component of a
    /// served repository.
    pub fn serves_component(&self, component: &str) -> bool {
        self.components
            .binary_search_by(|c| c.as_str().cmp(component))
            .is_ok()
    }
}

/// Splits logical path `v2/<repository>/<resource>/<reference>` into
/// `(repository, reference)`. The reference is the last segment (tags and digests contain
/// no `/`) and `resource` the one before it, so repository names that themselves contain a
/// `manifests` or `blobs` component still split correctly.
pub fn split_oci_path<'a>(path: &'a str, resource: &str) -> Option<(&'a str, &'a str)> {
    let rest = path.strip_prefix("v2/")?;
    let (head, reference) = rest.rsplit_once('/')?;
    let (repo, res) = head.rsplit_once('/')?;
    (res == resource && !repo.is_empty() && !reference.is_empty()).then_some((repo, reference))
}

impl Live {
    /// Builds the table from the routing fields of a manifest (the lean path [`load`]
    /// uses). The paths are copied one after another, so the long-lived table sits in
    /// one compact stretch of the heap.
    pub fn from_view(v: RouteView<'_>) -> Live {
        let name = v.name();
        let oci = OciCatalog::from_artifacts(v.artifacts.iter().map(|a| (a.kind, a.path.as_ref())));
        let mut types = MediaTypes::default();
        let mut routes = HashMap::with_capacity(v.artifacts.len());
        for a in v.artifacts {
            let entry = Entry {
                digest: a.digest,
                size: a.size,
                media_type: types.intern(a.media_type.as_deref()),
            };
            routes.insert(Box::<str>::from(a.path.as_ref()), entry);
        }
        Live {
            name,
            channel: v.channel,
            sequence: v.sequence,
            routes,
            oci,
        }
    }

    /// The file at logical path `path`, if the snapshot has one.
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.routes.get(path)
    }
}

/// One shared copy of each distinct media type of a snapshot (a few dozen at most).
#[derive(Default)]
struct MediaTypes(HashMap<String, Arc<str>>);

impl MediaTypes {
    fn intern(&mut self, t: Option<&str>) -> Option<Arc<str>> {
        let t = t?;
        if let Some(a) = self.0.get(t) {
            return Some(a.clone());
        }
        let a: Arc<str> = Arc::from(t);
        self.0.insert(t.to_owned(), a.clone());
        Some(a)
    }
}

/// Why the live snapshot could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The index could not be read.
    #[error(transparent)]
    Index(#[from] store::IndexError),
    /// `current` names a snapshot the index has no record of.
    #[error("{}: current snapshot {name:?} has no record; re-import it", index.display())]
    NoRecord {
        /// The index file.
        index: PathBuf,
        /// The name found in `current`.
        name: String,
    },
    /// The manifest blob is missing, damaged or unreadable.
    #[error("manifest of snapshot {name} (blob {digest}): {source}; re-import the snapshot")]
    Manifest {
        /// The snapshot.
        name: String,
        /// The manifest blob.
        digest: Digest,
        /// The underlying error.
        source: Box<store::CasError>,
    },
    /// The stored manifest does not parse.
    #[error("manifest of snapshot {name}: {source}")]
    Parse {
        /// The snapshot.
        name: String,
        /// The parse error.
        source: formats::snapshot::ManifestError,
    },
}

/// Loads the routing table of the store's current snapshot; `Ok(None)` when nothing has
/// been imported yet. Opens the index read-only and drops it before returning. Blocking.
pub fn load(store: &Path) -> Result<Option<Live>, LiveError> {
    let index_path = store.join(INDEX_FILE);
    let record = {
        let Some(index) = Index::open_read_only(&index_path)? else {
            return Ok(None);
        };
        let Some(name) = index.current()? else {
            return Ok(None);
        };
        match index.snapshot(&name)? {
            Some(r) => r,
            None => {
                return Err(LiveError::NoRecord {
                    index: index_path,
                    name,
                });
            }
        }
    };
    from_record(store, &record).map(Some)
}

/// Loads the routing table of the held snapshot `name` (`<channel>/<sequence>`), live or
/// not; `Ok(None)` when the store holds no such snapshot (or nothing at all). Opens the
/// index read-only and drops it before reading the manifest. Blocking.
pub fn load_named(store: &Path, name: &str) -> Result<Option<Live>, LiveError> {
    let record = {
        let Some(index) = Index::open_read_only(&store.join(INDEX_FILE))? else {
            return Ok(None);
        };
        match index.snapshot(name)? {
            Some(r) => r,
            None => return Ok(None),
        }
    };
    from_record(store, &record).map(Some)
}

/// Reads (re-hashing) the manifest blob of `record` and parses its routing fields
/// ([`RouteView`]: `meta` and the sources are skipped) into a routing table. Afterwards
/// the allocator is asked to return the freed parse buffers to the system
/// ([`release_free_memory`]).
fn from_record(store: &Path, record: &store::SnapshotRecord) -> Result<Live, LiveError> {
    let live = parse_record(store, record);
    release_free_memory();
    live
}

fn parse_record(store: &Path, record: &store::SnapshotRecord) -> Result<Live, LiveError> {
    let cas = Cas::at(store);
    let bytes = cas
        .read_bytes(&record.manifest, MAX_MANIFEST_BYTES)
        .map_err(|source| LiveError::Manifest {
            name: record.name.clone(),
            digest: record.manifest,
            source: Box::new(source),
        })?;
    let view = RouteView::from_slice(&bytes).map_err(|source| LiveError::Parse {
        name: record.name.clone(),
        source,
    })?;
    Ok(Live::from_view(view))
}

/// Returns freed heap memory to the operating system (glibc `malloc_trim(0)`): parsing a
/// large manifest leaves freed pages below the long-lived routing table that the
/// allocator would otherwise keep, so the resident size would stay at the parse peak.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's arenas; it takes no
    // pointers and is thread-safe (it locks each arena).
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Contents of `STORE/current.gen` (trimmed), `None` when absent or unreadable.
pub fn generation(store: &Path) -> Option<String> {
    store::Store::at(store).generation()
}

#[cfg(test)]
mod tests {
    use super::*;
    use formats::snapshot::{Artifact, MANIFEST_VERSION, Manifest, Meta};

    fn artifact(kind: ArtifactKind, path: &str) -> Artifact {
        Artifact {
            kind,
            upstream: None,
            path: path.to_owned(),
            digest: Digest::of(path.as_bytes()),
            size: 1,
            media_type: None,
            meta: Meta::default(),
        }
    }

    #[test]
    fn oci_catalog_is_precomputed() {
        let d = Digest::of(b"x");
        let m = Manifest {
            manifest_version: MANIFEST_VERSION,
            channel: "c".into(),
            sequence: 1,
            created: "2026-11-21T15:10:59Z".into(),
            base: None,
            generator: "t".into(),
            signer: "k".into(),
            sources: vec![],
            artifacts: vec![
                artifact(
                    ArtifactKind::OciTag,
                    "v2/docker.io/library/a/manifests/latest",
                ),
                artifact(ArtifactKind::OciTag, "v2/docker.io/library/a/manifests/1.0"),
                artifact(
                    ArtifactKind::OciManifest,
                    &format!("v2/docker.io/library/a/manifests/{d}"),
                ),
                artifact(
                    ArtifactKind::OciBlob,
                    &format!("v2/127.0.0.1__5000/x/manifests/y/blobs/{d}"),
                ),
                artifact(
                    ArtifactKind::OciReferrers,
                    &format!("v2/ghcr.example/r/referrers/{d}"),
                ),
                // Wrong resource for its kind, and non-OCI kinds: ignored.
                artifact(
                    ArtifactKind::OciBlob,
                    "v2/docker.io/library/b/manifests/1.0",
                ),
                artifact(ArtifactKind::Deb, "v2/docker.io/library/c/manifests/1.0"),
            ],
        };
        let bytes = m.to_bytes();
        let live = Live::from_view(RouteView::from_slice(&bytes).unwrap());
        assert_eq!(
            live.oci.repositories,
            [
                "127.0.0.1__5000/x/manifests/y",
                "docker.io/library/a",
                "ghcr.example/r"
            ]
        );
        assert_eq!(live.oci.tags["docker.io/library/a"], ["1.0", "latest"]);
        assert!(live.oci.tags["ghcr.example/r"].is_empty());
        assert_eq!(
            live.oci.components,
            ["127.0.0.1__5000", "docker.io", "ghcr.example"]
        );
        assert!(live.oci.serves_component("docker.io"));
        assert!(!live.oci.serves_component("library"));
        assert!(live.oci.has_repository("ghcr.example/r"));
        assert!(!live.oci.has_repository("docker.io/library/b"));
        assert_eq!(
            split_oci_path("v2/a/b/blobs/sha256:1", "blobs"),
            Some(("a/b", "sha256:1"))
        );
        assert_eq!(split_oci_path("v2/blobs/x", "blobs"), None);
        assert_eq!(split_oci_path("apt/a/blobs/x", "blobs"), None);
    }
}
