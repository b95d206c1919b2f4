"""Two workers in one process, on one in-memory broker and one journal, with no sockets.

Each hub is a real worker (its journal, leases, fan-outs and requests between workers); each client is
a real ``Session`` whose ASGI ``receive``/``send`` are queues, as websockets' own tests drive its
connection over an in-memory transport. Hub A owns the room; hub B forwards its clients' commands to A
and relays A's events to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.waiting import PATIENCE, eventually
from workshop_server import errors
from workshop_server import hub as hub_module
from workshop_server.broker import MemoryBroker, MemoryHub
from workshop_server.fanout import Fanout
from workshop_server.host import LocalRoom, pack
from workshop_server.hub import Hub
from workshop_server.protocol import JsonCodec
from workshop_server.remote import RemoteRoom, inbox_channel
from workshop_server.rooms import commands as c
from workshop_server.rooms import queries
from workshop_server.session import Session
from workshop_server.settings import Settings
from workshop_server.storage import StorageError
from workshop_server.tokens import TokenSigner

SECRET = "x" * 48


class Wire:
    """A client connected to a hub through queues: the real session, no socket."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._in: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.events: list[dict[str, Any]] = []
        self.replies: dict[str, dict[str, Any]] = {}
        self.snapshots: list[dict[str, Any]] = []
        self.closed: int | None = None
        self._arrived = asyncio.Event()
        self.session = Session(hub, self._send, JsonCodec(), ip="10.0.0.1")
        self.task = asyncio.get_running_loop().create_task(self.session.run(self._in.get))
        self.epoch: str | None = None
        self.seq = 0
        self.token = ""

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.close":
            self.closed = message["code"]
        else:
            for frame in _frames(message["text"]):
                if frame["type"] == "event":
                    self.events.append(frame)
                    self.epoch, self.seq = frame["epoch"], frame["seq"]
                elif frame["type"] == "snapshot":
                    self.snapshots.append(frame)
                elif frame.get("id") is not None:
                    self.replies[frame["id"]] = frame
        self._arrived.set()

    async def until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self._arrived.clear()
                await self._arrived.wait()

    async def call(self, type_: str, **fields: Any) -> dict[str, Any]:
        cid = fields.pop("id", None) or uuid.uuid4().hex
        await self._in.put(
            {"type": "websocket.receive", "text": json.dumps({"type": type_, "id": cid, **fields})}
        )
        await self.until(lambda: cid in self.replies)
        return self.replies[cid]

    async def ok(self, type_: str, **fields: Any) -> dict[str, Any]:
        reply = await self.call(type_, **fields)
        assert reply["type"] == "ok", reply
        result: dict[str, Any] = reply["result"]
        return result

    async def attached(self, type_: str, **fields: Any) -> dict[str, Any]:
        result = await self.ok(type_, **fields)
        self.token, self.epoch, self.seq = result["token"], result["epoch"], result["seq"]
        return result

    async def close(self) -> None:
        await self._in.put({"type": "websocket.disconnect", "code": 1000})
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.task, 5)


def _frames(text: str) -> list[dict[str, Any]]:
    data = json.loads(text)
    return data if isinstance(data, list) else [data]


def settings(data: Path, **overrides: Any) -> Settings:
    return Settings(
        data_dir=data,
        secret=SECRET,
        presence_interval=0.05,
        lease_seconds=0.6,
        forward_timeout=2.0,
        **overrides,
    )


@contextlib.asynccontextmanager
async def two_hubs(config: Settings, **hub_args: Any) -> AsyncIterator[tuple[Hub, Hub]]:
    """Two workers sharing ``config`` on one in-memory broker (no sockets), stopped afterwards."""
    shared = MemoryHub()
    hubs = [Hub(config, broker=MemoryBroker(shared), **hub_args) for _ in range(2)]
    for hub in hubs:
        await hub.start()
    try:
        yield hubs[0], hubs[1]
    finally:
        for hub in reversed(hubs):
            with contextlib.suppress(Exception):
                await hub.stop()


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Hub, Hub]]:
    async with two_hubs(settings(tmp_path / "data")) as hubs:
        yield hubs


async def new_room(hub: Hub, access: str = "code") -> tuple[str, dict[str, Any]]:
    host, _ = await hub.create_room(
        title="Shell",
        brief="",
        rules="Be kind.",
        access=access,
        passphrase=None,
        anonymous=False,
        locale="en",
        facilitator_name="Fay",
    )
    links = hub.links(host.room_id, await host.query("links"))
    return host.room_id, links


async def fay_on_a_ana_on_b(a: Hub, b: Hub) -> tuple[str, Wire, Wire]:
    """A new room on ``a``: its facilitator connected to ``a``, a participant joined through ``b``."""
    code, links = await new_room(a)
    fay = Wire(a)
    await fay.attached("auth", token=links["facilitator_token"])
    ana = Wire(b)
    await ana.attached("join", room=code, name="Ana", accept_rules=1)
    return code, fay, ana


async def heard_so_far(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    """Wait until ``hub``'s listener has handled every message published to it so far. The broker puts
    each message in every subscriber's inbox as it is published, and a worker's inbox is one queue,
    first in, first out, for all its channels: a marker sent to the worker's own channel now comes out
    after all of them."""
    marker = b"marker " + uuid.uuid4().hex.encode()
    heard = asyncio.Event()
    on_message = hub.rpc.on_message

    def noting(data: bytes) -> None:
        if data == marker:
            heard.set()
        else:
            on_message(data)

    monkeypatch.setattr(hub.rpc, "on_message", noting)
    await hub.broker.publish(inbox_channel(hub.worker_id), marker)
    async with asyncio.timeout(PATIENCE):
        await heard.wait()
    monkeypatch.setattr(hub.rpc, "on_message", on_message)


async def test_the_other_worker_forwards_to_the_owner_and_relays_its_events(pair: tuple[Hub, Hub]) -> None:
    a, b = pair
    code, links = await new_room(a)
    assert isinstance(await b.host(code), RemoteRoom)
    fay = Wire(a)
    await fay.attached("auth", token=links["facilitator_token"])
    ana = Wire(b)
    joined = await ana.attached("join", room=code, name="Ana", accept_rules=1)
    assert joined["snapshot"]["room"]["title"] == "Shell"
    await fay.ok("round.open", kind="ideate", prompt="Ideas", private=False)
    reply = await ana.call("idea.post", text="from the other worker")
    assert reply["type"] == "ok", reply
    # The reply comes after its events, on the other worker too; one order for everyone.
    assert ana.seq >= reply["seq"]
    await fay.until(lambda: fay.seq == reply["seq"])
    mine = [e["seq"] for e in ana.events]
    assert mine == sorted(mine) and len(set(mine)) == len(mine)
    assert {e["seq"] for e in fay.events} >= set(mine)
    # A resend of the same command id through the other worker is applied once.
    first = await ana.call("idea.post", id="same-id", text="once")
    again = await ana.call("idea.post", id="same-id", text="once")
    assert first["type"] == again["type"] == "ok" and first["result"] == again["result"]
    exported = await (await a.host(code)).query(
        "export", kind="member", subject=links_member(links), generation=0
    )
    assert [i["text"] for i in exported["state"]["ideas"]].count("once") == 1
    for wire in (fay, ana):
        await wire.close()


def links_member(links: dict[str, Any]) -> str:
    """The facilitator's member id, from the facilitator link's token."""
    return TokenSigner(SECRET.encode()).verify(links["facilitator_token"]).subject


async def test_presence_is_counted_per_worker_in_the_owner(pair: tuple[Hub, Hub]) -> None:
    a, b = pair
    code, _links = await new_room(a)
    ana = Wire(b)
    joined = await ana.attached("join", room=code, name="Ana", accept_rules=1)
    host = a.hosts[code]
    await ana.until(lambda: b.worker_id in host.room.where, timeout=PATIENCE)
    assert host.room.where[b.worker_id] == {joined["member"]["id"]}
    await ana.close()
    await eventually(lambda: not host.room.where, "the owner drops B's member from presence")
    assert host.room.online == set()


async def test_members_of_a_worker_that_stops_announcing_itself_leave_presence(
    pair: tuple[Hub, Hub],
) -> None:
    """B goes silent as a killed worker does (it announces nothing more, tells nobody anything): its
    announcement runs out and the owner drops B's members and screens, while A's own stay online."""
    a, b = pair
    code, links = await new_room(a)
    fay = Wire(a)
    await fay.attached("auth", token=links["facilitator_token"])
    people = [Wire(b) for _ in range(3)]
    for n, wire in enumerate(people):
        await wire.attached("join", room=code, name=f"P{n}", accept_rules=1)
    host = a.hosts[code]
    await fay.until(lambda: len(host.room.where.get(b.worker_id, ())) == 3, timeout=PATIENCE)
    for task in (b._announcer, b._upkeeper, b._maintainer):
        assert task is not None
        task.cancel()  # B is as good as dead: no announcement, no presence repair, no renewals
    # A hang guard only: it takes two heartbeats at most (of the hub's clock, on a loaded machine later).
    await eventually(lambda: b.worker_id not in host.room.where, "B's members leave presence")
    assert host.room.online == {links_member(links)}
    assert b.worker_id not in host.room.worker_screens
    await fay.ok("round.open", kind="ideate", prompt="Still here", private=False)
    for wire in (fay, *people):
        await wire.close()


async def test_each_batch_reaches_each_workers_connections_once(
    pair: tuple[Hub, Hub], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owner hands a batch to its own connections straight from the room's loop and publishes it
    for the others; its own listener passes the broker's copy by, so nothing is delivered (or closed,
    or refreshed) twice."""
    a, b = pair
    code, fay, ana = await fay_on_a_ana_on_b(a, b)
    handed: list[tuple[str, tuple[int, ...]]] = []
    deliver = Fanout.deliver

    def counting(self: Fanout, epoch: str, events: list[dict[str, Any]], *args: Any, **kwargs: Any) -> int:
        owner = "a" if self is a.feeds.get(code) else "b"
        handed.append((owner, tuple(ev["seq"] for ev in events)))
        return deliver(self, epoch, events, *args, **kwargs)

    monkeypatch.setattr(Fanout, "deliver", counting)
    opened = await fay.call("round.open", kind="ideate", prompt="Ideas", private=False)
    seq = opened["seq"]
    assert any(e["seq"] == seq for e in fay.events)  # delivered before the reply, as always
    await ana.until(lambda: any(e["seq"] == seq for e in ana.events))
    await heard_so_far(a, monkeypatch)  # the owner's listener has had its copy of the batch by now
    assert ("a", (seq,)) in handed and ("b", (seq,)) in handed
    assert len(handed) == len(set(handed)), handed  # every batch once per worker


async def test_the_owner_passes_its_own_batches_by_without_reading_them(
    pair: tuple[Hub, Hub], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owner's own batches come back to it from the broker, origin first: its listener recognises
    them by their first bytes and never unpacks them. The other worker reads every one of them, and a
    batch with its origin elsewhere (an older worker's) is still passed by once read."""
    a, b = pair
    code, fay, ana = await fay_on_a_ana_on_b(a, b)
    read: list[tuple[str, dict[str, Any]]] = []
    unpack = hub_module.unpack

    def counting(data: bytes) -> Any:
        value = unpack(data)
        caller = sys._getframe(1).f_locals.get("self")
        if isinstance(value, dict) and "events" in value:
            read.append(("a" if caller is a else "b", value))
        return value

    monkeypatch.setattr(hub_module, "unpack", counting)
    opened = await fay.call("round.open", kind="ideate", prompt="Ideas", private=False)
    await ana.until(lambda: any(e["seq"] == opened["seq"] for e in ana.events))
    await heard_so_far(a, monkeypatch)  # the owner's listener has had its copy of the batch by now
    assert read and all(who == "b" for who, _ in read), read
    assert all(next(iter(batch)) == "origin" and batch["origin"] == a.worker_id for _, batch in read)
    # An older worker's batch: origin last. Read, recognised, not handed to A's fan-out again.
    # Which fan-out got which events: A's own fan-out goes on getting A's new batches (presence) from
    # the room's loop meanwhile, never the older worker's batch.
    feed = a.feeds[code]
    handed: list[tuple[Fanout, tuple[int, ...]]] = []
    deliver = Fanout.deliver

    def recording(self: Fanout, epoch: str, events: list[dict[str, Any]], *args: Any, **kwargs: Any) -> int:
        handed.append((self, tuple(ev["seq"] for ev in events)))
        return deliver(self, epoch, events, *args, **kwargs)

    monkeypatch.setattr(Fanout, "deliver", recording)
    old = {"epoch": feed.epoch, "events": list(feed.recent)[-1:], "effects": [], "origin": a.worker_id}
    seqs = tuple(ev["seq"] for ev in old["events"])
    await a.broker.publish(a.channel(code), pack(old))
    await eventually(
        lambda: sorted(who for who, batch in read if list(batch)[-1] == "origin") == ["a", "b"],
        "both workers read the older worker's batch",
    )
    assert (feed, seqs) not in handed and (b.feeds[code], seqs) in handed, handed


async def test_named_queries_cross_workers_as_plain_data(pair: tuple[Hub, Hub]) -> None:
    a, b = pair
    code, _links = await new_room(a)
    remote = await b.host(code)
    assert await remote.query("public_info") == await a.hosts[code].query("public_info")
    with pytest.raises(errors.ServerError):
        await remote.query("no such query")


async def test_a_query_that_fails_unexpectedly_is_a_server_error_and_the_room_goes_on(
    pair: tuple[Hub, Hub], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A named query only reads the room: a bug in one (an export on a state it did not expect) answers
    ``internal_error`` to whoever asked, and unloads nothing: the room's connections stay, its
    commands go on."""
    a, b = pair
    code, fay, ana = await fay_on_a_ana_on_b(a, b)
    await fay.ok("round.open", kind="ideate", prompt="Ideas", private=False)
    host = a.hosts[code]

    def broken(room: Any, **args: Any) -> Any:
        raise KeyError("a bug in a projection")

    monkeypatch.setitem(queries.QUERIES, "figures", broken)
    for handle in (host, await b.host(code)):
        with pytest.raises(errors.ServerError) as refused:
            await handle.query("figures", kind="member", subject="m1", generation=0)
        assert refused.value.code == "internal_error" and refused.value.temporary
    assert a.hosts.get(code) is host and host.broken is None
    reply = await ana.call("idea.post", text="still here")
    assert reply["type"] == "ok", reply
    assert fay.closed is None and ana.closed is None
    for wire in (fay, ana):
        await wire.close()


async def test_a_room_handed_over_is_taken_over_at_a_new_epoch_and_clients_follow_in_place(
    pair: tuple[Hub, Hub],
) -> None:
    """A hands the room over (a drain): B takes it over at the next epoch; B's connection is attached
    again in place (a snapshot message, no reconnect), and a client that reconnects with its old
    position still gets exactly what it missed."""
    a, b = pair
    code, links = await new_room(a)
    fay = Wire(b)
    await fay.attached("auth", token=links["facilitator_token"])
    await fay.ok("round.open", kind="ideate", prompt="Ideas", private=False)
    await fay.ok("room.set", locked=True)
    epoch, seq = fay.epoch, fay.seq
    host = a.hosts.pop(code)
    await a._hand_over(host)  # what a draining worker does
    await fay.until(lambda: bool(fay.snapshots))
    assert fay.closed is None
    assert int(fay.snapshots[-1]["epoch"]) > int(str(epoch))
    assert isinstance(await b.host(code), LocalRoom)
    changed = await fay.call("room.set", locked=False)
    assert changed["type"] == "ok", changed
    back = Wire(b)
    result = await back.attached("auth", token=fay.token, epoch=epoch, seq=seq)
    assert result["recovered"] is True and int(result["epoch"]) > int(str(epoch))
    assert [e["name"] for e in result["events"] if e["name"] != "presence"] == ["room.updated"]
    for wire in (fay, back):
        await wire.close()


async def test_an_owner_that_lost_the_room_cannot_append_again(pair: tuple[Hub, Hub]) -> None:
    """Fencing: A still runs the room, but B loaded it (A's lease ran out while A was paused, and A's
    pub/sub missed B's announcement). The journal refuses A's next batch; A's connection follows B."""
    a, b = pair
    code, links = await new_room(a)
    stale = a.hosts[code]
    fay = Wire(a)
    await fay.attached("auth", token=links["facilitator_token"])
    await fay.ok("round.open", kind="ideate", prompt="Ideas", private=False)
    await a.broker.release(a.lease_key(code), a.worker_id)
    a._maintainer.cancel()  # type: ignore[union-attr]  # A is "paused": it renews nothing
    await a.broker.unsubscribe(a.channel(code))  # ... and hears nothing
    taken = await b.host(code)
    assert isinstance(taken, LocalRoom) and int(taken.room.epoch) > int(stale.room.epoch)
    with pytest.raises(StorageError):
        await stale.submit(c.RoomSet(id="late", locked=True), links_member(links))
    assert code not in a.hosts
    await a.broker.subscribe(a.channel(code))
    await fay.until(lambda: bool(fay.snapshots))
    assert fay.snapshots[-1]["epoch"] == taken.room.epoch and fay.closed is None
    assert fay.snapshots[-1]["state"]["room"]["locked"] is False  # never acknowledged, never stored
    await fay.close()


async def test_a_member_admitted_on_the_owner_gets_a_snapshot_on_the_other_worker(
    pair: tuple[Hub, Hub],
) -> None:
    """The refresh effect crosses workers: the waiting member's connection on B is attached again, with
    the room's full snapshot, when staff on A admit it."""
    a, b = pair
    code, links = await new_room(a, access="approval")
    fay = Wire(a)
    await fay.attached("auth", token=links["facilitator_token"])
    await fay.ok("round.open", kind="ideate", prompt="Ideas", private=False)
    wes = Wire(b)
    waiting = await wes.attached("join", room=code, name="Wes", accept_rules=1)
    assert waiting["audience"] == "lobby"
    assert "rounds" not in waiting["snapshot"]
    await fay.ok("member.admit", member=waiting["member"]["id"])
    await wes.until(lambda: wes.snapshots != [])
    assert wes.snapshots[-1]["state"]["rounds"][0]["prompt"] == "Ideas"
    posted = await wes.ok("idea.post", text="admitted, from B")
    assert posted["idea"]["text"] == "admitted, from B"
    for wire in (fay, wes):
        await wire.close()


async def test_a_lost_last_batch_is_found_within_a_heartbeat_or_two(pair: tuple[Hub, Hub]) -> None:
    """No batch follows the lost one, so no gap shows in the stream: the relaying worker compares what
    it delivered with the owner's position every heartbeat, and attaches its connections again."""
    a, b = pair
    code, fay, ana = await fay_on_a_ana_on_b(a, b)
    await ana.until(lambda: ana.seq == fay.seq)
    await b.broker.unsubscribe(b.channel(code))  # B misses what comes next...
    locked = await fay.ok("room.set", locked=True)
    await b.broker.subscribe(b.channel(code))  # ... and nothing after it
    await ana.until(lambda: bool(ana.snapshots))
    assert ana.closed is None
    assert ana.snapshots[-1]["state"]["room"]["locked"] is True
    assert locked["room"]["locked"] is True
    for wire in (fay, ana):
        await wire.close()


async def test_the_owner_checks_its_own_rooms_twice_in_ten_heartbeats_and_still_finds_a_lost_batch(
    pair: tuple[Hub, Hub], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owner's connections get its batches from the room's loop: checking such a room's position
    wakes it for nothing, so the owner does it on two heartbeats in a row every OWNED_CHECK_EVERY, the
    relaying worker at every one. The check is still there: a batch its own fan-out missed is found."""
    a, b = pair
    code, fay, ana = await fay_on_a_ana_on_b(a, b)
    await ana.until(lambda: ana.seq == fay.seq)
    checked: list[str] = []
    check_room = Hub._check_room

    async def counting(self: Hub, room_id: str, feed: Fanout) -> None:
        checked.append("a" if self is a else "b")
        await check_room(self, room_id, feed)

    monkeypatch.setattr(Hub, "_check_room", counting)
    # Counted in heartbeats, not seconds: while B checks at five heartbeats in a row, A checks at two at
    # most (however long those heartbeats take on a loaded machine).
    await eventually(lambda: checked.count("b") >= 5, "B checks the room at every heartbeat")
    assert checked.count("a") <= 2, checked
    # A's own fan-out misses a batch: not handed over from the loop, not read from the broker.
    deliver_local = a.deliver_local
    monkeypatch.setattr(a, "deliver_local", lambda room_id, batch: False)
    await a.broker.unsubscribe(a.channel(code))
    before = fay.seq
    call = asyncio.ensure_future(fay.call("room.set", locked=True))
    await ana.until(lambda: ana.seq > before)  # applied and delivered on B ...
    assert fay.seq == before and not call.done()  # ... not on A, where its reply waits for it
    monkeypatch.setattr(a, "deliver_local", deliver_local)
    await a.broker.subscribe(a.channel(code))
    await fay.until(lambda: bool(fay.snapshots), timeout=a.heartbeat * (hub_module.OWNED_CHECK_EVERY + 6))
    assert fay.closed is None
    assert fay.snapshots[-1]["state"]["room"]["locked"] is True
    reply = await asyncio.wait_for(call, 5)
    assert reply["type"] == "ok" and reply["result"]["room"]["locked"] is True
    for wire in (fay, ana):
        await wire.close()


async def test_queries_alone_do_not_wake_the_live_figures_of_a_room(
    pair: tuple[Hub, Hub], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The relaying worker asks the owner's room for its position at every heartbeat. A batch of named
    queries changes nothing to show: it must not set off the live figures' computation, which, with
    nobody from the staff online, used to be asked for and dropped after every such batch."""
    a, b = pair
    code, _links = await new_room(a)
    ana = Wire(b)
    await ana.attached("join", room=code, name="Ana", accept_rules=1)
    host = a.hosts[code]
    assert isinstance(host, LocalRoom)
    # Batches with something else than queries (on a loaded machine: a late attach, or a presence when
    # one worker took the other for dead for a moment) may ask, once each; queries alone may not. A
    # batch asks at its end: those that end after the count starts are counted.
    batches: list[list[str]] = []
    queried: list[list[str]] = []  # batches of queries alone (B's position at every heartbeat)
    process = LocalRoom._process

    async def processing(self: LocalRoom, batch: list[Any]) -> None:
        await process(self, batch)
        kinds = ["query" if i.query is not None else type(i.command).__name__ for i in batch]
        if any(kind != "query" for kind in kinds):
            batches.append(kinds)
        else:
            queried.append(kinds)

    monkeypatch.setattr(LocalRoom, "_process", processing)
    await eventually(  # the join's own batches are done with: presence counted, nothing due
        lambda: b.worker_id in host.room.where and not host._live_pending, "the join is done with"
    )
    asked: list[str] = []
    ask_live = LocalRoom._ask_live

    def counting(self: LocalRoom) -> None:
        asked.append(self.room_id)
        ask_live(self)

    monkeypatch.setattr(LocalRoom, "_ask_live", counting)
    del batches[:]
    # Not a quiet time but quiet batches: the room has processed B's queries of several heartbeats
    # (each of which would have asked by its end), however long those take on a loaded machine.
    del queried[:]
    await eventually(lambda: len(queried) >= 5, "the room answers B's queries of five heartbeats")
    assert len(asked) <= len(batches), (asked, batches)
    await ana.ok("ping")  # answered by the connection: the room never sees it
    seen = len(queried)
    await eventually(lambda: len(queried) >= seen + 2, "the room answers B's queries of two more heartbeats")
    assert len(asked) <= len(batches), (asked, batches)
    before = len(asked)
    refused = await ana.call("idea.post", text="Too early")  # a command (refused: no round is open) ...
    assert refused["type"] == "error"
    # ... is a batch that may change the room: asked once (within figures_interval), dropped (no staff)
    await eventually(lambda: len(asked) > before, "the refused command's batch asks for the live figures")
    assert set(asked) == {code} and len(asked) <= len(batches), (asked, batches)
    await ana.close()


async def test_live_figures_answered_before_a_later_batch_are_asked_again(pair: tuple[Hub, Hub]) -> None:
    """The room's loop may apply another batch before the live figures' answer is handed over (no await
    between batches with nothing to journal); that batch found them pending and asked nothing. The
    answer, older than the room, asks again: the staff never keep figures that miss the last batch."""
    a, b = pair
    code, fay, ana = await fay_on_a_ana_on_b(a, b)
    host = a.hosts[code]
    assert isinstance(host, LocalRoom)
    await eventually(  # the join's figures are out
        lambda: not host._live_pending and host._live_seq == host.room.seq, "the join's figures are out"
    )
    answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    answer.set_result((host.room.seq - 1, None, None))
    host._live_pending = True
    host._publish_live(answer)
    assert host._live_pending  # asked again
    for wire in (fay, ana):
        await wire.close()


# --- Connections per participant: counted once per connection, on every worker --------------------------
@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[tuple[Hub, Hub]]:
    """Two workers on one in-memory broker, with at most 3 connections per participant."""
    async with two_hubs(settings(tmp_path / "data", max_connections_per_member=3)) as hubs:
        yield hubs


async def refused_until_ok(wire: Wire, type_: str, **fields: Any) -> dict[str, Any]:
    """Retry while refused as too many connections (a release reaches the broker in the background)."""
    async with asyncio.timeout(10):
        while True:
            reply = await wire.call(type_, **fields)
            if reply["type"] == "ok":
                return reply
            assert reply["code"] == "too_many_connections", reply
            await asyncio.sleep(0.01)


async def test_connections_per_member_hold_across_workers_and_a_moved_room_counts_them_once(
    limited: tuple[Hub, Hub],
) -> None:
    """Ana's 3 connections, 2 on A and 1 on B, use up her limit on both workers (an auth, and a join
    resent with its id that finds her, are refused). A hands the room over: every connection is attached
    again in place on the next owner without being counted again (none is refused, none closes, and the
    limit is still 3, not 6). Closing one lets exactly one more in."""
    a, b = limited
    code, _links = await new_room(a)
    ana = Wire(a)
    joined = await ana.attached("join", id="join-ana-0000000000", room=code, name="Ana", accept_rules=1)
    wires = [ana, Wire(a), Wire(b)]
    for wire in wires[1:]:
        await wire.attached("auth", token=joined["token"])
    for hub in (a, b):
        extra = Wire(hub)
        reply = await extra.call("auth", token=joined["token"])
        assert reply["type"] == "error" and reply["code"] == "too_many_connections", reply
        assert reply["temporary"] is True
        again = await extra.call("join", id="join-ana-0000000000", room=code, name="Ana", accept_rules=1)
        assert again["type"] == "error" and again["code"] == "too_many_connections", again
        await extra.close()
    pair_ = (code, joined["member"]["id"])
    assert (a.claims.counts, b.claims.counts) == ({pair_: 2}, {pair_: 1})

    host = a.hosts.pop(code)
    await a._hand_over(host)  # what a draining worker does: the room moves, its connections stay
    for wire in wires:
        await wire.until(lambda w=wire: bool(w.snapshots))  # type: ignore[misc]
    assert [w.closed for w in wires] == [None, None, None]
    assert all(w.snapshots[-1]["epoch"] != joined["epoch"] for w in wires)
    late = Wire(b)
    reply = await late.call("auth", token=joined["token"])
    assert reply["code"] == "too_many_connections", reply

    await wires[0].close()  # one of A's
    await refused_until_ok(late, "auth", token=joined["token"])
    fourth = Wire(a)
    reply = await fourth.call("auth", token=joined["token"])
    assert reply["code"] == "too_many_connections", reply
    for wire in (*wires[1:], late, fourth):
        await wire.close()


async def test_a_broker_that_cannot_count_refuses_as_temporary_and_the_count_is_written_again(
    limited: tuple[Hub, Hub], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker fails a claim (it may have counted it before failing): the auth is refused with
    ``server_busy`` (fail closed), and at the next heartbeat the worker writes its own count again, so
    the member's limit is whole once the broker answers."""
    a, _b = limited
    code, _links = await new_room(a)
    ana = Wire(a)
    joined = await ana.attached("join", room=code, name="Ana", accept_rules=1)
    member = joined["member"]["id"]
    broker = a.broker
    real = broker.claim_connection

    async def counted_then_failed(room: str, member: str, worker: str, limit: int) -> bool:
        await real(room, member, worker, limit)
        raise errors.ServerBusy("redis did not answer")

    monkeypatch.setattr(broker, "claim_connection", counted_then_failed)
    extra = Wire(a)
    reply = await extra.call("auth", token=joined["token"])
    assert reply["type"] == "error" and reply["code"] == "server_busy" and reply["temporary"], reply
    assert (code, member) in a.claims.dirty
    monkeypatch.setattr(broker, "claim_connection", real)
    async with asyncio.timeout(10):
        while a.claims.dirty:  # the next heartbeat writes A's count (1) over the 2 the broker held
            await asyncio.sleep(0.02)
    others = [Wire(a), Wire(a)]
    for wire in others:
        await wire.attached("auth", token=joined["token"])
    reply = await extra.call("auth", token=joined["token"])
    assert reply["code"] == "too_many_connections", reply
    for wire in (ana, extra, *others):
        await wire.close()


async def test_a_connection_refused_after_its_claim_gives_it_back(limited: tuple[Hub, Hub]) -> None:
    """Ana is removed: her connection closes, and every later auth passes the count, then is refused
    by the owner (`banned`). Each of them gives its claim back, on both workers: nothing is left
    counted, locally or in the broker."""
    a, b = limited
    code, links = await new_room(a)
    fay = Wire(a)
    await fay.attached("auth", token=links["facilitator_token"])
    ana = Wire(b)
    joined = await ana.attached("join", room=code, name="Ana", accept_rules=1)
    member = joined["member"]["id"]
    await fay.ok("member.remove", member=member)
    await ana.until(lambda: ana.closed is not None)
    for n in range(6):  # twice the limit: a leak would soon refuse them as too many
        late = Wire((a, b)[n % 2])
        reply = await late.call("auth", token=joined["token"])
        assert reply["type"] == "error" and reply["code"] == "banned", reply
        await late.close()
    shared = a.broker.hub if isinstance(a.broker, MemoryBroker) else None
    assert shared is not None
    pair_ = (code, member)
    async with asyncio.timeout(10):  # the releases reach the broker in the background
        while pair_ in a.claims.counts or pair_ in b.claims.counts or pair_ in shared.connections:
            await asyncio.sleep(0.01)
    assert pair_ not in set(a.claims.held.values()) | set(b.claims.held.values())
    await fay.close()
    await ana.close()


async def paused_owner(a: Hub) -> tuple[str, dict[str, Any], LocalRoom]:
    """A new room on ``a``, then ``a`` "paused": its lease let go, nothing renewed, nothing heard.
    Returns the room's code, its links and ``a``'s stale host of it."""
    code, links = await new_room(a)
    stale = a.hosts[code]
    await a.broker.release(a.lease_key(code), a.worker_id)
    a._maintainer.cancel()  # type: ignore[union-attr]  # A is "paused": it renews nothing
    await a.broker.unsubscribe(a.channel(code))  # ... and hears nothing
    return code, links, stale


async def test_an_owner_paused_past_its_lease_answers_nothing_from_its_stale_state(
    pair: tuple[Hub, Hub],
) -> None:
    """A review: the journal fences an old owner's writes, but a batch that writes nothing (a refusal)
    was answered from its state. A paused past its lease, B took the room over and Ana posted an idea
    there; A, waking up, refused a hide of that idea with a final ``not_found``. A room whose lease
    lapsed unrenewed now claims it again before it answers, and steps down when it cannot."""
    a, b = pair
    code, links, stale = await paused_owner(a)
    taken = await b.host(code)
    assert isinstance(taken, LocalRoom) and taken is not stale
    ana = Wire(b)
    await ana.attached("join", room=code, name="Ana", accept_rules=1)
    fay = Wire(b)
    await fay.attached("auth", token=links["facilitator_token"])
    await fay.ok("round.open", kind="ideate", prompt="Ideas", private=False)
    idea = (await ana.ok("idea.post", text="night buses"))["idea"]["id"]
    stale.leased_at -= a.settings.lease_seconds  # A wakes up: its lease was not renewed in time
    with pytest.raises(errors.RoomMoved):  # temporary: the client resends, and reaches B
        await stale.submit(c.IdeaHide(id="hide-it", idea=idea), links_member(links))
    assert code not in a.hosts
    for wire in (ana, fay):
        await wire.close()


async def held_and_freed_meanwhile(a: Hub, b: Hub) -> tuple[str, dict[str, Any], LocalRoom, Wire]:
    """A room whose owner ``a`` was paused past its lease while ``b`` took it over, had Ana join (a write
    ``a`` never saw) and let it go: its code, links, ``a``'s stale host of it and Ana's wire."""
    code, links, stale = await paused_owner(a)
    await b.host(code)
    ana = Wire(b)
    await ana.attached("join", room=code, name="Ana", accept_rules=1)
    await b.broker.release(b.lease_key(code), b.worker_id)  # B lets it go (an idle unload, say)
    stale.leased_at -= a.settings.lease_seconds
    return code, links, stale, ana


async def test_an_owner_paused_while_another_worker_held_and_freed_the_room_steps_down(
    pair: tuple[Hub, Hub],
) -> None:
    """A review: the lease being free again does not mean this state is current. B took the room over,
    Ana posted there, and B let the lease go before A woke up: A's claim succeeds, but the journal has
    moved past A's state, so A answers nothing from it."""
    a, b = pair
    code, links, stale, ana = await held_and_freed_meanwhile(a, b)
    with pytest.raises(errors.RoomMoved):
        await stale.submit(c.RoomSet(id="lock-it", locked=True), links_member(links))
    assert code not in a.hosts
    await ana.close()


async def test_a_paused_owner_s_heartbeat_does_not_take_back_a_room_another_worker_wrote(
    pair: tuple[Hub, Hub],
) -> None:
    """A review: A's heartbeat, the first thing it ran after the pause, claimed the free lease again and
    counted it renewed, so no batch checked the journal: A served its stale state (a snapshot behind
    the room's, a final ``not_found`` for an idea posted on B, ``round_closed`` for a resend of an
    acknowledged post). A renewal of a lapsed lease now checks the journal's position first."""
    a, b = pair
    code, _links, _stale, ana = await held_and_freed_meanwhile(a, b)
    await a._renew()  # A wakes up: its heartbeat comes first
    assert code not in a.hosts
    await ana.close()


async def test_a_refusal_reaches_a_connection_held_for_the_room_s_next_owner_at_once(
    pair: tuple[Hub, Hub], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A review: while Redis stalled, the owner's connections were held for the room's next owner, and
    the ``server_busy`` of their commands was held with them (a refusal waits for no event): no answer
    for up to 30 s, then 4003 threw it away. A refusal that waits for no event now goes at once."""
    a, _ = pair
    code, links = await new_room(a)
    fay = Wire(a)
    await fay.attached("auth", token=links["facilitator_token"])
    following = asyncio.Event()

    async def stalled(room_id: str | None, sessions: list[Any]) -> None:
        await following.wait()  # the broker does not answer: the connections stay held

    monkeypatch.setattr(a, "_attach_again", stalled)
    host = a.hosts[code]

    def busy(*args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_exception(errors.ServerBusy("the message broker does not answer"))
        return future

    monkeypatch.setattr(host, "submit", busy)
    a.feeds[code].moved()  # held, as when the room's publish timed out (Hub.forget)
    try:
        reply = await asyncio.wait_for(fay.call("room.set", locked=True), 2)
        assert reply["type"] == "error" and reply["code"] == "server_busy" and reply["temporary"], reply
    finally:
        following.set()
        await fay.close()


@pytest.mark.parametrize("first", ["batch", "heartbeat"])
async def test_a_lapsed_lease_nobody_took_is_claimed_again_and_the_room_goes_on(
    pair: tuple[Hub, Hub], first: str
) -> None:
    """By the next batch, or the next heartbeat (which reads the journal's position first)."""
    a, _ = pair
    code, links = await new_room(a)
    host = a.hosts[code]
    host.leased_at -= a.settings.lease_seconds
    if first == "heartbeat":
        await a._renew()
        assert a.hosts.get(code) is host and time.monotonic() - host.leased_at < a.settings.lease_seconds
    reply = await host.submit(c.RoomSet(id="lock-it", locked=True), links_member(links))
    assert reply.error is None and host.room.locked and code in a.hosts
    assert await a.broker.holder(a.lease_key(code)) == a.worker_id
    # So does a room loaded from its journal (its position counts the entries of every epoch).
    await a.hosts.pop(code).stop()
    loaded = await a.host(code)
    assert isinstance(loaded, LocalRoom) and loaded is not host
    loaded.leased_at -= a.settings.lease_seconds
    reply = await loaded.submit(c.RoomSet(id="unlock-it", locked=False), links_member(links))
    assert reply.error is None and not loaded.room.locked and a.hosts[code] is loaded


async def test_a_member_erasing_itself_through_another_worker_gets_its_answer_then_4103(
    pair: tuple[Hub, Hub],
) -> None:
    """The erasure reloads the room (a new epoch) before it is answered, and the answer comes to B after
    the reload: B attached Ana's connection again at once, which failed (her member is gone) and closed
    it with 4003, so the answer never reached her (protocol.md promised it, then 4103). A connection whose
    own erasure is in flight is now left held until its answer comes."""
    a, b = pair
    _, fay, ana = await fay_on_a_ana_on_b(a, b)
    answer = await ana.call("member.erase")
    assert answer["type"] == "ok" and answer["result"]["member"] == "m2"
    await ana.until(lambda: ana.closed is not None)
    assert ana.closed == 4103
    await fay.close()
