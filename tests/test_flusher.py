"""How a connection's frames leave (flusher.Flusher, session.Session): written at the end of a delivery
or in the event loop's pass with no task per recipient, paced per connection under load (one frame per
tick holding everything since the last), at once in a quiet room, built once per audience and written
straight to the transport, and handed to the writer task, in order, when the peer reads slowly; the
writer task exists only while it has such work, so an idle connection holds no task but its own."""

from __future__ import annotations

import asyncio
import gc
import json
import random
import time
import weakref
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from workshop_server import flusher as flusher_module
from workshop_server.close_codes import CloseCode
from workshop_server.fanout import Fanout
from workshop_server.flusher import flush_pending
from workshop_server.handle import Attached
from workshop_server.protocol import JsonCodec
from workshop_server.session import Session
from workshop_server.settings import Settings

SECRET = "x" * 48


class Peer:
    """An ASGI ``send`` that waits, as uvicorn's does, while the transport is not writable."""

    def __init__(self) -> None:
        self.writable = asyncio.Event()
        self.writable.set()
        self.frames: list[str] = []

        self.closed: int | None = None  # the close code sent, once sent

    async def send(self, message: dict[str, Any]) -> None:
        await self.writable.wait()
        if message["type"] == "websocket.close":
            self.closed = message["code"]
        else:
            self.frames.append(message["text"])

    def messages(self) -> list[int]:
        """Every test message received (not the session's hello), in order, coalesced frames opened."""
        out: list[int] = []
        for frame in self.frames:
            data = json.loads(frame)
            out.extend(m["n"] for m in (data if isinstance(data, list) else [data]) if "n" in m)
        return out


class Transport:
    """The server's direct write of a prebuilt frame (guard.GuardedWebSocketProtocol.write_frame)."""

    def __init__(self) -> None:
        self.open = True
        self.wires: list[bytes] = []

    def write_frame(self, wire: bytes) -> bool:
        if self.open:
            self.wires.append(wire)
        return self.open

    def messages(self) -> list[int]:
        out: list[int] = []
        for wire in self.wires:
            data = json.loads(payload(wire))
            out.extend(m["n"] for m in (data if isinstance(data, list) else [data]))
        return out


def payload(wire: bytes) -> bytes:
    """The payload of one unmasked text frame (RFC 6455 5.2), checking its header."""
    assert wire[0] == 0x81, "FIN and the text opcode"
    length, start = wire[1], 2
    assert length & 0x80 == 0, "a server's frames are not masked"
    if length == 126:
        length, start = int.from_bytes(wire[2:4], "big"), 4
    elif length == 127:
        length, start = int.from_bytes(wire[2:10], "big"), 10
    assert len(wire) == start + length
    return wire[start:]


def session(tmp_path: Path, peer: Peer, transport: Transport | None = None, **settings: Any) -> Session:
    hub = SimpleNamespace(
        settings=Settings(data_dir=tmp_path, secret=SECRET, **settings),
        metrics=None,
        worker_id="w",
        sessions=set(),
        detach=lambda session: None,
        clock=time.time,
    )
    write = transport.write_frame if transport is not None else None
    return Session(hub, peer.send, JsonCodec(), write_frame=write)  # type: ignore[arg-type]


def frame(n: int) -> str:
    return json.dumps({"type": "event", "n": n})


#: The flush tick of the tests that check what is held "within the tick" by statements run one after
#: the other: the longest the settings allow, so that a loaded machine pausing the test process between
#: two of them is least likely to let the tick run out (and the frame be written at once) meanwhile.
TICK_MS = 100


async def until(predicate: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


class Running:
    """``Session.run`` in a task, as the server runs it, with a client that says nothing until it leaves."""

    def __init__(self, s: Session) -> None:
        self.s = s
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def __aenter__(self) -> asyncio.Task[None]:
        await self.inbox.put({"type": "websocket.connect"})
        self.inbox.get_nowait()  # the endpoint read it before the session runs
        self.task = asyncio.get_running_loop().create_task(self.s.run(self.inbox.get))
        await asyncio.sleep(0)
        return self.task

    async def __aexit__(self, *exc: object) -> None:
        await self.inbox.put({"type": "websocket.disconnect", "code": 1000})
        async with asyncio.timeout(5):
            await self.task


def own_tasks(s: Session) -> list[asyncio.Task[Any]]:
    """The tasks a session has besides the one running it."""
    return [t for t in (s._writer_task, s._resume) if t is not None]


async def test_a_quiet_room_delivers_at_once_with_no_task_per_recipient(tmp_path: Path) -> None:
    peers = [Peer() for _ in range(50)]
    sessions = [session(tmp_path, peer) for peer in peers]
    tasks = len(asyncio.all_tasks())
    for s in sessions:
        s.push(frame(1))
    await asyncio.sleep(0)  # one pass of the loop
    assert [peer.messages() for peer in peers] == [[1]] * 50
    assert len(asyncio.all_tasks()) == tasks  # nothing was scheduled per connection


async def test_under_load_one_frame_per_tick_holds_everything_since_the_last(tmp_path: Path) -> None:
    peer = Peer()
    s = session(tmp_path, peer, flush_tick_ms=TICK_MS)
    s.push(frame(1))
    await asyncio.sleep(0)
    assert peer.frames == [frame(1)]  # the first after a quiet spell: at once
    for n in (2, 3, 4):
        s.push(frame(n))
    await asyncio.sleep(0)
    assert peer.frames == [frame(1)]  # within the tick: held
    await until(lambda: len(peer.frames) == 2)
    assert json.loads(peer.frames[1]) == [{"type": "event", "n": n} for n in (2, 3, 4)]


async def test_without_a_tick_each_pass_writes(tmp_path: Path) -> None:
    peer = Peer()
    s = session(tmp_path, peer, flush_tick_ms=0)
    for n in (1, 2):
        s.push(frame(n))
        await asyncio.sleep(0)
    assert peer.frames == [frame(1), frame(2)]


async def test_a_send_that_must_wait_goes_on_in_order_through_the_writer(tmp_path: Path) -> None:
    peer = Peer()
    s = session(tmp_path, peer, flush_tick_ms=0)
    async with Running(s) as running:
        await until(lambda: len(peer.frames) == 1)  # the hello
        peer.writable.clear()  # the peer stopped reading
        s.push(frame(1))
        await asyncio.sleep(0.01)
        for n in range(2, 6):
            s.push(frame(n))
            await asyncio.sleep(0)
        assert peer.messages() == [] and own_tasks(s)  # a send waits, and a task carries it on
        peer.writable.set()
        await until(lambda: peer.messages() == [1, 2, 3, 4, 5])
        assert s._broken is None and not running.done()
        await until(lambda: not own_tasks(s))  # nothing left to do: no task of its own
        s.push(frame(6))
        await asyncio.sleep(0)
        assert peer.messages() == [1, 2, 3, 4, 5, 6] and not own_tasks(s)


async def test_an_idle_connection_holds_no_task_but_the_one_running_it(tmp_path: Path) -> None:
    peers = [Peer() for _ in range(20)]
    sessions = [session(tmp_path, peer, flush_tick_ms=10) for peer in peers]
    runs = [Running(s) for s in sessions]
    tasks = len(asyncio.all_tasks())
    for run in runs:
        await run.__aenter__()
    for n in range(5):
        for s in sessions:
            s.push(frame(n))
        await asyncio.sleep(0.004)
    await until(lambda: all(peer.messages() == [0, 1, 2, 3, 4] for peer in peers))
    assert len(asyncio.all_tasks()) == tasks + len(sessions)
    assert not any(own_tasks(s) for s in sessions)
    for run in runs:
        await run.__aexit__()


async def test_a_slow_consumer_is_closed_with_4001(tmp_path: Path) -> None:
    peer = Peer()
    s = session(tmp_path, peer, send_queue_max=4, flush_tick_ms=0)
    running = await Running(s).__aenter__()
    await until(lambda: len(peer.frames) == 1)  # the hello
    peer.writable.clear()
    s.push(frame(0))
    await asyncio.sleep(0)  # its send waits
    for n in range(1, 6):
        s.push(frame(n))
    assert s._closing is not None and s._closing[0] == CloseCode.SLOW_CONSUMER
    await asyncio.sleep(0.01)
    assert not running.done()  # the close waits for the send under way...
    peer.writable.set()
    async with asyncio.timeout(5):
        await running  # ...then ends the connection, though its client never said a word
    assert peer.closed == CloseCode.SLOW_CONSUMER and peer.messages() == [0]
    assert not own_tasks(s)


async def test_order_and_exactly_once_whatever_the_pauses(tmp_path: Path) -> None:
    rng = random.Random(7)
    peer = Peer()
    s = session(tmp_path, peer, flush_tick_ms=2, send_queue_max=100000)
    async with Running(s) as running:
        for n in range(400):
            s.push(frame(n))
            roll = rng.random()
            if roll < 0.05:
                peer.writable.clear()
            elif roll < 0.15:
                peer.writable.set()
            if rng.random() < 0.3:
                await asyncio.sleep(rng.choice([0, 0, 0.001, 0.003]))
        peer.writable.set()
        await until(lambda: len(peer.messages()) >= 400)
        assert peer.messages() == list(range(400))
        assert s._broken is None and not running.done()


async def test_a_frame_is_built_once_for_everyone_and_written_straight_to_the_transport(
    tmp_path: Path,
) -> None:
    transports = [Transport() for _ in range(3)]
    peers = [Peer() for _ in transports]
    sessions = [
        session(tmp_path, p, t, flush_tick_ms=TICK_MS) for p, t in zip(peers, transports, strict=True)
    ]
    shared = frame(1)  # the fan-out pushes one frame object to every connection of an audience
    for s in sessions:
        s.push(shared)
    await asyncio.sleep(0)
    assert [t.messages() for t in transports] == [[1]] * 3
    assert transports[0].wires[0] is transports[1].wires[0] is transports[2].wires[0]
    assert all(p.frames == [] for p in peers)  # nothing through ASGI send
    # Coalesced under load: the same queue on every connection, one frame built for all.
    later = [frame(2), frame(3)]
    for s in sessions:
        for f in later:
            s.push(f)
    await until(lambda: all(len(t.wires) == 2 for t in transports))
    assert [t.messages() for t in transports] == [[1, 2, 3]] * 3
    assert transports[0].wires[1] is transports[2].wires[1]


async def test_when_the_transport_cannot_take_it_the_frame_goes_through_send(tmp_path: Path) -> None:
    transport, peer = Transport(), Peer()
    s = session(tmp_path, peer, transport, flush_tick_ms=0)
    s.push(frame(1))
    await asyncio.sleep(0)
    transport.open = False  # paused, closing, or compression negotiated
    s.push(frame(2))
    await asyncio.sleep(0)
    transport.open = True
    s.push(frame(3))
    await asyncio.sleep(0)
    assert transport.messages() == [1, 3] and peer.messages() == [2]


async def test_the_end_of_a_delivery_writes_without_waiting_for_the_pass(tmp_path: Path) -> None:
    peer = Peer()
    s = session(tmp_path, peer)
    s.push(frame(1))
    flush_pending()  # what the fan-out does once it pushed a batch
    assert peer.messages() == [1]  # with no await in between
    flush_pending()  # nothing marked: nothing happens
    assert peer.messages() == [1]


async def test_a_reply_is_not_paced_by_the_tick(tmp_path: Path) -> None:
    peer = Peer()
    s = session(tmp_path, peer, flush_tick_ms=TICK_MS)
    s.push(frame(1))
    await asyncio.sleep(0)
    s.push(frame(2))  # an event within the tick: held...
    s.push(frame(3), reply=True)  # ...until a reply comes: the client waits for it
    await asyncio.sleep(0)
    assert peer.messages() == [1, 2, 3]
    s.push(frame(4))
    await asyncio.sleep(0)
    assert peer.messages() == [1, 2, 3]  # events are paced again
    await until(lambda: peer.messages() == [1, 2, 3, 4])


def seated(tmp_path: Path, count: int, **settings: Any) -> tuple[Fanout, list[Transport]]:
    """A room's fan-out with ``count`` real sessions, each writing straight to a transport."""
    feed = Fanout("R", lambda member, online: None)
    transports = [Transport() for _ in range(count)]
    for n, transport in enumerate(transports):
        s = session(tmp_path, Peer(), transport, **settings)
        s.bind("R", f"m{n}", "participant")
        seat = Attached(
            recovered=True, seq=0, epoch="1", audience="public", member_id=f"m{n}", role="participant"
        )
        assert feed.seat(s, seat)
    return feed, transports


def room_event(seq: int) -> dict[str, Any]:
    return {"seq": seq, "name": "idea.posted", "at": 0.0, "views": {"public": {"n": seq}}}


def seqs(transport: Transport) -> list[list[int]]:
    """The seqs each wire frame held, frame by frame."""
    out = []
    for wire in transport.wires:
        data = json.loads(payload(wire))
        out.append([m["seq"] for m in (data if isinstance(data, list) else [data])])
    return out


async def test_one_event_is_written_at_once_and_a_batch_goes_in_one_frame(tmp_path: Path) -> None:
    """A batch of one event reaches each idle connection at once, alone, the wire frame built once for
    all; a batch of several reaches each connection as one frame (not the first alone, then the rest a
    tick later), and within a tick of the last frame, events wait for the tick, in order."""
    feed, transports = seated(tmp_path, 3, flush_tick_ms=TICK_MS)
    assert feed.deliver("1", [room_event(1)], []) == 3
    assert [seqs(t) for t in transports] == [[[1]]] * 3  # before any await
    assert transports[0].wires[0] is transports[1].wires[0] is transports[2].wires[0]
    feed.deliver("1", [room_event(2)], [])  # within the tick: held, then with what follows
    feed.deliver("1", [room_event(3), room_event(4)], [])
    assert [seqs(t) for t in transports] == [[[1]]] * 3
    await until(lambda: all(len(t.wires) == 2 for t in transports))
    assert [seqs(t) for t in transports] == [[[1], [2, 3, 4]]] * 3
    await asyncio.sleep(TICK_MS / 1000 + 0.01)  # the tick is up: idle again
    feed.deliver("1", [room_event(5), room_event(6), room_event(7)], [])
    assert [seqs(t) for t in transports] == [[[1], [2, 3, 4], [5, 6, 7]]] * 3
    feed.deliver("1", [room_event(8)], [])  # alone, but within the tick of [5, 6, 7]: held
    await until(lambda: all(len(t.wires) == 4 for t in transports))
    assert [seqs(t) for t in transports] == [[[1], [2, 3, 4], [5, 6, 7], [8]]] * 3


async def test_offer_writes_only_to_an_idle_connection(tmp_path: Path) -> None:
    """``offer`` writes at once only when nothing else could come first; otherwise it does nothing
    and the frame is pushed, behind what waits."""
    transport = Transport()
    s = session(tmp_path, Peer(), transport, flush_tick_ms=TICK_MS)
    flusher_module.stamp_now()
    assert s.offer(frame(1)) and transport.messages() == [1]
    assert not s.offer(frame(2))  # within the tick of the last frame
    await asyncio.sleep(TICK_MS / 1000 + 0.01)
    flusher_module.stamp_now()
    s.push(frame(3), reply=True)  # a reply waits for the pass
    assert not s.offer(frame(4))
    await asyncio.sleep(0)
    assert transport.messages() == [1, 3]
    await asyncio.sleep(TICK_MS / 1000 + 0.01)
    flusher_module.stamp_now()
    transport.open = False  # paused by a slow reader, closing, or compressed
    assert not s.offer(frame(5))
    transport.open = True
    s.close_soon(CloseCode.SLOW_CONSUMER, "slow")
    assert not s.offer(frame(6))
    assert transport.messages() == [1, 3]
    without = session(tmp_path, Peer())  # no direct write: always through the queue and ASGI send
    assert not without.offer(frame(7))


def test_a_flusher_does_not_keep_its_event_loop_alive() -> None:
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def use() -> None:
        flusher_module.flusher().stamp()
        loops.append(weakref.ref(asyncio.get_running_loop()))

    for _ in range(3):
        asyncio.run(use())
    gc.collect()
    assert [ref() for ref in loops] == [None, None, None]
