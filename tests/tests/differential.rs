//! Differential tests (issue 16): the rules the product implements by hand, held against
//! the tools that define them, over thousands of generated cases each.
//!
//! | rule | ours | reference |
//! |---|---|---|
//! | Debian version order | `formats::apt::version::compare` | libapt-pkg (`apt_pkg.version_compare`), and `dpkg --compare-versions` on a sample |
//! | relationship fields | `formats::apt::relation::parse_relations` | `apt_pkg.parse_depends` |
//! | wheel tag compatibility | `formats::pypi::tags::wheel_is_compatible` | `packaging.tags` |
//! | project name normalization | `formats::pypi::name::normalize` | `packaging.utils.canonicalize_name` |
//! | PEP 440 order, specifiers | `pep440_rs` order, the solver's ranges (`mirror_sync::pypi::ranges`) | `packaging.version`, `packaging.specifiers` |
//! | image references | `formats::oci::reference::ImageRef::parse` | the distribution reference grammar |
//!
//! The reference side is `tests/differential/reference.py` in the venv that
//! `deploy/test-deps.sh` makes: Debian's python3 with python3-apt, and `packaging` pinned
//! (Debian's 23.0 mishandles epochs under `~=`). Cases come from a seeded
//! generator, so a failure names cases that reproduce. A disagreement fails the test unless
//! it is listed in [`known`] with the spec that decides it. Set `DIFF_CASES` to run more
//! cases (default 4000 per rule).

use std::cmp::Ordering;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::str::FromStr;

use formats::apt::relation::{VersionOp, parse_relations};
use formats::oci::reference::ImageRef;
use formats::pypi::filename::DistFilename;
use formats::pypi::tags::{Target, wheel_is_compatible};
use mirror_sync::pypi::ranges::from_specifiers;

/// The reference interpreter: `DIFF_PYTHON`, else the venv `deploy/test-deps.sh` makes
/// (Debian's python3 with python3-apt, and `packaging` pinned there).
fn python() -> String {
    std::env::var("DIFF_PYTHON").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
        format!("{home}/.cache/mirror-tests/reference-venv/bin/python")
    })
}

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    fn chars(&mut self, alphabet: &str, min: usize, max: usize) -> String {
        let a: Vec<char> = alphabet.chars().collect();
        let n = min + self.below(max - min + 1);
        (0..n).map(|_| a[self.below(a.len())]).collect()
    }
}

fn cases() -> usize {
    std::env::var("DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000)
}

/// Runs the reference for `kind` over `cases` (TAB-separated fields), one answer each.
fn reference(kind: &str, cases: &[String]) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("differential/reference.py");
    let python = python();
    let mut child = Command::new(&python)
        .arg(&script)
        .arg(kind)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {python} {}: {e}; deploy/test-deps.sh makes that venv",
                script.display()
            )
        });
    let mut stdin = child.stdin.take().expect("stdin");
    let input: String = cases.iter().map(|c| format!("{c}\n")).collect();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out: Vec<String> = BufReader::new(child.stdout.take().expect("stdout"))
        .lines()
        .collect::<Result<_, _>>()
        .expect("reference output");
    writer.join().expect("writer").expect("write cases");
    let status = child.wait().expect("wait");
    assert!(
        status.success(),
        "{python} reference.py {kind} failed ({status}); deploy/test-deps.sh makes the venv \
         with python3-apt and packaging"
    );
    assert_eq!(
        out.len(),
        cases.len(),
        "reference.py {kind}: one answer per case"
    );
    out
}

/// Why a disagreement is the product's documented rule rather than a bug, when a spec
/// decides it: `None` for every other disagreement (a bug until shown otherwise).
fn known(kind: &str, case: &str, ours: &str, reference: &str) -> Option<&'static str> {
    match kind {
        "depends" if ours == "ERR" => {
            let groups: Vec<Vec<[String; 3]>> = serde_json::from_str(reference).ok()?;
            if groups.is_empty() || case.trim_end().ends_with('|') {
                // libapt-pkg drops a group that ends in an empty alternative (`a |`),
                // `a` included, or answers such a field with no relation at all.
                return Some("Debian Policy §7.1: an empty alternative is not a relation");
            }
            let policy_name = |n: &str| {
                let mut b = n.bytes();
                b.next().is_some_and(|c| c.is_ascii_alphanumeric())
                    && b.all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c))
            };
            let policy_arch = |a: &str| {
                !a.is_empty() && a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
            };
            let rels = groups.iter().flatten();
            for [name, version, _] in rels {
                let (n, arch) = name
                    .split_once(':')
                    .map_or((name.as_str(), None), |(n, a)| (n, Some(a)));
                // libapt-pkg takes any text up to a space as the name, any text up to
                // ')' as the version; the product holds both to Debian Policy.
                if !policy_name(n) || arch.is_some_and(|a| !policy_arch(a)) {
                    return Some("Debian Policy §5.6.1, §7.1: not a package name[:architecture]");
                }
                if !version.is_empty() && !formats::apt::version::is_valid(version) {
                    return Some("Debian Policy §5.6.12: not a deb-version(7)");
                }
            }
            None
        }
        // libapt-pkg refuses a one-character operator followed at once by the version
        // (`(<1)`, `( =9)`); dpkg reads them (`dpkg-deb -b` builds `Depends: l ( =9)`), the
        // obsolete `<`/`>` as `<=`/`>=` (Debian Policy §7.1).
        "depends" if reference == "ERR" => case
            .match_indices('(')
            .any(|(i, _)| {
                let rest = case[i + 1..].trim_start();
                let mut b = rest.bytes();
                matches!(b.next(), Some(b'<' | b'=' | b'>'))
                    && b.next().is_some_and(|c| !b"<=> ".contains(&c))
            })
            .then_some("Debian Policy §7.1: a one-character operator read as dpkg reads it"),
        "oci-ref" if ours == "ERR" => {
            let (domain, ..): (String, String, Option<String>, Option<String>) =
                serde_json::from_str(reference).ok()?;
            if domain.starts_with('[') {
                return Some(
                    "IPv6 literal registry hosts are not supported (documented in check_registry)",
                );
            }
            if let Some((_, port)) = domain.rsplit_once(':')
                && !matches!(port.parse::<u32>(), Ok(1..=65535))
            {
                return Some("RFC 9293 §3.1: a TCP port is 16 bits and port 0 is reserved");
            }
            // The reference keeps a single-label host in the case it was written; host
            // names are case-insensitive (RFC 4343), and once lowercased `Host/app` would
            // mean `app` in the default registry, so the product refuses it.
            (!domain.contains(['.', ':']) && domain != "localhost")
                .then_some("RFC 4343: a host known only by its upper case cannot be written back")
        }
        _ => None,
    }
}

/// Compares ours against the reference over `cases` and fails on any unlisted
/// disagreement, printing up to 25 of them.
fn compare(kind: &str, cases: Vec<String>, ours: impl Fn(&str) -> String) {
    let theirs = reference(kind, &cases);
    // A generator whose cases all get one answer would test nothing.
    let answers: std::collections::BTreeSet<&String> = theirs.iter().collect();
    assert!(answers.len() >= 2, "{kind}: every case got {answers:?}");
    let mut bad = Vec::new();
    let mut excused = 0;
    for (case, want) in cases.iter().zip(&theirs) {
        let got = ours(case);
        if &got != want {
            if known(kind, case, &got, want).is_some() {
                excused += 1;
            } else {
                bad.push(format!("  {case:?}: ours {got}, reference {want}"));
            }
        }
    }
    eprintln!(
        "{kind}: {} cases, {} disagreements, {excused} excused by a spec",
        cases.len(),
        bad.len()
    );
    assert!(
        bad.is_empty(),
        "{kind}: {} of {} cases disagree with the reference:\n{}",
        bad.len(),
        cases.len(),
        bad.iter().take(25).cloned().collect::<Vec<_>>().join("\n")
    );
}

fn ordering(o: Ordering) -> String {
    match o {
        Ordering::Less => "<",
        Ordering::Equal => "=",
        Ordering::Greater => ">",
    }
    .to_owned()
}

// --- Debian versions --------------------------------------------------------------------

fn debian_version(r: &mut Rng) -> String {
    const EDGE: &[&str] = &[
        "0",
        "1",
        "1.0",
        "1.0-1",
        "1:0",
        "0:1.0",
        "1.0~rc1",
        "1.0~~",
        "1.0~",
        "1.0+b1",
        "1.0-0.1",
        "1.0a",
        "1.0.0",
        "1.00",
        "01.0",
        "1.0-1ubuntu1",
        "1.0-1~bpo12+1",
        "2:1.0",
        "10:0.1",
        "1.0+dfsg-1",
        "1.0-1+deb12u1",
        "a",
        "1.0-a",
        "9",
        "10",
        "1..0",
    ];
    if r.chance(15) {
        return r.pick(EDGE).to_owned();
    }
    let mut v = String::new();
    if r.chance(15) {
        v.push_str(&format!("{}:", r.below(12)));
    }
    let has_revision = r.chance(55);
    v.push_str(&r.chars("0123456789", 1, 3));
    let tail = if has_revision {
        "0123456789abcz.+~-"
    } else {
        "0123456789abcz.+~"
    };
    v.push_str(&r.chars(tail, 0, 6));
    if has_revision {
        v.push('-');
        v.push_str(&r.chars("0123456789abz.+~", 1, 5));
    }
    v
}

#[test]
fn debian_version_order_matches_libapt_pkg_and_dpkg() {
    let mut r = Rng::new(1);
    let n = cases();
    let mut cases = Vec::with_capacity(n);
    while cases.len() < n {
        let a = debian_version(&mut r);
        // Near neighbours compare more interestingly than two random strings.
        let b = if r.chance(50) {
            let mut b = a.clone();
            b.push_str(r.pick(&["", "~", "+", "0", "a", ".0", "~1", "-1"]));
            b
        } else {
            debian_version(&mut r)
        };
        if formats::apt::version::is_valid(&a) && formats::apt::version::is_valid(&b) {
            cases.push(format!("{a}\t{b}"));
        }
    }
    compare("dpkg-cmp", cases.clone(), |c| {
        let (a, b) = c.split_once('\t').expect("pair");
        ordering(formats::apt::version::compare(a, b))
    });

    // dpkg itself on a sample: one process per relation, so fewer cases.
    let sample: Vec<&String> = cases.iter().step_by((cases.len() / 300).max(1)).collect();
    let mut script = String::from("while IFS=$(printf '\\t') read -r a b; do\n");
    script.push_str(
        "if dpkg --compare-versions \"$a\" lt \"$b\"; then echo '<'; \
         elif dpkg --compare-versions \"$a\" eq \"$b\"; then echo '='; else echo '>'; fi\n",
    );
    script.push_str("done\n");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sh");
    let input: String = sample.iter().map(|c| format!("{c}\n")).collect();
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("dpkg loop");
    let answers: Vec<&str> = std::str::from_utf8(&out.stdout)
        .expect("utf8")
        .lines()
        .collect();
    assert_eq!(answers.len(), sample.len(), "dpkg: one answer per pair");
    let mut bad = Vec::new();
    for (case, want) in sample.iter().zip(answers) {
        let (a, b) = case.split_once('\t').expect("pair");
        let got = ordering(formats::apt::version::compare(a, b));
        if got != want {
            bad.push(format!("  {a:?} vs {b:?}: ours {got}, dpkg {want}"));
        }
    }
    eprintln!(
        "dpkg --compare-versions: {} pairs, {} disagreements",
        sample.len(),
        bad.len()
    );
    assert!(
        bad.is_empty(),
        "disagreements with dpkg:\n{}",
        bad.join("\n")
    );
}

// --- relationship fields ------------------------------------------------------------------

fn relation_field(r: &mut Rng) -> String {
    let mut groups = Vec::new();
    for _ in 0..1 + r.below(4) {
        let mut alts = Vec::new();
        for _ in 0..1 + r.below(3) {
            let mut a = r.chars("abcdefghijklmnopqrstuvwxyz0123456789", 1, 1);
            a.push_str(&r.chars("abcdefghijklmnopqrstuvwxyz0123456789+.-", 1, 10));
            if r.chance(20) {
                a.push(':');
                a.push_str(r.pick(&["any", "amd64", "native", "i386"]));
            }
            if r.chance(50) {
                let op = r.pick(&["<<", "<=", "=", ">=", ">>", "<", ">"]);
                let v = debian_version(r);
                a.push_str(match r.below(4) {
                    0 => " (",
                    1 => "(",
                    2 => "  ( ",
                    _ => " (",
                });
                a.push_str(op);
                a.push_str(r.pick(&[" ", "", "  "]));
                a.push_str(&v);
                a.push_str(r.pick(&[")", " )", ")"]));
            }
            alts.push(a);
        }
        groups.push(alts.join(r.pick(&[" | ", "|", " |  "])));
    }
    let mut field = groups.join(r.pick(&[", ", ",", " , ", ",\n "]));
    if r.chance(12) {
        // Damage: a stray delimiter somewhere.
        let at = r.below(field.len() + 1);
        let at = (0..=at)
            .rev()
            .find(|&i| field.is_char_boundary(i))
            .unwrap_or(0);
        field.insert_str(
            at,
            r.pick(&["(", ")", "|", ",", ":", "!", " ", "((", "=", "~"]),
        );
    }
    field
}

fn ours_depends(field: &str) -> String {
    match parse_relations(field) {
        Err(_) => "ERR".into(),
        Ok(groups) => {
            let groups: Vec<Vec<[String; 3]>> = groups
                .iter()
                .map(|g| {
                    g.iter()
                        .map(|rel| {
                            let name = match &rel.arch {
                                Some(a) => format!("{}:{a}", rel.name),
                                None => rel.name.clone(),
                            };
                            let (v, op) = match &rel.constraint {
                                Some((op, v)) => (v.clone(), op_str(*op).to_owned()),
                                None => (String::new(), String::new()),
                            };
                            [name, v, op]
                        })
                        .collect()
                })
                .collect();
            serde_json::to_string(&groups).expect("json")
        }
    }
}

fn op_str(op: VersionOp) -> &'static str {
    // apt_pkg names the operators as Debian Policy §7.1 writes them.
    op.as_str()
}

#[test]
fn relationship_fields_parse_as_libapt_pkg_parses_them() {
    let mut r = Rng::new(2);
    let cases: Vec<String> = (0..cases())
        .map(|_| relation_field(&mut r).replace('\n', " "))
        .collect();
    compare("depends", cases, ours_depends);
}

// --- wheel tags ------------------------------------------------------------------------------

const TARGET_PLATFORMS: &[&str] = &[
    "manylinux_2_17_x86_64",
    "manylinux_2_28_x86_64",
    "manylinux_2_35_aarch64",
    "manylinux2014_x86_64",
    "musllinux_1_2_x86_64",
    "linux_x86_64",
    "win_amd64",
    "macosx_11_0_arm64",
    "macosx_12_0_x86_64",
    "macosx_10_15_x86_64",
];

fn wheel_name(r: &mut Rng) -> String {
    let tagset = |r: &mut Rng, items: &[&str]| {
        let n = 1 + usize::from(r.chance(25));
        let mut v: Vec<&str> = (0..n).map(|_| r.pick(items)).collect();
        v.dedup();
        v.join(".")
    };
    let py = tagset(
        r,
        &[
            "cp38", "cp39", "cp310", "cp311", "cp312", "cp313", "py3", "py2", "py38", "py311",
            "py314", "pp39", "cp27", "cp36", "cp3",
        ],
    );
    let abi = tagset(
        r,
        &[
            "none",
            "abi3",
            "cp38",
            "cp311",
            "cp312",
            "cp313",
            "cp37m",
            "cp313t",
            "cp311d",
            "pypy39_pp73",
        ],
    );
    let plat = tagset(
        r,
        &[
            "any",
            "manylinux_2_17_x86_64",
            "manylinux2014_x86_64",
            "manylinux_2_28_x86_64",
            "manylinux_2_34_x86_64",
            "manylinux_2_5_x86_64",
            "manylinux1_x86_64",
            "manylinux2010_x86_64",
            "manylinux_2_17_aarch64",
            "manylinux_2_28_aarch64",
            "musllinux_1_1_x86_64",
            "musllinux_1_2_x86_64",
            "linux_x86_64",
            "linux_aarch64",
            "win_amd64",
            "win32",
            "macosx_10_9_x86_64",
            "macosx_10_9_universal2",
            "macosx_11_0_arm64",
            "macosx_14_0_arm64",
            "macosx_12_0_x86_64",
            "macosx_10_15_intel",
        ],
    );
    let build = if r.chance(10) { "-1" } else { "" };
    format!("demo-1.0{build}-{py}-{abi}-{plat}.whl")
}

#[test]
fn wheel_tag_compatibility_matches_packaging_tags() {
    let mut r = Rng::new(3);
    let cases: Vec<String> = (0..cases())
        .map(|_| {
            let py = format!("3.{}", 8 + r.below(6));
            let plat = r.pick(TARGET_PLATFORMS);
            format!("{py}\t{plat}\t{}", wheel_name(&mut r))
        })
        .collect();
    compare("wheel-compat", cases, |c| {
        let mut f = c.split('\t');
        let (py, plat, file) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        let target = Target::new(py, plat).expect("a supported target");
        match DistFilename::parse(file, None) {
            Ok(DistFilename::Wheel(w)) => if wheel_is_compatible(&w, &target) {
                "1"
            } else {
                "0"
            }
            .into(),
            _ => "ERR".into(),
        }
    });
}

// --- project names ---------------------------------------------------------------------------

#[test]
fn project_names_normalize_as_packaging_does() {
    let mut r = Rng::new(4);
    let cases: Vec<String> = (0..cases())
        .map(|_| {
            let mut s = r.chars("aAzZ09", 1, 1);
            s.push_str(&r.chars("abcXYZ019-_.", 0, 12));
            if r.chance(70) {
                s.push_str(&r.chars("aZ9", 1, 1));
            }
            s
        })
        .collect();
    compare("normalize", cases, formats::pypi::name::normalize);
}

// --- PEP 440 -------------------------------------------------------------------------------

fn pep440_version(r: &mut Rng) -> String {
    let mut v = String::new();
    if r.chance(4) {
        v.push('v');
    }
    if r.chance(8) {
        v.push_str(&format!("{}!", r.below(3)));
    }
    let parts = 1 + r.below(4);
    let release: Vec<String> = (0..parts)
        .map(|_| {
            if r.chance(5) {
                format!("0{}", r.below(10))
            } else {
                r.below(13).to_string()
            }
        })
        .collect();
    v.push_str(&release.join("."));
    if r.chance(30) {
        v.push_str(r.pick(&["", ".", "-", "_"]));
        v.push_str(r.pick(&["a", "b", "rc", "alpha", "beta", "c", "pre", "preview", "RC"]));
        if r.chance(80) {
            v.push_str(&r.below(4).to_string());
        }
    }
    if r.chance(20) {
        v.push_str(r.pick(&[".post", "post", "-", ".rev", "r", "_post", "-post"]));
        v.push_str(&r.below(4).to_string());
    }
    if r.chance(20) {
        v.push_str(r.pick(&[".dev", "dev", "-dev", "_dev"]));
        if r.chance(80) {
            v.push_str(&r.below(4).to_string());
        }
    }
    if r.chance(15) {
        v.push('+');
        v.push_str(&r.chars("abc01", 1, 4));
        if r.chance(50) {
            v.push_str(r.pick(&[".", "-", "_"]));
            v.push_str(&r.chars("0a1", 1, 3));
        }
    }
    if r.chance(3) {
        v = format!(" {v} ");
    }
    v
}

#[test]
fn pep440_order_matches_packaging_version() {
    let mut r = Rng::new(5);
    let cases: Vec<String> = (0..cases())
        .map(|_| format!("{}\t{}", pep440_version(&mut r), pep440_version(&mut r)))
        .collect();
    compare("pep440-cmp", cases, |c| {
        let (a, b) = c.split_once('\t').expect("pair");
        match (
            pep440_rs::Version::from_str(a),
            pep440_rs::Version::from_str(b),
        ) {
            (Ok(a), Ok(b)) => ordering(a.cmp(&b)),
            _ => "ERR".into(),
        }
    });
}

#[test]
fn pep440_specifiers_match_as_packaging_specifiers_do() {
    let mut r = Rng::new(6);
    let cases: Vec<String> = (0..cases())
        .map(|_| {
            let n = 1 + r.below(3);
            let specs: Vec<String> = (0..n)
                .map(|_| {
                    let op = r.pick(&["==", "!=", "<=", ">=", "<", ">", "~="]);
                    let mut v = pep440_version(&mut r).trim().to_owned();
                    if (op == "==" || op == "!=") && r.chance(20) && !v.contains('+') {
                        v.push_str(".*");
                    }
                    format!("{op}{}{v}", r.pick(&["", " "]))
                })
                .collect();
            format!("{}\t{}", specs.join(","), pep440_version(&mut r).trim())
        })
        .collect();
    compare("pep440-spec", cases, |c| {
        let (s, v) = c.split_once('\t').expect("pair");
        match (
            pep440_rs::VersionSpecifiers::from_str(s),
            pep440_rs::Version::from_str(v),
        ) {
            // The solver's ranges: what the product admits (pep440_rs's own `contains`
            // matches `7` against `==7.7.*`, see mirror-sync's pypi::select).
            (Ok(s), Ok(v)) => if from_specifiers(&s).0.contains(&v) {
                "1"
            } else {
                "0"
            }
            .into(),
            _ => "ERR".into(),
        }
    });
}

// --- OCI references --------------------------------------------------------------------------

fn oci_reference(r: &mut Rng) -> String {
    let mut s = String::new();
    match r.below(6) {
        0 => s.push_str(r.pick(&[
            "localhost/",
            "registry.example.invalid:5000/",
            "Registry.Example.invalid/",
            "127.0.0.1:5000/",
            "docker.io/",
            "index.docker.io/",
            "a-b.example/",
            "-bad.example/",
            "host:0/",
            "[::1]:5000/",
            "host:99999/",
        ])),
        1 => {
            s.push_str(&r.chars("abcx.-", 1, 8));
            s.push('/');
        }
        _ => {}
    }
    let comps = 1 + r.below(3);
    let path: Vec<String> = (0..comps)
        .map(|_| {
            let mut c = r.chars("abc019", 1, 4);
            if r.chance(30) {
                c.push_str(r.pick(&[".", "_", "__", "-", "--", "___", ".."]));
                c.push_str(&r.chars("abc019", 1, 3));
            }
            if r.chance(4) {
                c.push_str(r.pick(&["A", "-", "_", ""]));
            }
            c
        })
        .collect();
    s.push_str(&path.join("/"));
    if r.chance(50) {
        s.push(':');
        s.push_str(&r.chars("aZ09_", 1, 1));
        s.push_str(&r.chars("aZ09._-", 0, 8));
    }
    if r.chance(25) {
        s.push('@');
        s.push_str(r.pick(&["sha256:", "sha512:", "sha256:", "SHA256:"]));
        let hex: String = (0..64).map(|_| r.pick(&["0", "a", "f", "9"])).collect();
        s.push_str(match r.below(5) {
            0 => &hex[..32],
            1 => "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789",
            _ => &hex,
        });
    }
    s
}

#[test]
fn image_references_parse_by_the_distribution_grammar() {
    let mut r = Rng::new(7);
    let cases: Vec<String> = (0..cases()).map(|_| oci_reference(&mut r)).collect();
    compare("oci-ref", cases, |c| {
        match ImageRef::parse(c, "registry.example.invalid") {
            Ok(i) => serde_json::to_string(&(
                i.registry,
                i.repository,
                i.tag,
                i.digest.map(|d| d.to_string()),
            ))
            .expect("json"),
            Err(_) => "ERR".into(),
        }
    });
}
