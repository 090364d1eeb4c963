//! The read-only web console (`/ui/`): hand-built signed drives are imported with the real
//! `mirror-server import`, served on 127.0.0.1:0 by the real server, and its pages are
//! fetched over HTTP: content, security headers, escaping of hostile drive strings, the
//! 4xx pages, `--no-ui`, and the `verify` outcome the overview reports.

use std::path::PathBuf;

use crate::common::{Fixture, Import};
use formats::snapshot::{Manifest, Meta};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap};

/// Snapshot `test/<seq>` holding `hello_<hello>` (a deb), the wheel of `requests 2.32.3`
/// and, when `extra`, the deb `newpkg 0.1`.
pub fn drive(fx: &Fixture, name: &str, seq: u64, hello: &str, extra: bool) -> PathBuf {
    let deb = format!("apt/cuda/hello_{hello}_amd64.deb");
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (deb.clone(), format!("deb hello {hello}").into_bytes()),
        (
            "simple/requests/requests-2.32.3-py3-none-any.whl".into(),
            b"PK\x03\x04 wheel".to_vec(),
        ),
        ("keys/repo.gpg".into(), b"key".to_vec()),
    ];
    if extra {
        files.push((
            "apt/cuda/newpkg_0.1_amd64.deb".into(),
            b"deb newpkg".to_vec(),
        ));
    }
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    fx.drive_with(
        name,
        seq,
        &refs,
        |m: &mut Manifest| {
            // Debs name no upstream: an APT upstream would need its signed indexes on
            // the drive (provenance is checked at import); the wheel names `pypi`.
            for a in &mut m.artifacts {
                a.upstream = None;
                if a.path.ends_with(".deb") {
                    let pkg = if a.path.contains("hello") {
                        "hello"
                    } else {
                        "newpkg"
                    };
                    a.meta = Meta {
                        name: Some(pkg.into()),
                        version: Some(if pkg == "hello" {
                            hello.into()
                        } else {
                            "0.1".into()
                        }),
                        architecture: Some("amd64".into()),
                        license: Some("GPL-3.0-or-later".into()),
                        supplier: Some("Ada Maintainer <ada@example.org>".into()),
                        upstream_url: Some(format!("http://archive.example/cuda/{}", a.path)),
                        ..Meta::default()
                    };
                } else if a.path.ends_with(".whl") {
                    a.upstream = Some("pypi".into());
                    a.meta = Meta {
                        name: Some("requests".into()),
                        version: Some("2.32.3".into()),
                        filename: Some("requests-2.32.3-py3-none-any.whl".into()),
                        license: Some("Apache-2.0".into()),
                        ..Meta::default()
                    };
                }
            }
        },
        None,
    )
}

/// A store with `test/1` (hello 1.0) and `test/2` (hello 1.1, newpkg), `test/2` current.
pub fn two_snapshots() -> Fixture {
    let fx = Fixture::new();
    let d1 = drive(&fx, "d1", 1, "1.0", false);
    fx.import(&d1, &[]).unwrap();
    let d2 = drive(&fx, "d2", 2, "1.1", true);
    fx.import(&d2, &[]).unwrap();
    fx
}

fn assert_console_headers(h: &HeaderMap, what: &str) {
    assert_eq!(
        h["content-security-policy"],
        mirror_server::ui::CSP,
        "{what}: CSP"
    );
    assert!(
        mirror_server::ui::CSP.contains("default-src 'none'")
            && mirror_server::ui::CSP.contains("frame-ancestors 'none'"),
        "{what}"
    );
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(h["referrer-policy"], "no-referrer", "{what}");
}

async fn get(client: &reqwest::Client, url: &str) -> (StatusCode, HeaderMap, String) {
    let r = client.get(url).send().await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

#[test]
fn pages_show_the_store() {
    let fx = two_snapshots();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let handle = mirror_server::serve::start(fx.store.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let base = format!("http://{}", handle.addr);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();

        // Overview: both snapshots, test/2 current, counts, verify never ran.
        let (s, h, body) = get(&client, &format!("{base}/ui/")).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(h[CONTENT_TYPE], "text/html; charset=utf-8");
        assert_console_headers(&h, "/ui/");
        assert!(body.contains("test/1") && body.contains("test/2"), "{body}");
        assert!(
            body.contains(r#"<strong class="live-name">test/2</strong>"#),
            "{body}"
        );
        assert!(body.contains("never verified"), "{body}");
        assert!(body.contains("<li>deb <span class=\"num\">2</span></li>"), "{body}");
        assert!(body.contains("/ui/snapshots/test/2/packages"), "{body}");
        assert!(!body.contains("<script"), "no JavaScript at all");

        // verify records its outcome; the overview shows it.
        mirror_server::cli::run([
            "mirror-server",
            "verify",
            "--store",
            fx.store.to_str().unwrap(),
            "--json",
        ])
        .unwrap();
        let (_, _, body) = get(&client, &format!("{base}/ui/")).await;
        assert!(body.contains("passed at "), "{body}");
        assert!(!body.contains("never verified"), "{body}");
        assert!(body.contains(">passed</span>"), "{body}");

        // Packages: search and ecosystem filter.
        let url = format!("{base}/ui/snapshots/test/2/packages");
        let (s, h, body) = get(&client, &format!("{url}?q=HEL")).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_console_headers(&h, "packages");
        assert!(body.contains(r#"<td class="pkg-name">hello</td>"#), "{body}");
        assert!(!body.contains(r#"<td class="pkg-name">requests</td>"#), "{body}");
        assert!(body.contains("1 of 3 packages match"), "{body}");
        assert!(body.contains("GPL-3.0-or-later"), "{body}");
        assert!(body.contains("Ada Maintainer &#60;ada@example.org&#62;"), "{body}");
        assert!(body.contains("http://archive.example/cuda/apt/cuda/hello_1.1_amd64.deb"), "{body}");
        let (_, _, body) = get(&client, &format!("{url}?ecosystem=pypi")).await;
        assert!(body.contains(r#"<td class="pkg-name">requests</td>"#), "{body}");
        assert!(!body.contains(r#"<td class="pkg-name">hello</td>"#), "{body}");
        assert!(body.contains("pkg:pypi/requests@2.32.3"), "{body}");
        // The wheel's metadata names no supplier: the SBOM's fallback, its index host.
        assert!(body.contains("<td class=\"pkg-supplier\">index.example</td>"), "{body}");

        // Diff: hello changed, newpkg added, the vulnerability section says it has no data.
        let (s, _, body) = get(&client, &format!("{base}/ui/diff?a=test/1&b=test/2")).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert!(body.contains("1 added, 0 removed, 1 changed"), "{body}");
        assert!(body.contains(r#"<td class="pkg-name">hello</td><td>amd64</td><td class="removed wrap">1.0</td><td class="added wrap">1.1</td>"#), "{body}");
        assert!(body.contains(r#"<td class="pkg-name">newpkg</td>"#), "{body}");
        assert!(
            body.contains("No vulnerability data in these snapshots: not compared: test/1 and test/2 carry no OSV data"),
            "{body}"
        );
        // Without parameters: the snapshot before the current one against it.
        let (_, _, default) = get(&client, &format!("{base}/ui/diff")).await;
        assert!(default.contains("1 added, 0 removed, 1 changed"), "{default}");

        // Audit: the two imports and the verify, chain intact.
        let (s, _, body) = get(&client, &format!("{base}/ui/audit")).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert!(body.contains("chain intact"), "{body}");
        assert!(body.contains(r#"<td class="event">verify</td>"#), "{body}");
        assert!(body.contains(r#"<td class="event">import</td>"#), "{body}");

        // Client setup for the address the browser used.
        let (s, _, body) = get(&client, &format!("{base}/ui/clients")).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert!(body.contains(&format!("<strong id=\"base-url\">{base}</strong>")), "{body}");
        assert!(body.contains("/etc/pip.conf") && body.contains(&format!("{base}/simple/")), "{body}");

        // The stylesheet.
        let (s, h, css) = get(&client, &format!("{base}/ui/style.css")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(h[CONTENT_TYPE], "text/css; charset=utf-8");
        assert_console_headers(&h, "style.css");
        assert!(css.contains("table"));

        // /ui redirects to /ui/.
        let r = client.get(format!("{base}/ui")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(r.headers()["location"], "/ui/");

        handle.shutdown().await;
    });
}

#[test]
fn bad_requests_get_clear_pages() {
    let fx = two_snapshots();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let handle = mirror_server::serve::start(fx.store.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let base = format!("http://{}", handle.addr);
        let client = reqwest::Client::new();
        for (path, status, says) in [
            (
                "/ui/snapshots/test/99/packages",
                404,
                "Snapshot test/99 is not held",
            ),
            (
                "/ui/snapshots/BAD/1/packages",
                400,
                "is not a snapshot name",
            ),
            (
                "/ui/snapshots/test/01/packages",
                400,
                "is not a snapshot name",
            ),
            (
                "/ui/snapshots/test/2/packages?page=abc",
                400,
                "is not a page number",
            ),
            (
                "/ui/snapshots/test/2/packages?page=9",
                404,
                "past the last page",
            ),
            (
                "/ui/snapshots/test/2/packages?ecosystem=npm",
                400,
                "Unknown ecosystem",
            ),
            ("/ui/diff?a=nope&b=test/1", 400, "is not a snapshot name"),
            (
                "/ui/diff?a=test/9&b=test/1",
                404,
                "Snapshot test/9 is not held",
            ),
            ("/ui/nothing/here", 404, "There is no console page"),
        ] {
            let (s, h, body) = get(&client, &format!("{base}{path}")).await;
            assert_eq!(s.as_u16(), status, "{path}: {body}");
            assert_eq!(h[CONTENT_TYPE], "text/html; charset=utf-8", "{path}");
            assert_console_headers(&h, path);
            assert!(body.contains(says), "{path}: {body}");
        }
        let long = format!("{base}/ui/snapshots/test/2/packages?q={}", "a".repeat(300));
        let (s, _, body) = get(&client, &long).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        // Read-only: other methods are refused, with the headers.
        for url in [format!("{base}/ui/"), format!("{base}/ui/audit")] {
            let r = client.post(&url).body("x").send().await.unwrap();
            assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{url}");
            assert_console_headers(r.headers(), "POST");
        }
        // HEAD works.
        let r = client
            .head(format!("{base}/ui/audit"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        handle.shutdown().await;
    });
}

#[test]
fn hostile_drive_strings_are_escaped() {
    let fx = Fixture::new();
    let evil_name = "<script>alert(1)</script>";
    let evil_version = "1.0\"><img src=x onerror=alert(2)>";
    let evil_license = "MIT' onmouseover='alert(3)";
    let drive = fx.drive_with(
        "evil",
        1,
        &[("apt/cuda/evil_1.0_amd64.deb", b"evil".as_slice())],
        |m| {
            let a = &mut m.artifacts[0];
            a.meta = Meta {
                name: Some(evil_name.into()),
                version: Some(evil_version.into()),
                license: Some(evil_license.into()),
                supplier: Some("\"Eve\" <eve@example.org>".into()),
                upstream_url: Some("javascript:alert(4)".into()),
                ..Meta::default()
            };
        },
        None,
    );
    fx.import(&drive, &[]).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let handle = mirror_server::serve::start(fx.store.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let base = format!("http://{}", handle.addr);
        let client = reqwest::Client::new();
        // The search text is reflected into the form: escaped too.
        let url = format!("{base}/ui/snapshots/test/1/packages?q=%3Cscript%3E%22x");
        let (s, _, body) = get(&client, &url).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert!(!body.contains("<script"), "{body}");
        assert!(
            body.contains(r#"value="&#60;script&#62;&#34;x""#)
                || body.contains("value=\"&lt;script&gt;&quot;x\""),
            "{body}"
        );
        let (_, _, body) = get(&client, &format!("{base}/ui/snapshots/test/1/packages")).await;
        for raw in [
            "<script",
            "<img",
            "onerror=alert(2)>",
            "' onmouseover='",
            "\"Eve\"",
            "<eve@",
            "href=\"javascript:",
        ] {
            assert!(!body.contains(raw), "{raw:?} unescaped in:\n{body}");
        }
        assert!(
            body.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
                || body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{body}"
        );
        assert!(
            body.contains("alert(3)"),
            "the license is shown, escaped: {body}"
        );
        handle.shutdown().await;
    });
}

#[test]
fn no_ui_turns_the_console_off() {
    let fx = two_snapshots();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let handle = mirror_server::serve::start_with(
            fx.store.clone(),
            "127.0.0.1:0".parse().unwrap(),
            mirror_server::serve::ServeOptions {
                ui: false,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let base = format!("http://{}", handle.addr);
        let client = reqwest::Client::new();
        let (s, h, _) = get(&client, &format!("{base}/ui/")).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert!(h.get("content-security-policy").is_none());
        // The artifacts are still served.
        let (s, _, body) = get(&client, &format!("{base}/keys/repo.gpg")).await;
        assert_eq!((s, body.as_str()), (StatusCode::OK, "key"));
        handle.shutdown().await;
    });
}
