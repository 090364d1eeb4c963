//! APT `Release` files (Debian Repository Format, §Release files): the signed list of
//! a distribution's (or a flat repository's) index files with their sizes and hashes.
//!
//! [`Release::parse`] reads the *already verified* signed text (the body of `InRelease`
//! after OpenPGP verification, or a `Release` whose detached `Release.gpg` was checked).
//! [`render_release`] writes the Release file for indexes we generate.

use chrono::{DateTime, Utc};

use super::AptFormatError;
use crate::deb822::{self, Paragraph};

/// Hash algorithm of an index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKind {
    /// SHA-256, 64 hex digits (`SHA256` field).
    Sha256,
    /// SHA-512, 128 hex digits (`SHA512` field).
    Sha512,
}

impl HashKind {
    /// The Release field name: `SHA256` or `SHA512`.
    pub fn field_name(self) -> &'static str {
        match self {
            HashKind::Sha256 => "SHA256",
            HashKind::Sha512 => "SHA512",
        }
    }

    /// Number of hex digits of a digest of this kind.
    pub fn hex_len(self) -> usize {
        match self {
            HashKind::Sha256 => 64,
            HashKind::Sha512 => 128,
        }
    }
}

/// One index file listed in a Release file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// Path relative to the Release file's directory, e.g. `main/binary-amd64/Packages.xz`
    /// (validated with [`crate::path::validate`]).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Which hash list the entry came from.
    pub hash_kind: HashKind,
    /// The digest as lowercase hex (64 or 128 digits).
    pub hash_hex: String,
}

/// A parsed Release file: one deb822 paragraph with typed accessors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The Release paragraph exactly as parsed.
    pub paragraph: Paragraph,
}

const CONTEXT: &str = "Release";

/// Checks a digest's hex and returns it lowercased.
pub(crate) fn normalize_hex(
    context: &str,
    field: &str,
    hex: &str,
    kind: HashKind,
) -> Result<String, AptFormatError> {
    if hex.len() != kind.hex_len() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AptFormatError::BadField {
            context: context.to_owned(),
            field: field.to_owned(),
            value: hex.to_owned(),
            reason: format!("expected {} hex digits", kind.hex_len()),
        });
    }
    Ok(hex.to_ascii_lowercase())
}

impl Release {
    /// Parses the verified text of a Release file.
    ///
    /// # Errors
    /// [`AptFormatError::Armored`] if the text starts with `-----BEGIN PGP` (the caller
    /// passed a clearsigned message instead of its verified content),
    /// [`AptFormatError::Syntax`] for control-file syntax errors, and
    /// [`AptFormatError::ParagraphCount`] unless there is exactly one paragraph
    /// (trailing blank lines are fine).
    pub fn parse(text: &str) -> Result<Release, AptFormatError> {
        if text.trim_start().starts_with("-----BEGIN PGP") {
            return Err(AptFormatError::Armored);
        }
        let mut paras = deb822::parse(text).map_err(|source| AptFormatError::Syntax {
            what: CONTEXT.to_owned(),
            source,
        })?;
        if paras.len() != 1 {
            return Err(AptFormatError::ParagraphCount { found: paras.len() });
        }
        let paragraph = paras.remove(0);
        Ok(Release { paragraph })
    }

    fn single(&self, name: &str) -> Option<&str> {
        self.paragraph.get(name).map(str::trim)
    }

    fn words(&self, name: &str) -> Vec<String> {
        self.paragraph
            .get(name)
            .map(|v| v.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// The `Suite` field (e.g. `bookworm-updates`, `stable`); absent in flat repositories.
    pub fn suite(&self) -> Option<&str> {
        self.single("Suite")
    }

    /// The `Codename` field (e.g. `bookworm`).
    pub fn codename(&self) -> Option<&str> {
        self.single("Codename")
    }

    /// The raw `Date` field; see [`parse_date`].
    pub fn date(&self) -> Option<&str> {
        self.single("Date")
    }

    /// The raw `Valid-Until` field; see [`parse_date`].
    pub fn valid_until(&self) -> Option<&str> {
        self.single("Valid-Until")
    }

    /// Whether `Acquire-By-Hash: yes` is set, i.e. indexes are also served under
    /// `by-hash/<Kind>/<hex>` next to their canonical path.
    pub fn acquire_by_hash(&self) -> bool {
        self.single("Acquire-By-Hash")
            .is_some_and(|v| v.eq_ignore_ascii_case("yes"))
    }

    /// The whitespace-separated `Architectures` field (`all` included if listed); empty
    /// if absent.
    pub fn architectures(&self) -> Vec<String> {
        self.words("Architectures")
    }

    /// The whitespace-separated `Components` field; empty if absent (flat repositories).
    pub fn components(&self) -> Vec<String> {
        self.words("Components")
    }

    /// The index files listed in the `SHA256` field, or in `SHA512` if there is no
    /// `SHA256` field (some third-party repositories list only SHA512). Each line is
    /// `<hex> <size> <path>`.
    ///
    /// # Errors
    /// [`AptFormatError::NoHashes`] when neither field exists; [`AptFormatError::BadField`]
    /// for a line without three parts, a digest of the wrong length or not hex, a size
    /// that is not a decimal `u64`, or a path refused by [`crate::path::validate`].
    pub fn entries(&self) -> Result<Vec<IndexEntry>, AptFormatError> {
        let (kind, value) = if let Some(v) = self.paragraph.get("SHA256") {
            (HashKind::Sha256, v)
        } else if let Some(v) = self.paragraph.get("SHA512") {
            (HashKind::Sha512, v)
        } else {
            return Err(AptFormatError::NoHashes);
        };
        let field = kind.field_name();
        let bad = |line: &str, reason: String| AptFormatError::BadField {
            context: CONTEXT.to_owned(),
            field: field.to_owned(),
            value: line.to_owned(),
            reason,
        };
        let mut out = Vec::new();
        for line in deb822::split_lines_field(value) {
            let mut parts = line.split_whitespace();
            let (Some(hex), Some(size), Some(path), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(bad(line, "expected \"<hex> <size> <path>\"".to_owned()));
            };
            let hash_hex = normalize_hex(CONTEXT, field, hex, kind)?;
            let size = size
                .parse::<u64>()
                .map_err(|e| bad(line, format!("size {size:?} is not a byte count: {e}")))?;
            crate::path::validate(path).map_err(|e| bad(line, e.to_string()))?;
            out.push(IndexEntry {
                path: path.to_owned(),
                size,
                hash_kind: kind,
                hash_hex,
            });
        }
        Ok(out)
    }

    /// The entry for `path` (e.g. `main/binary-amd64/Packages.xz`), or `None` if the
    /// Release file does not list it. The first entry wins if a path is listed twice.
    ///
    /// # Errors
    /// As [`Release::entries`].
    pub fn entry(&self, path: &str) -> Result<Option<IndexEntry>, AptFormatError> {
        Ok(self.entries()?.into_iter().find(|e| e.path == path))
    }
}

/// Parses a Release `Date`/`Valid-Until` value, RFC 2822 style as APT writes it:
/// `"Sat, 21 Nov 2026 15:10:59 UTC"`; also numeric zones (`+0000`, `-0500`) and `GMT`.
/// Returns `None` when the value does not parse.
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let normalized;
    let s = if let Some(head) = s.strip_suffix(" UTC") {
        normalized = format!("{head} +0000");
        normalized.as_str()
    } else {
        s
    };
    DateTime::parse_from_rfc2822(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Formats a time as APT writes Release dates: `"Sat, 21 Nov 2026 15:10:59 UTC"`.
pub fn format_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S UTC").to_string()
}

/// Fields of a Release file we generate (Debian Repository Format §Release files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseFields {
    /// `Origin`.
    pub origin: String,
    /// `Label`.
    pub label: String,
    /// `Suite`; `None` for a flat repository.
    pub suite: Option<String>,
    /// `Codename`; `None` for a flat repository.
    pub codename: Option<String>,
    /// `Date`, rendered with [`format_date`].
    pub date: DateTime<Utc>,
    /// `Architectures`, space-separated; omitted when empty.
    pub architectures: Vec<String>,
    /// `Components`, space-separated; omitted when empty (flat repository).
    pub components: Vec<String>,
    /// `Description`; omitted when `None`.
    pub description: Option<String>,
    /// Emits `Acquire-By-Hash: yes` when true (omitted when false).
    pub acquire_by_hash: bool,
    /// Emits `NotAutomatic: yes` when true: apt gives the suite's versions pin priority 1
    /// (apt_preferences(5)), as upstream does for experimental and backports.
    pub not_automatic: bool,
    /// Emits `ButAutomaticUpgrades: yes` when true (with `not_automatic`: priority 100).
    pub but_automatic_upgrades: bool,
}

/// Makes a configured value safe for a single-line field: line breaks become spaces.
fn one_line(s: &str) -> String {
    s.split(['\n', '\r'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Renders a Release file for indexes we generate.
///
/// Fields in this order when present: `Origin`, `Label`, `Suite`, `Codename`, `Date`,
/// `Architectures`, `Components`, `Description`, `NotAutomatic`, `ButAutomaticUpgrades`,
/// `Acquire-By-Hash` (each `yes` when true, omitted otherwise), then `SHA256:` with one line per entry, ` <hex> <size right-aligned to the widest
/// size> <path>`, sorted by path. `sha256_entries` are `(path, size in bytes, sha256
/// hex)`; the hex is written lowercased. Line breaks inside the single-line values are
/// replaced by spaces so configuration cannot inject fields. The text ends with `\n`.
pub fn render_release(fields: &ReleaseFields, sha256_entries: &[(String, u64, String)]) -> String {
    let mut p = Paragraph::new();
    p.set("Origin", &one_line(&fields.origin));
    p.set("Label", &one_line(&fields.label));
    if let Some(s) = &fields.suite {
        p.set("Suite", &one_line(s));
    }
    if let Some(c) = &fields.codename {
        p.set("Codename", &one_line(c));
    }
    p.set("Date", &format_date(fields.date));
    if !fields.architectures.is_empty() {
        p.set("Architectures", &one_line(&fields.architectures.join(" ")));
    }
    if !fields.components.is_empty() {
        p.set("Components", &one_line(&fields.components.join(" ")));
    }
    if let Some(d) = &fields.description {
        p.set("Description", &one_line(d));
    }
    if fields.not_automatic {
        p.set("NotAutomatic", "yes");
    }
    if fields.but_automatic_upgrades {
        p.set("ButAutomaticUpgrades", "yes");
    }
    if fields.acquire_by_hash {
        p.set("Acquire-By-Hash", "yes");
    }
    let mut entries: Vec<&(String, u64, String)> = sha256_entries.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let width = entries
        .iter()
        .map(|(_, size, _)| size.to_string().len())
        .max()
        .unwrap_or(0);
    let mut list = String::new();
    for (path, size, hex) in entries {
        list.push_str(&format!(
            "\n {} {size:>width$} {}",
            hex.to_ascii_lowercase(),
            one_line(path)
        ));
    }
    p.set("SHA256", &list);
    p.to_text()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const H1: &str = "7c2f1cc2a8a8c0f1d3e4b5a6978877665544332211ffeeddccbbaa0099887766";
    const H2: &str = "A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F90";

    fn sample() -> String {
        format!(
            "Origin: Debian
Label: Debian
Suite: stable
Version: 12.8
Codename: bookworm
Changelogs: https://metadata.example/changelogs/@CHANGEPATH@_changelog
Date: Sat, 09 Nov 2024 10:05:56 UTC
Acquire-By-Hash: yes
No-Support-for-Architecture-all: Packages
Architectures: all amd64 arm64 armel armhf i386 mips64el mipsel ppc64el s390x
Components: main contrib non-free-firmware non-free
Description: Debian 12.8 Released 09 November 2024
MD5Sum:
 0ed6d4c8891eb86358b94bb35d9e4da4  1484322 contrib/Contents-all
SHA256:
 {H1}   738242 contrib/Contents-all
 {H2}    57319 main/binary-amd64/Packages.xz
 {H1}  8833942 main/binary-amd64/Packages
"
        )
    }

    #[test]
    fn parses_a_debian_release() {
        let r = Release::parse(&format!("{}\n\n", sample())).unwrap();
        assert_eq!(r.suite(), Some("stable"));
        assert_eq!(r.codename(), Some("bookworm"));
        assert_eq!(r.date(), Some("Sat, 09 Nov 2024 10:05:56 UTC"));
        assert_eq!(r.valid_until(), None);
        assert!(r.acquire_by_hash());
        assert_eq!(r.architectures().len(), 10);
        assert_eq!(r.architectures()[0], "all");
        assert_eq!(
            r.components(),
            ["main", "contrib", "non-free-firmware", "non-free"]
        );
        let e = r.entries().unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(
            e[1],
            IndexEntry {
                path: "main/binary-amd64/Packages.xz".into(),
                size: 57319,
                hash_kind: HashKind::Sha256,
                hash_hex: H2.to_ascii_lowercase(),
            }
        );
        let one = r.entry("main/binary-amd64/Packages").unwrap().unwrap();
        assert_eq!(one.size, 8833942);
        assert_eq!(r.entry("main/binary-i386/Packages").unwrap(), None);
        let d = parse_date(r.date().unwrap()).unwrap();
        assert_eq!(d, Utc.with_ymd_and_hms(2024, 11, 9, 10, 5, 56).unwrap());
    }

    #[test]
    fn sha512_only_flat_release() {
        let h = "ab".repeat(64);
        let text = format!(
            "Origin: Example Container Toolkit\nLabel: Example\nArchitecture: amd64\nDate: Mon, 04 Aug 2025 20:12:28 +0000\nSHA512:\n {h} 1234 ./Packages\n {h} 567 Packages.gz\n"
        );
        let r = Release::parse(&text).unwrap();
        // "./Packages" has a dot segment: refused.
        assert!(matches!(r.entries(), Err(AptFormatError::BadField { .. })));
        let text = text.replace("./Packages", "Packages");
        let r = Release::parse(&text).unwrap();
        let e = r.entries().unwrap();
        assert_eq!(e.len(), 2);
        assert!(
            e.iter()
                .all(|e| e.hash_kind == HashKind::Sha512 && e.hash_hex == h)
        );
        assert_eq!(r.suite(), None);
        assert!(r.components().is_empty());
        assert!(!r.acquire_by_hash());
        assert!(parse_date(r.date().unwrap()).is_some());
    }

    #[test]
    fn sha256_preferred_over_sha512() {
        let text = format!(
            "SHA512:\n {} 1 Packages\nSHA256:\n {H1} 2 Packages\n",
            "cd".repeat(64)
        );
        let e = Release::parse(&text).unwrap().entries().unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].hash_kind, HashKind::Sha256);
        assert_eq!(e[0].size, 2);
    }

    #[test]
    fn refuses_bad_release_text() {
        assert!(matches!(
            Release::parse("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nOrigin: x\n"),
            Err(AptFormatError::Armored)
        ));
        assert!(matches!(
            Release::parse("\n\n"),
            Err(AptFormatError::ParagraphCount { found: 0 })
        ));
        assert!(matches!(
            Release::parse("A: 1\n\nB: 2\n"),
            Err(AptFormatError::ParagraphCount { found: 2 })
        ));
        assert!(matches!(
            Release::parse("A 1\n"),
            Err(AptFormatError::Syntax { .. })
        ));
        let r = Release::parse("Origin: x\nMD5Sum:\n 00 1 Packages\n").unwrap();
        let e = r.entries().unwrap_err();
        assert!(matches!(e, AptFormatError::NoHashes));
        assert_eq!(e.to_string(), "Release lists neither SHA256 nor SHA512");
    }

    #[test]
    fn refuses_bad_entries() {
        for line in [
            format!("{} 1 Packages", &H1[..63]),
            format!("{}g 1 Packages", &H1[..63]),
            format!("{H1} -1 Packages"),
            format!("{H1} 1x Packages"),
            format!("{H1} 1"),
            format!("{H1} 1 Packages extra"),
            format!("{H1} 1 ../Packages"),
            format!("{H1} 1 /etc/Packages"),
            format!("{H1} 1 main//Packages"),
        ] {
            let r = Release::parse(&format!("SHA256:\n {line}\n")).unwrap();
            let e = r.entries();
            assert!(
                matches!(e, Err(AptFormatError::BadField { .. })),
                "{line:?}: {e:?}"
            );
        }
    }

    #[test]
    fn dates() {
        let t = Utc.with_ymd_and_hms(2026, 11, 21, 15, 10, 59).unwrap();
        assert_eq!(format_date(t), "Sat, 21 Nov 2026 15:10:59 UTC");
        assert_eq!(parse_date("Sat, 21 Nov 2026 15:10:59 UTC"), Some(t));
        assert_eq!(parse_date("Sat, 21 Nov 2026 15:10:59 +0000"), Some(t));
        assert_eq!(parse_date(" Sat, 21 Nov 2026 15:10:59 GMT "), Some(t));
        assert_eq!(parse_date("Sat, 21 Nov 2026 16:10:59 +0100"), Some(t));
        let early = Utc.with_ymd_and_hms(2026, 3, 2, 1, 2, 3).unwrap();
        assert_eq!(format_date(early), "Mon, 02 Mar 2026 01:02:03 UTC");
        assert_eq!(parse_date(&format_date(early)), Some(early));
        assert_eq!(parse_date("2026-11-21T15:10:59Z"), None);
        assert_eq!(parse_date(""), None);
        assert_eq!(parse_date("Sat, 32 Nov 2026 15:10:59 UTC"), None);
    }

    #[test]
    fn renders_a_suite_release() {
        let fields = ReleaseFields {
            origin: "Example Mirror".into(),
            label: "debian".into(),
            suite: Some("bookworm".into()),
            codename: Some("bookworm".into()),
            date: Utc.with_ymd_and_hms(2026, 11, 21, 15, 10, 59).unwrap(),
            architectures: vec!["amd64".into(), "all".into()],
            components: vec!["main".into()],
            description: Some("snapshot\nInjected: yes".into()),
            acquire_by_hash: true,
            not_automatic: false,
            but_automatic_upgrades: false,
        };
        let entries = vec![
            (
                "main/binary-amd64/Packages.xz".to_string(),
                812u64,
                H2.to_string(),
            ),
            (
                "main/binary-amd64/Packages".to_string(),
                10240u64,
                H1.to_string(),
            ),
            ("main/binary-all/Packages".to_string(), 0u64, H1.to_string()),
        ];
        let text = render_release(&fields, &entries);
        let h2 = H2.to_ascii_lowercase();
        assert_eq!(
            text,
            format!(
                "Origin: Example Mirror
Label: debian
Suite: bookworm
Codename: bookworm
Date: Sat, 21 Nov 2026 15:10:59 UTC
Architectures: amd64 all
Components: main
Description: snapshot Injected: yes
Acquire-By-Hash: yes
SHA256:
 {H1}     0 main/binary-all/Packages
 {H1} 10240 main/binary-amd64/Packages
 {h2}   812 main/binary-amd64/Packages.xz
"
            )
        );
        // It parses back with our own reader.
        let r = Release::parse(&text).unwrap();
        assert_eq!(r.suite(), Some("bookworm"));
        assert!(r.acquire_by_hash());
        let e = r.entries().unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[2].hash_hex, h2);
        assert_eq!(e[1].size, 10240);
        assert!(r.paragraph.get("Injected").is_none());
        // A backports suite keeps apt's default priority fields.
        let bpo = ReleaseFields {
            not_automatic: true,
            but_automatic_upgrades: true,
            ..fields
        };
        let text = render_release(&bpo, &entries);
        assert!(
            text.contains("Description: snapshot Injected: yes\nNotAutomatic: yes\nButAutomaticUpgrades: yes\nAcquire-By-Hash: yes\n"),
            "{text}"
        );
    }

    #[test]
    fn renders_a_flat_release() {
        let fields = ReleaseFields {
            origin: "o".into(),
            label: "l".into(),
            suite: None,
            codename: None,
            date: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            architectures: vec![],
            components: vec![],
            description: None,
            acquire_by_hash: false,
            not_automatic: false,
            but_automatic_upgrades: false,
        };
        let text = render_release(&fields, &[("Packages".into(), 5, H1.into())]);
        assert_eq!(
            text,
            format!(
                "Origin: o\nLabel: l\nDate: Thu, 01 Jan 2026 00:00:00 UTC\nSHA256:\n {H1} 5 Packages\n"
            )
        );
        let r = Release::parse(&text).unwrap();
        assert_eq!(r.suite(), None);
        assert!(r.components().is_empty());
        assert_eq!(r.entries().unwrap()[0].path, "Packages");
        // No entries at all still yields a parseable file.
        let empty = render_release(&fields, &[]);
        assert!(empty.ends_with("SHA256:\n"));
        assert!(
            Release::parse(&empty)
                .unwrap()
                .entries()
                .unwrap()
                .is_empty()
        );
    }
}
