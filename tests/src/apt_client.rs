//! `apt-get` in a private sandbox: its own configuration, sources, lists, cache and an
//! empty dpkg status, so the system's `/var/lib/apt` and `/etc/apt` are never read or
//! written.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use tempfile::TempDir;

use crate::{Output, run_command, scrub_client_env};

/// An isolated APT client (apt 2.6) driven through `APT_CONFIG`.
///
/// Layout inside its temporary directory (removed on drop):
///
/// ```text
/// apt.conf                 the APT_CONFIG file (see `IsolatedApt::new`)
/// etc/sources.list         the sources given to `new` / `set_sources`
/// etc/{apt.conf.d,sources.list.d,preferences.d,trusted.gpg.d}/   empty
/// state/status             empty dpkg status: nothing is installed
/// state/lists/             downloaded indexes
/// cache/archives/          downloaded .deb files (`downloaded_debs`)
/// work/                    current directory for commands (`apt-get download` output)
/// ```
pub struct IsolatedApt {
    dir: TempDir,
    conf: PathBuf,
}

impl IsolatedApt {
    /// Creates the sandbox with `sources` as the lines of `sources.list` (one-line
    /// style, e.g. `deb [signed-by=/k.gpg] http://127.0.0.1:PORT/repo/ stable main`).
    ///
    /// The configuration sets: `Dir::Etc::main "/dev/null"`, private
    /// `Dir::Etc::{Parts,SourceList,SourceParts,Preferences,PreferencesParts,Trusted,TrustedParts}`,
    /// `Dir::State`, `Dir::State::status` (empty), `Dir::Cache`, `Dir::Log`,
    /// `Debug::NoLocking "true"`, `APT::Sandbox::User "root"`, `Acquire::Languages
    /// "none"`, `APT::Architecture "amd64"`, `APT::Architectures { "amd64"; }`,
    /// `Acquire::Retries "0"`, `Acquire::http::Timeout "20"`, no proxy for 127.0.0.1
    /// and localhost, and keeps downloaded packages.
    ///
    /// Errors: the temporary directory cannot be created or written.
    pub fn new(sources: &[&str]) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("isolated-apt-").tempdir()?;
        let d = dir.path();
        let ds = d
            .to_str()
            .context("temporary directory path is not UTF-8")?;
        if ds.contains('"') {
            bail!("temporary directory path {ds:?} contains a quote; apt.conf cannot hold it");
        }
        for sub in [
            "etc/apt.conf.d",
            "etc/sources.list.d",
            "etc/preferences.d",
            "etc/trusted.gpg.d",
            "state/lists/partial",
            "cache/archives/partial",
            "log",
            "work",
        ] {
            fs::create_dir_all(d.join(sub))?;
        }
        fs::write(d.join("state/status"), b"")?;
        let conf_text = format!(
            r#"// TEST-ONLY isolated apt configuration
Dir::Etc::main "/dev/null";
Dir::Etc::Parts "{ds}/etc/apt.conf.d";
Dir::Etc::SourceList "{ds}/etc/sources.list";
Dir::Etc::SourceParts "{ds}/etc/sources.list.d";
Dir::Etc::Preferences "{ds}/etc/preferences";
Dir::Etc::PreferencesParts "{ds}/etc/preferences.d";
Dir::Etc::Trusted "{ds}/etc/trusted.gpg";
Dir::Etc::TrustedParts "{ds}/etc/trusted.gpg.d";
Dir::State "{ds}/state";
Dir::State::status "{ds}/state/status";
Dir::Cache "{ds}/cache";
Dir::Log "{ds}/log";
Debug::NoLocking "true";
APT::Sandbox::User "root";
Acquire::Languages "none";
APT::Architecture "amd64";
APT::Architectures {{ "amd64"; }};
Acquire::Retries "0";
Acquire::http::Timeout "20";
Acquire::http::Proxy::127.0.0.1 "DIRECT";
Acquire::http::Proxy::localhost "DIRECT";
APT::Keep-Downloaded-Packages "true";
Binary::apt::APT::Keep-Downloaded-Packages "true";
"#
        );
        let conf = d.join("apt.conf");
        fs::write(&conf, conf_text)?;
        let apt = IsolatedApt { dir, conf };
        apt.set_sources(sources)?;
        Ok(apt)
    }

    /// Replaces `sources.list` with `sources` (one line each). Lists already fetched stay
    /// until the next [`IsolatedApt::update`].
    ///
    /// Errors: the file cannot be written.
    pub fn set_sources(&self, sources: &[&str]) -> anyhow::Result<()> {
        let mut text = String::new();
        for line in sources {
            text.push_str(line);
            text.push('\n');
        }
        fs::write(self.dir.path().join("etc/sources.list"), text)?;
        Ok(())
    }

    /// The sandbox's root directory.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The `APT_CONFIG` file.
    pub fn config_path(&self) -> &Path {
        &self.conf
    }

    /// Where `apt-get install --download-only` puts `.deb` files (`Dir::Cache::archives`).
    pub fn archives_dir(&self) -> PathBuf {
        self.dir.path().join("cache/archives")
    }

    /// Where `apt-get update` stores indexes (`Dir::State::lists`).
    pub fn lists_dir(&self) -> PathBuf {
        self.dir.path().join("state/lists")
    }

    /// The current directory of every command (where `apt-get download` writes).
    pub fn work_dir(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// `apt-get update --error-on=any`: any failed fetch or signature check fails it.
    pub fn update(&self) -> Output {
        self.run(&["update", "--error-on=any"])
    }

    /// `apt-get install -y --download-only --no-install-recommends PKGS`; the resolved
    /// packages land in [`IsolatedApt::archives_dir`].
    pub fn install_download_only(&self, pkgs: &[&str]) -> Output {
        let mut args = vec![
            "install",
            "-y",
            "--download-only",
            "--no-install-recommends",
        ];
        args.extend_from_slice(pkgs);
        self.run(&args)
    }

    /// File names of the `.deb` files in [`IsolatedApt::archives_dir`], sorted, as apt
    /// names them (`<package>_<version>_<arch>.deb`, the epoch colon written `%3a`).
    pub fn downloaded_debs(&self) -> Vec<String> {
        list_debs(&self.archives_dir())
    }

    /// Deletes every downloaded `.deb` (like `apt-get clean` for the archives).
    ///
    /// Errors: a file cannot be removed.
    pub fn clear_downloads(&self) -> anyhow::Result<()> {
        for name in self.downloaded_debs() {
            fs::remove_file(self.archives_dir().join(name))?;
        }
        Ok(())
    }

    /// `apt-get ARGS` with this sandbox's `APT_CONFIG`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.tool("apt-get", args)
    }

    /// `apt-cache ARGS` (e.g. `policy cube-tool`, `show libcube1`) with this sandbox's
    /// `APT_CONFIG`.
    pub fn apt_cache(&self, args: &[&str]) -> Output {
        self.tool("apt-cache", args)
    }

    fn tool(&self, program: &str, args: &[&str]) -> Output {
        let mut cmd = Command::new(program);
        cmd.args(args).current_dir(self.work_dir());
        scrub_client_env(&mut cmd);
        cmd.env("APT_CONFIG", &self.conf)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("LC_ALL", "C");
        match run_command(&mut cmd) {
            Ok(out) => out,
            Err(e) => panic!("{e}"),
        }
    }
}

fn list_debs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".deb"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
