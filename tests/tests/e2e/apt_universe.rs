//! APT resolution over one universe of every `[[apt]]` upstream, offline: a main archive
//! and a separately signed security archive (own key, own upstream), built from real
//! `.deb` files with dpkg-deb, dpkg-scanpackages, apt-ftparchive and gpg. A security
//! update depends on a library only the main archive has, and a backports suite
//! (`NotAutomatic`, `ButAutomaticUpgrades`) holds a newer copy that apt would not take;
//! `mirror-sync plan` reports
//! the selection without downloading or writing anything; `sync`, `export`, `import`
//! and `serve` follow, and a real isolated `apt-get` downloads exactly that selection
//! from the mirror. A second scenario checks that every missing request and every
//! unsatisfied dependency is reported in one run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use formats::snapshot::ArtifactKind;
use mirror_e2e::apt_archives::Archive;
use mirror_e2e::apt_client::IsolatedApt;
use mirror_e2e::apt_fixture::DebSpec;
use mirror_e2e::product::{import_drive, read_manifest, s, serve, sync_cli, sync_json};
use mirror_e2e::{StaticServer, require_tools, tree_digest};
use serde_json::Value;

fn main_packages() -> Vec<DebSpec> {
    vec![
        DebSpec::new("foo", "1.0", "amd64").field("Depends", "libbar (>= 1)"),
        DebSpec::new("libbar", "1.0-1", "amd64"),
        DebSpec::new("libbar", "2.0-1", "amd64"),
        DebSpec::new("needs-ghost", "1.0", "amd64").field("Depends", "ghost-a (>= 1)"),
        DebSpec::new("half", "1.0", "amd64").field("Depends", "ghost-b | ghost-c"),
        DebSpec::new("chain-top", "1.0", "amd64").field("Depends", "half"),
    ]
}

fn security_packages() -> Vec<DebSpec> {
    vec![DebSpec::new("foo", "1.1", "amd64").field("Depends", "libbar (>= 2)")]
}

/// A backports suite (`NotAutomatic: yes`, `ButAutomaticUpgrades: yes`: apt priority
/// 100) with a newer libbar, which apt does not take for foo.
fn backports_packages() -> Vec<DebSpec> {
    vec![
        DebSpec::new("libbar", "3.0-1~bpo1", "amd64"),
        DebSpec::new("bp-tool", "1.0", "amd64").field("Depends", "libbar (>= 3)"),
    ]
}

struct Universe {
    tmp: tempfile::TempDir,
    main: Archive,
    security: Archive,
    backports: Archive,
    _server: StaticServer,
    url: String,
}

impl Universe {
    fn path(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }

    /// mirror.toml with the archives as upstreams, requesting `main_req`, `sec_req` and
    /// (when given, else no backports upstream) `bp_req`.
    fn config(
        &self,
        name: &str,
        main_req: &[&str],
        sec_req: &[&str],
        bp_req: Option<&[&str]>,
    ) -> PathBuf {
        let list = |r: &[&str]| {
            r.iter()
                .map(|x| format!("{x:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut text = format!(
            r#"store = "store-{name}"
channel = "cube-test"

[signing]
snapshot_key = "keys/snapshot.key"
repo_key = "keys/repo.key.asc"

[[apt]]
name = "main"
url = "{url}/main/www/"
suites = ["stable"]
components = ["main"]
architectures = ["amd64"]
packages = [{m}]
keyring = "{mk}"

[[apt]]
name = "security"
url = "{url}/security/www/"
suites = ["stable-security"]
components = ["main"]
architectures = ["amd64"]
packages = [{sec}]
keyring = "{sk}"
"#,
            url = self.url,
            m = list(main_req),
            sec = list(sec_req),
            mk = self.main.keyring.display(),
            sk = self.security.keyring.display(),
        );
        if let Some(bp) = bp_req {
            text.push_str(&format!(
                r#"
[[apt]]
name = "backports"
url = "{url}/backports/www/"
suites = ["stable-backports"]
components = ["main"]
architectures = ["amd64"]
packages = [{b}]
keyring = "{bk}"
"#,
                url = self.url,
                b = list(bp),
                bk = self.backports.keyring.display(),
            ));
        }
        let p = self.path(&format!("{name}.toml"));
        std::fs::write(&p, text).unwrap();
        p
    }
}

fn universe() -> Option<Universe> {
    if !require_tools(&[
        "dpkg-deb",
        "dpkg-scanpackages",
        "apt-ftparchive",
        "gpg",
        "apt-get",
        "xz",
        "python3",
    ]) {
        return None;
    }
    let tmp = tempfile::Builder::new()
        .prefix("apt-universe-")
        .tempdir()
        .unwrap();
    let main = Archive::build(
        &tmp.path().join("up/main"),
        "stable",
        "Test Main Archive <main@example.invalid>",
        &main_packages(),
        &[],
    )
    .expect("main archive");
    let security = Archive::build(
        &tmp.path().join("up/security"),
        "stable-security",
        "Test Security Archive <security@example.invalid>",
        &security_packages(),
        &[],
    )
    .expect("security archive");
    let backports = Archive::build(
        &tmp.path().join("up/backports"),
        "stable-backports",
        "Test Backports Archive <backports@example.invalid>",
        &backports_packages(),
        &[("NotAutomatic", "yes"), ("ButAutomaticUpgrades", "yes")],
    )
    .expect("backports archive");
    assert_ne!(main.fingerprint, security.fingerprint);
    let server = StaticServer::start(&tmp.path().join("up")).expect("archive server");
    let url = server.url.clone();
    sync_cli(&["keys", "generate", "--out", s(&tmp.path().join("keys"))]).expect("keys");
    Some(Universe {
        tmp,
        main,
        security,
        backports,
        _server: server,
        url,
    })
}

/// `mirror-sync --json plan --config CONFIG`: the result and the document it printed.
fn plan_json(config: &Path) -> (anyhow::Result<()>, Value) {
    let mut out = Vec::new();
    let r = mirror_sync::cli::run_to(
        ["mirror-sync", "--json", "plan", "--config", s(config)],
        &mut out,
    );
    let v = serde_json::from_slice(&out).unwrap_or(Value::Null);
    (r, v)
}

/// `(path, size)` of every planned file.
fn plan_items(plan: &Value) -> BTreeSet<(String, u64)> {
    plan["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|u| u["items"].as_array().unwrap().iter())
        .map(|i| {
            (
                i["path"].as_str().unwrap().to_owned(),
                i["size"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn upstream<'a>(plan: &'a Value, name: &str) -> &'a Value {
    plan["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {plan}"))
}

#[test]
fn a_security_update_resolves_against_the_main_archive() {
    let Some(u) = universe() else { return };
    let config = u.config("ok", &["foo"], &["foo"], Some(&["bp-tool"]));
    let store = u.path("store-ok");
    let foo = DebSpec::new("foo", "1.1", "amd64");
    let libbar = DebSpec::new("libbar", "2.0-1", "amd64");
    let size = |p: PathBuf| std::fs::metadata(p).unwrap().len();
    let [bp_libbar, bp_tool] = backports_packages().try_into().unwrap();
    // foo 1.1 from security with libbar 2.0 from main (apt's candidate: priority 500
    // beats the backport's 100), and bp-tool with the libbar 3.0 backport it needs.
    let want: BTreeSet<(String, u64)> = [
        (
            "apt/backports/pool/main/b/bp-tool/bp-tool_1.0_amd64.deb".to_owned(),
            size(u.backports.deb_path(&bp_tool)),
        ),
        (
            "apt/backports/pool/main/l/libbar/libbar_3.0-1~bpo1_amd64.deb".to_owned(),
            size(u.backports.deb_path(&bp_libbar)),
        ),
        (
            "apt/main/pool/main/l/libbar/libbar_2.0-1_amd64.deb".to_owned(),
            size(u.main.deb_path(&libbar)),
        ),
        (
            "apt/security/pool/main/f/foo/foo_1.1_amd64.deb".to_owned(),
            size(u.security.deb_path(&foo)),
        ),
    ]
    .into();

    // plan: the selection and sizes from the indexes alone; nothing written.
    let (r, plan) = plan_json(&config);
    r.expect("plan");
    assert_eq!(plan_items(&plan), want, "{plan:#}");
    assert_eq!(plan["unsatisfied"], serde_json::json!([]), "{plan:#}");
    assert_eq!(plan["missing"], serde_json::json!([]), "{plan:#}");
    assert_eq!(plan["present_bytes"], 0);
    assert_eq!(plan["to_fetch_bytes"], plan["bytes"]);
    assert_eq!(upstream(&plan, "security")["selected"], 1);
    assert_eq!(upstream(&plan, "backports")["selected"], 2);
    assert!(!store.exists(), "plan must not create the store");

    // sync: the same selection, no unsatisfied warning.
    let (r, summary) = sync_json(&config);
    r.expect("sync");
    assert_eq!(summary["failed"], serde_json::json!([]), "{summary:#}");
    for rep in summary["upstreams"].as_array().unwrap() {
        assert_eq!(
            rep["report"]["unsatisfied"],
            serde_json::json!([]),
            "{summary:#}"
        );
    }
    assert!(
        summary["bytes_fetched"].as_u64().unwrap() >= want.iter().map(|w| w.1).sum::<u64>(),
        "{summary:#}"
    );

    // plan again: everything is in the store now, and the store is left byte for byte
    // as it was.
    let before = tree_digest(&store);
    let (r, again) = plan_json(&config);
    r.expect("plan");
    assert_eq!(
        tree_digest(&store),
        before,
        "plan must not write to the store"
    );
    assert_eq!(plan_items(&again), want);
    assert_eq!(again["present_bytes"], again["bytes"], "{again:#}");
    assert_eq!(again["to_fetch_bytes"], 0);

    // The drive holds exactly the planned .debs, each under the upstream it came from.
    let drive = u.path("drive");
    sync_cli(&["export", "--config", s(&config), "--to", s(&drive)]).expect("export");
    let (_, m) = read_manifest(&drive);
    let debs: BTreeSet<(String, u64)> = m
        .artifacts
        .iter()
        .filter(|a| a.kind == ArtifactKind::Deb)
        .map(|a| (a.path.clone(), a.size))
        .collect();
    assert_eq!(debs, want);

    // Import, serve, and a real apt-get with both served repositories.
    let keys = u.path("keys");
    sync_cli(&[
        "keys",
        "bundle",
        "--config",
        s(&config),
        "--out",
        s(&keys.join("trusted")),
    ])
    .expect("keys bundle");
    let server_store = u.path("server-store");
    import_drive(&drive, &server_store, &keys.join("trusted")).expect("import");
    let (rt, handle, addr) = serve(&server_store);
    let base = format!("http://{addr}");
    let kr = keys.join("repo.pub.gpg");
    let apt = IsolatedApt::new(&[
        &format!(
            "deb [signed-by={}] {base}/apt/main stable main",
            kr.display()
        ),
        &format!(
            "deb [signed-by={}] {base}/apt/security stable-security main",
            kr.display()
        ),
        &format!(
            "deb [signed-by={}] {base}/apt/backports stable-backports main",
            kr.display()
        ),
    ])
    .unwrap();
    apt.update().assert_success();
    // The served backports suite keeps NotAutomatic/ButAutomaticUpgrades, so apt's
    // candidate for libbar on the Cube is main's, as upstream.
    let policy = apt.apt_cache(&["policy", "libbar"]);
    policy.assert_success();
    assert!(
        policy.stdout.contains("Candidate: 2.0-1"),
        "{}",
        policy.combined()
    );
    apt.install_download_only(&["foo"]).assert_success();
    let got: BTreeSet<String> = apt.downloaded_debs().into_iter().collect();
    assert_eq!(
        got,
        BTreeSet::from([
            "foo_1.1_amd64.deb".to_owned(),
            "libbar_2.0-1_amd64.deb".to_owned()
        ])
    );
    assert_eq!(
        std::fs::read(apt.archives_dir().join("foo_1.1_amd64.deb")).unwrap(),
        std::fs::read(u.security.deb_path(&foo)).unwrap()
    );
    assert_eq!(
        std::fs::read(apt.archives_dir().join("libbar_2.0-1_amd64.deb")).unwrap(),
        std::fs::read(u.main.deb_path(&libbar)).unwrap()
    );
    drop(handle);
    drop(rt);
}

#[test]
fn every_missing_package_and_unsatisfied_dependency_is_reported_in_one_run() {
    let Some(u) = universe() else { return };
    let config = u.config(
        "bad",
        &["foo", "nosuch-one", "needs-ghost", "chain-top"],
        &["nosuch-two", "nosuch-one"],
        None,
    );
    let store = u.path("store-bad");

    // plan: both missing requests (one listed by two upstreams, reported once) and both
    // unsatisfied dependencies, and a failure.
    let (r, plan) = plan_json(&config);
    let err = format!("{:#}", r.expect_err("plan must fail on missing requests"));
    assert!(
        err.contains("nosuch-one") && err.contains("nosuch-two"),
        "{err}"
    );
    let missing: Vec<&str> = plan["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        missing,
        [
            "[[apt]] main, security: no package matches request \"nosuch-one\" in any source (architectures: amd64)",
            "[[apt]] security: no package matches request \"nosuch-two\" in any source (architectures: amd64)",
        ]
    );
    let unsatisfied: Vec<&str> = plan["unsatisfied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        unsatisfied,
        [
            "[[apt]] main: needs-ghost 1.0 depends on ghost-a (>= 1): no candidate",
            "[[apt]] main: half 1.0 depends on ghost-b | ghost-c: no candidate (needed through chain-top 1.0 -> half 1.0)",
        ]
    );
    assert!(!store.exists(), "plan must not create the store");

    // sync: fails naming both missing requests, downloads nothing, records no state.
    let (r, summary) = sync_json(&config);
    let err = format!("{:#}", r.expect_err("sync must fail on missing requests"));
    assert!(
        err.contains("nosuch-one") && err.contains("nosuch-two"),
        "{err}"
    );
    assert_eq!(
        summary["failed"],
        serde_json::json!(["main", "security"]),
        "{summary:#}"
    );
    let blobs: Vec<Vec<u8>> = std::fs::read_dir(store.join("blobs/sha256"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert!(
        !blobs
            .iter()
            .any(|b| b.starts_with(b"!<arch>\ndebian-binary")),
        "no .deb may be downloaded when a request is in no source"
    );

    // Without the missing requests the sync succeeds, with the two warnings.
    let config = u.config("warn", &["foo", "needs-ghost", "chain-top"], &[], None);
    let (r, summary) = sync_json(&config);
    r.expect("sync with unsatisfied dependencies only");
    let main = summary["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["report"]["name"] == "main")
        .unwrap();
    assert_eq!(
        main["report"]["unsatisfied"].as_array().unwrap().len(),
        2,
        "{summary:#}"
    );
}

#[test]
fn an_upstream_that_does_not_verify_blocks_every_apt_upstream_and_only_still_sees_all() {
    let Some(u) = universe() else { return };
    // The security upstream configured with the main archive's key: its InRelease does
    // not verify, so the universe is incomplete and no APT upstream is updated.
    let good = u.config("only", &["foo"], &["foo"], None);
    let text = std::fs::read_to_string(&good).unwrap().replace(
        &u.security.keyring.display().to_string(),
        &u.main.keyring.display().to_string(),
    );
    let bad = u.path("wrongkey.toml");
    std::fs::write(&bad, text.replace("store-only", "store-wrongkey")).unwrap();
    let (r, plan) = plan_json(&bad);
    let err = format!("{:#}", r.expect_err("plan must fail"));
    assert!(err.contains("[[apt]] security"), "{err}");
    assert_eq!(plan["failed"].as_array().unwrap().len(), 1, "{plan:#}");
    assert_eq!(upstream(&plan, "security")["planned"], false);
    let (r, summary) = sync_json(&bad);
    let err = format!("{:#}", r.expect_err("sync must fail"));
    assert!(
        err.contains("the APT universe is incomplete") && err.contains("[[apt]] security"),
        "{err}"
    );
    assert_eq!(summary["failed"], serde_json::json!(["main", "security"]));

    // --only security: the universe still holds main (foo's libbar comes from there),
    // only security is downloaded and recorded.
    let (r, _) = plan_json(&good);
    r.expect("plan");
    let mut out = Vec::new();
    mirror_sync::cli::run_to(
        [
            "mirror-sync",
            "--json",
            "sync",
            "--config",
            s(&good),
            "--only",
            "security",
        ],
        &mut out,
    )
    .expect("sync --only security");
    let summary: Value = serde_json::from_slice(&out).unwrap();
    let reps = summary["upstreams"].as_array().unwrap();
    assert_eq!(reps.len(), 1, "{summary:#}");
    assert_eq!(reps[0]["report"]["name"], "security");
    assert_eq!(reps[0]["report"]["unsatisfied"], serde_json::json!([]));
    assert_eq!(reps[0]["report"]["files"], 1);
}
