//! `store`: the local storage of both binaries, and the owner of a store directory.
//!
//! - [`layout`]: [`Store`], the store directory as a type. It defines every name in it
//!   (`index.redb`, `blobs/`, `tmp/`, `lock`, `current.gen`, `audit.log`, …), takes the
//!   store lock ([`Store::lock`]), bumps the generation counter
//!   ([`Store::bump_generation`]) and sweeps stale staging.
//! - [`blob_store`]: [`BlobStore`], the storage trait: stat, whole and ranged readers,
//!   streaming writes whose digest is checked before an atomic publish, delete, list.
//!   [`Cas`] is its file-system backend; an S3 backend comes next behind the same trait.
//! - [`cas`]: a content-addressed blob store on a local file system, laid out like the
//!   media (`<root>/blobs/sha256/<hex>`), written through hashing temp files that are
//!   verified, fsynced and renamed into place.
//! - [`fsio`]: the file-system primitives written once: [`fsio::open_regular`],
//!   [`fsio::read_bounded`] (refuses links and hard links), [`fsio::write_atomic`]
//!   (always fsyncs the directory), [`fsio::sync_dir`].
//! - [`index`]: the embedded redb index of a mirror-server store (`<root>/index.redb`):
//!   imported snapshots, the live snapshot per channel, the snapshot served at the root
//!   and the pinned snapshots (rollback, pins and garbage collection change them).

pub mod blob_store;
pub mod cas;
pub mod fsio;
pub mod index;
pub mod layout;

pub use blob_store::{BlobReader, BlobStore, BlobWrite, LocalBlob, SeekableBlob};
pub use cas::{BlobWriter, Cas, CasError, Expected};
pub use index::{Index, IndexError, IndexState, PinRecord, SnapshotRecord};
pub use layout::{Store, StoreIoError, StoreLock};
