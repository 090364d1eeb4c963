//! Signed APT archives of any suite, each with its own key: the building block of a
//! multi-archive universe (a main archive and a separately signed security archive, as
//! Debian and Ubuntu publish them). TEST-ONLY; real `.deb` files ([`build_deb`]), real
//! `dpkg-scanpackages`, `apt-ftparchive` and `gpg`.
//!
//! Layout of one archive at `dir`:
//!
//! ```text
//! dir/gnupg/               throwaway GnuPG home (not served)
//! dir/<suite>-archive-keyring.gpg   the public keyring (binary), for signed-by=
//! dir/www/                 serve this: the archive root
//!   dists/<suite>/{InRelease,Release,Release.gpg}
//!   dists/<suite>/main/binary-amd64/Packages{,.gz,.xz}
//!   pool/main/<first letter>/<package>/<package>_<version>_<arch>.deb
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::apt_fixture::{DebSpec, build_deb, generate_test_key, sign_release};
use crate::run_checked;

/// One built archive.
#[derive(Debug, Clone)]
pub struct Archive {
    /// The archive root to serve (`dir/www`).
    pub root: PathBuf,
    /// Its suite (and codename).
    pub suite: String,
    /// Binary public keyring of its signing key.
    pub keyring: PathBuf,
    /// Primary key fingerprint.
    pub fingerprint: String,
    gnupg_home: PathBuf,
}

impl Archive {
    /// Builds an archive of `packages` for `suite` (component `main`, architecture
    /// `amd64`) signed by a fresh key with user id `uid`. `release_fields` are extra
    /// Release fields, e.g. `("NotAutomatic", "yes")`.
    ///
    /// Errors: a tool is missing or fails; the message names the step.
    pub fn build(
        dir: &Path,
        suite: &str,
        uid: &str,
        packages: &[DebSpec],
        release_fields: &[(&str, &str)],
    ) -> anyhow::Result<Archive> {
        let gnupg_home = dir.join("gnupg");
        let keyring = dir.join(format!("{suite}-archive-keyring.gpg"));
        let key = generate_test_key(&gnupg_home, uid, &keyring)?;
        let a = Archive {
            root: dir.join("www"),
            suite: suite.to_owned(),
            keyring,
            fingerprint: key.fingerprint,
            gnupg_home,
        };
        for p in packages {
            a.add(p)?;
        }
        a.publish(release_fields)?;
        Ok(a)
    }

    /// Adds `packages` to the pool and publishes the archive again (new indexes, a new
    /// signed `InRelease`), as an upstream does when it updates a suite.
    ///
    /// Errors: as [`Archive::build`].
    pub fn update(&self, packages: &[DebSpec]) -> anyhow::Result<()> {
        for p in packages {
            self.add(p)?;
        }
        self.publish(&[])
    }

    /// The `.deb` path of `spec` in the pool.
    pub fn deb_path(&self, spec: &DebSpec) -> PathBuf {
        let first: String = spec.package.chars().take(1).collect();
        self.root
            .join("pool/main")
            .join(first)
            .join(&spec.package)
            .join(spec.file_name())
    }

    fn add(&self, spec: &DebSpec) -> anyhow::Result<()> {
        let path = self.deb_path(spec);
        build_deb(spec, path.parent().context("pool path")?)?;
        Ok(())
    }

    /// Writes the indexes and the signed Release files (InRelease, Release.gpg).
    fn publish(&self, release_fields: &[(&str, &str)]) -> anyhow::Result<()> {
        let suite_dir = self.root.join("dists").join(&self.suite);
        let bin = suite_dir.join("main/binary-amd64");
        fs::create_dir_all(&bin)?;
        let packages = run_checked(
            Command::new("dpkg-scanpackages")
                .args(["--multiversion", "pool/"])
                .current_dir(&self.root),
        )
        .context("dpkg-scanpackages")?;
        fs::write(bin.join("Packages"), &packages)?;
        let xz = run_checked(
            Command::new("xz")
                .args(["-6", "-c"])
                .arg(bin.join("Packages")),
        )?;
        fs::write(bin.join("Packages.xz"), xz)?;
        let mut args: Vec<String> = vec![
            "-o".into(),
            "APT::FTPArchive::Release::Origin=Test".into(),
            "-o".into(),
            format!("APT::FTPArchive::Release::Suite={}", self.suite),
            "-o".into(),
            format!("APT::FTPArchive::Release::Codename={}", self.suite),
            "-o".into(),
            "APT::FTPArchive::Release::Architectures=amd64".into(),
            "-o".into(),
            "APT::FTPArchive::Release::Components=main".into(),
        ];
        for (k, v) in release_fields {
            args.push("-o".into());
            args.push(format!("APT::FTPArchive::Release::{k}={v}"));
        }
        args.extend(["release".into(), ".".into()]);
        let release = run_checked(
            Command::new("apt-ftparchive")
                .args(&args)
                .current_dir(&suite_dir),
        )
        .context("apt-ftparchive release")?;
        fs::write(suite_dir.join("Release"), release)?;
        sign_release(
            &self.gnupg_home,
            &self.fingerprint,
            &suite_dir.join("Release"),
            Some(&suite_dir.join("InRelease")),
            &suite_dir.join("Release.gpg"),
        )
    }
}
