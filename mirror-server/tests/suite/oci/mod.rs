//! `/v2`: the OCI distribution-spec pull API and content discovery, one test per rule.
//!
//! A tiny image is built by hand (config blobs, a 2000-byte layer, an OCI image manifest,
//! a Docker schema 2 manifest, a two-platform OCI index, tags, a cosign-style signature
//! manifest, an OCI 1.1 SBOM referrer and the referrers index export would generate), put
//! on a signed drive, imported and served on 127.0.0.1:0.

use std::future::Future;

use crate::common::{Fixture, Import, OciFile};
use formats::digest::Digest;
use formats::oci::{
    COSIGN_SIMPLESIGNING, DOCKER_MANIFEST, Descriptor, OCI_INDEX, OCI_MANIFEST, cosign_tag,
    render_referrers_index,
};
use formats::snapshot::Meta;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, LINK, RANGE};
use serde_json::{Value, json};

mod edges;

const REPO: &str = "docker.io/library/demo";
const PORT_REPO: &str = "127.0.0.1__5000/team/app";
const EXTRA_REPO: &str = "ghcr.example/org/tool";
const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const SBOM_TYPE: &str = "application/spdx+json";

/// The hand-built image and everything around it.
#[derive(Clone)]
struct Image {
    layer: Vec<u8>,
    layer_d: Digest,
    amd64: Vec<u8>,
    amd64_d: Digest,
    arm64: Vec<u8>,
    arm64_d: Digest,
    index: Vec<u8>,
    index_d: Digest,
    sig_d: Digest,
    sbom_d: Digest,
}

fn desc(media_type: &str, bytes: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": Digest::of(bytes).to_string(), "size": bytes.len()})
}

fn build() -> (Image, Vec<OciFile>) {
    let layer: Vec<u8> = (0..2000u32).map(|i| (i * 31 % 251) as u8).collect();
    let cfg_amd64 =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec();
    let cfg_arm64 =
        br#"{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec();
    let amd64 = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": desc(CONFIG_TYPE, &cfg_amd64),
        "layers": [desc(LAYER_TYPE, &layer)],
    }))
    .unwrap();
    let arm64 = serde_json::to_vec_pretty(&json!({
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": desc("application/vnd.docker.container.image.v1+json", &cfg_arm64),
        "layers": [desc("application/vnd.docker.image.rootfs.diff.tar.gzip", &layer)],
    }))
    .unwrap();
    let mut amd64_desc = desc(OCI_MANIFEST, &amd64);
    amd64_desc["platform"] = json!({"os": "linux", "architecture": "amd64"});
    let mut arm64_desc = desc(DOCKER_MANIFEST, &arm64);
    arm64_desc["platform"] = json!({"os": "linux", "architecture": "arm64"});
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [amd64_desc, arm64_desc],
    }))
    .unwrap();
    let (amd64_d, arm64_d, index_d) = (Digest::of(&amd64), Digest::of(&arm64), Digest::of(&index));

    // cosign-style signature, tagged sha256-<index hex>.sig.
    let payload = serde_json::to_vec(&json!({
        "critical": {"identity": {"docker-reference": REPO}, "image": {"docker-manifest-digest": index_d.to_string()}, "type": "cosign container image signature"},
        "optional": null,
    }))
    .unwrap();
    let empty_cfg = b"{}".to_vec();
    let mut payload_desc = desc(COSIGN_SIMPLESIGNING, &payload);
    payload_desc["annotations"] = json!({"dev.cosignproject.cosign/signature": "MEUCIQ=="});
    let sig = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": desc(CONFIG_TYPE, &empty_cfg), "layers": [payload_desc],
    }))
    .unwrap();
    // OCI 1.1 referrer with a subject.
    let sbom_blob = br#"{"spdxVersion":"SPDX-2.3"}"#.to_vec();
    let sbom = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": SBOM_TYPE,
        "config": desc("application/vnd.oci.empty.v1+json", &empty_cfg),
        "layers": [desc(SBOM_TYPE, &sbom_blob)],
        "subject": desc(OCI_INDEX, &index),
    }))
    .unwrap();
    let (sig_d, sbom_d) = (Digest::of(&sig), Digest::of(&sbom));
    let mut sig_ref = Descriptor::new(OCI_MANIFEST, sig_d, sig.len() as u64);
    sig_ref.artifact_type = Some(COSIGN_SIMPLESIGNING.into());
    let mut sbom_ref = Descriptor::new(OCI_MANIFEST, sbom_d, sbom.len() as u64);
    sbom_ref.artifact_type = Some(SBOM_TYPE.into());
    let referrers = render_referrers_index(&[sig_ref, sbom_ref]);

    let m = |repo: &str, r: &str| format!("v2/{repo}/manifests/{r}");
    let b = |repo: &str, d: &Digest| format!("v2/{repo}/blobs/{d}");
    let tag = |repo: &str, t: &str, bytes: &[u8], mt: &str| OciFile {
        meta: Meta {
            reference: Some(format!("{repo}:{t}")),
            ..Meta::default()
        },
        ..OciFile::new(m(repo, t), bytes, mt)
    };
    let with_subject = |f: OciFile, subject: Digest, at: &str| OciFile {
        meta: Meta {
            subject: Some(subject),
            artifact_type: Some(at.to_owned()),
            ..f.meta.clone()
        },
        ..f
    };
    let mut files = vec![
        OciFile::new(b(REPO, &Digest::of(&cfg_amd64)), &cfg_amd64, CONFIG_TYPE),
        OciFile::new(b(REPO, &Digest::of(&cfg_arm64)), &cfg_arm64, CONFIG_TYPE),
        OciFile::new(b(REPO, &Digest::of(&layer)), &layer, LAYER_TYPE),
        OciFile::new(b(REPO, &Digest::of(&empty_cfg)), &empty_cfg, CONFIG_TYPE),
        OciFile::new(
            b(REPO, &Digest::of(&payload)),
            &payload,
            COSIGN_SIMPLESIGNING,
        ),
        OciFile::new(b(REPO, &Digest::of(&sbom_blob)), &sbom_blob, SBOM_TYPE),
        OciFile::new(m(REPO, &amd64_d.to_string()), &amd64, OCI_MANIFEST),
        OciFile::new(m(REPO, &arm64_d.to_string()), &arm64, DOCKER_MANIFEST),
        OciFile::new(m(REPO, &index_d.to_string()), &index, OCI_INDEX),
        with_subject(
            OciFile::new(m(REPO, &sig_d.to_string()), &sig, OCI_MANIFEST),
            index_d,
            COSIGN_SIMPLESIGNING,
        ),
        with_subject(
            OciFile::new(m(REPO, &sbom_d.to_string()), &sbom, OCI_MANIFEST),
            index_d,
            SBOM_TYPE,
        ),
        OciFile::new(
            format!("v2/{REPO}/referrers/{index_d}"),
            &referrers,
            OCI_INDEX,
        ),
    ];
    for t in ["1.0", "latest", "1.1", "0.9"] {
        files.push(tag(REPO, t, &index, OCI_INDEX));
    }
    files.push(tag(REPO, "1.0-amd64", &amd64, OCI_MANIFEST));
    files.push(with_subject(
        tag(REPO, &cosign_tag(&index_d, "sig"), &sig, OCI_MANIFEST),
        index_d,
        COSIGN_SIMPLESIGNING,
    ));
    // The same amd64 image under a host:port registry and a third registry.
    for repo in [PORT_REPO, EXTRA_REPO] {
        files.push(OciFile::new(
            b(repo, &Digest::of(&cfg_amd64)),
            &cfg_amd64,
            CONFIG_TYPE,
        ));
        files.push(OciFile::new(
            b(repo, &Digest::of(&layer)),
            &layer,
            LAYER_TYPE,
        ));
        files.push(OciFile::new(
            m(repo, &amd64_d.to_string()),
            &amd64,
            OCI_MANIFEST,
        ));
        files.push(tag(repo, "v1", &amd64, OCI_MANIFEST));
    }
    let image = Image {
        layer_d: Digest::of(&layer),
        layer,
        amd64,
        amd64_d,
        arm64,
        arm64_d,
        index,
        index_d,
        sig_d,
        sbom_d,
    };
    (image, files)
}

struct Ctx {
    base: String,
    client: reqwest::Client,
    img: Image,
}

impl Ctx {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }
}

/// Imports the image, serves it, runs `f`, stops the server.
fn with_server<F, Fut>(f: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()>,
{
    let fx = Fixture::new();
    let (img, files) = build();
    let drive = fx.oci_drive(
        "drive",
        1,
        &files,
        &["docker.io", "127.0.0.1:5000", "ghcr.example"],
    );
    fx.import(&drive, &[]).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let handle = mirror_server::serve::start(fx.store.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let ctx = Ctx {
            base: format!("http://{}", handle.addr),
            client: reqwest::Client::new(),
            img,
        };
        f(ctx).await;
        handle.shutdown().await;
    });
}

/// Asserts an OCI error response: status, `application/json`, and the code.
async fn assert_error(r: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(r.status(), status, "{}", r.url());
    assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
    assert_eq!(
        r.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["code"], code, "{v}");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{v}"
    );
    v
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

#[test]
fn api_version_check() {
    with_server(|c| async move {
        for path in ["/v2/", "/v2"] {
            let r = c.get(path).await;
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(
                header(&r, "docker-distribution-api-version"),
                "registry/2.0"
            );
            assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
            assert_eq!(r.text().await.unwrap(), "{}");
        }
        let r = c
            .client
            .head(format!("{}/v2/", c.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            header(&r, "docker-distribution-api-version"),
            "registry/2.0"
        );
    });
}

#[test]
fn manifest_by_tag_and_digest() {
    with_server(|c| async move {
        let img = &c.img;
        let cases = [
            (
                format!("/v2/{REPO}/manifests/1.0"),
                &img.index,
                img.index_d,
                OCI_INDEX,
            ),
            (
                format!("/v2/{REPO}/manifests/{}", img.index_d),
                &img.index,
                img.index_d,
                OCI_INDEX,
            ),
            (
                format!("/v2/{REPO}/manifests/1.0-amd64"),
                &img.amd64,
                img.amd64_d,
                OCI_MANIFEST,
            ),
            (
                format!("/v2/{REPO}/manifests/{}", img.arm64_d),
                &img.arm64,
                img.arm64_d,
                DOCKER_MANIFEST,
            ),
        ];
        for (path, bytes, digest, media_type) in cases {
            let r = c.get(&path).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert_eq!(r.headers()[CONTENT_TYPE], media_type, "{path}");
            assert_eq!(header(&r, "docker-content-digest"), digest.to_string());
            assert_eq!(
                r.headers()[CONTENT_LENGTH],
                bytes.len().to_string().as_str()
            );
            assert_eq!(r.headers()[ETAG], format!("\"{}\"", digest.hex()).as_str());
            assert_eq!(
                r.bytes().await.unwrap().as_ref(),
                bytes.as_slice(),
                "{path}"
            );

            let r = c
                .client
                .head(format!("{}{path}", c.base))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "HEAD {path}");
            assert_eq!(r.headers()[CONTENT_TYPE], media_type);
            assert_eq!(header(&r, "docker-content-digest"), digest.to_string());
            assert_eq!(
                r.headers()[CONTENT_LENGTH],
                bytes.len().to_string().as_str()
            );
            assert!(r.bytes().await.unwrap().is_empty());
        }
        // A manifest is also a blob of its repository (one content store, as in the spec).
        let r = c.get(&format!("/v2/{REPO}/blobs/{}", img.index_d)).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "docker-content-digest"), img.index_d.to_string());
        assert_eq!(r.bytes().await.unwrap().as_ref(), img.index.as_slice());
    });
}

#[test]
fn blob_ranges() {
    with_server(|c| async move {
        let img = &c.img;
        let url = format!("{}/v2/{REPO}/blobs/{}", c.base, img.layer_d);
        let r = c.client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "docker-content-digest"), img.layer_d.to_string());
        assert_eq!(r.headers()[CONTENT_LENGTH], "2000");
        assert_eq!(r.bytes().await.unwrap().as_ref(), img.layer.as_slice());
        let r = c.client.head(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CONTENT_LENGTH], "2000");
        assert_eq!(header(&r, "docker-content-digest"), img.layer_d.to_string());
        assert!(r.bytes().await.unwrap().is_empty());

        for (range, start, end) in [
            ("bytes=500-1499", 500usize, 1499usize),
            ("bytes=500-", 500, 1999),
            ("bytes=-500", 1500, 1999),
        ] {
            let r = c
                .client
                .get(&url)
                .header(RANGE, range)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "{range}");
            assert_eq!(
                r.headers()[CONTENT_RANGE],
                format!("bytes {start}-{end}/2000").as_str(),
                "{range}"
            );
            assert_eq!(
                r.headers()[CONTENT_LENGTH],
                (end - start + 1).to_string().as_str()
            );
            assert_eq!(header(&r, "docker-content-digest"), img.layer_d.to_string());
            assert_eq!(
                r.bytes().await.unwrap().as_ref(),
                &img.layer[start..=end],
                "{range}"
            );
        }
    });
}

#[test]
fn blob_range_not_satisfiable() {
    with_server(|c| async move {
        let url = format!("{}/v2/{REPO}/blobs/{}", c.base, c.img.layer_d);
        for range in ["bytes=2000-", "bytes=5000-6000"] {
            let r = c
                .client
                .get(&url)
                .header(RANGE, range)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
            assert_eq!(r.headers()[CONTENT_RANGE], "bytes */2000");
        }
    });
}

#[test]
fn invalid_digest_is_400_before_any_lookup() {
    with_server(|c| async move {
        let upper = format!("sha256:{}", c.img.layer_d.hex().to_uppercase());
        let sha512 = format!("sha512:{}", "ab".repeat(64));
        for path in [
            format!("/v2/{REPO}/blobs/sha256:1234"),
            format!("/v2/{REPO}/blobs/{upper}"),
            format!("/v2/{REPO}/blobs/{sha512}"),
            format!("/v2/{REPO}/blobs/notadigest"),
            format!("/v2/{REPO}/manifests/sha256:zz"),
            format!("/v2/{REPO}/referrers/sha256:1234"),
            // Unknown repository, but the digest is checked first.
            "/v2/docker.io/nobody/nothing/blobs/sha256:1234".to_owned(),
        ] {
            assert_error(
                c.get(&path).await,
                StatusCode::BAD_REQUEST,
                "DIGEST_INVALID",
            )
            .await;
        }
        let v = assert_error(
            c.get(&format!("/v2/{REPO}/blobs/{sha512}")).await,
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
        )
        .await;
        assert!(
            v["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("sha256"),
            "{v}"
        );
        // A reference that is neither tag nor digest: the spec's endpoint table (end-3)
        // allows only 200/404 for a manifest GET or HEAD, so it is an unknown manifest.
        for bad in ["-bad", ".bad", "a+b", &"t".repeat(129)] {
            let v = assert_error(
                c.get(&format!("/v2/{REPO}/manifests/{bad}")).await,
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
            )
            .await;
            assert!(
                v["errors"][0]["message"]
                    .as_str()
                    .unwrap()
                    .contains("not a valid tag"),
                "{v}"
            );
            let r = c
                .client
                .head(format!("{}/v2/{REPO}/manifests/{bad}", c.base))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "HEAD {bad}");
        }
        // In an unknown repository the name is what is unknown.
        assert_error(
            c.get("/v2/docker.io/nobody/nothing/manifests/-bad").await,
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
        )
        .await;
        // A malformed digest reference stays 400, for GET and HEAD.
        let r = c
            .client
            .head(format!("{}/v2/{REPO}/manifests/sha256:zz", c.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    });
}

#[test]
fn unknown_blob_manifest_and_name_are_404() {
    with_server(|c| async move {
        let absent = Digest::of(b"absent");
        assert_error(
            c.get(&format!("/v2/{REPO}/blobs/{absent}")).await,
            StatusCode::NOT_FOUND,
            "BLOB_UNKNOWN",
        )
        .await;
        // HEAD gets the status (the body is dropped).
        let r = c
            .client
            .head(format!("{}/v2/{REPO}/blobs/{absent}", c.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        for path in [
            format!("/v2/{REPO}/manifests/{absent}"),
            format!("/v2/{REPO}/manifests/2.0"),
        ] {
            assert_error(
                c.get(&path).await,
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
            )
            .await;
        }
        // A blob of another repository is not visible through this one.
        let only_in_demo = format!("/v2/{PORT_REPO}/blobs/{}", Digest::of(b"{}"));
        assert_error(
            c.get(&only_in_demo).await,
            StatusCode::NOT_FOUND,
            "BLOB_UNKNOWN",
        )
        .await;
        for path in [
            "/v2/docker.io/library/nothing/manifests/1.0".to_owned(),
            format!("/v2/docker.io/library/nothing/blobs/{absent}"),
            "/v2/docker.io/library/nothing/tags/list".to_owned(),
            format!("/v2/docker.io/library/nothing/referrers/{absent}"),
        ] {
            assert_error(c.get(&path).await, StatusCode::NOT_FOUND, "NAME_UNKNOWN").await;
        }
        for path in [
            "/v2/Docker.io/library/demo/manifests/1.0",
            "/v2/docker.io/library/de..mo/manifests/1.0",
            "/v2/docker.io/library/demo_/tags/list",
        ] {
            assert_error(c.get(path).await, StatusCode::BAD_REQUEST, "NAME_INVALID").await;
        }
        let long = format!("/v2/docker.io/{}/manifests/1.0", "a".repeat(250));
        assert_error(c.get(&long).await, StatusCode::BAD_REQUEST, "NAME_INVALID").await;
    });
}

#[test]
fn tags_list_pagination() {
    with_server(|c| async move {
        let sig_tag = cosign_tag(&c.img.index_d, "sig");
        let all = ["0.9", "1.0", "1.0-amd64", "1.1", "latest", sig_tag.as_str()];
        let r = c.get(&format!("/v2/{REPO}/tags/list")).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
        assert!(r.headers().get(LINK).is_none());
        let v: Value = r.json().await.unwrap();
        assert_eq!(v, json!({"name": REPO, "tags": all}));

        // Follow the Link headers two at a time.
        let mut next = Some(format!("/v2/{REPO}/tags/list?n=2"));
        let mut pages = Vec::new();
        while let Some(path) = next.take() {
            let r = c.get(&path).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            next = r.headers().get(LINK).map(|l| {
                let l = l.to_str().unwrap();
                assert!(l.ends_with(">; rel=\"next\""), "{l}");
                l.trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap()
                    .to_owned()
            });
            let v: Value = r.json().await.unwrap();
            pages.push(v["tags"].clone());
            assert!(pages.len() <= 3);
        }
        assert_eq!(
            pages,
            vec![
                json!(["0.9", "1.0"]),
                json!(["1.0-amd64", "1.1"]),
                json!(["latest", sig_tag])
            ]
        );
        let r = c.get(&format!("/v2/{REPO}/tags/list?n=2")).await;
        assert_eq!(
            header(&r, "link"),
            format!("</v2/{REPO}/tags/list?n=2&last=1.0>; rel=\"next\"")
        );

        // last alone; n=0; a bad n.
        let v: Value = c
            .get(&format!("/v2/{REPO}/tags/list?last=1.1"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["tags"], json!(["latest", sig_tag]));
        let r = c.get(&format!("/v2/{REPO}/tags/list?n=0")).await;
        assert!(r.headers().get(LINK).is_none());
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["tags"], json!([]));
        assert_error(
            c.get(&format!("/v2/{REPO}/tags/list?n=two")).await,
            StatusCode::BAD_REQUEST,
            "UNSUPPORTED",
        )
        .await;
    });
}

#[test]
fn catalog_lists_every_served_name() {
    with_server(|c| async move {
        let r = c.get("/v2/_catalog").await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v, json!({"repositories": [PORT_REPO, REPO, EXTRA_REPO]}));
        let r = c.get("/v2/_catalog?n=1").await;
        assert_eq!(
            header(&r, "link"),
            format!(
                "</v2/_catalog?n=1&last={}>; rel=\"next\"",
                PORT_REPO.replace(':', "%3A").replace('/', "%2F")
            )
        );
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["repositories"], json!([PORT_REPO]));
        let r = c.get(&format!("/v2/_catalog?n=1&last={PORT_REPO}")).await;
        assert!(r.headers().get(LINK).is_some());
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["repositories"], json!([REPO]));
        let r = c.get(&format!("/v2/_catalog?n=5&last={REPO}")).await;
        assert!(r.headers().get(LINK).is_none());
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["repositories"], json!([EXTRA_REPO]));
    });
}

#[test]
fn referrers_with_and_without_filter() {
    with_server(|c| async move {
        let img = &c.img;
        let url = format!("/v2/{REPO}/referrers/{}", img.index_d);
        let r = c.get(&url).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CONTENT_TYPE], OCI_INDEX);
        assert!(r.headers().get("oci-filters-applied").is_none());
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["mediaType"], OCI_INDEX);
        assert_eq!(v["schemaVersion"], 2);
        let mut digests: Vec<&str> = v["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["digest"].as_str().unwrap())
            .collect();
        digests.sort();
        let mut want = vec![img.sig_d.to_string(), img.sbom_d.to_string()];
        want.sort();
        assert_eq!(digests, want);

        for (at, want) in [(SBOM_TYPE, img.sbom_d), (COSIGN_SIMPLESIGNING, img.sig_d)] {
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("artifactType", at)
                .finish();
            let r = c.get(&format!("{url}?{q}")).await;
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(header(&r, "oci-filters-applied"), "artifactType");
            let v: Value = r.json().await.unwrap();
            let m = v["manifests"].as_array().unwrap();
            assert_eq!(m.len(), 1, "{v}");
            assert_eq!(m[0]["digest"], want.to_string());
            assert_eq!(m[0]["artifactType"], at);
        }
        let r = c
            .get(&format!("{url}?artifactType=application/x-none"))
            .await;
        assert_eq!(header(&r, "oci-filters-applied"), "artifactType");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["manifests"], json!([]));

        // A subject with no referrers: 200 and an empty index.
        let r = c
            .get(&format!("/v2/{REPO}/referrers/{}", img.amd64_d))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CONTENT_TYPE], OCI_INDEX);
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            v,
            json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
        );
    });
}
