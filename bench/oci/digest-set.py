#!/usr/bin/env python3
"""Prints the set of content digests a synced tree holds, one `sha256:<hex> <size>` a
line, sorted, so two trees (and the generator's list) can be compared with `diff`.

    digest-set.py store DIR     mirror-sync's store: every DIR/blobs/sha256/<hex>
    digest-set.py skopeo DIR    `skopeo sync --dest dir` output: in every image directory,
                                the blobs named <hex>, manifest.json (hashed: the image
                                manifest or the index) and <hex>.manifest.json (the index's
                                children, checked to hash to <hex>)

Files are not re-hashed except skopeo's manifests (both tools verify blobs while they
download). Exits 1 when a <hex>.manifest.json does not hash to its name.
"""

import hashlib
import os
import re
import sys

HEX = re.compile(r"^[0-9a-f]{64}$")
mode, root = sys.argv[1], sys.argv[2]
out = set()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


if mode == "store":
    d = os.path.join(root, "blobs", "sha256")
    for name in os.listdir(d):
        if HEX.match(name):
            out.add(f"sha256:{name} {os.path.getsize(os.path.join(d, name))}")
elif mode == "skopeo":
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = os.path.join(dirpath, name)
            size = os.path.getsize(p)
            if HEX.match(name):
                out.add(f"sha256:{name} {size}")
            elif name == "manifest.json":
                out.add(f"sha256:{sha256_file(p)} {size}")
            elif name.endswith(".manifest.json") and HEX.match(name[:64]):
                h = sha256_file(p)
                if h != name[:64]:
                    sys.exit(f"{p} hashes to {h}")
                out.add(f"sha256:{h} {size}")
else:
    sys.exit(f"unknown mode {mode}")
print("\n".join(sorted(out)))
