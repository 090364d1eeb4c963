//! `formats`: the data formats both binaries share, as pure types, parsers and writers.
//!
//! Nothing in this crate does network or file-system I/O; callers hand it bytes
//! (or `Read`/`BufRead` values) and get typed values or rendered bytes back.
//!
//! - [`digest`]: `sha256:<hex>` digests (OCI image-spec §Digests), streaming hasher.
//! - [`deb822`]: Debian control-file syntax (Debian Policy §5.1).
//! - [`apt`]: APT `Release`/`InRelease`, `Packages`, package relations, version ordering.
//! - [`pypi`]: PEP 503 HTML and PEP 691 JSON simple-index pages, wheel/sdist filenames
//!   and wheel tags, core metadata (PEP 566/643).
//! - [`snapshot`]: the signed snapshot manifest carried on the media (docs/media-format.md).
//! - [`path`]: logical-path validation (no `..`, no absolute paths, no NUL).
//! - [`oci`]: OCI/Docker registry names, image references, manifests, indexes, cosign tags.
//! - [`receipt`]: site receipts (what an air-gapped site holds), a DSSE-signed JSON
//!   payload with a compact blob set (docs/receipt-format.md).
//! - [`cli_error`]: the `--json` error document of a failed command.
//! - [`display`]: escaping of drive and upstream text for an operator's terminal.
//! - [`cli_docs`]: man pages and shell completions rendered from a clap command,
//!   shared by both CLIs.
//! - [`progress_line`]: the plain progress lines off a terminal (interval, rate, eta).
//! - [`osv`]: OSV vulnerability records and export archives, range evaluation, snapshot
//!   scans, vulnerability diffs and CycloneDX VEX.
//! - [`sbom`]: CycloneDX 1.6 and SPDX 2.3 SBOMs of a snapshot: generation, parsing,
//!   checking against a manifest, package-level diffs.

pub mod apt;
pub mod cli_docs;
pub mod cli_error;
pub mod deb822;
pub mod digest;
pub mod display;
pub mod media;
pub mod oci;
pub mod osv;
pub mod path;
pub mod progress_line;
pub mod pypi;
pub mod receipt;
pub mod sbom;
pub mod snapshot;
