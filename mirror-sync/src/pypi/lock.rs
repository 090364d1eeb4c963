//! Lock-file inputs of a `[[pypi]]` table: pinned exactly, nothing else resolved.
//!
//! - **`requirements = ["locks/requirements.txt"]`**: pip requirements files in
//!   hash-checking mode (pip's "Secure installs" / `--require-hashes`): every requirement
//!   is `name==version` (or `===`), optionally with extras and a PEP 508 marker, and
//!   carries one or more `--hash=sha256:<hex>` options. Comments (`#` at the start of a
//!   line or after whitespace), blank lines and `\` continuation lines are understood;
//!   the global options `--require-hashes`, `--index-url`, `--extra-index-url`,
//!   `--trusted-host`, `--prefer-binary`, `--only-binary` and `--no-binary` are ignored
//!   (the index is the configuration's routing). `-r`, `-c`, `-e`, direct URLs and any
//!   unpinned or unhashed line are errors naming the file and line.
//! - **`lock = ["pylock.toml"]`**: PEP 751 lock files. Each `[[packages]]` entry needs
//!   `name` and `version` and lists its files in `wheels` and/or `sdist`, each with `url`
//!   and/or `name` (the file name) and `hashes` (a `sha256` entry is required). Packages
//!   with `vcs`, `directory` or `archive` sources are refused. A package's `marker` is
//!   evaluated per target.
//!
//! Parsing is pure ([`parse_requirements`], [`parse_pylock`]); which files of the index
//! a [`LockedPackage`] takes is decided by the sync ([`crate::pypi::sync`]): the files of
//! that version whose index sha256 is one of the listed hashes (requirements) or whose
//! file name is listed (pylock, where the listed sha256 must equal the index's), and that
//! fit a configured target. Every download is checked against the listed sha256.

use std::path::Path;
use std::str::FromStr as _;

use anyhow::{Context, anyhow, bail};
use formats::pypi::name::normalize;
use pep440_rs::{Operator, Version};
use pep508_rs::{MarkerTree, Requirement, VersionOrUrl};

/// Which files of a locked release to take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockedFiles {
    /// requirements.txt: any file of the release whose sha256 is listed (lowercase hex).
    Hashes(Vec<String>),
    /// pylock.toml: exactly these files.
    Files(Vec<LockedFile>),
}

/// One file a `pylock.toml` lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedFile {
    /// The file name (`name`, else the last path segment of `url`).
    pub filename: String,
    /// The listed sha256, lowercase hex.
    pub sha256: String,
}

/// One pinned release from a lock file.
#[derive(Debug, Clone)]
pub struct LockedPackage {
    /// Project name, normalized (PEP 503).
    pub project: String,
    /// The pinned version.
    pub version: Version,
    /// PEP 508 marker; the package is taken for the targets where it holds.
    pub marker: Option<MarkerTree>,
    /// The files to take.
    pub files: LockedFiles,
    /// Where it was listed (`locks/requirements.txt:12`), for error messages.
    pub origin: String,
}

/// Global options of requirements files that do not change which files are taken.
const IGNORED_OPTIONS: &[&str] = &[
    "--require-hashes",
    "--index-url",
    "-i",
    "--extra-index-url",
    "--trusted-host",
    "--prefer-binary",
    "--only-binary",
    "--no-binary",
    "--find-links",
    "-f",
    "--no-index",
];

/// Strips a `#` comment: at the start of a line or after whitespace (pip's rule).
fn strip_comment(line: &str) -> &str {
    let b = line.as_bytes();
    for (i, c) in b.iter().enumerate() {
        if *c == b'#' && (i == 0 || b[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

/// Parses a requirements file in hash-checking mode. `shown` names the file in errors.
///
/// Returns the packages in file order. Errors (each naming `shown:<line>`): a line that
/// is not a PEP 508 requirement, not pinned with `==`/`===` to one version (wildcards
/// refused), without a `--hash=sha256:<64 hex>`, with a direct URL, an include (`-r`,
/// `-c`), an editable (`-e`) or an unknown option.
pub fn parse_requirements(text: &str, shown: &str) -> anyhow::Result<Vec<LockedPackage>> {
    // Logical lines: join `\` continuations, remembering the first physical line.
    let mut logical: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let no = i + 1;
        let line = strip_comment(raw);
        let (body, cont) = match line.trim_end().strip_suffix('\\') {
            Some(b) => (b.to_owned(), true),
            None => (line.to_owned(), false),
        };
        let acc = match pending.take() {
            Some((start, mut s)) => {
                s.push(' ');
                s.push_str(&body);
                (start, s)
            }
            None => (no, body),
        };
        if cont {
            pending = Some(acc);
        } else {
            logical.push(acc);
        }
    }
    if let Some(p) = pending {
        logical.push(p);
    }
    let mut out = Vec::new();
    for (no, line) in logical {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let at = format!("{shown}:{no}");
        if line.starts_with('-') {
            let opt = line
                .split(|c: char| c == '=' || c.is_whitespace())
                .next()
                .unwrap_or(line);
            if IGNORED_OPTIONS.contains(&opt) {
                continue;
            }
            bail!(
                "{at}: option {opt} is not supported in a lock input (includes, constraints and editables are not followed); list each requirements file in requirements = [...] and pin every line"
            );
        }
        // The requirement is everything before the first option.
        let (req_text, opts) = match line.find(" --") {
            Some(i) => (&line[..i], &line[i..]),
            None => (line, ""),
        };
        let mut hashes = Vec::new();
        let mut toks = opts.split_whitespace();
        while let Some(tok) = toks.next() {
            let value = if let Some(v) = tok.strip_prefix("--hash=") {
                v.to_owned()
            } else if tok == "--hash" {
                toks.next()
                    .ok_or_else(|| anyhow!("{at}: --hash without a value"))?
                    .to_owned()
            } else {
                bail!("{at}: per-requirement option {tok} is not supported (only --hash)");
            };
            let (algo, hex) = value
                .split_once(':')
                .ok_or_else(|| anyhow!("{at}: --hash={value}: expected <algorithm>:<hex>"))?;
            match algo {
                "sha256" => {
                    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                        bail!("{at}: --hash=sha256:{hex}: not 64 hex digits");
                    }
                    hashes.push(hex.to_ascii_lowercase());
                }
                // pip accepts these too; the indexes give sha256, so they cannot be checked.
                "sha384" | "sha512" => {}
                other => bail!("{at}: --hash algorithm {other:?} is not one pip accepts"),
            }
        }
        let req = Requirement::<pep508_rs::VerbatimUrl>::from_str(req_text)
            .map_err(|e| anyhow!("{at}: {req_text:?} is not a PEP 508 requirement: {e}"))?;
        let version = match &req.version_or_url {
            Some(VersionOrUrl::VersionSpecifier(specs)) => {
                let pinned: Vec<_> = specs.iter().collect();
                match pinned.as_slice() {
                    [s] if matches!(s.operator(), Operator::Equal | Operator::ExactEqual) => {
                        s.version().clone()
                    }
                    _ => bail!(
                        "{at}: {req_text:?} is not pinned; hash-checking mode needs name==version on every line"
                    ),
                }
            }
            Some(VersionOrUrl::Url(_)) => {
                bail!(
                    "{at}: {req_text:?}: direct URL requirements are not supported; pin a version from the index"
                )
            }
            None => bail!(
                "{at}: {req_text:?} is not pinned; hash-checking mode needs name==version on every line"
            ),
        };
        if hashes.is_empty() {
            bail!(
                "{at}: {req_text:?} has no --hash=sha256:<hex>; hash-checking mode needs a hash on every line (pip-compile --generate-hashes, uv pip compile --generate-hashes)"
            );
        }
        let marker = (!req.marker.is_true()).then(|| req.marker.clone());
        out.push(LockedPackage {
            project: normalize(req.name.as_ref()),
            version,
            marker,
            files: LockedFiles::Hashes(hashes),
            origin: at,
        });
    }
    Ok(out)
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
struct PylockDoc {
    lock_version: Option<String>,
    #[serde(default)]
    packages: Vec<PylockPackage>,
}

#[derive(serde::Deserialize)]
struct PylockPackage {
    name: String,
    version: Option<String>,
    marker: Option<String>,
    #[serde(default)]
    wheels: Vec<PylockFile>,
    sdist: Option<PylockFile>,
    vcs: Option<toml::Value>,
    directory: Option<toml::Value>,
    archive: Option<toml::Value>,
}

#[derive(serde::Deserialize)]
struct PylockFile {
    name: Option<String>,
    url: Option<String>,
    path: Option<String>,
    #[serde(default)]
    hashes: std::collections::BTreeMap<String, String>,
}

/// Parses a PEP 751 `pylock.toml`. `shown` names the file in errors.
///
/// Errors (naming `shown` and the package): not TOML, `lock-version` other than `1.x`, a
/// package without `version`, with a `vcs`/`directory`/`archive` source or without
/// files, a file with neither `name` nor `url`, or without a 64-hex-digit `sha256`.
pub fn parse_pylock(text: &str, shown: &str) -> anyhow::Result<Vec<LockedPackage>> {
    let doc: PylockDoc =
        toml::from_str(text).with_context(|| format!("{shown}: not a PEP 751 lock file"))?;
    match doc.lock_version.as_deref() {
        Some(v) if v == "1" || v.starts_with("1.") => {}
        Some(v) => bail!("{shown}: lock-version {v:?} is not supported (PEP 751 1.x)"),
        None => bail!("{shown}: lock-version is missing (PEP 751 requires it)"),
    }
    let mut out = Vec::new();
    for p in doc.packages {
        let at = format!("{shown}: package {}", p.name);
        if p.vcs.is_some() || p.directory.is_some() || p.archive.is_some() {
            bail!(
                "{at}: vcs, directory and archive sources are not supported; lock it from an index"
            );
        }
        let version = p
            .version
            .as_deref()
            .ok_or_else(|| anyhow!("{at}: no version"))?;
        let version =
            Version::from_str(version).map_err(|e| anyhow!("{at}: version {version:?}: {e}"))?;
        let marker = match &p.marker {
            Some(m) => {
                Some(MarkerTree::from_str(m).map_err(|e| anyhow!("{at}: marker {m:?}: {e}"))?)
            }
            None => None,
        };
        let mut files = Vec::new();
        for f in p.wheels.iter().chain(p.sdist.iter()) {
            if f.path.is_some() && f.url.is_none() && f.name.is_none() {
                bail!("{at}: a file given by path only is not supported; lock it from an index");
            }
            let filename = match (&f.name, &f.url) {
                (Some(n), _) => n.clone(),
                (None, Some(u)) => url::Url::parse(u)
                    .ok()
                    .and_then(|u| {
                        u.path_segments()
                            .and_then(|mut s| s.next_back().map(str::to_owned))
                    })
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| anyhow!("{at}: cannot take a file name from url {u:?}"))?,
                (None, None) => bail!("{at}: a file has neither name nor url"),
            };
            let sha = f
                .hashes
                .get("sha256")
                .ok_or_else(|| anyhow!("{at}: {filename}: no sha256 in hashes"))?;
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!("{at}: {filename}: sha256 {sha:?} is not 64 hex digits");
            }
            files.push(LockedFile {
                filename,
                sha256: sha.to_ascii_lowercase(),
            });
        }
        if files.is_empty() {
            bail!("{at}: no wheels or sdist listed");
        }
        out.push(LockedPackage {
            project: normalize(&p.name),
            version,
            marker,
            files: LockedFiles::Files(files),
            origin: at,
        });
    }
    Ok(out)
}

/// Reads and parses the lock inputs of one table; paths are resolved by the caller.
///
/// Errors: a file cannot be read, or does not parse (see [`parse_requirements`],
/// [`parse_pylock`]).
pub fn load(requirements: &[&Path], locks: &[&Path]) -> anyhow::Result<Vec<LockedPackage>> {
    let mut out = Vec::new();
    for p in requirements {
        let text = std::fs::read_to_string(p)
            .with_context(|| format!("cannot read requirements file {}", p.display()))?;
        out.extend(parse_requirements(&text, &p.display().to_string())?);
    }
    for p in locks {
        let text = std::fs::read_to_string(p)
            .with_context(|| format!("cannot read lock file {}", p.display()))?;
        out.extend(parse_pylock(&text, &p.display().to_string())?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H1: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const H2: &str = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

    #[test]
    fn requirements_hash_mode() {
        let text = format!(
            "# generated\n--index-url https://pypi.example.org/simple/\n\nnumpy==2.1.3 \\\n    --hash=sha256:{H1} \\\n    --hash=sha256:{H2}\n    # via torch\nCube_Util[x]==0.3 ; python_version < \"3.12\" --hash sha256:{H1}  # pinned\n"
        );
        let got = parse_requirements(&text, "r.txt").unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].project, "numpy");
        assert_eq!(got[0].version.to_string(), "2.1.3");
        assert_eq!(
            got[0].files,
            LockedFiles::Hashes(vec![H1.into(), H2.to_ascii_lowercase()])
        );
        assert_eq!(got[0].origin, "r.txt:4");
        assert!(got[0].marker.is_none());
        assert_eq!(got[1].project, "cube-util");
        assert!(got[1].marker.is_some());
    }

    #[test]
    fn requirements_refusals_name_the_line() {
        let e = |t: &str| parse_requirements(t, "r.txt").unwrap_err().to_string();
        let m = e(&format!("numpy>=2 --hash=sha256:{H1}\n"));
        assert!(m.contains("r.txt:1") && m.contains("not pinned"), "{m}");
        let m = e("ok==1.0 --hash=sha256:abc\n");
        assert!(m.contains("64 hex"), "{m}");
        let m = e("\nnumpy==2.1.3\n");
        assert!(m.contains("r.txt:2") && m.contains("no --hash"), "{m}");
        let m = e("-r other.txt\n");
        assert!(m.contains("-r") && m.contains("not supported"), "{m}");
        let m = e(&format!("numpy==2.* --hash=sha256:{H1}\n"));
        assert!(m.contains("not pinned"), "{m}");
    }

    #[test]
    fn pylock_packages() {
        let text = format!(
            r#"lock-version = "1.0"
created-by = "test"
[[packages]]
name = "Cube-Util"
version = "0.3"
marker = 'sys_platform == "linux"'
[[packages.wheels]]
url = "https://pypi.example.org/packages/cube_util-0.3-py3-none-any.whl"
hashes = {{ sha256 = "{H1}" }}
[packages.sdist]
name = "cube_util-0.3.tar.gz"
hashes = {{ sha256 = "{H1}" }}
"#
        );
        let got = parse_pylock(&text, "pylock.toml").unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].project, "cube-util");
        let LockedFiles::Files(files) = &got[0].files else {
            panic!("files expected")
        };
        assert_eq!(files[0].filename, "cube_util-0.3-py3-none-any.whl");
        assert_eq!(files[1].filename, "cube_util-0.3.tar.gz");
        assert!(got[0].marker.is_some());
        let no_hash = "lock-version = \"1.0\"\n[[packages]]\nname = \"x\"\nversion = \"1\"\n[[packages.wheels]]\nname = \"x-1-py3-none-any.whl\"\nhashes = {}\n";
        let m = parse_pylock(no_hash, "p.toml").unwrap_err().to_string();
        assert!(m.contains("no sha256"), "{m}");
        let vcs = "lock-version = \"1.0\"\n[[packages]]\nname = \"x\"\nvcs = { type = \"git\" }\n";
        let m = parse_pylock(vcs, "p.toml").unwrap_err().to_string();
        assert!(m.contains("vcs"), "{m}");
    }
}
