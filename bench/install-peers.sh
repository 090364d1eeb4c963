#!/usr/bin/env bash
# Installs the benchmark peers that bench/run.sh starts, so that no pair pays for an
# install while it runs: nginx, docker-registry, aptly, skopeo and wrk from Debian's
# packages, and bandersnatch into a venv under ~/.cache/mirror-bench (where the PyPI
# pair looks for it). Idempotent; apt installs need root or sudo.
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_need nginx nginx-light
bench_need docker-registry
bench_need aptly
bench_need skopeo
bench_need wrk
bench_need ss iproute2
bench_venv_tool bandersnatch bandersnatch >/dev/null
