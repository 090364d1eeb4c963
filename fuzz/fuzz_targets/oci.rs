//! OCI image manifests and indexes (image-spec §Manifest, §Image Index), with and without a
//! content type; references and digests (distribution-spec grammar); platforms; cosign
//! simple-signing payloads and signature tags.
#![no_main]
use formats::oci::cosign::{SimpleSigning, parse_cosign_tag};
use formats::oci::manifest::parse_manifest;
use formats::oci::platform::Platform;
use formats::oci::reference::{ImageRef, parse_digest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_manifest(data, None);
    let _ = parse_manifest(data, Some("application/vnd.oci.image.index.v1+json"));
    let _ = parse_manifest(
        data,
        Some("application/vnd.docker.distribution.manifest.v2+json"),
    );
    let _ = SimpleSigning::parse(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = ImageRef::parse(text, "registry.example.invalid") {
        // What was parsed prints as a reference that parses to the same thing.
        let again = ImageRef::parse(&r.to_string(), "registry.example.invalid");
        assert_eq!(
            again.map(|a| a.to_string()).ok(),
            Some(r.to_string()),
            "{text:?}"
        );
    }
    let _ = parse_digest(text);
    let _ = Platform::parse(text);
    let _ = parse_cosign_tag(text);
});
