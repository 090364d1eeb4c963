#!/usr/bin/env python3
"""Write an OCI image layout with one image (tag "1") of LAYERS incompressible layers.

Usage: make-layout.py OUT LAYERS LAYER_BYTES

Each layer is LAYER_BYTES of random bytes (media type ...layer.v1.tar, so registries and
clients store it as is); the config lists them as diff_ids. Streams in 1 MiB chunks, so
memory stays flat for multi-GiB layers. Prints nothing. Standard library only.
"""
import hashlib
import json
import os
import sys

root, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
blobs = os.path.join(root, "blobs", "sha256")
os.makedirs(blobs)


def put(chunks):
    h, total, tmp = hashlib.sha256(), 0, os.path.join(blobs, "tmp")
    with open(tmp, "wb") as f:
        for c in chunks:
            h.update(c)
            f.write(c)
            total += len(c)
    os.rename(tmp, os.path.join(blobs, h.hexdigest()))
    return {"digest": "sha256:" + h.hexdigest(), "size": total}


def random_bytes(total):
    while total > 0:
        step = min(total, 1 << 20)
        yield os.urandom(step)
        total -= step


layers = [put(random_bytes(size)) for _ in range(n)]
config = put([json.dumps({
    "architecture": "amd64", "os": "linux",
    "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in layers]},
}).encode()])
manifest = put([json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **d} for d in layers],
}).encode()])
with open(os.path.join(root, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", **manifest,
        "annotations": {"org.opencontainers.image.ref.name": "1"}}]}, f)
with open(os.path.join(root, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
