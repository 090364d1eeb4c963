//! Store lifecycle: audit chain, rollback, pins, gc, verify, `/snapshots/<name>/`, stale
//! staging. Drives are hand-built and signed (tests/suite/common.rs), imported with the real import.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::{Fixture, Import, tree_digest};
use formats::digest::Digest;
use reqwest::StatusCode;
use store::{Cas, Index};

mod held;

const BIN: &str = env!("CARGO_BIN_EXE_mirror-server");

/// Runs the binary with `args` plus `--store STORE`.
fn bin(store: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--store")
        .arg(store)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs the binary, expects success and returns stdout parsed as JSON.
fn bin_json(store: &Path, args: &[&str]) -> serde_json::Value {
    let o = bin(store, args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&o)))
}

/// Runs an in-process command (`mirror-server <args> --store STORE`).
fn run(fx: &Fixture, args: &[&str]) -> anyhow::Result<()> {
    let mut v: Vec<std::ffi::OsString> = vec!["mirror-server".into()];
    v.extend(args.iter().map(Into::into));
    v.push("--store".into());
    v.push(fx.store.clone().into());
    mirror_server::cli::run(v)
}

/// Files of snapshot `seq`: a shared key, a per-snapshot key, and `extra`.
fn snap_files(seq: u64) -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "keys/shared.gpg".into(),
            b"shared key in every snapshot\n".to_vec(),
        ),
        (
            "keys/repo.gpg".into(),
            format!("repository key of snapshot {seq}\n").into_bytes(),
        ),
    ]
}

fn import(fx: &Fixture, seq: u64, files: &[(String, Vec<u8>)]) {
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    let drive = fx.drive(&format!("drive{seq}"), seq, &refs);
    fx.import(&drive, &[]).unwrap();
}

fn index(fx: &Fixture) -> Index {
    Index::open_read_only(&fx.store.join("index.redb"))
        .unwrap()
        .unwrap()
}

fn blobs(store: &Path) -> BTreeSet<Digest> {
    Cas::at(store).iter_digests().unwrap().into_iter().collect()
}

/// A server on 127.0.0.1:0 over the fixture's store, with a blocking GET.
struct Server {
    rt: tokio::runtime::Runtime,
    handle: Option<mirror_server::serve::ServerHandle>,
    client: reqwest::Client,
    base: String,
}

impl Server {
    fn start(store: &Path) -> Server {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let handle = rt
            .block_on(mirror_server::serve::start(
                store.to_path_buf(),
                "127.0.0.1:0".parse().unwrap(),
            ))
            .unwrap();
        let base = format!("http://{}", handle.addr);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Server {
            rt,
            handle: Some(handle),
            client,
            base,
        }
    }

    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(reqwest::header::HeaderName, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        self.rt.block_on(async {
            let mut req = self.client.request(method, format!("{}{path}", self.base));
            for (k, v) in headers {
                req = req.header(k, *v);
            }
            let r = req.send().await.unwrap();
            let status = r.status();
            let h = r.headers().clone();
            (status, h, r.bytes().await.unwrap().to_vec())
        })
    }

    fn get(&self, path: &str) -> (StatusCode, Vec<u8>) {
        let (s, _, b) = self.request(reqwest::Method::GET, path, &[]);
        (s, b)
    }

    /// Polls `path` until it answers `status` (the server reloads once a second).
    fn wait_for(&self, path: &str, status: StatusCode, body: Option<&[u8]>) {
        let start = Instant::now();
        loop {
            let (s, b) = self.get(path);
            if s == status && body.is_none_or(|want| want == b.as_slice()) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{path}: still {s} {:?}",
                String::from_utf8_lossy(&b)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.rt.block_on(h.shutdown());
        }
    }
}

#[test]
fn audit_chain_detects_edited_and_removed_lines() {
    let fx = Fixture::new();
    for seq in 1..=3 {
        import(&fx, seq, &snap_files(seq));
    }
    let keys = keys::snapshot::TrustedKeys::load_dir(&fx.trusted).unwrap();
    // The first import recorded the trusted key set, then each import.
    let first = bin_json(&fx.store, &["audit", "show", "--json"]);
    let events: Vec<&str> = first
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["trusted-keys-changed", "import", "import", "import"]
    );
    assert_eq!(
        first[0]["added"],
        serde_json::json!([fx.key.public_key().key_id()])
    );
    assert!(
        mirror_server::audit::note_trusted_keys(&fx.store, &keys)
            .unwrap()
            .is_none(),
        "unchanged set is not recorded again"
    );
    run(&fx, &["pin", "test/1", "--reason", "baseline"]).unwrap();
    run(&fx, &["unpin", "test/1"]).unwrap();
    run(&fx, &["rollback"]).unwrap();
    run(&fx, &["pin", "test/1"]).unwrap();
    run(&fx, &["gc", "--keep", "1"]).unwrap();
    // A second key is trusted now: recorded with what was added.
    let other = keys::snapshot::SigningKey::generate();
    fs::write(fx.trusted.join("other.pub"), other.public_key().to_pem()).unwrap();
    let keys = keys::snapshot::TrustedKeys::load_dir(&fx.trusted).unwrap();
    let rec = mirror_server::audit::note_trusted_keys(&fx.store, &keys)
        .unwrap()
        .unwrap();
    assert_eq!(
        rec.fields["added"],
        serde_json::json!([other.public_key().key_id()])
    );
    assert_eq!(rec.fields["removed"], serde_json::json!([]));

    let report = bin_json(&fx.store, &["audit", "verify", "--json"]);
    assert_eq!(report["broken"], serde_json::Value::Null, "{report}");
    let total = report["lines"].as_u64().unwrap();
    let chained = report["chained"].as_u64().unwrap();
    // 4 from the imports, 6 from pin, unpin, rollback, pin, gc and the key change.
    assert_eq!(chained, 10, "{report}");
    assert_eq!(total, 10, "{report}");
    let o = bin(&fx.store, &["audit", "verify"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("chain intact"), "{}", stdout(&o));

    // audit show: the records as stored, newest last.
    let shown = bin_json(&fx.store, &["audit", "show", "--json", "--last", "3"]);
    let events: Vec<&str> = shown
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["pin", "gc", "trusted-keys-changed"]);
    assert_eq!(shown[0]["snapshot"], "test/1");
    assert_eq!(shown[1]["removed"], serde_json::json!([]));
    assert!(shown[0]["actor"]["uid"].is_u64());
    let o = bin(&fx.store, &["audit", "show"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("rollback"), "{}", stdout(&o));

    let log = fx.store.join("audit.log");
    let original = fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    // The unpin record: a middle, chained line.
    let k = lines
        .iter()
        .position(|l| l.contains("\"event\":\"unpin\""))
        .unwrap();
    let line_no = k as u64 + 1;
    assert!(line_no > 1 && line_no < total);

    // One byte changed in a middle line: the next line's prev no longer matches.
    let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    edited[k] = edited[k].replace("\"event\":\"unpin\"", "\"event\":\"unpiN\"");
    fs::write(&log, edited.join("\n") + "\n").unwrap();
    let o = bin(&fx.store, &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("broken at line {}", line_no + 1))
            && err.contains(&format!("line {line_no} was changed")),
        "{err}"
    );
    let r = bin(&fx.store, &["audit", "verify", "--json"]);
    assert_eq!(r.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["broken"]["line"], line_no + 1);

    // A line removed: every later seq shifts.
    let mut removed: Vec<&str> = lines.clone();
    removed.remove(k);
    fs::write(&log, removed.join("\n") + "\n").unwrap();
    let o = bin(&fx.store, &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("broken at line {line_no}")) && err.contains("removed or inserted"),
        "{err}"
    );

    // The last line removed: the chain is intact but audit.head is not.
    fs::write(&log, lines[..lines.len() - 1].join("\n") + "\n").unwrap();
    let o = bin(&fx.store, &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("removed from the end"),
        "{}",
        stderr(&o)
    );

    fs::write(&log, &original).unwrap();
    assert!(bin(&fx.store, &["audit", "verify"]).status.success());
}

#[test]
fn rollback_switches_serving_and_refusals_change_nothing() {
    let fx = Fixture::new();
    for seq in 1..=3 {
        import(&fx, seq, &snap_files(seq));
    }
    let server = Server::start(&fx.store);
    let key = |seq: u64| format!("repository key of snapshot {seq}\n").into_bytes();
    assert_eq!(server.get("/keys/repo.gpg"), (StatusCode::OK, key(3)));

    // Without --to: the previous sequence.
    let s = bin_json(&fx.store, &["rollback", "--json"]);
    assert_eq!(s["from"], "test/3");
    assert_eq!(s["to"], "test/2");
    assert_eq!(s["channel"], "test");
    assert_eq!(s["generation"], 4);
    {
        let idx = index(&fx);
        assert_eq!(idx.live("test").unwrap().as_deref(), Some("test/2"));
        assert_eq!(idx.current().unwrap().as_deref(), Some("test/2"));
    }
    assert_eq!(
        fs::read_to_string(fx.store.join("current.gen"))
            .unwrap()
            .trim(),
        "4"
    );
    server.wait_for("/keys/repo.gpg", StatusCode::OK, Some(&key(2)));

    // --to a named snapshot.
    run(&fx, &["rollback", "--to", "test/1"]).unwrap();
    server.wait_for("/keys/repo.gpg", StatusCode::OK, Some(&key(1)));
    let (status, body) = server.get("/healthz");
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&body).contains("test/1"));

    // Refusals: the store does not change at all.
    let before = tree_digest(&fx.store);
    let refusals: [(&[&str], &[&str]); 6] = [
        (
            &["rollback", "--to", "test/9"],
            &["test/9", "not held", "test/1, test/2, test/3"],
        ),
        (
            &["rollback"],
            &["no snapshot older than test/1", "channel test"],
        ),
        (&["rollback", "--to", "test/1"], &["already live"]),
        (&["rollback", "--to", "nope"], &["not a snapshot name"]),
        (
            &["rollback", "--to", "test/2", "--channel", "other"],
            &["not on channel other"],
        ),
        (
            &["rollback", "--channel", "other"],
            &["channel other has no live snapshot"],
        ),
    ];
    for (args, want) in refusals {
        let e = run(&fx, args).unwrap_err().to_string();
        for w in want {
            assert!(e.contains(w), "{args:?}: {e:?} should contain {w:?}");
        }
        assert!(!e.contains('\n'), "one line: {e}");
        assert_eq!(tree_digest(&fx.store), before, "{args:?} changed the store");
    }

    // A target whose blob is missing is refused before anything switches.
    let unique2 = Digest::of(&key(2));
    fs::remove_file(Cas::at(&fx.store).blob_path(&unique2)).unwrap();
    let before = tree_digest(&fx.store);
    let o = bin(&fx.store, &["rollback", "--to", "test/2"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("test/2 cannot be made live")
            && err.contains(&unique2.to_string())
            && err.contains("keys/repo.gpg")
            && err.contains("missing"),
        "{err}"
    );
    assert_eq!(tree_digest(&fx.store), before);
    assert_eq!(server.get("/keys/repo.gpg"), (StatusCode::OK, key(1)));

    // Roll forward to the newest again; audit shows the three rollbacks.
    run(&fx, &["rollback", "--to", "test/3"]).unwrap();
    server.wait_for("/keys/repo.gpg", StatusCode::OK, Some(&key(3)));
    let log = bin_json(&fx.store, &["audit", "show", "--json"]);
    let rollbacks: Vec<(String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["event"] == "rollback")
        .map(|r| {
            (
                r["from"].as_str().unwrap().into(),
                r["to"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        rollbacks,
        [
            ("test/3".to_string(), "test/2".to_string()),
            ("test/2".into(), "test/1".into()),
            ("test/1".into(), "test/3".into())
        ]
    );
}

#[test]
fn gc_removes_exactly_the_blobs_only_removed_snapshots_used() {
    let fx = Fixture::new();
    let f = |p: &str, b: &str| (p.to_string(), b.as_bytes().to_vec());
    let shared = f("keys/shared.gpg", "in every snapshot\n");
    let s12 = |p: &str| f(p, "shared by 1 and 2\n");
    let s23 = |p: &str| f(p, "shared by 2 and 3\n");
    let unique = |seq: u64| f("keys/unique.gpg", &format!("only in {seq}\n"));
    let snaps: Vec<Vec<(String, Vec<u8>)>> = vec![
        vec![shared.clone(), unique(1), s12("a/one-two.txt")],
        vec![
            shared.clone(),
            unique(2),
            s12("b/one-two.txt"),
            s23("c/two-three.txt"),
        ],
        vec![shared.clone(), unique(3), s23("d/two-three.txt")],
        vec![shared.clone(), unique(4)],
    ];
    for (i, files) in snaps.iter().enumerate() {
        import(&fx, i as u64 + 1, files);
    }
    run(&fx, &["pin", "test/1", "--reason", "keep for audit"]).unwrap();

    let listed = bin_json(&fx.store, &["snapshots", "--json"]);
    assert_eq!(listed[0]["pinned"], true);
    assert_eq!(listed[0]["pin"]["reason"], "keep for audit");
    assert_eq!(listed[3]["live"], true);
    let table = stdout(&bin(&fx.store, &["snapshots"]));
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        row("test/1").contains('P') && !row("test/1").starts_with('*'),
        "{table}"
    );
    assert!(row("test/4").starts_with('*'), "{table}");
    assert!(table.contains("served at the root: test/4"), "{table}");

    // What 2 and 3 alone use, read from their manifests: their unique blob, the 2-3 blob,
    // their SBOMs, manifests and signatures; minus what 1 and 4 use.
    let referenced = |names: &[&str]| -> BTreeSet<Digest> {
        let idx = index(&fx);
        let cas = Cas::at(&fx.store);
        let mut out = BTreeSet::new();
        for name in names {
            let r = idx.snapshot(name).unwrap().unwrap();
            let m = formats::snapshot::Manifest::from_slice(
                &cas.read_bytes(&r.manifest, 1 << 20).unwrap(),
            )
            .unwrap();
            out.extend(m.artifacts.iter().map(|a| a.digest));
            out.insert(r.manifest);
            out.insert(r.signature);
        }
        out
    };
    let kept_blobs = referenced(&["test/1", "test/4"]);
    let expected: BTreeSet<Digest> = referenced(&["test/2", "test/3"])
        .difference(&kept_blobs)
        .copied()
        .collect();
    for only in ["only in 2\n", "only in 3\n", "shared by 2 and 3\n"] {
        assert!(expected.contains(&Digest::of(only.as_bytes())), "{only}");
    }
    for kept in [
        "shared by 1 and 2\n",
        "in every snapshot\n",
        "only in 1\n",
        "only in 4\n",
    ] {
        assert!(!expected.contains(&Digest::of(kept.as_bytes())), "{kept}");
    }
    let freed: u64 = expected
        .iter()
        .map(|d| Cas::at(&fx.store).contains(d).unwrap().unwrap())
        .sum();

    // Dry run: reports, changes nothing.
    let before_tree = tree_digest(&fx.store);
    let before = blobs(&fx.store);
    let dry = bin_json(&fx.store, &["gc", "--keep", "1", "--dry-run", "--json"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(
        dry["snapshots_removed"],
        serde_json::json!(["test/2", "test/3"])
    );
    assert_eq!(dry["blobs_removed"], expected.len());
    assert_eq!(dry["bytes_freed"], freed);
    assert_eq!(tree_digest(&fx.store), before_tree);
    let text = stdout(&bin(&fx.store, &["gc", "--keep", "1", "--dry-run"]));
    assert!(
        text.contains("would remove 2 snapshots: test/2, test/3"),
        "{text}"
    );
    assert_eq!(tree_digest(&fx.store), before_tree);

    let s = bin_json(&fx.store, &["gc", "--keep", "1", "--json"]);
    assert_eq!(
        s["snapshots_removed"],
        serde_json::json!(["test/2", "test/3"])
    );
    assert_eq!(s["blobs_removed"], expected.len());
    assert_eq!(s["bytes_freed"], freed);
    let kept: Vec<(String, Vec<String>)> =
        serde_json::from_value::<Vec<serde_json::Value>>(s["kept"].clone())
            .unwrap()
            .into_iter()
            .map(|k| {
                (
                    k["name"].as_str().unwrap().to_owned(),
                    serde_json::from_value(k["reasons"].clone()).unwrap(),
                )
            })
            .collect();
    assert_eq!(
        kept,
        [
            ("test/1".to_string(), vec!["pinned".to_string()]),
            (
                "test/4".into(),
                vec!["live".into(), "current".into(), "newest".into()]
            )
        ]
    );
    let after = blobs(&fx.store);
    let gone: BTreeSet<Digest> = before.difference(&after).copied().collect();
    assert_eq!(
        gone, expected,
        "exactly the blobs only test/2 and test/3 used"
    );
    let names: Vec<String> = index(&fx)
        .snapshots()
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["test/1", "test/4"]);

    // Every retained snapshot still serves every artifact, and the store verifies.
    let server = Server::start(&fx.store);
    for (path, bytes) in &snaps[3] {
        assert_eq!(
            server.get(&format!("/{path}")),
            (StatusCode::OK, bytes.clone()),
            "{path}"
        );
    }
    for (path, bytes) in &snaps[0] {
        assert_eq!(
            server.get(&format!("/snapshots/test/1/{path}")),
            (StatusCode::OK, bytes.clone()),
            "{path}"
        );
    }
    assert_eq!(
        server.get("/snapshots/test/2/keys/unique.gpg").0,
        StatusCode::NOT_FOUND
    );
    drop(server);
    let v = bin_json(&fx.store, &["verify", "--json"]);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["orphans"], 0);

    // Nothing left to collect; an unreferenced blob (an interrupted import) is collected.
    let orphan = Cas::at(&fx.store).put_bytes(b"left by a crash\n").unwrap();
    let s = bin_json(&fx.store, &["gc", "--keep", "1", "--json"]);
    assert_eq!(s["snapshots_removed"], serde_json::json!([]));
    assert_eq!(s["blobs_removed"], 1);
    assert!(!blobs(&fx.store).contains(&orphan));
    assert_eq!(blobs(&fx.store), after);

    // Refusals.
    let e = run(&fx, &["gc", "--keep", "0"]).unwrap_err().to_string();
    assert!(e.contains("--keep must be at least 1"), "{e}");
    let e = run(&fx, &["pin", "test/2"]).unwrap_err().to_string();
    assert!(
        e.contains("test/2 is not held") && e.contains("test/1, test/4"),
        "{e}"
    );
    // Unpinned, test/1 goes on the next run.
    run(&fx, &["unpin", "test/1"]).unwrap();
    let s = bin_json(&fx.store, &["gc", "--keep", "1", "--json"]);
    assert_eq!(s["snapshots_removed"], serde_json::json!(["test/1"]));
    assert!(bin(&fx.store, &["audit", "verify"]).status.success());
}

#[test]
fn gc_refuses_when_a_kept_manifest_is_unreadable() {
    let fx = Fixture::new();
    for seq in 1..=3 {
        import(&fx, seq, &snap_files(seq));
    }
    let rec = index(&fx).snapshot("test/3").unwrap().unwrap();
    fs::remove_file(Cas::at(&fx.store).blob_path(&rec.manifest)).unwrap();
    let before = tree_digest(&fx.store);
    let o = bin(&fx.store, &["gc", "--keep", "1"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("snapshot test/3 is kept") && err.contains("nothing was collected"),
        "{err}"
    );
    assert_eq!(tree_digest(&fx.store), before);
}

#[test]
fn verify_reports_damaged_and_missing_blobs_by_name() {
    let fx = Fixture::new();
    let shared: &[u8] = b"shared by both snapshots, long enough to flip a byte\n";
    let files = |seq: u64| {
        vec![
            ("keys/shared.gpg".to_string(), shared.to_vec()),
            (
                "apt/cuda/Packages".to_string(),
                format!("Package: x{seq}\n").into_bytes(),
            ),
        ]
    };
    import(&fx, 1, &files(1));
    import(&fx, 2, &files(2));

    let o = bin(&fx.store, &["verify"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("store OK"), "{}", stdout(&o));
    let v = bin_json(&fx.store, &["verify", "--json", "--threads", "2"]);
    assert_eq!(v["ok"], true);
    assert_eq!(v["snapshots"], 2);
    // shared + 2 Packages + 2 manifests + 2 signatures (+ SBOMs): every blob file.
    let n = blobs(&fx.store).len();
    assert!(n >= 7);
    assert_eq!(v["blobs_checked"], n);

    // Stale staging and an orphan are information, not errors.
    fs::create_dir_all(fx.store.join("tmp/import-999999999-1")).unwrap();
    Cas::at(&fx.store).put_bytes(b"orphan\n").unwrap();
    let v = bin_json(&fx.store, &["verify", "--json"]);
    assert_eq!(v["ok"], true);
    assert_eq!(v["orphans"], 1);
    assert_eq!(v["stale_staging"].as_array().unwrap().len(), 1);

    // One byte flipped.
    let d = Digest::of(shared);
    let path = Cas::at(&fx.store).blob_path(&d);
    let mut bytes = fs::read(&path).unwrap();
    bytes[10] ^= 0x20;
    fs::write(&path, &bytes).unwrap();
    let o = bin(&fx.store, &["verify"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let line = out
        .lines()
        .find(|l| l.starts_with("DAMAGED"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains(&d.to_string()), "{line}");
    assert!(line.contains(&Digest::of(&bytes).to_string()), "{line}");
    assert!(
        line.contains("test/1 keys/shared.gpg") && line.contains("test/2 keys/shared.gpg"),
        "{line}"
    );
    assert!(stderr(&o).contains("1 problems found"), "{}", stderr(&o));
    let o = bin(&fx.store, &["verify", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["problems"][0]["kind"], "damaged");
    assert_eq!(v["problems"][0]["digest"], d.to_string());

    // Deleted.
    fs::remove_file(&path).unwrap();
    let o = bin(&fx.store, &["verify"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let line = out
        .lines()
        .find(|l| l.starts_with("MISSING"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.contains(&d.to_string()) && line.contains("test/2 keys/shared.gpg"),
        "{line}"
    );

    // A manifest blob that is gone is named with its snapshot.
    let rec = index(&fx).snapshot("test/1").unwrap().unwrap();
    fs::remove_file(Cas::at(&fx.store).blob_path(&rec.manifest)).unwrap();
    let v: serde_json::Value =
        serde_json::from_slice(&bin(&fx.store, &["verify", "--json"]).stdout).unwrap();
    let kinds: Vec<&str> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"bad-manifest"), "{v}");
    let missing_manifest = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["kind"] == "missing" && p["digest"] == rec.manifest.to_string());
    assert!(missing_manifest, "{v}");

    // A missing store is a clear error.
    let o = bin(&fx.dir.path().join("no-store"), &["verify"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no snapshot imported yet"),
        "{}",
        stderr(&o)
    );
}
