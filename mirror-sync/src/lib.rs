//! `mirror-sync`: the connected-side tool. It syncs upstream APT repositories and PyPI
//! indexes into a content-addressed store, verifying every signature and hash on the way,
//! and cuts signed snapshots onto removable media.
//!
//! Data flows one way: upstream → [`apt`]/[`pypi`]/[`oci`] (fetch + verify, driven by
//! [`sync`], which commits each upstream's state) → `store` (CAS) → [`export`] (cut,
//! plan, write the drive; a folder whose `mod.rs` reads as its numbered steps).
//!
//! `[[osv]]` upstreams ([`osv`]) carry offline vulnerability data (OSV exports) as
//! artifacts; `mirror-server vulns` matches the snapshot's packages against them.
//!
//! Each ecosystem is one folder laid out as its steps, `config → select → sync → render`
//! ([`apt`], [`pypi`], [`oci`]; docs/adr/0011-sync-ecosystem-layout.md): `<eco>/config.rs`
//! holds its table and checks, the selection rules, the sync into the store, and
//! `<eco>/render.rs` its part of the snapshot tree (over the shared helpers of
//! [`render`]).
//!
//! [`cli`] is arguments and rendering only; the work it starts lives in [`sync`],
//! [`trust`] (signing keys, the Cube's trust bundle), [`export`], [`verify`], [`plan`],
//! [`sbom`] and [`init`]. [`config`] parses the file, holds the top-level keys and the
//! checks across sections, and re-exports each ecosystem's table; imports run one way
//! (`config` → `<eco>::config`, no cycle).

pub mod apt;
pub mod cli;
pub mod config;
pub mod export;
pub mod fetch;
pub mod init;
pub mod oci;
pub mod osv;
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
