//! `mirror-sync`: the connected-side tool. It syncs upstream APT repositories and PyPI
//! indexes into a content-addressed store, verifying every signature and hash on the way,
//! and cuts signed snapshots onto removable media.
//!
//! Data flows one way: upstream → [`apt`]/[`pypi`]/[`oci`] (fetch + verify, driven by
//! [`sync`], which commits each upstream's state) → `store` (CAS) → [`export`] (cut,
//! plan, write the drive; a folder whose `mod.rs` reads as its numbered steps).
//!
//! [`cli`] is arguments and rendering only; the work it starts lives in [`sync`],
//! [`trust`] (signing keys, the Cube's trust bundle), [`export`], [`verify`], [`plan`],
//! [`sbom`] and [`init`]. [`config`] parses the file; each ecosystem's table shape and
//! checks it does not own (the `[[oci]]` table) come from that ecosystem's module, so
//! imports run one way (`config` → `oci` → `oci::policy`, no cycle).

pub mod apt;
pub mod cli;
pub mod config;
pub mod export;
pub mod fetch;
pub mod init;
pub mod oci;
pub mod plan;
pub mod preset;
pub mod progress;
pub mod pypi;
pub mod receipt;
pub mod render;
pub mod sbom;
pub mod state;
pub mod sync;
pub mod trust;
pub mod verify;

/// Now, as RFC 3339 UTC with second precision (`2026-11-21T15:10:59Z`).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
