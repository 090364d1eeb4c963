//! Request path → logical path ([`logical_path`]): percent-decoding, `.` segments dropped,
//! `..`, encoded `/`, backslash and NUL refused.

use std::borrow::Cow;

use axum::http::StatusCode;
use axum::response::Response;

use super::response::plain;

/// Why a request path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathReject {
    /// A `..` segment, an encoded `/`, NUL or backslash, or invalid UTF-8 (`400`).
    BadRequest(&'static str),
}

/// Turns a raw request path (`/apt/cuda/./x%2b1.deb`) into a logical path
/// (`apt/cuda/x+1.deb`): percent-decodes each segment (apt sends `%2b` for `+`), drops `.`
/// segments (apt asks for `flat/./x.deb`), refuses `..`, and changes nothing else (an empty
/// segment stays and simply matches no file). A path with nothing to decode or drop (the
/// usual case) is borrowed, not copied.
pub fn logical_path(raw: &str) -> Result<Cow<'_, str>, PathReject> {
    let rest = raw.strip_prefix('/').unwrap_or(raw);
    let plain =
        !rest.contains(['%', '\\', '\0']) && !rest.split('/').any(|seg| seg == "." || seg == "..");
    if plain {
        return Ok(Cow::Borrowed(rest));
    }
    let mut out: Vec<String> = Vec::new();
    for seg in rest.split('/') {
        let dec = percent_encoding::percent_decode_str(seg)
            .decode_utf8()
            .map_err(|_| PathReject::BadRequest("path is not UTF-8"))?;
        match dec.as_ref() {
            "." => continue,
            ".." => return Err(PathReject::BadRequest("\"..\" in path")),
            s if s.contains(['/', '\\', '\0']) => {
                return Err(PathReject::BadRequest(
                    "encoded '/', backslash or NUL in path",
                ));
            }
            _ => out.push(dec.into_owned()),
        }
    }
    Ok(Cow::Owned(out.join("/")))
}

/// The `400` answer for a refused path.
pub(crate) fn bad_request(r: PathReject) -> Response {
    let PathReject::BadRequest(why) = r;
    plain(StatusCode::BAD_REQUEST, format!("bad request: {why}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_paths() {
        assert_eq!(
            logical_path("/apt/cuda/./cuda-x%2b1_amd64.deb").unwrap(),
            "apt/cuda/cuda-x+1_amd64.deb"
        );
        assert_eq!(
            logical_path("/apt/deb/dists/x/InRelease").unwrap(),
            "apt/deb/dists/x/InRelease"
        );
        assert_eq!(logical_path("/a//b/").unwrap(), "a//b/");
        assert_eq!(logical_path("/a/%2e/b").unwrap(), "a/b");
        for bad in [
            "/a/../b",
            "/a/%2e%2e/b",
            "/a%2fb",
            "/a%00",
            "/a%5cb",
            "/%ff",
        ] {
            assert!(logical_path(bad).is_err(), "{bad}");
        }
    }
}
