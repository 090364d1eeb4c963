//! APT upstreams, as the steps of the `[[apt]]` tables:
//!
//! 1. [`config`] — the `[[apt]]` table ([`config::AptUpstream`]) and its checks, including
//!    the keyring pin ([`config::check_keyring_fingerprints`]).
//! 2. select — the pure rule in [`resolve`]: the dependency closure over one universe of
//!    package entries (apt's candidate rule, Debian Policy §7.1 and §7.5). It needs the
//!    verified indexes first, so the I/O around it is phases 1 and 2 of [`sync`]
//!    ([`sync::fetch_universe`], [`sync::select()`]; `mirror-sync plan` stops there).
//! 3. [`sync`] — fetch and verify `InRelease`/`Release` and the indexes, select, then
//!    stream the selected `.deb`s into the store ([`sync::sync_all`]).
//! 4. [`render`] — when a snapshot is cut: the `Packages` indexes, `Release`,
//!    `InRelease` and `Release.gpg` of each upstream, signed with the repository key.

pub mod config;
pub mod deb_archive;
pub mod render;
pub mod resolve;
pub mod sync;
