//! `store`: the local storage of both binaries.
//!
//! - [`cas`]: a content-addressed blob store on a local file system, laid out like the
//!   media (`<root>/blobs/sha256/<hex>`), written through hashing temp files that are
//!   verified, fsynced and renamed into place.
//! - [`fsio`]: the file-system primitives written once: [`fsio::open_regular`],
//!   [`fsio::read_bounded`] (refuses links and hard links), [`fsio::write_atomic`]
//!   (always fsyncs the directory), [`fsio::sync_dir`].
//! - [`index`]: the embedded redb index of a mirror-server store (`<root>/index.redb`):
//!   imported snapshots, the live snapshot per channel, the snapshot served at the root
//!   and the pinned snapshots (rollback, pins and garbage collection change them).

pub mod cas;
pub mod fsio;
pub mod index;

pub use cas::{BlobWriter, Cas, CasError, Expected};
pub use index::{Index, IndexError, IndexState, PinRecord, SnapshotRecord};
