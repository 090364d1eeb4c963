//! Import prerequisites, checked before the first blob byte is copied (issue 12, point 5).
//!
//! An import that lacks a trust anchor used to copy and hash the whole drive before the
//! missing keyring surfaced, and the retry copied it all again. [`crate::import::import`]
//! now gathers every prerequisite from the signed manifest and the trusted-keys directory
//! first, and refuses with **all** unmet ones in one error, each with the command that
//! fixes it ([`Prerequisite`]). Nothing here reads a blob, and nothing touches the store:
//! the checks read the trusted-keys directory, the policy file, the store's blob directory
//! (one `stat` per blob) and the store filesystem's free space (`statvfs(3)`).
//!
//! The prerequisites:
//!
//! 1. the **snapshot key**: the trusted-keys directory loads and a key in it verifies the
//!    manifest signature (checked by the caller, which knows the manifest);
//! 2. the **upstream keyrings** ([`upstream_keyrings`]): for every APT source whose
//!    provenance import verifies ([`crate::provenance::check_apt`]), the keyring the
//!    manifest names is installed in `TRUSTED_KEYS/upstream/`, loads, and holds at least
//!    one of the keys that signed that upstream at sync time
//!    ([`formats::snapshot::Source::upstream_signers`]);
//! 3. the **policy keys** ([`policy_keys`]): every cosign key a `--policy` rule names
//!    exists and loads;
//! 4. **free space** ([`free_space`]): the blobs the store lacks fit on the store's
//!    filesystem with a margin ([`space_margin`]).

use std::path::{Path, PathBuf};

use formats::snapshot::{Manifest, SourceKind};
use keys::openpgp::Keyring;

use crate::provenance::{UPSTREAM_KEYRINGS_DIR, keyring_path, needs_keyring};

/// What the connected host runs to write the trust bundle (docs/user-guide.md §Keys).
pub const BUNDLE_COMMAND: &str = "mirror-sync keys bundle --config mirror.toml --out keys/trusted/";

/// Headroom kept free on the store's filesystem beyond the blobs an import writes:
/// 1 % of them, at least this many bytes (256 MiB), for the index, the audit log and the
/// file system's own metadata.
pub const MIN_SPACE_MARGIN: u64 = 256 * 1024 * 1024;

/// One unmet prerequisite: what is missing, and the command or step that fixes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Prerequisite {
    /// What is missing or wrong, naming the file or directory.
    pub what: String,
    /// How to fix it: a command to run, or a file to copy where.
    pub fix: String,
}

impl std::fmt::Display for Prerequisite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} — fix: {}", self.what, self.fix)
    }
}

/// The fix for a missing or wrong trust anchor in `trusted_dir`: write the bundle on the
/// connected host and copy `part` of it (`"keys/trusted/"`, or one keyring) to `dest`.
pub fn bundle_fix(part: &str, dest: &Path) -> String {
    format!(
        "on the connected host run `{BUNDLE_COMMAND}`, check the fingerprints it prints, then copy {part} to {}",
        dest.display()
    )
}

/// Prerequisite 2: the upstream keyrings the APT sources of `manifest` need, checked in
/// `trusted_dir/upstream/`. `unverified` marks a manifest whose signature did not verify
/// (the names are then only what the drive claims).
pub fn upstream_keyrings(
    manifest: &Manifest,
    trusted_dir: &Path,
    unverified: bool,
) -> Vec<Prerequisite> {
    let dir = trusted_dir.join(UPSTREAM_KEYRINGS_DIR);
    let claim = if unverified {
        " (named by the unverified manifest)"
    } else {
        ""
    };
    let mut out = Vec::new();
    for source in manifest
        .sources
        .iter()
        .filter(|s| s.kind == SourceKind::Apt && needs_keyring(manifest, &s.name))
    {
        let up = &source.name;
        let signers = if source.upstream_signers.is_empty() {
            String::new()
        } else {
            format!(
                " (it signed with {} at sync time)",
                source.upstream_signers.join(", ")
            )
        };
        let path = match keyring_path(up, source.upstream_keyring.as_deref(), &dir) {
            Ok(p) => p,
            Err(e) => {
                let dest = source
                    .upstream_keyring
                    .as_deref()
                    .map_or_else(|| dir.clone(), |n| dir.join(n));
                let part = source.upstream_keyring.as_deref().map_or_else(
                    || "keys/trusted/upstream/".to_owned(),
                    |n| format!("keys/trusted/upstream/{n}"),
                );
                out.push(Prerequisite {
                    what: format!("{e}{signers}{claim}"),
                    fix: bundle_fix(&part, &dest),
                });
                continue;
            }
        };
        let name = source.upstream_keyring.as_deref().unwrap_or_default();
        let fix = bundle_fix(&format!("keys/trusted/upstream/{name}"), &path);
        match Keyring::load(&path) {
            Err(e) => out.push(Prerequisite {
                what: format!("APT upstream {up}: upstream keyring {e}{claim}"),
                fix,
            }),
            Ok(ring) => {
                let held = ring.fingerprints();
                if !source.upstream_signers.is_empty()
                    && !held.iter().any(|f| source.upstream_signers.contains(f))
                {
                    out.push(Prerequisite {
                        what: format!(
                            "APT upstream {up}: upstream keyring {} holds {} but none of the keys that signed this upstream at sync time ({}){claim}",
                            path.display(),
                            held.join(", "),
                            source.upstream_signers.join(", ")
                        ),
                        fix,
                    });
                }
            }
        }
    }
    out
}

/// Prerequisite 3: every cosign key of every rule of the `--policy` file at `path` (TOML
/// `[verify]` table, see [`crate::import::load_policy`]) exists and loads. Returns the
/// unmet ones; a policy file that cannot be read or parsed is one unmet prerequisite (the
/// rules' syntax is checked in full by [`crate::import::load_policy`] afterwards).
pub fn policy_keys(path: &Path) -> Vec<Prerequisite> {
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(default)]
        verify: std::collections::BTreeMap<String, keys::cosign::VerifyRule>,
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            return vec![Prerequisite {
                what: format!("policy file {} cannot be read: {e}", path.display()),
                fix: "give --policy the path of the site's cosign policy (TOML [verify] table)"
                    .into(),
            }];
        }
    };
    let file = match toml::from_str::<File>(&text) {
        Ok(f) => f,
        Err(e) => {
            let reason = e
                .to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            return vec![Prerequisite {
                what: format!("policy file {}: {reason}", path.display()),
                fix: "correct it: a TOML [verify] table, e.g. \"nvcr.io/nvidia/*\" = { keys = [\"nvidia-cosign.pub\"], required = true }".into(),
            }];
        }
    };
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (pattern, rule) in &file.verify {
        for key in &rule.keys {
            let key_path = if key.is_absolute() {
                key.clone()
            } else {
                base.join(key)
            };
            if let Err(e) = keys::cosign::CosignKey::load(&key_path) {
                out.push(Prerequisite {
                    what: format!(
                        "policy {}, rule {pattern:?}: cosign key {}: {e}",
                        path.display(),
                        key_path.display()
                    ),
                    fix: format!(
                        "copy the cosign public key (PEM, \"-----BEGIN PUBLIC KEY-----\") of the image signer to {}",
                        key_path.display()
                    ),
                });
            }
        }
    }
    out
}

/// Bytes kept free beyond `needed` ([`MIN_SPACE_MARGIN`]).
pub fn space_margin(needed: u64) -> u64 {
    (needed / 100).max(MIN_SPACE_MARGIN)
}

/// Free bytes for an unprivileged writer (`f_bavail × f_frsize` of `statvfs(3)`) on the
/// filesystem of `path`, or of its nearest existing ancestor (a store not created yet).
///
/// Errors: `statvfs` fails on every ancestor (the message names the path).
pub fn available_bytes(path: &Path) -> Result<u64, String> {
    let mut p: PathBuf = if path.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        path.to_path_buf()
    };
    loop {
        if p.exists() {
            return statvfs_available(&p);
        }
        match p.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => p = parent.to_path_buf(),
            _ => return statvfs_available(Path::new(".")),
        }
    }
}

fn statvfs_available(p: &Path) -> Result<u64, String> {
    use std::os::unix::ffi::OsStrExt as _;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| format!("{}: path contains a NUL byte", p.display()))?;
    // SAFETY: `c` is a valid NUL-terminated path; `st` is a plain C struct that statvfs
    // fills in, zero-initialised before the call.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(format!(
            "{}: statvfs failed: {}",
            p.display(),
            std::io::Error::last_os_error()
        ));
    }
    // The field types differ between targets (u32 on some 32-bit ones).
    #[allow(clippy::useless_conversion)]
    let (avail, frsize) = (u64::from(st.f_bavail), u64::from(st.f_frsize));
    Ok(avail.saturating_mul(frsize))
}

/// Prerequisite 4: `needed` bytes (`blobs` blobs the store lacks) plus [`space_margin`]
/// fit in `available` bytes on the filesystem of `store`; `None` when they do.
pub fn free_space(store: &Path, needed: u64, blobs: u64, available: u64) -> Option<Prerequisite> {
    let margin = space_margin(needed);
    let want = needed.saturating_add(margin);
    if want <= available {
        return None;
    }
    Some(Prerequisite {
        what: format!(
            "the filesystem of the store {} has {} free; this import writes {} ({blobs} blob(s) the store lacks) and keeps {} free",
            store.display(),
            gib(available),
            gib(needed),
            gib(margin)
        ),
        fix: format!(
            "free at least {} on the filesystem of {} (or import into a store on a larger filesystem), then run the import again",
            gib(want - available),
            store.display()
        ),
    })
}

/// `bytes` in GiB with two decimals (`"1.50 GiB"`).
pub fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_is_refused_with_the_amount_to_free() {
        let store = Path::new("/srv/store");
        assert!(free_space(store, 1 << 30, 3, 2 << 30).is_none());
        let p = free_space(store, 10 << 30, 7, 4 << 30).unwrap();
        assert!(p.what.contains("4.00 GiB free"), "{p}");
        assert!(p.what.contains("writes 10.00 GiB (7 blob(s)"), "{p}");
        // 10 GiB + 1 % margin (102.4 MiB < 256 MiB, so 256 MiB) - 4 GiB.
        assert!(p.fix.contains("free at least 6.25 GiB"), "{p}");
        assert!(p.fix.contains("/srv/store"), "{p}");
        // The margin alone can refuse.
        assert!(free_space(store, 1, 1, MIN_SPACE_MARGIN).is_some());
        assert!(free_space(store, 0, 0, MIN_SPACE_MARGIN).is_none());
        assert_eq!(space_margin(1000 << 30), 10 << 30);
    }

    #[test]
    fn policy_keys_lists_every_missing_key_on_one_line_each() {
        let tmp = tempfile::tempdir().unwrap();
        let policy = tmp.path().join("policy.toml");
        let missing = policy_keys(&policy);
        assert_eq!(missing.len(), 1);
        assert!(missing[0].what.contains("cannot be read"), "{}", missing[0]);
        fs_write(&policy, "[verify\n\"x\" = 1\n");
        let bad = policy_keys(&policy);
        assert_eq!(bad.len(), 1);
        assert!(!bad[0].to_string().contains('\n'), "{}", bad[0]);
        fs_write(
            &policy,
            "[verify]\n\"a/*\" = { keys = [\"a.pub\", \"b.pub\"], required = true }\n\"c/*\" = { keys = [\"/nonexistent/c.pub\"] }\n",
        );
        let keys = policy_keys(&policy);
        assert_eq!(keys.len(), 3, "{keys:?}");
        assert!(
            keys[0]
                .fix
                .contains(&tmp.path().join("a.pub").display().to_string())
        );
        assert!(keys[2].what.contains("/nonexistent/c.pub"), "{}", keys[2]);
    }

    fn fs_write(p: &Path, text: &str) {
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn available_bytes_walks_up_to_an_existing_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let deep = tmp.path().join("not/yet/created");
        let a = available_bytes(&deep).unwrap();
        assert!(a > 0);
    }
}
