#!/usr/bin/env bash
# Builds a local APT upstream for the APT bench pairs from REAL Debian packages.
#
#   bench/apt/build-upstream.sh OUT_DIR PACKAGE...
#
# Downloads, with this host's own apt sources (`apt-get download`), the candidate version
# of every real package in the dependency closure of PACKAGE... (Depends and Pre-Depends:
# `apt-cache depends --recurse --no-recommends --no-suggests ...`; virtual names are
# dropped, every real alternative is kept), then lays them out as a standard signed
# archive, built with Debian's own tools:
#
#   OUT_DIR/keyring.gpg                           public keyring (binary) of the archive key
#   OUT_DIR/gnupg/                                throwaway GnuPG home (secret key; not served)
#   OUT_DIR/packages.txt                          "<file name> <sha256> <size>", one per .deb
#   OUT_DIR/www/                                  serve this directory
#     pool/main/<first letter>/<package>/<package>_<version without epoch>_<arch>.deb
#     dists/stable/main/binary-amd64/Packages{,.gz,.xz}   (`apt-ftparchive packages`)
#     dists/stable/{Release,InRelease,Release.gpg}        (`apt-ftparchive release`, gpg)
#
# The archive key is an Ed25519 certification-only primary key with an Ed25519 signing
# subkey (the shape of Debian's archive keys), generated with `gpg --homedir` in a
# throwaway home; the user's keyrings are never touched. OUT_DIR is written atomically
# (built beside it, then renamed), with OUT_DIR/spec holding PACKAGE... so a caller can
# tell whether a cached copy fits.
#
# Needs: apt-get, apt-cache, apt-ftparchive (apt-utils), dpkg-deb, gpg, gzip, xz.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 OUT_DIR PACKAGE..." >&2; exit 2; }
out=$1; shift
tmp="$out.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp/dl" "$tmp/www"
trap 'gpgconf --homedir "$tmp/gnupg" --kill gpg-agent >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# The host's package lists may be absent on a fresh machine.
if ! apt-cache show --no-all-versions "$1" >/dev/null 2>&1; then
  as_root apt-get update -qq >/dev/null
fi
closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
  --no-breaks --no-replaces --no-enhances "$@" | grep -v '^ ' | grep -v '^<' | sort -u)
[ -n "$closure" ] || { echo "build-upstream: empty closure for $*" >&2; exit 1; }
# As root, apt would drop to the _apt user, who cannot write here.
sandbox=()
[ "$(id -u)" -eq 0 ] && sandbox=(-o APT::Sandbox::User=root)
# shellcheck disable=SC2086  # one word per package name
(cd "$tmp/dl" && apt-get download -q=2 "${sandbox[@]}" $closure) >/dev/null

# Pool layout: pool/main/<first letter>/<package>/<package>_<version w/o epoch>_<arch>.deb
for f in "$tmp"/dl/*.deb; do
  pkg=$(dpkg-deb -f "$f" Package)
  ver=$(dpkg-deb -f "$f" Version)
  arch=$(dpkg-deb -f "$f" Architecture)
  dir="$tmp/www/pool/main/${pkg:0:1}/$pkg"
  mkdir -p "$dir"
  mv "$f" "$dir/${pkg}_${ver#*:}_$arch.deb"
done
rmdir "$tmp/dl"

# Throwaway archive key.
gh="$tmp/gnupg"
mkdir -m 700 "$gh"
g() { gpg --homedir "$gh" --batch --no-tty --quiet "$@"; }
g --passphrase '' --quick-gen-key 'Mirror Bench Archive <bench@example.invalid>' ed25519 cert never 2>/dev/null
fpr=$(g --with-colons --list-keys | awk -F: '/^fpr:/ {print $10; exit}')
g --passphrase '' --quick-add-key "$fpr" ed25519 sign never 2>/dev/null
g --export "$fpr" > "$tmp/keyring.gpg"

# Indexes and Release.
suite="$tmp/www/dists/stable"
bin="$suite/main/binary-amd64"
mkdir -p "$bin"
(cd "$tmp/www" && apt-ftparchive packages pool/) > "$bin/Packages"
gzip -9nk "$bin/Packages"
xz -k "$bin/Packages"
(cd "$suite" && apt-ftparchive \
  -o APT::FTPArchive::Release::Origin=Bench -o APT::FTPArchive::Release::Label=Bench \
  -o APT::FTPArchive::Release::Suite=stable -o APT::FTPArchive::Release::Codename=stable \
  -o APT::FTPArchive::Release::Architectures=amd64 -o APT::FTPArchive::Release::Components=main \
  release .) > "$tmp/Release"
mv "$tmp/Release" "$suite/Release"
g --local-user "$fpr" --digest-algo SHA512 --clearsign --output "$suite/InRelease" "$suite/Release"
g --local-user "$fpr" --digest-algo SHA512 --armor --detach-sign --output "$suite/Release.gpg" "$suite/Release"
gpgconf --homedir "$gh" --kill gpg-agent >/dev/null 2>&1 || true

awk '/^Filename:/ {n = $2; sub(".*/", "", n)} /^Size:/ {s = $2} /^SHA256:/ {h = $2}
     /^$/ {print n, h, s}' "$bin/Packages" | sort > "$tmp/packages.txt"
printf '%s\n' "$*" > "$tmp/spec"
trap - EXIT
rm -rf "$out"
mv "$tmp" "$out"
