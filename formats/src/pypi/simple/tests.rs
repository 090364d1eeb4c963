//! Unit tests of [`crate::pypi::simple`].

use super::*;

const SHA_A: &str = "70761cfe03c773ceb22aa2f671b4757976145175cdfca038c02654d061d6dcc6";
const SHA_B: &str = "55365417734eb18255590a9ff9eb97e9e1da868d4ccd6402399eaf68af20a760";
const META: &str = "b0fcd7d3b0ad1ed3ba1a94f2276ba82ac1f06ee3be4d36a60a6b8bb4fdb19ae6";

fn page_url() -> Url {
    Url::parse("https://index.example/simple/requests/").unwrap()
}

fn realistic_page() -> String {
    format!(
        r#"<!DOCTYPE html>
<html>
  <head>
<meta name="pypi:repository-version" content="1.1">
<title>Links for requests</title>
  </head>
  <body>
<h1>Links for requests</h1>
<a href="../../packages/ab/cd/requests-2.32.3-py3-none-any.whl#sha256={SHA_A}" data-requires-python="&gt;=3.8" data-dist-info-metadata="sha256={META}" data-core-metadata="sha256={META}">requests-2.32.3-py3-none-any.whl</a><br />
<a href="../../packages/ef/01/requests-2.32.3.tar.gz#SHA256={up}" data-requires-python="&gt;=3.8">
    requests-2.32.3.tar.gz
</a><br />
<a href="https://files.example/packages/requests-2.32.0-py3-none-any.whl#md5=0123abcd&amp;egg=x" data-requires-python="&gt;=3.8" data-yanked="Yanked due to conflicts with CVE-2024-35195 mitigation" data-dist-info-metadata="true">requests-2.32.0-py3-none-any.whl</a><br />
<a href="/packages/requests-2.0.0.tar.gz" data-yanked="">requests-2.0.0.tar.gz</a><br />
<a name="no-href">not a file</a>
<a href="javascript:alert(1)">evil.tar.gz</a>
<a href="file:///etc/passwd">passwd-1.0.tar.gz</a>
  </body>
</html>
<!--SERIAL 123-->"#,
        up = SHA_B.to_uppercase()
    )
}

#[test]
fn parses_realistic_html_page() {
    let page = parse_project_html(&page_url(), &realistic_page()).unwrap();
    assert_eq!(page.name, "requests");
    assert_eq!(page.files.len(), 4, "{:#?}", page.files);

    let wheel = &page.files[0];
    assert_eq!(wheel.filename, "requests-2.32.3-py3-none-any.whl");
    assert_eq!(
        wheel.url.as_str(),
        "https://index.example/packages/ab/cd/requests-2.32.3-py3-none-any.whl"
    );
    assert_eq!(
        wheel.hashes,
        BTreeMap::from([("sha256".into(), SHA_A.into())])
    );
    assert_eq!(wheel.requires_python.as_deref(), Some(">=3.8"));
    assert_eq!(wheel.yanked, None);
    assert_eq!(
        wheel.core_metadata,
        CoreMetadataRef::Hashes(BTreeMap::from([("sha256".into(), META.into())]))
    );
    assert_eq!((wheel.size, wheel.upload_time.as_deref()), (None, None));

    let sdist = &page.files[1];
    assert_eq!(sdist.filename, "requests-2.32.3.tar.gz");
    // algorithm and hex lowercased
    assert_eq!(sdist.hashes.get("sha256").map(String::as_str), Some(SHA_B));
    assert_eq!(sdist.core_metadata, CoreMetadataRef::Absent);

    let yanked = &page.files[2];
    assert_eq!(
        yanked.url.as_str(),
        "https://files.example/packages/requests-2.32.0-py3-none-any.whl"
    );
    assert_eq!(
        yanked.hashes,
        BTreeMap::from([("md5".into(), "0123abcd".into())])
    );
    assert_eq!(
        yanked.yanked.as_deref(),
        Some("Yanked due to conflicts with CVE-2024-35195 mitigation")
    );
    assert_eq!(yanked.core_metadata, CoreMetadataRef::Present);

    let old = &page.files[3];
    assert_eq!(
        old.url.as_str(),
        "https://index.example/packages/requests-2.0.0.tar.gz"
    );
    assert_eq!(old.yanked.as_deref(), Some(""));
    assert!(old.hashes.is_empty());
}

#[test]
fn html_base_href_and_name_fallback() {
    let body = r#"<html><head><base href="https://mirror.example/root/"></head>
<a href="pkgs/foo-1.0.tar.gz">foo-1.0.tar.gz</a>
<a href="pkgs/foo-1.1.tar.gz"></a>"#;
    let url = Url::parse("https://index.example/simple/Foo%2Ebar/").unwrap();
    let page = parse_project_html(&url, body).unwrap();
    assert_eq!(page.name, "Foo.bar");
    assert_eq!(
        page.files[0].url.as_str(),
        "https://mirror.example/root/pkgs/foo-1.0.tar.gz"
    );
    // empty link text: file name from the URL
    assert_eq!(page.files[1].filename, "foo-1.1.tar.gz");

    let root = Url::parse("https://index.example/").unwrap();
    assert!(matches!(
        parse_project_html(&root, "<a href=x>x</a>"),
        Err(SimpleError::MissingProjectName { .. })
    ));
}

#[test]
fn malformed_html_never_panics() {
    let url = page_url();
    let inputs = [
        "",
        "<",
        "<a",
        "<a href=",
        "<a href=\"unterminated",
        "<a href='x.tar.gz'>x.tar.gz",
        "<a href=x.tar.gz><a href=y.tar.gz>y</a>",
        "<title>Links for",
        "<title></title><a href=\"http://[::1\">bad url</a>",
        "<a href=\"#sha256=zz\">frag only</a>",
        "\u{0}\u{fffd}<a href=\"\u{0}\">\u{0}</a>",
        "<script><a href=\"hidden.tar.gz\">hidden</a></script>",
        "<a href=\"x\" data-core-metadata=\"sha256=\" data-yanked>x</a>",
    ];
    for input in inputs {
        let _ = parse_project_html(&url, input);
        let _ = parse_index_html(input);
    }
    let page = parse_project_html(&url, "<a href='x.tar.gz'>x.tar.gz").unwrap();
    assert_eq!(page.files.len(), 1);
    let nested = parse_project_html(&url, "<a href=x.tar.gz><a href=y.tar.gz>y</a>").unwrap();
    assert_eq!(nested.files.len(), 2);
    let script =
        parse_project_html(&url, "<script><a href=\"hidden.tar.gz\">h</a></script>").unwrap();
    assert!(script.files.is_empty());
    let odd = parse_project_html(
        &url,
        "<a href=\"x\" data-core-metadata=\"sha256=\" data-yanked>x</a>",
    )
    .unwrap();
    assert_eq!(odd.files[0].core_metadata, CoreMetadataRef::Present);
    assert_eq!(odd.files[0].yanked.as_deref(), Some(""));
}

#[test]
fn parses_index_html() {
    let body = r#"<!DOCTYPE html><html><body>
<a href="/simple/requests/">requests</a>
<a href="/simple/zope-interface/"> zope.interface </a>
<a href="/simple/empty/"></a><a>no href</a>
</body></html>"#;
    assert_eq!(
        parse_index_html(body).unwrap(),
        ["requests", "zope.interface"]
    );
}

#[test]
fn parses_json_page() {
    let body = format!(
        r#"{{
  "meta": {{"api-version": "1.3", "_last-serial": 5}},
  "name": "requests",
  "versions": ["2.32.3"],
  "files": [
{{"filename": "requests-2.32.3-py3-none-any.whl",
  "url": "../../packages/requests-2.32.3-py3-none-any.whl",
  "hashes": {{"SHA256": "{up}"}},
  "requires-python": ">=3.8",
  "core-metadata": {{"sha256": "{META}"}},
  "size": 64928,
  "upload-time": "2024-05-29T15:37:47.027401Z",
  "yanked": false}},
{{"filename": "requests-2.32.0.tar.gz",
  "url": "https://files.example/requests-2.32.0.tar.gz#sha256={SHA_B}",
  "hashes": {{}},
  "requires-python": null,
  "dist-info-metadata": true,
  "yanked": "broken"}},
{{"filename": "requests-1.0.tar.gz", "url": "requests-1.0.tar.gz",
  "hashes": {{"sha256": "{SHA_B}"}}, "yanked": true, "core-metadata": false}},
{{"filename": "evil.tar.gz", "url": "file:///etc/shadow", "hashes": {{}}}}
  ]
}}"#,
        up = SHA_A.to_uppercase()
    );
    let page = parse_project_json(&page_url(), body.as_bytes()).unwrap();
    assert_eq!(page.name, "requests");
    assert_eq!(page.files.len(), 3);
    let a = &page.files[0];
    assert_eq!(
        a.url.as_str(),
        "https://index.example/packages/requests-2.32.3-py3-none-any.whl"
    );
    assert_eq!(a.hashes, BTreeMap::from([("sha256".into(), SHA_A.into())]));
    assert_eq!(a.requires_python.as_deref(), Some(">=3.8"));
    assert_eq!(a.size, Some(64928));
    assert_eq!(
        a.upload_time.as_deref(),
        Some("2024-05-29T15:37:47.027401Z")
    );
    assert_eq!(a.yanked, None);
    assert_eq!(
        a.core_metadata,
        CoreMetadataRef::Hashes(BTreeMap::from([("sha256".into(), META.into())]))
    );
    let b = &page.files[1];
    assert_eq!(
        b.url.as_str(),
        "https://files.example/requests-2.32.0.tar.gz"
    );
    assert_eq!(b.hashes.get("sha256").map(String::as_str), Some(SHA_B));
    assert_eq!(b.requires_python, None);
    assert_eq!(b.yanked.as_deref(), Some("broken"));
    assert_eq!(b.core_metadata, CoreMetadataRef::Present);
    let c = &page.files[2];
    assert_eq!(c.yanked.as_deref(), Some(""));
    assert_eq!(c.core_metadata, CoreMetadataRef::Absent);
    assert_eq!(
        c.url.as_str(),
        "https://index.example/simple/requests/requests-1.0.tar.gz"
    );
}

#[test]
fn json_errors() {
    let url = page_url();
    let v2 = br#"{"meta":{"api-version":"2.0"},"name":"x","files":[{"new":"shape"}]}"#;
    assert!(matches!(
        parse_project_json(&url, v2),
        Err(SimpleError::UnsupportedApiVersion { version, .. }) if version == "2.0"
    ));
    for bad in [
        &b""[..],
        b"{",
        b"[]",
        b"null",
        br#"{"name":"x","files":[]}"#,
        br#"{"meta":{"api-version":"1.0"},"files":[]}"#,
        br#"{"meta":{"api-version":"1.0"},"name":"x","files":[{"filename":"a"}]}"#,
        br#"{"meta":{"api-version":"1.0"},"name":"x","files":[{"filename":"a","url":"a","size":-1}]}"#,
        b"\xff\xfe",
    ] {
        assert!(
            matches!(parse_project_json(&url, bad), Err(SimpleError::Json { .. })),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    // deeply nested input hits serde_json's recursion limit instead of overflowing
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse_project_json(&url, deep.as_bytes()).is_err());
}

fn served() -> Vec<ServedFile> {
    vec![
        ServedFile {
            filename: "requests-2.32.3-py3-none-any.whl".into(),
            href: "requests-2.32.3-py3-none-any.whl".into(),
            sha256: SHA_A.into(),
            requires_python: Some(">=3.8".into()),
            yanked: None,
            core_metadata_sha256: Some(META.into()),
            size: 64928,
            upload_time: Some("2024-05-29T15:37:47.027401Z".into()),
        },
        ServedFile {
            filename: "requests-2.32.0.tar.gz".into(),
            href: "../../files/requests-2.32.0.tar.gz".into(),
            sha256: SHA_B.into(),
            requires_python: Some(">=3.7, <4 & \"odd\"".into()),
            yanked: Some("bad <release> & \"quotes\"".into()),
            core_metadata_sha256: None,
            size: 10,
            upload_time: None,
        },
        ServedFile {
            filename: "requests-2.9.0.tar.gz".into(),
            href: "requests-2.9.0.tar.gz".into(),
            sha256: SHA_B.into(),
            requires_python: None,
            yanked: Some(String::new()),
            core_metadata_sha256: None,
            size: 11,
            upload_time: None,
        },
    ]
}

#[test]
fn render_html_shape() {
    let html = render_project_html("Requests", &served());
    assert!(html.starts_with("<!DOCTYPE html>\n"));
    assert!(html.contains(r#"<meta name="pypi:repository-version" content="1.1">"#));
    assert!(html.contains("<title>Links for Requests</title>"));
    assert!(html.contains("<h1>Links for Requests</h1>"));
    assert!(html.contains(&format!(
        r#"<a href="requests-2.32.3-py3-none-any.whl#sha256={SHA_A}" data-requires-python="&gt;=3.8" data-core-metadata="sha256={META}" data-dist-info-metadata="sha256={META}">requests-2.32.3-py3-none-any.whl</a><br/>"#
    )));
    assert!(html.contains(r#"data-yanked="bad &lt;release&gt; &amp; &quot;quotes&quot;""#));
    assert!(html.contains(r#"data-yanked="">requests-2.9.0.tar.gz</a>"#));
    assert_eq!(html, render_project_html("Requests", &served()));
}

#[test]
fn render_then_parse_html_round_trip() {
    let files = served();
    let html = render_project_html("requests", &files);
    let page = parse_project_html(&page_url(), &html).unwrap();
    assert_eq!(page.name, "requests");
    let expected: Vec<FileEntry> = files
        .iter()
        .map(|f| FileEntry {
            filename: f.filename.clone(),
            url: page_url().join(&f.href).unwrap(),
            hashes: BTreeMap::from([("sha256".into(), f.sha256.clone())]),
            requires_python: f.requires_python.clone(),
            yanked: f.yanked.clone(),
            core_metadata: match &f.core_metadata_sha256 {
                Some(h) => CoreMetadataRef::Hashes(BTreeMap::from([("sha256".into(), h.clone())])),
                None => CoreMetadataRef::Absent,
            },
            size: None,
            upload_time: None,
        })
        .collect();
    assert_eq!(page.files, expected);
}

#[test]
fn render_then_parse_json_round_trip() {
    let files = served();
    let json = render_project_json("Requests", &files);
    let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(value["meta"]["api-version"], "1.1");
    assert_eq!(value["name"], "requests");
    assert_eq!(
        value["versions"],
        serde_json::json!(["2.9.0", "2.32.0", "2.32.3"])
    );
    assert_eq!(value["files"][0]["yanked"], false);
    assert_eq!(value["files"][1]["yanked"], "bad <release> & \"quotes\"");
    assert_eq!(value["files"][2]["yanked"], true);
    assert_eq!(value["files"][0]["core-metadata"]["sha256"], META);
    assert_eq!(value["files"][1]["dist-info-metadata"], false);
    assert_eq!(value["files"][0]["size"], 64928);
    assert!(value["files"][2].get("requires-python").is_none());
    assert!(value["files"][2].get("upload-time").is_none());

    let page = parse_project_json(&page_url(), &json).unwrap();
    assert_eq!(page.files.len(), 3);
    for (f, e) in files.iter().zip(&page.files) {
        assert_eq!(e.filename, f.filename);
        assert_eq!(e.url, page_url().join(&f.href).unwrap());
        assert_eq!(e.hashes.get("sha256"), Some(&f.sha256));
        assert_eq!(e.requires_python, f.requires_python);
        assert_eq!(e.yanked, f.yanked);
        assert_eq!(e.size, Some(f.size));
        assert_eq!(e.upload_time, f.upload_time);
    }
    assert_eq!(json, render_project_json("Requests", &files));
}

#[test]
fn render_index_pages() {
    let projects = vec!["Zope.Interface".to_owned(), "requests".to_owned()];
    let html = render_index_html(&projects);
    assert!(html.contains(r#"<a href="zope-interface/">Zope.Interface</a><br/>"#));
    assert_eq!(parse_index_html(&html).unwrap(), projects);
    let json: serde_json::Value = serde_json::from_slice(&render_index_json(&projects)).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"meta":{"api-version":"1.1"},"projects":[{"name":"Zope.Interface"},{"name":"requests"}]})
    );
}
