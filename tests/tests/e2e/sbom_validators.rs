//! The SBOMs of a real snapshot holding every artifact kind (debs built by `dpkg-deb` in
//! xz, zstd and gzip, wheels, an sdist, OCI images, an index and a referrer) pass the
//! validators a security reviewer's tools use (issue 17):
//! - `ntia-checker` (ntia-conformance-checker) on the SPDX document: the 2021 NTIA
//!   minimum elements (supplier, name, version, identifiers, dependencies, author,
//!   timestamp) for every component;
//! - `pyspdxtools -i` (spdx-tools) on the SPDX document;
//! - cyclonedx-python-lib's `JsonStrictValidator` for CycloneDX 1.6.
//!
//! They run from the venv `deploy/test-deps.sh` makes (`~/.cache/mirror-tests/sbom-venv`,
//! or `SBOM_VENV`). The test also checks what the validators cannot: the licenses read
//! from each deb's copyright file, the suppliers, and the `distro`/`upstream` purl
//! qualifiers scanners match on.

use std::path::PathBuf;
use std::process::Command;

use mirror_e2e::apt_fixture::DebSpec;
use mirror_e2e::oci_fixture::{Registry, seed_registry};
use mirror_e2e::product::{read_manifest, s, sync_cli};
use mirror_e2e::world::world;
use serde_json::Value;

/// The validators' venv: `SBOM_VENV`, else the one `deploy/test-deps.sh` makes.
fn venv() -> Option<PathBuf> {
    let dir = std::env::var("SBOM_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
            PathBuf::from(home).join(".cache/mirror-tests/sbom-venv")
        });
    if dir.join("bin/ntia-checker").exists() {
        return Some(dir);
    }
    if mirror_e2e::in_ci() {
        panic!(
            "the SBOM validators are not installed in {} and CI is set: deploy/test-deps.sh installs them",
            dir.display()
        );
    }
    eprintln!(
        "skipping: SBOM validators not installed ({})",
        dir.display()
    );
    None
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("validator runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn sboms_of_every_artifact_kind_pass_ntia_spdx_tools_and_cyclonedx_strict() {
    if !mirror_e2e::require_tools(&["docker-registry", "skopeo"]) {
        return;
    }
    let Some(venv) = venv() else { return };
    let Some(w) = world() else { return };
    // A package whose documentation directory links to another package's (Policy §12.5).
    w.apt
        .add_standard_deb(
            &DebSpec::new("cube-linked", "1.0-1", "amd64")
                .field("Depends", "cube-base")
                .doc_link("cube-base"),
        )
        .unwrap();
    w.apt.refresh_standard().unwrap();
    let reg = Registry::start().expect("registry");
    seed_registry(&reg, w.tmp.path()).expect("seed registry");
    let cfg = std::fs::read_to_string(&w.config).unwrap();
    let cfg = cfg
        .replacen(
            "name = \"fixture\"\n",
            "name = \"fixture\"\ntarget_distro = \"debian-12\"\n",
            1,
        )
        .replacen(
            r#"packages = ["cube-tool", "cube-alt", "cube-plus"]"#,
            r#"packages = ["cube-tool", "cube-alt", "cube-plus", "unrelated", "cube-linked"]"#,
            1,
        );
    let cfg = format!(
        "{cfg}\n[[oci]]\nname = \"local\"\nregistry = \"{host}\"\nurl = \"{url}\"\nimages = [\"team/app:1.0\", \"team/multi:2.0\", \"team/withref:1.0\"]\nplatforms = [\"linux/amd64\"]\n",
        host = reg.host,
        url = reg.url
    );
    assert!(cfg.contains("target_distro = \"debian-12\"") && cfg.contains("\"cube-linked\"]"));
    std::fs::write(&w.config, cfg).unwrap();
    sync_cli(&["sync", "--config", s(&w.config), "--quiet"]).expect("sync");
    let drive = w.path("drive");
    sync_cli(&[
        "export",
        "--config",
        s(&w.config),
        "--to",
        s(&drive),
        "--quiet",
    ])
    .expect("export");
    let (_, m) = read_manifest(&drive);

    let dir = w.path("sboms");
    std::fs::create_dir_all(&dir).unwrap();
    let mut docs = Vec::new();
    for format in ["cyclonedx", "spdx"] {
        let mut out = Vec::new();
        mirror_sync::cli::run_to(
            vec!["mirror-sync", "sbom", "show", s(&drive), "--format", format],
            &mut out,
        )
        .expect("sbom show");
        let path = dir.join(format!("{format}.json"));
        std::fs::write(&path, &out).unwrap();
        docs.push((path, serde_json::from_slice::<Value>(&out).unwrap()));
    }
    let (cdx_path, cdx) = &docs[0];
    let (spdx_path, spdx) = &docs[1];

    // Every kind is in there.
    let comps = formats::sbom::components(&m);
    for kind in [".deb", ".whl", ".tar.gz", "/manifests/sha256:"] {
        assert!(
            comps.iter().any(|c| c.bom_ref.contains(kind)),
            "no {kind} component"
        );
    }
    assert!(
        cdx["components"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "data"),
        "the referrer is a component"
    );
    // Licenses from each deb's own copyright file, in each compression.
    let by = |name: &str| comps.iter().find(|c| c.name == name).unwrap();
    assert_eq!(
        by("cube-tool").license.as_deref(),
        Some("GPL-2.0-or-later"),
        "xz"
    );
    assert_eq!(
        by("unrelated").license.as_deref(),
        Some("MIT AND GPL-2.0-or-later"),
        "zstd: Expat is MIT"
    );
    assert_eq!(
        by("cube-plus").license.as_deref(),
        Some("(BSD-3-Clause OR Apache-2.0) AND GPL-2.0-or-later"),
        "gzip"
    );
    assert_eq!(
        by("cube-linked").license.as_deref(),
        Some("GPL-2.0-or-later"),
        "cube-base's, through the linked documentation directory"
    );
    assert_eq!(
        by("cube-tool")
            .supplier
            .as_ref()
            .map(|s| s.display())
            .as_deref(),
        Some("Mirror Test <upstream@example.invalid>"),
        "the Debian Maintainer"
    );
    assert!(
        by("cube-tool")
            .purl
            .as_deref()
            .unwrap()
            .contains("distro=debian-12"),
        "{:?}",
        by("cube-tool").purl
    );
    for c in &comps {
        assert!(c.supplier.is_some(), "{} has no supplier", c.bom_ref);
        if c.ecosystem == formats::sbom::Ecosystem::Deb {
            assert!(c.license.is_some(), "{} has no license", c.bom_ref);
        }
    }
    assert_eq!(
        formats::sbom::parse_cyclonedx(&std::fs::read(cdx_path).unwrap()).unwrap(),
        {
            let mut c = comps.clone();
            c.sort_by(|a, b| a.bom_ref.cmp(&b.bom_ref));
            c
        }
    );
    assert!(spdx["packages"].as_array().unwrap().len() > comps.len());

    // The validators.
    let bin = venv.join("bin");
    let ntia = run(Command::new(bin.join("ntia-checker")).arg(spdx_path));
    assert!(ntia.contains("Conformant: True"), "{ntia}");
    run(Command::new(bin.join("pyspdxtools"))
        .arg("-i")
        .arg(spdx_path));
    let strict = run(Command::new(bin.join("python"))
        .arg("-c")
        .arg(
            "import sys\n\
         from cyclonedx.validation.json import JsonStrictValidator\n\
         from cyclonedx.schema import SchemaVersion\n\
         err = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())\n\
         print('cyclonedx strict:', err)\n\
         sys.exit(1 if err is not None else 0)\n",
        )
        .arg(cdx_path));
    assert!(strict.contains("cyclonedx strict: None"), "{strict}");

    // The validators really check: a component without a supplier fails NTIA, and a
    // CycloneDX document with a bad field fails strict validation.
    let mut broken = spdx.clone();
    if let Some(p) = broken["packages"].as_array_mut().unwrap().get_mut(1) {
        p["supplier"] = Value::String("NOASSERTION".into());
    }
    let broken_path = dir.join("broken-spdx.json");
    std::fs::write(&broken_path, serde_json::to_vec(&broken).unwrap()).unwrap();
    let out = Command::new(bin.join("ntia-checker"))
        .arg(&broken_path)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "NTIA accepted a component without a supplier"
    );
    let mut broken = cdx.clone();
    broken["components"][0]["hashes"][0]["alg"] = Value::String("CRC-32".into());
    let broken_path = dir.join("broken-cdx.json");
    std::fs::write(&broken_path, serde_json::to_vec(&broken).unwrap()).unwrap();
    let out = Command::new(bin.join("python"))
        .arg("-c")
        .arg(
            "import sys\n\
             from cyclonedx.validation.json import JsonStrictValidator\n\
             from cyclonedx.schema import SchemaVersion\n\
             sys.exit(1 if JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read()) else 0)\n",
        )
        .arg(&broken_path)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "strict validation accepted a bad hash algorithm"
    );
}
