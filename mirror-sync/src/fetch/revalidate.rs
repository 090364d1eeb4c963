//! Conditional GETs of small documents kept in the store ([`Fetcher::get_revalidated`]):
//! an upstream's `InRelease`/`Release`/`Release.gpg` and the PyPI project pages.
//!
//! A document fetched with a `200` goes into the store (content-addressed) and its
//! validators, the `ETag` and a strong `Last-Modified` (RFC 9110 §8.8.2.2: at least 60 s
//! before the answer's `Date`), are remembered with its digest and size as a
//! [`KnownDocument`]. The next fetch of the same URL (and `Accept`) sends them as
//! `If-None-Match` and `If-Modified-Since` (RFC 9110 §13.1.2–3); a `304 Not Modified`
//! costs no body: the bytes are read back from the store and checked against the digest.
//! A `304` is never trusted for bytes the store does not hold: when the blob is missing
//! or no longer hashes to its name, the same document is asked for again without
//! validators (a full `GET`).
//!
//! The known documents are loaded from the state database before a sync
//! ([`Fetcher::know_documents`]) and the new or changed ones written back after it
//! ([`Fetcher::learned_documents`]). Within one run a document is fetched once: a second
//! call for the same URL and `Accept` returns the first answer's bytes (so the APT
//! selection check and the universe see one and the same `InRelease`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use anyhow::anyhow;
use formats::digest::Digest;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use url::Url;

use super::{Exchange, Failure, Fetched, Fetcher, redact};

/// How long before the answer's `Date` a `Last-Modified` must lie to be used as a
/// validator (RFC 9110 §8.8.2.2: a weaker one may name a second in which the file
/// changed again), in seconds.
pub const STRONG_LAST_MODIFIED_SECS: i64 = 60;

/// The validators of a document as the upstream sent them (RFC 9110 §8.8).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    /// `ETag`, verbatim (quotes and any `W/` prefix kept).
    pub etag: Option<String>,
    /// `Last-Modified` (IMF-fixdate), only when strong (see [`STRONG_LAST_MODIFIED_SECS`]).
    pub last_modified: Option<String>,
}

impl Validators {
    /// Whether there is anything to send.
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// A document the store holds, with the validators it was served with: the value of the
/// state's `documents` table, keyed by [`document_key`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownDocument {
    /// What to send next time.
    pub validators: Validators,
    /// SHA-256 of the body (the blob's name in the store).
    pub digest: Digest,
    /// Body size in bytes.
    pub size: u64,
    /// `Content-Type` of the answer, if any.
    pub content_type: Option<String>,
    /// URL after redirects, credentials removed ([`redact`]).
    pub final_url: String,
}

/// A document from [`Fetcher::get_revalidated`].
#[derive(Debug)]
pub struct Revalidated {
    /// The document (on a `304`, the stored bytes with the stored type and final URL).
    pub doc: Fetched,
    /// SHA-256 of the body; the store holds it.
    pub digest: Digest,
    /// Whether the upstream answered `304 Not Modified` (no body was sent).
    pub not_modified: bool,
}

/// The key of a document in the state's `documents` table: `<Accept>␊<redacted URL>`.
pub fn document_key(url: &Url, accept: Option<&str>) -> String {
    format!("{}\n{}", accept.unwrap_or(""), redact(url))
}

/// The revalidation memory of one run (inside [`Fetcher`]).
#[derive(Default)]
pub(super) struct Documents {
    /// Loaded from the state before the run.
    known: Mutex<HashMap<String, KnownDocument>>,
    /// New or changed this run, to be written back.
    learned: Mutex<BTreeMap<String, KnownDocument>>,
    /// Every document asked for this run: its digest, or `None` for a 404/410; and its
    /// answer, for a second call.
    seen: Mutex<BTreeMap<String, Option<Seen>>>,
}

#[derive(Clone)]
struct Seen {
    body: bytes::Bytes,
    digest: Digest,
    content_type: Option<String>,
    url: Url,
    not_modified: bool,
}

/// What one attempt got.
enum Answer {
    NotModified,
    Body(Fetched, Validators),
}

impl Fetcher {
    /// Adds documents the store holds (from the state's `documents` table) to revalidate
    /// in this run.
    pub fn know_documents(&self, docs: impl IntoIterator<Item = (String, KnownDocument)>) {
        if let Ok(mut k) = self.documents.known.lock() {
            k.extend(docs);
        }
    }

    /// Counts the package files of a kept selection (previous states kept whole) as
    /// files already in the store ([`super::Stats::files_present`]), as a sync that walked
    /// through them would have.
    pub fn count_kept(&self, artifacts: &[formats::snapshot::Artifact]) {
        use std::sync::atomic::Ordering::Relaxed;
        for a in artifacts.iter().filter(|a| a.kind.is_package()) {
            self.stats.files_present.fetch_add(1, Relaxed);
            self.stats.bytes_present.fetch_add(a.size, Relaxed);
        }
    }

    /// The documents fetched with a `200` this run whose validators or bytes differ from
    /// what was known: to write back to the state (empty when nothing changed).
    pub fn learned_documents(&self) -> Vec<(String, KnownDocument)> {
        self.documents
            .learned
            .lock()
            .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    /// The documents asked for this run through [`Fetcher::get_revalidated`] with
    /// `Accept` `accept`: (redacted URL, digest of the body or `None` for a 404/410).
    pub fn seen_documents(&self, accept: Option<&str>) -> Vec<(String, Option<Digest>)> {
        let prefix = format!("{}\n", accept.unwrap_or(""));
        self.documents
            .seen
            .lock()
            .map(|s| {
                s.iter()
                    .filter_map(|(k, v)| {
                        let url = k.strip_prefix(&prefix)?;
                        Some((url.to_owned(), v.as_ref().map(|s| s.digest)))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// GETs `url` (at most `max` bytes) as [`Fetcher::get_optional`] does, but
    /// conditionally when the store holds an earlier answer (see the module docs), and
    /// keeps the body in the store. `Ok(None)` on 404/410. A second call in the same run
    /// returns the first answer without a request.
    ///
    /// Errors: as [`Fetcher::get_optional`] (naming the redacted URL); the store cannot
    /// be written. A stored body that is missing or damaged is not an error: the document
    /// is fetched whole.
    pub async fn get_revalidated(
        &self,
        url: &Url,
        accept: Option<&str>,
        max: u64,
    ) -> anyhow::Result<Option<Revalidated>> {
        let key = document_key(url, accept);
        if let Some(seen) = self
            .documents
            .seen
            .lock()
            .ok()
            .and_then(|s| s.get(&key).cloned())
        {
            return Ok(seen.map(|s| Revalidated {
                doc: Fetched {
                    url: s.url,
                    content_type: s.content_type,
                    body: s.body,
                },
                digest: s.digest,
                not_modified: s.not_modified,
            }));
        }
        let known = self
            .documents
            .known
            .lock()
            .ok()
            .and_then(|k| k.get(&key).cloned())
            .filter(|k| !k.validators.is_empty())
            .filter(|k| matches!(self.cas.contains(&k.digest), Ok(Some(n)) if n == k.size));
        let mut result = None;
        if let Some(k) = &known {
            match self.get_once(url, accept, max, Some(&k.validators)).await? {
                None => result = Some(None),
                Some(Answer::NotModified) => match self.stored_body(k, max).await {
                    Ok(body) => {
                        let final_url = Url::parse(&k.final_url).unwrap_or_else(|_| url.clone());
                        result = Some(Some(Revalidated {
                            doc: Fetched {
                                url: final_url,
                                content_type: k.content_type.clone(),
                                body,
                            },
                            digest: k.digest,
                            not_modified: true,
                        }));
                    }
                    Err(e) => {
                        tracing::warn!(
                            url = %redact(url),
                            error = %format!("{e:#}"),
                            "304 Not Modified, but the stored copy is unusable; fetching it whole"
                        );
                        // A damaged copy goes, so that the whole answer is stored again.
                        if matches!(
                            e.downcast_ref::<store::CasError>(),
                            Some(store::CasError::Mismatch { .. })
                        ) {
                            let _ = self.cas.remove_blob(&k.digest);
                        }
                    }
                },
                Some(Answer::Body(doc, v)) => result = Some(Some(self.keep(&key, doc, v)?)),
            }
        }
        let result = match result {
            Some(r) => r,
            None => match self.get_once(url, accept, max, None).await? {
                None => None,
                Some(Answer::Body(doc, v)) => Some(self.keep(&key, doc, v)?),
                Some(Answer::NotModified) => {
                    return Err(anyhow!(
                        "GET {}: HTTP 304 Not Modified to a request without validators",
                        redact(url)
                    ));
                }
            },
        };
        if let Ok(mut s) = self.documents.seen.lock() {
            s.insert(
                key,
                result.as_ref().map(|r| Seen {
                    body: r.doc.body.clone(),
                    digest: r.digest,
                    content_type: r.doc.content_type.clone(),
                    url: r.doc.url.clone(),
                    not_modified: r.not_modified,
                }),
            );
        }
        Ok(result)
    }

    /// Stores a `200`'s body and remembers its validators when it has any.
    fn keep(&self, key: &str, doc: Fetched, v: Validators) -> anyhow::Result<Revalidated> {
        let digest = self.cas.put_bytes(&doc.body)?;
        let entry = KnownDocument {
            validators: v,
            digest,
            size: doc.body.len() as u64,
            content_type: doc.content_type.clone(),
            final_url: redact(&doc.url),
        };
        let unchanged = self
            .documents
            .known
            .lock()
            .ok()
            .is_some_and(|k| k.get(key) == Some(&entry));
        if !entry.validators.is_empty()
            && !unchanged
            && let Ok(mut l) = self.documents.learned.lock()
        {
            l.insert(key.to_owned(), entry);
        }
        Ok(Revalidated {
            doc,
            digest,
            not_modified: false,
        })
    }

    /// The stored body of `k`, checked against its digest (off the async threads).
    async fn stored_body(&self, k: &KnownDocument, max: u64) -> anyhow::Result<bytes::Bytes> {
        let cas = self.cas.clone();
        let d = k.digest;
        let body = tokio::task::spawn_blocking(move || cas.read_bytes(&d, max)).await??;
        Ok(body.into())
    }

    /// One request through the retry loop, conditional when `validators` are given.
    async fn get_once(
        &self,
        url: &Url,
        accept: Option<&str>,
        max: u64,
        validators: Option<&Validators>,
    ) -> anyhow::Result<Option<Answer>> {
        let _permit = self.limit.acquire().await?;
        let shown = redact(url);
        self.tls_ready(url, &shown)?;
        let ex = Exchange::new("GET", url).missing_ok().not_modified_ok();
        let what = ex.what();
        let send = async || {
            self.send_get_if(url, accept, 0, validators)
                .await
                .map_err(Failure::Transient)
        };
        let read = async |resp: reqwest::Response| {
            if resp.status() == StatusCode::NOT_MODIFIED {
                return if validators.is_some() {
                    Ok(Answer::NotModified)
                } else {
                    Err(Failure::Permanent(anyhow!(
                        "{what}: HTTP 304 Not Modified to a request without validators"
                    )))
                };
            }
            let v = validators_of(resp.headers());
            let doc = self.read_document(what, resp, max).await?;
            Ok(Answer::Body(doc, v))
        };
        self.exchange(&ex, send, read).await
    }
}

/// The validators of an answer: its `ETag`, and its `Last-Modified` when that lies at
/// least [`STRONG_LAST_MODIFIED_SECS`] before its `Date` (RFC 9110 §8.8.2.2).
pub fn validators_of(h: &reqwest::header::HeaderMap) -> Validators {
    let text = |k: reqwest::header::HeaderName| {
        h.get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let date = |v: &str| chrono::DateTime::parse_from_rfc2822(v).ok();
    let last_modified = text(reqwest::header::LAST_MODIFIED).filter(|lm| {
        match (
            date(lm),
            text(reqwest::header::DATE).as_deref().and_then(date),
        ) {
            (Some(m), Some(d)) => (d - m).num_seconds() >= STRONG_LAST_MODIFIED_SECS,
            _ => false,
        }
    });
    Validators {
        etag: text(reqwest::header::ETAG),
        last_modified,
    }
}
