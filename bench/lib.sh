# Shared helpers for the bench harness. Sourced by bench/run.sh and bench/pairs/*.sh;
# not run on its own.
#
# Environment (set by run.sh; defaults let a pair script run alone):
#   BENCH_ROOT     the workspace root
#   BENCH_BIN      directory with mirror-sync and mirror-server (release build)
#   BENCH_RUNS     runs per side (median taken; default 5)
#   BENCH_SMOKE    1 = smoke mode: tiny workloads, 1 run, 1 s load; checks the harness
#   BENCH_WORK     scratch directory for this pair (removed afterwards by run.sh)
#   BENCH_CACHE    downloads kept across runs (real .debs, wheels), default
#                  ${XDG_CACHE_HOME:-$HOME/.cache}/mirror-bench
#   BENCH_RESULTS  TSV file that bench_result appends to
#   BENCH_DURATION wrk duration (default 5s; 1s in smoke mode)
#
# A pair script measures both sides in the same run, interleaved A B A B, and reports
# the medians with bench_result; run.sh prints the table.

set -euo pipefail
BENCH_ROOT=${BENCH_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BENCH_BIN=${BENCH_BIN:-${CARGO_TARGET_DIR:-$BENCH_ROOT/target}/release}
BENCH_SMOKE=${BENCH_SMOKE:-0}
if [ "$BENCH_SMOKE" = 1 ]; then
  BENCH_RUNS=${BENCH_RUNS:-1}
  BENCH_DURATION=${BENCH_DURATION:-1s}
else
  BENCH_RUNS=${BENCH_RUNS:-5}
  BENCH_DURATION=${BENCH_DURATION:-5s}
fi
BENCH_CACHE=${BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mirror-bench}
if [ -z "${BENCH_WORK:-}" ]; then
  BENCH_WORK=$(mktemp -d "${TMPDIR:-/tmp}/mirror-bench.XXXXXX")
  BENCH_OWN_WORK=1
fi
BENCH_RESULTS=${BENCH_RESULTS:-$BENCH_WORK/results.tsv}
export BENCH_ROOT BENCH_BIN BENCH_SMOKE BENCH_RUNS BENCH_DURATION BENCH_CACHE BENCH_WORK BENCH_RESULTS
mkdir -p "$BENCH_CACHE" "$BENCH_WORK"
export DEBIAN_FRONTEND=noninteractive
unset PIP_FIND_LINKS

# Background processes started through bench_bg are stopped on exit. Their PIDs go to a
# file, not a variable, because the starters run inside $(...) subshells.
BENCH_PID_FILE=$BENCH_WORK/.pids
bench_cleanup() {
  local p
  if [ -f "$BENCH_PID_FILE" ]; then
    while read -r p; do kill "$p" 2>/dev/null || true; done < "$BENCH_PID_FILE"
  fi
  wait 2>/dev/null || true
  if [ "${BENCH_OWN_WORK:-0}" = 1 ] && [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$BENCH_WORK"; fi
}
trap bench_cleanup EXIT

# bench_log MSG...: progress on stderr (stdout is left to the table).
bench_log() { printf '  [%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# bench_die MSG...: fail the pair with a message.
bench_die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# bench_as_root CMD...: run CMD as root (directly, or through sudo).
bench_as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# bench_need CMD [DEBIAN_PACKAGE]: installs the package (default: CMD) when CMD is absent.
bench_need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  bench_log "installing ${2:-$1}"
  bench_as_root apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends "${2:-$1}" >/dev/null 2>&1 \
    || { bench_as_root apt-get update -qq >/dev/null 2>&1 &&
         bench_as_root apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends "${2:-$1}" >/dev/null; } \
    || bench_die "cannot install ${2:-$1}"
}

# bench_venv_tool NAME PIP_SPEC: a venv under BENCH_CACHE with PIP_SPEC installed;
# prints the venv's bin directory.
bench_venv_tool() {
  local venv="$BENCH_CACHE/venv-$1"
  if [ ! -x "$venv/bin/$1" ]; then
    bench_log "installing $2 into a venv"
    python3 -m venv "$venv" >/dev/null
    "$venv/bin/pip" install -q "$2" >/dev/null || bench_die "cannot pip install $2"
  fi
  echo "$venv/bin"
}

# bench_bg CMD...: starts CMD in the background, its stdout sent to stderr (so a
# starter called as $(...) returns at once), and stops it on exit; sets BENCH_LAST_PID.
bench_bg() {
  "$@" >&2 &
  BENCH_LAST_PID=$!
  echo "$BENCH_LAST_PID" >> "$BENCH_PID_FILE"
}

# bench_stop PID: stops one background process.
bench_stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# bench_free_port: an unused TCP port on 127.0.0.1.
bench_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# bench_wait_http URL: waits up to 15 s for URL to answer (any HTTP status).
bench_wait_http() {
  local _
  for _ in $(seq 150); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.1
  done
  bench_die "nothing answers at $1"
}

# bench_now: wall clock in seconds with nanoseconds.
bench_now() { date +%s.%N; }

# bench_wall CMD...: runs CMD (its output discarded unless BENCH_VERBOSE) and prints
# its wall time in seconds. A failing CMD fails the pair.
bench_wall() {
  local s e
  s=$(bench_now)
  if [ -n "${BENCH_VERBOSE:-}" ]; then "$@" >&2; else "$@" >/dev/null 2>"$BENCH_WORK/last.err" \
    || { cat "$BENCH_WORK/last.err" >&2; bench_die "failed: $*"; }; fi
  e=$(bench_now)
  awk -v s="$s" -v e="$e" 'BEGIN {printf "%.3f\n", e - s}'
}

# bench_peak_rss CMD...: runs CMD (output discarded) and prints its peak resident set
# size in KiB (getrusage of the children: the largest of CMD and its descendants).
bench_peak_rss() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
if r.returncode != 0:
    sys.stderr.write(r.stderr.decode(errors="replace"))
    sys.exit("failed: " + " ".join(sys.argv[1:]))
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
}

# bench_rss_kib PID: current resident set size of PID in KiB.
bench_rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# bench_drop_caches: drops the page cache when allowed. Returns 1 when it cannot (then
# both sides of a pair read from cache; say so in the note).
bench_drop_caches() {
  sync
  (echo 3 > /proc/sys/vm/drop_caches) 2>/dev/null
}

# bench_record KEY VALUE: stores one sample. bench_median KEY: the median of KEY's samples.
bench_record() { printf '%s %s\n' "$1" "$2" >> "$BENCH_WORK/samples"; }
bench_median() {
  awk -v k="$1" '$1 == k {print $2}' "$BENCH_WORK/samples" | sort -g \
    | awk '{a[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
# bench_samples KEY: the samples of KEY, space separated, in run order.
bench_samples() { awk -v k="$1" '$1 == k {printf "%s%s", sep, $2; sep = " "} END {print ""}' "$BENCH_WORK/samples"; }

# bench_runs: the run numbers, 1..BENCH_RUNS.
bench_runs() { seq "$BENCH_RUNS"; }

# bench_wrk URL [WRK_ARGS...]: one wrk load (default -t2 -c64, BENCH_DURATION); prints
# "<requests/s> <p99 ms> <bytes/s>". Non-2xx/3xx answers fail the pair.
bench_wrk() {
  local url=$1; shift
  local args=(-t2 -c64)
  [ $# -gt 0 ] && args=("$@")
  local out
  out=$(wrk "${args[@]}" -d"$BENCH_DURATION" --latency "$url")
  if grep -q 'Non-2xx or 3xx responses' <<<"$out"; then
    printf '%s\n' "$out" >&2
    bench_die "wrk got error answers from $url"
  fi
  awk '
    function ms(v,   n) { n = v + 0
      if (v ~ /us$/) return n / 1000; if (v ~ /ms$/) return n; if (v ~ /m$/) return n * 60000
      if (v ~ /s$/) return n * 1000; return n }
    function bytes(v,   n) { n = v + 0
      if (v ~ /GB$/) return n * 1073741824; if (v ~ /MB$/) return n * 1048576
      if (v ~ /KB$/) return n * 1024; return n }
    /Requests\/sec/ {r = $2}
    /^ +99%/ {p = ms($2)}
    /Transfer\/sec/ {b = bytes($2)}
    END {printf "%s %.3f %.0f\n", r, p, b}' <<<"$out"
}

# bench_nginx ROOT [SERVER_CONFIG]: starts nginx serving directory ROOT on a free port
# (2 workers, sendfile, keep-alive without a request limit, no access log): the peer at
# its best. SERVER_CONFIG is added inside the server block (locations, headers). Prints
# the port. Options, from the environment:
#   BENCH_NGINX_PORT=P         listen on P instead of a free port
#   BENCH_NGINX_ACCESS_LOG=F   log each request to F (nginx's "combined" format, or
#   BENCH_NGINX_LOG_FORMAT=S   this log_format string)
bench_nginx() {
  bench_need nginx nginx-light
  local root=$1 extra=${2:-} port dir
  port=${BENCH_NGINX_PORT:-$(bench_free_port)}
  dir="$BENCH_WORK/nginx-$port"
  mkdir -p "$dir"
  local user_line=""
  [ "$(id -u)" -eq 0 ] && user_line="user root;"
  local access="access_log off;"
  if [ -n "${BENCH_NGINX_ACCESS_LOG:-}" ]; then
    if [ -n "${BENCH_NGINX_LOG_FORMAT:-}" ]; then
      access="log_format bench '$BENCH_NGINX_LOG_FORMAT'; access_log $BENCH_NGINX_ACCESS_LOG bench;"
    else
      access="access_log $BENCH_NGINX_ACCESS_LOG;"
    fi
  fi
  cat > "$dir/nginx.conf" <<NGX
$user_line
worker_processes 2;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout 65;
  $access
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
    listen 127.0.0.1:$port;
    root $root;
    autoindex on;
$extra
  }
}
NGX
  bench_bg nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
  bench_wait_http "http://127.0.0.1:$port/"
  echo "$port"
}

# bench_registry DIR: starts Debian's docker-registry (CNCF distribution) storing in DIR
# on a free port; prints the port. BENCH_REGISTRY_LOG=FILE keeps its request log there.
bench_registry() {
  bench_need docker-registry
  local dir=$1 port
  port=$(bench_free_port)
  mkdir -p "$dir"
  local level=error
  [ -n "${BENCH_REGISTRY_LOG:-}" ] && level=info
  cat > "$dir.yml" <<Y
version: 0.1
storage: { filesystem: { rootdirectory: $dir }, delete: { enabled: true } }
http: { addr: 127.0.0.1:$port }
log: { level: $level, accesslog: { disabled: $([ "$level" = info ] && echo false || echo true) } }
Y
  if [ -n "${BENCH_REGISTRY_LOG:-}" ]; then
    bench_bg sh -c "exec docker-registry serve '$dir.yml' >>'$BENCH_REGISTRY_LOG' 2>&1"
  else
    bench_bg sh -c "exec docker-registry serve '$dir.yml' >/dev/null 2>&1"
  fi
  bench_wait_http "http://127.0.0.1:$port/v2/"
  echo "$port"
}

# bench_apt_upstream DIR DEBS: a signed APT repository under DIR/www/apt (suite and
# codename "stable", component main, amd64) of DEBS tiny real packages bench-pkg-1..DEBS,
# each depending on the one before, built with dpkg-deb, indexed by dpkg-scanpackages and
# apt-ftparchive (Packages, Packages.gz, Release) and signed with a throwaway ed25519 gpg
# key (InRelease, Release.gpg). The key's public keyring goes to DIR/upstream-keyring.gpg;
# the gpg home is DIR/gnupg, its agent stopped at the end.
bench_apt_upstream() {
  bench_need dpkg-scanpackages dpkg-dev
  bench_need apt-ftparchive apt-utils
  bench_need gpg
  local dir=$1 debs=$2 up=$1/www/apt i d dep
  mkdir -p "$up/pool/main" "$up/dists/stable/main/binary-amd64" "$dir/gnupg"
  chmod 700 "$dir/gnupg"
  for i in $(seq "$debs"); do
    d=$dir/deb/bench-pkg-$i
    mkdir -p "$d/DEBIAN" "$d/usr/share/doc/bench-pkg-$i"
    printf 'bench package %s\n' "$i" > "$d/usr/share/doc/bench-pkg-$i/README"
    dep=""; [ "$i" -gt 1 ] && dep="Depends: bench-pkg-$((i - 1))"$'\n'
    printf 'Package: bench-pkg-%s\nVersion: 1.0-%s\nArchitecture: amd64\nMaintainer: Bench <bench@invalid>\n%sDescription: benchmark package %s\n' \
      "$i" "$i" "$dep" "$i" > "$d/DEBIAN/control"
    dpkg-deb -Zgzip --build "$d" "$up/pool/main/bench-pkg-${i}_1.0-${i}_amd64.deb" >/dev/null
  done
  (cd "$up" && dpkg-scanpackages --multiversion pool/ 2>/dev/null > dists/stable/main/binary-amd64/Packages)
  gzip -9nk "$up/dists/stable/main/binary-amd64/Packages"
  (cd "$up/dists/stable" && apt-ftparchive -o APT::FTPArchive::Release::Suite=stable \
    -o APT::FTPArchive::Release::Codename=stable -o APT::FTPArchive::Release::Architectures=amd64 \
    -o APT::FTPArchive::Release::Components=main release . > Release)
  local g=(gpg --homedir "$dir/gnupg" --batch --quiet --pinentry-mode loopback)
  "${g[@]}" --passphrase '' --quick-gen-key 'Bench Upstream <bench@invalid>' ed25519 sign never 2>/dev/null
  "${g[@]}" --export > "$dir/upstream-keyring.gpg"
  "${g[@]}" --clearsign -o "$up/dists/stable/InRelease" "$up/dists/stable/Release"
  "${g[@]}" --armor --detach-sign -o "$up/dists/stable/Release.gpg" "$up/dists/stable/Release"
  gpgconf --homedir "$dir/gnupg" --kill gpg-agent 2>/dev/null || true
}

# bench_keys DIR: snapshot and repository keys for mirror-sync in DIR (once).
bench_keys() {
  [ -f "$1/snapshot.key" ] || "$BENCH_BIN/mirror-sync" --quiet keys generate --out "$1" >/dev/null
}

# bench_mirror_config DIR SECTIONS: writes DIR/mirror.toml (store DIR/store, channel
# bench, keys in DIR/keys) followed by SECTIONS (the [[apt]]/[[pypi]]/[[oci]] tables).
bench_mirror_config() {
  local dir=$1
  mkdir -p "$dir"
  bench_keys "$dir/keys"
  cat > "$dir/mirror.toml" <<T
store = "store"
channel = "bench"
[signing]
snapshot_key = "keys/snapshot.key"
repo_key = "keys/repo.key.asc"
$2
T
}

# bench_oci_table PORT IMAGE...: an [[oci]] table (name "local") for the docker-registry
# on 127.0.0.1:PORT with IMAGEs, referrers off; for bench_mirror_config's SECTIONS.
bench_oci_table() {
  local port=$1; shift
  local images
  images=$(printf '"%s", ' "$@")
  printf '[[oci]]\nname = "local"\nregistry = "127.0.0.1:%s"\nurl = "http://127.0.0.1:%s"\nimages = [%s]\nreferrers = false\n' \
    "$port" "$port" "${images%, }"
}

# bench_publish DIR SERVER_STORE: syncs DIR/mirror.toml, exports a full drive to
# DIR/drive and imports it into SERVER_STORE (the whole product path).
bench_publish() {
  local dir=$1 server=$2
  "$BENCH_BIN/mirror-sync" --quiet sync --config "$dir/mirror.toml" >/dev/null
  rm -rf "$dir/drive"
  "$BENCH_BIN/mirror-sync" --quiet export --config "$dir/mirror.toml" --to "$dir/drive" >/dev/null
  "$BENCH_BIN/mirror-server" import "$dir/drive" --store "$server" \
    --trusted-keys "$dir/keys/trusted" --quiet >/dev/null
}

# bench_serve STORE: starts mirror-server serve on a free port; prints the port (its PID:
# bench_pid_on_port PORT).
bench_serve() {
  local port
  port=$(bench_free_port)
  bench_bg sh -c "exec '$BENCH_BIN/mirror-server' serve --store '$1' --listen 127.0.0.1:$port >/dev/null 2>&1"
  bench_wait_http "http://127.0.0.1:$port/healthz"
  echo "$port"
}

# bench_pid_on_port PORT: PID of the process listening on 127.0.0.1:PORT.
bench_pid_on_port() {
  ss -Hltnp "sport = :$1" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1
}

# bench_same_bytes URL_A URL_B [CURL_ARGS...]: fails the pair unless both URLs answer
# with the same bytes (the two sides must serve identical content).
bench_same_bytes() {
  local a=$1 b=$2; shift 2
  local ha hb
  ha=$(curl -fsS "$@" "$a" | sha256sum | cut -d' ' -f1) || bench_die "GET $a failed"
  hb=$(curl -fsS "$@" "$b" | sha256sum | cut -d' ' -f1) || bench_die "GET $b failed"
  [ "$ha" = "$hb" ] || bench_die "$a and $b serve different bytes"
}

# bench_result ID WORKLOAD UNIT OURS PEER PEER_NAME TARGET [NOTE]
#   One row of the table: medians of both sides in UNIT, ratio = OURS / PEER, and
#   TARGET as a comparison of the ratio (">=1.0", "<=0.5"); NOTE is free text.
bench_result() {
  local id=$1 workload=$2 unit=$3 ours=$4 peer=$5 peer_name=$6 target=$7 note=${8:-}
  local ratio verdict
  ratio=$(awk -v a="$ours" -v b="$peer" 'BEGIN {if (b + 0 == 0) print "nan"; else printf "%.3f", a / b}')
  verdict=$(awk -v r="$ratio" -v t="$target" 'BEGIN {
    op = substr(t, 1, 2); v = substr(t, 3) + 0
    if (r == "nan") {print "n/a"; exit}
    if (op == ">=") ok = (r + 0 >= v); else if (op == "<=") ok = (r + 0 <= v); else {print "n/a"; exit}
    print ok ? "met" : "MISSED" }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$id" "$workload" "$unit" "$ours" "$peer" "$peer_name" "$ratio" "$target" "$verdict" "$note" \
    >> "$BENCH_RESULTS"
}
