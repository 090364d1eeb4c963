//! OCI 1.1 referrers end to end: artifacts pushed to the upstream registry are synced,
//! exported, imported and listed by `/v2/<name>/referrers/<digest>` as the distribution
//! spec says.

use super::*;
use formats::snapshot::ArtifactKind;
use mirror_e2e::oci_fixture::{
    Descriptor, OCI_CONFIG, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, Registry, curl_request,
    referrers_fallback_tag,
};
use mirror_e2e::product::{read_manifest, serve};
use serde_json::Value;
use std::collections::BTreeMap;

/// Pushes an artifact manifest of `subject` into `repo` of the registry — config of
/// `config_type`, one layer of `layer_type`, `artifactType` only when given — and tags it
/// `tag` when given. Returns its descriptor (OCI manifest media type).
fn push_artifact(
    reg: &Registry,
    repo: &str,
    subject: &Descriptor,
    config_type: &str,
    layer_type: &str,
    artifact_type: Option<&str>,
    tag: Option<&str>,
) -> Descriptor {
    let config = format!("{{\"for\":\"{config_type}\"}}").into_bytes();
    let layer = format!("{{\"layer\":\"{layer_type}\"}}").into_bytes();
    reg.push_blob(repo, &config).unwrap();
    reg.push_blob(repo, &layer).unwrap();
    let mut m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": Descriptor::of(config_type, &config).to_json(),
        "layers": [Descriptor::of(layer_type, &layer).to_json()],
        "subject": subject.to_json(),
    });
    if let Some(t) = artifact_type {
        m["artifactType"] = serde_json::json!(t);
    }
    let bytes = serde_json::to_vec(&m).unwrap();
    let desc = Descriptor::of(OCI_MANIFEST, &bytes);
    reg.push_manifest(repo, &desc.digest, OCI_MANIFEST, &bytes)
        .unwrap();
    if let Some(t) = tag {
        reg.push_manifest(repo, t, OCI_MANIFEST, &bytes).unwrap();
    }
    desc
}

/// GET `/v2/<repo>/referrers/<digest>` (optionally filtered): (status, the `manifests`
/// entries by digest -> artifactType, the `OCI-Filters-Applied` header).
fn referrers(
    server: &str,
    repo: &str,
    digest: &str,
    filter: Option<&str>,
) -> (u16, BTreeMap<String, String>, Option<String>) {
    let mut url = format!("http://{server}/v2/{repo}/referrers/{digest}");
    if let Some(f) = filter {
        url.push_str(&format!("?artifactType={}", f.replace('+', "%2B")));
    }
    let r = curl_request("GET", &url, &[], None).unwrap();
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    let entries = v["manifests"]
        .as_array()
        .unwrap_or_else(|| panic!("not a referrers index: {v}"))
        .iter()
        .map(|d| {
            (
                d["digest"].as_str().unwrap().to_owned(),
                d["artifactType"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    (r.status, entries, r.header("OCI-Filters-Applied"))
}

/// The three referrers defects of issue 12 against the Debian `docker-registry` (no
/// referrers API): a cosign-style tag holding a referrer without `artifactType` is listed
/// with its config's media type and found by filtering on it; a referrer published only
/// through the fallback tag `sha256-<hex>` is mirrored with its blobs and listed; a
/// malformed tag answers 404 `MANIFEST_UNKNOWN` (GET and HEAD), a malformed digest 400.
#[test]
fn referrers_follow_the_distribution_spec() {
    let Some(w) = world(None) else { return };
    let app = &w.seeded.app;
    let subject = app.manifest.clone();
    const ATT_CONFIG: &str = "application/vnd.example.attestation.config.v1+json";
    const ATT_LAYER: &str = "application/vnd.in-toto+json";
    const ONLY_FALLBACK: &str = "application/vnd.example.fallback-only.v1+json";
    // A cosign-style attestation tag: subject, no artifactType.
    let att = push_artifact(
        &w.reg,
        "team/app",
        &subject,
        ATT_CONFIG,
        ATT_LAYER,
        None,
        Some(&format!("{}.att", referrers_fallback_tag(&subject.digest))),
    );
    // A referrer only the fallback tag lists (no cosign tag, no referrers API upstream).
    let hidden = push_artifact(
        &w.reg,
        "team/app",
        &subject,
        OCI_EMPTY,
        "application/vnd.example.report.v1+json",
        Some(ONLY_FALLBACK),
        None,
    );
    let mut listed = hidden.clone();
    listed.artifact_type = Some(ONLY_FALLBACK.to_owned());
    let fallback = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [listed.to_json()],
    }))
    .unwrap();
    w.reg
        .push_manifest(
            "team/app",
            &referrers_fallback_tag(&subject.digest),
            OCI_INDEX,
            &fallback,
        )
        .unwrap();
    // The upstream has no referrers API: that is why the fallback tag exists.
    let upstream = curl_request(
        "GET",
        &format!("{}/v2/team/app/referrers/{}", w.reg.url, subject.digest),
        &[],
        None,
    )
    .unwrap();
    assert_eq!(upstream.status, 404, "docker-registry grew a referrers API");

    let config = w.config(&["team/app:1.0"], &["linux/amd64"], "", false);
    let (drive, store, _) = sync_export_import(&w, &config);
    let m = read_manifest(&drive).1;
    let repo = served(&w.reg.host, "team/app");
    let hidden_m = m
        .artifacts
        .iter()
        .find(|a| a.path == format!("v2/{repo}/manifests/{}", hidden.digest))
        .expect("the fallback-only referrer is mirrored");
    assert_eq!(
        hidden_m.meta.subject.map(|d| d.to_string()),
        Some(subject.digest.clone())
    );
    assert!(
        m.artifacts
            .iter()
            .filter(|a| a.kind == ArtifactKind::OciBlob)
            .any(|a| a.media_type.as_deref() == Some("application/vnd.example.report.v1+json")),
        "its layer is mirrored"
    );

    let (rt, handle, addr) = serve(&store);
    let server = format!("127.0.0.1:{}", addr.port());
    let (status, all, _) = referrers(&server, &repo, &subject.digest, None);
    assert_eq!(status, 200);
    assert_eq!(
        all.get(&att.digest).map(String::as_str),
        Some(ATT_CONFIG),
        "{all:?}"
    );
    assert_eq!(
        all.get(&hidden.digest).map(String::as_str),
        Some(ONLY_FALLBACK),
        "{all:?}"
    );
    assert!(!all.values().any(|t| t == ATT_LAYER), "{all:?}");
    // The cosign signature (config of the OCI config type) is there too.
    assert!(all.values().any(|t| t == OCI_CONFIG), "{all:?}");
    let (_, by_config, applied) = referrers(&server, &repo, &subject.digest, Some(ATT_CONFIG));
    assert_eq!(applied.as_deref(), Some("artifactType"));
    assert_eq!(by_config.keys().collect::<Vec<_>>(), vec![&att.digest]);
    let (_, by_layer, _) = referrers(&server, &repo, &subject.digest, Some(ATT_LAYER));
    assert!(by_layer.is_empty(), "{by_layer:?}");
    let (_, only, _) = referrers(&server, &repo, &subject.digest, Some(ONLY_FALLBACK));
    assert_eq!(only.keys().collect::<Vec<_>>(), vec![&hidden.digest]);
    // skopeo can pull the fallback-only referrer from the server by digest.
    let out = w.path("pull-hidden");
    skopeo_copy_from(
        &[],
        &format!("docker://{server}/{repo}@{}", hidden.digest),
        &out,
    )
    .assert_success();
    assert_eq!(layout_digest(&out), hidden.digest);

    // Malformed tag: 404 MANIFEST_UNKNOWN for GET and HEAD; malformed digest: 400.
    for bad in ["-bad", ".x", "a+b"] {
        let url = format!("http://{server}/v2/{repo}/manifests/{bad}");
        let r = curl_request("GET", &url, &[], None).unwrap();
        assert_eq!(r.status, 404, "GET {bad}");
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["errors"][0]["code"], "MANIFEST_UNKNOWN", "{v}");
        assert_eq!(
            curl_request("HEAD", &url, &[], None).unwrap().status,
            404,
            "HEAD {bad}"
        );
    }
    for bad in ["sha256:zz", "sha256:1234"] {
        let url = format!("http://{server}/v2/{repo}/manifests/{bad}");
        let r = curl_request("GET", &url, &[], None).unwrap();
        assert_eq!(r.status, 400, "GET {bad}");
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["errors"][0]["code"], "DIGEST_INVALID", "{v}");
        assert_eq!(
            curl_request("HEAD", &url, &[], None).unwrap().status,
            400,
            "HEAD {bad}"
        );
    }
    rt.block_on(handle.shutdown());
}
