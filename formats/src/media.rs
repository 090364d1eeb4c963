//! The drive description (`media.json`): how one snapshot's blobs are laid out on the
//! drive or drives that carry it. Specified in `docs/media-format.md` (§Media description).
//!
//! The snapshot manifest says *what* a snapshot is; it is the same bytes whether the
//! snapshot travels whole, as a delta, split into parts for FAT32 or spread over several
//! volumes. `media.json` says *how this drive carries it*:
//!
//! - which blobs the drive set carries at all (a delta leaves out the blobs its base or
//!   the site's receipt already holds; the importer must find those in its store);
//! - which blobs are split into parts (FAT32 cannot hold a file of 4 GiB or more), with
//!   each part's digest and size;
//! - which volume holds each file, so any one volume can say which others are needed.
//!
//! It is signed like the manifest (ed25519, detached, `media.json.sig`) and names the
//! manifest by digest, so a reader can trust the layout once the signature verifies. This
//! module is pure: types, planning, rendering and parsing; the writer is
//! `mirror-sync export`, the readers are `mirror-sync verify` and `mirror-server import`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// The media description version this crate reads and writes.
pub const MEDIA_VERSION: u32 = 1;
/// File name of the media description inside `snapshots/<channel>/<sequence>/`.
pub const MEDIA_FILE: &str = "media.json";
/// File name of its detached ed25519 signature (64 raw bytes).
pub const MEDIA_SIGNATURE_FILE: &str = "media.json.sig";
/// Largest media description accepted, in bytes (256 MiB, like the manifest).
pub const MAX_MEDIA_BYTES: u64 = 256 * 1024 * 1024;
/// Largest file FAT32 can hold: 4 GiB − 1 bytes (Microsoft FAT specification §6.2).
pub const FAT32_MAX_FILE_SIZE: u64 = 4 * 1024 * 1024 * 1024 - 1;
/// Most volumes one snapshot may span.
pub const MAX_VOLUMES: u32 = 9999;
/// Blobs per directory above which a FAT drive is sharded: a 64-character long file
/// name takes 6 of the 65,536 directory entries FAT allows per directory.
pub const FAT_FLAT_DIR_LIMIT: usize = 8000;

/// How blob files are named on the drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlobLayout {
    /// `blobs/sha256/<hex>` (OCI image layout compatible; the default).
    #[default]
    Flat,
    /// `blobs/sha256/<hex[0..2]>/<hex>`: for FAT drives with many blobs (a FAT directory
    /// holds at most about 10,900 files with 64-character names).
    Sharded,
}

/// One piece of a split blob: bytes `[offset, offset + size)` of the blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// SHA-256 of the part's bytes.
    pub digest: Digest,
    /// Size in bytes (every part but the last is exactly `max_file_size`).
    pub size: u64,
    /// Volume (1-based) holding the part's file.
    pub volume: u32,
}

/// One blob the drive set carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobEntry {
    /// The blob's digest (as in the manifest).
    pub digest: Digest,
    /// The blob's size in bytes.
    pub size: u64,
    /// Volume holding the whole blob file; absent when the blob is split into `parts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<u32>,
    /// The parts, in order, when the blob is split; their concatenation is the blob.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
}

/// A drive's description of how it carries one snapshot (`media.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Media {
    /// Always [`MEDIA_VERSION`] for what this crate writes.
    pub media_version: u32,
    /// The snapshot's name, `<channel>/<sequence>`.
    pub snapshot: String,
    /// SHA-256 of the exact bytes of the snapshot's `manifest.json`.
    pub manifest: Digest,
    /// This volume's number, 1-based.
    pub volume: u32,
    /// How many volumes the snapshot spans.
    pub volumes: u32,
    /// Largest file written, in bytes; blobs above it are split into parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_file_size: Option<u64>,
    /// How blob files are named.
    #[serde(default, skip_serializing_if = "is_flat")]
    pub layout: BlobLayout,
    /// A delta: the snapshot (`<channel>/<sequence>`) whose blobs were left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// A catch-up drive: the key id of the site whose receipt decided what was left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_site: Option<String>,
    /// Blobs of the manifest that the drive set does not carry (the base or the site
    /// holds them).
    pub omitted_blobs: u64,
    /// Their total size in bytes.
    pub omitted_bytes: u64,
    /// Every blob the drive set carries, sorted by digest.
    pub blobs: Vec<BlobEntry>,
}

fn is_flat(l: &BlobLayout) -> bool {
    *l == BlobLayout::Flat
}

/// Why a media description was refused.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// Larger than [`MAX_MEDIA_BYTES`].
    #[error("media description is {0} bytes, over the {MAX_MEDIA_BYTES}-byte limit")]
    TooLarge(u64),
    /// Not JSON of the expected shape (duplicate keys and unknown fields included).
    #[error("media description is not valid JSON of the expected shape: {0}")]
    Malformed(String),
    /// A version this reader does not know.
    #[error(
        "unknown media description version {0} (this reader knows {MEDIA_VERSION}); use a newer mirror-server"
    )]
    UnknownVersion(u64),
    /// Parses but breaks a rule.
    #[error("invalid media description: {0}")]
    Invalid(String),
}

/// Relative path of a whole blob's file on the drive.
pub fn blob_file(layout: BlobLayout, digest: &Digest) -> String {
    let hex = digest.hex();
    match layout {
        BlobLayout::Flat => format!("blobs/sha256/{hex}"),
        BlobLayout::Sharded => format!("blobs/sha256/{}/{hex}", hex.get(..2).unwrap_or("00")),
    }
}

/// Relative path of part `index` (0-based) of a split blob: `parts/sha256/<hex>/<index>`.
pub fn part_file(digest: &Digest, index: usize) -> String {
    format!("parts/sha256/{}/{index}", digest.hex())
}

/// One file to write: a whole blob, or one part of a split blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// The blob it belongs to.
    pub blob: Digest,
    /// Part index (0-based) for a part; `None` for a whole blob.
    pub part: Option<usize>,
    /// Offset of the file's bytes in the blob.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// Volume (1-based).
    pub volume: u32,
}

impl PlannedFile {
    /// The file's path on the drive.
    pub fn path(&self, layout: BlobLayout) -> String {
        match self.part {
            Some(i) => part_file(&self.blob, i),
            None => blob_file(layout, &self.blob),
        }
    }
}

/// Why a layout cannot be planned.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    /// `max_file_size` of zero.
    #[error("the largest file size must be at least 1 byte")]
    ZeroFileSize,
    /// A file does not fit on an empty volume.
    #[error(
        "a {file} byte file does not fit in a volume of {capacity} usable bytes; use a larger --volume-size or a smaller --max-file-size"
    )]
    VolumeTooSmall {
        /// The file's size.
        file: u64,
        /// Usable bytes of one volume.
        capacity: u64,
    },
    /// More than [`MAX_VOLUMES`] volumes.
    #[error("the snapshot would need more than {MAX_VOLUMES} volumes; use a larger --volume-size")]
    TooManyVolumes,
}

/// Plans which files to write where: blobs larger than `max_file_size` are split into
/// parts of exactly `max_file_size` bytes (the last one shorter); files are placed on
/// volumes in digest order, filling volume 1, then 2, … with at most `capacity` bytes each
/// (`None`: one volume), each file counted as its size rounded up to `block` bytes (the
/// filesystem's allocation unit; FAT32 clusters reach 32 KiB). Deterministic: the same
/// inputs give the same plan, so an interrupted export resumes into the same files.
///
/// Errors: [`PlanError`].
pub fn plan(
    blobs: &BTreeMap<Digest, u64>,
    max_file_size: Option<u64>,
    capacity: Option<u64>,
    block: u64,
) -> Result<Vec<PlannedFile>, PlanError> {
    let block = block.max(1);
    let cost = |size: u64| size.div_ceil(block).saturating_mul(block);
    if max_file_size == Some(0) {
        return Err(PlanError::ZeroFileSize);
    }
    let mut files = Vec::new();
    for (d, &size) in blobs {
        match max_file_size {
            Some(max) if size > max => {
                let mut offset = 0;
                let mut i = 0;
                while offset < size {
                    let n = max.min(size - offset);
                    files.push(PlannedFile {
                        blob: *d,
                        part: Some(i),
                        offset,
                        size: n,
                        volume: 1,
                    });
                    offset += n;
                    i += 1;
                }
            }
            _ => files.push(PlannedFile {
                blob: *d,
                part: None,
                offset: 0,
                size,
                volume: 1,
            }),
        }
    }
    if let Some(cap) = capacity {
        let mut volume = 1u32;
        let mut used = 0u64;
        for f in &mut files {
            let c = cost(f.size);
            if c > cap {
                return Err(PlanError::VolumeTooSmall {
                    file: f.size,
                    capacity: cap,
                });
            }
            if used + c > cap {
                volume += 1;
                used = 0;
                if volume > MAX_VOLUMES {
                    return Err(PlanError::TooManyVolumes);
                }
            }
            f.volume = volume;
            used += c;
        }
    }
    Ok(files)
}

/// The number of volumes a plan uses (at least 1).
pub fn volume_count(files: &[PlannedFile]) -> u32 {
    files.iter().map(|f| f.volume).max().unwrap_or(1)
}

/// Builds the blob table of a [`Media`] from a plan and the digests of the parts
/// (`part_digests[blob]`, in order). Returns an error naming a split blob whose part
/// digests are missing.
pub fn blob_table(
    files: &[PlannedFile],
    part_digests: &HashMap<Digest, Vec<Digest>>,
) -> Result<Vec<BlobEntry>, String> {
    let mut out: BTreeMap<Digest, BlobEntry> = BTreeMap::new();
    for f in files {
        let e = out.entry(f.blob).or_insert_with(|| BlobEntry {
            digest: f.blob,
            size: 0,
            volume: None,
            parts: Vec::new(),
        });
        e.size += f.size;
        match f.part {
            None => e.volume = Some(f.volume),
            Some(i) => {
                let d = part_digests
                    .get(&f.blob)
                    .and_then(|v| v.get(i))
                    .ok_or_else(|| format!("no digest for part {i} of blob {}", f.blob))?;
                e.parts.push(Part {
                    digest: *d,
                    size: f.size,
                    volume: f.volume,
                });
            }
        }
    }
    Ok(out.into_values().collect())
}

#[derive(Deserialize)]
struct VersionProbe {
    media_version: Option<serde_json::Value>,
}

impl Media {
    /// Whether this media description belongs to the snapshot `name` whose manifest bytes
    /// hash to `manifest`; `None` when it does, else a message saying what differs (the
    /// snapshot name, the manifest digest, or both), each value shown once, drive strings
    /// escaped ([`crate::display::escape`]).
    pub fn mismatch(&self, manifest: &Digest, name: &str) -> Option<String> {
        let theirs = crate::display::escape(&self.snapshot);
        match (self.snapshot == name, self.manifest == *manifest) {
            (true, true) => None,
            (false, true) => Some(format!(
                "names snapshot {theirs}, but the manifest it describes (digest {manifest}) is {name}'s; the media description was signed for another snapshot name"
            )),
            (true, false) => Some(format!(
                "describes a different cut of {name}: its manifest digest is {}, this drive's manifest.json hashes to {manifest}; the drive mixes files of two exports",
                self.manifest
            )),
            (false, false) => Some(format!(
                "describes snapshot {theirs} (manifest {}), not this drive's {name} (manifest {manifest}); the drive mixes files of two exports",
                self.manifest
            )),
        }
    }

    /// Serializes to the bytes that get signed (pretty JSON, trailing newline).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// Parses and validates a media description: size limit, version first, shape
    /// (duplicate keys and unknown fields refused), then [`Media::validate`].
    pub fn from_slice(bytes: &[u8]) -> Result<Self, MediaError> {
        if bytes.len() as u64 > MAX_MEDIA_BYTES {
            return Err(MediaError::TooLarge(bytes.len() as u64));
        }
        let probe: VersionProbe =
            serde_json::from_slice(bytes).map_err(|e| MediaError::Malformed(e.to_string()))?;
        match probe.media_version {
            Some(serde_json::Value::Number(n)) if n.as_u64() == Some(MEDIA_VERSION as u64) => {}
            Some(serde_json::Value::Number(n)) => {
                return Err(MediaError::UnknownVersion(n.as_u64().unwrap_or(u64::MAX)));
            }
            _ => {
                return Err(MediaError::Malformed(
                    "missing or non-numeric media_version".into(),
                ));
            }
        }
        let m: Media =
            serde_json::from_slice(bytes).map_err(|e| MediaError::Malformed(e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    /// Checks what the types cannot: volume numbers in `1..=volumes`, blobs sorted and
    /// unique, each blob either whole (with a volume) or split (parts summing to its
    /// size, none empty, none over `max_file_size`).
    pub fn validate(&self) -> Result<(), MediaError> {
        let bad = |s: String| Err(MediaError::Invalid(s));
        if self.volumes == 0 || self.volumes > MAX_VOLUMES {
            return bad(format!("volumes must be 1 to {MAX_VOLUMES}"));
        }
        if self.volume == 0 || self.volume > self.volumes {
            return bad(format!(
                "volume {} of {} is out of range",
                self.volume, self.volumes
            ));
        }
        let in_range = |v: u32| v >= 1 && v <= self.volumes;
        let mut prev: Option<Digest> = None;
        for b in &self.blobs {
            if prev.is_some_and(|p| p >= b.digest) {
                return bad(format!("blob {} is out of order or repeated", b.digest));
            }
            prev = Some(b.digest);
            match (b.volume, b.parts.is_empty()) {
                (Some(v), true) if in_range(v) => {}
                (None, false) => {
                    let mut sum = 0u64;
                    for p in &b.parts {
                        if p.size == 0 || !in_range(p.volume) {
                            return bad(format!(
                                "blob {}: a part is empty or on no volume",
                                b.digest
                            ));
                        }
                        if self.max_file_size.is_some_and(|m| p.size > m) {
                            return bad(format!(
                                "blob {}: a part is larger than max_file_size",
                                b.digest
                            ));
                        }
                        sum = sum.saturating_add(p.size);
                    }
                    if sum != b.size {
                        return bad(format!(
                            "blob {}: parts add up to {sum} bytes, the blob has {}",
                            b.digest, b.size
                        ));
                    }
                }
                _ => {
                    return bad(format!(
                        "blob {} must have either a volume or parts",
                        b.digest
                    ));
                }
            }
        }
        Ok(())
    }

    /// The files on volume `volume`, as (path on the drive, blob digest, part index, size,
    /// expected digest of the file), in blob order.
    pub fn files_on(&self, volume: u32) -> Vec<DriveFile> {
        let mut out = Vec::new();
        for b in &self.blobs {
            if b.volume == Some(volume) {
                out.push(DriveFile {
                    path: blob_file(self.layout, &b.digest),
                    blob: b.digest,
                    part: None,
                    size: b.size,
                    digest: b.digest,
                });
            }
            for (i, p) in b.parts.iter().enumerate() {
                if p.volume == volume {
                    out.push(DriveFile {
                        path: part_file(&b.digest, i),
                        blob: b.digest,
                        part: Some(i),
                        size: p.size,
                        digest: p.digest,
                    });
                }
            }
        }
        out
    }

    /// The volumes holding any file of blob `digest` (empty when the drive set does not
    /// carry it).
    pub fn volumes_of(&self, digest: &Digest) -> BTreeSet<u32> {
        let Ok(i) = self.blobs.binary_search_by(|b| b.digest.cmp(digest)) else {
            return BTreeSet::new();
        };
        let b = &self.blobs[i];
        b.volume
            .into_iter()
            .chain(b.parts.iter().map(|p| p.volume))
            .collect()
    }

    /// The entry of blob `digest`, if the drive set carries it.
    pub fn blob(&self, digest: &Digest) -> Option<&BlobEntry> {
        self.blobs
            .binary_search_by(|b| b.digest.cmp(digest))
            .ok()
            .and_then(|i| self.blobs.get(i))
    }
}

/// One file a volume holds (see [`Media::files_on`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriveFile {
    /// Path relative to the drive root.
    pub path: String,
    /// The blob it belongs to.
    pub blob: Digest,
    /// Part index, for a part.
    pub part: Option<usize>,
    /// Size in bytes.
    pub size: u64,
    /// Digest of the file's own bytes (the blob's, or the part's).
    pub digest: Digest,
}

/// Parses a byte size: a number with an optional unit. `K`, `M`, `G`, `T` (and `KB`, `MB`,
/// `GB`, `TB`) are decimal, as drive makers count (`500G` = 500·10⁹); `KiB`, `MiB`, `GiB`,
/// `TiB` are binary. Case-insensitive; a space before the unit is allowed.
///
/// Errors: a message naming the input and the accepted forms.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let err = || {
        format!(
            "invalid size {s:?}: use bytes or a number with K, M, G, T (decimal, e.g. 500G) or KiB, MiB, GiB, TiB (binary, e.g. 1MiB)"
        )
    };
    let n: u64 = num.parse().map_err(|_| err())?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(err()),
    };
    n.checked_mul(mult).ok_or_else(err)
}

/// Why a file name is not valid on FAT32/exFAT, or `None` when it is: no control
/// characters, none of `" * / : < > ? \ |`, no trailing dot or space, at most 255
/// characters (Microsoft FAT specification §7, long names).
pub fn fat_name_problem(name: &str) -> Option<String> {
    if name.is_empty() || name == "." || name == ".." {
        return Some("empty or dot name".into());
    }
    if name.chars().count() > 255 {
        return Some("longer than 255 characters".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_control() || "\"*/:<>?\\|".contains(*c))
    {
        return Some(format!("contains {c:?}"));
    }
    if name.ends_with('.') || name.ends_with(' ') {
        return Some("ends with a dot or space".into());
    }
    None
}

/// Checks a set of drive-relative paths (`/`-separated) for FAT32: every component valid
/// ([`fat_name_problem`]) and no two names in one directory equal when case is ignored.
/// Returns the problems found, one line each.
pub fn fat_problems<'a>(paths: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen: HashMap<(String, String), String> = HashMap::new();
    for p in paths {
        let mut dir = String::new();
        for comp in p.split('/') {
            if let Some(why) = fat_name_problem(comp) {
                problems.push(format!("{p}: {comp:?} {why}"));
            }
            let key = (dir.clone(), comp.to_lowercase());
            match seen.get(&key) {
                Some(other) if other != comp => problems.push(format!(
                    "{p}: {comp:?} collides with {other:?} when case is ignored"
                )),
                Some(_) => {}
                None => {
                    seen.insert(key, comp.to_owned());
                }
            }
            if !dir.is_empty() {
                dir.push('/');
            }
            dir.push_str(comp);
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs(sizes: &[u64]) -> BTreeMap<Digest, u64> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, s)| (Digest::of(format!("b{i}").as_bytes()), *s))
            .collect()
    }

    #[test]
    fn mismatch_says_what_differs_once() {
        let ours = Digest::of(b"manifest 2");
        let other = Digest::of(b"manifest 1");
        let m = |snapshot: &str, manifest: Digest| Media {
            media_version: MEDIA_VERSION,
            snapshot: snapshot.into(),
            manifest,
            volume: 1,
            volumes: 1,
            max_file_size: None,
            layout: BlobLayout::Flat,
            base: None,
            receipt_site: None,
            omitted_blobs: 0,
            omitted_bytes: 0,
            blobs: Vec::new(),
        };
        assert_eq!(m("stable/2", ours).mismatch(&ours, "stable/2"), None);
        let count = |s: &str, d: &Digest| s.matches(&d.to_string()).count();
        let name_only = m("stable/\u{1b}[2J9", ours)
            .mismatch(&ours, "stable/2")
            .unwrap();
        assert!(
            name_only.contains("names snapshot stable/\\u{1b}[2J9"),
            "{name_only}"
        );
        assert_eq!(count(&name_only, &ours), 1, "{name_only}");
        let digest_only = m("stable/2", other).mismatch(&ours, "stable/2").unwrap();
        assert!(
            digest_only.contains("different cut of stable/2"),
            "{digest_only}"
        );
        assert_eq!(count(&digest_only, &ours), 1, "{digest_only}");
        assert_eq!(count(&digest_only, &other), 1, "{digest_only}");
        let both = m("stable/1", other).mismatch(&ours, "stable/2").unwrap();
        assert!(
            both.contains("stable/1") && both.contains("stable/2"),
            "{both}"
        );
        assert_eq!(count(&both, &ours), 1, "{both}");
        assert_eq!(count(&both, &other), 1, "{both}");
    }

    #[test]
    fn splits_large_blobs_into_equal_parts() {
        let b = blobs(&[10, 25]);
        let files = plan(&b, Some(10), None, 1).unwrap();
        // 10 bytes fits (not over the limit); 25 → 10 + 10 + 5.
        assert_eq!(files.len(), 4);
        let parts: Vec<_> = files.iter().filter(|f| f.part.is_some()).collect();
        assert_eq!(
            parts.iter().map(|f| (f.offset, f.size)).collect::<Vec<_>>(),
            vec![(0, 10), (10, 10), (20, 5)]
        );
        assert!(files.iter().all(|f| f.volume == 1));
        assert_eq!(plan(&b, Some(0), None, 1), Err(PlanError::ZeroFileSize));
    }

    #[test]
    fn fills_volumes_in_order() {
        let b = blobs(&[40, 40, 40, 10]);
        let files = plan(&b, None, Some(100), 1).unwrap();
        let vols: Vec<u32> = files.iter().map(|f| f.volume).collect();
        // 40+40 on 1, the third 40 opens 2, 10 joins it.
        let mut sorted = vols.clone();
        sorted.sort();
        assert_eq!(sorted, vols, "volumes grow monotonically");
        assert_eq!(volume_count(&files), 2);
        assert_eq!(
            plan(&b, None, Some(30), 1),
            Err(PlanError::VolumeTooSmall {
                file: 40,
                capacity: 30
            })
        );
        // With parts of 30, each 40-byte blob becomes 30 + 10, and everything fits.
        let files = plan(&b, Some(30), Some(30), 1).unwrap();
        assert!(files.iter().all(|f| f.size <= 30));
        assert_eq!(plan(&b, None, None, 1).unwrap().len(), 4);
        // Rounded up to 64-byte blocks, only one 40-byte file fits in 100 bytes.
        assert_eq!(volume_count(&plan(&b, None, Some(100), 64).unwrap()), 4);
    }

    #[test]
    fn media_round_trips_and_is_validated() {
        let b = blobs(&[25, 5]);
        let files = plan(&b, Some(10), Some(20), 1).unwrap();
        let mut pd = HashMap::new();
        let big = *b.iter().find(|(_, s)| **s == 25).unwrap().0;
        pd.insert(
            big,
            vec![Digest::of(b"p0"), Digest::of(b"p1"), Digest::of(b"p2")],
        );
        let table = blob_table(&files, &pd).unwrap();
        let m = Media {
            media_version: MEDIA_VERSION,
            snapshot: "c/2".into(),
            manifest: Digest::of(b"manifest"),
            volume: 1,
            volumes: volume_count(&files),
            max_file_size: Some(10),
            layout: BlobLayout::Flat,
            base: Some("c/1".into()),
            receipt_site: None,
            omitted_blobs: 3,
            omitted_bytes: 300,
            blobs: table,
        };
        let bytes = m.to_bytes();
        let back = Media::from_slice(&bytes).unwrap();
        assert_eq!(back, m);
        let all: usize = (1..=m.volumes).map(|v| m.files_on(v).len()).sum();
        assert_eq!(all, 4);
        assert_eq!(m.volumes_of(&big).len() as u32, m.volumes.min(3));
        assert!(m.volumes_of(&Digest::of(b"nope")).is_empty());
        // Tampering with a part size breaks the sum.
        let mut t = m.clone();
        let split = t.blobs.iter_mut().find(|e| !e.parts.is_empty()).unwrap();
        split.parts[0].size = 9;
        assert!(matches!(t.validate(), Err(MediaError::Invalid(_))));
        // A volume out of range.
        let mut t = m.clone();
        t.volume = t.volumes + 1;
        assert!(t.validate().is_err());
        // Unknown version first; unknown fields refused.
        let text = String::from_utf8(bytes).unwrap();
        let v2 = text.replacen("\"media_version\": 1", "\"media_version\": 2", 1);
        assert!(matches!(
            Media::from_slice(v2.as_bytes()),
            Err(MediaError::UnknownVersion(2))
        ));
        let extra = text.replacen("{", "{\n  \"surprise\": 1,", 1);
        assert!(matches!(
            Media::from_slice(extra.as_bytes()),
            Err(MediaError::Malformed(_))
        ));
        // Missing part digests are named.
        assert!(blob_table(&files, &HashMap::new()).is_err());
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("500G").unwrap(), 500_000_000_000);
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("1 mib").unwrap(), 1 << 20);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("2TB").unwrap(), 2_000_000_000_000);
        for bad in ["", "G", "1X", "-1", "1.5G", "99999999999999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fat_names() {
        assert!(fat_name_problem("manifest.json").is_none());
        assert!(fat_name_problem("sha256:abc").is_some());
        assert!(fat_name_problem("a?b").is_some());
        assert!(fat_name_problem("trailing.").is_some());
        let p = fat_problems(["blobs/sha256/ab", "blobs/SHA256/cd", "x/y:z"]);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p.iter().any(|l| l.contains("collides")));
        assert!(fat_problems(["a/b", "a/c", "b"]).is_empty());
        assert!(
            fat_problems(["a/b", "A"])
                .iter()
                .any(|l| l.contains("collides"))
        );
        assert_eq!(
            blob_file(BlobLayout::Sharded, &Digest::of(b"x"))
                .matches('/')
                .count(),
            3
        );
    }
}
