#!/usr/bin/env python3
"""Writes a static OCI registry tree for bench/pairs/09-memory.sh, to be served by nginx.

    static-oci.py ROOT SIZE_BYTES DIGEST_CACHE_DIR

One image, big/artifact:v1 (an OCI image manifest, image-spec v1.1), whose single layer
is a sparse file of SIZE_BYTES zero bytes (no disk blocks), laid out as the paths of the
distribution-spec pull API (GET only):

    ROOT/v2/                                         (a directory: nginx answers 200)
    ROOT/v2/big/artifact/manifests/v1                the manifest, by tag
    ROOT/v2/big/artifact/manifests/sha256:<hex>      the same bytes, by digest
    ROOT/v2/big/artifact/blobs/sha256:<hex>          the config and the layer

The layer's SHA-256 is computed by hashing zeros in memory (no disk read) and kept in
DIGEST_CACHE_DIR/zeros-<SIZE_BYTES>.sha256 for the next run. Prints the layer digest
(sha256:<hex>).
"""
import hashlib
import json
import os
import sys


def zeros_digest(size, cache_dir):
    cache = os.path.join(cache_dir, f"zeros-{size}.sha256")
    try:
        with open(cache) as f:
            hexd = f.read().strip()
        if len(hexd) == 64:
            return hexd
    except OSError:
        pass
    h = hashlib.sha256()
    block = bytes(8 << 20)
    left = size
    while left > 0:
        n = min(left, len(block))
        h.update(block if n == len(block) else block[:n])
        left -= n
    hexd = h.hexdigest()
    os.makedirs(cache_dir, exist_ok=True)
    with open(cache + ".tmp", "w") as f:
        f.write(hexd + "\n")
    os.replace(cache + ".tmp", cache)
    return hexd


def main():
    root, size, cache_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    repo = os.path.join(root, "v2", "big", "artifact")
    blobs = os.path.join(repo, "blobs")
    manifests = os.path.join(repo, "manifests")
    os.makedirs(blobs, exist_ok=True)
    os.makedirs(manifests, exist_ok=True)

    layer_hex = zeros_digest(size, cache_dir)
    with open(os.path.join(blobs, "sha256:" + layer_hex), "wb") as f:
        f.truncate(size)

    config = json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + layer_hex]},
    }).encode()
    config_hex = hashlib.sha256(config).hexdigest()
    with open(os.path.join(blobs, "sha256:" + config_hex), "wb") as f:
        f.write(config)

    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + config_hex, "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": "sha256:" + layer_hex, "size": size}],
    }).encode()
    manifest_hex = hashlib.sha256(manifest).hexdigest()
    for name in ("v1", "sha256:" + manifest_hex):
        with open(os.path.join(manifests, name), "wb") as f:
            f.write(manifest)
    print("sha256:" + layer_hex)


if __name__ == "__main__":
    main()
