//! Python project names: PEP 503 §Normalized Names and the PEP 508 §Names grammar.

/// Normalizes a project name (PEP 503 §Normalized Names, also the "Name normalization"
/// section of the packaging name specification).
///
/// Lowercases the name and replaces every run of `-`, `_` and `.` with a single `-`,
/// like Python's `re.sub(r"[-_.]+", "-", name).lower()`. `"Foo__Bar.baz"` becomes
/// `"foo-bar-baz"`. The input is not validated; see [`is_valid_project_name`].
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_separator_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_separator_run {
                out.push('-');
                in_separator_run = true;
            }
        } else {
            out.extend(c.to_lowercase());
            in_separator_run = false;
        }
    }
    out
}

/// Whether `name` is a valid project name (PEP 508 §Names).
///
/// The grammar is `^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$`, ASCII only, matched
/// case-insensitively: it starts and ends with a letter or digit and has only letters,
/// digits, `.`, `_` and `-` in between.
pub fn is_valid_project_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_runs_of_separators_and_case() {
        assert_eq!(normalize("Django"), "django");
        assert_eq!(normalize("Foo__Bar.baz"), "foo-bar-baz");
        assert_eq!(normalize("foo-_.-bar"), "foo-bar");
        assert_eq!(normalize("zope.interface"), "zope-interface");
        assert_eq!(normalize("nvidia_cudnn_cu12"), "nvidia-cudnn-cu12");
        assert_eq!(normalize("_leading"), "-leading");
        assert_eq!(normalize(""), "");
    }

    #[test]
    fn validates_pep508_names() {
        for ok in ["a", "A1", "foo-bar", "foo.bar_baz", "9x", "zope.interface"] {
            assert!(is_valid_project_name(ok), "{ok}");
        }
        for bad in ["", "-foo", "foo-", "foo bar", "foo/bar", "föö", ".", "foo!"] {
            assert!(!is_valid_project_name(bad), "{bad}");
        }
    }
}
