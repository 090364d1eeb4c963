//! The local PyPI upstream: a static PEP 503 index written by
//! `fixtures/pypi/make_index.py` (see that script for the exact project set).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::{fixtures_dir, run_checked};

/// External programs [`build_pypi_upstream`] and [`crate::StaticServer`] need; pass to
/// [`crate::require_tools`] (add `"uv"` for [`crate::uv_install`]).
pub const REQUIRED_TOOLS: &[&str] = &["python3"];

/// `fixtures/pypi/make_index.py`.
pub fn make_index_script() -> PathBuf {
    fixtures_dir().join("pypi").join("make_index.py")
}

/// Writes the fixture index into `dir` and returns `dir`, which then holds
/// `simple/index.html`, `simple/<project>/index.html` and `packages/<file>`.
///
/// Serve `dir` (e.g. with [`crate::StaticServer`]) and use `URL/simple/` as the index
/// URL. The output is deterministic (byte-identical across runs). Contents:
///
/// | project | files |
/// |---|---|
/// | cube-client | 1.0.0, 2.0.0, 2.1.0 (yanked: "broken upload"); py3-none-any; requires-python `>=3.9`; `.metadata` advertised (PEP 658/714) |
/// | cube-proto | 1.0 (py3-none-any), 1.1 (cp311/cp312 manylinux_2_17_x86_64.manylinux2014_x86_64 and cp311 win_amd64 ONLY; Requires-Dist cube-util), 1.2rc1 (pre-release) |
/// | cube-util | 0.3 sdist (`cube_util-0.3.tar.gz`, buildable offline) and py3-none-any wheel |
/// | cube-win, cube-fast, cube-legacy | 1.0, excluded from cube-client's closure by marker / extra / marker |
///
/// Every wheel has `packages/<wheel>.metadata`; only cube-client's are advertised.
///
/// Errors: `python3` is missing or the script fails (its stderr is in the message).
pub fn build_pypi_upstream(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    run_checked(Command::new("python3").arg(make_index_script()).arg(dir))
        .context("building the PyPI fixture index with fixtures/pypi/make_index.py")?;
    Ok(dir.to_path_buf())
}

/// Writes the fixture set `set` of `make_index.py` (`"cube"`, `"resolve"`, `"attacker"`;
/// see the script) into `dir`, laid out as [`build_pypi_upstream`]'s.
///
/// Errors: `python3` is missing or the script fails.
pub fn build_pypi_set(dir: &Path, set: &str) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    run_checked(
        Command::new("python3")
            .arg(make_index_script())
            .arg(dir)
            .arg(set),
    )
    .with_context(|| format!("building the PyPI fixture set {set} with make_index.py"))?;
    Ok(dir.to_path_buf())
}

/// Lowercase hex sha256 of `packages/<filename>` in a fixture index written to `root`.
///
/// Panics when the file is missing (a fixture bug).
pub fn package_sha256(root: &Path, filename: &str) -> String {
    use sha2::Digest as _;
    let path = root.join("packages").join(filename);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    hex::encode(sha2::Sha256::digest(&bytes))
}

/// Wheel and sdist file names a resolver should fetch for `cube-client` on CPython 3.11
/// linux x86_64 (no extras): the closure a mirror of `cube-client` must serve.
pub const CUBE_CLIENT_CLOSURE_CP311: &[&str] = &[
    "cube_client-2.0.0-py3-none-any.whl",
    "cube_proto-1.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "cube_util-0.3-py3-none-any.whl",
];

/// Projects that must never be in a mirror of `cube-client` (excluded by
/// `sys_platform == "win32"`, `extra == "fast"` and `python_version < "3.8"`).
pub const CUBE_CLIENT_EXCLUDED: &[&str] = &["cube-win", "cube-fast", "cube-legacy"];
