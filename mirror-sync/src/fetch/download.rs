//! Resumable downloads into the store: the bytes are hashed and written as they arrive,
//! and a cut connection resumes with `Range: bytes=<len>-` (RFC 9110 §14.2) from the
//! store's partial file (see [`Fetcher::fetch_response_to_store`]).

use std::io::Write as _;

use anyhow::anyhow;
use formats::digest::Digest;
use futures_util::StreamExt as _;
use reqwest::StatusCode;
use store::Expected;

use super::{Class, Fetcher, backoff, classify, transient_status};

impl Fetcher {
    /// Streams the answers of `send` into the store, with the checks, counters and
    /// progress of [`Fetcher::fetch_to_store`], for requests the caller builds itself
    /// (registry auth, custom headers).
    ///
    /// `send(offset)` must send the request and return the response whatever its status;
    /// when `offset > 0` it must ask for `Range: bytes=<offset>-`. A connection cut after
    /// some bytes keeps the partial temp file and the next attempt resumes from there: a
    /// `206` whose `Content-Range` starts at `offset` is appended, a `200` restarts from
    /// byte 0. When `expected.digest` is set the partial file is the store's
    /// [`store::Cas::resume_writer`] file, so it also survives this run (a failure after
    /// the retries, a `kill -9`): the next run's first request already asks for the rest.
    /// `shown` names the resource in errors (never put credentials in it).
    ///
    /// Skipped when `expected.digest` is already in the store. Errors: a 4xx status
    /// (other than 408/429) at once, a digest or size mismatch after two tries, anything
    /// else after `retries` attempts; each names `shown` and what was expected.
    pub async fn fetch_response_to_store<F, Fut>(
        &self,
        shown: &str,
        expected: &Expected,
        label: &str,
        mut send: F,
    ) -> anyhow::Result<(Digest, u64)>
    where
        F: FnMut(u64) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<reqwest::Response>>,
    {
        if let Some(d) = &expected.digest
            && let Some(size) = self.cas.contains(d)?
            && expected.size.is_none_or(|s| s == size)
        {
            // A partial left by an interrupted run is of no use any more.
            let _ = self.cas.remove_partial(d);
            tracing::debug!(url = %shown, size, "already in the store");
            self.note_present(size);
            return Ok((*d, size));
        }
        let _permit = self.limit.acquire().await?;
        // Resume what an earlier run left on disk: the first request asks for the rest.
        let mut writer: Option<store::BlobWriter> = Some(
            self.open_writer(expected)
                .await
                .map_err(|e| e.context(format!("GET {shown}")))?,
        );
        if let (Some(w), Some(want)) = (&writer, expected.size)
            && w.bytes_written() > want
        {
            // Longer than the blob can be: not a prefix of it.
            discard(&mut writer);
        }
        let mut last_err = None;
        let mut mismatches = 0;
        for attempt in 0..self.retries {
            if attempt > 0 {
                backoff(attempt, last_err.as_ref()).await;
            }
            tracing::debug!(url = %shown, attempt = attempt + 1, "download");
            match self
                .try_fetch_response(&mut writer, expected, label, &mut send)
                .await
            {
                Ok(v) => {
                    tracing::debug!(url = %shown, digest = %v.0, size = v.1, "downloaded");
                    self.stats
                        .files_fetched
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return Ok(v);
                }
                Err(FetchFailure::Permanent(e)) => return Err(e.context(format!("GET {shown}"))),
                Err(FetchFailure::Mismatch(e)) => {
                    discard(&mut writer);
                    mismatches += 1;
                    if mismatches >= 2 {
                        return Err(e.context(format!(
                            "GET {shown}: content does not match the digest and size the upstream index lists"
                        )));
                    }
                    last_err = Some(e);
                }
                Err(FetchFailure::Transient(e)) => last_err = Some(e),
            }
        }
        Err(last_err
            .unwrap_or_else(|| anyhow!("no attempt made"))
            .context(format!(
                "GET {shown}: giving up after {} attempts",
                self.retries
            )))
    }

    /// A writer for `expected`: the digest's resumable partial file when the SHA-256 is
    /// known (re-hashing what is already there, off the async threads), else a fresh
    /// temp file. SHA-512 is computed when `expected` names one.
    async fn open_writer(&self, expected: &Expected) -> anyhow::Result<store::BlobWriter> {
        let cas = self.cas.clone();
        let digest = expected.digest;
        let sha512 = expected.sha512_hex.is_some();
        tokio::task::spawn_blocking(move || match digest {
            Some(d) => cas.resume_writer(&d, sha512),
            None if sha512 => cas.writer_with_sha512(),
            None => cas.writer(),
        })
        .await
        .map_err(|e| anyhow!(e))?
        .map_err(|e| anyhow!(e).context("cannot create a temp file in the store"))
    }

    fn note_present(&self, size: u64) {
        self.stats
            .files_present
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.stats
            .bytes_present
            .fetch_add(size, std::sync::atomic::Ordering::Relaxed);
        self.progress.inc_done(size);
        self.progress.file_done();
    }

    async fn try_fetch_response<F, Fut>(
        &self,
        slot: &mut Option<store::BlobWriter>,
        expected: &Expected,
        label: &str,
        send: &mut F,
    ) -> Result<(Digest, u64), FetchFailure>
    where
        F: FnMut(u64) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<reqwest::Response>>,
    {
        let offset = slot.as_ref().map_or(0, |w| w.bytes_written());
        let complete = expected.size.is_some_and(|s| offset == s && s > 0);
        if !complete {
            self.stats
                .requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let resp = send(offset).await.map_err(FetchFailure::Transient)?;
            let status = resp.status();
            match classify(status) {
                Class::Success => {}
                Class::Transient => {
                    return Err(FetchFailure::Transient(transient_status("", &resp)));
                }
                _ => return Err(FetchFailure::Permanent(anyhow!("HTTP {status}"))),
            }
            let resumed = offset > 0
                && status == StatusCode::PARTIAL_CONTENT
                && resp
                    .headers()
                    .get(reqwest::header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(content_range_start)
                    == Some(offset);
            if offset > 0 && !resumed {
                if status == StatusCode::PARTIAL_CONTENT {
                    discard(slot);
                    return Err(FetchFailure::Transient(anyhow!(
                        "server answered a range other than the one asked for; restarting"
                    )));
                }
                // The server ignored the Range header: start over.
                discard(slot);
            }
            let start = if resumed { offset } else { 0 };
            if let (Some(len), Some(want)) = (resp.content_length(), expected.size)
                && start + len != want
            {
                return Err(FetchFailure::Mismatch(anyhow!(
                    "server announces {} bytes, the descriptor says {want}",
                    start + len
                )));
            }
            if slot.is_none() {
                let w = self
                    .open_writer(expected)
                    .await
                    .map_err(FetchFailure::Permanent)?;
                *slot = Some(w);
            }
            let Some(writer) = slot.as_mut() else {
                return Err(FetchFailure::Permanent(anyhow!("no temp file")));
            };
            let bar = self.progress.file_bar(label, expected.size);
            bar.set_position(start);
            let mut stream = resp.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk
                    .map_err(|e| FetchFailure::Transient(anyhow!(e).context("connection cut")))?;
                if let Some(want) = expected.size
                    && writer.bytes_written() + chunk.len() as u64 > want
                {
                    discard(slot);
                    return Err(FetchFailure::Mismatch(anyhow!(
                        "more bytes than the {want} the descriptor says"
                    )));
                }
                writer.write_all(&chunk).map_err(|e| {
                    FetchFailure::Permanent(anyhow!(e).context("cannot write to the store"))
                })?;
                self.stats
                    .bytes_fetched
                    .fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
                bar.inc(chunk.len() as u64);
            }
            bar.finish_and_clear();
        }
        let Some(writer) = slot.take() else {
            return Err(FetchFailure::Transient(anyhow!("nothing downloaded")));
        };
        let exp = expected.clone();
        let res = tokio::task::spawn_blocking(move || writer.commit(&exp))
            .await
            .map_err(|e| FetchFailure::Permanent(anyhow!(e)))?;
        match res {
            Ok((d, n)) => {
                self.progress.inc_done(n);
                self.progress.file_done();
                Ok((d, n))
            }
            Err(store::CasError::Mismatch {
                what,
                expected,
                actual,
            }) => Err(FetchFailure::Mismatch(anyhow!(
                "{what} mismatch: expected {expected}, got {actual}"
            ))),
            Err(e) => Err(FetchFailure::Permanent(anyhow!(e))),
        }
    }
}

/// Throws away the bytes in `slot` (the partial file too): the next attempt starts at 0.
fn discard(slot: &mut Option<store::BlobWriter>) {
    if let Some(w) = slot.take() {
        w.discard();
    }
}

enum FetchFailure {
    Transient(anyhow::Error),
    Mismatch(anyhow::Error),
    Permanent(anyhow::Error),
}

/// The first byte position of a `Content-Range: bytes <first>-<last>/<complete>` value
/// (RFC 9110 §14.4); `None` when it is not of that form.
pub fn content_range_start(v: &str) -> Option<u64> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, _complete) = rest.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let first: u64 = first.trim().parse().ok()?;
    let last: u64 = last.trim().parse().ok()?;
    (first <= last).then_some(first)
}
