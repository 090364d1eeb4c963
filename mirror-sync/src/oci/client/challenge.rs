//! The registry's header grammars: `WWW-Authenticate` challenges (RFC 9110 §11.6.1) and
//! `Link: <…>; rel="next"` pagination (RFC 8288).

use std::collections::BTreeMap;

/// One challenge of a `WWW-Authenticate` header (RFC 9110 §11.6.1): the scheme,
/// lower-cased, and its auth-params with lower-cased names and unquoted values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Auth scheme, lower-case (`bearer`, `basic`).
    pub scheme: String,
    /// Auth-params (`realm`, `service`, `scope`, …).
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    /// The value of param `name` (lower-case), if present.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Parses a `WWW-Authenticate` value into its challenges, e.g.
/// `Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"`
/// or `Basic realm="x", Bearer realm="y"`. Quoted values may contain commas and `\"`.
/// Tokens that fit no challenge are skipped; a header with no scheme gives an empty list.
pub fn parse_www_authenticate(v: &str) -> Vec<Challenge> {
    let b = v.as_bytes();
    let mut i = 0;
    let mut out: Vec<Challenge> = Vec::new();
    let is_tchar = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/".contains(&c);
    while i < b.len() {
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t' || b[i] == b',') {
            i += 1;
        }
        let start = i;
        while i < b.len() && is_tchar(b[i]) {
            i += 1;
        }
        if i == start {
            // Not a token: skip one byte to make progress.
            i += 1;
            continue;
        }
        let token = &v[start..i];
        let mut j = i;
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        if j < b.len() && b[j] == b'=' {
            // auth-param: token = ( token / quoted-string ); dropped before any scheme.
            j += 1;
            while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
                j += 1;
            }
            let mut value = String::new();
            if j < b.len() && b[j] == b'"' {
                j += 1;
                let mut bytes = Vec::new();
                while j < b.len() && b[j] != b'"' {
                    if b[j] == b'\\' && j + 1 < b.len() {
                        j += 1;
                    }
                    bytes.push(b[j]);
                    j += 1;
                }
                j += 1; // closing quote (or end)
                value = String::from_utf8_lossy(&bytes).into_owned();
            } else {
                let vs = j;
                while j < b.len() && b[j] != b',' && b[j] != b' ' && b[j] != b'\t' {
                    j += 1;
                }
                value.push_str(&v[vs..j]);
            }
            if let Some(c) = out.last_mut() {
                c.params.insert(token.to_ascii_lowercase(), value);
            }
            i = j;
        } else {
            out.push(Challenge {
                scheme: token.to_ascii_lowercase(),
                params: BTreeMap::new(),
            });
            // token68 after the scheme (e.g. `Negotiate abc==`) is ignored.
        }
    }
    out
}

/// The target of the `rel="next"` link in a `Link` header (RFC 8288), as used by
/// distribution-spec §Listing Tags and §Listing Referrers pagination:
/// `</v2/a/tags/list?n=100&last=b>; rel="next"`. `None` when there is no such link.
pub fn parse_next_link(v: &str) -> Option<String> {
    let mut rest = v;
    while let Some(open) = rest.find('<') {
        let after = rest.get(open + 1..)?;
        let close = after.find('>')?;
        let target = after.get(..close)?;
        let tail = after.get(close + 1..)?;
        let params_end = tail.find('<').unwrap_or(tail.len());
        let params = tail.get(..params_end)?;
        let is_next = params.split(';').skip(1).any(|p| {
            let Some((k, val)) = p.split_once('=') else {
                return false;
            };
            k.trim().eq_ignore_ascii_case("rel")
                && val
                    .trim()
                    .trim_end_matches(',')
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.to_owned());
        }
        rest = tail;
    }
    None
}
