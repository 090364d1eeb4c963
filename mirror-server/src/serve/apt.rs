//! `/apt/<repo>/…`: APT repositories, standard (`dists/…`, `pool/…`, `by-hash`) and flat.
//!
//! The request path maps to the logical path `apt/<repo>/<rest>` after
//! [`super::logical_path`] (percent-decoding, `./` segments dropped). Flat repositories
//! stay flat: apt asks for `<repo>/./x.deb`, which is `apt/<repo>/x.deb`.

use axum::http::request::Parts;
use axum::response::Response;

use super::{AppState, serve_logical};
use crate::live::Live;

/// `Content-Type` of an APT file when the manifest sets none: `.deb`
/// `application/vnd.debian.binary-package`, `.gz` `application/gzip`, `.xz`
/// `application/x-xz`, `Release`/`InRelease`/`Packages` `text/plain`, `Release.gpg`
/// `application/pgp-signature`, else `application/octet-stream`.
pub fn content_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    if name.ends_with(".deb") {
        "application/vnd.debian.binary-package"
    } else if name.ends_with(".gz") {
        "application/gzip"
    } else if name.ends_with(".xz") {
        "application/x-xz"
    } else if name == "Release.gpg" {
        "application/pgp-signature"
    } else if matches!(name, "Release" | "InRelease" | "Packages") {
        "text/plain; charset=utf-8"
    } else {
        super::guess_content_type(path)
    }
}

/// Serves `logical` (already normalized, starting with `apt/`).
pub async fn handle(state: &AppState, live: &Live, logical: &str, req: &Parts) -> Response {
    serve_logical(state, live, logical, req, content_type).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types() {
        assert_eq!(
            content_type("apt/d/pool/main/j/jq/jq_1.6_amd64.deb"),
            "application/vnd.debian.binary-package"
        );
        assert_eq!(
            content_type("apt/d/dists/s/main/binary-amd64/Packages.xz"),
            "application/x-xz"
        );
        assert_eq!(content_type("apt/d/Packages.gz"), "application/gzip");
        assert!(content_type("apt/d/dists/s/InRelease").starts_with("text/plain"));
        assert!(content_type("apt/d/Packages").starts_with("text/plain"));
        assert_eq!(
            content_type("apt/d/dists/s/Release.gpg"),
            "application/pgp-signature"
        );
    }
}
