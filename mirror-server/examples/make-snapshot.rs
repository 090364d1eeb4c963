//! Writes a synthetic, validly signed snapshot drive with many small artifacts, for the
//! memory benchmark (bench/pairs/09-memory.sh): ARTIFACTS `.deb`-like files at Debian-pool
//! paths (`apt/bench/pool/main/<l>/<name>/<name>_<version>_amd64.deb`) with the metadata
//! the APT sync records (name, version, architecture, suite, component, upstream URL,
//! dependencies), so the manifest and the server's routing table have the size of a real
//! snapshot of that many packages. The blobs themselves are tiny (64–575 bytes, distinct).
//!
//! Writes `OUT/drive/` (blobs, signed manifest, both SBOMs), `OUT/trusted/bench.pub` (the
//! signing key's public half, for `mirror-server import --trusted-keys`) and
//! `OUT/paths.txt`: one line per package, its URL path and the SHA-256 (hex) of its bytes,
//! separated by a space (`/apt/bench/pool/… 3be8…`).
//!
//! `cargo run --release -p mirror-server --example make-snapshot -- OUT ARTIFACTS`
//!
//! The artifacts carry no `upstream` (no upstream APT source is declared), so import's
//! upstream-provenance step has nothing to check; every other import check applies.

use std::io::Write as _;
use std::path::PathBuf;

use formats::digest::Digest;
use formats::snapshot::{Artifact, ArtifactKind, Meta};

mod common;

/// Name stems, combined pairwise to give package names of realistic length.
const STEMS: [&str; 16] = [
    "python3", "libgtk", "perl", "texlive", "golang", "node", "fonts", "ruby", "libqt5", "gir1.2",
    "libboost", "r-cran", "php", "libghc", "xserver", "openjdk",
];
const PARTS: [&str; 12] = [
    "core", "render", "utils", "data", "common", "dev", "doc", "extra", "plugins", "tools",
    "runtime", "bin",
];

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, out, count] = args.as_slice() else {
        anyhow::bail!("usage: make-snapshot OUT ARTIFACTS");
    };
    let out = PathBuf::from(out);
    let count: u64 = count.parse()?;
    let d = common::Drive::create(&out)?;
    let (drive, blobs, trusted) = (&d.root, &d.blobs, &d.trusted);
    let mut paths = std::io::BufWriter::new(std::fs::File::create(out.join("paths.txt"))?);

    let mut artifacts = Vec::with_capacity(count as usize + 2);
    let mut body = Vec::with_capacity(1024);
    for i in 0..count {
        let stem = STEMS[(i % 16) as usize];
        let part = PARTS[((i / 16) % 12) as usize];
        let name = format!("{stem}-{part}{i}");
        let version = format!("{}.{}.{}-{}", 1 + i % 9, i % 50, i % 7, 1 + i % 3);
        let letter = if name.starts_with("lib") {
            &name[..4]
        } else {
            &name[..1]
        };
        let pool = format!("pool/main/{letter}/{name}/{name}_{version}_amd64.deb");
        let path = format!("apt/bench/{pool}");
        // Distinct content per artifact: a header line, then xorshift64 bytes.
        body.clear();
        writeln!(body, "bench package {i}")?;
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ (i + 1);
        let len = 64 + (i % 512) as usize;
        while body.len() < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            body.extend_from_slice(&x.to_le_bytes());
        }
        body.truncate(len);
        let digest = Digest::of(&body);
        std::fs::write(blobs.join(digest.hex()), &body)?;
        writeln!(paths, "/{path} {}", digest.hex())?;
        let mut depends = vec!["libc6 (>= 2.36)".to_owned()];
        if i > 0 {
            let prev = format!(
                "{}-{}{}",
                STEMS[((i - 1) % 16) as usize],
                PARTS[(((i - 1) / 16) % 12) as usize],
                i - 1
            );
            depends.push(format!("{prev} (>= 1.0)"));
        }
        depends.push(format!("{stem}-common | {stem}-minimal"));
        artifacts.push(Artifact {
            kind: ArtifactKind::Deb,
            upstream: None,
            path,
            digest,
            size: len as u64,
            media_type: Some("application/vnd.debian.binary-package".into()),
            meta: Meta {
                name: Some(name),
                version: Some(version),
                architecture: Some("amd64".into()),
                suite: Some("bookworm".into()),
                component: Some("main".into()),
                upstream_url: Some(format!("http://archive.example/debian/{pool}")),
                depends,
                ..Meta::default()
            },
        });
    }
    paths.flush()?;
    let manifest_len = d.seal("make-snapshot", artifacts)?;
    println!(
        "{}: {} artifacts, manifest {} bytes; trusted keys in {}",
        drive.display(),
        count,
        manifest_len,
        trusted.display()
    );
    Ok(())
}
