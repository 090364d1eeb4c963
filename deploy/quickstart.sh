#!/usr/bin/env bash
# The main job on a fresh machine, end to end, against this host's own upstreams:
# build, generate keys, write a config from the host's apt sources and pip configuration,
# sync `jq` (+ dependencies) and `requests` (+ dependencies), export a signed drive,
# import it into a server store, serve it on localhost, and prove it with apt-get and pip.
#
# Usage: deploy/quickstart.sh [WORKDIR]      (default: ./quickstart)
# Environment: PORT (default 8080), PACKAGES (default jq), PROJECTS (default requests),
#              PYTHON_VERSION (default 3.11), KEEP_SERVING=1 to leave the server running.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(realpath -m "${1:-quickstart}")
PORT=${PORT:-8080}
PACKAGES=${PACKAGES:-jq}
PROJECTS=${PROJECTS:-requests}
PYV=${PYTHON_VERSION:-3.11}

say() { printf '\n== %s\n' "$*"; }
# timed LABEL CMD...: wall time and peak RSS (GNU time when present).
timed() {
  local label=$1; shift
  if [ -x /usr/bin/time ]; then /usr/bin/time -f "$label: %e s wall, peak RSS %M KiB" "$@"
  else local t0=$SECONDS; "$@"; echo "$label: $((SECONDS - t0)) s wall"; fi
}

say "building (release)"
cargo build --release --locked -p mirror-sync -p mirror-server
BIN=$PWD/target/release
SYNC="$BIN/mirror-sync"
SERVER="$BIN/mirror-server"

mkdir -p "$WORK"
if [ ! -f "$WORK/keys/snapshot.key" ]; then
  say "generating keys in $WORK/keys"
  "$SYNC" keys generate --out "$WORK/keys"
fi
if [ ! -f "$WORK/mirror.toml" ]; then
  say "writing $WORK/mirror.toml from this host's apt sources and pip configuration"
  args=()
  for p in $PROJECTS; do args+=(--project "$p"); done
  "$SYNC" init --from-host --store "$WORK/store" --channel quickstart \
    --packages "$PACKAGES" "${args[@]}" --python "$PYV" \
    --platform manylinux_2_17_x86_64,any --output "$WORK/mirror.toml"
fi
cat "$WORK/mirror.toml"

say "sync"
timed sync "$SYNC" sync --config "$WORK/mirror.toml"

say "export"
rm -rf "$WORK/drive"
timed export "$SYNC" export --config "$WORK/mirror.toml" --to "$WORK/drive"
MANIFEST=$(ls "$WORK"/drive/snapshots/*/*/manifest.json | head -n1)
if command -v openssl >/dev/null; then
  say "checking the drive signature with openssl"
  openssl pkeyutl -verify -pubin -inkey "$WORK/keys/snapshot.pub" -rawin -in "$MANIFEST" -sigfile "$MANIFEST.sig"
fi

say "trust bundle for the Cube (snapshot key + upstream APT keyrings)"
"$SYNC" keys bundle --config "$WORK/mirror.toml" --out "$WORK/keys/trusted"

say "import"
timed import "$SERVER" import "$WORK/drive" --store "$WORK/server-store" \
  --trusted-keys "$WORK/keys/trusted" --allow-downgrade

say "serve on 127.0.0.1:$PORT"
"$SERVER" serve --store "$WORK/server-store" --listen "127.0.0.1:$PORT" &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$PORT/healthz"; echo

say "client configuration, as the server prints it (mirror-server client-config)"
T=$WORK/clients
rm -rf "$T"; mkdir -p "$T/etc/apt.conf.d" "$T/etc/preferences.d" "$T/etc/sources.list.d" "$T/etc/trusted.gpg.d" "$T/state/lists/partial" "$T/cache/archives/partial"
touch "$T/status" "$T/etc/sources.list"
"$SERVER" client-config --store "$WORK/server-store" --base-url "http://127.0.0.1:$PORT" \
  --keyring-path "$T/keyrings/mirror.gpg" --json > "$T/client-config.json"
"$SERVER" client-config --store "$WORK/server-store" --base-url "http://127.0.0.1:$PORT"
# Unedited: the key-install commands, then each file at a path the isolated clients read.
python3 - "$T" <<'PY'
import json, subprocess, sys
t = sys.argv[1]
c = json.load(open(f"{t}/client-config.json"))
for cmd in c["commands"]:
    subprocess.run(["sh", "-c", cmd], check=True)
where = {"apt-sources": f"{t}/etc/sources.list.d/mirror.sources",
         "pip": f"{t}/pip.conf", "uv": f"{t}/uv.toml"}
for f in c["files"]:
    if f["kind"] in where:
        open(where[f["kind"]], "w").write(f["content"])
PY

say "proving it with apt-get (isolated configuration) and pip"
cat > "$T/apt.conf" <<CONF
Dir::Etc::main "/dev/null";
Dir::Etc::Parts "$T/etc/apt.conf.d";
Dir::Etc::SourceList "$T/etc/sources.list";
Dir::Etc::SourceParts "$T/etc/sources.list.d";
Dir::Etc::Preferences "$T/etc/preferences";
Dir::Etc::PreferencesParts "$T/etc/preferences.d";
Dir::Etc::Trusted "$T/etc/trusted.gpg";
Dir::Etc::TrustedParts "$T/etc/trusted.gpg.d";
Dir::State "$T/state";
Dir::State::status "$T/status";
Dir::Cache "$T/cache";
Debug::NoLocking "true";
APT::Sandbox::User "root";
Acquire::Languages "none";
CONF
if [ -f "$T/etc/sources.list.d/mirror.sources" ]; then
  cat "$T/etc/sources.list.d/mirror.sources"
  APT_CONFIG=$T/apt.conf apt-get update --error-on=any
  # shellcheck disable=SC2086
  APT_CONFIG=$T/apt.conf apt-get install -y --download-only $PACKAGES
  ls -l "$T/cache/archives/"*.deb
fi
if [ -f "$T/pip.conf" ]; then
  # shellcheck disable=SC2086
  env -u PIP_FIND_LINKS -u PIP_INDEX_URL PIP_CONFIG_FILE="$T/pip.conf" python3 -m pip download \
    --no-cache-dir -d "$T/wheels" $PROJECTS
  ls -l "$T/wheels"
fi

say "done — the mirror is serving on 127.0.0.1:$PORT"
cat <<EOF2
clients: mirror-server client-config --store $WORK/server-store --base-url http://127.0.0.1:$PORT
         prints the key-install commands, apt .sources (every suite), pip.conf and uv.toml
         (--write DIR writes them under DIR; the copies used above are in $T)
EOF2
if [ "${KEEP_SERVING:-0}" = 1 ]; then
  trap - EXIT
  echo "server pid $SERVER_PID (Ctrl-C or kill it to stop)"
  wait "$SERVER_PID"
fi
