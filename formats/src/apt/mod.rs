//! APT repository formats: `Release`/`InRelease`, `Packages`, package relations and
//! version ordering, and the host's apt sources (deb822 `.sources`, one-line `sources.list`).
//!
//! - [`version`]: version ordering and syntax (deb-version(7), Debian Policy §5.6.12).
//! - [`relation`]: `Depends`/`Provides` fields (Debian Policy §7.1, §7.5).
//! - [`release`]: `Release` files (Debian Repository Format §Release files).
//! - [`packages`]: `Packages` indexes (Debian Policy §5.3), bounded decompression.
//! - [`sources`]: sources.list(5) in both formats.
//! - [`stream`]: `Packages` indexes read a stanza at a time (bounded, streamed
//!   decompression), and stanzas copied back out by byte range.
//!
//! All parsers here report problems as [`AptFormatError`] (except the relation and
//! sources parsers, which have their own error types).

pub mod copyright;
pub mod packages;
pub mod relation;
pub mod release;
pub mod sources;
pub mod stream;
pub mod version;

use crate::deb822::Deb822Error;

/// A problem with an APT `Release` file or `Packages` index.
#[derive(Debug, thiserror::Error)]
pub enum AptFormatError {
    /// The text is not valid control-file syntax.
    #[error("{what}: control-file syntax error at {source}")]
    Syntax {
        /// Which document (e.g. `"Release"`, `"Packages"`).
        what: String,
        /// The syntax error with its line number.
        #[source]
        source: Deb822Error,
    },
    /// The Release text still carries OpenPGP armor: verify `InRelease` and pass the
    /// signed text, not the whole clearsigned message.
    #[error(
        "Release text starts with an OpenPGP armor header; pass the verified signed text, not the clearsigned message"
    )]
    Armored,
    /// A Release file must hold exactly one paragraph.
    #[error("Release file must contain exactly one paragraph, found {found}")]
    ParagraphCount {
        /// How many paragraphs were found.
        found: usize,
    },
    /// A required field is absent.
    #[error("{context}: missing required field {field}")]
    MissingField {
        /// Where: `"Release"`, or `"package jq"` / `"stanza 3"` in a Packages index.
        context: String,
        /// The field name.
        field: String,
    },
    /// A field is present but its value is unusable.
    #[error("{context}: bad {field} value {value:?}: {reason}")]
    BadField {
        /// Where: `"Release"`, or `"package jq 1.6-2.1"` in a Packages index.
        context: String,
        /// The field name.
        field: String,
        /// The offending value (or the offending line of a multi-line field).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The Release file has no `SHA256` nor `SHA512` index list, so no index can be
    /// verified.
    #[error("Release lists neither SHA256 nor SHA512")]
    NoHashes,
    /// A fetched index uses a compression this crate does not read.
    #[error("{path}: unsupported index compression (use Packages, Packages.gz or Packages.xz)")]
    UnsupportedCompression {
        /// The index path as given.
        path: String,
    },
    /// Decompressing an index failed (corrupt or truncated data).
    #[error("{path}: cannot decompress: {reason}")]
    Decompress {
        /// The index path as given.
        path: String,
        /// The decoder's message.
        reason: String,
    },
    /// The (decompressed) index is larger than allowed: a compression bomb or a wrong
    /// limit.
    #[error("{path}: decompressed index exceeds the limit of {max_bytes} bytes")]
    TooLarge {
        /// The index path as given.
        path: String,
        /// The limit that was exceeded, in bytes.
        max_bytes: u64,
    },
    /// One stanza of an index is larger than [`stream::MAX_STANZA_BYTES`] (a line that
    /// never ends, or a hostile index).
    #[error("{path}: the stanza at line {line} exceeds {max_bytes} bytes")]
    StanzaTooLarge {
        /// The index path as given.
        path: String,
        /// The 1-based line where the limit was crossed.
        line: usize,
        /// The limit, in bytes.
        max_bytes: usize,
    },
    /// The index is not UTF-8 text.
    #[error("{path}: index is not valid UTF-8 (at byte {valid_up_to})")]
    NotUtf8 {
        /// The index path as given.
        path: String,
        /// Length of the valid UTF-8 prefix, in bytes.
        valid_up_to: usize,
    },
}
