//! Software bills of materials of a snapshot: CycloneDX 1.6 JSON and SPDX 2.3 JSON
//! generation, parsing back, checking against a manifest, and diffing.
//!
//! Everything here is pure: [`cyclonedx`] and [`spdx`] turn a [`Manifest`] into bytes,
//! [`parse_cyclonedx`] and [`parse_spdx`] turn those bytes back into [`Component`]s,
//! [`check_against`] proves a component list matches a manifest one-to-one, and [`diff`]
//! compares two component lists package by package.
//!
//! # Components
//!
//! Every artifact for which [`is_component`] is true (kinds `deb`, `wheel`, `sdist` and
//! `oci-manifest`) is exactly one component; its identifier (CycloneDX `bom-ref`, SPDX
//! `packageFileName`) is the artifact's logical path, unique in a manifest. Components
//! are sorted by that path, so the output does not depend on the order of the
//! manifest's artifacts. Artifacts of kind `sbom` are ignored (the SBOM is added to the
//! manifest after it was generated), as are indexes, pages, blobs, tags and provenance.
//!
//! # Package URLs
//!
//! [`purl`] follows the purl specification (ECMA-427 and the purl-spec type definitions
//! and test suite for `deb`, `pypi` and `oci`): canonical form, qualifiers sorted by
//! key, every byte outside `A-Z a-z 0-9 . - _ ~ :` percent-encoded (so `+` is `%2B`
//! and `/` inside a qualifier value is `%2F`, while `:` is never encoded).
//!
//! # Dependencies (the rules, since upstream metadata only names packages)
//!
//! - **Debian**: `meta.depends` holds `Depends`/`Pre-Depends` clauses (Debian Policy
//!   §7.1). For each comma-separated group, the first alternative that some `deb`
//!   component of the snapshot satisfies wins: same package name, an architecture that
//!   fits (equal, `all` on either side, or the one named by a `:arch` qualifier; `:any`
//!   and `:native` fit any), and the version constraint met. The group links to every
//!   such component of that alternative. Virtual packages (`Provides`) are not
//!   resolved: the manifest does not record them. Unparsable clauses are skipped.
//! - **Python**: `meta.depends` holds PEP 508 `Requires-Dist` strings. A requirement
//!   whose environment marker mentions `extra` is optional and skipped; any other
//!   requirement links to every `wheel`/`sdist` component whose PEP 503 normalized name
//!   equals the requirement's, whatever its version (markers such as `python_version`
//!   cannot be evaluated without a target environment).
//! - **OCI index → platform manifests**: blobs are not read here, so an image index
//!   (`application/vnd.oci.image.index.v1+json` or a Docker manifest list) depends on
//!   every `oci-manifest` of the same repository whose `meta.platform` is set. With
//!   several indexes in one repository this over-approximates.
//! - **OCI referrers** (`meta.subject` set: OCI 1.1 referrers, cosign `.sig`/`.att`/
//!   `.sbom` manifests) are not dependencies. CycloneDX: the subject component gets an
//!   external reference (type `bom` for SBOMs, `attestation`, `digital-signature`, or
//!   `other`) whose URL is a BOM-Link to the referrer's `bom-ref` in the same BOM, and
//!   the referrer gets `oci:subject` / `mirror:subject` properties. SPDX: `<referrer>
//!   DESCRIBES <subject>` for SBOMs, `<referrer> OTHER <subject>` with a comment for
//!   signatures, attestations and other artifacts.

mod cyclonedx;
mod diff;
mod license;
mod purl;
mod spdx;
mod supplier;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::snapshot::{Artifact, ArtifactKind, Manifest};

pub use cyclonedx::{cyclonedx, parse_cyclonedx};
pub use diff::{Change, DiffEntry, SbomDiff, SnapshotDiff, diff};
pub use purl::purl;
pub use spdx::{parse_spdx, spdx};
pub use supplier::Supplier;
pub(crate) use supplier::author;

/// Largest SBOM accepted by [`parse_cyclonedx`] and [`parse_spdx`], in bytes (256 MiB).
pub const MAX_SBOM_BYTES: u64 = 256 * 1024 * 1024;

/// The package ecosystem of a component. Serializes in lower case (`"deb"`, `"pypi"`,
/// `"oci"`); the order (`deb` < `pypi` < `oci`) is the order of [`diff`] output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Ecosystem {
    /// A Debian binary package (`deb` artifact).
    Deb,
    /// A Python distribution (`wheel` or `sdist` artifact).
    Pypi,
    /// An OCI image manifest, index or referrer (`oci-manifest` artifact).
    Oci,
}

impl Ecosystem {
    /// `"deb"`, `"pypi"` or `"oci"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Ecosystem::Deb => "deb",
            Ecosystem::Pypi => "pypi",
            Ecosystem::Oci => "oci",
        }
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One SBOM component, as generated from an artifact or parsed back from an SBOM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Component {
    /// The artifact's logical path (CycloneDX `bom-ref`, SPDX `packageFileName`).
    pub bom_ref: String,
    /// The ecosystem: from the package URL type, else from the path
    /// (`.deb`; `.whl`/`.tar.gz`/`.zip`; `v2/`).
    pub ecosystem: Ecosystem,
    /// Package name as upstream spells it; for OCI the last segment of the repository.
    pub name: String,
    /// Debian or PEP 440 version; for OCI the manifest digest (`sha256:<hex>`). Empty
    /// when unknown.
    pub version: String,
    /// Package URL (purl-spec), when one can be formed.
    pub purl: Option<String>,
    /// SHA-256 of the artifact.
    pub sha256: Digest,
    /// Debian architecture (`amd64`, `all`), or the OCI platform's architecture.
    pub arch: Option<String>,
    /// OCI: the tag that points at this manifest (purl `tag` qualifier).
    pub tag: Option<String>,
    /// OCI: `<registry>/<repository path>` (purl `repository_url` qualifier).
    pub repository: Option<String>,
    /// Who supplies the component (see the module docs, §Suppliers).
    pub supplier: Option<Supplier>,
    /// The declared license: an SPDX expression (SPDX 2.3 Annex D) or upstream's free
    /// text; `None` when unknown (SPDX `NOASSERTION`).
    pub license: Option<String>,
}

/// The logical path of the SBOM document in `format` (`"cyclonedx"` or `"spdx"`), `None`
/// for other names.
pub fn document_path(format: &str) -> Option<&'static str> {
    match format {
        "cyclonedx" => Some(crate::snapshot::SBOM_CYCLONEDX_PATH),
        "spdx" => Some(crate::snapshot::SBOM_SPDX_PATH),
        _ => None,
    }
}

/// Why an SBOM was refused or does not match a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SbomError {
    /// Larger than [`MAX_SBOM_BYTES`]; holds the size in bytes.
    #[error("SBOM is {0} bytes, over the {MAX_SBOM_BYTES}-byte limit")]
    TooLarge(u64),
    /// Not JSON, a duplicate key, not the expected format or version, or a component
    /// without an identifier or SHA-256 hash.
    #[error("malformed SBOM: {0}")]
    Malformed(String),
    /// The components and the snapshot's artifacts differ (see [`check_against`]); the
    /// message names every offending path.
    #[error("SBOM does not match the snapshot: {0}")]
    Mismatch(String),
}

/// True for the artifacts that are SBOM components: kinds `deb`, `wheel`, `sdist` and
/// `oci-manifest` (images, indexes and referrers). Tags, blobs, indexes, pages,
/// provenance and SBOMs themselves are not components.
pub fn is_component(a: &Artifact) -> bool {
    matches!(
        a.kind,
        ArtifactKind::Deb | ArtifactKind::Wheel | ArtifactKind::Sdist | ArtifactKind::OciManifest
    )
}

/// The components [`cyclonedx`] and [`spdx`] write for `m`, sorted by `bom_ref`;
/// equal to what [`parse_cyclonedx`] and [`parse_spdx`] read back from them.
pub fn components(m: &Manifest) -> Vec<Component> {
    Model::new(m)
        .entries
        .iter()
        .map(|e| Component {
            bom_ref: e.a.path.clone(),
            ecosystem: e.ecosystem,
            name: e.name.clone(),
            version: e.version.clone(),
            purl: e.purl.clone(),
            sha256: e.a.digest,
            arch: e.arch.clone(),
            tag: e.tag.clone(),
            repository: e.repository.clone(),
            supplier: e.supplier.clone(),
            license: e.license.clone(),
        })
        .collect()
}

/// Most problems listed in one [`SbomError::Mismatch`] message.
const MAX_LISTED_PROBLEMS: usize = 20;

/// Checks that `components` and the component artifacts of `m` ([`is_component`])
/// match one-to-one: every such artifact has exactly one component whose `bom_ref` is
/// its path and whose `sha256` is its digest, and no component is extra or duplicated.
///
/// # Errors
/// [`SbomError::Mismatch`] listing every problem (the first 20, then a count), each
/// naming the path: `artifact P has no component in the SBOM`, `component P is not an
/// artifact of the snapshot`, `component P has sha256 A but the artifact has B`,
/// `duplicate component P`.
pub fn check_against(m: &Manifest, components: &[Component]) -> Result<(), SbomError> {
    let artifacts: HashMap<&str, &Artifact> = m
        .artifacts
        .iter()
        .filter(|a| is_component(a))
        .map(|a| (a.path.as_str(), a))
        .collect();
    let mut problems = Vec::new();
    let mut seen: HashSet<&str> = HashSet::with_capacity(components.len());
    for c in components {
        if !seen.insert(c.bom_ref.as_str()) {
            problems.push(format!("duplicate component {}", c.bom_ref));
            continue;
        }
        match artifacts.get(c.bom_ref.as_str()) {
            None => problems.push(format!(
                "component {} is not an artifact of the snapshot",
                c.bom_ref
            )),
            Some(a) if a.digest != c.sha256 => problems.push(format!(
                "component {} has sha256 {} but the artifact has {}",
                c.bom_ref,
                c.sha256.hex(),
                a.digest.hex()
            )),
            Some(_) => {}
        }
    }
    for a in m.artifacts.iter().filter(|a| is_component(a)) {
        if !seen.contains(a.path.as_str()) {
            problems.push(format!("artifact {} has no component in the SBOM", a.path));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let total = problems.len();
    problems.truncate(MAX_LISTED_PROBLEMS);
    let mut msg = problems.join("; ");
    if total > MAX_LISTED_PROBLEMS {
        msg.push_str(&format!("; and {} more", total - MAX_LISTED_PROBLEMS));
    }
    Err(SbomError::Mismatch(msg))
}

// ---------------------------------------------------------------------------
// The model both writers share
// ---------------------------------------------------------------------------

/// What a component is, for CycloneDX `type` and SPDX `primaryPackagePurpose`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A Debian package or Python wheel.
    Library,
    /// A Python sdist.
    Source,
    /// An OCI image manifest or index.
    Container,
    /// An OCI referrer (`meta.subject` set).
    Referrer(ReferrerKind),
}

/// What an OCI referrer is, from its cosign tag suffix or its artifact type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReferrerKind {
    /// An SBOM (SPDX or CycloneDX artifact type, or a cosign `.sbom` tag).
    Sbom,
    /// A signature (cosign simple signing, a sigstore bundle, a cosign `.sig` tag).
    Signature,
    /// An attestation (in-toto/DSSE artifact type, a cosign `.att` tag).
    Attestation,
    /// Anything else.
    Other,
}

impl ReferrerKind {
    fn classify(artifact_type: Option<&str>, cosign_suffix: Option<&str>) -> Self {
        match cosign_suffix {
            Some("sbom") => return ReferrerKind::Sbom,
            Some("sig") => return ReferrerKind::Signature,
            Some("att") => return ReferrerKind::Attestation,
            _ => {}
        }
        let t = artifact_type.unwrap_or_default().to_ascii_lowercase();
        if t.contains("spdx") || t.contains("cyclonedx") {
            ReferrerKind::Sbom
        } else if t.contains("in-toto") || t.contains("dsse") || t.contains("attestation") {
            ReferrerKind::Attestation
        } else if t.contains("simplesigning") || t.contains("signature") || t.contains("sigstore") {
            ReferrerKind::Signature
        } else {
            ReferrerKind::Other
        }
    }

    /// Words for SPDX comments.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            ReferrerKind::Sbom => "SBOM",
            ReferrerKind::Signature => "signature",
            ReferrerKind::Attestation => "attestation",
            ReferrerKind::Other => "OCI referrer",
        }
    }
}

/// One component with everything the writers need.
pub(crate) struct Entry<'a> {
    pub a: &'a Artifact,
    pub ecosystem: Ecosystem,
    pub name: String,
    pub version: String,
    pub purl: Option<String>,
    pub arch: Option<String>,
    pub tag: Option<String>,
    pub repository: Option<String>,
    pub supplier: Option<Supplier>,
    pub license: Option<String>,
    pub role: Role,
    /// Indexes (into `Model::entries`) of the components this one depends on, sorted.
    pub depends: BTreeSet<usize>,
    /// For a referrer: the index of its subject component, when in the snapshot.
    pub subject: Option<usize>,
    /// The referrers whose subject this component is, sorted.
    pub referrers: Vec<usize>,
}

/// The sorted components of a manifest and their links.
pub(crate) struct Model<'a> {
    pub m: &'a Manifest,
    pub entries: Vec<Entry<'a>>,
}

/// `v2/<served>/manifests/<reference>` → (`served`, `reference`).
pub(crate) fn split_manifest_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("v2/")?;
    let (served, reference) = rest.rsplit_once("/manifests/")?;
    if served.is_empty() || reference.is_empty() || reference.contains('/') {
        return None;
    }
    Some((served, reference))
}

/// Lookups over the whole manifest that purls and links need.
pub(crate) struct Ctx<'a> {
    /// Source name → vendor for `pkg:deb` (origin, else the source name).
    vendors: HashMap<&'a str, String>,
    /// Source name → `distro` qualifier (`ubuntu-24.04`), when the source records one.
    distros: HashMap<&'a str, &'a str>,
    /// Source name → the supplier of last resort: the `Origin` of an APT source, else
    /// the host of the source URL, else the source name.
    fallback_suppliers: HashMap<&'a str, Supplier>,
    /// (served repository, digest) → first non-cosign tag by byte order.
    tags: HashMap<(&'a str, Digest), &'a str>,
    /// (served repository, digest) → cosign suffix of a tag pointing at it.
    cosign: HashMap<(&'a str, Digest), String>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(m: &'a Manifest) -> Self {
        let vendors = m
            .sources
            .iter()
            .map(|s| {
                let v = s
                    .origin
                    .as_deref()
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .unwrap_or(&s.name);
                (s.name.as_str(), v.trim().to_lowercase().replace(' ', "-"))
            })
            .collect();
        let distros = m
            .sources
            .iter()
            .filter_map(|s| {
                s.distro
                    .as_deref()
                    .map(str::trim)
                    .filter(|d| !d.is_empty())
                    .map(|d| (s.name.as_str(), d))
            })
            .collect();
        let fallback_suppliers = m
            .sources
            .iter()
            .filter_map(|s| {
                let host = url::Url::parse(&s.url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned));
                let name = s
                    .origin
                    .as_deref()
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .map(str::to_owned)
                    .or(s.registry.clone())
                    .or(host)
                    .unwrap_or_else(|| s.name.clone());
                Supplier::parse(&name).map(|sup| (s.name.as_str(), sup))
            })
            .collect();
        let mut tags: HashMap<(&str, Digest), &str> = HashMap::new();
        let mut cosign = HashMap::new();
        for a in m
            .artifacts
            .iter()
            .filter(|a| a.kind == ArtifactKind::OciTag)
        {
            let Some((served, tag)) = split_manifest_path(&a.path) else {
                continue;
            };
            if let Some((_, suffix)) = crate::oci::parse_cosign_tag(tag) {
                cosign.insert((served, a.digest), suffix);
                continue;
            }
            tags.entry((served, a.digest))
                .and_modify(|t| {
                    if tag < *t {
                        *t = tag;
                    }
                })
                .or_insert(tag);
        }
        Ctx {
            vendors,
            distros,
            fallback_suppliers,
            tags,
            cosign,
        }
    }
}

/// `linux/arm64/v8` → `arm64`.
fn platform_arch(platform: &str) -> Option<String> {
    platform
        .split('/')
        .nth(1)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Debian package name and version from a pool file name `name_version_arch.deb`
/// (the version there has no epoch), used only when `meta` lacks them.
fn deb_from_filename(path: &str) -> (Option<String>, Option<String>) {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.strip_suffix(".deb").unwrap_or(file);
    let mut parts = stem.split('_');
    let name = parts.next().filter(|s| !s.is_empty()).map(str::to_owned);
    let version = parts.next().filter(|s| !s.is_empty()).map(str::to_owned);
    (name, version)
}

impl<'a> Model<'a> {
    pub(crate) fn new(m: &'a Manifest) -> Self {
        let ctx = Ctx::new(m);
        let mut arts: Vec<&Artifact> = m.artifacts.iter().filter(|a| is_component(a)).collect();
        arts.sort_by(|x, y| x.path.cmp(&y.path));
        // A valid manifest has unique paths; keep the first of any duplicate so bom-refs
        // stay unique whatever the input.
        arts.dedup_by(|x, y| x.path == y.path);
        let mut entries: Vec<Entry<'a>> = arts.into_iter().map(|a| entry(&ctx, a)).collect();
        link(&mut entries);
        Model { m, entries }
    }
}

/// The supplier of `a` (module docs, §Suppliers): `meta.supplier`, else for an image its
/// registry, else its source's fallback.
fn supplier_of(ctx: &Ctx<'_>, a: &Artifact, registry: Option<&str>) -> Option<Supplier> {
    a.meta
        .supplier
        .as_deref()
        .and_then(Supplier::parse)
        .or_else(|| registry.and_then(Supplier::parse))
        .or_else(|| {
            a.upstream
                .as_deref()
                .and_then(|u| ctx.fallback_suppliers.get(u).cloned())
        })
}

fn entry<'a>(ctx: &Ctx<'a>, a: &'a Artifact) -> Entry<'a> {
    let mut e = entry_of_kind(ctx, a);
    e.license = a
        .meta
        .license
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned);
    let registry = e
        .repository
        .as_deref()
        .map(|r| r.split('/').next().unwrap_or(r).to_owned());
    e.supplier = supplier_of(ctx, a, registry.as_deref());
    e
}

fn entry_of_kind<'a>(ctx: &Ctx<'a>, a: &'a Artifact) -> Entry<'a> {
    let purl = purl::purl_with(ctx, a);
    match a.kind {
        ArtifactKind::Deb => {
            let (fname, fversion) = deb_from_filename(&a.path);
            Entry {
                a,
                ecosystem: Ecosystem::Deb,
                name: a
                    .meta
                    .name
                    .clone()
                    .or(fname)
                    .unwrap_or_else(|| a.path.clone()),
                version: a.meta.version.clone().or(fversion).unwrap_or_default(),
                purl,
                arch: a.meta.architecture.clone(),
                tag: None,
                repository: None,
                supplier: None,
                license: None,
                role: Role::Library,
                depends: BTreeSet::new(),
                subject: None,
                referrers: Vec::new(),
            }
        }
        ArtifactKind::Wheel | ArtifactKind::Sdist => {
            let filename = a
                .meta
                .filename
                .clone()
                .unwrap_or_else(|| a.path.rsplit('/').next().unwrap_or(&a.path).to_owned());
            let parsed = crate::pypi::filename::DistFilename::parse(&filename, None).ok();
            let name = a
                .meta
                .name
                .clone()
                .or_else(|| parsed.as_ref().map(|p| p.name().to_owned()))
                .unwrap_or(filename);
            let version = a
                .meta
                .version
                .clone()
                .or_else(|| parsed.as_ref().map(|p| p.version().to_string()))
                .unwrap_or_default();
            Entry {
                a,
                ecosystem: Ecosystem::Pypi,
                name,
                version,
                purl,
                arch: None,
                tag: None,
                repository: None,
                supplier: None,
                license: None,
                role: if a.kind == ArtifactKind::Sdist {
                    Role::Source
                } else {
                    Role::Library
                },
                depends: BTreeSet::new(),
                subject: None,
                referrers: Vec::new(),
            }
        }
        _ => {
            let served = split_manifest_path(&a.path).map(|(s, _)| s);
            let split = served.and_then(crate::oci::split_served_name);
            let name = match &split {
                Some((_, repo)) => repo.rsplit('/').next().unwrap_or(repo).to_lowercase(),
                None => a.path.clone(),
            };
            let cosign_suffix = served.and_then(|s| ctx.cosign.get(&(s, a.digest)));
            let role = if a.meta.subject.is_some() {
                Role::Referrer(ReferrerKind::classify(
                    a.meta.artifact_type.as_deref(),
                    cosign_suffix.map(String::as_str),
                ))
            } else {
                Role::Container
            };
            Entry {
                a,
                ecosystem: Ecosystem::Oci,
                name,
                version: a.digest.to_string(),
                purl,
                arch: a.meta.platform.as_deref().and_then(platform_arch),
                tag: served
                    .and_then(|s| ctx.tags.get(&(s, a.digest)))
                    .map(|t| (*t).to_owned()),
                repository: split.map(|(registry, repo)| format!("{registry}/{repo}")),
                supplier: None,
                license: None,
                role,
                depends: BTreeSet::new(),
                subject: None,
                referrers: Vec::new(),
            }
        }
    }
}

fn is_index(a: &Artifact) -> bool {
    matches!(
        a.media_type.as_deref(),
        Some(crate::oci::OCI_INDEX | crate::oci::DOCKER_MANIFEST_LIST)
    )
}

/// Fills `depends` and `subject` (see the module docs for the rules).
fn link(entries: &mut [Entry<'_>]) {
    // Lookups by name.
    let mut debs: HashMap<String, Vec<usize>> = HashMap::new();
    let mut pys: HashMap<String, Vec<usize>> = HashMap::new();
    let mut oci_by_repo: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    // (served repository, digest) → first component (paths are unique, and one digest
    // has one manifest path per repository).
    let mut by_digest: HashMap<(&str, Digest), usize> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        match e.ecosystem {
            Ecosystem::Deb => debs.entry(e.name.to_lowercase()).or_default().push(i),
            Ecosystem::Pypi => pys
                .entry(crate::pypi::name::normalize(&e.name))
                .or_default()
                .push(i),
            Ecosystem::Oci => {
                if let Some((served, _)) = split_manifest_path(&e.a.path) {
                    oci_by_repo.entry(served).or_default().push(i);
                    by_digest.entry((served, e.a.digest)).or_insert(i);
                }
            }
        }
    }
    let mut links: Vec<(usize, BTreeSet<usize>, Option<usize>)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let mut deps = BTreeSet::new();
        let mut subject = None;
        match e.ecosystem {
            Ecosystem::Deb => {
                for clause in &e.a.meta.depends {
                    deb_links(entries, &debs, e, clause, &mut deps);
                }
            }
            Ecosystem::Pypi => {
                for req in &e.a.meta.depends {
                    if let Some(name) = pep508_name(req)
                        && let Some(targets) = pys.get(&crate::pypi::name::normalize(name))
                    {
                        deps.extend(targets.iter().copied());
                    }
                }
            }
            Ecosystem::Oci => {
                let repo = split_manifest_path(&e.a.path).map(|(s, _)| s);
                let siblings = repo.and_then(|r| oci_by_repo.get(r));
                if let Some(siblings) = siblings {
                    if is_index(e.a) && e.a.meta.subject.is_none() {
                        deps.extend(
                            siblings
                                .iter()
                                .copied()
                                .filter(|&j| entries[j].a.meta.platform.is_some()),
                        );
                    }
                    if let Some(subj) = e.a.meta.subject {
                        subject = repo
                            .and_then(|r| by_digest.get(&(r, subj)))
                            .copied()
                            .filter(|&j| j != i);
                    }
                }
            }
        }
        deps.remove(&i);
        links.push((i, deps, subject));
    }
    for (i, deps, subject) in links {
        if let Some(e) = entries.get_mut(i) {
            e.depends = deps;
            e.subject = subject;
        }
        if let Some(s) = subject.and_then(|j| entries.get_mut(j)) {
            s.referrers.push(i);
        }
    }
}

/// Links one Debian `Depends` clause string (see the module docs).
fn deb_links(
    entries: &[Entry<'_>],
    debs: &HashMap<String, Vec<usize>>,
    from: &Entry<'_>,
    clause: &str,
    out: &mut BTreeSet<usize>,
) {
    let Ok(groups) = crate::apt::relation::parse_relations(clause) else {
        return;
    };
    let from_arch = from.arch.as_deref().unwrap_or("all");
    for group in groups {
        for alt in group {
            let Some(cands) = debs.get(&alt.name.to_lowercase()) else {
                continue;
            };
            let hits: Vec<usize> = cands
                .iter()
                .copied()
                .filter(|&j| {
                    let c = &entries[j];
                    let arch = c.arch.as_deref().unwrap_or("all");
                    let arch_ok = match alt.arch.as_deref() {
                        Some("any" | "native") => true,
                        Some(q) => arch == q || arch == "all",
                        None => arch == from_arch || arch == "all" || from_arch == "all",
                    };
                    arch_ok && alt.satisfied_by(&c.version)
                })
                .collect();
            if !hits.is_empty() {
                out.extend(hits);
                break;
            }
        }
    }
}

/// The project name of a PEP 508 requirement, or `None` when it is optional (its
/// environment marker mentions `extra`) or has no name.
fn pep508_name(req: &str) -> Option<&str> {
    let req = req.trim_start();
    if let Some((_, marker)) = req.split_once(';')
        && marker
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .any(|w| w == "extra")
    {
        return None;
    }
    let end = req
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        .unwrap_or(req.len());
    let name = &req[..end];
    (!name.is_empty()).then_some(name)
}

/// An RFC 4122-formatted UUID (version 5 and variant bits set) from the first 16 bytes
/// of SHA-256 over `label` and `parts` (each followed by a newline).
pub(crate) fn uuid_from(label: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(label.as_bytes());
    h.update(b"\n");
    for p in parts {
        h.update(p.as_bytes());
        h.update(b"\n");
    }
    let d: [u8; 32] = h.finalize().into();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

/// The UUID of the document of `model`, for CycloneDX `serialNumber` (`label`
/// `"cyclonedx"`) and the SPDX `documentNamespace` (`"spdx"`): SHA-256 over the
/// snapshot's name, creation time and the sorted `(bom-ref, sha256)` component list.
pub(crate) fn document_uuid(model: &Model<'_>, label: &str) -> String {
    let name = model.m.name();
    let mut parts: Vec<String> = vec![name, model.m.created.clone()];
    for e in &model.entries {
        parts.push(format!("{} {}", e.a.digest, e.a.path));
    }
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    uuid_from(&format!("mirror-sbom-v1 {label}"), &refs)
}

/// `created` as `YYYY-MM-DDThh:mm:ssZ` in UTC (the form both SPDX §6.9 and CycloneDX
/// `date-time` accept), or the Unix epoch when it is not RFC 3339.
pub(crate) fn timestamp(created: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(created)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        })
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// `url` when it parses as an absolute URL, for CycloneDX `iri-reference` fields and
/// SPDX `downloadLocation`.
pub(crate) fn valid_url(url: Option<&str>) -> Option<&str> {
    url.filter(|u| url::Url::parse(u).is_ok())
}

/// Rebuilds a [`Component`] from what an SBOM states.
pub(crate) struct Stated {
    pub bom_ref: String,
    pub name: String,
    pub version: Option<String>,
    pub purl: Option<String>,
    pub sha256: Digest,
    pub supplier: Option<Supplier>,
    pub license: Option<String>,
}

pub(crate) fn component_from(st: Stated) -> Result<Component, SbomError> {
    let Stated {
        bom_ref,
        name,
        version,
        purl: purl_str,
        sha256,
        supplier,
        license,
    } = st;
    let parsed = purl_str.as_deref().and_then(purl::parse);
    let ecosystem = match parsed.as_ref().map(|p| p.ty.as_str()) {
        Some("deb") => Ecosystem::Deb,
        Some("pypi") => Ecosystem::Pypi,
        Some("oci") => Ecosystem::Oci,
        _ => {
            let p = bom_ref.as_str();
            if p.ends_with(".deb") {
                Ecosystem::Deb
            } else if p.ends_with(".whl") || p.ends_with(".tar.gz") || p.ends_with(".zip") {
                Ecosystem::Pypi
            } else if p.starts_with("v2/") {
                Ecosystem::Oci
            } else {
                return Err(SbomError::Malformed(format!(
                    "cannot tell the ecosystem of component {bom_ref}"
                )));
            }
        }
    };
    let q = |k: &str| parsed.as_ref().and_then(|p| p.qualifiers.get(k).cloned());
    Ok(Component {
        ecosystem,
        name,
        version: version.unwrap_or_default(),
        arch: q("arch"),
        tag: if ecosystem == Ecosystem::Oci {
            q("tag")
        } else {
            None
        },
        repository: if ecosystem == Ecosystem::Oci {
            q("repository_url")
        } else {
            None
        },
        purl: purl_str,
        sha256,
        bom_ref,
        supplier,
        license,
    })
}

/// Pretty JSON with a trailing newline.
pub(crate) fn to_pretty<T: Serialize>(v: &T) -> Vec<u8> {
    // Plain structs with string keys: serialization cannot fail.
    let mut out = serde_json::to_vec_pretty(v).expect("SBOM serializes");
    out.push(b'\n');
    out
}

/// Checks the size limit before parsing.
pub(crate) fn check_size(bytes: &[u8]) -> Result<(), SbomError> {
    if bytes.len() as u64 > MAX_SBOM_BYTES {
        return Err(SbomError::TooLarge(bytes.len() as u64));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
