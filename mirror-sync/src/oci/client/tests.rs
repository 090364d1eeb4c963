use std::path::Path;

use base64::Engine as _;

use super::*;

#[test]
fn bearer_challenge_with_quoted_commas() {
    let c = parse_www_authenticate(
        r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
    );
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].scheme, "bearer");
    assert_eq!(c[0].param("realm"), Some("https://auth.example/token"));
    assert_eq!(c[0].param("service"), Some("registry.example"));
    assert_eq!(c[0].param("scope"), Some("repository:a/b:pull,push"));
}

#[test]
fn several_challenges_and_escapes() {
    let c = parse_www_authenticate(
        r#"Basic realm="Registry \"x\"", charset=UTF-8, BEARER Realm=https://t.example/tok , error="insufficient_scope""#,
    );
    assert_eq!(c.len(), 2, "{c:?}");
    assert_eq!(c[0].scheme, "basic");
    assert_eq!(c[0].param("realm"), Some("Registry \"x\""));
    assert_eq!(c[0].param("charset"), Some("UTF-8"));
    assert_eq!(c[1].scheme, "bearer");
    assert_eq!(c[1].param("realm"), Some("https://t.example/tok"));
    assert_eq!(c[1].param("error"), Some("insufficient_scope"));
    assert!(parse_www_authenticate("").is_empty());
    assert!(parse_www_authenticate("=, ,").is_empty());
    assert!(parse_www_authenticate(r#"realm="a b", x=y"#).is_empty());
    // Unterminated quote does not panic.
    let c = parse_www_authenticate(r#"Bearer realm="abc"#);
    assert_eq!(c[0].param("realm"), Some("abc"));
}

#[test]
fn next_link() {
    assert_eq!(
        parse_next_link(r#"</v2/a/tags/list?n=2&last=b>; rel="next""#).as_deref(),
        Some("/v2/a/tags/list?n=2&last=b")
    );
    assert_eq!(
        parse_next_link(
            r#"<https://x.example/prev>; rel="prev", <https://x.example/n?last=z>; rel=next"#
        )
        .as_deref(),
        Some("https://x.example/n?last=z")
    );
    assert_eq!(parse_next_link(r#"</a>; rel="prev""#), None);
    assert_eq!(parse_next_link("garbage"), None);
    assert_eq!(parse_next_link("<unterminated; rel=next"), None);
}

#[test]
fn credential_sources() {
    assert_eq!(
        CredentialSource::parse("env:TOKEN_1").unwrap(),
        CredentialSource::Env("TOKEN_1".into())
    );
    assert_eq!(
        CredentialSource::parse("file:keys/ngc").unwrap(),
        CredentialSource::File("keys/ngc".into())
    );
    assert_eq!(
        CredentialSource::parse("docker-config").unwrap(),
        CredentialSource::DockerConfig(None)
    );
    assert_eq!(
        CredentialSource::parse("docker-config:/x/config.json").unwrap(),
        CredentialSource::DockerConfig(Some("/x/config.json".into()))
    );
    for bad in ["", "env:", "env:A-B", "file:", "token", "docker-config:"] {
        assert!(CredentialSource::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn credential_values() {
    let c = Credentials::from_value("alice:s3cr:et\n").unwrap();
    assert_eq!((c.username.as_str(), c.secret()), ("alice", "s3cr:et"));
    let c = Credentials::from_value("  nvapi-KEY \n").unwrap();
    assert_eq!(
        (c.username.as_str(), c.secret()),
        (OAUTH_TOKEN_USER, "nvapi-KEY")
    );
    assert!(Credentials::from_value("\n").is_none());
    assert!(Credentials::from_value(":x").is_none());
    assert!(Credentials::from_value("x:").is_none());
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("nvapi-KEY") && shown.contains("redacted"),
        "{shown}"
    );
}

#[test]
fn credentials_from_env_and_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ngc"), "nvapi-FROMFILE\n").unwrap();
    let c = CredentialSource::parse("file:ngc")
        .unwrap()
        .load("nvcr.io", dir.path())
        .unwrap();
    assert_eq!(
        (c.username.as_str(), c.secret()),
        (OAUTH_TOKEN_USER, "nvapi-FROMFILE")
    );
    let err = CredentialSource::parse("file:missing")
        .unwrap()
        .load("nvcr.io", dir.path())
        .unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    let err = CredentialSource::parse("env:MIRROR_SYNC_TEST_SURELY_UNSET_VAR")
        .unwrap()
        .load("nvcr.io", dir.path())
        .unwrap_err();
    assert!(matches!(err, CredentialsError::MissingEnv(_)), "{err}");
}

#[test]
fn docker_config_auths() {
    let auth = base64::engine::general_purpose::STANDARD.encode("bob:pa:ss");
    let json = format!(
        r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{auth}"}},
                "127.0.0.1:5000":{{"username":"u","password":"p"}},
                "tok.example":{{"identitytoken":"SECRET-REFRESH"}},
                "bad.example":{{"auth":"!!notbase64"}}}},
                "credHelpers":{{"helper.example":"ecr-login"}}}}"#
    );
    let c = from_docker_config(json.as_bytes(), "docker.io", "cfg").unwrap();
    assert_eq!((c.username.as_str(), c.secret()), ("bob", "pa:ss"));
    let c = from_docker_config(json.as_bytes(), "127.0.0.1:5000", "cfg").unwrap();
    assert_eq!((c.username.as_str(), c.secret()), ("u", "p"));
    let e = from_docker_config(json.as_bytes(), "tok.example", "cfg").unwrap_err();
    assert!(
        e.to_string().contains("identitytoken") && !e.to_string().contains("SECRET"),
        "{e}"
    );
    let e = from_docker_config(json.as_bytes(), "bad.example", "cfg").unwrap_err();
    assert!(e.to_string().contains("base64"), "{e}");
    let e = from_docker_config(json.as_bytes(), "helper.example", "cfg").unwrap_err();
    assert!(e.to_string().contains("credential helpers"), "{e}");
    let e = from_docker_config(json.as_bytes(), "none.example", "cfg").unwrap_err();
    assert!(matches!(e, CredentialsError::NoEntry { .. }), "{e}");
    let e = from_docker_config(br#"{"auths": "SECRET-VALUE"}"#, "x", "cfg").unwrap_err();
    assert!(!e.to_string().contains("SECRET"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), &json).unwrap();
    let c = CredentialSource::parse("docker-config:config.json")
        .unwrap()
        .load("127.0.0.1:5000", dir.path())
        .unwrap();
    assert_eq!(c.username, "u");
}

use super::super::test_server::{Route, serve};

fn fetcher(dir: &Path) -> Fetcher {
    let cas = std::sync::Arc::new(store::Cas::open(dir).unwrap());
    Fetcher::new(
        cas,
        2,
        2,
        std::time::Duration::from_secs(5),
        crate::progress::Progress::hidden(),
    )
    .unwrap()
}

#[tokio::test]
async fn bearer_token_flow_manifest_digest_and_tag_pagination() {
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#.to_vec();
    let mdigest = Digest::of(&manifest);
    let basic = format!(
        "basic {}",
        base64::engine::general_purpose::STANDARD.encode("alice:s3cret")
    )
    .to_ascii_lowercase();
    let realm = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let realm2 = realm.clone();
    let m2 = manifest.clone();
    let route: std::sync::Arc<Route> = std::sync::Arc::new(move |path: &str, head: &str| {
        let authed = head.contains("authorization: bearer tok-1");
        if path.starts_with("/token") {
            return if head.contains(&format!("authorization: {basic}"))
                && path.contains("scope=repository%3Ateam%2Fapp%3Apull")
                && path.contains("service=reg")
            {
                (200, vec![], br#"{"access_token":"tok-1"}"#.to_vec())
            } else {
                (401, vec![], b"{}".to_vec())
            };
        }
        if !authed {
            let r = realm2.lock().unwrap().clone();
            return (
                401,
                vec![(
                    "www-authenticate".into(),
                    format!(
                        r#"Bearer realm="{r}token",service="reg",scope="repository:team/app:pull""#
                    ),
                )],
                b"{}".to_vec(),
            );
        }
        match path {
            "/v2/team/app/manifests/v1" => (
                200,
                vec![(
                    "content-type".into(),
                    "application/vnd.oci.image.manifest.v1+json".into(),
                )],
                m2.clone(),
            ),
            "/v2/team/app/manifests/bad" => (
                200,
                vec![(
                    "docker-content-digest".into(),
                    Digest::of(b"other").to_string(),
                )],
                m2.clone(),
            ),
            "/v2/team/app/tags/list" => (
                200,
                vec![(
                    "link".into(),
                    r#"</v2/team/app/tags/list?n=2&last=b>; rel="next""#.into(),
                )],
                br#"{"name":"team/app","tags":["a","b"]}"#.to_vec(),
            ),
            "/v2/team/app/tags/list?n=2&last=b" => {
                (200, vec![], br#"{"name":"team/app","tags":["c"]}"#.to_vec())
            }
            p if p.starts_with("/v2/team/app/manifests/sha256:") => (200, vec![], m2.clone()),
            _ => (
                404,
                vec![],
                br#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#.to_vec(),
            ),
        }
    });
    let (base, log) = serve(route).await;
    *realm.lock().unwrap() = base.to_string();
    let dir = tempfile::tempdir().unwrap();
    let f = fetcher(dir.path());
    let c = RegistryClient::new(&f, &base, Some(Credentials::new("alice", "s3cret")));
    let m = c.get_manifest("team/app", "v1").await.unwrap();
    assert_eq!(m.digest, mdigest);
    assert_eq!(m.bytes.as_ref(), manifest.as_slice());
    assert_eq!(
        m.content_type.as_deref(),
        Some("application/vnd.oci.image.manifest.v1+json")
    );
    // By digest: the cached token is reused, the bytes must hash to the digest.
    let by_digest = c
        .get_manifest("team/app", &mdigest.to_string())
        .await
        .unwrap();
    assert_eq!(by_digest.digest, mdigest);
    let other = Digest::of(b"other");
    let err = c
        .get_manifest("team/app", &other.to_string())
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("not the requested"), "{err:#}");
    assert!(
        c.get_manifest_optional("team/app", "missing")
            .await
            .unwrap()
            .is_none()
    );
    let err = c.get_manifest("team/app", "bad").await.unwrap_err();
    assert!(
        format!("{err:#}").contains("Docker-Content-Digest"),
        "{err:#}"
    );
    assert_eq!(c.list_tags("team/app").await.unwrap(), vec!["a", "b", "c"]);
    let log = log.lock().unwrap().clone();
    let tokens = log.iter().filter(|l| l.starts_with("/token")).count();
    assert_eq!(tokens, 1, "token cached per scope: {log:?}");
    assert!(log.iter().all(|l| !l.contains("s3cret")));
    // Wrong credentials: a clear error that does not show the secret.
    let bad = RegistryClient::new(&f, &base, Some(Credentials::new("alice", "nope-secret")));
    let err = format!(
        "{:#}",
        bad.get_manifest("team/app", "v1").await.unwrap_err()
    );
    assert!(err.contains("refused the configured credentials"), "{err}");
    assert!(!err.contains("nope-secret"), "{err}");
}
