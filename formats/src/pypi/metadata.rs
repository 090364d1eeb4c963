//! Core metadata (`METADATA` / `PKG-INFO`, the `.metadata` files of PEP 658/714):
//! the core metadata specification, PEP 566 (2.1), PEP 643 (2.2), Metadata 2.4
//! (`License-Expression`, PEP 639).
//!
//! The format is RFC 822-style headers up to the first blank line; the body after it is
//! the long description and is ignored here.

/// Why core metadata was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// A required field (`Name` or `Version`) is missing or empty.
    #[error(
        "core metadata has no {0:?} field; the file is not a METADATA/PKG-INFO file or is truncated"
    )]
    MissingField(&'static str),
}

/// The core metadata fields the mirror needs.
#[derive(Debug, Clone, PartialEq)]
pub struct CoreMetadata {
    /// `Metadata-Version`, e.g. `"2.1"`; empty if the field is absent.
    pub metadata_version: String,
    /// `Name`, as written (not normalized).
    pub name: String,
    /// `Version`, as written (not parsed).
    pub version: String,
    /// `Requires-Python`, a PEP 440 specifier set such as `">=3.8"`.
    pub requires_python: Option<String>,
    /// Every `Requires-Dist` (PEP 508 requirement strings), in file order.
    pub requires_dist: Vec<String>,
    /// Every `Provides-Extra`, in file order.
    pub provides_extra: Vec<String>,
    /// `License` (free text; continuation lines joined with `\n`).
    pub license: Option<String>,
    /// `License-Expression` (SPDX expression, Metadata 2.4).
    pub license_expression: Option<String>,
    /// `Summary`.
    pub summary: Option<String>,
    /// `Author` (free text).
    pub author: Option<String>,
    /// `Author-email` (RFC 5322 addresses, possibly with display names).
    pub author_email: Option<String>,
    /// `Maintainer` (free text).
    pub maintainer: Option<String>,
    /// `Maintainer-email` (RFC 5322 addresses, possibly with display names).
    pub maintainer_email: Option<String>,
}

impl CoreMetadata {
    /// Parses core metadata bytes.
    ///
    /// Reads header lines up to the first blank line (or the first line that is neither a
    /// `Field: value` header nor a continuation, which starts the body as in Python's
    /// `email` parser). Field names are case-insensitive. A line starting with a space or
    /// tab continues the previous field: for `License` it is appended after a newline,
    /// for other fields after a space (RFC 822 unfolding). Single-use fields keep their
    /// first occurrence; `Requires-Dist` and `Provides-Extra` collect all of them.
    /// Invalid UTF-8 is replaced (lossy); a leading byte-order mark and `\r\n` line ends
    /// are accepted.
    ///
    /// Errors: [`MetadataError::MissingField`] when `Name` or `Version` is missing.
    pub fn parse(bytes: &[u8]) -> Result<Self, MetadataError> {
        let text = String::from_utf8_lossy(bytes);
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);

        let mut fields: Vec<(String, String)> = Vec::new();
        for line in text.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() {
                break;
            }
            if line.starts_with([' ', '\t']) {
                if let Some((name, value)) = fields.last_mut() {
                    let sep = if name == "license" || name == "description" {
                        '\n'
                    } else {
                        ' '
                    };
                    value.push(sep);
                    value.push_str(line.trim());
                    continue;
                }
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                break;
            };
            if name.is_empty() || name.contains(char::is_whitespace) {
                break;
            }
            fields.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }

        let first = |key: &str| {
            fields
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.trim().to_owned())
        };
        let all = |key: &str| -> Vec<String> {
            fields
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .collect()
        };
        let required = |key: &str, label: &'static str| {
            first(key)
                .filter(|v| !v.is_empty())
                .ok_or(MetadataError::MissingField(label))
        };
        Ok(CoreMetadata {
            metadata_version: first("metadata-version").unwrap_or_default(),
            name: required("name", "Name")?,
            version: required("version", "Version")?,
            requires_python: first("requires-python"),
            requires_dist: all("requires-dist"),
            provides_extra: all("provides-extra"),
            license: first("license"),
            license_expression: first("license-expression"),
            summary: first("summary"),
            author: first("author").filter(|v| !v.is_empty()),
            author_email: first("author-email").filter(|v| !v.is_empty()),
            maintainer: first("maintainer").filter(|v| !v.is_empty()),
            maintainer_email: first("maintainer-email").filter(|v| !v.is_empty()),
        })
    }

    /// Who supplies the distribution, for SBOMs: the maintainer when the metadata names
    /// one, else the author (Core metadata §Maintainer, §Author). `Name <e-mail>` when both
    /// a name and a bare address are given; an `*-email` field that already holds display
    /// names (`"Jane" <jane@example.org>`) is used as it is. Capped at 200 characters
    /// (cut on a character boundary). `None` when neither is given.
    pub fn supplier(&self) -> Option<String> {
        let pick = |name: &Option<String>, email: &Option<String>| -> Option<String> {
            let name = name
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case("unknown"));
            let email = email.as_deref().map(str::trim).filter(|e| !e.is_empty());
            match (name, email) {
                (Some(n), Some(e)) if !e.contains('<') => Some(format!("{n} <{e}>")),
                (_, Some(e)) => Some(e.to_owned()),
                (Some(n), None) => Some(n.to_owned()),
                (None, None) => None,
            }
        };
        let s = pick(&self.maintainer, &self.maintainer_email)
            .or_else(|| pick(&self.author, &self.author_email))?;
        Some(s.chars().take(200).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUESTS: &str = "Metadata-Version: 2.1\r\n\
Name: requests\r\n\
Version: 2.32.3\r\n\
Summary: Python HTTP for Humans.\r\n\
Home-page: https://requests.example/\r\n\
License: Apache-2.0\r\n\
Requires-Python: >=3.8\r\n\
Description-Content-Type: text/markdown\r\n\
Requires-Dist: charset-normalizer<4,>=2\r\n\
Requires-Dist: idna<4,>=2.5\r\n\
Requires-Dist: urllib3<3,>=1.21.1\r\n\
Requires-Dist: certifi>=2017.4.17\r\n\
Provides-Extra: security\r\n\
Provides-Extra: socks\r\n\
Requires-Dist: PySocks!=1.5.7,>=1.5.6; extra == \"socks\"\r\n\
Provides-Extra: use_chardet_on_py3\r\n\
Requires-Dist: chardet<6,>=3.0.2; extra == \"use_chardet_on_py3\"\r\n\
\r\n\
# Requests\r\n\
Name: not-a-header\r\n";

    #[test]
    fn parses_realistic_metadata() {
        let m = CoreMetadata::parse(REQUESTS.as_bytes()).unwrap();
        assert_eq!(m.metadata_version, "2.1");
        assert_eq!(m.name, "requests");
        assert_eq!(m.version, "2.32.3");
        assert_eq!(m.requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(m.summary.as_deref(), Some("Python HTTP for Humans."));
        assert_eq!(m.license.as_deref(), Some("Apache-2.0"));
        assert_eq!(m.license_expression, None);
        assert_eq!(m.requires_dist.len(), 6);
        assert_eq!(m.requires_dist[0], "charset-normalizer<4,>=2");
        assert_eq!(
            m.requires_dist[4],
            "PySocks!=1.5.7,>=1.5.6; extra == \"socks\""
        );
        assert_eq!(
            m.provides_extra,
            ["security", "socks", "use_chardet_on_py3"]
        );
    }

    #[test]
    fn supplier_is_the_maintainer_else_the_author() {
        let m = |extra: &str| {
            CoreMetadata::parse(format!("Name: x\nVersion: 1\n{extra}").as_bytes()).unwrap()
        };
        assert_eq!(m("").supplier(), None);
        assert_eq!(
            m("Author: Jane Roe\nAuthor-email: jane@example.org\n")
                .supplier()
                .as_deref(),
            Some("Jane Roe <jane@example.org>")
        );
        assert_eq!(
            m("Author: A\nMaintainer: The Team\nMaintainer-email: \"The Team\" <team@example.org>\n")
                .supplier()
                .as_deref(),
            Some("\"The Team\" <team@example.org>"),
            "display names in the e-mail field are kept as written"
        );
        assert_eq!(
            m("Author: UNKNOWN\nAuthor-email: a@example.org\n")
                .supplier()
                .as_deref(),
            Some("a@example.org")
        );
        assert_eq!(
            m(&format!("Author: {}\n", "é".repeat(500)))
                .supplier()
                .map(|s| s.chars().count()),
            Some(200)
        );
    }

    #[test]
    fn folds_continuation_lines_and_ignores_case() {
        let text = "metadata-version: 2.4\n\
NAME: Foo\n\
version: 1.0\n\
License-Expression: MIT OR\n  Apache-2.0\n\
License: line one\n        line two\n\
Requires-Dist: bar\n\t>=1.0\n\
Name: second-name-is-ignored\n";
        let m = CoreMetadata::parse(text.as_bytes()).unwrap();
        assert_eq!(m.metadata_version, "2.4");
        assert_eq!(m.name, "Foo");
        assert_eq!(m.license_expression.as_deref(), Some("MIT OR Apache-2.0"));
        assert_eq!(m.license.as_deref(), Some("line one\nline two"));
        assert_eq!(m.requires_dist, ["bar >=1.0"]);
    }

    #[test]
    fn missing_required_fields_are_errors() {
        assert_eq!(
            CoreMetadata::parse(b"Metadata-Version: 2.1\nVersion: 1.0\n"),
            Err(MetadataError::MissingField("Name"))
        );
        assert_eq!(
            CoreMetadata::parse(b"Name: foo\nVersion:   \n"),
            Err(MetadataError::MissingField("Version"))
        );
        // Version only in the body does not count
        assert_eq!(
            CoreMetadata::parse(b"Name: foo\n\nVersion: 1.0\n"),
            Err(MetadataError::MissingField("Version"))
        );
        assert!(CoreMetadata::parse(b"").is_err());
        assert!(CoreMetadata::parse(b"\xff\xfe\x00garbage").is_err());
    }

    #[test]
    fn lossy_utf8_and_bom() {
        let m = CoreMetadata::parse(b"\xef\xbb\xbfName: foo\nVersion: 1.0\nSummary: caf\xe9\n")
            .unwrap();
        assert_eq!(m.name, "foo");
        assert_eq!(m.summary.as_deref(), Some("caf\u{fffd}"));
    }
}
