//! Plain-text responses: [`plain`] (every error body of the content routes) and the
//! control-character escaping it applies ([`escape_controls`]).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Answer of every content route while the store has no snapshot.
pub const NO_SNAPSHOT: &str = "no snapshot imported yet: run mirror-server import\n";

/// A `text/plain` response. Error bodies often quote the request path, which may hold
/// percent-decoded control bytes: every control character (C0, DEL, C1) in `body` except
/// one final `\n` is written as `\u{..}`, so a body printed by `curl` can never drive
/// the terminal.
pub fn plain(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        escape_controls(body.into()),
    )
        .into_response()
}

/// `s` with every control character except one trailing `\n` escaped as `\u{hex}`
/// (Rust's `char::escape_unicode` form); `s` itself when it has none.
pub fn escape_controls(s: String) -> String {
    let (text, newline) = match s.strip_suffix('\n') {
        Some(t) => (t, "\n"),
        None => (s.as_str(), ""),
    };
    if !text.chars().any(char::is_control) {
        return s;
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out.push_str(newline);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_escaped() {
        assert_eq!(escape_controls("not found: /a\n".into()), "not found: /a\n");
        assert_eq!(
            escape_controls("not found: /a\u{1b}[2J\n\u{9b}\u{7f}\n".into()),
            "not found: /a\\u{1b}[2J\\u{a}\\u{9b}\\u{7f}\n"
        );
    }
}
