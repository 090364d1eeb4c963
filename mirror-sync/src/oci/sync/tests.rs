use super::*;

#[test]
fn signatures_are_found_on_simplesigning_layers() {
    let payload = Digest::of(b"payload");
    let other = Digest::of(b"other");
    let json = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}",
            "config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},
            "layers":[
              {{"mediaType":"{}","digest":"{payload}","size":7,
                "annotations":{{"{}":"MEUCIQ=="}}}},
              {{"mediaType":"{}","digest":"{other}","size":5}},
              {{"mediaType":"text/plain","digest":"{other}","size":5,
                "annotations":{{"{}":"ignored"}}}}
            ]}}"#,
        oci::OCI_MANIFEST,
        Digest::of(b"{}"),
        oci::COSIGN_SIMPLESIGNING,
        oci::COSIGN_SIGNATURE_ANNOTATION,
        oci::COSIGN_SIMPLESIGNING,
        oci::COSIGN_SIGNATURE_ANNOTATION,
    );
    let parsed = oci::parse_manifest(json.as_bytes(), None).unwrap();
    let md = Digest::of(json.as_bytes());
    let sigs = signatures_for(md, &parsed);
    assert_eq!(
        sigs,
        vec![FoundSignature {
            manifest_digest: md,
            payload_digest: payload,
            signature_b64: "MEUCIQ==".into()
        }]
    );
}

use super::super::test_server::{Route, serve};
use std::sync::Arc;

fn desc_json(media_type: &str, body: &[u8], extra: &str) -> String {
    format!(
        r#"{{"mediaType":"{media_type}","digest":"{}","size":{}{extra}}}"#,
        Digest::of(body),
        body.len()
    )
}

fn image_manifest(config: &[u8], layer: &[u8]) -> Vec<u8> {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{},"layers":[{}]}}"#,
        oci::OCI_MANIFEST,
        desc_json("application/vnd.oci.image.config.v1+json", config, ""),
        desc_json("application/vnd.oci.image.layer.v1.tar+gzip", layer, "")
    )
    .into_bytes()
}

#[tokio::test]
async fn syncs_a_filtered_index_with_its_cosign_signature() {
    let (cfg_amd, layer_amd) = (b"{\"architecture\":\"amd64\"}".to_vec(), vec![1u8; 5000]);
    let (cfg_arm, layer_arm) = (b"{\"architecture\":\"arm64\"}".to_vec(), vec![2u8; 7000]);
    let amd = image_manifest(&cfg_amd, &layer_amd);
    let arm = image_manifest(&cfg_arm, &layer_arm);
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{},{}]}}"#,
        oci::OCI_INDEX,
        desc_json(
            oci::OCI_MANIFEST,
            &amd,
            r#","platform":{"os":"linux","architecture":"amd64"}"#
        ),
        desc_json(
            oci::OCI_MANIFEST,
            &arm,
            r#","platform":{"os":"linux","architecture":"arm64","variant":"v8"}"#
        ),
    )
    .into_bytes();
    let index_digest = Digest::of(&index);
    let payload = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"x"}},"image":{{"docker-manifest-digest":"{index_digest}"}},"type":"cosign container image signature"}}}}"#
        )
        .into_bytes();
    let sig_config = b"{}".to_vec();
    let sig = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{},"layers":[{}]}}"#,
        oci::OCI_MANIFEST,
        desc_json("application/vnd.oci.image.config.v1+json", &sig_config, ""),
        desc_json(
            oci::COSIGN_SIMPLESIGNING,
            &payload,
            r#","annotations":{"dev.cosignproject.cosign/signature":"c2ln"}"#
        ),
    )
    .into_bytes();
    // An OCI 1.1 referrer of the index published only through the referrers fallback
    // tag `sha256-<hex>` (the test registry has no referrers API: 404).
    let sbom_body = b"{\"sbom\":true}".to_vec();
    let sbom_config = b"{\"empty\":false}".to_vec();
    let sbom = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","artifactType":"application/vnd.example.sbom.v1+json","config":{},"layers":[{}],"subject":{}}}"#,
            oci::OCI_MANIFEST,
            desc_json("application/vnd.oci.empty.v1+json", &sbom_config, ""),
            desc_json("application/vnd.example.sbom.v1+json", &sbom_body, ""),
            desc_json(oci::OCI_INDEX, &index, ""),
        )
        .into_bytes();
    let fallback = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{}]}}"#,
        oci::OCI_INDEX,
        desc_json(
            oci::OCI_MANIFEST,
            &sbom,
            r#","artifactType":"application/vnd.example.sbom.v1+json""#
        ),
    )
    .into_bytes();
    let mut routes: HashMap<String, (String, Vec<u8>)> = HashMap::new();
    let mut add = |path: String, ct: &str, body: &[u8]| {
        routes.insert(path, (ct.to_owned(), body.to_vec()));
    };
    let m = "/v2/team/app/manifests/";
    let b = "/v2/team/app/blobs/";
    add(format!("{m}v1"), oci::OCI_INDEX, &index);
    add(format!("{m}{index_digest}"), oci::OCI_INDEX, &index);
    add(format!("{m}{}", Digest::of(&amd)), oci::OCI_MANIFEST, &amd);
    add(format!("{m}{}", Digest::of(&arm)), oci::OCI_MANIFEST, &arm);
    add(
        format!("{m}{}", oci::cosign_tag(&index_digest, "sig")),
        oci::OCI_MANIFEST,
        &sig,
    );
    add(
        format!("{m}{}", oci::referrers_tag(&index_digest)),
        oci::OCI_INDEX,
        &fallback,
    );
    add(
        format!("{m}{}", Digest::of(&sbom)),
        oci::OCI_MANIFEST,
        &sbom,
    );
    for blob in [
        &sbom_body,
        &sbom_config,
        &cfg_amd,
        &layer_amd,
        &cfg_arm,
        &layer_arm,
        &payload,
        &sig_config,
    ] {
        add(
            format!("{b}{}", Digest::of(blob)),
            "application/octet-stream",
            blob,
        );
    }
    let route: Arc<Route> = Arc::new(move |path: &str, _head: &str| match routes.get(path) {
        Some((ct, body)) => (200, vec![("content-type".into(), ct.clone())], body.clone()),
        None => (404, vec![], b"{}".to_vec()),
    });
    let (base, log) = serve(route).await;

    let dir = tempfile::tempdir().unwrap();
    let port = base.port().unwrap();
    let text = format!(
        r#"
store = "store"
channel = "c"
[signing]
snapshot_key = "k"
repo_key = "r"
[[oci]]
name = "local"
registry = "127.0.0.1:{port}"
url = "{base}"
images = ["team/app:v1"]
platforms = ["linux/arm64"]
"#
    );
    let path = dir.path().join("mirror.toml");
    std::fs::write(&path, text).unwrap();
    let cfg = Config::load(&path).unwrap();
    let cas = Arc::new(store::Cas::open(&cfg.store_dir()).unwrap());
    let f = Fetcher::new(
        cas.clone(),
        4,
        2,
        std::time::Duration::from_secs(5),
        crate::progress::Progress::hidden(),
    )
    .unwrap();
    let (state, report) = sync(&f, &cfg, &cfg.oci[0]).await.unwrap();

    let served = format!("127.0.0.1__{port}/team/app");
    let by_path: BTreeMap<&str, &Artifact> = state
        .artifacts
        .iter()
        .map(|a| (a.path.as_str(), a))
        .collect();
    let get = |p: String| {
        *by_path
            .get(p.as_str())
            .unwrap_or_else(|| panic!("{p} missing: {:?}", by_path.keys()))
    };
    let tag = get(format!("v2/{served}/manifests/v1"));
    assert_eq!(tag.kind, ArtifactKind::OciTag);
    assert_eq!(tag.digest, index_digest);
    assert_eq!(
        tag.meta.reference.as_deref(),
        Some(format!("127.0.0.1:{port}/team/app:v1").as_str())
    );
    let idx = get(format!("v2/{served}/manifests/{index_digest}"));
    assert_eq!(idx.media_type.as_deref(), Some(oci::OCI_INDEX));
    assert_eq!(
        idx.meta.omitted,
        vec![format!("{} linux/amd64", Digest::of(&amd))]
    );
    let arm_a = get(format!("v2/{served}/manifests/{}", Digest::of(&arm)));
    assert_eq!(arm_a.meta.platform.as_deref(), Some("linux/arm64/v8"));
    for blob in [&cfg_arm, &layer_arm, &payload, &sig_config] {
        let a = get(format!("v2/{served}/blobs/{}", Digest::of(blob)));
        assert_eq!(a.kind, ArtifactKind::OciBlob);
        assert_eq!(cas.contains(&a.digest).unwrap(), Some(blob.len() as u64));
    }
    for blob in [&cfg_amd, &layer_amd] {
        assert!(!by_path.contains_key(format!("v2/{served}/blobs/{}", Digest::of(blob)).as_str()));
        assert_eq!(cas.contains(&Digest::of(blob)).unwrap(), None);
    }
    assert!(!by_path.contains_key(format!("v2/{served}/manifests/{}", Digest::of(&amd)).as_str()));
    let sig_tag = get(format!(
        "v2/{served}/manifests/{}",
        oci::cosign_tag(&index_digest, "sig")
    ));
    assert_eq!(sig_tag.digest, Digest::of(&sig));
    let sig_m = get(format!("v2/{served}/manifests/{}", Digest::of(&sig)));
    assert_eq!(sig_m.meta.subject, Some(index_digest));
    // No artifactType in the signature manifest: the config's media type
    // (distribution-spec §Listing Referrers), not the simple-signing layer's.
    assert_eq!(
        sig_m.meta.artifact_type.as_deref(),
        Some("application/vnd.oci.image.config.v1+json")
    );
    // The referrer only the fallback tag lists was read, with its blobs.
    let sbom_m = get(format!("v2/{served}/manifests/{}", Digest::of(&sbom)));
    assert_eq!(sbom_m.meta.subject, Some(index_digest));
    assert_eq!(
        sbom_m.meta.artifact_type.as_deref(),
        Some("application/vnd.example.sbom.v1+json")
    );
    get(format!("v2/{served}/blobs/{}", Digest::of(&sbom_body)));
    assert_eq!(
        cas.contains(&Digest::of(&sbom_body)).unwrap(),
        Some(sbom_body.len() as u64)
    );
    assert_eq!(state.source.kind, SourceKind::Oci);
    assert_eq!(state.source.registry, Some(format!("127.0.0.1:{port}")));
    assert_eq!(
        (
            report.images,
            report.tags,
            report.manifests,
            report.referrers
        ),
        (1, 2, 4, 2)
    );
    assert_eq!(report.blobs, 6);
    assert_eq!(report.blobs_present, 0);
    assert_eq!(report.omitted_platforms.len(), 1);
    // Every path is a valid logical path, and no request carried credentials.
    for a in &state.artifacts {
        formats::path::validate(&a.path).unwrap();
    }
    assert!(log.lock().unwrap().iter().all(|l| l.ends_with("auth=-")));

    // Second run: everything is already in the store.
    let (_, again) = sync(&f, &cfg, &cfg.oci[0]).await.unwrap();
    assert_eq!((again.blobs, again.blobs_present), (6, 6));
}

#[test]
fn paths_follow_the_media_format() {
    let d = Digest::of(b"x");
    assert_eq!(
        manifest_path("127.0.0.1__5000/team/app", &d.to_string()).unwrap(),
        format!("v2/127.0.0.1__5000/team/app/manifests/{d}")
    );
    assert_eq!(
        blob_path("docker.io/library/ubuntu", &d).unwrap(),
        format!("v2/docker.io/library/ubuntu/blobs/{d}")
    );
}
