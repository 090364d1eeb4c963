//! PyPI upstreams: read PEP 503/691 project pages, resolve the configured requirements
//! per target into one consistent set of pins (PubGrub, [`resolve`]), take lock-file
//! inputs as pinned ([`lock`]), route each project to one index, and fetch and verify
//! the files ([`sync`]).

pub mod config;
pub mod lock;
pub mod ranges;
pub mod render;
pub mod resolve;
pub mod select;
pub mod sync;
