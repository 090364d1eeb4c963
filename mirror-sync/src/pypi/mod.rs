//! PyPI upstreams, as the steps of the `[[pypi]]` tables (all tables form one universe):
//!
//! 1. [`config`] — the `[[pypi]]` table ([`config::PypiUpstream`]) and its checks, per
//!    table and over all tables (index binding, something to mirror).
//! 2. select — the pure rules: which files a target installs ([`select`]), PEP 440
//!    specifiers as version ranges ([`ranges`]), the resolution of the requirements per
//!    target into one consistent set of pins (PubGrub, index routing; [`resolve`]) and the
//!    lock-file inputs taken as pinned ([`lock`]). They read project pages fetched on
//!    demand, so the I/O around them is step 1 of [`sync`] ([`sync::plan`] stops there).
//! 3. [`sync`] — fetch the project pages, select, then download and verify every kept
//!    file into the store.
//! 4. [`render`] — when a snapshot is cut: one merged PEP 503 HTML and PEP 691 JSON
//!    simple index over every upstream.

pub mod config;
pub mod lock;
pub mod ranges;
pub mod render;
pub mod resolve;
pub mod select;
pub mod sync;
