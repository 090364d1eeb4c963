//! OCI end to end, offline: a real `docker-registry` (CNCF distribution 2.8) seeded with
//! images this test writes byte-for-byte and pushes with `skopeo`, cosign-style
//! signatures made with the real `openssl` CLI, then `mirror-sync sync` + `export`,
//! `mirror-server import` + `serve`, and real clients pulling from the server: `skopeo
//! copy` / `inspect` and `podman pull`, plus `skopeo copy` straight off the drive (an OCI
//! image layout).
//!
//! Served repository names are `<registry>/<path>` with the registry's `:` mapped to
//! `__` (`127.0.0.1:5000/team/app` -> `127.0.0.1__5000/team/app`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use formats::snapshot::ArtifactKind;
use mirror_e2e::oci_fixture::{
    COSIGN_SIMPLESIGNING, KeyPair, OCI_CONFIG, OCI_INDEX, OciLayout, Registry, SBOM_ARTIFACT_TYPE,
    Seeded, cosign_sign, cosign_sign_naming, curl_request, generate_p256_keypair, seed_registry,
    skopeo, skopeo_inspect, skopeo_push,
};
use mirror_e2e::product::{import_drive, read_manifest, s, serve, server_cli, sync_cli, sync_json};
use mirror_e2e::{Output, find_in_path, require_tools, run_command};
use serde_json::Value;

mod referrers;

const OCI_TOOLS: &[&str] = &["docker-registry", "skopeo", "openssl", "curl"];

/// `<registry>/<path>` as served: the registry's `:` becomes `__`.
fn served(registry_host: &str, path: &str) -> String {
    format!("{}/{path}", registry_host.replace(':', "__"))
}

/// The upstream registry, its seeded images, the cosign key and scratch space.
struct World {
    tmp: tempfile::TempDir,
    reg: Registry,
    seeded: Seeded,
    cosign: KeyPair,
}

impl World {
    fn path(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }

    /// Writes `mirror.toml` with one `[[oci]]` upstream for this registry and returns it.
    /// `extra` lines go into the `[[oci]]` table; `verify` adds the `[oci.verify]` rule
    /// requiring `team/*` to be signed with `keys/cosign.pub`.
    fn config(&self, images: &[&str], platforms: &[&str], extra: &str, verify: bool) -> PathBuf {
        let list = |v: &[&str]| {
            v.iter()
                .map(|i| format!("{i:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let config = self.path("mirror.toml");
        std::fs::write(
            &config,
            format!(
                r#"
store = "store"
channel = "oci-test"

[signing]
snapshot_key = "keys/snapshot.key"
repo_key = "keys/repo.key.asc"

[[oci]]
name = "local"
registry = "{host}"
url = "{url}"
images = [{images}]
platforms = [{platforms}]
{extra}
{verify}
"#,
                host = self.reg.host,
                url = self.reg.url,
                images = list(images),
                platforms = list(platforms),
                verify = if verify {
                    format!(
                        "[oci.verify]\n\"{}/team/*\" = {{ keys = [\"keys/cosign.pub\"], required = true }}",
                        self.reg.host
                    )
                } else {
                    String::new()
                },
            ),
        )
        .unwrap();
        config
    }
}

/// Starts the upstream registry (token auth when `auth` is `Some((user, password))`),
/// seeds it, generates the snapshot keys and a cosign key (public half at
/// `keys/cosign.pub`), and signs every seeded image with it.
fn world(auth: Option<(&str, &str)>) -> Option<World> {
    if !require_tools(OCI_TOOLS) {
        return None;
    }
    let tmp = tempfile::Builder::new()
        .prefix("mirror-oci-e2e-")
        .tempdir()
        .unwrap();
    let reg = match auth {
        Some((u, p)) => Registry::start_with_token_auth(u, p).expect("auth registry"),
        None => Registry::start().expect("registry"),
    };
    let seeded = seed_registry(&reg, tmp.path()).expect("seed the registry");
    let keys = tmp.path().join("keys");
    sync_cli(&["keys", "generate", "--out", s(&keys)]).expect("keys generate");
    let cosign = generate_p256_keypair(&keys, "cosign").expect("cosign key");
    for (repo, digest) in [
        ("team/app", &seeded.app.manifest.digest),
        ("team/multi", &seeded.multi.index.digest),
        ("team/withref", &seeded.withref.manifest.digest),
    ] {
        cosign_sign(&reg, repo, digest, &cosign.private).expect("cosign sign");
    }
    Some(World {
        tmp,
        reg,
        seeded,
        cosign,
    })
}

/// Sync, export and import into a fresh server store; returns (drive, server store).
fn sync_export_import(w: &World, config: &Path) -> (PathBuf, PathBuf, Value) {
    let (r, summary) = sync_json(config);
    r.unwrap_or_else(|e| panic!("sync: {e:#}\n{summary}"));
    let drive = w.path("drive");
    sync_cli(&["export", "--config", s(config), "--to", s(&drive)]).expect("export");
    let store = w.path("server-store");
    import_drive(&drive, &store, &w.path("keys/trusted")).expect("import");
    (drive, store, summary)
}

/// `skopeo copy --preserve-digests` from the server (plain HTTP) into an OCI layout;
/// `extra` goes before `copy` (global options such as `--override-arch`).
fn skopeo_copy_from(extra: &[&str], src: &str, dest_layout: &Path) -> Output {
    run_command(
        skopeo()
            .args(extra)
            .args(["copy", "--preserve-digests", "--src-tls-verify=false"])
            .arg(src)
            .arg(format!("oci:{}:x", dest_layout.display())),
    )
    .unwrap()
}

/// The digest of the single `x` entry in a layout's `index.json`.
fn layout_digest(layout: &Path) -> String {
    let v: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let m = v["manifests"].as_array().expect("manifests");
    assert_eq!(m.len(), 1, "{v}");
    m[0]["digest"].as_str().unwrap().to_owned()
}

#[test]
fn oci_sync_export_import_serve_and_pull_with_real_clients() {
    let Some(w) = world(None) else { return };
    let config = w.config(
        &["team/app:1.0", "team/multi:2.0", "team/withref:1.0"],
        &["linux/amd64"],
        "",
        false,
    );
    let (drive, store, summary) = sync_export_import(&w, &config);
    eprintln!("sync summary: {summary}");
    let host = &w.reg.host;
    let app_repo = served(host, "team/app");
    let multi_repo = served(host, "team/multi");
    let withref_repo = served(host, "team/withref");
    let app = &w.seeded.app;
    let multi = &w.seeded.multi;
    let amd = &multi.children[0].1;
    let arm = &multi.children[1].1;

    // The snapshot manifest records what was synced, with the original references.
    let m = read_manifest(&drive).1;
    let by_path: BTreeMap<&str, _> = m.artifacts.iter().map(|a| (a.path.as_str(), a)).collect();
    let tag = by_path
        .get(format!("v2/{app_repo}/manifests/1.0").as_str())
        .expect("app tag in the snapshot");
    assert_eq!(tag.kind, ArtifactKind::OciTag);
    assert_eq!(tag.digest.to_string(), app.manifest.digest);
    assert_eq!(
        tag.meta.reference.as_deref(),
        Some(format!("{host}/team/app:1.0").as_str())
    );
    let idx = by_path
        .get(format!("v2/{multi_repo}/manifests/{}", multi.index.digest).as_str())
        .expect("multi index in the snapshot");
    assert_eq!(idx.kind, ArtifactKind::OciManifest);
    assert_eq!(idx.media_type.as_deref(), Some(OCI_INDEX));
    assert!(
        !idx.meta.omitted.is_empty(),
        "the arm64 child is recorded as omitted"
    );
    assert!(
        by_path.contains_key(format!("v2/{multi_repo}/manifests/{}", amd.manifest.digest).as_str())
    );
    assert!(
        !by_path
            .contains_key(format!("v2/{multi_repo}/manifests/{}", arm.manifest.digest).as_str()),
        "the filtered-out platform is not in the snapshot"
    );
    for l in &arm.layers[1..] {
        assert!(!m.artifacts.iter().any(|a| a.digest.to_string() == l.digest));
    }
    // Drive blobs hash to their names (one CAS for everything).
    for a in &m.artifacts {
        let blob = drive.join("blobs/sha256").join(a.digest.hex());
        assert!(blob.is_file(), "{} missing for {}", blob.display(), a.path);
    }

    // The drive is an OCI image layout with the original references.
    let layout: Value =
        serde_json::from_slice(&std::fs::read(drive.join("oci-layout")).unwrap()).unwrap();
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    let index: Value =
        serde_json::from_slice(&std::fs::read(drive.join("index.json")).unwrap()).unwrap();
    let names: BTreeSet<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .map(str::to_owned)
        .collect();
    for n in ["team/app:1.0", "team/multi:2.0", "team/withref:1.0"] {
        assert!(
            names.contains(&format!("{host}/{n}")),
            "{n} not in {names:?}"
        );
    }
    // skopeo reads the drive directly; the reference keeps the original host:port.
    let dir_copy = w.path("from-drive");
    run_command(
        skopeo()
            .arg("copy")
            .arg(format!("oci:{}:{host}/team/app:1.0", drive.display()))
            .arg(format!("dir:{}", dir_copy.display())),
    )
    .unwrap()
    .assert_success();
    assert_eq!(
        std::fs::read(dir_copy.join("manifest.json")).unwrap(),
        app.manifest_bytes
    );

    let (rt, handle, addr) = serve(&store);
    let server = format!("127.0.0.1:{}", addr.port());

    // By tag and by digest: the digests are upstream's.
    let by_tag = w.path("pull-tag");
    skopeo_copy_from(&[], &format!("docker://{server}/{app_repo}:1.0"), &by_tag).assert_success();
    assert_eq!(layout_digest(&by_tag), app.manifest.digest);
    let by_digest = w.path("pull-digest");
    skopeo_copy_from(
        &[],
        &format!("docker://{server}/{app_repo}@{}", app.manifest.digest),
        &by_digest,
    )
    .assert_success();
    assert_eq!(layout_digest(&by_digest), app.manifest.digest);
    for l in &app.layers {
        let got = std::fs::read(by_digest.join("blobs/sha256").join(l.hex())).unwrap();
        assert_eq!(got.len() as u64, l.size);
    }

    // The index bytes are unchanged; amd64 is served, arm64 was filtered out.
    let raw = skopeo_inspect(&format!("docker://{server}/{multi_repo}:2.0"), true, None).unwrap();
    raw.assert_success();
    assert_eq!(raw.stdout.as_bytes(), multi.index_bytes.as_slice());
    let amd_out = w.path("pull-amd64");
    skopeo_copy_from(
        &["--override-os", "linux", "--override-arch", "amd64"],
        &format!("docker://{server}/{multi_repo}:2.0"),
        &amd_out,
    )
    .assert_success();
    assert_eq!(layout_digest(&amd_out), amd.manifest.digest);
    let arm_out = skopeo_copy_from(
        &["--override-os", "linux", "--override-arch", "arm64"],
        &format!("docker://{server}/{multi_repo}:2.0"),
        &w.path("pull-arm64"),
    );
    arm_out.assert_failure();
    assert!(
        arm_out
            .combined()
            .to_lowercase()
            .contains("manifest unknown"),
        "{arm_out}"
    );

    // skopeo inspect (config resolved through the server).
    let insp = skopeo_inspect(&format!("docker://{server}/{app_repo}:1.0"), false, None).unwrap();
    insp.assert_success();
    let v: Value = serde_json::from_str(&insp.stdout).unwrap();
    assert_eq!(v["Digest"], app.manifest.digest);
    assert_eq!(v["Architecture"], "amd64");

    // Referrers: the OCI 1.1 referrer and the cosign signature, with artifactType filter.
    let refs = curl_request(
        "GET",
        &format!(
            "http://{server}/v2/{withref_repo}/referrers/{}",
            w.seeded.withref.manifest.digest
        ),
        &[],
        None,
    )
    .unwrap();
    assert_eq!(refs.status, 200);
    let rv: Value = serde_json::from_slice(&refs.body).unwrap();
    let types: BTreeSet<&str> = rv["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["artifactType"].as_str())
        .collect();
    assert!(types.contains(SBOM_ARTIFACT_TYPE), "{rv}");
    // The cosign signature has no artifactType: it is listed with its config's media type
    // (distribution-spec §Listing Referrers), not its simple-signing layer's.
    assert!(types.contains(OCI_CONFIG), "{rv}");
    assert!(!types.contains(COSIGN_SIMPLESIGNING), "{rv}");
    assert!(
        rv["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["digest"] == w.seeded.referrer.digest),
        "{rv}"
    );
    let filtered = curl_request(
        "GET",
        &format!(
            "http://{server}/v2/{withref_repo}/referrers/{}?artifactType={}",
            w.seeded.withref.manifest.digest,
            SBOM_ARTIFACT_TYPE.replace('+', "%2B")
        ),
        &[],
        None,
    )
    .unwrap();
    let fv: Value = serde_json::from_slice(&filtered.body).unwrap();
    assert_eq!(fv["manifests"].as_array().map(Vec::len), Some(1), "{fv}");

    // podman pull (pull only: `podman run` is refused by this sandbox's setrlimit).
    podman_pull(&w, &server, &app_repo, &app.manifest.digest);

    rt.block_on(handle.shutdown());
}

/// `podman pull --tls-verify=false` into private storage, then the image's digest must
/// be upstream's. Skipped with a printed reason when podman cannot run here.
fn podman_pull(w: &World, server: &str, repo: &str, digest: &str) {
    if find_in_path("podman").is_none() {
        eprintln!("skipping podman: not installed");
        return;
    }
    let root = w.path("podman-root");
    let runroot = w.path("podman-runroot");
    let podman = |args: &[&str]| {
        run_command(
            Command::new("podman")
                .env_remove("HTTP_PROXY")
                .env_remove("HTTPS_PROXY")
                .arg("--root")
                .arg(&root)
                .arg("--runroot")
                .arg(&runroot)
                .args(["--storage-driver", "vfs", "--events-backend", "file"])
                .args(args),
        )
        .unwrap()
    };
    let info = podman(&["info"]);
    if !info.success() {
        eprintln!("skipping podman: `podman info` fails in this sandbox:\n{info}");
        return;
    }
    let image = format!("{server}/{repo}:1.0");
    podman(&["pull", "--tls-verify=false", &image]).assert_success();
    let got = podman(&["image", "inspect", "--format", "{{.Digest}}", &image]);
    got.assert_success();
    assert_eq!(got.stdout.trim(), digest);
}

#[test]
fn shared_layers_are_stored_once() {
    let Some(w) = world(None) else { return };
    // The same two-platform index in a second repository: every blob is shared.
    skopeo_push(
        &w.seeded.layout,
        "multi-2.0",
        &format!("{}/team/copy:2.0", w.reg.host),
        None,
    )
    .unwrap();
    cosign_sign(
        &w.reg,
        "team/copy",
        &w.seeded.multi.index.digest,
        &w.cosign.private,
    )
    .unwrap();
    let config = w.config(&["team/multi:2.0", "team/copy:2.0"], &[], "", false);
    let (r, summary) = sync_json(&config);
    r.unwrap_or_else(|e| panic!("sync: {e:#}\n{summary}"));
    let drive = w.path("drive");
    sync_cli(&["export", "--config", s(&config), "--to", s(&drive)]).expect("export");
    let m = read_manifest(&drive).1;
    // The images' blobs: 2 configs + 2 own layers + 1 shared layer (the signatures'
    // blobs differ per repository and are left out of this count).
    let image_blobs: BTreeSet<String> = w
        .seeded
        .multi
        .children
        .iter()
        .flat_map(|(_, c)| std::iter::once(&c.config).chain(&c.layers))
        .map(|d| d.digest.clone())
        .collect();
    assert_eq!(image_blobs.len(), 5);
    let blob_paths: Vec<_> = m
        .artifacts
        .iter()
        .filter(|a| a.kind == ArtifactKind::OciBlob && image_blobs.contains(&a.digest.to_string()))
        .collect();
    let unique: BTreeSet<String> = blob_paths.iter().map(|a| a.digest.to_string()).collect();
    assert_eq!(unique, image_blobs);
    assert_eq!(blob_paths.len(), 10, "each repository lists its 5 blobs");
    let shared = &w.seeded.multi.shared_layer;
    assert!(unique.contains(&shared.digest));
    assert!(drive.join("blobs/sha256").join(shared.hex()).is_file());
    // Nothing was downloaded twice: at most one fetch per distinct digest.
    let distinct_oci: BTreeSet<String> = m
        .artifacts
        .iter()
        .filter(|a| matches!(a.kind, ArtifactKind::OciBlob | ArtifactKind::OciManifest))
        .map(|a| a.digest.to_string())
        .collect();
    let fetched = summary["files_fetched"].as_u64().unwrap_or(u64::MAX);
    assert!(
        fetched <= distinct_oci.len() as u64,
        "fetched {fetched} files for {} distinct digests: {summary}",
        distinct_oci.len()
    );
    let share = 1.0 - unique.len() as f64 / blob_paths.len() as f64;
    eprintln!(
        "blob references {}, stored {}, share deduplicated {:.0}%; sync summary {summary}",
        blob_paths.len(),
        unique.len(),
        share * 100.0
    );
}

#[test]
fn signature_policy_refuses_unsigned_wrong_key_and_wrong_digest() {
    let Some(w) = world(None) else { return };
    let mut layout = OciLayout::create(&w.path("policy-layout")).unwrap();
    let unsigned = layout
        .single_image("unsigned", "nobody signed me\n")
        .unwrap();
    let wrongkey = layout
        .single_image("wrongkey", "signed by a stranger\n")
        .unwrap();
    let otherdigest = layout
        .single_image("otherdigest", "my signature names another image\n")
        .unwrap();
    for (tag, repo) in [
        ("unsigned", "team/unsigned"),
        ("wrongkey", "team/wrongkey"),
        ("otherdigest", "team/otherdigest"),
    ] {
        skopeo_push(
            &layout.dir,
            tag,
            &format!("{}/{repo}:1.0", w.reg.host),
            None,
        )
        .unwrap();
    }
    let stranger = generate_p256_keypair(&w.path("stranger"), "stranger").unwrap();
    cosign_sign(
        &w.reg,
        "team/wrongkey",
        &wrongkey.manifest.digest,
        &stranger.private,
    )
    .unwrap();
    // Signed with the right key, but the payload names team/app's digest.
    cosign_sign_naming(
        &w.reg,
        "team/otherdigest",
        &otherdigest.manifest.digest,
        &w.seeded.app.manifest.digest,
        &w.cosign.private,
    )
    .unwrap();
    let config = w.config(
        &[
            "team/app:1.0",
            "team/unsigned:1.0",
            "team/wrongkey:1.0",
            "team/otherdigest:1.0",
        ],
        &["linux/amd64"],
        "",
        true,
    );
    let (r, summary) = sync_json(&config);
    let err = r.expect_err("images refused by the policy make the sync fail");
    let msg = format!("{err:#}");
    let refused: Vec<String> = summary["upstreams"][0]["report"]["refused"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for repo in ["team/unsigned", "team/wrongkey", "team/otherdigest"] {
        assert!(
            refused.iter().any(|r| r.contains(repo)) && msg.contains(repo),
            "{repo} must be refused: {refused:?} / {msg}"
        );
    }
    assert!(
        !refused.iter().any(|r| r.contains("team/app")),
        "team/app is properly signed: {refused:?}"
    );
    // The refused images are not in the snapshot; the signed one is.
    let drive = w.path("drive");
    sync_cli(&["export", "--config", s(&config), "--to", s(&drive)]).expect("export");
    let m = read_manifest(&drive).1;
    let host = &w.reg.host;
    assert!(
        m.artifacts
            .iter()
            .any(|a| a.path == format!("v2/{}/manifests/1.0", served(host, "team/app")))
    );
    for (repo, img) in [
        ("team/unsigned", &unsigned),
        ("team/wrongkey", &wrongkey),
        ("team/otherdigest", &otherdigest),
    ] {
        let prefix = format!("v2/{}/", served(host, repo));
        assert!(
            !m.artifacts.iter().any(|a| a.path.starts_with(&prefix)),
            "{repo} must not be in the snapshot"
        );
        for l in &img.layers {
            assert!(!m.artifacts.iter().any(|a| a.digest.to_string() == l.digest));
        }
    }
    // The signed image records who signed it.
    let app_manifest = m
        .artifacts
        .iter()
        .find(|a| {
            a.path
                == format!(
                    "v2/{}/manifests/{}",
                    served(host, "team/app"),
                    w.seeded.app.manifest.digest
                )
        })
        .expect("team/app manifest");
    assert!(!app_manifest.meta.signed_by.is_empty(), "{app_manifest:?}");
}

#[test]
fn sync_through_token_auth_with_credentials() {
    let Some(w) = world(Some(("mirror", "s3cret-pass"))) else {
        return;
    };
    // Without credentials the upstream refuses us: the upstream fails.
    let config = w.config(&["team/app:1.0"], &[], "", false);
    let (r, summary) = sync_json(&config);
    assert!(r.is_err(), "anonymous sync must fail: {summary}");
    assert_eq!(summary["failed"][0], "local", "{summary}");
    // With `credentials = "file:..."` (`user:password`), it works. A file rather than
    // `env:` keeps this test from mutating the process environment other tests share.
    std::fs::write(w.path("registry-creds"), w.reg.creds().unwrap()).unwrap();
    let config = w.config(
        &["team/app:1.0", "team/multi:2.0"],
        &["linux/amd64"],
        r#"credentials = "file:registry-creds""#,
        false,
    );
    let (drive, store, _) = sync_export_import(&w, &config);
    let m = read_manifest(&drive).1;
    let app_repo = served(&w.reg.host, "team/app");
    assert!(
        m.artifacts
            .iter()
            .any(|a| a.path == format!("v2/{app_repo}/manifests/1.0"))
    );
    // The password never reaches the drive or the sync store.
    for dir in [drive.clone(), w.path("store")] {
        for f in files_under(&dir) {
            let bytes = std::fs::read(&f).unwrap();
            assert!(
                !bytes.windows(11).any(|x| x == b"s3cret-pass"),
                "the password leaked into {}",
                f.display()
            );
        }
    }
    let (rt, handle, addr) = serve(&store);
    let out = w.path("pull");
    skopeo_copy_from(
        &[],
        &format!("docker://127.0.0.1:{}/{app_repo}:1.0", addr.port()),
        &out,
    )
    .assert_success();
    assert_eq!(layout_digest(&out), w.seeded.app.manifest.digest);
    rt.block_on(handle.shutdown());
}

#[test]
fn import_applies_its_own_signature_policy() {
    let Some(w) = world(None) else { return };
    let mut layout = OciLayout::create(&w.path("policy-layout")).unwrap();
    layout
        .single_image("unsigned", "nobody signed me\n")
        .unwrap();
    skopeo_push(
        &layout.dir,
        "unsigned",
        &format!("{}/team/unsigned:1.0", w.reg.host),
        None,
    )
    .unwrap();
    // mirror-sync has no policy here: both images reach the drive.
    let config = w.config(&["team/app:1.0", "team/unsigned:1.0"], &[], "", false);
    let (r, summary) = sync_json(&config);
    r.unwrap_or_else(|e| panic!("sync: {e:#}\n{summary}"));
    let drive = w.path("drive");
    sync_cli(&["export", "--config", s(&config), "--to", s(&drive)]).expect("export");

    generate_p256_keypair(&w.path("policy"), "stranger").unwrap();
    std::fs::copy(&w.cosign.public, w.path("policy/cosign.pub")).unwrap();
    let policy = |name: &str, pattern: &str, key: &str| {
        let p = w.path(&format!("policy/{name}.toml"));
        std::fs::write(
            &p,
            format!(
                "[verify]\n\"{}/{pattern}\" = {{ keys = [\"{key}\"], required = true }}\n",
                w.reg.host
            ),
        )
        .unwrap();
        p
    };
    let import = |policy: &Path, store: &Path| {
        server_cli(&[
            "import",
            s(&drive),
            "--store",
            s(store),
            "--trusted-keys",
            s(&w.path("keys/trusted")),
            "--policy",
            s(policy),
            "--quiet",
        ])
    };
    // The unsigned image is refused by a policy covering team/*.
    let store = w.path("server-store");
    let err = import(&policy("all", "team/*", "cosign.pub"), &store)
        .expect_err("unsigned image must refuse the import");
    assert!(format!("{err:#}").contains("team/unsigned"), "{err:#}");
    // A signed image whose key the policy does not trust is refused too.
    let err = import(&policy("stranger", "team/app", "stranger.pub"), &store)
        .expect_err("wrong key must refuse the import");
    assert!(format!("{err:#}").contains("team/app"), "{err:#}");
    // The right key for team/app, nothing required of the rest: accepted and served.
    import(&policy("app", "team/app", "cosign.pub"), &store).expect("import with policy");
    let (rt, handle, addr) = serve(&store);
    let out = w.path("pull");
    skopeo_copy_from(
        &[],
        &format!(
            "docker://127.0.0.1:{}/{}:1.0",
            addr.port(),
            served(&w.reg.host, "team/app")
        ),
        &out,
    )
    .assert_success();
    assert_eq!(layout_digest(&out), w.seeded.app.manifest.digest);
    rt.block_on(handle.shutdown());
}

/// Every regular file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                todo.push(e.path());
            } else if t.is_file() {
                out.push(e.path());
            }
        }
    }
    out
}

/// `credentials = "env:TEST_REGISTRY_CREDS"` through the real `mirror-sync` binary, so
/// the variable is set for that process only (never in this test process, whose
/// environment other tests share). Skipped, with a reason, when the binary is not built
/// (`cargo test -p mirror-e2e` alone does not build it; `cargo test --workspace` does).
#[test]
fn sync_with_credentials_from_the_environment() {
    let bin = match mirror_e2e::workspace_bin("mirror-sync") {
        Ok(b) => b,
        Err(e) => {
            eprintln!("skipping: {e}");
            return;
        }
    };
    let Some(w) = world(Some(("mirror", "env-pass-1"))) else {
        return;
    };
    let config = w.config(
        &["team/app:1.0"],
        &[],
        r#"credentials = "env:TEST_REGISTRY_CREDS""#,
        false,
    );
    let sync = |creds: Option<&str>| {
        let mut cmd = Command::new(&bin);
        cmd.env_remove("TEST_REGISTRY_CREDS")
            .args(["--json", "sync", "--config", s(&config)]);
        if let Some(c) = creds {
            cmd.env("TEST_REGISTRY_CREDS", c);
        }
        run_command(&mut cmd).unwrap()
    };
    // Unset: a clear failure naming the variable.
    let unset = sync(None);
    unset.assert_failure();
    assert!(unset.combined().contains("TEST_REGISTRY_CREDS"), "{unset}");
    // Wrong password: refused by the token server.
    sync(Some("mirror:wrong")).assert_failure();
    // Right: synced, and the secret is never printed.
    let ok = sync(w.reg.creds().as_deref());
    ok.assert_success();
    assert!(!ok.combined().contains("env-pass-1"), "{ok}");
    let v: Value = serde_json::from_str(&ok.stdout).expect("sync --json");
    assert_eq!(v["upstreams"][0]["report"]["images"], 1, "{v}");
}
