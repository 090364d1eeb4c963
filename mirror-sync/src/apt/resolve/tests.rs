use super::*;
use formats::apt::packages::parse_packages;

/// A stanza with the mandatory fields plus `extra` lines (`"Depends: a"`).
fn stanza(name: &str, version: &str, arch: &str, extra: &[&str]) -> String {
    let mut s = format!(
        "Package: {name}\nVersion: {version}\nArchitecture: {arch}\nFilename: pool/main/{name}_{version}_{arch}.deb\nSize: 100\nSHA256: {}\n",
        "0".repeat(64)
    );
    for e in extra {
        s.push_str(e);
        s.push('\n');
    }
    s
}

fn universe(stanzas: &[String]) -> PackageTable {
    PackageTable::from_entries(&parse_packages(&stanzas.join("\n")).unwrap()).unwrap()
}

/// The single-source options of the tests.
#[derive(Default)]
struct Options {
    architectures: Vec<String>,
    with_recommends: bool,
}

/// One source, one index: `Err` with the first missing request.
fn resolve_t(u: &PackageTable, r: &[Request], o: &Options) -> Result<Resolution, Missing> {
    let res = resolve_single(u, r, &o.architectures, o.with_recommends);
    match res.missing.first() {
        Some(m) => Err(m.clone()),
        None => Ok(res),
    }
}

fn texts(r: &Resolution) -> Vec<String> {
    r.unsatisfied.iter().map(ToString::to_string).collect()
}

fn amd64() -> Options {
    Options {
        architectures: vec!["amd64".into()],
        with_recommends: false,
    }
}

fn reqs(r: &[&str]) -> Vec<Request> {
    r.iter().map(|s| s.parse().unwrap()).collect()
}

/// The selected entries as "name=version" strings, in index order.
fn picked(u: &PackageTable, res: &Resolution) -> Vec<String> {
    res.selected
        .iter()
        .map(|&i| format!("{}={}", u.entry(i).name(), u.entry(i).version()))
        .collect()
}

#[test]
fn parses_requests() {
    assert_eq!("jq".parse::<Request>().unwrap(), Request::Name("jq".into()));
    assert_eq!(
        " jq=1.6-2.1 ".parse::<Request>().unwrap(),
        Request::Pinned {
            name: "jq".into(),
            version: "1.6-2.1".into()
        }
    );
    assert_eq!(
        "lib*".parse::<Request>().unwrap(),
        Request::Pattern("lib*".into())
    );
    assert_eq!(
        "cuda-toolkit-12-?".parse::<Request>().unwrap(),
        Request::Pattern("cuda-toolkit-12-?".into())
    );
    for bad in [
        "", "j", "JQ", "jq!", "jq=", "jq=abc", "=1.0", "lib[a]*", "a b", "-jq", "jq:amd64",
    ] {
        assert!(
            matches!(
                bad.parse::<Request>(),
                Err(ResolveError::InvalidRequest { .. })
            ),
            "{bad:?}"
        );
    }
    assert_eq!(
        "jq=1:1.6-2".parse::<Request>().unwrap().to_string(),
        "jq=1:1.6-2"
    );
}

#[test]
fn glob() {
    assert!(glob_match("lib*", "libjq1"));
    assert!(glob_match("*", "x"));
    assert!(glob_match("*jq*", "libjq1"));
    assert!(glob_match("l?bjq1", "libjq1"));
    assert!(glob_match("lib*1", "libjq1"));
    assert!(glob_match("a*b*c", "aXbYbZc"));
    assert!(!glob_match("lib*", "jq"));
    assert!(!glob_match("lib?", "lib"));
    assert!(!glob_match("jq", "jq1"));
    assert!(!glob_match("a*b", "aXbY"));
    assert!(glob_match("**", ""));
}

#[test]
fn name_picks_newest_and_follows_depends() {
    let u = universe(&[
        stanza(
            "jq",
            "1.6-2.1",
            "amd64",
            &["Depends: libjq1 (= 1.6-2.1), libc6 (>= 2.14)"],
        ),
        stanza(
            "jq",
            "1.7.1-3",
            "amd64",
            &["Depends: libjq1 (= 1.7.1-3), libc6 (>= 2.34)"],
        ),
        stanza("libjq1", "1.6-2.1", "amd64", &["Depends: libonig5"]),
        stanza(
            "libjq1",
            "1.7.1-3",
            "amd64",
            &["Depends: libonig5 (>= 6.1)"],
        ),
        stanza("libonig5", "6.9.9-1", "amd64", &[]),
        stanza("libc6", "2.36-9", "amd64", &[]),
        stanza("libc6", "2.36-9", "arm64", &[]),
        stanza("unrelated", "1", "amd64", &[]),
    ]);
    let r = resolve_t(&u, &reqs(&["jq"]), &amd64()).unwrap();
    assert_eq!(
        picked(&u, &r),
        [
            "jq=1.7.1-3",
            "libjq1=1.7.1-3",
            "libonig5=6.9.9-1",
            "libc6=2.36-9"
        ]
    );
    assert_eq!(r.selected, [1, 3, 4, 5]);
    assert!(r.unsatisfied.is_empty());
}

#[test]
fn pinned_version() {
    let u = universe(&[
        stanza("jq", "1.6-2.1", "amd64", &["Depends: libjq1 (= 1.6-2.1)"]),
        stanza("jq", "1.7.1-3", "amd64", &["Depends: libjq1 (= 1.7.1-3)"]),
        stanza("libjq1", "1.6-2.1", "amd64", &[]),
        stanza("libjq1", "1.7.1-3", "amd64", &[]),
    ]);
    let r = resolve_t(&u, &reqs(&["jq=1.6-2.1"]), &amd64()).unwrap();
    assert_eq!(picked(&u, &r), ["jq=1.6-2.1", "libjq1=1.6-2.1"]);
    let r = resolve_t(&u, &reqs(&["jq=0:1.6-2.1"]), &amd64()).unwrap();
    assert_eq!(r.selected, [0, 2]);
    let e = resolve_t(&u, &reqs(&["jq=1.5-1"]), &amd64()).unwrap_err();
    assert_eq!(
        e,
        Missing {
            source: 0,
            request: "jq=1.5-1".into(),
            architectures: "amd64".into(),
            hint: Some("available versions: 1.7.1-3, 1.6-2.1".into()),
        }
    );
}

#[test]
fn constraint_picks_older_version() {
    let u = universe(&[
        stanza("app", "1.0", "amd64", &["Depends: libfoo (<< 2)"]),
        stanza("libfoo", "2.1", "amd64", &[]),
        stanza("libfoo", "1.9", "amd64", &[]),
        stanza("libfoo", "1.5", "amd64", &[]),
    ]);
    let r = resolve_t(&u, &reqs(&["app"]), &amd64()).unwrap();
    assert_eq!(picked(&u, &r), ["app=1.0", "libfoo=1.9"]);
}

#[test]
fn alternatives() {
    // alt-a missing -> alt-b chosen.
    let u = universe(&[
        stanza("app", "1", "amd64", &["Depends: alt-a | alt-b"]),
        stanza("alt-b", "1", "amd64", &[]),
    ]);
    let r = resolve_t(&u, &reqs(&["app"]), &amd64()).unwrap();
    assert_eq!(picked(&u, &r), ["app=1", "alt-b=1"]);
    // alt-a present -> alt-a chosen, alt-b not.
    let u = universe(&[
        stanza("app", "1", "amd64", &["Depends: alt-a | alt-b"]),
        stanza("alt-b", "1", "amd64", &[]),
        stanza("alt-a", "1", "amd64", &[]),
    ]);
    let r = resolve_t(&u, &reqs(&["app"]), &amd64()).unwrap();
    assert_eq!(picked(&u, &r), ["app=1", "alt-a=1"]);
    // alt-b already selected by another request -> alt-a not added.
    let r = resolve_t(&u, &reqs(&["app", "alt-b"]), &amd64()).unwrap();
    assert_eq!(picked(&u, &r), ["app=1", "alt-b=1"]);
    // alt-a exists but too old -> alt-b.
    let u = universe(&[
        stanza("app", "1", "amd64", &["Depends: alt-a (>= 2) | alt-b"]),
        stanza("alt-a", "1", "amd64", &[]),
        stanza("alt-b", "1", "amd64", &[]),
    ]);
    let r = resolve_t(&u, &reqs(&["app"]), &amd64()).unwrap();
    assert_eq!(picked(&u, &r), ["app=1", "alt-b=1"]);
}

#[test]
fn virtual_packages() {
    let u = universe(&[
        stanza(
            "mailer",
            "1",
            "amd64",
            &["Depends: default-mta | mail-transport-agent"],
        ),
        stanza(
            "postfix",
            "3.7.11-0+deb12u1",
            "amd64",
            &["Provides: mail-transport-agent"],
        ),
        stanza(
            "exim4-daemon-light",
            "4.96-15",
            "amd64",
            &["Provides: mail-transport-agent"],
        ),
    ]);
    let r = resolve_t(&u, &reqs(&["mailer"]), &amd64()).unwrap();
    // Smallest provider name wins when none is selected.
    assert_eq!(picked(&u, &r), ["mailer=1", "exim4-daemon-light=4.96-15"]);
    // A provider that is already selected satisfies the group.
    let r = resolve_t(&u, &reqs(&["mailer", "postfix"]), &amd64()).unwrap();
    assert_eq!(picked(&u, &r), ["mailer=1", "postfix=3.7.11-0+deb12u1"]);
    assert!(r.unsatisfied.is_empty());
}

#[test]
fn real_package_preferred_over_provider() {
    let u = universe(&[
        stanza("app", "1", "amd64", &["Depends: awk"]),
        stanza("mawk", "1.3.4", "amd64", &["Provides: awk"]),
        stanza("awk", "1", "amd64", &[]),
    ]);
    let r = resolve_t(&u, &reqs(&["app"]), &amd64()).unwrap();
    assert_eq!(picked(&u, &r), ["app=1", "awk=1"]);
}

#[test]
fn versioned_provides() {
    let u = universe(&[
        stanza("app", "1", "amd64", &["Depends: libabi (>= 2)"]),
        stanza("old", "1", "amd64", &["Provides: libabi (= 1)"]),
        stanza("unversioned", "1", "amd64", &["Provides: libabi"]),
        stanza("new", "1", "amd64", &["Provides: libabi (= 2.5)"]),
        stanza("plain", "1", "amd64", &["Depends: libabi"]),
    ]);
    let r = resolve_t(&u, &reqs(&["app"]), &amd64()).unwrap();
    assert_eq!(picked(&u, &r), ["app=1", "new=1"]);
    // An unversioned relation accepts any provider; smallest name first.
    let r = resolve_t(&u, &reqs(&["plain"]), &amd64()).unwrap();
    assert_eq!(picked(&u, &r), ["new=1", "plain=1"]);
    // Only unversioned / too-old providers: unsatisfied.
    let u = universe(&[
        stanza("app", "1", "amd64", &["Depends: libabi (>= 2)"]),
        stanza("old", "1", "amd64", &["Provides: libabi (= 1)"]),
        stanza("unversioned", "1", "amd64", &["Provides: libabi"]),
    ]);
    let r = resolve_t(&u, &reqs(&["app", "unversioned"]), &amd64()).unwrap();
    assert_eq!(picked(&u, &r), ["app=1", "unversioned=1"]);
    assert_eq!(texts(&r), ["app 1 depends on libabi (>= 2): no candidate"]);
}

#[test]
fn cycles_terminate() {
    let u = universe(&[
        stanza("pa", "1", "amd64", &["Depends: pb"]),
        stanza("pb", "1", "amd64", &["Pre-Depends: pc (>= 1)"]),
        stanza("pc", "1", "amd64", &["Depends: pa (= 1), pc"]),
    ]);
    let r = resolve_t(&u, &reqs(&["pa"]), &amd64()).unwrap();
    assert_eq!(r.selected, [0, 1, 2]);
    assert!(r.unsatisfied.is_empty());
}

#[test]
fn long_chain_does_not_recurse() {
    let n = 20_000;
    let stanzas: Vec<String> = (0..n)
        .map(|i| {
            let dep = format!("Depends: p{}", i + 1);
            stanza(&format!("p{i}"), "1", "amd64", &[dep.as_str()])
        })
        .collect();
    let u = universe(&stanzas);
    let r = resolve_t(&u, &reqs(&["p0"]), &amd64()).unwrap();
    assert_eq!(r.selected.len(), n);
    assert_eq!(
        texts(&r),
        [format!(
            "p{} 1 depends on p{n}: no candidate (needed through … -> p19994 1 -> p19995 1 -> p19996 1 -> p19997 1 -> p19998 1 -> p19999 1)",
            n - 1
        )]
    );
}

#[test]
fn unsatisfied_message() {
    let u = universe(&[stanza(
        "jq",
        "1.6-2.1",
        "amd64",
        &[
            "Depends: libfoo (>= 2) | libbar, libc6:any",
            "Recommends: jq-doc",
        ],
    )]);
    let r = resolve_t(&u, &reqs(&["jq"]), &amd64()).unwrap();
    assert_eq!(
        texts(&r),
        [
            "jq 1.6-2.1 depends on libfoo (>= 2) | libbar: no candidate",
            "jq 1.6-2.1 depends on libc6:any: no candidate",
        ]
    );
    let opts = Options {
        with_recommends: true,
        ..amd64()
    };
    let r = resolve_t(&u, &reqs(&["jq"]), &opts).unwrap();
    assert_eq!(
        texts(&r).last().unwrap(),
        "jq 1.6-2.1 recommends on jq-doc: no candidate"
    );
}

#[test]
fn recommends_only_when_asked() {
    let u = universe(&[
        stanza("jq", "1", "amd64", &["Recommends: jq-doc"]),
        stanza("jq-doc", "1", "all", &[]),
    ]);
    let r = resolve_t(&u, &reqs(&["jq"]), &amd64()).unwrap();
    assert_eq!(r.selected, [0]);
    let opts = Options {
        with_recommends: true,
        ..amd64()
    };
    let r = resolve_t(&u, &reqs(&["jq"]), &opts).unwrap();
    assert_eq!(r.selected, [0, 1]);
}

#[test]
fn architectures_and_arch_qualifiers() {
    let u = universe(&[
        stanza("tool", "1", "amd64", &["Depends: python3:any, libx"]),
        stanza("tool", "2", "arm64", &["Depends: python3:any, libx"]),
        stanza("python3", "3.11", "amd64", &[]),
        stanza("python3", "3.11", "arm64", &[]),
        stanza("libx", "1", "all", &[]),
        stanza("tool", "3", "i386", &[]),
    ]);
    let r = resolve_t(&u, &reqs(&["tool"]), &amd64()).unwrap();
    assert_eq!(r.selected, [0, 2, 4]);
    let both = Options {
        architectures: vec!["amd64".into(), "arm64".into(), "amd64".into()],
        with_recommends: false,
    };
    let r = resolve_t(&u, &reqs(&["tool"]), &both).unwrap();
    assert_eq!(r.selected, [0, 1, 2, 3, 4]);
    // Only i386 has it: not a candidate for amd64.
    let u = universe(&[stanza("x32only", "1", "i386", &[])]);
    let e = resolve_t(&u, &reqs(&["x32only"]), &amd64()).unwrap_err();
    assert!(e.to_string().contains("x32only"), "{e}");
    // No architecture restriction.
    let any = Options::default();
    assert_eq!(
        resolve_t(&u, &reqs(&["x32only"]), &any).unwrap().selected,
        [0]
    );
}

#[test]
fn patterns() {
    let u = universe(&[
        stanza("libfoo1", "1", "amd64", &[]),
        stanza("libfoo1", "2", "amd64", &[]),
        stanza("libbar2", "1", "amd64", &["Depends: base"]),
        stanza("base", "1", "amd64", &[]),
        stanza("tool", "1", "amd64", &[]),
    ]);
    let r = resolve_t(&u, &reqs(&["lib*"]), &amd64()).unwrap();
    assert_eq!(picked(&u, &r), ["libfoo1=2", "libbar2=1", "base=1"]);
    let e = resolve_t(&u, &reqs(&["tool", "nothing-*"]), &amd64()).unwrap_err();
    assert_eq!(
        e,
        Missing {
            source: 0,
            request: "nothing-*".into(),
            architectures: "amd64".into(),
            hint: None,
        }
    );
}

#[test]
fn unknown_request_is_an_error() {
    let u = universe(&[stanza("jq", "1", "amd64", &[])]);
    let e = resolve_t(&u, &reqs(&["jq", "nosuchpkg"]), &amd64()).unwrap_err();
    assert_eq!(e.request, "nosuchpkg");
    assert!(e.to_string().contains("\"nosuchpkg\""), "{e}");
    // A virtual name with one provider selects it, as apt-get does; with several it
    // is missing, and the hint lists them.
    let mut stanzas = vec![stanza(
        "postfix",
        "1",
        "amd64",
        &["Provides: mail-transport-agent"],
    )];
    let u = universe(&stanzas);
    let r = resolve_t(&u, &reqs(&["mail-transport-agent"]), &amd64()).unwrap();
    assert_eq!(picked(&u, &r), ["postfix=1"]);
    stanzas.push(stanza(
        "exim4-daemon-light",
        "4.96-15",
        "amd64",
        &["Provides: mail-transport-agent"],
    ));
    let u = universe(&stanzas);
    let e = resolve_t(&u, &reqs(&["mail-transport-agent"]), &amd64()).unwrap_err();
    assert_eq!(
        e.hint.as_deref(),
        Some("a virtual package, provided by exim4-daemon-light, postfix: request one of them")
    );
}

#[test]
fn empty_requests_select_everything_allowed() {
    let u = universe(&[
        stanza("a", "1", "amd64", &["Depends: missing"]),
        stanza("b", "1", "all", &[]),
        stanza("c", "1", "arm64", &[]),
        stanza("a", "1", "amd64", &["Depends: missing"]),
    ]);
    let r = resolve_t(&u, &[], &amd64()).unwrap();
    assert_eq!(r.selected, [0, 1]);
    assert_eq!(texts(&r), ["a 1 depends on missing: no candidate"]);
    let r = resolve_t(&u, &[], &Options::default()).unwrap();
    assert_eq!(r.selected, [0, 1, 2]);
}

#[test]
fn duplicates_select_first_index_deterministically() {
    // The same package in two suites, listed twice.
    let u = universe(&[
        stanza("app", "1", "amd64", &["Depends: lib"]),
        stanza("lib", "1", "amd64", &[]),
        stanza("app", "1", "amd64", &["Depends: lib"]),
        stanza("lib", "1", "amd64", &[]),
    ]);
    for _ in 0..5 {
        let r = resolve_t(&u, &reqs(&["app"]), &amd64()).unwrap();
        assert_eq!(r.selected, [0, 1]);
    }
    let r = resolve_t(&u, &reqs(&["app=1"]), &amd64()).unwrap();
    assert_eq!(r.selected, [0, 1]);
}

#[test]
fn provider_choice_is_deterministic_by_name_then_version() {
    let u = universe(&[
        stanza("zz-mta", "9", "amd64", &["Provides: mta"]),
        stanza("aa-mta", "1", "amd64", &["Provides: mta"]),
        stanza("aa-mta", "2", "amd64", &["Provides: mta"]),
        stanza("app", "1", "amd64", &["Depends: mta"]),
    ]);
    let r = resolve_t(&u, &reqs(&["app"]), &amd64()).unwrap();
    assert_eq!(picked(&u, &r), ["aa-mta=2", "app=1"]);
}

/// Indexes given as `(source, priority, stanzas)`; sources as `(name, arches,
/// requests)`.
struct Multi {
    entries: PackageTable,
    index_of: Vec<u32>,
    indexes: Vec<IndexInfo>,
    sources: Vec<Source>,
}

fn multi(indexes: &[(usize, i32, Vec<String>)], sources: &[(&str, &[&str], &[&str])]) -> Multi {
    let mut m = Multi {
        entries: PackageTable::new(),
        index_of: Vec::new(),
        indexes: Vec::new(),
        sources: sources
            .iter()
            .map(|(n, a, r)| Source {
                name: (*n).into(),
                architectures: a.iter().map(|s| (*s).into()).collect(),
                requests: reqs(r),
                with_recommends: false,
            })
            .collect(),
    };
    for (k, (source, priority, stanzas)) in indexes.iter().enumerate() {
        let es = parse_packages(&stanzas.join("\n")).unwrap();
        m.index_of.extend(std::iter::repeat_n(k as u32, es.len()));
        for e in &es {
            m.entries.push(e).unwrap();
        }
        m.indexes.push(IndexInfo {
            source: *source,
            priority: *priority,
        });
    }
    m
}

impl Multi {
    fn resolve(&self) -> Resolution {
        resolve(Universe {
            entries: &self.entries,
            index_of: &self.index_of,
            indexes: &self.indexes,
            sources: &self.sources,
        })
    }
    fn picked(&self, r: &Resolution) -> Vec<String> {
        r.selected
            .iter()
            .map(|&i| {
                let e = self.entries.entry(i);
                let src = self.indexes[self.index_of[i] as usize].source;
                format!("{}={}@{}", e.name(), e.version(), self.sources[src].name)
            })
            .collect()
    }
}

#[test]
fn dependencies_resolve_across_sources_with_the_candidate_rule() {
    let m = multi(
        &[
            (
                0,
                DEFAULT_PRIORITY,
                vec![
                    stanza("foo", "1.0", "amd64", &["Depends: libbar (>= 1)"]),
                    stanza("libbar", "2.0", "amd64", &[]),
                    stanza("libbar", "1.0", "amd64", &[]),
                ],
            ),
            (
                1,
                DEFAULT_PRIORITY,
                vec![stanza("foo", "1.1", "amd64", &["Depends: libbar (>= 2)"])],
            ),
            // A backports-like suite: newer, but priority 100 (ButAutomaticUpgrades).
            (
                0,
                release_priority(true, true),
                vec![stanza("foo", "2.0~bpo1", "amd64", &[])],
            ),
        ],
        &[
            ("main", &["amd64"], &["foo"]),
            ("security", &["amd64"], &["foo"]),
        ],
    );
    let r = m.resolve();
    assert_eq!(m.picked(&r), ["libbar=2.0@main", "foo=1.1@security"]);
    assert!(r.unsatisfied.is_empty() && r.missing.is_empty(), "{r:?}");
    // A pin can still name the backport.
    let mut m = m;
    m.sources[0].requests = reqs(&["foo=2.0~bpo1"]);
    m.sources[1].requests = vec![];
    m.sources[1].name = "security".into();
    let r = m.resolve();
    // security without requests selects all of its own entries.
    assert_eq!(
        m.picked(&r),
        ["libbar=2.0@main", "foo=1.1@security", "foo=2.0~bpo1@main"]
    );
}

#[test]
fn every_missing_request_and_unsatisfied_dependency_is_reported_with_its_chain() {
    let m = multi(
        &[
            (
                0,
                DEFAULT_PRIORITY,
                vec![
                    stanza("app", "1", "amd64", &["Depends: liba, gone1 (>= 2)"]),
                    stanza("liba", "1", "amd64", &["Depends: gone2 | gone3"]),
                    stanza("gone1", "1", "amd64", &[]),
                    stanza("postfix", "1", "amd64", &["Provides: mail-transport-agent"]),
                    stanza("exim4", "1", "amd64", &["Provides: mail-transport-agent"]),
                    stanza("armonly", "1", "arm64", &[]),
                ],
            ),
            (1, DEFAULT_PRIORITY, vec![stanza("tool", "1", "amd64", &[])]),
        ],
        &[
            (
                "main",
                &["amd64"],
                &["app", "nosuch", "mail-transport-agent", "armonly"],
            ),
            ("other", &["amd64"], &["tool", "app=9", "none-*"]),
        ],
    );
    let r = m.resolve();
    assert_eq!(m.picked(&r), ["app=1@main", "liba=1@main", "tool=1@other"]);
    assert_eq!(
        texts(&r),
        [
            "app 1 depends on gone1 (>= 2): no candidate",
            "liba 1 depends on gone2 | gone3: no candidate (needed through app 1 -> liba 1)",
        ]
    );
    assert_eq!(r.unsatisfied[1].source, 0);
    let missing: Vec<String> = r.missing.iter().map(ToString::to_string).collect();
    assert_eq!(
        missing,
        [
            "no package matches request \"nosuch\" in any source (architectures: amd64)",
            "no package matches request \"mail-transport-agent\" in any source (architectures: amd64); a virtual package, provided by exim4, postfix: request one of them",
            "no package matches request \"armonly\" in any source (architectures: amd64); only built for arm64",
            "no package matches request \"app=9\" in any source (architectures: amd64); available versions: 1",
            "no package matches request \"none-*\" in any source (architectures: amd64)",
        ]
    );
    assert_eq!(
        r.missing.iter().map(|x| x.source).collect::<Vec<_>>(),
        [0, 0, 0, 1, 1]
    );
}

#[test]
fn a_version_in_two_suites_takes_the_priority_of_its_best_one() {
    // libx 2 is in backports (priority 100, listed first) and in updates (500): it is
    // the candidate, from updates, over libx 1.
    let m = multi(
        &[
            (
                0,
                release_priority(true, true),
                vec![stanza("libx", "2", "amd64", &[])],
            ),
            (
                1,
                DEFAULT_PRIORITY,
                vec![
                    stanza("libx", "1", "amd64", &[]),
                    stanza("libx", "2", "amd64", &[]),
                ],
            ),
        ],
        &[
            ("backports", &["amd64"], &[]),
            ("updates", &["amd64"], &["libx"]),
        ],
    );
    let mut m = m;
    m.sources[0].requests = reqs(&["libx=2"]);
    assert_eq!(m.picked(&m.resolve()), ["libx=2@updates"]);
}

#[test]
fn sources_without_a_shared_architecture_are_separate_universes() {
    let m = multi(
        &[
            (0, DEFAULT_PRIORITY, vec![stanza("lib", "1", "amd64", &[])]),
            (
                1,
                DEFAULT_PRIORITY,
                vec![
                    stanza("tool", "1", "arm64", &["Depends: lib, common"]),
                    stanza("lib", "1", "amd64", &[]),
                ],
            ),
            (0, DEFAULT_PRIORITY, vec![stanza("common", "1", "all", &[])]),
        ],
        &[
            ("amd", &["amd64"], &["lib"]),
            ("arm", &["arm64"], &["tool"]),
        ],
    );
    let r = m.resolve();
    // The amd64 lib of another universe does not satisfy an arm64 package; neither
    // does the `all` package of a source without arm64.
    assert_eq!(m.picked(&r), ["lib=1@amd", "tool=1@arm"]);
    assert_eq!(
        texts(&r),
        [
            "tool 1 depends on lib: no candidate",
            "tool 1 depends on common: no candidate"
        ]
    );
}

#[test]
fn recommends_follow_the_requesting_source() {
    let mut m = multi(
        &[
            (
                0,
                DEFAULT_PRIORITY,
                vec![stanza("pa", "1", "amd64", &["Recommends: rec"])],
            ),
            (
                1,
                DEFAULT_PRIORITY,
                vec![
                    stanza("pb", "1", "amd64", &["Depends: pa"]),
                    stanza("rec", "1", "all", &[]),
                ],
            ),
        ],
        &[("one", &["amd64"], &["pa"]), ("two", &["amd64"], &["pb"])],
    );
    assert_eq!(m.picked(&m.resolve()), ["pa=1@one", "pb=1@two"]);
    // `two` asks for Recommends: `pa`, reached from `pb`, brings `rec` (from `two`).
    m.sources[1].with_recommends = true;
    assert_eq!(
        m.picked(&m.resolve()),
        ["pa=1@one", "pb=1@two", "rec=1@two"]
    );
}
