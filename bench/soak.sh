#!/usr/bin/env bash
# The soak (issue 16): mirror-server under mixed load for SECONDS while imports and
# rollbacks switch the live snapshot every SWITCH seconds.
#
#   bench/soak.sh [--seconds N] [--switch S] [--quiet N] [--smoke] [--json FILE] [--bin DIR] [--keep]
#
#   --seconds N  length of the soak (default 600)
#   --switch S   seconds between two snapshot switches (default 5)
#   --quiet N    length of the quiet run before it, same load, no switch (default 60)
#   --smoke      a check of the harness: 20 s soak, 5 s quiet, a switch every 2 s, tiny
#                upstreams, the debug binaries unless --bin; `.ci/run` runs it. Failed
#                requests and failed switches still fail it; RSS and p99 are reported only.
#   --json FILE  also write the figures as one JSON object to FILE
#   --bin DIR    use the mirror-sync/mirror-server binaries in DIR (no build)
#   --keep       keep the scratch directory (printed at the end)
#
# Setup: the whole product path, as bench pairs 1–3 build it. Local upstreams (a signed
# APT repository of tiny real .debs, the PEP 503 fixture index, docker-registry holding
# two images) → mirror-sync sync → export of snapshot bench/1 → mirror-server import and
# serve. Then a second image is added to the configuration; sync and export give
# bench/2, a superset of bench/1 whose generated indexes (APT Release and Packages, the
# OCI tag list, the SBOM) differ.
#
# Load, from the quiet run to the end: every path of bench/1's manifest (so it answers in
# both snapshots): APT indexes and .debs, simple pages, wheels and their metadata, OCI
# manifests by tag and digest, OCI blobs, the SBOMs. Two clients:
#   - wrk -t2 -c32 with bench/soak/load.lua: a random path per request, every other
#     request to an unchanging artifact with a random Range; latency and throughput;
#   - bench/soak/check.py: a random path per request, every body checked against the
#     digests the path has in bench/1 and bench/2, every range against the blob's bytes.
# Switches: `mirror-server import DRIVE2` (bench/2 becomes live) and `mirror-server
# rollback` (bench/1 becomes live), alternately, every SWITCH seconds; running servers
# switch within a second. RSS of the server is sampled every second.
#
# Targets: 0 failed requests (wrk: non-2xx answers and socket errors; check.py: any
# failure), 0 failed switches, RSS growth after the first minute ≤ 5 % (the highest RSS
# after minute 1 against the highest in minute 1), soak p99 ≤ 2 × quiet p99.
# Exit status: 0 when every target is met (in smoke mode: no failed request or switch),
# 1 otherwise, 2 on a usage error.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECS=600; SWITCH=5; QUIET=60; SMOKE=0; JSON=""; BIN=""; KEEP=""
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) SECS=$2; shift ;;
    --switch) SWITCH=$2; shift ;;
    --quiet) QUIET=$2; shift ;;
    --smoke) SMOKE=1; SECS=20; SWITCH=2; QUIET=5 ;;
    --json) JSON=$(realpath -m "$2"); shift ;;
    --bin) BIN=$2; shift ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/soak.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# shellcheck source=bench/bins.sh
source "$ROOT/bench/bins.sh"
[ -z "$BIN" ] && BIN=$(bench_bins "$ROOT" "$SMOKE")
"$ROOT/bench/install-peers.sh"
export BENCH_ROOT=$ROOT BENCH_BIN=$BIN BENCH_SMOKE=$SMOKE
[ -n "$KEEP" ] && export BENCH_KEEP=1
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
bench_need wrk
bench_need skopeo
W=$BENCH_WORK
[ -n "$KEEP" ] && trap 'bench_cleanup; echo "scratch directory kept: $W" >&2' EXIT
if [ "$SMOKE" = 1 ]; then DEBS=5; LAYER_KIB=256; else DEBS=60; LAYER_KIB=4096; fi

# --- upstreams and the two snapshots -----------------------------------------------------
bench_log "building the upstreams: APT ($DEBS packages), PyPI fixture index, two images"
bench_apt_upstream "$W" "$DEBS"
python3 "$ROOT/fixtures/pypi/make_index.py" "$W/www/pypi" >/dev/null
UP_PORT=$(bench_nginx "$W/www")
RP=$(bench_registry "$W/registry")
python3 "$ROOT/bench/oci/make-layout.py" "$W/layout-a" 3 $((LAYER_KIB << 10))
python3 "$ROOT/bench/oci/make-layout.py" "$W/layout-b" 2 $((LAYER_KIB << 10))
skopeo copy -q --dest-tls-verify=false "oci:$W/layout-a:1" "docker://127.0.0.1:$RP/soak/a:1"
skopeo copy -q --dest-tls-verify=false "oci:$W/layout-b:1" "docker://127.0.0.1:$RP/soak/b:1"
rm -rf "$W/layout-a" "$W/layout-b"

sections() { # IMAGE...: the configuration's upstream tables
  printf '[[apt]]\nname = "soak"\nurl = "http://127.0.0.1:%s/apt/"\nsuites = ["stable"]\n' "$UP_PORT"
  printf 'components = ["main"]\narchitectures = ["amd64"]\npackages = ["bench-pkg-%s"]\n' "$DEBS"
  printf 'keyring = "%s/upstream-keyring.gpg"\n' "$W"
  printf '[[pypi]]\nname = "pypi"\nurl = "http://127.0.0.1:%s/pypi/simple/"\nprojects = ["cube-client"]\n' "$UP_PORT"
  bench_oci_table "$RP" "$@"
}
bench_log "snapshot bench/1: sync → export → import"
bench_mirror_config "$W/m" "$(sections soak/a:1)"
mkdir -p "$W/m/keys/trusted/upstream"
cp "$W/upstream-keyring.gpg" "$W/m/keys/trusted/upstream/"
bench_publish "$W/m" "$W/server"
mv "$W/m/drive" "$W/drive1"
bench_log "snapshot bench/2 (one more image): sync → export"
bench_mirror_config "$W/m" "$(sections soak/a:1 soak/b:1)"
"$BIN/mirror-sync" --quiet sync --config "$W/m/mirror.toml" >/dev/null
"$BIN/mirror-sync" --quiet export --config "$W/m/mirror.toml" --to "$W/drive2" >/dev/null
M1=$W/drive1/snapshots/bench/1/manifest.json
M2=$W/drive2/snapshots/bench/2/manifest.json
[ -f "$M1" ] && [ -f "$M2" ] || bench_die "the drives do not hold bench/1 and bench/2"

# The path list: bench/1's artifacts with the digests they have in either snapshot.
PATHS=$W/paths.txt
python3 - "$M1" "$M2" "$W/drive1" > "$PATHS" <<'PY'
import json, sys
one, two = (json.load(open(p))["artifacts"] for p in sys.argv[1:3])
later = {a["path"]: a for a in two}
for a in one:
    b = later.get(a["path"])
    if b is None:
        sys.exit(f"bench/2 lacks {a['path']}: the soak needs a superset")
    digests = sorted({a["digest"][7:], b["digest"][7:]})
    same = int(len(digests) == 1)
    line = f"{a['path']} {','.join(digests)} {a['size']} {same}"
    if same:
        line += f" {sys.argv[3]}/blobs/sha256/{digests[0]}"
    print(line)
PY
CHANGED=$(awk '$4 == 0' "$PATHS" | wc -l)
bench_log "$(wc -l < "$PATHS") paths ($CHANGED differ between bench/1 and bench/2)"

PORT=$(bench_serve "$W/server")
URL=http://127.0.0.1:$PORT
PID=$(bench_pid_on_port "$PORT")
[ -n "$PID" ] || bench_die "no server pid on port $PORT"
live() { curl -fsS "$URL/healthz" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("snapshot", "?"))' 2>/dev/null || echo "?"; }

# --- the run ---------------------------------------------------------------------------------
TOTAL=$((QUIET + SECS))
bench_log "byte checker for $TOTAL s; RSS sampled every second"
python3 "$ROOT/bench/soak/check.py" "$URL" "$PATHS" "$TOTAL" "$W/check.json" &
CHECK=$!
T0=$(date +%s.%N)
( while kill -0 "$PID" 2>/dev/null; do
    printf '%s %s\n' "$(awk -v t0="$T0" -v t="$(date +%s.%N)" 'BEGIN {printf "%.1f", t - t0 - '"$QUIET"'}')" \
      "$(bench_rss_kib "$PID" 2>/dev/null || echo 0)"
    sleep 1
  done ) > "$W/rss.txt" &
RSSLOOP=$!
echo "$RSSLOOP" >> "$BENCH_PID_FILE"

wrk_run() { # SECONDS OUT
  SOAK_PATHS=$PATHS wrk -t2 -c32 -d"$1s" --timeout 10s --latency -s "$ROOT/bench/soak/load.lua" "$URL/" > "$2" 2>&1 || true
}
bench_log "quiet run: $QUIET s of load, no switch"
wrk_run "$QUIET" "$W/wrk-quiet.txt"

bench_log "soak: $SECS s of load, a switch every $SWITCH s"
wrk_run "$SECS" "$W/wrk-soak.txt" &
WRK=$!
switches=0; switch_failed=0; want=bench/1
: > "$W/switches.txt"
end=$(($(date +%s) + SECS - SWITCH))
while [ "$(date +%s)" -lt "$end" ]; do
  sleep "$SWITCH"
  s0=$(date +%s.%N)
  if [ "$want" = bench/1 ]; then
    op=import; want=bench/2
    "$BIN/mirror-server" import "$W/drive2" --store "$W/server" --trusted-keys "$W/m/keys/trusted" \
      --quiet > "$W/switch.out" 2>&1 && rc=0 || rc=$?
  else
    op=rollback; want=bench/1
    "$BIN/mirror-server" rollback --store "$W/server" > "$W/switch.out" 2>&1 && rc=0 || rc=$?
  fi
  switches=$((switches + 1))
  took=$(awk -v a="$s0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')
  printf '%s %s rc=%s %ss\n' "$(date +%H:%M:%S)" "$op" "$rc" "$took" >> "$W/switches.txt"
  if [ "$rc" != 0 ]; then
    switch_failed=$((switch_failed + 1))
    bench_log "$op failed (exit $rc): $(tail -3 "$W/switch.out" | tr '\n' ' ')"
    # Re-read what is live so the next switch goes the other way.
    [ "$(live)" = bench/2 ] && want=bench/2 || want=bench/1
  fi
  [ $((switches % 12)) -eq 0 ] && bench_log "$switches switches, live: $(live)"
done
wait "$WRK" || true
wait "$CHECK" || bench_die "check.py failed to run"
kill "$RSSLOOP" 2>/dev/null || true

# --- figures ---------------------------------------------------------------------------------
python3 - "$W" "$SECS" "$QUIET" "$SMOKE" "$switches" "$switch_failed" "${JSON:-}" <<'PY'
import json, re, sys
w, secs, quiet, smoke, switches, switch_failed, out = sys.argv[1:8]
secs, quiet, smoke = int(secs), int(quiet), smoke == "1"

def wrk(name):
    text = open(f"{w}/{name}").read()
    def ms(v):
        n = float(re.match(r"[\d.]+", v).group())
        return n / 1000 if v.endswith("us") else n * 1000 if v.endswith("s") and not v.endswith("ms") else n
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    status = re.search(r"^status: (\d+) (\d+)", text, re.M)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if not (p99 and rps and status):
        sys.exit(f"soak: cannot read wrk's output {name}:\n{text}")
    return {
        "requests": int(status.group(1)) + int(status.group(2)),
        "bad_status": int(status.group(2)),
        "socket_errors": sum(int(x) for x in sock.groups()) if sock else 0,
        "rps": float(rps.group(1)),
        "p99_ms": round(ms(p99.group(1)), 3),
        "bad_statuses": (re.search(r"^bad statuses:(.*)$", text, re.M).group(1).strip()
                         if re.search(r"^bad statuses:", text, re.M) else ""),
    }

q, s = wrk("wrk-quiet.txt"), wrk("wrk-soak.txt")
check = json.load(open(f"{w}/check.json"))
rss = [(float(t), int(k)) for t, k in (l.split() for l in open(f"{w}/rss.txt") if len(l.split()) == 2) if int(k) > 0]
soak_rss = [(t, k) for t, k in rss if 0 <= t <= secs]
minute = min(60, secs / 3)
first = [k for t, k in soak_rss if t <= minute]
after = [k for t, k in soak_rss if t > minute]
base, peak = (max(first) if first else 0), (max(after) if after else 0)
growth = (peak - base) / base * 100 if base else float("nan")
failed = q["bad_status"] + q["socket_errors"] + s["bad_status"] + s["socket_errors"] + check["failures"]
ratio = s["p99_ms"] / q["p99_ms"] if q["p99_ms"] else float("nan")
fig = {
    "seconds": secs, "quiet_seconds": quiet, "smoke": smoke,
    "switches": int(switches), "switches_failed": int(switch_failed),
    "requests": q["requests"] + s["requests"] + check["requests"],
    "failed_requests": failed,
    "wrk_quiet": q, "wrk_soak": s, "checker": check,
    "rss_kib_first_minute_max": base, "rss_kib_after_max": peak,
    "rss_kib_end": soak_rss[-1][1] if soak_rss else 0,
    "rss_growth_pct": round(growth, 2),
    "p99_quiet_ms": q["p99_ms"], "p99_soak_ms": s["p99_ms"], "p99_ratio": round(ratio, 3),
}
targets = [
    ("failed requests", failed, "= 0", failed == 0),
    ("failed switches", int(switch_failed), "= 0", int(switch_failed) == 0 and int(switches) > 0),
    ("RSS growth after the first minute, %", round(growth, 2), "<= 5", growth <= 5),
    ("p99 soak / quiet", round(ratio, 3), "<= 2", ratio <= 2),
]
fig["targets"] = [{"what": a, "value": v, "target": t, "met": m} for a, v, t, m in targets]
print(f"\n## soak: {secs} s, {switches} switches ({switch_failed} failed), after a {quiet} s quiet run\n")
print(f"requests: {fig['requests']} (wrk quiet {q['requests']}, wrk soak {s['requests']}, "
      f"checker {check['requests']} of which {check['ranges']} ranges, {check['bytes'] / 1e9:.2f} GB checked)")
print(f"throughput: quiet {q['rps']:.0f} req/s, soak {s['rps']:.0f} req/s")
print(f"RSS: {base / 1024:.1f} MiB peak in the first {minute:.0f} s, {peak / 1024:.1f} MiB peak after, "
      f"{fig['rss_kib_end'] / 1024:.1f} MiB at the end")
if check["first_failures"]:
    print("checker failures:\n  " + "\n  ".join(check["first_failures"]))
if q["bad_statuses"] or s["bad_statuses"]:
    print(f"wrk bad statuses: quiet [{q['bad_statuses']}] soak [{s['bad_statuses']}]")
print("\n| target | value | wanted | |\n|---|---|---|---|")
ok = True
for a, v, t, m in targets:
    enforced = not smoke or a.startswith("failed")
    verdict = "met" if m else ("MISSED" if enforced else "missed (smoke: not enforced)")
    ok = ok and (m or not enforced)
    print(f"| {a} | {v} | {t} | {verdict} |")
fig["ok"] = ok
if out:
    json.dump(fig, open(out, "w"), indent=1)
sys.exit(0 if ok else 1)
PY
