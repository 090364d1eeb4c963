//! The local APT upstream: a signed standard repository and a signed flat repository,
//! built at test time from real `.deb` files by real Debian tools.
//!
//! Tools (Debian packages): `gpg`, `gpgconf` (gpg), `dpkg-deb` (dpkg),
//! `dpkg-scanpackages` (dpkg-dev), `apt-ftparchive` (apt-utils), `gzip`, `xz`
//! (xz-utils). Every `gpg` call uses `--homedir` with a throwaway home; the user's
//! keyrings are never touched.
//!
//! Layout written by [`build_apt_upstream`] into `dir`:
//!
//! ```text
//! dir/gnupg/                      throwaway GnuPG home (secret keys; not served)
//! dir/upstream-keyring.gpg        public keyring, binary OpenPGP (for signed-by=)
//! dir/www/                        AptUpstream::root: serve this directory
//! dir/www/standard/               standard repository (Debian archive layout)
//!   dists/stable/{InRelease,Release,Release.gpg}
//!   dists/stable/main/binary-amd64/Packages{,.gz,.xz}
//!   pool/main/<first letter>/<package>/<package>_<version>_<arch>.deb
//! dir/www/flat/                   flat repository (no dists/)
//!   Packages, Packages.gz, Release (SHA512 only), Release.gpg (no InRelease)
//!   <package>_<version>_<arch>.deb
//! ```
//!
//! Sources lines for a server serving `root` at `URL`:
//! `deb [signed-by=KEYRING] URL/standard/ stable main` and
//! `deb [signed-by=KEYRING] URL/flat/ /`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::run_checked;

/// External programs [`build_apt_upstream`] and a real apt client need; pass to
/// [`crate::require_tools`].
pub const REQUIRED_TOOLS: &[&str] = &[
    "gpg",
    "gpg-agent",
    "gpgv",
    "gpgconf",
    "dpkg-deb",
    "dpkg-scanpackages",
    "apt-ftparchive",
    "apt-get",
    "xz",
    "gzip",
    "python3",
];

/// User ID of the fixture's upstream archive key.
pub const KEY_UID: &str = "Mirror Test Upstream <upstream@example.invalid>";
/// Suite (and codename) of the standard repository.
pub const SUITE: &str = "stable";
/// The standard repository's only component.
pub const COMPONENT: &str = "main";
/// The standard repository's only architecture (plus `all` packages).
pub const ARCH: &str = "amd64";
/// `SOURCE_DATE_EPOCH` for `dpkg-deb` (2024-01-01T00:00:00Z): fixed member times.
pub const SOURCE_DATE_EPOCH: &str = "1704067200";

/// A built APT upstream (see the module docs for the layout).
#[derive(Debug, Clone)]
pub struct AptUpstream {
    /// Directory to serve; contains `standard/` and `flat/`.
    pub root: PathBuf,
    /// The standard repository (`dists/`, `pool/`), `root/standard`.
    pub standard: PathBuf,
    /// The flat repository, `root/flat`.
    pub flat: PathBuf,
    /// Binary (non-armored) public keyring holding the upstream key, for `signed-by=`
    /// and for the mirror's upstream trust configuration.
    pub keyring: PathBuf,
    /// Fingerprint (40 hex digits, upper case) of the primary key (certification only).
    pub fingerprint: String,
    /// Fingerprint of the Ed25519 signing subkey that made every signature.
    pub signing_subkey: String,
    /// The throwaway GnuPG home holding the secret keys.
    pub gnupg_home: PathBuf,
}

/// One binary package to build with `dpkg-deb`: its control fields and a single file,
/// `/usr/share/doc/<package>/README`.
#[derive(Debug, Clone)]
pub struct DebSpec {
    /// `Package` field.
    pub package: String,
    /// `Version` field (Debian Policy §5.6.12), e.g. `1.0+dfsg-1`.
    pub version: String,
    /// `Architecture` field, `amd64` or `all`.
    pub architecture: String,
    /// Further control fields in order, e.g. `("Depends", "cube-base")`.
    pub fields: Vec<(String, String)>,
    /// The DEP-5 `License:` short name of `/usr/share/doc/<package>/copyright`.
    pub license: String,
    /// `dpkg-deb -Z` compression of the data member (`xz`, `zstd`, `gzip`, `none`).
    pub compression: String,
    /// When set, `/usr/share/doc/<package>` is a symbolic link to this other package's
    /// documentation directory (Debian Policy §12.5) and the package has no README or
    /// copyright of its own.
    pub doc_link: Option<String>,
}

impl DebSpec {
    /// A package with no relationship fields.
    pub fn new(package: &str, version: &str, architecture: &str) -> Self {
        DebSpec {
            package: package.to_string(),
            version: version.to_string(),
            architecture: architecture.to_string(),
            fields: Vec::new(),
            license: "GPL-2+".to_string(),
            compression: "xz".to_string(),
            doc_link: None,
        }
    }

    /// Makes the documentation directory a link to `other`'s (builder style).
    pub fn doc_link(mut self, other: &str) -> Self {
        self.doc_link = Some(other.to_string());
        self
    }

    /// Sets the copyright file's DEP-5 license short name (builder style).
    pub fn license(mut self, short_name: &str) -> Self {
        self.license = short_name.to_string();
        self
    }

    /// Sets the data member's compression, as `dpkg-deb -Z` names it (builder style).
    pub fn compression(mut self, z: &str) -> Self {
        self.compression = z.to_string();
        self
    }

    /// The machine-readable (DEP-5) `usr/share/doc/<package>/copyright`.
    pub fn copyright(&self) -> String {
        format!(
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
             Upstream-Name: {}\n\n\
             Files: *\nCopyright: 2026 Mirror Test\nLicense: {}\n\n\
             Files: debian/*\nCopyright: 2026 Mirror Test\nLicense: GPL-2+\n",
            self.package, self.license
        )
    }

    /// Adds a control field (builder style).
    pub fn field(mut self, name: &str, value: &str) -> Self {
        self.fields.push((name.to_string(), value.to_string()));
        self
    }

    /// `<package>_<version without epoch>_<arch>.deb`, the pool file name.
    pub fn file_name(&self) -> String {
        let version = self
            .version
            .split_once(':')
            .map(|(_, v)| v)
            .unwrap_or(&self.version);
        format!("{}_{}_{}.deb", self.package, version, self.architecture)
    }

    /// The `DEBIAN/control` text (Debian Policy §5.3).
    pub fn control(&self) -> String {
        let mut c = format!(
            "Package: {}\nVersion: {}\nArchitecture: {}\n\
             Maintainer: Mirror Test <upstream@example.invalid>\n\
             Section: misc\nPriority: optional\n",
            self.package, self.version, self.architecture
        );
        for (k, v) in &self.fields {
            c.push_str(&format!("{k}: {v}\n"));
        }
        c.push_str(&format!(
            "Description: test-only fixture package {}\n \
             Part of the mirror's test fixtures; installs only a README.\n",
            self.package
        ));
        c
    }
}

/// The standard repository's packages.
///
/// `apt-get install cube-tool` resolves to cube-tool 1.0-1, libcube1 1.2-1 (not 1.1-1),
/// cube-base 1.0 (`all`, via Pre-Depends) and tiny-mta 2.0-1 (the only provider of
/// `mail-transport-agent`; `default-mta` does not exist). `cube-alt` needs the second
/// alternative of `missing-pkg | libcube1`. `unrelated` is in nobody's closure.
/// `cube-plus 1.0+dfsg-1` has a `+` that apt percent-encodes in URLs.
pub fn standard_packages() -> Vec<DebSpec> {
    vec![
        DebSpec::new("cube-tool", "1.0-1", "amd64")
            .field("Pre-Depends", "cube-base")
            .field(
                "Depends",
                "libcube1 (>= 1.2), default-mta | mail-transport-agent",
            ),
        DebSpec::new("libcube1", "1.1-1", "amd64").field("Depends", "cube-base"),
        DebSpec::new("libcube1", "1.2-1", "amd64").field("Depends", "cube-base"),
        DebSpec::new("cube-base", "1.0", "all"),
        DebSpec::new("tiny-mta", "2.0-1", "amd64").field("Provides", "mail-transport-agent"),
        DebSpec::new("cube-alt", "1.0-1", "amd64").field("Depends", "missing-pkg | libcube1"),
        DebSpec::new("unrelated", "9.9-1", "amd64")
            .license("Expat")
            .compression("zstd"),
        DebSpec::new("cube-plus", "1.0+dfsg-1", "amd64")
            .license("BSD-3-clause or Apache-2.0")
            .compression("gzip"),
    ]
}

/// The flat repository's packages: `apt-get install nv-tool` resolves to nv-tool 2.0-1
/// and nv-lib 1.1-1 (not 1.0-1). `cube-plus 1.0+dfsg-1` is byte-identical to the
/// standard repository's copy.
pub fn flat_packages() -> Vec<DebSpec> {
    vec![
        DebSpec::new("nv-lib", "1.0-1", "amd64"),
        DebSpec::new("nv-lib", "1.1-1", "amd64"),
        DebSpec::new("nv-tool", "2.0-1", "amd64").field("Depends", "nv-lib (>= 1.1)"),
        DebSpec::new("cube-plus", "1.0+dfsg-1", "amd64")
            .license("BSD-3-clause or Apache-2.0")
            .compression("gzip"),
    ]
}

/// Builds `spec` with `dpkg-deb --build --root-owner-group` into
/// `out_dir/<spec.file_name()>` and returns that path. Member times are fixed by
/// [`SOURCE_DATE_EPOCH`], so equal specs give equal bytes.
///
/// Errors: a scratch directory cannot be written, or dpkg-deb rejects the package.
pub fn build_deb(spec: &DebSpec, out_dir: &Path) -> anyhow::Result<PathBuf> {
    let scratch = tempfile::Builder::new().prefix("debroot-").tempdir()?;
    let root = scratch.path().join("root");
    let debian = root.join("DEBIAN");
    let doc = root.join("usr/share/doc").join(&spec.package);
    fs::create_dir_all(&debian)?;
    fs::create_dir_all(root.join("usr/share/doc"))?;
    let mut dirs = vec![
        root.clone(),
        debian.clone(),
        root.join("usr"),
        root.join("usr/share"),
        root.join("usr/share/doc"),
    ];
    let mut files = vec![debian.join("control")];
    fs::write(debian.join("control"), spec.control())?;
    match &spec.doc_link {
        Some(other) => std::os::unix::fs::symlink(other, &doc)?,
        None => {
            fs::create_dir_all(&doc)?;
            dirs.push(doc.clone());
            fs::write(
                doc.join("README"),
                format!(
                    "TEST-ONLY fixture: {} {} ({}).\n",
                    spec.package, spec.version, spec.architecture
                ),
            )?;
            fs::write(doc.join("copyright"), spec.copyright())?;
            files.extend([doc.join("README"), doc.join("copyright")]);
        }
    }
    for d in dirs {
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755))?;
    }
    for f in files {
        fs::set_permissions(&f, fs::Permissions::from_mode(0o644))?;
    }
    fs::create_dir_all(out_dir)?;
    let out = out_dir.join(spec.file_name());
    run_checked(
        Command::new("dpkg-deb")
            .args(["--build", "--root-owner-group"])
            .arg(format!("-Z{}", spec.compression))
            .arg(&root)
            .arg(&out)
            .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH),
    )
    .with_context(|| format!("building {}", spec.file_name()))?;
    Ok(out)
}

/// A generated OpenPGP key: Ed25519 certification-only primary key plus an Ed25519
/// signing subkey, like Debian's archive keys.
#[derive(Debug, Clone)]
pub struct TestKey {
    /// The GnuPG home holding its secret parts.
    pub gnupg_home: PathBuf,
    /// Primary key fingerprint (40 upper-case hex digits).
    pub fingerprint: String,
    /// Signing subkey fingerprint.
    pub signing_subkey: String,
    /// Binary public keyring (`gpg --export`).
    pub keyring: PathBuf,
}

/// `gpg --homedir HOME --batch ARGS` (stdout returned).
///
/// Errors: gpg cannot be started or fails (stderr in the message).
pub fn gpg(home: &Path, args: &[&str]) -> anyhow::Result<Vec<u8>> {
    run_checked(
        Command::new("gpg")
            .arg("--homedir")
            .arg(home)
            .args(["--batch", "--no-tty"])
            .args(args),
    )
}

/// Stops the `gpg-agent` a GnuPG home started (`gpgconf --homedir HOME --kill
/// gpg-agent`); best effort, errors ignored.
pub fn stop_gpg_agent(home: &Path) {
    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(home)
        .args(["--kill", "gpg-agent"])
        .output();
}

/// Creates `gnupg_home` (mode 0700) and generates in it a key for `uid`:
/// `--quick-gen-key UID ed25519 cert never`, then `--quick-add-key FPR ed25519 sign
/// never`, no passphrase. Exports the public keyring in binary form to `keyring_out`.
///
/// Errors: any gpg step fails, or its fingerprints cannot be read.
pub fn generate_test_key(
    gnupg_home: &Path,
    uid: &str,
    keyring_out: &Path,
) -> anyhow::Result<TestKey> {
    fs::create_dir_all(gnupg_home)?;
    fs::set_permissions(gnupg_home, fs::Permissions::from_mode(0o700))?;
    let result = (|| {
        gpg(
            gnupg_home,
            &[
                "--passphrase",
                "",
                "--quick-gen-key",
                uid,
                "ed25519",
                "cert",
                "never",
            ],
        )?;
        let fprs = fingerprints(gnupg_home)?;
        let Some(primary) = fprs.first().cloned() else {
            bail!("gpg generated no key in {}", gnupg_home.display());
        };
        gpg(
            gnupg_home,
            &[
                "--passphrase",
                "",
                "--quick-add-key",
                &primary,
                "ed25519",
                "sign",
                "never",
            ],
        )?;
        let fprs = fingerprints(gnupg_home)?;
        let Some(subkey) = fprs.get(1).cloned() else {
            bail!("gpg added no signing subkey in {}", gnupg_home.display());
        };
        let public = gpg(gnupg_home, &["--export", &primary])?;
        if public.is_empty() {
            bail!("gpg --export {primary} wrote nothing");
        }
        fs::write(keyring_out, public)?;
        Ok(TestKey {
            gnupg_home: gnupg_home.to_path_buf(),
            fingerprint: primary,
            signing_subkey: subkey,
            keyring: keyring_out.to_path_buf(),
        })
    })();
    stop_gpg_agent(gnupg_home);
    result.with_context(|| format!("generating a test key for {uid:?}"))
}

/// Fingerprints in `--list-keys --with-colons` order: primary first, then subkeys.
fn fingerprints(home: &Path) -> anyhow::Result<Vec<String>> {
    let out = gpg(home, &["--with-colons", "--list-keys"])?;
    Ok(String::from_utf8_lossy(&out)
        .lines()
        .filter(|l| l.starts_with("fpr:"))
        .filter_map(|l| l.split(':').nth(9).map(str::to_string))
        .collect())
}

/// Builds the whole APT upstream into `dir` (see the module docs): a fresh key, the
/// [`standard_packages`] and [`flat_packages`], indexes and signatures.
///
/// Errors: any tool is missing or fails; the message names the step.
pub fn build_apt_upstream(dir: &Path) -> anyhow::Result<AptUpstream> {
    let gnupg_home = dir.join("gnupg");
    let keyring = dir.join("upstream-keyring.gpg");
    let key = generate_test_key(&gnupg_home, KEY_UID, &keyring)?;
    let root = dir.join("www");
    let up = AptUpstream {
        standard: root.join("standard"),
        flat: root.join("flat"),
        root,
        keyring,
        fingerprint: key.fingerprint,
        signing_subkey: key.signing_subkey,
        gnupg_home,
    };
    fs::create_dir_all(&up.standard)?;
    fs::create_dir_all(&up.flat)?;

    // Build each distinct package once, then copy: a package in both repositories is
    // byte-identical in both.
    let built = dir.join("built-debs");
    for spec in standard_packages() {
        up.add_standard_deb_from(&spec, &built)?;
    }
    for spec in flat_packages() {
        up.add_flat_deb_from(&spec, &built)?;
    }
    fs::remove_dir_all(&built)?;
    up.refresh_standard()?;
    up.refresh_flat()?;
    Ok(up)
}

impl AptUpstream {
    /// `deb [signed-by=KEYRING] BASE/standard/ stable main`, for a server serving
    /// [`AptUpstream::root`] at `base_url` (no trailing slash).
    pub fn standard_source_line(&self, base_url: &str) -> String {
        format!(
            "deb [signed-by={}] {base_url}/standard/ {SUITE} {COMPONENT}",
            self.keyring.display()
        )
    }

    /// `deb [signed-by=KEYRING] BASE/flat/ /`, for a server serving
    /// [`AptUpstream::root`] at `base_url` (no trailing slash).
    pub fn flat_source_line(&self, base_url: &str) -> String {
        format!(
            "deb [signed-by={}] {base_url}/flat/ /",
            self.keyring.display()
        )
    }

    /// Pool directory of `package` in the standard repository:
    /// `pool/main/<first letter>/<package>`.
    pub fn pool_dir(&self, package: &str) -> PathBuf {
        let first: String = package.chars().take(1).collect();
        self.standard
            .join("pool")
            .join(COMPONENT)
            .join(first)
            .join(package)
    }

    /// Builds `spec` into the standard repository's pool and returns its path. Call
    /// [`AptUpstream::refresh_standard`] afterwards to publish it.
    ///
    /// Errors: see [`build_deb`].
    pub fn add_standard_deb(&self, spec: &DebSpec) -> anyhow::Result<PathBuf> {
        build_deb(spec, &self.pool_dir(&spec.package))
    }

    /// Builds `spec` into the flat repository and returns its path. Call
    /// [`AptUpstream::refresh_flat`] afterwards to publish it.
    ///
    /// Errors: see [`build_deb`].
    pub fn add_flat_deb(&self, spec: &DebSpec) -> anyhow::Result<PathBuf> {
        build_deb(spec, &self.flat)
    }

    fn add_standard_deb_from(&self, spec: &DebSpec, built: &Path) -> anyhow::Result<()> {
        let src = cached_build(spec, built)?;
        let dest_dir = self.pool_dir(&spec.package);
        fs::create_dir_all(&dest_dir)?;
        fs::copy(&src, dest_dir.join(spec.file_name()))?;
        Ok(())
    }

    fn add_flat_deb_from(&self, spec: &DebSpec, built: &Path) -> anyhow::Result<()> {
        let src = cached_build(spec, built)?;
        fs::copy(&src, self.flat.join(spec.file_name()))?;
        Ok(())
    }

    /// Regenerates the standard repository's indexes from the pool and re-signs:
    /// `dpkg-scanpackages --multiversion pool/` into
    /// `dists/stable/main/binary-amd64/Packages` (+ `.gz`, `.xz`), `apt-ftparchive
    /// release` (Origin/Label `Test`, Suite/Codename `stable`, Architectures `amd64`,
    /// Components `main`; written outside `dists/stable`, then moved in), then
    /// `InRelease` (`gpg --clearsign`) and `Release.gpg` (`gpg --armor --detach-sign`).
    ///
    /// Errors: any tool fails.
    pub fn refresh_standard(&self) -> anyhow::Result<()> {
        let suite_dir = self.standard.join("dists").join(SUITE);
        let bin_dir = suite_dir.join(COMPONENT).join(format!("binary-{ARCH}"));
        fs::create_dir_all(&bin_dir)?;
        let packages = run_checked(
            Command::new("dpkg-scanpackages")
                .args(["--multiversion", "pool/"])
                .current_dir(&self.standard),
        )
        .context("dpkg-scanpackages for the standard repository")?;
        write_compressed_indexes(&bin_dir, &packages, true)?;
        for stale in ["Release", "InRelease", "Release.gpg"] {
            remove_if_exists(&suite_dir.join(stale))?;
        }
        let release = run_checked(
            Command::new("apt-ftparchive")
                .args([
                    "-o",
                    "APT::FTPArchive::Release::Origin=Test",
                    "-o",
                    "APT::FTPArchive::Release::Label=Test",
                    "-o",
                    &format!("APT::FTPArchive::Release::Suite={SUITE}"),
                    "-o",
                    &format!("APT::FTPArchive::Release::Codename={SUITE}"),
                    "-o",
                    &format!("APT::FTPArchive::Release::Architectures={ARCH}"),
                    "-o",
                    &format!("APT::FTPArchive::Release::Components={COMPONENT}"),
                    "release",
                    ".",
                ])
                .current_dir(&suite_dir),
        )
        .context("apt-ftparchive release for the standard repository")?;
        let outside = self
            .standard
            .join("dists")
            .join(format!(".{SUITE}-Release.new"));
        fs::write(&outside, &release)?;
        fs::rename(&outside, suite_dir.join("Release"))?;
        self.sign(
            &suite_dir.join("Release"),
            Some(&suite_dir.join("InRelease")),
            &suite_dir.join("Release.gpg"),
        )
    }

    /// Regenerates the flat repository's indexes and re-signs: `dpkg-scanpackages
    /// --multiversion .` into `Packages` (+ `.gz`; `Filename: ./<file>.deb`), a
    /// `Release` with SHA512 checksums ONLY (checked), and `Release.gpg`. No `InRelease`
    /// is written.
    ///
    /// Errors: any tool fails, or apt-ftparchive wrote another checksum kind.
    pub fn refresh_flat(&self) -> anyhow::Result<()> {
        let packages = run_checked(
            Command::new("dpkg-scanpackages")
                .args(["--multiversion", "."])
                .current_dir(&self.flat),
        )
        .context("dpkg-scanpackages for the flat repository")?;
        write_compressed_indexes(&self.flat, &packages, false)?;
        for stale in ["Release", "InRelease", "Release.gpg"] {
            remove_if_exists(&self.flat.join(stale))?;
        }
        let release = run_checked(
            Command::new("apt-ftparchive")
                .args([
                    "-o",
                    "APT::FTPArchive::MD5=false",
                    "-o",
                    "APT::FTPArchive::SHA1=false",
                    "-o",
                    "APT::FTPArchive::SHA256=false",
                    "-o",
                    "APT::FTPArchive::SHA512=true",
                    "-o",
                    "APT::FTPArchive::Release::Origin=Test",
                    "-o",
                    "APT::FTPArchive::Release::Label=Test flat",
                    "release",
                    ".",
                ])
                .current_dir(&self.flat),
        )
        .context("apt-ftparchive release for the flat repository")?;
        let text = String::from_utf8_lossy(&release);
        let has = |field: &str| text.lines().any(|l| l.trim_end() == field);
        if !has("SHA512:") || has("MD5Sum:") || has("SHA1:") || has("SHA256:") {
            bail!("flat Release must list SHA512 only, apt-ftparchive wrote:\n{text}");
        }
        let outside = self.root.join(".flat-Release.new");
        fs::write(&outside, &release)?;
        fs::rename(&outside, self.flat.join("Release"))?;
        self.sign(
            &self.flat.join("Release"),
            None,
            &self.flat.join("Release.gpg"),
        )
    }

    /// Signs `release` with the upstream signing subkey (SHA512 digest): a clear-signed
    /// copy to `inrelease` if given, and an armored detached signature to `detached`
    /// ([`sign_release`]).
    ///
    /// Errors: gpg fails.
    pub fn sign(
        &self,
        release: &Path,
        inrelease: Option<&Path>,
        detached: &Path,
    ) -> anyhow::Result<()> {
        sign_release(
            &self.gnupg_home,
            &self.fingerprint,
            release,
            inrelease,
            detached,
        )
    }
}

/// Signs `release` with the key `fingerprint` of the GnuPG home `gnupg_home` (SHA512
/// digest), as an archive does: a clear-signed copy to `inrelease` if given, and an
/// armored detached signature to `detached` (`Release.gpg`). Stops the home's gpg-agent
/// afterwards.
///
/// Errors: gpg fails.
pub fn sign_release(
    gnupg_home: &Path,
    fingerprint: &str,
    release: &Path,
    inrelease: Option<&Path>,
    detached: &Path,
) -> anyhow::Result<()> {
    let release_s = release.to_string_lossy().into_owned();
    let result = (|| -> anyhow::Result<()> {
        if let Some(inrelease) = inrelease {
            let out = inrelease.to_string_lossy().into_owned();
            gpg(
                gnupg_home,
                &[
                    "--yes",
                    "--local-user",
                    fingerprint,
                    "--digest-algo",
                    "SHA512",
                    "--clearsign",
                    "--output",
                    &out,
                    &release_s,
                ],
            )?;
        }
        let out = detached.to_string_lossy().into_owned();
        gpg(
            gnupg_home,
            &[
                "--yes",
                "--local-user",
                fingerprint,
                "--digest-algo",
                "SHA512",
                "--armor",
                "--detach-sign",
                "--output",
                &out,
                &release_s,
            ],
        )?;
        Ok(())
    })();
    stop_gpg_agent(gnupg_home);
    result.with_context(|| format!("signing {}", release.display()))
}

fn cached_build(spec: &DebSpec, built: &Path) -> anyhow::Result<PathBuf> {
    let path = built.join(spec.file_name());
    if path.exists() {
        Ok(path)
    } else {
        build_deb(spec, built)
    }
}

fn remove_if_exists(path: &Path) -> anyhow::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

/// Writes `Packages`, `Packages.gz` (`gzip -9n`) and, if `xz`, `Packages.xz` into `dir`.
fn write_compressed_indexes(dir: &Path, packages: &[u8], xz: bool) -> anyhow::Result<()> {
    let plain = dir.join("Packages");
    fs::write(&plain, packages)?;
    let gz = run_checked(Command::new("gzip").args(["-9", "-n", "-c"]).arg(&plain))?;
    fs::write(dir.join("Packages.gz"), gz)?;
    if xz {
        let x = run_checked(Command::new("xz").args(["-6", "-c"]).arg(&plain))?;
        fs::write(dir.join("Packages.xz"), x)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb_file_names_drop_the_epoch() {
        assert_eq!(
            DebSpec::new("cube-plus", "1.0+dfsg-1", "amd64").file_name(),
            "cube-plus_1.0+dfsg-1_amd64.deb"
        );
        assert_eq!(
            DebSpec::new("x", "2:1.0-1", "all").file_name(),
            "x_1.0-1_all.deb"
        );
    }

    #[test]
    fn control_has_fields_in_order() {
        let c = DebSpec::new("cube-alt", "1.0-1", "amd64")
            .field("Depends", "missing-pkg | libcube1")
            .control();
        assert!(c.starts_with("Package: cube-alt\nVersion: 1.0-1\nArchitecture: amd64\n"));
        assert!(c.contains("\nDepends: missing-pkg | libcube1\nDescription: "));
        assert!(c.ends_with(".\n"));
    }
}
