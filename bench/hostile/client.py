#!/usr/bin/env python3
"""Hostile HTTP clients for bench/pairs/11-hostile.sh: holds N connections to HOST:PORT
for SECONDS, a third of each kind, and reconnects whatever the server closes so the
pressure stays at N:

  idle   connects and sends nothing;
  slow   sends a request head one byte per second and never finishes it;
  half   sends 400 KB of header fields without ever ending the head.

Prints one JSON object on stdout when done: connections opened, closed by the server,
refused (closed before a byte was read back or on connect), the peak held at once.

usage: client.py HOST PORT N SECONDS
"""

import asyncio
import json
import resource
import sys
import time

HALF = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Half: " + b"h" * 400_000
SLOW = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 10_000

stats = {"opened": 0, "closed_by_server": 0, "connect_failed": 0, "held_peak": 0}
held = 0


async def one(host, port, kind, deadline):
    global held
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            stats["connect_failed"] += 1
            await asyncio.sleep(0.05)
            continue
        stats["opened"] += 1
        held += 1
        stats["held_peak"] = max(stats["held_peak"], held)
        try:
            if kind == "half":
                writer.write(HALF)
                try:
                    await asyncio.wait_for(writer.drain(), deadline - time.monotonic())
                except (asyncio.TimeoutError, OSError):
                    pass
            elif kind == "slow":
                for b in SLOW:
                    if time.monotonic() >= deadline or reader.at_eof():
                        break
                    writer.write(bytes([b]))
                    await writer.drain()
                    try:
                        got = await asyncio.wait_for(reader.read(1024), 1.0)
                        if not got:
                            break
                    except asyncio.TimeoutError:
                        pass
            # Wait for the server to close (or the hold to end).
            try:
                await asyncio.wait_for(reader.read(), max(0.0, deadline - time.monotonic()))
                stats["closed_by_server"] += 1
            except asyncio.TimeoutError:
                pass
        except OSError:
            stats["closed_by_server"] += 1
        finally:
            held -= 1
            writer.close()


async def main():
    host, port, n, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    deadline = time.monotonic() + seconds
    kinds = ["idle", "slow", "half"]
    tasks = []
    for i in range(n):
        tasks.append(asyncio.create_task(one(host, port, kinds[i % 3], deadline)))
        if i % 100 == 99:
            await asyncio.sleep(0.01)
    await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps(stats))


asyncio.run(main())
