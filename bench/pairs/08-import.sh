#!/usr/bin/env bash
# Pair 8: `mirror-server import` against `cp -r DRIVE COPY && sync` of the same drive.
#
# Input: a synthetic, validly signed snapshot drive written by the make-drive example
# (mirror-server/examples/make-drive.rs): 128 blobs of incompressible deterministic bytes,
# 2,200 MiB in total (20 MiB in smoke mode), plus both SBOMs and the signed manifest.
#
# Sides, interleaved A B A B, each into a fresh target directory on the same filesystem:
#   peer  `cp -r DRIVE COPY && sync`
#   ours  `mirror-server import DRIVE --store STORE --trusted-keys TRUSTED --quiet`
#         (verifies the signature, every blob's sha256 and size, the SBOMs; fsyncs every
#         blob; commits the index)
# The page cache is dropped before each side (bench_drop_caches); when this user cannot
# drop it, both sides read a warm cache and the row's note says so.
#
# Check: the copy holds the drive's files with the same sizes, and the store holds every
# blob of the drive under its digest with the same size (import re-hashed each of them).
#
# Row: 8 "import vs cp -r (2.2 GB, 128 files, cold cache)", seconds, median import /
# median cp -r + sync, target <= 1.1.
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/../lib.sh"

if [ "$BENCH_SMOKE" = 1 ]; then SIZE_MIB=20; else SIZE_MIB=2200; fi
FILES=128

# The example binaries are built next to BENCH_BIN (bench/run.sh builds them); build
# make-drive when this script runs alone.
make_drive=$BENCH_BIN/examples/make-drive
if [ ! -x "$make_drive" ]; then
  bench_log "building the make-drive example"
  profile=()
  [ "$(basename "$BENCH_BIN")" = release ] && profile=(--release)
  (cd "$BENCH_ROOT" && cargo build --locked -q "${profile[@]}" -p mirror-server --example make-drive) \
    || bench_die "cannot build the make-drive example"
fi
[ -x "$make_drive" ] || bench_die "no make-drive example in $BENCH_BIN/examples"

W=$BENCH_WORK/import
rm -rf "$W"
mkdir -p "$W"
bench_log "writing a ${SIZE_MIB} MiB drive in $FILES files"
"$make_drive" "$W/gen" "$SIZE_MIB" "$FILES" >/dev/null || bench_die "make-drive failed"
DRIVE=$W/gen/drive
TRUSTED=$W/gen/trusted

cache="cold cache"
drop() { bench_drop_caches || cache="warm cache on both sides (cannot drop the page cache)"; }

# Files of a tree as "relative-path size" lines, sorted.
listing() { (cd "$1" && find . -type f -printf '%P %s\n' | LC_ALL=C sort); }
drive_list=$(listing "$DRIVE")
blob_list=$(cd "$DRIVE/blobs/sha256" && find . -type f -printf '%P %s\n' | LC_ALL=C sort)

check_copy() {
  [ "$(listing "$W/copy")" = "$drive_list" ] || bench_die "cp -r: the copy differs from the drive"
}
check_store() {
  local name size got
  while read -r name size; do
    got=$(stat -c %s "$W/store/blobs/sha256/$name" 2>/dev/null) \
      || bench_die "import: blob $name missing from the store"
    [ "$got" = "$size" ] || bench_die "import: blob $name is $got bytes, the drive's is $size"
  done <<<"$blob_list"
}

for i in $(bench_runs); do
  rm -rf "$W/copy" "$W/store"
  drop
  # shellcheck disable=SC2016 # $1 and $2 are the inner shell's arguments
  t=$(bench_wall sh -c 'cp -r "$1" "$2" && sync' sh "$DRIVE" "$W/copy")
  bench_record cp "$t"
  check_copy
  rm -rf "$W/copy"
  drop
  t=$(bench_wall "$BENCH_BIN/mirror-server" import "$DRIVE" --store "$W/store" \
    --trusted-keys "$TRUSTED" --quiet)
  bench_record import "$t"
  check_store
  rm -rf "$W/store"
  bench_log "run $i: cp -r + sync $(bench_samples cp | awk '{print $NF}') s, import $(bench_samples import | awk '{print $NF}') s"
done
rm -rf "$W"

if [ "$BENCH_SMOKE" = 1 ]; then
  workload="import vs cp -r (${SIZE_MIB} MiB, $FILES files, $cache)"
else
  workload="import vs cp -r (2.2 GB, $FILES files, $cache)"
fi
bench_result 8 "$workload" s "$(bench_median import)" "$(bench_median cp)" "cp -r + sync" "<=1.1" \
  "import verifies signature, sha256, SBOMs, one syncfs before the commit; runs: import $(bench_samples import) / cp $(bench_samples cp)"
