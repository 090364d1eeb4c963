//! The host's APT sources (sources.list(5)): the one-line format of `sources.list` and
//! the deb822 format of `*.sources` files. Used to read which repositories a machine
//! already uses and to check the configuration we write.

use crate::deb822::{self, Deb822Error};

/// One source entry. The one-line format gives exactly one type, URI and suite; the
/// deb822 format may list several of each (every combination is a source).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEntry {
    /// `deb` and/or `deb-src`.
    pub types: Vec<String>,
    /// Repository base URIs, e.g. `http://archive.example/debian`.
    pub uris: Vec<String>,
    /// Suites (`bookworm`, `bookworm-updates`), or a flat-repository path ending in `/`
    /// (`/`, `./`, `stable/amd64/`).
    pub suites: Vec<String>,
    /// Components (`main contrib`); always empty for a flat suite.
    pub components: Vec<String>,
    /// `signed-by` / `Signed-By`: a keyring path or key fingerprints, as written. `None`
    /// when absent, and also when the deb822 field holds an inline ASCII-armored key
    /// (the key material is not kept here).
    pub signed_by: Option<String>,
    /// `arch=` / `Architectures`; empty means the host's default architectures.
    pub architectures: Vec<String>,
    /// `Enabled` (deb822 only; `no` disables the entry). Always true for one-line entries.
    pub enabled: bool,
}

fn is_flat(suite: &str) -> bool {
    suite.ends_with('/')
}

/// Splits a comma-separated option value (`arch=amd64,arm64`).
fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Parses one line of the one-line format; `None` for a comment, blank or malformed line.
fn parse_line(line: &str) -> Option<SourceEntry> {
    // A '#' starts a comment, except inside the [options] brackets.
    let mut depth = 0usize;
    let mut end = line.len();
    for (i, c) in line.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '#' if depth == 0 => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    let line = line[..end].trim();
    let (kind, rest) = line.split_once(char::is_whitespace)?;
    if kind != "deb" && kind != "deb-src" {
        return None;
    }
    let mut rest = rest.trim_start();
    let mut signed_by = None;
    let mut architectures = Vec::new();
    if let Some(after) = rest.strip_prefix('[') {
        let close = after.find(']')?;
        for opt in after[..close].split_whitespace() {
            let (key, value) = opt.split_once('=')?;
            match key {
                "arch" | "arch+" => architectures.extend(list(value)),
                "signed-by" => signed_by = Some(value.to_owned()),
                _ => {}
            }
        }
        rest = &after[close + 1..];
    }
    let mut words = rest.split_whitespace();
    let uri = words.next()?;
    let suite = words.next()?;
    let components: Vec<String> = words.map(str::to_owned).collect();
    if is_flat(suite) != components.is_empty() {
        // A flat suite takes no component; a distribution suite needs at least one.
        return None;
    }
    Some(SourceEntry {
        types: vec![kind.to_owned()],
        uris: vec![uri.to_owned()],
        suites: vec![suite.to_owned()],
        components,
        signed_by,
        architectures,
        enabled: true,
    })
}

/// Parses the one-line sources.list format:
/// `deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] URI suite comp1 comp2`.
///
/// Each valid line gives one [`SourceEntry`]. Comments (`#` to the end of the line,
/// outside `[...]`), blank lines and malformed lines (unknown type, missing URI or
/// suite, unclosed `[`, an option without `=`, a distribution suite without
/// components, a flat suite ending in `/` with components) are skipped, as is a
/// commented-out `# deb ...` line.
pub fn parse_one_line(text: &str) -> Vec<SourceEntry> {
    text.lines().filter_map(parse_line).collect()
}

/// Parses the deb822 sources format (`*.sources`, sources.list(5)): one paragraph per
/// entry with `Types`, `URIs`, `Suites`, `Components`, `Signed-By`, `Architectures`
/// and `Enabled` (`yes`/`no`, default `yes`).
///
/// `Signed-By` may be a keyring path, fingerprints, or an inline ASCII-armored key; for
/// an inline key [`SourceEntry::signed_by`] is `None`.
///
/// # Errors
/// [`Deb822Error`] for syntax errors, and (with the paragraph's first line) for a
/// paragraph without `Types`, `URIs` or `Suites`, an unknown type, a distribution suite
/// without `Components`, or a flat suite (ending in `/`) with `Components`.
pub fn parse_deb822_sources(text: &str) -> Result<Vec<SourceEntry>, Deb822Error> {
    let mut out = Vec::new();
    for (line, p) in deb822::parse_with_lines(text)? {
        let words = |name: &str| -> Vec<String> {
            p.get(name)
                .map(|v| v.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let required = |name: &str| -> Result<Vec<String>, Deb822Error> {
            let w = words(name);
            if w.is_empty() {
                Err(Deb822Error::new(
                    line,
                    format!("sources entry lacks the {name} field"),
                ))
            } else {
                Ok(w)
            }
        };
        let types = required("Types")?;
        if let Some(t) = types.iter().find(|t| *t != "deb" && *t != "deb-src") {
            return Err(Deb822Error::new(
                line,
                format!("unknown source type {t:?} (expected deb or deb-src)"),
            ));
        }
        let uris = required("URIs")?;
        let suites = required("Suites")?;
        let components = words("Components");
        for s in &suites {
            if is_flat(s) && !components.is_empty() {
                return Err(Deb822Error::new(
                    line,
                    format!("flat suite {s:?} (ending in '/') must not have Components"),
                ));
            }
            if !is_flat(s) && components.is_empty() {
                return Err(Deb822Error::new(
                    line,
                    format!("suite {s:?} needs Components (or end in '/' for a flat repository)"),
                ));
            }
        }
        let signed_by = p.get("Signed-By").and_then(|v| {
            if v.contains("-----BEGIN PGP") {
                None
            } else {
                let v = v.split_whitespace().collect::<Vec<_>>().join(" ");
                (!v.is_empty()).then_some(v)
            }
        });
        let enabled = match p.get("Enabled").map(str::trim) {
            None => true,
            Some(v) if v.eq_ignore_ascii_case("yes") => true,
            Some(v) if v.eq_ignore_ascii_case("no") => false,
            Some(v) => {
                return Err(Deb822Error::new(
                    line,
                    format!("Enabled must be yes or no, found {v:?}"),
                ));
            }
        };
        out.push(SourceEntry {
            types,
            uris,
            suites,
            components,
            signed_by,
            architectures: words("Architectures"),
            enabled,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn one_line_entries() {
        let text = "\
# Main archive
deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/archive.gpg] http://archive.example/debian bookworm main contrib # trailing
deb-src http://archive.example/debian bookworm main

#deb http://archive.example/debian bookworm-backports main
deb [signed-by=/etc/apt/keyrings/toolkit.gpg] https://repo.example/toolkit/stable/deb/amd64 /
deb http://cuda.example/repos/ubuntu2404/x86_64/ ./
";
        let e = parse_one_line(text);
        assert_eq!(e.len(), 4);
        assert_eq!(
            e[0],
            SourceEntry {
                types: s(&["deb"]),
                uris: s(&["http://archive.example/debian"]),
                suites: s(&["bookworm"]),
                components: s(&["main", "contrib"]),
                signed_by: Some("/usr/share/keyrings/archive.gpg".into()),
                architectures: s(&["amd64", "arm64"]),
                enabled: true,
            }
        );
        assert_eq!(e[1].types, s(&["deb-src"]));
        assert_eq!(e[1].signed_by, None);
        assert_eq!(e[2].suites, s(&["/"]));
        assert!(e[2].components.is_empty());
        assert_eq!(
            e[2].signed_by.as_deref(),
            Some("/etc/apt/keyrings/toolkit.gpg")
        );
        assert_eq!(e[3].suites, s(&["./"]));
    }

    #[test]
    fn one_line_options_with_spaces_and_hash_inside_brackets() {
        let e =
            parse_one_line("deb [ arch=amd64 trusted=yes lang=#x ] http://h.example/d sid main\n");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].architectures, s(&["amd64"]));
        assert_eq!(e[0].components, s(&["main"]));
    }

    #[test]
    fn one_line_malformed_lines_skipped() {
        let text = "\
deb
deb http://h.example/d
deb http://h.example/d bookworm
deb http://h.example/d / main
deb [arch=amd64 http://h.example/d bookworm main
deb [arch] http://h.example/d bookworm main
rpm http://h.example/d bookworm main
debian http://h.example/d bookworm main
   
deb http://h.example/d ok main
";
        let e = parse_one_line(text);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].suites, s(&["ok"]));
    }

    #[test]
    fn deb822_entries() {
        let text = "\
# Modernized sources
Types: deb deb-src
URIs: http://archive.example/debian
Suites: bookworm bookworm-updates
Components: main non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
Architectures: amd64

Types: deb
URIs: https://repo.example/toolkit/stable/deb/amd64
Suites: /
Enabled: no
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mDMEZ0000BYJKwYBBAHaRw8BAQdA
 =abcd
 -----END PGP PUBLIC KEY BLOCK-----
";
        let e = parse_deb822_sources(text).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(
            e[0],
            SourceEntry {
                types: s(&["deb", "deb-src"]),
                uris: s(&["http://archive.example/debian"]),
                suites: s(&["bookworm", "bookworm-updates"]),
                components: s(&["main", "non-free-firmware"]),
                signed_by: Some("/usr/share/keyrings/debian-archive-keyring.gpg".into()),
                architectures: s(&["amd64"]),
                enabled: true,
            }
        );
        assert_eq!(e[1].suites, s(&["/"]));
        assert!(e[1].components.is_empty());
        assert_eq!(e[1].signed_by, None, "inline keys are not kept");
        assert!(!e[1].enabled);
    }

    #[test]
    fn deb822_fingerprint_signed_by() {
        let e = parse_deb822_sources(
            "Types: deb\nURIs: http://h.example/d\nSuites: sid\nComponents: main\nSigned-By: 0123456789ABCDEF0123456789ABCDEF01234567\n",
        )
        .unwrap();
        assert_eq!(
            e[0].signed_by.as_deref(),
            Some("0123456789ABCDEF0123456789ABCDEF01234567")
        );
    }

    #[test]
    fn deb822_errors() {
        let base = "A: b\n\nTypes: deb\nURIs: http://h.example/d\nSuites: sid\nComponents: main\n";
        let e = parse_deb822_sources(base).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("Types"));
        let ok = &base[6..];
        assert!(parse_deb822_sources(ok).is_ok());
        for (bad, what) in [
            (ok.replace("Types: deb", "Types: rpm"), "rpm"),
            (ok.replace("URIs: http://h.example/d\n", ""), "URIs"),
            (ok.replace("Suites: sid\n", ""), "Suites"),
            (ok.replace("Components: main\n", ""), "Components"),
            (ok.replace("Suites: sid", "Suites: /"), "flat"),
            (format!("{ok}Enabled: maybe\n"), "Enabled"),
        ] {
            let e = parse_deb822_sources(&bad).unwrap_err();
            assert!(e.message.contains(what), "{e}");
        }
        let e = parse_deb822_sources("\n\nTypes deb\n").unwrap_err();
        assert_eq!(e.line, 3);
    }
}
