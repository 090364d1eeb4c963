//! The one error type of [`crate::oci`], and the manifest size limit it names.

/// Largest manifest accepted, in bytes (4 MiB, the limit distribution applies).
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// Errors from OCI parsing and validation.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OciError {
    /// A repository name that does not match the distribution-spec name grammar.
    #[error(
        "invalid repository name {0:?}: expected lowercase path components \
         [a-z0-9]+ joined by '.', '_', '__' or '-', separated by '/', at most 255 bytes"
    )]
    InvalidName(String),
    /// A tag that does not match `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
    #[error("invalid tag {0:?}: expected [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}")]
    InvalidTag(String),
    /// A string that is not a digest (`algorithm:encoded`), or a malformed sha256 digest.
    #[error("invalid digest {0:?}: expected sha256:<64 lowercase hex digits>")]
    InvalidDigest(String),
    /// A well-formed digest with an algorithm other than sha256.
    #[error("unsupported digest {0:?}: only sha256 digests are supported")]
    UnsupportedDigest(String),
    /// An image reference that cannot be parsed.
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference {
        /// The reference as given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A manifest, index or signature payload that cannot be used.
    #[error("invalid manifest: {0}")]
    Manifest(String),
    /// A manifest larger than [`MAX_MANIFEST_BYTES`]; holds its size in bytes.
    #[error("manifest is {0} bytes, larger than the {MAX_MANIFEST_BYTES}-byte limit")]
    TooLarge(u64),
}
