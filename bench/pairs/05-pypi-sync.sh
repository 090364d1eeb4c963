#!/usr/bin/env bash
# Pair 5: PyPI sync, mirror-sync against bandersnatch (and row 7: mirror-sync's re-sync
# with nothing changed against its own first sync).
#
# Workload: the same projects, latest release only, the same platform filter, from a
# LOCAL index of REAL wheels (bandersnatch 6.8 cannot mirror the PyPI these machines
# reach: no XML-RPC, no serial headers).
#   - Wheels: `pip download --no-deps --only-binary=:all:` (the host's pip configuration)
#     of two releases of each project, for CPython 3.11 on manylinux2014 x86_64, and for the
#     binary projects also on aarch64, Windows and macOS and (some) for CPython 3.12, so
#     that "latest release" and the platform filter both have files to drop. Cached in
#     $BENCH_CACHE/pypi-wheels-{smoke,full}; reruns are offline.
#   - Upstream: bench/pypi/make_upstream.py writes static files and one nginx (own config
#     below, access log on) serves them to both sides from the same port:
#       /simple            PEP 691 project list with _last-serial (bandersnatch,
#                          api-method = simple: no XML-RPC needed)
#       /pypi/<p>/json     JSON API document + X-PyPI-Last-Serial (bandersnatch)
#       /simple/<p>/       PEP 691 project page, core-metadata advertised (mirror-sync)
#       /packages/<p>/<f>  the wheels, and <f>.metadata (PEP 658) for mirror-sync
#   - Filter: mirror-sync `platforms = ["manylinux_2_17_x86_64", "any"]`,
#     `python = ["3.11"]`; bandersnatch `exclude_platform` with windows, macos,
#     manylinux2014_aarch64 and py3.12 (the same files survive for this index), plus
#     `allowlist_project` (exactly the projects) and `latest_release` keep = 1.
#     The projects are closed under Requires-Dist (requests and its four dependencies),
#     so mirror-sync's dependency closure adds nothing.
# Measured, interleaved, fresh state each run:
#   A  `mirror-sync sync` into an empty store, then again with nothing changed (row 7)
#   B  `bandersnatch -c conf mirror` into an empty directory
# Checks: both sides fetched the same set of distribution files (nginx access log);
# the re-sync fetched no distribution file and no index body again (every project page
# it asks for must be answered 304: a page sent again with a body fails the pair); its
# requests and the body bytes sent are in row 7's note.
source "$(dirname "$0")/../lib.sh"
HERE=$(cd "$(dirname "$0")/.." && pwd)

# name  newest  previous  variants (x86 = CPython 3.11 manylinux2014 x86_64, and pure wheels)
if [ "$BENCH_SMOKE" = 1 ]; then
  PROJECTS=(
    "idna 3.20 3.19 x86"
    "markupsafe 3.0.3 3.0.2 x86,win"
  )
  SET=smoke
else
  PROJECTS=(
    "requests 2.34.2 2.34.1 x86"
    "urllib3 2.8.0 2.7.0 x86"
    "idna 3.20 3.19 x86"
    "certifi 2026.10.18 2026.7.22 x86"
    "packaging 26.3 26.2 x86"
    "charset-normalizer 3.5.2 3.5.1 x86,arm,win,mac,x86-312"
    "pyyaml 6.0.3 6.0.2 x86,arm,win,mac,x86-312"
    "markupsafe 3.0.3 3.0.2 x86,arm,win,mac,x86-312"
    "psutil 7.2.2 7.2.1 x86,arm,win,mac"
    "numpy 2.2.6 2.2.5 x86,arm,win,mac"
  )
  SET=full
fi
# variant -> "pip platform, python version"
declare -A VARIANT=(
  [x86]="manylinux2014_x86_64 3.11"
  [arm]="manylinux2014_aarch64 3.11"
  [win]="win_amd64 3.11"
  [mac]="macosx_11_0_arm64 3.11"
  [x86-312]="manylinux2014_x86_64 3.12"
)
MS_PLATFORMS='["manylinux_2_17_x86_64", "any"]'
MS_PYTHON='["3.11"]'
BS_EXCLUDE="windows macos manylinux2014_aarch64 py3.12"
PLATFORM_LABEL="cp311 manylinux2014 x86_64 + any"
# bandersnatch's download concurrency: packages in parallel (its maximum is 10).
BS_WORKERS=${BENCH_BS_WORKERS:-10}
SERIAL=1000

bench_need nginx nginx-light
BS_BIN=$(bench_venv_tool bandersnatch bandersnatch)
BS_VERSION=$("$BS_BIN/python" -c 'import bandersnatch; print(bandersnatch.__version__)')

# --- wheels (cached) ---------------------------------------------------------------
WHEELS=$BENCH_CACHE/pypi-wheels-$SET
mkdir -p "$WHEELS"
fetch_wheels() {
  local v idx plat py reqs line name new old variants marker
  for v in "${!VARIANT[@]}"; do
    read -r plat py <<<"${VARIANT[$v]}"
    for idx in 2 3; do
      reqs=()
      for line in "${PROJECTS[@]}"; do
        read -r name new old variants <<<"$line"
        [[ ",$variants," == *",$v,"* ]] || continue
        if [ "$idx" = 2 ]; then reqs+=("$name==$new"); else reqs+=("$name==$old"); fi
      done
      [ ${#reqs[@]} -gt 0 ] || continue
      marker="$WHEELS/.done-$(printf '%s ' "$plat" "$py" "${reqs[@]}" | sha256sum | cut -c1-16)"
      [ -f "$marker" ] && continue
      bench_log "pip download (${plat}, python ${py}): ${reqs[*]}"
      python3 -m pip download -q --no-deps --only-binary=:all: --implementation cp \
        --python-version "$py" --abi "cp${py/./}" --platform "$plat" \
        -d "$WHEELS" "${reqs[@]}" >&2 || bench_die "pip download failed: ${reqs[*]}"
      touch "$marker"
    done
  done
}
fetch_wheels
NAMES=()
for line in "${PROJECTS[@]}"; do read -r name _ <<<"$line"; NAMES+=("$name"); done

# --- the upstream -------------------------------------------------------------------
PORT=$(bench_free_port)
BASE="http://127.0.0.1:$PORT"
WEB=$BENCH_WORK/upstream
python3 "$HERE/pypi/make_upstream.py" "$WHEELS" "$WEB" "$BASE" "$SERIAL"
LOG=$BENCH_WORK/access.log
: > "$LOG"
# What both tools ask for (locations inside the server block; see the header comment).
SERVER_CONFIG='
    # bandersnatch (api-method = simple): the project list.
    location = /simple {
      types { }
      default_type application/vnd.pypi.simple.v1+json;
      try_files /simple/index.json =404;
    }
    # mirror-sync: PEP 691 project pages.
    location /simple/ {
      types { }
      default_type application/vnd.pypi.simple.v1+json;
      index index.json;
    }
    # bandersnatch: the JSON API, with the serial it checks.
    location ~ ^/pypi/([^/]+)/json/?$ {
      types { }
      default_type application/json;
      add_header X-PyPI-Last-Serial SERIAL always;
      try_files /pypi/$1/index.json =404;
    }
    location /packages/ { }'
# The port was chosen before the pages were written (they carry absolute URLs).
BENCH_NGINX_PORT=$PORT BENCH_NGINX_ACCESS_LOG=$LOG \
  BENCH_NGINX_LOG_FORMAT='$request_method $request_uri $status $body_bytes_sent' \
  bench_nginx "$WEB" "${SERVER_CONFIG/SERIAL/$SERIAL}" >/dev/null

# --- both sides' configuration ---------------------------------------------------------
MS=$BENCH_WORK/ms
projects_toml=$(printf '"%s", ' "${NAMES[@]}")
bench_mirror_config "$MS" "[[pypi]]
name = \"local\"
url = \"$BASE/simple/\"
projects = [${projects_toml%, }]
platforms = $MS_PLATFORMS
python = $MS_PYTHON
sdists = false"

BS=$BENCH_WORK/bs
mkdir -p "$BS"
{
  cat <<INI
[mirror]
directory = $BS/mirror
master = $BASE
allow-non-https = true
api-method = simple
json = false
release-files = true
hash-index = false
workers = $BS_WORKERS
stop-on-error = true
timeout = 30
global-timeout = 1800

[plugins]
enabled =
    allowlist_project
    latest_release
    exclude_platform

[latest_release]
keep = 1

[allowlist]
packages =
INI
  printf '    %s\n' "${NAMES[@]}"
  printf '\n[blocklist]\nplatforms =\n'
  printf '    %s\n' $BS_EXCLUDE
} > "$BS/bandersnatch.conf"

# log_mark: the access log's line count; log_since N: its lines after line N.
log_mark() { wc -l < "$LOG"; }
log_since() { tail -n +"$(($1 + 1))" "$LOG"; }
# dist_files: distribution files fetched (200) in the log lines on stdin, sorted.
dist_files() { awk '$1 == "GET" && $3 == 200 && $2 ~ /^\/packages\/.*\.whl$/ {n = split($2, p, "/"); print p[n]}' | sort; }

# measure KEY NAME CMD...: times CMD as sample KEY; its access-log lines go to NAME.log
# and the distribution files it fetched to NAME.files (in BENCH_WORK).
measure() {
  local key=$1 name=$2 from to
  shift 2
  from=$(log_mark)
  bench_record "$key" "$(bench_wall "$@")"
  to=$(log_mark)
  log_since "$from" | head -n $((to - from)) > "$BENCH_WORK/$name.log"
  dist_files < "$BENCH_WORK/$name.log" > "$BENCH_WORK/$name.files"
}

ms_sync() { "$BENCH_BIN/mirror-sync" --quiet sync --config "$MS/mirror.toml"; }
bs_sync() { "$BS_BIN/bandersnatch" -c "$BS/bandersnatch.conf" mirror; }

RESYNC_REQS=""
for run in $(bench_runs); do
  # A: mirror-sync, first sync into an empty store.
  rm -rf "$MS/store"
  measure ms ms ms_sync
  # A': the same again with nothing changed (row 7).
  measure resync resync ms_sync
  # B: bandersnatch into an empty directory.
  rm -rf "$BS/mirror"
  measure bs bs bs_sync
  # Context for the note: bandersnatch's Python start-up alone.
  t=$(bench_wall "$BS_BIN/bandersnatch" --version); bench_record bs_start "$t"
  bench_log "run $run: mirror-sync $(bench_samples ms | awk '{print $NF}') s (re-sync $(bench_samples resync | awk '{print $NF}') s), bandersnatch $(bench_samples bs | awk '{print $NF}') s"

  # Same distribution files on both sides, each fetched once, and on disk for bandersnatch.
  [ -s "$BENCH_WORK/ms.files" ] || bench_die "mirror-sync fetched no distribution file"
  if ! diff -u "$BENCH_WORK/bs.files" "$BENCH_WORK/ms.files" >&2; then
    bench_die "bandersnatch (-) and mirror-sync (+) fetched different files"
  fi
  [ -z "$(uniq -d "$BENCH_WORK/ms.files")" ] || bench_die "mirror-sync fetched a file twice"
  on_disk=$(cd "$BS/mirror/web/packages" && find . -name '*.whl' -printf '%f\n' | sort)
  [ "$on_disk" = "$(cat "$BENCH_WORK/bs.files")" ] || bench_die "bandersnatch's tree differs from what it fetched"
  # The re-sync fetches index documents only.
  resync_dist=$(dist_files < "$BENCH_WORK/resync.log" | wc -l)
  [ "$resync_dist" = 0 ] || bench_die "the re-sync fetched $resync_dist distribution files (only index requests are allowed)"
  # No index body downloaded twice: project pages (and .metadata sidecars) answered
  # 200 with a body are bodies sent again (a 304 sends none).
  again=$(awk '($2 ~ /^\/simple\// || $2 ~ /\.metadata$/) && ($3 == 200 || $3 == 206) && $4 > 0 {print $2, $3, $4}' "$BENCH_WORK/resync.log")
  [ -z "$again" ] || bench_die "the re-sync downloaded index bodies again: $(echo "$again" | head -5 | tr '\n' ' ')"
  RESYNC_REQS="index bodies re-downloaded: 0 ($(wc -l < "$BENCH_WORK/resync.log") requests, $(awk '{b += $4} END {print b + 0}' "$BENCH_WORK/resync.log") bytes: $(awk '$2 ~ /^\/simple\// {s++} $3 == 304 {n++} $2 ~ /\.metadata$/ {m++} END {printf "%d project pages, %d answered 304, %d .metadata", s, n, m}' "$BENCH_WORK/resync.log")), $resync_dist distribution files"
done

FILES=$(wc -l < "$BENCH_WORK/ms.files")
BYTES=$(awk '$1 == "GET" && $3 == 200 && $2 ~ /^\/packages\/.*\.whl$/ {b += $4} END {print b + 0}' "$BENCH_WORK/ms.log")
MB=$(awk -v b="$BYTES" 'BEGIN {printf "%.1f", b / 1e6}')
UPSTREAM_FILES=$(find "$WHEELS" -name '*.whl' | wc -l)
bench_result 5 "PyPI sync: ${#NAMES[@]} projects latest, $PLATFORM_LABEL ($FILES files, $MB MB)" s \
  "$(bench_median ms)" "$(bench_median bs)" "bandersnatch $BS_VERSION" "<=1.0" \
  "from $UPSTREAM_FILES wheels upstream; same files both sides; requests: mirror-sync $(wc -l < "$BENCH_WORK/ms.log"), bandersnatch $(wc -l < "$BENCH_WORK/bs.log"); bandersnatch workers=$BS_WORKERS, its start-up alone (--version) $(bench_median bs_start) s"
bench_result 7 "PyPI re-sync, nothing changed" s \
  "$(bench_median resync)" "$(bench_median ms)" "first sync" "<=0.1" "$RESYNC_REQS"
