#!/usr/bin/env bash
# Pairs 1–3: serving. One snapshot goes the whole product path (local upstreams →
# mirror-sync sync → export → mirror-server import → serve), then:
#
#   1. small files, mirror-server vs nginx serving the same bytes from a directory:
#      the PEP 503 page /simple/<project>/, an APT Packages.gz, an OCI manifest by tag;
#      `wrk -t2 -c64`; req/s (target ≥ 1.0× nginx) and p99 latency (target ≤ 1.5× nginx).
#   2. manifests, mirror-server vs docker-registry (CNCF distribution) holding the same
#      image: manifest GET by tag and by digest, `wrk -t2 -c64`; target ≥ 20× req/s.
#   3. a 1 GiB blob (an image layer), mirror-server vs nginx serving the same file:
#      1 client (`wrk -t1 -c1`) and 8 clients (`wrk -t2 -c8`); GB/s, target ≥ 0.95×.
#
# Every load runs BENCH_DURATION (5 s), the two sides alternate A B A B, BENCH_RUNS times;
# medians are compared. Before measuring, each URL pair is checked to serve the same bytes.
# Upstreams: nginx serving a generated APT repository (tiny real .debs built with
# dpkg-deb, indexed by apt-ftparchive, signed with a throwaway gpg key) and the PEP 503
# fixture index (fixtures/pypi/make_index.py); docker-registry seeded by skopeo with an
# image whose layer is 1 GiB of random bytes (8 MiB in smoke mode).
source "$(dirname "$0")/../lib.sh"
bench_need wrk
bench_need skopeo
W=$BENCH_WORK
if [ "$BENCH_SMOKE" = 1 ]; then LAYER_MIB=8; DEBS=5; else LAYER_MIB=1024; DEBS=60; fi

# --- upstreams -------------------------------------------------------------------------
bench_log "building the APT upstream ($DEBS packages)"
UP=$W/www
bench_apt_upstream "$W" "$DEBS"

bench_log "building the PyPI upstream (fixture index)"
python3 "$BENCH_ROOT/fixtures/pypi/make_index.py" "$UP/pypi" >/dev/null
UP_PORT=$(bench_nginx "$UP")

bench_log "building a ${LAYER_MIB} MiB image and pushing it to docker-registry"
python3 "$BENCH_ROOT/bench/oci/make-layout.py" "$W/layout" 1 $((LAYER_MIB << 20))
RP=$(bench_registry "$W/registry")
skopeo copy -q --dest-tls-verify=false "oci:$W/layout:1" "docker://127.0.0.1:$RP/bench/big:1"
rm -rf "$W/layout"

# --- the product path ----------------------------------------------------------------------
bench_log "mirror-sync sync → export → mirror-server import"
bench_mirror_config "$W/m" "
[[apt]]
name = \"bench\"
url = \"http://127.0.0.1:$UP_PORT/apt/\"
suites = [\"stable\"]
components = [\"main\"]
architectures = [\"amd64\"]
packages = [\"bench-pkg-$DEBS\"]
keyring = \"$W/upstream-keyring.gpg\"
[[pypi]]
name = \"pypi\"
url = \"http://127.0.0.1:$UP_PORT/pypi/simple/\"
projects = [\"cube-client\"]
$(bench_oci_table "$RP" bench/big:1)"
# The server accepts an upstream signature only from a keyring installed in its trust store.
mkdir -p "$W/m/keys/trusted/upstream"
cp "$W/upstream-keyring.gpg" "$W/m/keys/trusted/upstream/"
bench_publish "$W/m" "$W/server"
rm -rf "$W/m/drive" "$W/m/store"
MP=$(bench_serve "$W/server")
M=http://127.0.0.1:$MP

# --- the same bytes in a directory, for nginx ---------------------------------------------------
ACCEPT='Accept: application/vnd.oci.image.manifest.v1+json'
REPO=127.0.0.1__$RP/bench/big
SIMPLE=/simple/cube-client/
PACKAGES=/apt/bench/dists/stable/main/binary-amd64/Packages.gz
MANIFEST=/v2/$REPO/manifests/1
DIGEST=$(curl -fsSI -H "$ACCEPT" "$M$MANIFEST" | tr -d '\r' | awk -F': ' 'tolower($1) == "docker-content-digest" {print $2}')
LAYER=$(curl -fsS -H "$ACCEPT" "$M$MANIFEST" | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"])')
BLOB=/v2/$REPO/blobs/$LAYER
# The Accept header a client sends for PATH (manifests: the OCI manifest type).
accept() { case $1 in */manifests/*) echo "$ACCEPT" ;; *) echo 'Accept: */*' ;; esac; }
SAME=$W/same
for p in "$SIMPLE" "$PACKAGES" "$MANIFEST" "$BLOB"; do
  f=$SAME$p; [ "${p: -1}" = / ] && f=${f}index.html
  mkdir -p "$(dirname "$f")"
  curl -fsS -H "$(accept "$p")" -o "$f" "$M$p"
done
NP=$(bench_nginx "$SAME")
N=http://127.0.0.1:$NP
for p in "$SIMPLE" "$PACKAGES" "$MANIFEST" "$BLOB"; do bench_same_bytes "$M$p" "$N$p" -H "$(accept "$p")"; done
R=http://127.0.0.1:$RP/v2/bench/big/manifests
bench_same_bytes "$M$MANIFEST" "$R/1" -H "$ACCEPT"
bench_same_bytes "$M/v2/$REPO/manifests/$DIGEST" "$R/$DIGEST" -H "$ACCEPT"

# --- measurements ----------------------------------------------------------------------------
small() { # KEY URL: req/s and p99
  local r; r=$(bench_wrk "$2" -t2 -c64 -H "$(accept "$2")")
  bench_record "$1.rps" "$(cut -d' ' -f1 <<<"$r")"; bench_record "$1.p99" "$(cut -d' ' -f2 <<<"$r")"
}
big() { # KEY URL WRK_ARGS...: GB/s
  local key=$1 url=$2; shift 2
  local r; r=$(bench_wrk "$url" "$@")
  bench_record "$key.gbps" "$(awk -v b="$(cut -d' ' -f3 <<<"$r")" 'BEGIN {printf "%.3f", b / 1e9}')"
}
for run in $(bench_runs); do
  bench_log "run $run/$BENCH_RUNS"
  for w in simple:$SIMPLE packages:$PACKAGES manifest:$MANIFEST; do
    small "mirror.${w%%:*}" "$M${w#*:}"; small "nginx.${w%%:*}" "$N${w#*:}"
  done
  small mirror.bytag "$M$MANIFEST"; small registry.bytag "$R/1"
  small mirror.bydigest "$M/v2/$REPO/manifests/$DIGEST"; small registry.bydigest "$R/$DIGEST"
  big mirror.blob1 "$M$BLOB" -t1 -c1; big nginx.blob1 "$N$BLOB" -t1 -c1
  big mirror.blob8 "$M$BLOB" -t2 -c8; big nginx.blob8 "$N$BLOB" -t2 -c8
done

med() { bench_median "$1"; }
for w in "simple:PEP 503 page /simple/<p>/" "packages:APT Packages.gz" "manifest:OCI manifest by tag"; do
  k=${w%%:*}; label=${w#*:}
  bench_result 1 "$label" "req/s" "$(med "mirror.$k.rps")" "$(med "nginx.$k.rps")" "nginx 1.22" ">=1.0"
  bench_result 1 "$label, p99" "ms" "$(med "mirror.$k.p99")" "$(med "nginx.$k.p99")" "nginx 1.22" "<=1.5"
done
bench_result 2 "manifest GET by tag" "req/s" "$(med mirror.bytag.rps)" "$(med registry.bytag.rps)" "docker-registry 2.8" ">=20"
bench_result 2 "manifest GET by digest" "req/s" "$(med mirror.bydigest.rps)" "$(med registry.bydigest.rps)" "docker-registry 2.8" ">=20"
bench_result 3 "${LAYER_MIB} MiB blob, 1 client" "GB/s" "$(med mirror.blob1.gbps)" "$(med nginx.blob1.gbps)" "nginx 1.22" ">=0.95"
bench_result 3 "${LAYER_MIB} MiB blob, 8 clients" "GB/s" "$(med mirror.blob8.gbps)" "$(med nginx.blob8.gbps)" "nginx 1.22" ">=0.95"
