//! [`LocalBlob`]: a blob a backend keeps in a local file, for copies the kernel makes
//! ([`super::BlobStore::local`]). Object storage has none; callers then read through
//! [`super::BlobStore::open_range`].

use std::fs::File;
use std::io::{self, Write as _};
use std::ops::Range;
use std::os::unix::fs::FileExt as _;
use std::sync::atomic::{AtomicU8, Ordering};

/// Read size of the user-space fallback of [`LocalBlob::copy_to`] (1 MiB).
const FALLBACK_BUF: usize = 1 << 20;

/// Largest single kernel copy request (1 GiB; the kernel caps one call near 2 GiB anyway).
const MAX_CALL: u64 = 1 << 30;

/// How [`LocalBlob::copy_to`] copies: the first that works between the two files.
const BY_COPY_FILE_RANGE: u8 = 0;
const BY_SENDFILE: u8 = 1;
const BY_READ_WRITE: u8 = 2;

/// An open blob file of a local backend, with its size: positioned reads
/// ([`LocalBlob::read_at`]) and copies into another file made by the kernel
/// ([`LocalBlob::copy_to`]: `copy_file_range(2)`, else `sendfile(2)`, else reads and
/// writes). Like every reader of the store it hands out the stored bytes as they are: the
/// caller checks them against the digest when it must. The handle is opened without
/// following links (a regular file only, as [`crate::Cas::open_range`] does); it is
/// `Sync`, so one thread may hash ranges while another copies them.
#[derive(Debug)]
pub struct LocalBlob {
    file: File,
    size: u64,
    mode: AtomicU8,
}

impl LocalBlob {
    /// Wraps an open blob file of `size` bytes (a backend's; see the type docs).
    pub fn new(file: File, size: u64) -> LocalBlob {
        LocalBlob {
            file,
            size,
            mode: AtomicU8::new(BY_COPY_FILE_RANGE),
        }
    }

    /// The blob's size in bytes (when it was opened).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Reads up to `buf.len()` bytes at byte `offset` of the blob (`pread`); returns how
    /// many, 0 at or past the end.
    ///
    /// Errors: the read fails.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        loop {
            match self.file.read_at(buf, offset) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }

    /// Copies bytes `range` (half-open, byte offsets) of the blob to `dst` at its current
    /// position, which advances by the bytes copied. The kernel copies
    /// (`copy_file_range(2)`; `sendfile(2)` where the two files are on different kinds of
    /// file system, e.g. an ext4 store and a FAT32 drive; plain reads and writes where
    /// neither works), so the bytes do not pass through this process. Returns the bytes
    /// copied: all of `range`.
    ///
    /// Errors: the blob ends before `range.end` ([`io::ErrorKind::UnexpectedEof`]), a read
    /// or write fails (a full drive: `StorageFull`).
    pub fn copy_to(&self, range: Range<u64>, dst: &File) -> io::Result<u64> {
        let mut off = range.start;
        let mut buf = Vec::new();
        while off < range.end {
            let want = (range.end - off).min(MAX_CALL);
            let n = match self.mode.load(Ordering::Relaxed) {
                BY_COPY_FILE_RANGE => {
                    // `want` ≤ 1 GiB fits any usize of a 64- or 32-bit target.
                    match rustix::fs::copy_file_range(
                        &self.file,
                        Some(&mut off),
                        dst,
                        None,
                        want as usize,
                    ) {
                        Ok(n) => n,
                        Err(e) if unsupported(e) => {
                            self.mode.store(BY_SENDFILE, Ordering::Relaxed);
                            continue;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                BY_SENDFILE => {
                    match rustix::fs::sendfile(dst, &self.file, Some(&mut off), want as usize) {
                        Ok(n) => n,
                        Err(e) if unsupported(e) => {
                            self.mode.store(BY_READ_WRITE, Ordering::Relaxed);
                            continue;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                _ => {
                    let n = self.copy_by_reading(off, want, dst, &mut buf)?;
                    off += n as u64;
                    n
                }
            };
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the blob file ends at byte {off}, before byte {} (it is {} bytes)",
                        range.end, self.size
                    ),
                ));
            }
        }
        Ok(range.end.saturating_sub(range.start))
    }

    /// One read at `off` of at most `want` bytes (and [`FALLBACK_BUF`]) into `buf`
    /// (allocated on first use), written whole to `dst`; returns the bytes copied (0 at
    /// the end of the file).
    fn copy_by_reading(
        &self,
        off: u64,
        want: u64,
        dst: &File,
        buf: &mut Vec<u8>,
    ) -> io::Result<usize> {
        buf.resize(FALLBACK_BUF, 0);
        let len = FALLBACK_BUF.min(usize::try_from(want).unwrap_or(FALLBACK_BUF));
        let n = self.read_at(buf.get_mut(..len).unwrap_or_default(), off)?;
        let mut out = dst;
        out.write_all(buf.get(..n).unwrap_or_default())?;
        Ok(n)
    }
}

/// Whether a kernel copy error means "not between these files" (try the next way)
/// rather than a failed read or write.
fn unsupported(e: rustix::io::Errno) -> bool {
    use rustix::io::Errno;
    [
        Errno::XDEV,
        Errno::INVAL,
        Errno::NOSYS,
        Errno::OPNOTSUPP,
        Errno::PERM,
    ]
    .contains(&e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read as _, Seek as _, SeekFrom};

    /// A blob file of `len` patterned bytes in `dir`, opened as a [`LocalBlob`].
    fn blob(dir: &std::path::Path, len: usize) -> (Vec<u8>, LocalBlob) {
        let data: Vec<u8> = (0..len).map(|i| (i * 31 + i / 997) as u8).collect();
        let path = dir.join("blob");
        std::fs::write(&path, &data).unwrap();
        let file = File::open(&path).unwrap();
        (data, LocalBlob::new(file, len as u64))
    }

    /// Every way of copying gives the same bytes: ranges at the edges, appended at the
    /// destination's position, across the fallback buffer's size; a range past the end
    /// of the file is an `UnexpectedEof`, never a short copy reported as whole.
    #[test]
    fn every_copy_mode_copies_ranges_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let len = (3 << 20) + 5;
        let (data, b) = blob(dir.path(), len);
        for mode in [BY_COPY_FILE_RANGE, BY_SENDFILE, BY_READ_WRITE] {
            b.mode.store(mode, Ordering::Relaxed);
            let out_path = dir.path().join(format!("out-{mode}"));
            let mut out = File::options()
                .create(true)
                .truncate(true)
                .read(true)
                .write(true)
                .open(&out_path)
                .unwrap();
            let ranges = [
                0..1,
                1..(1 << 20) + 3,
                (1 << 20) + 3..len as u64 - 1,
                len as u64 - 1..len as u64,
            ];
            for r in ranges.clone() {
                assert_eq!(
                    b.copy_to(r.clone(), &out).unwrap(),
                    r.end - r.start,
                    "mode {mode}"
                );
            }
            assert_eq!(b.copy_to(7..7, &out).unwrap(), 0);
            out.seek(SeekFrom::Start(0)).unwrap();
            let mut got = Vec::new();
            out.read_to_end(&mut got).unwrap();
            assert!(got == data, "mode {mode}: copied bytes differ");
            let err = b
                .copy_to(len as u64 - 2..len as u64 + 10, &out)
                .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "mode {mode}");
        }
        let mut buf = [0u8; 4];
        assert_eq!(b.read_at(&mut buf, 10).unwrap(), 4);
        assert_eq!(&buf, &data[10..14]);
        assert_eq!(b.read_at(&mut buf, len as u64).unwrap(), 0);
    }
}
