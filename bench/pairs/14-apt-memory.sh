#!/usr/bin/env bash
# Pair 14: APT sync memory on full-size real Packages indexes, against budgets (the
# "peer" column is the budget; issue 15).
#
#   1. `mirror-sync sync` of one upstream suite whose index is this host's real
#      Packages index (Debian bookworm main amd64: 63k packages, 48 MiB of text, the
#      real 8.6 MB Packages.xz). Budget: 64 MiB peak RSS.
#   2. The same text split into 4 components and repeated under 3 suites (12 indexes,
#      3 x 48 MiB = 150 MB of Packages text: the size of Ubuntu noble, -updates and
#      -security with four components, 139 MB). Budget: 128 MiB peak RSS.
#
# The selection is small (`jq` and its dependency closure, the real .debs); the
# universe is full size: every index is fetched, verified, parsed and resolved over.
# Upstream: bench/apt/build-universe.sh, built once into $BENCH_CACHE and served by
# nginx on 127.0.0.1 (signed with a throwaway bench key).
#
# Each run syncs into an empty store (`mirror-sync --quiet sync`) and records the
# process's peak RSS (getrusage of the child, bench_peak_rss) and its wall time; rows
# give the median RSS, notes the runs and the median wall time. Every run must store
# the same .deb files (the closure), checked after the last run.
#
# Smoke mode: 1,000 stanzas of the host's index (and the closure's), one run.
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/../lib.sh"
bench_need apt-ftparchive apt-utils
bench_need gpg
bench_need xz xz-utils
W=$BENCH_WORK/aptmem
MS=$BENCH_BIN/mirror-sync
[ -x "$MS" ] || bench_die "no mirror-sync in $BENCH_BIN"
SELECT=jq
if [ "$BENCH_SMOKE" = 1 ]; then
  MODE=smoke
  UP=$BENCH_CACHE/apt-universe-smoke
else
  MODE=full
  UP=$BENCH_CACHE/apt-universe-full
fi
BUDGET_REAL=64
BUDGET_WIDE=128

# --- the upstream, built once ------------------------------------------------------------
if [ "$(cut -d' ' -f1-2 "$UP/spec" 2>/dev/null)" != "$SELECT $MODE" ]; then
  bench_log "building the APT universe upstream ($MODE) from this host's Packages index"
  bash "$BENCH_ROOT/bench/apt/build-universe.sh" "$UP" "$MS" "$SELECT" \
    "$([ "$MODE" = smoke ] && echo smoke)" || bench_die "building the APT universe failed"
fi
rm -rf "$W"
mkdir -p "$W"
PORT=$(bench_nginx "$UP/www")
URL=http://127.0.0.1:$PORT/
text_mb() { # decompressed size of the indexes under dists/$1*, in MB
  find "$UP/www/dists" -path "*/dists/$1*" -name Packages.xz -exec xz -dc {} + | wc -c | awk '{printf "%.0f", $1 / 1e6}'
}
REAL_MB=$(text_mb real)
WIDE_MB=$(text_mb wide)
N_REAL=$(xz -dc "$UP/www/dists/real/main/binary-amd64/Packages.xz" | grep -c '^Package:')

bench_mirror_config "$W/real" "[[apt]]
name = \"real\"
url = \"$URL\"
suites = [\"real\"]
components = [\"main\"]
architectures = [\"amd64\"]
packages = [\"$SELECT\"]
recommends = false
keyring = \"$UP/keyring.gpg\""
bench_mirror_config "$W/wide" "[[apt]]
name = \"wide\"
url = \"$URL\"
suites = [\"wide\", \"wide-updates\", \"wide-security\"]
components = [\"main\", \"universe\", \"restricted\", \"multiverse\"]
architectures = [\"amd64\"]
packages = [\"$SELECT\"]
recommends = false
keyring = \"$UP/keyring.gpg\""

# debs DIR: the sizes of the blobs in DIR's store, sorted (equal across runs).
debs() { find "$1/store/blobs" -type f -size +0 -printf '%s\n' | sort -n | tr '\n' ' '; }

bench_log "selection $SELECT over $N_REAL packages ($REAL_MB MB of text) and over 12 indexes ($WIDE_MB MB); $BENCH_RUNS run(s), alternating"
for i in $(bench_runs); do
  for side in real wide; do
    rm -rf "$W/$side/store"
    s=$(bench_now)
    kib=$(bench_peak_rss "$MS" --quiet sync --config "$W/$side/mirror.toml")
    e=$(bench_now)
    bench_record "${side}_rss" "$(awk -v k="$kib" 'BEGIN {printf "%.1f", k / 1024}')"
    bench_record "${side}_s" "$(awk -v s="$s" -v e="$e" 'BEGIN {printf "%.3f", e - s}')"
    debs "$W/$side" > "$W/$side.files.$i"
  done
  bench_log "run $i: real $(bench_samples real_rss | awk '{print $NF}') MiB, wide $(bench_samples wide_rss | awk '{print $NF}') MiB"
done

# Every run of a side stored the same blobs, and it holds the selection's .debs.
for side in real wide; do
  n=$(sort -u "$W/$side".files.* | wc -l)
  [ "$n" = 1 ] || bench_die "$side: the runs stored different files"
done
N_DEBS=$(find "$UP/www/pool" -name '*.deb' | wc -l)
for side in real wide; do
  stored=$(find "$W/$side/store/blobs" -type f | xargs -r sha256sum | cut -d' ' -f1 | sort)
  while read -r h; do
    grep -qx "$h" <<<"$stored" || bench_die "$side: an upstream .deb of the selection was not stored"
  done < <(find "$UP/www/pool" -name '*.deb' -exec sha256sum {} + | cut -d' ' -f1)
done

bench_result 14 "APT sync peak RSS, real Debian index ($N_REAL packages, $REAL_MB MB of text), $SELECT + deps" MiB \
  "$(bench_median real_rss)" "$BUDGET_REAL" budget "<=1.0" \
  "budget 64 MiB (issue 15); runs $(bench_samples real_rss) MiB; wall $(bench_median real_s) s; $N_DEBS debs"
bench_result 14 "APT sync peak RSS, noble-sized universe (3 suites x 4 components, $WIDE_MB MB of text), $SELECT + deps" MiB \
  "$(bench_median wide_rss)" "$BUDGET_WIDE" budget "<=1.0" \
  "budget 128 MiB (issue 15); runs $(bench_samples wide_rss) MiB; wall $(bench_median wide_s) s"
