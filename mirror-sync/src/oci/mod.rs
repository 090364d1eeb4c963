//! OCI registries, as the steps of one `[[oci]]` upstream:
//!
//! 1. [`config`] — the `[[oci]]` table ([`OciUpstream`]), read into typed image
//!    selections ([`image_specs`], [`platforms`]) and checked ([`validate_upstream`]);
//! 2. [`select`] — the pure rules choosing what to fetch: which tags ([`TagFilter`],
//!    [`select_tags`]) and which children of an index ([`decide_child`]);
//! 3. [`sync`] — the pull through the distribution-spec client ([`client`]) into the
//!    store, with cosign signatures checked against `[oci.verify]` ([`policy`]), and the
//!    snapshot's artifact list;
//! 4. render — stays with the export (`export/render.rs`: the generated referrers indexes
//!    and the drive root's OCI image layout index), because the layout index spans every
//!    `[[oci]]` upstream and is written only when a snapshot is cut.
//!
//! Logical paths follow docs/media-format.md: `v2/<served repo>/manifests/sha256:<hex>`,
//! `v2/<served repo>/manifests/<tag>` and `v2/<served repo>/blobs/sha256:<hex>`, where the
//! served repository is `<registry with ':' as '__'>/<path>`
//! ([`formats::oci::ImageRef::served_name`]).
//!
//! Imports run one way: [`crate::config`] → [`config`] → [`select`]; neither step 1 nor
//! step 2 imports the top-level config; [`policy`] and [`sync`] read the loaded
//! [`crate::config::Config`]. The names of [`config`] and [`select`] are re-exported here
//! (`crate::oci::OciUpstream`, `crate::oci::TagFilter`, …).

pub mod client;
pub mod config;
pub mod policy;
pub mod render;
pub mod select;
pub mod sync;
#[cfg(test)]
pub(crate) mod test_server;

pub use config::{
    DOCKER_HUB_API, OciUpstream, VerifyConfig, image_specs, platforms, validate_upstream,
};
pub use select::{
    ChildDecision, ImageSpec, Selection, TagFilter, decide_child, is_attestation_child,
    select_tags, semver_of_tag,
};

// The names the tests below use from this module's scope.
#[cfg(test)]
use {
    config::check_registry,
    formats::digest::Digest,
    formats::oci::{self, Descriptor, Platform},
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_syntax() {
        for ok in [
            "docker.io",
            "127.0.0.1:5000",
            "localhost:5000",
            "registry.example",
        ] {
            check_registry(ok).unwrap();
        }
        for bad in [
            "",
            "a b",
            "host:",
            "host:0",
            "host:99999",
            "-x.example",
            "a__b.example",
            "h/x",
        ] {
            let e = check_registry(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid registry"), "{bad:?}: {e}");
        }
    }

    fn tags(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn regex_selection() {
        let f = TagFilter::new(Some(r"^1\.27\."), None).unwrap();
        let all = tags(&[
            "1.27.0",
            "1.27.3-alpine",
            "1.28.0",
            "latest",
            "1.27",
            "01.27.1",
        ]);
        assert_eq!(select_tags(&all, &f), tags(&["1.27.0", "1.27.3-alpine"]));
        assert!(TagFilter::new(Some("(unclosed"), None).is_err());
        assert!(TagFilter::new(None, None).is_err());
    }

    #[test]
    fn semver_selection() {
        let f = TagFilter::new(None, Some(">=1.27, <1.28")).unwrap();
        let all = tags(&[
            "1.27.0",
            "v1.27.4",
            "1.27.5-rc.1",
            "1.28.0",
            "1.27",
            "latest",
            "1.26.9",
            "vv1.27.1",
        ]);
        assert_eq!(select_tags(&all, &f), tags(&["1.27.0", "v1.27.4"]));
        assert!(TagFilter::new(None, Some("not a range")).is_err());
        assert_eq!(semver_of_tag("v2.0.0-rc.1").unwrap().major, 2);
        assert!(semver_of_tag("2.0").is_none());
    }

    #[test]
    fn both_filters_must_match_and_cosign_tags_are_left_out() {
        let f = TagFilter::new(Some("-slim$"), Some(">=3.12.0")).unwrap();
        let sig = format!("sha256-{}.sig", "a".repeat(64));
        let all = tags(&["3.12.1-slim", "3.12.1", "3.11.0-slim", &sig, "bad tag"]);
        // 3.12.1-slim is a pre-release for semver, so the range does not admit it.
        assert!(select_tags(&all, &f).is_empty());
        let f = TagFilter::new(Some(".*"), None).unwrap();
        assert_eq!(
            select_tags(&all, &f),
            tags(&["3.11.0-slim", "3.12.1", "3.12.1-slim"])
        );
    }

    fn child(platform: Option<&str>, annotations: &[(&str, &str)]) -> Descriptor {
        let mut d = Descriptor::new(oci::OCI_MANIFEST, Digest::of(b"child"), 10);
        d.platform = platform.map(|p| Platform::parse(p).unwrap());
        for (k, v) in annotations {
            d.annotations.insert((*k).into(), (*v).into());
        }
        d
    }

    #[test]
    fn platform_filter() {
        let wanted = vec![
            Platform::parse("linux/amd64").unwrap(),
            Platform::parse("linux/arm64/v8").unwrap(),
        ];
        let hex = Digest::of(b"child");
        assert_eq!(
            decide_child(&child(Some("linux/amd64"), &[]), &wanted, false),
            ChildDecision::Keep {
                platform: Some("linux/amd64".into())
            }
        );
        assert_eq!(
            decide_child(&child(Some("linux/arm64"), &[]), &wanted, false),
            ChildDecision::Keep {
                platform: Some("linux/arm64".into())
            }
        );
        assert_eq!(
            decide_child(&child(Some("linux/arm/v7"), &[]), &wanted, true),
            ChildDecision::Omit(format!("{hex} linux/arm/v7"))
        );
        // Everything is kept when no platform is configured.
        assert!(matches!(
            decide_child(&child(Some("linux/s390x"), &[]), &[], false),
            ChildDecision::Keep { .. }
        ));
        // Attestation manifests follow `referrers`.
        let att = child(
            Some("unknown/unknown"),
            &[("vnd.docker.reference.type", "attestation-manifest")],
        );
        assert_eq!(
            decide_child(&att, &wanted, true),
            ChildDecision::Keep { platform: None }
        );
        assert_eq!(
            decide_child(&att, &wanted, false),
            ChildDecision::Omit(format!("{hex} unknown/unknown"))
        );
        assert_eq!(
            decide_child(&child(None, &[]), &[], true),
            ChildDecision::Keep { platform: None }
        );
        assert!(matches!(
            decide_child(&child(None, &[]), &[], false),
            ChildDecision::Omit(_)
        ));
    }

    fn upstream(toml_text: &str) -> OciUpstream {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn image_specs_from_config() {
        let d = Digest::of(b"m");
        let up = upstream(&format!(
            r#"
name = "hub"
registry = "docker.io"
images = ["ubuntu:24.04", "team/app@{d}", "library/python:3.12@{d}", "nginx"]
tags_regex = {{ "nginx" = "^1\\.27\\." }}
tags_semver = {{ "library/nginx" = ">=1.27, <1.28", "library/redis" = "^7" }}
"#
        ));
        let specs = image_specs(&up).unwrap();
        assert_eq!(specs.len(), 5, "{specs:?}");
        assert_eq!(specs[0].image.repository, "library/ubuntu");
        assert!(matches!(&specs[0].selection, Selection::Tag(t) if t == "24.04"));
        assert!(
            matches!(&specs[1].selection, Selection::Digest { digest, tag: None } if *digest == d)
        );
        assert!(
            matches!(&specs[2].selection, Selection::Digest { tag: Some(t), .. } if t == "3.12")
        );
        assert_eq!(specs[3].image.repository, "library/nginx");
        let Selection::Tags(f) = &specs[3].selection else {
            panic!("nginx selects by filter")
        };
        assert!(f.matches("1.27.2") && !f.matches("1.27.2-alpine") && !f.matches("1.28.0"));
        assert_eq!(specs[4].image.repository, "library/redis");
        assert_eq!(specs[4].image.served_name(), "docker.io/library/redis");
    }

    #[test]
    fn image_spec_errors() {
        let bad = |extra: &str| {
            let up = upstream(&format!(
                "name = \"x\"\nregistry = \"127.0.0.1:5000\"\n{extra}"
            ));
            format!("{:#}", validate_upstream(&up).unwrap_err())
        };
        assert!(bad(r#"images = ["team/app"]"#).contains("no tag or digest"));
        assert!(bad(r#"images = ["other.example/team/app:1"]"#).contains("names registry"));
        assert!(bad(r#"images = ["Team/App:1"]"#).contains("invalid"));
        assert!(bad(r#"images = []"#).contains("no images"));
        assert!(
            bad("images = [\"a:1\"]\ntags_regex = { \"a:1\" = \"x\" }").contains("without a tag")
        );
        assert!(bad("images = [\"a:1\"]\nplatforms = [\"linux\"]").contains("platform"));
        assert!(bad("images = [\"a:1\"]\ncredentials = \"token\"").contains("credentials"));
        assert!(bad("images = [\"a:1\"]\nurl = \"ftp://x.example\"").contains("scheme"));
        assert!(
            bad("images = [\"a:1\"]\n[verify]\n\"*\" = { required = true }")
                .contains("needs at least one key")
        );
        let ok =
            upstream("name = \"x\"\nregistry = \"127.0.0.1:5000\"\nimages = [\"team/app:v1\"]");
        validate_upstream(&ok).unwrap();
        assert!(ok.referrers && !ok.foreign_layers);
        assert_eq!(ok.api_base().unwrap().as_str(), "https://127.0.0.1:5000/");
    }
}
