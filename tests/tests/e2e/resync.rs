//! A re-sync that downloads nothing unchanged (issue 15): conditional requests for the
//! Release files and the project pages, indexes from the store, the last selection kept
//! under an unchanged selection key. Offline, against a real signed APT archive and a
//! static PyPI index served by `python3 -m http.server` (which answers `If-Modified-Since`
//! with `304`); every request is counted in the server's own log.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use mirror_e2e::apt_archives::Archive;
use mirror_e2e::apt_fixture::DebSpec;
use mirror_e2e::product::{s, sync_cli, sync_json};
use mirror_e2e::pypi_fixture::build_pypi_set;
use mirror_e2e::{StaticServer, require_tools};
use serde_json::Value;

/// Sets the modification time of every file under `dir` to `age` ago, so that the
/// server's `Last-Modified` is a strong validator (RFC 9110 §8.8.2.2: a minute or more
/// before its `Date`), as it is on a real archive.
fn age_files(dir: &Path, age: Duration) {
    let when = SystemTime::now() - age;
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            age_files(&p, age);
        } else {
            std::fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
    }
}

/// `(path, status)` of every request in the server's log after the first `from` lines.
fn answers(server: &StaticServer, from: usize) -> Vec<(String, u16)> {
    server
        .request_log()
        .lines()
        .filter(|l| l.contains("\"GET "))
        .skip(from)
        .filter_map(|l| {
            let rest = &l[l.find("\"GET ")? + 5..];
            let path = rest.split(' ').next()?.to_owned();
            let status = rest
                .split('"')
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            Some((path, status))
        })
        .collect()
}

/// The stored state of `upstream` as JSON (with its `synced_at`).
fn stored_state(store: &Path, upstream: &str) -> Value {
    let state = mirror_sync::state::State::open(store).unwrap();
    serde_json::to_value(state.upstream(upstream).unwrap().unwrap()).unwrap()
}

fn requests(server: &StaticServer) -> usize {
    answers(server, 0).len()
}

/// The `kept` flag of every upstream of a sync's JSON summary.
fn kept(summary: &Value) -> Vec<bool> {
    summary["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["kept"].as_bool().unwrap())
        .collect()
}

struct Apt {
    tmp: tempfile::TempDir,
    archive: Archive,
    server: StaticServer,
}

impl Apt {
    fn new() -> Option<Apt> {
        if !require_tools(&[
            "dpkg-deb",
            "dpkg-scanpackages",
            "apt-ftparchive",
            "gpg",
            "xz",
            "python3",
        ]) {
            return None;
        }
        let tmp = tempfile::Builder::new()
            .prefix("resync-")
            .tempdir()
            .unwrap();
        let archive = Archive::build(
            &tmp.path().join("up"),
            "stable",
            "Test Archive <archive@example.invalid>",
            &[
                DebSpec::new("tool", "1.0", "amd64").field("Depends", "libfoo (>= 1)"),
                DebSpec::new("libfoo", "1.0", "amd64"),
                DebSpec::new("extra", "1.0", "amd64"),
            ],
            &[],
        )
        .expect("archive");
        age_files(&archive.root, Duration::from_secs(7200));
        let server = StaticServer::start(&archive.root).expect("server");
        sync_cli(&["keys", "generate", "--out", s(&tmp.path().join("keys"))]).expect("keys");
        Some(Apt {
            tmp,
            archive,
            server,
        })
    }

    fn config(&self, packages: &[&str]) -> PathBuf {
        let list: Vec<String> = packages.iter().map(|p| format!("{p:?}")).collect();
        let p = self.tmp.path().join("mirror.toml");
        std::fs::write(
            &p,
            format!(
                "store = \"store\"\nchannel = \"resync\"\n\n[signing]\nsnapshot_key = \"keys/snapshot.key\"\nrepo_key = \"keys/repo.key.asc\"\n\n[[apt]]\nname = \"main\"\nurl = \"{}/\"\nsuites = [\"stable\"]\ncomponents = [\"main\"]\narchitectures = [\"amd64\"]\npackages = [{}]\nkeyring = \"{}\"\n",
                self.server.url,
                list.join(", "),
                self.archive.keyring.display()
            ),
        )
        .unwrap();
        p
    }

    /// `.deb` file names of the upstream's stored state.
    fn debs(&self) -> Vec<String> {
        let state = mirror_sync::state::State::open(&self.tmp.path().join("store")).unwrap();
        let mut v: Vec<String> = state
            .upstream("main")
            .unwrap()
            .unwrap()
            .artifacts
            .iter()
            .filter(|a| a.path.ends_with(".deb"))
            .map(|a| a.path.rsplit('/').next().unwrap().to_owned())
            .collect();
        v.sort();
        v
    }
}

#[test]
fn an_apt_re_sync_with_nothing_changed_downloads_no_index_and_writes_nothing() {
    let Some(apt) = Apt::new() else { return };
    let config = apt.config(&["tool"]);
    let (r, first) = sync_json(&config);
    r.expect("first sync");
    assert_eq!(kept(&first), [false]);
    let got = answers(&apt.server, 0);
    assert!(
        got.contains(&("/dists/stable/InRelease".into(), 200)),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|(p, c)| p.ends_with("Packages.xz") && *c == 200),
        "{got:?}"
    );
    assert_eq!(apt.debs(), ["libfoo_1.0_amd64.deb", "tool_1.0_amd64.deb"]);
    let state_before = stored_state(&apt.tmp.path().join("store"), "main");
    let db = apt.tmp.path().join("store/state.redb");
    let db_before = std::fs::read(&db).unwrap();
    // A rewritten state would carry a later `synced_at` (whole seconds).
    std::thread::sleep(Duration::from_millis(1100));

    let mark = requests(&apt.server);
    let (r, again) = sync_json(&config);
    r.expect("re-sync");
    let got = answers(&apt.server, mark);
    // One conditional request, answered 304: no index body, no Packages, no .deb.
    assert_eq!(got, [("/dists/stable/InRelease".to_owned(), 304)]);
    assert_eq!(kept(&again), [true]);
    assert_eq!(again["bytes_fetched"], 0, "{again}");
    assert_eq!(again["upstreams"][0]["report"]["files"], 2, "{again}");
    // Nothing changed, so the state was not written: same record, same `synced_at`.
    assert_eq!(
        stored_state(&apt.tmp.path().join("store"), "main"),
        state_before,
        "the state was written by a re-sync that changed nothing"
    );
    // Not even redb's own header: the database file is byte for byte the same.
    assert!(
        std::fs::read(&db).unwrap() == db_before,
        "state.redb was written by a re-sync that changed nothing"
    );
}

#[test]
fn an_apt_config_change_resolves_again_with_the_indexes_from_the_store() {
    let Some(apt) = Apt::new() else { return };
    sync_json(&apt.config(&["tool"])).0.expect("first sync");
    let mark = requests(&apt.server);
    let (r, summary) = sync_json(&apt.config(&["tool", "extra"]));
    r.expect("sync with an added package");
    assert_eq!(
        kept(&summary),
        [false],
        "a config change must resolve again"
    );
    let got = answers(&apt.server, mark);
    // The InRelease is unchanged (304) and so is the index it lists: read from the
    // store, not requested. Only the newly selected .deb is downloaded.
    assert_eq!(
        got,
        [
            ("/dists/stable/InRelease".to_owned(), 304),
            ("/pool/main/e/extra/extra_1.0_amd64.deb".to_owned(), 200)
        ]
    );
    assert_eq!(
        apt.debs(),
        [
            "extra_1.0_amd64.deb",
            "libfoo_1.0_amd64.deb",
            "tool_1.0_amd64.deb"
        ]
    );
}

#[test]
fn a_changed_inrelease_resolves_again() {
    let Some(apt) = Apt::new() else { return };
    let config = apt.config(&["tool"]);
    sync_json(&config).0.expect("first sync");
    // The upstream publishes libfoo 2.0: new indexes, a new InRelease (an hour newer
    // than the first, still a strong Last-Modified).
    apt.archive
        .update(&[DebSpec::new("libfoo", "2.0", "amd64")])
        .unwrap();
    age_files(&apt.archive.root, Duration::from_secs(3600));
    let mark = requests(&apt.server);
    let (r, summary) = sync_json(&config);
    r.expect("re-sync after an upstream update");
    assert_eq!(kept(&summary), [false]);
    let got = answers(&apt.server, mark);
    assert!(
        got.contains(&("/dists/stable/InRelease".into(), 200)),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|(p, c)| p.ends_with("Packages.xz") && *c == 200),
        "{got:?}"
    );
    assert!(
        got.contains(&("/pool/main/l/libfoo/libfoo_2.0_amd64.deb".into(), 200)),
        "{got:?}"
    );
    assert_eq!(apt.debs(), ["libfoo_2.0_amd64.deb", "tool_1.0_amd64.deb"]);
    // And the next re-sync keeps that new selection.
    let mark = requests(&apt.server);
    let (r, summary) = sync_json(&config);
    r.expect("third sync");
    assert_eq!(kept(&summary), [true]);
    assert_eq!(
        answers(&apt.server, mark),
        [("/dists/stable/InRelease".to_owned(), 304)]
    );
}

#[test]
fn a_304_for_a_stored_copy_that_is_gone_falls_back_to_a_full_get() {
    let Some(apt) = Apt::new() else { return };
    let config = apt.config(&["tool"]);
    sync_json(&config).0.expect("first sync");
    // The stored InRelease disappears (a damaged or pruned store).
    let bytes = std::fs::read(apt.archive.root.join("dists/stable/InRelease")).unwrap();
    let digest = formats::digest::Digest::of(&bytes);
    let cas = store::Cas::open(&apt.tmp.path().join("store")).unwrap();
    let blob = cas.blob_path(&digest);
    assert!(blob.is_file(), "the first sync stored the InRelease");
    std::fs::remove_file(&blob).unwrap();
    let mark = requests(&apt.server);
    let (r, summary) = sync_json(&config);
    r.expect("re-sync with the stored InRelease gone");
    // The validators are not sent for a copy the store does not hold: a full GET.
    assert_eq!(
        answers(&apt.server, mark),
        [("/dists/stable/InRelease".to_owned(), 200)]
    );
    assert!(blob.is_file(), "the InRelease is stored again");
    // Same bytes as before, so the selection is still the last one.
    assert_eq!(kept(&summary), [true]);

    // A stored copy that no longer matches its digest is not trusted either: the 304
    // is answered, then the document is fetched whole.
    let mut damaged = bytes.clone();
    damaged[0] ^= 0x20;
    std::fs::write(&blob, &damaged).unwrap();
    let mark = requests(&apt.server);
    let (r, summary) = sync_json(&config);
    r.expect("re-sync with the stored InRelease damaged");
    assert_eq!(
        answers(&apt.server, mark),
        [
            ("/dists/stable/InRelease".to_owned(), 304),
            ("/dists/stable/InRelease".to_owned(), 200)
        ]
    );
    assert_eq!(std::fs::read(&blob).unwrap(), bytes, "stored again, whole");
    assert_eq!(kept(&summary), [true]);
}

#[test]
fn a_pypi_re_sync_with_nothing_changed_downloads_no_page_body() {
    if !require_tools(&["python3"]) {
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("resync-pypi-")
        .tempdir()
        .unwrap();
    let root = build_pypi_set(&tmp.path().join("idx"), "resolve").expect("fixture");
    age_files(&root, Duration::from_secs(7200));
    let server = StaticServer::start(&root).expect("server");
    sync_cli(&["keys", "generate", "--out", s(&tmp.path().join("keys"))]).expect("keys");
    let config = tmp.path().join("mirror.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"store\"\nchannel = \"resync\"\n\n[signing]\nsnapshot_key = \"keys/snapshot.key\"\nrepo_key = \"keys/repo.key.asc\"\n\n[[pypi]]\nname = \"main\"\nurl = \"{}/simple/\"\nprojects = [\"app\"]\npython = [\"3.12\"]\nplatforms = [\"manylinux_2_17_x86_64\"]\n",
            server.url
        ),
    )
    .unwrap();
    let (r, first) = sync_json(&config);
    r.expect("first sync");
    assert_eq!(kept(&first), [false]);
    let pages: Vec<String> = answers(&server, 0)
        .into_iter()
        .filter(|(p, _)| p.starts_with("/simple/"))
        .map(|(p, _)| p)
        .collect();
    assert!(pages.len() >= 2, "app and its dependency: {pages:?}");
    let state_before = stored_state(&tmp.path().join("store"), "main");
    std::thread::sleep(Duration::from_millis(1100));

    let mark = requests(&server);
    let (r, again) = sync_json(&config);
    r.expect("re-sync");
    assert_eq!(kept(&again), [true]);
    let mut got = answers(&server, mark);
    got.sort();
    // The same pages, each answered 304; no metadata, no file.
    let mut want: Vec<(String, u16)> = pages.iter().map(|p| (p.clone(), 304)).collect();
    want.sort();
    want.dedup();
    assert_eq!(got, want);
    assert_eq!(again["bytes_fetched"], 0, "{again}");
    assert_eq!(
        first["upstreams"][0]["report"],
        again["upstreams"][0]["report"]
    );
    assert_eq!(
        stored_state(&tmp.path().join("store"), "main"),
        state_before,
        "the state was written by a re-sync that changed nothing"
    );
}
