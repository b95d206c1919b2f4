"""``python -m bench.member_connections``: what the exact connection limit per participant costs (issue #9).

It starts its own ``redis-server`` and measures:

* **claim and release**: the Redis round trip of ``Broker.claim_connection`` and
  ``release_connection`` (sequential, one member whose hash holds the shares of three other live
  workers), the cost added to each ``auth``/``join`` and each close;
* **a killed worker's connections**: two real workers, ``max_connections_per_member`` 2, one of the
  member's connections on each; kill -9 of the second, then an ``auth`` on the first, repeated every
  10 ms until it is let in. The time from the kill to that ``ok``, per trial, at the default
  ``lease_seconds`` and at 1.5 s. The bound is the announcement's life: a heartbeat and a half.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from bench.cluster import DEFAULT_LEASE, Redis, ours, start_all
from workshop_server.broker import RedisBroker
from workshop_server.broker.base import worker_key


async def call(ws: ClientConnection, type_: str, cid: str, **fields: Any) -> dict[str, Any]:
    """Send one message and return the reply with its id (events and presence are skipped)."""
    await ws.send(json.dumps({"type": type_, "id": cid, **fields}))
    while True:
        frames = json.loads(await ws.recv())
        for frame in frames if isinstance(frames, list) else [frames]:
            if frame.get("id") == cid:
                reply: dict[str, Any] = frame
                return reply


async def opened(url: str) -> ClientConnection:
    ws = await ws_connect(url.replace("http", "ws") + "/ws")
    json.loads(await ws.recv())  # hello
    return ws


async def claim_cost(url: str, n: int) -> dict[str, float]:
    broker = RedisBroker(url, prefix="bench:")
    await broker.connect()
    try:
        for worker in ("w", "w0", "w1", "w2"):
            await broker.claim(worker_key(worker), worker, 600)
        for worker in ("w0", "w1", "w2"):
            await broker.set_connections("R", "m1", worker, 1)
        claims, releases = [], []
        for _ in range(n):
            start = time.perf_counter()
            await broker.claim_connection("R", "m1", "w", 10**6)
            claims.append(time.perf_counter() - start)
            start = time.perf_counter()
            await broker.release_connection("R", "m1", "w")
            releases.append(time.perf_counter() - start)
    finally:
        await broker.disconnect()
    return {
        "claim_median_us": statistics.median(claims) * 1e6,
        "release_median_us": statistics.median(releases) * 1e6,
    }


async def killed_trial(root: Path, redis_url: str, lease: float) -> float:
    data = root / "data"
    settings = {
        "BROKER": "redis",
        "REDIS_URL": redis_url,
        "LEASE_SECONDS": f"{lease:g}",
        "MAX_CONNECTIONS_PER_MEMBER": "2",
    }
    servers = [ours(root / "logs", data, **settings) for _ in range(2)]
    await start_all(servers)
    sockets: list[ClientConnection] = []
    try:
        links = await asyncio.to_thread(servers[0].create_room)
        first = await opened(servers[0].url)
        sockets.append(first)
        room = links["room"]
        joined = await call(first, "join", "join-ana-00000000", room=room, name="Ana", accept_rules=1)
        assert joined["type"] == "ok", joined
        token = joined["result"]["token"]
        other = await opened(servers[1].url)
        sockets.append(other)
        assert (await call(other, "auth", "a1", token=token))["type"] == "ok"
        probe = await opened(servers[0].url)
        sockets.append(probe)
        refused = await call(probe, "auth", "p0", token=token)
        assert refused.get("code") == "too_many_connections", refused
        await asyncio.sleep(random.uniform(0, lease / 3))  # anywhere in the announcements' cycle
        assert servers[1].process is not None
        servers[1].process.kill()
        killed = time.monotonic()
        for n in range(10_000):
            reply = await call(probe, "auth", f"p{n + 1}", token=token)
            if reply["type"] == "ok":
                return time.monotonic() - killed
            await asyncio.sleep(0.01)
        raise RuntimeError("the killed worker's connection never stopped counting")
    finally:
        for ws in sockets:
            await ws.close()
        for server in servers:
            server.stop()


async def run(trials: int, claims: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="bench-member-connections-"))
    redis = Redis(root / "redis")
    redis.start()
    try:
        report: dict[str, Any] = {"claims": await claim_cost(redis.url(), claims), "killed": {}}
        for lease in sorted({DEFAULT_LEASE, 1.5}, reverse=True):
            times = [
                await killed_trial(root / f"{lease:g}-{k}", redis.url(k + 1), lease) for k in range(trials)
            ]
            report["killed"][f"{lease:g}"] = {
                "heartbeat": lease / 3,
                "bound": 1.5 * lease / 3,
                "seconds": [round(t, 3) for t in times],
            }
        return report
    finally:
        redis.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--claims", type=int, default=2000)
    args = parser.parse_args(argv)
    report = asyncio.run(run(args.trials, args.claims))
    claims = report["claims"]
    print(f"claim {claims['claim_median_us']:.0f} µs, release {claims['release_median_us']:.0f} µs (median)")
    for lease, found in report["killed"].items():
        seconds = found["seconds"]
        print(
            f"lease_seconds {lease}: a killed worker's connection stopped counting after "
            f"{min(seconds):.2f}-{max(seconds):.2f} s "
            f"(bound: {found['bound']:.2f} s, plus the auth's own time)"
        )


if __name__ == "__main__":
    main()
