//! PEP 503 HTML and PEP 691 JSON simple pages: the project page in both forms and the
//! root index.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use url::Url;

fn base() -> &'static Url {
    static U: OnceLock<Url> = OnceLock::new();
    U.get_or_init(|| Url::parse("http://index.example.invalid/simple/demo/").expect("url"))
}

fuzz_target!(|data: &[u8]| {
    let _ = formats::pypi::simple::parse_project_json(base(), data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = formats::pypi::simple::parse_project_html(base(), text);
        let _ = formats::pypi::simple::parse_index_html(text);
    }
});
