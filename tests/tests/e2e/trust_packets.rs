//! Issue 12, points 1 and 5, end to end: the APT upstream keyring given to `sync` and the
//! one in the Cube's trust bundle are GnuPG keyring files holding trust packets (tag 12),
//! as the official `ubuntu-archive-keyring.gpg` does; sync, export and import succeed with
//! them. Before that, an import whose trust bundle lacks the upstream keyring is refused
//! before anything is copied, naming the `keys bundle` command.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use mirror_e2e::apt_fixture::{gpg, stop_gpg_agent};
use mirror_e2e::product::{import_drive, read_manifest, s, sync_cli};
use mirror_e2e::run_command;
use mirror_e2e::world::world;

/// Makes a classic GnuPG keyring file (`gnupg-ring:`, the format that stores trust packets
/// inside the file, as distribution keyrings built by GnuPG do) from `keyring`, and an
/// `--export-options backup` export of it; returns both.
fn keyrings_with_trust_packets(keyring: &Path, dir: &Path) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt as _;
    let home = dir.join("gnupg-trust");
    fs::create_dir_all(&home).unwrap();
    fs::set_permissions(&home, fs::Permissions::from_mode(0o700)).unwrap();
    let classic = dir.join("archive-keyring-with-trust.gpg");
    let spec = format!("gnupg-ring:{}", classic.display());
    gpg(
        &home,
        &[
            "--no-default-keyring",
            "--keyring",
            &spec,
            "--import",
            s(keyring),
        ],
    )
    .expect("gpg --import into a classic keyring");
    let backup = dir.join("backup-export.gpg");
    let exported = gpg(
        &home,
        &[
            "--no-default-keyring",
            "--keyring",
            &spec,
            "--export-options",
            "backup",
            "--export",
        ],
    )
    .expect("gpg --export-options backup --export");
    fs::write(&backup, exported).unwrap();
    stop_gpg_agent(&home);
    for f in [&classic, &backup] {
        let listed = run_command(
            Command::new("gpg")
                .arg("--homedir")
                .arg(&home)
                .args(["--batch", "--list-packets"])
                .arg(f),
        )
        .unwrap();
        assert!(
            listed.stdout.contains(":trust packet:"),
            "{} holds no trust packet:\n{}",
            f.display(),
            listed.stdout
        );
    }
    (classic, backup)
}

#[test]
fn keyrings_with_trust_packets_sync_export_and_import() {
    let Some(w) = world() else { return };
    let (classic, backup) = keyrings_with_trust_packets(&w.apt.keyring, w.tmp.path());

    // gpgv, as APT runs it, accepts the upstream's InRelease with both files.
    let inrelease = w.apt.standard.join("dists/stable/InRelease");
    for ring in [&classic, &backup] {
        run_command(
            Command::new("gpgv")
                .arg("--keyring")
                .arg(ring)
                .arg(&inrelease),
        )
        .unwrap()
        .assert_success();
    }

    // Sync reads the classic keyring file for both APT upstreams.
    let config = fs::read_to_string(&w.config).unwrap();
    let old = format!("keyring = \"{}\"", w.apt.keyring.display());
    assert!(config.contains(&old), "{config}");
    fs::write(
        &w.config,
        config.replace(&old, &format!("keyring = \"{}\"", classic.display())),
    )
    .unwrap();
    // The trust bundle carries the same bytes, trust packets included.
    let trusted = w.path("trusted-with-trust-packets");
    sync_cli(&[
        "keys",
        "bundle",
        "--config",
        s(&w.config),
        "--out",
        s(&trusted),
    ])
    .expect("keys bundle reads a keyring with trust packets");
    let bundled = trusted.join("upstream").join(classic.file_name().unwrap());
    assert_eq!(fs::read(&bundled).unwrap(), fs::read(&classic).unwrap());

    sync_cli(&["sync", "--config", s(&w.config)]).expect("sync with a trust-packet keyring");
    let drive = w.path("drive");
    sync_cli(&["export", "--config", s(&w.config), "--to", s(&drive)]).expect("export");
    let (_, m) = read_manifest(&drive);
    let fixture = m.sources.iter().find(|s| s.name == "fixture").unwrap();
    assert_eq!(fixture.upstream_signers, vec![w.apt.fingerprint.clone()]);
    assert_eq!(
        fixture.upstream_keyring.as_deref(),
        classic.file_name().and_then(|n| n.to_str())
    );

    // A Cube trust directory with only the snapshot key: refused before anything is copied,
    // naming the keyring and the command that writes the bundle. No store is created.
    let partial = w.path("trusted-partial");
    fs::create_dir_all(&partial).unwrap();
    fs::copy(trusted.join("snapshot.pub"), partial.join("snapshot.pub")).unwrap();
    let store = w.path("server-store");
    let t = std::time::Instant::now();
    let err = import_drive(&drive, &store, &partial)
        .unwrap_err()
        .to_string();
    eprintln!(
        "import refused for a missing upstream keyring in {:.1} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    for want in [
        "import refused before copying anything",
        "archive-keyring-with-trust.gpg",
        "mirror-sync keys bundle --config mirror.toml --out keys/trusted/",
        &w.apt.fingerprint,
    ] {
        assert!(err.contains(want), "{err:?} should contain {want:?}");
    }
    assert!(!store.exists(), "a refused first import leaves no store");

    // The bundle made from the classic keyring (trust packets inside): import verifies the
    // upstream InRelease with it and succeeds. The backup export works the same way.
    import_drive(&drive, &store, &trusted)
        .expect("import with a trust-packet keyring in the bundle");
    fs::copy(&backup, &bundled).unwrap();
    let store2 = w.path("server-store-2");
    import_drive(&drive, &store2, &trusted)
        .expect("import with a backup export (trust packets) in the bundle");
}
