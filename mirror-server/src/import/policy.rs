//! Step 7 of an import: upstream provenance ([`crate::provenance::check_apt`]: every
//! upstream APT `InRelease` verifies against the keyring the snapshot names, every `.deb`
//! is listed in the upstream-signed `Packages`), then, with `--policy FILE`, the cosign
//! signature policy over the OCI images ([`check_oci_policy`]). Also the `--policy` file
//! itself ([`load_policy`]).

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use formats::digest::Digest;
use formats::snapshot::Manifest;

use super::checks::Verified;
use super::copy::Staged;
use super::error::ImportError;
use super::plan::Plan;

/// Step 7: upstream InRelease signatures against the installed upstream keyrings, indexes
/// against the signed Release, every .deb against the signed Packages; then the cosign
/// signature policy. Reads verified blobs only (`staged`).
///
/// `prepared` is [`crate::provenance::prepare_apt`]'s result, computed while the blobs
/// were copied (step 5b); this matches the `.deb`s against it.
pub(super) fn check(
    v: &Verified,
    plan: &Plan,
    staged: &Staged,
    prepared: Result<crate::provenance::Prepared, crate::provenance::ProvenanceError>,
) -> Result<crate::provenance::ProvenanceReport, ImportError> {
    let provenance = prepared
        .and_then(|p| p.check_debs(&v.manifest, staged))
        .map_err(ImportError::Provenance)?;
    if let Some(policy) = &v.policy {
        use crate::provenance::BlobSource as _;
        let read = |d: &Digest| -> Result<Vec<u8>, String> {
            if !plan.users.contains_key(d) {
                return Err(format!("blob {d} is not part of the snapshot"));
            }
            staged.read(d, formats::oci::MAX_MANIFEST_BYTES)
        };
        check_oci_policy(&v.manifest, policy, read).map_err(ImportError::Unsigned)?;
    }
    Ok(provenance)
}

/// The `[verify]` table of a `--policy` file.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    verify: std::collections::BTreeMap<String, keys::cosign::VerifyRule>,
}

/// Largest policy file read, in bytes.
const MAX_POLICY_BYTES: u64 = 1024 * 1024;

/// Loads a `--policy` file: TOML with one `[verify]` table, the same rule syntax as
/// `[oci.verify]` of mirror-sync (`"<registry>/<repository glob>" = { keys = [...],
/// required = true }`, see [`keys::cosign`]); key paths are relative to the file.
///
/// Errors: [`ImportError::PolicyFile`] naming the file and what is wrong.
pub fn load_policy(path: &Path) -> Result<keys::cosign::Policy, ImportError> {
    let bad = |reason: String| ImportError::PolicyFile {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = fs::read(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_POLICY_BYTES {
        return Err(bad(format!("over {MAX_POLICY_BYTES} bytes")));
    }
    let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".into()))?;
    let file: PolicyFile = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    keys::cosign::Policy::load(&file.verify, base).map_err(|e| bad(e.to_string()))
}

/// Applies a cosign policy to the OCI images of `manifest` (the import-time check; the
/// same rules as mirror-sync's `[oci.verify]`).
///
/// Images are the digests named by non-cosign `oci-tag` artifacts, and `oci-manifest`
/// artifacts that are not referrers (`meta.subject`), not platform children
/// (`meta.platform`) and not listed in an index of the same repository (pinned digests).
/// Each is named `<registry>/<path>` by mapping its served repository back
/// ([`formats::oci::split_served_name`]). When the matching rule is `required`, its cosign
/// signatures are read from the tag `sha256-<hex>.sig` of the same repository: each layer
/// of media type simple-signing with a signature annotation is checked with
/// [`keys::cosign::Policy::evaluate`]. `read` returns verified blob bytes by digest.
///
/// Errors: the first image (by path) a required rule refuses.
pub fn check_oci_policy(
    manifest: &Manifest,
    policy: &keys::cosign::Policy,
    read: impl Fn(&Digest) -> Result<Vec<u8>, String>,
) -> Result<(), keys::cosign::PolicyError> {
    use formats::oci;
    use formats::snapshot::ArtifactKind;
    use keys::cosign::SignatureCandidate;

    if policy.is_empty() {
        return Ok(());
    }
    let split = |path: &str| -> Option<(String, String)> {
        let (repo, reference) = path.strip_prefix("v2/")?.rsplit_once("/manifests/")?;
        Some((repo.to_owned(), reference.to_owned()))
    };
    let image_name = |repo: &str| -> String {
        match oci::split_served_name(repo) {
            Some((registry, path)) => format!("{registry}/{path}"),
            None => repo.to_owned(),
        }
    };
    let by_path: HashMap<&str, &formats::snapshot::Artifact> = manifest
        .artifacts
        .iter()
        .map(|a| (a.path.as_str(), a))
        .collect();
    // (repo, digest) -> reference for messages; tags first so their names are used.
    let mut images: std::collections::BTreeMap<(String, Digest), String> =
        std::collections::BTreeMap::new();
    let mut untagged: Vec<(String, Digest)> = Vec::new();
    let mut children: std::collections::HashSet<(String, Digest)> =
        std::collections::HashSet::new();
    for a in &manifest.artifacts {
        let Some((repo, reference)) = split(&a.path) else {
            continue;
        };
        let name = image_name(&repo);
        let required = policy.rule_for(&name).is_some_and(|r| r.required);
        if !required {
            continue;
        }
        match a.kind {
            ArtifactKind::OciTag if oci::parse_cosign_tag(&reference).is_none() => {
                let r = a
                    .meta
                    .reference
                    .clone()
                    .unwrap_or_else(|| format!("{name}:{reference}"));
                images.entry((repo, a.digest)).or_insert(r);
            }
            ArtifactKind::OciManifest => {
                let is_index = matches!(
                    a.media_type.as_deref(),
                    Some(oci::OCI_INDEX | oci::DOCKER_MANIFEST_LIST)
                );
                if is_index
                    && let Ok(bytes) = read(&a.digest)
                    && let Ok(parsed) = oci::parse_manifest(&bytes, a.media_type.as_deref())
                {
                    children.extend(parsed.manifests.iter().map(|c| (repo.clone(), c.digest)));
                }
                if a.meta.subject.is_none() && a.meta.platform.is_none() {
                    untagged.push((repo, a.digest));
                }
            }
            _ => {}
        }
    }
    for (repo, d) in untagged {
        if children.contains(&(repo.clone(), d)) {
            continue;
        }
        let name = format!("{}@{d}", image_name(&repo));
        images.entry((repo, d)).or_insert(name);
    }
    for ((repo, digest), reference) in &images {
        let sig_path = format!("v2/{repo}/manifests/{}", oci::cosign_tag(digest, "sig"));
        let mut candidates = Vec::new();
        if let Some(sig) = by_path.get(sig_path.as_str()) {
            let label = format!(
                "signature manifest {} (tag {})",
                sig.digest,
                oci::cosign_tag(digest, "sig")
            );
            match read(&sig.digest).and_then(|b| {
                oci::parse_manifest(&b, sig.media_type.as_deref()).map_err(|e| e.to_string())
            }) {
                Ok(parsed) => {
                    for l in parsed
                        .layers
                        .iter()
                        .filter(|l| l.media_type == oci::COSIGN_SIMPLESIGNING)
                    {
                        if let Some(s) = l.annotations.get(oci::COSIGN_SIGNATURE_ANNOTATION) {
                            candidates.push(SignatureCandidate {
                                label: format!("{label}, layer {}", l.digest),
                                payload: read(&l.digest),
                                signature_b64: s.clone(),
                            });
                        }
                    }
                }
                Err(e) => candidates.push(SignatureCandidate {
                    label,
                    payload: Err(format!("unreadable signature manifest: {e}")),
                    signature_b64: String::new(),
                }),
            }
        }
        policy.evaluate(reference, digest, &candidates)?;
    }
    Ok(())
}
