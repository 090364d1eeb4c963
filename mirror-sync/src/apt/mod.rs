//! APT upstreams: fetch and verify `InRelease`/`Release`, indexes and `.deb`s, and close
//! the selection under dependencies.

pub mod config;
pub mod render;
pub mod resolve;
pub mod sync;
