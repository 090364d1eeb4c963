//! The edges of `/v2`: push methods refused with 405, `ns=` mapped to the registry,
//! Docker Hub's default registry and `library/` prefix, 503 with no snapshot, and the
//! client configuration for the served registries.

use super::*;
use crate::common::{Fixture, Import};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[test]
fn push_methods_are_405_unsupported() {
    with_server(|c| async move {
        let b = &c.base;
        let requests = [
            c.client
                .put(format!("{b}/v2/{REPO}/manifests/1.0"))
                .body("{}"),
            c.client.post(format!("{b}/v2/{REPO}/blobs/uploads/")),
            c.client.patch(format!("{b}/v2/{REPO}/blobs/uploads/x")),
            c.client
                .delete(format!("{b}/v2/{REPO}/manifests/{}", c.img.index_d)),
            c.client
                .delete(format!("{b}/v2/{REPO}/blobs/{}", c.img.layer_d)),
            c.client.post(format!("{b}/v2/")),
        ];
        for req in requests {
            let r = req.send().await.unwrap();
            assert_eq!(r.headers()["allow"], "GET, HEAD");
            assert_error(r, StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED").await;
        }
        // Nothing changed.
        let r = c.get(&format!("/v2/{REPO}/manifests/1.0")).await;
        assert_eq!(r.bytes().await.unwrap().as_ref(), c.img.index.as_slice());
    });
}

#[test]
fn ns_query_maps_to_the_registry() {
    with_server(|c| async move {
        let img = &c.img;
        let r = c.get("/v2/team/app/manifests/v1?ns=127.0.0.1:5000").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "docker-content-digest"), img.amd64_d.to_string());
        assert_eq!(r.bytes().await.unwrap().as_ref(), img.amd64.as_slice());
        // Percent-encoded ':' in ns works too (containerd encodes the query).
        let r = c
            .get(&format!(
                "/v2/team/app/blobs/{}?ns=127.0.0.1%3A5000",
                img.layer_d
            ))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.unwrap().as_ref(), img.layer.as_slice());
        let r = c.get("/v2/library/demo/manifests/1.0?ns=docker.io").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.unwrap().as_ref(), img.index.as_slice());
        let r = c.get("/v2/org/tool/tags/list?ns=ghcr.example").await;
        let v: Value = r.json().await.unwrap();
        assert_eq!(v, json!({"name": "org/tool", "tags": ["v1"]}));
        // The served name itself, with the port mapped to "__".
        let r = c.get(&format!("/v2/{PORT_REPO}/manifests/v1")).await;
        assert_eq!(r.status(), StatusCode::OK);
        // ns names a registry that is not served, or is not a registry.
        assert_error(
            c.get("/v2/team/app/manifests/v1?ns=other.example").await,
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
        )
        .await;
        assert_error(
            c.get("/v2/team/app/manifests/v1?ns=a/b").await,
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
        )
        .await;
    });
}

#[test]
fn docker_hub_default_and_library_prefix() {
    with_server(|c| async move {
        let img = &c.img;
        for path in ["/v2/demo/manifests/1.0", "/v2/library/demo/manifests/1.0"] {
            let r = c.get(path).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert_eq!(header(&r, "docker-content-digest"), img.index_d.to_string());
            assert_eq!(r.bytes().await.unwrap().as_ref(), img.index.as_slice());
        }
        let r = c.get(&format!("/v2/demo/blobs/{}", img.layer_d)).await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = c.get("/v2/demo/tags/list?n=1").await.json().await.unwrap();
        assert_eq!(v, json!({"name": "demo", "tags": ["0.9"]}));
        // docker.io/<user>/<repo> without library/.
        assert_error(
            c.get("/v2/someone/demo/manifests/1.0").await,
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
        )
        .await;
    });
}

#[test]
fn no_snapshot_is_503_but_version_check_answers() {
    let fx = Fixture::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let handle = mirror_server::serve::start(fx.store.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let base = format!("http://{}", handle.addr);
        let r = reqwest::get(format!("{base}/v2/")).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = reqwest::get(format!("{base}/v2/demo/manifests/1.0"))
            .await
            .unwrap();
        assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE").await;
        handle.shutdown().await;
    });
}

#[test]
fn client_config_for_served_registries() {
    let fx = Fixture::new();
    let (_, files) = build();
    let drive = fx.oci_drive(
        "drive",
        1,
        &files,
        &["docker.io", "127.0.0.1:5000", "ghcr.example"],
    );
    fx.import(&drive, &[]).unwrap();
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mirror-server"))
            .arg("client-config")
            .arg("--store")
            .arg(&fx.store)
            .args(["--listen-url", "http://127.0.0.1:8080"])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let text = run(&[]);
    for want in [
        "### containerd: /etc/containerd/certs.d/127.0.0.1:5000/hosts.toml",
        "### containerd: /etc/containerd/certs.d/docker.io/hosts.toml",
        "### containerd: /etc/containerd/certs.d/ghcr.example/hosts.toml",
        "server = \"https://127.0.0.1:5000\"",
        "[host.\"http://127.0.0.1:8080\"]",
        "\"registry-mirrors\": [\n    \"http://127.0.0.1:8080\"\n  ]",
        "location = \"127.0.0.1:8080/127.0.0.1__5000\"",
        "insecure = true",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    let v: Value = serde_json::from_str(&run(&["--json"])).unwrap();
    let oci = &v["oci"];
    assert_eq!(
        oci["registries"],
        json!(["127.0.0.1:5000", "docker.io", "ghcr.example"])
    );
    assert_eq!(oci["containerd"].as_array().unwrap().len(), 3);
    assert_eq!(
        oci["docker"]["daemon_json"],
        json!({"registry-mirrors": ["http://127.0.0.1:8080"]})
    );
    let conf: toml::Value =
        toml::from_str(oci["podman"]["registries_conf"].as_str().unwrap()).unwrap();
    assert_eq!(conf["registry"].as_array().unwrap().len(), 3);
    // Every file with its suggested path; an images-only snapshot gets no apt or pip files,
    // and says so instead of refusing.
    let kinds: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["containerd", "containerd", "containerd", "docker", "podman"]
    );
    assert_eq!(v["apt"], json!([]));
    assert_eq!(v["pypi_index_url"], Value::Null);
    let notes = v["notes"].to_string();
    assert!(notes.contains("no APT repository is served"), "{notes}");
    assert!(notes.contains("no Python index is served"), "{notes}");

    // Without a store and without --registry: a clear error, and with --json a JSON
    // error document on stdout.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mirror-server"))
        .args([
            "client-config",
            "--listen-url",
            "http://127.0.0.1:8080",
            "--json",
        ])
        .env_remove("MIRROR_SERVER_STORE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to configure"));
    let e: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["ok"], json!(false));
    assert!(e["error"].as_str().unwrap().contains("--store"), "{e}");
}
