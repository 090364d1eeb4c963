//! Wheel and sdist filenames (PEP 427, PEP 625), wheel tag compatibility and project name
//! normalization (PEP 503): normalizing is idempotent, and a parsed filename's project
//! is a valid name.
#![no_main]
use formats::pypi::filename::DistFilename;
use formats::pypi::tags::{Target, compatible_platforms, platform_env, wheel_is_compatible};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let n = formats::pypi::name::normalize(text);
    assert_eq!(formats::pypi::name::normalize(&n), n);
    let _ = formats::pypi::name::is_valid_project_name(text);
    let (name, project) = match text.split_once('\n') {
        Some((a, b)) => (a, Some(b)),
        None => (text, None),
    };
    if let Ok(DistFilename::Wheel(w)) = DistFilename::parse(name, project) {
        for platform in [
            "manylinux_2_17_x86_64",
            "win_amd64",
            "macosx_11_0_arm64",
            "any",
        ] {
            let t = Target {
                python: (3, 11),
                platform: platform.into(),
            };
            let _ = wheel_is_compatible(&w, &t);
        }
    } else {
        let _ = DistFilename::parse(name, project);
    }
    let _ = compatible_platforms(text);
    let _ = platform_env(text);
});
