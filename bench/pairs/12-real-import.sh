#!/usr/bin/env bash
# Pair 12: `mirror-server import` of a drive shaped like a real Cube drive against
# `cp -r DRIVE COPY && sync` of the same drive, cold cache (issue 15).
#
# Input (bench/real/make-drive.sh, built once by our own mirror-sync and cached in
# $BENCH_CACHE/real-drive-v<GEN>-<MiB>-<lists digest>): about 270 debs of 10 KB-100 MB and
# tens of wheels of 100 MiB-1 GiB, BENCH_REAL_MIB in all (default 5120, the measured
# drive's 5.28 GB; smoke: 30 MiB, 12 debs), synced from a local signed APT upstream whose
# Packages indexes are the FULL text of this host's real package lists
# (/var/lib/apt/lists/*_binary-amd64_Packages*, one suite per list; smoke: the smaller
# ones only) plus stanzas for those debs, and from a local PEP 691 index of the wheels;
# then exported. So import checks the upstream InRelease signatures and matches every deb
# against full-size real Packages indexes, as on the Cube.
#
# Sides, interleaved A B A B, each into a fresh target on the same filesystem, the page
# cache dropped before each (bench_drop_caches; when this user cannot, both sides read a
# warm cache and the row's note says so):
#   peer  `cp -r DRIVE COPY && sync`
#   ours  `mirror-server import DRIVE --store STORE --trusted-keys TRUSTED --quiet`
#
# Check: the copy has the drive's files and sizes; the store has every blob of the drive
# under its name with its size; import's provenance report covered every deb.
#
# Row: 12 "import vs cp -r (real-shape drive, ...)", seconds, target <= 1.1.
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/../lib.sh"
# shellcheck source=bench/real/make-drive.sh
source "$(dirname "$0")/../real/make-drive.sh"

GEN=1   # bump when bench/real changes what it generates
if [ "$BENCH_SMOKE" = 1 ]; then TOTAL_MIB=30; DEBS=12; else TOTAL_MIB=${BENCH_REAL_MIB:-5120}; DEBS=${BENCH_REAL_DEBS:-270}; fi
for t in apt-ftparchive gpg xz lz4; do command -v "$t" >/dev/null || bench_die "needs $t"; done

# This host's real package lists (amd64 binary indexes), fetched by its own apt.
lists=()
while IFS= read -r f; do lists+=("$f"); done < <(ls -S /var/lib/apt/lists/*_binary-amd64_Packages* 2>/dev/null | grep -v '/partial/' || true)
if [ ${#lists[@]} -eq 0 ]; then
  bench_as_root apt-get update -qq >/dev/null || bench_die "apt-get update failed"
  while IFS= read -r f; do lists+=("$f"); done < <(ls -S /var/lib/apt/lists/*_binary-amd64_Packages* 2>/dev/null || true)
fi
[ ${#lists[@]} -gt 0 ] || bench_die "no binary-amd64 package lists under /var/lib/apt/lists"
# Smoke: the smallest lists only (the biggest is dropped while there is more than one).
if [ "$BENCH_SMOKE" = 1 ] && [ ${#lists[@]} -gt 1 ]; then lists=("${lists[@]:1}"); fi
key=$(printf '%s\n' "${lists[@]##*/}" | sha256sum | cut -c1-12)
REAL=$BENCH_CACHE/real-drive-v$GEN-$TOTAL_MIB-$DEBS-$key
if [ ! -f "$REAL/done" ]; then
  rm -rf "$BENCH_CACHE"/real-drive-v*-"$TOTAL_MIB"-*   # older generations of this size
  real_drive "$REAL" "$TOTAL_MIB" "$DEBS" "${lists[@]}"
fi
DRIVE=$REAL/drive
TRUSTED=$REAL/trusted
drive_bytes=$(du -sb "$DRIVE" | cut -f1)
n_blobs=$(find "$DRIVE/blobs" -type f | wc -l)

W=$BENCH_WORK/real-import
rm -rf "$W"
mkdir -p "$W"
cache="cold cache"
drop() { bench_drop_caches || cache="warm cache on both sides (cannot drop the page cache)"; }
listing() { (cd "$1" && find . -type f -printf '%P %s\n' | LC_ALL=C sort); }
drive_list=$(listing "$DRIVE")
blob_list=$(cd "$DRIVE/blobs/sha256" && find . -type f -printf '%P %s\n' | LC_ALL=C sort)

for i in $(bench_runs); do
  rm -rf "$W/copy" "$W/store"
  drop
  # shellcheck disable=SC2016 # $1 and $2 are the inner shell's arguments
  t=$(bench_wall sh -c 'cp -r "$1" "$2" && sync' sh "$DRIVE" "$W/copy")
  bench_record cp "$t"
  [ "$(listing "$W/copy")" = "$drive_list" ] || bench_die "cp -r: the copy differs from the drive"
  rm -rf "$W/copy"
  drop
  s=$(bench_now)
  "$BENCH_BIN/mirror-server" import "$DRIVE" --store "$W/store" --trusted-keys "$TRUSTED" \
    --json > "$W/summary.json" 2>"$W/import.err" || { cat "$W/import.err" >&2; bench_die "import failed"; }
  e=$(bench_now)
  bench_record import "$(awk -v s="$s" -v e="$e" 'BEGIN {printf "%.3f\n", e - s}')"
  while read -r name size; do
    [ "$(stat -c %s "$W/store/blobs/sha256/$name" 2>/dev/null)" = "$size" ] \
      || bench_die "import: blob $name missing from the store or of another size"
  done <<<"$blob_list"
  debs_verified=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["provenance"]["debs_verified"])' "$W/summary.json")
  [ "$debs_verified" -gt 0 ] || bench_die "import: no deb went through the provenance check"
  rm -rf "$W/store"
  bench_log "run $i: cp -r + sync $(bench_samples cp | awk '{print $NF}') s, import $(bench_samples import | awk '{print $NF}') s ($debs_verified debs matched)"
done
rm -rf "$W"

gb=$(awk -v b="$drive_bytes" 'BEGIN {printf "%.2f", b / 1e9}')
bench_result 12 "import vs cp -r (real-shape drive: $gb GB, $n_blobs blobs, ${#lists[@]} full package lists, $cache)" s \
  "$(bench_median import)" "$(bench_median cp)" "cp -r + sync" "<=1.1" \
  "debs matched against the upstream-signed Packages: $debs_verified; package lists: ${#lists[@]} of this host's, full text; runs: import $(bench_samples import) / cp $(bench_samples cp)"
