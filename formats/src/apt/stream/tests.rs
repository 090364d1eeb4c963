use std::io::BufReader;

use super::*;
use crate::apt::packages::{compress_index, parse_packages};

/// A varied index: folded fields, a comment-only run, several and whitespace-only blank
/// lines, CRLF line ends, non-ASCII text, Provides/Recommends, a SHA512-only stanza and a
/// stanza at the very end without a final newline.
fn fixture() -> String {
    let mut t = String::from("\n\n");
    for i in 0..300 {
        let sha = format!("{:064x}", i * 7919);
        t.push_str(&format!(
            "Package: pkg{i}\nVersion: 1.{i}-1\nArchitecture: {}\nMaintainer: Zoë Ünicode <z@example.org>\nDepends: libc6 (>= 2.{i}), pkg{} | alt{i}\nDescription: package {i}\n a folded\n .\n description\nFilename: pool/main/p/pkg{i}/pkg{i}_1.{i}-1_amd64.deb\nSize: {}\nSHA256: {sha}\n",
            if i % 5 == 0 { "all" } else { "amd64" },
            i + 1,
            1000 + i
        ));
        match i % 4 {
            0 => t.push('\n'),
            1 => t.push_str(" \t\n\n"),
            2 => t.push_str("\n# a comment between stanzas\n\n"),
            _ => t.push_str("\n\n\n"),
        }
    }
    t.push_str("Package: crlf\r\nVersion: 2\r\nArchitecture: amd64\r\nProvides: virt (= 2)\r\nRecommends: pkg1\r\nFilename: ./crlf_2_amd64.deb\r\nSize: 9\r\n");
    t.push_str(&format!("SHA512: {}\r\n\r\n", "ab".repeat(64)));
    t.push_str(&format!(
        "Package: last\nVersion: 3\nArchitecture: all\nFilename: pool/l/last.deb\nSize: 1\nSHA256: {}",
        "0".repeat(64)
    ));
    t
}

fn stream_all(path: &str, bytes: &[u8], cap: usize) -> Vec<(PackageEntry, Range<u64>)> {
    let reader = BufReader::with_capacity(cap, index_reader(path, bytes).unwrap());
    let mut r = PackageReader::new(path, reader, u64::MAX);
    let mut out = Vec::new();
    while let Some(x) = r.next_entry().unwrap() {
        out.push(x);
    }
    out
}

#[test]
fn streaming_parse_equals_the_whole_text_parse_for_every_compression() {
    let text = fixture();
    let whole = parse_packages(&text).unwrap();
    assert_eq!(whole.len(), 302);
    let (gz, xz) = compress_index(&text);
    for (path, bytes) in [
        ("main/binary-amd64/Packages", text.as_bytes()),
        ("main/binary-amd64/Packages.gz", &gz[..]),
        ("main/binary-amd64/Packages.xz", &xz[..]),
    ] {
        // A tiny buffer puts buffer boundaries inside lines and stanzas.
        for cap in [7, 8192] {
            let streamed = stream_all(path, bytes, cap);
            assert_eq!(streamed.len(), whole.len(), "{path} cap {cap}");
            for ((e, r), w) in streamed.iter().zip(&whole) {
                assert_eq!(e, w, "{path} cap {cap}");
                let stanza = &text[r.start as usize..r.end as usize];
                assert_eq!(parse_packages(stanza).unwrap()[0], *w);
                assert!(!stanza.starts_with('\n') && !stanza.ends_with("\n\n"));
            }
        }
    }
    // for_each_package (text in memory) gives the same ranges.
    let mut ranges = Vec::new();
    super::for_each_package(&text, |_, r| ranges.push(r)).unwrap();
    let streamed = stream_all("Packages", text.as_bytes(), 64);
    assert_eq!(
        ranges,
        streamed
            .iter()
            .map(|(_, r)| r.start as usize..r.end as usize)
            .collect::<Vec<_>>()
    );
}

#[test]
fn copy_ranges_gives_the_stanzas_back_from_the_compressed_index() {
    let text = fixture();
    let (_, xz) = compress_index(&text);
    let all = stream_all("Packages.xz", &xz, 8192);
    let wanted: Vec<Range<u64>> = [3usize, 4, 150, 301]
        .iter()
        .map(|&i| all[i].1.clone())
        .collect();
    let mut got = Vec::new();
    copy_ranges(
        "Packages.xz",
        index_reader("Packages.xz", &xz[..]).unwrap(),
        &wanted,
        |k, s| got.push((k, s)),
    )
    .unwrap();
    assert_eq!(got.len(), 4);
    for (k, s) in &got {
        let r = &wanted[*k];
        assert_eq!(s, &text[r.start as usize..r.end as usize]);
    }
    assert!(got[3].1.starts_with("Package: last\n"));
    // A range past the end, or out of order, is an error, not a short stanza.
    let end = text.len() as u64;
    let past_end: Vec<Range<u64>> = std::iter::once(end - 3..end + 5).collect();
    let err = copy_ranges("P", text.as_bytes(), &past_end, |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("ends before"), "{err}");
    let err = copy_ranges("P", text.as_bytes(), &[10..20, 5..8], |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("out of order"), "{err}");
}

fn first_error(text: &[u8], max: u64) -> AptFormatError {
    let mut r = PackageReader::new("dists/x/main/binary-amd64/Packages", text, max);
    loop {
        match r.next_entry() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("no error"),
            Err(e) => return e,
        }
    }
}

#[test]
fn hostile_indexes_error_with_line_numbers() {
    let good = "Package: a\nVersion: 1\nArchitecture: all\nFilename: a.deb\nSize: 1\nSHA256: 0000000000000000000000000000000000000000000000000000000000000000\n\n";
    // Syntax error on line 9 (the 2nd line of the 2nd stanza).
    let e = first_error(
        format!("{good}Package: b\nno colon here\n").as_bytes(),
        u64::MAX,
    );
    assert!(matches!(e, AptFormatError::Syntax { .. }), "{e}");
    assert!(e.to_string().contains("line 9"), "{e}");
    // A missing field names the package and the stanza's first line.
    let e = first_error(
        format!("{good}\n\nPackage: b\nVersion: 1\nArchitecture: all\n").as_bytes(),
        u64::MAX,
    );
    let msg = e.to_string();
    assert!(
        msg.contains("package b at line 10") && msg.contains("Filename"),
        "{msg}"
    );
    // A bad value too.
    let e = first_error(good.replace("Size: 1", "Size: x").as_bytes(), u64::MAX);
    assert!(e.to_string().contains("package a at line 1"), "{e}");
    // Not UTF-8: the absolute offset of the bad byte.
    let mut bytes = good.as_bytes().to_vec();
    bytes.extend_from_slice(b"Package: \xff\n");
    match first_error(&bytes, u64::MAX) {
        AptFormatError::NotUtf8 { valid_up_to, .. } => assert_eq!(valid_up_to, good.len() + 9),
        other => panic!("{other}"),
    }
    // A line that never ends: refused at the stanza limit, not read into memory whole.
    let endless = std::io::repeat(b'a').take(MAX_STANZA_BYTES as u64 * 4);
    let mut r = PackageReader::new(
        "Packages",
        std::io::BufReader::new(b"Package: ".chain(endless)),
        u64::MAX,
    );
    match r.next_entry() {
        Err(AptFormatError::StanzaTooLarge { line, .. }) => assert_eq!(line, 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_decompression_bomb_is_refused_while_streaming() {
    // 64 MiB of blank lines compress to a few KiB; the limit is 1 MiB.
    let zeros = "\n".repeat(64 << 20);
    let (gz, xz) = compress_index(&zeros);
    assert!(gz.len() < 200_000 && xz.len() < 200_000);
    for (path, bytes) in [("Packages.gz", &gz[..]), ("Packages.xz", &xz[..])] {
        let reader = BufReader::new(index_reader(path, bytes).unwrap());
        let mut r = PackageReader::new(path, reader, 1 << 20);
        match r.next_entry() {
            Err(AptFormatError::TooLarge { max_bytes, .. }) => assert_eq!(max_bytes, 1 << 20),
            other => panic!("{path}: {other:?}"),
        }
    }
    // Exactly at the limit is accepted.
    let text = fixture();
    let mut r = PackageReader::new("Packages", text.as_bytes(), text.len() as u64);
    let mut n = 0;
    while r.next_entry().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 302);
    let mut r = PackageReader::new("Packages", text.as_bytes(), text.len() as u64 - 1);
    let err = loop {
        match r.next_entry() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("accepted one byte over the limit"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, AptFormatError::TooLarge { .. }), "{err}");
}

#[test]
fn corrupt_and_unsupported_compression() {
    assert!(matches!(
        index_reader("Packages.zst", &b""[..]),
        Err(AptFormatError::UnsupportedCompression { .. })
    ));
    let (gz, _) = compress_index(&fixture());
    let cut = &gz[..gz.len() / 2];
    let reader = BufReader::new(index_reader("Packages.gz", cut).unwrap());
    let mut r = PackageReader::new("Packages.gz", reader, u64::MAX);
    let err = loop {
        match r.next_entry() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("a truncated gzip read as complete"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, AptFormatError::Decompress { .. }), "{err}");
}

// The in-memory wrappers (`for_each_package`) against the whole-text parse.
mod in_memory {
    use super::super::for_each_package;
    use crate::apt::packages::parse_packages;

    #[test]
    fn streaming_matches_parse_packages() {
        let text = "Package: a\nVersion: 1\nArchitecture: all\nFilename: pool/a_1_all.deb\nSize: 3\nSHA256: 0000000000000000000000000000000000000000000000000000000000000000\n\n\n\
                    Package: b\nVersion: 2\nArchitecture: amd64\nDepends: a (>= 1)\nFilename: pool/b_2_amd64.deb\nSize: 4\nSHA256: 1111111111111111111111111111111111111111111111111111111111111111\n";
        let whole = parse_packages(text).unwrap();
        let mut streamed = Vec::new();
        for_each_package(text, |e, r| streamed.push((e, r))).unwrap();
        assert_eq!(streamed.len(), 2);
        for ((e, r), w) in streamed.iter().zip(&whole) {
            assert_eq!(e, w);
            assert_eq!(
                parse_packages(&text[r.clone()]).unwrap()[0].paragraph,
                w.paragraph
            );
        }
    }

    #[test]
    fn streaming_reports_absolute_lines() {
        let text = "Package: a\nVersion: 1\nArchitecture: all\nFilename: a.deb\nSize: 1\nSHA256: 0000000000000000000000000000000000000000000000000000000000000000\n\nPackage: b\nno colon here\n";
        let err = for_each_package(text, |_, _| {}).unwrap_err();
        assert!(err.to_string().contains("line 9"), "{err}");
    }
}

#[test]
fn stanza_field_reads_one_line_fields_only() {
    let text = "Package: a\nfilename:  ./pool/main/a/a_1_all.deb \nDescription: x\n Filename: not-a-field\n#Size: 3\nSize: 12\n";
    assert_eq!(
        stanza_field(text, "Filename"),
        Some("./pool/main/a/a_1_all.deb")
    );
    assert_eq!(stanza_field(text, "SIZE"), Some("12"));
    assert_eq!(stanza_field(text, "Depends"), None);
    // A continuation line never names a field.
    assert_eq!(
        stanza_field("Description: x\n Depends: y\n", "Depends"),
        None
    );
}

#[test]
fn package_entry_parses_a_stanza_as_the_reader_does() {
    let text = format!(
        "Package: a\nVersion: 1\nArchitecture: all\nFilename: pool/a.deb\nSize: 3\nSHA256: {}\n\n# only a comment\n\nPackage: b\n",
        "0".repeat(64)
    );
    let mut stanzas = StanzaReader::new("Packages", text.as_bytes(), 1 << 20);
    let first = stanzas.next_stanza().unwrap().unwrap();
    let e = package_entry(&first, 0).unwrap().unwrap();
    assert_eq!(
        (e.name.as_str(), e.pool_path(), e.size),
        ("a", "pool/a.deb", 3)
    );
    let comment = stanzas.next_stanza().unwrap().unwrap();
    assert!(package_entry(&comment, 1).unwrap().is_none());
    let last = stanzas.next_stanza().unwrap().unwrap();
    let err = package_entry(&last, 1).unwrap_err().to_string();
    assert!(err.contains("at line 10"), "{err}");
}
