#!/usr/bin/env python3
"""BENCH-ONLY: a static PyPI-like upstream from a directory of real wheels (pair 5).

Usage: python3 make_upstream.py WHEEL_DIR WEB_ROOT BASE_URL SERIAL

Reads every ``*.whl`` in WHEEL_DIR (real wheels fetched with ``pip download``) and writes
into WEB_ROOT what both sides of the pair ask an index for, as static files that nginx
serves (bench/pairs/05-pypi-sync.sh holds the nginx locations that map URLs to them):

* ``packages/<project>/<file>`` -- a symbolic link to the wheel in WHEEL_DIR, and
  ``packages/<project>/<file>.metadata`` -- the wheel's ``*.dist-info/METADATA`` byte for
  byte (PEP 658 core metadata, which the public index has for every wheel);
* ``simple/index.json`` -- the PEP 691 project list with a ``_last-serial`` per project:
  what bandersnatch's ``api-method = simple`` reads at ``/simple`` to learn the projects;
* ``simple/<project>/index.json`` -- the PEP 691 (API 1.1) project page: absolute file
  URLs, sha256, ``requires-python``, size, upload time (PEP 700) and ``core-metadata``
  (PEP 714) with the sha256 of the ``.metadata`` file -- what mirror-sync reads;
* ``pypi/<project>/index.json`` -- the JSON API document (``info``, ``releases``,
  ``urls``, ``last_serial``) that bandersnatch reads at ``/pypi/<project>/json``.

Every project gets serial SERIAL; nginx sends ``X-PyPI-Last-Serial: SERIAL`` with the JSON
API documents (bandersnatch refuses a document whose serial is older than the list's).
Upload times are fixed (one day per release, in version order), so the output depends only
on the wheels and BASE_URL. Standard library only.
"""

import hashlib
import json
import os
import re
import sys
import zipfile


def normalize(name):
    """PEP 503 normalized project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def version_key(v):
    """Good enough PEP 440 ordering for the final releases used here (1.2.10 > 1.2.9)."""
    return [int(p) if p.isdigit() else p for p in re.split(r"[.+-]", v)]


def read_metadata(path):
    with zipfile.ZipFile(path) as z:
        names = [n for n in z.namelist()
                 if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        if len(names) != 1:
            sys.exit(f"{path}: expected one .dist-info/METADATA, found {names}")
        return z.read(names[0])


def header(meta, field):
    for line in meta.decode("utf-8", "replace").splitlines():
        if not line.strip():
            break
        if line.lower().startswith(field.lower() + ":"):
            return line.split(":", 1)[1].strip()
    return None


def main():
    wheel_dir, root, base, serial = sys.argv[1], sys.argv[2], sys.argv[3].rstrip("/"), int(sys.argv[4])
    projects = {}
    for fn in sorted(os.listdir(wheel_dir)):
        if not fn.endswith(".whl"):
            continue
        path = os.path.abspath(os.path.join(wheel_dir, fn))
        dist, version = fn[:-4].split("-")[:2]
        project = normalize(dist)
        data = open(path, "rb").read()
        meta = read_metadata(path)
        projects.setdefault(project, []).append({
            "filename": fn, "path": path, "version": version,
            "sha256": hashlib.sha256(data).hexdigest(),
            "md5": hashlib.md5(data).hexdigest(),
            "size": len(data), "meta": meta,
            "meta_sha256": hashlib.sha256(meta).hexdigest(),
            "name": header(meta, "Name") or dist,
            "requires_python": header(meta, "Requires-Python"),
            "python_tag": fn[:-4].split("-")[-3],
        })
    if not projects:
        sys.exit(f"no wheels in {wheel_dir}")

    def write(rel, body):
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(body if isinstance(body, bytes) else body.encode("utf-8"))

    listing = []
    for project, files in sorted(projects.items()):
        versions = sorted({f["version"] for f in files}, key=version_key)
        day = {v: i + 1 for i, v in enumerate(versions)}
        simple_files, releases = [], {v: [] for v in versions}
        for f in sorted(files, key=lambda f: f["filename"]):
            rel = f"packages/{project}/{f['filename']}"
            link = os.path.join(root, rel)
            os.makedirs(os.path.dirname(link), exist_ok=True)
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink(f["path"], link)
            write(rel + ".metadata", f["meta"])
            url = f"{base}/{rel}"
            when = f"2025-01-{day[f['version']]:02d}T00:00:00.000000Z"
            simple_files.append({
                "filename": f["filename"], "url": url,
                "hashes": {"sha256": f["sha256"]},
                "requires-python": f["requires_python"],
                "size": f["size"], "upload-time": when, "yanked": False,
                "core-metadata": {"sha256": f["meta_sha256"]},
                "data-dist-info-metadata": {"sha256": f["meta_sha256"]},
            })
            releases[f["version"]].append({
                "filename": f["filename"], "url": url, "packagetype": "bdist_wheel",
                "python_version": f["python_tag"], "requires_python": f["requires_python"],
                "size": f["size"], "digests": {"sha256": f["sha256"], "md5": f["md5"]},
                "md5_digest": f["md5"], "has_sig": False, "comment_text": "",
                "upload_time": when[:19], "upload_time_iso_8601": when,
                "yanked": False, "yanked_reason": None,
            })
        latest = versions[-1]
        name = next(f["name"] for f in files if f["version"] == latest)
        write(f"simple/{project}/index.json", json.dumps({
            "meta": {"api-version": "1.1", "_last-serial": serial},
            "name": project, "versions": versions, "files": simple_files,
        }))
        write(f"pypi/{project}/index.json", json.dumps({
            "info": {"name": name, "version": latest,
                     "requires_python": releases[latest][0]["requires_python"]},
            "last_serial": serial, "releases": releases, "urls": releases[latest],
            "vulnerabilities": [],
        }))
        listing.append({"name": name, "_last-serial": serial})
    write("simple/index.json", json.dumps({
        "meta": {"api-version": "1.1", "_last-serial": serial}, "projects": listing,
    }))


if __name__ == "__main__":
    main()
