//! Reading a binary package file (deb(5): an `ar` archive of `debian-binary`,
//! `control.tar.*` and `data.tar.*`) for the one thing the SBOM needs from inside it: the
//! package's copyright file, `usr/share/doc/<package>/copyright` (Debian Policy §12.5).
//!
//! The data member is streamed through its decompressor (xz, zstd, gzip or none, the
//! compressions dpkg-deb writes and Debian and Ubuntu use) and a tar reader; memory stays
//! flat whatever the package size, and only copyright files are kept (at most
//! 16 of [`formats::apt::copyright::MAX_COPYRIGHT_BYTES`] each).
//!
//! The documentation directory is often a symbolic link to that of another binary
//! package of the same source (`usr/share/doc/libfoo1 -> libfoo-common`), and the
//! copyright file is sometimes a link itself; both are followed, one level, within the
//! same archive. A link whose target is in another package yields `None`.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};
use formats::apt::copyright::MAX_COPYRIGHT_BYTES;

/// Most copyright files kept while looking for the package's own.
const MAX_KEPT: usize = 16;

/// Longest `ar` member name accepted, in bytes.
const MAX_MEMBER_NAME: usize = 64;

/// What a package's copyright file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Copyright {
    /// Its text (invalid UTF-8 replaced by U+FFFD, cut at 1 MiB).
    Text(String),
    /// The documentation directory (or the file) links to that of another binary package,
    /// `usr/share/doc/<package>`, which this archive does not hold: Debian Policy §12.5
    /// allows that when the package depends on the other one, whose copyright applies.
    LinkedTo(String),
    /// No copyright file.
    Absent,
}

/// The copyright of `package` in the deb read from `deb`: the text of
/// `usr/share/doc/<package>/copyright`, following a symbolic link of the documentation
/// directory or of the file within the archive, or the other package it links to.
///
/// # Errors
/// Not an `ar` archive, no `data.tar*` member, an unknown data compression, or a
/// corrupt compressed stream or tar; the message names the member.
pub fn copyright(deb: impl Read, package: &str) -> anyhow::Result<Copyright> {
    let mut ar = ar::Archive::new(deb);
    while let Some(entry) = ar.next_entry() {
        let entry = entry.context("not a deb: the ar archive is malformed")?;
        let name = entry.header().identifier();
        if name.len() > MAX_MEMBER_NAME {
            bail!("not a deb: an ar member name is {} bytes long", name.len());
        }
        let name = String::from_utf8_lossy(name)
            .trim_end_matches('/')
            .to_owned();
        let Some(compression) = name.strip_prefix("data.tar") else {
            continue;
        };
        let reader: Box<dyn Read + '_> = match compression {
            "" => Box::new(entry),
            ".xz" => Box::new(liblzma::read::XzDecoder::new(entry)),
            ".gz" => Box::new(flate2::read::GzDecoder::new(entry)),
            ".zst" => Box::new(
                ruzstd::decoding::StreamingDecoder::new(entry)
                    .map_err(|e| anyhow::anyhow!("{name}: not a zstd stream: {e}"))?,
            ),
            other => {
                bail!("{name}: data compression {other:?} is not supported (xz, zstd, gzip, none)")
            }
        };
        return scan_data_tar(reader, package).with_context(|| format!("deb member {name}"));
    }
    bail!("not a deb: no data.tar member")
}

/// `./usr/share/doc/x` → `usr/share/doc/x` (no `.`, `..` or root components kept).
fn normalize(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

fn scan_data_tar(reader: impl Read, package: &str) -> anyhow::Result<Copyright> {
    let doc = PathBuf::from("usr/share/doc");
    let own_dir = doc.join(package);
    let own_file = own_dir.join("copyright");
    let mut kept: HashMap<PathBuf, String> = HashMap::new();
    // Link path → target, for the doc directory and copyright files.
    let mut links: HashMap<PathBuf, PathBuf> = HashMap::new();
    let mut tar = tar::Archive::new(reader);
    for entry in tar.entries().context("tar")? {
        let mut entry = entry.context("tar entry")?;
        let Some(path) = entry.path().ok().and_then(|p| normalize(&p)) else {
            continue;
        };
        if path.parent() != Some(&doc) && path.parent().and_then(Path::parent) != Some(&doc) {
            continue;
        }
        let ty = entry.header().entry_type();
        if ty.is_symlink() {
            if let Ok(Some(target)) = entry.link_name() {
                let base = path.parent().unwrap_or(Path::new(""));
                let joined = if target.is_absolute() {
                    target.to_path_buf()
                } else {
                    base.join(&target)
                };
                if let Some(t) = normalize(&joined) {
                    links.insert(path, t);
                }
            }
            continue;
        }
        if !ty.is_file() || path.file_name().is_none_or(|n| n != "copyright") {
            continue;
        }
        if path == own_file || kept.len() < MAX_KEPT {
            let text = read_capped(&mut entry, MAX_COPYRIGHT_BYTES)
                .with_context(|| format!("reading {}", path.display()))?;
            if path == own_file {
                return Ok(Copyright::Text(text));
            }
            kept.insert(path, text);
        }
    }
    // Follow one link of the file, or of its directory.
    let candidates = [
        links.get(&own_file).cloned(),
        links.get(&own_dir).map(|d| d.join("copyright")),
    ];
    for c in candidates.into_iter().flatten() {
        let target = links.get(&c).cloned().unwrap_or(c);
        if let Some(text) = kept.remove(&target) {
            return Ok(Copyright::Text(text));
        }
        // `usr/share/doc/<other>/copyright` of a package not in this archive.
        if target.parent().and_then(Path::parent) == Some(&doc)
            && target.file_name().is_some_and(|n| n == "copyright")
            && let Some(other) = target
                .parent()
                .and_then(Path::file_name)
                .and_then(|n| n.to_str())
            && other != package
        {
            return Ok(Copyright::LinkedTo(other.to_owned()));
        }
    }
    Ok(Copyright::Absent)
}

fn read_capped(r: &mut impl Read, max: usize) -> io::Result<String> {
    let mut buf = Vec::new();
    r.take(max as u64).read_to_end(&mut buf)?;
    // Drain the rest so the tar reader stays aligned (it skips unread data itself, but
    // reading to the end keeps errors of a corrupt stream attributed here).
    io::copy(r, &mut io::sink())?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tar_with(entries: &[(&str, Option<&str>, Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, content, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            match (content, link) {
                (Some(c), _) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(c.len() as u64);
                    b.append_data(&mut h, path, c.as_bytes()).unwrap();
                }
                (None, Some(l)) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    b.append_link(&mut h, path, l).unwrap();
                }
                (None, None) => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    b.append_data(&mut h, path, io::empty()).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    fn deb(data_name: &str, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut a = ar::Builder::new(&mut out);
            for (name, bytes) in [
                ("debian-binary", b"2.0\n".to_vec()),
                ("control.tar.gz", Vec::new()),
                (data_name, data.to_vec()),
            ] {
                let h = ar::Header::new(name.as_bytes().to_vec(), bytes.len() as u64);
                a.append(&h, bytes.as_slice()).unwrap();
            }
        }
        out
    }

    fn xz(b: &[u8]) -> Vec<u8> {
        let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    fn gz(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn reads_the_packages_own_copyright_in_each_compression() {
        let t = tar_with(&[
            ("./usr/", None, None),
            ("./usr/bin/cube", Some("binary"), None),
            (
                "./usr/share/doc/cube/copyright",
                Some("License: MIT\n"),
                None,
            ),
            (
                "./usr/share/doc/other/copyright",
                Some("License: GPL-2+\n"),
                None,
            ),
        ]);
        for (name, data) in [
            ("data.tar.xz", xz(&t)),
            ("data.tar.gz", gz(&t)),
            ("data.tar", t.clone()),
        ] {
            let text = copyright(deb(name, &data).as_slice(), "cube").unwrap();
            assert_eq!(text, Copyright::Text("License: MIT\n".into()), "{name}");
        }
        assert_eq!(
            copyright(deb("data.tar", &t).as_slice(), "absent").unwrap(),
            Copyright::Absent
        );
    }

    #[test]
    fn follows_a_linked_doc_directory_or_file_inside_the_archive() {
        let t = tar_with(&[
            ("./usr/share/doc/libcube1", None, Some("libcube-common")),
            ("./usr/share/doc/libcube-common/copyright", Some("C"), None),
            (
                "./usr/share/doc/cube-dev/copyright",
                None,
                Some("../libcube-common/copyright"),
            ),
            (
                "./usr/share/doc/cube-ext",
                None,
                Some("/usr/share/doc/elsewhere"),
            ),
        ]);
        let d = deb("data.tar", &t);
        let text = Copyright::Text("C".into());
        assert_eq!(copyright(d.as_slice(), "libcube1").unwrap(), text);
        assert_eq!(copyright(d.as_slice(), "cube-dev").unwrap(), text);
        assert_eq!(
            copyright(d.as_slice(), "cube-ext").unwrap(),
            Copyright::LinkedTo("elsewhere".into()),
            "another package's documentation directory"
        );
    }

    #[test]
    fn refuses_what_is_not_a_deb_with_a_named_reason() {
        let e = copyright(&b"not an archive"[..], "x").unwrap_err();
        assert!(format!("{e:#}").contains("not a deb"), "{e:#}");
        let e = copyright(deb("data.tar.bz3", b"x").as_slice(), "x").unwrap_err();
        assert!(format!("{e:#}").contains("not supported"), "{e:#}");
        let e = copyright(deb("data.tar.xz", b"garbage").as_slice(), "x").unwrap_err();
        assert!(format!("{e:#}").contains("data.tar.xz"), "{e:#}");
        let mut only = Vec::new();
        ar::Builder::new(&mut only)
            .append(
                &ar::Header::new(b"debian-binary".to_vec(), 4),
                &b"2.0\n"[..],
            )
            .unwrap();
        let e = copyright(only.as_slice(), "x").unwrap_err();
        assert!(format!("{e:#}").contains("no data.tar"), "{e:#}");
    }

    #[test]
    fn a_huge_copyright_file_is_cut_at_the_limit() {
        let big = "x".repeat(MAX_COPYRIGHT_BYTES + 10);
        let t = tar_with(&[("usr/share/doc/cube/copyright", Some(&big), None)]);
        match copyright(deb("data.tar", &t).as_slice(), "cube").unwrap() {
            Copyright::Text(text) => assert_eq!(text.len(), MAX_COPYRIGHT_BYTES),
            other => panic!("{other:?}"),
        }
    }
}
