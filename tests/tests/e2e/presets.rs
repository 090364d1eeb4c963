//! NVIDIA presets end to end, offline (issue 5, "Presets").
//!
//! - The CUDA-like flat repository (`Filename: ./…`, MD5/SHA1/SHA256/SHA512) and the
//!   container-toolkit-like one (SHA512-only `InRelease` dated 2018, signed by a key whose
//!   self-signature is SHA-1) are synced through `preset = "cuda"` and
//!   `preset = "nvidia-container-toolkit"`, exported, imported (which re-verifies the
//!   upstream signatures with the same keys), served, and installed from by `apt-get`
//!   against the mirror's own repository key.
//! - `preset = "ngc"` pulls through an nvcr.io-style token flow (`$oauthtoken` + API key)
//!   in front of a real `docker-registry`; a wrong key fails with a clear message.
//! - The one-line presets expand as documented, and written fields win.
//!
//! Fixtures: `mirror_e2e::nvidia_fixture`. The fixture keys stand in for NVIDIA's, so
//! the configurations pin the fixture's fingerprints (`keyring_fingerprints`) — the same
//! override a user needs after a vendor key rotation; without it the preset's NVIDIA pins
//! refuse the keyring, which is asserted too.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;

use formats::snapshot::{ArtifactKind, Manifest};
use keys::openpgp::Keyring;
use mirror_e2e::apt_client::IsolatedApt;
use mirror_e2e::nvidia_fixture::{
    self, NgcRegistry, build_nvidia_apt, cuda_closure, toolkit_closure,
};
use mirror_e2e::oci_fixture::{OciLayout, Registry, sha256_digest, skopeo_inspect, skopeo_push};
use mirror_e2e::product::{import_drive, read_manifest, s, serve, sync_cli, sync_json};
use mirror_e2e::{StaticServer, require_tools, run_command};
use mirror_sync::config::Config;

const HEAD: &str = r#"
store = "store"
channel = "nvidia"

[signing]
snapshot_key = "keys/snapshot.key"
repo_key = "keys/repo.key.asc"
"#;

fn write_config(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("{HEAD}{body}")).unwrap();
    p
}

fn curl(args: &[&str]) -> mirror_e2e::Output {
    run_command(
        Command::new("curl")
            .args(["-sS", "--noproxy", "*"])
            .args(args),
    )
    .unwrap()
}

/// `keys generate` into `dir/keys`, then the trust bundle for `config`.
fn keys_and_bundle(dir: &Path, config: &Path) -> PathBuf {
    let keys = dir.join("keys");
    if !keys.join("snapshot.key").exists() {
        sync_cli(&["keys", "generate", "--out", s(&keys)]).expect("keys generate");
    }
    sync_cli(&[
        "keys",
        "bundle",
        "--config",
        s(config),
        "--out",
        s(&keys.join("trusted")),
    ])
    .expect("keys bundle");
    keys
}

/// Export `config` to `dir/drive`, import into `dir/server-store`; returns both and the
/// manifest.
fn export_import(dir: &Path, config: &Path, keys: &Path) -> (PathBuf, PathBuf, Manifest) {
    let drive = dir.join("drive");
    sync_cli(&["export", "--config", s(config), "--to", s(&drive)]).expect("export");
    let store = dir.join("server-store");
    import_drive(&drive, &store, &keys.join("trusted"))
        .expect("import (re-verifies the upstream signatures)");
    let m = read_manifest(&drive).1;
    (drive, store, m)
}

#[test]
fn nvidia_flat_layouts_sync_export_import_and_install() {
    if !require_tools(nvidia_fixture::REQUIRED_TOOLS) || !require_tools(&["curl", "gpgv"]) {
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("mirror-presets-")
        .tempdir()
        .unwrap();
    let dir = tmp.path();
    let nv = build_nvidia_apt(&dir.join("upstream")).expect("NVIDIA-style fixture");
    let server = StaticServer::start(&nv.root).expect("upstream server");
    // The keyrings go next to the configuration, under NVIDIA's file names: the first
    // place the presets look. No `keyring =` line is written.
    for repo in [&nv.cuda, &nv.toolkit] {
        std::fs::copy(&repo.keyring, dir.join(repo.keyring.file_name().unwrap())).unwrap();
    }
    let body = |pins: bool| {
        let pin = |fp: &str| {
            if pins {
                format!(
                    "keyring_fingerprints = [\"{fp}\"]   # the fixture key stands in for NVIDIA's\n"
                )
            } else {
                String::new()
            }
        };
        format!(
            "[[apt]]\npreset = \"cuda\"\ndistro = \"ubuntu2404\"\narch = \"x86_64\"\nurl = \"{u}/{cp}\"\npackages = [\"cuda-toolkit-12-6\"]\n{p1}\n\
             [[apt]]\npreset = \"nvidia-container-toolkit\"\nurl = \"{u}/{tp}\"\npackages = [\"nvidia-container-toolkit\"]\n{p2}",
            u = server.url,
            cp = nv.cuda.url_path,
            tp = nv.toolkit.url_path,
            p1 = pin(&nv.cuda.fingerprint),
            p2 = pin(&nv.toolkit.fingerprint),
        )
    };
    // NVIDIA's pinned fingerprints refuse the fixture's keyrings, naming both sides.
    let unpinned = write_config(dir, "unpinned.toml", &body(false));
    let err = format!("{:#}", Config::load(&unpinned).unwrap_err());
    assert!(err.contains("none of the expected"), "{err}");
    assert!(
        err.contains("EB693B3035CD5710E231E123A4B469963BF863CC"),
        "{err}"
    );
    assert!(err.contains(&nv.cuda.fingerprint), "{err}");

    let config = write_config(dir, "mirror.toml", &body(true));
    let cfg = Config::load(&config).expect("presets expand");
    let cuda_name = "cuda-ubuntu2404-x86_64";
    let nct_name = "nvidia-container-toolkit";
    assert_eq!(cfg.apt[0].name, cuda_name);
    assert_eq!(cfg.apt[1].name, nct_name);
    assert!(cfg.apt.iter().all(|a| a.flat));
    let keys = keys_and_bundle(dir, &config);

    let (r, summary) = sync_json(&config);
    r.unwrap_or_else(|e| panic!("sync: {e:#}\n{summary}"));
    let reports = summary["upstreams"].as_array().unwrap();
    let nct_report = reports
        .iter()
        .find(|u| u["report"]["name"] == nct_name)
        .expect("toolkit report");
    assert_eq!(
        nct_report["report"]["sha1_bound_signers"][0], nv.toolkit.fingerprint,
        "{summary}"
    );

    let (_drive, store, m) = export_import(dir, &config, &keys);
    // The closure of each preset upstream, under apt/<name>/.
    let debs: BTreeSet<String> = m
        .artifacts
        .iter()
        .filter(|a| a.kind == ArtifactKind::Deb)
        .map(|a| a.path.clone())
        .collect();
    let want: BTreeSet<String> = cuda_closure()
        .iter()
        .map(|f| format!("apt/{cuda_name}/{f}"))
        .chain(
            toolkit_closure()
                .iter()
                .map(|f| format!("apt/{nct_name}/{f}")),
        )
        .collect();
    assert_eq!(debs, want);
    // Each source records who signed upstream, and the SHA-1-bound old key as such.
    let repo_fpr = Keyring::load(&keys.join("repo.pub.gpg"))
        .unwrap()
        .fingerprints();
    let cuda_src = m.sources.iter().find(|x| x.name == cuda_name).unwrap();
    assert!(cuda_src.flat);
    assert_eq!(cuda_src.architectures, vec!["amd64"]);
    assert_eq!(cuda_src.upstream_signers, vec![nv.cuda.fingerprint.clone()]);
    assert!(
        cuda_src.upstream_sha1_bound_signers.is_empty(),
        "{cuda_src:?}"
    );
    assert_eq!(
        cuda_src.upstream_keyring.as_deref(),
        Some("cuda-archive-keyring.gpg")
    );
    let nct_src = m.sources.iter().find(|x| x.name == nct_name).unwrap();
    assert_eq!(
        nct_src.upstream_signers,
        vec![nv.toolkit.fingerprint.clone()]
    );
    assert_eq!(
        nct_src.upstream_sha1_bound_signers,
        vec![nv.toolkit.fingerprint.clone()]
    );
    assert_eq!(
        nct_src.upstream_keyring.as_deref(),
        Some("nvidia-container-toolkit-keyring.gpg")
    );
    for src in [cuda_src, nct_src] {
        assert_eq!(src.repo_signer.as_ref(), repo_fpr.first(), "{src:?}");
    }
    // The upstream InRelease files are kept byte for byte as provenance.
    for (name, repo) in [(cuda_name, &nv.cuda), (nct_name, &nv.toolkit)] {
        let path = format!("provenance/apt/{name}/InRelease");
        let a = m
            .artifacts
            .iter()
            .find(|a| a.path == path)
            .unwrap_or_else(|| panic!("{path} missing"));
        let upstream = std::fs::read(repo.dir.join("InRelease")).unwrap();
        assert_eq!(
            a.digest.hex(),
            sha256_digest(&upstream).trim_start_matches("sha256:")
        );
    }

    let (rt, handle, addr) = serve(&store);
    let base = format!("http://{addr}");
    let repo_keyring = keys.join("repo.pub.gpg");
    // The served metadata is re-signed with the mirror's repository key: it verifies with
    // that key (rpgp and gpgv) and not with the upstream keys.
    for (name, repo) in [(cuda_name, &nv.cuda), (nct_name, &nv.toolkit)] {
        let served = curl(&["-f", &format!("{base}/apt/{name}/InRelease")]);
        served.assert_success();
        let v = Keyring::load(&repo_keyring)
            .unwrap()
            .verify_inrelease(&served.stdout)
            .expect("served InRelease verifies with the repository key");
        assert_eq!(v.signer_fingerprints, repo_fpr);
        assert!(v.sha1_bound_signers.is_empty());
        assert!(
            Keyring::load(&repo.keyring)
                .unwrap()
                .verify_inrelease(&served.stdout)
                .is_err(),
            "{name}: the served InRelease must not carry the upstream signature"
        );
        let file = dir.join(format!("served-{name}-InRelease"));
        std::fs::write(&file, &served.stdout).unwrap();
        run_command(
            Command::new("gpgv")
                .arg("--keyring")
                .arg(&repo_keyring)
                .arg(&file),
        )
        .unwrap()
        .assert_success();
    }

    // apt-get installs from both flat repositories through the mirror.
    let apt = IsolatedApt::new(&[
        &format!(
            "deb [signed-by={}] {base}/apt/{cuda_name}/ /",
            repo_keyring.display()
        ),
        &format!(
            "deb [signed-by={}] {base}/apt/{nct_name}/ /",
            repo_keyring.display()
        ),
    ])
    .unwrap();
    apt.update().assert_success();
    apt.install_download_only(&["cuda-toolkit-12-6", "nvidia-container-toolkit"])
        .assert_success();
    let got: BTreeSet<String> = apt
        .downloaded_debs()
        .into_iter()
        .map(|d| d.replace("%3a", ":").replace("%2b", "+"))
        .collect();
    let want: BTreeSet<String> = cuda_closure()
        .into_iter()
        .chain(toolkit_closure())
        .collect();
    assert_eq!(got, want, "apt downloaded exactly the two closures");
    for g in apt.downloaded_debs() {
        let local = std::fs::read(apt.archives_dir().join(&g)).unwrap();
        let upstream = [&nv.cuda, &nv.toolkit]
            .iter()
            .map(|r| r.dir.join(&g))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{g} is in no upstream repository"));
        assert_eq!(local, std::fs::read(&upstream).unwrap(), "{g}");
    }
    // The upstream key does not verify what the mirror serves: apt refuses it.
    let upstream_key = IsolatedApt::new(&[&format!(
        "deb [signed-by={}] {base}/apt/{cuda_name}/ /",
        nv.cuda.keyring.display()
    )])
    .unwrap();
    upstream_key.update().assert_failure();
    rt.block_on(handle.shutdown());
}

#[test]
fn one_line_presets_expand_as_documented() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut fps = Vec::new();
    for file in [
        "cuda-archive-keyring.gpg",
        "nvidia-container-toolkit-keyring.gpg",
    ] {
        let key = keys::openpgp::RepoSigningKey::generate("Stand-in <nv@example.invalid>").unwrap();
        std::fs::write(dir.join(file), key.public_binary().unwrap()).unwrap();
        fps.push(key.fingerprint());
    }
    // What users write (docs/presets.md), one line each.
    let users = r#"
[[apt]]
preset = "cuda"
distro = "ubuntu2404"
arch = "x86_64"
packages = ["cuda-toolkit-12-6"]

[[apt]]
preset = "nvidia-container-toolkit"
packages = ["nvidia-container-toolkit"]

[[oci]]
preset = "ngc"
images = ["nvidia/cuda:12.6.0-base-ubuntu24.04"]

[[pypi]]
preset = "nvidia-pypi"
projects = ["tensorrt"]
"#;
    // The stand-in keyrings are not NVIDIA's: the CUDA pin refuses them first.
    let err = format!(
        "{:#}",
        Config::load(&write_config(dir, "as-written.toml", users)).unwrap_err()
    );
    assert!(
        err.contains("cuda-ubuntu2404-x86_64") && err.contains(&fps[0]),
        "{err}"
    );
    // Pinned to the stand-ins, everything else is what the presets fill.
    let pinned = users
        .replacen(
            "packages = [\"cuda-toolkit-12-6\"]",
            &format!(
                "packages = [\"cuda-toolkit-12-6\"]\nkeyring_fingerprints = [\"{}\"]",
                fps[0]
            ),
            1,
        )
        .replacen(
            "packages = [\"nvidia-container-toolkit\"]",
            &format!(
                "packages = [\"nvidia-container-toolkit\"]\nkeyring_fingerprints = [\"{}\"]",
                fps[1]
            ),
            1,
        );
    let cfg = Config::load(&write_config(dir, "pinned.toml", &pinned)).unwrap();
    let cuda = &cfg.apt[0];
    assert_eq!(
        (cuda.name.as_str(), cuda.url.as_str(), cuda.flat),
        (
            "cuda-ubuntu2404-x86_64",
            "https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2404/x86_64/",
            true
        )
    );
    assert_eq!(cuda.architectures, vec!["amd64"]);
    assert_eq!(
        cfg.resolve(&cuda.keyring),
        dir.join("cuda-archive-keyring.gpg")
    );
    let nct = &cfg.apt[1];
    assert_eq!(
        (nct.name.as_str(), nct.url.as_str(), nct.flat),
        (
            "nvidia-container-toolkit",
            "https://nvidia.github.io/libnvidia-container/stable/deb/amd64/",
            true
        )
    );
    assert_eq!(
        cfg.resolve(&nct.keyring),
        dir.join("nvidia-container-toolkit-keyring.gpg")
    );
    let ngc = &cfg.oci[0];
    assert_eq!(
        (ngc.name.as_str(), ngc.registry.as_str()),
        ("ngc", "nvcr.io")
    );
    assert_eq!(ngc.credentials.as_deref(), Some("env:NGC_API_KEY"));
    assert_eq!(ngc.api_base().unwrap().as_str(), "https://nvcr.io/");
    let pypi = &cfg.pypi[0];
    assert_eq!(
        (pypi.name.as_str(), pypi.url.as_str()),
        ("nvidia-pypi", "https://pypi.nvidia.com/")
    );
    // Written fields win: a local url and name for each.
    let overridden = pinned
        .replacen(
            "arch = \"x86_64\"",
            "arch = \"x86_64\"\nname = \"cuda\"\nurl = \"http://127.0.0.1:9/cuda/\"",
            1,
        )
        .replacen(
            "preset = \"ngc\"",
            "preset = \"ngc\"\nurl = \"http://127.0.0.1:9\"\ncredentials = \"file:ngc.key\"",
            1,
        )
        .replacen(
            "preset = \"nvidia-pypi\"",
            "preset = \"nvidia-pypi\"\nurl = \"http://127.0.0.1:9/simple/\"",
            1,
        );
    let cfg = Config::load(&write_config(dir, "overridden.toml", &overridden)).unwrap();
    assert_eq!(
        (cfg.apt[0].name.as_str(), cfg.apt[0].url.as_str()),
        ("cuda", "http://127.0.0.1:9/cuda/")
    );
    assert_eq!(
        cfg.apt[0].architectures,
        vec!["amd64"],
        "unwritten fields still filled"
    );
    assert_eq!(cfg.oci[0].credentials.as_deref(), Some("file:ngc.key"));
    assert_eq!(cfg.oci[0].registry, "nvcr.io");
    assert_eq!(cfg.pypi[0].url, "http://127.0.0.1:9/simple/");
    // An unknown preset lists the known ones.
    let err = format!(
        "{:#}",
        Config::load(&write_config(
            dir,
            "unknown.toml",
            "[[apt]]\npreset = \"cudnn\"\n"
        ))
        .unwrap_err()
    );
    for known in ["cuda", "nvidia-container-toolkit", "ngc", "nvidia-pypi"] {
        assert!(err.contains(known), "{err}");
    }
}

/// Every regular file below `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() {
                todo.push(e.path());
            } else if t.is_file() {
                out.push(e.path());
            }
        }
    }
    out
}

#[test]
fn ngc_token_flow_pulls_with_the_api_key_and_refuses_a_wrong_one() {
    if !require_tools(&["docker-registry", "skopeo", "curl"]) {
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("mirror-presets-ngc-")
        .tempdir()
        .unwrap();
    let dir = tmp.path();
    const TAG: &str = "12.6.0-base-ubuntu24.04";
    const API_KEY: &str = "nvapi-TEST-ONLY-0123456789abcdef";
    let reg = Registry::start().expect("docker-registry");
    let mut layout = OciLayout::create(&dir.join("layout")).unwrap();
    let image = layout
        .single_image("cuda", "hello from nvidia/cuda (test fixture)\n")
        .unwrap();
    skopeo_push(
        &layout.dir,
        "cuda",
        &format!("{}/nvidia/cuda:{TAG}", reg.host),
        None,
    )
    .expect("seed the registry");
    let ngc = NgcRegistry::start(reg, API_KEY).expect("nvcr.io-style front");

    // Anonymous: 401 with nvcr.io's challenge (realm and scope, no service).
    let anon = curl(&[
        "-D",
        "-",
        "-o",
        "/dev/null",
        &format!("{}/v2/nvidia/cuda/manifests/{TAG}", ngc.url),
    ]);
    let head = anon.stdout.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 401"), "{anon}");
    assert!(
        head.contains(&format!(
            "www-authenticate: bearer realm=\"{}/proxy_auth\",scope=\"repository:nvidia/cuda:pull\"",
            ngc.url
        )),
        "{anon}"
    );
    assert!(!head.contains("service="), "{anon}");

    // The preset with the key in a file: a bare key is sent as user $oauthtoken.
    std::fs::write(dir.join("ngc-api-key"), format!("{API_KEY}\n")).unwrap();
    let body = |creds: &str| {
        format!(
            "[[oci]]\npreset = \"ngc\"\nurl = \"{}\"\n{creds}images = [\"nvidia/cuda:{TAG}\"]\n",
            ngc.url
        )
    };
    let config = write_config(
        dir,
        "mirror.toml",
        &body("credentials = \"file:ngc-api-key\"\n"),
    );
    let (r, summary) = sync_json(&config);
    r.unwrap_or_else(|e| panic!("sync through the token flow: {e:#}\n{summary}"));
    assert!(ngc.stats.challenges.load(Ordering::Relaxed) >= 1);
    assert!(ngc.stats.tokens_issued.load(Ordering::Relaxed) >= 1);
    assert!(ngc.stats.authorized.load(Ordering::Relaxed) >= 2);
    assert_eq!(ngc.stats.tokens_refused.load(Ordering::Relaxed), 0);

    let keys = keys_and_bundle(dir, &config);
    let (drive, store, m) = export_import(dir, &config, &keys);
    let src = m
        .sources
        .iter()
        .find(|x| x.name == "ngc")
        .expect("ngc source");
    assert_eq!(src.registry.as_deref(), Some("nvcr.io"));
    assert!(
        m.artifacts
            .iter()
            .any(|a| a.path == format!("v2/nvcr.io/nvidia/cuda/manifests/{TAG}")),
        "served as nvcr.io/nvidia/cuda"
    );
    // The API key reaches neither the drive nor either store.
    for d in [drive.clone(), dir.join("store"), store.clone()] {
        for f in files_under(&d) {
            let bytes = std::fs::read(&f).unwrap();
            assert!(
                !bytes
                    .windows(API_KEY.len())
                    .any(|w| w == API_KEY.as_bytes()),
                "the API key leaked into {}",
                f.display()
            );
        }
    }
    // A real client pulls the image, byte for byte, from the mirror.
    let (rt, handle, addr) = serve(&store);
    let pulled = skopeo_inspect(
        &format!(
            "docker://127.0.0.1:{}/nvcr.io/nvidia/cuda:{TAG}",
            addr.port()
        ),
        true,
        None,
    )
    .unwrap();
    pulled.assert_success();
    assert_eq!(
        sha256_digest(pulled.stdout.as_bytes()),
        image.manifest.digest
    );
    rt.block_on(handle.shutdown());

    // A wrong key: the token endpoint refuses it and the sync says so, without the key.
    std::fs::write(dir.join("wrong-key"), "nvapi-TEST-ONLY-wrong\n").unwrap();
    let wrong = write_config(
        dir,
        "wrong.toml",
        &body("credentials = \"file:wrong-key\"\n").replacen(
            "store = \"store\"",
            "store = \"store-wrong\"",
            1,
        ),
    );
    let (r, summary) = sync_json(&wrong);
    assert!(r.is_err(), "a wrong key must fail the sync: {summary}");
    assert_eq!(summary["failed"][0], "ngc", "{summary}");
    let cfg = Config::load(&wrong).unwrap();
    let err = oci_sync_error(&cfg);
    assert!(
        err.contains("refused the configured credentials"),
        "unclear error: {err}"
    );
    assert!(!err.contains("wrong\n") && !err.contains(API_KEY), "{err}");
    assert!(ngc.stats.tokens_refused.load(Ordering::Relaxed) >= 1);

    // The preset's default source is NGC_API_KEY; unset, the error names it.
    if std::env::var_os("NGC_API_KEY").is_none() {
        let unset = write_config(dir, "unset.toml", &body(""));
        let err = oci_sync_error(&Config::load(&unset).unwrap());
        assert!(err.contains("NGC_API_KEY"), "{err}");
    }
}

/// The error `mirror-sync sync` prints for the single `[[oci]]` upstream of `cfg`.
fn oci_sync_error(cfg: &Config) -> String {
    let cas = std::sync::Arc::new(store::Cas::open(&cfg.store_dir()).unwrap());
    let f = mirror_sync::fetch::Fetcher::new(
        cas,
        2,
        1,
        std::time::Duration::from_secs(10),
        mirror_sync::progress::Progress::hidden(),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = rt.block_on(mirror_sync::oci::sync::sync(&f, cfg, &cfg.oci[0]));
    format!("{:#}", r.expect_err("the sync must fail"))
}
