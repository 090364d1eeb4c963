#!/usr/bin/env bash
# Export throughput against `cp -r` of the same tree (issue 5).
#
#   bench/export-vs-cp.sh [LAYERS] [LAYER_MIB] [RUNS]     (defaults: 8 256 5)
#
# Builds an image of LAYERS incompressible layers, pushes it to a local docker-registry
# with skopeo, syncs it with mirror-sync, then alternates, on fresh target directories:
#   A: `cp -r STORE/blobs TARGET && sync`   (the same blob bytes, no checks)
#   B: `mirror-sync export --snapshot bench/1 --to TARGET`  (sequential, every file hashed
#      while written and fsynced, then the signed manifest and media description)
# The page cache is dropped before each side when this user may; otherwise both sides
# read from cache and the script says so. Prints each run and the median ratio export/cp.
# Needs: docker-registry skopeo python3 bc.
set -euo pipefail
cd "$(dirname "$0")/.."
LAYERS=${1:-8}; MIB=${2:-256}; RUNS=${3:-5}
export DEBIAN_FRONTEND=noninteractive
for t in docker-registry skopeo bc; do
  command -v "$t" >/dev/null || { apt-get install -y -qq "$t" >/dev/null; }
done
cargo build --release --locked -q -p mirror-sync
BIN=$PWD/target/release
W=$(mktemp -d "${TMPDIR:-/tmp}/export-bench.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$W"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

python3 - "$W/layout" "$LAYERS" "$MIB" <<'PY'
import hashlib, json, os, sys
root, n, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
b = os.path.join(root, "blobs", "sha256"); os.makedirs(b)
def put(data):
    h = hashlib.sha256(data).hexdigest(); open(os.path.join(b, h), "wb").write(data); return h, len(data)
layers = [put(os.urandom(mib * 1024 * 1024)) for _ in range(n)]
cfg = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": ["sha256:" + h for h, _ in layers]}}).encode()
ch, cs = put(cfg)
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + ch, "size": cs},
  "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + h, "size": s} for h, s in layers]}).encode()
mh, ms = put(man)
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
  "digest": "sha256:" + mh, "size": ms, "annotations": {"org.opencontainers.image.ref.name": "1"}}]},
  open(os.path.join(root, "index.json"), "w"))
open(os.path.join(root, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
PY

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
rm -rf "$W/layout" "$W/registry-copy"

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
# Cut snapshot bench/1 once (its first drive is discarded).
"$BIN/mirror-sync" --quiet export --config "$W/mirror.toml" --to "$W/first"
rm -rf "$W/first"
kill %1 2>/dev/null || true
BYTES=$(du -sb "$W/store/blobs" | cut -f1)

CACHE="cold (page cache dropped before each side)"
drop() { sync; if ! (echo 3 > /proc/sys/vm/drop_caches) 2>/dev/null; then CACHE="warm (cannot drop the page cache)"; fi; }
now() { date +%s.%N; }
ratios=()
for i in $(seq "$RUNS"); do
  rm -rf "$W/cp" "$W/drive"
  drop; s=$(now); cp -r "$W/store/blobs" "$W/cp"; sync; cp_t=$(echo "$(now) - $s" | bc)
  drop; s=$(now); "$BIN/mirror-sync" --quiet export --config "$W/mirror.toml" --snapshot bench/1 --to "$W/drive"; ex_t=$(echo "$(now) - $s" | bc)
  r=$(echo "scale=3; $ex_t / $cp_t" | bc)
  ratios+=("$r")
  printf 'run %d: cp -r + sync %6.2fs (%4.0f MB/s)   export %6.2fs (%4.0f MB/s)   ratio %s\n' "$i" "$cp_t" \
    "$(echo "$BYTES / $cp_t / 1000000" | bc -l)" "$ex_t" "$(echo "$BYTES / $ex_t / 1000000" | bc -l)" "$r"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "tree: $BYTES bytes in $((LAYERS + 2)) blobs (+ generated); cache: $CACHE"
echo "median export / cp -r ratio: $median"
