//! Self-tests of the OCI fixtures, independent of the mirror's code: the upstream is real
//! and valid because real `docker-registry` (CNCF distribution 2.8) accepts the pushes
//! and real `skopeo` reads back exactly the bytes the fixtures wrote.

use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mirror_e2e::oci_fixture::{
    COSIGN_SIGNATURE_ANNOTATION, COSIGN_SIMPLESIGNING, OCI_INDEX, OCI_MANIFEST, Registry,
    SBOM_ARTIFACT_TYPE, cosign_sig_tag, cosign_sign, generate_p256_keypair, referrers_fallback_tag,
    seed_registry, skopeo, skopeo_inspect,
};
use mirror_e2e::{require_tools, run_checked, run_command};
use serde_json::Value;

const OCI_TOOLS: &[&str] = &["docker-registry", "skopeo", "openssl", "curl"];

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("JSON")
}

#[test]
fn registry_serves_the_seeded_images_byte_for_byte() {
    if !require_tools(OCI_TOOLS) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::start().expect("registry");
    let seeded = seed_registry(&reg, tmp.path()).expect("seed");

    // By tag and by digest, the registry returns exactly the manifest the fixture wrote.
    for (repo, tag, bytes, digest) in [
        (
            "team/app",
            "1.0",
            &seeded.app.manifest_bytes,
            &seeded.app.manifest.digest,
        ),
        (
            "team/multi",
            "2.0",
            &seeded.multi.index_bytes,
            &seeded.multi.index.digest,
        ),
        (
            "team/withref",
            "1.0",
            &seeded.withref.manifest_bytes,
            &seeded.withref.manifest.digest,
        ),
    ] {
        let by_tag = skopeo_inspect(&reg.docker_ref(&format!("{repo}:{tag}")), true, None).unwrap();
        by_tag.assert_success();
        assert_eq!(by_tag.stdout.as_bytes(), bytes.as_slice(), "{repo}:{tag}");
        let by_digest =
            skopeo_inspect(&reg.docker_ref(&format!("{repo}@{digest}")), true, None).unwrap();
        by_digest.assert_success();
        assert_eq!(
            by_digest.stdout.as_bytes(),
            bytes.as_slice(),
            "{repo}@{digest}"
        );
        let r = reg.get_manifest(repo, tag).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("Docker-Content-Digest").as_deref(),
            Some(digest.as_str())
        );
    }

    // Non-raw inspect resolves the image config: amd64, one layer.
    let app = skopeo_inspect(&reg.docker_ref("team/app:1.0"), false, None).unwrap();
    app.assert_success();
    let v: Value = serde_json::from_str(&app.stdout).unwrap();
    assert_eq!(v["Architecture"], "amd64");
    assert_eq!(v["Digest"], seeded.app.manifest.digest);
    assert_eq!(v["Layers"].as_array().unwrap().len(), 1);

    // The index: two platforms, one shared layer.
    let idx = json(&seeded.multi.index_bytes);
    assert_eq!(idx["mediaType"], OCI_INDEX);
    let plats: Vec<String> = idx["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap(),
                m["platform"]["architecture"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(plats, ["linux/amd64", "linux/arm64"]);
    let amd = &seeded.multi.children[0].1;
    let arm = &seeded.multi.children[1].1;
    assert_eq!(amd.layers[0], seeded.multi.shared_layer);
    assert_eq!(arm.layers[0], seeded.multi.shared_layer);
    assert_ne!(
        amd.layers[1], arm.layers[1],
        "each platform has its own layer"
    );
    for (arch, child) in [("amd64", amd), ("arm64", arm)] {
        let out = skopeo_inspect(
            &reg.docker_ref(&format!("team/multi@{}", child.manifest.digest)),
            true,
            None,
        )
        .unwrap();
        out.assert_success();
        assert_eq!(
            out.stdout.as_bytes(),
            child.manifest_bytes.as_slice(),
            "{arch}"
        );
    }
    // skopeo picks a platform from the index and pulls its layers.
    let out_dir = tmp.path().join("arm64-copy");
    run_checked(
        skopeo()
            .args([
                "--override-arch",
                "arm64",
                "--override-os",
                "linux",
                "copy",
                "--src-tls-verify=false",
            ])
            .arg(reg.docker_ref("team/multi:2.0"))
            .arg(format!("dir:{}", out_dir.display())),
    )
    .expect("skopeo copy arm64");
    let copied = std::fs::read(out_dir.join("manifest.json")).unwrap();
    assert_eq!(copied, arm.manifest_bytes);

    // The referrer: by digest, with subject = the image, and the fallback tag lists it.
    let r = reg
        .get_manifest("team/withref", &seeded.referrer.digest)
        .unwrap();
    assert_eq!(r.status, 200);
    let m = json(&r.body);
    assert_eq!(m["artifactType"], SBOM_ARTIFACT_TYPE);
    assert_eq!(m["subject"]["digest"], seeded.withref.manifest.digest);
    let fb = reg
        .get_manifest(
            "team/withref",
            &referrers_fallback_tag(&seeded.withref.manifest.digest),
        )
        .unwrap();
    assert_eq!(fb.status, 200);
    let fb = json(&fb.body);
    assert_eq!(fb["manifests"][0]["digest"], seeded.referrer.digest);
    assert_eq!(fb["manifests"][0]["artifactType"], SBOM_ARTIFACT_TYPE);
    let sbom_tag = format!(
        "{}.sbom",
        referrers_fallback_tag(&seeded.withref.manifest.digest)
    );
    let sbom = reg.get_manifest("team/withref", &sbom_tag).unwrap();
    assert_eq!(sbom.status, 200);
    assert_eq!(
        sbom.header("Docker-Content-Digest").as_deref(),
        Some(seeded.referrer.digest.as_str())
    );
}

#[test]
fn cosign_signature_names_the_digest_and_verifies_with_openssl() {
    if !require_tools(OCI_TOOLS) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::start().expect("registry");
    let seeded = seed_registry(&reg, tmp.path()).expect("seed");
    let key = generate_p256_keypair(&tmp.path().join("keys"), "cosign").unwrap();
    let digest = &seeded.app.manifest.digest;
    let sig_desc = cosign_sign(&reg, "team/app", digest, &key.private).expect("sign");

    let tag = cosign_sig_tag(digest);
    assert!(tag.starts_with("sha256-") && tag.ends_with(".sig"));
    let r = reg.get_manifest("team/app", &tag).unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.header("Docker-Content-Digest").as_deref(),
        Some(sig_desc.digest.as_str())
    );
    let m = json(&r.body);
    assert_eq!(m["mediaType"], OCI_MANIFEST);
    let layer = &m["layers"][0];
    assert_eq!(layer["mediaType"], COSIGN_SIMPLESIGNING);
    let sig_b64 = layer["annotations"][COSIGN_SIGNATURE_ANNOTATION]
        .as_str()
        .expect("signature annotation");

    // Fetch the payload blob through the registry and check what it names.
    let payload = mirror_e2e::oci_fixture::curl_request(
        "GET",
        &format!(
            "{}/v2/team/app/blobs/{}",
            reg.url,
            layer["digest"].as_str().unwrap()
        ),
        &[],
        None,
    )
    .unwrap();
    assert_eq!(payload.status, 200);
    let p = json(&payload.body);
    assert_eq!(p["critical"]["image"]["docker-manifest-digest"], *digest);
    assert_eq!(
        p["critical"]["identity"]["docker-reference"],
        format!("{}/team/app", reg.host)
    );
    assert_eq!(p["critical"]["type"], "cosign container image signature");

    // The signature verifies with the public key (real openssl), and not with another.
    let payload_file = tmp.path().join("payload.json");
    let sig_file = tmp.path().join("payload.sig");
    std::fs::write(&payload_file, &payload.body).unwrap();
    std::fs::write(&sig_file, STANDARD.decode(sig_b64).unwrap()).unwrap();
    let verify = |pubkey: &std::path::Path| {
        run_command(
            Command::new("openssl")
                .args(["dgst", "-sha256", "-verify"])
                .arg(pubkey)
                .arg("-signature")
                .arg(&sig_file)
                .arg(&payload_file),
        )
        .unwrap()
    };
    verify(&key.public).assert_success();
    let other = generate_p256_keypair(&tmp.path().join("keys"), "other").unwrap();
    verify(&other.public).assert_failure();
}

#[test]
fn token_auth_registry_refuses_anonymous_and_accepts_credentials() {
    if !require_tools(OCI_TOOLS) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::start_with_token_auth("mirror", "s3cret-pass").expect("auth registry");
    let creds = reg.creds().unwrap();
    // Pushing needs the credentials (skopeo --dest-creds through the token realm).
    let seeded = seed_registry(&reg, tmp.path()).expect("seed with credentials");

    // Anonymous: the registry challenges with the token realm, which refuses.
    let anon = mirror_e2e::oci_fixture::curl_request(
        "GET",
        &format!("{}/v2/team/app/manifests/1.0", reg.url),
        &[],
        None,
    )
    .unwrap();
    assert_eq!(anon.status, 401);
    let challenge = anon.header("WWW-Authenticate").expect("challenge");
    assert!(challenge.starts_with("Bearer realm="), "{challenge}");
    assert!(
        challenge.contains("repository:team/app:pull"),
        "{challenge}"
    );
    skopeo_inspect(&reg.docker_ref("team/app:1.0"), true, None)
        .unwrap()
        .assert_failure();
    // Wrong password: refused too.
    skopeo_inspect(&reg.docker_ref("team/app:1.0"), true, Some("mirror:wrong"))
        .unwrap()
        .assert_failure();
    // The right credentials: the exact bytes.
    let ok = skopeo_inspect(&reg.docker_ref("team/app:1.0"), true, Some(&creds)).unwrap();
    ok.assert_success();
    assert_eq!(ok.stdout.as_bytes(), seeded.app.manifest_bytes.as_slice());
    let ok = skopeo_inspect(&reg.docker_ref("team/multi:2.0"), true, Some(&creds)).unwrap();
    ok.assert_success();
    assert_eq!(ok.stdout.as_bytes(), seeded.multi.index_bytes.as_slice());

    // A token for another repository does not open this one.
    let auth = reg.auth.as_ref().unwrap();
    let other = auth
        .mint("mirror", &[("repository", "team/other", &["pull"])])
        .unwrap();
    let r = mirror_e2e::oci_fixture::curl_request(
        "GET",
        &format!("{}/v2/team/app/manifests/1.0", reg.url),
        &[format!("Authorization: Bearer {other}")],
        None,
    )
    .unwrap();
    assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));

    // Signatures can be pushed to the auth registry as well.
    let key = generate_p256_keypair(&tmp.path().join("keys"), "cosign").unwrap();
    cosign_sign(&reg, "team/app", &seeded.app.manifest.digest, &key.private).unwrap();
    let sig = skopeo_inspect(
        &reg.docker_ref(&format!(
            "team/app:{}",
            cosign_sig_tag(&seeded.app.manifest.digest)
        )),
        true,
        Some(&creds),
    )
    .unwrap();
    sig.assert_success();
}
