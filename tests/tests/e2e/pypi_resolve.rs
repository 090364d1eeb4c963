//! PyPI resolution, lock-file inputs and index routing (issue 12 point 4), offline against
//! static indexes of real wheels (`fixtures/pypi/make_index.py`, sets `resolve` and
//! `attacker`), checked against real `pip install --dry-run --report`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use mirror_e2e::product::{import_drive, read_manifest, s, serve, sync_cli};
use mirror_e2e::py_clients::python_version;
use mirror_e2e::pypi_fixture::{build_pypi_set, package_sha256};
use mirror_e2e::{StaticServer, require_tools, run_command};
use mirror_sync::config::Config;
use mirror_sync::fetch::Fetcher;
use mirror_sync::progress::Progress;
use mirror_sync::pypi::sync::{PypiPlan, plan, sync_all};

/// A temp dir with signing keys and the fixture indexes served.
struct Env {
    tmp: tempfile::TempDir,
    servers: Vec<(String, PathBuf, StaticServer)>,
}

impl Env {
    /// Builds and serves each `(label, set)`; `None` when python3 is missing.
    fn new(sets: &[(&str, &str)]) -> Option<Env> {
        if !require_tools(&["python3"]) {
            return None;
        }
        let tmp = tempfile::Builder::new()
            .prefix("pypi-resolve-")
            .tempdir()
            .unwrap();
        let mut servers = Vec::new();
        for (label, set) in sets {
            let root = build_pypi_set(&tmp.path().join(label), set).expect("fixture");
            let server = StaticServer::start(&root).expect("static server");
            servers.push(((*label).to_owned(), root, server));
        }
        sync_cli(&["keys", "generate", "--out", s(&tmp.path().join("keys"))]).expect("keys");
        Some(Env { tmp, servers })
    }

    fn root(&self, label: &str) -> &Path {
        &self.servers.iter().find(|s| s.0 == label).unwrap().1
    }

    fn url(&self, label: &str) -> String {
        let s = &self.servers.iter().find(|s| s.0 == label).unwrap().2;
        format!("{}/simple/", s.url)
    }

    fn path(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }

    /// Writes `mirror.toml` with `body` (the `[[pypi]]` tables) and returns its path.
    fn config(&self, body: &str) -> PathBuf {
        let path = self.path("mirror.toml");
        std::fs::write(
            &path,
            format!(
                "store = \"store\"\nchannel = \"pypi-test\"\n\n[signing]\nsnapshot_key = \"keys/snapshot.key\"\nrepo_key = \"keys/repo.key.asc\"\n\n{body}"
            ),
        )
        .unwrap();
        path
    }

    /// The package files the last sync recorded for `upstream`.
    fn synced(&self, upstream: &str) -> BTreeSet<String> {
        let state = mirror_sync::state::State::open(&self.path("store")).unwrap();
        state
            .upstream(upstream)
            .unwrap()
            .map(|u| {
                u.artifacts
                    .iter()
                    .filter(|a| a.kind.is_package())
                    .filter_map(|a| a.meta.filename.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn fetcher(cfg: &Config) -> Fetcher {
    let cas = Arc::new(store::Cas::open(&cfg.store_dir()).unwrap());
    Fetcher::new(cas, 8, 2, Duration::from_secs(30), Progress::hidden()).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `plan` of the config at `path`.
fn plan_of(path: &Path) -> anyhow::Result<PypiPlan> {
    let cfg = Config::load(path)?;
    let f = fetcher(&cfg);
    runtime().block_on(plan(&f, &cfg))
}

/// Every planned file name, over all upstreams.
fn planned(p: &PypiPlan) -> BTreeSet<String> {
    p.upstreams
        .iter()
        .flat_map(|u| u.files.iter().map(|f| f.filename.clone()))
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

/// The machine's CPython as `(major, minor)` when the fixture has wheels for it.
fn fixture_python() -> Option<(u32, u32)> {
    match python_version() {
        Some(v @ (3, 11 | 12)) => Some(v),
        other => {
            eprintln!("skipped: needs CPython 3.11 or 3.12 for pip, found {other:?}");
            None
        }
    }
}

/// `pip install --dry-run --report -` of `reqs` from `index` for one platform tag (with
/// every tag an installer there accepts) and the running CPython: the file names pip
/// would download.
fn pip_picks(index: &str, platform: &str, py: (u32, u32), reqs: &[&str]) -> BTreeSet<String> {
    let mut cmd = Command::new("python3");
    cmd.args([
        "-m",
        "pip",
        "install",
        "--dry-run",
        "--target",
        &std::env::temp_dir()
            .join("pip-dry-run-target")
            .display()
            .to_string(),
        "--quiet",
        "--report",
        "-",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--index-url",
        index,
        "--only-binary=:all:",
        "--python-version",
        &format!("{}.{}", py.0, py.1),
        "--implementation",
        "cp",
        "--abi",
        &format!("cp{}{}", py.0, py.1),
    ]);
    // pip takes --platform literally: list every tag an installer on that platform
    // accepts (manylinux_2_28 accepts manylinux_2_17 wheels), best first.
    for p in formats::pypi::tags::compatible_platforms(platform) {
        if p != "any" {
            cmd.args(["--platform", &p]);
        }
    }
    cmd.args(reqs)
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env_remove("PIP_FIND_LINKS")
        .env_remove("PIP_INDEX_URL")
        .env_remove("PIP_EXTRA_INDEX_URL");
    let out = run_command(&mut cmd).unwrap();
    out.assert_success();
    let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("pip report JSON");
    report["install"]
        .as_array()
        .expect("install list")
        .iter()
        .map(|i| {
            let url = i["download_info"]["url"].as_str().unwrap();
            url.rsplit('/').next().unwrap().to_owned()
        })
        .collect()
}

/// `app` needs `lib<2`, the newest `lib` is 2.0 (needing `shared>=2`). Resolving `app`
/// and `lib` together keeps lib 1.5 and shared 1.0 only; the drive served by
/// mirror-server holds exactly the union of pip's picks for each target.
#[test]
fn resolution_keeps_one_consistent_set_equal_to_pips_picks() {
    let Some(env) = Env::new(&[("main", "resolve")]) else {
        return;
    };
    let Some(py) = fixture_python() else { return };
    let pyv = format!("{}.{}", py.0, py.1);
    let config = env.config(&format!(
        "[[pypi]]\nname = \"main\"\nurl = \"{}\"\nprojects = [\"app\", \"lib\"]\npython = [\"{pyv}\"]\nplatforms = [\"manylinux_2_17_x86_64\", \"manylinux_2_28_x86_64\"]\n",
        env.url("main")
    ));
    // `mirror-sync plan` resolves the same way and writes nothing: no store appears.
    let mut out = Vec::new();
    mirror_sync::cli::run_to(
        ["mirror-sync", "plan", "--config", s(&config), "--json"],
        &mut out,
    )
    .expect("plan");
    assert!(
        !env.path("store").exists(),
        "plan must not create the store"
    );
    let report: serde_json::Value = serde_json::from_slice(&out).expect("plan --json");
    let up = report["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["kind"] == "pypi" && u["name"] == "main")
        .expect("the pypi upstream is planned")
        .clone();
    assert_eq!(up["planned"], true, "{up}");
    let planned_files: BTreeSet<String> = up["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["path"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    let planned_bytes = up["bytes"].as_u64().unwrap();

    sync_cli(&["sync", "--config", s(&config)]).expect("sync");
    let got = env.synced("main");
    assert_eq!(
        planned_files, got,
        "plan lists exactly the files the sync keeps"
    );
    let state = mirror_sync::state::State::open(&env.path("store")).unwrap();
    let synced_bytes: u64 = state
        .upstream("main")
        .unwrap()
        .unwrap()
        .artifacts
        .iter()
        .filter(|a| a.kind.is_package())
        .map(|a| a.size)
        .sum();
    drop(state);
    assert_eq!(planned_bytes, synced_bytes, "plan's bytes are the sync's");
    for never in [
        "lib-2.0",
        "shared-2.0",
        "lib-1.6",
        "lib-1.0",
        "winonly",
        "gpuext",
    ] {
        assert!(
            !got.iter().any(|f| f.starts_with(never)),
            "{never} must not be kept: {got:?}"
        );
    }
    assert!(got.contains("lib-1.5-py3-none-any.whl"), "{got:?}");
    assert!(got.contains("shared-1.0-py3-none-any.whl"), "{got:?}");

    // Export, import, serve; pip resolves from the served index for each target.
    let drive = env.path("drive");
    sync_cli(&["export", "--config", s(&config), "--to", s(&drive)]).expect("export");
    let (_, m) = read_manifest(&drive);
    let on_drive: BTreeSet<String> = m
        .artifacts
        .iter()
        .filter(|a| a.kind.is_package())
        .filter_map(|a| a.meta.filename.clone())
        .collect();
    let store = env.path("server-store");
    sync_cli(&[
        "keys",
        "bundle",
        "--config",
        s(&config),
        "--out",
        s(&env.path("keys/trusted")),
    ])
    .expect("keys bundle");
    import_drive(&drive, &store, &env.path("keys/trusted")).expect("import");
    let (rt, handle, addr) = serve(&store);
    let index = format!("http://{addr}/simple/");
    let mut union = BTreeSet::new();
    for platform in ["manylinux_2_17_x86_64", "manylinux_2_28_x86_64"] {
        union.extend(pip_picks(&index, platform, py, &["app", "lib"]));
    }
    assert_eq!(on_drive, union, "the drive holds exactly pip's picks");
    drop(handle);
    drop(rt);
}

/// Requirements that cannot hold together fail with the chain that causes the conflict.
#[test]
fn a_conflict_is_reported_with_its_chain() {
    let Some(env) = Env::new(&[("main", "resolve")]) else {
        return;
    };
    let config = env.config(&format!(
        "[[pypi]]\nname = \"main\"\nurl = \"{}\"\nprojects = [\"app\", \"lib>=2\"]\npython = [\"3.12\"]\nplatforms = [\"manylinux_2_17_x86_64\"]\n",
        env.url("main")
    ));
    let err = format!("{:#}", plan_of(&config).unwrap_err());
    assert!(err.contains("no set of versions"), "{err}");
    assert!(
        err.contains("app") && err.contains("depends on lib <2"),
        "{err}"
    );
    assert!(err.contains("you asked for lib >=2"), "{err}");
    assert!(
        err.contains("python 3.12 on manylinux_2_17_x86_64"),
        "{err}"
    );
    // A project no index has is named with the indexes asked.
    let missing = env.config(&format!(
        "[[pypi]]\nname = \"main\"\nurl = \"{}\"\nprojects = [\"app\", \"no-such-project\"]\npython = [\"3.12\"]\nplatforms = [\"manylinux_2_17_x86_64\"]\n",
        env.url("main")
    ));
    let err = format!("{:#}", plan_of(&missing).unwrap_err());
    assert!(
        err.contains("not found on any index")
            && err.contains("no-such-project (asked [[pypi]] main)"),
        "{err}"
    );
    // And the sync fails without writing a state.
    assert!(sync_cli(&["sync", "--config", s(&config)]).is_err());
    assert!(env.synced("main").is_empty());
}

/// Markers are evaluated per target and extras only where asked for; each target takes
/// the wheel pip prefers there.
#[test]
fn markers_and_extras_per_target() {
    let Some(env) = Env::new(&[("main", "resolve")]) else {
        return;
    };
    let body = |projects: &str| {
        format!(
            "[[pypi]]\nname = \"main\"\nurl = \"{}\"\nprojects = [{projects}]\npython = [\"3.11\", \"3.12\"]\nplatforms = [\"manylinux_2_28_x86_64\"]\n",
            env.url("main")
        )
    };
    let with_gpu = planned(&plan_of(&env.config(&body("\"app[gpu]\""))).unwrap());
    assert_eq!(
        with_gpu,
        set(&[
            "app-1.0-py3-none-any.whl",
            "fastmath-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "fastmath-1.0-cp312-cp312-manylinux_2_28_x86_64.whl",
            "gpuext-1.0-py3-none-any.whl",
            "lib-1.5-py3-none-any.whl",
            "oldpy-1.0-py3-none-any.whl",
            "shared-1.0-py3-none-any.whl",
        ])
    );
    let plain = planned(&plan_of(&env.config(&body("\"app\""))).unwrap());
    assert!(!plain.iter().any(|f| f.starts_with("gpuext")), "{plain:?}");
    // python_version < "3.12" holds only on the 3.11 target.
    let only312 = env.config(&format!(
        "[[pypi]]\nname = \"main\"\nurl = \"{}\"\nprojects = [\"app\"]\npython = [\"3.12\"]\nplatforms = [\"manylinux_2_28_x86_64\"]\n",
        env.url("main")
    ));
    let p = planned(&plan_of(&only312).unwrap());
    assert!(!p.iter().any(|f| f.starts_with("oldpy")), "{p:?}");
    // A plan writes no state.
    assert!(env.synced("main").is_empty());
}

/// A hash-checking requirements file: a good one takes exactly the pinned files, a bad
/// hash fails and names the file, a file whose bytes do not match fails the download.
#[test]
fn requirements_txt_in_hash_checking_mode() {
    let Some(env) = Env::new(&[("main", "resolve")]) else {
        return;
    };
    let root = env.root("main");
    let lib = "lib-1.5-py3-none-any.whl";
    let shared = "shared-1.0-py3-none-any.whl";
    let table = format!(
        "[[pypi]]\nname = \"main\"\nurl = \"{}\"\nrequirements = [\"locks/requirements.txt\"]\npython = [\"3.12\"]\nplatforms = [\"manylinux_2_17_x86_64\"]\n",
        env.url("main")
    );
    std::fs::create_dir_all(env.path("locks")).unwrap();
    let write_lock = |lib_hash: &str| {
        std::fs::write(
            env.path("locks/requirements.txt"),
            format!(
                "# pinned\nlib==1.5 \\\n    --hash=sha256:{lib_hash}\nshared==1.0 --hash=sha256:{}\nwinonly==1.0 ; sys_platform == \"win32\" --hash=sha256:{}\n",
                package_sha256(root, shared),
                package_sha256(root, "winonly-1.0-py3-none-any.whl"),
            ),
        )
        .unwrap();
    };
    let config = env.config(&table);

    write_lock(&"0".repeat(64));
    let err = format!("{:#}", plan_of(&config).unwrap_err());
    assert!(err.contains(lib), "names the file: {err}");
    assert!(err.contains("requirements.txt:2"), "names the line: {err}");
    assert!(sync_cli(&["sync", "--config", s(&config)]).is_err());

    write_lock(&package_sha256(root, lib));
    sync_cli(&["sync", "--config", s(&config)]).expect("sync with a good lock");
    assert_eq!(env.synced("main"), set(&[lib, shared]));

    // The index and the lock agree, but the bytes served are not those: the download
    // fails and names the file.
    let tampered = root.join("packages").join(shared);
    let mut bytes = std::fs::read(&tampered).unwrap();
    bytes.push(b'!');
    std::fs::write(&tampered, bytes).unwrap();
    std::fs::remove_dir_all(env.path("store")).unwrap();
    let cfg = Config::load(&config).unwrap();
    let f = fetcher(&cfg);
    let state = mirror_sync::state::State::open(&cfg.store_dir()).unwrap();
    let results = runtime()
        .block_on(sync_all(&f, &cfg, &state, &|_| true))
        .unwrap();
    let err = format!("{:#}", results.outcomes[0].1.as_ref().unwrap_err());
    assert!(err.contains(shared), "names the file: {err}");
}

/// A PEP 751 lock: exactly the listed files, each checked against its listed hash.
#[test]
fn pylock_toml_takes_exactly_the_listed_files() {
    let Some(env) = Env::new(&[("main", "resolve")]) else {
        return;
    };
    let root = env.root("main");
    let url = env.url("main");
    let base = url.trim_end_matches("simple/");
    let lock = format!(
        r#"lock-version = "1.0"
created-by = "test"

[[packages]]
name = "lib"
version = "1.5"
[[packages.wheels]]
url = "{base}packages/lib-1.5-py3-none-any.whl"
hashes = {{ sha256 = "{}" }}

[[packages]]
name = "fastmath"
version = "1.0"
[[packages.wheels]]
name = "fastmath-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
hashes = {{ sha256 = "{}" }}
[[packages.wheels]]
name = "fastmath-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
hashes = {{ sha256 = "{}" }}

[[packages]]
name = "winonly"
version = "1.0"
marker = 'sys_platform == "win32"'
[[packages.wheels]]
name = "winonly-1.0-py3-none-any.whl"
hashes = {{ sha256 = "{}" }}
"#,
        package_sha256(root, "lib-1.5-py3-none-any.whl"),
        package_sha256(root, "fastmath-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"),
        package_sha256(
            root,
            "fastmath-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
        ),
        package_sha256(root, "winonly-1.0-py3-none-any.whl"),
    );
    std::fs::write(env.path("pylock.toml"), &lock).unwrap();
    let config = env.config(&format!(
        "[[pypi]]\nname = \"main\"\nurl = \"{url}\"\nlock = [\"pylock.toml\"]\npython = [\"3.12\"]\nplatforms = [\"manylinux_2_28_x86_64\"]\n"
    ));
    sync_cli(&["sync", "--config", s(&config)]).expect("sync");
    // The cp311 wheel installs on no configured target; winonly's marker holds nowhere.
    assert_eq!(
        env.synced("main"),
        set(&[
            "lib-1.5-py3-none-any.whl",
            "fastmath-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
        ])
    );
    // A listed hash the index contradicts fails and names the file.
    std::fs::write(
        env.path("pylock.toml"),
        lock.replacen(
            &package_sha256(root, "lib-1.5-py3-none-any.whl"),
            &"1".repeat(64),
            1,
        ),
    )
    .unwrap();
    let err = format!("{:#}", plan_of(&config).unwrap_err());
    assert!(
        err.contains("lib-1.5-py3-none-any.whl") && err.contains("disagree"),
        "{err}"
    );
}

/// A project bound to one index is never taken from another, even when the first
/// (default) index offers a higher version the requirements accept.
#[test]
fn a_bound_project_never_comes_from_another_index() {
    let Some(env) = Env::new(&[("evil", "attacker"), ("main", "resolve")]) else {
        return;
    };
    let tables = |bind: &str| {
        format!(
            "[[pypi]]\nname = \"evil\"\nurl = \"{}\"\npython = [\"3.12\"]\nplatforms = [\"manylinux_2_28_x86_64\"]\n\n[[pypi]]\nname = \"main\"\nurl = \"{}\"\nprojects = [\"app\"]\n{bind}python = [\"3.12\"]\nplatforms = [\"manylinux_2_28_x86_64\"]\n",
            env.url("evil"),
            env.url("main")
        )
    };
    // Control: unbound, the first index that has `lib` wins (uv's first-index).
    let unbound = plan_of(&env.config(&tables(""))).unwrap();
    // (`app` is named in main's projects, so it comes from main.)
    let evil: BTreeSet<String> = unbound.upstreams[0]
        .files
        .iter()
        .map(|f| f.filename.clone())
        .collect();
    assert_eq!(evil, set(&["lib-1.9-py3-none-any.whl"]));

    let config = env.config(&tables("bind = [\"lib\"]\n"));
    sync_cli(&["sync", "--config", s(&config)]).expect("sync");
    assert!(env.synced("evil").is_empty(), "{:?}", env.synced("evil"));
    let main = env.synced("main");
    assert!(main.contains("lib-1.5-py3-none-any.whl"), "{main:?}");
    assert!(!main.iter().any(|f| f.contains("1.9")), "{main:?}");
    // `app`, named in main's projects, comes from main although evil, the first index,
    // offers a higher version.
    assert!(main.contains("app-1.0-py3-none-any.whl"), "{main:?}");

    // An explicit index serves only its bound projects.
    let explicit = format!(
        "[[pypi]]\nname = \"main\"\nurl = \"{}\"\nprojects = [\"app\"]\npython = [\"3.12\"]\nplatforms = [\"manylinux_2_28_x86_64\"]\n\n[[pypi]]\nname = \"evil\"\nurl = \"{}\"\nexplicit = true\nbind = [\"lib\"]\npython = [\"3.12\"]\nplatforms = [\"manylinux_2_28_x86_64\"]\n",
        env.url("main"),
        env.url("evil")
    );
    let p = plan_of(&env.config(&explicit)).unwrap();
    let names = |i: usize| -> BTreeSet<String> {
        p.upstreams[i]
            .files
            .iter()
            .map(|f| f.filename.clone())
            .collect()
    };
    assert_eq!(names(1), set(&["lib-1.9-py3-none-any.whl"]));
    assert!(
        !names(0).iter().any(|f| f.starts_with("lib-")),
        "{:?}",
        names(0)
    );
}

/// An index without `.metadata` sidecars: wheels are downloaded whole to read their
/// metadata. Each is counted once, in the resolving phase's own counter, and a first
/// sync reports nothing "already in the store".
#[test]
fn metadata_downloads_are_counted_once() {
    let Some(env) = Env::new(&[("main", "resolve")]) else {
        return;
    };
    for e in std::fs::read_dir(env.root("main").join("packages")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "metadata") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let config = env.config(&format!(
        "[[pypi]]\nname = \"main\"\nurl = \"{}\"\nprojects = [\"app\", \"lib\"]\npython = [\"3.12\"]\nplatforms = [\"manylinux_2_28_x86_64\"]\n",
        env.url("main")
    ));
    let (r, first) = mirror_e2e::product::sync_json(&config);
    r.expect("sync");
    let report = &first["upstreams"][0]["report"];
    let kept = report["files"].as_u64().unwrap();
    assert_eq!(kept, 4, "{first}");
    assert!(report["metadata_bytes"].as_u64().unwrap() > 0, "{first}");
    assert_eq!(first["files_deduplicated"], 0, "{first}");
    assert_eq!(first["bytes_deduplicated"], 0, "{first}");
    // Every kept file was downloaded exactly once (to read its metadata).
    assert_eq!(first["files_fetched"].as_u64().unwrap(), kept, "{first}");
    let (r, again) = mirror_e2e::product::sync_json(&config);
    r.expect("re-sync");
    assert_eq!(again["files_fetched"], 0, "{again}");
    assert_eq!(
        again["files_deduplicated"].as_u64().unwrap(),
        kept,
        "{again}"
    );
}
