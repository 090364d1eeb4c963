//! The media description of a snapshot directory (docs/media-format.md §Media
//! description): `media.json`, signed by `media.json.sig` with a trusted snapshot key, that
//! names this manifest by digest and says which volume this drive is and where every blob
//! or part lies.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use formats::digest::Digest;
use formats::media::{self, MEDIA_FILE, MEDIA_SIGNATURE_FILE, Media};
use keys::snapshot::TrustedKeys;
use store::fsio::{ReadError, read_bounded};

use crate::SIGNATURE_LEN;

/// Why a media description was refused. Each variant names its file.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// `media.json` cannot be read safely ([`read_bounded`]: a link, a hard link, over
    /// [`media::MAX_MEDIA_BYTES`], I/O).
    #[error("{0}")]
    Read(#[source] ReadError),
    /// `media.json.sig` cannot be read safely (over 64 bytes, a link, absent, …).
    #[error("{0}")]
    SignatureRead(#[source] ReadError),
    /// No trusted key verifies `media.json.sig` over the exact bytes of `media.json`.
    #[error("{}: the media description's signature does not verify with a trusted key", path.display())]
    Signature {
        /// The signature file.
        path: PathBuf,
    },
    /// A signed description that breaks a rule ([`Media::from_slice`]) or describes another
    /// manifest or snapshot ([`Media::mismatch`]).
    #[error("{}: {reason}", path.display())]
    Invalid {
        /// `media.json`.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `media.json` could not be looked up.
    #[error("{}: {source}", path.display())]
    Io {
        /// `media.json`.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// Reads and checks the media description of snapshot directory `snap_dir`, if it has one
/// (drives written before media descriptions have none: `Ok(None)`): the signature with a
/// key of `trusted`, the rules ([`Media::from_slice`]), and that it describes this manifest
/// (`manifest_digest`, the SHA-256 of the exact manifest bytes) and snapshot (`name`,
/// `<channel>/<sequence>`).
///
/// Errors: [`MediaError`], naming the file.
pub fn read_media(
    snap_dir: &Path,
    trusted: &TrustedKeys,
    manifest_digest: &Digest,
    name: &str,
) -> Result<Option<Media>, MediaError> {
    let path = snap_dir.join(MEDIA_FILE);
    match fs::symlink_metadata(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(MediaError::Io { path, source }),
        Ok(_) => {}
    }
    let bytes = read_bounded(&path, media::MAX_MEDIA_BYTES).map_err(MediaError::Read)?;
    let sig_path = snap_dir.join(MEDIA_SIGNATURE_FILE);
    let sig = read_bounded(&sig_path, SIGNATURE_LEN as u64).map_err(MediaError::SignatureRead)?;
    if trusted.verify(&bytes, &sig).is_err() {
        return Err(MediaError::Signature { path: sig_path });
    }
    let m = Media::from_slice(&bytes).map_err(|e| MediaError::Invalid {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    if let Some(reason) = m.mismatch(manifest_digest, name) {
        return Err(MediaError::Invalid { path, reason });
    }
    Ok(Some(m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use keys::snapshot::SigningKey;

    #[test]
    fn media_description_is_read_signed_and_checked() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path();
        let key = SigningKey::generate();
        let trusted = TrustedKeys::from_keys(vec![(dir.join("k.pub"), key.public_key())]);
        let d = Digest::of(b"manifest");
        assert!(read_media(dir, &trusted, &d, "a/1").unwrap().is_none());
        fs::write(dir.join(MEDIA_FILE), b"{}").unwrap();
        let e = read_media(dir, &trusted, &d, "a/1").unwrap_err();
        assert!(
            matches!(e, MediaError::SignatureRead(ReadError::NotFound { .. })),
            "{e}"
        );
        fs::write(dir.join(MEDIA_SIGNATURE_FILE), [0u8; 64]).unwrap();
        let e = read_media(dir, &trusted, &d, "a/1").unwrap_err();
        assert!(matches!(e, MediaError::Signature { .. }), "{e}");
        fs::write(dir.join(MEDIA_SIGNATURE_FILE), key.sign(b"{}")).unwrap();
        let e = read_media(dir, &trusted, &d, "a/1").unwrap_err();
        assert!(matches!(e, MediaError::Invalid { .. }), "{e}");
        fs::hard_link(dir.join(MEDIA_FILE), dir.join("alias")).unwrap();
        let e = read_media(dir, &trusted, &d, "a/1").unwrap_err();
        assert!(
            matches!(e, MediaError::Read(ReadError::HardLink { .. })),
            "{e}"
        );
    }
}
