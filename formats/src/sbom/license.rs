//! Telling an SPDX license expression (SPDX 2.3 Annex D) from free license text.
//!
//! Upstream license fields are either an SPDX expression (`License-Expression`,
//! `Apache-2.0 OR MIT`) or free text (`BSD License`, `Apache 2.0`). An expression is
//! recognised when it follows the Annex D grammar and every license identifier is one of
//! the common identifiers of the SPDX License List below (or a `LicenseRef-`); anything
//! else is treated as a license name. The list is deliberately short: an identifier that
//! is not on it only costs the expression form, never correctness.

/// Common SPDX License List identifiers (matched case-insensitively, as SPDX 2.3
/// Annex D requires). Deprecated ids still found in metadata are included.
const LICENSE_IDS: &[&str] = &[
    "0BSD",
    "AFL-2.1",
    "AFL-3.0",
    "AGPL-3.0",
    "AGPL-3.0-only",
    "AGPL-3.0-or-later",
    "Apache-1.0",
    "Apache-1.1",
    "Apache-2.0",
    "APSL-2.0",
    "Artistic-1.0",
    "Artistic-1.0-Perl",
    "Artistic-2.0",
    "Beerware",
    "BlueOak-1.0.0",
    "BSD-1-Clause",
    "BSD-2-Clause",
    "BSD-2-Clause-Patent",
    "BSD-3-Clause",
    "BSD-3-Clause-Clear",
    "BSD-4-Clause",
    "BSL-1.0",
    "bzip2-1.0.6",
    "CC-BY-3.0",
    "CC-BY-4.0",
    "CC-BY-SA-3.0",
    "CC-BY-SA-4.0",
    "CC0-1.0",
    "CDDL-1.0",
    "CDDL-1.1",
    "CECILL-2.1",
    "curl",
    "ECL-2.0",
    "EPL-1.0",
    "EPL-2.0",
    "EUPL-1.1",
    "EUPL-1.2",
    "FSFAP",
    "FSFUL",
    "FSFULLR",
    "FTL",
    "GFDL-1.2-only",
    "GFDL-1.2-or-later",
    "GFDL-1.3-only",
    "GFDL-1.3-or-later",
    "GPL-1.0",
    "GPL-1.0-only",
    "GPL-1.0-or-later",
    "GPL-2.0",
    "GPL-2.0-only",
    "GPL-2.0-or-later",
    "GPL-3.0",
    "GPL-3.0-only",
    "GPL-3.0-or-later",
    "HPND",
    "HPND-sell-variant",
    "ICU",
    "IJG",
    "ISC",
    "LGPL-2.0",
    "LGPL-2.0-only",
    "LGPL-2.0-or-later",
    "LGPL-2.1",
    "LGPL-2.1-only",
    "LGPL-2.1-or-later",
    "LGPL-3.0",
    "LGPL-3.0-only",
    "LGPL-3.0-or-later",
    "Libpng",
    "libpng-2.0",
    "LPPL-1.3c",
    "MIT",
    "MIT-0",
    "MIT-CMU",
    "MPL-1.1",
    "MPL-2.0",
    "MPL-2.0-no-copyleft-exception",
    "MS-PL",
    "MS-RL",
    "NCSA",
    "OFL-1.1",
    "OpenSSL",
    "OSL-3.0",
    "PHP-3.01",
    "PostgreSQL",
    "PSF-2.0",
    "Python-2.0",
    "Python-2.0.1",
    "Ruby",
    "SSPL-1.0",
    "Unicode-3.0",
    "Unicode-DFS-2016",
    "Unlicense",
    "UPL-1.0",
    "Vim",
    "W3C",
    "WTFPL",
    "X11",
    "Zlib",
    "ZPL-2.1",
];

/// Common SPDX license exception identifiers (after `WITH`).
const EXCEPTION_IDS: &[&str] = &[
    "Autoconf-exception-2.0",
    "Autoconf-exception-3.0",
    "Bison-exception-2.2",
    "Classpath-exception-2.0",
    "Font-exception-2.0",
    "GCC-exception-2.0",
    "GCC-exception-3.1",
    "GPL-3.0-linking-exception",
    "LGPL-3.0-linking-exception",
    "Linux-syscall-note",
    "LLVM-exception",
    "OpenJDK-assembly-exception-1.0",
    "openvpn-openssl-exception",
    "Qt-LGPL-exception-1.1",
    "Universal-FOSS-exception-1.0",
    "WxWindows-exception-3.1",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    Open,
    Close,
    Word(&'a str),
}

fn tokenize(s: &str) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        if c == '(' || c == ')' || c.is_whitespace() {
            if let Some(st) = start.take() {
                out.push(Tok::Word(&s[st..i]));
            }
            match c {
                '(' => out.push(Tok::Open),
                ')' => out.push(Tok::Close),
                _ => {}
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(st) = start {
        out.push(Tok::Word(&s[st..]));
    }
    out
}

fn is_idstring(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

fn is_license_ref(w: &str) -> bool {
    let w = match w.split_once(':') {
        Some((doc, rest)) => match doc.strip_prefix("DocumentRef-") {
            Some(d) if is_idstring(d) => rest,
            _ => return false,
        },
        None => w,
    };
    w.strip_prefix("LicenseRef-").is_some_and(is_idstring)
}

fn is_license(w: &str) -> bool {
    let id = w.strip_suffix('+').unwrap_or(w);
    LICENSE_IDS.iter().any(|k| k.eq_ignore_ascii_case(id)) || is_license_ref(w)
}

struct Parser<'a> {
    toks: Vec<Tok<'a>>,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<Tok<'_>> {
        self.toks.get(self.pos).copied()
    }
    fn expr(&mut self) -> bool {
        if self.depth > 32 {
            return false;
        }
        if !self.and_expr() {
            return false;
        }
        while self.peek() == Some(Tok::Word("OR")) {
            self.pos += 1;
            if !self.and_expr() {
                return false;
            }
        }
        true
    }
    fn and_expr(&mut self) -> bool {
        if !self.with_expr() {
            return false;
        }
        while self.peek() == Some(Tok::Word("AND")) {
            self.pos += 1;
            if !self.with_expr() {
                return false;
            }
        }
        true
    }
    fn with_expr(&mut self) -> bool {
        match self.peek() {
            Some(Tok::Open) => {
                self.pos += 1;
                self.depth += 1;
                if !self.expr() || self.peek() != Some(Tok::Close) {
                    return false;
                }
                self.depth -= 1;
                self.pos += 1;
                true
            }
            Some(Tok::Word(w)) if !matches!(w, "AND" | "OR" | "WITH") && is_license(w) => {
                self.pos += 1;
                if self.peek() == Some(Tok::Word("WITH")) {
                    self.pos += 1;
                    match self.peek() {
                        Some(Tok::Word(e))
                            if EXCEPTION_IDS.iter().any(|k| k.eq_ignore_ascii_case(e)) =>
                        {
                            self.pos += 1;
                        }
                        _ => return false,
                    }
                }
                true
            }
            _ => false,
        }
    }
}

/// True when `s` is an SPDX license expression (SPDX 2.3 Annex D) built from known
/// identifiers (see the module docs).
pub(crate) fn is_spdx_expression(s: &str) -> bool {
    let toks = tokenize(s);
    if toks.is_empty() {
        return false;
    }
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    p.expr() && p.pos == p.toks.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_and_names() {
        for e in [
            "MIT",
            "Apache-2.0",
            "apache-2.0",
            "Apache-2.0 OR MIT",
            "(MIT OR Apache-2.0) AND BSD-3-Clause",
            "GPL-2.0+",
            "GPL-3.0-or-later WITH GCC-exception-3.1",
            "LicenseRef-custom-1",
            "DocumentRef-x:LicenseRef-y",
        ] {
            assert!(is_spdx_expression(e), "{e}");
        }
        for n in [
            "",
            "BSD License",
            "Apache 2.0",
            "BSD",
            "GPLv3",
            "MIT OR",
            "(MIT",
            "MIT)",
            "MIT AND AND ISC",
            "MIT WITH",
            "MIT WITH Unknown-exception",
            "LicenseRef-",
            "MIT and ISC",
        ] {
            assert!(!is_spdx_expression(n), "{n:?}");
        }
        let deep = format!("{}MIT{}", "(".repeat(100), ")".repeat(100));
        assert!(!is_spdx_expression(&deep));
    }

    /// Every identifier listed is on the official SPDX License List (as shipped with
    /// the CycloneDX 1.6 schema in fixtures/sbom/).
    #[test]
    fn every_known_id_is_official() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../../fixtures/sbom/spdx.schema.json")).unwrap();
        let ids: Vec<&str> = schema["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for id in LICENSE_IDS.iter().chain(EXCEPTION_IDS) {
            assert!(ids.contains(id), "{id} is not an SPDX identifier");
        }
    }
}
