//! Distribution file names: wheels (binary distribution format spec, PEP 427 / PEP 491)
//! and source distributions (source distribution format spec, PEP 625).
//!
//! - wheel: `{name}-{version}(-{build})?-{python tags}-{abi tags}-{platform tags}.whl`,
//!   where each tag set may be a compressed set such as `py2.py3`;
//! - sdist: `{name}-{version}.tar.gz` or legacy `{name}-{version}.zip`.
//!
//! Anything else (`.egg`, `.exe`, `.msi`, `.tar.bz2`, `.rpm`…) is refused with
//! [`FilenameError::UnsupportedExtension`] so callers can skip it.

use std::str::FromStr;

use pep440_rs::Version;

use super::name::{is_valid_project_name, normalize};

/// Why a distribution file name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilenameError {
    /// The name contains `/`, `\` or NUL, so it could name a path outside its directory.
    #[error("distribution filename {0:?} contains '/', '\\\\' or NUL; refusing it")]
    UnsafeCharacters(String),
    /// Not a wheel (`.whl`) or an sdist (`.tar.gz`, `.zip`).
    #[error(
        "distribution filename {0:?} is neither a wheel (.whl) nor an sdist (.tar.gz, .zip); skip it"
    )]
    UnsupportedExtension(String),
    /// A `.whl` name that does not follow the wheel file name convention.
    #[error(
        "invalid wheel filename {filename:?}: {reason} (expected {{name}}-{{version}}(-{{build}})?-{{python}}-{{abi}}-{{platform}}.whl)"
    )]
    InvalidWheel {
        /// The offending file name.
        filename: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An sdist name with no `-<PEP 440 version>` after a valid project name.
    #[error(
        "invalid sdist filename {filename:?}: {reason} (expected {{name}}-{{version}}.tar.gz or .zip)"
    )]
    InvalidSdist {
        /// The offending file name.
        filename: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The file name belongs to another project than the one whose page listed it.
    #[error("distribution filename {filename:?} does not belong to project {project:?}")]
    NameMismatch {
        /// The offending file name.
        filename: String,
        /// The project it was expected to belong to.
        project: String,
    },
}

/// A parsed wheel file name (binary distribution format, PEP 427 §File name convention).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelFilename {
    /// Project name, normalized (PEP 503), e.g. `"nvidia-cudnn-cu12"`.
    pub name: String,
    /// PEP 440 version.
    pub version: Version,
    /// Optional build tag (starts with a digit), e.g. `"1"` or `"2_cuda"`.
    pub build: Option<String>,
    /// Python tags, the compressed set split on `.`: `py2.py3` gives `["py2", "py3"]`.
    pub python_tags: Vec<String>,
    /// ABI tags, e.g. `["cp311"]`, `["abi3"]`, `["none"]`.
    pub abi_tags: Vec<String>,
    /// Platform tags, e.g. `["manylinux_2_17_x86_64", "manylinux2014_x86_64"]` or `["any"]`.
    pub platform_tags: Vec<String>,
}

/// A parsed source distribution file name (PEP 625, plus legacy `.zip` sdists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdistFilename {
    /// Project name, normalized (PEP 503).
    pub name: String,
    /// PEP 440 version.
    pub version: Version,
    /// `".tar.gz"` or `".zip"`.
    pub extension: String,
}

/// A wheel or sdist file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DistFilename {
    /// A `.whl` file.
    Wheel(WheelFilename),
    /// A `.tar.gz` or `.zip` source distribution.
    Sdist(SdistFilename),
}

const SDIST_EXTENSIONS: [&str; 2] = [".tar.gz", ".zip"];

impl DistFilename {
    /// Parses a distribution file name.
    ///
    /// `project` is the project whose index page listed the file, if known. It is needed
    /// for legacy sdists whose names contain `-` (`python-dateutil-2.9.0.tar.gz`): the
    /// file name must then start with a prefix that normalizes to the same name. Without
    /// it, the sdist name is split at the first `-` that is followed by a valid PEP 440
    /// version and preceded by a valid project name. When `project` is given, a file of
    /// any other project is refused with [`FilenameError::NameMismatch`].
    ///
    /// Errors: [`FilenameError`] for names with `/`, `\` or NUL, unsupported extensions,
    /// and names or versions that do not parse.
    pub fn parse(filename: &str, project: Option<&str>) -> Result<Self, FilenameError> {
        if filename.contains(['/', '\\', '\0']) {
            return Err(FilenameError::UnsafeCharacters(filename.to_owned()));
        }
        if let Some(stem) = filename.strip_suffix(".whl") {
            return parse_wheel(filename, stem, project).map(DistFilename::Wheel);
        }
        for ext in SDIST_EXTENSIONS {
            if let Some(stem) = filename.strip_suffix(ext) {
                return parse_sdist(filename, stem, ext, project).map(DistFilename::Sdist);
            }
        }
        Err(FilenameError::UnsupportedExtension(filename.to_owned()))
    }

    /// The release version.
    pub fn version(&self) -> &Version {
        match self {
            DistFilename::Wheel(w) => &w.version,
            DistFilename::Sdist(s) => &s.version,
        }
    }

    /// The normalized project name (PEP 503).
    pub fn name(&self) -> &str {
        match self {
            DistFilename::Wheel(w) => &w.name,
            DistFilename::Sdist(s) => &s.name,
        }
    }
}

fn parse_wheel(
    filename: &str,
    stem: &str,
    project: Option<&str>,
) -> Result<WheelFilename, FilenameError> {
    let invalid = |reason: &str| FilenameError::InvalidWheel {
        filename: filename.to_owned(),
        reason: reason.to_owned(),
    };
    let parts: Vec<&str> = stem.split('-').collect();
    let (name, version, build, py, abi, plat) = match parts.as_slice() {
        [name, version, py, abi, plat] => (*name, *version, None, *py, *abi, *plat),
        [name, version, build, py, abi, plat] => (*name, *version, Some(*build), *py, *abi, *plat),
        _ => return Err(invalid("expected 5 or 6 '-'-separated parts")),
    };
    if !is_valid_project_name(name) {
        return Err(invalid("the project name is not a valid PEP 508 name"));
    }
    let version = Version::from_str(version)
        .map_err(|e| invalid(&format!("version {version:?} is not PEP 440: {e}")))?;
    if let Some(build) = build
        && !build.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(invalid("the build tag must start with a digit"));
    }
    let tag_set = |set: &str, what: &str| -> Result<Vec<String>, FilenameError> {
        let tags: Vec<String> = set.split('.').map(str::to_owned).collect();
        if tags
            .iter()
            .any(|t| t.is_empty() || !t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        {
            return Err(invalid(&format!("malformed {what} tag set {set:?}")));
        }
        Ok(tags)
    };
    let wheel = WheelFilename {
        name: normalize(name),
        version,
        build: build.map(str::to_owned),
        python_tags: tag_set(py, "python")?,
        abi_tags: tag_set(abi, "ABI")?,
        platform_tags: tag_set(plat, "platform")?,
    };
    if let Some(project) = project
        && normalize(project) != wheel.name
    {
        return Err(FilenameError::NameMismatch {
            filename: filename.to_owned(),
            project: project.to_owned(),
        });
    }
    Ok(wheel)
}

fn parse_sdist(
    filename: &str,
    stem: &str,
    ext: &str,
    project: Option<&str>,
) -> Result<SdistFilename, FilenameError> {
    let invalid = |reason: &str| FilenameError::InvalidSdist {
        filename: filename.to_owned(),
        reason: reason.to_owned(),
    };
    let make = |name: &str, version: Version| SdistFilename {
        name: normalize(name),
        version,
        extension: ext.to_owned(),
    };
    if let Some(project) = project {
        let wanted = normalize(project);
        let mut name_matched = false;
        for (i, _) in stem.match_indices('-') {
            let (name, rest) = stem.split_at(i);
            if normalize(name) != wanted {
                continue;
            }
            name_matched = true;
            let version = rest.get(1..).unwrap_or_default();
            if let Ok(v) = Version::from_str(version) {
                return Ok(make(name, v));
            }
        }
        return Err(if name_matched {
            invalid("no valid PEP 440 version after the project name")
        } else {
            FilenameError::NameMismatch {
                filename: filename.to_owned(),
                project: project.to_owned(),
            }
        });
    }
    for (i, _) in stem.match_indices('-') {
        let (name, rest) = stem.split_at(i);
        if !is_valid_project_name(name) {
            continue;
        }
        if let Ok(v) = Version::from_str(rest.get(1..).unwrap_or_default()) {
            return Ok(make(name, v));
        }
    }
    Err(invalid(
        "no '-' separates a valid project name from a PEP 440 version",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::from_str(s).unwrap()
    }

    fn wheel(f: &str) -> WheelFilename {
        match DistFilename::parse(f, None).unwrap() {
            DistFilename::Wheel(w) => w,
            other => panic!("not a wheel: {other:?}"),
        }
    }

    fn sdist(f: &str, project: Option<&str>) -> SdistFilename {
        match DistFilename::parse(f, project).unwrap() {
            DistFilename::Sdist(s) => s,
            other => panic!("not an sdist: {other:?}"),
        }
    }

    #[test]
    fn parses_pure_wheel_with_compressed_tags() {
        let w = wheel("six-1.16.0-py2.py3-none-any.whl");
        assert_eq!(w.name, "six");
        assert_eq!(w.version, v("1.16.0"));
        assert_eq!(w.build, None);
        assert_eq!(w.python_tags, ["py2", "py3"]);
        assert_eq!(w.abi_tags, ["none"]);
        assert_eq!(w.platform_tags, ["any"]);
    }

    #[test]
    fn parses_binary_wheel_with_build_tag_and_normalizes_name() {
        let w = wheel(
            "Nvidia_CUDNN_cu12-9.1.0.70-2-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        );
        assert_eq!(w.name, "nvidia-cudnn-cu12");
        assert_eq!(w.version, v("9.1.0.70"));
        assert_eq!(w.build.as_deref(), Some("2"));
        assert_eq!(
            w.platform_tags,
            ["manylinux_2_17_x86_64", "manylinux2014_x86_64"]
        );
        let parsed = DistFilename::parse(
            "torch-2.1.0+cu121-cp311-cp311-linux_x86_64.whl",
            Some("Torch"),
        )
        .unwrap();
        assert_eq!(parsed.name(), "torch");
        assert_eq!(parsed.version(), &v("2.1.0+cu121"));
    }

    #[test]
    fn rejects_malformed_wheels() {
        for bad in [
            "foo-1.0-py3-none.whl",
            "foo-1.0-x-y-py3-none-any.whl",
            "foo-notaversion-py3-none-any.whl",
            "foo-1.0-abc-py3-none-any.whl", // build tag must start with a digit
            "foo-1.0-py3..py2-none-any.whl",
            "-1.0-py3-none-any.whl",
            ".whl",
        ] {
            assert!(
                matches!(
                    DistFilename::parse(bad, None),
                    Err(FilenameError::InvalidWheel { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn wheel_of_other_project_is_a_mismatch() {
        assert!(matches!(
            DistFilename::parse("six-1.0-py3-none-any.whl", Some("seven")),
            Err(FilenameError::NameMismatch { .. })
        ));
        assert!(
            DistFilename::parse(
                "Zope.Interface-6.0-py3-none-any.whl",
                Some("zope-interface")
            )
            .is_ok()
        );
    }

    #[test]
    fn parses_sdists() {
        let s = sdist("requests-2.32.3.tar.gz", None);
        assert_eq!(
            (s.name.as_str(), s.version, s.extension.as_str()),
            ("requests", v("2.32.3"), ".tar.gz")
        );
        let s = sdist("python-dateutil-2.9.0.post0.tar.gz", None);
        assert_eq!(
            (s.name.as_str(), s.version),
            ("python-dateutil", v("2.9.0.post0"))
        );
        let s = sdist("Foo-1.0.zip", None);
        assert_eq!((s.name.as_str(), s.extension.as_str()), ("foo", ".zip"));
        // a legacy post-release spelled with '-' stays part of the version
        let s = sdist("foo-1.0-2.tar.gz", None);
        assert_eq!((s.name.as_str(), s.version), ("foo", v("1.0.post2")));
    }

    #[test]
    fn sdist_split_uses_the_project_name() {
        // Without the project name "foo-1-2" is ambiguous: "foo" + "1-2" (= 1.post2) wins.
        let s = sdist("foo-1-2.tar.gz", None);
        assert_eq!((s.name.as_str(), s.version), ("foo", v("1.post2")));
        let s = sdist("foo-1-2.tar.gz", Some("foo-1"));
        assert_eq!((s.name.as_str(), s.version), ("foo-1", v("2")));
        let s = sdist("foo-2-1.0.tar.gz", None);
        assert_eq!((s.name.as_str(), s.version), ("foo-2", v("1.0")));
        let s = sdist("foo_bar-3.0.tar.gz", Some("Foo.Bar"));
        assert_eq!(s.name, "foo-bar");
        assert!(matches!(
            DistFilename::parse("other-1.0.tar.gz", Some("foo")),
            Err(FilenameError::NameMismatch { .. })
        ));
        assert!(matches!(
            DistFilename::parse("foo-latest.tar.gz", Some("foo")),
            Err(FilenameError::InvalidSdist { .. })
        ));
    }

    #[test]
    fn rejects_other_extensions_and_unsafe_names() {
        for f in [
            "foo-1.0-py2.7.egg",
            "foo-1.0.win32.exe",
            "foo-1.0.tar.bz2",
            "foo-1.0.tar",
            "foo-1.0.TAR.GZ",
        ] {
            assert!(
                matches!(
                    DistFilename::parse(f, None),
                    Err(FilenameError::UnsupportedExtension(_))
                ),
                "{f}"
            );
        }
        for f in [
            "../foo-1.0.tar.gz",
            "a/foo-1.0-py3-none-any.whl",
            "foo\\1.0.zip",
            "foo-1.0\0.tar.gz",
        ] {
            assert!(
                matches!(
                    DistFilename::parse(f, None),
                    Err(FilenameError::UnsafeCharacters(_))
                ),
                "{f:?}"
            );
        }
        assert!(matches!(
            DistFilename::parse("nodash.tar.gz", None),
            Err(FilenameError::InvalidSdist { .. })
        ));
        assert!(DistFilename::parse("-1.0.tar.gz", None).is_err());
    }
}
