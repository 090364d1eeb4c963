#!/usr/bin/env bash
# Pairs 4 and 7 (APT): sync of one package and its dependency closure from a local copy
# of a real Debian subset.
#
#   4. `mirror-sync sync` vs aptly 1.5 (`aptly mirror update`): one suite (stable), one
#      component (main), one architecture (amd64), the selection `git` + its Depends and
#      Pre-Depends closure (no Recommends/Suggests on either side); `jq` in smoke mode.
#      Wall seconds, target ≤ 0.5× aptly.
#   7. `mirror-sync sync` again with nothing changed upstream (same store): wall seconds
#      against our own first sync, target ≤ 0.1×. nginx's access log must show index
#      requests only (InRelease/Release/Packages*), no .deb, and no index body sent again
#      (an index request answered 200 with a body fails the pair: the re-sync must get
#      304s for the Release files and take the Packages from its store); the requests
#      and the body bytes sent go in the note. aptly's own second `mirror update` is
#      timed too and reported in the note.
#
# Upstream (built once into $BENCH_CACHE by bench/apt/build-upstream.sh, reused across
# runs): the real .debs of the closure of `git curl jq less bzip2 xz-utils sensible-utils
# netbase` (smoke: `jq sensible-utils netbase`), fetched with `apt-get download` through
# this host's own apt sources, laid out as a standard archive (pool/, Packages{,.gz,.xz},
# Release signed by a throwaway Ed25519 key into InRelease and Release.gpg). So the
# repository is a strict superset of the selection. It is served by nginx on 127.0.0.1
# (bench_nginx, with an access log so that requests can be counted).
#
# What is timed, each run, from the same starting state:
#   aptly:  the rootDir is emptied, `aptly mirror create -architectures=amd64
#           -filter=<pkg> -filter-with-deps -keyring=<bench keyring>` runs UNTIMED (it
#           fetches and verifies InRelease once), then `aptly mirror update
#           -keyring=<bench keyring>` is timed: InRelease + signature, Packages.gz,
#           filter + dependency closure, downloads (aptly's default downloadConcurrency 4)
#           with checksum checks, pool and database writes. Its re-sync figure is a second
#           `mirror update` right after.
#   mirror-sync: the store is emptied (keys and mirror.toml are kept), then `mirror-sync
#           --quiet sync --config mirror.toml` is timed: InRelease + signature,
#           Packages.xz, resolver, downloads checked against Packages, store and state
#           writes (an fsync per blob; aptly fsyncs its database only, not the pool
#           files). Pair 7 times a second sync on that store.
# Before each timed command, dirty pages are flushed (`sync`, untimed), so no side waits
# for the writeback of the other's files.
# Runs alternate aptly, mirror-sync (A B A B), BENCH_RUNS times; medians are compared.
#
# Same files: after the last run every .deb each side stored is hashed (sha256) and
# named through the upstream Packages index; the two lists of "<file name> <sha256>" must
# be equal (and every blob of mirror-sync's store that is not a .deb must be an index
# file). Request counts per side come from the access log.
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "$0")/../lib.sh"
bench_need aptly
bench_need apt-ftparchive apt-utils
bench_need gpg
bench_need gpgv
bench_need xz xz-utils
W=$BENCH_WORK
MS=$BENCH_BIN/mirror-sync
[ -x "$MS" ] || bench_die "no mirror-sync in $BENCH_BIN"

if [ "$BENCH_SMOKE" = 1 ]; then
  SELECT=jq
  REPO_PKGS=(jq sensible-utils netbase)
  UP=$BENCH_CACHE/apt-upstream-smoke
else
  SELECT=git
  REPO_PKGS=(git curl jq less bzip2 xz-utils sensible-utils netbase)
  UP=$BENCH_CACHE/apt-upstream-full
fi

# --- the upstream, built once -----------------------------------------------------------
if [ "$(cat "$UP/spec" 2>/dev/null)" != "${REPO_PKGS[*]}" ]; then
  bench_log "building the APT upstream from real packages: closure of ${REPO_PKGS[*]}"
  bash "$BENCH_ROOT/bench/apt/build-upstream.sh" "$UP" "${REPO_PKGS[@]}" \
    || bench_die "building the APT upstream failed"
fi
KEYRING=$UP/keyring.gpg
UPLIST=$UP/packages.txt   # "<file name> <sha256> <size>" of every upstream .deb
N_UP=$(wc -l < "$UPLIST")

LOG=$W/access.log
: > "$LOG"
PORT=$(BENCH_NGINX_ACCESS_LOG=$LOG bench_nginx "$UP/www")
URL=http://127.0.0.1:$PORT/

# Lines of the access log so far (nginx logs when a response is done: wait a moment).
# Also flushes dirty pages (`sync`), so that no timed command waits behind the
# writeback of what the command before it wrote (aptly does not fsync its pool).
log_mark() { sync; sleep 0.1; wc -l < "$LOG"; }
# log_paths FROM TO: request paths of access-log lines FROM+1..TO.
log_paths() { sed -n "$(($1 + 1)),$2p" "$LOG" | awk '{print $7}'; }
# log_index_bodies FROM TO: "<path> <status> <body bytes>" of the index requests in lines
# FROM+1..TO that were answered with a body (200/206, more than 0 bytes): index bodies
# sent again. (nginx's combined format: $7 the path, $9 the status, $10 the body bytes.)
log_index_bodies() {
  sed -n "$(($1 + 1)),$2p" "$LOG" \
    | awk '$7 ~ /\/(InRelease|Release|Release\.gpg|Packages(\.gz|\.xz)?)$|\/by-hash\// && ($9 == 200 || $9 == 206) && $10 > 0 {print $7, $9, $10}'
}
# log_bytes FROM TO: body bytes sent in lines FROM+1..TO.
log_bytes() { sed -n "$(($1 + 1)),$2p" "$LOG" | awk '{b += $10} END {print b + 0}'; }

# --- aptly ------------------------------------------------------------------------------
mkdir -p "$W/aptly"
cat > "$W/aptly/aptly.conf" <<J
{
  "rootDir": "$W/aptly/root",
  "architectures": [],
  "dependencyFollowSuggests": false,
  "dependencyFollowRecommends": false,
  "dependencyFollowAllVariants": false,
  "dependencyFollowSource": false,
  "gpgDisableSign": true,
  "gpgDisableVerify": false,
  "gpgProvider": "gpg",
  "downloadSourcePackages": false,
  "skipContentsPublishing": true
}
J
# aptly's gpgv gets a scratch GnuPG home: the user's ~/.gnupg is never created or read.
mkdir -m 700 "$W/aptly/gnupg"
aptly_() { GNUPGHOME=$W/aptly/gnupg aptly -config="$W/aptly/aptly.conf" "$@"; }
aptly_create() {
  rm -rf "$W/aptly/root"
  aptly_ mirror create -architectures=amd64 -filter="$SELECT" -filter-with-deps \
    -keyring="$KEYRING" bench "$URL" stable main >/dev/null 2>"$W/aptly/create.err" \
    || { cat "$W/aptly/create.err" >&2; bench_die "aptly mirror create failed"; }
}

# --- mirror-sync ------------------------------------------------------------------------
bench_mirror_config "$W/ours" "[[apt]]
name = \"bench\"
url = \"$URL\"
suites = [\"stable\"]
components = [\"main\"]
architectures = [\"amd64\"]
packages = [\"$SELECT\"]
recommends = false
keyring = \"$KEYRING\""

# --- runs -------------------------------------------------------------------------------
bench_log "selection $SELECT from $N_UP upstream packages; $BENCH_RUNS run(s), aptly and mirror-sync alternating"
for i in $(bench_runs); do
  # A: aptly
  aptly_create
  m0=$(log_mark)
  t=$(bench_wall aptly_ mirror update -keyring="$KEYRING" bench)
  bench_record aptly "$t"
  m1=$(log_mark)
  t=$(bench_wall aptly_ mirror update -keyring="$KEYRING" bench)
  bench_record aptly_resync "$t"
  m2=$(log_mark)
  bench_record aptly_req $((m1 - m0))
  bench_record aptly_resync_req $((m2 - m1))

  # B: mirror-sync
  rm -rf "$W/ours/store"
  m0=$(log_mark)
  t=$(bench_wall "$MS" --quiet sync --config "$W/ours/mirror.toml")
  bench_record ours "$t"
  m1=$(log_mark)
  t=$(bench_wall "$MS" --quiet sync --config "$W/ours/mirror.toml")
  bench_record ours_resync "$t"
  m2=$(log_mark)
  bench_record ours_req $((m1 - m0))
  bench_record ours_resync_req $((m2 - m1))
  bench_record ours_resync_bytes "$(log_bytes "$m1" "$m2")"
  # Pair 7: no index body downloaded twice (a 304, or no request at all, is fine).
  again=$(log_index_bodies "$m1" "$m2")
  [ -z "$again" ] || bench_die "re-sync with nothing changed downloaded index bodies again: $(echo "$again" | head -5 | tr '\n' ' ')"
  bench_record ours_resync_bodies "$(echo -n "$again" | grep -c . || true)"
  # Pair 7: the re-sync may read indexes only.
  bad=$(log_paths "$m1" "$m2" \
    | grep -Ev '^/dists/stable/(InRelease|Release|Release\.gpg|main/binary-amd64/(Packages(\.gz|\.xz)?|by-hash/.*))$' || true)
  [ -z "$bad" ] || bench_die "re-sync with nothing changed fetched more than indexes: $(echo "$bad" | head -5 | tr '\n' ' ')"
  bench_log "run $i: aptly $(bench_samples aptly | awk '{print $NF}') s, mirror-sync $(bench_samples ours | awk '{print $NF}') s, re-sync $t s"
done

# --- same files -------------------------------------------------------------------------
# "<file name> <sha256>" of each stored .deb, named through the upstream list by content.
name_by_hash() {
  awk 'NR == FNR {name[$2] = $1; next}
       {h = $1; if (h in name) print name[h], h; else print "NOT-UPSTREAM", h, $2}' "$UPLIST" -
}
find "$W/aptly/root/pool" -type f -name '*.deb' -print0 | xargs -0 -r sha256sum \
  | name_by_hash | sort > "$W/aptly.files"
(cd "$W/ours/store/blobs/sha256" && find . -type f -printf '%f\n' | sort) > "$W/ours.blobs"
(cd "$W/ours/store/blobs/sha256" && xargs -r sha256sum < "$W/ours.blobs") > "$W/ours.sums"
awk '$1 != $2 {print "blob " $2 " has sha256 " $1}' <(awk '{print $1, $2}' "$W/ours.sums") \
  | head -3 | grep . && bench_die "mirror-sync's store holds a blob whose content does not match its name"
name_by_hash < "$W/ours.sums" | grep -v '^NOT-UPSTREAM' | sort > "$W/ours.files"
# mirror-sync's other blobs are the upstream InRelease and Packages index it keeps.
extra=$(name_by_hash < "$W/ours.sums" | awk '$1 == "NOT-UPSTREAM" {print $3}' | sort)
idx=$( (cd "$UP/www/dists/stable" && sha256sum InRelease Release Release.gpg main/binary-amd64/Packages*) | awk '{print $1}' | sort)
unexpected=$(comm -23 <(echo "$extra" | grep . || true) <(echo "$idx"))
[ -z "$unexpected" ] || bench_die "mirror-sync's store holds blobs that are neither upstream .debs nor indexes: $unexpected"
grep -q NOT-UPSTREAM "$W/aptly.files" && bench_die "aptly's pool holds a .deb that is not upstream"
if ! cmp -s "$W/aptly.files" "$W/ours.files"; then
  diff "$W/aptly.files" "$W/ours.files" | sed 's/^/  /' >&2 || true
  bench_die "aptly (<) and mirror-sync (>) stored different .deb files"
fi
N=$(wc -l < "$W/ours.files")
[ "$N" -gt 0 ] || bench_die "neither side stored any .deb"
MB=$(awk 'NR == FNR {size[$2] = $3; next} {s += size[$2]} END {printf "%.1f", s / 1e6}' "$UPLIST" "$W/ours.files")
# The host's apt for reference (it keeps every alternative, so it can only be ≥ N).
HOST_N=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances "$SELECT" 2>/dev/null | grep -v '^ ' | grep -vc '^<' || true)
bench_log "both sides stored the same $N .deb files ($MB MB; host apt-cache closure: $HOST_N packages; upstream: $N_UP)"

# --- results ----------------------------------------------------------------------------
OURS=$(bench_median ours)
AP=$(bench_median aptly)
bench_result 4 "APT sync: $SELECT + deps ($N debs, $MB MB)" s "$OURS" "$AP" "aptly 1.5" "<=0.5" \
  "same $N files; upstream $N_UP debs via local nginx; requests: ours $(bench_median ours_req), aptly $(bench_median aptly_req)"
bench_result 7 "APT re-sync, nothing changed" s "$(bench_median ours_resync)" "$OURS" "first sync" "<=0.1" \
  "index bodies re-downloaded: $(bench_median ours_resync_bodies) ($(bench_median ours_resync_req) requests, $(bench_median ours_resync_bytes) bytes), no .deb; aptly re-sync $(bench_median aptly_resync) s ($(bench_median aptly_resync_req) requests)"
