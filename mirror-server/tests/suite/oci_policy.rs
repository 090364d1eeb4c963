//! `mirror-server import --policy`: cosign signatures of OCI images checked at import, with
//! signatures made by the real `openssl` CLI. Refusals leave the store unchanged.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Fixture, Import, OciFile, tree_digest_except_audit};
use formats::digest::Digest;
use formats::oci::{COSIGN_SIGNATURE_ANNOTATION, COSIGN_SIMPLESIGNING, OCI_MANIFEST};
use formats::snapshot::Meta;

const REGISTRY: &str = "127.0.0.1:5000";
const SERVED: &str = "127.0.0.1__5000";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes an ECDSA P-256 key pair `<name>.pem` / `<name>.pub` in `dir`.
fn keypair(dir: &Path, name: &str) -> PathBuf {
    let k = format!("{name}.pem");
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            &k,
        ],
    );
    openssl(
        dir,
        &["ec", "-in", &k, "-pubout", "-out", &format!("{name}.pub")],
    );
    dir.join(format!("{name}.pub"))
}

/// Signs `payload` with `<name>.pem`; base64 of the DER signature.
fn sign(dir: &Path, name: &str, payload: &[u8]) -> String {
    std::fs::write(dir.join("payload.json"), payload).unwrap();
    openssl(
        dir,
        &[
            "dgst",
            "-sha256",
            "-sign",
            &format!("{name}.pem"),
            "-out",
            "sig.der",
            "payload.json",
        ],
    );
    openssl(dir, &["base64", "-A", "-in", "sig.der", "-out", "sig.b64"]);
    std::fs::read_to_string(dir.join("sig.b64"))
        .unwrap()
        .trim()
        .to_owned()
}

fn simple_signing(reference: &str, d: &Digest) -> Vec<u8> {
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{reference}"}},"image":{{"docker-manifest-digest":"{d}"}},"type":"cosign container image signature"}},"optional":null}}"#
    )
    .into_bytes()
}

fn image_manifest(config: &[u8], layers: &[(&[u8], &str, Option<&str>)]) -> Vec<u8> {
    let layers: Vec<String> = layers
        .iter()
        .map(|(b, mt, sig)| {
            let ann = sig.map_or(String::new(), |s| {
                format!(r#","annotations":{{"{COSIGN_SIGNATURE_ANNOTATION}":"{s}"}}"#)
            });
            format!(
                r#"{{"mediaType":"{mt}","digest":"{}","size":{}{ann}}}"#,
                Digest::of(b),
                b.len()
            )
        })
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{}]}}"#,
        Digest::of(config),
        config.len(),
        layers.join(",")
    )
    .into_bytes()
}

/// The artifacts of image `<REGISTRY>/team/<name>:v1` (a config and one layer) and, with
/// `signature = Some((payload, sig_b64))`, its cosign signature manifest
/// `sha256-<hex>.sig` and payload blob. Returns the files and the image digest.
fn image(name: &str, signature: Option<(Vec<u8>, String)>) -> (Vec<OciFile>, Digest) {
    let repo = format!("v2/{SERVED}/team/{name}");
    let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"name\":\"{name}\"}}");
    let layer = format!("layer of {name}");
    let manifest = image_manifest(
        config.as_bytes(),
        &[(
            layer.as_bytes(),
            "application/vnd.oci.image.layer.v1.tar",
            None,
        )],
    );
    let d = Digest::of(&manifest);
    let mut files = vec![
        OciFile::new(
            format!("{repo}/blobs/{}", Digest::of(config.as_bytes())),
            config.as_bytes(),
            "application/vnd.oci.image.config.v1+json",
        ),
        OciFile::new(
            format!("{repo}/blobs/{}", Digest::of(layer.as_bytes())),
            layer.as_bytes(),
            "application/vnd.oci.image.layer.v1.tar",
        ),
        OciFile::new(format!("{repo}/manifests/{d}"), &manifest, OCI_MANIFEST),
        OciFile {
            meta: Meta {
                reference: Some(format!("{REGISTRY}/team/{name}:v1")),
                ..Meta::default()
            },
            ..OciFile::new(format!("{repo}/manifests/v1"), &manifest, OCI_MANIFEST)
        },
    ];
    if let Some((payload, sig)) = signature {
        let sig_config = b"{}";
        let sig_manifest = image_manifest(
            sig_config,
            &[(&payload, COSIGN_SIMPLESIGNING, Some(sig.as_str()))],
        );
        let sd = Digest::of(&sig_manifest);
        let meta = Meta {
            subject: Some(d),
            artifact_type: Some(COSIGN_SIMPLESIGNING.into()),
            ..Meta::default()
        };
        files.extend([
            OciFile::new(
                format!("{repo}/blobs/{}", Digest::of(sig_config)),
                sig_config,
                "application/vnd.oci.image.config.v1+json",
            ),
            OciFile::new(
                format!("{repo}/blobs/{}", Digest::of(&payload)),
                &payload,
                COSIGN_SIMPLESIGNING,
            ),
            OciFile {
                meta: meta.clone(),
                ..OciFile::new(
                    format!("{repo}/manifests/{sd}"),
                    &sig_manifest,
                    OCI_MANIFEST,
                )
            },
            OciFile {
                meta: Meta {
                    reference: Some(format!("{REGISTRY}/team/{name}:sha256-{}.sig", d.hex())),
                    ..meta
                },
                ..OciFile::new(
                    format!("{repo}/manifests/sha256-{}.sig", d.hex()),
                    &sig_manifest,
                    OCI_MANIFEST,
                )
            },
        ]);
    }
    (files, d)
}

/// The digest of an image's manifest is fixed by its name, so the payload can be signed
/// before the image files are built.
fn digest_of(name: &str) -> Digest {
    image(name, None).1
}

fn signed_image(keys: &Path, name: &str, key: &str, signs: &Digest) -> Vec<OciFile> {
    let payload = simple_signing(&format!("{REGISTRY}/team/{name}"), signs);
    let sig = sign(keys, key, &payload);
    image(name, Some((payload, sig))).0
}

fn policy_file(keys: &Path, key: &str) -> PathBuf {
    let p = keys.join(format!("policy-{key}.toml"));
    std::fs::write(
        &p,
        format!(
            "[verify]\n\"{REGISTRY}/team/*\" = {{ keys = [\"{key}.pub\"], required = true }}\n"
        ),
    )
    .unwrap();
    p
}

#[test]
fn import_policy_accepts_signed_and_refuses_unsigned_wrong_key_and_misdirected() {
    let fx = Fixture::new();
    let keys = fx.dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    keypair(&keys, "good");
    keypair(&keys, "other");
    let policy = policy_file(&keys, "good");
    let policy_arg = policy.to_str().unwrap();

    // A signed image imports.
    let signed = signed_image(&keys, "signed", "good", &digest_of("signed"));
    let d1 = fx.oci_drive("d1", 1, &signed, &[REGISTRY]);
    fx.import(&d1, &["--policy", policy_arg]).unwrap();
    let after_first = tree_digest_except_audit(&fx.store);

    let refused = |drive: &Path, policy: &str| -> String {
        let e = fx.import(drive, &["--policy", policy]).unwrap_err();
        assert_eq!(
            tree_digest_except_audit(&fx.store),
            after_first,
            "store changed on refusal"
        );
        // The audit log, the one file a refusal may change, gained its record.
        let log = std::fs::read_to_string(fx.store.join("audit.log")).unwrap();
        let last: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
        assert_eq!(last["event"], "import-refused", "{last}");
        format!("{e:#}")
    };

    // The signed image plus an unsigned one: refused, naming the unsigned image and digest.
    let (unsigned, unsigned_d) = image("unsigned", None);
    let mut files = signed.clone();
    files.extend(unsigned.clone());
    let d2 = fx.oci_drive("d2", 2, &files, &[REGISTRY]);
    let msg = refused(&d2, policy_arg);
    assert!(msg.contains("127.0.0.1:5000/team/unsigned:v1"), "{msg}");
    assert!(msg.contains(&unsigned_d.to_string()), "{msg}");
    assert!(msg.contains("unsigned"), "{msg}");
    assert!(!msg.contains("team/signed"), "{msg}");

    // Signed with a key the rule does not list.
    let wrong = signed_image(&keys, "wrongkey", "other", &digest_of("wrongkey"));
    let d3 = fx.oci_drive("d3", 2, &wrong, &[REGISTRY]);
    let msg = refused(&d3, policy_arg);
    assert!(
        msg.contains("team/wrongkey:v1") && msg.contains("does not verify"),
        "{msg}"
    );

    // Signed with the right key, but the payload names another image's digest.
    let misdirected = signed_image(&keys, "misdirected", "good", &digest_of("signed"));
    let d4 = fx.oci_drive("d4", 2, &misdirected, &[REGISTRY]);
    let msg = refused(&d4, policy_arg);
    assert!(
        msg.contains("team/misdirected:v1") && msg.contains("signs manifest"),
        "{msg}"
    );
    assert!(msg.contains(&digest_of("signed").to_string()), "{msg}");

    // A policy with the other key refuses what the first accepted.
    let d5 = fx.oci_drive("d5", 2, &signed, &[REGISTRY]);
    let msg = refused(&d5, policy_file(&keys, "other").to_str().unwrap());
    assert!(msg.contains("team/signed:v1"), "{msg}");

    // Unreadable policy file: refused before anything.
    let msg = refused(&d5, keys.join("absent.toml").to_str().unwrap());
    assert!(msg.contains("absent.toml"), "{msg}");

    // Without a policy, the unsigned image imports (the snapshot signature is enough).
    fx.import(&d2, &[]).unwrap();
    assert_ne!(tree_digest_except_audit(&fx.store), after_first);
}

#[test]
fn images_outside_required_rules_are_not_checked() {
    let fx = Fixture::new();
    let keys = fx.dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    keypair(&keys, "good");
    let p = keys.join("policy.toml");
    std::fs::write(
        &p,
        format!(
            "[verify]\n\"{REGISTRY}/team/*\" = {{ keys = [\"good.pub\"], required = false }}\n\"docker.io/*\" = {{ keys = [\"good.pub\"], required = true }}\n"
        ),
    )
    .unwrap();
    let (unsigned, _) = image("unsigned", None);
    let d = fx.oci_drive("d", 1, &unsigned, &[REGISTRY]);
    fx.import(&d, &["--policy", p.to_str().unwrap()]).unwrap();
}
