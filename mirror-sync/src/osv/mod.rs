//! The `[[osv]]` upstreams: offline vulnerability data. Each one fetches the OSV export
//! of every configured ecosystem (`<url>/<ecosystem>/all.zip`, a zip of OSV JSON
//! records), checks that it parses as OSV ([`formats::osv::parse_archive`]) and keeps the
//! exact bytes in the store as an `osv` artifact at `osv/<upstream>/<ecosystem>/all.zip`.
//!
//! The data is not signed upstream: it is trusted as the build host received it over
//! HTTPS, and from then on through the snapshot signature (docs/threat-model.md).
//!
//! Laid out as the other ecosystems' steps: [`config`] (the table and its checks) and
//! [`sync`] (fetch, check, store). The export takes the artifacts as they are.

pub mod config;
pub mod sync;

pub use config::OsvUpstream;
