//! The generated SBOMs validate against the OFFICIAL JSON schemas kept in
//! `fixtures/sbom/` (CycloneDX 1.6 `bom-1.6.schema.json` with the `spdx.schema.json` and
//! `jsf-0.82.schema.json` it references, and SPDX 2.3 `spdx-schema.json`).
//!
//! The validator is offline: the referenced schemas are registered under their own
//! `$id`, and any other reference fails instead of being fetched (`jsonschema` is built
//! without its HTTP and file resolvers, and `offline()` refuses retrieval). Broken
//! documents must be rejected, which proves the validator is active.

use std::path::PathBuf;

use formats::digest::Digest;
use formats::sbom;
use formats::snapshot::{
    Artifact, ArtifactKind, MANIFEST_VERSION, Manifest, Meta, SBOM_CYCLONEDX_PATH, SBOM_SPDX_PATH,
    Source, SourceKind,
};
use serde_json::{Value, json};

fn fixture_bytes(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/sbom")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn fixture(name: &str) -> Value {
    serde_json::from_slice(&fixture_bytes(name)).unwrap()
}

/// SHA-256 of the fixtures as taken from the upstream repositories (see
/// fixtures/sbom/README.md): a changed byte fails here.
#[test]
fn schema_fixtures_are_the_official_files() {
    for (name, sha) in [
        (
            "bom-1.6.schema.json",
            "18f57f7482593bad9f21b4feed09084640cbeff419d62ad5090c5ceccca5b37d",
        ),
        (
            "spdx.schema.json",
            "c41917196639055e9f9670811bac23ef777732144f3ff5a2f39686f61580dbe6",
        ),
        (
            "jsf-0.82.schema.json",
            "8bae002c25e723db7ee1f26afde680ae1a2b1a8f6b4b4b0fd65dc3becb090aae",
        ),
        (
            "spdx-2.3.schema.json",
            "239208b7ac287b3cf5d9a9af23f9d69863971102a5e1587a27a398b43490b89b",
        ),
    ] {
        assert_eq!(Digest::of(&fixture_bytes(name)).hex(), sha, "{name}");
    }
}

fn cyclonedx_validator() -> jsonschema::Validator {
    let bom = fixture("bom-1.6.schema.json");
    let mut builder = jsonschema::Registry::new();
    for dep in ["spdx.schema.json", "jsf-0.82.schema.json"] {
        let schema = fixture(dep);
        let id = schema["$id"].as_str().unwrap().to_owned();
        builder = builder.add(id, schema).unwrap();
    }
    let registry = builder.prepare().unwrap();
    jsonschema::options()
        .offline()
        .with_registry(&registry)
        .should_validate_formats(true)
        .build(&bom)
        .unwrap()
}

fn spdx_validator() -> jsonschema::Validator {
    jsonschema::options()
        .offline()
        .should_validate_formats(true)
        .build(&fixture("spdx-2.3.schema.json"))
        .unwrap()
}

fn errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn d(s: &str) -> Digest {
    Digest::of(s.as_bytes())
}

fn artifact(kind: ArtifactKind, upstream: Option<&str>, path: &str, digest: Digest) -> Artifact {
    Artifact {
        kind,
        upstream: upstream.map(Into::into),
        path: path.into(),
        digest,
        size: 100,
        media_type: None,
        meta: Meta::default(),
    }
}

/// Debs (one with an epoch and `+`, one from a flat repository), wheels (SPDX license
/// expression and free-text license), an sdist, an OCI index with a platform child
/// and two tags, a cosign signature and an SBOM referrer, an attestation, plus
/// artifacts that are not components.
fn manifest() -> Manifest {
    let mut debian = Source::new("debian", SourceKind::Apt, "http://apt.example.org/debian");
    debian.origin = Some("Debian".into());
    debian.suites = vec!["bookworm".into()];
    let mut flat = Source::new("flat", SourceKind::Apt, "http://apt.example.org/flat");
    flat.flat = true;
    let pypi = Source::new("pypi", SourceKind::Pypi, "https://pypi.example.org/simple/");
    let mut oci = Source::new("registry", SourceKind::Oci, "http://127.0.0.1:5000");
    oci.registry = Some("127.0.0.1:5000".into());

    let mut arts = Vec::new();
    for (name, version, arch, depends) in [
        (
            "jq",
            "1.6-2.1",
            "amd64",
            "libjq1 (= 1.6-2.1), libc6 (>= 2.34)",
        ),
        (
            "libjq1",
            "1.6-2.1",
            "amd64",
            "libonig5 (>= 6.1) | libfoo, libc6",
        ),
        ("libc6", "2.36-9+deb12u4", "amd64", ""),
        ("libonig5", "6.9.8-1", "amd64", "libc6"),
        ("attr", "1:2.4.47-2+b1", "amd64", ""),
    ] {
        let mut a = artifact(
            ArtifactKind::Deb,
            Some("debian"),
            &format!("apt/debian/pool/main/{name}_{version}_{arch}.deb"),
            d(name),
        );
        a.media_type = Some("application/vnd.debian.binary-package".into());
        a.meta = Meta {
            name: Some(name.into()),
            version: Some(version.into()),
            architecture: Some(arch.into()),
            suite: Some("bookworm-security".into()),
            component: Some("main".into()),
            upstream_url: Some(format!("http://apt.example.org/debian/pool/{name}.deb")),
            depends: if depends.is_empty() {
                vec![]
            } else {
                vec![depends.into()]
            },
            ..Meta::default()
        };
        arts.push(a);
    }
    let mut tool = artifact(
        ArtifactKind::Deb,
        Some("flat"),
        "apt/flat/tool_1.0_all.deb",
        d("tool"),
    );
    tool.meta = Meta {
        name: Some("tool".into()),
        version: Some("1.0".into()),
        architecture: Some("all".into()),
        depends: vec!["jq".into()],
        ..Meta::default()
    };
    arts.push(tool);

    for (kind, name, version, file, license, depends) in [
        (
            ArtifactKind::Wheel,
            "requests",
            "2.32.3",
            "requests-2.32.3-py3-none-any.whl",
            Some("Apache-2.0"),
            vec![
                "charset_normalizer<4,>=2",
                "idna<4,>=2.5",
                "PySocks!=1.5.7,>=1.5.6; extra == \"socks\"",
            ],
        ),
        (
            ArtifactKind::Sdist,
            "requests",
            "2.32.3",
            "requests-2.32.3.tar.gz",
            Some("Apache-2.0"),
            vec!["idna<4,>=2.5"],
        ),
        (
            ArtifactKind::Wheel,
            "Charset_Normalizer",
            "3.4.0",
            "charset_normalizer-3.4.0-py3-none-any.whl",
            Some("MIT"),
            vec![],
        ),
        (
            ArtifactKind::Wheel,
            "idna",
            "3.10",
            "idna-3.10-py3-none-any.whl",
            Some("BSD License"),
            vec![],
        ),
        (
            ArtifactKind::Wheel,
            "zope.interface",
            "7.1+local",
            "zope.interface-7.1+local-py3-none-any.whl",
            None,
            vec![],
        ),
    ] {
        let mut a = artifact(kind, Some("pypi"), &format!("pypi/files/{file}"), d(file));
        a.meta = Meta {
            name: Some(name.into()),
            version: Some(version.into()),
            filename: Some(file.into()),
            requires_python: Some(">=3.8".into()),
            upstream_url: Some(format!("https://files.example.org/packages/{file}")),
            license: license.map(Into::into),
            depends: depends.into_iter().map(Into::into).collect(),
            ..Meta::default()
        };
        arts.push(a);
    }

    let served = "127.0.0.1__5000/team/app";
    let (idx, child, sig, sbom_ref, att) = (
        d("index"),
        d("child"),
        d("sig"),
        d("sbom-referrer"),
        d("att"),
    );
    let mpath = |r: &str| format!("v2/{served}/manifests/{r}");
    let mut index = artifact(
        ArtifactKind::OciManifest,
        Some("registry"),
        &mpath(&idx.to_string()),
        idx,
    );
    index.media_type = Some(formats::oci::OCI_INDEX.into());
    index.meta.upstream_url = Some(format!("http://127.0.0.1:5000/v2/team/app/manifests/{idx}"));
    index.meta.signed_by = vec!["cosign:00112233".into()];
    arts.push(index);
    let mut c = artifact(
        ArtifactKind::OciManifest,
        Some("registry"),
        &mpath(&child.to_string()),
        child,
    );
    c.media_type = Some(formats::oci::OCI_MANIFEST.into());
    c.meta.platform = Some("linux/arm64/v8".into());
    arts.push(c);
    for (digest, artifact_type, cosign) in [
        (sig, formats::oci::COSIGN_SIMPLESIGNING, Some("sig")),
        (sbom_ref, "application/vnd.cyclonedx+json", None),
        (att, "application/vnd.dsse.envelope.v1+json", Some("att")),
    ] {
        let mut r = artifact(
            ArtifactKind::OciManifest,
            Some("registry"),
            &mpath(&digest.to_string()),
            digest,
        );
        r.media_type = Some(formats::oci::OCI_MANIFEST.into());
        r.meta.subject = Some(idx);
        r.meta.artifact_type = Some(artifact_type.into());
        arts.push(r);
        if let Some(suffix) = cosign {
            arts.push(artifact(
                ArtifactKind::OciTag,
                Some("registry"),
                &mpath(&formats::oci::cosign_tag(&idx, suffix)),
                digest,
            ));
        }
    }
    for tag in ["v1", "latest"] {
        arts.push(artifact(
            ArtifactKind::OciTag,
            Some("registry"),
            &mpath(tag),
            idx,
        ));
    }
    arts.push(artifact(
        ArtifactKind::OciBlob,
        Some("registry"),
        &format!("v2/{served}/blobs/{}", d("layer")),
        d("layer"),
    ));
    arts.push(artifact(
        ArtifactKind::OciReferrers,
        Some("registry"),
        &format!("v2/{served}/referrers/{idx}"),
        d("referrers"),
    ));
    arts.push(artifact(
        ArtifactKind::AptIndex,
        Some("debian"),
        "apt/debian/dists/bookworm/main/binary-amd64/Packages.xz",
        d("Packages"),
    ));
    arts.push(artifact(
        ArtifactKind::SimplePage,
        None,
        "pypi/simple/requests/index.html",
        d("page"),
    ));
    arts.push(artifact(
        ArtifactKind::Sbom,
        None,
        SBOM_CYCLONEDX_PATH,
        d("c"),
    ));
    arts.push(artifact(ArtifactKind::Sbom, None, SBOM_SPDX_PATH, d("s")));

    Manifest {
        manifest_version: MANIFEST_VERSION,
        channel: "cube-stable".into(),
        sequence: 7,
        created: "2026-11-21T15:10:59Z".into(),
        base: Some("cube-stable/6".into()),
        generator: "mirror-sync 0.1.0".into(),
        signer: "ed25519:0011223344556677".into(),
        sources: vec![debian, flat, pypi, oci],
        artifacts: arts,
    }
}

#[test]
fn cyclonedx_validates_against_the_official_1_6_schema() {
    let m = manifest();
    m.validate().unwrap();
    let doc: Value = serde_json::from_slice(&sbom::cyclonedx(&m)).unwrap();
    let v = cyclonedx_validator();
    assert_eq!(errors(&v, &doc), Vec::<String>::new());
    // The document has what the test claims to cover.
    let comps = doc["components"].as_array().unwrap();
    assert_eq!(comps.len(), 16, "6 debs, 5 python files, 5 OCI manifests");
    let types: Vec<&str> = comps.iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert!(types.contains(&"library") && types.contains(&"container"));
    assert_eq!(types.iter().filter(|t| **t == "data").count(), 3);
    let refs: Vec<&str> = comps
        .iter()
        .flat_map(|c| c["externalReferences"].as_array().into_iter().flatten())
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    for t in ["distribution", "bom", "digital-signature", "attestation"] {
        assert!(refs.contains(&t), "{t}");
    }
    let lic: Vec<&Value> = comps.iter().filter_map(|c| c.get("licenses")).collect();
    assert!(lic.iter().any(|l| l[0].get("expression").is_some()));
    assert!(lic.iter().any(|l| l[0].get("license").is_some()));
    // Round trip through the parser and the check.
    let parsed = sbom::parse_cyclonedx(&serde_json::to_vec(&doc).unwrap()).unwrap();
    sbom::check_against(&m, &parsed).unwrap();
}

#[test]
fn spdx_validates_against_the_official_2_3_schema() {
    let m = manifest();
    let doc: Value = serde_json::from_slice(&sbom::spdx(&m)).unwrap();
    let v = spdx_validator();
    assert_eq!(errors(&v, &doc), Vec::<String>::new());
    assert_eq!(
        doc["packages"].as_array().unwrap().len(),
        17,
        "16 components and the snapshot"
    );
    let rels: Vec<&str> = doc["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["relationshipType"].as_str().unwrap())
        .collect();
    for t in ["DESCRIBES", "CONTAINS", "DEPENDS_ON", "OTHER"] {
        assert!(rels.contains(&t), "{t}");
    }
    assert!(doc["hasExtractedLicensingInfos"].is_array());
    let parsed = sbom::parse_spdx(&serde_json::to_vec(&doc).unwrap()).unwrap();
    sbom::check_against(&m, &parsed).unwrap();
}

/// What a test breaks, and how.
type Breakage = (&'static str, fn(&mut Value));

/// Breaking the documents must make the validators fail, so they are really checking.
#[test]
fn broken_documents_are_rejected() {
    let m = manifest();
    let v = cyclonedx_validator();
    let good: Value = serde_json::from_slice(&sbom::cyclonedx(&m)).unwrap();
    let breakages: [Breakage; 6] = [
        ("no bomFormat", |d| {
            d.as_object_mut().unwrap().remove("bomFormat");
        }),
        ("bad serial", |d| d["serialNumber"] = json!("urn:uuid:nope")),
        ("unknown component type", |d| {
            d["components"][0]["type"] = json!("gadget")
        }),
        ("bad hash", |d| {
            d["components"][0]["hashes"][0]["content"] = json!("xyz")
        }),
        ("unknown top-level field", |d| d["extra"] = json!(1)),
        ("bad timestamp", |d| {
            d["metadata"]["timestamp"] = json!("yesterday")
        }),
    ];
    for (what, f) in breakages {
        let mut bad = good.clone();
        f(&mut bad);
        assert!(
            !errors(&v, &bad).is_empty(),
            "CycloneDX {what} was accepted"
        );
    }
    // The referenced spdx.schema.json is in force: an unknown license id is refused.
    let mut bad = good.clone();
    bad["components"][0]["licenses"] = json!([{"license": {"id": "Not-A-License"}}]);
    assert!(!errors(&v, &bad).is_empty(), "unknown SPDX id was accepted");
    let mut ok = good.clone();
    ok["components"][0]["licenses"] = json!([{"license": {"id": "Apache-2.0"}}]);
    assert!(errors(&v, &ok).is_empty());

    let v = spdx_validator();
    let good: Value = serde_json::from_slice(&sbom::spdx(&m)).unwrap();
    let breakages: [Breakage; 4] = [
        ("no spdxVersion", |d| {
            d.as_object_mut().unwrap().remove("spdxVersion");
        }),
        ("package without name", |d| {
            d["packages"][0].as_object_mut().unwrap().remove("name");
        }),
        ("unknown relationship", |d| {
            d["relationships"][0]["relationshipType"] = json!("LIKES")
        }),
        ("unknown checksum algorithm", |d| {
            d["packages"][1]["checksums"][0]["algorithm"] = json!("CRC32")
        }),
    ];
    for (what, f) in breakages {
        let mut bad = good.clone();
        f(&mut bad);
        assert!(!errors(&v, &bad).is_empty(), "SPDX {what} was accepted");
    }
}

/// Without the registered schemas the CycloneDX schema cannot be built: nothing is
/// fetched from the network.
#[test]
fn validator_never_fetches() {
    let r = jsonschema::options()
        .offline()
        .build(&fixture("bom-1.6.schema.json"));
    assert!(r.is_err(), "built without the referenced schemas");
}
