//! The cut's render step: what the server will serve, generated from the synced states.
//! Each ecosystem renders its own part of the snapshot tree in its folder —
//! [`crate::apt::render`] (`Packages`, `Release`, `InRelease`, `Release.gpg` per APT
//! upstream), [`crate::pypi::render`] (one merged PEP 503/691 simple index over every
//! `[[pypi]]` upstream), [`crate::oci::render`] (referrers indexes and the drive root's
//! OCI image layout index) — over the shared helpers of [`crate::render`]. This module
//! gathers them for the cut and the plan (and keeps the paths `export::render::…`).

pub(super) use crate::apt::render::render_apt;
pub use crate::oci::render::{layout_index, merge_oci, referrers_indexes};
pub(super) use crate::pypi::render::render_simple;
pub(super) use crate::render::put;
