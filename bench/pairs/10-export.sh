#!/usr/bin/env bash
# Pair 10 (not in issue 6's table; the export figure of issue 5): `mirror-sync export` of
# a held snapshot against `cp -r` of the same blob tree.
#
# An image of 8 incompressible 256 MiB layers (8 × 256 KiB in smoke mode) is pushed to a
# local docker-registry with skopeo and synced once; snapshot bench/1 is cut once. Then,
# on fresh target directories, alternately:
#   A: `cp -r STORE/blobs TARGET && sync`   (the same bytes, no checks)
#   B: `mirror-sync export --snapshot bench/1 --to TARGET` (one file after the other;
#      each read and hashed, each hashed range copied by the kernel, each file fsynced;
#      then the signed manifest and media description)
# The page cache is dropped before each side when allowed (otherwise both read from cache
# and the note says so). Row 10: export / cp wall time; no target (informational).
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/../lib.sh"
bench_need skopeo
W=$BENCH_WORK
if [ "$BENCH_SMOKE" = 1 ]; then LAYERS=8; UNIT_KIB=256; else LAYERS=8; UNIT_KIB=262144; fi

bench_log "building an image of $LAYERS layers of $UNIT_KIB KiB"
python3 "$BENCH_ROOT/bench/oci/make-layout.py" "$W/layout" "$LAYERS" $((UNIT_KIB << 10))
RP=$(bench_registry "$W/registry")
skopeo copy -q --dest-tls-verify=false "oci:$W/layout:1" "docker://127.0.0.1:$RP/bench/big:1"
rm -rf "$W/layout"
bench_mirror_config "$W/m" "$(bench_oci_table "$RP" bench/big:1)"
"$BENCH_BIN/mirror-sync" --quiet sync --config "$W/m/mirror.toml" >/dev/null
"$BENCH_BIN/mirror-sync" --quiet export --config "$W/m/mirror.toml" --to "$W/first" >/dev/null
rm -rf "$W/first" "$W/registry"
BYTES=$(du -sb "$W/m/store/blobs" | cut -f1)

cache="cold cache (dropped before each side)"
for run in $(bench_runs); do
  rm -rf "$W/cp" "$W/drive"
  bench_drop_caches || cache="warm cache on both sides (cannot drop the page cache)"
  bench_record cp "$(bench_wall sh -c "cp -r '$W/m/store/blobs' '$W/cp' && sync")"
  bench_drop_caches || true
  bench_record export "$(bench_wall "$BENCH_BIN/mirror-sync" --quiet export --config "$W/m/mirror.toml" \
    --snapshot bench/1 --to "$W/drive")"
  bench_log "run $run: cp $(bench_samples cp | awk '{print $NF}') s, export $(bench_samples export | awk '{print $NF}') s"
done
# The drive verifies (signatures, every blob's size and sha256) and carries every layer.
"$BENCH_BIN/mirror-sync" --quiet verify "$W/drive" --config "$W/m/mirror.toml" >/dev/null \
  || bench_die "the exported drive does not verify"
on_drive=$(find "$W/drive/blobs" -type f | wc -l)
[ "$on_drive" -ge $((LAYERS + 2)) ] || bench_die "the drive holds $on_drive blobs, expected at least $((LAYERS + 2))"
mb=$(awk -v b="$BYTES" 'BEGIN {printf "%.0f", b / 1e6}')
bench_result 10 "export vs cp -r ($mb MB, $((LAYERS + 2)) blobs)" s "$(bench_median export)" \
  "$(bench_median cp)" "cp -r + sync" "-" \
  "$cache; export hashes every byte against its digest and fsyncs every file; runs: export $(bench_samples export) / cp $(bench_samples cp)"
