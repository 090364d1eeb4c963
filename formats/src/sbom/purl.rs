//! Package URLs for snapshot artifacts (purl-spec / ECMA-427, types `deb`, `pypi`, `oci`).

use std::collections::BTreeMap;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use super::{Ctx, platform_arch, split_manifest_path};
use crate::snapshot::{Artifact, ArtifactKind, Manifest};

/// Bytes percent-encoded in a purl component: everything but the purl-spec "allowed
/// set" (`A-Z a-z 0-9 . - _ ~`) and the colon, which purl-spec §Character encoding
/// says is never encoded.
const PURL_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'.')
    .remove(b'-')
    .remove(b'_')
    .remove(b'~')
    .remove(b':');

fn enc(s: &str) -> String {
    utf8_percent_encode(s, PURL_ENCODE).to_string()
}

/// Suite suffixes dropped to get the `distro` qualifier (`bookworm-updates` → `bookworm`).
const SUITE_SUFFIXES: [&str; 4] = ["-updates", "-security", "-backports", "-proposed"];

/// The package URL of one artifact, or `None` for an artifact that is not a component
/// ([`super::is_component`]) or lacks what its type requires.
///
/// Canonical form per purl-spec (ECMA-427 §Character encoding, qualifiers sorted by key):
/// - `deb` (purl-spec §deb): `pkg:deb/<vendor>/<name>@<version>?arch=<arch>&distro=<distro>&upstream=<source>`.
///   The vendor is the source's `origin` lower-cased with spaces as `-` (else the
///   source name); `distro` is the source's recorded `distro` (`ubuntu-24.04`,
///   `debian-12`: the form vulnerability scanners match), else `meta.suite` without a
///   `-updates`, `-security`, `-backports` or `-proposed` suffix, left out for flat
///   repositories (no suite); `upstream` names the source package (Debian Policy §5.6.1)
///   when it differs from the binary package, as `<source>@<source version>` when the
///   versions differ too (the form Syft and Grype use).
///   `pkg:deb/debian/libssl3@3.0.15-1?arch=amd64&distro=debian-12&upstream=openssl`.
///   Needs a name (`meta.name`), a version (`meta.version`) and a source.
/// - `pypi` (purl-spec §pypi): `pkg:pypi/<PEP 503 normalized name>@<version>`,
///   e.g. `pkg:pypi/requests@2.32.3`.
/// - `oci` (purl-spec §oci): `pkg:oci/<last path segment>@sha256:<hex>?arch=<arch>&repository_url=<registry>%2F<path>&tag=<tag>`.
///   The served repository of `v2/<served>/manifests/sha256:<hex>` maps back with
///   [`crate::oci::split_served_name`] (`127.0.0.1__5000/team/app` → `127.0.0.1:5000`,
///   `team/app`); `tag` is the first (by byte order) non-cosign tag of the same
///   repository pointing at the same digest; `arch` comes from `meta.platform`.
pub fn purl(m: &Manifest, a: &Artifact) -> Option<String> {
    purl_with(&Ctx::new(m), a)
}

pub(crate) fn purl_with(ctx: &Ctx<'_>, a: &Artifact) -> Option<String> {
    match a.kind {
        ArtifactKind::Deb => {
            let vendor = ctx.vendors.get(a.upstream.as_deref()?)?;
            if vendor.is_empty() {
                return None;
            }
            let name = a.meta.name.as_deref()?.to_lowercase();
            let version = a.meta.version.as_deref()?;
            let mut q = BTreeMap::new();
            if let Some(arch) = &a.meta.architecture {
                q.insert("arch", arch.clone());
            }
            let recorded = a.upstream.as_deref().and_then(|u| ctx.distros.get(u));
            if let Some(d) = recorded {
                q.insert("distro", (*d).to_owned());
            } else if let Some(suite) = &a.meta.suite {
                let distro = SUITE_SUFFIXES
                    .iter()
                    .find_map(|s| suite.strip_suffix(s))
                    .unwrap_or(suite);
                q.insert("distro", distro.to_owned());
            }
            if let Some((src, src_version)) = a.meta.deb_source() {
                let src = src.to_lowercase();
                let other_version = src_version.filter(|v| Some(*v) != a.meta.version.as_deref());
                match other_version {
                    Some(v) => {
                        q.insert("upstream", format!("{src}@{v}"));
                    }
                    None if src != name => {
                        q.insert("upstream", src);
                    }
                    None => {}
                }
            }
            Some(build("deb", Some(vendor), &name, version, &q))
        }
        ArtifactKind::Wheel | ArtifactKind::Sdist => {
            let name = crate::pypi::name::normalize(a.meta.name.as_deref()?);
            let version = a.meta.version.as_deref()?;
            Some(build("pypi", None, &name, version, &BTreeMap::new()))
        }
        ArtifactKind::OciManifest => {
            let (served, _) = split_manifest_path(&a.path)?;
            let (registry, repo) = crate::oci::split_served_name(served)?;
            let name = repo.rsplit('/').next().unwrap_or(&repo).to_lowercase();
            let mut q = BTreeMap::new();
            if let Some(arch) = a.meta.platform.as_deref().and_then(platform_arch) {
                q.insert("arch", arch);
            }
            q.insert("repository_url", format!("{registry}/{repo}"));
            if let Some(tag) = ctx.tags.get(&(served, a.digest)) {
                q.insert("tag", (*tag).to_owned());
            }
            Some(build("oci", None, &name, &a.digest.to_string(), &q))
        }
        _ => None,
    }
}

fn build(
    ty: &str,
    namespace: Option<&str>,
    name: &str,
    version: &str,
    qualifiers: &BTreeMap<&str, String>,
) -> String {
    let mut s = format!("pkg:{ty}/");
    if let Some(ns) = namespace {
        s.push_str(&enc(ns));
        s.push('/');
    }
    s.push_str(&enc(name));
    if !version.is_empty() {
        s.push('@');
        s.push_str(&enc(version));
    }
    let mut sep = '?';
    for (k, v) in qualifiers {
        if v.is_empty() {
            continue;
        }
        s.push(sep);
        s.push_str(k);
        s.push('=');
        s.push_str(&enc(v));
        sep = '&';
    }
    s
}

/// The parts of a parsed package URL that [`super::component_from`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    /// Type, lower-cased.
    pub ty: String,
    /// Qualifiers, keys lower-cased, values percent-decoded.
    pub qualifiers: BTreeMap<String, String>,
}

/// Parses the type and qualifiers of a purl; `None` if it is not `pkg:<type>/…`.
pub(crate) fn parse(s: &str) -> Option<Parsed> {
    let rest = s.strip_prefix("pkg:")?.trim_start_matches('/');
    let rest = rest.split('#').next().unwrap_or(rest);
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let (ty, _) = path.split_once('/')?;
    if ty.is_empty() {
        return None;
    }
    let mut qualifiers = BTreeMap::new();
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        let Some((k, v)) = pair.split_once('=') else {
            continue;
        };
        let v = percent_decode_str(v).decode_utf8().ok()?.into_owned();
        if !v.is_empty() {
            qualifiers.insert(k.to_ascii_lowercase(), v);
        }
    }
    Some(Parsed {
        ty: ty.to_ascii_lowercase(),
        qualifiers,
    })
}
