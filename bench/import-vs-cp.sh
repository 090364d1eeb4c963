#!/usr/bin/env bash
# Import throughput against `cp -r` of the same drive (issue 4; issue 6 pair 8).
#
#   bench/import-vs-cp.sh [SIZE_MIB] [FILES] [RUNS]     (defaults: 2200 128 5)
#
# Writes a synthetic signed drive (incompressible blobs + SBOMs) with the make-drive
# example, then alternates `cp -r DRIVE COPY && sync` and `mirror-server import` (which
# verifies the signature, every blob's sha256 and size and the SBOMs, and fsyncs every
# blob). The page cache is dropped before each side when this user may write
# /proc/sys/vm/drop_caches; otherwise both sides read from cache and the script says so.
# Prints each run and the median ratio import / cp.
set -euo pipefail
SIZE=${1:-2200}; FILES=${2:-128}; RUNS=${3:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release -q -p mirror-server --example make-drive --bin mirror-server --manifest-path "$ROOT/Cargo.toml"
BIN="$ROOT/target/release/mirror-server"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/import-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
"$ROOT/target/release/examples/make-drive" "$WORK" "$SIZE" "$FILES"
drop() { sync; if ! (echo 3 > /proc/sys/vm/drop_caches) 2>/dev/null; then CACHE="warm (cannot drop the page cache)"; fi; }
CACHE="cold (page cache dropped before each side)"
now() { date +%s.%N; }
ratios=()
for i in $(seq "$RUNS"); do
  rm -rf "$WORK/copy" "$WORK/store"
  drop; s=$(now); cp -r "$WORK/drive" "$WORK/copy"; sync; cp_t=$(echo "$(now) - $s" | bc)
  drop; s=$(now); "$BIN" import "$WORK/drive" --store "$WORK/store" --trusted-keys "$WORK/trusted" --quiet; imp_t=$(echo "$(now) - $s" | bc)
  r=$(echo "scale=3; $imp_t / $cp_t" | bc)
  ratios+=("$r")
  printf 'run %d: cp -r + sync %6.2fs   import %6.2fs   ratio %s\n' "$i" "$cp_t" "$imp_t" "$r"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "drive ${SIZE} MiB in ${FILES} files; cache: $CACHE"
echo "median import / cp -r ratio: $median (target <= 1.1)"
