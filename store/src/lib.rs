//! `store`: the local storage of both binaries.
//!
//! - [`cas`]: a content-addressed blob store on a local file system, laid out like the
//!   media (`<root>/blobs/sha256/<hex>`), written through hashing temp files that are
//!   verified, fsynced and renamed into place.
//! - [`index`]: the embedded redb index of a mirror-server store (`<root>/index.redb`):
//!   imported snapshots, the live snapshot per channel and the snapshot served at the root.

pub mod cas;
pub mod index;

pub use cas::{BlobWriter, Cas, CasError, Expected};
pub use index::{Index, IndexError, SnapshotRecord};
