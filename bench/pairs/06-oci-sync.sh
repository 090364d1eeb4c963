#!/usr/bin/env bash
# Pairs 6 and 7: OCI sync from a local registry.
#
#   6. mirror-sync sync vs `skopeo sync --all --src yaml --dest dir`: the same four images
#      (one a 3-platform index; layers shared between images) from Debian's
#      docker-registry (CNCF distribution) on 127.0.0.1, into a fresh store / fresh
#      directory each run; wall seconds, target ≤ 0.5× skopeo.
#   7. `mirror-sync sync` again with nothing changed (same store, same registry):
#      wall seconds against our own first sync, target ≤ 0.1×; the registry's access log
#      must show manifest requests only (no blob GET), their count goes into the note.
#
# Inputs: bench/oci/make-images.py writes an OCI layout (incompressible random layers,
# gzip level 0, 416 MiB of unique layers; 6.5 MiB in smoke mode), pushed once with
# `skopeo copy --all --preserve-digests` into a registry whose storage is kept under
# $BENCH_CACHE (pushing is setup, not measured). Both sides then read that registry.
# Runs alternate A B / B A, BENCH_RUNS times; medians are compared. After every run each
# side's set of digests (blobs and manifests, with sizes) must equal the generator's list.
source "$(dirname "$0")/../lib.sh"
bench_need skopeo
bench_need docker-registry
W=$BENCH_WORK
OCI=$BENCH_ROOT/bench/oci
if [ "$BENCH_SMOKE" = 1 ]; then UNIT=16384; else UNIT=1048576; fi
REPOS=(alpha beta gamma multi)

# --- the registry, seeded once ----------------------------------------------------------
# Keyed by the generator's content, so a changed generator gives a fresh registry.
KEY=$(sha256sum < "$OCI/make-images.py" | cut -c1-12)
SEED=$BENCH_CACHE/oci-sync-$KEY-$UNIT
start_registry() {
  local port
  port=$(bench_registry "$1")
  echo "$port" > "$W/registry.port"
}
if [ ! -f "$SEED/ready" ]; then
  bench_log "generating the images (unit $UNIT bytes) and pushing them to docker-registry"
  rm -rf "$SEED" "$W/layout"
  mkdir -p "$SEED"
  python3 "$OCI/make-images.py" "$W/layout" "$UNIT" > "$SEED/expected.tmp"
  start_registry "$SEED/registry"
  RP=$(cat "$W/registry.port")
  for r in "${REPOS[@]}"; do
    skopeo copy -q --all --preserve-digests --dest-tls-verify=false \
      "oci:$W/layout:$r-1" "docker://127.0.0.1:$RP/bench/$r:1" \
      || bench_die "skopeo copy of $r into the registry failed"
  done
  bench_stop "$(bench_pid_on_port "$RP")"
  rm -rf "$W/layout"
  awk '{print $2, $3}' "$SEED/expected.tmp" | sort > "$SEED/expected"
  mv "$SEED/expected.tmp" "$SEED/expected.kinds"
  touch "$SEED/ready"
fi
LOG=$W/registry.log
: > "$LOG"
BENCH_REGISTRY_LOG=$LOG start_registry "$SEED/registry"
RP=$(cat "$W/registry.port")
REG=127.0.0.1:$RP

# Workload figures, from the generator's list.
read -r NBLOBS MIB < <(awk '$1 == "layer" || $1 == "config" {n++; s += $3}
  END {printf "%d %.0f\n", n, s / 1048576}' "$SEED/expected.kinds")
NMAN=$(awk '$1 == "manifest" || $1 == "index"' "$SEED/expected.kinds" | wc -l)

# --- the two sides ----------------------------------------------------------------------
cat > "$W/skopeo-src.yaml" <<Y
$REG:
  tls-verify: false
  images:
$(for r in "${REPOS[@]}"; do printf '    bench/%s: ["1"]\n' "$r"; done)
Y
images=()
for r in "${REPOS[@]}"; do images+=("bench/$r:1"); done
bench_mirror_config "$W/ours" "$(bench_oci_table "$RP" "${images[@]}")"

# log_lines: lines in the registry's access log so far (combined log format lines).
log_lines() { grep -c '^127\.0\.0\.1 - ' "$LOG" || true; }
# requests_since N: the access-log lines after the first N.
requests_since() { grep '^127\.0\.0\.1 - ' "$LOG" | tail -n +"$(( $1 + 1 ))"; }

peer() {
  rm -rf "$W/skopeo"
  local n0 t
  n0=$(log_lines)
  t=$(bench_wall skopeo sync --all --preserve-digests --src yaml --dest dir \
    "$W/skopeo-src.yaml" "$W/skopeo")
  bench_record peer "$t"
  PEER_BLOB_GETS=$(requests_since "$n0" | grep -c '"GET /v2/[^ ]*/blobs/' || true)
  python3 "$OCI/digest-set.py" skopeo "$W/skopeo" > "$W/skopeo.set"
  diff "$SEED/expected" "$W/skopeo.set" >&2 \
    || bench_die "skopeo's directory does not hold exactly the generated blobs and manifests"
  rm -rf "$W/skopeo"
}
ours() {
  rm -rf "$W/ours/store"
  local n0 t
  n0=$(log_lines)
  t=$(bench_wall "$BENCH_BIN/mirror-sync" --quiet sync --config "$W/ours/mirror.toml")
  bench_record ours "$t"
  OURS_BLOB_GETS=$(requests_since "$n0" | grep -c '"GET /v2/[^ ]*/blobs/' || true)
  python3 "$OCI/digest-set.py" store "$W/ours/store" > "$W/ours.set"
  diff "$SEED/expected" "$W/ours.set" >&2 \
    || bench_die "mirror-sync's store does not hold exactly the generated blobs and manifests"
  # Pair 7: again, nothing changed upstream.
  sleep 0.2 # let the registry flush the first sync's log lines
  n0=$(log_lines)
  t=$(bench_wall "$BENCH_BIN/mirror-sync" --quiet sync --config "$W/ours/mirror.toml")
  bench_record resync "$t"
  sleep 0.2
  requests_since "$n0" > "$W/resync.requests"
  if grep -v '"GET /v2/[^ ]*/manifests/[^ ]* HTTP' "$W/resync.requests" >&2; then
    bench_die "the re-sync sent requests other than manifest GETs (above)"
  fi
  RESYNC_REQS=$(wc -l < "$W/resync.requests")
  RESYNC_BY_DIGEST=$(grep -c '/manifests/sha256:' "$W/resync.requests" || true)
  [ "$RESYNC_REQS" -gt 0 ] || bench_die "the registry logged no request during the re-sync"
  python3 "$OCI/digest-set.py" store "$W/ours/store" | diff "$SEED/expected" - >&2 \
    || bench_die "the re-sync changed the store"
}

bench_log "syncing ${#REPOS[@]} images ($NBLOBS blobs, $MIB MiB), $BENCH_RUNS runs per side"
for i in $(bench_runs); do
  if [ $((i % 2)) = 1 ]; then peer; ours; else ours; peer; fi
  bench_log "run $i: skopeo $(bench_samples peer | awk '{print $NF}') s," \
    "mirror-sync $(bench_samples ours | awk '{print $NF}') s, re-sync $(bench_samples resync | awk '{print $NF}') s"
done

bench_result 6 "OCI sync: ${#REPOS[@]} images incl. a 3-platform index ($NBLOBS blobs + $NMAN manifests, $MIB MiB)" s \
  "$(bench_median ours)" "$(bench_median peer)" "skopeo 1.9 sync" "<=0.5" \
  "same $((NBLOBS + NMAN)) digests on both sides; blob GETs: ours $OURS_BLOB_GETS, skopeo $PEER_BLOB_GETS (dir: keeps each image apart, shared layers fetched per image); ours fsyncs each blob"
bench_result 7 "OCI re-sync, nothing changed" s \
  "$(bench_median resync)" "$(bench_median ours)" "first sync" "<=0.1" \
  "$RESYNC_REQS registry requests, all manifest GETs ($((RESYNC_REQS - RESYNC_BY_DIGEST)) by tag, $RESYNC_BY_DIGEST by digest), no blob GET"
