//! Step 1 of an OCI upstream, its configuration: the `[[oci]]` table ([`OciUpstream`],
//! its `[oci.verify]` rules [`VerifyConfig`]), the table read into typed selections
//! ([`image_specs`], [`platforms`]) and its checks ([`validate_upstream`]). The registry
//! host is checked with the one rule of [`formats::oci`].
//!
//! Imports run one way: [`crate::config`] parses the file into these types and calls
//! [`validate_upstream`]; this module never imports it (issue 14 broke the
//! `config ⇄ oci ⇄ oci::policy` cycle this way). It uses the selection types of
//! [`super::select`], which never import this module.

use std::collections::BTreeMap;

use anyhow::{Context as _, anyhow, bail};
use formats::oci::{ImageRef, Platform};
use serde::Deserialize;

use super::client;
use super::select::{ImageSpec, Selection, TagFilter};

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

/// `[oci.verify]`: image pattern → rule (applied by [`super::policy`]).
pub type VerifyConfig = BTreeMap<String, keys::cosign::VerifyRule>;

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
pub(super) fn check_registry(r: &str) -> anyhow::Result<()> {
    formats::oci::check_registry(r).map_err(|why| {
        anyhow!(
            "invalid registry {r:?}: {why}; expected host[:port], e.g. registry.example or 127.0.0.1:5000"
        )
    })
}
