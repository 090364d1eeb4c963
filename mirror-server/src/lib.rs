//! `mirror-server`: the air-gapped side of the mirror.
//!
//! - [`import`]: verify a snapshot drive (signature, versions, anti-rollback, every blob)
//!   and ingest it into the local store, all or nothing.
//! - [`serve`]: the read-only HTTP server (APT, PEP 503/691, plain files, health, metrics)
//!   over the live snapshot, switching snapshots without a restart.
//! - [`live`]: the routing table built from the store's current snapshot.
//! - [`cli`]: the command line (`mirror-server import|serve`).

pub mod cli;
pub mod import;
pub mod live;
pub mod serve;
