//! The names inside a store directory (see [`super`] for the tree). A leaf module: the
//! blob store ([`crate::cas`]) and [`super::Store`] both take their names from here.

use std::time::Duration;

/// File name of the index database inside a store.
pub const INDEX_FILE: &str = "index.redb";
/// Directory of the blobs inside a store (`blobs/sha256/<hex>`, as on the media).
pub const BLOBS_DIR: &str = "blobs";
/// Directory of temp files and staging inside a store (on the store's file system, so a
/// verified file is renamed into place).
pub const TMP_DIR: &str = "tmp";
/// File name of the store lock inside a store.
pub const LOCK_FILE: &str = "lock";
/// File name of the generation counter inside a store.
pub const GENERATION_FILE: &str = "current.gen";
/// File name of the audit log inside a store.
pub const AUDIT_LOG: &str = "audit.log";
/// File name of the audit log's head file inside a store.
pub const AUDIT_HEAD: &str = "audit.head";
/// File name of the site's private key inside a store.
pub const SITE_KEY_FILE: &str = "site.key";
/// File name of the site's public key inside a store.
pub const SITE_PUB_FILE: &str = "site.pub";
/// The directory `mkfs` makes at the root of a file system (a store on its own one).
pub const LOST_FOUND: &str = "lost+found";
/// The names a store directory holds besides hidden temp files (`.audit.head.tmp.…`):
/// the index, the blob store, staging, the lock, the audit log and its head, the
/// generation counter, the site key pair, and `lost+found` (a store on a file system of
/// its own).
pub const STORE_ENTRIES: [&str; 10] = [
    INDEX_FILE,
    BLOBS_DIR,
    TMP_DIR,
    LOCK_FILE,
    AUDIT_LOG,
    AUDIT_HEAD,
    GENERATION_FILE,
    SITE_KEY_FILE,
    SITE_PUB_FILE,
    LOST_FOUND,
];
/// Prefix of an import's staging directory in `STORE/tmp` (`import-<pid>-<nanos>`).
pub const STAGING_PREFIX: &str = "import-";
/// Prefix of a blob writer's temp file in `STORE/tmp` (`.blob-<pid>-<n>-<nanos>`).
pub const BLOB_TEMP_PREFIX: &str = ".blob-";
/// Prefix of resumable import staging under `STORE/tmp`: `resume-<manifest hex>` holds
/// the blobs (and parts) an interrupted or multi-volume import has verified so far. Import
/// keeps it across runs; `gc` removes it.
pub const RESUME_PREFIX: &str = "resume-";
/// Name prefix of a resumable partial download in `STORE/tmp`: `.partial-<64 hex>`.
pub const PARTIAL_PREFIX: &str = ".partial-";
/// How long [`super::Store::lock`] waits quietly before saying that it waits.
pub const LOCK_NOTICE_AFTER: Duration = Duration::from_secs(1);
