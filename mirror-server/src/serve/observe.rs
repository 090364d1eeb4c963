//! What happens around every request, before any route (see [`mod@super::router`]): the `Host` rules of
//! RFC 9112 §3.2 (`400` otherwise), the request counters and latency histogram of
//! [`super::metrics::Metrics`], the completed-bytes count, and one access-log line per
//! request ([`super::access_log`]) when its body has been sent or cut. The serving
//! threads call [`Observation`] from the connection's service ([`super::conn`]);
//! [`observe`] is the same as a middleware, for [`super::router::router`].

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{self as http, HeaderMap, Method, StatusCode, Version, header};
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
/// [`super::router::Resource::class`] of its path). The serving threads do the same
/// without a middleware layer ([`Observation`], called from the connection's service).
pub async fn observe(
    state: Arc<AppState>,
    class: &'static str,
    req: Request,
    next: Next,
) -> Response {
    let obs = Observation::begin(&state, class, &req);
    let resp = match host_problem(req.version(), req.headers()) {
        Some(why) => bad_host(why),
        None => next.run(req).await,
    };
    obs.end(resp, ()).map(Body::new)
}

/// The `400` answer to a request whose `Host` header breaks RFC 9112 §3.2 (`why`, from
/// [`host_problem`]).
pub fn bad_host(why: &str) -> Response {
    plain(StatusCode::BAD_REQUEST, format!("bad request: {why}\n"))
}

/// One request under observation, from its arrival ([`Observation::begin`]) to the end
/// of its response body ([`Observation::end`] wraps it in an [`ObservedBody`], which
/// reports once the body is sent, cut or dropped).
pub struct Observation {
    state: Arc<AppState>,
    class: &'static str,
    start: Instant,
    head: bool,
    pending: Option<Pending>,
}

impl Observation {
    /// Starts observing `req` (any body type), of route class `class`: the start time,
    /// and what the access log needs when one is configured (nothing is allocated
    /// otherwise).
    pub fn begin<B>(state: &Arc<AppState>, class: &'static str, req: &http::Request<B>) -> Self {
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
        Observation {
            state: state.clone(),
            class,
            start: Instant::now(),
            head: req.method() == Method::HEAD,
            pending,
        }
    }

    /// Counts the response's status and latency in the metrics and wraps its body so
    /// that the completed bytes (or an incomplete body) and the access-log line are
    /// reported when the body ends; `guard` is kept with the body and dropped with it.
    pub fn end<G: Send + Unpin + 'static>(
        self,
        resp: Response,
        guard: G,
    ) -> http::Response<ObservedBody<G>> {
        let status = resp.status().as_u16();
        self.state.metrics.count(self.class, status);
        self.state
            .metrics
            .observe_latency(self.class, self.start.elapsed());
        let (mut parts, inner) = resp.into_parts();
        let pending = match self.pending {
            Some(p) => {
                let answered = parts.extensions.remove::<Answered>().map(|a| a.0);
                Some(Pending {
                    status,
                    snapshot: answered.or(p.snapshot),
                    ..p
                })
            }
            None => None,
        };
        let expected = http_body::Body::size_hint(&inner).exact().or_else(|| {
            parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok())
        });
        let body = ObservedBody {
            inner,
            expected,
            state: self.state,
            start: self.start,
            head: self.head,
            sent: 0,
            done: false,
            pending,
            _guard: guard,
        };
        http::Response::from_parts(parts, body)
    }
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
/// once, at its end or when dropped early. `G` is a guard the caller keeps alive as long
/// as the body (the connection's in-flight count), `()` for none.
pub struct ObservedBody<G> {
    inner: Body,
    /// The body's length, when known (size hint or `Content-Length`).
    expected: Option<u64>,
    state: Arc<AppState>,
    start: Instant,
    head: bool,
    sent: u64,
    done: bool,
    pending: Option<Pending>,
    _guard: G,
}

impl<G> ObservedBody<G> {
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

impl<G: Unpin> http_body::Body for ObservedBody<G> {
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

impl<G> Drop for ObservedBody<G> {
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
