//! Permissions of private key files.
//!
//! A private key (the snapshot key `snapshot.key`, the repository key `repo.key.asc`, a
//! site's `site.key`) that the file's group or other users can read is a key every local
//! account can sign snapshots, APT indexes or receipts with. Loading one is not refused
//! (decision recorded in docs/threat-model.md): the key may already be exposed and a
//! refusal does not undo that; filesystems without Unix permissions (a FAT-formatted key
//! stick shows every file as 0755) and secret mounts that default to 0644 would make the
//! key unusable. Instead every caller that reads a private key passes the path to
//! [`private_key_exposure`] and prints the warning it returns on stderr (and in the
//! command's `--json` document where it has a `warnings` list), as OpenSSH does for an
//! "UNPROTECTED PRIVATE KEY FILE", without refusing.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

/// The permission bits that make a private key readable by someone other than its owner:
/// read for group (0o040) or others (0o004).
pub const EXPOSING_BITS: u32 = 0o044;

/// A warning when the private key file at `path` (symbolic links followed) can be read
/// by its group or by other users (mode & [`EXPOSING_BITS`] ≠ 0), else `None` (also when
/// the file cannot be inspected: reading it will report that).
///
/// The warning names the file, its mode in octal, who can read it and the fix:
/// `private key keys/snapshot.key is readable by group and others (mode 0644): anyone who
/// can read it can sign with it; run chmod 600 keys/snapshot.key`.
pub fn private_key_exposure(path: &Path) -> Option<String> {
    let mode = std::fs::metadata(path).ok()?.mode() & 0o7777;
    let who = match (mode & 0o040 != 0, mode & 0o004 != 0) {
        (false, false) => return None,
        (true, false) => "its group",
        (false, true) => "other users",
        (true, true) => "its group and other users",
    };
    let shown = path.to_string_lossy();
    Some(format!(
        "private key {shown} is readable by {who} (mode {mode:04o}): anyone who can read it can sign with it; run chmod 600 {shown}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn group_or_other_read_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("snapshot.key");
        std::fs::write(&key, "k").unwrap();
        for (mode, want) in [
            (0o600, None),
            (0o400, None),
            (0o620, None),
            (0o640, Some("readable by its group (mode 0640)")),
            (0o604, Some("readable by other users (mode 0604)")),
            (
                0o644,
                Some("readable by its group and other users (mode 0644)"),
            ),
        ] {
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
            let got = private_key_exposure(&key);
            match want {
                None => assert_eq!(got, None, "{mode:o}"),
                Some(w) => {
                    let got = got.unwrap();
                    assert!(got.contains(w), "{got}");
                    assert!(
                        got.contains(&format!("chmod 600 {}", key.display())),
                        "{got}"
                    );
                }
            }
        }
        assert_eq!(private_key_exposure(&dir.path().join("missing")), None);
    }
}
