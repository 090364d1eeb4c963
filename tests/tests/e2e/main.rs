//! The end-to-end tests, one binary (one link of the whole graph instead of one per
//! file). Each module is what used to be its own `tests/<name>.rs`; run one with
//! `cargo test -p mirror-e2e --test e2e <module>::` (e.g. `deb_package::`, `e2e::` for the
//! APT + PyPI day-one scenario). Build the binaries they drive first
//! (`cargo build -p mirror-sync -p mirror-server`, or run with `--workspace`).
//!
//! Not here, each its own binary so its documented command (`--test <name>`) stays:
//! - `tests/live.rs`: opt-in (`MIRROR_LIVE_TESTS=1 cargo test --workspace --test live`),
//!   against the host's real upstreams.
//! - `tests/big.rs` and `tests/fat32.rs`: heavy and opt-in
//!   (`MIRROR_HEAVY_TESTS=1 cargo test --workspace --release --test big --test fat32`);
//!   `big` bounds a child's peak RSS and reports wall time and throughput, which
//!   neighbours running in the same process would blur.

mod apt_universe;
mod bad_media;
mod client_config;
mod deb_package;
mod e2e;
mod export_crash;
mod faults;
mod fixtures;
mod init_from_host;
mod oci_e2e;
mod oci_fixtures;
mod presets;
mod progress;
mod pypi_resolve;
mod resync;
mod sbom;
mod sbom_validators;
mod sneakernet;
mod sync_logs;
mod tls;
mod trust_packets;
mod vulns;
