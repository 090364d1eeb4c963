//! Test harness shared by the end-to-end tests.
//!
//! Everything here is TEST-ONLY. It builds local, offline upstreams from real tools and
//! real package files, serves them on `127.0.0.1`, and drives real clients against a
//! server:
//!
//! - [`apt_fixture`]: a signed standard APT repository and a signed flat repository,
//!   built at test time with `gpg`, `dpkg-deb`, `dpkg-scanpackages` and `apt-ftparchive`
//!   ([`build_apt_upstream`]).
//! - [`pypi_fixture`]: a static PEP 503 index of real wheels and an sdist, written by
//!   `fixtures/pypi/make_index.py` ([`build_pypi_upstream`]).
//! - [`oci_fixture`]: a real `docker-registry` (optionally behind token auth), OCI
//!   image layouts written byte-for-byte and pushed with `skopeo`, an OCI 1.1 referrer
//!   and cosign-style signatures made with the `openssl` CLI.
//! - [`server`]: [`StaticServer`], `python3 -m http.server` on an ephemeral port (from
//!   `testkit`).
//! - [`apt_archives`]: signed archives of any suite, each with its own key (a
//!   multi-archive universe).
//! - [`apt_client`]: [`IsolatedApt`], `apt-get` with a private `APT_CONFIG`.
//! - [`py_clients`]: [`pip_install`], [`uv_install`] and helpers to read what they
//!   installed.
//! - [`world`]: the standard APT + PyPI scenario (upstreams, keys, trust bundle, config).
//! - [`tree`]: [`tree_digest`] / [`tree_manifest`] to prove a directory is byte-for-byte
//!   unchanged (from `testkit`).
//!
//! Every external command's result is an [`Output`] (from `testkit`); [`require_tool`] decides whether a
//! test runs (tools are mandatory when the `CI` environment variable is set).

pub mod apt_archives;
pub mod apt_client;
pub mod apt_fixture;
pub mod big_upstream;
pub mod fault_proxy;
pub mod nvidia_fixture;
pub mod oci_fixture;
pub mod product;
pub mod py_clients;
pub mod pypi_fixture;
pub mod tls_ca;
pub mod world;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use apt_client::IsolatedApt;
pub use apt_fixture::{AptUpstream, build_apt_upstream};
pub use py_clients::{pip_install, uv_install};
pub use pypi_fixture::build_pypi_upstream;
// Moved to the dev-only `testkit` crate; re-exported so `mirror_e2e::…` paths still work.
pub use testkit::output::{Output, run_checked, run_command};
pub use testkit::server::{self, StaticServer};
pub use testkit::tree::{self, tree_digest, tree_digest_except_audit, tree_manifest};

/// Removes variables that would redirect a client to another server or index: HTTP
/// proxies, and everything starting with `PIP_` or `UV_` (these machines set
/// `PIP_FIND_LINKS` globally).
pub fn scrub_client_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        let upper = k.to_ascii_uppercase();
        if upper.starts_with("PIP_")
            || upper.starts_with("UV_")
            || matches!(
                upper.as_str(),
                "HTTP_PROXY" | "HTTPS_PROXY" | "ALL_PROXY" | "NO_PROXY"
            )
        {
            cmd.env_remove(&key);
        }
    }
    cmd.env("LC_ALL", "C.UTF-8");
}

/// The repository's `fixtures/` directory (`$CARGO_MANIFEST_DIR/../fixtures`).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("fixtures")
}

/// Path of a workspace binary (e.g. `mirror-sync`, `mirror-server`) next to the
/// running test executable: `target/<profile>/<name>`.
///
/// Binaries of other packages exist only if cargo built them: `cargo test --workspace`
/// does; `cargo test -p mirror-e2e` alone does not (build them first with
/// `cargo build -p mirror-sync -p mirror-server`).
///
/// Errors: the test executable's location is unknown, or the binary is not built.
pub fn workspace_bin(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/<test-binary> -> target/<profile>/<name>
    let profile_dir = exe
        .parent()
        .and_then(|deps| {
            if deps.ends_with("deps") {
                deps.parent()
            } else {
                Some(deps)
            }
        })
        .ok_or_else(|| {
            anyhow::anyhow!("cannot locate the target directory from {}", exe.display())
        })?;
    let bin = profile_dir.join(name);
    if !bin.is_file() {
        anyhow::bail!(
            "{} is not built; run `cargo build -p {name}` (or `cargo test --workspace`) first",
            bin.display()
        );
    }
    Ok(bin)
}

/// The first executable named `name` on `PATH`, if any.
pub fn find_in_path(name: impl AsRef<OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let name = name.as_ref();
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Whether the environment variable `CI` is set to something other than empty, `0` or
/// `false`.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| !matches!(v.trim(), "" | "0" | "false" | "False" | "FALSE"))
        .unwrap_or(false)
}

/// Whether external tool `name` is available, deciding whether a test may run.
///
/// `uv` also counts as available when only `python3 -m uv` works. When the tool is
/// missing: panics under CI (CI must install every tool, see `.ci/run`); otherwise
/// prints `skipping: <tool> not installed` and returns `false`, and the test should
/// return early.
#[track_caller]
pub fn require_tool(name: &str) -> bool {
    let present =
        find_in_path(name).is_some() || (name == "uv" && py_clients::uv_command().is_some());
    if present {
        return true;
    }
    if in_ci() {
        panic!(
            "required tool `{name}` is not installed, and CI is set: CI must provide it \
             (see deploy/test-deps.sh, which .ci/run calls)"
        );
    }
    eprintln!("skipping: {name} not installed");
    false
}

/// [`require_tool`] for each name; `true` only if all are available.
#[track_caller]
pub fn require_tools(names: &[&str]) -> bool {
    names.iter().all(|n| require_tool(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tool_skips_or_panics_under_ci() {
        let name = "mirror-e2e-no-such-tool";
        assert!(find_in_path(name).is_none());
        if in_ci() {
            let r = std::panic::catch_unwind(|| require_tool(name));
            assert!(r.is_err(), "under CI a missing tool must fail the test");
        } else {
            assert!(!require_tool(name));
        }
        assert!(require_tool("sh"), "sh is always installed");
    }
}
