//! `Content-Type` of a file the manifest gives no media type for: the one table, by file
//! name ([`APT_NAMES`], APT repositories only) and by extension ([`BY_EXTENSION`]).

/// `text/plain; charset=utf-8`.
const TEXT: &str = "text/plain; charset=utf-8";

/// Whole file names with a type of their own inside an APT repository (checked before the
/// extension): `Release.gpg` is a detached signature there, not a key.
pub const APT_NAMES: [(&str, &str); 4] = [
    ("Release.gpg", "application/pgp-signature"),
    ("Release", TEXT),
    ("InRelease", TEXT),
    ("Packages", TEXT),
];

/// Types by the extension after the file name's last `.`; anything else is
/// `application/octet-stream`.
pub const BY_EXTENSION: [(&str, &str); 12] = [
    ("deb", "application/vnd.debian.binary-package"),
    ("gz", "application/gzip"),
    ("xz", "application/x-xz"),
    ("json", "application/json"),
    ("html", "text/html; charset=utf-8"),
    ("htm", "text/html; charset=utf-8"),
    ("txt", TEXT),
    ("metadata", TEXT),
    ("asc", "application/pgp-keys"),
    ("gpg", "application/pgp-keys"),
    ("whl", "application/zip"),
    ("zip", "application/zip"),
];

/// The last segment of a `/`-separated path.
fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `Content-Type` for a file the manifest gives none for, by file name ([`BY_EXTENSION`];
/// `application/octet-stream` otherwise).
pub fn guess(path: &str) -> &'static str {
    let ext = file_name(path)
        .rsplit_once('.')
        .map(|(_, e)| e)
        .unwrap_or("");
    BY_EXTENSION
        .iter()
        .find(|(e, _)| *e == ext)
        .map_or("application/octet-stream", |(_, t)| t)
}

/// `Content-Type` of an APT file when the manifest sets none: `.deb`
/// `application/vnd.debian.binary-package`, `.gz` `application/gzip`, `.xz`
/// `application/x-xz`, `Release`/`InRelease`/`Packages` `text/plain`, `Release.gpg`
/// `application/pgp-signature` ([`APT_NAMES`]), else as [`guess`].
pub fn apt(path: &str) -> &'static str {
    let name = file_name(path);
    APT_NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map_or_else(|| guess(path), |(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apt_types() {
        assert_eq!(
            apt("apt/d/pool/main/j/jq/jq_1.6_amd64.deb"),
            "application/vnd.debian.binary-package"
        );
        assert_eq!(
            apt("apt/d/dists/s/main/binary-amd64/Packages.xz"),
            "application/x-xz"
        );
        assert_eq!(apt("apt/d/Packages.gz"), "application/gzip");
        assert!(apt("apt/d/dists/s/InRelease").starts_with("text/plain"));
        assert!(apt("apt/d/Packages").starts_with("text/plain"));
        assert_eq!(
            apt("apt/d/dists/s/Release.gpg"),
            "application/pgp-signature"
        );
        assert_eq!(apt("apt/d/.deb"), "application/vnd.debian.binary-package");
        assert_eq!(apt("apt/d/x.tar.gz"), "application/gzip");
    }

    #[test]
    fn guessed_types() {
        assert_eq!(guess("keys/repo.gpg"), "application/pgp-keys");
        assert_eq!(guess("keys/Release.gpg"), "application/pgp-keys");
        assert_eq!(guess("simple/p/x.whl.metadata"), TEXT);
        assert_eq!(guess("a/b.json"), "application/json");
        assert_eq!(guess("a/Packages"), "application/octet-stream");
        assert_eq!(guess("a/noext"), "application/octet-stream");
        assert_eq!(guess("a/x.deb"), "application/vnd.debian.binary-package");
    }
}
