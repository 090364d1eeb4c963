//! The options of one export (the `mirror-sync export` flags).

use std::path::PathBuf;

/// Options of one export.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Drive directories (created if missing): one, or one per volume.
    pub to: Vec<PathBuf>,
    /// Write a delta: leave out the blobs of this exported snapshot (`channel/sequence`).
    pub base: Option<String>,
    /// Write a catch-up drive: leave out the blobs a site's receipt says it holds.
    pub receipt: Option<PathBuf>,
    /// The site's public key (PEM) the receipt must be signed with.
    pub site_key: Option<PathBuf>,
    /// Split files larger than this many bytes (default: detected from the drive's
    /// filesystem, 4 GiB − 1 on FAT).
    pub max_file_size: Option<u64>,
    /// Spread the snapshot over volumes of at most this many bytes.
    pub volume_size: Option<u64>,
    /// Write only this volume (1-based) to the single `to`.
    pub volume: Option<u32>,
    /// Write this already cut snapshot (`channel/sequence`) instead of cutting one.
    pub snapshot: Option<String>,
    /// Cut a new snapshot even when an interrupted export could be resumed.
    pub new_cut: bool,
}
