//! Test-only helpers shared by the workspace's tests (a dev-dependency, never shipped).
//!
//! - [`output`]: [`Output`], the captured result of an external command, with
//!   [`Output::assert_success`] / [`Output::assert_failure`]; [`run_command`] and
//!   [`run_checked`].
//! - [`server`]: [`StaticServer`], the tiny static HTTP server (`python3 -m http.server`
//!   on `127.0.0.1`, an ephemeral port) used as an upstream, with its request log.
//! - [`drive`]: [`drive::Fixture`], snapshot drives built by hand and signed with a fresh
//!   snapshot key whose public half sits in a trusted-keys directory; hostile drives come
//!   from its manifest hook and [`drive::drive_blob`].
//! - [`tree`]: [`tree_digest`] / [`tree_manifest`], to prove a directory is unchanged.
//! - [`crash`]: kill -9 trials: [`crash::kill_after`], a seeded [`crash::Rng`], the
//!   `MIRROR_CRASH_TRIALS` / `MIRROR_CRASH_SEED` settings.

pub mod crash;
pub mod drive;
pub mod output;
pub mod server;
pub mod tree;

pub use output::{Output, run_checked, run_command};
pub use server::StaticServer;
pub use tree::{tree_digest, tree_digest_except_audit, tree_manifest};
