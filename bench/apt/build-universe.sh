#!/usr/bin/env bash
# Builds the local APT upstreams of pair 14 (APT sync memory) around FULL-SIZE REAL
# Packages indexes, once, into OUT_DIR:
#
#   bench/apt/build-universe.sh OUT_DIR MIRROR_SYNC SELECT [smoke]
#
# The Packages text is the largest `Packages` index this host's apt knows
# (`apt-get indextargets`: on Debian bookworm, bookworm main amd64, 63k packages, 48 MiB),
# read through apt itself (`apt-helper cat-file` of /var/lib/apt/lists, which apt
# verified). The served `Packages.xz` is the upstream's real one, fetched once by its
# by-hash name from the URL in the host's sources and checked against the host's copy;
# without network (or without a Packages.xz upstream), the host's text compressed with
# `xz -6` (the dictionary Debian uses). Smoke mode keeps the first 1,000 stanzas and the
# few the selection needs.
#
#   OUT_DIR/keyring.gpg            public keyring of a throwaway Ed25519 archive key
#   OUT_DIR/www/                   serve this directory
#     dists/real/main/binary-amd64/Packages.xz           the real index (row 1)
#     dists/wide{,-updates,-security}/{main,universe,restricted,multiverse}/binary-amd64/Packages.xz
#                                  the same text split round-robin into 4 components and
#                                  repeated under 3 suites: a noble-sized universe (row 2,
#                                  3 x 48 MiB of text, 12 indexes)
#     dists/*/{Release,InRelease}  (`apt-ftparchive release`, signed with the bench key)
#     pool/...                     the real .debs of SELECT and its dependency closure
#                                  (as `mirror-sync plan` resolves it over the index),
#                                  fetched once with `apt-get download NAME=VERSION` and
#                                  checked against the index's SHA256
#   OUT_DIR/spec                   what was built (a caller compares it to reuse OUT_DIR)
#
# The user's keyrings are never touched (gpg --homedir in OUT_DIR); OUT_DIR is built
# beside itself and renamed into place.
#
# Needs: apt-get, apt-ftparchive (apt-utils), gpg, xz, curl, python3.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 OUT_DIR MIRROR_SYNC SELECT [smoke]" >&2; exit 2; }
out=$1 ms=$2 select=$3 smoke=${4:-}
tmp="$out.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp/www" "$tmp/dl"
trap 'gpgconf --homedir "$tmp/gnupg" --kill gpg-agent >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
log() { printf '  [%s] build-universe: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- the host's largest Packages index ------------------------------------------------
targets() {
  apt-get indextargets --format '$(FILENAME)|$(REPO_URI)|$(RELEASE)|$(COMPONENT)|$(ARCHITECTURE)' \
    'Identifier: Packages' 2>/dev/null | while IFS='|' read -r f rest; do
      [ -f "$f" ] && printf '%s|%s|%s\n' "$(stat -c %s "$f")" "$f" "$rest"
    done | sort -t'|' -k1,1nr | head -1
}
best=$(targets)
if [ -z "$best" ]; then
  as_root apt-get update -qq >/dev/null
  best=$(targets)
fi
[ -n "$best" ] || { echo "build-universe: this host's apt has no Packages index" >&2; exit 1; }
IFS='|' read -r _ list repo suite comp arch <<<"$best"
/usr/lib/apt/apt-helper cat-file "$list" > "$tmp/Packages"
log "host index $suite/$comp/binary-$arch: $(grep -c '^Package:' "$tmp/Packages") packages, $(stat -c %s "$tmp/Packages") bytes"

# --- the real Packages.xz, by hash, once ------------------------------------------------
real_xz=""
inrelease="${list%%_"${comp}"_binary-*}_InRelease"
if [ -z "$smoke" ] && [ -f "$inrelease" ]; then
  line=$(awk -v p="$comp/binary-$arch/Packages.xz" '/^SHA256:/ {s = 1; next} /^[^ ]/ {s = 0}
         s && $3 == p {print $1, $2; exit}' "$inrelease")
  if [ -n "$line" ]; then
    read -r hash size <<<"$line"
    url="${repo%/}/dists/$suite/$comp/binary-$arch/by-hash/SHA256/$hash"
    if curl -fsS --max-time 300 -o "$tmp/real.xz" "$url" 2>/dev/null \
       && [ "$(sha256sum < "$tmp/real.xz" | cut -d' ' -f1)" = "$hash" ] \
       && [ "$(xz -dc "$tmp/real.xz" | sha256sum)" = "$(sha256sum < "$tmp/Packages")" ]; then
      real_xz=$tmp/real.xz
      log "fetched the real Packages.xz ($size bytes) by hash"
    fi
  fi
fi

if [ -n "$smoke" ]; then
  # The first 1,000 stanzas and those of the selection's usual closure.
  awk -v keep=" $select lib$select""1 libonig5 libc6 libgcc-s1 gcc-12-base gcc-13-base gcc-14-base " '
    BEGIN {RS = ""; ORS = "\n\n"}
    {split($0, l, "\n"); n = l[1]; sub(/^Package: */, "", n)}
    NR <= 1000 || index(keep, " " n " ") {print}' "$tmp/Packages" > "$tmp/P"
  mv "$tmp/P" "$tmp/Packages"
fi

# --- the archive ------------------------------------------------------------------------
mkdir -m 700 "$tmp/gnupg"
g() { gpg --homedir "$tmp/gnupg" --batch --no-tty --quiet "$@"; }
g --passphrase '' --quick-gen-key 'Mirror Bench Archive <bench@example.invalid>' ed25519 cert never 2>/dev/null
fpr=$(g --with-colons --list-keys | awk -F: '/^fpr:/ {print $10; exit}')
g --passphrase '' --quick-add-key "$fpr" ed25519 sign never 2>/dev/null
g --export "$fpr" > "$tmp/keyring.gpg"

COMPONENTS=(main universe restricted multiverse)
d="$tmp/www/dists/real/main/binary-amd64"
mkdir -p "$d"
if [ -n "$real_xz" ]; then cp "$real_xz" "$d/Packages.xz"; else xz -6 -T1 -c "$tmp/Packages" > "$d/Packages.xz"; fi
# The same text, stanza by stanza round-robin into four components.
awk -v dir="$tmp" 'BEGIN {RS = ""; ORS = "\n\n"; split("main universe restricted multiverse", c, " ")}
     {print > (dir "/part-" c[(NR - 1) % 4 + 1])}' "$tmp/Packages"
for c in "${COMPONENTS[@]}"; do
  xz -6 -T1 -c "$tmp/part-$c" > "$tmp/part-$c.xz"
done
for s in wide wide-updates wide-security; do
  for c in "${COMPONENTS[@]}"; do
    mkdir -p "$tmp/www/dists/$s/$c/binary-amd64"
    cp "$tmp/part-$c.xz" "$tmp/www/dists/$s/$c/binary-amd64/Packages.xz"
  done
done
sign_suite() {
  local s=$1 comps=$2
  (cd "$tmp/www/dists/$s" && apt-ftparchive \
    -o APT::FTPArchive::Release::Origin=Bench -o APT::FTPArchive::Release::Label=Bench \
    -o APT::FTPArchive::Release::Suite="$s" -o APT::FTPArchive::Release::Codename="$s" \
    -o APT::FTPArchive::Release::Architectures=amd64 \
    -o APT::FTPArchive::Release::Components="$comps" release .) > "$tmp/Release"
  mv "$tmp/Release" "$tmp/www/dists/$s/Release"
  g --local-user "$fpr" --digest-algo SHA512 --clearsign --output "$tmp/www/dists/$s/InRelease" "$tmp/www/dists/$s/Release"
}
sign_suite real main
for s in wide wide-updates wide-security; do sign_suite "$s" "${COMPONENTS[*]}"; done
gpgconf --homedir "$tmp/gnupg" --kill gpg-agent >/dev/null 2>&1 || true

# --- the selection's .debs: what mirror-sync plans over the real index --------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server -b 127.0.0.1 -d "$tmp/www" "$port" >/dev/null 2>&1 &
srv=$!
trap 'kill $srv 2>/dev/null; gpgconf --homedir "$tmp/gnupg" --kill gpg-agent >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
mkdir -p "$tmp/plan"
"$ms" --quiet keys generate --out "$tmp/plan/keys" >/dev/null
cat > "$tmp/plan/mirror.toml" <<T
store = "store"
channel = "bench"
[signing]
snapshot_key = "keys/snapshot.key"
repo_key = "keys/repo.key.asc"
[[apt]]
name = "real"
url = "http://127.0.0.1:$port/"
suites = ["real"]
components = ["main"]
architectures = ["amd64"]
packages = ["$select"]
recommends = false
keyring = "$tmp/keyring.gpg"
T
"$ms" --quiet --json plan --config "$tmp/plan/mirror.toml" > "$tmp/plan.json"
kill $srv 2>/dev/null || true
python3 - "$tmp/plan.json" > "$tmp/wanted" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
items = [i for u in doc["upstreams"] for i in u["items"]]
assert items, "the plan selects nothing"
for i in items:
    print(i["name"], i["version"], i["sha256"], i["path"].split("/", 2)[2])
PY
sandbox=()
[ "$(id -u)" -eq 0 ] && sandbox=(-o APT::Sandbox::User=root)
while read -r name version sha path; do
  rm -f "$tmp"/dl/*.deb
  (cd "$tmp/dl" && apt-get download -q=2 "${sandbox[@]}" "$name=$version") >/dev/null
  f=$(ls "$tmp"/dl/*.deb)
  [ "$(sha256sum < "$f" | cut -d' ' -f1)" = "$sha" ] || { echo "build-universe: $name $version does not match the index" >&2; exit 1; }
  mkdir -p "$tmp/www/$(dirname "$path")"
  mv "$f" "$tmp/www/$path"
done < "$tmp/wanted"
log "selection $select: $(wc -l < "$tmp/wanted") .debs"

rm -rf "$tmp/dl" "$tmp/plan" "$tmp"/part-* "$tmp/Packages" "$tmp/real.xz" "$tmp/plan.json"
printf '%s\n' "$select ${smoke:-full} $(sha256sum < "$d/Packages.xz" | cut -c1-16)" > "$tmp/spec"
trap - EXIT
rm -rf "$out"
mv "$tmp" "$out"
