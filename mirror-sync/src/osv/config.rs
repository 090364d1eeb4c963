//! Step 1 of the `[[osv]]` upstreams, their configuration ([`OsvUpstream`], [`validate`]).

use std::collections::HashSet;

use anyhow::bail;
use serde::Deserialize;

/// `[[osv]]`: where to fetch OSV exports from, and for which ecosystems.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OsvUpstream {
    /// Name of the upstream (recorded in the manifest; the `osv/<name>/` path prefix).
    pub name: String,
    /// Base URL of the exports: `<url>/<ecosystem>/all.zip` is fetched per ecosystem.
    pub url: String,
    /// OSV ecosystems (`Debian:12`, `Ubuntu:24.04:LTS`, `PyPI`), as the OSV schema spells
    /// them ([`formats::osv::ecosystem::is_supported`]).
    pub ecosystems: Vec<String>,
}

/// Checks one `[[osv]]` table: an http(s) `url`, at least one ecosystem, each supported
/// and listed once.
///
/// Errors: name the table and the offending value, with the accepted forms.
pub fn validate(u: &OsvUpstream) -> anyhow::Result<()> {
    crate::fetch::check_url(&u.url).map_err(|e| e.context(format!("[[osv]] {}", u.name)))?;
    if u.ecosystems.is_empty() {
        bail!(
            "[[osv]] {}: ecosystems is empty: list the OSV ecosystems to fetch, e.g. [\"Debian:12\", \"Ubuntu:24.04:LTS\", \"PyPI\"]",
            u.name
        );
    }
    let mut seen = HashSet::new();
    for e in &u.ecosystems {
        formats::osv::archive::check_ecosystem(e)
            .map_err(|err| anyhow::anyhow!("[[osv]] {}: {err}", u.name))?;
        if !seen.insert(e) {
            bail!("[[osv]] {}: ecosystem {e:?} is listed twice", u.name);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(url: &str, ecosystems: &[&str]) -> OsvUpstream {
        OsvUpstream {
            name: "osv".into(),
            url: url.into(),
            ecosystems: ecosystems.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn loads_from_the_configuration_file() {
        let dir = tempfile::tempdir().unwrap();
        let head =
            "store = \"s\"\nchannel = \"c\"\n[signing]\nsnapshot_key = \"k\"\nrepo_key = \"r\"\n";
        let p = dir.path().join("mirror.toml");
        std::fs::write(
            &p,
            format!("{head}[[osv]]\nname = \"osv\"\nurl = \"https://osv.example/\"\necosystems = [\"Debian:12\", \"PyPI\"]\n"),
        )
        .unwrap();
        // An [[osv]] table alone is a valid configuration.
        let cfg = crate::config::Config::load(&p).unwrap();
        assert_eq!(cfg.osv[0].ecosystems, ["Debian:12", "PyPI"]);
        // Its name is unique among all upstreams; unknown keys are refused.
        std::fs::write(
            &p,
            format!("{head}[[oci]]\nname = \"osv\"\nregistry = \"127.0.0.1:5000\"\nimages = [\"team/app:v1\"]\n[[osv]]\nname = \"osv\"\nurl = \"https://osv.example/\"\necosystems = [\"PyPI\"]\n"),
        )
        .unwrap();
        let err = format!("{:#}", crate::config::Config::load(&p).unwrap_err());
        assert!(err.contains("duplicate upstream name"), "{err}");
        std::fs::write(
            &p,
            format!("{head}[[osv]]\nname = \"osv\"\nurl = \"https://osv.example/\"\necosystems = [\"PyPI\"]\nsigned = true\n"),
        )
        .unwrap();
        let err = format!("{:#}", crate::config::Config::load(&p).unwrap_err());
        assert!(err.contains("signed"), "{err}");
    }

    #[test]
    fn checks_urls_and_ecosystems() {
        validate(&up(
            "https://osv.example/",
            &["Debian:12", "Ubuntu:24.04:LTS", "PyPI"],
        ))
        .unwrap();
        for (u, e, want) in [
            ("ftp://osv.example/", vec!["PyPI"], "unsupported url scheme"),
            ("https://osv.example/", vec![], "ecosystems is empty"),
            ("https://osv.example/", vec!["npm"], "not supported"),
            (
                "https://osv.example/",
                vec!["Ubuntu:Pro:24.04:LTS"],
                "not supported",
            ),
            ("https://osv.example/", vec!["PyPI", "PyPI"], "listed twice"),
        ] {
            let err = format!("{:#}", validate(&up(u, &e)).unwrap_err());
            assert!(err.contains(want), "{e:?}: {err}");
        }
    }
}
