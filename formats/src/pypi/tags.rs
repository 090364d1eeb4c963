//! Wheel compatibility tags: PEP 425 (python/ABI/platform tags), PEP 600 (`manylinux_x_y`),
//! PEP 656 (`musllinux_x_y`) and the macOS rules of the platform compatibility tags
//! specification, following what pip (via `packaging.tags`) accepts for CPython.
//!
//! A [`Target`] is one CPython minor version on one platform tag. [`compatible_platforms`]
//! expands a platform tag to every platform tag an installer on that platform accepts,
//! [`wheel_is_compatible`] checks a wheel's tag triples against a target, and
//! [`platform_env`] gives the PEP 508 marker values a platform tag implies.

use super::filename::WheelFilename;

/// Why a target could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// The Python version is not `3.<minor>`.
    #[error("invalid Python version {0:?}: expected a CPython 3 minor version such as \"3.11\"")]
    InvalidPython(String),
    /// The platform tag is not one we can target.
    #[error(
        "unsupported platform tag {0:?}: use a concrete wheel platform tag such as \
         \"manylinux_2_17_x86_64\", \"musllinux_1_2_aarch64\", \"linux_x86_64\", \"win_amd64\", \
         \"win32\", \"win_arm64\", \"macosx_11_0_arm64\" or \"macosx_10_12_x86_64\""
    )]
    UnsupportedPlatform(String),
}

/// One install target: a CPython minor version on one platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// CPython `(major, minor)`, e.g. `(3, 11)`.
    pub python: (u8, u8),
    /// A wheel platform tag, e.g. `"manylinux_2_17_x86_64"`, `"win_amd64"`,
    /// `"macosx_11_0_arm64"`.
    pub platform: String,
}

impl Target {
    /// Builds a target from a Python version `"3.<minor>"` and a platform tag.
    ///
    /// Errors: [`TagError::InvalidPython`] unless `python` is `3.<minor>` with a minor
    /// below 256; [`TagError::UnsupportedPlatform`] unless the platform tag is a
    /// concrete Linux (`manylinux*`, `musllinux_*`, `linux_*`), Windows (`win32`,
    /// `win_amd64`, `win_arm64`) or macOS (`macosx_*_{x86_64,arm64}`) tag, i.e. one
    /// [`platform_env`] knows. `"any"` is not a target platform.
    pub fn new(python: &str, platform: &str) -> Result<Self, TagError> {
        let bad_python = || TagError::InvalidPython(python.to_owned());
        let (major, minor) = python.split_once('.').ok_or_else(bad_python)?;
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(major) || !all_digits(minor) {
            return Err(bad_python());
        }
        let major: u8 = major.parse().map_err(|_| bad_python())?;
        let minor: u8 = minor.parse().map_err(|_| bad_python())?;
        if major != 3 {
            return Err(bad_python());
        }
        if platform_env(platform).is_none() {
            return Err(TagError::UnsupportedPlatform(platform.to_owned()));
        }
        Ok(Target {
            python: (major, minor),
            platform: platform.to_owned(),
        })
    }
}

/// Largest glibc/musl minor or macOS version number we expand; larger numbers are
/// treated as unknown platforms (only the tag itself and `any`).
const MAX_EXPANDED_VERSION: u32 = 200;

/// A platform tag taken apart.
#[derive(Debug, PartialEq, Eq)]
enum Platform<'a> {
    /// `manylinux_<glibc major>_<glibc minor>_<arch>` or a legacy alias.
    Manylinux {
        major: u32,
        minor: u32,
        arch: &'a str,
    },
    /// `musllinux_<musl major>_<musl minor>_<arch>`.
    Musllinux {
        major: u32,
        minor: u32,
        arch: &'a str,
    },
    /// `linux_<arch>`.
    Linux {
        arch: &'a str,
    },
    /// `macosx_<major>_<minor>_<arch>`.
    Macos {
        major: u32,
        minor: u32,
        arch: &'a str,
    },
    /// `win32`, `win_amd64`, `win_arm64`.
    Windows {
        machine: &'static str,
    },
    Other,
}

fn valid_arch(arch: &str) -> bool {
    !arch.is_empty() && arch.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Parses `<major>_<minor>_<arch>`.
fn versioned(rest: &str) -> Option<(u32, u32, &str)> {
    let (major, rest) = rest.split_once('_')?;
    let (minor, arch) = rest.split_once('_')?;
    let num = |s: &str| -> Option<u32> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse::<u32>().ok().filter(|n| *n <= MAX_EXPANDED_VERSION)
    };
    let (major, minor) = (num(major)?, num(minor)?);
    valid_arch(arch).then_some((major, minor, arch))
}

fn parse_platform(tag: &str) -> Platform<'_> {
    const LEGACY: [(&str, u32); 3] = [
        ("manylinux1_", 5),
        ("manylinux2010_", 12),
        ("manylinux2014_", 17),
    ];
    for (prefix, minor) in LEGACY {
        if let Some(arch) = tag.strip_prefix(prefix)
            && valid_arch(arch)
        {
            return Platform::Manylinux {
                major: 2,
                minor,
                arch,
            };
        }
    }
    if let Some((major, minor, arch)) = tag.strip_prefix("manylinux_").and_then(versioned) {
        return Platform::Manylinux { major, minor, arch };
    }
    if let Some((major, minor, arch)) = tag.strip_prefix("musllinux_").and_then(versioned) {
        return Platform::Musllinux { major, minor, arch };
    }
    if let Some((major, minor, arch)) = tag.strip_prefix("macosx_").and_then(versioned) {
        return Platform::Macos { major, minor, arch };
    }
    if let Some(arch) = tag.strip_prefix("linux_")
        && valid_arch(arch)
    {
        return Platform::Linux { arch };
    }
    match tag {
        "win32" => Platform::Windows { machine: "x86" },
        "win_amd64" => Platform::Windows { machine: "AMD64" },
        "win_arm64" => Platform::Windows { machine: "ARM64" },
        _ => Platform::Other,
    }
}

/// The legacy alias of `manylinux_2_<minor>_<arch>` (PEP 600 §Legacy manylinux tags).
fn legacy_manylinux(minor: u32, arch: &str) -> Option<&'static str> {
    match minor {
        5 if matches!(arch, "x86_64" | "i686") => Some("manylinux1"),
        12 if matches!(arch, "x86_64" | "i686") => Some("manylinux2010"),
        17 if matches!(
            arch,
            "x86_64" | "i686" | "aarch64" | "armv7l" | "ppc64" | "ppc64le" | "s390x"
        ) =>
        {
            Some("manylinux2014")
        }
        _ => None,
    }
}

/// macOS binary formats a `(major, minor)` build for `arch` may carry
/// (`packaging.tags._mac_binary_formats`).
fn mac_binary_formats(major: u32, minor: u32, arch: &str) -> Vec<&str> {
    match arch {
        // arm64 builds only exist from macOS 11 on, but a universal2 build may declare an
        // older minimum version for its x86_64 half
        "arm64" if major < 11 => vec!["universal2"],
        "arm64" => vec!["arm64", "universal2"],
        "x86_64" if (major, minor) < (10, 4) => vec![],
        "x86_64" => vec![
            "x86_64",
            "intel",
            "fat64",
            "fat32",
            "universal2",
            "universal",
        ],
        other => vec![other],
    }
}

/// Every platform tag an installer running on `platform` accepts, most specific first,
/// ending with `"any"` (PEP 425, PEP 600, PEP 656, `packaging.tags`).
///
/// - Always `platform` itself first and `"any"` last.
/// - `manylinux_2_Y_<arch>` (or a legacy alias `manylinux1`/`2010`/`2014`): every
///   `manylinux_2_X_<arch>` for X from Y down to 5 (x86_64, i686) or 17 (other
///   architectures, as pip), each followed by its legacy alias where one exists
///   (`manylinux1` = 2_5, `manylinux2010` = 2_12, `manylinux2014` = 2_17), then
///   `linux_<arch>` (pip accepts it; some non-public indexes serve such wheels).
/// - `musllinux_1_Y_<arch>`: `musllinux_1_X_<arch>` for X from Y down to 0, then
///   `linux_<arch>`.
/// - `macosx_M_m_<arch>`: `macosx_M_x` for x from m down to 0; for M ≥ 11 also
///   `macosx_K_0` for K from M-1 down to 11 and `macosx_10_x` for x from 16 down to 4.
///   Each version is combined with the binary formats that contain `arch`
///   (`universal2` for x86_64 and arm64; `intel`, `fat64`, `fat32`, `universal` for
///   x86_64; arm64 builds do not exist below macOS 11, so 10.x gives only `universal2`).
/// - Anything else (Windows tags, `linux_<arch>`, unknown tags, version numbers above
///   200): just the tag itself and `"any"`.
pub fn compatible_platforms(platform: &str) -> Vec<String> {
    let mut out = vec![platform.to_owned()];
    match parse_platform(platform) {
        Platform::Manylinux {
            major: 2,
            minor,
            arch,
        } => {
            let oldest = if matches!(arch, "x86_64" | "i686") {
                5
            } else {
                17
            };
            for x in (oldest..=minor).rev() {
                out.push(format!("manylinux_2_{x}_{arch}"));
                if let Some(legacy) = legacy_manylinux(x, arch) {
                    out.push(format!("{legacy}_{arch}"));
                }
            }
            out.push(format!("linux_{arch}"));
        }
        Platform::Musllinux {
            major: 1,
            minor,
            arch,
        } => {
            for x in (0..=minor).rev() {
                out.push(format!("musllinux_1_{x}_{arch}"));
            }
            out.push(format!("linux_{arch}"));
        }
        Platform::Macos { major, minor, arch } => {
            let mut versions: Vec<(u32, u32)> = (0..=minor).rev().map(|m| (major, m)).collect();
            if major >= 11 {
                versions.extend((11..major).rev().map(|k| (k, 0)));
                versions.extend((4..=16).rev().map(|m| (10, m)));
            }
            for (ma, mi) in versions {
                for format in mac_binary_formats(ma, mi, arch) {
                    out.push(format!("macosx_{ma}_{mi}_{format}"));
                }
            }
        }
        _ => {}
    }
    out.push("any".to_owned());
    let mut seen = std::collections::HashSet::new();
    out.retain(|t| seen.insert(t.clone()));
    out
}

/// Parses `<prefix><major><minor>` such as `cp311` or `py3` into `(major, minor)`.
fn python_tag_version<'a>(tag: &'a str, prefix: &str) -> Option<(u8, Option<u8>)> {
    let digits: &'a str = tag.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (major, minor) = digits.split_at(1);
    let major = major.parse().ok()?;
    let minor = if minor.is_empty() {
        None
    } else {
        Some(minor.parse().ok()?)
    };
    Some((major, minor))
}

/// Whether the (python tag, ABI tag) pair is supported by CPython `major.minor`
/// (`packaging.tags.cpython_tags` + `compatible_tags`).
fn interpreter_supported(py: &str, abi: &str, major: u8, minor: u8) -> bool {
    let cp = python_tag_version(py, "cp");
    match abi {
        // cp3Y-none, py3Y-none, py3-none, py3x-none for x <= Y
        "none" => {
            cp == Some((major, Some(minor)))
                || match python_tag_version(py, "py") {
                    Some((m, None)) => m == major,
                    Some((m, Some(x))) => m == major && x <= minor,
                    None => false,
                }
        }
        // cp3x-abi3 for 2 <= x <= Y (the stable ABI exists since 3.2)
        "abi3" => {
            matches!(cp, Some((m, Some(x))) if m == major && major == 3 && (2..=minor).contains(&x))
        }
        _ => {
            let own = format!("cp{major}{minor}");
            cp == Some((major, Some(minor)))
                && (abi == own || (major == 3 && minor <= 7 && abi == format!("{own}m")))
        }
    }
}

/// Whether pip running CPython `target.python` on `target.platform` would install this
/// wheel: some (python, ABI, platform) triple of the wheel's tag sets is supported.
///
/// Supported pairs (PEP 425, `packaging.tags`): `cp3Y-cp3Y` (and `cp3Ym` up to 3.7),
/// `cp3x-abi3` for 2 ≤ x ≤ Y, and with ABI `none`: `cp3Y`, `py3`, `py3x` for x ≤ Y.
/// The platform must be in [`compatible_platforms`]`(target.platform)`; the platform
/// `any` only goes with ABI `none`. Free-threaded (`cp313t`) and debug ABIs are not
/// supported.
pub fn wheel_is_compatible(w: &WheelFilename, target: &Target) -> bool {
    let (major, minor) = target.python;
    let platforms = compatible_platforms(&target.platform);
    w.python_tags.iter().any(|py| {
        w.abi_tags.iter().any(|abi| {
            interpreter_supported(py, abi, major, minor)
                && w.platform_tags.iter().any(|plat| {
                    (plat != "any" || abi == "none") && platforms.iter().any(|p| p == plat)
                })
        })
    })
}

/// PEP 508 environment-marker values implied by a platform tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformEnv {
    /// `sys.platform`: `"linux"`, `"win32"` or `"darwin"`.
    pub sys_platform: &'static str,
    /// `platform.system()`: `"Linux"`, `"Windows"` or `"Darwin"`.
    pub platform_system: &'static str,
    /// `os.name`: `"posix"` or `"nt"`.
    pub os_name: &'static str,
    /// `platform.machine()`: `"x86_64"`, `"aarch64"` (Linux), `"AMD64"`, `"x86"`,
    /// `"ARM64"` (Windows), `"x86_64"`, `"arm64"` (macOS).
    pub platform_machine: String,
}

/// The PEP 508 marker values (`sys_platform`, `platform_system`, `os_name`,
/// `platform_machine`) of a concrete platform tag, or `None` for `any`, multi-arch macOS
/// tags (`universal2`…) and platforms we do not know.
pub fn platform_env(platform: &str) -> Option<PlatformEnv> {
    let linux = |arch: &str| PlatformEnv {
        sys_platform: "linux",
        platform_system: "Linux",
        os_name: "posix",
        platform_machine: arch.to_owned(),
    };
    match parse_platform(platform) {
        Platform::Manylinux { major: 2, arch, .. }
        | Platform::Musllinux { major: 1, arch, .. }
        | Platform::Linux { arch } => Some(linux(arch)),
        Platform::Macos { arch, .. } if matches!(arch, "x86_64" | "arm64") => Some(PlatformEnv {
            sys_platform: "darwin",
            platform_system: "Darwin",
            os_name: "posix",
            platform_machine: arch.to_owned(),
        }),
        Platform::Windows { machine } => Some(PlatformEnv {
            sys_platform: "win32",
            platform_system: "Windows",
            os_name: "nt",
            platform_machine: machine.to_owned(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pypi::filename::DistFilename;

    fn wheel(f: &str) -> WheelFilename {
        match DistFilename::parse(f, None).unwrap() {
            DistFilename::Wheel(w) => w,
            other => panic!("not a wheel: {other:?}"),
        }
    }

    fn t(py: &str, plat: &str) -> Target {
        Target::new(py, plat).unwrap()
    }

    #[test]
    fn target_validation() {
        assert_eq!(
            t("3.11", "manylinux_2_17_x86_64"),
            Target {
                python: (3, 11),
                platform: "manylinux_2_17_x86_64".into()
            }
        );
        for bad in [
            "3", "3.", "2.7", "3.x", "311", "3.11.4", "3.256", " 3.11", "+3.1",
        ] {
            assert!(
                matches!(
                    Target::new(bad, "win_amd64"),
                    Err(TagError::InvalidPython(_))
                ),
                "{bad}"
            );
        }
        for bad in [
            "any",
            "",
            "macosx_11_0_universal2",
            "freebsd_13_amd64",
            "manylinux_2_x_x86_64",
        ] {
            assert!(
                matches!(
                    Target::new("3.12", bad),
                    Err(TagError::UnsupportedPlatform(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn manylinux_expansion() {
        let p = compatible_platforms("manylinux_2_17_x86_64");
        assert_eq!(p.first().map(String::as_str), Some("manylinux_2_17_x86_64"));
        assert_eq!(p.last().map(String::as_str), Some("any"));
        for want in [
            "manylinux2014_x86_64",
            "manylinux_2_12_x86_64",
            "manylinux2010_x86_64",
            "manylinux_2_5_x86_64",
            "manylinux1_x86_64",
            "linux_x86_64",
        ] {
            assert!(p.iter().any(|x| x == want), "{want} missing from {p:?}");
        }
        for unwanted in [
            "manylinux_2_18_x86_64",
            "manylinux_2_4_x86_64",
            "manylinux_2_17_aarch64",
            "musllinux_1_1_x86_64",
        ] {
            assert!(!p.iter().any(|x| x == unwanted), "{unwanted} in {p:?}");
        }
        // 13 manylinux_2_X + 3 legacy + linux + any
        assert_eq!(p.len(), 13 + 3 + 2);

        // legacy alias as input expands the same way
        let legacy = compatible_platforms("manylinux2014_aarch64");
        assert!(legacy.iter().any(|x| x == "manylinux_2_17_aarch64"));
        assert!(!legacy.iter().any(|x| x.starts_with("manylinux_2_16")));
        let aarch = compatible_platforms("manylinux_2_28_aarch64");
        assert!(aarch.iter().any(|x| x == "manylinux2014_aarch64"));
        assert!(!aarch.iter().any(|x| x == "manylinux2010_aarch64"));
        assert!(!aarch.iter().any(|x| x == "manylinux_2_5_aarch64"));
        // no duplicates
        let mut sorted = legacy.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), legacy.len());
    }

    #[test]
    fn musllinux_and_others_expansion() {
        assert_eq!(
            compatible_platforms("musllinux_1_2_aarch64"),
            [
                "musllinux_1_2_aarch64",
                "musllinux_1_1_aarch64",
                "musllinux_1_0_aarch64",
                "linux_aarch64",
                "any"
            ]
        );
        assert_eq!(compatible_platforms("win_amd64"), ["win_amd64", "any"]);
        assert_eq!(compatible_platforms("any"), ["any"]);
        // absurd versions are not expanded (no huge allocation)
        assert_eq!(
            compatible_platforms("manylinux_2_4000000000_x86_64"),
            ["manylinux_2_4000000000_x86_64", "any"]
        );
    }

    #[test]
    fn macos_expansion() {
        let p = compatible_platforms("macosx_14_2_arm64");
        for want in [
            "macosx_14_2_arm64",
            "macosx_14_0_arm64",
            "macosx_14_0_universal2",
            "macosx_13_0_arm64",
            "macosx_11_0_arm64",
            "macosx_10_9_universal2",
            "macosx_10_4_universal2",
        ] {
            assert!(p.iter().any(|x| x == want), "{want} missing");
        }
        for unwanted in [
            "macosx_14_3_arm64",
            "macosx_10_9_arm64",
            "macosx_10_9_x86_64",
            "macosx_11_0_x86_64",
            "macosx_15_0_arm64",
        ] {
            assert!(!p.iter().any(|x| x == unwanted), "{unwanted} present");
        }
        let x = compatible_platforms("macosx_10_12_x86_64");
        for want in [
            "macosx_10_12_x86_64",
            "macosx_10_9_x86_64",
            "macosx_10_9_universal2",
            "macosx_10_6_intel",
        ] {
            assert!(x.iter().any(|y| y == want), "{want} missing");
        }
        assert!(!x.iter().any(|y| y == "macosx_10_13_x86_64"));
        assert!(!x.iter().any(|y| y.starts_with("macosx_11")));
    }

    #[test]
    fn pure_wheels() {
        let w = wheel("six-1.16.0-py2.py3-none-any.whl");
        assert!(wheel_is_compatible(&w, &t("3.12", "win_amd64")));
        assert!(wheel_is_compatible(&w, &t("3.8", "manylinux_2_17_x86_64")));
        let py2_only = wheel("futures-3.4.0-py2-none-any.whl");
        assert!(!wheel_is_compatible(&py2_only, &t("3.12", "win_amd64")));
        let py312 = wheel("x-1.0-py312-none-any.whl");
        assert!(wheel_is_compatible(&py312, &t("3.12", "win_amd64")));
        assert!(wheel_is_compatible(&py312, &t("3.13", "win_amd64")));
        assert!(!wheel_is_compatible(&py312, &t("3.11", "win_amd64")));
        // cpXY-none-any only for that exact CPython
        let cp_any = wheel("x-1.0-cp311-none-any.whl");
        assert!(wheel_is_compatible(&cp_any, &t("3.11", "win_amd64")));
        assert!(!wheel_is_compatible(&cp_any, &t("3.12", "win_amd64")));
        // an ABI other than none never goes with platform any
        let odd = wheel("x-1.0-cp311-cp311-any.whl");
        assert!(!wheel_is_compatible(&odd, &t("3.11", "win_amd64")));
        // py3-none-<platform>
        let plat = wheel("nvidia_nccl_cu12-2.21.5-py3-none-manylinux2014_x86_64.whl");
        assert!(wheel_is_compatible(
            &plat,
            &t("3.10", "manylinux_2_28_x86_64")
        ));
        assert!(!wheel_is_compatible(
            &plat,
            &t("3.10", "manylinux_2_28_aarch64")
        ));
        assert!(!wheel_is_compatible(
            &plat,
            &t("3.10", "manylinux_2_12_x86_64")
        ));
    }

    #[test]
    fn cpython_specific_wheels() {
        let w = wheel("numpy-2.1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl");
        assert!(wheel_is_compatible(&w, &t("3.11", "manylinux_2_17_x86_64")));
        assert!(wheel_is_compatible(&w, &t("3.11", "manylinux_2_35_x86_64")));
        assert!(!wheel_is_compatible(
            &w,
            &t("3.12", "manylinux_2_17_x86_64")
        ));
        assert!(!wheel_is_compatible(
            &w,
            &t("3.10", "manylinux_2_17_x86_64")
        ));
        assert!(!wheel_is_compatible(
            &w,
            &t("3.11", "manylinux_2_12_x86_64")
        ));
        assert!(!wheel_is_compatible(&w, &t("3.11", "musllinux_1_2_x86_64")));
        assert!(!wheel_is_compatible(&w, &t("3.11", "win_amd64")));
        let win = wheel("numpy-2.1.0-cp312-cp312-win_amd64.whl");
        assert!(wheel_is_compatible(&win, &t("3.12", "win_amd64")));
        assert!(!wheel_is_compatible(&win, &t("3.12", "win32")));
        let old = wheel("x-1.0-cp37-cp37m-manylinux1_x86_64.whl");
        assert!(wheel_is_compatible(
            &old,
            &t("3.7", "manylinux_2_17_x86_64")
        ));
        let ft = wheel("x-1.0-cp313-cp313t-manylinux_2_17_x86_64.whl");
        assert!(!wheel_is_compatible(
            &ft,
            &t("3.13", "manylinux_2_17_x86_64")
        ));
        let torch = wheel("torch-2.1.0+cu121-cp311-cp311-linux_x86_64.whl");
        assert!(wheel_is_compatible(
            &torch,
            &t("3.11", "manylinux_2_17_x86_64")
        ));
    }

    #[test]
    fn abi3_wheels() {
        let w = wheel("cryptography-43.0.0-cp39-abi3-manylinux_2_28_aarch64.whl");
        assert!(wheel_is_compatible(&w, &t("3.9", "manylinux_2_28_aarch64")));
        assert!(wheel_is_compatible(
            &w,
            &t("3.13", "manylinux_2_31_aarch64")
        ));
        assert!(!wheel_is_compatible(
            &w,
            &t("3.8", "manylinux_2_28_aarch64")
        ));
        assert!(!wheel_is_compatible(
            &w,
            &t("3.12", "manylinux_2_17_aarch64")
        ));
        // abi3 needs a cpXY python tag
        let py = wheel("x-1.0-py3-abi3-win_amd64.whl");
        assert!(!wheel_is_compatible(&py, &t("3.12", "win_amd64")));
        let mac = wheel("x-1.0-cp38-abi3-macosx_10_9_universal2.whl");
        assert!(wheel_is_compatible(&mac, &t("3.12", "macosx_14_0_arm64")));
        assert!(wheel_is_compatible(&mac, &t("3.12", "macosx_10_15_x86_64")));
    }

    #[test]
    fn platform_env_values() {
        let e = platform_env("manylinux_2_17_aarch64").unwrap();
        assert_eq!(
            (
                e.sys_platform,
                e.platform_system,
                e.os_name,
                e.platform_machine.as_str()
            ),
            ("linux", "Linux", "posix", "aarch64")
        );
        assert_eq!(
            platform_env("manylinux2014_x86_64")
                .unwrap()
                .platform_machine,
            "x86_64"
        );
        assert_eq!(
            platform_env("musllinux_1_2_x86_64").unwrap().sys_platform,
            "linux"
        );
        let w = platform_env("win_amd64").unwrap();
        assert_eq!(
            (
                w.sys_platform,
                w.platform_system,
                w.os_name,
                w.platform_machine.as_str()
            ),
            ("win32", "Windows", "nt", "AMD64")
        );
        assert_eq!(platform_env("win32").unwrap().platform_machine, "x86");
        let m = platform_env("macosx_11_0_arm64").unwrap();
        assert_eq!(
            (
                m.sys_platform,
                m.platform_system,
                m.os_name,
                m.platform_machine.as_str()
            ),
            ("darwin", "Darwin", "posix", "arm64")
        );
        for none in [
            "any",
            "macosx_11_0_universal2",
            "freebsd_14_amd64",
            "linux_",
            "manylinux_3_1_x86_64",
        ] {
            assert_eq!(platform_env(none), None, "{none}");
        }
    }
}
