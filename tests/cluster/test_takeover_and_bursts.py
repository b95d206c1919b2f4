"""Scale-out review: an owner paused past its lease, and requests to an owner that holds a lease
but not the room."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from tests.cluster.test_workers import join, wait_for
from tests.support.client import Client, create_room
from tests.support.cluster import Outbox, cluster

pytestmark = pytest.mark.redis


async def test_an_owner_paused_past_its_lease_loses_and_doubles_nothing(
    tmp_path: Path, redis_url: str
) -> None:
    """SIGSTOP the owner for three leases while clients on both workers post (resending with the same
    ids), then SIGCONT it: every acknowledged idea is on the board exactly once, every client converges."""
    with cluster(tmp_path, redis_url) as group:
        urls = [w.ws_url for w in group.workers]
        links = create_room(group.workers[0].url)
        code = links["room"]
        owner = group.owner_of(code)
        assert owner == 0
        facilitator = Outbox(urls, links["facilitator_token"])
        await facilitator.send("round.open", kind="ideate", prompt="Go", private=False)
        tokens = []
        for n in range(6):
            client = await join(urls[n % 2], code, f"P{n}")
            tokens.append((client.token, urls[n % 2]))
            await client.close()
        posters = [Outbox([url, *[u for u in urls if u != url]], token) for token, url in tokens]
        paused = asyncio.Event()
        process = group.workers[owner].process
        assert process is not None

        async def post(n: int, poster: Outbox) -> None:
            for k in range(30):
                reply = await poster.send("idea.post", cid=f"{n}-{k}", text=f"idea {n}-{k}", within=90)
                assert reply["type"] == "ok", reply
                if n == 1 and k == 8:
                    process.send_signal(signal.SIGSTOP)
                    paused.set()
                    await asyncio.sleep(5)
                    process.send_signal(signal.SIGCONT)

        await asyncio.gather(*(post(n, p) for n, p in enumerate(posters)))
        assert paused.is_set()
        final = await facilitator.send("ping")
        for poster in [facilitator, *posters]:
            await poster.send("ping")
            await wait_for(lambda p=poster: p.position()[1] >= final["seq"], 30)
        checker = await Client.connect(urls[1])
        state = (await checker.auth(links["facilitator_token"]))["snapshot"]
        texts = [i["text"] for i in state["ideas"]]
        acked = [f"idea {cid}" for poster in posters for cid in poster.acked if "-" in cid]
        assert len(acked) == 6 * 30
        assert sorted(t for t in texts if t in set(acked)) == sorted(acked), "an acknowledged idea is lost"
        assert len(texts) == len(set(texts)), "an idea was applied twice"
        assert "steps down" in group.workers[0].log_path.read_text(errors="replace")  # it was taken over
        await checker.close()
        for poster in [facilitator, *posters]:
            await poster.close()


async def test_a_big_room_reattached_in_place_on_a_relaying_worker_keeps_its_connections(
    tmp_path: Path, redis_url: str
) -> None:
    """A room of 800 ideas, 120 participants on the relaying worker B. A participant erases its data
    (the room compacts under a new epoch: every worker attaches its connections again in place).
    B used to ask the owner for 120 snapshots at once, and the owner answered them all in one Redis
    message (Rpc.flush), about 50 MB, past Redis's default pub/sub output buffer limit (32 MB): Redis
    dropped B's subscription, B lost its broker, and every connection of B was closed (4003) instead
    of getting a snapshot in place, as scaling.md promises. Now: 16 attaches at a time, and messages
    between workers split at about 1 MB."""
    with cluster(tmp_path, redis_url, presence_interval=1.0) as group:
        a, b = (w.ws_url for w in group.workers)
        links = create_room(group.workers[0].url)
        code = links["room"]
        staff = await Client.connect(a)
        await staff.auth(links["facilitator_token"])
        await staff.ok("round.open", kind="ideate", prompt="Go", private=False)
        poster = await join(a, code, "Poster")
        filler = " ".join(["lorem ipsum dolor sit amet consectetur"] * 12)[:440]
        for start in range(0, 800, 100):
            replies = await asyncio.gather(
                *(poster.call("idea.post", text=f"{k:04d} {filler}") for k in range(start, start + 100))
            )
            assert all(r["type"] == "ok" for r in replies), replies[:1]
        crowd: list[Client] = []
        for start in range(0, 120, 20):
            crowd += await asyncio.gather(*(join(b, code, f"P{n}") for n in range(start, start + 20)))
        await asyncio.sleep(1.0)
        eve = await join(a, code, "Eve")
        await eve.ok("member.erase")

        def settled(client: Client) -> bool:
            return client.close_code is not None or any(m.get("type") == "snapshot" for m in client.other)

        await wait_for(lambda: all(settled(c) for c in crowd), 60)
        closed = [c.close_code for c in crowd if c.close_code is not None]
        log_b = group.workers[1].log_path.read_text(errors="replace")
        assert closed == [], (
            f"{len(closed)} of B's 120 connections were closed: {set(closed)}\n{log_b[-1000:]}"
        )
        assert "lost the message broker" not in log_b, log_b[-2000:]
        for client in [staff, poster, *crowd]:
            await client.close()


async def test_a_burst_of_reconnections_does_not_run_out_of_redis_connections(
    tmp_path: Path, redis_url: str
) -> None:
    """300 participants of a room owned by A reconnect to B at once (as after a 4003): each auth is a
    Redis round trip or more on B (its connection claim). redis-py 8's default asyncio pool holds at
    most 100 connections and fails the 101st operation at once ("Too many connections"): auths got
    server_busy, and B's own announcement and lease renewals failed with them (other workers may then
    take B for dead). The broker's pool now blocks (64 connections) within ``redis_timeout``."""
    with cluster(tmp_path, redis_url) as group:
        b = group.workers[1].ws_url
        links = create_room(group.workers[0].url)
        code = links["room"]
        tokens = []
        for start in range(0, 300, 25):
            people = await asyncio.gather(*(join(b, code, f"P{n}") for n in range(start, start + 25)))
            tokens += [p.token for p in people]
            for person in people:
                await person.close()
        clients = await asyncio.gather(*(Client.connect(b) for _ in tokens))
        replies = await asyncio.gather(
            *(client.call("auth", token=token) for client, token in zip(clients, tokens, strict=True))
        )
        refused = [r for r in replies if r["type"] != "ok"]
        log_b = group.workers[1].log_path.read_text(errors="replace")
        assert "Too many connections" not in log_b, log_b[-1500:]
        assert refused == [], f"{len(refused)} of 300 auths refused, e.g. {refused[0]}"
        for client in clients:
            await client.close()
