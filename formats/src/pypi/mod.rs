//! Python packaging formats: PEP 503 HTML and PEP 691 JSON simple-index pages, wheel and
//! sdist file names with wheel tags, and core metadata.

pub mod filename;
pub mod metadata;
pub mod name;
pub mod simple;
pub mod tags;

#[cfg(test)]
mod robustness {
    //! Hostile-input smoke test: random concatenations of meaningful fragments must never
    //! make a parser panic.

    use super::*;

    const PIECES: [&str; 40] = [
        "-",
        "_",
        ".",
        "..",
        "/",
        "\\",
        "\0",
        " ",
        "\n",
        "\r\n",
        ":",
        "=",
        "#",
        "&",
        "&gt;",
        "&amp;",
        "é",
        "\u{fffd}",
        "whl",
        ".whl",
        ".tar.gz",
        ".zip",
        "1.0",
        "2!1.0rc1.post2.dev3+l.1",
        "99999999999999999999",
        "cp311",
        "abi3",
        "none",
        "any",
        "py2.py3",
        "manylinux_2_",
        "manylinux2014_x86_64",
        "macosx_14_0_",
        "arm64",
        "musllinux_1_",
        "<a href=\"",
        "\">",
        "</a>",
        "<title>Links for ",
        "Name: x\nVersion: 1\n",
    ];

    fn inputs() -> Vec<String> {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize
        };
        (0..3000)
            .map(|_| {
                let len = next() % 12;
                (0..len).map(|_| PIECES[next() % PIECES.len()]).collect()
            })
            .collect()
    }

    #[test]
    fn parsers_never_panic() {
        let page = url::Url::parse("https://index.example/simple/x/").unwrap();
        for input in inputs() {
            let parsed = filename::DistFilename::parse(&input, None);
            let _ = filename::DistFilename::parse(&input, Some(&input));
            if let Ok(filename::DistFilename::Wheel(w)) = &parsed {
                for plat in &w.platform_tags {
                    let _ = tags::compatible_platforms(plat);
                    let _ = tags::platform_env(plat);
                }
                let target = tags::Target::new("3.12", "manylinux_2_17_x86_64").unwrap();
                let _ = tags::wheel_is_compatible(w, &target);
            }
            let _ = tags::compatible_platforms(&input);
            let _ = tags::platform_env(&input);
            let _ = tags::Target::new(&input, &input);
            let _ = name::normalize(&input);
            let _ = name::is_valid_project_name(&input);
            let _ = metadata::CoreMetadata::parse(input.as_bytes());
            let _ = simple::parse_project_html(&page, &input);
            let _ = simple::parse_index_html(&input);
            let _ = simple::parse_project_json(&page, input.as_bytes());
        }
    }
}
