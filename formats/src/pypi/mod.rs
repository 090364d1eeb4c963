//! Python packaging formats: PEP 503 HTML and PEP 691 JSON simple-index pages, wheel and
//! sdist file names with wheel tags, and core metadata.

pub mod filename;
pub mod metadata;
pub mod name;
pub mod simple;
pub mod tags;
