//! Debian control-file syntax, "deb822" (Debian Policy §5.1).
//!
//! A control file is a sequence of *paragraphs* (stanzas) separated by one or more blank
//! lines. A paragraph is a sequence of fields `Name: value`; a value may continue on
//! following lines that start with a space or a tab (continuation lines). Field names are
//! matched case-insensitively. Lines starting with `#` are comments and are ignored (they
//! are allowed in deb822 `.sources` files, sources.list(5)).
//!
//! Values are stored *raw*: the first line with the whitespace after `:` removed, and
//! each continuation line joined with `\n`, keeping its leading space or tab exactly as
//! written. Trailing whitespace (including the `\r` of CRLF input) is removed from every
//! line. So a well-formed stanza round-trips through [`parse`] and [`Paragraph::to_text`].

use std::fmt;

/// One paragraph (stanza) of a control file: fields in their original order.
///
/// Field names are compared case-insensitively (Debian Policy §5.1); a paragraph never
/// holds two fields with the same name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paragraph {
    fields: Vec<(String, String)>,
}

impl Paragraph {
    /// An empty paragraph.
    pub fn new() -> Self {
        Self::default()
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.fields
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// The raw value of field `name` (case-insensitive), or `None` if absent.
    ///
    /// The value is the first line without the whitespace after `:`, then every
    /// continuation line prefixed by `\n` and keeping its leading space/tab. A field whose
    /// first line is empty (`SHA256:` followed by continuation lines) starts with `\n`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name).map(|i| self.fields[i].1.as_str())
    }

    /// All `(name, raw value)` pairs in order, names spelled as in the input.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when the paragraph has no field.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Sets field `name` to the raw `value` (same shape as [`Paragraph::get`] returns):
    /// replaces an existing field of that name (case-insensitive) in place, keeping its
    /// position but taking the new spelling of the name, or appends a new field.
    ///
    /// The caller is responsible for giving a well-formed value: every line after the
    /// first must start with a space or tab, or the rendered text will not parse back.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.position(name) {
            Some(i) => self.fields[i] = (name.to_owned(), value.to_owned()),
            None => self.fields.push((name.to_owned(), value.to_owned())),
        }
    }

    /// Removes field `name` (case-insensitive) and returns its raw value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.position(name).map(|i| self.fields.remove(i).1)
    }

    /// Renders the paragraph as control-file text: `Name: value\n` per field, multi-line
    /// values emitted as stored, no trailing blank line. A value whose first line is
    /// empty is emitted as `Name:` directly followed by its continuation lines.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (name, value) in &self.fields {
            out.push_str(name);
            out.push(':');
            if !value.is_empty() && !value.starts_with('\n') {
                out.push(' ');
            }
            out.push_str(value);
            out.push('\n');
        }
        out
    }
}

impl fmt::Display for Paragraph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// A control-file syntax error at a 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct Deb822Error {
    /// 1-based line number in the input where the problem was found.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl Deb822Error {
    pub(crate) fn new(line: usize, message: impl Into<String>) -> Self {
        Deb822Error {
            line,
            message: message.into(),
        }
    }
}

/// Parses control-file text into paragraphs (Debian Policy §5.1).
///
/// Paragraphs are separated by one or more blank lines (lines holding only whitespace
/// count as blank); `#` comment lines are skipped; CRLF line ends are accepted.
///
/// # Errors
/// [`Deb822Error`] with the line number for: a continuation line before the first field
/// of a paragraph, a line without `:`, an empty or malformed field name (containing
/// whitespace or starting with `-`), or a field given twice in one paragraph.
pub fn parse(text: &str) -> Result<Vec<Paragraph>, Deb822Error> {
    Ok(parse_with_lines(text)?
        .into_iter()
        .map(|(_, p)| p)
        .collect())
}

/// Like [`parse`], also returning the 1-based line number where each paragraph starts.
pub(crate) fn parse_with_lines(text: &str) -> Result<Vec<(usize, Paragraph)>, Deb822Error> {
    let mut out = Vec::new();
    let mut current: Option<(usize, Paragraph)> = None;
    for (idx, raw) in text.split('\n').enumerate() {
        let lineno = idx + 1;
        let line = raw.trim_end_matches(['\r', ' ', '\t']);
        if line.trim().is_empty() {
            if let Some(p) = current.take() {
                out.push(p);
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            let Some((_, para)) = current.as_mut() else {
                return Err(Deb822Error::new(
                    lineno,
                    "continuation line (starting with space or tab) before any field",
                ));
            };
            let Some(last) = para.fields.last_mut() else {
                return Err(Deb822Error::new(
                    lineno,
                    "continuation line (starting with space or tab) before any field",
                ));
            };
            last.1.push('\n');
            last.1.push_str(line);
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(Deb822Error::new(
                lineno,
                format!("expected \"Field: value\", found a line without ':': {line:?}"),
            ));
        };
        if name.is_empty() {
            return Err(Deb822Error::new(lineno, "empty field name before ':'"));
        }
        if name.starts_with('-') || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Deb822Error::new(
                lineno,
                format!(
                    "invalid field name {name:?} (no spaces, control characters or leading '-')"
                ),
            ));
        }
        let (_, para) = current.get_or_insert_with(|| (lineno, Paragraph::new()));
        if para.position(name).is_some() {
            return Err(Deb822Error::new(
                lineno,
                format!("duplicate field {name:?} in one paragraph"),
            ));
        }
        para.fields
            .push((name.to_owned(), value.trim_start().to_owned()));
    }
    if let Some(p) = current.take() {
        out.push(p);
    }
    Ok(out)
}

/// The non-empty lines of a multi-line value, each trimmed of surrounding whitespace
/// (for example the `SHA256` list of a Release file, or the `Files` list of a source
/// stanza).
pub fn split_lines_field(value: &str) -> impl Iterator<Item = &str> {
    value.lines().map(str::trim).filter(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const JQ: &str = "Package: jq
Source: jq (1.6-2.1)
Version: 1.6-2.1
Installed-Size: 102
Maintainer: ChangZhuo Chen (陳昌倬) <czchen@example.org>
Architecture: amd64
Depends: libjq1 (= 1.6-2.1), libc6 (>= 2.4)
Description: lightweight and flexible command-line JSON processor
 jq is like sed for JSON data - you can use it to slice and filter and map and
 transform structured data with the same ease that sed, awk, grep and friends let
 you play with text.
 .
 It is written in portable C, and it has minimal runtime dependencies.
Homepage: https://jq.example/
Description-md5: 0e7f4e2c3b5a2c8e3a4f58bd6a5e3c0d
Tag: devel::lang:c, interface::commandline, role::program, works-with::text
Section: utils
Priority: optional
Filename: pool/main/j/jq/jq_1.6-2.1_amd64.deb
Size: 64556
MD5sum: 0d4b2dc5bb4c39e4cf41a0a3c6f4a4a1
SHA256: 5ec2d3b2b4f9d4c8a9a5e2e1f3a8e6d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7
";

    #[test]
    fn round_trips_packages_stanza() {
        let paras = parse(JQ).unwrap();
        assert_eq!(paras.len(), 1);
        assert_eq!(paras[0].to_text(), JQ);
        assert_eq!(paras[0].len(), 17);
    }

    #[test]
    fn round_trips_field_with_empty_first_line() {
        let text = "Origin: Example\nSHA256:\n 0123 10 main/binary-amd64/Packages\n 4567 20 main/binary-amd64/Packages.gz\n";
        let paras = parse(text).unwrap();
        assert_eq!(
            paras[0].get("sha256").unwrap(),
            "\n 0123 10 main/binary-amd64/Packages\n 4567 20 main/binary-amd64/Packages.gz"
        );
        assert_eq!(paras[0].to_text(), text);
        let lines: Vec<_> = split_lines_field(paras[0].get("SHA256").unwrap()).collect();
        assert_eq!(
            lines,
            [
                "0123 10 main/binary-amd64/Packages",
                "4567 20 main/binary-amd64/Packages.gz"
            ]
        );
    }

    #[test]
    fn get_is_case_insensitive_and_raw() {
        let p = &parse(JQ).unwrap()[0];
        assert_eq!(p.get("package"), Some("jq"));
        assert_eq!(p.get("PACKAGE"), Some("jq"));
        assert_eq!(p.get("Missing"), None);
        let d = p.get("Description").unwrap();
        assert!(d.starts_with("lightweight and flexible command-line JSON processor\n jq is"));
        assert!(d.contains("\n .\n It is written"));
    }

    #[test]
    fn keeps_tabs_in_continuation_lines() {
        let p = &parse("A: x\n\ty\n  z\n").unwrap()[0];
        assert_eq!(p.get("a"), Some("x\n\ty\n  z"));
    }

    #[test]
    fn multiple_paragraphs_blank_lines_and_comments() {
        let text = "\n\n# leading comment\nA: 1\n# inside comment\nB: 2\n\n \t \n\nA: 3\r\nC:   spaced  \r\n\n\n";
        let paras = parse(text).unwrap();
        assert_eq!(paras.len(), 2);
        assert_eq!(
            paras[0].fields().collect::<Vec<_>>(),
            [("A", "1"), ("B", "2")]
        );
        assert_eq!(
            paras[1].fields().collect::<Vec<_>>(),
            [("A", "3"), ("C", "spaced")]
        );
    }

    #[test]
    fn parse_with_lines_reports_start_lines() {
        let paras = parse_with_lines("\nA: 1\n\n\nB: 2\n C\n").unwrap();
        assert_eq!(paras.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [2, 5]);
    }

    #[test]
    fn empty_value_and_empty_input() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse("\n \n# c\n").unwrap().is_empty());
        let p = &parse("Empty:\nB: x\n").unwrap()[0];
        assert_eq!(p.get("Empty"), Some(""));
        assert_eq!(p.to_text(), "Empty:\nB: x\n");
    }

    #[test]
    fn errors_carry_line_numbers() {
        let e = parse(" leading continuation\n").unwrap_err();
        assert_eq!(e.line, 1);
        let e = parse("A: 1\n\n continuation after blank\n").unwrap_err();
        assert_eq!(e.line, 3);
        let e = parse("A: 1\nno colon here\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().starts_with("line 2: "), "{e}");
        let e = parse("A: 1\n: value\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("empty field name"));
        let e = parse("A: 1\nB: 2\na: 3\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("duplicate"));
        assert!(parse("Bad Name: x\n").is_err());
        assert!(parse("-Bad: x\n").is_err());
    }

    #[test]
    fn same_field_in_different_paragraphs_is_fine() {
        assert_eq!(parse("A: 1\n\nA: 2\n").unwrap().len(), 2);
    }

    #[test]
    fn set_remove_and_render() {
        let mut p = Paragraph::new();
        assert!(p.is_empty());
        p.set("Package", "jq");
        p.set("Version", "1.6");
        p.set("Architecture", "amd64");
        p.set("version", "1.7");
        assert_eq!(
            p.to_text(),
            "Package: jq\nversion: 1.7\nArchitecture: amd64\n"
        );
        assert_eq!(p.remove("VERSION").as_deref(), Some("1.7"));
        assert_eq!(p.remove("Version"), None);
        p.set("Description", "short\n long line\n .\n more");
        let text = p.to_text();
        assert_eq!(
            text,
            "Package: jq\nArchitecture: amd64\nDescription: short\n long line\n .\n more\n"
        );
        assert_eq!(parse(&text).unwrap()[0], p);
        assert_eq!(p.to_string(), text);
    }

    #[test]
    fn split_lines_field_skips_blank_lines() {
        let v: Vec<_> = split_lines_field("\n  a b  \n\n\t c\n ").collect();
        assert_eq!(v, ["a b", "c"]);
        assert_eq!(split_lines_field("").count(), 0);
    }
}
