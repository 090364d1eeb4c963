#!/usr/bin/env bash
# Installs what the test suite drives: real Debian tools to build and sign the fixture
# APT repositories, openssl to check drive signatures and sign test tokens/signatures,
# curl, the OCI upstream and clients (docker-registry = CNCF distribution, skopeo, umoci,
# podman), uv (pip is assumed), and the benchmark peers that `bench/run.sh --smoke` starts
# (nginx, aptly, wrk; bandersnatch goes into a venv when the bench first needs it), and
# what tests/tests/e2e/deb_package.rs needs to build, check and install the Debian packages:
# cargo-deb (pinned), lintian, binutils (strip, readelf), systemd (systemd-analyze; no
# service is started), adduser;
# promtool (Debian package prometheus), which checks the /metrics exposition;
# and chromium, the headless browser that renders the web console
# (mirror-server/tests/suite/ui_browser.rs).
# Idempotent; runs as root (or through sudo).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
as_root apt-get update
as_root apt-get install -y --no-install-recommends \
  dpkg-dev apt-utils gpg gpg-agent gpgv xz-utils openssl ca-certificates curl \
  docker-registry skopeo umoci podman dosfstools mtools \
  nginx-light aptly wrk iproute2 \
  lintian binutils systemd adduser prometheus \
  python3-apt python3-venv \
  chromium
# cargo-deb builds the Debian packages (deploy/deb/build.sh); the version is pinned there too.
CARGO_DEB_VERSION=3.8.0
if [ "$(cargo deb --version 2>/dev/null | awk '{print $NF}')" != "$CARGO_DEB_VERSION" ]; then
  cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked
fi
if ! command -v uv >/dev/null 2>&1 && ! python3 -m uv --version >/dev/null 2>&1; then
  # Debian's system python refuses plain installs (PEP 668); fall back explicitly.
  python3 -m pip install --quiet uv || python3 -m pip install --quiet --break-system-packages uv
fi
# The reference side of tests/tests/differential.rs: Debian's python3 with python3-apt
# (libapt-pkg) and a pinned `packaging` (Debian's 23.0 mishandles epochs in `~=`).
REF_VENV="${HOME}/.cache/mirror-tests/reference-venv"
PACKAGING_VERSION=26.4
if ! "$REF_VENV/bin/python" -c "import apt_pkg, packaging, sys; sys.exit(packaging.__version__ != '$PACKAGING_VERSION')" 2>/dev/null; then
  /usr/bin/python3 -m venv --system-site-packages "$REF_VENV"
  "$REF_VENV/bin/pip" install --quiet "packaging==$PACKAGING_VERSION"
fi
# The SBOM validators a reviewer's tools use (tests/tests/e2e/sbom_validators.rs), pinned:
# ntia-conformance-checker, spdx-tools (pyspdxtools) and cyclonedx-python-lib.
SBOM_VENV="${HOME}/.cache/mirror-tests/sbom-venv"
NTIA_VERSION=6.0.0
SPDX_TOOLS_VERSION=0.8.5
CYCLONEDX_LIB_VERSION=11.12.0
if ! "$SBOM_VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(not (m.version('ntia-conformance-checker') == '$NTIA_VERSION' and m.version('spdx-tools') == '$SPDX_TOOLS_VERSION' and m.version('cyclonedx-python-lib') == '$CYCLONEDX_LIB_VERSION'))" 2>/dev/null; then
  /usr/bin/python3 -m venv "$SBOM_VENV"
  "$SBOM_VENV/bin/pip" install --quiet "ntia-conformance-checker==$NTIA_VERSION" \
    "spdx-tools==$SPDX_TOOLS_VERSION" "cyclonedx-python-lib[json-validation]==$CYCLONEDX_LIB_VERSION"
fi
# The benchmark peers (bandersnatch into its venv), so `bench/run.sh --smoke` installs nothing.
"$(dirname "$0")/../bench/install-peers.sh"
