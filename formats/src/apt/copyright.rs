//! The license of a Debian package from its `usr/share/doc/<package>/copyright` file.
//!
//! Debian Policy §12.5 gives every binary package a copyright file. Most are now in the
//! machine-readable format (DEP-5, "Machine-readable debian/copyright file", format
//! `https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/`): deb822
//! paragraphs whose `Files` paragraphs carry a `License:` field whose first line is a
//! license *short name* expression (`GPL-2+`, `BSD-3-clause or Artistic`,
//! `GPL-2+ with OpenSSL exception`).
//!
//! [`license_expression`] turns that into one SPDX 2.3 license expression (Annex D):
//! - each short name maps to its SPDX License List identifier where DEP-5 §License
//!   specification lists one (`GPL-2+` → `GPL-2.0-or-later`, `Expat` → `MIT`,
//!   `BSD-3-clause` → `BSD-3-Clause`, `Artistic` → `Artistic-1.0-Perl`, …);
//! - any other short name becomes `LicenseRef-<name>` (characters outside
//!   `A-Z a-z 0-9 . -` replaced by `-`), so a reviewer sees the name the file used;
//! - `or` / `and` become `OR` / `AND`; `with <X> exception` keeps the license and adds a
//!   `LicenseRef-<license>-with-<X>-exception` (the SPDX exception list does not cover the
//!   Debian spellings);
//! - the package's license is the `AND` of the distinct expressions of all `Files`
//!   paragraphs, in file order (the header's `License` when there are none).
//!
//! A copyright file that is not DEP-5 yields the licenses it references under
//! `/usr/share/common-licenses/` (Debian Policy §12.5 requires that reference for the
//! licenses there), `-or-later` when the text says "any later version"; the unversioned
//! `GPL`, `LGPL` and `GFDL` give `LicenseRef-GPL` etc. (their version is not in the
//! path); `None` when it references none. Pure: no I/O.

use std::collections::BTreeSet;

/// Largest copyright file read, in bytes (1 MiB); longer text is cut there.
pub const MAX_COPYRIGHT_BYTES: usize = 1024 * 1024;

/// Most distinct license expressions joined for one package; more gives
/// `LicenseRef-many-licenses` appended.
const MAX_TERMS: usize = 32;

/// Longest `License:` first line read, in bytes; longer lines are cut there.
const MAX_LINE_BYTES: usize = 1024;

/// DEP-5 short names (compared case-insensitively, `+` meaning "or later") and their
/// SPDX License List identifiers.
const SHORT_NAMES: &[(&str, &str)] = &[
    ("AGPL-3", "AGPL-3.0-only"),
    ("AGPL-3+", "AGPL-3.0-or-later"),
    ("Apache-1.0", "Apache-1.0"),
    ("Apache-1.1", "Apache-1.1"),
    ("Apache-2", "Apache-2.0"),
    ("Apache-2.0", "Apache-2.0"),
    ("Apache-2.0+", "Apache-2.0"),
    ("Artistic", "Artistic-1.0-Perl"),
    ("Artistic-1.0", "Artistic-1.0"),
    ("Artistic-2.0", "Artistic-2.0"),
    ("BSD-2-clause", "BSD-2-Clause"),
    ("BSD-3-clause", "BSD-3-Clause"),
    ("BSD-4-clause", "BSD-4-Clause"),
    ("BSL-1.0", "BSL-1.0"),
    ("Boost-1.0", "BSL-1.0"),
    ("CC-BY-3.0", "CC-BY-3.0"),
    ("CC-BY-4.0", "CC-BY-4.0"),
    ("CC-BY-SA-3.0", "CC-BY-SA-3.0"),
    ("CC-BY-SA-4.0", "CC-BY-SA-4.0"),
    ("CC0", "CC0-1.0"),
    ("CC0-1.0", "CC0-1.0"),
    ("CDDL-1.0", "CDDL-1.0"),
    ("curl", "curl"),
    ("EPL-1.0", "EPL-1.0"),
    ("EPL-2.0", "EPL-2.0"),
    ("Expat", "MIT"),
    ("FSFAP", "FSFAP"),
    ("FSFUL", "FSFUL"),
    ("FSFULLR", "FSFULLR"),
    ("FTL", "FTL"),
    ("GFDL-1.2", "GFDL-1.2-only"),
    ("GFDL-1.2+", "GFDL-1.2-or-later"),
    ("GFDL-1.3", "GFDL-1.3-only"),
    ("GFDL-1.3+", "GFDL-1.3-or-later"),
    ("GPL-1", "GPL-1.0-only"),
    ("GPL-1+", "GPL-1.0-or-later"),
    ("GPL-2", "GPL-2.0-only"),
    ("GPL-2+", "GPL-2.0-or-later"),
    ("GPL-2.0", "GPL-2.0-only"),
    ("GPL-2.0+", "GPL-2.0-or-later"),
    ("GPL-3", "GPL-3.0-only"),
    ("GPL-3+", "GPL-3.0-or-later"),
    ("GPL-3.0", "GPL-3.0-only"),
    ("GPL-3.0+", "GPL-3.0-or-later"),
    ("ISC", "ISC"),
    ("LGPL-2", "LGPL-2.0-only"),
    ("LGPL-2+", "LGPL-2.0-or-later"),
    ("LGPL-2.0", "LGPL-2.0-only"),
    ("LGPL-2.0+", "LGPL-2.0-or-later"),
    ("LGPL-2.1", "LGPL-2.1-only"),
    ("LGPL-2.1+", "LGPL-2.1-or-later"),
    ("LGPL-3", "LGPL-3.0-only"),
    ("LGPL-3+", "LGPL-3.0-or-later"),
    ("LGPL-3.0", "LGPL-3.0-only"),
    ("LGPL-3.0+", "LGPL-3.0-or-later"),
    ("LPPL-1.3c", "LPPL-1.3c"),
    ("MIT", "MIT"),
    ("MPL-1.1", "MPL-1.1"),
    ("MPL-2.0", "MPL-2.0"),
    ("OpenSSL", "OpenSSL"),
    ("PSF-2", "PSF-2.0"),
    ("PSF-2.0", "PSF-2.0"),
    ("Python", "Python-2.0"),
    ("Python-2.0", "Python-2.0"),
    ("Unicode-DFS-2016", "Unicode-DFS-2016"),
    ("Unlicense", "Unlicense"),
    ("W3C", "W3C"),
    ("X11", "X11"),
    ("Zlib", "Zlib"),
    ("ZPL-2.1", "ZPL-2.1"),
];

/// Licenses of `/usr/share/common-licenses/` (Debian `base-files`): the file name and
/// the SPDX identifiers for "this version only" and "or later".
const COMMON_LICENSES: &[(&str, &str, &str)] = &[
    ("Apache-2.0", "Apache-2.0", "Apache-2.0"),
    ("Artistic", "Artistic-1.0-Perl", "Artistic-1.0-Perl"),
    ("BSD", "BSD-3-Clause", "BSD-3-Clause"),
    ("CC0-1.0", "CC0-1.0", "CC0-1.0"),
    ("GFDL-1.2", "GFDL-1.2-only", "GFDL-1.2-or-later"),
    ("GFDL-1.3", "GFDL-1.3-only", "GFDL-1.3-or-later"),
    // Unversioned names (links in base-files to the newest version): the version the
    // text means cannot be told from the path, so no SPDX id is claimed.
    ("GPL", "LicenseRef-GPL", "LicenseRef-GPL"),
    ("LGPL", "LicenseRef-LGPL", "LicenseRef-LGPL"),
    ("GFDL", "LicenseRef-GFDL", "LicenseRef-GFDL"),
    ("GPL-1", "GPL-1.0-only", "GPL-1.0-or-later"),
    ("GPL-2", "GPL-2.0-only", "GPL-2.0-or-later"),
    ("GPL-3", "GPL-3.0-only", "GPL-3.0-or-later"),
    ("LGPL-2", "LGPL-2.0-only", "LGPL-2.0-or-later"),
    ("LGPL-2.1", "LGPL-2.1-only", "LGPL-2.1-or-later"),
    ("LGPL-3", "LGPL-3.0-only", "LGPL-3.0-or-later"),
    ("MPL-1.1", "MPL-1.1", "MPL-1.1"),
    ("MPL-2.0", "MPL-2.0", "MPL-2.0"),
];

/// The package license of a copyright file as one SPDX expression (see the module
/// docs), or `None` when the file names no license this can read.
pub fn license_expression(copyright: &str) -> Option<String> {
    let text = truncate(copyright, MAX_COPYRIGHT_BYTES);
    if is_dep5(text)
        && let Some(e) = dep5_expression(text)
    {
        return Some(e);
    }
    common_licenses_expression(text)
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// True when the first field is `Format:` naming the copyright-format specification.
fn is_dep5(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .and_then(|l| l.split_once(':'))
        .is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("Format") && v.contains("copyright-format")
        })
}

fn dep5_expression(text: &str) -> Option<String> {
    // Comment lines are allowed in deb822 sources; drop them before parsing.
    let cleaned: String = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let paragraphs = crate::deb822::parse(&cleaned).ok()?;
    let first_line = |p: &crate::deb822::Paragraph| {
        p.get("License")
            .and_then(|v| v.lines().next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let mut terms: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    let files: Vec<&crate::deb822::Paragraph> = paragraphs
        .iter()
        .filter(|p| p.get("Files").is_some())
        .collect();
    let sources: Vec<String> = if files.is_empty() {
        paragraphs.iter().take(1).filter_map(first_line).collect()
    } else {
        files.iter().filter_map(|p| first_line(p)).collect()
    };
    for short in sources {
        let Some(expr) = short_expression(truncate(&short, MAX_LINE_BYTES)) else {
            continue;
        };
        if seen.insert(expr.clone()) {
            terms.push(expr);
        }
    }
    join_and(terms)
}

fn join_and(mut terms: Vec<String>) -> Option<String> {
    if terms.is_empty() {
        return None;
    }
    if terms.len() > MAX_TERMS {
        terms.truncate(MAX_TERMS);
        terms.push("LicenseRef-many-licenses".to_owned());
    }
    if terms.len() == 1 {
        return terms.pop();
    }
    Some(
        terms
            .iter()
            .map(|t| {
                if t.contains(' ') {
                    format!("({t})")
                } else {
                    t.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" AND "),
    )
}

/// One DEP-5 `License:` first line (`GPL-2+ or Artistic`, `MIT and BSD-3-clause`,
/// `GPL-2+ with OpenSSL exception`) as an SPDX expression. DEP-5 gives `and` and `or`
/// no precedence rule beyond "`and` binds tighter"; commas mean "or" (older spelling).
fn short_expression(line: &str) -> Option<String> {
    let line = line.replace(',', " or ");
    let words: Vec<&str> = line.split_whitespace().collect();
    // Split on `or` at the top, then `and`, keeping `with … exception` attached.
    let mut ors: Vec<Vec<Vec<&str>>> = vec![vec![Vec::new()]];
    for w in words {
        if w.eq_ignore_ascii_case("or") {
            ors.push(vec![Vec::new()]);
        } else if w.eq_ignore_ascii_case("and") {
            if let Some(last) = ors.last_mut() {
                last.push(Vec::new());
            }
        } else if let Some(last) = ors.last_mut().and_then(|a| a.last_mut()) {
            last.push(w);
        }
    }
    let mut or_terms = Vec::new();
    for ands in ors {
        let mut and_terms = Vec::new();
        for term in ands.into_iter().filter(|t| !t.is_empty()) {
            and_terms.push(one_license(&term));
        }
        let t = match and_terms.len() {
            0 => continue,
            1 => and_terms.pop().unwrap_or_default(),
            _ => format!("({})", and_terms.join(" AND ")),
        };
        if !or_terms.contains(&t) {
            or_terms.push(t);
        }
    }
    match or_terms.len() {
        0 => None,
        1 => or_terms.pop().map(|t| {
            t.strip_prefix('(')
                .and_then(|t| t.strip_suffix(')'))
                .map(str::to_owned)
                .unwrap_or(t)
        }),
        _ => Some(or_terms.join(" OR ")),
    }
}

/// `["GPL-2+"]` → `GPL-2.0-or-later`; `["GPL-2+", "with", "OpenSSL", "exception"]` →
/// `LicenseRef-GPL-2-plus-with-OpenSSL-exception`; unknown → `LicenseRef-<name>`.
fn one_license(words: &[&str]) -> String {
    if words.len() == 1 {
        let w = words[0];
        if let Some((_, id)) = SHORT_NAMES.iter().find(|(s, _)| s.eq_ignore_ascii_case(w)) {
            return (*id).to_owned();
        }
    }
    license_ref(&words.join(" "))
}

/// `LicenseRef-` and the name with `+` spelled `-plus` and every other character
/// outside `A-Z a-z 0-9 . -` as `-` (SPDX 2.3 §10.1 idstring).
pub fn license_ref(name: &str) -> String {
    let mut id = String::from("LicenseRef-");
    let mut last_dash = true;
    for c in name.chars() {
        if c == '+' {
            id.push_str(if last_dash { "plus" } else { "-plus" });
            last_dash = false;
        } else if c.is_ascii_alphanumeric() || c == '.' {
            id.push(c);
            last_dash = false;
        } else if !last_dash {
            id.push('-');
            last_dash = true;
        }
    }
    while id.ends_with('-') {
        id.pop();
    }
    if id == "LicenseRef" || id == "LicenseRef-" {
        id = "LicenseRef-unnamed".to_owned();
    }
    id
}

/// The licenses a free-form copyright file references under `/usr/share/common-licenses/`.
fn common_licenses_expression(text: &str) -> Option<String> {
    let or_later = text.to_ascii_lowercase().contains("any later version");
    let mut terms = Vec::new();
    let mut seen = BTreeSet::new();
    let marker = "/usr/share/common-licenses/";
    let mut rest = text;
    while let Some(pos) = rest.find(marker) {
        let after = &rest[pos + marker.len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
            .collect();
        let name = name.trim_end_matches('.');
        if let Some((_, only, later)) = COMMON_LICENSES.iter().find(|(n, _, _)| *n == name) {
            let id = if or_later { later } else { only };
            if seen.insert(*id) {
                terms.push((*id).to_owned());
            }
        }
        rest = after;
    }
    join_and(terms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP5: &str = "\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: cube
Source: https://cube.example/

Files: *
Copyright: 2020 Someone
License: GPL-2+

Files: lib/*
Copyright: 2021 Another
License: BSD-3-clause or Expat

Files: contrib/*
Copyright: 2021 Third
License: GPL-2+ with OpenSSL exception

Files: debian/*
Copyright: 2022 Packager
License: GPL-2+

License: GPL-2+
 This program is free software; you can redistribute it and/or modify
 it under the terms of the GNU General Public License ...
";

    #[test]
    fn dep5_files_paragraphs_map_to_spdx_and_are_anded_once_each() {
        assert_eq!(
            license_expression(DEP5).as_deref(),
            Some(
                "GPL-2.0-or-later AND (BSD-3-Clause OR MIT) AND LicenseRef-GPL-2-plus-with-OpenSSL-exception"
            )
        );
    }

    #[test]
    fn one_files_paragraph_gives_a_bare_expression() {
        let t = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nCopyright: x\nLicense: LGPL-2.1+\n";
        assert_eq!(license_expression(t).as_deref(), Some("LGPL-2.1-or-later"));
        let t = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nCopyright: x\nLicense: public-domain\n";
        assert_eq!(
            license_expression(t).as_deref(),
            Some("LicenseRef-public-domain")
        );
    }

    #[test]
    fn and_binds_tighter_than_or_and_commas_are_or() {
        assert_eq!(
            short_expression("MIT and Zlib or GPL-3+").as_deref(),
            Some("(MIT AND Zlib) OR GPL-3.0-or-later")
        );
        assert_eq!(
            short_expression("Artistic, GPL-1+").as_deref(),
            Some("Artistic-1.0-Perl OR GPL-1.0-or-later")
        );
        assert_eq!(
            short_expression("Apache-2.0 and MIT").as_deref(),
            Some("Apache-2.0 AND MIT")
        );
    }

    #[test]
    fn free_form_files_use_their_common_licenses_references() {
        let t = "This package was debianized by X.\n\nIt is free software; you can redistribute it under the GPL, version 2, or (at your option) any later version.\n\nOn Debian systems, see /usr/share/common-licenses/GPL-2.\n";
        assert_eq!(license_expression(t).as_deref(), Some("GPL-2.0-or-later"));
        let t = "Licensed under the Apache License. See /usr/share/common-licenses/Apache-2.0 and /usr/share/common-licenses/BSD.";
        assert_eq!(
            license_expression(t).as_deref(),
            Some("Apache-2.0 AND BSD-3-Clause")
        );
        let t = "Public License can be found in `/usr/share/common-licenses/GPL'\nand `/usr/share/common-licenses/LGPL'.";
        assert_eq!(
            license_expression(t).as_deref(),
            Some("LicenseRef-GPL AND LicenseRef-LGPL"),
            "unversioned names claim no version"
        );
        assert_eq!(license_expression("All rights reserved."), None);
        assert_eq!(license_expression(""), None);
    }

    #[test]
    fn license_refs_are_valid_spdx_idstrings() {
        assert_eq!(license_ref("GPL-2+"), "LicenseRef-GPL-2-plus");
        assert_eq!(
            license_ref("public domain (see below)"),
            "LicenseRef-public-domain-see-below"
        );
        assert_eq!(license_ref("<script>"), "LicenseRef-script");
        assert_eq!(license_ref("   "), "LicenseRef-unnamed");
        for name in ["a b", "ü", "+", "x\"y", "NVIDIA Proprietary"] {
            let id = license_ref(name);
            assert!(
                id.strip_prefix("LicenseRef-")
                    .unwrap()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'),
                "{id}"
            );
        }
    }

    #[test]
    fn hostile_input_never_panics_and_is_bounded() {
        let big = "Format: copyright-format\n\nFiles: *\nLicense: ".to_owned()
            + &"x or ".repeat(300_000)
            + "\n";
        let e = license_expression(&big).unwrap_or_default();
        assert_eq!(e, "LicenseRef-x", "repeated alternatives collapse");
        let wide = "Format: copyright-format\n\nFiles: *\nLicense: ".to_owned()
            + &(0..100_000)
                .map(|i| format!("L{i}"))
                .collect::<Vec<_>>()
                .join(" or ")
            + "\n";
        let e = license_expression(&wide).unwrap();
        assert!(e.len() < 4096, "{} bytes", e.len());
        let many: String = (0..100)
            .map(|i| format!("Files: f{i}\nLicense: L{i}\n\n"))
            .collect();
        let e = license_expression(&format!("Format: copyright-format\n\n{many}")).unwrap();
        assert!(e.ends_with("LicenseRef-many-licenses"), "{e}");
        assert_eq!(
            license_expression("Format: copyright-format\nLicense"),
            None
        );
        assert_eq!(license_expression("\u{feff}ü\0"), None);
    }
}
