#!/usr/bin/env bash
# BENCH-ONLY: a snapshot drive shaped like a real Cube drive, made by our own mirror-sync
# (pair 12, issue 15). Sourced by bench/pairs/12-real-import.sh after bench/lib.sh.
#
#   real_drive OUT TOTAL_MIB DEBS LIST...
#
# Builds (bench/real/make_inputs.py) a few hundred debs of 10 KB-100 MB and tens of wheels
# of 100 MiB-1 GiB (TOTAL_MIB in all), a local signed APT upstream whose Packages.xz
# indexes are the full text of LIST... (real package lists of this host's apt, one per
# suite and component) plus stanzas for those debs, and a PEP 691 index of the wheels
# (bench/pypi/make_upstream.py); serves both with nginx; runs mirror-sync sync (every deb,
# every wheel) and export; writes the trust bundle (snapshot key and the upstream keyring).
# Keeps OUT/drive and OUT/trusted only; everything else (upstream, sync store) is deleted
# as soon as it is no longer needed, so the peak disk use is about twice TOTAL_MIB.
# OUT/done marks a finished drive.
#
# The upstream archive key is a throwaway Ed25519 key made with gpg --homedir in OUT.
real_drive() {
  local out=$1 total=$2 debs=$3; shift 3
  local tmp=$out.tmp here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  rm -rf "$out" "$tmp"
  mkdir -p "$tmp"
  bench_log "real drive: writing $debs debs and the wheels ($total MiB) with the package lists of $#"
  python3 "$here/real/make_inputs.py" "$tmp/up" "$total" "$debs" "$@" \
    || bench_die "make_inputs.py failed"

  # The upstream APT archive: Release per suite, signed InRelease.
  local gh=$tmp/gnupg fpr suite comps
  mkdir -m 700 "$gh"
  g() { gpg --homedir "$gh" --batch --no-tty --quiet "$@"; }
  g --passphrase '' --quick-gen-key 'Mirror Bench Real Archive <bench@example.invalid>' ed25519 cert never 2>/dev/null
  fpr=$(g --with-colons --list-keys | awk -F: '/^fpr:/ {print $10; exit}')
  g --passphrase '' --quick-add-key "$fpr" ed25519 sign never 2>/dev/null
  g --export "$fpr" > "$tmp/real-archive.gpg"
  comps=$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["components"]))' "$tmp/up/apt.json")
  for suite in $(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["suites"]))' "$tmp/up/apt.json"); do
    (cd "$tmp/up/www/apt/dists/$suite" && apt-ftparchive \
      -o APT::FTPArchive::Release::Origin=Bench -o APT::FTPArchive::Release::Label=Bench \
      -o APT::FTPArchive::Release::Suite="$suite" -o APT::FTPArchive::Release::Codename="$suite" \
      -o APT::FTPArchive::Release::Architectures=amd64 \
      -o APT::FTPArchive::Release::Components="$comps" release .) > "$tmp/Release"
    mv "$tmp/Release" "$tmp/up/www/apt/dists/$suite/Release"
    g --local-user "$fpr" --digest-algo SHA512 --clearsign \
      --output "$tmp/up/www/apt/dists/$suite/InRelease" "$tmp/up/www/apt/dists/$suite/Release"
  done
  gpgconf --homedir "$gh" --kill gpg-agent >/dev/null 2>&1 || true

  # The Python index, on the same nginx (pages carry absolute URLs: port first).
  local port base
  port=$(bench_free_port)
  base=http://127.0.0.1:$port
  python3 "$here/pypi/make_upstream.py" "$tmp/up/wheels" "$tmp/up/www" "$base" 1000 >/dev/null \
    || bench_die "make_upstream.py failed"
  BENCH_NGINX_PORT=$port bench_nginx "$tmp/up/www" '
    location /simple/ {
      types { }
      default_type application/vnd.pypi.simple.v1+json;
      index index.json;
    }' >/dev/null
  local nginx_pid=$BENCH_LAST_PID

  local list
  list() { python3 -c 'import json,sys; print(", ".join("\"%s\"" % x for x in json.load(open(sys.argv[1]))[sys.argv[2]]))' "$@"; }
  bench_mirror_config "$tmp/ms" "[[apt]]
name = \"real\"
url = \"$base/apt/\"
suites = [$(list "$tmp/up/apt.json" suites)]
components = [$(list "$tmp/up/apt.json" components)]
architectures = [\"amd64\"]
packages = [$(list "$tmp/up/apt.json" packages)]
recommends = false
keyring = \"$tmp/real-archive.gpg\"

[[pypi]]
name = \"local\"
url = \"$base/simple/\"
projects = [$(list "$tmp/up/wheels.json" projects)]
platforms = [\"manylinux_2_17_x86_64\", \"any\"]
python = [\"3.11\"]
sdists = false"
  bench_log "real drive: mirror-sync sync"
  "$BENCH_BIN/mirror-sync" --quiet sync --config "$tmp/ms/mirror.toml" >/dev/null \
    || bench_die "real drive: mirror-sync sync failed"
  bench_stop "$nginx_pid"
  rm -rf "$tmp/up"
  bench_log "real drive: mirror-sync export"
  "$BENCH_BIN/mirror-sync" --quiet export --config "$tmp/ms/mirror.toml" --to "$tmp/drive" >/dev/null \
    || bench_die "real drive: mirror-sync export failed"
  "$BENCH_BIN/mirror-sync" --quiet keys bundle --config "$tmp/ms/mirror.toml" --out "$tmp/trusted" >/dev/null \
    || bench_die "real drive: mirror-sync keys bundle failed"
  mkdir -p "$out"
  mv "$tmp/drive" "$tmp/trusted" "$out/"
  rm -rf "$tmp"
  touch "$out/done"
}
