#!/usr/bin/env python3
"""Writes the OCI image layout that bench/pairs/06-oci-sync.sh pushes into a registry.

    make-images.py LAYOUT UNIT_BYTES

Four repositories, tagged in LAYOUT's index.json as `<repo>-1`:

    alpha   linux/amd64   base1 base2 alpha
    beta    linux/amd64   base1 base2 beta
    gamma   linux/amd64   base1 gamma
    multi   index of      linux/amd64   base1 m-amd64
                          linux/arm64   m-arm64-base m-arm64
                          linux/arm/v7  m-armv7

Layer sizes are multiples of UNIT_BYTES (base1 64, base2 32, the others 32 or 48 units:
416 units in all, so UNIT_BYTES = 1 MiB gives 416 MiB of unique layers). base1 is in
four images and base2 in two: a mirror that deduplicates fetches each once.

Each layer is a tar holding one file of random bytes (incompressible), wrapped in gzip
with compression level 0 (stored blocks) and labelled `…layer.v1.tar+gzip`, so skopeo
neither recompresses it on push nor on pull: the registry serves exactly these bytes.

Prints, one per line, `<kind> sha256:<hex> <size>` for every blob and manifest a full
mirror of the four tags must hold (kind: layer, config, manifest, index).
"""

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

root, unit = sys.argv[1], int(sys.argv[2])
blobs = os.path.join(root, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)
listing = []

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def put(kind, data):
    """Stores DATA as a blob; returns its descriptor fields."""
    h = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, h), "wb") as f:
        f.write(data)
    listing.append(f"{kind} sha256:{h} {len(data)}")
    return "sha256:" + h, len(data)


def layer(name, units):
    """A gzip (level 0) tar of one random file; returns (descriptor, diff_id)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        info = tarfile.TarInfo(f"data/{name}.bin")
        info.size = units * unit
        info.mtime = 0
        t.addfile(info, io.BytesIO(os.urandom(info.size)))
    tar = raw.getvalue()
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    digest, size = put("layer", gzip.compress(tar, compresslevel=0, mtime=0))
    return {"mediaType": OCI_LAYER, "digest": digest, "size": size}, diff_id


def image(layers, arch, variant=None):
    """An image manifest over LAYERS; returns its descriptor (with platform)."""
    platform = {"architecture": arch, "os": "linux"}
    if variant:
        platform["variant"] = variant
    cfg = dict(platform, created="2026-01-01T00:00:00Z",
               config={"Cmd": ["/bin/sh"]},
               rootfs={"type": "layers", "diff_ids": [d for _, d in layers]})
    cd, cs = put("config", json.dumps(cfg, sort_keys=True).encode())
    man = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": {"mediaType": OCI_CONFIG, "digest": cd, "size": cs},
           "layers": [l for l, _ in layers]}
    md, ms = put("manifest", json.dumps(man).encode())
    return {"mediaType": OCI_MANIFEST, "digest": md, "size": ms, "platform": platform}


base1, base2 = layer("base1", 64), layer("base2", 32)
tops = {
    "alpha": image([base1, base2, layer("alpha", 48)], "amd64"),
    "beta": image([base1, base2, layer("beta", 48)], "amd64"),
    "gamma": image([base1, layer("gamma", 64)], "amd64"),
}
children = [
    image([base1, layer("m-amd64", 48)], "amd64"),
    image([layer("m-arm64-base", 32), layer("m-arm64", 48)], "arm64", "v8"),
    image([layer("m-armv7", 32)], "arm", "v7"),
]
index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}
idx_d, idx_s = put("index", json.dumps(index).encode())
tops["multi"] = {"mediaType": OCI_INDEX, "digest": idx_d, "size": idx_s}

refs = []
for repo, desc in tops.items():
    d = {k: v for k, v in desc.items() if k != "platform"}
    d["annotations"] = {"org.opencontainers.image.ref.name": f"{repo}-1"}
    refs.append(d)
with open(os.path.join(root, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": refs}, f)
with open(os.path.join(root, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
print("\n".join(sorted(set(listing))))
