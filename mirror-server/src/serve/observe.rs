//! The outermost middleware of every route (see [`mod@super::router`]): the `Host` rules of
//! RFC 9112 §3.2 (`400` otherwise), the request counters and latency histogram of
//! [`super::metrics::Metrics`], the completed-bytes count, and one access-log line per
//! request ([`super::access_log`]) when its body has been sent or cut.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, Method, StatusCode, Version, header};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Frame, SizeHint};

use super::access_log::{Pending, format_line};
use super::response::plain;
use super::state::AppState;

/// Response extension naming the snapshot that answered (`<channel>/<sequence>`), set by
/// the content routes when an access log is on; without it the line names the live
/// snapshot at the request's arrival.
#[derive(Debug, Clone)]
pub struct Answered(pub String);

/// The outermost middleware: `Host` check, metrics, access log (see the
/// [module docs](self)), for a request of route class `class` (the router's
/// [`super::router::Resource::class`] of its path).
pub async fn observe(
    state: Arc<AppState>,
    class: &'static str,
    req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let head = req.method() == Method::HEAD;
    let pending = state.access_log.as_ref().map(|_| Pending {
        time: SystemTime::now(),
        client: req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0),
        method: req.method().clone(),
        target: req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned()),
        version: req.version(),
        status: 0,
        referer: req.headers().get(header::REFERER).cloned(),
        user_agent: req.headers().get(header::USER_AGENT).cloned(),
        snapshot: state.snapshot().map(|l| l.name.clone()),
        class,
    });
    let resp = match host_problem(req.version(), req.headers()) {
        Some(why) => plain(StatusCode::BAD_REQUEST, format!("bad request: {why}\n")),
        None => next.run(req).await,
    };
    let status = resp.status().as_u16();
    state.metrics.count(class, status);
    state.metrics.observe_latency(class, start.elapsed());
    let (mut parts, inner) = resp.into_parts();
    let answered = parts.extensions.remove::<Answered>().map(|a| a.0);
    let expected = http_body::Body::size_hint(&inner).exact().or_else(|| {
        parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok())
    });
    let body = Observed {
        inner,
        expected,
        state: state.clone(),
        start,
        head,
        sent: 0,
        done: false,
        pending: pending.map(|p| Pending {
            status,
            snapshot: answered.or(p.snapshot),
            ..p
        }),
    };
    Response::from_parts(parts, Body::new(body))
}

/// Why the request's `Host` header breaks RFC 9112 §3.2, if it does.
pub fn host_problem(version: Version, headers: &HeaderMap) -> Option<&'static str> {
    if version != Version::HTTP_10 && version != Version::HTTP_11 {
        return None;
    }
    let mut hosts = headers.get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) if version == Version::HTTP_11 => {
            Some("an HTTP/1.1 request must carry a Host header (RFC 9112 section 3.2)")
        }
        (None, _) => None,
        (Some(_), Some(_)) => Some("more than one Host header (RFC 9112 section 3.2)"),
        (Some(v), None) => {
            let ok = v
                .to_str()
                .ok()
                .filter(|s| !s.contains('@'))
                .is_some_and(|s| s.is_empty() || s.parse::<axum::http::uri::Authority>().is_ok());
            (!ok).then_some("the Host header is not a valid host[:port] (RFC 9112 section 3.2)")
        }
    }
}

/// The response body, observed: counts the bytes handed to the connection and reports
/// once, at its end or when dropped early.
struct Observed {
    inner: Body,
    /// The body's length, when known (size hint or `Content-Length`).
    expected: Option<u64>,
    state: Arc<AppState>,
    start: Instant,
    head: bool,
    sent: u64,
    done: bool,
    pending: Option<Pending>,
}

impl Observed {
    fn finish(&mut self, complete: bool) {
        if self.done {
            return;
        }
        self.done = true;
        if complete {
            self.state.metrics.add_completed_bytes(self.sent);
        } else {
            self.state.metrics.count_incomplete();
        }
        if let Some(p) = self.pending.take()
            && let Some(log) = &self.state.access_log
        {
            let line = format_line(log.format, &p, self.sent, self.start.elapsed(), complete);
            log.send(line);
        }
    }
}

impl http_body::Body for Observed {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    this.sent += d.len() as u64;
                }
            }
            Poll::Ready(Some(Err(_))) => this.finish(false),
            Poll::Ready(None) => this.finish(true),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        // A body the connection never had to poll (empty, or the answer to HEAD, whose
        // body is never sent) is complete, and so is one whose announced length was
        // handed over in full (hyper stops polling at `Content-Length`); anything else
        // dropped before its end was cut.
        let complete = self.head
            || http_body::Body::is_end_stream(&self.inner)
            || self.expected == Some(self.sent);
        self.finish(complete);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn host_rules() {
        let one = headers(&[("host", "mirror.local:8080")]);
        let none = headers(&[]);
        let two = headers(&[("host", "a"), ("host", "b")]);
        let bad = headers(&[("host", "user@a")]);
        let bad2 = headers(&[("host", "a b")]);
        assert_eq!(host_problem(Version::HTTP_11, &one), None);
        assert_eq!(
            host_problem(Version::HTTP_11, &headers(&[("host", "[::1]:80")])),
            None
        );
        assert!(host_problem(Version::HTTP_11, &none).is_some());
        assert_eq!(host_problem(Version::HTTP_10, &none), None);
        assert!(host_problem(Version::HTTP_10, &two).is_some());
        assert!(host_problem(Version::HTTP_11, &two).is_some());
        assert!(host_problem(Version::HTTP_11, &bad).is_some());
        assert!(host_problem(Version::HTTP_11, &bad2).is_some());
        assert_eq!(host_problem(Version::HTTP_2, &none), None);
    }
}
