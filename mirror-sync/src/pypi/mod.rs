//! PyPI upstreams: read PEP 503/691 project pages, select files for the configured
//! targets, close the selection under `Requires-Dist`, and fetch and verify the files.

pub mod select;
pub mod sync;
