"""Every way an ``auth`` with a position resumes, through a real server: from memory, from the journal
after a restart, or with a snapshot when the missed events are gone (compacted, another epoch, future).

Presence updates are switched off (``presence_interval`` of an hour) so that connections coming and
going make no events: the seq only moves when the test makes something happen.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.durability import connect
from tests.support.client import Client, create_room
from tests.support.server import ServerProcess

QUIET: dict[str, Any] = {"presence_interval": 3600}


@dataclass
class Workshop:
    """A room in a private-writing round: staff, Pia and Quy, each with a live reference connection."""

    server: ServerProcess
    staff_token: str
    facilitator: Client
    pia: Client
    quy: Client
    pia_texts: list[str]
    quy_texts: list[str]
    pia_joined_at: int = 0  # the seq in Pia's join reply
    locked: bool = False

    @property
    def pia_token(self) -> str:
        assert self.pia.token is not None
        return self.pia.token

    @property
    def position(self) -> tuple[str, int]:
        """Pia's position: the epoch and seq of the last event her live connection received."""
        assert self.pia.epoch is not None
        return self.pia.epoch, self.pia.last_seq

    async def more(self, n: int) -> None:
        """A public event (the room is locked or unlocked), ``n`` more ideas from Quy and one from Pia.

        Returns once every live connection received everything."""
        self.locked = not self.locked
        await self.facilitator.ok("room.set", locked=self.locked)
        for _ in range(n):
            text = f"Quy's secret {len(self.quy_texts)}"
            await self.quy.ok("idea.post", text=text)
            self.quy_texts.append(text)
        text = f"Pia's idea {len(self.pia_texts)}"
        seq = (await self.pia.request({"type": "idea.post", "text": text}))["seq"]
        self.pia_texts.append(text)
        await self.facilitator.wait_for(lambda e: e["seq"] == seq)

    async def close(self) -> None:
        for client in (self.facilitator, self.pia, self.quy):
            await client.close()


async def workshop(server: ServerProcess) -> Workshop:
    links = create_room(server.url)
    facilitator, _ = await connect(server.ws_url, links["facilitator_token"])
    pia, quy = await Client.connect(server.ws_url), await Client.connect(server.ws_url, binary=True)
    room = Workshop(server, links["facilitator_token"], facilitator, pia, quy, [], [])
    room.pia_joined_at = (await pia.join(links["room"], "Pia"))["seq"]
    await quy.join(links["room"], "Quy")
    await facilitator.ok("round.open", kind="ideate", prompt="Write alone first", duration=None, private=True)
    await room.more(2)
    return room


def after(client: Client, seq: int) -> list[dict[str, Any]]:
    """The events a live connection received after ``seq``: what a resume from ``seq`` must replay."""
    return [e for e in client.events if e["seq"] > seq]


def assert_private(events: list[dict[str, Any]], room: Workshop) -> None:
    """Pia's replay shows none of Quy's texts (the round is private and not revealed)."""
    dumped = json.dumps(events)
    assert [t for t in room.quy_texts if t in dumped] == []


def assert_pia_snapshot(result: dict[str, Any], room: Workshop, current: int) -> None:
    assert result["recovered"] is False
    assert "events" not in result
    assert result["seq"] == current
    snapshot = result["snapshot"]
    assert snapshot["seq"] == current
    assert sorted(i["text"] for i in snapshot["ideas"]) == sorted(room.pia_texts)


@pytest.fixture(scope="module")
def quiet_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("resume") / "data", **QUIET) as server:
        yield server


@pytest.fixture
async def room(quiet_server: ServerProcess) -> AsyncIterator[Workshop]:
    made = await workshop(quiet_server)
    try:
        yield made
    finally:
        await made.close()


@dataclass(frozen=True)
class Case:
    """A resume position, made from Pia's earlier position (epoch, seq) and the room's current seq."""

    name: str
    position: Callable[[Workshop, str, int, int], dict[str, Any]]
    recovered: bool


CASES = [
    Case("same position", lambda w, epoch, seq, now: {"epoch": epoch, "seq": now}, True),
    Case("a gap inside the buffer", lambda w, epoch, seq, now: {"epoch": epoch, "seq": seq}, True),
    Case("since the join", lambda w, epoch, seq, now: {"epoch": epoch, "seq": w.pia_joined_at}, True),
    Case("a seq from the future", lambda w, epoch, seq, now: {"epoch": epoch, "seq": now + 1}, False),
    Case("far in the future", lambda w, epoch, seq, now: {"epoch": epoch, "seq": now + 10_000}, False),
    Case("an epoch the room never had", lambda w, epoch, seq, now: {"epoch": epoch + "x", "seq": seq}, False),
    Case("a seq without its epoch", lambda w, epoch, seq, now: {"seq": seq}, False),
    Case("no position at all", lambda w, epoch, seq, now: {}, False),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_resume(room: Workshop, case: Case) -> None:
    epoch, seq = room.position
    await room.more(3)  # Pia's live connection saw these; a resume from ``seq`` missed them
    current = room.pia.last_seq
    resume = case.position(room, epoch, seq, current)
    client, result = await connect(room.server.ws_url, room.pia_token, **resume)
    try:
        assert result["seq"] == current
        assert result["epoch"] == epoch
        if not case.recovered:
            assert_pia_snapshot(result, room, current)
            return
        assert result["recovered"] is True
        assert "snapshot" not in result
        events = result["events"]
        assert events == after(room.pia, resume["seq"])  # exactly the missed ones, in order, as seen live
        assert_private(events, room)
        if resume["seq"] < current:
            assert events and events[-1]["seq"] == current
            posted = [e["data"]["idea"]["text"] for e in events if e["name"] == "idea.posted"]
            assert posted[-1] == room.pia_texts[-1]
            assert "room.updated" in [e["name"] for e in events]
    finally:
        await client.close()


async def test_staff_replay_shows_what_staff_saw_live(room: Workshop) -> None:
    """The same gap for the facilitator: the replay has Quy's ideas, as staff received them live."""
    assert room.facilitator.epoch is not None
    epoch, seq = room.facilitator.epoch, room.facilitator.last_seq
    await room.more(3)
    client, result = await connect(room.server.ws_url, room.staff_token, epoch=epoch, seq=seq)
    try:
        assert result["recovered"] is True
        assert result["events"] == after(room.facilitator, seq)
        texts = [e["data"]["idea"]["text"] for e in result["events"] if e["name"] == "idea.posted"]
        assert texts == [*room.quy_texts[-3:], room.pia_texts[-1]]
    finally:
        await client.close()


async def test_resume_from_the_journal_after_a_kill(tmp_path: Path) -> None:
    """After kill -9 the replay buffer is gone: the missed events come from the journal, the same ones."""
    server = ServerProcess(tmp_path / "data", **QUIET)
    server.start()
    clients: list[Client] = []
    try:
        room = await workshop(server)
        epoch, seq = room.position
        staff_epoch, staff_seq = room.facilitator.epoch, room.facilitator.last_seq
        await room.more(4)
        current = room.pia.last_seq
        server.kill()
        await room.close()
        server.start()

        # The restart loaded the room at a new epoch; the seqs go on, so the old position still resumes,
        # and the replayed events carry the new epoch (the client adopts it).
        pia, result = await connect(server.ws_url, room.pia_token, epoch=epoch, seq=seq)
        clients.append(pia)
        assert (result["recovered"], result["seq"]) == (True, current)
        assert int(result["epoch"]) > int(epoch)
        assert result["events"] == [{**e, "epoch": result["epoch"]} for e in after(room.pia, seq)]
        assert_private(result["events"], room)
        staff, result = await connect(server.ws_url, room.staff_token, epoch=staff_epoch, seq=staff_seq)
        clients.append(staff)
        assert (result["recovered"], result["seq"]) == (True, current)
        renumbered = [{**e, "epoch": result["epoch"]} for e in after(room.facilitator, staff_seq)]
        assert result["events"] == renumbered
        assert len([e for e in result["events"] if e["name"] == "idea.posted"]) == 5
        # Up to date already: nothing to replay.
        again, result = await connect(server.ws_url, room.pia_token, epoch=epoch, seq=current)
        clients.append(again)
        assert (result["recovered"], result["events"]) == (True, [])
    finally:
        server.kill()
        for client in clients:
            await client.close()


async def test_resume_beyond_what_is_retained_gets_a_snapshot(tmp_path: Path) -> None:
    """Snapshots every 5 events keep no entries behind them: an old position cannot be replayed after a
    restart (the buffer in memory could, before it)."""
    server = ServerProcess(tmp_path / "data", snapshot_keep_entries=0, snapshot_every_events=5, **QUIET)
    server.start()
    clients: list[Client] = []
    try:
        room = await workshop(server)
        epoch, seq = room.position
        await room.more(12)
        current = room.pia.last_seq
        # Before the restart, the replay buffer in memory still has the missed events.
        before, result = await connect(server.ws_url, room.pia_token, epoch=epoch, seq=seq)
        clients.append(before)
        assert result["recovered"] is True
        assert result["events"] == after(room.pia, seq)
        server.kill()
        await room.close()
        server.start()

        pia, result = await connect(server.ws_url, room.pia_token, epoch=epoch, seq=seq)
        clients.append(pia)
        assert_pia_snapshot(result, room, current)
        assert_private([result["snapshot"]], room)
        # A client that saw everything still resumes: the head is always retained.
        latest, result = await connect(server.ws_url, room.pia_token, epoch=epoch, seq=current)
        clients.append(latest)
        assert (result["recovered"], result["events"]) == (True, [])
    finally:
        server.kill()
        for client in clients:
            await client.close()
