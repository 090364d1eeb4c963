//! Logical paths inside a snapshot (`apt/debian/pool/main/j/jq/jq_1.6_amd64.deb`).
//!
//! A logical path is relative, `/`-separated, and every segment is a normal name: no
//! empty segment, no `.` or `..`, no NUL, no backslash, no leading `/`. Anything read
//! from media or from an upstream index goes through [`validate`] before it is used as a
//! key, so no path can leave the store.

/// Why a logical path was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unsafe path {path:?}: {reason}")]
pub struct PathError {
    /// The offending path.
    pub path: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Longest accepted logical path, in bytes.
pub const MAX_PATH_LEN: usize = 4096;

/// Checks that `path` is a safe relative logical path (see the module docs).
pub fn validate(path: &str) -> Result<(), PathError> {
    let err = |reason| {
        Err(PathError {
            path: path.to_owned(),
            reason,
        })
    };
    if path.is_empty() {
        return err("empty path");
    }
    if path.len() > MAX_PATH_LEN {
        return err("path too long");
    }
    if path.starts_with('/') {
        return err("absolute path");
    }
    if path.contains('\0') {
        return err("NUL byte");
    }
    if path.contains('\\') {
        return err("backslash");
    }
    for seg in path.split('/') {
        match seg {
            "" => return err("empty segment"),
            "." | ".." => return err("dot segment"),
            _ => {}
        }
        if seg.chars().any(|c| c.is_control()) {
            return err("control character");
        }
    }
    Ok(())
}

/// Joins relative segments, dropping `./` prefixes, and validates the result.
pub fn join(prefix: &str, rest: &str) -> Result<String, PathError> {
    let rest = rest.trim_start_matches("./");
    let joined = if prefix.is_empty() {
        rest.to_owned()
    } else {
        format!("{}/{}", prefix.trim_end_matches('/'), rest)
    };
    validate(&joined)?;
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_normal_paths() {
        validate("apt/debian/pool/main/j/jq/jq_1.6-2.1_amd64.deb").unwrap();
        validate("simple/requests/requests-2.32.3-py3-none-any.whl").unwrap();
    }

    #[test]
    fn refuses_escapes() {
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "..",
            "a//b",
            "a/./b",
            "a\0b",
            "a\\b",
            "a/",
        ] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn join_strips_dot_slash() {
        assert_eq!(join("apt/cuda", "./x.deb").unwrap(), "apt/cuda/x.deb");
        assert!(join("apt/cuda", "../x.deb").is_err());
    }
}
