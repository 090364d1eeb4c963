#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each with libFuzzer and reports
# executions, crashes, timeouts and peak memory per target (issue 16).
#
#   fuzz/run.sh [SECONDS] [TARGET...]      SECONDS defaults to 600 (10 minutes a target)
#   fuzz/run.sh --list                     the targets
#   FUZZ_JOBS=2 fuzz/run.sh                two targets at a time (one core each)
#   FUZZ_PROFILE=smoke fuzz/run.sh 5       unoptimized, no sanitizer: the CI smoke
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`).
# Each target's corpus (fuzz/corpus/<target>, kept between runs, not committed) is seeded
# from the committed seeds (fuzz/seeds/<target>) and from this host's own files: its APT
# lists and keyrings and the METADATA of its installed Python packages. Findings land in
# fuzz/artifacts/<target>/; logs and the summary (summary.txt, summary.json) in
# fuzz/reports/. Exit status: 0 when no target found anything, 1 otherwise.
#
# Limits per run: 512 MiB RSS (an allocation or growth past it is a finding), 10 s per
# input (a slower input is a timeout finding), inputs up to 256 KiB.
set -euo pipefail
cd "$(dirname "$0")"

TARGETS_ALL=(deb822 apt_packages apt_release apt_index_stream inrelease openpgp_keyring
    pypi_simple pypi_names pypi_metadata oci snapshot_files http_headers deb_copyright)
if [[ "${1:-}" == "--list" ]]; then
    printf '%s\n' "${TARGETS_ALL[@]}"
    exit 0
fi
SECONDS_EACH="${1:-600}"
[[ $# -gt 0 ]] && shift
TARGETS=("$@")
[[ ${#TARGETS[@]} -eq 0 ]] && TARGETS=("${TARGETS_ALL[@]}")
RSS_LIMIT_MB=512
MAX_LEN=262144

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: cargo-fuzz is missing (cargo install cargo-fuzz --locked)" >&2
    exit 2
fi

# Debug assertions on: an arithmetic overflow on input is a finding, like a panic.
# FUZZ_PROFILE=smoke (what .ci/run sets) builds unoptimized and without AddressSanitizer:
# about half the build time, for runs of a few seconds.
if [[ "${FUZZ_PROFILE:-}" == smoke ]]; then
    echo "== building ${#TARGETS[@]} targets (smoke: unoptimized, no sanitizer, libFuzzer)"
    cargo +nightly fuzz build --dev --sanitizer none
    BIN_DIR="target/x86_64-unknown-linux-gnu/debug"
else
    echo "== building ${#TARGETS[@]} targets (release, debug assertions, AddressSanitizer, libFuzzer)"
    cargo +nightly fuzz build --debug-assertions
    BIN_DIR="target/x86_64-unknown-linux-gnu/release"
fi

# Seeds from this host: one file per source, capped in size so the corpus stays quick.
seed_host() {
    local t="$1" dir="corpus/$1" f i=0
    mkdir -p "$dir"
    cp -n seeds/"$t"/* "$dir"/ 2>/dev/null || true
    # The smoke's unoptimized build stays on the small committed seeds.
    [[ "${FUZZ_PROFILE:-}" == smoke ]] && return 0
    local helper=/usr/lib/apt/apt-helper
    case "$t" in
    deb822 | apt_packages | apt_index_stream)
        for f in /var/lib/apt/lists/*_Packages*; do
            [[ -e "$f" ]] || continue
            i=$((i + 1))
            local text="$dir/host-packages-$i"
            if [[ -x "$helper" ]]; then
                "$helper" cat-file "$f" 2>/dev/null | head -c 65536 >"$text" || true
            else
                head -c 65536 "$f" >"$text"
            fi
            if [[ "$t" == apt_index_stream ]]; then
                { printf '\0'; gzip -c "$text"; } >"$dir/host-gz-$i"
                { printf '\1'; xz -c "$text"; } >"$dir/host-xz-$i"
                { printf '\2'; cat "$text"; } >"$dir/host-plain-$i"
                rm -f "$text"
            fi
        done
        ;;
    apt_release | inrelease)
        for f in /var/lib/apt/lists/*InRelease /var/lib/apt/lists/*_Release; do
            [[ -e "$f" ]] || continue
            i=$((i + 1))
            head -c "$MAX_LEN" "$f" >"$dir/host-release-$i"
        done
        ;;
    openpgp_keyring)
        for f in /usr/share/keyrings/*.gpg /etc/apt/trusted.gpg.d/*; do
            [[ -f "$f" ]] || continue
            i=$((i + 1))
            head -c "$MAX_LEN" "$f" >"$dir/host-keyring-$i"
        done
        ;;
    pypi_metadata)
        for f in /usr/lib/python3/dist-packages/*.dist-info/METADATA; do
            [[ -e "$f" ]] || continue
            i=$((i + 1))
            head -c 65536 "$f" >"$dir/host-metadata-$i"
            if [[ $i -ge 40 ]]; then break; fi
        done
        ;;
    esac
}

# One target: fuzz it, then write its row (reports/<t>.row) and JSON (reports/<t>.json).
run_one() {
    local t="$1" log="reports/$1.log" marker="reports/$1.start" rc
    seed_host "$t"
    mkdir -p "artifacts/$t"
    touch "$marker"
    echo "== $t: ${SECONDS_EACH} s"
    set +e
    "$BIN_DIR/$t" "corpus/$t" \
        -max_total_time="$SECONDS_EACH" -rss_limit_mb="$RSS_LIMIT_MB" -malloc_limit_mb="$RSS_LIMIT_MB" \
        -timeout=10 -max_len="$MAX_LEN" -print_final_stats=1 \
        -artifact_prefix="artifacts/$t/" >"$log" 2>&1
    rc=$?
    set -e
    local execs rate rss crashes timeouts corpus
    execs=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    rate=$(grep -ao 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    rss=$(grep -ao 'stat::peak_rss_mb: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    crashes=$(find "artifacts/$t" -type f -newer "$marker" \( -name 'crash-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)
    timeouts=$(find "artifacts/$t" -type f -newer "$marker" \( -name 'timeout-*' -o -name 'slow-unit-*' \) | wc -l)
    corpus=$(find "corpus/$t" -type f | wc -l)
    if [[ $rc -ne 0 && $crashes -eq 0 && $timeouts -eq 0 ]]; then
        # libFuzzer stopped without leaving an input: count it, and keep the log.
        crashes=1
    fi
    printf '%-18s %12s %10s %8s %9s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$crashes" "$timeouts" "${rss:-?}" "$corpus" >"reports/$t.row"
    printf '  {"target": "%s", "seconds": %s, "executions": %s, "exec_per_sec": %s, "crashes": %s, "timeouts": %s, "peak_rss_mb": %s, "corpus": %s, "exit": %s}' \
        "$t" "$SECONDS_EACH" "${execs:-null}" "${rate:-null}" "$crashes" "$timeouts" "${rss:-null}" "$corpus" "$rc" >"reports/$t.json"
    cat "reports/$t.row"
    if [[ $rc -ne 0 ]]; then
        echo "   $t: finding; see fuzz/$log and fuzz/artifacts/$t/ (reproduce: cargo +nightly fuzz run $t <file>)"
    fi
}

mkdir -p reports
rm -f reports/*.row reports/*.json
# FUZZ_JOBS targets at a time (default 1; each libFuzzer process uses one core).
JOBS="${FUZZ_JOBS:-1}"
for t in "${TARGETS[@]}"; do
    while [[ $(jobs -rp | wc -l) -ge $JOBS ]]; do
        wait -n || true
    done
    run_one "$t" &
done
wait || true

SUMMARY=reports/summary.txt
JSON=reports/summary.json
found=0
printf '%-18s %12s %10s %8s %9s %8s %s\n' target executions exec/s crashes timeouts rss_mb corpus >"$SUMMARY"
echo "[" >"$JSON"
first=1
for t in "${TARGETS[@]}"; do
    if [[ ! -f "reports/$t.row" ]]; then
        echo "$t: no result (see fuzz/reports/$t.log)" >>"$SUMMARY"
        found=1
        continue
    fi
    cat "reports/$t.row" >>"$SUMMARY"
    read -r _ _ _ c to _ _ <"reports/$t.row"
    if [[ "$c" != 0 || "$to" != 0 ]]; then found=1; fi
    [[ $first -eq 1 ]] || echo "," >>"$JSON"
    first=0
    cat "reports/$t.json" >>"$JSON"
done
echo "" >>"$JSON"
echo "]" >>"$JSON"
echo "== summary (fuzz/$SUMMARY)"
cat "$SUMMARY"
exit "$found"
