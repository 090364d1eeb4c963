//! Steps 4, 8 and 9 of an import, the ones that write the store: take the store lock and
//! apply anti-rollback (4); commit: move the staged blobs, the manifest and its signature
//! into the store, record the snapshot and make it live in one index transaction, bump
//! `STORE/current.gen` (8); append the hash-chained `import` record to the audit log (9).
//! [`Cleanup`](super::cleanup::Cleanup) undoes what a refused import created.

use std::fs;
use std::io;

use formats::digest::Digest;
use formats::snapshot::{Manifest, SnapshotName};
use store::{Index, SnapshotRecord};

use super::ImportOptions;
use super::checks::Verified;
use super::cleanup::{Cleanup, create_dir_tracked};
use super::copy::Staged;
use super::error::{ImportError, cas_err, io_at};
use super::plan::Plan;
use crate::lifecycle::StoreLock;
use store::layout::INDEX_FILE;

/// The store, locked for this import. Dropped, it releases the lock and then undoes what
/// the import created (unless committed).
pub(super) struct Open {
    /// The store lock (one store operation at a time, across processes).
    pub lock: StoreLock,
    /// What to undo on a refusal.
    pub cleanup: Cleanup,
}

/// Step 4: create the store directory if needed, take the store lock
/// ([`crate::lifecycle::lock_store`]), sweep staging left by a killed import, and apply
/// anti-rollback ([`rollback_check`]). From here on the store may be touched; [`Cleanup`]
/// undoes it on any failure.
pub(super) fn open_store(opts: &ImportOptions, manifest: &Manifest) -> Result<Open, ImportError> {
    let store_root = &opts.store;
    if let Ok(m) = fs::symlink_metadata(store_root)
        && !m.is_dir()
        && !fs::metadata(store_root).is_ok_and(|m| m.is_dir())
    {
        return Err(ImportError::Io {
            path: store_root.clone(),
            source: io::Error::other("the store path exists and is not a directory"),
        });
    }
    let mut cleanup = Cleanup {
        staging: None,
        created: Vec::new(),
        armed: true,
    };
    create_dir_tracked(store_root, &mut cleanup.created)?;
    // One store operation at a time (imports, rollbacks, pins, gc), across processes.
    let lock_existed = fs::symlink_metadata(store_root.join(crate::lifecycle::LOCK_FILE)).is_ok();
    let mut lock = crate::lifecycle::lock_store(store_root)?;
    // A first import (no index yet) that made the lock file removes it again if it is
    // refused, so the directory is left as it was (but for the audit record).
    lock.remove_on_drop(!lock_existed && !store_root.join(INDEX_FILE).exists());
    // Staging left by an import that was killed: unreferenced, safe to remove.
    if let Err(e) = crate::lifecycle::sweep_stale_staging(store_root) {
        tracing::warn!(error = %e, "cannot remove stale staging directories");
    }

    // Anti-rollback.
    if let Some(index) = Index::open_read_only(&store_root.join(INDEX_FILE))? {
        rollback_check(&index, manifest, opts.allow_downgrade)?;
    }
    Ok(Open { lock, cleanup })
}

/// What step 8 did.
pub(super) struct Committed {
    /// The manifest's blob in the store.
    pub manifest_digest: Digest,
    /// The snapshot that was live on the channel before, if any.
    pub previous_live: Option<String>,
    /// Whether `--allow-downgrade` was needed.
    pub forced: bool,
    /// The new value of `STORE/current.gen`.
    pub generation: u64,
}

/// Step 8: move the staged blobs (and the manifest and signature blobs) into the store
/// (renames, then one fsync of the blob directory: the staged bytes were made durable by
/// the staging's sync), record the snapshot and make it live in one index transaction
/// (checking anti-rollback again under the lock), then bump `STORE/current.gen` so
/// running servers switch. After the index commit nothing undoes the import.
pub(super) fn commit(
    opts: &ImportOptions,
    v: &Verified,
    plan: &Plan,
    staged: &Staged,
    open: &mut Open,
) -> Result<Committed, ImportError> {
    let (name, manifest) = (&v.name, &v.manifest);
    let (staging, main) = (&staged.staging, &staged.main);
    let store_root = &opts.store;
    let index_path = store_root.join(INDEX_FILE);
    let cleanup = &mut open.cleanup;
    let manifest_digest = staging.put_bytes(&v.manifest_bytes).map_err(cas_err)?;
    let sig_digest = staging.put_bytes(&v.sig).map_err(cas_err)?;
    if !index_path.exists() {
        cleanup.created.push(index_path.clone());
    }
    let index = Index::open(&index_path)?;
    // Check again under the write lock: another import may have committed meanwhile.
    let (previous_live, forced) = rollback_check(&index, manifest, opts.allow_downgrade)?;
    // The staged bytes are durable (the staging store is sealed, `durable`): move them
    // in by renames, then make the renames durable with one fsync of the blob directory,
    // all before the index transaction that refers to them.
    let mut moved = false;
    for d in &plan.order {
        if main
            .contains(d)
            .map_err(io_at(&main.blob_path(d)))?
            .is_none()
        {
            moved |= main.adopt_unsynced(staging, d).map_err(cas_err)?;
        }
    }
    moved |= main
        .adopt_unsynced(staging, &manifest_digest)
        .map_err(cas_err)?;
    moved |= main.adopt_unsynced(staging, &sig_digest).map_err(cas_err)?;
    if moved {
        let dir = main.blobs_dir();
        store::fsio::sync_dir(&dir).map_err(io_at(&dir))?;
    }
    super::durable::pause_point("adopted");
    let imported_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let record = SnapshotRecord {
        name: name.clone(),
        channel: manifest.channel.clone(),
        sequence: manifest.sequence,
        created: manifest.created.clone(),
        signer: v.signer.clone(),
        signer_key_file: v.signer_key_file.clone(),
        manifest: manifest_digest,
        signature: sig_digest,
        imported_at,
        artifacts: manifest.artifacts.len() as u64,
        bytes: plan.total_bytes,
    };
    index.commit_import(&record)?;
    drop(index);
    // The snapshot is committed: nothing below may undo it.
    cleanup.armed = false;
    open.lock.remove_on_drop(false);
    let generation = crate::lifecycle::bump_generation(store_root)?;
    Ok(Committed {
        manifest_digest,
        previous_live,
        forced,
        generation,
    })
}

/// Step 9: record the import (and the trusted keys it used) in the store's audit log, then
/// remove the staging directory and release the lock. A failure to write the log is a
/// warning: the snapshot is live.
pub(super) fn audit(opts: &ImportOptions, v: &Verified, c: &Committed, open: Open) {
    let store_root = &opts.store;
    let fields = match serde_json::json!({
        "snapshot": v.name,
        "signer": v.signer,
        "signer_key_file": v.signer_key_file,
        "manifest": c.manifest_digest,
        "previous_live": c.previous_live,
        "forced": c.forced,
        "generation": c.generation,
        "drive": opts.drive.to_string_lossy(),
    }) {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    if let Err(e) = crate::audit::note_trusted_keys(store_root, &v.trusted)
        .and_then(|_| crate::audit::append(store_root, "import", fields))
    {
        // The snapshot is live; say so rather than report a failed import.
        tracing::warn!(error = %e, "snapshot {} is live, but the audit log could not be written", v.name);
    }
    let Open { lock, cleanup } = open;
    drop(cleanup);
    drop(lock);
}

/// Anti-rollback (DESIGN.md §Trust on the Cube): refuses `manifest` when the live snapshot
/// on its channel has the same or a higher sequence, unless `allow_downgrade`. Returns the
/// live snapshot's name and whether the downgrade was forced.
fn rollback_check(
    index: &Index,
    manifest: &Manifest,
    allow_downgrade: bool,
) -> Result<(Option<String>, bool), ImportError> {
    let Some(live_name) = index.live(&manifest.channel)? else {
        return Ok((None, false));
    };
    let live_seq = match index.snapshot(&live_name)? {
        Some(r) => r.sequence,
        None => SnapshotName::parse(&live_name).map_or(0, |n| n.sequence),
    };
    let mut forced = false;
    if live_seq >= manifest.sequence {
        let name = manifest.name();
        if !allow_downgrade {
            return Err(if live_name == name {
                ImportError::AlreadyImported { name }
            } else {
                ImportError::Rollback {
                    name,
                    live: live_name,
                    channel: manifest.channel.clone(),
                }
            });
        }
        forced = true;
    }
    Ok((Some(live_name), forced))
}
