//! `mirror-server verify`: re-hash every blob of a store and check every held snapshot.
//!
//! Errors (the exit code is non-zero when there is any):
//! - a blob in `blobs/sha256/` whose bytes no longer hash to its name (`damaged`), or
//!   whose size differs from what a manifest says (`wrong-size`), or that cannot be read
//!   (`unreadable`);
//! - a blob a held snapshot references (artifact, manifest or signature) that is not in
//!   the store (`missing`);
//! - an index record whose manifest blob does not parse, or is missing or damaged
//!   (`bad-manifest`).
//!
//! Each blob problem names the blob file and every snapshot and logical path using it.
//! Information, not errors: orphan blobs (present, referenced by no held snapshot; `gc`
//! removes them) and stale staging entries.
//!
//! Each run's outcome is appended to the store's audit log as a `verify` record
//! ([`record_outcome`], called by the `verify` verb): the console's overview shows
//! whether the last run passed, and for which snapshots.
//!
//! Blobs are hashed in parallel on all cores, largest first, each streamed in 1 MiB
//! reads ([`store::Cas::hash_blob`]); a progress bar (bytes) can be drawn on stderr. The
//! store is not locked (a verify of a large store must not stop imports); a blob or
//! snapshot that garbage collection removes during the run is not reported.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use formats::digest::Digest;
use serde::Serialize;
use store::{Cas, CasError, IndexState, Store, StoreIoError};

use crate::lifecycle::{LifecycleError, read_manifest, snapshot_blobs};

/// What `verify` is asked to do.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The store directory.
    pub store: PathBuf,
    /// Show progress (bytes hashed) on stderr: a bar on a terminal, plain periodic lines
    /// otherwise ([`crate::progress::byte_bar`]).
    pub progress: bool,
    /// Hashing threads; `None`: one per core.
    pub threads: Option<usize>,
}

/// A snapshot and logical path using a blob.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct BlobUser {
    /// The snapshot, `<channel>/<sequence>`.
    pub snapshot: String,
    /// The artifact's logical path, or `(snapshot manifest)` / `(snapshot signature)`.
    pub path: String,
}

/// One thing wrong with the store.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Problem {
    /// The blob's bytes do not hash to its name.
    Damaged {
        /// The blob's name.
        digest: Digest,
        /// The blob file.
        file: PathBuf,
        /// What its bytes hash to.
        actual: Digest,
        /// Its size in bytes.
        size: u64,
        /// Who uses it (empty for an orphan).
        users: Vec<BlobUser>,
    },
    /// The blob hashes right but its size differs from the manifest's.
    WrongSize {
        /// The blob.
        digest: Digest,
        /// The blob file.
        file: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// The size a manifest gives.
        expected: u64,
        /// Who uses it.
        users: Vec<BlobUser>,
    },
    /// The blob file cannot be read.
    Unreadable {
        /// The blob.
        digest: Digest,
        /// The blob file.
        file: PathBuf,
        /// The error.
        error: String,
        /// Who uses it.
        users: Vec<BlobUser>,
    },
    /// A blob a held snapshot references is not in the store.
    Missing {
        /// The blob.
        digest: Digest,
        /// Where it should be.
        file: PathBuf,
        /// Who uses it.
        users: Vec<BlobUser>,
    },
    /// A held snapshot's manifest blob is missing, damaged or does not parse (its
    /// artifacts could not be checked).
    BadManifest {
        /// The snapshot.
        snapshot: String,
        /// The manifest blob.
        digest: Digest,
        /// What is wrong.
        reason: String,
    },
}

impl Problem {
    /// One line naming the blob file (or snapshot), what is wrong and who uses it.
    pub fn describe(&self) -> String {
        fn users(u: &[BlobUser]) -> String {
            if u.is_empty() {
                return "used by no held snapshot".into();
            }
            const MAX: usize = 6;
            let mut s: Vec<String> = u
                .iter()
                .take(MAX)
                .map(|u| format!("{} {}", u.snapshot, u.path))
                .collect();
            if u.len() > MAX {
                s.push(format!("and {} more", u.len() - MAX));
            }
            format!("used by {}", s.join(", "))
        }
        match self {
            Problem::Damaged {
                digest,
                file,
                actual,
                size,
                users: u,
            } => format!(
                "DAMAGED {digest}: {} ({size} bytes) hashes to {actual}; {}",
                file.display(),
                users(u)
            ),
            Problem::WrongSize {
                digest,
                file,
                size,
                expected,
                users: u,
            } => format!(
                "WRONG SIZE {digest}: {} is {size} bytes, the manifest says {expected}; {}",
                file.display(),
                users(u)
            ),
            Problem::Unreadable {
                digest,
                file,
                error,
                users: u,
            } => format!(
                "UNREADABLE {digest}: {}: {error}; {}",
                file.display(),
                users(u)
            ),
            Problem::Missing {
                digest,
                file,
                users: u,
            } => format!(
                "MISSING {digest}: {} does not exist; {}",
                file.display(),
                users(u)
            ),
            Problem::BadManifest {
                snapshot,
                digest,
                reason,
            } => format!("BAD MANIFEST of snapshot {snapshot} (blob {digest}): {reason}"),
        }
    }
}

/// Result of a verify run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VerifyReport {
    /// True when there is no problem.
    pub ok: bool,
    /// The store directory.
    pub store: PathBuf,
    /// Held snapshots checked.
    pub snapshots: u64,
    /// Their names (not in `--json`: the audit record of [`record_outcome`] lists them).
    #[serde(skip)]
    pub snapshot_names: Vec<String>,
    /// Blob files hashed.
    pub blobs_checked: u64,
    /// Bytes hashed.
    pub bytes_hashed: u64,
    /// Every problem, sorted (blob problems by digest, then manifests).
    pub problems: Vec<Problem>,
    /// Present, intact blobs no held snapshot references (information).
    pub orphans: u64,
    /// Their bytes.
    pub orphan_bytes: u64,
    /// Stale staging directories and temp files in `STORE/tmp` (information).
    pub stale_staging: Vec<PathBuf>,
    /// Wall-clock time, in seconds.
    pub elapsed_secs: f64,
}

impl VerifyReport {
    /// The held snapshots some problem names (a user of a bad blob, or a bad manifest),
    /// sorted, without duplicates.
    pub fn failed_snapshots(&self) -> Vec<String> {
        let mut names = std::collections::BTreeSet::new();
        for p in &self.problems {
            match p {
                Problem::Damaged { users, .. }
                | Problem::WrongSize { users, .. }
                | Problem::Unreadable { users, .. }
                | Problem::Missing { users, .. } => {
                    names.extend(users.iter().map(|u| u.snapshot.clone()));
                }
                Problem::BadManifest { snapshot, .. } => {
                    names.insert(snapshot.clone());
                }
            }
        }
        names.into_iter().collect()
    }
}

/// Event name of the audit record [`record_outcome`] appends.
pub const AUDIT_EVENT: &str = "verify";

/// Most snapshot names a `verify` audit record lists in `failed`, and in `checked`.
pub const MAX_FAILED_LISTED: usize = 100;

/// Appends the outcome of a verify run to the store's audit log
/// ([`crate::audit::append`]): a [`AUDIT_EVENT`] record with `ok` (bool), `started`
/// (RFC 3339 UTC: when the run began, so a snapshot imported later was not covered),
/// `snapshots` (held snapshots checked), `checked` (their names, when there are at most
/// [`MAX_FAILED_LISTED`]), `blobs_checked`, `bytes_hashed`, `problems` (their number),
/// `failed` (the first [`MAX_FAILED_LISTED`] snapshots a problem names,
/// [`VerifyReport::failed_snapshots`]) and `failed_total`.
///
/// Errors: [`crate::audit::AuditError`] when the log cannot be written (the caller
/// decides whether that fails the run; the `verify` verb warns).
pub fn record_outcome(
    report: &VerifyReport,
) -> Result<crate::audit::AuditRecord, crate::audit::AuditError> {
    let failed = report.failed_snapshots();
    let started = chrono::Utc::now()
        - chrono::Duration::milliseconds((report.elapsed_secs * 1000.0).ceil() as i64);
    let mut fields = serde_json::Map::new();
    fields.insert("ok".into(), report.ok.into());
    fields.insert(
        "started".into(),
        started
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            .into(),
    );
    fields.insert("snapshots".into(), report.snapshots.into());
    if report.snapshot_names.len() <= MAX_FAILED_LISTED {
        fields.insert("checked".into(), serde_json::json!(report.snapshot_names));
    }
    fields.insert("blobs_checked".into(), report.blobs_checked.into());
    fields.insert("bytes_hashed".into(), report.bytes_hashed.into());
    fields.insert("problems".into(), (report.problems.len() as u64).into());
    fields.insert("failed_total".into(), (failed.len() as u64).into());
    fields.insert(
        "failed".into(),
        serde_json::json!(
            failed
                .into_iter()
                .take(MAX_FAILED_LISTED)
                .collect::<Vec<_>>()
        ),
    );
    crate::audit::append(&report.store, AUDIT_EVENT, fields)
}

type Users = HashMap<Digest, (Option<u64>, Vec<BlobUser>)>;

/// A blob's name and what hashing its file gave.
type Hashed = (Digest, Result<(Digest, u64), CasError>);

/// Collects who uses which blob; manifest problems go to `problems`.
fn collect_users(cas: &Cas, state: &IndexState, problems: &mut Vec<Problem>) -> Users {
    let mut users: Users = HashMap::new();
    let mut add = |d: Digest, size: Option<u64>, snapshot: &str, path: &str| {
        let e = users.entry(d).or_insert((size, Vec::new()));
        if e.0.is_none() {
            e.0 = size;
        }
        e.1.push(BlobUser {
            snapshot: snapshot.to_owned(),
            path: path.to_owned(),
        });
    };
    for rec in &state.snapshots {
        match read_manifest(cas, rec) {
            Ok((m, size)) => {
                for (d, (size, path)) in snapshot_blobs(rec, &m, size) {
                    add(d, Some(size), &rec.name, &path);
                }
                // Several artifacts may share a blob: name them all.
                let mut seen_first: HashMap<Digest, &str> = HashMap::new();
                for a in &m.artifacts {
                    if seen_first.insert(a.digest, &a.path).is_some() {
                        add(a.digest, Some(a.size), &rec.name, &a.path);
                    }
                }
            }
            Err(e) => {
                let reason = match e {
                    LifecycleError::Manifest { reason, .. } => reason,
                    other => other.to_string(),
                };
                problems.push(Problem::BadManifest {
                    snapshot: rec.name.clone(),
                    digest: rec.manifest,
                    reason,
                });
                add(rec.manifest, None, &rec.name, "(snapshot manifest)");
                add(rec.signature, Some(64), &rec.name, "(snapshot signature)");
            }
        }
    }
    for (_, u) in users.values_mut() {
        u.sort();
        u.dedup();
    }
    users
}

/// Checks the store (see the module docs).
///
/// Errors: [`LifecycleError::NoStore`] when the store directory does not exist; index and
/// I/O errors. Problems found are in the report, not errors.
pub fn verify(opts: &VerifyOptions) -> Result<VerifyReport, LifecycleError> {
    let started = Instant::now();
    let store = &opts.store;
    if !store.is_dir() {
        return Err(LifecycleError::NoStore {
            store: store.clone(),
        });
    }
    let dir = Store::at(store);
    let cas = dir.cas();
    let state = match dir.index_read_only()? {
        Some(i) => i.state()?,
        None => IndexState::default(),
    };
    let mut problems = Vec::new();
    let users = collect_users(&cas, &state, &mut problems);

    // Blob files, largest first (better balance across threads).
    let blobs_dir = cas.blobs_dir();
    let present = match cas.iter_digests() {
        Ok(v) => v,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(StoreIoError {
                path: blobs_dir,
                source: e,
            }
            .into());
        }
    };
    let mut jobs: Vec<(Digest, u64)> = present
        .into_iter()
        .filter_map(|d| cas.contains(&d).ok().flatten().map(|s| (d, s)))
        .collect();
    jobs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let total: u64 = jobs.iter().map(|j| j.1).sum();
    let bar = crate::progress::byte_bar(opts.progress, total, "verifying blobs");
    let threads = opts
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 64)
        .min(jobs.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Hashed>> = Mutex::new(Vec::with_capacity(jobs.len()));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((d, _)) = jobs.get(i) else {
                        return;
                    };
                    let r = cas.hash_blob(d, |n| bar.inc(n));
                    if let Ok(mut v) = results.lock() {
                        v.push((*d, r));
                    }
                }
            });
        }
    });
    crate::progress::finish(&bar);
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());

    let mut report = VerifyReport {
        ok: false,
        store: store.clone(),
        snapshots: state.snapshots.len() as u64,
        snapshot_names: state.snapshots.iter().map(|r| r.name.clone()).collect(),
        blobs_checked: 0,
        bytes_hashed: 0,
        problems: Vec::new(),
        orphans: 0,
        orphan_bytes: 0,
        stale_staging: Vec::new(),
        elapsed_secs: 0.0,
    };
    let no_users: (Option<u64>, Vec<BlobUser>) = (None, Vec::new());
    let mut blob_problems: BTreeMap<Digest, Problem> = BTreeMap::new();
    let mut seen: std::collections::HashSet<Digest> = std::collections::HashSet::new();
    for (d, r) in results {
        let (expected, u) = users.get(&d).unwrap_or(&no_users);
        let file = cas.blob_path(&d);
        match r {
            Ok((actual, size)) => {
                seen.insert(d);
                report.blobs_checked += 1;
                report.bytes_hashed += size;
                if actual != d {
                    blob_problems.insert(
                        d,
                        Problem::Damaged {
                            digest: d,
                            file,
                            actual,
                            size,
                            users: u.clone(),
                        },
                    );
                } else if let Some(want) = expected
                    && *want != size
                {
                    blob_problems.insert(
                        d,
                        Problem::WrongSize {
                            digest: d,
                            file,
                            size,
                            expected: *want,
                            users: u.clone(),
                        },
                    );
                } else if u.is_empty() {
                    report.orphans += 1;
                    report.orphan_bytes += size;
                }
            }
            // Removed while we ran (gc): treated as absent below.
            Err(CasError::Missing(_)) => {}
            Err(e) => {
                seen.insert(d);
                blob_problems.insert(
                    d,
                    Problem::Unreadable {
                        digest: d,
                        file,
                        error: e.to_string(),
                        users: u.clone(),
                    },
                );
            }
        }
    }
    let mut missing: Vec<Digest> = users
        .keys()
        .filter(|d| !seen.contains(d))
        .copied()
        .collect();
    if !missing.is_empty() {
        // Drop blobs of snapshots garbage collection removed during the run.
        let now = match dir.index_read_only()? {
            Some(i) => i.state()?,
            None => IndexState::default(),
        };
        missing.retain(|d| {
            users
                .get(d)
                .is_some_and(|(_, u)| u.iter().any(|u| now.get(&u.snapshot).is_some()))
        });
    }
    for d in missing {
        let (_, u) = users.get(&d).unwrap_or(&no_users);
        blob_problems.insert(
            d,
            Problem::Missing {
                digest: d,
                file: cas.blob_path(&d),
                users: u.clone(),
            },
        );
    }
    report.problems = blob_problems.into_values().collect();
    report.problems.extend(problems);
    report.stale_staging = dir.stale_staging().map_err(|e| StoreIoError {
        path: dir.tmp_dir(),
        source: e,
    })?;
    report.ok = report.problems.is_empty();
    report.elapsed_secs = started.elapsed().as_secs_f64();
    Ok(report)
}
