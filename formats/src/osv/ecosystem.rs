//! OSV ecosystem names (OSV schema §affected[].package.ecosystem, "Defined ecosystems")
//! for the ecosystems the mirror carries: `Debian[:<release>]`,
//! `Ubuntu[:Pro][:<release>][:LTS]` and `PyPI`, and how a Debian/Ubuntu release named by a
//! snapshot source (`Source::distro`, `<id>-<version_id>`: `debian-12`, `ubuntu-24.04`)
//! maps onto them.

/// The ecosystem families this crate can match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// `Debian`, `Debian:<release>` (`Debian:12`).
    Debian,
    /// `Ubuntu:<release>[:LTS]` (`Ubuntu:24.04:LTS`), `Ubuntu:Pro:…`.
    Ubuntu,
    /// `PyPI`.
    PyPI,
}

impl Family {
    /// True for the families whose versions are Debian versions (deb-version(7)) and whose
    /// records name source packages.
    pub fn is_deb(self) -> bool {
        matches!(self, Family::Debian | Family::Ubuntu)
    }
}

/// The family of an OSV ecosystem string (case-sensitive, as the schema spells them);
/// `None` for every other ecosystem (`npm`, `Alpine:v3.19`, …).
pub fn family(ecosystem: &str) -> Option<Family> {
    match ecosystem.split(':').next() {
        Some("Debian") => Some(Family::Debian),
        Some("Ubuntu") => Some(Family::Ubuntu),
        Some("PyPI") if ecosystem == "PyPI" => Some(Family::PyPI),
        _ => None,
    }
}

/// True for Ubuntu Pro ecosystems (`Ubuntu:Pro:18.04:LTS`, `Ubuntu:Pro:FIPS:…`): packages of
/// the Ubuntu Pro archives, which the mirror does not carry, so they never match.
pub fn is_pro(ecosystem: &str) -> bool {
    ecosystem.starts_with("Ubuntu:Pro")
}

/// The release part of a Debian or Ubuntu ecosystem (`Debian:12` → `12`,
/// `Ubuntu:24.04:LTS` → `24.04`); `None` for a bare family or a Pro ecosystem.
pub fn release(ecosystem: &str) -> Option<&str> {
    if is_pro(ecosystem) {
        return None;
    }
    let mut parts = ecosystem.split(':');
    let _family = parts.next()?;
    parts.next().filter(|r| !r.is_empty())
}

/// Whether the OSV `ecosystem` names the Debian or Ubuntu release `distro`
/// (`Source::distro`, `<id>-<version_id>`): `debian-12` ↔ `Debian:12` (a point release
/// `debian-12.5` too), `ubuntu-24.04` ↔ `Ubuntu:24.04` and `Ubuntu:24.04:LTS`. Ubuntu Pro
/// ecosystems never match.
pub fn distro_matches(distro: &str, ecosystem: &str) -> bool {
    let Some((id, version)) = distro.split_once('-') else {
        return false;
    };
    let Some(rel) = release(ecosystem) else {
        return false;
    };
    match (id, family(ecosystem)) {
        ("debian", Some(Family::Debian)) => version.split('.').next() == Some(rel),
        ("ubuntu", Some(Family::Ubuntu)) => version == rel,
        _ => false,
    }
}

/// The family a `Source::origin` (`Debian`, `Ubuntu`, the upstream `Release`'s `Origin`)
/// names, case-insensitively; `None` for any other origin.
pub fn family_of_origin(origin: &str) -> Option<Family> {
    match origin.to_ascii_lowercase().as_str() {
        "debian" => Some(Family::Debian),
        "ubuntu" => Some(Family::Ubuntu),
        _ => None,
    }
}

/// Whether `ecosystem` is acceptable in an `[[osv]]` configuration or on media: a
/// [`family`] this crate matches, not Ubuntu Pro, at most 64 bytes of ASCII letters,
/// digits, `.`, `:` and `-` (so it can be a path segment: `osv/<upstream>/<ecosystem>/`).
pub fn is_supported(ecosystem: &str) -> bool {
    !ecosystem.is_empty()
        && ecosystem.len() <= 64
        && ecosystem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'-'))
        && family(ecosystem).is_some()
        && !is_pro(ecosystem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_releases() {
        assert_eq!(family("Debian:12"), Some(Family::Debian));
        assert_eq!(family("Debian"), Some(Family::Debian));
        assert_eq!(family("Ubuntu:24.04:LTS"), Some(Family::Ubuntu));
        assert_eq!(family("PyPI"), Some(Family::PyPI));
        assert_eq!(family("PyPI:x"), None);
        assert_eq!(family("npm"), None);
        assert_eq!(release("Ubuntu:24.04:LTS"), Some("24.04"));
        assert_eq!(release("Debian:12"), Some("12"));
        assert_eq!(release("Debian"), None);
        assert_eq!(release("Ubuntu:Pro:18.04:LTS"), None);
    }

    #[test]
    fn distros_map_to_ecosystems() {
        assert!(distro_matches("debian-12", "Debian:12"));
        assert!(distro_matches("debian-12.5", "Debian:12"));
        assert!(!distro_matches("debian-12", "Debian:11"));
        assert!(!distro_matches("debian-12", "Debian"));
        assert!(distro_matches("ubuntu-24.04", "Ubuntu:24.04:LTS"));
        assert!(distro_matches("ubuntu-24.10", "Ubuntu:24.10"));
        assert!(!distro_matches("ubuntu-24.04", "Ubuntu:22.04:LTS"));
        assert!(!distro_matches("ubuntu-24.04", "Ubuntu:Pro:24.04:LTS"));
        assert!(!distro_matches("ubuntu-24.04", "Debian:24.04"));
        assert!(!distro_matches("noble", "Ubuntu:24.04:LTS"));
    }

    #[test]
    fn supported_ecosystems() {
        for ok in ["Debian:12", "Ubuntu:24.04:LTS", "PyPI", "Debian"] {
            assert!(is_supported(ok), "{ok}");
        }
        for bad in [
            "",
            "npm",
            "Ubuntu:Pro:24.04:LTS",
            "Debian/12",
            "Debian:../x",
            "PyPI ",
        ] {
            assert!(!is_supported(bad), "{bad}");
        }
    }
}
