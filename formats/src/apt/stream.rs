//! Streaming reads of `Packages` indexes: the decompressor chosen by the index's name
//! ([`index_reader`]), a stanza-at-a-time reader over any [`BufRead`]
//! ([`StanzaReader`]) and the typed entries it yields ([`PackageReader`]), so that a
//! caller never holds more than one stanza of the text (Debian Policy §5.1 paragraphs,
//! §5.3 `Packages` fields). Only `Read`/`BufRead` adapters: the caller opens the bytes.
//!
//! Bounds, for indexes from upstreams: the decompressed text may not exceed the caller's
//! `max_bytes` ([`AptFormatError::TooLarge`]: a gzip/xz bomb), one stanza may not exceed
//! [`MAX_STANZA_BYTES`] ([`AptFormatError::StanzaTooLarge`]: a line without end), and
//! the text must be UTF-8 ([`AptFormatError::NotUtf8`], at the absolute byte offset).

use std::io::{BufRead, Read};
use std::ops::Range;

use super::AptFormatError;
use super::packages::PackageEntry;
use crate::deb822;

/// Largest stanza accepted by [`StanzaReader`], in bytes (16 MiB). Real stanzas are a
/// few KiB (the largest in Debian and Ubuntu, with long `Provides` lists, under 200 KiB).
pub const MAX_STANZA_BYTES: usize = 16 * 1024 * 1024;

/// The decoder for a fetched index, chosen by the suffix of `path` (`Packages.gz`,
/// `Packages.xz`, or plain `Packages`), over `bytes`. Concatenated gzip members and xz
/// streams are read as one. Nothing is read yet; wrap it in a [`std::io::BufReader`]
/// and give it to [`StanzaReader`] (which bounds the decompressed size).
///
/// # Errors
/// [`AptFormatError::UnsupportedCompression`] for `.bz2`, `.lzma`, `.zst`, `.lz4`.
/// Corrupt data shows when read ([`AptFormatError::Decompress`] from the readers here).
pub fn index_reader<'a, R: Read + 'a>(
    path: &str,
    bytes: R,
) -> Result<Box<dyn Read + 'a>, AptFormatError> {
    if path.ends_with(".gz") {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(bytes)))
    } else if path.ends_with(".xz") {
        Ok(Box::new(liblzma::read::XzDecoder::new_multi_decoder(bytes)))
    } else if [".bz2", ".lzma", ".zst", ".lz4"]
        .iter()
        .any(|s| path.ends_with(s))
    {
        Err(AptFormatError::UnsupportedCompression {
            path: path.to_owned(),
        })
    } else {
        Ok(Box::new(bytes))
    }
}

/// One stanza read by [`StanzaReader`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stanza<'a> {
    /// Its lines exactly as written, up to and including the last line's `\n` (if any),
    /// without the blank line that ends it.
    pub text: &'a str,
    /// Its byte range in the (decompressed) text: `text` is `whole[range]`.
    pub range: Range<u64>,
    /// The 1-based line number of its first line.
    pub first_line: usize,
}

/// Reads deb822 text one stanza (a run of non-blank lines) at a time from a
/// [`BufRead`], holding only the current stanza. A line is blank when it holds only
/// whitespace, as in [`deb822::parse`].
#[derive(Debug)]
pub struct StanzaReader<R> {
    inner: R,
    path: String,
    max_bytes: u64,
    /// Bytes read so far (the offset of the next line).
    offset: u64,
    /// Lines read so far.
    line_no: usize,
    line: Vec<u8>,
    stanza: String,
}

impl<R: BufRead> StanzaReader<R> {
    /// A reader over `inner`, the text of the index named `path` (for errors), refusing
    /// text beyond `max_bytes` bytes.
    pub fn new(path: &str, inner: R, max_bytes: u64) -> Self {
        StanzaReader {
            inner,
            path: path.to_owned(),
            max_bytes,
            offset: 0,
            line_no: 0,
            line: Vec::new(),
            stanza: String::new(),
        }
    }

    /// The index name given to [`StanzaReader::new`].
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Reads one line into `self.line` (empty at the end of the text), bounded by the
    /// text limit and the stanza limit.
    fn read_line(&mut self) -> Result<(), AptFormatError> {
        self.line.clear();
        // One byte more than either limit allows, so that crossing it is seen.
        let room_text = self.max_bytes.saturating_sub(self.offset).saturating_add(1);
        let room_stanza = (MAX_STANZA_BYTES - self.stanza.len().min(MAX_STANZA_BYTES)) as u64 + 1;
        let limit = room_text.min(room_stanza);
        let n = (&mut self.inner)
            .take(limit)
            .read_until(b'\n', &mut self.line)
            .map_err(|e| AptFormatError::Decompress {
                path: self.path.clone(),
                reason: e.to_string(),
            })?;
        if self.offset + n as u64 > self.max_bytes {
            return Err(AptFormatError::TooLarge {
                path: self.path.clone(),
                max_bytes: self.max_bytes,
            });
        }
        if self.stanza.len() + n > MAX_STANZA_BYTES {
            return Err(AptFormatError::StanzaTooLarge {
                path: self.path.clone(),
                line: self.line_no + 1,
                max_bytes: MAX_STANZA_BYTES,
            });
        }
        Ok(())
    }

    /// The next stanza, `None` at the end of the text.
    ///
    /// # Errors
    /// [`AptFormatError::Decompress`] (corrupt or truncated compressed data, or another
    /// read error), [`AptFormatError::TooLarge`], [`AptFormatError::StanzaTooLarge`],
    /// [`AptFormatError::NotUtf8`] (with the absolute byte offset of the first bad byte).
    pub fn next_stanza(&mut self) -> Result<Option<Stanza<'_>>, AptFormatError> {
        self.stanza.clear();
        let mut start = self.offset;
        let mut first_line = 0;
        loop {
            self.read_line()?;
            if self.line.is_empty() {
                break;
            }
            let line = std::str::from_utf8(&self.line).map_err(|e| AptFormatError::NotUtf8 {
                path: self.path.clone(),
                valid_up_to: usize::try_from(self.offset)
                    .unwrap_or(usize::MAX)
                    .saturating_add(e.valid_up_to()),
            })?;
            self.line_no += 1;
            let len = line.len() as u64;
            if line.trim().is_empty() {
                self.offset += len;
                if self.stanza.is_empty() {
                    continue;
                }
                break;
            }
            if self.stanza.is_empty() {
                start = self.offset;
                first_line = self.line_no;
            }
            self.stanza.push_str(line);
            self.offset += len;
        }
        if self.stanza.is_empty() {
            return Ok(None);
        }
        Ok(Some(Stanza {
            text: &self.stanza,
            range: start..start + self.stanza.len() as u64,
            first_line,
        }))
    }
}

/// Reads a `Packages` index one typed entry at a time (see [`StanzaReader`] for the
/// bounds). The entries are those [`super::packages::parse_packages`] gives for the
/// same text, in order, each with the byte range of its stanza.
#[derive(Debug)]
pub struct PackageReader<R> {
    stanzas: StanzaReader<R>,
    index: usize,
}

impl<R: BufRead> PackageReader<R> {
    /// A reader over the text of the index named `path`, refusing text beyond
    /// `max_bytes` bytes.
    pub fn new(path: &str, inner: R, max_bytes: u64) -> Self {
        PackageReader {
            stanzas: StanzaReader::new(path, inner, max_bytes),
            index: 0,
        }
    }

    /// The next entry and the byte range of its stanza (without the blank line that
    /// ends it), `None` at the end. [`PackageEntry::paragraph`] holds the stanza's
    /// fields; a caller that keeps only the typed fields drops it.
    ///
    /// # Errors
    /// As [`StanzaReader::next_stanza`]; [`AptFormatError::Syntax`] with the line number
    /// within the whole text; [`AptFormatError::MissingField`] /
    /// [`AptFormatError::BadField`] as [`super::packages::parse_packages`] gives them,
    /// their context followed by `at line N` (the stanza's first line).
    pub fn next_entry(&mut self) -> Result<Option<(PackageEntry, Range<u64>)>, AptFormatError> {
        loop {
            let Some(st) = self.stanzas.next_stanza()? else {
                return Ok(None);
            };
            let range = st.range.clone();
            let Some(entry) = package_entry(&st, self.index)? else {
                continue;
            };
            self.index += 1;
            return Ok(Some((entry, range)));
        }
    }
}

/// Parses one stanza that [`StanzaReader`] read into a typed entry; `index` (0-based)
/// names it in errors when it has no `Package` field. `None` when its lines are all
/// comments.
///
/// # Errors
/// As [`PackageReader::next_entry`].
pub fn package_entry(
    st: &Stanza<'_>,
    index: usize,
) -> Result<Option<PackageEntry>, AptFormatError> {
    let mut paras = deb822::parse(st.text).map_err(|mut source| {
        source.line += st.first_line - 1;
        AptFormatError::Syntax {
            what: "Packages".into(),
            source,
        }
    })?;
    // A run of non-blank lines is one paragraph, or none when all are comments.
    let Some(p) = paras.pop() else {
        return Ok(None);
    };
    PackageEntry::from_paragraph(p, index)
        .map(Some)
        .map_err(|e| at_line(e, st.first_line))
}

/// The value of field `name` in one stanza's text, trimmed: the rest of the first line
/// that starts with `name:` (field names match without regard to case, as in deb822,
/// Debian Policy §5.1). For a quick look at one single-line field (`Filename`, `Package`)
/// before deciding whether to parse the stanza in full with [`package_entry`];
/// continuation and comment lines never match. `None` when no line names the field.
pub fn stanza_field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (field, value) = line.split_once(':')?;
        field.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// Adds `at line N` to the context of a field error.
fn at_line(mut e: AptFormatError, line: usize) -> AptFormatError {
    if let AptFormatError::MissingField { context, .. } | AptFormatError::BadField { context, .. } =
        &mut e
    {
        context.push_str(&format!(" at line {line}"));
    }
    e
}

/// Copies the stanzas at `ranges` (byte ranges of the text, as [`Stanza::range`] gave
/// them; sorted, not overlapping) out of the text `reader` yields, reading it once and
/// holding only what is copied. `f` gets each range's position in `ranges` and its text.
///
/// # Errors
/// [`AptFormatError::Decompress`] for a read error, or when the text ends before a
/// range, or ranges are unsorted; [`AptFormatError::NotUtf8`] when a range is not text.
pub fn copy_ranges(
    path: &str,
    mut reader: impl Read,
    ranges: &[Range<u64>],
    mut f: impl FnMut(usize, String),
) -> Result<(), AptFormatError> {
    let bad = |reason: String| AptFormatError::Decompress {
        path: path.to_owned(),
        reason,
    };
    let mut pos = 0u64;
    for (k, r) in ranges.iter().enumerate() {
        if r.start < pos || r.end < r.start {
            return Err(bad(format!("stanza range {r:?} is out of order")));
        }
        let skip = r.start - pos;
        let skipped = std::io::copy(&mut (&mut reader).take(skip), &mut std::io::sink())
            .map_err(|e| bad(e.to_string()))?;
        let len = r.end - r.start;
        if len > MAX_STANZA_BYTES as u64 {
            return Err(bad(format!("stanza range {r:?} is larger than a stanza")));
        }
        let mut buf = Vec::with_capacity(len as usize);
        (&mut reader)
            .take(len)
            .read_to_end(&mut buf)
            .map_err(|e| bad(e.to_string()))?;
        if skipped != skip || buf.len() as u64 != len {
            return Err(bad(format!("the text ends before the stanza at {r:?}")));
        }
        let text = String::from_utf8(buf).map_err(|e| AptFormatError::NotUtf8 {
            path: path.to_owned(),
            valid_up_to: usize::try_from(r.start)
                .unwrap_or(usize::MAX)
                .saturating_add(e.utf8_error().valid_up_to()),
        })?;
        f(k, text);
        pos = r.end;
    }
    Ok(())
}

/// Streams a Packages index one stanza at a time: `f` receives each parsed entry and the
/// byte range of its stanza in `text` (without the blank line that ends it). Only one
/// paragraph is held at a time, so memory stays at the size of the entries the caller
/// keeps; a caller that keeps [`PackageEntry::paragraph`] for every entry gains nothing
/// over [`super::packages::parse_packages`]. For text that is not in memory (a decompressor over fetched
/// bytes), use [`PackageReader`], which this wraps.
///
/// Errors: as [`PackageReader::next_entry`] (syntax errors give the line
/// number within `text`, field errors the line of the stanza).
pub fn for_each_package(
    text: &str,
    mut f: impl FnMut(PackageEntry, std::ops::Range<usize>),
) -> Result<(), AptFormatError> {
    let mut r = PackageReader::new("Packages", text.as_bytes(), u64::MAX);
    while let Some((e, range)) = r.next_entry()? {
        // Offsets within `text`, so they fit in usize.
        f(e, range.start as usize..range.end as usize);
    }
    Ok(())
}

/// Reads at most `max_bytes` bytes from `reader`; errors if there is more.
fn read_bounded(path: &str, reader: impl Read, max_bytes: u64) -> Result<Vec<u8>, AptFormatError> {
    let mut out = Vec::new();
    reader
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| AptFormatError::Decompress {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if out.len() as u64 > max_bytes {
        return Err(AptFormatError::TooLarge {
            path: path.to_owned(),
            max_bytes,
        });
    }
    Ok(out)
}

/// Decodes a fetched index (`Packages`, `Packages.gz` or `Packages.xz`, chosen by the
/// suffix of `path`) into text, refusing output larger than `max_bytes` bytes (gzip/xz
/// bombs) and text that is not UTF-8. Concatenated gzip members and xz streams are read
/// as one.
///
/// # Errors
/// [`AptFormatError::UnsupportedCompression`] for `.bz2`, `.lzma`, `.zst`, `.lz4`;
/// [`AptFormatError::Decompress`] for corrupt data; [`AptFormatError::TooLarge`];
/// [`AptFormatError::NotUtf8`].
pub fn decompress_index(
    path: &str,
    bytes: &[u8],
    max_bytes: u64,
) -> Result<String, AptFormatError> {
    let data = read_bounded(path, index_reader(path, bytes)?, max_bytes)?;
    String::from_utf8(data).map_err(|e| AptFormatError::NotUtf8 {
        path: path.to_owned(),
        valid_up_to: e.utf8_error().valid_up_to(),
    })
}

#[cfg(test)]
mod tests;
