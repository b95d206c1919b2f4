"""Connections per participant, exact across workers: this worker's share, mirrored in the broker.

A member may hold at most ``max_connections_per_member`` connections in a room, whatever workers they
reach. The truth is each worker's own connections; the broker mirrors it as a count per (room, member)
and worker (``Broker.claim_connection``), and a claim adds one only while the live workers' counts
stay under the limit, checked and added at once. A connection claims once, on the worker holding it:
before it is attached (``auth``), or as soon as the join that made or found its member answers; it
releases once, when it leaves the room (closed, or refused after its claim). A room that moves between
workers attaches its connections again in place without claiming: the count is per connection held,
not per attach.

A release is fire-and-forget. This worker's writes of one pair (claims, releases, repairs) reach the
broker one at a time, in order, so its share there is its local count. Whatever may have left it
wrong (a claim or a release that failed or timed out) marks the pair: at the next heartbeat this
worker writes its own count of it again (``Broker.set_connections``). It writes every count again
after the broker came back, when its own announcement may have lapsed (others then dropped its
share), and every ``CONNECTIONS_REWRITE`` seconds (the broker forgets a count ``CONNECTIONS_TTL``
after its last write).

A claim the broker cannot answer is refused as temporary (``server_busy``): the limit fails closed,
as the shared rate limits do; it is logged and reported to ``on_unavailable`` (a metric).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from workshop_server import errors
from workshop_server.broker.base import CONNECTIONS_TTL

if TYPE_CHECKING:
    from workshop_server.broker import Broker
    from workshop_server.connection import Connection

__all__ = ["CONNECTIONS_REWRITE", "REPAIR_SLICE", "SCREENS", "ConnectionClaims"]

log = logging.getLogger("workshop_server")

#: Seconds between two writes of every count of this worker (the broker keeps one CONNECTIONS_TTL).
CONNECTIONS_REWRITE = CONNECTIONS_TTL / 4
#: Counts written at once by a repair. A worker holds a count per (room, member): all 10,000 of them at
#: once were 10,000 tasks run in one pass of the event loop, a stall of 50 ms on an idle machine (and
#: of up to 250 ms under load) every CONNECTIONS_REWRITE; in slices the loop serves others in between.
REPAIR_SLICE = 128
#: The member key under which a room's screen connections are counted (no member id looks like it).
SCREENS = "*screens"

Pair = tuple[str, str]  # (room, member)


class ConnectionClaims:
    """The connections of this worker that hold a claim, counted per (room, member)."""

    def __init__(
        self,
        broker: Broker,
        worker_id: str,
        limit: int,
        spawn: Callable[[Coroutine[Any, Any, None]], object],
        on_unavailable: Callable[[str], None],
    ) -> None:
        self.broker = broker
        self.worker_id = worker_id
        self.limit = limit
        self._spawn = spawn
        self._on_unavailable = on_unavailable
        self.held: dict[Connection, Pair] = {}
        self.counts: dict[Pair, int] = {}
        self.dirty: set[Pair] = set()  # pairs whose count in the broker may be wrong
        # One write at a time per pair (claims, releases, repairs): each reaches the broker in the order
        # it was made, so a repair writes the count as it is after every write before it.
        self._locks: dict[Pair, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def _turn(self, pair: Pair) -> AsyncIterator[None]:
        lock, users = self._locks.get(pair, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[pair] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[pair]
            if users > 1:
                self._locks[pair] = (lock, users - 1)
            else:
                del self._locks[pair]

    async def claim(self, session: Connection, room: str, member: str, limit: int | None = None) -> None:
        """Count ``session`` as one of ``member``'s connections in ``room``, or raise
        :class:`~workshop_server.errors.TooManyConnections` (or ``ServerBusy`` when the broker cannot
        tell). A connection that holds a claim already is not counted again. ``limit``: another limit
        than the members' (the room screens', counted under :data:`SCREENS`)."""
        limit = self.limit if limit is None else limit
        if session in self.held:
            return
        pair = (room, member)
        async with self._turn(pair):
            try:
                counted = await self.broker.claim_connection(room, member, self.worker_id, limit)
            except errors.WorkshopError as exc:
                self.dirty.add(pair)  # it may have been counted all the same (a timeout)
                log.warning("the connections per participant cannot be checked (%s): refused for now", exc)
                self._on_unavailable("connections")
                raise errors.ServerBusy("the connection limit cannot be checked now; retry shortly") from None
            if not counted:
                if member == SCREENS:
                    raise errors.TooManyConnections(f"at most {limit} room screens are open in this room")
                raise errors.TooManyConnections(f"at most {limit} connections per participant")
            self.held[session] = pair
            self.counts[pair] = self.counts.get(pair, 0) + 1

    def release(self, session: Connection) -> None:
        """``session`` left its room: take it off the count (in the broker, in the background)."""
        pair = self.held.pop(session, None)
        if pair is not None:
            self._spawn(self._release(pair))

    async def _release(self, pair: Pair) -> None:
        async with self._turn(pair):  # counted down in turn: a repair before it still counts it
            left = self.counts[pair] - 1
            if left:
                self.counts[pair] = left
            else:
                del self.counts[pair]
            try:
                await self.broker.release_connection(pair[0], pair[1], self.worker_id)
            except errors.WorkshopError as exc:
                log.debug("a connection's release did not reach the broker (%s); written again later", exc)
                self.dirty.add(pair)

    async def repair(self, *, everything: bool = False) -> None:
        """Write this worker's counts in the broker: those that may be wrong, or ``everything`` (after
        the broker came back, and every ``CONNECTIONS_REWRITE``). Each waits for the claims and releases
        of its pair made before it, and writes the count as it is then."""
        pairs = sorted((set(self.counts) | self.dirty) if everything else self.dirty)
        self.dirty.difference_update(pairs)
        for start in range(0, len(pairs), REPAIR_SLICE):
            await asyncio.gather(*(self._write(pair) for pair in pairs[start : start + REPAIR_SLICE]))

    async def _write(self, pair: Pair) -> None:
        async with self._turn(pair):
            try:
                await self.broker.set_connections(pair[0], pair[1], self.worker_id, self.counts.get(pair, 0))
            except errors.WorkshopError:
                self.dirty.add(pair)
