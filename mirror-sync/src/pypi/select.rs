//! Which PyPI releases and files to mirror: pure selection logic, no I/O.
//!
//! A sync is configured with Python versions (`"3.11"`) and wheel platform tags
//! (`"manylinux_2_17_x86_64"`, `"win_amd64"`, `"any"`…). Their product gives the
//! [`Target`]s. [`installable`] says whether a file can be installed on a target (wheel
//! tags, `Requires-Python`, PEP 592 yanked handling), which makes its version a candidate
//! for the resolver ([`crate::pypi::resolve`]); [`files_for_target`] picks the files of a
//! pinned release that a target takes (the wheel pip prefers, [`wheel_rank`]); and
//! [`keep_file`] decides which files fit the configured platforms at all.
//! [`choose_version`] (the newest candidate for one requirement alone) and
//! [`applicable_requirements`] (a release's `Requires-Dist` whose markers hold on a
//! target) are the single-requirement building blocks.

use std::collections::BTreeSet;
use std::str::FromStr;

use formats::pypi::filename::DistFilename;
use formats::pypi::simple::FileEntry;
use formats::pypi::tags::{TagError, compatible_platforms, platform_env, wheel_is_compatible};
use pep440_rs::{Operator, Version, VersionSpecifiers};
use pep508_rs::{ExtraName, MarkerEnvironment, MarkerEnvironmentBuilder, Requirement};

pub use formats::pypi::tags::Target;

/// Why a selection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    /// The `python` list is empty.
    #[error("no Python versions configured: list at least one, e.g. python = [\"3.11\"]")]
    NoPythons,
    /// The `platforms` list is empty or only `"any"`.
    #[error(
        "no platform tags configured besides \"any\": list at least one real platform tag, e.g. \
         platforms = [\"manylinux_2_17_x86_64\"] or [\"win_amd64\"] (pure-Python \"any\" wheels \
         are always kept)"
    )]
    NoPlatforms,
    /// A configured Python version or platform tag is not usable.
    #[error(transparent)]
    Target(#[from] TagError),
    /// A `Requires-Dist` entry is not a PEP 508 requirement.
    #[error("invalid Requires-Dist entry {requirement:?} (PEP 508): {message}")]
    InvalidRequirement {
        /// The entry as found in the core metadata.
        requirement: String,
        /// The parser's message.
        message: String,
    },
    /// A requested extra is not a valid extra name.
    #[error("invalid extra name {extra:?} (PEP 685): {message}")]
    InvalidExtra {
        /// The extra as requested.
        extra: String,
        /// The parser's message.
        message: String,
    },
}

/// The install targets: every configured Python version on every configured platform tag,
/// in configuration order, without duplicates. The platform `"any"` is not a target
/// (pure wheels are compatible with every target anyway).
///
/// Errors: [`SelectError::NoPythons`] for an empty `pythons`,
/// [`SelectError::NoPlatforms`] when `platforms` has nothing but `"any"`, and
/// [`SelectError::Target`] for a version other than `3.<minor>` or an unknown platform
/// tag (see [`Target::new`]).
pub fn targets(pythons: &[String], platforms: &[String]) -> Result<Vec<Target>, SelectError> {
    if pythons.is_empty() {
        return Err(SelectError::NoPythons);
    }
    let real: Vec<&String> = platforms.iter().filter(|p| p.as_str() != "any").collect();
    if real.is_empty() {
        return Err(SelectError::NoPlatforms);
    }
    let mut out: Vec<Target> = Vec::new();
    for python in pythons {
        for platform in &real {
            let target = Target::new(python, platform)?;
            if !out.contains(&target) {
                out.push(target);
            }
        }
    }
    Ok(out)
}

/// The PEP 508 marker environment of CPython `target.python` on `target.platform`.
///
/// `implementation_name` = `cpython`, `platform_python_implementation` = `CPython`,
/// `python_version` = `X.Y`, `python_full_version` = `implementation_version` = `X.Y.0`,
/// `sys_platform`, `platform_system`, `os_name`, `platform_machine` from
/// [`platform_env`]; `platform_release` and `platform_version` are empty (unknown).
pub fn marker_env(target: &Target) -> MarkerEnvironment {
    let env = platform_env(&target.platform);
    let (sys_platform, platform_system, os_name, platform_machine) = match &env {
        Some(e) => (
            e.sys_platform,
            e.platform_system,
            e.os_name,
            e.platform_machine.as_str(),
        ),
        // Target::new only accepts platforms platform_env knows.
        None => ("", "", "", ""),
    };
    let (major, minor) = target.python;
    let full = format!("{major}.{minor}.0");
    let short = format!("{major}.{minor}");
    MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
        implementation_name: "cpython",
        implementation_version: &full,
        os_name,
        platform_machine,
        platform_python_implementation: "CPython",
        platform_release: "",
        platform_system,
        platform_version: "",
        python_full_version: &full,
        python_version: &short,
        sys_platform,
    })
    .expect("versions built from two integers are valid PEP 440 versions")
}

/// Policy for keeping files of a chosen release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePolicy {
    /// Platform tags as configured; may include `"any"`.
    pub platforms: Vec<String>,
    /// The targets, normally [`targets`] of the configuration.
    pub targets: Vec<Target>,
    /// Whether source distributions are mirrored.
    pub sdists: bool,
}

/// Whether a `Requires-Python` value admits CPython `major.minor` (any patch release).
///
/// No value, or a value that is not a PEP 440 specifier set, admits everything (pip
/// ignores invalid `Requires-Python`). Patch releases tried: `.0`, `.99` and each patch
/// number a specifier names for this minor version (and the next one).
fn requires_python_admits(requires_python: Option<&str>, python: (u8, u8)) -> bool {
    let Some(rp) = requires_python else {
        return true;
    };
    let Ok(specifiers) = VersionSpecifiers::from_str(rp) else {
        return true;
    };
    let (major, minor) = (u64::from(python.0), u64::from(python.1));
    let mut patches = BTreeSet::from([0u64, 99]);
    for s in specifiers.iter() {
        if let [a, b, patch, ..] = s.version().release()
            && (*a, *b) == (major, minor)
        {
            patches.insert(*patch);
            patches.insert(patch.saturating_add(1));
        }
    }
    // The solver's ranges, not `VersionSpecifiers::contains`: pep440_rs 0.7 matches a
    // candidate shorter than a `==`/`!=` prefix on the common segments only (`7` in
    // `==7.7.*`), found by tests/tests/differential.rs against `packaging`.
    let admitted = crate::pypi::ranges::from_specifiers(&specifiers);
    patches
        .into_iter()
        .any(|p| admitted.0.contains(&Version::new([major, minor, p])))
}

/// Whether some of the wheel's platform tags is one of the configured platforms or a tag
/// an installer on one of them accepts ([`compatible_platforms`]); `any` does not count.
fn platform_configured(platform_tags: &[String], configured: &[String]) -> bool {
    configured
        .iter()
        .filter(|c| c.as_str() != "any")
        .flat_map(|c| compatible_platforms(c))
        .any(|accepted| accepted != "any" && platform_tags.contains(&accepted))
}

/// Whether to keep a file of a chosen release on the mirror.
///
/// - Its `Requires-Python` must admit a target's Python version (for wheels: the same
///   target the wheel is compatible with).
/// - Wheels: compatible with at least one target ([`wheel_is_compatible`]), and either
///   pure (platform `any`, kept whenever compatible, since dropping them breaks installs)
///   or with a platform tag among the configured platforms or their
///   [`compatible_platforms`] expansion (a `manylinux2014` wheel is kept for
///   `manylinux_2_17`).
/// - Sdists: only if `policy.sdists`.
/// - Yanked files are kept (the index still lists them, PEP 592); [`choose_version`]
///   decides whether they may satisfy a requirement.
pub fn keep_file(f: &FileEntry, parsed: &DistFilename, policy: &FilePolicy) -> bool {
    let rp = f.requires_python.as_deref();
    match parsed {
        DistFilename::Sdist(_) => {
            policy.sdists
                && policy
                    .targets
                    .iter()
                    .any(|t| requires_python_admits(rp, t.python))
        }
        DistFilename::Wheel(w) => {
            let compatible = policy
                .targets
                .iter()
                .any(|t| requires_python_admits(rp, t.python) && wheel_is_compatible(w, t));
            let pure = w.platform_tags.iter().all(|p| p == "any");
            compatible && (pure || platform_configured(&w.platform_tags, &policy.platforms))
        }
    }
}

/// Whether `f` can be installed on `target` as pip would choose it: not yanked (unless
/// `allow_yanked`, PEP 592), `Requires-Python` admits the target, a wheel compatible
/// with the target or an sdist when `policy.sdists`, and [`keep_file`] keeps it.
pub fn installable(
    f: &FileEntry,
    parsed: &DistFilename,
    target: &Target,
    policy: &FilePolicy,
    allow_yanked: bool,
) -> bool {
    (allow_yanked || f.yanked.is_none())
        && requires_python_admits(f.requires_python.as_deref(), target.python)
        && match parsed {
            DistFilename::Wheel(w) => wheel_is_compatible(w, target),
            DistFilename::Sdist(_) => policy.sdists,
        }
        && keep_file(f, parsed, policy)
}

/// pip's preference for a wheel on `target`: the position of its best tag in
/// `packaging.tags.sys_tags()` order for CPython, as a sortable key (smaller is
/// preferred). The groups, in order: `cp3Y-cp3Y-<plat>`, `cp3Y-abi3-<plat>`,
/// `cp3Y-none-<plat>`, `cp3x-abi3-<plat>` (x from Y-1 down), `py3Y`/`py3`/`py3x`-`none-<plat>`,
/// `cp3Y-none-any`, then `py3Y`/`py3`/`py3x`-`none-any`; within a group the platforms in
/// [`compatible_platforms`] order (the target's own tag first). `None` when the wheel
/// is not compatible with the target ([`wheel_is_compatible`]).
pub fn wheel_rank(
    w: &formats::pypi::filename::WheelFilename,
    target: &Target,
) -> Option<(u32, u32, usize)> {
    if !wheel_is_compatible(w, target) {
        return None;
    }
    let (major, minor) = (u32::from(target.python.0), u32::from(target.python.1));
    let cp = format!("cp{major}{minor}");
    let plats: Vec<String> = compatible_platforms(&target.platform)
        .into_iter()
        .filter(|p| p != "any")
        .collect();
    // packaging's _py_interpreter_range order: py3Y, py3, py3(Y-1) … py30.
    let py_rank = |py: &str| -> Option<u32> {
        let digits = py.strip_prefix("py")?;
        if digits == major.to_string() {
            return Some(1);
        }
        let rest = digits.strip_prefix(&major.to_string())?;
        let x: u32 = rest.parse().ok()?;
        match x {
            x if x == minor => Some(0),
            x if x < minor => Some(1 + (minor - x)),
            _ => None,
        }
    };
    let cp_minor =
        |py: &str| -> Option<u32> { py.strip_prefix(&format!("cp{major}"))?.parse().ok() };
    let mut best: Option<(u32, u32, usize)> = None;
    for py in &w.python_tags {
        for abi in &w.abi_tags {
            for plat in &w.platform_tags {
                let rank = if plat == "any" {
                    if abi != "none" {
                        None
                    } else if *py == cp {
                        Some((5, 0, 0))
                    } else {
                        py_rank(py).map(|k| (6, k, 0))
                    }
                } else {
                    let Some(pi) = plats.iter().position(|p| p == plat) else {
                        continue;
                    };
                    if *py == cp && *abi == cp {
                        Some((0, 0, pi))
                    } else if *py == cp && abi == "abi3" {
                        Some((1, 0, pi))
                    } else if *py == cp && abi == "none" {
                        Some((2, 0, pi))
                    } else if abi == "abi3" {
                        cp_minor(py)
                            .filter(|x| (2..minor).contains(x))
                            .map(|x| (3, minor - x, pi))
                    } else if abi == "none" {
                        py_rank(py).map(|k| (4, k, pi))
                    } else {
                        None
                    }
                };
                if let Some(r) = rank {
                    best = Some(best.map_or(r, |b| b.min(r)));
                }
            }
        }
    }
    best
}

/// The files of one release that a target takes, as indexes into `files`: the wheel pip
/// would install there (best [`wheel_rank`]), else the sdist pip would build; plus the
/// sdist when `policy.sdists` (the configuration asks for sdists too). Only files
/// [`installable`] on `target` count (`allow_yanked` as there). Empty when none is.
pub fn files_for_target(
    files: &[(&FileEntry, &DistFilename)],
    target: &Target,
    policy: &FilePolicy,
    allow_yanked: bool,
) -> Vec<usize> {
    let usable: Vec<usize> = (0..files.len())
        .filter(|&i| installable(files[i].0, files[i].1, target, policy, allow_yanked))
        .collect();
    let best_wheel = usable
        .iter()
        .filter_map(|&i| match files[i].1 {
            DistFilename::Wheel(w) => wheel_rank(w, target).map(|r| (r, i)),
            DistFilename::Sdist(_) => None,
        })
        .min()
        .map(|(_, i)| i);
    let sdist = usable
        .iter()
        .copied()
        .find(|&i| matches!(files[i].1, DistFilename::Sdist(_)));
    let mut out: Vec<usize> = best_wheel.into_iter().collect();
    if (best_wheel.is_none() || policy.sdists)
        && let Some(s) = sdist
    {
        out.push(s);
    }
    out
}

/// Chooses the release to mirror for a requirement on one target, as pip would.
///
/// Candidates are the versions in `specifiers` with at least one file that is
/// installable on `target`: `Requires-Python` admits `target.python`, and it is a wheel
/// compatible with the target or an sdist when `policy.sdists` (and [`keep_file`] keeps
/// it). Yanked files count only when the specifiers pin with `==` (no wildcard) or
/// `===` (PEP 592). Pre-releases and dev releases are chosen only when a specifier names
/// one, or when no final release is a candidate (PEP 440 §Handling of pre-releases).
/// Returns the newest candidate, or `None` when there is none.
pub fn choose_version(
    files: &[(FileEntry, DistFilename)],
    specifiers: &VersionSpecifiers,
    target: &Target,
    policy: &FilePolicy,
) -> Option<Version> {
    let pinned = specifiers
        .iter()
        .any(|s| matches!(s.operator(), Operator::Equal | Operator::ExactEqual));
    let explicit_pre = specifiers.iter().any(|s| s.any_prerelease());
    let candidates: BTreeSet<&Version> = files
        .iter()
        .filter(|(f, d)| {
            specifiers.contains(d.version()) && installable(f, d, target, policy, pinned)
        })
        .map(|(_, d)| d.version())
        .collect();
    let newest_final = candidates.iter().rev().find(|v| !v.any_prerelease());
    let chosen = match newest_final {
        Some(v) if !explicit_pre => Some(v),
        _ => candidates.iter().next_back(),
    };
    chosen.map(|v| (*v).clone())
}

/// The `Requires-Dist` entries of a release that apply on `target` with the requested
/// `extras`: each is parsed as a PEP 508 requirement and its marker evaluated with
/// [`marker_env`]`(target)` and the extras (`extra == "socks"` holds only when `socks`
/// is requested). Returned as parsed, markers included, in input order.
///
/// Errors: [`SelectError::InvalidRequirement`] for an entry that is not PEP 508,
/// [`SelectError::InvalidExtra`] for an invalid extra name.
pub fn applicable_requirements(
    requires_dist: &[String],
    target: &Target,
    extras: &[String],
) -> Result<Vec<Requirement>, SelectError> {
    let env = marker_env(target);
    let extras = extras
        .iter()
        .map(|e| {
            ExtraName::from_str(e).map_err(|err| SelectError::InvalidExtra {
                extra: e.clone(),
                message: err.to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::new();
    for entry in requires_dist {
        let req = Requirement::from_str(entry).map_err(|err| SelectError::InvalidRequirement {
            requirement: entry.clone(),
            message: err.to_string(),
        })?;
        if req.evaluate_markers(&env, &extras) {
            out.push(req);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use formats::pypi::simple::CoreMetadataRef;
    use std::collections::BTreeMap;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    fn t(py: &str, plat: &str) -> Target {
        Target::new(py, plat).unwrap()
    }

    fn v(x: &str) -> Version {
        Version::from_str(x).unwrap()
    }

    fn spec(x: &str) -> VersionSpecifiers {
        VersionSpecifiers::from_str(x).unwrap()
    }

    fn file(name: &str) -> (FileEntry, DistFilename) {
        file_with(name, None, None)
    }

    fn file_with(
        name: &str,
        requires_python: Option<&str>,
        yanked: Option<&str>,
    ) -> (FileEntry, DistFilename) {
        let parsed = DistFilename::parse(name, None).unwrap();
        let entry = FileEntry {
            filename: name.to_owned(),
            url: url::Url::parse(&format!("https://index.example/files/{name}")).unwrap(),
            hashes: BTreeMap::new(),
            requires_python: requires_python.map(str::to_owned),
            yanked: yanked.map(str::to_owned),
            core_metadata: CoreMetadataRef::Absent,
            size: None,
            upload_time: None,
        };
        (entry, parsed)
    }

    fn policy(pythons: &[&str], platforms: &[&str], sdists: bool) -> FilePolicy {
        let platforms = s(platforms);
        FilePolicy {
            targets: targets(&s(pythons), &platforms).unwrap(),
            platforms,
            sdists,
        }
    }

    fn keep(name: &str, p: &FilePolicy) -> bool {
        let (f, d) = file(name);
        keep_file(&f, &d, p)
    }

    #[test]
    fn targets_are_the_product_without_any() {
        let ts = targets(
            &s(&["3.11", "3.12"]),
            &s(&["manylinux_2_17_x86_64", "any", "win_amd64", "win_amd64"]),
        )
        .unwrap();
        assert_eq!(
            ts,
            [
                t("3.11", "manylinux_2_17_x86_64"),
                t("3.11", "win_amd64"),
                t("3.12", "manylinux_2_17_x86_64"),
                t("3.12", "win_amd64"),
            ]
        );
        assert!(matches!(
            targets(&s(&["3.11"]), &s(&["any"])),
            Err(SelectError::NoPlatforms)
        ));
        assert!(matches!(
            targets(&s(&["3.11"]), &[]),
            Err(SelectError::NoPlatforms)
        ));
        assert!(matches!(
            targets(&[], &s(&["win_amd64"])),
            Err(SelectError::NoPythons)
        ));
        assert!(matches!(
            targets(&s(&["3.11"]), &s(&["solaris_sparc"])),
            Err(SelectError::Target(TagError::UnsupportedPlatform(_)))
        ));
        assert!(matches!(
            targets(&s(&["three"]), &s(&["win_amd64"])),
            Err(SelectError::Target(TagError::InvalidPython(_)))
        ));
        let msg = targets(&s(&["3.11"]), &s(&["any"]))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("at least one real platform tag"), "{msg}");
    }

    #[test]
    fn marker_env_values() {
        let env = marker_env(&t("3.11", "manylinux_2_17_aarch64"));
        assert_eq!(env.python_version().string, "3.11");
        assert_eq!(env.python_full_version().string, "3.11.0");
        assert_eq!(env.sys_platform(), "linux");
        assert_eq!(env.platform_system(), "Linux");
        assert_eq!(env.os_name(), "posix");
        assert_eq!(env.platform_machine(), "aarch64");
        assert_eq!(env.implementation_name(), "cpython");
        assert_eq!(env.platform_python_implementation(), "CPython");
        let win = marker_env(&t("3.12", "win_amd64"));
        assert_eq!(
            (win.sys_platform(), win.os_name(), win.platform_machine()),
            ("win32", "nt", "AMD64")
        );
    }

    #[test]
    fn keep_file_platform_rules() {
        let p = policy(&["3.11", "3.12"], &["manylinux_2_17_x86_64"], false);
        // legacy alias of the configured tag, and older manylinux
        assert!(keep("numpy-2.0-cp311-cp311-manylinux2014_x86_64.whl", &p));
        assert!(keep(
            "x-1.0-cp312-cp312-manylinux_2_5_x86_64.manylinux1_x86_64.whl",
            &p
        ));
        // newer glibc, other arch, other OS: dropped
        assert!(!keep("numpy-2.0-cp311-cp311-manylinux_2_28_x86_64.whl", &p));
        assert!(!keep("numpy-2.0-cp311-cp311-manylinux2014_aarch64.whl", &p));
        assert!(!keep("numpy-2.0-cp311-cp311-win_amd64.whl", &p));
        assert!(!keep("numpy-2.0-cp311-cp311-musllinux_1_1_x86_64.whl", &p));
        // python not configured
        assert!(!keep("numpy-2.0-cp310-cp310-manylinux2014_x86_64.whl", &p));
        // abi3 and pure wheels, even without "any" configured
        assert!(keep(
            "cryptography-43.0.0-cp39-abi3-manylinux_2_17_x86_64.whl",
            &p
        ));
        assert!(keep("six-1.16.0-py2.py3-none-any.whl", &p));
        assert!(!keep("futures-3.4.0-py2-none-any.whl", &p));
        // sdists only when enabled
        assert!(!keep("numpy-2.0.tar.gz", &p));
        let with_sdists = policy(&["3.11"], &["manylinux_2_17_x86_64", "any"], true);
        assert!(keep("numpy-2.0.tar.gz", &with_sdists));
        assert!(keep("six-1.16.0-py2.py3-none-any.whl", &with_sdists));
    }

    #[test]
    fn cp311_only_wheels_are_rejected_for_312() {
        let p = policy(&["3.12"], &["manylinux_2_17_x86_64"], false);
        assert!(!keep("numpy-2.0-cp311-cp311-manylinux2014_x86_64.whl", &p));
        let files = vec![
            file("numpy-2.1-cp311-cp311-manylinux2014_x86_64.whl"),
            file("numpy-2.0-cp312-cp312-manylinux2014_x86_64.whl"),
            file("numpy-2.0-cp311-cp311-manylinux2014_x86_64.whl"),
        ];
        assert_eq!(
            choose_version(&files, &spec(""), &t("3.12", "manylinux_2_17_x86_64"), &p),
            Some(v("2.0"))
        );
        let p311 = policy(&["3.11"], &["manylinux_2_17_x86_64"], false);
        assert_eq!(
            choose_version(
                &files,
                &spec(""),
                &t("3.11", "manylinux_2_17_x86_64"),
                &p311
            ),
            Some(v("2.1"))
        );
    }

    #[test]
    fn requires_python_filtering() {
        let p = policy(&["3.11"], &["win_amd64"], true);
        let (f, d) = file_with("foo-2.0-py3-none-any.whl", Some(">=3.12"), None);
        assert!(!keep_file(&f, &d, &p));
        let (f, d) = file_with("foo-2.0.tar.gz", Some(">=3.12"), None);
        assert!(!keep_file(&f, &d, &p));
        // a patch-level bound still admits the minor version
        let (f, d) = file_with("foo-2.0-py3-none-any.whl", Some(">=3.11.4"), None);
        assert!(keep_file(&f, &d, &p));
        let (f, d) = file_with("foo-2.0-py3-none-any.whl", Some(">=3.8, !=3.11.*"), None);
        assert!(!keep_file(&f, &d, &p));
        // invalid requires-python is ignored, as pip does
        let (f, d) = file_with("foo-2.0-py3-none-any.whl", Some(">=3.6.*garbage"), None);
        assert!(keep_file(&f, &d, &p));

        let files = vec![
            file_with("foo-2.0-py3-none-any.whl", Some(">=3.12"), None),
            file_with("foo-1.5-py3-none-any.whl", Some(">=3.8"), None),
            file_with("foo-1.0-py3-none-any.whl", Some(">=3.6"), None),
        ];
        assert_eq!(
            choose_version(&files, &spec(""), &t("3.11", "win_amd64"), &p),
            Some(v("1.5"))
        );
        let p12 = policy(&["3.12"], &["win_amd64"], true);
        assert_eq!(
            choose_version(&files, &spec("<2"), &t("3.12", "win_amd64"), &p12),
            Some(v("1.5"))
        );
        assert_eq!(
            choose_version(&files, &spec(">=3"), &t("3.12", "win_amd64"), &p12),
            None
        );
    }

    #[test]
    fn yanked_handling() {
        let p = policy(&["3.12"], &["win_amd64"], false);
        let target = t("3.12", "win_amd64");
        let files = vec![
            file_with("foo-2.0-py3-none-any.whl", None, Some("broken")),
            file_with("foo-1.9-py3-none-any.whl", None, None),
        ];
        // yanked files are kept on the mirror
        assert!(keep_file(&files[0].0, &files[0].1, &p));
        assert_eq!(
            choose_version(&files, &spec(""), &target, &p),
            Some(v("1.9"))
        );
        assert_eq!(
            choose_version(&files, &spec(">=1.9"), &target, &p),
            Some(v("1.9"))
        );
        assert_eq!(choose_version(&files, &spec(">=2"), &target, &p), None);
        assert_eq!(
            choose_version(&files, &spec("==2.0"), &target, &p),
            Some(v("2.0"))
        );
        assert_eq!(
            choose_version(&files, &spec("===2.0"), &target, &p),
            Some(v("2.0"))
        );
        assert_eq!(choose_version(&files, &spec("==2.*"), &target, &p), None);
        // a release with one yanked and one good file is still usable
        let mixed = vec![
            file_with("foo-3.0-py3-none-any.whl", None, None),
            file_with("foo-3.0.tar.gz", None, Some("")),
        ];
        assert_eq!(
            choose_version(&mixed, &spec(""), &target, &p),
            Some(v("3.0"))
        );
    }

    #[test]
    fn pre_release_handling() {
        let p = policy(&["3.12"], &["win_amd64"], false);
        let target = t("3.12", "win_amd64");
        let files = vec![
            file("foo-2.0rc1-py3-none-any.whl"),
            file("foo-2.0.dev3-py3-none-any.whl"),
            file("foo-1.9.post1-py3-none-any.whl"),
            file("foo-1.9-py3-none-any.whl"),
        ];
        assert_eq!(
            choose_version(&files, &spec(""), &target, &p),
            Some(v("1.9.post1"))
        );
        assert_eq!(
            choose_version(&files, &spec(">=1.0"), &target, &p),
            Some(v("1.9.post1"))
        );
        // the specifier names a pre-release
        assert_eq!(
            choose_version(&files, &spec(">=2.0rc1"), &target, &p),
            Some(v("2.0rc1"))
        );
        assert_eq!(
            choose_version(&files, &spec("==2.0.dev3"), &target, &p),
            Some(v("2.0.dev3"))
        );
        // no final release matches: pre-releases allowed
        assert_eq!(
            choose_version(&files, &spec(">1.9.post1"), &target, &p),
            Some(v("2.0rc1"))
        );
        let only_pre = vec![
            file("bar-0.1b1-py3-none-any.whl"),
            file("bar-0.1a1-py3-none-any.whl"),
        ];
        assert_eq!(
            choose_version(&only_pre, &spec(""), &target, &p),
            Some(v("0.1b1"))
        );
    }

    #[test]
    fn choose_version_needs_an_installable_file() {
        let target = t("3.12", "manylinux_2_17_x86_64");
        let files = vec![
            file("foo-3.0.tar.gz"),
            file("foo-2.0-cp312-cp312-win_amd64.whl"),
            file("foo-1.0-cp312-cp312-manylinux2014_x86_64.whl"),
        ];
        let no_sdists = policy(&["3.12"], &["manylinux_2_17_x86_64"], false);
        assert_eq!(
            choose_version(&files, &spec(""), &target, &no_sdists),
            Some(v("1.0"))
        );
        let sdists = policy(&["3.12"], &["manylinux_2_17_x86_64"], true);
        assert_eq!(
            choose_version(&files, &spec(""), &target, &sdists),
            Some(v("3.0"))
        );
        assert_eq!(choose_version(&[], &spec(""), &target, &sdists), None);
    }

    #[test]
    fn wheel_preference_follows_pip_tag_order() {
        let target = t("3.12", "manylinux_2_28_x86_64");
        let rank = |n: &str| match DistFilename::parse(n, None).unwrap() {
            DistFilename::Wheel(w) => wheel_rank(&w, &target),
            DistFilename::Sdist(_) => None,
        };
        let own = rank("x-1-cp312-cp312-manylinux_2_28_x86_64.whl").unwrap();
        let older = rank("x-1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl").unwrap();
        let abi3 = rank("x-1-cp39-abi3-manylinux_2_28_x86_64.whl").unwrap();
        let pure = rank("x-1-py3-none-any.whl").unwrap();
        assert!(
            own < older && older < abi3 && abi3 < pure,
            "{own:?} {older:?} {abi3:?} {pure:?}"
        );
        assert_eq!(rank("x-1-cp311-cp311-manylinux_2_28_x86_64.whl"), None);
        assert_eq!(rank("x-1-cp312-cp312-manylinux_2_34_x86_64.whl"), None);

        let p = policy(&["3.12"], &["manylinux_2_28_x86_64"], false);
        let names = [
            "x-1-py3-none-any.whl",
            "x-1-cp312-cp312-manylinux_2_17_x86_64.whl",
            "x-1-cp312-cp312-manylinux_2_28_x86_64.whl",
            "x-1.tar.gz",
        ];
        let owned: Vec<(FileEntry, DistFilename)> = names.iter().map(|n| file(n)).collect();
        let refs: Vec<(&FileEntry, &DistFilename)> = owned.iter().map(|(f, d)| (f, d)).collect();
        assert_eq!(files_for_target(&refs, &target, &p, false), [2]);
        let with_sdists = policy(&["3.12"], &["manylinux_2_28_x86_64"], true);
        assert_eq!(
            files_for_target(&refs, &target, &with_sdists, false),
            [2, 3]
        );
        assert_eq!(
            files_for_target(&refs[3..], &target, &with_sdists, false),
            [0]
        );
        assert!(files_for_target(&refs[3..], &target, &p, false).is_empty());
    }

    #[test]
    fn markers_on_targets() {
        let deps = s(&[
            "idna<4,>=2.5",
            "tomli>=1.1.0; python_version < \"3.12\"",
            "colorama; sys_platform == \"win32\"",
            "PySocks!=1.5.7,>=1.5.6; extra == \"socks\"",
            "uvloop; sys_platform != \"win32\" and platform_machine == \"x86_64\"",
        ]);
        let names = |reqs: Vec<Requirement>| -> Vec<String> {
            reqs.into_iter().map(|r| r.name.to_string()).collect()
        };
        assert_eq!(
            names(
                applicable_requirements(&deps, &t("3.11", "manylinux_2_17_x86_64"), &[]).unwrap()
            ),
            ["idna", "tomli", "uvloop"]
        );
        assert_eq!(
            names(applicable_requirements(&deps, &t("3.12", "win_amd64"), &[]).unwrap()),
            ["idna", "colorama"]
        );
        assert_eq!(
            names(
                applicable_requirements(
                    &deps,
                    &t("3.12", "manylinux_2_17_aarch64"),
                    &s(&["Socks"])
                )
                .unwrap()
            ),
            ["idna", "pysocks"]
        );
        let reqs = applicable_requirements(&deps, &t("3.12", "win_amd64"), &[]).unwrap();
        let Some(pep508_rs::VersionOrUrl::VersionSpecifier(idna)) = &reqs[0].version_or_url else {
            panic!("idna has no specifiers: {:?}", reqs[0]);
        };
        assert!(idna.contains(&v("3.7")) && !idna.contains(&v("4.0")) && !idna.contains(&v("2.4")));
        assert!(matches!(
            applicable_requirements(&s(&["not a requirement !!"]), &t("3.12", "win_amd64"), &[]),
            Err(SelectError::InvalidRequirement { .. })
        ));
        assert!(matches!(
            applicable_requirements(&deps, &t("3.12", "win_amd64"), &s(&["bad extra!"])),
            Err(SelectError::InvalidExtra { .. })
        ));
    }
}
