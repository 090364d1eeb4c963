#!/usr/bin/env bash
# The side-by-side benchmark harness: every pair of docs/performance.md in one run.
#
#   bench/run.sh [--smoke] [--runs N] [--only 1,4,9] [--json FILE] [--bin DIR] [--keep]
#
# Builds the release binaries, installs the missing peers (bench/install-peers.sh:
# nginx, docker-registry, aptly, bandersnatch, skopeo, wrk), and runs each pair script
# in bench/pairs/ in order; the pairs start the peers on 127.0.0.1. Every pair measures
# both sides in this run, interleaved A B A B, and reports the medians of N runs
# (default 5) and their ratio.
# Prints a Markdown table: workload, our median, the peer's median, ratio, target, met.
#
#   --smoke     checks the harness itself (tiny workloads, 1 run, 1 s loads, the debug
#               binaries unless --bin); figures are meaningless. `.ci/run` runs this.
#   --runs N    runs per side (median of N).
#   --only L    pair numbers to run (comma separated), e.g. --only 1,2,3.
#   --json F    also write the rows as JSON to F.
#   --bin DIR   use the mirror-sync/mirror-server binaries in DIR (no build).
#   --keep      keep the scratch directory (printed at the end).
#
# Exit status: 0 when every pair ran (missed targets are reported, not failures),
# 1 when a pair failed to run.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SMOKE=0; RUNS=""; ONLY=""; JSON=""; BIN=""; KEEP=""
while [ $# -gt 0 ]; do
  case $1 in
    --smoke) SMOKE=1 ;;
    --runs) RUNS=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --json) JSON=$2; shift ;;
    --bin) BIN=$2; shift ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# shellcheck source=bench/bins.sh
source "$ROOT/bench/bins.sh"
[ -z "$BIN" ] && BIN=$(bench_bins "$ROOT" "$SMOKE" --examples)
echo "installing the peers that are missing…" >&2
"$ROOT/bench/install-peers.sh"
export BENCH_ROOT=$ROOT BENCH_BIN=$BIN BENCH_SMOKE=$SMOKE
[ -n "$RUNS" ] && export BENCH_RUNS=$RUNS
TOP=$(mktemp -d "${TMPDIR:-/tmp}/mirror-bench.XXXXXX")
export BENCH_RESULTS=$TOP/results.tsv
: > "$BENCH_RESULTS"
[ -z "$KEEP" ] && trap 'rm -rf "$TOP"' EXIT

failed=()
start=$(date +%s)
for script in "$ROOT"/bench/pairs/[0-9]*.sh; do
  name=$(basename "$script" .sh)
  # NN-name.sh is pair NN; NN-MM-name.sh covers pairs NN to MM.
  first=${name%%-*}; rest=${name#*-}; last=${rest%%-*}
  if [[ $last =~ ^[0-9]+$ ]]; then rest=${rest#*-}; else last=$first; fi
  first=$((10#$first)); last=$((10#$last))
  num=$first; [ "$last" != "$first" ] && num="$first-$last"
  if [ -n "$ONLY" ]; then
    want=0
    for n in ${ONLY//,/ }; do [ "$n" -ge "$first" ] && [ "$n" -le "$last" ] && want=1; done
    [ "$want" = 1 ] || continue
  fi
  echo "== pair $num: $rest" >&2
  work=$TOP/$name
  mkdir -p "$work"
  t0=$(date +%s)
  if BENCH_WORK=$work bash "$script"; then
    echo "   done in $(( $(date +%s) - t0 )) s" >&2
  else
    echo "   pair $num FAILED after $(( $(date +%s) - t0 )) s" >&2
    failed+=("$num")
  fi
done

mode="median of ${BENCH_RUNS:-5} runs"
[ "$SMOKE" = 1 ] && mode="SMOKE: harness check, 1 tiny run, figures meaningless"
echo
echo "# bench/run.sh — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $mode"
echo
echo "| # | workload | unit | mirror | peer | peer median | ratio | target | |"
echo "|---|---|---|---|---|---|---|---|---|"
row=0
while IFS=$'\t' read -r id workload unit ours peer peer_name ratio target verdict note; do
  row=$((row + 1))
  printf '| %s | %s%s | %s | %s | %s | %s | %s | %s | %s |\n' "$id" "$workload" \
    "${note:+ [$row]}" "$unit" "$ours" "$peer_name" "$peer" "$ratio" "$target" "$verdict"
done < "$BENCH_RESULTS"
echo
row=0
while IFS=$'\t' read -r _ _ _ _ _ _ _ _ _ note; do
  row=$((row + 1))
  [ -n "$note" ] && echo "- [$row] $note"
done < "$BENCH_RESULTS"
echo
echo "total $(( $(date +%s) - start )) s" >&2

if [ -n "$JSON" ]; then
  python3 - "$BENCH_RESULTS" "$JSON" "$SMOKE" <<'PY'
import json, sys
keys = ["pair", "workload", "unit", "mirror", "peer", "peer_name", "ratio", "target", "verdict", "note"]
rows = [dict(zip(keys, line.rstrip("\n").split("\t"))) for line in open(sys.argv[1]) if line.strip()]
json.dump({"smoke": sys.argv[3] == "1", "rows": rows}, open(sys.argv[2], "w"), indent=2)
PY
fi
[ -n "$KEEP" ] && echo "scratch kept in $TOP" >&2
if [ ${#failed[@]} -gt 0 ]; then
  echo "pairs that failed to run: ${failed[*]}" >&2
  exit 1
fi
[ -s "$BENCH_RESULTS" ] || { echo "no pair reported a figure" >&2; exit 1; }
