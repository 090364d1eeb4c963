//! kill -9 during `mirror-sync export` (issue 16's crash trials), on the standard offline
//! scenario (APT + PyPI fixture upstreams, synced once).
//!
//! Each trial starts from a copy of the synced store and runs the `mirror-sync` binary,
//! killed with SIGKILL after a random delay in [0, an uninterrupted export]. Even trials
//! export with the cut (the store holds no snapshot yet, so the export cuts `cube-test/1`:
//! renders the indexes and the SBOM into the store, signs, records the cut); odd trials
//! write the already cut `cube-test/1` (`--snapshot`). Files over 16 KiB are split into
//! parts, so the kills land among many small writes. After each kill:
//!
//! - every blob in the store matches its name (the export never leaves a torn blob);
//! - a drive that holds a manifest verifies whole (`mirror-sync verify`): the manifest is
//!   written last, so a cut-short drive is visibly incomplete;
//! - the same command run again finishes (unless the killed export had recorded its cut
//!   as exported: then it was done, and a new run would cut the next snapshot), the drive
//!   verifies, and it is the drive an uninterrupted export writes: byte for byte for `--snapshot`; for a fresh cut, the
//!   same artifacts with the same digests, except those that carry the cut's time (the
//!   SBOM, the APT `Release` files and their signatures).
//!
//! `MIRROR_CRASH_TRIALS` (default 10) and `MIRROR_CRASH_SEED` (replay) as for the
//! server's trials.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use formats::snapshot::{ArtifactKind, Manifest};
use mirror_e2e::product::{read_manifest, s, sync_cli, sync_cli_json};
use mirror_e2e::tree::tree_manifest;
use mirror_e2e::world::world;
use mirror_e2e::{in_ci, workspace_bin};
use testkit::crash::{Rng, cp_dir, kill_after, seed, trials};

const SNAPSHOT: &str = "cube-test/1";

/// Every blob of the store at `root` re-hashed: its bytes match its name.
fn assert_blobs_match_names(root: &Path, what: &str) {
    let cas = store::Cas::at(root);
    for d in cas.iter_digests().expect("list the store's blobs") {
        cas.verify_blob(&d)
            .unwrap_or_else(|e| panic!("{what}: blob {d} does not match its name: {e}"));
    }
}

/// `mirror-sync verify DRIVE --config CONFIG`; fails the test, naming `what`, unless it
/// passes.
fn assert_drive_verifies(drive: &Path, config: &Path, what: &str) {
    sync_cli(&["verify", s(drive), "--config", s(config)])
        .unwrap_or_else(|e| panic!("{what}: the drive does not verify: {e:#}"));
}

/// The snapshots the store records as exported (`mirror-sync --json snapshots`).
fn exported(config: &Path) -> Vec<String> {
    let (r, list) = sync_cli_json(&["snapshots", "--config", s(config)]);
    r.expect("mirror-sync snapshots");
    list.as_array()
        .expect("a JSON array")
        .iter()
        .map(|r| r["name"].as_str().expect("name").to_owned())
        .collect()
}

/// The artifacts of a manifest that do not carry the cut's time: path → digest.
fn timeless_artifacts(m: &Manifest) -> BTreeMap<String, String> {
    m.artifacts
        .iter()
        .filter(|a| !matches!(a.kind, ArtifactKind::Sbom | ArtifactKind::AptRelease))
        .map(|a| (a.path.clone(), a.digest.to_string()))
        .collect()
}

#[test]
fn kill_9_during_export_leaves_the_store_whole_and_the_rerun_finishes_the_drive() {
    let Some(w) = world() else { return };
    let Ok(sync_bin) = workspace_bin("mirror-sync") else {
        assert!(
            !in_ci(),
            "binaries must be built in CI (cargo test --workspace)"
        );
        return;
    };
    sync_cli(&["sync", "--config", s(&w.config)]).expect("sync");
    let store = w.path("store");
    let before_cut = w.path("store-before-cut");
    cp_dir(&store, &before_cut);

    let export_args = |drive: &Path, cut: bool| -> Vec<String> {
        let mut a = vec!["--quiet", "export", "--config", s(&w.config)];
        a.extend(["--max-file-size", "16KiB", "--to", s(drive)]);
        if !cut {
            a.extend(["--snapshot", SNAPSHOT]);
        }
        a.into_iter().map(str::to_owned).collect()
    };
    // The reference: an uninterrupted export that cuts, timed.
    let reference = w.path("drive-ref");
    let t0 = Instant::now();
    let out = Command::new(&sync_bin)
        .args(export_args(&reference, true))
        .output()
        .unwrap();
    let full = t0.elapsed();
    assert!(
        out.status.success(),
        "reference export: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference_tree = tree_manifest(&reference);
    let reference_artifacts = timeless_artifacts(&read_manifest(&reference).1);
    assert!(
        reference_artifacts.len() > 10,
        "the scenario exports more than a handful of artifacts"
    );
    let after_cut = w.path("store-after-cut");
    cp_dir(&store, &after_cut);

    let seed = seed();
    eprintln!("export takes {full:?}; MIRROR_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let n = trials(10);
    for trial in 0..n {
        let cut = trial % 2 == 0;
        std::fs::remove_dir_all(&store).unwrap();
        cp_dir(if cut { &before_cut } else { &after_cut }, &store);
        let drive = w.path(&format!("drive-{trial}"));
        let args = export_args(&drive, cut);
        let delay = rng.delay(full);
        let kind = if cut { "cutting" } else { "--snapshot" };
        let what = format!("trial {trial}, {kind} export killed after {delay:?}");
        let finished = kill_after(Command::new(&sync_bin).args(&args), delay);
        let has_manifest = drive
            .join("snapshots")
            .join(SNAPSHOT)
            .join("manifest.json")
            .is_file();
        assert_blobs_match_names(&store, &what);
        if has_manifest {
            assert_drive_verifies(&drive, &w.config, &what);
        }
        // A cutting export that recorded its snapshot as exported before the kill had
        // finished its work (running it again would be a new export, cutting the next
        // snapshot, as documented); otherwise the same command run again finishes the
        // drive. A `--snapshot` export records nothing, and is always run again.
        let done = cut && exported(&w.config).iter().any(|n| n == SNAPSHOT);
        let outcome = match (finished, done, has_manifest) {
            (true, _, _) => "finished before the kill",
            (false, true, _) => "killed after recording the export",
            (false, false, true) => "killed after the manifest",
            (false, false, false) => "killed before the manifest",
        };
        *outcomes.entry(format!("{kind} {outcome}")).or_default() += 1;
        if done {
            assert!(
                has_manifest,
                "{what}: exported, but the drive has no manifest"
            );
        } else {
            let out = Command::new(&sync_bin).args(&args).output().unwrap();
            assert!(
                out.status.success(),
                "{what}: the re-run failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert_blobs_match_names(&store, &format!("{what}, after the re-run"));
        assert_drive_verifies(&drive, &w.config, &format!("{what}, after the re-run"));
        if cut {
            assert_eq!(
                timeless_artifacts(&read_manifest(&drive).1),
                reference_artifacts,
                "{what}: the finished drive holds other artifacts than an uninterrupted export"
            );
        } else {
            let got = tree_manifest(&drive);
            let only_here: Vec<_> = got.iter().filter(|l| !reference_tree.contains(l)).collect();
            let only_there: Vec<_> = reference_tree.iter().filter(|l| !got.contains(l)).collect();
            assert!(
                only_here.is_empty() && only_there.is_empty(),
                "{what}: the finished drive differs from an uninterrupted export:\n\
                 only on it: {only_here:#?}\nonly on the uninterrupted drive: {only_there:#?}"
            );
        }
        std::fs::remove_dir_all(&drive).unwrap();
    }
    eprintln!("export crash trials: {n} {outcomes:?}");
}
