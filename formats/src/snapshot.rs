//! The snapshot manifest: the signed list of every artifact a snapshot serves.
//!
//! Specified in `docs/media-format.md` (§Manifest). The manifest is JSON; its exact
//! bytes are signed with a detached ed25519 signature (`manifest.json.sig`, 64 raw
//! bytes), so no canonical form is needed: readers verify the bytes, then parse them.
//!
//! Readers refuse a `manifest_version` they do not know ([`ManifestError::UnknownVersion`])
//! before looking at anything else.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// The manifest version this crate reads and writes.
pub const MANIFEST_VERSION: u32 = 1;

/// Largest manifest accepted, in bytes (256 MiB: about 500k artifacts).
pub const MAX_MANIFEST_BYTES: u64 = 256 * 1024 * 1024;

/// File name of the manifest inside a snapshot directory on the media.
pub const MANIFEST_FILE: &str = "manifest.json";
/// File name of the detached ed25519 signature (64 raw bytes) over `manifest.json`.
pub const SIGNATURE_FILE: &str = "manifest.json.sig";
/// File name of the signer's public key (PEM, SubjectPublicKeyInfo), informational only:
/// trust comes from the importer's own trusted-keys directory.
pub const SIGNER_FILE: &str = "signer.pub";

/// Logical path of the snapshot's CycloneDX 1.6 JSON SBOM.
pub const SBOM_CYCLONEDX_PATH: &str = "sbom/cyclonedx.json";
/// Logical path of the snapshot's SPDX 2.3 JSON SBOM.
pub const SBOM_SPDX_PATH: &str = "sbom/spdx.json";

/// Directory of a snapshot on the media, relative to the drive root:
/// `snapshots/<channel>/<sequence>`.
pub fn snapshot_dir(channel: &str, sequence: u64) -> String {
    format!("snapshots/{channel}/{sequence}")
}

/// A snapshot manifest (media format version 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`MANIFEST_VERSION`] for what this crate writes.
    pub manifest_version: u32,
    /// Channel name (`[a-z0-9][a-z0-9._-]*`, at most 64 bytes); sequences grow per channel.
    pub channel: String,
    /// Sequence number on the channel, starting at 1, strictly increasing.
    pub sequence: u64,
    /// Creation time, RFC 3339 in UTC (`2026-11-21T15:10:59Z`).
    pub created: String,
    /// For a delta: the name (`<channel>/<sequence>`) of the snapshot this one was cut against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// The program that wrote the manifest, e.g. `mirror-sync 0.1.0`.
    pub generator: String,
    /// Key id of the ed25519 key that signs this manifest (see `keys::snapshot::key_id`).
    pub signer: String,
    /// The upstreams the artifacts came from.
    pub sources: Vec<Source>,
    /// Every artifact: served files, generated indexes and upstream provenance.
    pub artifacts: Vec<Artifact>,
}

/// Kind of an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// An APT repository (standard or flat).
    Apt,
    /// A PEP 503/691 simple index.
    Pypi,
    /// An OCI distribution registry.
    Oci,
    /// OSV vulnerability exports (`[[osv]]`): one zip of OSV JSON records per ecosystem.
    Osv,
}

/// One configured upstream, as recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// Name from the configuration; served at `/apt/<name>/` for APT.
    pub name: String,
    /// Kind of upstream.
    pub kind: SourceKind,
    /// Upstream base URL, without credentials.
    pub url: String,
    /// APT: true for a flat repository (`deb URL /`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub flat: bool,
    /// APT: suites mirrored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suites: Vec<String>,
    /// APT: components mirrored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    /// APT: architectures mirrored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    /// APT: OpenPGP fingerprints (upper-case hex) of the upstream keys whose signatures
    /// on `InRelease`/`Release.gpg` were verified at sync time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstream_signers: Vec<String>,
    /// APT: OpenPGP fingerprint of the repository key that signs the served indexes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_signer: Option<String>,
    /// OCI: the registry host as configured (`docker.io`, `nvcr.io`, `127.0.0.1:5000`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// APT: the upstream `Release`'s `Origin` field (`Debian`, `Ubuntu`), the vendor used
    /// in package URLs (`pkg:deb/debian/...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// APT: the distribution release as `<id>-<version_id>` (`ubuntu-24.04`, `debian-12`),
    /// from the configuration's `distro`, else from the upstream `Release`'s `Origin` and
    /// `Version` fields; the `distro` qualifier of `pkg:deb` package URLs and the key that
    /// ties packages to OSV ecosystems (`Ubuntu:24.04:LTS`, `Debian:12`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distro: Option<String>,
    /// APT: file name (no directory) of the OpenPGP keyring that verified the upstream
    /// `InRelease`; the importer looks it up in its own upstream-keyrings directory and
    /// verifies the upstream signatures again (docs/threat-model.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_keyring: Option<String>,
    /// APT: the subset of [`Source::upstream_signers`] whose key was accepted only through
    /// a SHA-1 self-signature or subkey binding (an old upstream key; the data signature
    /// itself used a strong hash). Recorded so a reviewer sees the weak binding; see
    /// `keys::openpgp` "Hash algorithms" and docs/media-format.md §Source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstream_sha1_bound_signers: Vec<String>,
}

impl Source {
    /// A source with only its name, kind and URL set.
    pub fn new(name: &str, kind: SourceKind, url: &str) -> Source {
        Source {
            name: name.to_owned(),
            kind,
            url: url.to_owned(),
            flat: false,
            suites: Vec::new(),
            components: Vec::new(),
            architectures: Vec::new(),
            upstream_signers: Vec::new(),
            repo_signer: None,
            registry: None,
            origin: None,
            distro: None,
            upstream_keyring: None,
            upstream_sha1_bound_signers: Vec::new(),
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What an artifact is. Serialized in kebab-case (`"core-metadata"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactKind {
    /// A Debian binary package (`.deb`).
    Deb,
    /// A Python wheel (`.whl`).
    Wheel,
    /// A Python source distribution (`.tar.gz`, `.zip`).
    Sdist,
    /// PEP 658 core metadata of a wheel or sdist (served as `<file>.metadata`).
    CoreMetadata,
    /// A generated APT index (`Packages`, `Packages.gz`, `Packages.xz`).
    AptIndex,
    /// A generated and repo-key-signed `Release`, `InRelease` or `Release.gpg`.
    AptRelease,
    /// A generated PEP 503 HTML or PEP 691 JSON page.
    SimplePage,
    /// The public OpenPGP repository key (armored or binary) for `signed-by=`.
    RepoKey,
    /// Upstream provenance: an upstream `InRelease`, `Release` or `Release.gpg`, as fetched.
    UpstreamRelease,
    /// Upstream provenance: an upstream `Packages` index, as fetched.
    UpstreamIndex,
    /// Upstream provenance: an upstream simple-index page, as fetched.
    UpstreamPage,
    /// An OCI image manifest or index (OCI or Docker schema 2), exact upstream bytes,
    /// addressed by digest: `v2/<repository>/manifests/sha256:<hex>`.
    OciManifest,
    /// A tag: `v2/<repository>/manifests/<tag>`, same digest and media type as the
    /// manifest it points at.
    OciTag,
    /// A config or layer blob of a repository: `v2/<repository>/blobs/sha256:<hex>`.
    OciBlob,
    /// A generated OCI image index listing the referrers of one subject (OCI 1.1 subjects
    /// and cosign `sha256-<hex>.sig/.att/.sbom` tags): `v2/<repository>/referrers/sha256:<hex>`.
    OciReferrers,
    /// A software bill of materials of the snapshot, generated at export: CycloneDX 1.6
    /// JSON at [`SBOM_CYCLONEDX_PATH`] and SPDX 2.3 JSON at [`SBOM_SPDX_PATH`]
    /// (`formats::sbom`). Its components are the snapshot's other artifacts.
    Sbom,
    /// Offline vulnerability data: an OSV export of one ecosystem exactly as the
    /// `[[osv]]` upstream published it (a zip of OSV schema 1.6 JSON records) at
    /// `osv/<upstream>/<ecosystem>/all.zip`, with `meta.name` the OSV ecosystem
    /// (`Debian:12`, `Ubuntu:24.04:LTS`, `PyPI`); see `formats::osv`.
    Osv,
}

impl ArtifactKind {
    /// The kind's name as the manifest writes it (kebab-case: `deb`, `core-metadata`,
    /// `oci-manifest`).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// True for the package artifacts a user installs (deb, wheel, sdist).
    pub fn is_package(self) -> bool {
        matches!(self, Self::Deb | Self::Wheel | Self::Sdist)
    }
}

/// One file of the snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// What it is.
    pub kind: ArtifactKind,
    /// Name of the [`Source`] it came from; absent for files the mirror generates across
    /// upstreams (the merged simple-index pages, the repository key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// Logical path, also the URL path the server answers on (see [`crate::path`]).
    pub path: String,
    /// SHA-256 of the content; the file is `blobs/sha256/<hex>` on the media.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// HTTP `Content-Type` to serve it with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Format metadata (package name, version, …).
    #[serde(default, skip_serializing_if = "Meta::is_empty")]
    pub meta: Meta,
}

/// Format metadata of an artifact. Every field is optional; which ones are set depends on
/// the kind (docs/media-format.md §Artifact metadata). Readers ignore fields they do not know.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Package name (Debian `Package`) or project name as upstream spells it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Version (Debian version or PEP 440 version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Debian architecture (`amd64`, `all`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// APT suite the entry was listed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite: Option<String>,
    /// APT component the entry was listed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// Python file name (`requests-2.32.3-py3-none-any.whl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// PEP 503 `data-requires-python` / PEP 691 `requires-python`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_python: Option<String>,
    /// PEP 592: absent when not yanked; the reason (possibly empty) when yanked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yanked: Option<String>,
    /// PEP 658/714: digest of the file's core metadata (its `.metadata` artifact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core_metadata: Option<Digest>,
    /// PEP 700 upload time, RFC 3339, when upstream gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_time: Option<String>,
    /// Where the bytes were fetched from (without credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_url: Option<String>,
    /// License as upstream states it (SPDX expression where known). Debian packages: from
    /// the package's own `usr/share/doc/<package>/copyright` (DEP-5 `License:` fields mapped
    /// to SPDX identifiers, `LicenseRef-<name>` where no identifier fits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Who supplies the package, as upstream names them: the Debian `Maintainer` field
    /// (`Name <e-mail>`), a Python distribution's `Maintainer`/`Author` (core metadata),
    /// or an OCI image's `org.opencontainers.image.vendor` label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier: Option<String>,
    /// Debian: the `Source` field as the index states it (`openssl` or
    /// `openssl (3.0.13-0ubuntu3)`, Debian Policy §5.6.1); absent when the source package
    /// has the binary package's name and version. See [`Meta::deb_source`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// OCI: the full reference a tag stands for (`docker.io/library/ubuntu:24.04`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// OCI: the platform of an image manifest reached through an index (`linux/amd64`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// OCI: the digest this artifact refers to (OCI 1.1 `subject`, or the image a cosign
    /// signature/attestation/SBOM tag belongs to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Digest>,
    /// OCI: the artifact type (`artifactType`, or the config media type of an artifact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// OCI: children of an index that the platform filter left out, as
    /// `sha256:<hex> <os>/<arch>[/<variant>]`; the index bytes are unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub omitted: Vec<String>,
    /// Key ids whose signatures verified (cosign key ids for images).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signed_by: Vec<String>,
    /// Direct dependencies as upstream states them (Debian `Depends`/`Pre-Depends`
    /// clauses, or PEP 508 `Requires-Dist` strings).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends: Vec<String>,
}

impl Meta {
    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        self == &Meta::default()
    }

    /// Debian: the source package's name and version, from [`Meta::source`] (`name` or
    /// `name (version)`), defaulting to the binary package's own name and version
    /// (Debian Policy §5.6.1). `None` when neither the source nor the name is known.
    pub fn deb_source(&self) -> Option<(&str, Option<&str>)> {
        match self
            .source
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(s) => match s.split_once('(') {
                Some((name, rest)) => {
                    let version = rest.trim_end().trim_end_matches(')').trim();
                    Some((
                        name.trim(),
                        (!version.is_empty())
                            .then_some(version)
                            .or(self.version.as_deref()),
                    ))
                }
                None => Some((s, self.version.as_deref())),
            },
            None => self.name.as_deref().map(|n| (n, self.version.as_deref())),
        }
    }
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Larger than [`MAX_MANIFEST_BYTES`].
    #[error("manifest is {0} bytes, over the {MAX_MANIFEST_BYTES}-byte limit")]
    TooLarge(u64),
    /// Not JSON, or not the expected shape.
    #[error("manifest is not valid JSON of the expected shape: {0}")]
    Malformed(String),
    /// A `manifest_version` this reader does not know.
    #[error(
        "unknown manifest version {found} (this reader knows version {MANIFEST_VERSION}); use a newer mirror-server"
    )]
    UnknownVersion {
        /// The version found.
        found: u64,
    },
    /// A field that parses but breaks a rule (bad channel name, duplicate path, …).
    #[error("invalid manifest: {0}")]
    Invalid(String),
}

/// Checks a manifest's `created`: an RFC 3339 `date-time` (RFC 3339 §5.6, e.g.
/// `2026-11-21T15:10:59Z`; writers use UTC, readers accept any offset), at most 64 bytes.
///
/// Errors: a message quoting the value escaped ([`crate::display::escape`]: it comes from
/// a drive), with the parser's reason.
pub fn validate_created(created: &str) -> Result<(), String> {
    const MAX: usize = 64;
    if created.len() > MAX {
        return Err(format!(
            "created is {} bytes, not an RFC 3339 date-time (at most {MAX} bytes, e.g. 2026-11-21T15:10:59Z)",
            created.len()
        ));
    }
    chrono::DateTime::parse_from_rfc3339(created)
        .map(|_| ())
        .map_err(|e| {
            format!(
                "created \"{}\" is not an RFC 3339 date-time like 2026-11-21T15:10:59Z ({e})",
                crate::display::escape(created)
            )
        })
}

#[derive(Deserialize)]
struct VersionProbe {
    manifest_version: Option<serde_json::Value>,
}

impl Manifest {
    /// The snapshot's name, `<channel>/<sequence>`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.channel, self.sequence)
    }

    /// Serializes to the bytes that get signed (pretty JSON, trailing newline).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("manifest serializes");
        v.push(b'\n');
        v
    }

    /// Parses and validates manifest bytes.
    ///
    /// Order: size limit, then the version (an unknown version is refused before any
    /// other field is read), then the shape, then [`Manifest::validate`].
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ManifestError> {
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge(bytes.len() as u64));
        }
        let probe: VersionProbe =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Malformed(e.to_string()))?;
        match probe.manifest_version {
            Some(serde_json::Value::Number(n)) if n.as_u64() == Some(MANIFEST_VERSION as u64) => {}
            Some(serde_json::Value::Number(n)) => {
                return Err(ManifestError::UnknownVersion {
                    found: n.as_u64().unwrap_or(u64::MAX),
                });
            }
            _ => {
                return Err(ManifestError::Malformed(
                    "missing or non-numeric manifest_version".into(),
                ));
            }
        }
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Malformed(e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    /// Checks the rules the types cannot express: channel name, sequence ≥ 1, `created` an
    /// RFC 3339 date-time ([`validate_created`]), every path safe
    /// ([`crate::path::validate`]) and unique, every artifact naming a known source.
    pub fn validate(&self) -> Result<(), ManifestError> {
        validate_channel(&self.channel).map_err(ManifestError::Invalid)?;
        if self.sequence == 0 {
            return Err(ManifestError::Invalid("sequence must be at least 1".into()));
        }
        validate_created(&self.created).map_err(ManifestError::Invalid)?;
        let sources: HashSet<&str> = self.sources.iter().map(|s| s.name.as_str()).collect();
        if sources.len() != self.sources.len() {
            return Err(ManifestError::Invalid("duplicate source name".into()));
        }
        let mut seen = HashSet::with_capacity(self.artifacts.len());
        for a in &self.artifacts {
            crate::path::validate(&a.path).map_err(|e| ManifestError::Invalid(e.to_string()))?;
            if !seen.insert(a.path.as_str()) {
                return Err(ManifestError::Invalid(format!(
                    "duplicate path {:?}",
                    a.path
                )));
            }
            if let Some(up) = &a.upstream
                && !sources.contains(up.as_str())
            {
                return Err(ManifestError::Invalid(format!(
                    "artifact {:?} names unknown upstream {up:?}",
                    a.path
                )));
            }
        }
        Ok(())
    }
}

/// The part of a [`Manifest`] a server routes requests by: channel, sequence and, per
/// artifact, kind, path, digest, size and media type. Every other field (`meta`,
/// `sources`, `upstream`, …) is skipped while parsing, so reading a 100,000-artifact
/// manifest allocates little: paths and media types are borrowed from the input when
/// they contain no JSON escapes (docs/media-format.md §Manifest). Parse a manifest whose
/// signature or digest was already checked.
#[derive(Debug, Clone, Deserialize)]
pub struct RouteView<'a> {
    /// Must be [`MANIFEST_VERSION`] ([`RouteView::from_slice`] checks).
    pub manifest_version: u64,
    /// The snapshot's channel.
    pub channel: String,
    /// The snapshot's sequence number.
    pub sequence: u64,
    /// The artifacts, in manifest order.
    #[serde(borrow)]
    pub artifacts: Vec<RouteArtifact<'a>>,
}

/// One artifact of a [`RouteView`]: the routing fields of an [`Artifact`].
#[derive(Debug, Clone, Deserialize)]
pub struct RouteArtifact<'a> {
    /// What it is.
    pub kind: ArtifactKind,
    /// Logical path (the URL path it is served at, without the leading `/`).
    #[serde(borrow)]
    pub path: std::borrow::Cow<'a, str>,
    /// SHA-256 of the content.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// HTTP `Content-Type`, when the manifest sets one.
    #[serde(default, borrow, deserialize_with = "borrowed_opt")]
    pub media_type: Option<std::borrow::Cow<'a, str>>,
}

/// Deserializes an optional string borrowing from the input where it can (serde's
/// `borrow` attribute does not reach through `Option`).
fn borrowed_opt<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<std::borrow::Cow<'a, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Borrowed<'b>(#[serde(borrow)] std::borrow::Cow<'b, str>);
    Ok(Option::<Borrowed<'de>>::deserialize(d)?.map(|b| b.0))
}

impl<'a> RouteView<'a> {
    /// Parses the routing fields of manifest JSON `bytes`.
    ///
    /// Errors: larger than [`MAX_MANIFEST_BYTES`], not JSON of the manifest's shape
    /// ([`ManifestError::Malformed`]), another `manifest_version`
    /// ([`ManifestError::UnknownVersion`]), an unsafe path ([`ManifestError::Invalid`]).
    pub fn from_slice(bytes: &'a [u8]) -> Result<Self, ManifestError> {
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge(bytes.len() as u64));
        }
        let v: RouteView<'a> =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Malformed(e.to_string()))?;
        if v.manifest_version != MANIFEST_VERSION as u64 {
            return Err(ManifestError::UnknownVersion {
                found: v.manifest_version,
            });
        }
        for a in &v.artifacts {
            crate::path::validate(&a.path).map_err(|e| ManifestError::Invalid(e.to_string()))?;
        }
        Ok(v)
    }

    /// The snapshot's name, `<channel>/<sequence>`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.channel, self.sequence)
    }
}

/// Checks a channel name: `[a-z0-9][a-z0-9._-]*`, at most 64 bytes.
pub fn validate_channel(channel: &str) -> Result<(), String> {
    let ok = !channel.is_empty()
        && channel.len() <= 64
        && channel.as_bytes()[0].is_ascii_alphanumeric()
        && channel
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid channel name {channel:?}: use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit"
        ))
    }
}

/// A snapshot's name, `<channel>/<sequence>` (docs/media-format.md): a channel that
/// passes [`validate_channel`] and a decimal sequence of at least 1 without leading zeros
/// or sign. The one grammar of snapshot names: the importer, lifecycle commands and the
/// `/snapshots/` routes all parse with [`SnapshotName::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SnapshotName {
    /// The channel (`cube-stable`).
    pub channel: String,
    /// The sequence number, at least 1.
    pub sequence: u64,
}

impl SnapshotName {
    /// Parses `<channel>/<sequence>`; `None` when `name` is not one (`cube-stable/12` is;
    /// `cube-stable/012`, `cube-stable/0`, `Cube/1`, `a/b/1` are not).
    pub fn parse(name: &str) -> Option<SnapshotName> {
        let (channel, seq) = name.split_once('/')?;
        validate_channel(channel).ok()?;
        if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let sequence: u64 = seq.parse().ok()?;
        (sequence.to_string() == seq && sequence >= 1).then(|| SnapshotName {
            channel: channel.to_owned(),
            sequence,
        })
    }
}

impl std::fmt::Display for SnapshotName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.channel, self.sequence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_names() {
        assert_eq!(
            SnapshotName::parse("cube-stable/12").unwrap().to_string(),
            "cube-stable/12"
        );
        assert_eq!(
            SnapshotName::parse("cube-stable/12"),
            Some(SnapshotName {
                channel: "cube-stable".into(),
                sequence: 12
            })
        );
        for bad in [
            "cube", "cube/", "cube/0", "cube/012", "cube/+1", "Cube/1", "a/b/1", "/1",
        ] {
            assert_eq!(SnapshotName::parse(bad), None, "{bad}");
        }
    }

    fn sample() -> Manifest {
        Manifest {
            manifest_version: MANIFEST_VERSION,
            channel: "cube-stable".into(),
            sequence: 3,
            created: "2026-11-21T15:10:59Z".into(),
            base: None,
            generator: "mirror-sync test".into(),
            signer: "ed25519:0011223344556677".into(),
            sources: vec![Source {
                name: "debian".into(),
                kind: SourceKind::Apt,
                url: "http://archive.example/debian".into(),
                flat: false,
                suites: vec!["bookworm".into()],
                components: vec!["main".into()],
                architectures: vec!["amd64".into()],
                upstream_signers: vec![],
                repo_signer: None,
                registry: None,
                origin: None,
                distro: None,
                upstream_keyring: None,
                upstream_sha1_bound_signers: vec![],
            }],
            artifacts: vec![Artifact {
                kind: ArtifactKind::Deb,
                upstream: Some("debian".into()),
                path: "apt/debian/pool/main/j/jq/jq_1.6_amd64.deb".into(),
                digest: Digest::of(b"x"),
                size: 1,
                media_type: None,
                meta: Meta {
                    name: Some("jq".into()),
                    ..Meta::default()
                },
            }],
        }
    }

    #[test]
    fn round_trips() {
        let m = sample();
        let bytes = m.to_bytes();
        assert_eq!(Manifest::from_slice(&bytes).unwrap(), m);
        assert_eq!(m.name(), "cube-stable/3");
    }

    #[test]
    fn sha1_bound_signers_are_optional() {
        // Absent: not written, and manifests without the field still read.
        let m = sample();
        let text = String::from_utf8(m.to_bytes()).unwrap();
        assert!(!text.contains("upstream_sha1_bound_signers"), "{text}");
        // Present: written and read back.
        let mut m = sample();
        m.sources[0].upstream_signers = vec!["AB".repeat(20)];
        m.sources[0].upstream_sha1_bound_signers = vec!["AB".repeat(20)];
        let bytes = m.to_bytes();
        assert!(String::from_utf8_lossy(&bytes).contains("upstream_sha1_bound_signers"));
        assert_eq!(Manifest::from_slice(&bytes).unwrap(), m);
    }

    #[test]
    fn route_view_reads_the_routing_fields_and_borrows_them() {
        let mut m = sample();
        m.artifacts[0].media_type = Some("application/vnd.debian.binary-package".into());
        let bytes = m.to_bytes();
        let v = RouteView::from_slice(&bytes).unwrap();
        assert_eq!(v.name(), "cube-stable/3");
        assert_eq!(v.artifacts.len(), 1);
        let a = &v.artifacts[0];
        assert_eq!(a.kind, ArtifactKind::Deb);
        assert_eq!(a.path, "apt/debian/pool/main/j/jq/jq_1.6_amd64.deb");
        assert_eq!(a.digest, Digest::of(b"x"));
        assert_eq!(a.size, 1);
        assert_eq!(
            a.media_type.as_deref(),
            Some("application/vnd.debian.binary-package")
        );
        // No escapes in the JSON: the strings point into the input, nothing was copied.
        assert!(matches!(a.path, std::borrow::Cow::Borrowed(_)));
        assert!(matches!(a.media_type, Some(std::borrow::Cow::Borrowed(_))));

        let mut j: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        j["manifest_version"] = 2.into();
        let err = RouteView::from_slice(&serde_json::to_vec(&j).unwrap()).unwrap_err();
        assert!(
            matches!(err, ManifestError::UnknownVersion { found: 2 }),
            "{err}"
        );
        let mut j: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        j["artifacts"][0]["path"] = "apt/../../etc/passwd".into();
        let err = RouteView::from_slice(&serde_json::to_vec(&j).unwrap()).unwrap_err();
        assert!(matches!(err, ManifestError::Invalid(_)), "{err}");
        assert!(matches!(
            RouteView::from_slice(b"{\"manifest_version\": 1}").unwrap_err(),
            ManifestError::Malformed(_)
        ));
    }

    #[test]
    fn unknown_version_is_refused_first() {
        let mut v: serde_json::Value = serde_json::from_slice(&sample().to_bytes()).unwrap();
        v["manifest_version"] = 2.into();
        v["artifacts"] = "garbage".into();
        let err = Manifest::from_slice(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(
            matches!(err, ManifestError::UnknownVersion { found: 2 }),
            "{err}"
        );
    }

    #[test]
    fn unsafe_and_duplicate_paths_are_refused() {
        let mut m = sample();
        m.artifacts[0].path = "../../etc/passwd".into();
        assert!(matches!(m.validate(), Err(ManifestError::Invalid(_))));
        let mut m = sample();
        m.artifacts.push(m.artifacts[0].clone());
        assert!(matches!(m.validate(), Err(ManifestError::Invalid(_))));
    }

    #[test]
    fn duplicate_json_keys_are_refused() {
        let bytes = sample().to_bytes();
        let text = String::from_utf8(bytes).unwrap();
        let dup = text.replacen(
            "\"sequence\": 3,",
            "\"sequence\": 3,\n  \"sequence\": 9,",
            1,
        );
        assert!(Manifest::from_slice(dup.as_bytes()).is_err());
    }

    #[test]
    fn created_must_be_rfc3339() {
        for good in [
            "2026-11-21T15:10:59Z",
            "2026-11-21T15:10:59.123456Z",
            "2026-11-21T16:10:59+01:00",
        ] {
            validate_created(good).unwrap();
        }
        for bad in [
            "",
            "yesterday",
            "2026-11-21",
            "2026-13-01T00:00:00Z",
            "2026-11-21T15:10:59Z\u{1b}[2J",
            &format!("2026-11-21T15:10:59.{}Z", "1".repeat(80)),
        ] {
            let mut m = sample();
            m.created = bad.into();
            let err = m.validate().unwrap_err().to_string();
            assert!(err.contains("RFC 3339"), "{bad:?}: {err}");
            assert!(!err.contains('\u{1b}'), "raw control byte in {err:?}");
            let bytes = m.to_bytes();
            assert!(Manifest::from_slice(&bytes).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn channel_names() {
        validate_channel("cube-stable").unwrap();
        for bad in ["", "Cube", "-x", "a/b", "a b", &"x".repeat(65)] {
            assert!(validate_channel(bad).is_err(), "{bad:?}");
        }
    }
}
