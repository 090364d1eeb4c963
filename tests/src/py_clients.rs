//! Real Python installers (pip, uv) against an index URL, isolated from the machine's
//! configuration.
//!
//! Both run with every `PIP_*` and `UV_*` variable and the HTTP proxy variables
//! removed from the environment (these machines set `PIP_FIND_LINKS` globally, which
//! would let pip satisfy requirements without the index under test).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Output, find_in_path, run_command, scrub_client_env};

/// `python3 -m pip install --no-cache-dir --index-url INDEX_URL --target TARGET
/// --disable-pip-version-check REQS` with `PIP_CONFIG_FILE=/dev/null`.
///
/// `index_url` is a PEP 503 simple index root such as `http://127.0.0.1:PORT/simple/`.
/// Installed distributions end up as `TARGET/<name>-<version>.dist-info`; read them with
/// [`installed_dists`].
pub fn pip_install(index_url: &str, target: &Path, reqs: &[&str]) -> Output {
    pip_install_with(index_url, target, reqs, &[])
}

/// [`pip_install`] with `extra_args` (e.g. `["--no-binary", "cube-util"]`, `["--pre"]`,
/// `["--only-binary", ":all:"]`) placed before the requirements.
pub fn pip_install_with(
    index_url: &str,
    target: &Path,
    reqs: &[&str],
    extra_args: &[&str],
) -> Output {
    let mut cmd = Command::new("python3");
    cmd.args([
        "-m",
        "pip",
        "install",
        "--no-cache-dir",
        "--index-url",
        index_url,
        "--target",
    ])
    .arg(target)
    .args([
        "--disable-pip-version-check",
        "--no-input",
        "--timeout",
        "30",
    ])
    .args(extra_args)
    .args(reqs);
    scrub_client_env(&mut cmd);
    cmd.env("PIP_CONFIG_FILE", "/dev/null");
    run_or_panic(&mut cmd)
}

/// `uv venv VENV --python python3` (only if `VENV/bin/python` does not exist yet), then
/// `uv pip install --python VENV/bin/python --index-url INDEX_URL --no-cache REQS`,
/// both with `UV_PYTHON_DOWNLOADS=never` and `UV_NO_CONFIG=1`.
///
/// Returns the failing `uv venv` output if the environment cannot be created, otherwise
/// the install's output. Read the result with [`venv_site_packages`] and
/// [`installed_dists`]. Panics if uv is not available (check [`crate::require_tool`]).
pub fn uv_install(index_url: &str, venv: &Path, reqs: &[&str]) -> Output {
    uv_install_with(index_url, venv, reqs, &[])
}

/// [`uv_install`] with `extra_args` (e.g. `["--no-binary", "cube-util"]`) placed before
/// the requirements.
pub fn uv_install_with(index_url: &str, venv: &Path, reqs: &[&str], extra_args: &[&str]) -> Output {
    let python = venv.join("bin/python");
    if !python.exists() {
        let mut cmd = uv_cmd();
        cmd.arg("venv").arg(venv).args(["--python", "python3"]);
        let out = run_or_panic(&mut cmd);
        if !out.success() {
            return out;
        }
    }
    let mut cmd = uv_cmd();
    cmd.args(["pip", "install", "--python"])
        .arg(&python)
        .args(["--index-url", index_url, "--no-cache"])
        .args(extra_args)
        .args(reqs);
    run_or_panic(&mut cmd)
}

/// A command that runs uv: `uv` from `PATH`, else `python3 -m uv` if that works.
pub fn uv_command() -> Option<Command> {
    if let Some(path) = find_in_path("uv") {
        return Some(Command::new(path));
    }
    let works = Command::new("python3")
        .args(["-m", "uv", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    works.then(|| {
        let mut c = Command::new("python3");
        c.args(["-m", "uv"]);
        c
    })
}

fn uv_cmd() -> Command {
    let Some(mut cmd) = uv_command() else {
        panic!("uv is not installed (neither `uv` on PATH nor `python3 -m uv`); see .ci/run");
    };
    scrub_client_env(&mut cmd);
    cmd.env("UV_PYTHON_DOWNLOADS", "never")
        .env("UV_NO_CONFIG", "1")
        .env("UV_HTTP_TIMEOUT", "30");
    cmd
}

fn run_or_panic(cmd: &mut Command) -> Output {
    match run_command(cmd) {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    }
}

/// `VENV/lib/python3.X/site-packages`, the first one found, if any.
pub fn venv_site_packages(venv: &Path) -> Option<PathBuf> {
    let mut libs: Vec<PathBuf> = fs::read_dir(venv.join("lib"))
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("python"))
        })
        .collect();
    libs.sort();
    libs.into_iter()
        .map(|p| p.join("site-packages"))
        .find(|p| p.is_dir())
}

/// Distributions installed in `site_dir`, as sorted `(name, version)` pairs read from
/// `<name>-<version>.dist-info` directory names (names as written there: `cube_client`).
pub fn installed_dists(site_dir: &Path) -> Vec<(String, String)> {
    let mut dists: Vec<(String, String)> = fs::read_dir(site_dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let stem = name.strip_suffix(".dist-info")?;
                    let (n, v) = stem.split_once('-')?;
                    Some((n.to_string(), v.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    dists.sort();
    dists
}

/// `(major, minor)` of `python3` on `PATH`, if it runs.
pub fn python_version() -> Option<(u32, u32)> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys; print(sys.version_info[0], sys.version_info[1])",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().map(|s| s.parse::<u32>());
    match (it.next(), it.next()) {
        (Some(Ok(a)), Some(Ok(b))) => Some((a, b)),
        _ => None,
    }
}
