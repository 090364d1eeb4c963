#!/usr/bin/env bash
# Side-by-side: mirror-server vs Debian's docker-registry (CNCF distribution) serving the
# same image — manifest GET by tag (req/s) and a 256 MiB blob (GB/s) — with
# `wrk -t2 -c64 -d5s`, interleaved A B A B, median of RUNS runs, printed as a ratio.
# Figures are ratios from one run on one machine; absolute numbers mean little here.
#
# Usage: bench/oci-serve.sh [RUNS]   (default 3). Needs: docker-registry skopeo wrk python3.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
export DEBIAN_FRONTEND=noninteractive
for t in docker-registry skopeo wrk; do
  command -v "$t" >/dev/null || { apt-get install -y -qq "$t" >/dev/null; }
done
cargo build --release --locked -q -p mirror-sync -p mirror-server
BIN=$PWD/target/release
W=$(mktemp -d /tmp/oci-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$W"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# 1. An image with a 256 MiB layer, written as an OCI layout.
python3 - "$W/layout" <<'PY'
import hashlib, json, os, sys
root = sys.argv[1]; b = os.path.join(root, "blobs", "sha256"); os.makedirs(b)
def put(data):
    h = hashlib.sha256(data).hexdigest(); open(os.path.join(b, h), "wb").write(data); return h, len(data)
layer = os.urandom(256 * 1024 * 1024)
lh, ls = put(layer)
cfg = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": ["sha256:" + lh]}}).encode()
ch, cs = put(cfg)
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + ch, "size": cs},
  "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + lh, "size": ls}]}).encode()
mh, ms = put(man)
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
  "digest": "sha256:" + mh, "size": ms, "annotations": {"org.opencontainers.image.ref.name": "1"}}]},
  open(os.path.join(root, "index.json"), "w"))
open(os.path.join(root, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
print(lh)
PY

# 2. docker-registry, seeded with skopeo.
RP=$(free_port)
cat > "$W/registry.yml" <<Y
version: 0.1
storage: { filesystem: { rootdirectory: $W/registry } }
http: { addr: 127.0.0.1:$RP }
log: { level: error }
Y
docker-registry serve "$W/registry.yml" >/dev/null 2>&1 &
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$RP/v2/" >/dev/null && break; sleep 0.2; done
skopeo copy -q --dest-tls-verify=false "oci:$W/layout:1" "docker://127.0.0.1:$RP/bench/big:1"
# The registry may have compressed the layer on push: take its digest from what it serves.
LAYER=$(curl -fs -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "http://127.0.0.1:$RP/v2/bench/big/manifests/1" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"].split(":")[1])')

# 3. mirror-sync -> drive -> mirror-server import -> serve.
"$BIN/mirror-sync" --quiet keys generate --out "$W/keys"
cat > "$W/mirror.toml" <<T
store = "store"
channel = "bench"
[signing]
snapshot_key = "keys/snapshot.key"
repo_key = "keys/repo.key.asc"
[[oci]]
name = "local"
registry = "127.0.0.1:$RP"
url = "http://127.0.0.1:$RP"
images = ["bench/big:1"]
referrers = false
T
"$BIN/mirror-sync" --quiet sync --config "$W/mirror.toml"
"$BIN/mirror-sync" --quiet export --config "$W/mirror.toml" --to "$W/drive"
"$BIN/mirror-server" import "$W/drive" --store "$W/server" --trusted-keys "$W/keys/trusted" --quiet
MP=$(free_port)
"$BIN/mirror-server" serve --store "$W/server" --listen "127.0.0.1:$MP" 2>/dev/null &
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$MP/v2/" >/dev/null && break; sleep 0.2; done

ACCEPT='Accept: application/vnd.oci.image.manifest.v1+json'
REG_M="http://127.0.0.1:$RP/v2/bench/big/manifests/1"
MIR_M="http://127.0.0.1:$MP/v2/127.0.0.1__$RP/bench/big/manifests/1"
REG_B="http://127.0.0.1:$RP/v2/bench/big/blobs/sha256:$LAYER"
MIR_B="http://127.0.0.1:$MP/v2/127.0.0.1__$RP/bench/big/blobs/sha256:$LAYER"
[ "$(curl -fs -H "$ACCEPT" "$REG_M" | sha256sum)" = "$(curl -fs -H "$ACCEPT" "$MIR_M" | sha256sum)" ] \
  || { echo "manifests differ"; exit 1; }
[ "$(curl -fs "$REG_B" | sha256sum)" = "$(curl -fs "$MIR_B" | sha256sum)" ] \
  || { echo "blobs differ (or one side does not serve the layer)"; exit 1; }

if [ -n "${RAW:-}" ]; then
  wrk -t2 -c64 -d5s -H "$ACCEPT" "$MIR_M"; wrk -t2 -c64 -d5s "$MIR_B"; wrk -t2 -c64 -d5s "$REG_B"; exit 0
fi
# req/s from wrk; for blobs, bytes/s ("Transfer/sec") converted to GB/s.
reqs() { wrk -t2 -c64 -d5s -H "$ACCEPT" "$1" | awk '/Requests\/sec/ {print $2}'; }
gbps() { wrk -t2 -c64 -d5s "$1" | tee -a "$W/wrk.log" | awk '/Transfer\/sec/ {v=$2; u=substr(v, length(v)-1); n=v+0;
  if (u=="GB") n*=1.073741824; else if (u=="MB") n*=0.001048576; else if (u=="KB") n*=0.000001024; printf "%.3f\n", n}'; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
: > "$W/r"
for i in $(seq "$RUNS"); do
  echo "reg_m $(reqs "$REG_M")" >> "$W/r"; echo "mir_m $(reqs "$MIR_M")" >> "$W/r"
  echo "reg_b $(gbps "$REG_B")" >> "$W/r"; echo "mir_b $(gbps "$MIR_B")" >> "$W/r"
done
m() { awk -v k="$1" '$1==k {print $2}' "$W/r" | median; }
printf '%-34s %14s %14s %8s\n' "workload (median of $RUNS)" "mirror-server" "docker-registry" "ratio"
printf '%-34s %14s %14s %8.2f\n' "manifest GET by tag, req/s" "$(m mir_m)" "$(m reg_m)" "$(echo "$(m mir_m) $(m reg_m)" | awk '{print $1/$2}')"
printf '%-34s %14s %14s %8.2f\n' "256 MiB blob, GB/s (c64)" "$(m mir_b)" "$(m reg_b)" "$(echo "$(m mir_b) $(m reg_b)" | awk '{print $1/$2}')"
