//! Escaping of untrusted text before it reaches an operator's terminal.
//!
//! Snapshot names, channels, `created`, signer names, reasons, file paths, package names
//! and the error messages that quote them come from a drive or an upstream. Printed raw,
//! a control byte in them is a terminal escape sequence (ECMA-48: `ESC [ …` moves the
//! cursor, rewrites earlier lines, sets the window title), and a Unicode format character
//! (a bidirectional override, a zero-width space) makes the text read differently from
//! what it is (CVE-2021-42574, "Trojan Source"). Every human output of `mirror-sync` and
//! `mirror-server` that prints such text passes it through [`escape`] (one field) or
//! [`escape_text`] (a whole message whose line breaks are the program's own). `--json`
//! output needs none of this: JSON escapes control characters itself (RFC 8259 §7).
//!
//! What is escaped, as Rust writes it (`\u{1b}`, `\u{202e}`):
//!
//! - every control character, Unicode general category Cc: C0 (U+0000–U+001F), DEL
//!   (U+007F) and C1 (U+0080–U+009F), so also `\n`, `\r` and `\t` in [`escape`];
//! - the format characters (category Cf) and the line and paragraph separators (Zl, Zp,
//!   U+2028, U+2029), which print nothing visible yet change how text reads.
//!
//! Everything else, `\` included, is left as it is, so the common case costs nothing
//! (a borrowed [`Cow`]) and paths read as they are. Invalid UTF-8 never gets here: callers
//! convert with `to_string_lossy`, which shows it as U+FFFD.

use std::borrow::Cow;
use std::fmt;

/// True for the characters [`escape`] rewrites: Unicode categories Cc, Cf, Zl and Zp
/// (the Cf table is Unicode 15.1's).
pub fn is_unsafe_char(c: char) -> bool {
    if c.is_control() {
        return true;
    }
    matches!(
        c as u32,
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x2028..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

fn escape_with(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe_char(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe_char(c) && !keep(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One field of untrusted text (a snapshot name, a `created` value, a path, a reason),
/// safe to print on one line: every character of [`is_unsafe_char`], line breaks and tabs
/// included, becomes `\u{<hex>}` (`"a\x1b[2Jb"` → `a\u{1b}[2Jb`). Borrowed when nothing
/// needs escaping.
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_with(s, |_| false)
}

/// A whole message or rendered document whose line breaks and tabs are the program's own
/// (an error with its `caused by:` lines, a rendered configuration file): like [`escape`]
/// but keeps `\n` and `\t`. A `\r` is escaped (it would let a later part of a line
/// overwrite an earlier one).
pub fn escape_text(s: &str) -> Cow<'_, str> {
    escape_with(s, |c| c == '\n' || c == '\t')
}

/// [`escape`] as a [`fmt::Display`] value, for `format!("{}", Escaped(&name))`.
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad` keeps width and alignment (`{:<22}`) working for table columns.
        f.pad(&escape(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_and_unchanged() {
        for s in ["stable/12", "2026-11-21T15:10:59Z", "C:\\path ü 日本", ""] {
            assert!(matches!(escape(s), Cow::Borrowed(_)), "{s}");
            assert_eq!(escape(s), s);
            assert_eq!(escape_text(s), s);
        }
    }

    #[test]
    fn control_bytes_and_format_characters_are_escaped() {
        assert_eq!(escape("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape("x\ny\tz\r"), "x\\u{a}y\\u{9}z\\u{d}");
        assert_eq!(escape("\u{7f}\u{9b}31m"), "\\u{7f}\\u{9b}31m");
        assert_eq!(escape("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(
            escape("zero\u{200b}width\u{feff}"),
            "zero\\u{200b}width\\u{feff}"
        );
        assert_eq!(escape("line\u{2028}sep"), "line\\u{2028}sep");
        assert_eq!(escape("\0"), "\\u{0}");
    }

    #[test]
    fn text_keeps_its_own_line_breaks_only() {
        assert_eq!(
            escape_text("error: x\n  caused by: \x1b]0;pwned\x07\r"),
            "error: x\n  caused by: \\u{1b}]0;pwned\\u{7}\\u{d}"
        );
        assert_eq!(escape_text("a\tb"), "a\tb");
    }

    #[test]
    fn escaped_pads_like_a_str() {
        assert_eq!(format!("[{:<6}]", Escaped("a\x1b")), "[a\\u{1b}]");
        assert_eq!(format!("[{:<6}]", Escaped("ab")), "[ab    ]");
    }

    #[test]
    fn nothing_unsafe_survives() {
        // Every character below U+0100 and the listed format ranges.
        let all: String = (0u32..0x300)
            .chain(0x2000..0x2070)
            .chain(0xFEF0..0xFF00)
            .filter_map(char::from_u32)
            .collect();
        let out = escape(&all);
        assert!(!out.chars().any(is_unsafe_char), "{out}");
        let out = escape_text(&all);
        assert!(
            !out.chars()
                .any(|c| is_unsafe_char(c) && c != '\n' && c != '\t'),
            "{out}"
        );
    }
}
