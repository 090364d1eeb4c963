//! The Release files and `Packages` indexes of phase 1 as a re-sync gets them without
//! downloading what it holds: Release files by conditional request
//! ([`release_file`]), indexes from the store by the verified Release's SHA256
//! ([`stored_index`]). See `reuse` for why and for the kept selection.

use formats::apt::release::{HashKind, IndexEntry};
use formats::digest::Digest;
use url::Url;

use crate::fetch::{Fetcher, MAX_INDEX_BYTES};

/// A Release file as fetched: its bytes and, when it went through the store, its digest.
pub(super) struct Doc {
    /// The bytes.
    pub(super) body: bytes::Bytes,
    /// SHA-256 of `body`, when known (the store holds it).
    pub(super) digest: Option<Digest>,
}

/// Fetches a Release file: conditionally and kept in the store when `store` (a sync),
/// else a plain `GET` that writes nothing (a plan). `Ok(None)` on 404/410.
///
/// Errors: as [`Fetcher::get_optional`].
pub(super) async fn release_file(
    f: &Fetcher,
    url: &Url,
    max: u64,
    store: bool,
) -> anyhow::Result<Option<Doc>> {
    if store {
        Ok(f.get_revalidated(url, None, max).await?.map(|r| Doc {
            body: r.doc.body,
            digest: Some(r.digest),
        }))
    } else {
        Ok(f.get_optional(url, None, max).await?.map(|d| Doc {
            body: d.body,
            digest: None,
        }))
    }
}

/// The bytes of the index `entry` when the store holds a blob of its SHA256 and size
/// (checked again while reading); `None` otherwise (a SHA512-only entry, a missing or
/// damaged blob): the caller fetches it.
pub(super) async fn stored_index(f: &Fetcher, entry: &IndexEntry) -> Option<bytes::Bytes> {
    if entry.hash_kind != HashKind::Sha256 || entry.size > MAX_INDEX_BYTES {
        return None;
    }
    let d = Digest::from_hex(&entry.hash_hex).ok()?;
    if f.cas().contains(&d).ok()?? != entry.size {
        return None;
    }
    let cas = f.cas().clone();
    match tokio::task::spawn_blocking(move || cas.read_bytes(&d, MAX_INDEX_BYTES)).await {
        Ok(Ok(b)) => Some(b.into()),
        Ok(Err(e)) => {
            tracing::warn!(index = %entry.path, error = %e, "stored index unusable; fetching it");
            // A damaged copy goes, so that the fetched index is stored again.
            if matches!(e, store::CasError::Mismatch { .. }) {
                let _ = f.cas().remove_blob(&d);
            }
            None
        }
        Err(_) => None,
    }
}
