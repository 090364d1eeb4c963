//! The suite's helpers on top of `testkit`: importing a hand-built drive with the real
//! `mirror-server import`, and the store fingerprints the refusal tests compare.

use std::path::Path;

#[allow(unused_imports)] // hostile.rs uses only `Fixture`.
pub use testkit::drive::{Fixture, OciFile, drive_blob};

/// `mirror-server import` of a [`Fixture`]'s drives (testkit does not link mirror-server).
pub trait Import {
    /// Runs `mirror-server import DRIVE --store … --trusted-keys … --quiet [extra…]`.
    fn import(&self, drive: &Path, extra: &[&str]) -> anyhow::Result<()>;
}

impl Import for Fixture {
    fn import(&self, drive: &Path, extra: &[&str]) -> anyhow::Result<()> {
        let mut args: Vec<std::ffi::OsString> = vec![
            "mirror-server".into(),
            "import".into(),
            drive.into(),
            "--store".into(),
            self.store.clone().into(),
            "--trusted-keys".into(),
            self.trusted.clone().into(),
            "--quiet".into(),
        ];
        args.extend(extra.iter().map(Into::into));
        mirror_server::cli::run(args)
    }
}

/// [`testkit::tree_digest`] of `root`, or `"absent"` when `root` does not exist (so a
/// store that a refused import created, even empty, does not compare equal to none).
#[allow(dead_code)]
pub fn tree_digest(root: &Path) -> String {
    if std::fs::symlink_metadata(root).is_err() {
        return "absent".into();
    }
    testkit::tree_digest(root)
}

/// [`tree_digest`] leaving out every entry whose path contains `audit` (the audit log, the
/// one file a refused import may change).
#[allow(dead_code)]
pub fn tree_digest_except_audit(root: &Path) -> String {
    if std::fs::symlink_metadata(root).is_err() {
        return "absent".into();
    }
    testkit::tree_digest_except_audit(root)
}
