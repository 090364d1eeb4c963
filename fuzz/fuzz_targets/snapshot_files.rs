//! The drive's own files, read from media that crossed the air gap: `manifest.json`
//! (formats::snapshot, both the full reader and the server's routing view), `media.json`
//! (formats::media), receipts and their DSSE envelopes (formats::receipt), logical paths
//! (formats::path) and size arguments.
//!
//! Invariants: whatever is accepted names only safe relative paths (no `..`, no absolute
//! path, no NUL or backslash), and what is accepted writes back to bytes that read the same.
#![no_main]
use formats::media::Media;
use formats::receipt::{Envelope, Receipt};
use formats::snapshot::{Manifest, RouteView, SnapshotName};
use libfuzzer_sys::fuzz_target;

fn assert_safe(path: &str) {
    assert!(!path.starts_with('/'), "{path:?}");
    assert!(!path.contains('\0') && !path.contains('\\'), "{path:?}");
    assert!(
        path.split('/')
            .all(|s| !s.is_empty() && s != "." && s != ".."),
        "{path:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::from_slice(data) {
        for a in &m.artifacts {
            assert_safe(&a.path);
        }
        let again = Manifest::from_slice(&m.to_bytes()).expect("a written manifest reads back");
        assert_eq!(again, m);
    }
    if let Ok(v) = RouteView::from_slice(data) {
        for a in &v.artifacts {
            assert_safe(&a.path);
        }
    }
    if let Ok(media) = Media::from_slice(data) {
        for volume in 1..=media.volumes.min(4) {
            for f in media.files_on(volume) {
                assert_safe(&f.path);
            }
        }
        let again = Media::from_slice(&media.to_bytes()).expect("a written media.json reads back");
        assert_eq!(again, media);
    }
    if let Ok(env) = Envelope::parse(data) {
        let _ = env.pae();
    }
    if let Ok(r) = Receipt::from_slice(data) {
        let _ = r.blobs.digests();
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if formats::path::validate(text).is_ok() {
            assert_safe(text);
        }
        if let Some((a, b)) = text.split_once('\n')
            && let Ok(joined) = formats::path::join(a, b)
        {
            assert_safe(&joined);
        }
        let _ = formats::media::parse_size(text);
        if let Some(n) = SnapshotName::parse(text) {
            // The one grammar of snapshot names: it prints back to exactly the input.
            assert!(n.sequence >= 1, "{text:?}");
            assert_eq!(format!("{}/{}", n.channel, n.sequence), text);
        }
    }
});
