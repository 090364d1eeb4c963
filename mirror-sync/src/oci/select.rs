//! Step 2 of an OCI upstream, the selection: the pure rules that choose what to fetch —
//! which tags of a repository ([`TagFilter`], [`select_tags`]), which children of a
//! multi-platform index ([`decide_child`]) — and the typed form of one configured image
//! ([`ImageSpec`], [`Selection`], built by [`super::config::image_specs`]). No I/O; the
//! [`super::sync`] step applies them to what the registry lists.

use anyhow::{Context as _, bail};
use formats::digest::Digest;
use formats::oci::{self, Descriptor, ImageRef, Platform};

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
