use super::*;

fn repo(flat: bool) -> AptRepo {
    AptRepo {
        name: "ubuntu".into(),
        uri: if flat {
            "http://m:8080/apt/ubuntu/".into()
        } else {
            "http://m:8080/apt/ubuntu".into()
        },
        flat,
        suites: if flat {
            vec![]
        } else {
            vec![
                "noble".into(),
                "noble-security".into(),
                "noble-updates".into(),
            ]
        },
        components: if flat {
            vec![]
        } else {
            vec!["main".into(), "universe".into()]
        },
        architectures: vec!["amd64".into()],
    }
}

#[test]
fn stanza_names_every_suite_and_component() {
    let s = deb822_stanza(&repo(false), "/etc/apt/keyrings/mirror.gpg");
    let lines: Vec<&str> = s.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        lines,
        [
            "Types: deb",
            "URIs: http://m:8080/apt/ubuntu",
            "Suites: noble noble-security noble-updates",
            "Components: main universe",
            "Architectures: amd64",
            "Signed-By: /etc/apt/keyrings/mirror.gpg",
        ]
    );
    let one = one_line(&repo(false), "/k.gpg");
    assert_eq!(one.lines().count(), 3);
    assert!(one.starts_with(
        "deb [signed-by=/k.gpg arch=amd64] http://m:8080/apt/ubuntu noble main universe\n"
    ));
}

#[test]
fn flat_repository() {
    let s = deb822_stanza(&repo(true), "/k.gpg");
    assert!(
        s.contains("URIs: http://m:8080/apt/ubuntu/\nSuites: /\n"),
        "{s}"
    );
    assert!(!s.contains("Components"), "{s}");
    assert_eq!(
        one_line(&repo(true), "/k.gpg"),
        "deb [signed-by=/k.gpg arch=amd64] http://m:8080/apt/ubuntu/ /\n"
    );
}

#[test]
fn python_files() {
    let p = pip_conf("http://m/simple/", Some("m"));
    assert!(p.contains("[global]\nindex-url = http://m/simple/\ntrusted-host = m\n"));
    let t: toml::Value = toml::from_str(&uv_toml("http://m/simple/")).unwrap();
    assert_eq!(t["python-downloads"].as_str(), Some("never"));
    assert_eq!(t["index"][0]["url"].as_str(), Some("http://m/simple/"));
    assert_eq!(t["index"][0]["default"].as_bool(), Some(true));
}

#[test]
fn repositories_of_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let cas = store::Cas::open(dir.path()).unwrap();
    let mut routes = std::collections::HashMap::new();
    let mut add = |path: &str, text: &str| {
        let digest = cas.put_bytes(text.as_bytes()).unwrap();
        routes.insert(
            Box::<str>::from(path),
            crate::live::Entry {
                digest,
                size: text.len() as u64,
                media_type: None,
            },
        );
    };
    let release = |suite: &str, comps: &str| {
        format!(
            "Suite: {suite}\nArchitectures: amd64 all\nComponents: {comps}\nSHA256:\n {} 0 main/binary-amd64/Packages\n",
            "0".repeat(64)
        )
    };
    for (suite, comps) in [
        ("noble", "main restricted"),
        ("noble-updates", "main universe"),
    ] {
        add(
            &format!("apt/ubuntu/dists/{suite}/Release"),
            &release(suite, comps),
        );
        add(&format!("apt/ubuntu/dists/{suite}/InRelease"), "signed");
    }
    // A per-component Release (no InRelease beside it) is not a suite.
    add(
        "apt/ubuntu/dists/noble/main/binary-amd64/Release",
        "Component: main\n",
    );
    let flat = format!(
        "Architectures: amd64\nSHA256:\n {} 0 Packages\n",
        "0".repeat(64)
    );
    add("apt/cuda/Release", &flat);
    add("apt/cuda/InRelease", "signed");
    let live = Live {
        name: "c/1".into(),
        channel: "c".into(),
        sequence: 1,
        routes,
        oci: crate::live::OciCatalog::default(),
    };
    let repos = apt_repos(&live, dir.path(), "http://m").unwrap();
    assert_eq!(repos.len(), 2, "{repos:?}");
    assert_eq!(repos[0].name, "cuda");
    assert!(repos[0].flat);
    assert_eq!(repos[0].uri, "http://m/apt/cuda/");
    assert_eq!(repos[0].architectures, ["amd64"]);
    assert_eq!(repos[1].name, "ubuntu");
    assert!(!repos[1].flat);
    assert_eq!(repos[1].suites, ["noble", "noble-updates"]);
    assert_eq!(repos[1].components, ["main", "restricted", "universe"]);
    assert_eq!(repos[1].architectures, ["amd64"]);
}

#[test]
fn base_url_forms_and_nothing_served() {
    let opts = |base_url| Options {
        base_url,
        keyring_path: DEFAULT_KEYRING_PATH,
        registries: &[],
        tls: None,
    };
    let c = build(
        None,
        Path::new("/nonexistent"),
        &opts("mirror.example:8080"),
    )
    .unwrap();
    assert_eq!(c.base_url, "http://mirror.example:8080");
    assert!(c.files.is_empty() && c.commands.is_empty() && c.oci.is_none());
    assert_eq!(c.notes.len(), 3, "{:?}", c.notes);
    let c = build(None, Path::new("/nonexistent"), &opts("https://m.example/")).unwrap();
    assert_eq!(c.base_url, "https://m.example");
    for bad in ["ftp://x", "http://x/sub", "http://u:p@x"] {
        assert!(
            build(None, Path::new("/nonexistent"), &opts(bad)).is_err(),
            "{bad}"
        );
    }
    let regs = ["registry.example:5000".to_owned()];
    let c = build(
        None,
        Path::new("/nonexistent"),
        &Options {
            registries: &regs,
            ..opts("http://m:8080")
        },
    )
    .unwrap();
    let kinds: Vec<&str> = c.files.iter().map(|f| f.kind.as_str()).collect();
    assert_eq!(kinds, ["containerd", "podman"]);
}

#[test]
fn tls_settings_for_every_client() {
    let dir = tempfile::tempdir().unwrap();
    // PEM parsing only decodes base64: any DER-looking bytes make a "certificate".
    let ca = dir.path().join("ca.pem");
    std::fs::write(
        &ca,
        "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let cert = dir.path().join("client.pem");
    std::fs::copy(&ca, &cert).unwrap();
    let key = dir.path().join("client.key");
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nMAMCAQE=\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let regs = ["docker.io".to_owned()];
    let opts = |base_url, tls| Options {
        base_url,
        keyring_path: DEFAULT_KEYRING_PATH,
        registries: &regs,
        tls,
    };
    let tls = TlsOptions {
        ca_cert: &ca,
        client: Some((&cert, &key)),
        dir: "/etc/mirror/tls/",
    };
    let c = build(
        None,
        Path::new("/nonexistent"),
        &opts("https://m.example:8443", Some(tls)),
    )
    .unwrap();
    let file = |kind: &str| {
        c.files
            .iter()
            .find(|f| f.kind == kind)
            .unwrap_or_else(|| panic!("no {kind}: {:?}", c.files))
    };
    assert_eq!(file("ca-cert").path, "/etc/mirror/tls/mirror-ca.crt");
    assert_eq!(
        file("docker-ca").path,
        "/etc/docker/certs.d/m.example:8443/ca.crt"
    );
    assert_eq!(
        file("podman-ca").path,
        "/etc/containers/certs.d/m.example:8443/ca.crt"
    );
    let apt = &file("apt-tls").content;
    assert!(
        apt.contains("Acquire::https::m.example::CaInfo \"/etc/mirror/tls/mirror-ca.crt\";\n"),
        "{apt}"
    );
    assert!(
        apt.contains("Acquire::https::m.example::SslKey \"/etc/mirror/tls/client.key\";\n"),
        "{apt}"
    );
    let hosts: toml::Value = toml::from_str(&file("containerd").content).unwrap();
    let host = &hosts["host"]["https://m.example:8443"];
    assert_eq!(host["ca"].as_str(), Some("/etc/mirror/tls/mirror-ca.crt"));
    assert_eq!(
        host["client"][0][1].as_str(),
        Some("/etc/mirror/tls/client.key")
    );
    let t = c.tls.as_ref().unwrap();
    assert_eq!(t.ca_sha256.len(), 1);
    let key_copies: Vec<(&str, u32)> = t
        .copies
        .iter()
        .filter(|f| f.from.iter().any(|p| p.ends_with("client.key")))
        .map(|f| (f.path.as_str(), f.mode))
        .collect();
    assert_eq!(
        key_copies,
        [
            ("/etc/mirror/tls/client.key", 0o600),
            ("/etc/mirror/tls/client.pem", 0o600),
            ("/etc/docker/certs.d/m.example:8443/client.key", 0o600),
            ("/etc/containers/certs.d/m.example:8443/client.key", 0o600),
        ]
    );
    let text = render_text(&c);
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["tls"]["copies"][1]["mode"], "0600", "{json}");
    // An IPv6 literal cannot scope apt options: they apply to every https source.
    let c6 = build(
        None,
        Path::new("/x"),
        &opts("https://[::1]:8443", Some(tls)),
    )
    .unwrap();
    let apt6 = &c6
        .files
        .iter()
        .find(|f| f.kind == "apt-tls")
        .unwrap()
        .content;
    assert!(
        apt6.contains("\nAcquire::https::CaInfo \"/etc/mirror/tls/mirror-ca.crt\";\n"),
        "{apt6}"
    );
    // Plain http with a CA, or a CA file that is not PEM: refused.
    let e = build(None, Path::new("/x"), &opts("http://m.example", Some(tls))).unwrap_err();
    assert!(e.to_string().contains("plain http"), "{e}");
    let e = build(
        None,
        Path::new("/x"),
        &opts(
            "https://m.example",
            Some(TlsOptions {
                ca_cert: &key,
                ..tls
            }),
        ),
    )
    .unwrap_err();
    assert!(e.to_string().contains("holds no PEM certificate"), "{e}");
    // https without a CA: a note, no TLS files.
    let c = build(None, Path::new("/x"), &opts("https://m.example", None)).unwrap();
    assert!(c.tls.is_none());
    assert!(
        c.notes.iter().any(|n| n.contains("--ca-cert")),
        "{:?}",
        c.notes
    );
}

#[test]
fn quoting() {
    assert_eq!(
        shell_quote("/etc/apt/keyrings/mirror.gpg"),
        "/etc/apt/keyrings/mirror.gpg"
    );
    assert_eq!(shell_quote("/a b/it's"), "'/a b/it'\\''s'");
}
