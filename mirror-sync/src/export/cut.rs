//! Step 2, the cut: the snapshot an export writes. An existing one (`--snapshot`), the
//! unfinished cut of an interrupted export (same inputs), or a new one: its manifest
//! built from the last sync of every upstream and the files [`super::render`] generates
//! (every artifact: kind, upstream, logical path, digest, size, metadata), put in the
//! store's CAS and signed with the ed25519 snapshot key.

use std::collections::BTreeMap;

use anyhow::{Context, anyhow};
use formats::digest::{Digest, Hasher};
use formats::snapshot::{
    self, Artifact, ArtifactKind, MANIFEST_VERSION, Manifest, Meta, SourceKind,
};
use keys::openpgp::RepoSigningKey;
use keys::snapshot::SigningKey;
use store::Cas;

use super::render::{merge_oci, put, referrers_indexes, render_apt, render_simple};
use crate::config::Config;
use crate::progress::Progress;
use crate::state::{PendingExport, State, UpstreamState};

const REPO_KEY_ASC: &str = "keys/repo.asc";
const REPO_KEY_GPG: &str = "keys/repo.gpg";

/// What an export reads from: the store, its state database and the two signing keys,
/// opened once.
pub(super) struct Source {
    /// The state database of the store.
    pub state: State,
    /// The store's CAS.
    pub cas: Cas,
    /// The ed25519 snapshot key.
    pub snap_key: SigningKey,
    /// The OpenPGP repository key.
    pub repo_key: RepoSigningKey,
    /// Its fingerprint.
    pub repo_fpr: String,
    /// A private key file its group or other users can read (also on `progress`).
    pub warnings: Vec<String>,
}

impl Source {
    /// Opens the store of `cfg` and loads its keys; warns about exposed key files.
    ///
    /// Errors: the store or the state cannot be opened, a key cannot be loaded.
    pub fn open(cfg: &Config, progress: &Progress) -> anyhow::Result<Source> {
        let store_dir = cfg.store_dir();
        let state = State::open(&store_dir)?;
        let cas = Cas::open(&store_dir)
            .with_context(|| format!("cannot open store {}", store_dir.display()))?;
        let snap_key_path = cfg.resolve(&cfg.signing.snapshot_key);
        let snap_key = SigningKey::load(&snap_key_path)
            .with_context(|| format!("cannot load the snapshot key {}", snap_key_path.display()))?;
        let repo_key_path = cfg.resolve(&cfg.signing.repo_key);
        let repo_key = RepoSigningKey::load(&repo_key_path).with_context(|| {
            format!("cannot load the repository key {}", repo_key_path.display())
        })?;
        let repo_fpr = repo_key.fingerprint();
        let warnings: Vec<String> = [&snap_key_path, &repo_key_path]
            .into_iter()
            .filter_map(|p| keys::perms::private_key_exposure(p))
            .collect();
        for w in &warnings {
            progress.warn(w);
        }
        Ok(Source {
            state,
            cas,
            snap_key,
            repo_key,
            repo_fpr,
            warnings,
        })
    }
}

/// The snapshot being written: its manifest (bytes as stored and signed, parsed, digest),
/// the snapshot key's signature over the bytes, and the channel's pending record when
/// the cut is not exported yet.
pub(super) struct Cut {
    /// The manifest's exact bytes.
    pub bytes: Vec<u8>,
    /// The parsed manifest.
    pub manifest: Manifest,
    /// Digest of `bytes`.
    pub digest: Digest,
    /// Ed25519 signature over `bytes`.
    pub signature: [u8; keys::snapshot::SIGNATURE_LENGTH],
    /// An existing cut is written (resumed, or `--snapshot`).
    pub resumed: bool,
    /// The unfinished export's record (`None` for `--snapshot`).
    pub pending: Option<PendingExport>,
}

/// Chooses the cut (see the module docs): `snapshot` names an existing one; otherwise
/// the channel's unfinished cut is resumed when its inputs are unchanged and `new_cut`
/// is false, else a new one is cut with the next sequence number and recorded as pending.
///
/// Errors: `snapshot` was not cut from this store, an upstream was never synced, a
/// stored manifest cannot be read or is invalid, a conflict between upstreams.
pub(super) fn choose(
    cfg: &Config,
    src: &Source,
    snapshot: Option<&str>,
    new_cut: bool,
    progress: &Progress,
) -> anyhow::Result<Cut> {
    let Source {
        state,
        cas,
        snap_key,
        repo_key,
        repo_fpr,
        ..
    } = src;
    let (bytes, resumed, pending) = match snapshot {
        Some(name) => {
            let rec = state
                .exports()?
                .into_iter()
                .find(|r| r.name == name)
                .map(|r| r.manifest)
                .or(state
                    .pending(name.split('/').next().unwrap_or(""))?
                    .filter(|p| p.name == name)
                    .map(|p| p.manifest))
                .ok_or_else(|| {
                    anyhow!(
                        "snapshot {name} was not cut from this store (see `mirror-sync snapshots`)"
                    )
                })?;
            let bytes = cas
                .read_bytes(&rec, snapshot::MAX_MANIFEST_BYTES)
                .with_context(|| format!("cannot read the manifest of {name} from the store"))?;
            (bytes, true, None)
        }
        None => {
            let states = upstream_states(cfg, state)?;
            let inputs = inputs_digest(cfg, &states, snap_key, repo_fpr);
            match state.pending(&cfg.channel)? {
                Some(p) if p.inputs == inputs && !new_cut => {
                    let bytes = cas
                        .read_bytes(&p.manifest, snapshot::MAX_MANIFEST_BYTES)
                        .with_context(|| {
                            format!("cannot read the manifest of the unfinished cut {}", p.name)
                        })?;
                    progress.println(&format!(
                        "resuming the unfinished export of {} (cut {}); --new-cut starts a new snapshot instead",
                        p.name, p.created
                    ));
                    (bytes, true, Some(p))
                }
                prev => {
                    // A cut that was never fully written keeps its sequence number: the
                    // new one gets the next, so no two different manifests share a name.
                    let sequence = state
                        .last_sequence(&cfg.channel)?
                        .max(prev.map_or(0, |p| p.sequence))
                        + 1;
                    let manifest = cut(cfg, cas, &states, snap_key, repo_key, sequence)?;
                    let bytes = manifest.to_bytes();
                    let digest = cas.put_bytes(&bytes)?;
                    let p = PendingExport {
                        name: manifest.name(),
                        sequence,
                        manifest: digest,
                        created: manifest.created.clone(),
                        inputs,
                        volumes_done: Vec::new(),
                    };
                    state.put_pending(&cfg.channel, &p)?;
                    (bytes, false, Some(p))
                }
            }
        }
    };
    let manifest = Manifest::from_slice(&bytes).context("the stored manifest is invalid")?;
    let manifest_digest = Digest::of(&bytes);
    // Ed25519 signatures are deterministic (RFC 8032): a resumed export writes the same bytes.
    let signature = snap_key.sign(&bytes);
    Ok(Cut {
        bytes,
        manifest,
        digest: manifest_digest,
        signature,
        resumed,
        pending,
    })
}

/// The last sync of every configured upstream, in configuration order.
fn upstream_states(cfg: &Config, state: &State) -> anyhow::Result<Vec<UpstreamState>> {
    let mut states = Vec::new();
    for name in cfg
        .apt
        .iter()
        .map(|a| &a.name)
        .chain(cfg.pypi.iter().map(|p| &p.name))
        .chain(cfg.oci.iter().map(|o| &o.name))
        .chain(cfg.osv.iter().map(|o| &o.name))
    {
        let st = state.upstream(name)?.ok_or_else(|| {
            anyhow!("upstream {name} has never been synced: run `mirror-sync sync --config <this config>` first")
        })?;
        states.push(st);
    }
    Ok(states)
}

/// A digest over everything a cut is made from: the channel, the keys and every
/// upstream's synced state. Equal digests mean a new cut would hold the same content.
fn inputs_digest(
    cfg: &Config,
    states: &[UpstreamState],
    snap_key: &SigningKey,
    repo_fpr: &str,
) -> Digest {
    let mut h = Hasher::new();
    h.update(cfg.channel.as_bytes());
    h.update(b"\n");
    h.update(snap_key.public_key().key_id().as_bytes());
    h.update(b"\n");
    h.update(repo_fpr.as_bytes());
    for st in states {
        h.update(b"\n");
        h.update(&serde_json::to_vec(st).unwrap_or_default());
    }
    h.finish().0
}

/// Builds and validates the manifest of snapshot `sequence` on the configured channel from
/// the upstream `states` (see the module docs). Every generated file is put in
/// the store's CAS.
fn cut(
    cfg: &Config,
    cas: &Cas,
    states: &[UpstreamState],
    snap_key: &SigningKey,
    repo_key: &RepoSigningKey,
    sequence: u64,
) -> anyhow::Result<Manifest> {
    let repo_fpr = repo_key.fingerprint();
    let created = crate::now_rfc3339();
    let now = chrono::Utc::now();
    let mut artifacts: Vec<Artifact> = Vec::new();
    let mut oci_artifacts: BTreeMap<String, Artifact> = BTreeMap::new();
    let mut sources = Vec::new();
    for st in states {
        if st.source.kind == SourceKind::Oci {
            sources.push(st.source.clone());
            merge_oci(&mut oci_artifacts, &st.artifacts)?;
            continue;
        }
        let mut src = st.source.clone();
        if src.kind == SourceKind::Apt {
            src.repo_signer = Some(repo_fpr.clone());
        }
        sources.push(src);
        artifacts.extend(
            st.artifacts
                .iter()
                .filter(|a| {
                    a.kind != ArtifactKind::Wheel
                        && a.kind != ArtifactKind::Sdist
                        && a.kind != ArtifactKind::CoreMetadata
                })
                .cloned(),
        );
    }

    // APT: indexes, Release, InRelease, Release.gpg.
    for (st, up) in states.iter().zip(&cfg.apt) {
        artifacts.extend(render_apt(
            cas,
            st,
            &up.architectures,
            &up.components,
            repo_key,
            now,
        )?);
    }
    // Repository public key.
    if !cfg.apt.is_empty() {
        for (path, bytes) in [
            (REPO_KEY_ASC, repo_key.public_armored()?.into_bytes()),
            (REPO_KEY_GPG, repo_key.public_binary()?),
        ] {
            let digest = cas.put_bytes(&bytes)?;
            artifacts.push(Artifact {
                kind: ArtifactKind::RepoKey,
                upstream: None,
                path: path.into(),
                digest,
                size: bytes.len() as u64,
                media_type: Some(
                    if path.ends_with(".asc") {
                        "application/pgp-keys"
                    } else {
                        "application/octet-stream"
                    }
                    .into(),
                ),
                meta: Meta::default(),
            });
        }
    }
    // PyPI: files from every upstream, merged into one simple index.
    let pypi_states: Vec<&UpstreamState> = states
        .iter()
        .filter(|s| s.source.kind == SourceKind::Pypi)
        .collect();
    if !pypi_states.is_empty() {
        artifacts.extend(render_simple(cas, &pypi_states)?);
    }
    // OCI: the synced artifacts, the generated referrers indexes, the image layout.
    let oci: Vec<Artifact> = oci_artifacts.into_values().collect();
    let read_manifest = |d: &Digest| -> anyhow::Result<Vec<u8>> {
        Ok(cas.read_bytes(d, formats::oci::MAX_MANIFEST_BYTES)?)
    };
    for (path, upstream, bytes) in referrers_indexes(&oci, read_manifest)? {
        let a = put(
            cas,
            ArtifactKind::OciReferrers,
            upstream.as_deref(),
            path,
            &bytes,
            formats::oci::OCI_INDEX,
        )?;
        artifacts.push(a);
    }
    artifacts.extend(oci);

    artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    let mut manifest = Manifest {
        manifest_version: MANIFEST_VERSION,
        channel: cfg.channel.clone(),
        sequence,
        created,
        base: None,
        generator: format!("mirror-sync {}", env!("CARGO_PKG_VERSION")),
        signer: snap_key.public_key().key_id(),
        sources,
        artifacts,
    };
    // The SBOMs describe every other artifact and are themselves artifacts, so the signed
    // manifest pins their digests.
    for (path, bytes, media_type) in [
        (
            snapshot::SBOM_CYCLONEDX_PATH,
            formats::sbom::cyclonedx(&manifest),
            "application/vnd.cyclonedx+json",
        ),
        (
            snapshot::SBOM_SPDX_PATH,
            formats::sbom::spdx(&manifest),
            "application/spdx+json",
        ),
    ] {
        let a = put(
            cas,
            ArtifactKind::Sbom,
            None,
            path.to_owned(),
            &bytes,
            media_type,
        )?;
        manifest.artifacts.push(a);
    }
    manifest.artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    manifest
        .validate()
        .context("the snapshot about to be written is invalid (a bug)")?;
    Ok(manifest)
}
