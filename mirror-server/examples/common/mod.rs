//! Shared by the benchmark examples (`make-drive`, `make-snapshot`): a drive directory
//! with a fresh signing key, sealed with both SBOMs and a signed manifest.

use std::path::{Path, PathBuf};

use formats::digest::Digest;
use formats::snapshot::{
    Artifact, ArtifactKind, MANIFEST_FILE, MANIFEST_VERSION, Manifest, Meta, SBOM_CYCLONEDX_PATH,
    SBOM_SPDX_PATH, SIGNATURE_FILE, SIGNER_FILE,
};

/// A drive being written: `OUT/drive/blobs/sha256/` and a fresh snapshot key whose public
/// half is in `OUT/trusted/bench.pub` (for `mirror-server import --trusted-keys`).
pub struct Drive {
    /// `OUT/drive`.
    pub root: PathBuf,
    /// `OUT/drive/blobs/sha256`: write blobs here, named by their hex digest.
    pub blobs: PathBuf,
    /// `OUT/trusted`.
    pub trusted: PathBuf,
    key: keys::snapshot::SigningKey,
}

impl Drive {
    /// Creates the directories and the key. Errors: any file-system error.
    pub fn create(out: &Path) -> anyhow::Result<Drive> {
        let root = out.join("drive");
        let blobs = root.join("blobs/sha256");
        std::fs::create_dir_all(&blobs)?;
        let key = keys::snapshot::SigningKey::generate();
        let trusted = out.join("trusted");
        std::fs::create_dir_all(&trusted)?;
        std::fs::write(trusted.join("bench.pub"), key.public_key().to_pem())?;
        Ok(Drive {
            root,
            blobs,
            trusted,
            key,
        })
    }

    /// Writes snapshot `bench/<N>` of `artifacts` (their blobs already in [`Drive::blobs`];
    /// N from the environment variable `BENCH_SEQUENCE`, default 1):
    /// adds both SBOMs, sorts by path, writes the manifest, its signature and the signer's
    /// public key. Returns the manifest's size in bytes. Errors: any file-system error.
    pub fn seal(&self, generator: &str, artifacts: Vec<Artifact>) -> anyhow::Result<usize> {
        let sequence: u64 = std::env::var("BENCH_SEQUENCE")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let mut m = Manifest {
            manifest_version: MANIFEST_VERSION,
            channel: "bench".into(),
            sequence,
            created: "2026-11-21T00:00:00Z".into(),
            base: None,
            generator: generator.into(),
            signer: self.key.public_key().key_id(),
            sources: vec![],
            artifacts,
        };
        for (path, bytes) in [
            (SBOM_CYCLONEDX_PATH, formats::sbom::cyclonedx(&m)),
            (SBOM_SPDX_PATH, formats::sbom::spdx(&m)),
        ] {
            let d = Digest::of(&bytes);
            std::fs::write(self.blobs.join(d.hex()), &bytes)?;
            m.artifacts.push(Artifact {
                kind: ArtifactKind::Sbom,
                upstream: None,
                path: path.into(),
                digest: d,
                size: bytes.len() as u64,
                media_type: Some("application/json".into()),
                meta: Meta::default(),
            });
        }
        m.artifacts.sort_by(|a, b| a.path.cmp(&b.path));
        let bytes = m.to_bytes();
        let snap = self.root.join(format!("snapshots/bench/{sequence}"));
        std::fs::create_dir_all(&snap)?;
        std::fs::write(snap.join(MANIFEST_FILE), &bytes)?;
        std::fs::write(snap.join(SIGNATURE_FILE), self.key.sign(&bytes))?;
        std::fs::write(snap.join(SIGNER_FILE), self.key.public_key().to_pem())?;
        Ok(bytes.len())
    }
}
