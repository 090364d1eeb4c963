//! Writes a synthetic, validly signed snapshot drive for benchmarks (import vs `cp -r`):
//! FILES blobs of deterministic pseudo-random bytes totalling about SIZE, served as plain
//! files under `bench/`, plus the two SBOMs, signed by a fresh key whose public half is
//! written to `OUT/trusted/`.
//!
//! `cargo run --release -p mirror-server --example make-drive -- OUT SIZE_MIB FILES`

use std::io::Write;
use std::path::PathBuf;

use formats::digest::Hasher;
use formats::snapshot::{Artifact, ArtifactKind, Meta};

mod common;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, out, size_mib, files] = args.as_slice() else {
        anyhow::bail!("usage: make-drive OUT SIZE_MIB FILES");
    };
    let out = PathBuf::from(out);
    let total: u64 = size_mib.parse::<u64>()? * 1024 * 1024;
    let files: u64 = files.parse()?;
    let per_file = total / files.max(1);
    let d = common::Drive::create(&out)?;
    let (drive, blobs, trusted) = (&d.root, &d.blobs, &d.trusted);

    let mut artifacts = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    for i in 0..files {
        // xorshift64 stream, distinct per file: incompressible, deterministic.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ (i + 1);
        let tmp = blobs.join(format!(".tmp-{i}"));
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        let mut h = Hasher::new();
        let mut left = per_file;
        while left > 0 {
            for chunk in buf.chunks_exact_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_le_bytes());
            }
            let n = left.min(buf.len() as u64) as usize;
            f.write_all(&buf[..n])?;
            h.update(&buf[..n]);
            left -= n as u64;
        }
        f.flush()?;
        let (digest, size) = h.finish();
        std::fs::rename(&tmp, blobs.join(digest.hex()))?;
        artifacts.push(Artifact {
            kind: ArtifactKind::RepoKey,
            upstream: None,
            path: format!("bench/file-{i:05}.bin"),
            digest,
            size,
            media_type: Some("application/octet-stream".into()),
            meta: Meta::default(),
        });
    }
    d.seal("make-drive", artifacts)?;
    println!(
        "{}: {} files, {} MiB; trusted keys in {}",
        drive.display(),
        files,
        per_file * files / (1024 * 1024),
        trusted.display()
    );
    Ok(())
}
