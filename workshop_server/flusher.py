"""Writing what connections queued: once per pass of the event loop, paced per connection under load.

A fan-out pushes a batch's frames to hundreds of connections in one go. Each connection is marked
here once (:meth:`Flusher.mark`), and the marked connections are flushed together: at the end of the
delivery that marked them (:meth:`Flusher.flush_now`, called by the fan-out), or else in one callback
after the loop's pass. Nothing is scheduled per recipient. The connection writes its queue as one
frame (several messages coalesced): straight to its transport when it can, the frame built once for
every connection that got the same frames (:meth:`Flusher.wire`), else through its ASGI ``send``.

A batch of one event does not even queue: the fan-out first offers it (``Session.offer``), and a
connection with nothing queued, its tick up, writes it at once; only the others are marked.

Under load the sending is paced per connection (``flush_tick_ms``): a connection sent a frame less than
a tick ago gets what follows in one frame when its tick is up, so a busy room costs one frame per
connection per tick, whatever its rate; a connection idle for longer gets its next message at once, so
a quiet room keeps its latency. A reply is not paced: the connection is flushed at the next pass.
Timers are shared: one per millisecond of due time, not one per connection.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from typing import Protocol

from websockets.frames import Frame, Opcode

from workshop_server.protocol import Codec

__all__ = ["Flushable", "Flusher", "flush_pending", "flusher", "stamp_now"]


class Flushable(Protocol):
    """A connection as the flusher sees it (``session.Session``)."""

    marked: bool  # waiting for a flush (a pass, or its tick)
    urgent: bool  # a reply waits: flushed at the next pass whatever its tick
    last_frame: float  # loop time of the last frame it handed to its transport or ``send``
    tick: float  # seconds: ``flush_tick_ms``

    @property
    def closing(self) -> bool: ...

    def flush(self) -> None:
        """Write what is queued now, as one frame (or leave it to the connection's writer task)."""


class Flusher:
    """The marked connections of one event loop, flushed together."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # A weak proxy: the loop is the key of this flusher in ``_FLUSHERS`` (weak keys), which a
        # strong reference from its value would keep alive for ever (a test suite runs many loops).
        self._loop = weakref.proxy(loop)
        self._marked: list[Flushable] = []
        self._handle: asyncio.Handle | None = None  # the pass scheduled for marks not flushed yet
        self._later: dict[float, list[Flushable]] = {}  # due time (whole milliseconds) -> connections
        # Within one flush: the wire frame built for a queue of frames (keyed by their identities; the
        # frames are kept in the entry, so the identities stay theirs). Connections of one room get the
        # same frame objects from the fan-out, so a frame is built once per audience, not per recipient.
        self._wires: dict[object, tuple[tuple[str | bytes, ...], bytes]] = {}
        # The loop time of the flush under way: every connection flushed together gets the same
        # ``last_frame``, so their next ticks fall due together, in one timer and one built frame.
        self.now = loop.time()

    def mark(self, connection: Flushable, *, urgent: bool = False) -> None:
        """``urgent``: a reply, which the client waits for; the tick paces events, not answers."""
        if urgent and not connection.urgent:
            connection.urgent = True
        elif connection.marked:
            return
        connection.marked = True
        self._marked.append(connection)
        if self._handle is None:
            self._handle = self._loop.call_soon(self._pass)

    def flush_now(self) -> None:
        """Flush what was marked so far, now rather than after the pass (the end of a delivery)."""
        if self._handle is not None:
            self._handle.cancel()
            self._pass()
        else:
            self._wires.clear()  # frames written by ``offer`` alone: their wires are not kept

    def stamp(self) -> None:
        """The start of a delivery: ``now`` is the loop's time, for ``offer``'s tick and as the time of
        the frames it writes (so the connections written to at once fall due together again)."""
        self.now = self._loop.time()

    def _pass(self) -> None:
        self._handle = None
        marked, self._marked = self._marked, []
        now = self.now = self._loop.time()
        for connection in marked:
            due = connection.last_frame + connection.tick
            if due > now and not connection.closing and not connection.urgent:
                key = math.ceil(due * 1000.0) / 1000.0
                later = self._later.get(key)
                if later is None:
                    later = self._later[key] = []
                    self._loop.call_at(key, self._due, key)
                later.append(connection)
            else:
                connection.marked = connection.urgent = False
                connection.flush()
        self._wires.clear()

    def _due(self, key: float) -> None:
        self.now = self._loop.time()
        for connection in self._later.pop(key, ()):
            if connection.marked:  # not flushed meanwhile for a reply
                connection.marked = False
                connection.flush()
        self._wires.clear()

    def wire(self, frames: tuple[str | bytes, ...], codec: Codec) -> bytes:
        """``frames`` (one, or several to coalesce) as one complete server-side WebSocket frame: built
        once per flush for every connection queueing the same frame objects."""
        key: object = id(frames[0]) if len(frames) == 1 else tuple(map(id, frames))
        found = self._wires.get(key)
        if found is not None and found[0] == frames:
            return found[1]
        payload = frames[0] if len(frames) == 1 else codec.join(list(frames))
        if isinstance(payload, str):
            built = Frame(Opcode.TEXT, payload.encode()).serialize(mask=False)
        else:
            built = Frame(Opcode.BINARY, payload).serialize(mask=False)
        self._wires[key] = (frames, built)
        return built


_FLUSHERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Flusher] = weakref.WeakKeyDictionary()


def flusher() -> Flusher:
    """The running loop's flusher."""
    return flusher_of(asyncio.get_running_loop())


def stamp_now() -> None:
    """Start a delivery on the running loop's flusher (:meth:`Flusher.stamp`; nothing outside a loop)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    flusher_of(loop).stamp()


def flusher_of(loop: asyncio.AbstractEventLoop) -> Flusher:
    found = _FLUSHERS.get(loop)
    if found is None:
        found = _FLUSHERS[loop] = Flusher(loop)
    return found


def flush_pending() -> None:
    """Flush what the running loop's connections have marked, now (nothing outside a loop)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    found = _FLUSHERS.get(loop)
    if found is not None:
        found.flush_now()
