//! OCI registries: the distribution-spec pull client ([`client`]), the sync of one
//! `[[oci]]` upstream into the store and the snapshot's artifact list ([`sync`]), and the
//! pure selection rules they share (which tags, which platforms), defined here.
//!
//! Logical paths follow docs/media-format.md: `v2/<served repo>/manifests/sha256:<hex>`,
//! `v2/<served repo>/manifests/<tag>` and `v2/<served repo>/blobs/sha256:<hex>`, where the
//! served repository is `<registry with ':' as '__'>/<path>`
//! ([`formats::oci::ImageRef::served_name`]).
//!
//! The `[[oci]]` table itself ([`OciUpstream`], its `[oci.verify]` rules
//! [`VerifyConfig`]) and its checks ([`validate_upstream`]) are defined here, not in
//! [`crate::config`], so imports run one way: `config` → `oci` (this file), and
//! `oci::policy` → {`config`, `oci`}. `config` parses the file into these types and calls
//! [`validate_upstream`]; this file never imports `config`, and [`policy`] reads the
//! loaded [`crate::config::Config`] (issue 14 broke the `config ⇄ oci ⇄ oci::policy`
//! cycle this way). The registry host is checked
//! with the one rule of [`formats::oci`].

pub mod client;
pub mod policy;
pub mod sync;
#[cfg(test)]
pub(crate) mod test_server;

use std::collections::BTreeMap;

use anyhow::{Context as _, anyhow, bail};
use formats::digest::Digest;
use formats::oci::{self, Descriptor, ImageRef, Platform};
use serde::Deserialize;

/// `[[oci]]`: one OCI distribution registry (distribution-spec v1.1 pull side).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OciUpstream {
    /// Name of the upstream (recorded in the manifest).
    pub name: String,
    /// Registry host as users name it, `host[:port]` (`docker.io`, `127.0.0.1:5000`).
    /// Served repositories are `<registry>/<path>`, with `:` mapped to `__`.
    pub registry: String,
    /// API base URL override (`http://127.0.0.1:5000`); default `https://<registry>`
    /// (`docker.io` uses Docker's API endpoint, see [`OciUpstream::api_base`]).
    #[serde(default)]
    pub url: Option<String>,
    /// Images: `path:tag`, `path@sha256:<hex>`, or a bare `path` whose tags come from
    /// `tags_regex` / `tags_semver`.
    #[serde(default)]
    pub images: Vec<String>,
    /// Repository path → regex (Rust `regex` syntax) that selects tags from the tag list.
    #[serde(default)]
    pub tags_regex: BTreeMap<String, String>,
    /// Repository path → semver range (`>=1.27, <1.28`) that selects tags parsing as
    /// semver (a leading `v` is allowed).
    #[serde(default)]
    pub tags_semver: BTreeMap<String, String>,
    /// Platforms (`os/arch[/variant]`) kept from multi-platform indexes; empty keeps all.
    #[serde(default)]
    pub platforms: Vec<String>,
    /// Where the credentials come from: `env:VAR`, `file:PATH`, `docker-config` or
    /// `docker-config:PATH` (see [`client::CredentialSource`]). Never logged.
    #[serde(default)]
    pub credentials: Option<String>,
    /// Also fetch non-distributable (foreign) layers.
    #[serde(default)]
    pub foreign_layers: bool,
    /// Fetch referrers: the OCI 1.1 referrers API and cosign `sha256-<hex>.sig/.att/.sbom` tags.
    #[serde(default = "default_true")]
    pub referrers: bool,
    /// `[oci.verify]`: cosign signature policy, image pattern (`nvcr.io/nvidia/*`) → rule.
    #[serde(default)]
    pub verify: VerifyConfig,
}

fn default_true() -> bool {
    true
}

/// Docker's API endpoint for the `docker.io` registry name (Docker's well-known mapping).
pub const DOCKER_HUB_API: &str = "https://registry-1.docker.io/";

impl OciUpstream {
    /// The distribution API base URL, ending in `/`: `url` when set, Docker's endpoint for
    /// `docker.io`, else `https://<registry>/`.
    ///
    /// Errors: `url` is not an http(s) URL.
    pub fn api_base(&self) -> anyhow::Result<url::Url> {
        match &self.url {
            Some(u) => crate::fetch::base_url(u),
            None if self.registry == "docker.io" => crate::fetch::base_url(DOCKER_HUB_API),
            None => crate::fetch::base_url(&format!("https://{}/", self.registry)),
        }
    }
}

/// `[oci.verify]`: image pattern → rule (applied by [`policy`]).
pub type VerifyConfig = BTreeMap<String, keys::cosign::VerifyRule>;

/// Largest compiled size of a `tags_regex` (bytes), so a config cannot make the
/// regex engine allocate without bound.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Which tags of a repository to mirror: every filter given must match.
#[derive(Debug, Clone)]
pub struct TagFilter {
    regex: Option<regex::Regex>,
    semver: Option<semver::VersionReq>,
}

impl TagFilter {
    /// Builds a filter from a `tags_regex` value (Rust `regex` syntax, unanchored unless
    /// written with `^…$`) and/or a `tags_semver` range (`>=1.27, <1.28`, semver crate
    /// syntax, comma = and).
    ///
    /// Errors: an invalid regex or range, or neither given.
    pub fn new(regex: Option<&str>, semver: Option<&str>) -> anyhow::Result<TagFilter> {
        if regex.is_none() && semver.is_none() {
            bail!("a tag filter needs tags_regex or tags_semver");
        }
        let regex = regex
            .map(|r| {
                regex::RegexBuilder::new(r)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .with_context(|| format!("invalid tags_regex {r:?}"))
            })
            .transpose()?;
        let semver = semver
            .map(|s| {
                semver::VersionReq::parse(s).with_context(|| {
                    format!("invalid tags_semver {s:?}: expected a range like \">=1.27, <1.28\"")
                })
            })
            .transpose()?;
        Ok(TagFilter { regex, semver })
    }

    /// True if `tag` passes every filter: the regex finds a match, and the tag parses as
    /// semver ([`semver_of_tag`]) inside the range (pre-releases only where the range
    /// names one, as the semver crate rules).
    pub fn matches(&self, tag: &str) -> bool {
        if let Some(r) = &self.regex
            && !r.is_match(tag)
        {
            return false;
        }
        if let Some(req) = &self.semver {
            return semver_of_tag(tag).is_some_and(|v| req.matches(&v));
        }
        true
    }
}

/// The semantic version a tag stands for: the tag, or the tag without one leading `v`,
/// parsed strictly as SemVer 2.0 (`1.27.3`, `v2.0.0-rc.1`; `1.27` is not one).
pub fn semver_of_tag(tag: &str) -> Option<semver::Version> {
    let t = tag.strip_prefix('v').unwrap_or(tag);
    semver::Version::parse(t).ok()
}

/// Selects the tags to mirror from a tag list: valid tags (distribution grammar) that
/// are not cosign artifact tags (`sha256-<hex>.sig|att|sbom`, which come with their
/// image) and pass `filter`; sorted and without duplicates.
pub fn select_tags(tags: &[String], filter: &TagFilter) -> Vec<String> {
    let mut out: Vec<String> = tags
        .iter()
        .filter(|t| oci::is_valid_tag(t) && oci::parse_cosign_tag(t).is_none())
        .filter(|t| filter.matches(t))
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

/// What to do with one child of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildDecision {
    /// Fetch it; `platform` (`os/arch[/variant]`) is recorded as `meta.platform`.
    Keep {
        /// The child's platform, when it has a real one.
        platform: Option<String>,
    },
    /// Leave it out; the string goes into the index's `meta.omitted`
    /// (`sha256:<hex> os/arch[/variant]`).
    Omit(String),
}

/// Annotation BuildKit puts on the attestation manifests of an index.
const DOCKER_REFERENCE_TYPE: &str = "vnd.docker.reference.type";

/// True for an index child that is not a runnable image: no platform, platform
/// `unknown/unknown`, or a BuildKit attestation manifest.
pub fn is_attestation_child(d: &Descriptor) -> bool {
    d.annotations.get(DOCKER_REFERENCE_TYPE).map(String::as_str) == Some("attestation-manifest")
        || d.platform
            .as_ref()
            .is_none_or(|p| p.os == "unknown" && p.architecture == "unknown")
}

/// The platform filter for multi-platform indexes: a child whose platform matches one
/// of `wanted` (all when `wanted` is empty; [`Platform::matches`]) is kept; children
/// without a real platform (attestation manifests, [`is_attestation_child`]) are kept
/// only when `referrers` is on; every other child is omitted.
pub fn decide_child(d: &Descriptor, wanted: &[Platform], referrers: bool) -> ChildDecision {
    let shown = d
        .platform
        .as_ref()
        .map_or_else(|| "unknown/unknown".to_owned(), Platform::to_string_short);
    if is_attestation_child(d) {
        return if referrers {
            ChildDecision::Keep { platform: None }
        } else {
            ChildDecision::Omit(format!("{} {shown}", d.digest))
        };
    }
    match &d.platform {
        Some(p) if wanted.is_empty() || wanted.iter().any(|w| p.matches(w)) => {
            ChildDecision::Keep {
                platform: Some(shown),
            }
        }
        _ => ChildDecision::Omit(format!("{} {shown}", d.digest)),
    }
}

/// How the tags of one configured image are chosen.
#[derive(Debug, Clone)]
pub enum Selection {
    /// One tag.
    Tag(String),
    /// One manifest by digest; `tag` (from `path:tag@sha256:…`) is served pointing at
    /// it (a pinned tag).
    Digest {
        /// The pinned digest.
        digest: Digest,
        /// The tag written with it, if any.
        tag: Option<String>,
    },
    /// Every tag of the repository that passes the filter.
    Tags(TagFilter),
}

/// One image entry to sync.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// The parsed reference (registry, repository; tag/digest as configured).
    pub image: ImageRef,
    /// How its tags are chosen.
    pub selection: Selection,
}

fn parse_in_registry(s: &str, up: &OciUpstream) -> anyhow::Result<ImageRef> {
    let r = ImageRef::parse(s, &up.registry)?;
    let mut want = up.registry.to_ascii_lowercase();
    if want == "index.docker.io" {
        want = "docker.io".into();
    }
    if r.registry != want {
        bail!(
            "image {s:?} names registry {}, but this [[oci]] table is for {}; write the path only, or give it its own [[oci]] table",
            r.registry,
            up.registry
        );
    }
    Ok(r)
}

/// The images of an `[[oci]]` table, in config order: every `images` entry (a bare name
/// takes its filter from `tags_regex`/`tags_semver`), then every `tags_regex`/
/// `tags_semver` key not named bare in `images`. Repository keys are normalized like
/// image names (`nginx` on docker.io is `library/nginx`).
///
/// Errors: an invalid reference, regex or range; an image of another registry; a bare
/// name with no filter; a filter key with a tag or digest.
pub fn image_specs(up: &OciUpstream) -> anyhow::Result<Vec<ImageSpec>> {
    let mut regex: BTreeMap<String, &str> = BTreeMap::new();
    let mut semver: BTreeMap<String, &str> = BTreeMap::new();
    let mut keys: Vec<ImageRef> = Vec::new();
    for (map, out, what) in [
        (&up.tags_regex, &mut regex, "tags_regex"),
        (&up.tags_semver, &mut semver, "tags_semver"),
    ] {
        for (k, v) in map {
            let r = parse_in_registry(k, up).with_context(|| format!("{what} key {k:?}"))?;
            if r.tag.is_some() || r.digest.is_some() {
                bail!("{what} key {k:?}: name the repository only, without a tag or digest");
            }
            if !keys.iter().any(|x| x.repository == r.repository) {
                keys.push(r.clone());
            }
            out.insert(r.repository, v.as_str());
        }
    }
    let filter_for = |repo: &str| -> anyhow::Result<TagFilter> {
        TagFilter::new(regex.get(repo).copied(), semver.get(repo).copied())
            .with_context(|| format!("tag filter of {repo}"))
    };
    let mut specs = Vec::new();
    let mut filtered: Vec<String> = Vec::new();
    for s in &up.images {
        let image = parse_in_registry(s, up).with_context(|| format!("images entry {s:?}"))?;
        let selection = match (&image.tag, &image.digest) {
            (tag, Some(d)) => Selection::Digest {
                digest: *d,
                tag: tag.clone(),
            },
            (Some(t), None) => Selection::Tag(t.clone()),
            (None, None) => {
                if !regex.contains_key(&image.repository) && !semver.contains_key(&image.repository)
                {
                    bail!(
                        "images entry {s:?} has no tag or digest: add a tag (\"{s}:latest\"), or a tags_regex / tags_semver entry for {:?}",
                        image.repository
                    );
                }
                if filtered.contains(&image.repository) {
                    continue;
                }
                filtered.push(image.repository.clone());
                Selection::Tags(filter_for(&image.repository)?)
            }
        };
        specs.push(ImageSpec { image, selection });
    }
    for k in keys {
        if filtered.contains(&k.repository) {
            continue;
        }
        filtered.push(k.repository.clone());
        let selection = Selection::Tags(filter_for(&k.repository)?);
        specs.push(ImageSpec {
            image: k,
            selection,
        });
    }
    Ok(specs)
}

/// The configured platforms, parsed. Errors: an entry that is not `os/arch[/variant]`.
pub fn platforms(up: &OciUpstream) -> anyhow::Result<Vec<Platform>> {
    up.platforms
        .iter()
        .map(|p| Platform::parse(p).map_err(anyhow::Error::from))
        .collect()
}

/// Checks an `[[oci]]` table (called from [`crate::config::Config::validate`]): registry,
/// url, images and filters ([`image_specs`]), platforms, the credentials source syntax
/// (not its content) and the `verify` rules.
pub fn validate_upstream(up: &OciUpstream) -> anyhow::Result<()> {
    check_registry(&up.registry)?;
    if let Some(u) = &up.url {
        let parsed = url::Url::parse(u).with_context(|| format!("invalid url {u:?}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            bail!(
                "unsupported url scheme {:?} in url: use http or https",
                parsed.scheme()
            );
        }
    }
    if up.images.is_empty() && up.tags_regex.is_empty() && up.tags_semver.is_empty() {
        bail!("no images: list images (path:tag, path@sha256:…) or tags_regex / tags_semver");
    }
    image_specs(up)?;
    platforms(up)?;
    if let Some(c) = &up.credentials {
        client::CredentialSource::parse(c)?;
    }
    for (pattern, rule) in &up.verify {
        if pattern.is_empty() {
            bail!("verify: empty image pattern");
        }
        if rule.required && rule.keys.is_empty() {
            bail!("verify {pattern:?}: required = true needs at least one key in keys");
        }
    }
    Ok(())
}

/// Checks a registry host as configured with the one registry-host rule,
/// [`formats::oci::check_registry`] (the rule [`ImageRef::parse`] applies too).
///
/// Errors: `invalid registry "<r>": <why>; expected host[:port], e.g. registry.example or
/// 127.0.0.1:5000`.
fn check_registry(r: &str) -> anyhow::Result<()> {
    formats::oci::check_registry(r).map_err(|why| {
        anyhow!(
            "invalid registry {r:?}: {why}; expected host[:port], e.g. registry.example or 127.0.0.1:5000"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_syntax() {
        for ok in [
            "docker.io",
            "127.0.0.1:5000",
            "localhost:5000",
            "registry.example",
        ] {
            check_registry(ok).unwrap();
        }
        for bad in [
            "",
            "a b",
            "host:",
            "host:0",
            "host:99999",
            "-x.example",
            "a__b.example",
            "h/x",
        ] {
            let e = check_registry(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid registry"), "{bad:?}: {e}");
        }
    }

    fn tags(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn regex_selection() {
        let f = TagFilter::new(Some(r"^1\.27\."), None).unwrap();
        let all = tags(&[
            "1.27.0",
            "1.27.3-alpine",
            "1.28.0",
            "latest",
            "1.27",
            "01.27.1",
        ]);
        assert_eq!(select_tags(&all, &f), tags(&["1.27.0", "1.27.3-alpine"]));
        assert!(TagFilter::new(Some("(unclosed"), None).is_err());
        assert!(TagFilter::new(None, None).is_err());
    }

    #[test]
    fn semver_selection() {
        let f = TagFilter::new(None, Some(">=1.27, <1.28")).unwrap();
        let all = tags(&[
            "1.27.0",
            "v1.27.4",
            "1.27.5-rc.1",
            "1.28.0",
            "1.27",
            "latest",
            "1.26.9",
            "vv1.27.1",
        ]);
        assert_eq!(select_tags(&all, &f), tags(&["1.27.0", "v1.27.4"]));
        assert!(TagFilter::new(None, Some("not a range")).is_err());
        assert_eq!(semver_of_tag("v2.0.0-rc.1").unwrap().major, 2);
        assert!(semver_of_tag("2.0").is_none());
    }

    #[test]
    fn both_filters_must_match_and_cosign_tags_are_left_out() {
        let f = TagFilter::new(Some("-slim$"), Some(">=3.12.0")).unwrap();
        let sig = format!("sha256-{}.sig", "a".repeat(64));
        let all = tags(&["3.12.1-slim", "3.12.1", "3.11.0-slim", &sig, "bad tag"]);
        // 3.12.1-slim is a pre-release for semver, so the range does not admit it.
        assert!(select_tags(&all, &f).is_empty());
        let f = TagFilter::new(Some(".*"), None).unwrap();
        assert_eq!(
            select_tags(&all, &f),
            tags(&["3.11.0-slim", "3.12.1", "3.12.1-slim"])
        );
    }

    fn child(platform: Option<&str>, annotations: &[(&str, &str)]) -> Descriptor {
        let mut d = Descriptor::new(oci::OCI_MANIFEST, Digest::of(b"child"), 10);
        d.platform = platform.map(|p| Platform::parse(p).unwrap());
        for (k, v) in annotations {
            d.annotations.insert((*k).into(), (*v).into());
        }
        d
    }

    #[test]
    fn platform_filter() {
        let wanted = vec![
            Platform::parse("linux/amd64").unwrap(),
            Platform::parse("linux/arm64/v8").unwrap(),
        ];
        let hex = Digest::of(b"child");
        assert_eq!(
            decide_child(&child(Some("linux/amd64"), &[]), &wanted, false),
            ChildDecision::Keep {
                platform: Some("linux/amd64".into())
            }
        );
        assert_eq!(
            decide_child(&child(Some("linux/arm64"), &[]), &wanted, false),
            ChildDecision::Keep {
                platform: Some("linux/arm64".into())
            }
        );
        assert_eq!(
            decide_child(&child(Some("linux/arm/v7"), &[]), &wanted, true),
            ChildDecision::Omit(format!("{hex} linux/arm/v7"))
        );
        // Everything is kept when no platform is configured.
        assert!(matches!(
            decide_child(&child(Some("linux/s390x"), &[]), &[], false),
            ChildDecision::Keep { .. }
        ));
        // Attestation manifests follow `referrers`.
        let att = child(
            Some("unknown/unknown"),
            &[("vnd.docker.reference.type", "attestation-manifest")],
        );
        assert_eq!(
            decide_child(&att, &wanted, true),
            ChildDecision::Keep { platform: None }
        );
        assert_eq!(
            decide_child(&att, &wanted, false),
            ChildDecision::Omit(format!("{hex} unknown/unknown"))
        );
        assert_eq!(
            decide_child(&child(None, &[]), &[], true),
            ChildDecision::Keep { platform: None }
        );
        assert!(matches!(
            decide_child(&child(None, &[]), &[], false),
            ChildDecision::Omit(_)
        ));
    }

    fn upstream(toml_text: &str) -> OciUpstream {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn image_specs_from_config() {
        let d = Digest::of(b"m");
        let up = upstream(&format!(
            r#"
name = "hub"
registry = "docker.io"
images = ["ubuntu:24.04", "team/app@{d}", "library/python:3.12@{d}", "nginx"]
tags_regex = {{ "nginx" = "^1\\.27\\." }}
tags_semver = {{ "library/nginx" = ">=1.27, <1.28", "library/redis" = "^7" }}
"#
        ));
        let specs = image_specs(&up).unwrap();
        assert_eq!(specs.len(), 5, "{specs:?}");
        assert_eq!(specs[0].image.repository, "library/ubuntu");
        assert!(matches!(&specs[0].selection, Selection::Tag(t) if t == "24.04"));
        assert!(
            matches!(&specs[1].selection, Selection::Digest { digest, tag: None } if *digest == d)
        );
        assert!(
            matches!(&specs[2].selection, Selection::Digest { tag: Some(t), .. } if t == "3.12")
        );
        assert_eq!(specs[3].image.repository, "library/nginx");
        let Selection::Tags(f) = &specs[3].selection else {
            panic!("nginx selects by filter")
        };
        assert!(f.matches("1.27.2") && !f.matches("1.27.2-alpine") && !f.matches("1.28.0"));
        assert_eq!(specs[4].image.repository, "library/redis");
        assert_eq!(specs[4].image.served_name(), "docker.io/library/redis");
    }

    #[test]
    fn image_spec_errors() {
        let bad = |extra: &str| {
            let up = upstream(&format!(
                "name = \"x\"\nregistry = \"127.0.0.1:5000\"\n{extra}"
            ));
            format!("{:#}", validate_upstream(&up).unwrap_err())
        };
        assert!(bad(r#"images = ["team/app"]"#).contains("no tag or digest"));
        assert!(bad(r#"images = ["other.example/team/app:1"]"#).contains("names registry"));
        assert!(bad(r#"images = ["Team/App:1"]"#).contains("invalid"));
        assert!(bad(r#"images = []"#).contains("no images"));
        assert!(
            bad("images = [\"a:1\"]\ntags_regex = { \"a:1\" = \"x\" }").contains("without a tag")
        );
        assert!(bad("images = [\"a:1\"]\nplatforms = [\"linux\"]").contains("platform"));
        assert!(bad("images = [\"a:1\"]\ncredentials = \"token\"").contains("credentials"));
        assert!(bad("images = [\"a:1\"]\nurl = \"ftp://x.example\"").contains("scheme"));
        assert!(
            bad("images = [\"a:1\"]\n[verify]\n\"*\" = { required = true }")
                .contains("needs at least one key")
        );
        let ok =
            upstream("name = \"x\"\nregistry = \"127.0.0.1:5000\"\nimages = [\"team/app:v1\"]");
        validate_upstream(&ok).unwrap();
        assert!(ok.referrers && !ok.foreign_layers);
        assert_eq!(ok.api_base().unwrap().as_str(), "https://127.0.0.1:5000/");
    }
}
