//! `mirror-server`: the air-gapped side of the mirror.
//!
//! - [`import`]: verify a snapshot drive (signature, versions, anti-rollback, every blob)
//!   and ingest it into the local store, all or nothing.
//! - [`serve`]: the read-only HTTP server (APT, PEP 503/691, plain files, health, metrics)
//!   over the live snapshot, switching snapshots without a restart.
//! - [`live`]: re-export of [`serve::routes`], the routing table built from the store's
//!   current snapshot.
//! - [`preflight`], [`provenance`]: the import's prerequisites (trust anchors, free space,
//!   checked before anything is copied) and upstream-provenance checks; they live under
//!   [`import`] and are re-exported here.
//! - [`lifecycle`]: the store lock, the generation counter, stale staging, rollback, pins
//!   and the list of held snapshots.
//! - [`progress`]: byte progress of `import` and `verify` (bars on a terminal, plain
//!   periodic lines otherwise).
//! - [`gc`]: garbage collection of old snapshots and unreferenced blobs.
//! - [`verify`]: re-hash every blob and check every held snapshot (the outcome goes to
//!   the audit log).
//! - [`ui`]: the read-only web console `serve` offers under `/ui/`.
//! - [`audit`]: the store's hash-chained audit log.
//! - [`receipt`]: signed site receipts (what this site holds) for catch-up drives.
//! - [`vulns`]: the `vulns` verb (a snapshot's packages against its own OSV data, CycloneDX VEX)
//!   and the vulnerability part of `sbom diff`.
//! - [`client_config`]: the apt, pip, uv, containerd, Docker and podman configuration
//!   `client-config` prints for everything the live snapshot serves.
//! - [`cli`]: the command line (`mirror-server import|serve|snapshots|rollback|pin|unpin|gc|verify|audit|receipt|client-config`).

pub mod audit;
pub mod cli;
pub mod client_config;
pub mod gc;
pub mod import;
pub mod lifecycle;
pub mod progress;
/// The import's prerequisite and upstream-provenance checks, at their old paths.
pub use import::{preflight, provenance};
pub mod receipt;
pub mod sbom;
pub mod serve;
pub mod ui;
pub mod verify;
pub mod vulns;

/// The live routing table, now [`serve::routes`] (this path stays for the importer, the
/// lifecycle verbs, gc, sbom and verify).
pub use serve::routes as live;
