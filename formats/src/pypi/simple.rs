//! Simple repository API pages: PEP 503 HTML, PEP 691 JSON, with PEP 592 (yanked),
//! PEP 629 (`pypi:repository-version`), PEP 658/714 (core metadata) and PEP 700
//! (`size`, `upload-time`, `versions`).
//!
//! Parsers take pages fetched from an upstream index, which is untrusted input: they
//! never panic, skip links they cannot use, resolve relative URLs against the page URL,
//! and refuse links to other URL schemes than `http`/`https` or the page's own.
//! Renderers produce the pages we serve, deterministically (same input, same bytes).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use html5gum::{DefaultEmitter, Token, Tokenizer};
use serde::{Deserialize, Serialize};
use url::Url;

use super::filename::DistFilename;
use super::name::normalize;

/// PEP 691 JSON media type, version 1.
pub const JSON_MEDIA_TYPE: &str = "application/vnd.pypi.simple.v1+json";
/// PEP 691 HTML media type, version 1.
pub const HTML_MEDIA_TYPE: &str = "application/vnd.pypi.simple.v1+html";

/// API version we render (PEP 700 fields need 1.1).
const API_VERSION: &str = "1.1";

/// Hash algorithms pip recognizes in a URL fragment (`#sha256=<hex>`).
const FRAGMENT_HASHES: [&str; 6] = ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];

/// Why a simple-index page was refused.
#[derive(Debug, thiserror::Error)]
pub enum SimpleError {
    /// The JSON body is not a PEP 691 project or index page.
    #[error("invalid PEP 691 JSON page at {url}: {source}")]
    Json {
        /// Page URL.
        url: String,
        /// The decoding error (with line and column).
        source: serde_json::Error,
    },
    /// `meta.api-version` has a major version other than 1 (PEP 629: refuse it).
    #[error("page at {url} uses simple API version {version:?}; only major version 1 is supported")]
    UnsupportedApiVersion {
        /// Page URL.
        url: String,
        /// The `api-version` value found.
        version: String,
    },
    /// Neither `<title>Links for …</title>` nor the page URL names the project.
    #[error(
        "cannot tell which project the page at {url} is for: no \"Links for <name>\" title and no last path segment"
    )]
    MissingProjectName {
        /// Page URL.
        url: String,
    },
}

/// Whether and how a file's core metadata (PEP 658 `.metadata` file) is available.
#[derive(Debug, Clone, PartialEq)]
pub enum CoreMetadataRef {
    /// No `.metadata` file.
    Absent,
    /// A `.metadata` file exists; its hash is not given.
    Present,
    /// A `.metadata` file exists with these hashes (lowercase algorithm → lowercase hex).
    Hashes(BTreeMap<String, String>),
}

/// One distribution file listed on a project page.
#[derive(Debug, Clone, PartialEq)]
pub struct FileEntry {
    /// File name: the link text (HTML) or `filename` (JSON), trimmed.
    pub filename: String,
    /// Absolute file URL: relative hrefs resolved against the page (or `<base href>`),
    /// fragment stripped.
    pub url: Url,
    /// Lowercase algorithm name → lowercase hex digest, from JSON `hashes` or the HTML
    /// `#<alg>=<hex>` URL fragment. Non-hex values are dropped.
    pub hashes: BTreeMap<String, String>,
    /// `data-requires-python` / `requires-python`, HTML-unescaped (e.g. `">=3.8"`).
    pub requires_python: Option<String>,
    /// PEP 592: `None` if not yanked, `Some("")` if yanked without a reason,
    /// `Some(reason)` otherwise.
    pub yanked: Option<String>,
    /// PEP 658/714 core metadata availability.
    pub core_metadata: CoreMetadataRef,
    /// PEP 700 size in bytes (JSON only).
    pub size: Option<u64>,
    /// PEP 700 upload time, ISO 8601 as given (JSON only).
    pub upload_time: Option<String>,
}

/// A parsed project page (PEP 503 / PEP 691).
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectPage {
    /// Project name as the page gives it (HTML title or JSON `name`), not normalized.
    pub name: String,
    /// Files in page order.
    pub files: Vec<FileEntry>,
}

/// Whether a link target may be followed from a page at `page`: `http`, `https`, or the
/// page's own scheme (so a `file:` index may link to `file:` files, but an `http` page
/// may not point at local files).
fn scheme_allowed(page: &Url, target: &Url) -> bool {
    matches!(target.scheme(), "http" | "https") || target.scheme() == page.scheme()
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Parses `sha256=<hex>&…` fragments into lowercase algorithm → lowercase hex.
fn fragment_hashes(fragment: &str) -> BTreeMap<String, String> {
    fragment
        .split('&')
        .filter_map(|part| part.split_once('='))
        .map(|(alg, hex)| (alg.to_ascii_lowercase(), hex.to_ascii_lowercase()))
        .filter(|(alg, hex)| FRAGMENT_HASHES.contains(&alg.as_str()) && is_hex(hex))
        .collect()
}

/// Lowercases a hash dictionary and drops entries whose value is not hex.
fn clean_hashes(hashes: BTreeMap<String, String>) -> BTreeMap<String, String> {
    hashes
        .into_iter()
        .map(|(alg, hex)| (alg.to_ascii_lowercase(), hex.to_ascii_lowercase()))
        .filter(|(alg, hex)| !alg.is_empty() && is_hex(hex))
        .collect()
}

/// Resolves `href` against `base`; returns the fragment-free URL and the fragment hashes.
fn resolve(page: &Url, base: &Url, href: &str) -> Option<(Url, BTreeMap<String, String>)> {
    let mut url = base.join(href.trim()).ok()?;
    if !scheme_allowed(page, &url) {
        return None;
    }
    let hashes = url.fragment().map(fragment_hashes).unwrap_or_default();
    url.set_fragment(None);
    Some((url, hashes))
}

/// PEP 714 HTML attribute value: `true`, or `<alg>=<hex>`.
fn html_core_metadata(value: Option<&str>) -> CoreMetadataRef {
    match value.map(str::trim) {
        None => CoreMetadataRef::Absent,
        Some(v) if v.eq_ignore_ascii_case("false") => CoreMetadataRef::Absent,
        Some(v) => match v.split_once('=') {
            Some((alg, hex)) => {
                let hashes = clean_hashes(BTreeMap::from([(alg.to_owned(), hex.to_owned())]));
                if hashes.is_empty() {
                    CoreMetadataRef::Present
                } else {
                    CoreMetadataRef::Hashes(hashes)
                }
            }
            // "true", or anything pip would also read as "present, hash unknown"
            None => CoreMetadataRef::Present,
        },
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An `<a>` element being read: its attributes and its text so far.
struct OpenAnchor {
    attrs: BTreeMap<String, String>,
    text: String,
}

/// Tokenizes an HTML page and returns every `<a>` (attributes, trimmed text), the
/// `<title>` text and the first `<base href>`.
struct HtmlLinks {
    anchors: Vec<(BTreeMap<String, String>, String)>,
    title: Option<String>,
    base: Option<String>,
}

fn scan_html(body: &str) -> HtmlLinks {
    let mut emitter = DefaultEmitter::default();
    // switch to RCDATA/RAWTEXT after <title>, <script>, <style>… like a browser would
    emitter.naively_switch_states(true);
    let mut out = HtmlLinks {
        anchors: Vec::new(),
        title: None,
        base: None,
    };
    let mut anchor: Option<OpenAnchor> = None;
    let mut title: Option<String> = None;
    let close = |anchor: &mut Option<OpenAnchor>, out: &mut HtmlLinks| {
        if let Some(a) = anchor.take() {
            out.anchors.push((a.attrs, a.text.trim().to_owned()));
        }
    };
    for token in Tokenizer::new_with_emitter(body, emitter) {
        let token = match token {
            Ok(token) => token,
            Err(never) => match never {},
        };
        match token {
            Token::StartTag(tag) => {
                let attrs = || -> BTreeMap<String, String> {
                    tag.attributes
                        .iter()
                        .map(|(k, v)| (lossy(k), lossy(&v.value)))
                        .collect()
                };
                match tag.name.as_slice() {
                    b"a" => {
                        close(&mut anchor, &mut out);
                        anchor = Some(OpenAnchor {
                            attrs: attrs(),
                            text: String::new(),
                        });
                    }
                    b"base" if out.base.is_none() => {
                        out.base = attrs().remove("href");
                    }
                    b"title" if out.title.is_none() => title = Some(String::new()),
                    _ => {}
                }
            }
            Token::EndTag(tag) => match tag.name.as_slice() {
                b"a" => close(&mut anchor, &mut out),
                b"title" => {
                    if let Some(t) = title.take() {
                        out.title = Some(t.trim().to_owned());
                    }
                }
                _ => {}
            },
            Token::String(s) => {
                let s = String::from_utf8_lossy(&s.value);
                if let Some(a) = anchor.as_mut() {
                    a.text.push_str(&s);
                }
                if let Some(t) = title.as_mut() {
                    t.push_str(&s);
                }
            }
            Token::Comment(_) | Token::Doctype(_) | Token::Error(_) => {}
        }
    }
    close(&mut anchor, &mut out);
    if out.title.is_none() {
        out.title = title.map(|t| t.trim().to_owned());
    }
    out
}

/// The last non-empty path segment of a URL, percent-decoded.
fn last_path_segment(url: &Url) -> Option<String> {
    let segment = url.path_segments()?.rev().find(|s| !s.is_empty())?;
    let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
    Some(decoded.into_owned())
}

/// Parses a PEP 503 project page (`/simple/<project>/`).
///
/// Every `<a>` start tag with an `href` gives one [`FileEntry`]; `<base href>` (first
/// one) changes the base URL for relative hrefs. The file name is the trimmed link text
/// (or, if the text is empty, the last path segment of the URL). Attributes read:
/// `data-requires-python`, `data-yanked` (PEP 592), `data-core-metadata` and the older
/// `data-dist-info-metadata` (PEP 658/714: `true` or `<alg>=<hex>`). The project name is
/// taken from `<title>Links for NAME</title>`, else from the last path segment of
/// `page_url`.
///
/// Links that do not resolve to a URL, or that point to a scheme other than `http`,
/// `https` or the page's own, are skipped. Errors: [`SimpleError::MissingProjectName`]
/// when neither the title nor the URL names the project.
pub fn parse_project_html(page_url: &Url, body: &str) -> Result<ProjectPage, SimpleError> {
    let scanned = scan_html(body);
    let base = scanned
        .base
        .as_deref()
        .and_then(|b| page_url.join(b.trim()).ok())
        .filter(|b| scheme_allowed(page_url, b))
        .unwrap_or_else(|| page_url.clone());

    let title_name = scanned
        .title
        .as_deref()
        .and_then(|t| t.strip_prefix("Links for "))
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    let name = title_name
        .or_else(|| last_path_segment(page_url))
        .ok_or_else(|| SimpleError::MissingProjectName {
            url: page_url.to_string(),
        })?;

    let mut files = Vec::new();
    for (attrs, text) in scanned.anchors {
        let Some(href) = attrs.get("href") else {
            continue;
        };
        let Some((url, hashes)) = resolve(page_url, &base, href) else {
            continue;
        };
        let filename = if text.is_empty() {
            match last_path_segment(&url) {
                Some(segment) => segment,
                None => continue,
            }
        } else {
            text
        };
        let core = attrs
            .get("data-core-metadata")
            .filter(|v| !v.is_empty())
            .or_else(|| attrs.get("data-dist-info-metadata"));
        files.push(FileEntry {
            filename,
            url,
            hashes,
            requires_python: attrs
                .get("data-requires-python")
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty()),
            yanked: attrs.get("data-yanked").cloned(),
            core_metadata: html_core_metadata(core.map(String::as_str)),
            size: None,
            upload_time: None,
        });
    }
    Ok(ProjectPage { name, files })
}

/// Parses the PEP 503 root page (`/simple/`): the trimmed text of every `<a href>`,
/// in page order, empty texts skipped. Never fails on malformed HTML (the tokenizer
/// recovers like a browser); the `Result` is kept for future checks.
pub fn parse_index_html(body: &str) -> Result<Vec<String>, SimpleError> {
    Ok(scan_html(body)
        .anchors
        .into_iter()
        .filter(|(attrs, text)| attrs.contains_key("href") && !text.is_empty())
        .map(|(_, text)| text)
        .collect())
}

#[derive(Deserialize)]
struct JsonMeta {
    #[serde(rename = "api-version")]
    api_version: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonYanked {
    Flag(bool),
    Reason(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonCoreMetadata {
    Flag(bool),
    Hashes(BTreeMap<String, String>),
}

impl JsonCoreMetadata {
    fn into_ref(self) -> CoreMetadataRef {
        match self {
            JsonCoreMetadata::Flag(false) => CoreMetadataRef::Absent,
            JsonCoreMetadata::Flag(true) => CoreMetadataRef::Present,
            JsonCoreMetadata::Hashes(h) => {
                let h = clean_hashes(h);
                if h.is_empty() {
                    CoreMetadataRef::Present
                } else {
                    CoreMetadataRef::Hashes(h)
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct JsonFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
    #[serde(rename = "requires-python", default)]
    requires_python: Option<String>,
    #[serde(default)]
    yanked: Option<JsonYanked>,
    #[serde(rename = "core-metadata", default)]
    core_metadata: Option<JsonCoreMetadata>,
    #[serde(rename = "dist-info-metadata", default)]
    dist_info_metadata: Option<JsonCoreMetadata>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(rename = "upload-time", default)]
    upload_time: Option<String>,
}

#[derive(Deserialize)]
struct JsonProject {
    meta: JsonMeta,
    name: String,
    #[serde(default)]
    files: Vec<JsonFile>,
}

fn check_api_version(page_url: &Url, version: &str) -> Result<(), SimpleError> {
    let major = version.split('.').next().unwrap_or_default().trim();
    if major == "1" {
        Ok(())
    } else {
        Err(SimpleError::UnsupportedApiVersion {
            url: page_url.to_string(),
            version: version.to_owned(),
        })
    }
}

/// Parses a PEP 691 JSON project page.
///
/// Reads `meta.api-version` (major must be 1, PEP 629), `name`, and per file
/// `filename`, `url` (may be relative; resolved against `page_url`), `hashes`,
/// `requires-python`, `yanked` (bool or reason, PEP 592), `core-metadata` or the older
/// `dist-info-metadata` (bool or hashes, PEP 714), `size` and `upload-time` (PEP 700).
/// Unknown keys are ignored. Files whose URL does not resolve or uses a scheme other
/// than `http`, `https` or the page's own are skipped. If `hashes` is empty, hashes in
/// the URL fragment are used.
///
/// Errors: [`SimpleError::Json`] for malformed JSON or missing/mistyped required keys,
/// [`SimpleError::UnsupportedApiVersion`] for API major versions other than 1.
pub fn parse_project_json(page_url: &Url, body: &[u8]) -> Result<ProjectPage, SimpleError> {
    // Check the API version first, so a v2 page with a different shape gets the right error.
    #[derive(Deserialize)]
    struct MetaOnly {
        meta: JsonMeta,
    }
    let json_err = |source| SimpleError::Json {
        url: page_url.to_string(),
        source,
    };
    let meta: MetaOnly = serde_json::from_slice(body).map_err(json_err)?;
    check_api_version(page_url, &meta.meta.api_version)?;
    let page: JsonProject = serde_json::from_slice(body).map_err(json_err)?;
    check_api_version(page_url, &page.meta.api_version)?;

    let mut files = Vec::with_capacity(page.files.len());
    for f in page.files {
        let Some((url, fragment)) = resolve(page_url, page_url, &f.url) else {
            continue;
        };
        let mut hashes = clean_hashes(f.hashes);
        if hashes.is_empty() {
            hashes = fragment;
        }
        let yanked = match f.yanked {
            None | Some(JsonYanked::Flag(false)) => None,
            Some(JsonYanked::Flag(true)) => Some(String::new()),
            Some(JsonYanked::Reason(r)) => Some(r),
        };
        let core_metadata = f
            .core_metadata
            .or(f.dist_info_metadata)
            .map_or(CoreMetadataRef::Absent, JsonCoreMetadata::into_ref);
        files.push(FileEntry {
            filename: f.filename.trim().to_owned(),
            url,
            hashes,
            requires_python: f
                .requires_python
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty()),
            yanked,
            core_metadata,
            size: f.size,
            upload_time: f.upload_time,
        });
    }
    Ok(ProjectPage {
        name: page.name,
        files,
    })
}

/// One file as we serve it on our own project pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedFile {
    /// File name (link text / JSON `filename`).
    pub filename: String,
    /// URL we serve it at, relative to the project page (e.g. just the file name) or
    /// absolute. Must already be a valid URL reference (percent-encoded where needed);
    /// it is only HTML-escaped.
    pub href: String,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
    /// PEP 440 specifier set, e.g. `">=3.8"`.
    pub requires_python: Option<String>,
    /// PEP 592: `None` not yanked, `Some("")` yanked without reason, `Some(reason)`.
    pub yanked: Option<String>,
    /// Lowercase hex SHA-256 of the `.metadata` file (PEP 658), if we serve one.
    pub core_metadata_sha256: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// Upload time (PEP 700), ISO 8601, e.g. `"2024-05-29T15:37:49.536297Z"`.
    pub upload_time: Option<String>,
}

/// Escapes text for HTML element content and double- or single-quoted attribute values.
fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

const HTML_HEAD: &str = "<!DOCTYPE html>\n<html>\n  <head>\n    \
<meta name=\"pypi:repository-version\" content=\"1.1\">\n";

/// Renders a PEP 503 project page.
///
/// Shape: `<!DOCTYPE html>`, `<meta name="pypi:repository-version" content="1.1">`
/// (PEP 629), `<title>Links for NAME</title>`, `<h1>Links for NAME</h1>`, then per file
/// (in the given order) `<a href="HREF#sha256=HEX" data-requires-python="…"
/// data-yanked="…" data-core-metadata="sha256=HEX" data-dist-info-metadata="sha256=HEX">
/// FILENAME</a><br/>`, each optional attribute only when set. Attribute values and text
/// are HTML-escaped (`>=3.8` becomes `&gt;=3.8`). Deterministic.
pub fn render_project_html(project_name: &str, files: &[ServedFile]) -> String {
    let name = escape_html(project_name);
    let mut out = String::from(HTML_HEAD);
    let _ = write!(
        out,
        "    <title>Links for {name}</title>\n  </head>\n  <body>\n    <h1>Links for {name}</h1>\n"
    );
    for f in files {
        let _ = write!(
            out,
            "    <a href=\"{}#sha256={}\"",
            escape_html(&f.href),
            escape_html(&f.sha256)
        );
        if let Some(rp) = &f.requires_python {
            let _ = write!(out, " data-requires-python=\"{}\"", escape_html(rp));
        }
        if let Some(reason) = &f.yanked {
            let _ = write!(out, " data-yanked=\"{}\"", escape_html(reason));
        }
        if let Some(meta) = &f.core_metadata_sha256 {
            let meta = escape_html(meta);
            let _ = write!(
                out,
                " data-core-metadata=\"sha256={meta}\" data-dist-info-metadata=\"sha256={meta}\""
            );
        }
        let _ = writeln!(out, ">{}</a><br/>", escape_html(&f.filename));
    }
    out.push_str("  </body>\n</html>\n");
    out
}

/// Renders the PEP 503 root page: one `<a href="NORMALIZED/">NAME</a><br/>` per project,
/// in the given order. Deterministic.
pub fn render_index_html(projects: &[String]) -> String {
    let mut out = String::from(HTML_HEAD);
    out.push_str("    <title>Simple index</title>\n  </head>\n  <body>\n");
    for p in projects {
        let _ = writeln!(
            out,
            "    <a href=\"{}/\">{}</a><br/>",
            escape_html(&normalize(p)),
            escape_html(p)
        );
    }
    out.push_str("  </body>\n</html>\n");
    out
}

#[derive(Serialize)]
struct OutMeta {
    #[serde(rename = "api-version")]
    api_version: &'static str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutYanked<'a> {
    Flag(bool),
    Reason(&'a str),
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutCoreMetadata<'a> {
    Flag(bool),
    Hashes { sha256: &'a str },
}

#[derive(Serialize)]
struct OutFile<'a> {
    filename: &'a str,
    url: &'a str,
    hashes: BTreeMap<&'static str, &'a str>,
    #[serde(rename = "requires-python", skip_serializing_if = "Option::is_none")]
    requires_python: Option<&'a str>,
    yanked: OutYanked<'a>,
    #[serde(rename = "core-metadata")]
    core_metadata: OutCoreMetadata<'a>,
    #[serde(rename = "dist-info-metadata")]
    dist_info_metadata: OutCoreMetadata<'a>,
    size: u64,
    #[serde(rename = "upload-time", skip_serializing_if = "Option::is_none")]
    upload_time: Option<&'a str>,
}

#[derive(Serialize)]
struct OutProject<'a> {
    meta: OutMeta,
    name: String,
    files: Vec<OutFile<'a>>,
    versions: Vec<String>,
}

#[derive(Serialize)]
struct OutIndexProject<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct OutIndex<'a> {
    meta: OutMeta,
    projects: Vec<OutIndexProject<'a>>,
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structs (strings, integers, string maps) cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Renders a PEP 691 (API version 1.1) project page.
///
/// Shape: `{"meta":{"api-version":"1.1"},"name":NORMALIZED,"files":[…],"versions":[…]}`,
/// each file `{"filename","url","hashes":{"sha256"},"requires-python"?,"yanked":
/// false|true|"reason","core-metadata":{"sha256"}|false,"dist-info-metadata":same,
/// "size","upload-time"?}` in the given order (`yanked` is `true` for an empty reason).
/// `versions` (PEP 700) lists the distinct versions parsed from the file names, sorted
/// by PEP 440 order; unparsable names are left out of it. Deterministic.
pub fn render_project_json(project_name: &str, files: &[ServedFile]) -> Vec<u8> {
    fn meta_ref(h: Option<&str>) -> OutCoreMetadata<'_> {
        match h {
            Some(sha256) => OutCoreMetadata::Hashes { sha256 },
            None => OutCoreMetadata::Flag(false),
        }
    }
    let out_files = files
        .iter()
        .map(|f| OutFile {
            filename: &f.filename,
            url: &f.href,
            hashes: BTreeMap::from([("sha256", f.sha256.as_str())]),
            requires_python: f.requires_python.as_deref(),
            yanked: match f.yanked.as_deref() {
                None => OutYanked::Flag(false),
                Some("") => OutYanked::Flag(true),
                Some(reason) => OutYanked::Reason(reason),
            },
            core_metadata: meta_ref(f.core_metadata_sha256.as_deref()),
            dist_info_metadata: meta_ref(f.core_metadata_sha256.as_deref()),
            size: f.size,
            upload_time: f.upload_time.as_deref(),
        })
        .collect();
    let mut versions: Vec<pep440_rs::Version> = files
        .iter()
        .filter_map(|f| DistFilename::parse(&f.filename, Some(project_name)).ok())
        .map(|d| d.version().clone())
        .collect();
    versions.sort();
    versions.dedup();
    to_json(&OutProject {
        meta: OutMeta {
            api_version: API_VERSION,
        },
        name: normalize(project_name),
        files: out_files,
        versions: versions.iter().map(ToString::to_string).collect(),
    })
}

/// Renders the PEP 691 (API version 1.1) root page:
/// `{"meta":{"api-version":"1.1"},"projects":[{"name":NAME},…]}` in the given order.
pub fn render_index_json(projects: &[String]) -> Vec<u8> {
    to_json(&OutIndex {
        meta: OutMeta {
            api_version: API_VERSION,
        },
        projects: projects
            .iter()
            .map(|name| OutIndexProject { name })
            .collect(),
    })
}

#[cfg(test)]
mod tests;
