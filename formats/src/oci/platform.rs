//! The image platform `os/architecture[/variant]` (image-spec §Image Index `platform`).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::OciError;

/// Image platform (image-spec §Image Index `platform`): JSON fields `os`,
/// `architecture`, optional `variant`. Other fields (`os.version`, `os.features`) are
/// ignored when parsing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Platform {
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// CPU architecture (GOARCH), e.g. `amd64`, `arm64`.
    pub architecture: String,
    /// CPU variant, e.g. `v8`, `v7`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// Parses `os/architecture[/variant]` (e.g. `linux/amd64`, `linux/arm64/v8`).
    /// Errors: [`OciError::Manifest`] for an empty part, more than three parts, or
    /// characters outside `[A-Za-z0-9._-]`.
    pub fn parse(s: &str) -> Result<Self, OciError> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok_part = |p: &&str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        };
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(ok_part) {
            return Err(OciError::Manifest(format!(
                "invalid platform {s:?}: expected os/architecture[/variant], e.g. linux/arm64/v8"
            )));
        }
        Ok(Platform {
            os: parts.first().copied().unwrap_or_default().to_owned(),
            architecture: parts.get(1).copied().unwrap_or_default().to_owned(),
            variant: parts.get(2).map(|v| (*v).to_owned()),
        })
    }

    /// `os/architecture[/variant]`, e.g. `linux/amd64`, `linux/arm64/v8`.
    pub fn to_string_short(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }

    /// True if `self` (an index entry's platform) satisfies `wanted`: same os and
    /// architecture, and, when `wanted` names a variant, the same variant. As in
    /// containerd's platform matcher, `arm64` without a variant counts as `arm64/v8`.
    pub fn matches(&self, wanted: &Platform) -> bool {
        if self.os != wanted.os || self.architecture != wanted.architecture {
            return false;
        }
        match &wanted.variant {
            None => true,
            Some(w) => {
                let mine = match (&self.variant, self.architecture.as_str()) {
                    (Some(v), _) => Some(v.as_str()),
                    (None, "arm64") => Some("v8"),
                    (None, _) => None,
                };
                mine == Some(w.as_str())
            }
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_short())
    }
}
