"""Several real workers on one Redis and one data directory: ordering, a dead owner, bans.

Each worker is its own ``python -m workshop_server`` process on its own port (as containers behind a
load balancer are), so that a test chooses the worker each client reaches.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from tests.durability import database
from tests.protocol.test_http import post_room
from tests.protocol.test_self_erasure import erase
from tests.support.client import Client, create_room
from tests.support.cluster import Cluster, Outbox, cluster

pytestmark = pytest.mark.redis


async def join(url: str, room: str, name: str) -> Client:
    client = await Client.connect(url)
    await client.join(room, name)
    return client


async def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


def board(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The ideas a client saw posted, in order: (id, text)."""
    return [
        (e["data"]["idea"]["id"], e["data"]["idea"]["text"]) for e in events if e["name"] == "idea.posted"
    ]


async def test_clients_on_two_workers_see_one_order(tmp_path: Path, redis_url: str) -> None:
    """20 participants split over 2 workers post 50 ideas each, all at once: every client sees one
    strictly increasing seq, staff on either worker see no gap, and every board ends the same."""
    with cluster(tmp_path, redis_url) as group:
        urls = [w.ws_url for w in group.workers]
        links = create_room(group.workers[0].url)
        code = links["room"]
        staff = [await Client.connect(url) for url in urls]
        for client in staff:
            await client.auth(links["facilitator_token"])
        await staff[0].ok("round.open", kind="ideate", prompt="Go", private=False)
        people = [await join(urls[n % 2], code, f"P{n}") for n in range(20)]
        assert {p.hello["worker"] for p in people[:2]} == {c.hello["worker"] for c in staff}
        assert len({c.hello["worker"] for c in staff}) == 2

        async def post_all(n: int, client: Client) -> None:
            replies = await asyncio.gather(*(client.call("idea.post", text=f"{n}-{k}") for k in range(50)))
            assert all(r["type"] == "ok" for r in replies), [r for r in replies if r["type"] != "ok"][:3]

        await asyncio.gather(*(post_all(n, p) for n, p in enumerate(people)))
        last = max(c.last_seq for c in staff)
        await wait_for(lambda: all(c.last_seq >= last for c in [*staff, *people]))
        for client in [*staff, *people]:
            seqs = [e["seq"] for e in client.events]
            assert seqs == sorted(set(seqs)), "a client saw an event twice or out of order"
        for client in staff:
            seqs = [e["seq"] for e in client.events]
            assert seqs == list(range(seqs[0], seqs[-1] + 1)), "staff missed an event"
        boards = [board(c.events) for c in [*staff, *people]]
        assert len(boards[0]) == 1000
        assert all(b == boards[0] for b in boards)
        for client in [*staff, *people]:
            await client.close()


@pytest.mark.parametrize("failure", ["kill", "pause"])
async def test_the_owner_failing_mid_round_loses_nothing_acknowledged(
    tmp_path: Path, redis_url: str, failure: str
) -> None:
    """kill -9 the owning worker (or SIGSTOP it for three leases, then SIGCONT) while clients on both
    workers post, resending with the same ids: the other worker takes the room over (a paused owner
    steps down when it wakes), every client ends on the same board, and every acknowledged idea is
    there exactly once."""
    with cluster(tmp_path, redis_url) as group:
        urls = [w.ws_url for w in group.workers]
        links = create_room(group.workers[0].url)
        code = links["room"]
        owner = group.owner_of(code)
        assert owner == 0
        facilitator = Outbox(urls, links["facilitator_token"])
        await facilitator.send("round.open", kind="ideate", prompt="Go", private=False)
        tokens = []
        for n in range(8):
            client = await join(urls[n % 2], code, f"P{n}")
            tokens.append((client.token, urls[n % 2]))
            await client.close()
        # Each poster starts on its own worker and fails over to the other one.
        posters = [Outbox([url, *[u for u in urls if u != url]], token) for token, url in tokens]
        killed = asyncio.Event()

        async def post(n: int, poster: Outbox) -> None:
            for k in range(30):
                reply = await poster.send("idea.post", cid=f"{n}-{k}", text=f"idea {n}-{k}", within=90)
                assert reply["type"] == "ok", reply
                if n == 0 and k == 10:
                    process = group.workers[owner].process
                    assert process is not None
                    if failure == "kill":
                        group.workers[owner].kill()
                        killed.set()
                    else:
                        process.send_signal(signal.SIGSTOP)
                        killed.set()
                        await asyncio.sleep(5)  # three leases and more
                        process.send_signal(signal.SIGCONT)

        await asyncio.gather(*(post(n, p) for n, p in enumerate(posters)))
        assert killed.is_set()
        assert group.owner_of(code) == 1
        # Everyone converges on the survivor's board.
        final = await facilitator.send("ping")
        for poster in [facilitator, *posters]:
            await poster.send("ping")
            await wait_for(lambda p=poster: p.position()[1] >= final["seq"], 30)
        checker = await Client.connect(urls[1])
        state = (await checker.auth(links["facilitator_token"]))["snapshot"]
        texts = [i["text"] for i in state["ideas"]]
        acked = [f"idea {cid}" for poster in posters for cid in poster.acked if "-" in cid]
        assert len(acked) == 8 * 30
        assert sorted(t for t in texts if t in set(acked)) == sorted(acked), (
            "an acknowledged idea is lost or doubled"
        )
        assert len(texts) == len(set(texts)), "an idea was applied twice"
        if failure == "pause":
            # Woken, the old owner stops serving the room by whichever it notices first: a batch of the
            # new owner's epoch, its lease renewal refused, its broker connection timed out while it
            # slept (every room of it then resumes elsewhere), or the publication of the batch it had
            # journaled before the pause timing out (the room is then unloaded: LocalRoom.fail).
            log_path = group.workers[owner].log_path
            stepped_down = (
                "steps down",
                "lost its ownership lease",
                "lost the message broker",
                "failed after its batch was journaled",
            )
            deadline = time.monotonic() + 30
            while not any(s in log_path.read_text(errors="replace") for s in stepped_down):
                assert time.monotonic() < deadline, log_path.read_text(errors="replace")
                await asyncio.sleep(0.1)
        await checker.close()
        for poster in [facilitator, *posters]:
            await poster.close()


async def test_a_participant_removed_on_one_worker_cannot_come_back_through_another(
    tmp_path: Path, redis_url: str
) -> None:
    with cluster(tmp_path, redis_url) as group:
        a, b = (w.ws_url for w in group.workers)
        links = create_room(group.workers[0].url)
        code = links["room"]
        staff = await Client.connect(a)
        await staff.auth(links["facilitator_token"])
        troll = await join(b, code, "Troll")
        assert troll.member is not None
        await staff.ok("member.remove", member=troll.member["id"], reason="spam")
        await wait_for(lambda: troll.close_code is not None)
        assert troll.close_code == 4100
        for url in (a, b):
            again = await Client.connect(url)
            await again.fails("banned", "auth", token=troll.token)
            await again.close()
        await staff.close()


def test_the_cluster_helpers_see_who_owns_a_room(tmp_path: Path, redis_url: str) -> None:
    """/healthz names each worker and the rooms it owns; a room is owned by exactly one worker."""
    group = Cluster(tmp_path, redis_url).start()
    try:
        links = create_room(group.workers[1].url)
        ids = {group.health(n)["worker"] for n in range(2)}
        assert len(ids) == 2
        owners = [n for n in range(2) if links["room"] in group.health(n)["owned"]]
        assert owners == [1]
    finally:
        group.stop()


async def test_members_of_a_dead_worker_leave_presence(tmp_path: Path, redis_url: str) -> None:
    """kill -9 a worker that only relays: the owner drops its members from presence once the worker's
    announcement runs out (within two heartbeats), its own members stay, and the room goes on."""
    with cluster(tmp_path, redis_url) as group:
        a, b = (w.ws_url for w in group.workers)
        links = create_room(group.workers[0].url)
        code = links["room"]
        staff = await Client.connect(a)
        await staff.auth(links["facilitator_token"])
        people = [await join(b, code, f"P{n}") for n in range(3)]

        def online() -> int | None:
            counts = [e["data"]["online"] for e in staff.events if e["name"] == "presence"]
            return counts[-1] if counts else None

        await wait_for(lambda: online() == 4)
        group.workers[1].kill()
        await wait_for(lambda: online() == 1)
        assert group.owner_of(code) == 0
        assert 'workshop_cluster_events_total{event="presence_expired"}' in group.metrics(0)
        await staff.ok("round.open", kind="ideate", prompt="Still here", private=False)
        for client in [staff, *people]:
            await client.close()


async def test_a_removed_member_erases_its_data_through_a_worker_that_does_not_own_the_room(
    tmp_path: Path, redis_url: str
) -> None:
    """POST /api/rooms/{code}/my-data/erase reaches the room through its handle on any worker: on B, for a
    room A owns, it is forwarded to A, journaled there, and A's staff get member.erased; the resend (a
    lost reply) on B answers the same."""
    with cluster(tmp_path, redis_url) as group:
        a, b = group.workers
        links = create_room(a.url)
        code = links["room"]
        staff = await Client.connect(a.ws_url)
        await staff.auth(links["facilitator_token"])
        zoe = await join(a.ws_url, code, "Zoé Quintessa")
        assert zoe.token is not None and zoe.member is not None
        await staff.ok("member.remove", member=zoe.member["id"], reason="rude")
        assert group.owner_of(code) == 0  # A owns it: B must forward
        answered = erase(b, code, zoe.token)
        assert answered.status == 200, answered.body
        assert answered.json()["member"] == zoe.member["id"]
        erased = await staff.wait_for("member.erased")
        assert erased["data"]["member"] == zoe.member["id"]
        again = erase(b, code, zoe.token)
        assert (again.status, again.json()) == (200, answered.json())
        await staff.close()
        await zoe.close()


async def test_a_room_creation_resent_to_the_other_worker_while_in_flight_makes_one_room(
    tmp_path: Path, redis_url: str
) -> None:
    """POST /api/rooms with one client id reaches both workers at once (a resend on another connection,
    balanced to the other worker, while the first is still being answered): one room is made, and
    every answer that is not a temporary refusal names it, with the same links; a temporary one,
    resent, gets them too."""
    cid = "create-" + "7" * 24
    body = {"id": cid, "title": "Night buses", "rules": "Be kind."}
    with cluster(tmp_path, redis_url) as group:
        for attempt in range(5):
            body["id"] = f"{cid}{attempt}"
            answers = await asyncio.gather(
                *(asyncio.to_thread(post_room, worker, body) for worker in [*group.workers, *group.workers])
            )
            for n, answer in enumerate(answers):
                for _ in range(20):  # temporary: the client resends, with the same id
                    if answer.status != 503:
                        break
                    time.sleep(0.1)
                    answer = post_room(group.workers[n % 2], body)
                assert answer.status == 201, answer.body
                answers[n] = answer
            # The same room and credentials (the links' address is each worker's port here).
            made = {
                (a.json()["room"], a.json()["facilitator_token"], a.json()["screen_token"]) for a in answers
            }
            assert len(made) == 1, made
    connection = sqlite3.connect(database(tmp_path / "data"))
    try:
        assert connection.execute("SELECT COUNT(*) FROM rooms").fetchone() == (5,)
    finally:
        connection.close()
