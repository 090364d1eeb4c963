//! APT `Packages` indexes: one deb822 stanza per binary package (Debian Policy §5.3,
//! Debian Repository Format §Packages indices), plus bounded decompression of fetched
//! indexes and compression of generated ones.

use std::io::Write;

use super::AptFormatError;
use super::relation::{self, Alternatives, Relation};
use super::release::{HashKind, normalize_hex};
use super::version;
use crate::deb822::{self, Paragraph};

/// One binary package of a Packages index, with the fields a mirror needs typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageEntry {
    /// The stanza exactly as parsed (kept for provenance and re-serving).
    pub paragraph: Paragraph,
    /// `Package`: the binary package name.
    pub name: String,
    /// `Version` (valid per deb-version(7)).
    pub version: String,
    /// `Architecture`: `amd64`, `arm64`, `all`, …
    pub architecture: String,
    /// `Filename` as upstream wrote it, e.g. `pool/main/j/jq/jq_1.6_amd64.deb` or
    /// `./foo_1_amd64.deb` (flat repositories); relative to the repository root (the
    /// directory above `dists/`, or the flat repository's directory).
    pub filename: String,
    /// `Size` of the `.deb`, in bytes.
    pub size: u64,
    /// `SHA256` of the `.deb`, lowercase hex.
    pub sha256: Option<String>,
    /// `SHA512` of the `.deb`, lowercase hex.
    pub sha512: Option<String>,
    /// `Pre-Depends` groups followed by `Depends` groups.
    pub depends: Vec<Alternatives>,
    /// `Recommends` groups.
    pub recommends: Vec<Alternatives>,
    /// `Provides` (virtual packages, Debian Policy §7.5).
    pub provides: Vec<Relation>,
    /// The source package name from `Source` (without its optional `(version)`);
    /// `None` when absent, meaning the source has the binary package's name.
    pub source: Option<String>,
}

impl PackageEntry {
    /// `Filename` without a leading `./`: a validated path relative to the repository
    /// root.
    pub fn pool_path(&self) -> &str {
        self.filename.trim_start_matches("./")
    }

    /// Builds an entry from one Packages stanza; `index` (0-based) names the stanza in
    /// errors when it has no `Package` field.
    ///
    /// # Errors
    /// As [`parse_packages`].
    pub fn from_paragraph(paragraph: Paragraph, index: usize) -> Result<Self, AptFormatError> {
        let name = match paragraph.get("Package").map(str::trim) {
            Some(n) if !n.is_empty() => n.to_owned(),
            _ => {
                return Err(AptFormatError::MissingField {
                    context: format!("Packages stanza {}", index + 1),
                    field: "Package".into(),
                });
            }
        };
        let context = format!("package {name}");
        let required = |field: &str| -> Result<String, AptFormatError> {
            match paragraph.get(field).map(str::trim) {
                Some(v) if !v.is_empty() => Ok(v.to_owned()),
                _ => Err(AptFormatError::MissingField {
                    context: context.clone(),
                    field: field.into(),
                }),
            }
        };
        let bad = |field: &str, value: &str, reason: String| AptFormatError::BadField {
            context: context.clone(),
            field: field.into(),
            value: value.into(),
            reason,
        };

        let version = required("Version")?;
        if !version::is_valid(&version) {
            return Err(bad(
                "Version",
                &version,
                "not a Debian version (deb-version(7))".into(),
            ));
        }
        let architecture = required("Architecture")?;
        if architecture.contains(char::is_whitespace) {
            return Err(bad(
                "Architecture",
                &architecture,
                "a binary package has exactly one architecture".into(),
            ));
        }
        let filename = required("Filename")?;
        crate::path::validate(filename.trim_start_matches("./"))
            .map_err(|e| bad("Filename", &filename, e.to_string()))?;
        let size_text = required("Size")?;
        let size = size_text
            .parse::<u64>()
            .map_err(|e| bad("Size", &size_text, format!("not a byte count: {e}")))?;
        let hash = |kind: HashKind| -> Result<Option<String>, AptFormatError> {
            paragraph
                .get(kind.field_name())
                .map(|v| normalize_hex(&context, kind.field_name(), v.trim(), kind))
                .transpose()
        };
        let sha256 = hash(HashKind::Sha256)?;
        let sha512 = hash(HashKind::Sha512)?;
        if sha256.is_none() && sha512.is_none() {
            return Err(AptFormatError::MissingField {
                context,
                field: "SHA256 (or SHA512)".into(),
            });
        }
        let relations = |field: &str| -> Result<Vec<Alternatives>, AptFormatError> {
            match paragraph.get(field) {
                Some(v) => relation::parse_relations(v).map_err(|e| bad(field, v, e.to_string())),
                None => Ok(Vec::new()),
            }
        };
        let mut depends = relations("Pre-Depends")?;
        depends.extend(relations("Depends")?);
        let recommends = relations("Recommends")?;
        let provides = match paragraph.get("Provides") {
            Some(v) => {
                relation::parse_provides(v).map_err(|e| bad("Provides", v, e.to_string()))?
            }
            None => Vec::new(),
        };
        let source = paragraph
            .get("Source")
            .and_then(|s| s.split_whitespace().next())
            .map(str::to_owned);

        Ok(PackageEntry {
            name,
            version,
            architecture,
            filename,
            size,
            sha256,
            sha512,
            depends,
            recommends,
            provides,
            source,
            paragraph,
        })
    }
}

/// Parses a Packages index.
///
/// Every stanza needs `Package`, `Version` (valid per deb-version(7)), `Architecture`,
/// `Filename` (a safe relative path per [`crate::path::validate`] once a leading `./`
/// is removed), `Size` (decimal bytes) and `SHA256` or `SHA512` (64/128 hex digits).
/// `Depends`, `Pre-Depends`, `Recommends` and `Provides` must follow Debian Policy §7.1.
///
/// # Errors
/// [`AptFormatError::Syntax`] for control-file syntax errors;
/// [`AptFormatError::MissingField`] / [`AptFormatError::BadField`] naming the package
/// (`"package jq"`, or `"Packages stanza N"` when `Package` itself is missing) and the
/// field.
pub fn parse_packages(text: &str) -> Result<Vec<PackageEntry>, AptFormatError> {
    let paras = deb822::parse(text).map_err(|source| AptFormatError::Syntax {
        what: "Packages".into(),
        source,
    })?;
    paras
        .into_iter()
        .enumerate()
        .map(|(i, p)| PackageEntry::from_paragraph(p, i))
        .collect()
}

/// Renders stanzas as a Packages index: each stanza's [`Paragraph::to_text`], separated
/// by one blank line, ending in `\n`. No stanzas give an empty string.
pub fn render_packages<'a>(stanzas: impl IntoIterator<Item = &'a Paragraph>) -> String {
    let mut out = String::new();
    for (i, p) in stanzas.into_iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&p.to_text());
    }
    out
}

/// Compresses generated Packages text for serving as `Packages.gz` and `Packages.xz`.
/// Returns `(gzip bytes, xz bytes)`: gzip at level 9 with a zero mtime (so equal text
/// gives equal bytes), xz at preset 6 with a CRC64 check.
///
/// # Panics
/// Only if the xz encoder cannot allocate its working memory.
pub fn compress_index(text: &str) -> (Vec<u8>, Vec<u8>) {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(9));
    // Writing into a Vec cannot fail.
    let gz = gz
        .write_all(text.as_bytes())
        .and_then(|()| gz.finish())
        .expect("gzip into memory cannot fail");
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
    let xz = xz
        .write_all(text.as_bytes())
        .and_then(|()| xz.finish())
        .expect("xz into memory fails only when out of memory");
    (gz, xz)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apt::relation::VersionOp;
    use crate::apt::stream::decompress_index;

    const JQ_SHA: &str = "5ec2d3b2b4f9d4c8a9a5e2e1f3a8e6d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7";

    fn jq_stanza() -> String {
        format!(
            "Package: jq
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
Homepage: https://jq.example/
Description-md5: 0e7f4e2c3b5a2c8e3a4f58bd6a5e3c0d
Section: utils
Priority: optional
Filename: pool/main/j/jq/jq_1.6-2.1_amd64.deb
Size: 64556
MD5sum: 0d4b2dc5bb4c39e4cf41a0a3c6f4a4a1
SHA256: {JQ_SHA}
"
        )
    }

    fn libjq1_stanza() -> String {
        format!(
            "Package: libjq1
Source: jq
Version: 1.6-2.1
Architecture: amd64
Multi-Arch: same
Pre-Depends: libc6 (>= 2.14)
Depends: libonig5 (>= 6.1.0)
Recommends: jq-doc | manpages
Provides: libjq-abi-1 (= 1.6)
Filename: pool/main/j/jq/libjq1_1.6-2.1_amd64.deb
Size: 135124
SHA256: {}
SHA512: {}
",
            "AB".repeat(32),
            "cd".repeat(64)
        )
    }

    #[test]
    fn parses_real_stanzas() {
        let text = format!("{}\n{}", jq_stanza(), libjq1_stanza());
        let p = parse_packages(&text).unwrap();
        assert_eq!(p.len(), 2);
        let jq = &p[0];
        assert_eq!(jq.name, "jq");
        assert_eq!(jq.version, "1.6-2.1");
        assert_eq!(jq.architecture, "amd64");
        assert_eq!(jq.filename, "pool/main/j/jq/jq_1.6-2.1_amd64.deb");
        assert_eq!(jq.pool_path(), jq.filename);
        assert_eq!(jq.size, 64556);
        assert_eq!(jq.sha256.as_deref(), Some(JQ_SHA));
        assert_eq!(jq.sha512, None);
        assert_eq!(jq.source.as_deref(), Some("jq"));
        assert_eq!(jq.depends.len(), 2);
        assert_eq!(jq.depends[0][0].name, "libjq1");
        assert_eq!(
            jq.depends[0][0].constraint,
            Some((VersionOp::Eq, "1.6-2.1".into()))
        );
        assert!(jq.recommends.is_empty());
        assert_eq!(jq.paragraph.to_text(), jq_stanza());

        let lib = &p[1];
        assert_eq!(lib.sha256.as_deref(), Some("ab".repeat(32).as_str()));
        assert_eq!(lib.sha512.as_deref(), Some("cd".repeat(64).as_str()));
        let deps: Vec<_> = lib.depends.iter().map(|g| g[0].name.as_str()).collect();
        assert_eq!(
            deps,
            ["libc6", "libonig5"],
            "Pre-Depends first, then Depends"
        );
        assert_eq!(lib.recommends[0].len(), 2);
        assert_eq!(lib.provides[0].name, "libjq-abi-1");
        assert_eq!(lib.source.as_deref(), Some("jq"));
    }

    #[test]
    fn render_round_trips() {
        let text = format!("{}\n{}", jq_stanza(), libjq1_stanza());
        let p = parse_packages(&text).unwrap();
        let rendered = render_packages(p.iter().map(|e| &e.paragraph));
        assert_eq!(rendered, text);
        assert_eq!(render_packages(std::iter::empty()), "");
        assert_eq!(
            render_packages([&p[0].paragraph]),
            jq_stanza(),
            "single stanza ends with exactly one newline"
        );
    }

    #[test]
    fn flat_repository_filename() {
        let text = jq_stanza().replace(
            "pool/main/j/jq/jq_1.6-2.1_amd64.deb",
            "./jq_1.6-2.1_amd64.deb",
        );
        let p = parse_packages(&text).unwrap();
        assert_eq!(p[0].filename, "./jq_1.6-2.1_amd64.deb");
        assert_eq!(p[0].pool_path(), "jq_1.6-2.1_amd64.deb");
    }

    #[track_caller]
    fn expect_err(text: &str, field: &str, context: &str) {
        let e = parse_packages(text).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(field), "{msg:?} should name {field}");
        assert!(msg.contains(context), "{msg:?} should name {context}");
    }

    #[test]
    fn missing_and_bad_fields_are_named() {
        let jq = jq_stanza();
        for field in ["Version", "Architecture", "Filename", "Size"] {
            let text: String = jq
                .lines()
                .filter(|l| !l.starts_with(&format!("{field}:")))
                .map(|l| format!("{l}\n"))
                .collect();
            expect_err(&text, field, "package jq");
        }
        let no_hash = jq.replace(&format!("SHA256: {JQ_SHA}\n"), "");
        expect_err(&no_hash, "SHA256", "package jq");
        expect_err(&jq.replace("Package: jq\n", ""), "Package", "stanza 1");
        let two = format!("{}\n{}", libjq1_stanza(), jq.replace("Package: jq\n", ""));
        expect_err(&two, "Package", "stanza 2");

        expect_err(
            &jq.replace("Version: 1.6-2.1", "Version: one"),
            "Version",
            "package jq",
        );
        expect_err(
            &jq.replace("Size: 64556", "Size: 12kB"),
            "Size",
            "package jq",
        );
        expect_err(&jq.replace(JQ_SHA, &JQ_SHA[1..]), "SHA256", "package jq");
        expect_err(
            &jq.replace(JQ_SHA, &JQ_SHA.replace('a', "z")),
            "SHA256",
            "package jq",
        );
        expect_err(
            &jq.replace("Filename: pool/main", "Filename: ../../etc"),
            "Filename",
            "package jq",
        );
        expect_err(
            &jq.replace("Filename: pool/main", "Filename: /pool/main"),
            "Filename",
            "package jq",
        );
        expect_err(
            &jq.replace("libc6 (>= 2.4)", "libc6 (>= 2.4"),
            "Depends",
            "package jq",
        );
        expect_err(
            &libjq1_stanza().replace("(= 1.6)", "(>= 1.6)"),
            "Provides",
            "package libjq1",
        );
        expect_err(
            &jq.replace("Architecture: amd64", "Architecture: amd64 arm64"),
            "Architecture",
            "package jq",
        );
        assert!(matches!(
            parse_packages("Package jq\n"),
            Err(AptFormatError::Syntax { .. })
        ));
    }

    #[test]
    fn compress_then_decompress() {
        let text = format!("{}\n{}", jq_stanza(), libjq1_stanza()).repeat(50);
        let (gz, xz) = compress_index(&text);
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
        assert_eq!(&xz[..6], b"\xfd7zXZ\0");
        assert!(gz.len() < text.len() && xz.len() < text.len());
        let limit = text.len() as u64;
        assert_eq!(
            decompress_index("main/binary-amd64/Packages.gz", &gz, limit).unwrap(),
            text
        );
        assert_eq!(decompress_index("Packages.xz", &xz, limit).unwrap(), text);
        assert_eq!(
            decompress_index("Packages", text.as_bytes(), limit).unwrap(),
            text
        );
        // Deterministic output.
        assert_eq!(compress_index(&text), (gz.clone(), xz.clone()));
        // One byte under the size: refused, for every format.
        for (path, bytes) in [
            ("Packages.gz", &gz[..]),
            ("Packages.xz", &xz[..]),
            ("Packages", text.as_bytes()),
        ] {
            assert!(
                matches!(
                    decompress_index(path, bytes, limit - 1),
                    Err(AptFormatError::TooLarge { .. })
                ),
                "{path}"
            );
        }
    }

    #[test]
    fn decompression_bomb_is_refused() {
        let zeros = "\n".repeat(10 << 20);
        let (gz, xz) = compress_index(&zeros);
        assert!(gz.len() < 100_000);
        assert!(matches!(
            decompress_index("Packages.gz", &gz, 1 << 20),
            Err(AptFormatError::TooLarge { max_bytes, .. }) if max_bytes == 1 << 20
        ));
        assert!(matches!(
            decompress_index("Packages.xz", &xz, 1 << 20),
            Err(AptFormatError::TooLarge { .. })
        ));
    }

    #[test]
    fn concatenated_gzip_members() {
        let (a, _) = compress_index("Package: a\n");
        let (b, _) = compress_index("\nPackage: b\n");
        let both = [a, b].concat();
        assert_eq!(
            decompress_index("Packages.gz", &both, 1000).unwrap(),
            "Package: a\n\nPackage: b\n"
        );
    }

    #[test]
    fn decompress_errors() {
        assert!(matches!(
            decompress_index("Packages.gz", b"not gzip", 1000),
            Err(AptFormatError::Decompress { .. })
        ));
        assert!(matches!(
            decompress_index("Packages.xz", b"not xz at all", 1000),
            Err(AptFormatError::Decompress { .. })
        ));
        let (gz, _) = compress_index("Package: a\n");
        assert!(matches!(
            decompress_index("Packages.gz", &gz[..gz.len() - 4], 1000),
            Err(AptFormatError::Decompress { .. })
        ));
        assert!(matches!(
            decompress_index("Packages.bz2", b"BZh9", 1000),
            Err(AptFormatError::UnsupportedCompression { .. })
        ));
        match decompress_index("Packages", b"Package: \xff\n", 1000) {
            Err(AptFormatError::NotUtf8 { valid_up_to, .. }) => assert_eq!(valid_up_to, 9),
            other => panic!("{other:?}"),
        }
    }
}
