"""Ordering at the edges of a connection's life, through real servers (found by a review of the delivery
path; each test failed before its fix):

* the reply to ``join`` comes before any event, also when claiming the member's connection waits on
  Redis after the join seated the connection;
* a reply never overtakes the snapshot of a held connection (the fan-out holds every connection when
  the room starts a new epoch, here after an erasure, until it is attached again in place);
* a connection that a batch closes (a removal) still gets the replies to its commands of that batch.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import long_run
from tests.support.client import Client, create_room
from tests.support.server import CROWD_FROM_ONE_ADDRESS, ServerProcess

SETTINGS: dict[str, object] = {
    **CROWD_FROM_ONE_ADDRESS,
    "commands_per_second": 1000,
    "command_burst": 1000,
    "ideas_per_member_max": 100_000,  # each poster posts hundreds of ideas
}


async def open_room(server: ServerProcess, posters: int) -> tuple[dict[str, Any], Client, list[Client]]:
    """A room with an open ideation round, its facilitator and ``posters`` participants."""
    links = create_room(server.url)
    facilitator = await Client.connect(server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("round.open", kind="ideate", prompt="How?", duration=600, private=False)
    joined = []
    for i in range(posters):
        poster = await Client.connect(server.ws_url)
        await poster.join(links["room"], f"P{i}")
        joined.append(poster)
    return links, facilitator, joined


class Posting:
    """Each poster posts ideas one after the other (waiting for each reply) until stopped."""

    def __init__(self, posters: list[Client]) -> None:
        self.stopped = False
        self.tasks = [asyncio.create_task(self._post(p)) for p in posters]

    async def _post(self, poster: Client) -> None:
        n = 0
        while not self.stopped:
            await poster.ok("idea.post", text=f"idea {n}")
            n += 1

    async def stop(self) -> None:
        self.stopped = True
        await asyncio.gather(*self.tasks)


@pytest.mark.parametrize("broker", ["memory", "redis"])
async def test_the_join_reply_comes_before_any_event(
    tmp_path: Path, broker: str, request: pytest.FixtureRequest
) -> None:
    settings = {**SETTINGS, "broker": broker}
    if broker == "redis":
        settings["redis_url"] = request.getfixturevalue("redis_server")
    with ServerProcess(tmp_path / "data", **settings) as server:
        links, facilitator, posters = await open_room(server, 3)
        posting = Posting(posters)
        early: list[tuple[int, list[str]]] = []
        joiners = []
        for j in range(60):
            joiner = await Client.connect(server.ws_url)
            await joiner.join(links["room"], f"J{j}")
            joiners.append(joiner)
            if joiner.log[0].get("type") != "ok":
                early.append((j, [f"{m.get('type')}:{m.get('seq')}" for m in joiner.log[:3]]))
        await posting.stop()
        for client in [facilitator, *posters, *joiners]:
            await client.close()
    assert not early, early


def replies_before_their_events(client: Client) -> list[str]:
    """Each ``ok`` of an ``idea.post`` that came before its own event and before any snapshot that
    covers its seq."""
    covered = 0
    seen: set[int] = set()
    bad = []
    for message in client.log:
        kind = message.get("type")
        if kind == "event":
            seen.add(message["seq"])
        elif kind == "snapshot":
            covered = max(covered, message["seq"])
        elif (
            kind == "ok"
            and "idea" in message.get("result", {})
            and message["seq"] not in seen
            and message["seq"] > covered
        ):
            bad.append(f"ok of seq {message['seq']} before its event (snapshot so far: {covered})")
    return bad


async def test_a_reply_waits_for_the_snapshot_of_a_held_connection(tmp_path: Path) -> None:
    """Each erasure starts a new epoch: every connection is held, then attached again in place with a
    snapshot. Ideas posted meanwhile are answered after that snapshot, never before; the member who
    erased itself still gets its answer."""
    with ServerProcess(tmp_path / "data", **SETTINGS) as server:
        links, facilitator, posters = await open_room(server, 4)
        posting = Posting(posters)
        erasers = []
        for i in range(25 if long_run() else 12):  # make test-long: 25 erasures
            eraser = await Client.connect(server.ws_url)
            await eraser.join(links["room"], f"A{i}")
            await asyncio.sleep(0.05)
            await eraser.ok("member.erase")
            erasers.append(eraser)
            await asyncio.sleep(0.1)
        await posting.stop()
        bad = [b for p in posters for b in replies_before_their_events(p)]
        snapshots = sum(1 for p in posters for m in p.log if m.get("type") == "snapshot")
        for client in [facilitator, *posters, *erasers]:
            await client.close()
    assert snapshots >= 1
    assert not bad, bad


async def test_a_command_applied_before_the_members_removal_is_answered(tmp_path: Path) -> None:
    """A post and the member's removal in one batch: the removal closes the connection (4100) after
    the batch's events, and the post's reply comes first."""
    with ServerProcess(tmp_path / "data", **SETTINGS) as server:
        links, facilitator, _ = await open_room(server, 0)
        lost = []
        same_batch = 0
        for i in range(30):
            member = await Client.connect(server.ws_url)
            joined = await member.join(links["room"], f"M{i}")
            # Both in flight together: usually in one batch, the post first.
            await member.ws.send(member.encode({"type": "idea.post", "id": f"p{i}", "text": "hello"}))
            await facilitator.ws.send(
                facilitator.encode({"type": "member.remove", "id": f"r{i}", "member": joined["member"]["id"]})
            )
            assert await member.wait_closed() == 4100
            posted = [e for e in member.events if e["name"] == "idea.posted"]
            removed = [e for e in member.events if e["name"] == "member.removed"]
            if posted and removed and posted[0]["seq"] < removed[0]["seq"]:
                same_batch += 1  # the post was applied (its event came) before the removal
                if f"p{i}" not in member.replies:
                    lost.append((i, posted[0]["seq"], removed[0]["seq"]))
        await facilitator.close()
    assert same_batch
    assert not lost, f"{len(lost)} of {same_batch} applied commands never got their reply: {lost[:5]}"
