#!/usr/bin/env bash
# Pair 13: `mirror-server import` of a snapshot of 100,000 small artifacts against
# `cp -r DRIVE COPY && sync` of the same drive (issue 15).
#
# Input: the drive the make-snapshot example writes for pair 9 (mirror-server/examples/
# make-snapshot.rs): 100,000 tiny .deb-like blobs (64-575 bytes, distinct) at Debian-pool
# paths with the metadata an APT sync records, both SBOMs and the signed manifest
# (2,000 artifacts in smoke mode). Written once per run of this pair, outside the timing.
#
# Sides, interleaved A B A B, each into a fresh target directory on the same filesystem,
# the page cache dropped before each (bench_drop_caches; when this user cannot, both sides
# read a warm cache and the row's note says so):
#   peer  `cp -r DRIVE COPY && sync`
#   ours  `mirror-server import DRIVE --store STORE --trusted-keys TRUSTED --quiet`
#         (verifies the signature, every blob's sha256 and size, the SBOMs; makes the
#         blobs durable with one syncfs; commits the index)
#
# Check: the copy holds as many files as the drive with the same total size; the store
# holds every blob of the drive (count and total size of blobs/sha256).
#
# Row: 13 "import vs cp -r (100k small artifacts, cold cache)", seconds, median import /
# median cp -r + sync, target <= 1.5.
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/../lib.sh"

if [ "$BENCH_SMOKE" = 1 ]; then ARTIFACTS=2000; else ARTIFACTS=${BENCH_SMALL_ARTIFACTS:-100000}; fi

make_snapshot=$BENCH_BIN/examples/make-snapshot
if [ ! -x "$make_snapshot" ]; then
  bench_log "building the make-snapshot example"
  profile=()
  [ "$(basename "$BENCH_BIN")" = release ] && profile=(--release)
  (cd "$BENCH_ROOT" && cargo build --locked -q "${profile[@]}" -p mirror-server --example make-snapshot) \
    || bench_die "cannot build the make-snapshot example"
fi
[ -x "$make_snapshot" ] || bench_die "no make-snapshot example in $BENCH_BIN/examples"

W=$BENCH_WORK/small-import
rm -rf "$W"
mkdir -p "$W"
bench_log "writing a snapshot of $ARTIFACTS small artifacts"
"$make_snapshot" "$W/gen" "$ARTIFACTS" >/dev/null || bench_die "make-snapshot failed"
DRIVE=$W/gen/drive
TRUSTED=$W/gen/trusted

cache="cold cache"
drop() { bench_drop_caches || cache="warm cache on both sides (cannot drop the page cache)"; }

# "<files> <bytes>" of a tree.
tally() { find "$1" -type f -printf '%s\n' | awk '{n++; s += $1} END {printf "%d %d\n", n, s}'; }
drive_tally=$(tally "$DRIVE")
blob_tally=$(tally "$DRIVE/blobs/sha256")

for i in $(bench_runs); do
  rm -rf "$W/copy" "$W/store"
  drop
  # shellcheck disable=SC2016 # $1 and $2 are the inner shell's arguments
  t=$(bench_wall sh -c 'cp -r "$1" "$2" && sync' sh "$DRIVE" "$W/copy")
  bench_record cp "$t"
  [ "$(tally "$W/copy")" = "$drive_tally" ] || bench_die "cp -r: the copy differs from the drive"
  rm -rf "$W/copy"
  drop
  t=$(bench_wall "$BENCH_BIN/mirror-server" import "$DRIVE" --store "$W/store" \
    --trusted-keys "$TRUSTED" --quiet)
  bench_record import "$t"
  # The store adds the manifest and its signature to the drive's blobs.
  read -r n_drive s_drive <<<"$blob_tally"
  read -r n_store s_store <<<"$(tally "$W/store/blobs/sha256")"
  [ "$n_store" -ge "$n_drive" ] && [ "$s_store" -ge "$s_drive" ] \
    || bench_die "import: the store holds $n_store blobs ($s_store bytes), the drive $n_drive ($s_drive bytes)"
  rm -rf "$W/store"
  bench_log "run $i: cp -r + sync $(bench_samples cp | awk '{print $NF}') s, import $(bench_samples import | awk '{print $NF}') s"
done
rm -rf "$W"

label=$ARTIFACTS
[ "$ARTIFACTS" = 100000 ] && label=100k
bench_result 13 "import vs cp -r ($label small artifacts, $cache)" s "$(bench_median import)" "$(bench_median cp)" \
  "cp -r + sync" "<=1.5" \
  "import verifies signature, sha256, SBOMs, one syncfs; runs: import $(bench_samples import) / cp $(bench_samples cp)"
