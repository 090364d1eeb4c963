# bench_bins ROOT SMOKE [CARGO_ARGS...]: builds mirror-sync and mirror-server (and what
# CARGO_ARGS add, e.g. --examples) and prints the directory holding them: the debug build
# when SMOKE is 1 (smoke runs check the harness, not speed), else the release build.
# Sourced by bench/run.sh and bench/soak.sh before they know their binaries.
bench_bins() {
  local root=$1 smoke=$2 target
  shift 2
  target=${CARGO_TARGET_DIR:-$root/target}
  if [ "$smoke" = 1 ]; then
    (cd "$root" && cargo build --locked -q -p mirror-sync -p mirror-server --bins "$@") >&2
    echo "$target/debug"
  else
    echo "building release binaries…" >&2
    (cd "$root" && cargo build --release --locked -q -p mirror-sync -p mirror-server --bins "$@") >&2
    echo "$target/release"
  fi
}
