//! Hashing bytes a blob writer has just appended, read back through a read-only shared
//! mapping of its temp file ([`BlobWriter::append_from`]): the kernel copied them into the
//! page cache, and the hash reads those pages in place, so the bytes pass through no
//! user-space buffer and the digest covers what the store holds.

use std::fs::File;
use std::io;

/// Mappings start at a multiple of this (64 KiB: a multiple of every page size Linux
/// uses on the targets we build for, so no page-size query is needed).
const MAP_ALIGN: u64 = 1 << 16;

/// Calls `each` with bytes `from..from + len` of `file` (opened for reading), through a
/// read-only shared mapping populated up front (`MAP_POPULATE`: the pages are in the page
/// cache, so this maps them rather than faulting each). The mapping is gone when this
/// returns.
///
/// The file must be one this process owns and nobody truncates while it is mapped (a
/// store's temp file): reading a mapped page past the end of the file raises `SIGBUS`.
///
/// Errors: the mapping fails (`ENOMEM`, a file system without mmap), or `len` does not
/// fit the address space.
pub(super) fn with_range(
    file: &File,
    from: u64,
    len: u64,
    each: impl FnOnce(&[u8]),
) -> io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    let start = from - from % MAP_ALIGN;
    let skip = usize::try_from(from - start).map_err(io::Error::other)?;
    let map_len = usize::try_from(len)
        .ok()
        .and_then(|l| l.checked_add(skip))
        .ok_or_else(|| io::Error::other("range too large to map"))?;
    // SAFETY: a fresh read-only shared mapping of `map_len` bytes at an address the kernel
    // picks; nothing else refers to it. The caller guarantees the file holds at least
    // `from + len` bytes for as long as the mapping lives (see above).
    let ptr = unsafe {
        rustix::mm::mmap(
            std::ptr::null_mut(),
            map_len,
            rustix::mm::ProtFlags::READ,
            rustix::mm::MapFlags::SHARED | rustix::mm::MapFlags::POPULATE,
            file,
            start,
        )
    }?;
    let mapping = Mapping { ptr, len: map_len };
    // SAFETY: `ptr` points to `map_len` readable bytes until `mapping` is dropped, which
    // happens after the last use of `bytes`.
    let bytes = unsafe { std::slice::from_raw_parts(mapping.ptr.cast::<u8>(), mapping.len) };
    each(bytes.get(skip..).unwrap_or_default());
    drop(mapping);
    Ok(())
}

/// A mapping made by [`with_range`], unmapped on drop.
struct Mapping {
    ptr: *mut std::ffi::c_void,
    len: usize,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned, unmapped once, here; no
        // slice into it outlives this value.
        let _ = unsafe { rustix::mm::munmap(self.ptr, self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn maps_exactly_the_asked_bytes_at_any_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        File::create(&path).unwrap().write_all(&data).unwrap();
        let f = File::open(&path).unwrap();
        for (from, len) in [
            (0u64, 1u64),
            (1, 65_536),
            (65_535, 2),
            (65_536, 100_000),
            (123_457, 176_543),
            (10, 0),
        ] {
            let mut seen = Vec::new();
            with_range(&f, from, len, |b| seen.extend_from_slice(b)).unwrap();
            assert_eq!(
                seen,
                &data[from as usize..(from + len) as usize],
                "range {from}+{len}"
            );
        }
    }
}
