//! Directory fingerprints, to prove that a failed operation left a store untouched.
//!
//! A tree's manifest is one line per entry below the root (the root itself excluded),
//! sorted by relative path:
//!
//! ```text
//! <relative path>\t<type: d|f|l|o>\t<mode, octal, permission bits>\t<size>\t<sha256 hex>
//! ```
//!
//! For a regular file, size and hash are of its content; for a symlink, of its target
//! path (links are recorded, never followed); for directories and other entries, `0` and
//! the empty string. Modification times are NOT included (a read-only open may touch
//! them). The digest is the SHA-256 of the manifest lines joined with `\n`.

use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use sha2::{Digest, Sha256};

/// The sorted manifest of every entry under `dir` (see the module docs for the line
/// format). A missing `dir` gives an empty manifest.
///
/// Panics with the path and the I/O error if the tree cannot be read (test helper).
pub fn tree_manifest(dir: &Path) -> Vec<String> {
    match try_tree_manifest(dir) {
        Ok(m) => m,
        Err(e) => panic!("cannot fingerprint {}: {e}", dir.display()),
    }
}

/// SHA-256 (lowercase hex) of [`tree_manifest`]`(dir)`.
///
/// Two calls give equal strings iff every path, type, permission mode, size and content
/// (or link target) under `dir` is equal. Panics if the tree cannot be read.
pub fn tree_digest(dir: &Path) -> String {
    hex::encode(Sha256::digest(tree_manifest(dir).join("\n").as_bytes()))
}

/// [`tree_digest`] of `dir` leaving out every entry whose path contains `audit` (the
/// store's append-only audit log, the one file a refused import may change).
pub fn tree_digest_except_audit(dir: &Path) -> String {
    let lines: Vec<String> = tree_manifest(dir)
        .into_iter()
        .filter(|l| !l.split('\t').next().unwrap_or("").contains("audit"))
        .collect();
    hex::encode(Sha256::digest(lines.join("\n").as_bytes()))
}

/// Fallible [`tree_manifest`].
///
/// Errors: any I/O error while listing or reading an entry.
pub fn try_tree_manifest(dir: &Path) -> io::Result<Vec<String>> {
    let mut lines = Vec::new();
    if fs::symlink_metadata(dir).is_err() {
        return Ok(lines);
    }
    walk(dir, "", &mut lines)?;
    lines.sort();
    Ok(lines)
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let path = entry.path();
        let meta = fs::symlink_metadata(&path)?;
        let mode = meta.permissions().mode() & 0o7777;
        let ft = meta.file_type();
        if ft.is_symlink() {
            let target = fs::read_link(&path)?;
            let bytes = target.as_os_str().as_bytes();
            out.push(format!(
                "{rel}\tl\t{mode:o}\t{}\t{}",
                bytes.len(),
                hex::encode(Sha256::digest(bytes))
            ));
        } else if ft.is_dir() {
            out.push(format!("{rel}\td\t{mode:o}\t0\t"));
            walk(&path, &rel, out)?;
        } else if ft.is_file() {
            let mut file = fs::File::open(&path)?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 64 * 1024];
            let mut size: u64 = 0;
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                size += n as u64;
                hasher.update(&buf[..n]);
            }
            out.push(format!(
                "{rel}\tf\t{mode:o}\t{size}\t{}",
                hex::encode(hasher.finalize())
            ));
        } else {
            out.push(format!("{rel}\to\t{mode:o}\t0\t"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_sees_content_mode_links_and_new_files() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        fs::create_dir(d.join("sub")).unwrap();
        fs::write(d.join("sub/a"), b"hello").unwrap();
        std::os::unix::fs::symlink("sub/a", d.join("link")).unwrap();
        let base = tree_digest(d);
        assert_eq!(base, tree_digest(d), "digest must be stable");

        fs::write(d.join("sub/a"), b"hellO").unwrap();
        let changed = tree_digest(d);
        assert_ne!(base, changed, "content change");
        fs::write(d.join("sub/a"), b"hello").unwrap();
        assert_eq!(base, tree_digest(d), "restoring content restores digest");

        fs::set_permissions(d.join("sub/a"), fs::Permissions::from_mode(0o600)).unwrap();
        assert_ne!(base, tree_digest(d), "mode change");
        fs::set_permissions(d.join("sub/a"), fs::Permissions::from_mode(0o644)).unwrap();
        let base = tree_digest(d);

        fs::remove_file(d.join("link")).unwrap();
        std::os::unix::fs::symlink("sub", d.join("link")).unwrap();
        assert_ne!(base, tree_digest(d), "symlink target change");
        fs::remove_file(d.join("link")).unwrap();
        std::os::unix::fs::symlink("sub/a", d.join("link")).unwrap();
        assert_eq!(base, tree_digest(d));

        fs::create_dir(d.join("empty")).unwrap();
        assert_ne!(base, tree_digest(d), "new empty directory");
        let m = tree_manifest(d);
        assert!(m.iter().any(|l| l.starts_with("link\tl\t")), "{m:?}");
        assert!(
            m.iter().any(|l| l.starts_with("sub/a\tf\t644\t5\t")),
            "{m:?}"
        );
    }

    #[test]
    fn audit_files_can_be_left_out() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        fs::write(d.join("blob"), b"x").unwrap();
        let base = tree_digest_except_audit(d);
        fs::write(d.join("audit.log"), b"{}\n").unwrap();
        assert_eq!(base, tree_digest_except_audit(d));
        assert_ne!(tree_digest(d), tree_digest_except_audit(d));
        fs::write(d.join("blob"), b"y").unwrap();
        assert_ne!(base, tree_digest_except_audit(d));
    }

    #[test]
    fn missing_dir_is_empty() {
        let t = tempfile::tempdir().unwrap();
        assert!(tree_manifest(&t.path().join("nope")).is_empty());
    }
}
