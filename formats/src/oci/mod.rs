//! OCI registry data: repository/tag/digest grammar, image references, manifests and
//! indexes, cosign signature artifacts, and the OCI image layout and referrers indexes.
//!
//! Sources: OCI distribution-spec v1.1 (§Pulling for the name/tag grammar, §Listing
//! Referrers), OCI image-spec v1.1 (§Descriptor, §Image Manifest, §Image Index,
//! §Image Layout), Docker Image Manifest V2 Schema 2, and the containers/image "simple
//! signing" payload that cosign signs.
//!
//! Everything here is pure: callers hand in bytes and get typed values or rendered bytes.
//!
//! Mirror naming: a repository is served as `<registry component>/<path>`, where the
//! registry component is the upstream host with `:` replaced by `__`
//! ([`registry_to_component`]), because the distribution name grammar forbids `:`.
//!
//! Layout, one file per concern, each depending only on the ones above it:
//!
//! 1. [`error`]: [`OciError`] and [`MAX_MANIFEST_BYTES`].
//! 2. [`reference`](mod@reference): repository/tag/digest grammar, the registry-host rule
//!    ([`check_registry`]), served names and [`ImageRef`].
//! 3. [`platform`]: the image [`Platform`].
//! 4. [`manifest`]: media types, [`Descriptor`], [`parse_manifest`].
//! 5. [`cosign`]: cosign tags and the [`SimpleSigning`] payload.
//! 6. [`index`]: the image-layout `index.json`, referrers indexes and their filter.
//!
//! Every item is re-exported here, so callers use `formats::oci::X`.

pub mod cosign;
pub mod error;
pub mod index;
pub mod manifest;
pub mod platform;
pub mod reference;

pub use cosign::{
    COSIGN_SIGNATURE_ANNOTATION, COSIGN_SIMPLESIGNING, SimpleSigning, cosign_tag, parse_cosign_tag,
};
pub use error::{MAX_MANIFEST_BYTES, OciError};
pub use index::{
    OCI_LAYOUT_FILE_CONTENT, REF_NAME_ANNOTATION, filter_referrers, referrers_tag,
    render_layout_index, render_referrers_index,
};
pub use manifest::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, Descriptor, MANIFEST_ACCEPT, ManifestKind, OCI_INDEX,
    OCI_MANIFEST, ParsedManifest, is_foreign_layer, parse_manifest,
};
pub use platform::Platform;
pub use reference::{
    ImageRef, MAX_REGISTRY_HOST_BYTES, check_registry, component_to_registry, is_valid_repository,
    is_valid_tag, parse_digest, registry_to_component, split_served_name,
};

#[cfg(test)]
mod tests;
