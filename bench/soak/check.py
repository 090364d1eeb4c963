#!/usr/bin/env python3
"""Byte checker for bench/soak.sh: while the load runs and snapshots switch, GET random
paths of the soak's path list and check every answer's status and bytes.

Usage: check.py URL PATHS SECONDS OUT_JSON

PATHS is the file soak.sh writes: one artifact per line, "<path> <digests> <size> <same> [<blob file>]",
where <digests> lists the allowed sha256 hex digests of the path's bytes, comma separated
(the path's bytes in each snapshot the soak switches between), and <same> is 1 when the
bytes are the same in all of them, with the bytes readable at <blob file> (the 5th field,
a drive's blobs/sha256/<hex>). For such a path, every other request asks for a random
byte range (RFC 9110 §14.2 Range) and the 206 answer's bytes are compared with that range
of the blob file.

A failure is: a connection error, a status other than 200 (206 for a range), a body whose
digest is not allowed, a range answer with other bytes or a wrong Content-Range. Writes
{"requests", "ranges", "bytes", "reconnects", "failures", "first_failures": [...]} to
OUT_JSON ("reconnects": kept-alive connections found closed and reopened).
Standard library only.
"""
import hashlib
import http.client
import json
import random
import sys
import time
import urllib.parse

url, paths_file, seconds, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
target = urllib.parse.urlsplit(url)
rows = []
with open(paths_file) as f:
    for line in f:
        parts = line.split()
        if len(parts) >= 4:
            rows.append(parts)
if not rows:
    sys.exit(f"check.py: no paths in {paths_file}")

conn = None
stats = {"requests": 0, "ranges": 0, "bytes": 0, "reconnects": 0, "failures": 0, "first_failures": []}


def fail(path, what):
    stats["failures"] += 1
    if len(stats["first_failures"]) < 20:
        stats["first_failures"].append(f"{time.strftime('%H:%M:%S')} {path}: {what}")


def get(path, headers):
    """One GET on the kept-alive connection; reconnects once if the server closed it idle."""
    global conn
    for attempt in (0, 1):
        if conn is None:
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        try:
            conn.request("GET", "/" + path, headers=headers)
            r = conn.getresponse()
            return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
            conn.close()
            conn = None
            stats["reconnects"] += 1
            # A kept-alive connection the server closed while idle is retried once, as
            # every HTTP client does; a second failure is a failure.
            if attempt == 1:
                raise e
    raise AssertionError("unreachable")


deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    row = rows[random.randrange(len(rows))]
    path, digests, size, same = row[:4]
    size = int(size)
    allowed = set(digests.split(","))
    want_range = same == "1" and len(row) > 4 and size > 1 and random.random() < 0.5
    headers = {}
    if want_range:
        start = random.randrange(size)
        end = min(size - 1, start + random.randrange(1, 65536))
        headers["Range"] = f"bytes={start}-{end}"
    stats["requests"] += 1
    try:
        status, h, body = get(path, headers)
    except Exception as e:  # noqa: BLE001 - every error is a failed request
        fail(path, f"{type(e).__name__}: {e}")
        if conn is not None:
            conn.close()
        conn = None
        continue
    stats["bytes"] += len(body)
    if want_range:
        stats["ranges"] += 1
        if status != 206:
            fail(path, f"range {headers['Range']}: status {status}")
            continue
        if h.get("content-range") != f"bytes {start}-{end}/{size}":
            fail(path, f"range {headers['Range']}: Content-Range {h.get('content-range')!r}")
            continue
        with open(row[4], "rb") as f:
            f.seek(start)
            expect = f.read(end - start + 1)
        if body != expect:
            fail(path, f"range {headers['Range']}: other bytes")
        continue
    if status != 200:
        fail(path, f"status {status}")
        continue
    if hashlib.sha256(body).hexdigest() not in allowed:
        fail(path, f"{len(body)} bytes whose sha256 is in no snapshot")

with open(out, "w") as f:
    json.dump(stats, f, indent=1)
