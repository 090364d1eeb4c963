//! Snapshot drives built by hand (moved from mirror-server's tests/common).
//!
//! [`Fixture`] holds a temp dir, a fresh Ed25519 snapshot key (the signing helper) and a
//! trusted-keys directory with its public key; [`Fixture::drive_with`] writes
//! `blobs/sha256/<hex>` and `snapshots/test/<seq>/{manifest.json, .sig, signer}` for a
//! list of files, after a hook has edited the manifest: that hook, a foreign key and
//! [`drive_blob`] (to corrupt a blob in place) make the hostile drives.
//!
//! Hostile copies of real exported drives (the bad-media matrix) are re-signed with
//! [`sign_snapshot`] (manifest, its signature and the media description), [`reseal`]
//! (fresh SBOMs, then signed) and [`put_blob`] (moved from tests/tests/e2e/bad_media.rs).

use std::fs;
use std::path::{Path, PathBuf};

use formats::digest::Digest;
use formats::snapshot::{
    Artifact, ArtifactKind, MANIFEST_FILE, MANIFEST_VERSION, Manifest, Meta, SBOM_CYCLONEDX_PATH,
    SBOM_SPDX_PATH, SIGNATURE_FILE, SIGNER_FILE, Source, SourceKind,
};
use keys::snapshot::SigningKey;

/// The channel of every hand-built snapshot (`test/<seq>`).
pub const CHANNEL: &str = "test";

/// A temp dir with a signing key, a trusted-keys dir holding its public key, and a store path
/// (not created).
pub struct Fixture {
    /// The temp dir everything lives in (removed on drop).
    pub dir: tempfile::TempDir,
    /// The snapshot signing key (Ed25519) drives are signed with by default.
    pub key: SigningKey,
    /// `<tmp>/trusted`, holding `site.pub` (the public half of `key`, PEM).
    pub trusted: PathBuf,
    /// `<tmp>/store`, a store path that does not exist yet.
    pub store: PathBuf,
}

impl Default for Fixture {
    fn default() -> Fixture {
        Fixture::new()
    }
}

impl Fixture {
    /// A fresh temp dir, key and trusted-keys directory. Panics on I/O errors (test helper).
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate();
        let trusted = dir.path().join("trusted");
        fs::create_dir(&trusted).unwrap();
        fs::write(trusted.join("site.pub"), key.public_key().to_pem()).unwrap();
        let store = dir.path().join("store");
        Fixture {
            dir,
            key,
            trusted,
            store,
        }
    }

    /// Writes a drive at `<tmp>/<name>` holding snapshot `test/<seq>` with `files`,
    /// after letting `tweak` edit the manifest. Signed with `key` (or the fixture's key).
    pub fn drive_with(
        &self,
        name: &str,
        seq: u64,
        files: &[(&str, &[u8])],
        tweak: impl FnOnce(&mut Manifest),
        key: Option<&SigningKey>,
    ) -> PathBuf {
        let drive = self.dir.path().join(name);
        let blobs = drive.join("blobs/sha256");
        fs::create_dir_all(&blobs).unwrap();
        let mut artifacts = Vec::new();
        for (path, bytes) in files {
            let d = Digest::of(bytes);
            fs::write(blobs.join(d.hex()), bytes).unwrap();
            artifacts.push(Artifact {
                kind: kind_of(path),
                upstream: None,
                path: (*path).to_owned(),
                digest: d,
                size: bytes.len() as u64,
                media_type: None,
                meta: Meta::default(),
            });
        }
        let key = key.unwrap_or(&self.key);
        let mut m = Manifest {
            manifest_version: MANIFEST_VERSION,
            channel: CHANNEL.into(),
            sequence: seq,
            created: "2026-11-21T15:10:59Z".into(),
            base: None,
            generator: "mirror-server tests".into(),
            signer: key.public_key().key_id(),
            sources: vec![
                Source {
                    flat: true,
                    ..Source::new("cuda", SourceKind::Apt, "http://archive.example/cuda")
                },
                Source::new("pypi", SourceKind::Pypi, "https://index.example/simple/"),
            ],
            artifacts,
        };
        tweak(&mut m);
        add_sboms(&mut m, &blobs);
        let bytes = m.to_bytes();
        let snap = drive.join(format!("snapshots/{CHANNEL}/{seq}"));
        fs::create_dir_all(&snap).unwrap();
        fs::write(snap.join(MANIFEST_FILE), &bytes).unwrap();
        fs::write(snap.join(SIGNATURE_FILE), key.sign(&bytes)).unwrap();
        fs::write(snap.join(SIGNER_FILE), key.public_key().to_pem()).unwrap();
        drive
    }

    /// [`Fixture::drive_with`] with the manifest as built and the fixture's key.
    pub fn drive(&self, name: &str, seq: u64, files: &[(&str, &[u8])]) -> PathBuf {
        self.drive_with(name, seq, files, |_| {}, None)
    }

    /// Writes a drive at `<tmp>/<name>` holding snapshot `test/<seq>` with OCI `files`
    /// (kinds from the `v2/…` path: `blobs/` → oci-blob, `referrers/` → oci-referrers,
    /// `manifests/sha256:` → oci-manifest, other `manifests/` → oci-tag), each with its media
    /// type and meta, plus one `oci` source per entry of `registries` (`docker.io`,
    /// `127.0.0.1:5000`).
    pub fn oci_drive(
        &self,
        name: &str,
        seq: u64,
        files: &[OciFile],
        registries: &[&str],
    ) -> PathBuf {
        let plain: Vec<(&str, &[u8])> = files
            .iter()
            .map(|f| (f.path.as_str(), f.bytes.as_slice()))
            .collect();
        self.drive_with(
            name,
            seq,
            &plain,
            |m| {
                for (a, f) in m.artifacts.iter_mut().zip(files) {
                    assert_eq!(a.path, f.path);
                    a.media_type = f.media_type.clone();
                    a.meta = f.meta.clone();
                }
                for r in registries {
                    m.sources.push(Source {
                        registry: Some((*r).to_owned()),
                        ..Source::new(
                            &format!("oci-{}", r.replace([':', '.'], "-")),
                            SourceKind::Oci,
                            &format!("http://{r}"),
                        )
                    });
                }
            },
            None,
        )
    }
}

/// One OCI artifact of a hand-built drive (see [`Fixture::oci_drive`]).
#[derive(Debug, Clone)]
pub struct OciFile {
    /// Logical path, `v2/<repository>/{manifests,blobs,referrers}/<reference>`.
    pub path: String,
    /// Content.
    pub bytes: Vec<u8>,
    /// Media type recorded in the manifest.
    pub media_type: Option<String>,
    /// Metadata recorded in the manifest.
    pub meta: Meta,
}

impl OciFile {
    /// A file with a media type and no metadata.
    pub fn new(path: impl Into<String>, bytes: &[u8], media_type: &str) -> OciFile {
        OciFile {
            path: path.into(),
            bytes: bytes.to_vec(),
            media_type: Some(media_type.to_owned()),
            meta: Meta::default(),
        }
    }
}

fn kind_of(path: &str) -> ArtifactKind {
    if let Some(rest) = path.strip_prefix("v2/") {
        return if rest.contains("/blobs/") {
            ArtifactKind::OciBlob
        } else if rest.contains("/referrers/") {
            ArtifactKind::OciReferrers
        } else if rest.contains("/manifests/sha256:") {
            ArtifactKind::OciManifest
        } else {
            ArtifactKind::OciTag
        };
    }
    if path.ends_with(".deb") {
        ArtifactKind::Deb
    } else if path.ends_with(".whl") {
        ArtifactKind::Wheel
    } else if path.ends_with(".metadata") {
        ArtifactKind::CoreMetadata
    } else if path.contains("Release") {
        ArtifactKind::AptRelease
    } else if path.contains("Packages") {
        ArtifactKind::AptIndex
    } else if path.starts_with("simple/") {
        ArtifactKind::SimplePage
    } else {
        ArtifactKind::RepoKey
    }
}

/// The blob file of `bytes` on `drive`.
pub fn drive_blob(drive: &Path, bytes: &[u8]) -> PathBuf {
    drive.join("blobs/sha256").join(Digest::of(bytes).hex())
}

/// Writes `bytes` as the manifest at `manifest_path` (a drive's
/// `snapshots/<channel>/<seq>/manifest.json`), its signature by `key` next to it
/// (`manifest.json.sig`), and re-describes the drive as a signer would: `media.json` names
/// the new manifest by digest and lists every blob it names (whole, volume 1), signed into
/// `media.json.sig`. A manifest that is not JSON keeps the old blob list. Panics on I/O
/// errors (test helper). Used to make hostile drives "signed by a signer that went wrong".
pub fn sign_snapshot(manifest_path: &Path, bytes: &[u8], key: &SigningKey) {
    let path = manifest_path;
    std::fs::write(path, bytes).unwrap();
    std::fs::write(path.with_extension("json.sig"), key.sign(bytes)).unwrap();
    // The signer also re-describes the drive (media.json names the manifest by digest):
    // a whole, single-volume drive carrying every blob the new manifest lists.
    let media_path = path.with_file_name(formats::media::MEDIA_FILE);
    let mut media =
        formats::media::Media::from_slice(&std::fs::read(&media_path).unwrap()).unwrap();
    media.manifest = Digest::of(bytes);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes)
        && let Some(arts) = v["artifacts"].as_array()
    {
        let mut blobs = std::collections::BTreeMap::new();
        for a in arts {
            if let (Some(d), Some(size)) = (
                a["digest"].as_str().and_then(|d| d.parse::<Digest>().ok()),
                a["size"].as_u64(),
            ) {
                blobs.insert(d, size);
            }
        }
        media.blobs = blobs
            .into_iter()
            .map(|(digest, size)| formats::media::BlobEntry {
                digest,
                size,
                volume: Some(1),
                parts: Vec::new(),
            })
            .collect();
    }
    let media_bytes = media.to_bytes();
    std::fs::write(&media_path, &media_bytes).unwrap();
    std::fs::write(
        media_path.with_file_name(formats::media::MEDIA_SIGNATURE_FILE),
        key.sign(&media_bytes),
    )
    .unwrap();
}

/// Regenerates both SBOMs of `m` (CycloneDX and SPDX, as `mirror-sync export` writes
/// them), writes them as blobs on `drive`, sorts the artifacts by path and signs the
/// result with [`sign_snapshot`]. Panics on I/O errors (test helper).
pub fn reseal(drive: &Path, manifest_path: &Path, mut m: Manifest, key: &SigningKey) {
    m.artifacts.retain(|a| a.kind != ArtifactKind::Sbom);
    let cdx = formats::sbom::cyclonedx(&m);
    let spdx = formats::sbom::spdx(&m);
    for (path, bytes, media_type) in [
        (SBOM_CYCLONEDX_PATH, cdx, "application/vnd.cyclonedx+json"),
        (SBOM_SPDX_PATH, spdx, "application/spdx+json"),
    ] {
        let (digest, size) = put_blob(drive, &bytes);
        m.artifacts.push(Artifact {
            kind: ArtifactKind::Sbom,
            upstream: None,
            path: path.into(),
            digest,
            size,
            media_type: Some(media_type.into()),
            meta: Default::default(),
        });
    }
    m.artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    sign_snapshot(manifest_path, &m.to_bytes(), key);
}

/// Writes `bytes` as a blob of `drive` (`blobs/sha256/<hex>`); returns its digest and size.
pub fn put_blob(drive: &Path, bytes: &[u8]) -> (Digest, u64) {
    let d = Digest::of(bytes);
    std::fs::write(drive_blob(drive, bytes), bytes).unwrap();
    (d, bytes.len() as u64)
}

/// Adds the snapshot's CycloneDX and SPDX SBOMs (as `mirror-sync export` does) unless the
/// manifest already lists one, writing their blobs into `blobs`.
pub fn add_sboms(m: &mut Manifest, blobs: &std::path::Path) {
    if m.artifacts.iter().any(|a| a.kind == ArtifactKind::Sbom) {
        return;
    }
    let docs = [
        (SBOM_CYCLONEDX_PATH, formats::sbom::cyclonedx(m)),
        (SBOM_SPDX_PATH, formats::sbom::spdx(m)),
    ];
    for (path, bytes) in docs {
        let d = Digest::of(&bytes);
        fs::write(blobs.join(d.hex()), &bytes).unwrap();
        m.artifacts.push(Artifact {
            kind: ArtifactKind::Sbom,
            upstream: None,
            path: path.to_owned(),
            digest: d,
            size: bytes.len() as u64,
            media_type: Some("application/json".into()),
            meta: Meta::default(),
        });
    }
}
