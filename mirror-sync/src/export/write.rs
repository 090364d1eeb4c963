//! Steps 4 and 5, writing one volume: first its files (whole blobs and parts, each
//! copied from the store under `<name>.partial` with its sha256 checked while copying —
//! from a local store the bytes are read and hashed and the kernel copies each range once
//! it is hashed, [`store::LocalBlob::copy_to`] — then fsynced and renamed; files already on the drive with the right size are kept, so an
//! interrupted export resumes), then the snapshot's files: the OCI image layout
//! (`oci-layout`, `index.json`, image-spec §Image Layout) when the snapshot has tags,
//! the signer's public key, the signatures, the media description and the manifest last,
//! so a drive without a manifest is visibly incomplete. Every small file is replaced with
//! [`store::fsio::write_atomic`].

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use formats::digest::{Digest, Hasher};
use formats::media::{self, Media};
use formats::snapshot;
use keys::snapshot::SigningKey;
use store::{BlobStore, Cas};

use super::cut::Cut;
use super::filesystem::sync_dir;
use super::plan::Plan;
use crate::progress::Progress;

/// OCI image layout marker file at the drive root (image-spec §Image Layout).
pub const OCI_LAYOUT_FILE: &str = "oci-layout";
/// OCI image layout index at the drive root (image-spec §Image Layout).
pub const OCI_LAYOUT_INDEX_FILE: &str = "index.json";

/// Writes the files of `volume` onto drive directory `to` (see the module docs): one
/// after the other (removable media are fastest that way), each one's fsync and rename
/// on a second thread, then fsyncs every directory they went into. Returns the files
/// and bytes written now.
///
/// Errors: the drive holds a different manifest for this snapshot, a store blob is
/// missing or no longer matches its digest, I/O on the drive.
pub(super) fn blobs(
    cas: &Cas,
    cut: &Cut,
    plan: &Plan,
    volume: u32,
    to: &Path,
    progress: &Progress,
) -> anyhow::Result<(usize, u64)> {
    let mine: Vec<&media::PlannedFile> = plan.files.iter().filter(|f| f.volume == volume).collect();
    let manifest = &cut.manifest;
    let snap_dir = to.join(snapshot::snapshot_dir(&manifest.channel, manifest.sequence));
    let manifest_path = snap_dir.join(snapshot::MANIFEST_FILE);
    if let Ok(existing) = std::fs::read(&manifest_path)
        && existing != cut.bytes
    {
        bail!(
            "{} holds a different manifest for {}; the channel state and the drive disagree (use another drive)",
            manifest_path.display(),
            manifest.name()
        );
    }
    progress.phase(&format!("volume {volume}/{}: writing", plan.volumes));
    progress.add_total_files(mine.len() as u64, mine.iter().map(|f| f.size).sum());
    // Files are written one after the other (removable media are fastest that way);
    // each one's fsync and rename run on a second thread so the next file's reading
    // and hashing overlaps the medium catching up. A file gets its final name only
    // after its bytes are on the medium.
    let (tx, rx) = std::sync::mpsc::sync_channel::<(std::fs::File, PathBuf, PathBuf)>(2);
    let finisher = std::thread::spawn(move || -> anyhow::Result<()> {
        for (file, tmp, dst) in rx {
            file.sync_all()
                .with_context(|| format!("fsync {}", tmp.display()))?;
            drop(file);
            std::fs::rename(&tmp, &dst)
                .with_context(|| format!("rename {} -> {}", tmp.display(), dst.display()))?;
        }
        Ok(())
    });
    let written = (|| -> anyhow::Result<(usize, u64)> {
        let (mut n, mut b) = (0usize, 0u64);
        for f in &mine {
            let dst = to.join(f.path(plan.layout));
            if let Ok(md) = std::fs::symlink_metadata(&dst)
                && md.is_file()
                && md.len() == f.size
            {
                progress.inc_done(f.size);
                progress.file_done();
                continue;
            }
            if let Some(parent) = dst.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            let expected = match f.part {
                None => f.blob,
                Some(i) => *plan
                    .part_digests
                    .get(&f.blob)
                    .and_then(|p| p.get(i))
                    .ok_or_else(|| anyhow!("no digest for part {i} of {}", f.blob))?,
            };
            let (file, tmp) = copy_range(cas, f, &expected, &dst, progress)?;
            if tx.send((file, tmp, dst)).is_err() {
                break; // the finisher failed; its error is reported below
            }
            progress.file_done();
            n += 1;
            b += f.size;
        }
        Ok((n, b))
    })();
    drop(tx);
    let finished = finisher
        .join()
        .map_err(|_| anyhow!("the fsync thread panicked"))?;
    let (n, b) = written?;
    finished?;
    for dir in mine
        .iter()
        .filter_map(|f| to.join(f.path(plan.layout)).parent().map(Path::to_path_buf))
        .collect::<BTreeSet<_>>()
    {
        sync_dir(&dir)?;
    }
    Ok((n, b))
}

/// Writes the snapshot's files of `volume` onto `to` (see the module docs), the manifest
/// last, and fsyncs the directories; `base` is the delta's base snapshot.
///
/// Errors: I/O on the drive.
pub(super) fn snapshot_files(
    cut: &Cut,
    plan: &Plan,
    snap_key: &SigningKey,
    base: Option<&str>,
    volume: u32,
    to: &Path,
) -> anyhow::Result<()> {
    let snap_dir = to.join(snapshot::snapshot_dir(
        &cut.manifest.channel,
        cut.manifest.sequence,
    ));
    // What a killed run left half-written (its temporary files) goes first: the drive
    // ends as an uninterrupted export leaves it.
    let leftovers = |dir: &Path, names: &[&str]| {
        store::fsio::remove_atomic_leftovers(dir, names).with_context(|| {
            format!(
                "cannot clear leftovers of a killed export in {}",
                dir.display()
            )
        })
    };
    leftovers(to, &[OCI_LAYOUT_FILE, OCI_LAYOUT_INDEX_FILE])?;
    if let Some(index) = &plan.layout_index {
        write_file(
            &to.join(OCI_LAYOUT_FILE),
            formats::oci::OCI_LAYOUT_FILE_CONTENT.as_bytes(),
        )?;
        write_file(&to.join(OCI_LAYOUT_INDEX_FILE), index)?;
        sync_dir(to)?;
    }
    let media_doc = Media {
        media_version: media::MEDIA_VERSION,
        snapshot: cut.manifest.name(),
        manifest: cut.digest,
        volume,
        volumes: plan.volumes,
        max_file_size: plan.max_file_size,
        layout: plan.layout,
        base: base.map(str::to_owned),
        receipt_site: plan.receipt_site.clone(),
        omitted_blobs: plan.omitted_blobs,
        omitted_bytes: plan.omitted_bytes,
        blobs: plan.table.clone(),
    };
    let media_bytes = media_doc.to_bytes();
    std::fs::create_dir_all(&snap_dir)
        .with_context(|| format!("cannot create {}", snap_dir.display()))?;
    leftovers(
        &snap_dir,
        &[
            snapshot::SIGNER_FILE,
            snapshot::SIGNATURE_FILE,
            media::MEDIA_SIGNATURE_FILE,
            media::MEDIA_FILE,
            snapshot::MANIFEST_FILE,
        ],
    )?;
    write_file(
        &snap_dir.join(snapshot::SIGNER_FILE),
        snap_key.public_key().to_pem().as_bytes(),
    )?;
    write_file(&snap_dir.join(snapshot::SIGNATURE_FILE), &cut.signature)?;
    write_file(
        &snap_dir.join(media::MEDIA_SIGNATURE_FILE),
        &snap_key.sign(&media_bytes),
    )?;
    write_file(&snap_dir.join(media::MEDIA_FILE), &media_bytes)?;
    write_file(&snap_dir.join(snapshot::MANIFEST_FILE), &cut.bytes)?;
    sync_dir(&snap_dir)
}

/// Copies one planned file (a whole blob, or one part of it) from the store onto the
/// drive under its temporary name, with the sha256 of the bytes checked against
/// `expected` while copying (a store blob that rotted is caught here). Returns the open
/// file and its temporary path: the caller fsyncs it and renames it to `dst`.
pub(super) fn copy_range<S: BlobStore>(
    cas: &S,
    f: &media::PlannedFile,
    expected: &Digest,
    dst: &Path,
    progress: &Progress,
) -> anyhow::Result<(std::fs::File, PathBuf)> {
    let store_context = || {
        format!(
            "store blob {} (bytes {}..{}); run `mirror-sync sync` again",
            f.blob,
            f.offset,
            f.offset + f.size
        )
    };
    let tmp = partial_name(dst);
    let (out, hasher) = match cas.local(&f.blob).with_context(store_context)? {
        Some(local) => {
            if f.offset + f.size > local.size() {
                bail!(
                    "{}: the blob is only {} bytes",
                    store_context(),
                    local.size()
                );
            }
            let out = std::fs::File::create(&tmp)
                .with_context(|| format!("cannot create {}", tmp.display()))?;
            let hashed = hash_then_kernel_copy(&local, f, &out, &tmp, progress);
            (out, hashed)
        }
        None => {
            let out = std::fs::File::create(&tmp)
                .with_context(|| format!("cannot create {}", tmp.display()))?;
            let hashed = hash_and_write(cas, f, out, &tmp, progress);
            match hashed {
                Ok((out, h)) => (out, Ok(h)),
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(e);
                }
            }
        }
    };
    let hasher = match hasher {
        Ok(h) => h,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let (got, len) = hasher.finish();
    if got != *expected || len != f.size {
        let _ = std::fs::remove_file(&tmp);
        bail!(
            "store blob {} no longer matches its name (bytes {}..{} hash to {got}, {len} bytes; expected {expected}); remove it and run `mirror-sync sync` again",
            f.blob,
            f.offset,
            f.offset + f.size,
        );
    }
    Ok((out, tmp))
}

/// Size of one step of [`hash_then_kernel_copy`]: the hash runs at most
/// `KERNEL_AHEAD` steps ahead of the copy (8 MiB × 8 in the page cache).
const KERNEL_STEP: usize = 8 << 20;
/// How many hashed steps may wait for the kernel copy.
const KERNEL_AHEAD: usize = 8;
/// Read buffers of [`KERNEL_STEP`] bytes circulating between the reader and the hasher.
const KERNEL_BUFFERS: usize = 3;

/// The local-file path of [`copy_range`]: a reader thread reads bytes `f.offset..f.offset +
/// f.size` of the blob file (`pread`, [`KERNEL_STEP`] at a time, into
/// [`KERNEL_BUFFERS`] circulating buffers), this thread hashes them, and a third thread
/// has the kernel copy each step into `out` once it is hashed
/// ([`store::LocalBlob::copy_to`]: `copy_file_range`, or `sendfile` onto another kind of
/// file system), so the bytes are read once from the medium, cross into this process
/// once (to be hashed) and are written without a second pass through it, while reading,
/// hashing and copying overlap on the cores there are. Returns the hasher over every byte copied; the caller
/// compares.
///
/// Errors: a read of the store or a write of the drive fails, the blob file is shorter
/// than planned.
fn hash_then_kernel_copy(
    local: &store::LocalBlob,
    f: &media::PlannedFile,
    out: &std::fs::File,
    tmp: &Path,
    progress: &Progress,
) -> anyhow::Result<Hasher> {
    use std::sync::mpsc::sync_channel;
    let end = f.offset + f.size;
    let step = KERNEL_STEP.min(usize::try_from(f.size).unwrap_or(KERNEL_STEP));
    let (copy_tx, copy_rx) = sync_channel::<u64>(KERNEL_AHEAD);
    let (full_tx, full_rx) = sync_channel::<anyhow::Result<(Vec<u8>, usize)>>(KERNEL_BUFFERS);
    let (pool_tx, pool_rx) = sync_channel::<Vec<u8>>(KERNEL_BUFFERS);
    for _ in 0..KERNEL_BUFFERS {
        let _ = pool_tx.send(Vec::new());
    }
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut pos = f.offset;
            while pos < end {
                let Ok(mut buf) = pool_rx.recv() else {
                    return; // the hasher stopped
                };
                buf.resize(step, 0);
                let want = step.min(usize::try_from(end - pos).unwrap_or(step));
                let read = read_exact_at(local, buf.get_mut(..want).unwrap_or_default(), pos)
                    .with_context(|| format!("read store blob {}", f.blob))
                    .and_then(|n| {
                        if n < want {
                            bail!(
                                "store blob {} ends at byte {}, before byte {end}; run `mirror-sync sync` again",
                                f.blob,
                                pos + n as u64
                            );
                        }
                        Ok((buf, want))
                    });
                let failed = read.is_err();
                if full_tx.send(read).is_err() || failed {
                    return;
                }
                pos += want as u64;
            }
        });
        let copier = scope.spawn(move || -> anyhow::Result<()> {
            let mut copied = f.offset;
            for upto in copy_rx {
                local
                    .copy_to(copied..upto, out)
                    .with_context(|| format!("copy store blob {} to {}", f.blob, tmp.display()))?;
                progress.inc_done(upto - copied);
                copied = upto;
            }
            Ok(())
        });
        let mut hasher = Hasher::new();
        let mut pos = f.offset;
        let mut result = Ok(());
        for read in &full_rx {
            let (buf, n) = match read {
                Ok(r) => r,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            hasher.update(buf.get(..n).unwrap_or_default());
            pos += n as u64;
            let _ = pool_tx.send(buf);
            if copy_tx.send(pos).is_err() {
                break; // the copier failed; its error is reported below
            }
        }
        // Ends the reader wherever it waits, and the copier once it has copied what
        // was hashed.
        drop(full_rx);
        drop(pool_tx);
        drop(copy_tx);
        reader
            .join()
            .map_err(|_| anyhow!("the read thread panicked"))?;
        let copied = copier
            .join()
            .map_err(|_| anyhow!("the copy thread panicked"))?;
        result?;
        copied?;
        Ok(hasher)
    })
}

/// Reads `buf.len()` bytes of `local` at `offset`, fewer only at the end of the file;
/// returns how many.
fn read_exact_at(local: &store::LocalBlob, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let k = local.read_at(buf.get_mut(n..).unwrap_or_default(), offset + n as u64)?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(n)
}

/// The fallback of [`copy_range`] for stores without local files: the bytes come
/// through [`store::BlobStore::open_range`], are hashed and written here. Returns the
/// file and the hasher over every byte written.
///
/// Errors: a read of the store or a write of the drive fails.
fn hash_and_write<S: BlobStore>(
    cas: &S,
    f: &media::PlannedFile,
    mut out: std::fs::File,
    tmp: &Path,
    progress: &Progress,
) -> anyhow::Result<(std::fs::File, Hasher)> {
    let mut input = cas
        .open_range(&f.blob, f.offset..f.offset + f.size)
        .with_context(|| {
            format!(
                "store blob {} (bytes {}..{}); run `mirror-sync sync` again",
                f.blob,
                f.offset,
                f.offset + f.size
            )
        })?;
    // Reading runs on its own thread, so the medium's reads overlap the hashing and
    // writing here. Four 4 MiB buffers circulate: memory stays flat whatever the size.
    const CHUNK: usize = 4 << 20;
    let mut hasher = Hasher::new();
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<std::io::Result<(Vec<u8>, usize)>>(4);
    let (empty_tx, empty_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
    for _ in 0..4 {
        let _ = empty_tx.send(vec![0u8; CHUNK]);
    }
    let copied = std::thread::scope(|scope| -> anyhow::Result<()> {
        scope.spawn(move || {
            while let Ok(mut buf) = empty_rx.recv() {
                let r = read_full(&mut input, &mut buf);
                let done = !matches!(r, Ok(n) if n > 0);
                if full_tx.send(r.map(|n| (buf, n))).is_err() || done {
                    return;
                }
            }
        });
        let result = (|| -> anyhow::Result<()> {
            while let Ok(r) = full_rx.recv() {
                let (buf, n) = r.with_context(|| format!("read store blob {}", f.blob))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                out.write_all(&buf[..n])
                    .with_context(|| format!("write {}", tmp.display()))?;
                progress.inc_done(n as u64);
                // The reader may have finished already (it saw the end): the chunks it
                // queued are still received above, so a refused buffer is no error.
                let _ = empty_tx.send(buf);
            }
            Ok(())
        })();
        // Ends the reader if it is still waiting for a buffer.
        drop(empty_tx);
        drop(full_rx);
        result
    });
    copied?;
    Ok((out, hasher))
}

/// Reads until `buf` is full or the input ends; returns the bytes read (0 at the end).
fn read_full(r: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The temporary name a file is written under before its rename: `<name>.partial`.
pub(super) fn partial_name(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

/// Replaces `path` with `bytes` ([`store::fsio::write_atomic`], mode 0644: temporary
/// file, fsync, rename, fsync of the directory).
fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    store::fsio::write_atomic(path, bytes, 0o644)
        .with_context(|| format!("cannot write {}", path.display()))
}
