//! Step 1 of an APT upstream, its configuration: the `[[apt]]` table ([`AptUpstream`])
//! and the checks of one table ([`validate`]), including the keyring pin
//! ([`check_keyring_fingerprints`]). [`crate::config`] parses the file into these types,
//! checks the names across tables and calls [`validate`]; this module never imports it.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// `[[apt]]`: one APT repository.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AptUpstream {
    /// Served at `/apt/<name>/`.
    pub name: String,
    /// Archive root URL (standard) or the directory holding `Packages` (flat).
    pub url: String,
    /// Flat repository (`deb [...] URL /`).
    #[serde(default)]
    pub flat: bool,
    /// Suites (standard repositories only).
    #[serde(default)]
    pub suites: Vec<String>,
    /// Components (standard repositories only).
    #[serde(default)]
    pub components: Vec<String>,
    /// Architectures; `all` packages always come along. Default `["amd64"]`.
    #[serde(default = "default_arches")]
    pub architectures: Vec<String>,
    /// Packages to mirror: `name`, `name=version` or a glob (`lib*`), closed under
    /// Depends and Pre-Depends. Empty means every package of the selected indexes.
    #[serde(default)]
    pub packages: Vec<String>,
    /// Also follow Recommends.
    #[serde(default)]
    pub recommends: bool,
    /// OpenPGP keyring (binary or armored) that must verify the upstream `InRelease`
    /// or `Release.gpg`.
    pub keyring: PathBuf,
    /// Expected primary-key fingerprints (hex, spaces allowed): when not empty, the
    /// keyring must contain at least one of them ([`check_keyring_fingerprints`]). The
    /// NVIDIA presets fill NVIDIA's published keys; an empty list turns the check off.
    #[serde(default)]
    pub keyring_fingerprints: Vec<String>,
    /// The distribution release the packages are built for, `<id>-<version_id>` as
    /// os-release(5) spells them (`ubuntu-24.04`, `debian-12`): the `distro` qualifier of
    /// the packages' purls and the key to OSV ecosystems. Default: from the upstream
    /// `Release`'s `Origin` and `Version` fields (`Ubuntu` `24.04` → `ubuntu-24.04`;
    /// Debian's `12.8` → `debian-12`); a third-party repository whose `Release` has no
    /// `Version` (NVIDIA's) should set it to the release its packages target.
    #[serde(default)]
    pub target_distro: Option<String>,
}

/// The `<id>-<version_id>` of a distribution from a `Release` file's `Origin` and
/// `Version` fields: `Ubuntu` + `24.04` → `ubuntu-24.04`; `Debian` + `12.8` → `debian-12`
/// (Debian's os-release `VERSION_ID` is the major number). `None` without both, or when
/// either holds characters other than letters, digits, `.`, `-`, `+`, `~` and spaces.
pub fn distro_of(origin: Option<&str>, version: Option<&str>) -> Option<String> {
    let origin = origin?.trim();
    let version = version?.trim();
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '~' | ' '))
    };
    if !ok(origin) || !ok(version) {
        return None;
    }
    let id = origin.to_ascii_lowercase().replace(' ', "-");
    let version = if id == "debian" {
        version.split('.').next().unwrap_or(version)
    } else {
        version
    };
    Some(format!("{id}-{version}"))
}

fn default_arches() -> Vec<String> {
    vec!["amd64".into()]
}

/// Checks one `[[apt]]` table (called from [`crate::config::Config::validate`] after the
/// name): the url, flat vs. suites/components, the suite, component and architecture
/// names, the keyring, and — when `keyring_fingerprints` is not empty — the pin against
/// `keyring`, the table's keyring path resolved against the config file's directory.
///
/// Errors: the first rule broken, naming the table (`[[apt]] <name>: …`).
pub fn validate(a: &AptUpstream, keyring: &Path) -> anyhow::Result<()> {
    crate::fetch::check_url(&a.url).with_context(|| format!("[[apt]] {}", a.name))?;
    if let Some(d) = &a.target_distro {
        let valid = d.split_once('-').is_some_and(|(id, v)| {
            !id.is_empty()
                && !v.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        });
        if !valid {
            bail!(
                "[[apt]] {}: target_distro {d:?} is not <id>-<version_id> as in os-release(5), e.g. \"ubuntu-24.04\" or \"debian-12\"",
                a.name
            );
        }
    }
    if a.flat {
        if !a.suites.is_empty() || !a.components.is_empty() {
            bail!(
                "[[apt]] {}: a flat repository has no suites or components; remove them or set flat = false",
                a.name
            );
        }
    } else if a.suites.is_empty() || a.components.is_empty() {
        bail!(
            "[[apt]] {}: suites and components are required (or set flat = true)",
            a.name
        );
    }
    for s in a.suites.iter().chain(&a.components).chain(&a.architectures) {
        if s.is_empty() || s.contains(['/', '\\', '\0']) || s == ".." || s == "." {
            bail!(
                "[[apt]] {}: invalid suite, component or architecture {s:?}",
                a.name
            );
        }
    }
    if a.keyring.as_os_str().is_empty() {
        bail!(
            "[[apt]] {}: keyring is empty; name the OpenPGP keyring that signs this repository",
            a.name
        );
    }
    if a.architectures.is_empty() {
        bail!("[[apt]] {}: architectures must not be empty", a.name);
    }
    if !a.keyring_fingerprints.is_empty() {
        check_keyring_fingerprints(a, keyring)?;
    }
    Ok(())
}

/// A fingerprint as written (`EB69 3B30 …`, any case) → upper-case hex without spaces.
///
/// Errors: not 40 (v4) or 64 (v6) hex digits.
pub fn normalize_fingerprint(f: &str) -> anyhow::Result<String> {
    let hex: String = f.chars().filter(|c| !c.is_whitespace()).collect();
    if !matches!(hex.len(), 40 | 64) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("invalid fingerprint {f:?}: expected 40 (v4) or 64 (v6) hex digits");
    }
    Ok(hex.to_ascii_uppercase())
}

/// Checks that the keyring at `keyring` (the upstream's resolved keyring path) holds at
/// least one primary key listed in `up.keyring_fingerprints`.
///
/// Errors: a malformed fingerprint; the keyring cannot be loaded; or none of the expected
/// keys is in it — the message names the expected and the found fingerprints.
pub fn check_keyring_fingerprints(up: &AptUpstream, keyring: &Path) -> anyhow::Result<()> {
    let expected = up
        .keyring_fingerprints
        .iter()
        .map(|f| normalize_fingerprint(f))
        .collect::<anyhow::Result<Vec<_>>>()
        .with_context(|| format!("[[apt]] {}: keyring_fingerprints", up.name))?;
    let ring = keys::openpgp::Keyring::load(keyring).with_context(|| {
        format!(
            "[[apt]] {}: cannot load keyring {}",
            up.name,
            keyring.display()
        )
    })?;
    let found = ring.fingerprints();
    if found.iter().any(|f| expected.contains(f)) {
        return Ok(());
    }
    bail!(
        "[[apt]] {}: keyring {} holds {} but none of the expected {}; make sure it is the vendor's keyring (check the fingerprint out of band), or set keyring_fingerprints = [\"…\"] if the vendor rotated its key",
        up.name,
        keyring.display(),
        if found.is_empty() {
            "no key".to_owned()
        } else {
            found.join(", ")
        },
        expected.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::distro_of;

    #[test]
    fn distro_from_release_origin_and_version() {
        assert_eq!(
            distro_of(Some("Ubuntu"), Some("24.04")).as_deref(),
            Some("ubuntu-24.04")
        );
        assert_eq!(
            distro_of(Some("Debian"), Some("12.8")).as_deref(),
            Some("debian-12"),
            "Debian's VERSION_ID is the major number"
        );
        assert_eq!(
            distro_of(Some("Linux Mint"), Some("22")).as_deref(),
            Some("linux-mint-22")
        );
        assert_eq!(distro_of(Some("NVIDIA"), None), None);
        assert_eq!(distro_of(None, Some("24.04")), None);
        assert_eq!(distro_of(Some("Ubuntu"), Some("24.04/../x")), None);
        assert_eq!(distro_of(Some(""), Some("1")), None);
    }
}
