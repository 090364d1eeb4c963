//! Drives on a real FAT32 filesystem (issue 5).
//!
//! - Always (offline, needs `mkfs.vfat` and `mtools`): a drive exported with parts is
//!   copied into a real FAT32 image with `mcopy` and read back out; every name, size and
//!   byte survives, `mirror-sync verify` passes on the copy and `mirror-server import`
//!   accepts it. mtools writes the FAT structures itself, so no mount is needed.
//! - Heavy, opt-in (`MIRROR_HEAVY_TESTS=1`, root and a kernel with `vfat`): export straight
//!   onto a loop-mounted FAT32 image; export detects FAT and caps files at 4 GiB − 1.
//!   Skipped with the reason printed when the mount is not possible (for example in a
//!   container without the `vfat` module).

use std::path::Path;
use std::process::Command;

use mirror_e2e::product::{import_drive, s, sync_cli};
use mirror_e2e::tree::tree_manifest;
use mirror_e2e::world::world;
use mirror_e2e::{require_tools, run_checked, run_command};

/// (path, type, size, sha256) of every entry, without permission bits (FAT has none).
fn content(dir: &Path) -> Vec<String> {
    tree_manifest(dir)
        .into_iter()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            format!("{}\t{}\t{}\t{}", f[0], f[1], f[3], f[4])
        })
        .collect()
}

fn sync_json(args: &[&str]) -> serde_json::Value {
    let mut v = vec!["mirror-sync", "--json"];
    v.extend_from_slice(args);
    let mut out = Vec::new();
    mirror_sync::cli::run_to(v, &mut out).expect("mirror-sync");
    serde_json::from_slice(&out).expect("json")
}

#[test]
fn a_drive_survives_a_real_fat32_filesystem() {
    if !require_tools(&["mkfs.vfat", "mcopy"]) {
        return;
    }
    let Some(w) = world() else { return };
    sync_cli(&["sync", "--config", s(&w.config)]).expect("sync");
    let drive = w.path("drive");
    sync_json(&[
        "export",
        "--config",
        s(&w.config),
        "--to",
        s(&drive),
        "--max-file-size",
        "16KiB",
    ]);
    let img = w.path("fat32.img");
    // 64 MiB: FAT32 needs at least 65,525 clusters.
    run_checked(
        Command::new("mkfs.vfat")
            .args(["-F", "32", "-C"])
            .arg(&img)
            .arg("65536"),
    )
    .expect("mkfs.vfat");
    let mut copy_in = Command::new("mcopy");
    copy_in.arg("-s").arg("-i").arg(&img);
    for e in std::fs::read_dir(&drive).unwrap() {
        copy_in.arg(e.unwrap().path());
    }
    copy_in.arg("::/");
    run_checked(copy_in.env("MTOOLS_SKIP_CHECK", "1")).expect("mcopy onto FAT32");
    let back = w.path("back");
    std::fs::create_dir(&back).unwrap();
    let out = run_command(
        Command::new("mcopy")
            .args(["-s", "-n", "-i"])
            .arg(&img)
            .arg("::/*")
            .arg(&back)
            .env("MTOOLS_SKIP_CHECK", "1"),
    )
    .unwrap();
    out.assert_success();
    assert_eq!(
        content(&back),
        content(&drive),
        "FAT32 kept every name and byte"
    );

    let v = sync_json(&["verify", s(&back), "--config", s(&w.config)]);
    assert_eq!(v["ok"], true, "{v}");
    import_drive(&back, &w.path("site"), &w.keys.join("trusted"))
        .expect("import from the FAT32 copy");
}

#[test]
fn export_onto_a_mounted_fat32_image_detects_the_limit() {
    if std::env::var("MIRROR_HEAVY_TESTS").as_deref() != Ok("1") {
        eprintln!(
            "skipped: set MIRROR_HEAVY_TESTS=1 (needs root, mkfs.vfat and a vfat-capable kernel)"
        );
        return;
    }
    let Some(w) = world() else { return };
    let img = w.path("fat32.img");
    let mnt = w.path("mnt");
    std::fs::create_dir(&mnt).unwrap();
    run_checked(
        Command::new("mkfs.vfat")
            .args(["-F", "32", "-C"])
            .arg(&img)
            .arg("65536"),
    )
    .expect("mkfs.vfat");
    let mount = run_command(
        Command::new("mount")
            .arg("-o")
            .arg("loop")
            .arg(&img)
            .arg(&mnt),
    )
    .unwrap();
    if !mount.success() {
        eprintln!(
            "skipped: cannot loop-mount a FAT32 image here: {}",
            mount.combined().trim()
        );
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Unmount(&mnt);
    sync_cli(&["sync", "--config", s(&w.config)]).expect("sync");
    let r = sync_json(&["export", "--config", s(&w.config), "--to", s(&mnt)]);
    assert_eq!(r["filesystem"], "fat");
    assert_eq!(r["max_file_size"], formats::media::FAT32_MAX_FILE_SIZE);
    let v = sync_json(&["verify", s(&mnt), "--config", s(&w.config)]);
    assert_eq!(v["ok"], true, "{v}");
}
