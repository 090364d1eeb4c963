#!/usr/bin/env bash
# Builds the Debian packages of mirror-server and mirror-sync with cargo-deb, and checks
# them with lintian.
#
#   deploy/deb/build.sh [--profile PROFILE] [--no-build] [--no-lintian]
#
# Output: <cargo target dir>/debian/mirror-server_<version>-1_<arch>.deb and
# mirror-sync_<version>-1_<arch>.deb (the target dir is ./target unless CARGO_TARGET_DIR
# says otherwise); the paths are printed on the last two lines.
#
#   --profile PROFILE  cargo profile of the binaries (default: release; the test
#                      tests/tests/e2e/deb_package.rs packs the `dev` binaries `cargo test`
#                      already built, which cargo-deb accepts with a warning)
#   --no-build         package the binaries already built for PROFILE
#   --no-lintian       skip lintian (it runs with --fail-on error otherwise; the warnings
#                      accepted are in deploy/deb/mirror-server.lintian-overrides and
#                      deploy/README.md)
#
# Steps: cargo build; each binary writes its man pages (`generate-manpages DIR`, one page
# per command and subcommand, clap_mangen) and completions (`completions bash|zsh|fish`,
# clap_complete) under deploy/deb/generated/; cargo deb packs them (stripped binaries,
# gzipped man pages, maintainer scripts from deploy/deb/mirror-server/, the unit from
# deploy/systemd/); lintian checks both packages.
#
# Needs cargo-deb $CARGO_DEB_VERSION (`cargo install cargo-deb --version 3.8.0 --locked`),
# dpkg-dev, and lintian unless --no-lintian.
set -euo pipefail

CARGO_DEB_VERSION=3.8.0
root="$(cd "$(dirname "$0")/../.." && pwd)"
profile=release
build=1
lint=1
while [ $# -gt 0 ]; do
  case "$1" in
  --profile)
    [ $# -ge 2 ] || { echo "build.sh: --profile needs a value" >&2; exit 2; }
    profile="$2"
    shift 2
    ;;
  --no-build) build=0; shift ;;
  --no-lintian) lint=0; shift ;;
  -h | --help) sed -n '2,27p' "$0"; exit 0 ;;
  *) echo "build.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

if ! command -v cargo-deb >/dev/null 2>&1; then
  echo "build.sh: cargo-deb is not installed; run: cargo install cargo-deb --version $CARGO_DEB_VERSION --locked" >&2
  exit 1
fi
have="$(cargo deb --version 2>/dev/null | awk '{print $NF}')"
if [ "$have" != "$CARGO_DEB_VERSION" ]; then
  echo "build.sh: warning: cargo-deb $have is installed, these packages are made with $CARGO_DEB_VERSION" >&2
fi
if [ "$lint" = 1 ] && ! command -v lintian >/dev/null 2>&1; then
  echo "build.sh: lintian is not installed; run: apt-get install lintian (or pass --no-lintian)" >&2
  exit 1
fi

cd "$root"
# Reproducible packages: the man pages' date is the last commit's (reproducible-builds.org).
# Given to the page generator only: exported to cargo, it would rebuild crates whose build
# scripts watch it.
man_date_epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
target_dir="$(cargo metadata --format-version 1 --no-deps --offline |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
case "$profile" in
dev | debug) profile_dir=debug ;;
*) profile_dir="$profile" ;;
esac

if [ "$build" = 1 ]; then
  cargo build --locked --profile "$profile" -p mirror-server -p mirror-sync
fi

generated="$root/deploy/deb/generated"
for bin in mirror-server mirror-sync; do
  exe="$target_dir/$profile_dir/$bin"
  [ -x "$exe" ] || { echo "build.sh: $exe is not built (run without --no-build, or cargo build --profile $profile -p $bin)" >&2; exit 1; }
  rm -rf "${generated:?}/$bin"
  mkdir -p "$generated/$bin/completions"
  SOURCE_DATE_EPOCH="$man_date_epoch" "$exe" generate-manpages "$generated/$bin/man"
  "$exe" completions bash >"$generated/$bin/completions/$bin"
  "$exe" completions zsh >"$generated/$bin/completions/_$bin"
  "$exe" completions fish >"$generated/$bin/completions/$bin.fish"
done

debs=()
for bin in mirror-server mirror-sync; do
  out="$(cargo deb -p "$bin" --no-build --profile "$profile" --strip --no-dbgsym --no-separate-debug-symbols --locked)"
  deb="$(printf '%s\n' "$out" | tail -n 1)"
  [ -f "$deb" ] || { echo "build.sh: cargo deb -p $bin printed no package path (got: $out)" >&2; exit 1; }
  debs+=("$deb")
done

if [ "$lint" = 1 ]; then
  lintian --fail-on error --info --tag-display-limit 0 "${debs[@]}"
fi
printf '%s\n' "${debs[@]}"
