//! Step 5b of an import: copy and hash every blob (and part) the given volumes carry into a
//! staging store, in parallel, then join split blobs from their parts. Drive files are
//! opened with [`drive::open_file`] (no link followed, one name, the size on record); the
//! staging store checks each digest before it names the file. No blob is fsynced on its
//! own: one sync of the file system makes the staged batch durable ([`durable`]).

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use formats::digest::Digest;
use formats::media;
use store::{Cas, CasError, Expected};

use super::ImportOptions;
use super::checks::Verified;
use super::cleanup::{Cleanup, create_dir_tracked};
use super::durable;
use super::error::{ImportError, cas_err, describe_users, file_err, io_at};
use super::plan::{DriveSet, Job, Plan, Users};

/// Copy buffer for blobs (1 MiB).
const COPY_BUF: usize = drive::COPY_BUF;

/// Step 5b: stage every planned job, keep the verified work and refuse with
/// [`ImportError::VolumesNeeded`] when volumes are missing, then join the split blobs and
/// make the staging store durable with one sync ([`durable::seal`]). The staging
/// directory is registered in `cleanup` (removed on a refusal, kept when volumes are
/// missing).
///
/// `alongside` runs exactly once on the verified blobs: when every blob in `early` is
/// available once the jobs copying those are done (none is split or on a missing
/// volume), on its own thread while the other jobs copy; otherwise after the staging.
/// Its result is returned with the staged blobs (an import passes the parsing of the
/// upstream package lists, which reads only small index blobs).
pub(super) fn stage<R: Send>(
    opts: &ImportOptions,
    v: &Verified,
    set: &DriveSet,
    plan: &Plan,
    cleanup: &mut Cleanup,
    early: &HashSet<Digest>,
    alongside: impl FnOnce(&Staged) -> R + Send,
) -> Result<(Staged, R), ImportError> {
    let main = Cas::at(&opts.store);
    let Plan {
        users,
        jobs,
        assemble,
        staging_root,
        parts_root,
        volumes_needed,
        ..
    } = plan;
    let (name, media, volume_roots) = (&v.name, &set.media, &set.roots);
    create_dir_tracked(&main.blobs_dir(), &mut cleanup.created)?;
    create_dir_tracked(&main.tmp_dir(), &mut cleanup.created)?;
    cleanup.staging = Some(staging_root.clone());
    let staging = Cas::open(staging_root).map_err(io_at(staging_root))?;
    let parts = Cas::open(parts_root).map_err(io_at(parts_root))?;
    durable::unseal(staging_root)?;
    let staged = Staged {
        staging: staging.clone(),
        main,
    };

    let bytes_to_copy: u64 = jobs.iter().map(|j| j.size).sum();
    let bar = crate::progress::byte_bar(opts.progress, bytes_to_copy, &format!("verifying {name}"));
    // The jobs that copy `early` blobs go first; `alongside` may start once they are done.
    let (first, mut rest): (Vec<usize>, Vec<usize>) =
        (0..jobs.len()).partition(|&i| jobs.get(i).is_some_and(|j| early.contains(&j.digest)));
    // Largest first: a 1 GiB wheel hashes on one thread, so it must not start last while
    // the other threads sit idle (errors are still reported in manifest order).
    rest.sort_by_key(|&i| std::cmp::Reverse(jobs.get(i).map_or(0, |j| j.size)));
    let overlap = volumes_needed.is_empty() && !assemble.iter().any(|(d, ..)| early.contains(d));
    let mut alongside = Some(alongside);
    let mut result: Option<R> = None;
    if overlap {
        copy_all(jobs, &first, &staging, &parts, users, &bar)?;
        let (f, on) = (alongside.take(), &staged);
        std::thread::scope(|s| -> Result<(), ImportError> {
            let side = s.spawn(move || f.map(|f| f(on)));
            let copied = copy_all(jobs, &rest, &staging, &parts, users, &bar);
            result = side.join().ok().flatten();
            copied
        })?;
    } else {
        let mut all: Vec<usize> = (0..jobs.len()).collect();
        all.sort_by_key(|&i| std::cmp::Reverse(jobs.get(i).map_or(0, |j| j.size)));
        copy_all(jobs, &all, &staging, &parts, users, &bar)?;
    }
    crate::progress::finish(&bar);
    if !volumes_needed.is_empty() {
        // Keep what was verified, durably: the next run with the other volumes resumes
        // from it.
        durable::seal(staging_root)?;
        cleanup.staging = None;
        let volumes = media.as_ref().map_or(1, |m| m.volumes);
        return Err(ImportError::VolumesNeeded {
            snapshot: name.clone(),
            volumes,
            given: volume_roots.keys().copied().collect(),
            done: (1..=volumes)
                .filter(|v| !volumes_needed.contains(v))
                .collect(),
            needed: volumes_needed.iter().copied().collect(),
        });
    }
    // Join split blobs: their parts, in order, must hash to the blob's digest.
    for (d, size, blob_parts) in assemble {
        assemble_blob(
            &staging,
            &parts,
            d,
            *size,
            blob_parts,
            users.get(d).map_or(&[][..], |u| u.1.as_slice()),
        )?;
    }
    durable::pause_point("staged");
    durable::seal(staging_root)?;
    durable::pause_point("synced");
    let result = match (result, alongside.take()) {
        (Some(r), _) => r,
        (None, Some(f)) => f(&staged),
        (None, None) => {
            return Err(ImportError::Io {
                path: staging_root.clone(),
                source: io::Error::other("the thread checking the upstream package lists failed"),
            });
        }
    };
    Ok((staged, result))
}

/// Verified blobs of an import in progress (the outcome of step 5b): staged ones first,
/// then the store's. Every check after step 5b reads blobs through it.
pub(super) struct Staged {
    /// The staging store, `STORE/tmp/resume-<manifest hex>`.
    pub staging: Cas,
    /// The store.
    pub main: Cas,
}

impl Staged {
    fn pick(&self, d: &Digest) -> &Cas {
        match self.staging.contains(d) {
            Ok(Some(_)) => &self.staging,
            _ => &self.main,
        }
    }
}

impl crate::provenance::BlobSource for Staged {
    fn read(&self, digest: &Digest, max: u64) -> Result<Vec<u8>, String> {
        self.pick(digest)
            .read_bytes(digest, max)
            .map_err(|e| e.to_string())
    }

    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + '_>, String> {
        let (f, _) = self
            .pick(digest)
            .open_blob(digest)
            .map_err(|e| e.to_string())?;
        Ok(Box::new(io::BufReader::new(f)))
    }
}

/// Joins the verified parts of split blob `digest` (from `parts`, in order) into `staging`,
/// checking the whole blob's size and digest.
fn assemble_blob(
    staging: &Cas,
    parts: &Cas,
    digest: &Digest,
    size: u64,
    blob_parts: &[media::Part],
    paths: &[String],
) -> Result<(), ImportError> {
    let tmp = staging.tmp_dir();
    let mut w = staging.writer().map_err(io_at(&tmp))?;
    let mut buf = vec![0u8; COPY_BUF];
    for p in blob_parts {
        let (mut f, _) = parts.open_blob(&p.digest).map_err(cas_err)?;
        loop {
            let n = match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_at(&parts.blob_path(&p.digest))(e)),
            };
            w.write_all(buf.get(..n).unwrap_or_default())
                .map_err(io_at(&tmp))?;
        }
    }
    match w.commit_unsynced(&Expected::exact(*digest, size)) {
        Ok(_) => Ok(()),
        Err(CasError::Mismatch { actual, .. }) => Err(ImportError::BlobMismatch {
            file: PathBuf::from(media::part_file(digest, 0))
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            artifacts: describe_users(paths),
            expected: *digest,
            actual: format!("{actual} (the parts, joined)"),
        }),
        Err(e) => Err(cas_err(e)),
    }
}

/// Copies and hashes the jobs `which` (indexes into `jobs`, taken in that order) into
/// `staging` (or `parts`) over two threads per CPU (at least 2, at most 8): a thread waiting on the drive or on
/// a full page cache leaves the CPU to another that hashes. Blobs are published without
/// an fsync each ([`store::BlobWriter::commit_unsynced`]); [`stage`] syncs the batch.
/// Returns the error of the first failing job (in manifest order) if any fails.
fn copy_all(
    jobs: &[Job],
    which: &[usize],
    staging: &Cas,
    parts: &Cas,
    users: &Users,
    bar: &indicatif::ProgressBar,
) -> Result<(), ImportError> {
    if which.is_empty() {
        return Ok(());
    }
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_mul(2)
        .clamp(2, 8)
        .min(which.len());
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let errors: Mutex<Vec<(usize, ImportError)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let Some(&i) = which.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        return;
                    };
                    let Some(job) = jobs.get(i) else {
                        return;
                    };
                    let blob = job.part_of.unwrap_or(job.digest);
                    let paths = users.get(&blob).map_or(&[][..], |u| u.1.as_slice());
                    let into = if job.part_of.is_some() {
                        parts
                    } else {
                        staging
                    };
                    match copy_one(job, into, paths, bar, &stop) {
                        Ok(()) => {}
                        Err(None) => return,
                        Err(Some(e)) => {
                            stop.store(true, Ordering::Relaxed);
                            if let Ok(mut errs) = errors.lock() {
                                errs.push((i, e));
                            }
                            return;
                        }
                    }
                }
            });
        }
    });
    let mut errs = errors.into_inner().unwrap_or_else(|p| p.into_inner());
    errs.sort_by_key(|(i, _)| *i);
    match errs.into_iter().next() {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

/// Blobs from this size on (in bytes, 1 MiB) are copied by the kernel and hashed in
/// place ([`store::BlobWriter::append_from`]); smaller ones through one buffer, where a
/// mapping per file would cost more than the copy it saves.
const KERNEL_COPY_FROM: u64 = 1024 * 1024;

/// One kernel copy and hash step of a large blob (in bytes, 4 MiB): small enough that the
/// pages just written are still in the page cache when they are hashed, and that
/// progress moves.
const KERNEL_COPY_STEP: u64 = 4 * 1024 * 1024;

/// Copies `file` (`job.size` bytes) into `w` by kernel copies of [`KERNEL_COPY_STEP`],
/// each hashed from the staging file as it landed. `Err(None)`: cancelled because
/// another job failed.
fn kernel_copy(
    file: std::fs::File,
    w: &mut store::BlobWriter,
    job: &Job,
    tmp: &Path,
    bar: &indicatif::ProgressBar,
    stop: &AtomicBool,
) -> Result<(), Option<ImportError>> {
    let src = store::LocalBlob::new(file, job.size);
    let mut at = 0;
    while at < job.size {
        if stop.load(Ordering::Relaxed) {
            return Err(None);
        }
        let end = job.size.min(at.saturating_add(KERNEL_COPY_STEP));
        let n = w.append_from(&src, at..end).map_err(|e| {
            // A full store is the staging side's; anything else is named after the drive
            // file (a read error, or a file that ends early).
            Some(if e.kind() == io::ErrorKind::StorageFull {
                io_at(tmp)(e)
            } else {
                io_at(&job.src)(e)
            })
        })?;
        bar.inc(n);
        at = end;
    }
    Ok(())
}

/// Copies one blob; `Err(None)` means cancelled because another job failed.
fn copy_one(
    job: &Job,
    staging: &Cas,
    paths: &[String],
    bar: &indicatif::ProgressBar,
    stop: &AtomicBool,
) -> Result<(), Option<ImportError>> {
    let mut file = drive::open_file(&job.src, job.size).map_err(|e| Some(file_err(e, paths)))?;
    let tmp = staging.tmp_dir();
    let mut w = staging.writer().map_err(|e| Some(io_at(&tmp)(e)))?;
    if job.size >= KERNEL_COPY_FROM {
        kernel_copy(file, &mut w, job, &tmp, bar, stop)?;
    } else {
        let mut buf = vec![0u8; COPY_BUF];
        loop {
            if stop.load(Ordering::Relaxed) {
                return Err(None);
            }
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Some(io_at(&job.src)(e))),
            };
            w.write_all(buf.get(..n).unwrap_or_default())
                .map_err(|e| Some(io_at(&tmp)(e)))?;
            bar.inc(n as u64);
        }
    }
    match w.commit_unsynced(&Expected::exact(job.digest, job.size)) {
        Ok(_) => Ok(()),
        Err(CasError::Mismatch {
            what,
            expected,
            actual,
        }) if what == "size" => Err(Some(ImportError::BlobSize {
            file: job.src.clone(),
            artifacts: describe_users(paths),
            expected: expected.parse().unwrap_or(job.size),
            actual: actual.parse().unwrap_or(0),
        })),
        Err(CasError::Mismatch { actual, .. }) => Err(Some(ImportError::BlobMismatch {
            file: job.src.clone(),
            artifacts: describe_users(paths),
            expected: job.digest,
            actual,
        })),
        Err(e) => Err(Some(cas_err(e))),
    }
}
