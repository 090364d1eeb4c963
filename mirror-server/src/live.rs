//! The live routing table: which blob answers which logical path.
//!
//! Built from the current snapshot of a store (`index.redb` → manifest blob →
//! [`formats::snapshot::Manifest`]) and swapped in whole, so a request sees exactly one
//! snapshot. The generation file `STORE/current.gen` (a decimal counter that `import`
//! rewrites atomically after each commit) tells running servers to rebuild the table.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use formats::digest::Digest;
use formats::snapshot::{MAX_MANIFEST_BYTES, Manifest};
use store::{Cas, Index};

/// File name of the index database inside a store.
pub const INDEX_FILE: &str = "index.redb";
/// File name of the generation counter inside a store.
pub const GENERATION_FILE: &str = "current.gen";

/// One servable file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// SHA-256 of the content (the CAS blob).
    pub digest: Digest,
    /// Size in bytes, as listed in the manifest (and verified at import).
    pub size: u64,
    /// `Content-Type` from the manifest, when it sets one.
    pub media_type: Option<String>,
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
    /// Logical path (no leading `/`) → file.
    pub routes: HashMap<String, Entry>,
}

impl Live {
    /// Builds the table from a parsed manifest.
    pub fn from_manifest(m: &Manifest) -> Live {
        let routes = m
            .artifacts
            .iter()
            .map(|a| {
                (
                    a.path.clone(),
                    Entry {
                        digest: a.digest,
                        size: a.size,
                        media_type: a.media_type.clone(),
                    },
                )
            })
            .collect();
        Live {
            name: m.name(),
            channel: m.channel.clone(),
            sequence: m.sequence,
            routes,
        }
    }

    /// The file at logical path `path`, if the snapshot has one.
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.routes.get(path)
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
    let cas = Cas::at(store);
    let bytes = cas
        .read_bytes(&record.manifest, MAX_MANIFEST_BYTES)
        .map_err(|source| LiveError::Manifest {
            name: record.name.clone(),
            digest: record.manifest,
            source: Box::new(source),
        })?;
    let manifest = Manifest::from_slice(&bytes).map_err(|source| LiveError::Parse {
        name: record.name.clone(),
        source,
    })?;
    Ok(Some(Live::from_manifest(&manifest)))
}

/// Contents of `STORE/current.gen` (trimmed), `None` when absent or unreadable.
pub fn generation(store: &Path) -> Option<String> {
    std::fs::read_to_string(store.join(GENERATION_FILE))
        .ok()
        .map(|s| s.trim().to_owned())
}
