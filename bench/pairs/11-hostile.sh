#!/usr/bin/env bash
# Pair 11: hostile clients, against fixed budgets (the "peer" column is the budget; issue 13).
#
# A release `mirror-server serve` (default limits) serves snapshot bench/1 (make-drive:
# four 1 MiB files); bench/2 (make-snapshot: 2,000 small .debs, 200 in smoke mode) is
# imported while the connections are held. bench/hostile/client.py holds HOSTILE
# connections (2,000; 200 in smoke mode) for HOLD seconds (30; 9 in smoke mode): a third
# idle, a third sending a request head at 1 byte/s, a third sending 400 KB of header
# fields that never end; whatever the server closes is reopened at once, so the pressure
# stays. While they are held:
#   - /healthz and a 1 MiB blob (its bytes checked) are fetched in a loop: the slowest
#     answer of each is the figure (budget 1 s);
#   - snapshot bench/2 is imported; the time from the end of the import until /healthz
#     names it is the figure (budget 5 s: the reload loop polls every second);
#   - peak RSS: VmHWM after the hold, reset before it (/proc/PID/clear_refs; else the peak
#     of VmRSS sampled every 100 ms). Budget 64 MiB.
# After the client exits and mirror_connections_open is back to 0, RSS is read 3 s later
# (the server trims freed heap after a burst). Budget 32 MiB.
#
# Rows: id 11, five rows, ratio = figure / budget, target <=1.0. Run notes carry the
# client's counts (connections opened, closed by the server) and the server's
# mirror_connections_refused_total.
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/../lib.sh"

if [ "$BENCH_SMOKE" = 1 ]; then
  HOSTILE=200
  HOLD=9
  SMALL=200
else
  HOSTILE=2000
  HOLD=30
  SMALL=2000
fi
HERE=$(cd "$(dirname "$0")/.." && pwd)
W=$BENCH_WORK/hostile
rm -rf "$W"
mkdir -p "$W"

example() {
  local bin=$BENCH_BIN/examples/$1 profile=()
  if [ ! -x "$bin" ]; then
    bench_log "building the $1 example"
    [ "$(basename "$BENCH_BIN")" = release ] && profile=(--release)
    (cd "$BENCH_ROOT" && cargo build --locked -q "${profile[@]}" -p mirror-server --example "$1") \
      || bench_die "cannot build the $1 example"
  fi
  [ -x "$bin" ] || bench_die "no $1 example in $BENCH_BIN/examples"
  echo "$bin"
}
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
status_kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }
# maxof FILE: the largest number in FILE (one per line).
maxof() { sort -g "$1" | tail -1; }

make_drive=$(example make-drive)
make_snapshot=$(example make-snapshot)
bench_log "writing snapshots bench/1 and bench/2"
"$make_drive" "$W/one" 4 4 >/dev/null || bench_die "make-drive failed"
BENCH_SEQUENCE=2 "$make_snapshot" "$W/two" "$SMALL" >/dev/null || bench_die "make-snapshot failed"
mkdir -p "$W/trusted"
cp "$W/one/trusted/bench.pub" "$W/trusted/one.pub"
cp "$W/two/trusted/bench.pub" "$W/trusted/two.pub"
BLOB=/bench/file-00001.bin
BLOB_SHA=$(python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))
print([a["digest"] for a in m["artifacts"] if a["path"] == sys.argv[2]][0].split(":")[1])' \
  "$W/one/drive/snapshots/bench/1/manifest.json" "${BLOB#/}") || bench_die "no $BLOB in bench/1"

for i in $(bench_runs); do
  store=$W/store-$i
  "$BENCH_BIN/mirror-server" import "$W/one/drive" --store "$store" --trusted-keys "$W/trusted" \
    --quiet || bench_die "import of bench/1 failed"
  port=$(bench_free_port)
  url=http://127.0.0.1:$port
  bench_bg "$BENCH_BIN/mirror-server" serve --store "$store" --listen "127.0.0.1:$port" \
    >/dev/null 2>>"$W/serve.log"
  pid=$BENCH_LAST_PID
  bench_wait_http "$url/healthz"
  want=$(curl -fsS "$url$BLOB" | sha256sum | cut -d' ' -f1)
  [ -n "$BLOB_SHA" ] && [ "$want" = "$BLOB_SHA" ] || bench_die "GET $BLOB: wrong bytes before the hold"
  idle_kib=$(status_kib "$pid" VmRSS)

  sampler=""
  rm -f "$W/sampled" "$W/stop-sampling"
  if ! (echo 5 > "/proc/$pid/clear_refs") 2>/dev/null; then
    (peak=0; while kill -0 "$pid" 2>/dev/null && [ ! -e "$W/stop-sampling" ]; do
       r=$(status_kib "$pid" VmRSS 2>/dev/null || echo 0); [ "${r:-0}" -gt "$peak" ] && peak=$r
       echo "$peak" > "$W/sampled"; sleep 0.1; done) &
    sampler=$!
  fi
  bench_log "run $i: holding $HOSTILE hostile connections for $HOLD s"
  python3 "$HERE/hostile/client.py" 127.0.0.1 "$port" "$HOSTILE" "$HOLD" > "$W/client.json" &
  client=$!
  sleep 3 # let the client open its connections
  : > "$W/health.s"; : > "$W/blob.s"
  switched=""
  t_import=""
  end=$(( $(date +%s) + HOLD - 5 ))
  while [ "$(date +%s)" -lt "$end" ]; do
    curl -sS -o /dev/null --max-time 10 -w '%{time_total}\n' "$url/healthz" >> "$W/health.s" \
      || echo 99 >> "$W/health.s"
    # bench/2 does not hold the blob: once it is live, bench/1's copy is fetched by name.
    blob_path=$BLOB; [ -n "$t_import" ] && blob_path=/snapshots/bench/1$BLOB
    got=$(curl -fsS --max-time 10 -w '\n%{time_total}' "$url$blob_path" -o "$W/blob.bin") || got=99
    echo "$got" | tail -1 >> "$W/blob.s"
    [ "$(sha256sum < "$W/blob.bin" | cut -d' ' -f1)" = "$BLOB_SHA" ] \
      || bench_die "GET $blob_path under attack: wrong bytes"
    if [ -z "$t_import" ]; then
      "$BENCH_BIN/mirror-server" import "$W/two/drive" --store "$store" \
        --trusted-keys "$W/trusted" --quiet || bench_die "import of bench/2 under attack failed"
      t_import=$(bench_now)
    fi
    if [ -z "$switched" ] && curl -fsS --max-time 10 "$url/healthz" | grep -q '"bench/2"'; then
      switched=$(awk -v a="$t_import" -v b="$(bench_now)" 'BEGIN {printf "%.3f", b - a}')
    fi
    [ -n "$switched" ] && sleep 0.5 || sleep 0.1
  done
  open_during=$(curl -fsS --max-time 10 "$url/metrics" | awk '$1 == "mirror_connections_open" {print $2}')
  wait "$client" || bench_die "the hostile client failed"
  if [ -n "$sampler" ]; then
    touch "$W/stop-sampling"; wait "$sampler" || true
    peak_kib=$(cat "$W/sampled")
  else
    peak_kib=$(status_kib "$pid" VmHWM)
  fi
  [ -n "$switched" ] || bench_die "no snapshot switch while the connections were held"
  for _ in $(seq 100); do
    open=$(curl -fsS --max-time 10 "$url/metrics" | awk '$1 == "mirror_connections_open" {print $2}')
    [ "${open:-9}" -le 1 ] && break
    sleep 0.1
  done
  sleep 3
  after_kib=$(status_kib "$pid" VmRSS)
  refused=$(curl -fsS --max-time 10 "$url/metrics" | awk '$1 == "mirror_connections_refused_total" {print $2}')
  bench_stop "$pid"
  bench_record health "$(maxof "$W/health.s")"
  bench_record blob "$(maxof "$W/blob.s")"
  bench_record switch "$switched"
  bench_record peak "$(mib "$peak_kib")"
  bench_record after "$(mib "$after_kib")"
  bench_log "run $i: healthz max $(maxof "$W/health.s") s, 1 MiB blob max $(maxof "$W/blob.s") s, switch $switched s, RSS idle $(mib "$idle_kib") / peak $(mib "$peak_kib") / after $(mib "$after_kib") MiB; open during hold $open_during, refused $refused; client $(cat "$W/client.json")"
  rm -rf "$store"
done

note="$HOSTILE conns held ${HOLD}s (idle, 1 B/s heads, 400 KB half heads); client: $(cat "$W/client.json")"
bench_result 11 "hostile: slowest /healthz while held" s "$(bench_median health)" 1 budget "<=1.0" \
  "$note; samples: $(bench_samples health)"
bench_result 11 "hostile: slowest 1 MiB blob while held" s "$(bench_median blob)" 1 budget "<=1.0" \
  "samples: $(bench_samples blob)"
bench_result 11 "hostile: snapshot switch while held" s "$(bench_median switch)" 5 budget "<=1.0" \
  "from the end of the import of bench/2 until /healthz names it; samples: $(bench_samples switch)"
bench_result 11 "hostile: peak RSS while held" MiB "$(bench_median peak)" 64 budget "<=1.0" \
  "samples: $(bench_samples peak)"
bench_result 11 "hostile: RSS after they close" MiB "$(bench_median after)" 32 budget "<=1.0" \
  "samples: $(bench_samples after)"
