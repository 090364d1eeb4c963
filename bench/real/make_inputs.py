#!/usr/bin/env python3
"""BENCH-ONLY: the files of a drive shaped like a real Cube drive (pair 12, issue 15).

Usage: python3 make_inputs.py OUT TOTAL_MIB DEBS LISTS...

Writes, deterministically from its arguments (a seeded generator; no network):

* ``OUT/www/apt/pool/<component>/b/<name>/<name>_1.0-1_amd64.deb`` -- DEBS files of
  incompressible bytes, 10 KB to 100 MB, most of them small (sizes log-distributed and
  skewed to the small end, about 13 % of TOTAL_MIB in all, the share of the debs on the
  measured drive: 663 MiB of 5.28 GB);
* ``OUT/wheels/benchrealN-1.0-py3-none-any.whl`` -- real wheels (zip, ``*.dist-info``
  with METADATA, WHEEL and RECORD) each holding one stored member of incompressible
  bytes, 100 MiB to 1 GiB (log-uniform), until the rest of TOTAL_MIB is reached (with
  TOTAL_MIB under 1024, smoke mode: debs of 1 KB to 1 MB, wheels of 1 to 10 MiB);
* ``OUT/www/apt/dists/<suite>/<component>/binary-amd64/Packages.xz`` -- for each LIST (a
  real ``Packages`` index from this host's apt lists, plain or .lz4/.gz/.xz compressed,
  named ``..._dists_<suite>_<component>_binary-<arch>_Packages[.ext]``): its full text,
  then stanzas for the debs given to that suite and component (round robin);
* ``OUT/apt.json`` -- suites, components, package names; ``OUT/wheels.json`` -- projects.

Standard library only; ``xz`` and ``lz4`` come from the host.
"""

import hashlib
import json
import math
import os
import random
import re
import subprocess
import sys
import zipfile

CHUNK = 1 << 20


def write_random(f, size, rng):
    left = size
    while left:
        n = min(CHUNK, left)
        f.write(rng.randbytes(n))
        left -= n


def deb_sizes(n, total, lo, hi, rng):
    """n sizes in [lo, hi], log-distributed, skewed by an exponent chosen so they sum
    to about total."""
    us = [rng.random() for _ in range(n)]

    def sizes(k):
        return [int(lo * (hi / lo) ** (u ** k)) for u in us]

    a, b = 1.0, 12.0
    for _ in range(40):
        k = (a + b) / 2
        if sum(sizes(k)) > total:
            a = k
        else:
            b = k
    return sizes((a + b) / 2)


def read_list(path):
    if path.endswith(".lz4"):
        return subprocess.run(["lz4", "-dc", path], check=True, capture_output=True).stdout
    if path.endswith(".gz"):
        return subprocess.run(["gzip", "-dc", path], check=True, capture_output=True).stdout
    if path.endswith(".xz"):
        return subprocess.run(["xz", "-dc", path], check=True, capture_output=True).stdout
    with open(path, "rb") as f:
        return f.read()


def main():
    out, total_mib, n_debs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    lists = sys.argv[4:]
    rng = random.Random(15)
    total = total_mib << 20
    # Smoke (under 1 GiB in all): debs 1 KB-1 MB, wheels 1-10 MiB.
    small = total_mib < 1024
    deb_lo, deb_hi = (1_000, 1_000_000) if small else (10_000, 100_000_000)
    whl_lo, whl_hi = (1 << 20, 10 << 20) if small else (100 << 20, 1 << 30)
    sizes = deb_sizes(n_debs, int(total * 0.13), deb_lo, deb_hi, rng)

    indexes = []
    for path in lists:
        m = re.search(r"_dists_(.+)_([a-z-]+)_binary-([a-z0-9]+)_Packages(\.[a-z0-9]+)?$",
                      os.path.basename(path))
        if not m:
            sys.exit(f"{path}: not a ..._dists_<suite>_<component>_binary-<arch>_Packages list")
        indexes.append((m.group(1), m.group(2), path))
    if not indexes:
        sys.exit("no package lists given")
    suites = sorted({s for s, _, _ in indexes})
    components = sorted({c for _, c, _ in indexes})
    stanzas = {(s, c): [] for s in suites for c in components}
    keys = sorted(stanzas)
    names = []
    www = os.path.join(out, "www", "apt")
    for i, size in enumerate(sizes):
        suite, comp = keys[i % len(keys)]
        name = f"bench-real-{i}"
        rel = f"pool/{comp}/b/{name}/{name}_1.0-1_amd64.deb"
        path = os.path.join(www, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        h = hashlib.sha256()
        with open(path, "wb") as f:
            left = size
            while left:
                b = rng.randbytes(min(CHUNK, left))
                h.update(b)
                f.write(b)
                left -= len(b)
        names.append(name)
        stanzas[(suite, comp)].append(
            f"Package: {name}\nVersion: 1.0-1\nArchitecture: amd64\n"
            f"Maintainer: Mirror Bench <bench@example.invalid>\nInstalled-Size: {size // 1024 + 1}\n"
            f"Section: misc\nPriority: optional\nFilename: {rel}\nSize: {size}\n"
            f"SHA256: {h.hexdigest()}\nDescription: synthetic package {i} of the real-shape import bench\n")
    texts = {k: b"" for k in keys}
    for suite, comp, path in indexes:
        texts[(suite, comp)] += read_list(path).rstrip(b"\n") + b"\n\n"
    for (suite, comp), text in texts.items():
        d = os.path.join(www, "dists", suite, comp, "binary-amd64")
        os.makedirs(d, exist_ok=True)
        body = text + "\n".join(stanzas[(suite, comp)]).encode()
        subprocess.run(["xz", "-T0", "-6", "-c"], input=body, check=True,
                       stdout=open(os.path.join(d, "Packages.xz"), "wb"))

    wheels = os.path.join(out, "wheels")
    os.makedirs(wheels, exist_ok=True)
    left = total - sum(sizes)
    lo, hi = whl_lo, whl_hi
    projects = []
    i = 0
    while left > lo // 2 or i == 0:
        size = int(lo * (hi / lo) ** rng.random())
        size = max(min(size, left), lo) if left >= lo else lo
        project = f"benchreal{i}"
        dist = f"{project}-1.0.dist-info"
        meta = (f"Metadata-Version: 2.1\nName: {project}\nVersion: 1.0\n"
                f"Summary: synthetic wheel {i} of the real-shape import bench\n").encode()
        wheel = b"Wheel-Version: 1.0\nGenerator: mirror-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        path = os.path.join(wheels, f"{project}-1.0-py3-none-any.whl")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
            with z.open(f"{project}/data.bin", "w", force_zip64=True) as f:
                write_random(f, size, rng)
            z.writestr(f"{dist}/METADATA", meta)
            z.writestr(f"{dist}/WHEEL", wheel)
            z.writestr(f"{dist}/RECORD", f"{project}/data.bin,,\n{dist}/METADATA,,\n{dist}/WHEEL,,\n{dist}/RECORD,,\n")
        projects.append(project)
        left -= size
        i += 1
    with open(os.path.join(out, "apt.json"), "w") as f:
        json.dump({"suites": suites, "components": components, "packages": names}, f)
    with open(os.path.join(out, "wheels.json"), "w") as f:
        json.dump({"projects": projects}, f)


if __name__ == "__main__":
    main()
