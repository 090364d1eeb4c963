//! Step 1 of the PyPI upstreams, their configuration: the `[[pypi]]` table
//! ([`PypiUpstream`]) and its checks, per table ([`validate`]) and over all tables
//! ([`check_inputs`]). [`crate::config`] parses the file into these types, checks the
//! names across sections and calls these checks; this module never imports it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::Deserialize;

/// `[[pypi]]`: one PEP 503/691 index.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PypiUpstream {
    /// Name of the upstream (recorded in the manifest).
    pub name: String,
    /// Simple index URL (ends in `/simple/` usually).
    pub url: String,
    /// PEP 508 requirements (`requests>=2.31`, `vllm[audio]==0.6.3`). The requirements of
    /// every `[[pypi]]` table are resolved together, per target, into one consistent set
    /// of pins ([`crate::pypi::resolve`]). May be empty when another table lists them.
    #[serde(default)]
    pub projects: Vec<String>,
    /// Serve only the projects in [`PypiUpstream::bind`] from this index (uv's
    /// `explicit = true` indexes): it is never searched for any other project.
    #[serde(default)]
    pub explicit: bool,
    /// Projects bound to this index (`["torch", "triton"]`, PEP 503 names): they are taken
    /// from this index only, never from another one (no dependency confusion). A project
    /// may be bound to one index at most.
    #[serde(default)]
    pub bind: Vec<String>,
    /// pip requirements files in hash-checking mode (`name==1.0 --hash=sha256:<hex>`),
    /// relative to the config file: every line pinned and hashed, nothing else resolved
    /// ([`crate::pypi::lock`]).
    #[serde(default)]
    pub requirements: Vec<PathBuf>,
    /// PEP 751 lock files (`pylock.toml`), relative to the config file: exactly the listed
    /// files are taken, each checked against its listed hashes ([`crate::pypi::lock`]).
    #[serde(default)]
    pub lock: Vec<PathBuf>,
    /// Wheel platform tags to keep (`manylinux_2_17_x86_64`, `any`, …).
    #[serde(default = "default_platforms")]
    pub platforms: Vec<String>,
    /// Python versions (`3.11`) whose wheels and sdists are kept.
    #[serde(default = "default_pythons")]
    pub python: Vec<String>,
    /// Keep sdists too.
    #[serde(default)]
    pub sdists: bool,
}

fn default_platforms() -> Vec<String> {
    vec!["manylinux_2_17_x86_64".into(), "any".into()]
}
fn default_pythons() -> Vec<String> {
    vec!["3.12".into()]
}

/// Checks that the `[[pypi]]` tables, taken together, have something to mirror: at
/// least one requirement, requirements file or lock file (none when `tables` is empty).
///
/// Errors: `[[pypi]]: nothing to mirror; …`.
pub fn check_inputs(tables: &[PypiUpstream]) -> anyhow::Result<()> {
    if !tables.is_empty()
        && tables
            .iter()
            .all(|p| p.projects.is_empty() && p.requirements.is_empty() && p.lock.is_empty())
    {
        bail!(
            "[[pypi]]: nothing to mirror; list requirements in projects (or lock files in requirements / lock) of at least one [[pypi]] table"
        );
    }
    Ok(())
}

/// Checks one `[[pypi]]` table (called from [`crate::config::Config::validate`] after the
/// name, in config order): the url, `explicit` with `bind`, the bound project names, and
/// non-empty `python` and `platforms`. `bound` maps each normalized project name bound so
/// far to its table's name; this table's bindings are added.
///
/// Errors: the first rule broken, naming the table; a project bound to two tables.
pub fn validate(p: &PypiUpstream, bound: &mut BTreeMap<String, String>) -> anyhow::Result<()> {
    crate::fetch::check_url(&p.url).with_context(|| format!("[[pypi]] {}", p.name))?;
    if p.explicit && p.bind.is_empty() {
        bail!(
            "[[pypi]] {}: explicit = true serves only bound projects, but bind is empty; list them, e.g. bind = [\"torch\"]",
            p.name
        );
    }
    for b in &p.bind {
        if !formats::pypi::name::is_valid_project_name(b) {
            bail!("[[pypi]] {}: bind: {b:?} is not a project name", p.name);
        }
        let n = formats::pypi::name::normalize(b);
        if let Some(other) = bound.insert(n.clone(), p.name.clone()) {
            bail!(
                "project {n} is bound to both [[pypi]] {other} and [[pypi]] {}; bind it to one index",
                p.name
            );
        }
    }
    if p.python.is_empty() || p.platforms.is_empty() {
        bail!(
            "[[pypi]] {}: python and platforms must not be empty",
            p.name
        );
    }
    Ok(())
}
