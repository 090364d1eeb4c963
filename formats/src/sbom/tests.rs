use serde_json::Value;

use super::*;
use crate::snapshot::{MANIFEST_VERSION, Meta, Source, SourceKind};

fn d(s: &str) -> Digest {
    Digest::of(s.as_bytes())
}

fn art(kind: ArtifactKind, upstream: &str, path: &str, digest: Digest, meta: Meta) -> Artifact {
    Artifact {
        kind,
        upstream: Some(upstream.into()),
        path: path.into(),
        digest,
        size: 42,
        media_type: None,
        meta,
    }
}

fn deb(name: &str, version: &str, arch: &str, suite: Option<&str>, depends: &[&str]) -> Artifact {
    art(
        ArtifactKind::Deb,
        "debian",
        &format!("apt/debian/pool/main/{name}_{version}_{arch}.deb"),
        d(&format!("{name}{version}{arch}")),
        Meta {
            name: Some(name.into()),
            version: Some(version.into()),
            architecture: Some(arch.into()),
            suite: suite.map(Into::into),
            component: Some("main".into()),
            upstream_url: Some(format!("http://apt.example.org/pool/{name}.deb")),
            depends: depends.iter().map(|s| (*s).to_owned()).collect(),
            ..Meta::default()
        },
    )
}

fn py(kind: ArtifactKind, name: &str, version: &str, file: &str, depends: &[&str]) -> Artifact {
    art(
        kind,
        "pypi",
        &format!("pypi/simple/{}/{file}", crate::pypi::name::normalize(name)),
        d(file),
        Meta {
            name: Some(name.into()),
            version: Some(version.into()),
            filename: Some(file.into()),
            upstream_url: Some(format!("https://files.example.org/{file}")),
            depends: depends.iter().map(|s| (*s).to_owned()).collect(),
            ..Meta::default()
        },
    )
}

const SERVED: &str = "127.0.0.1__5000/team/app";

fn oci(kind: ArtifactKind, reference: &str, digest: Digest, media: &str, meta: Meta) -> Artifact {
    let mut a = art(
        kind,
        "registry",
        &format!("v2/{SERVED}/manifests/{reference}"),
        digest,
        meta,
    );
    a.media_type = Some(media.into());
    a
}

fn index_digest() -> Digest {
    d("index")
}

/// A manifest with debs (standard and flat repository), wheels, an sdist, an OCI index
/// with a platform child, two tags, a cosign signature and an SBOM referrer, plus
/// artifacts that are not components.
fn sample() -> Manifest {
    let mut debian = Source::new("debian", SourceKind::Apt, "http://apt.example.org/debian");
    debian.origin = Some("Debian".into());
    let mut flat = Source::new("flat", SourceKind::Apt, "http://apt.example.org/flat");
    flat.flat = true;
    let pypi = Source::new("pypi", SourceKind::Pypi, "https://pypi.example.org/simple/");
    let mut registry = Source::new("registry", SourceKind::Oci, "http://127.0.0.1:5000");
    registry.registry = Some("127.0.0.1:5000".into());

    let idx = index_digest();
    let child = d("child-amd64");
    let sig = d("signature");
    let sbom = d("sbom-referrer");
    let mut requests_whl = py(
        ArtifactKind::Wheel,
        "requests",
        "2.32.3",
        "requests-2.32.3-py3-none-any.whl",
        &[
            "charset_normalizer<4,>=2",
            "idna<4,>=2.5",
            "PySocks!=1.5.7,>=1.5.6; extra == \"socks\"",
        ],
    );
    requests_whl.meta.license = Some("Apache-2.0".into());
    requests_whl.meta.requires_python = Some(">=3.8".into());
    let mut idna = py(
        ArtifactKind::Wheel,
        "idna",
        "3.10",
        "idna-3.10-py3-none-any.whl",
        &[],
    );
    idna.meta.license = Some("BSD License".into());

    let mut tool = deb("tool", "1.0", "all", None, &["jq"]);
    tool.upstream = Some("flat".into());
    tool.path = "apt/flat/tool_1.0_all.deb".into();

    let artifacts = vec![
        deb(
            "jq",
            "1.6-2.1",
            "amd64",
            Some("bookworm"),
            &["libjq1 (= 1.6-2.1), libc6 (>= 2.34)"],
        ),
        deb(
            "libjq1",
            "1.6-2.1",
            "amd64",
            Some("bookworm"),
            &["libfoo | libonig5 (>= 6), libc6"],
        ),
        deb(
            "libc6",
            "2.36-9+deb12u4",
            "amd64",
            Some("bookworm-updates"),
            &[],
        ),
        deb("libonig5", "6.9.8-1", "amd64", Some("bookworm"), &[]),
        deb("attr", "1:2.4.47-2+b1", "amd64", Some("bookworm"), &[]),
        tool,
        requests_whl,
        py(
            ArtifactKind::Sdist,
            "requests",
            "2.32.3",
            "requests-2.32.3.tar.gz",
            &["idna<4,>=2.5"],
        ),
        py(
            ArtifactKind::Wheel,
            "Charset_Normalizer",
            "3.4.0",
            "charset_normalizer-3.4.0-py3-none-any.whl",
            &[],
        ),
        idna,
        py(
            ArtifactKind::Wheel,
            "PySocks",
            "1.7.1",
            "PySocks-1.7.1-py3-none-any.whl",
            &[],
        ),
        oci(
            ArtifactKind::OciManifest,
            &idx.to_string(),
            idx,
            crate::oci::OCI_INDEX,
            Meta {
                signed_by: vec!["cosign:0011".into()],
                ..Meta::default()
            },
        ),
        oci(
            ArtifactKind::OciManifest,
            &child.to_string(),
            child,
            crate::oci::OCI_MANIFEST,
            Meta {
                platform: Some("linux/amd64".into()),
                ..Meta::default()
            },
        ),
        oci(
            ArtifactKind::OciTag,
            "v1",
            idx,
            crate::oci::OCI_INDEX,
            Meta::default(),
        ),
        oci(
            ArtifactKind::OciTag,
            "latest",
            idx,
            crate::oci::OCI_INDEX,
            Meta::default(),
        ),
        oci(
            ArtifactKind::OciTag,
            &crate::oci::cosign_tag(&idx, "sig"),
            sig,
            crate::oci::OCI_MANIFEST,
            Meta::default(),
        ),
        oci(
            ArtifactKind::OciManifest,
            &sig.to_string(),
            sig,
            crate::oci::OCI_MANIFEST,
            Meta {
                subject: Some(idx),
                artifact_type: Some(crate::oci::COSIGN_SIMPLESIGNING.into()),
                ..Meta::default()
            },
        ),
        oci(
            ArtifactKind::OciManifest,
            &sbom.to_string(),
            sbom,
            crate::oci::OCI_MANIFEST,
            Meta {
                subject: Some(idx),
                artifact_type: Some("application/spdx+json".into()),
                ..Meta::default()
            },
        ),
        art(
            ArtifactKind::OciBlob,
            "registry",
            &format!("v2/{SERVED}/blobs/{}", d("layer")),
            d("layer"),
            Meta::default(),
        ),
        art(
            ArtifactKind::AptIndex,
            "debian",
            "apt/debian/dists/bookworm/main/binary-amd64/Packages",
            d("Packages"),
            Meta::default(),
        ),
        Artifact {
            kind: ArtifactKind::SimplePage,
            upstream: None,
            path: "pypi/simple/requests/index.html".into(),
            digest: d("page"),
            size: 1,
            media_type: None,
            meta: Meta::default(),
        },
        Artifact {
            kind: ArtifactKind::Sbom,
            upstream: None,
            path: crate::snapshot::SBOM_CYCLONEDX_PATH.into(),
            digest: d("old sbom"),
            size: 1,
            media_type: None,
            meta: Meta::default(),
        },
    ];
    Manifest {
        manifest_version: MANIFEST_VERSION,
        channel: "cube-stable".into(),
        sequence: 3,
        created: "2026-11-21T15:10:59Z".into(),
        base: None,
        generator: "mirror-sync 0.1.0".into(),
        signer: "ed25519:0011223344556677".into(),
        sources: vec![debian, flat, pypi, registry],
        artifacts,
    }
}

fn find<'a>(m: &'a Manifest, path_part: &str) -> &'a Artifact {
    m.artifacts
        .iter()
        .find(|a| a.path.contains(path_part))
        .unwrap()
}

fn path_of(m: &Manifest, part: &str) -> String {
    find(m, part).path.clone()
}

// ----- purls -----

#[test]
fn purl_deb_with_epoch_and_plus() {
    let m = sample();
    // purl-spec test suite: `pkg:deb/debian/attr@1:2.4.47-2%2Bb1?arch=amd64`.
    assert_eq!(
        purl(&m, find(&m, "attr_")).unwrap(),
        "pkg:deb/debian/attr@1:2.4.47-2%2Bb1?arch=amd64&distro=bookworm"
    );
    assert_eq!(
        purl(&m, find(&m, "jq_")).unwrap(),
        "pkg:deb/debian/jq@1.6-2.1?arch=amd64&distro=bookworm"
    );
}

#[test]
fn purl_deb_suite_suffix_is_dropped() {
    let m = sample();
    assert_eq!(
        purl(&m, find(&m, "libc6_")).unwrap(),
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=bookworm"
    );
}

#[test]
fn purl_deb_vendor_from_origin_with_spaces() {
    let mut m = sample();
    m.sources[0].origin = Some("Example Linux".into());
    assert_eq!(
        purl(&m, find(&m, "jq_")).unwrap(),
        "pkg:deb/example-linux/jq@1.6-2.1?arch=amd64&distro=bookworm"
    );
}

#[test]
fn purl_flat_repo_has_no_distro_and_vendor_is_the_source() {
    let m = sample();
    assert_eq!(
        purl(&m, find(&m, "tool_")).unwrap(),
        "pkg:deb/flat/tool@1.0?arch=all"
    );
}

#[test]
fn purl_pypi_name_is_normalized() {
    let m = sample();
    assert_eq!(
        purl(&m, find(&m, "requests-2.32.3-py3")).unwrap(),
        "pkg:pypi/requests@2.32.3"
    );
    assert_eq!(
        purl(&m, find(&m, "charset_normalizer-3.4.0")).unwrap(),
        "pkg:pypi/charset-normalizer@3.4.0"
    );
    let mut a = find(&m, "idna-3.10").clone();
    a.meta.name = Some("Zope.Interface".into());
    a.meta.version = Some("1.0+local.1".into());
    assert_eq!(
        purl(&m, &a).unwrap(),
        "pkg:pypi/zope-interface@1.0%2Blocal.1"
    );
}

#[test]
fn purl_oci_maps_host_port_and_takes_tag_and_arch() {
    let m = sample();
    let idx = index_digest();
    // Tags `latest` and `v1` point at the index: the first by byte order wins.
    assert_eq!(
        purl(&m, find(&m, &format!("manifests/{idx}"))).unwrap(),
        format!("pkg:oci/app@{idx}?repository_url=127.0.0.1:5000%2Fteam%2Fapp&tag=latest")
    );
    let child = d("child-amd64");
    assert_eq!(
        purl(&m, find(&m, &format!("manifests/{child}"))).unwrap(),
        format!("pkg:oci/app@{child}?arch=amd64&repository_url=127.0.0.1:5000%2Fteam%2Fapp")
    );
    // The cosign tag is not a tag of the signature manifest's purl.
    let sig = d("signature");
    assert!(
        !purl(&m, find(&m, &format!("manifests/{sig}")))
            .unwrap()
            .contains("tag=")
    );
}

#[test]
fn purl_matches_the_purl_spec_oci_build_vector() {
    // purl-spec tests/types/oci-test.json, build test for `static`, with the registry
    // replaced by a placeholder host.
    let mut m = sample();
    let dg = d("static");
    let served = "registry.example.org/distroless/static";
    m.artifacts = vec![
        Artifact {
            kind: ArtifactKind::OciManifest,
            upstream: Some("registry".into()),
            path: format!("v2/{served}/manifests/{dg}"),
            digest: dg,
            size: 1,
            media_type: None,
            meta: Meta::default(),
        },
        Artifact {
            kind: ArtifactKind::OciTag,
            upstream: Some("registry".into()),
            path: format!("v2/{served}/manifests/latest"),
            digest: dg,
            size: 1,
            media_type: None,
            meta: Meta::default(),
        },
    ];
    assert_eq!(
        purl(&m, &m.artifacts[0]).unwrap(),
        format!(
            "pkg:oci/static@{dg}?repository_url=registry.example.org%2Fdistroless%2Fstatic&tag=latest"
        )
    );
}

#[test]
fn non_components_have_no_purl() {
    let m = sample();
    for a in m.artifacts.iter().filter(|a| !is_component(a)) {
        assert_eq!(purl(&m, a), None, "{}", a.path);
    }
    assert_eq!(
        m.artifacts.iter().filter(|a| is_component(a)).count(),
        15,
        "6 debs, 5 python files, 4 OCI manifests"
    );
}

#[test]
fn purl_parse_reads_qualifiers() {
    let p =
        purl::parse("pkg:oci/app@sha256:00?arch=amd64&repository_url=h:1%2Fa%2Fb&tag=v1").unwrap();
    assert_eq!(p.ty, "oci");
    assert_eq!(p.qualifiers["repository_url"], "h:1/a/b");
    assert_eq!(p.qualifiers["tag"], "v1");
    assert!(purl::parse("http://x/y").is_none());
    assert!(purl::parse("pkg:").is_none());
}

// ----- generation -----

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

#[test]
fn output_is_deterministic_and_independent_of_artifact_order() {
    let m = sample();
    let (c1, s1) = (cyclonedx(&m), spdx(&m));
    assert_eq!(c1, cyclonedx(&m));
    assert_eq!(s1, spdx(&m));
    let mut r = m.clone();
    r.artifacts.reverse();
    r.artifacts.rotate_left(5);
    assert_eq!(c1, cyclonedx(&r));
    assert_eq!(s1, spdx(&r));
    assert!(c1.ends_with(b"}\n") && s1.ends_with(b"}\n"));
    // A different snapshot gets a different serial number.
    let mut other = m.clone();
    other.sequence = 4;
    assert_ne!(
        json(&cyclonedx(&other))["serialNumber"],
        json(&c1)["serialNumber"]
    );
}

#[test]
fn cyclonedx_shape() {
    let m = sample();
    let v = json(&cyclonedx(&m));
    assert_eq!(v["bomFormat"], "CycloneDX");
    assert_eq!(v["specVersion"], "1.6");
    assert_eq!(v["metadata"]["timestamp"], "2026-11-21T15:10:59Z");
    assert_eq!(
        v["metadata"]["tools"]["components"][0]["name"],
        "mirror-sync"
    );
    assert_eq!(v["metadata"]["tools"]["components"][0]["version"], "0.1.0");
    let serial = v["serialNumber"].as_str().unwrap();
    let uuid = serial.strip_prefix("urn:uuid:").unwrap();
    assert_eq!(uuid.len(), 36);
    assert_eq!(&uuid[14..15], "5", "version 5");
    assert!("89ab".contains(&uuid[19..20]), "RFC 4122 variant");

    let comps = v["components"].as_array().unwrap();
    let refs: Vec<&str> = comps
        .iter()
        .map(|c| c["bom-ref"].as_str().unwrap())
        .collect();
    let mut sorted = refs.clone();
    sorted.sort();
    assert_eq!(refs, sorted, "components sorted by bom-ref");
    assert_eq!(refs.len(), 15);
    assert!(!refs.contains(&crate::snapshot::SBOM_CYCLONEDX_PATH));

    let by_ref = |p: &str| comps.iter().find(|c| c["bom-ref"] == p).unwrap();
    let jq = by_ref(&path_of(&m, "jq_"));
    assert_eq!(jq["type"], "library");
    assert_eq!(jq["name"], "jq");
    assert_eq!(jq["version"], "1.6-2.1");
    assert_eq!(jq["hashes"][0]["alg"], "SHA-256");
    assert_eq!(jq["hashes"][0]["content"], find(&m, "jq_").digest.hex());
    assert_eq!(jq["externalReferences"][0]["type"], "distribution");
    assert_eq!(
        jq["externalReferences"][0]["url"],
        "http://apt.example.org/pool/jq.deb"
    );
    let props = |c: &Value| -> Vec<(String, String)> {
        c["properties"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_owned(),
                    p["value"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert!(props(jq).contains(&("mirror:path".into(), path_of(&m, "jq_"))));
    assert!(props(jq).contains(&("mirror:upstream".into(), "debian".into())));

    let req = by_ref(&path_of(&m, "requests-2.32.3-py3"));
    assert_eq!(req["licenses"][0]["expression"], "Apache-2.0");
    assert!(props(req).contains(&(
        "mirror:filename".into(),
        "requests-2.32.3-py3-none-any.whl".into()
    )));
    let idna = by_ref(&path_of(&m, "idna-3.10"));
    assert_eq!(idna["licenses"][0]["license"]["name"], "BSD License");

    let idx = index_digest();
    let index = by_ref(&path_of(&m, &format!("manifests/{idx}")));
    assert_eq!(index["type"], "container");
    assert_eq!(index["version"], idx.to_string());
    let child = by_ref(&path_of(&m, &format!("manifests/{}", d("child-amd64"))));
    assert!(props(child).contains(&("oci:platform".into(), "linux/amd64".into())));
    let sig = by_ref(&path_of(&m, &format!("manifests/{}", d("signature"))));
    assert_eq!(sig["type"], "data");
    assert!(props(sig).contains(&(
        "oci:artifactType".into(),
        crate::oci::COSIGN_SIMPLESIGNING.into()
    )));
    assert!(props(sig).contains(&(
        "mirror:subject".into(),
        path_of(&m, &format!("manifests/{idx}"))
    )));
}

#[test]
fn dependencies_follow_the_documented_rules() {
    let m = sample();
    let v = json(&cyclonedx(&m));
    let deps = v["dependencies"].as_array().unwrap();
    assert_eq!(
        deps.len(),
        16,
        "one entry per component and the snapshot root"
    );
    let root = &deps[0];
    assert_eq!(root["ref"], "urn:mirror:snapshot:cube-stable/3");
    assert_eq!(
        root["dependsOn"].as_array().unwrap().len(),
        15,
        "the root holds every component"
    );
    let of = |p: String| -> Vec<String> {
        deps.iter().find(|e| e["ref"] == p.as_str()).unwrap()["dependsOn"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_owned())
            .collect()
    };
    let mut want = vec![path_of(&m, "libc6_"), path_of(&m, "libjq1_")];
    want.sort();
    assert_eq!(of(path_of(&m, "jq_")), want);
    // `libfoo | libonig5 (>= 6)`: libfoo is absent, so the second alternative links.
    let mut want = vec![path_of(&m, "libc6_"), path_of(&m, "libonig5_")];
    want.sort();
    assert_eq!(of(path_of(&m, "libjq1_")), want);
    // An `all` package links to a package of any architecture.
    assert_eq!(of(path_of(&m, "tool_")), vec![path_of(&m, "jq_")]);
    // PEP 508: normalized names; the `extra == "socks"` requirement is skipped.
    let mut want = vec![
        path_of(&m, "charset_normalizer-3.4.0"),
        path_of(&m, "idna-3.10"),
    ];
    want.sort();
    assert_eq!(of(path_of(&m, "requests-2.32.3-py3")), want);
    // The index depends on its platform manifest only (not on referrers).
    let idx = index_digest();
    assert_eq!(
        of(path_of(&m, &format!("manifests/{idx}"))),
        vec![path_of(&m, &format!("manifests/{}", d("child-amd64")))]
    );
    assert!(of(path_of(&m, "libc6_")).is_empty());
}

#[test]
fn deb_version_constraints_and_arch_are_honoured() {
    let mut m = sample();
    m.artifacts.push(deb(
        "needs-new-libc",
        "1",
        "amd64",
        Some("bookworm"),
        &["libc6 (>= 9)"],
    ));
    m.artifacts
        .push(deb("needs-arm", "1", "arm64", Some("bookworm"), &["libc6"]));
    let v = json(&cyclonedx(&m));
    for p in ["needs-new-libc_", "needs-arm_"] {
        let e = v["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["ref"] == path_of(&m, p).as_str())
            .unwrap();
        assert_eq!(e["dependsOn"], serde_json::json!([]), "{p}");
    }
}

#[test]
fn referrers_are_linked_to_their_subject() {
    let m = sample();
    let idx = index_digest();
    let index_path = path_of(&m, &format!("manifests/{idx}"));
    let sig_path = path_of(&m, &format!("manifests/{}", d("signature")));
    let sbom_path = path_of(&m, &format!("manifests/{}", d("sbom-referrer")));

    let v = json(&cyclonedx(&m));
    let serial = v["serialNumber"]
        .as_str()
        .unwrap()
        .strip_prefix("urn:uuid:")
        .unwrap()
        .to_owned();
    let index = v["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["bom-ref"] == index_path.as_str())
        .unwrap();
    let refs: Vec<(String, String)> = index["externalReferences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["type"].as_str().unwrap().to_owned(),
                r["url"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(refs.contains(&(
        "digital-signature".into(),
        format!("urn:cdx:{serial}/1#{sig_path}")
    )));
    assert!(refs.contains(&("bom".into(), format!("urn:cdx:{serial}/1#{sbom_path}"))));

    let s = json(&spdx(&m));
    let id_of = |p: &str| {
        s["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["packageFileName"] == p)
            .unwrap()["SPDXID"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let rels = s["relationships"].as_array().unwrap();
    let has = |from: &str, ty: &str, to: &str| {
        rels.iter().any(|r| {
            r["spdxElementId"] == from
                && r["relationshipType"] == ty
                && r["relatedSpdxElement"] == to
        })
    };
    let (index_id, sig_id, sbom_id) = (id_of(&index_path), id_of(&sig_path), id_of(&sbom_path));
    assert!(has(&sbom_id, "DESCRIBES", &index_id));
    assert!(has(&sig_id, "OTHER", &index_id));
    assert!(!has(&sig_id, "DESCRIBES", &index_id));
    assert!(has("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-snapshot"));
    assert!(has("SPDXRef-snapshot", "CONTAINS", &index_id));
    assert!(!has("SPDXRef-DOCUMENT", "DESCRIBES", &index_id));
    let child_id = id_of(&path_of(&m, &format!("manifests/{}", d("child-amd64"))));
    assert!(has(&index_id, "DEPENDS_ON", &child_id));
}

#[test]
fn spdx_shape() {
    let m = sample();
    let s = json(&spdx(&m));
    assert_eq!(s["spdxVersion"], "SPDX-2.3");
    assert_eq!(s["dataLicense"], "CC0-1.0");
    assert_eq!(s["creationInfo"]["created"], "2026-11-21T15:10:59Z");
    assert_eq!(
        s["creationInfo"]["creators"][0],
        "Organization: snapshot signer ed25519:0011223344556677"
    );
    assert_eq!(s["creationInfo"]["creators"][1], "Tool: mirror-sync-0.1.0");
    assert!(
        s["documentNamespace"]
            .as_str()
            .unwrap()
            .starts_with("urn:uuid:")
    );
    let pkgs = s["packages"].as_array().unwrap();
    assert_eq!(pkgs.len(), 16, "15 components and the snapshot");
    assert_eq!(pkgs[0]["SPDXID"], "SPDXRef-snapshot");
    assert_eq!(pkgs[0]["name"], "cube-stable/3");
    assert_eq!(pkgs[0].get("packageFileName"), None);
    let pkg = |p: &str| pkgs.iter().find(|x| x["packageFileName"] == p).unwrap();
    let jq = pkg(&path_of(&m, "jq_"));
    assert!(
        jq["SPDXID"]
            .as_str()
            .unwrap()
            .strip_prefix("SPDXRef-")
            .unwrap()
            .bytes()
            .all(|b| b.is_ascii_hexdigit())
    );
    assert_eq!(jq["checksums"][0]["algorithm"], "SHA256");
    assert_eq!(jq["downloadLocation"], "http://apt.example.org/pool/jq.deb");
    assert_eq!(jq["licenseConcluded"], "NOASSERTION");
    assert_eq!(jq["licenseDeclared"], "NOASSERTION");
    assert_eq!(jq["filesAnalyzed"], false);
    assert_eq!(
        jq["externalRefs"][0]["referenceCategory"],
        "PACKAGE-MANAGER"
    );
    assert_eq!(jq["externalRefs"][0]["referenceType"], "purl");
    assert_eq!(
        jq["externalRefs"][0]["referenceLocator"],
        "pkg:deb/debian/jq@1.6-2.1?arch=amd64&distro=bookworm"
    );
    let idx = index_digest();
    assert_eq!(
        pkg(&path_of(&m, &format!("manifests/{idx}")))["downloadLocation"],
        "NOASSERTION"
    );
    assert_eq!(
        pkg(&path_of(&m, "requests-2.32.3-py3"))["licenseDeclared"],
        "Apache-2.0"
    );
    let idna = pkg(&path_of(&m, "idna-3.10"));
    let lid = idna["licenseDeclared"].as_str().unwrap();
    assert!(lid.starts_with("LicenseRef-mirror-"), "{lid}");
    let extracted = s["hasExtractedLicensingInfos"].as_array().unwrap();
    assert_eq!(extracted.len(), 1);
    assert_eq!(extracted[0]["licenseId"], lid);
    assert_eq!(extracted[0]["extractedText"], "BSD License");
    let rels = s["relationships"].as_array().unwrap();
    let from = |id: &str, ty: &str| {
        rels.iter()
            .filter(|r| r["spdxElementId"] == id && r["relationshipType"] == ty)
            .count()
    };
    assert_eq!(from("SPDXRef-DOCUMENT", "DESCRIBES"), 1, "the snapshot");
    assert_eq!(from("SPDXRef-snapshot", "CONTAINS"), 15, "every component");
}

// ----- parsing and checking -----

#[test]
fn round_trip_generate_parse_check() {
    let m = sample();
    let expected = components(&m);
    let from_cdx = parse_cyclonedx(&cyclonedx(&m)).unwrap();
    let from_spdx = parse_spdx(&spdx(&m)).unwrap();
    assert_eq!(from_cdx, expected);
    assert_eq!(from_spdx, expected);
    check_against(&m, &from_cdx).unwrap();
    check_against(&m, &from_spdx).unwrap();
    let idx = index_digest();
    let index = expected
        .iter()
        .find(|c| c.bom_ref.ends_with(&idx.to_string()))
        .unwrap();
    assert_eq!(index.ecosystem, Ecosystem::Oci);
    assert_eq!(index.tag.as_deref(), Some("latest"));
    assert_eq!(index.repository.as_deref(), Some("127.0.0.1:5000/team/app"));
    let jq = expected.iter().find(|c| c.name == "jq").unwrap();
    assert_eq!(jq.arch.as_deref(), Some("amd64"));
    assert_eq!(jq.tag, None);
}

fn err_msg(r: Result<(), SbomError>) -> String {
    match r {
        Err(SbomError::Mismatch(msg)) => msg,
        other => panic!("expected a mismatch, got {other:?}"),
    }
}

#[test]
fn check_against_names_a_missing_artifact() {
    let m = sample();
    let mut c = components(&m);
    let jq = path_of(&m, "jq_");
    c.retain(|x| x.bom_ref != jq);
    assert_eq!(
        err_msg(check_against(&m, &c)),
        format!("artifact {jq} has no component in the SBOM")
    );
}

#[test]
fn check_against_names_an_extra_component() {
    let m = sample();
    let mut c = components(&m);
    let mut extra = c[0].clone();
    extra.bom_ref = "apt/debian/pool/main/evil_1_amd64.deb".into();
    c.push(extra);
    assert_eq!(
        err_msg(check_against(&m, &c)),
        "component apt/debian/pool/main/evil_1_amd64.deb is not an artifact of the snapshot"
    );
    // A non-component artifact (a blob) is extra too.
    let mut c = components(&m);
    let mut blob = c[0].clone();
    blob.bom_ref = path_of(&m, "/blobs/");
    c.push(blob.clone());
    assert!(err_msg(check_against(&m, &c)).contains(&format!(
        "component {} is not an artifact of the snapshot",
        blob.bom_ref
    )));
}

#[test]
fn check_against_names_a_wrong_digest() {
    let m = sample();
    let mut c = components(&m);
    let i = c.iter().position(|x| x.name == "jq").unwrap();
    c[i].sha256 = d("tampered");
    assert_eq!(
        err_msg(check_against(&m, &c)),
        format!(
            "component {} has sha256 {} but the artifact has {}",
            c[i].bom_ref,
            d("tampered").hex(),
            find(&m, "jq_").digest.hex()
        )
    );
}

#[test]
fn check_against_names_a_duplicate() {
    let m = sample();
    let mut c = components(&m);
    c.push(c[3].clone());
    assert_eq!(
        err_msg(check_against(&m, &c)),
        format!("duplicate component {}", c[3].bom_ref)
    );
}

#[test]
fn check_against_lists_many_problems_with_a_count() {
    let m = sample();
    let msg = err_msg(check_against(&m, &[]));
    assert!(msg.contains("has no component in the SBOM"));
    let mut big = m.clone();
    for i in 0..30 {
        big.artifacts
            .push(deb(&format!("p{i}"), "1", "amd64", None, &[]));
    }
    let msg = err_msg(check_against(&big, &[]));
    assert!(msg.ends_with("; and 25 more"), "{msg}");
}

#[test]
fn duplicate_json_keys_are_refused() {
    let m = sample();
    let cdx = String::from_utf8(cyclonedx(&m)).unwrap();
    let dup = cdx.replacen(
        "\"name\": \"jq\",",
        "\"name\": \"jq\",\n      \"name\": \"evil\",",
        1,
    );
    assert_ne!(dup, cdx);
    let e = parse_cyclonedx(dup.as_bytes()).unwrap_err();
    assert!(
        matches!(&e, SbomError::Malformed(s) if s.contains("duplicate field")),
        "{e}"
    );
    let dup_top = cdx.replacen(
        "\"specVersion\": \"1.6\",",
        "\"specVersion\": \"1.6\",\n  \"specVersion\": \"1.6\",",
        1,
    );
    assert!(matches!(
        parse_cyclonedx(dup_top.as_bytes()),
        Err(SbomError::Malformed(_))
    ));

    let sp = String::from_utf8(spdx(&m)).unwrap();
    let dup = sp.replacen(
        "\"name\": \"jq\",",
        "\"name\": \"jq\",\n      \"name\": \"evil\",",
        1,
    );
    assert_ne!(dup, sp);
    assert!(matches!(
        parse_spdx(dup.as_bytes()),
        Err(SbomError::Malformed(s)) if s.contains("duplicate field")
    ));
}

#[test]
fn malformed_documents_are_refused() {
    assert!(matches!(
        parse_cyclonedx(b"not json"),
        Err(SbomError::Malformed(_))
    ));
    assert!(matches!(
        parse_cyclonedx(br#"{"bomFormat":"SPDX","specVersion":"1.6"}"#),
        Err(SbomError::Malformed(_))
    ));
    assert!(matches!(
        parse_cyclonedx(br#"{"bomFormat":"CycloneDX","specVersion":"2.0"}"#),
        Err(SbomError::Malformed(_))
    ));
    let no_hash = br#"{"bomFormat":"CycloneDX","specVersion":"1.6",
        "components":[{"type":"library","bom-ref":"a.deb","name":"a"}]}"#;
    assert!(matches!(
        parse_cyclonedx(no_hash),
        Err(SbomError::Malformed(s)) if s.contains("no SHA-256")
    ));
    let no_ref = br#"{"bomFormat":"CycloneDX","specVersion":"1.6",
        "components":[{"type":"library","name":"a"}]}"#;
    assert!(matches!(
        parse_cyclonedx(no_ref),
        Err(SbomError::Malformed(s)) if s.contains("no bom-ref")
    ));
    assert!(matches!(
        parse_spdx(br#"{"spdxVersion":"SPDX-3.0","packages":[]}"#),
        Err(SbomError::Malformed(_))
    ));
    let no_file = br#"{"spdxVersion":"SPDX-2.3","packages":[{"SPDXID":"SPDXRef-a","name":"a"}]}"#;
    assert!(matches!(
        parse_spdx(no_file),
        Err(SbomError::Malformed(s)) if s.contains("packageFileName")
    ));
    // An empty but valid document parses to no components.
    assert_eq!(
        parse_cyclonedx(br#"{"bomFormat":"CycloneDX","specVersion":"1.6"}"#).unwrap(),
        vec![]
    );
}

#[test]
fn size_limit_is_checked_first() {
    assert_eq!(check_size(b"{}"), Ok(()));
    // The limit itself is too large to allocate in a unit test; check the arithmetic.
    assert_eq!(MAX_SBOM_BYTES, 256 * 1024 * 1024);
}

#[test]
fn an_empty_manifest_gives_valid_empty_documents() {
    let mut m = sample();
    m.artifacts.clear();
    assert_eq!(parse_cyclonedx(&cyclonedx(&m)).unwrap(), vec![]);
    assert_eq!(parse_spdx(&spdx(&m)).unwrap(), vec![]);
    check_against(&m, &[]).unwrap();
}

// ----- diff -----

#[test]
fn diff_upgraded_added_removed() {
    let old_m = sample();
    let mut new_m = sample();
    new_m.sequence = 4;
    // Upgrade jq, remove libonig5, add a new wheel.
    let i = new_m
        .artifacts
        .iter()
        .position(|a| a.path.contains("jq_"))
        .unwrap();
    new_m.artifacts[i] = deb("jq", "1.7.1-3", "amd64", Some("bookworm"), &[]);
    new_m.artifacts.retain(|a| !a.path.contains("libonig5_"));
    new_m.artifacts.push(py(
        ArtifactKind::Wheel,
        "urllib3",
        "2.2.3",
        "urllib3-2.2.3-py3-none-any.whl",
        &[],
    ));
    // A second requests file of the same version changes nothing.
    new_m.artifacts.push(py(
        ArtifactKind::Wheel,
        "requests",
        "2.32.3",
        "requests-2.32.3-py2.py3-none-any.whl",
        &[],
    ));
    let old = parse_cyclonedx(&cyclonedx(&old_m)).unwrap();
    let new = parse_spdx(&spdx(&new_m)).unwrap();
    let dd = diff(&old, &new);
    assert_eq!(
        dd.changed,
        vec![Change {
            ecosystem: Ecosystem::Deb,
            name: "jq".into(),
            arch: Some("amd64".into()),
            old: vec!["1.6-2.1".into()],
            new: vec!["1.7.1-3".into()],
        }]
    );
    assert_eq!(
        dd.added,
        vec![DiffEntry {
            ecosystem: Ecosystem::Pypi,
            name: "urllib3".into(),
            arch: None,
            versions: vec!["2.2.3".into()],
        }]
    );
    assert_eq!(
        dd.removed,
        vec![DiffEntry {
            ecosystem: Ecosystem::Deb,
            name: "libonig5".into(),
            arch: Some("amd64".into()),
            versions: vec!["6.9.8-1".into()],
        }]
    );
    let table = dd.render_table();
    assert!(
        table.ends_with("1 changed, 1 added, 1 removed\n"),
        "{table}"
    );
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].contains("ecosystem") && lines[0].contains("old → new"));
    assert!(lines[1].starts_with("~ deb") && lines[1].contains("jq [amd64]"));
    assert!(lines[1].ends_with("1.6-2.1 → 1.7.1-3"), "{}", lines[1]);
    assert!(lines[2].starts_with("+ pypi") && lines[2].ends_with("→ 2.2.3"));
    assert!(lines[3].starts_with("- deb") && lines[3].ends_with("6.9.8-1 →"));
    // JSON output for scripts.
    let v = serde_json::to_value(&dd).unwrap();
    assert_eq!(v["changed"][0]["ecosystem"], "deb");
    assert_eq!(v["added"][0]["name"], "urllib3");
}

#[test]
fn diff_of_equal_lists_is_empty() {
    let c = components(&sample());
    let dd = diff(&c, &c);
    assert!(dd.is_empty());
    assert!(
        dd.render_table()
            .ends_with("0 changed, 0 added, 0 removed\n")
    );
}

#[test]
fn diff_oci_tag_moves_and_version_sets() {
    let old_m = sample();
    let mut new_m = sample();
    let new_idx = d("index-2");
    for a in &mut new_m.artifacts {
        if a.kind == ArtifactKind::OciTag && a.path.ends_with("/latest") {
            a.digest = new_idx;
        }
    }
    new_m.artifacts.push(oci(
        ArtifactKind::OciManifest,
        &new_idx.to_string(),
        new_idx,
        crate::oci::OCI_INDEX,
        Meta::default(),
    ));
    // Two versions of one Python project on one side: compared as sorted sets.
    new_m.artifacts.push(py(
        ArtifactKind::Wheel,
        "idna",
        "3.9",
        "idna-3.9-py3-none-any.whl",
        &[],
    ));
    let dd = diff(&components(&old_m), &components(&new_m));
    let repo = "127.0.0.1:5000/team/app";
    // The old index was `latest` (first tag by byte order); now `v1`: `latest` moved
    // to the new index, and `v1` appears.
    assert!(dd.changed.iter().any(|c| c.ecosystem == Ecosystem::Oci
        && c.name == format!("{repo}:latest")
        && c.old == vec![index_digest().to_string()]
        && c.new == vec![new_idx.to_string()]));
    assert!(
        dd.added
            .iter()
            .any(|a| a.name == format!("{repo}:v1")
                && a.versions == vec![index_digest().to_string()])
    );
    assert!(dd.changed.iter().any(|c| c.name == "idna"
        && c.old == vec!["3.10".to_string()]
        && c.new == vec!["3.9".to_string(), "3.10".to_string()]));
    let table = dd.render_table();
    assert!(table.contains("sha256:"), "{table}");
    assert!(!table.contains(&new_idx.hex()), "digests are shortened");
}

/// Issue 17: every component has a supplier (its own, else its source's), Debian purls
/// carry `distro=<id>-<version_id>` and `upstream=`, licenses with `LicenseRef-`s are
/// defined in SPDX, and both documents read all of it back.
#[test]
fn suppliers_licenses_distro_and_upstream_qualifiers() {
    let mut m = sample();
    if let Some(s) = m.sources.iter_mut().find(|s| s.name == "debian") {
        s.distro = Some("debian-12".into());
    }
    let jq = m
        .artifacts
        .iter_mut()
        .find(|a| a.meta.name.as_deref() == Some("jq"))
        .unwrap();
    jq.meta.supplier = Some("ChangZhuo Chen (陳昌倬) <czchen@example.org>".into());
    jq.meta.source = Some("jq (1.6-2)".into());
    jq.meta.license = Some("MIT AND LicenseRef-public-domain".into());
    let req = m
        .artifacts
        .iter_mut()
        .find(|a| a.meta.name.as_deref() == Some("requests"))
        .unwrap();
    req.meta.supplier = Some("\"Kenneth Reitz\" <me@example.org>, Other <o@example.org>".into());

    let comps = components(&m);
    let by = |name: &str| comps.iter().find(|c| c.name == name).unwrap();
    let jq = by("jq");
    assert_eq!(
        jq.purl.as_deref(),
        Some("pkg:deb/debian/jq@1.6-2.1?arch=amd64&distro=debian-12&upstream=jq%401.6-2")
    );
    assert_eq!(
        jq.supplier,
        Some(Supplier {
            name: "ChangZhuo Chen 陳昌倬".into(),
            email: Some("czchen@example.org".into())
        })
    );
    assert_eq!(
        by("requests")
            .supplier
            .as_ref()
            .map(Supplier::display)
            .as_deref(),
        Some("Kenneth Reitz <me@example.org>")
    );
    assert_eq!(
        by("idna").supplier.as_ref().map(|s| s.name.as_str()),
        Some("pypi.example.org"),
        "no metadata supplier: the index host"
    );
    assert_eq!(
        by("libc6").supplier.as_ref().map(|s| s.name.as_str()),
        Some("Debian"),
        "no Maintainer recorded: the Release Origin"
    );
    for c in &comps {
        assert!(c.supplier.is_some(), "{} has a supplier", c.bom_ref);
        if c.ecosystem == Ecosystem::Oci {
            assert_eq!(c.supplier.as_ref().unwrap().name, "127.0.0.1:5000");
        }
    }

    // Both formats carry them and read them back.
    assert_eq!(parse_cyclonedx(&cyclonedx(&m)).unwrap(), comps);
    assert_eq!(parse_spdx(&spdx(&m)).unwrap(), comps);
    let cdx = json(&cyclonedx(&m));
    let c = cdx["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "jq")
        .unwrap();
    assert_eq!(c["supplier"]["name"], "ChangZhuo Chen 陳昌倬");
    assert_eq!(c["supplier"]["contact"][0]["email"], "czchen@example.org");
    assert_eq!(
        c["licenses"][0]["expression"],
        "MIT AND LicenseRef-public-domain"
    );
    assert_eq!(
        cdx["metadata"]["authors"][0]["name"],
        "snapshot signer ed25519:0011223344556677"
    );
    let s = json(&spdx(&m));
    let p = s["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "jq")
        .unwrap();
    assert_eq!(
        p["supplier"],
        "Organization: ChangZhuo Chen 陳昌倬 (czchen@example.org)"
    );
    assert_eq!(p["licenseDeclared"], "MIT AND LicenseRef-public-domain");
    let defined: Vec<&str> = s["hasExtractedLicensingInfos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["licenseId"].as_str().unwrap())
        .collect();
    assert!(defined.contains(&"LicenseRef-public-domain"), "{defined:?}");
    // An IP-address download URL is not a downloadLocation (spdx-tools refuses it).
    let img = s["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["primaryPackagePurpose"] == "CONTAINER")
        .unwrap();
    assert_eq!(img["downloadLocation"], "NOASSERTION");
}

#[test]
fn supplier_parsing_keeps_names_and_addresses_apart() {
    let p = |s: &str| Supplier::parse(s);
    assert_eq!(
        p("Ubuntu Developers <ubuntu-devel@lists.example.org>"),
        Some(Supplier {
            name: "Ubuntu Developers".into(),
            email: Some("ubuntu-devel@lists.example.org".into())
        })
    );
    assert_eq!(
        p("a@example.org"),
        Some(Supplier {
            name: "a@example.org".into(),
            email: Some("a@example.org".into())
        })
    );
    assert_eq!(
        p("NVIDIA"),
        Some(Supplier {
            name: "NVIDIA".into(),
            email: None
        })
    );
    assert_eq!(
        p("Evil (x) <not an address>"),
        Some(Supplier {
            name: "Evil x".into(),
            email: None
        })
    );
    assert_eq!(p("  <>  "), None);
    assert_eq!(p(""), None);
}
