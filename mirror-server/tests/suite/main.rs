//! mirror-server's integration tests, one binary (one link of the whole graph instead of
//! one per file). Each module is what used to be its own `tests/<name>.rs`; run one with
//! `cargo test -p mirror-server --test suite <module>::` (e.g. `import::`).
//!
//! Not here: `tests/hostile.rs` stays its own binary. It floods a server with hundreds of
//! connections from the test process, stalls downloads and times idle limits; run next to
//! the other modules' tests it would compete with them for the process's descriptors
//! and its timing bounds would measure the neighbours' load, not the server.

mod common;
mod crash_trials;

mod import;
mod import_preflight;
mod json_errors;
mod lifecycle;
mod observe;
mod oci;
mod oci_policy;
mod receipt;
mod serve;
mod start_checks;
mod switch;
mod ui;
mod ui_browser;
