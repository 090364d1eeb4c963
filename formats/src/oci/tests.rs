//! Unit tests of [`crate::oci`]: grammar, references, platforms, manifests, cosign and
//! rendered indexes.

use super::*;
use crate::digest::Digest;

const HEX_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const HEX_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const HEX_C: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
const HEX_D: &str = "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";

fn d(hex: &str) -> Digest {
    Digest::from_hex(hex).unwrap()
}

#[test]
fn repository_grammar() {
    for ok in [
        "a",
        "ubuntu",
        "library/ubuntu",
        "a__b",
        "a_b",
        "a.b",
        "a-b",
        "a---b",
        "127.0.0.1__5000/team/app",
        "docker.io/library/ubuntu",
        "x9/y-z.w__v/0",
    ] {
        assert!(is_valid_repository(ok), "{ok} should be valid");
    }
    for bad in [
        "",
        "Ubuntu",
        "library/Ubuntu",
        "a___b",
        "a_.b",
        "a.-b",
        "a..b",
        "a-",
        "a.",
        "a_",
        "-a",
        ".a",
        "_a",
        "a/",
        "/a",
        "a//b",
        "a:b",
        "a b",
        "a/../b",
        "ü",
    ] {
        assert!(!is_valid_repository(bad), "{bad:?} should be invalid");
    }
    let max = "a".repeat(255);
    assert!(is_valid_repository(&max));
    let over = "a".repeat(256);
    assert!(!is_valid_repository(&over));
    let over_path = format!("{}/{}", "a".repeat(127), "b".repeat(128));
    assert_eq!(over_path.len(), 256);
    assert!(!is_valid_repository(&over_path));
}

#[test]
fn tag_grammar() {
    for ok in [
        "latest",
        "24.04",
        "_x",
        "v1.2.3-rc_1",
        "A",
        &"a".repeat(128),
    ] {
        assert!(is_valid_tag(ok), "{ok} should be valid");
    }
    for bad in ["", ".x", "-x", "a:b", "a/b", "a b", "a@b", &"a".repeat(129)] {
        assert!(!is_valid_tag(bad), "{bad:?} should be invalid");
    }
}

#[test]
fn digest_parsing() {
    assert_eq!(parse_digest(&format!("sha256:{HEX_A}")).unwrap(), d(HEX_A));
    let sha512 = format!("sha512:{}", "a".repeat(128));
    assert_eq!(
        parse_digest(&sha512),
        Err(OciError::UnsupportedDigest(sha512.clone()))
    );
    assert!(matches!(
        parse_digest("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8"),
        Err(OciError::UnsupportedDigest(_))
    ));
    for bad in [
        "",
        "sha256",
        "sha256:",
        ":abc",
        "sha256:abc",
        &format!("sha256:{}", HEX_A.to_uppercase()),
        &format!("sha256:{HEX_A}a"),
        "SHA256:abc",
        "sha256:../../etc/passwd",
        "sha+:abc",
        "sha256:a b",
    ] {
        assert!(
            matches!(parse_digest(bad), Err(OciError::InvalidDigest(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn registry_component_mapping() {
    assert_eq!(registry_to_component("127.0.0.1:5000"), "127.0.0.1__5000");
    assert_eq!(
        registry_to_component("Registry.Example"),
        "registry.example"
    );
    assert_eq!(component_to_registry("127.0.0.1__5000"), "127.0.0.1:5000");
    assert_eq!(component_to_registry("docker.io"), "docker.io");
    for host in ["localhost:5000", "registry.example", "a-b.example:443"] {
        assert_eq!(component_to_registry(&registry_to_component(host)), host);
    }
    assert_eq!(
        split_served_name("docker.io/library/ubuntu"),
        Some(("docker.io".into(), "library/ubuntu".into()))
    );
    assert_eq!(
        split_served_name("127.0.0.1__5000/app"),
        Some(("127.0.0.1:5000".into(), "app".into()))
    );
    assert_eq!(split_served_name("ubuntu"), None);
    assert_eq!(split_served_name("docker.io/"), None);
}

#[test]
fn image_reference_table() {
    let dig = format!("sha256:{HEX_A}");
    // (input, registry, repository, tag, digest?)
    let cases: Vec<(String, &str, &str, Option<&str>, bool)> = vec![
        ("ubuntu".into(), "docker.io", "library/ubuntu", None, false),
        (
            "ubuntu:24.04".into(),
            "docker.io",
            "library/ubuntu",
            Some("24.04"),
            false,
        ),
        (
            "library/ubuntu:24.04".into(),
            "docker.io",
            "library/ubuntu",
            Some("24.04"),
            false,
        ),
        ("team/app".into(), "docker.io", "team/app", None, false),
        (
            "docker.io/ubuntu".into(),
            "docker.io",
            "library/ubuntu",
            None,
            false,
        ),
        (
            "index.docker.io/ubuntu".into(),
            "docker.io",
            "library/ubuntu",
            None,
            false,
        ),
        (
            "registry.example/nvidia/cuda:12.6.0-base".into(),
            "registry.example",
            "nvidia/cuda",
            Some("12.6.0-base"),
            false,
        ),
        (
            "registry.example/app".into(),
            "registry.example",
            "app",
            None,
            false,
        ),
        (
            "localhost/app:v1".into(),
            "localhost",
            "app",
            Some("v1"),
            false,
        ),
        (
            "localhost:5000/app".into(),
            "localhost:5000",
            "app",
            None,
            false,
        ),
        (
            format!("127.0.0.1:5000/team/app@{dig}"),
            "127.0.0.1:5000",
            "team/app",
            None,
            true,
        ),
        (
            format!("x:tag@{dig}"),
            "docker.io",
            "library/x",
            Some("tag"),
            true,
        ),
        (
            "Registry.Example/app".into(),
            "registry.example",
            "app",
            None,
            false,
        ),
        (
            "localhost".into(),
            "docker.io",
            "library/localhost",
            None,
            false,
        ),
    ];
    for (input, registry, repository, tag, has_digest) in cases {
        let r = ImageRef::parse(&input, "docker.io").unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(r.registry, registry, "{input}");
        assert_eq!(r.repository, repository, "{input}");
        assert_eq!(r.tag.as_deref(), tag, "{input}");
        assert_eq!(r.digest, has_digest.then(|| d(HEX_A)), "{input}");
    }
}

#[test]
fn image_reference_other_default_registry() {
    let r = ImageRef::parse("team/app:v1", "127.0.0.1:5000").unwrap();
    assert_eq!(r.registry, "127.0.0.1:5000");
    assert_eq!(r.repository, "team/app");
    assert_eq!(r.served_name(), "127.0.0.1__5000/team/app");
    assert_eq!(r.to_reference_string(), "127.0.0.1:5000/team/app:v1");
    // No library/ outside docker.io.
    let r = ImageRef::parse("app", "registry.example").unwrap();
    assert_eq!(r.repository, "app");
}

#[test]
fn image_reference_rendering() {
    let r = ImageRef::parse(
        &format!("127.0.0.1:5000/team/app:v1@sha256:{HEX_A}"),
        "docker.io",
    )
    .unwrap();
    assert_eq!(r.served_name(), "127.0.0.1__5000/team/app");
    assert_eq!(
        r.to_reference_string(),
        format!("127.0.0.1:5000/team/app:v1@sha256:{HEX_A}")
    );
    assert_eq!(r.to_string(), r.to_reference_string());
    let back = ImageRef::parse(&r.to_reference_string(), "docker.io").unwrap();
    assert_eq!(back, r);
    let u = ImageRef::parse("ubuntu:24.04", "docker.io").unwrap();
    assert_eq!(u.to_reference_string(), "docker.io/library/ubuntu:24.04");
    assert_eq!(u.served_name(), "docker.io/library/ubuntu");
    assert_eq!(
        split_served_name(&u.served_name()),
        Some((u.registry.clone(), u.repository.clone()))
    );
}

/// Found by `fuzz/run.sh` (target `oci`): `Aha12/a` read `Aha12` as the registry (upper
/// case marks a host), lowercased it, and printed `aha12/a`, which reads back as a path in
/// the default registry. A single-label host known only by its case is now refused; with
/// a domain or port the case goes and the meaning stays.
#[test]
fn a_reference_prints_back_to_the_same_reference() {
    let e = ImageRef::parse("Aha12/a", "registry.example.invalid").unwrap_err();
    assert!(e.to_string().contains("upper case"), "{e}");
    for input in [
        "Registry.Example.invalid/a:v1",
        "HOST:5000/team/app",
        "localhost/app",
        "team/app",
    ] {
        let r = ImageRef::parse(input, "registry.example.invalid").unwrap();
        let back = ImageRef::parse(&r.to_string(), "registry.example.invalid").unwrap();
        assert_eq!(back, r, "{input} -> {r}");
    }
}

#[test]
fn image_reference_errors() {
    for bad in [
        "",
        "Ubuntu",
        "registry.example/Team/app",
        "app:",
        "app:-bad",
        "app:a/b",
        "a___b",
        "registry.example/",
        "/app",
        "app@",
        "app @x",
        "[::1]:5000/app",
        "registry.example:port/app",
        "-bad.example/app",
        "registry_x.example/app",
    ] {
        let e = ImageRef::parse(bad, "docker.io");
        assert!(
            matches!(
                e,
                Err(OciError::InvalidReference { .. } | OciError::InvalidDigest(_))
            ),
            "{bad:?} gave {e:?}"
        );
    }
    assert!(matches!(
        ImageRef::parse(&format!("app@sha512:{}", "a".repeat(128)), "docker.io"),
        Err(OciError::UnsupportedDigest(_))
    ));
    assert!(matches!(
        ImageRef::parse("app@sha256:abc", "docker.io"),
        Err(OciError::InvalidDigest(_))
    ));
    let long = format!("registry.example/{}", "a".repeat(250));
    assert!(matches!(
        ImageRef::parse(&long, "docker.io"),
        Err(OciError::InvalidReference { .. })
    ));
    // Error message names the reference and the problem.
    let msg = ImageRef::parse("app:-bad", "docker.io")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("app:-bad") && msg.contains("tag"), "{msg}");
}

#[test]
fn platform_parse_and_match() {
    let p = Platform::parse("linux/arm64/v8").unwrap();
    assert_eq!(p.os, "linux");
    assert_eq!(p.architecture, "arm64");
    assert_eq!(p.variant.as_deref(), Some("v8"));
    assert_eq!(p.to_string_short(), "linux/arm64/v8");
    let amd = Platform::parse("linux/amd64").unwrap();
    assert_eq!(amd.variant, None);
    assert_eq!(amd.to_string_short(), "linux/amd64");
    for bad in [
        "",
        "linux",
        "linux/",
        "/amd64",
        "linux/arm/v7/x",
        "linux/am d64",
    ] {
        assert!(Platform::parse(bad).is_err(), "{bad:?}");
    }
    let armv7 = Platform::parse("linux/arm/v7").unwrap();
    let armv6 = Platform::parse("linux/arm/v6").unwrap();
    let arm = Platform::parse("linux/arm").unwrap();
    assert!(armv7.matches(&arm));
    assert!(armv7.matches(&armv7));
    assert!(!armv6.matches(&armv7));
    assert!(!arm.matches(&armv7));
    assert!(!amd.matches(&p));
    assert!(!Platform::parse("windows/amd64").unwrap().matches(&amd));
    // arm64 without a variant is arm64/v8.
    let arm64 = Platform::parse("linux/arm64").unwrap();
    assert!(arm64.matches(&p));
    assert!(!arm64.matches(&Platform::parse("linux/arm64/v9").unwrap()));
}

#[test]
fn descriptor_json_field_names() {
    let mut desc = Descriptor::new(OCI_MANIFEST, d(HEX_A), 42);
    let json = serde_json::to_string(&desc).unwrap();
    assert_eq!(
        json,
        format!(r#"{{"mediaType":"{OCI_MANIFEST}","digest":"sha256:{HEX_A}","size":42}}"#)
    );
    desc.platform = Some(Platform::parse("linux/amd64").unwrap());
    desc.artifact_type = Some("application/example".into());
    desc.annotations.insert("k".into(), "v".into());
    desc.urls.push("https://blobs.example/x".into());
    let json = serde_json::to_string(&desc).unwrap();
    for key in [
        r#""mediaType":"#,
        r#""platform":{"os":"linux","architecture":"amd64"}"#,
        r#""artifactType":"application/example""#,
        r#""annotations":{"k":"v"}"#,
        r#""urls":["https://blobs.example/x"]"#,
    ] {
        assert!(json.contains(key), "{key} missing in {json}");
    }
    let back: Descriptor = serde_json::from_str(&json).unwrap();
    assert_eq!(back, desc);
    let sha512 = format!(
        r#"{{"mediaType":"x","digest":"sha512:{}","size":1}}"#,
        "a".repeat(128)
    );
    assert!(serde_json::from_str::<Descriptor>(&sha512).is_err());
}

fn docker_schema2() -> String {
    format!(
        r#"{{
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
   "config": {{
  "mediaType": "application/vnd.docker.container.image.v1+json",
  "size": 7023,
  "digest": "sha256:{HEX_A}"
   }},
   "layers": [
  {{
     "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
     "size": 32654,
     "digest": "sha256:{HEX_B}"
  }},
  {{
     "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
     "size": 16724,
     "digest": "sha256:{HEX_C}",
     "urls": ["https://blobs.example/layer"]
  }}
   ]
}}"#
    )
}

#[test]
fn parses_docker_schema2_manifest() {
    let m = parse_manifest(docker_schema2().as_bytes(), Some(DOCKER_MANIFEST)).unwrap();
    assert_eq!(m.kind, ManifestKind::Image);
    assert_eq!(m.media_type, DOCKER_MANIFEST);
    let config = m.config.as_ref().unwrap();
    assert_eq!(
        config.media_type,
        "application/vnd.docker.container.image.v1+json"
    );
    assert_eq!(config.size, 7023);
    assert_eq!(config.digest, d(HEX_A));
    assert_eq!(m.layers.len(), 2);
    assert_eq!(
        m.layers[1].urls,
        vec!["https://blobs.example/layer".to_string()]
    );
    let blobs: Vec<Digest> = m.blobs().iter().map(|b| b.digest).collect();
    assert_eq!(blobs, vec![d(HEX_A), d(HEX_B), d(HEX_C)]);
    assert!(!is_foreign_layer(&m.layers[0].media_type));
    assert!(is_foreign_layer(&m.layers[1].media_type));
    assert!(m.manifests.is_empty() && m.subject.is_none());
}

#[test]
fn foreign_layer_types() {
    for t in [
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    ] {
        assert!(is_foreign_layer(t), "{t}");
    }
    for t in [
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "",
    ] {
        assert!(!is_foreign_layer(t), "{t}");
    }
}

#[test]
fn parses_oci_index_with_platforms() {
    let json = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[
          {{"mediaType":"{OCI_MANIFEST}","digest":"sha256:{HEX_A}","size":100,
            "platform":{{"architecture":"amd64","os":"linux"}}}},
          {{"mediaType":"{OCI_MANIFEST}","digest":"sha256:{HEX_B}","size":200,
            "platform":{{"architecture":"arm64","os":"linux","variant":"v8","os.features":["x"]}}}},
          {{"mediaType":"{OCI_MANIFEST}","digest":"sha256:{HEX_C}","size":300,
            "annotations":{{"vnd.docker.reference.type":"attestation-manifest"}},
            "platform":{{"architecture":"unknown","os":"unknown"}}}}
        ],"annotations":{{"org.opencontainers.image.created":"2024-01-01T00:00:00Z"}}}}"#
    );
    let m = parse_manifest(json.as_bytes(), None).unwrap();
    assert_eq!(m.kind, ManifestKind::Index);
    assert_eq!(m.media_type, OCI_INDEX);
    assert!(m.config.is_none() && m.layers.is_empty() && m.blobs().is_empty());
    assert_eq!(m.manifests.len(), 3);
    let wanted = Platform::parse("linux/arm64/v8").unwrap();
    let picked: Vec<Digest> = m
        .manifests
        .iter()
        .filter(|c| c.platform.as_ref().is_some_and(|p| p.matches(&wanted)))
        .map(|c| c.digest)
        .collect();
    assert_eq!(picked, vec![d(HEX_B)]);
    assert_eq!(
        m.manifests[0].platform.as_ref().unwrap().to_string_short(),
        "linux/amd64"
    );
    assert_eq!(m.annotations.len(), 1);
}

#[test]
fn parses_docker_manifest_list_by_content_type() {
    let json = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{DOCKER_MANIFEST}","digest":"sha256:{HEX_A}","size":1,"platform":{{"os":"linux","architecture":"arm","variant":"v7"}}}}]}}"#
    );
    let m = parse_manifest(
        json.as_bytes(),
        Some("application/vnd.docker.distribution.manifest.list.v2+json; charset=utf-8"),
    )
    .unwrap();
    assert_eq!(m.kind, ManifestKind::Index);
    assert_eq!(m.media_type, DOCKER_MANIFEST_LIST);
}

#[test]
fn parses_artifact_manifest_with_subject() {
    let json = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}",
          "artifactType":"application/vnd.example.sbom.v1+json",
          "config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"data":"e30="}},
          "layers":[{{"mediaType":"application/vnd.example.sbom.v1+json","digest":"sha256:{HEX_B}","size":10}}],
          "subject":{{"mediaType":"{OCI_MANIFEST}","digest":"sha256:{HEX_A}","size":500}},
          "annotations":{{"org.opencontainers.image.created":"2024-01-01T00:00:00Z"}}}}"#
    );
    let m = parse_manifest(json.as_bytes(), Some("application/octet-stream")).unwrap();
    assert_eq!(m.kind, ManifestKind::Image);
    assert_eq!(
        m.artifact_type.as_deref(),
        Some("application/vnd.example.sbom.v1+json")
    );
    let subject = m.subject.as_ref().unwrap();
    assert_eq!(subject.digest, d(HEX_A));
    assert_eq!(subject.size, 500);
    assert_eq!(m.blobs().len(), 2);
}

#[test]
fn infers_oci_manifest_without_media_type() {
    let json = format!(
        r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{HEX_A}","size":3}},"layers":[]}}"#
    );
    let m = parse_manifest(json.as_bytes(), None).unwrap();
    assert_eq!(m.media_type, OCI_MANIFEST);
    assert_eq!(m.kind, ManifestKind::Image);
    assert!(m.layers.is_empty());
    // Content type wins over inference when it names a manifest type.
    let m = parse_manifest(json.as_bytes(), Some(DOCKER_MANIFEST)).unwrap();
    assert_eq!(m.media_type, DOCKER_MANIFEST);
}

#[test]
fn refuses_schema1() {
    let json = r#"{"schemaVersion":1,"name":"library/x","tag":"latest","architecture":"amd64",
        "fsLayers":[{"blobSum":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}],"history":[]}"#;
    for ct in [
        None,
        Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
        Some("application/json"),
    ] {
        let e = parse_manifest(json.as_bytes(), ct).unwrap_err();
        match e {
            OciError::Manifest(msg) => {
                assert!(msg.starts_with("unsupported media type"), "{msg}")
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn manifest_errors() {
    let big = vec![b' '; usize::try_from(MAX_MANIFEST_BYTES).unwrap() + 1];
    assert_eq!(
        parse_manifest(&big, None),
        Err(OciError::TooLarge(MAX_MANIFEST_BYTES + 1))
    );
    let schema3 = format!(r#"{{"schemaVersion":3,"mediaType":"{OCI_INDEX}","manifests":[]}}"#);
    assert!(matches!(
        parse_manifest(schema3.as_bytes(), None),
        Err(OciError::Manifest(m)) if m.contains("schemaVersion")
    ));
    let missing = format!(r#"{{"mediaType":"{OCI_INDEX}","manifests":[]}}"#);
    assert!(parse_manifest(missing.as_bytes(), None).is_err());
    let unknown = r#"{"schemaVersion":2,"mediaType":"application/vnd.example+json"}"#;
    assert!(matches!(
        parse_manifest(unknown.as_bytes(), None),
        Err(OciError::Manifest(m)) if m.starts_with("unsupported media type application/vnd.example+json")
    ));
    let no_config = format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","layers":[]}}"#);
    assert!(matches!(
        parse_manifest(no_config.as_bytes(), None),
        Err(OciError::Manifest(m)) if m.contains("config")
    ));
    let no_manifests = format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}"}}"#);
    assert!(parse_manifest(no_manifests.as_bytes(), None).is_err());
    let sha512_child = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"sha512:{}","size":1}}]}}"#,
        "a".repeat(128)
    );
    assert!(parse_manifest(sha512_child.as_bytes(), None).is_err());
    for junk in [&b"not json"[..], b"[]", b"", b"{\"schemaVersion\":2}"] {
        assert!(parse_manifest(junk, None).is_err());
    }
}

#[test]
fn manifest_accept_lists_all_types() {
    for t in [
        OCI_MANIFEST,
        OCI_INDEX,
        DOCKER_MANIFEST,
        DOCKER_MANIFEST_LIST,
    ] {
        assert!(MANIFEST_ACCEPT.split(", ").any(|x| x == t), "{t}");
    }
}

#[test]
fn referrers_fallback_tag() {
    let tag = referrers_tag(&d(HEX_A));
    assert_eq!(tag, format!("sha256-{HEX_A}"));
    assert!(is_valid_tag(&tag));
    assert_eq!(parse_cosign_tag(&tag), None);
}

#[test]
fn referrer_artifact_type_is_config_media_type_when_missing() {
    // A cosign-style signature: subject, no artifactType, a simple-signing layer.
    let subject =
        format!(r#"{{"mediaType":"{OCI_MANIFEST}","digest":"sha256:{HEX_A}","size":10}}"#);
    let manifest = |artifact_type: &str| {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}",{artifact_type}
            "config":{{"mediaType":"application/vnd.example.config.v1+json","digest":"sha256:{HEX_B}","size":2}},
            "layers":[{{"mediaType":"{COSIGN_SIMPLESIGNING}","digest":"sha256:{HEX_C}","size":3}}],
            "subject":{subject}}}"#
        )
    };
    let m = parse_manifest(manifest("").as_bytes(), None).unwrap();
    assert_eq!(
        m.referrer_artifact_type().as_deref(),
        Some("application/vnd.example.config.v1+json")
    );
    let m = parse_manifest(manifest(r#""artifactType":"","#).as_bytes(), None).unwrap();
    assert_eq!(
        m.referrer_artifact_type().as_deref(),
        Some("application/vnd.example.config.v1+json")
    );
    let m = parse_manifest(
        manifest(r#""artifactType":"application/vnd.example.sbom","#).as_bytes(),
        None,
    )
    .unwrap();
    assert_eq!(
        m.referrer_artifact_type().as_deref(),
        Some("application/vnd.example.sbom")
    );
    let index = format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[]}}"#);
    let m = parse_manifest(index.as_bytes(), None).unwrap();
    assert_eq!(m.referrer_artifact_type(), None);
}

#[test]
fn cosign_tag_round_trip() {
    let digest = d(HEX_A);
    for suffix in ["sig", "att", "sbom"] {
        let tag = cosign_tag(&digest, suffix);
        assert_eq!(tag, format!("sha256-{HEX_A}.{suffix}"));
        assert!(is_valid_tag(&tag));
        assert_eq!(parse_cosign_tag(&tag), Some((digest, suffix.to_string())));
    }
    for bad in [
        "latest".to_string(),
        format!("sha256-{HEX_A}"),
        format!("sha256-{HEX_A}.exe"),
        format!("sha256-{HEX_A}.sig.sig"),
        format!("sha512-{HEX_A}.sig"),
        "sha256-abc.sig".to_string(),
        format!("sha256-{}.sig", HEX_A.to_uppercase()),
    ] {
        assert_eq!(parse_cosign_tag(&bad), None, "{bad}");
    }
}

#[test]
fn simple_signing_parse() {
    let payload = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"127.0.0.1:5000/team/app"}},"image":{{"docker-manifest-digest":"sha256:{HEX_A}"}},"type":"cosign container image signature"}},"optional":{{"creator":"test"}}}}"#
    );
    let s = SimpleSigning::parse(payload.as_bytes()).unwrap();
    assert_eq!(s.docker_manifest_digest, d(HEX_A));
    assert_eq!(s.docker_reference, "127.0.0.1:5000/team/app");
    assert_eq!(s.kind, "cosign container image signature");

    let no_opt = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"x"}},"image":{{"docker-manifest-digest":"sha256:{HEX_B}"}},"type":"atomic container signature"}}}}"#
    );
    assert_eq!(
        SimpleSigning::parse(no_opt.as_bytes())
            .unwrap()
            .docker_manifest_digest,
        d(HEX_B)
    );
    let bad_digest = r#"{"critical":{"identity":{"docker-reference":"x"},"image":{"docker-manifest-digest":"sha256:abc"},"type":"t"}}"#;
    assert!(matches!(
        SimpleSigning::parse(bad_digest.as_bytes()),
        Err(OciError::InvalidDigest(_))
    ));
    let missing = r#"{"critical":{"image":{"docker-manifest-digest":"sha256:abc"},"type":"t"}}"#;
    assert!(matches!(
        SimpleSigning::parse(missing.as_bytes()),
        Err(OciError::Manifest(_))
    ));
}

#[test]
fn layout_index_render() {
    let a = Descriptor::new(OCI_INDEX, d(HEX_A), 10);
    let b = Descriptor::new(DOCKER_MANIFEST, d(HEX_B), 20);
    let entries = vec![
        (b.clone(), "registry.example/team/app:v2".to_string()),
        (a.clone(), "docker.io/library/ubuntu:24.04".to_string()),
    ];
    let bytes = render_layout_index(&entries);
    let reversed: Vec<_> = entries.iter().rev().cloned().collect();
    assert_eq!(render_layout_index(&reversed), bytes, "order-independent");
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(text.starts_with(&format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":["#
    )));
    let m = parse_manifest(&bytes, None).unwrap();
    assert_eq!(m.kind, ManifestKind::Index);
    assert_eq!(m.manifests.len(), 2);
    assert_eq!(m.manifests[0].digest, d(HEX_A));
    assert_eq!(
        m.manifests[0]
            .annotations
            .get(REF_NAME_ANNOTATION)
            .map(String::as_str),
        Some("docker.io/library/ubuntu:24.04")
    );
    assert_eq!(
        m.manifests[1]
            .annotations
            .get(REF_NAME_ANNOTATION)
            .map(String::as_str),
        Some("registry.example/team/app:v2")
    );
    assert_eq!(m.manifests[1].media_type, DOCKER_MANIFEST);
    let layout: serde_json::Value = serde_json::from_str(OCI_LAYOUT_FILE_CONTENT).unwrap();
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
}

#[test]
fn referrers_render_and_filter() {
    let mut sig = Descriptor::new(OCI_MANIFEST, d(HEX_C), 30);
    sig.artifact_type = Some(COSIGN_SIMPLESIGNING.into());
    let mut sbom = Descriptor::new(OCI_MANIFEST, d(HEX_B), 40);
    sbom.artifact_type = Some("application/vnd.example.sbom.v1+json".into());
    sbom.annotations
        .insert("org.opencontainers.image.created".into(), "2024".into());
    let mut plain = Descriptor::new(OCI_MANIFEST, d(HEX_D), 50);
    plain.artifact_type = None;

    let bytes = render_referrers_index(&[sig.clone(), sbom.clone(), plain.clone(), sig.clone()]);
    assert_eq!(
        bytes,
        render_referrers_index(&[plain.clone(), sbom.clone(), sig.clone()]),
        "deterministic, deduplicated"
    );
    let m = parse_manifest(&bytes, Some(OCI_INDEX)).unwrap();
    assert_eq!(m.kind, ManifestKind::Index);
    assert_eq!(m.manifests, vec![sbom.clone(), sig.clone(), plain.clone()]);

    let filtered = filter_referrers(&bytes, COSIGN_SIMPLESIGNING).unwrap();
    let fm = parse_manifest(&filtered, None).unwrap();
    assert_eq!(fm.media_type, OCI_INDEX);
    assert_eq!(fm.manifests, vec![sig.clone()]);
    assert_eq!(filtered, render_referrers_index(&[sig]));

    let none = filter_referrers(&bytes, "application/none").unwrap();
    assert!(parse_manifest(&none, None).unwrap().manifests.is_empty());
    let empty = render_referrers_index(&[]);
    assert_eq!(
        std::str::from_utf8(&empty).unwrap(),
        format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[]}}"#)
    );

    assert!(matches!(
        filter_referrers(b"{}", "x"),
        Err(OciError::Manifest(_))
    ));
    assert!(matches!(
        filter_referrers(b"nope", "x"),
        Err(OciError::Manifest(_))
    ));
}

/// The one registry-host rule, including every case where the two former copies
/// (`formats::oci` and `mirror-sync`'s config check) disagreed: port range, length.
#[test]
fn registry_host_rule() {
    let long_host = format!("{}.example", "a".repeat(MAX_REGISTRY_HOST_BYTES - 8));
    assert_eq!(long_host.len(), MAX_REGISTRY_HOST_BYTES);
    for ok in [
        "docker.io",
        "index.docker.io",
        "127.0.0.1:5000",
        "localhost",
        "localhost:5000",
        "registry.example",
        "Registry.Example",
        "a-b.example:443",
        "a--b.example",
        "x",
        "9",
        "host:1",
        "host:65535",
        long_host.as_str(),
        &format!("{long_host}:5000"),
    ] {
        assert_eq!(check_registry(ok), Ok(()), "{ok:?}");
        // Every accepted registry maps to a component valid in the name grammar.
        assert!(
            super::reference::is_valid_path_component(&registry_to_component(ok)),
            "{ok:?}"
        );
    }
    for (bad, says) in [
        ("", "empty registry host"),
        (":5000", "empty registry host"),
        ("a b", "may only contain"),
        ("h/x", "may only contain"),
        ("a_b.example", "may only contain"),
        ("a__b.example", "may only contain"),
        ("[::1]", "IPv6"),
        ("[::1]:5000", "IPv6"),
        ("-x.example", "component \"-x\""),
        ("x-.example", "component \"x-\""),
        ("a..b", "component \"\""),
        (".example", "component \"\""),
        ("example.", "component \"\""),
        ("host:", "not a number"),
        ("host:port", "not a number"),
        ("host:123456", "not a number"),
        ("a:b:5000", "not a number"),
        ("host:0", "outside 1-65535"),
        ("host:65536", "outside 1-65535"),
        ("host:99999", "outside 1-65535"),
        (&format!("a{long_host}"), "over the 253-byte limit"),
    ] {
        let e = check_registry(bad).expect_err(bad);
        assert!(e.contains(says), "{bad:?}: {e}");
    }
    // The rule is the one ImageRef::parse applies.
    for bad in [
        "host:0/app",
        "host:65536/app",
        "[::1]:5000/app",
        "x-.example/app",
    ] {
        assert!(
            matches!(
                ImageRef::parse(bad, "docker.io"),
                Err(OciError::InvalidReference { .. })
            ),
            "{bad:?}"
        );
    }
}
