//! Names: the distribution-spec repository, tag and digest grammar, the registry-host
//! rule, the mapping of a registry host to the mirror's first repository component, and
//! image references `[registry/]path[:tag][@digest]`.

use std::fmt;

use super::error::OciError;
use crate::digest::Digest;

/// True if `component` matches `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
pub(super) fn is_valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    let mut expect_alnum = true;
    while i < bytes.len() {
        let start = i;
        if expect_alnum {
            while i < bytes.len() && alnum(bytes[i]) {
                i += 1;
            }
            if i == start {
                return false;
            }
        } else {
            while i < bytes.len() && !alnum(bytes[i]) {
                i += 1;
            }
            let sep = &component[start..i];
            let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
            if !ok {
                return false;
            }
        }
        expect_alnum = !expect_alnum;
    }
    // Non-empty and ending on an alphanumeric run.
    !bytes.is_empty() && !expect_alnum
}

/// OCI distribution-spec §Pulling: true if `name` matches the repository name grammar
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*` and is at
/// most 255 bytes long.
pub fn is_valid_repository(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && name.split('/').all(is_valid_path_component)
}

/// OCI distribution-spec §Pulling: true if `tag` matches `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    match bytes.split_first() {
        Some((&first, rest)) => {
            bytes.len() <= 128
                && (first.is_ascii_alphanumeric() || first == b'_')
                && rest
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        }
        None => false,
    }
}

/// Parses an OCI digest (image-spec §Digests: `algorithm[+algorithm]:encoded`, with
/// algorithm components `[a-z0-9]+` joined by `+ . _ -`, encoded `[a-zA-Z0-9=_-]+`).
///
/// Errors: `sha256:` not followed by exactly 64 lowercase hex digits, or anything not
/// matching the grammar -> [`OciError::InvalidDigest`]; a well-formed digest with another
/// algorithm (e.g. `sha512:`) -> [`OciError::UnsupportedDigest`].
pub fn parse_digest(s: &str) -> Result<Digest, OciError> {
    let invalid = || OciError::InvalidDigest(s.to_owned());
    let (algorithm, encoded) = s.split_once(':').ok_or_else(invalid)?;
    let algorithm_ok = !algorithm.is_empty()
        && algorithm.split(['+', '.', '_', '-']).all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    let encoded_ok = !encoded.is_empty()
        && encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'));
    if !algorithm_ok || !encoded_ok {
        return Err(invalid());
    }
    if algorithm != "sha256" {
        return Err(OciError::UnsupportedDigest(s.to_owned()));
    }
    Digest::from_hex(encoded).map_err(|_| invalid())
}

/// Maps a registry host (optionally `host:port`) to the first repository component the
/// mirror serves it under: lowercased, `:` replaced by `__` (`127.0.0.1:5000` ->
/// `127.0.0.1__5000`). Reversible with [`component_to_registry`] because DNS host names
/// never contain `__`.
pub fn registry_to_component(registry: &str) -> String {
    registry.to_ascii_lowercase().replace(':', "__")
}

/// Inverse of [`registry_to_component`]: `127.0.0.1__5000` -> `127.0.0.1:5000`.
pub fn component_to_registry(component: &str) -> String {
    component.replacen("__", ":", 1)
}

/// Splits a served repository name back into (registry host, upstream repository path):
/// `docker.io/library/ubuntu` -> (`docker.io`, `library/ubuntu`), `127.0.0.1__5000/app`
/// -> (`127.0.0.1:5000`, `app`). `None` if the name has a single component (or an
/// empty part).
pub fn split_served_name(name: &str) -> Option<(String, String)> {
    let (first, rest) = name.split_once('/')?;
    if first.is_empty() || rest.is_empty() {
        return None;
    }
    Some((component_to_registry(first), rest.to_owned()))
}

/// Longest registry host accepted, in bytes (without `:port`): the limit on a DNS name
/// (RFC 1035 §2.3.4, 255 octets on the wire, 253 characters written).
pub const MAX_REGISTRY_HOST_BYTES: usize = 253;

/// The one registry-host rule: checks `registry`, as configured or as the first part of
/// an image reference, against the `domain` production of distribution's reference
/// grammar (`distribution/reference`, `regexp.go`):
///
/// ```text
/// domain           := host [ ":" port-number ]
/// host             := domain-name | IPv4address | "[" IPv6address "]"
/// domain-name      := domain-component ( "." domain-component )*
/// domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
/// port-number      := [0-9]+
/// ```
///
/// An IPv4 address is a `domain-name` of digit components. Where the grammar leaves a
/// choice, this rule decides:
///
/// - `_` is refused anywhere: no `domain-component` contains it, and `__` is the separator
///   [`registry_to_component`] puts before the port, so a host with `_` could not be
///   mapped back ([`component_to_registry`]).
/// - The port is 1 to 5 decimal digits with a value from 1 to 65535 (the grammar allows
///   any digits; no TCP port lies outside that range).
/// - The host is at most [`MAX_REGISTRY_HOST_BYTES`] (253) bytes, a DNS name's limit.
///   The grammar bounds only a whole repository name (255 bytes), which
///   [`ImageRef::parse`] checks on the served name.
/// - IPv6 literals (`[::1]:5000`) are part of the grammar but refused: the mirror serves a
///   registry as a repository-name component, which cannot hold `[`, `]` or a bare `:`.
///
/// Letters may be upper case (hosts are case-insensitive; the mirror serves them
/// lowercased). Every accepted registry maps to a component valid in the name grammar.
///
/// Errors: the reason, one line naming the wrong part (callers put the registry or the
/// reference in front): an empty host, an IPv6 literal, a host over 253 bytes, a character
/// other than letters, digits, `.` and `-`, a `.`-separated component that is empty or
/// starts or ends with `-`, or a port that is not a number from 1 to 65535.
pub fn check_registry(registry: &str) -> Result<(), String> {
    if registry.starts_with('[') {
        return Err(format!(
            "registry host {registry:?} is an IPv6 literal: IPv6 literals are not supported \
             (use a host name)"
        ));
    }
    let (host, port) = match registry.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (registry, None),
    };
    if host.is_empty() {
        return Err(format!("empty registry host in {registry:?}"));
    }
    if host.len() > MAX_REGISTRY_HOST_BYTES {
        return Err(format!(
            "registry host is {} bytes, over the {MAX_REGISTRY_HOST_BYTES}-byte limit of a \
             DNS name",
            host.len()
        ));
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return Err(format!(
            "registry host {host:?} may only contain letters, digits, '.' and '-' \
             (IPv6 literals are not supported)"
        ));
    }
    if let Some(bad) = host
        .split('.')
        .find(|c| c.is_empty() || c.starts_with('-') || c.ends_with('-'))
    {
        return Err(format!(
            "registry host {host:?} is not a valid host name: component {bad:?} is empty or \
             starts or ends with '-'"
        ));
    }
    if let Some(port) = port {
        let digits =
            !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
        if !digits {
            return Err(format!("registry port {port:?} is not a number"));
        }
        if !matches!(port.parse::<u16>(), Ok(1..)) {
            return Err(format!("registry port {port} is outside 1-65535"));
        }
    }
    Ok(())
}

/// A parsed image reference `[registry/]path[:tag][@digest]`.
///
/// `registry` is the host (with `:port` if any) as written, lowercased; `repository`
/// is the path inside that registry. A reference without a tag or digest has both
/// `None`: callers that pull by tag apply the conventional `latest` themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host, e.g. `docker.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// Repository path inside the registry, e.g. `library/ubuntu`.
    pub repository: String,
    /// Tag, if given.
    pub tag: Option<String>,
    /// Manifest digest, if given (`@sha256:...`).
    pub digest: Option<Digest>,
}

impl ImageRef {
    /// Parses an image reference with Docker's rules: the first `/`-separated component
    /// is a registry only if it contains `.` or `:`, is `localhost`, or has uppercase
    /// letters; otherwise the reference is in `default_registry`. For `docker.io` (and
    /// its alias `index.docker.io`) a single-segment path gets `library/`.
    ///
    /// Accepts e.g. `ubuntu`, `library/ubuntu:24.04`, `registry.example/team/cuda:12.6.0-base`,
    /// `127.0.0.1:5000/team/app@sha256:<hex>`, `x:tag@sha256:<hex>`.
    ///
    /// Errors: [`OciError::InvalidReference`] for an empty or malformed reference, a bad
    /// registry host (including a single-label host recognised only by its upper case,
    /// `Host/app`, which could not be printed back with the same meaning), a repository or tag outside the distribution grammar, or a served
    /// name over 255 bytes; [`OciError::InvalidDigest`]/[`OciError::UnsupportedDigest`]
    /// for the `@digest` part.
    pub fn parse(s: &str, default_registry: &str) -> Result<Self, OciError> {
        let fail = |reason: String| OciError::InvalidReference {
            reference: s.to_owned(),
            reason,
        };
        if s.is_empty() {
            return Err(fail("empty reference".into()));
        }
        if s.bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(fail("contains whitespace or control characters".into()));
        }
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(parse_digest(d)?)),
            None => (s, None),
        };
        // A ':' after the last '/' starts the tag; earlier ones belong to a registry port.
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].find(':') {
            Some(i) => {
                let at = last_slash + i;
                (&name_tag[..at], Some(&name_tag[at + 1..]))
            }
            None => (name_tag, None),
        };
        if let Some(tag) = tag
            && !is_valid_tag(tag)
        {
            return Err(fail(format!(
                "tag {tag:?} does not match [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}"
            )));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.bytes().any(|b| b.is_ascii_uppercase()) =>
            {
                (first, rest)
            }
            _ => (default_registry, name),
        };
        // A host recognised only by its upper case (`Host/app`) would print, lowercased,
        // as a path (`host/app`) that reads back into the default registry: refuse it
        // rather than give it two meanings.
        if registry != default_registry && !registry.contains(['.', ':']) && registry != "localhost"
        {
            return Err(fail(format!(
                "registry host {registry:?} is recognised only by its upper case; host names \
                 are case-insensitive, so write it in lower case with a domain or a port \
                 (e.g. {}:443)",
                registry.to_ascii_lowercase()
            )));
        }
        check_registry(registry).map_err(fail)?;
        let mut registry = registry.to_ascii_lowercase();
        let mut repository = path.to_owned();
        if registry == "index.docker.io" {
            registry = "docker.io".into();
        }
        if registry == "docker.io" && !repository.contains('/') {
            repository = format!("library/{repository}");
        }
        if !is_valid_repository(&repository) {
            return Err(fail(format!(
                "repository {repository:?} does not match the distribution name grammar \
                 (lowercase [a-z0-9] components joined by '.', '_', '__' or '-')"
            )));
        }
        let r = ImageRef {
            registry,
            repository,
            tag: tag.map(str::to_owned),
            digest,
        };
        let served = r.served_name();
        if served.len() > 255 {
            return Err(fail(format!(
                "served name {served:?} is {} bytes, over the 255-byte limit",
                served.len()
            )));
        }
        Ok(r)
    }

    /// `<registry_to_component(registry)>/<repository>`: the repository name the mirror
    /// serves this image under (e.g. `127.0.0.1__5000/team/app`).
    pub fn served_name(&self) -> String {
        format!(
            "{}/{}",
            registry_to_component(&self.registry),
            self.repository
        )
    }

    /// `<registry>/<repository>`, then `:tag` and/or `@digest` when present, e.g.
    /// `127.0.0.1:5000/team/app:v1@sha256:<hex>`.
    pub fn to_reference_string(&self) -> String {
        let mut s = format!("{}/{}", self.registry, self.repository);
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        s
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_reference_string())
    }
}
