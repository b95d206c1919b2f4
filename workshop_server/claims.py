"""Connections per participant, exact across workers: this worker's share, mirrored in the broker.

A member may hold at most ``max_connections_per_member`` connections in a room, whatever workers they
reach. The truth is each worker's own connections; the broker mirrors it as a count per (room, member)
and worker (``Broker.claim_connection``), and a claim adds one only while the live workers' counts
stay under the limit, checked and added at once. A connection claims once, on the worker holding it:
before it is attached (``auth``), or as soon as the join that made or found its member answers; it
releases once, when it leaves the room (closed, or refused after its claim). A room that moves between
workers attaches its connections again in place without claiming: the count is per connection held,
not per attach.

A release is fire-and-forget. Whatever may have left the broker's count wrong (a claim or a release
that failed or timed out) marks the pair: at the next heartbeat this worker writes its own count of
it again (``Broker.set_connections``). It writes every count again after the broker came back, when
its own announcement may have lapsed (others then dropped its share), and every
``CONNECTIONS_REWRITE`` seconds (the broker forgets a count ``CONNECTIONS_TTL`` after its last write).

A claim the broker cannot answer is refused as temporary (``server_busy``): the limit fails closed,
as the shared rate limits do; it is logged and reported to ``on_unavailable`` (a metric).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from workshop_server import errors
from workshop_server.broker.base import CONNECTIONS_TTL

if TYPE_CHECKING:
    from workshop_server.broker import Broker
    from workshop_server.connection import Connection

__all__ = ["CONNECTIONS_REWRITE", "ConnectionClaims"]

log = logging.getLogger("workshop_server")

#: Seconds between two writes of every count of this worker (the broker keeps one CONNECTIONS_TTL).
CONNECTIONS_REWRITE = CONNECTIONS_TTL / 4

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
        self._busy: dict[Pair, int] = {}  # claims and releases on their way to the broker
        self._touched: set[Pair] = set()  # pairs claimed or released since a repair began

    async def claim(self, session: Connection, room: str, member: str) -> None:
        """Count ``session`` as one of ``member``'s connections in ``room``, or raise
        :class:`~workshop_server.errors.TooManyConnections` (or ``ServerBusy`` when the broker cannot
        tell). A connection that holds a claim already is not counted again."""
        if session in self.held:
            return
        pair = (room, member)
        self._busy[pair] = self._busy.get(pair, 0) + 1
        self._touched.add(pair)
        try:
            counted = await self.broker.claim_connection(room, member, self.worker_id, self.limit)
        except errors.WorkshopError as exc:
            self.dirty.add(pair)  # it may have been counted all the same (a timeout)
            log.warning("the connections per participant cannot be checked (%s): refused for now", exc)
            self._on_unavailable("connections")
            raise errors.ServerBusy("the connection limit cannot be checked now; retry shortly") from None
        finally:
            self._done(pair)
        if not counted:
            raise errors.TooManyConnections(f"at most {self.limit} connections per participant")
        self.held[session] = pair
        self.counts[pair] = self.counts.get(pair, 0) + 1

    def release(self, session: Connection) -> None:
        """``session`` left its room: take it off the count (in the broker, in the background)."""
        pair = self.held.pop(session, None)
        if pair is None:
            return
        left = self.counts[pair] - 1
        if left:
            self.counts[pair] = left
        else:
            del self.counts[pair]
        self._busy[pair] = self._busy.get(pair, 0) + 1
        self._touched.add(pair)
        self._spawn(self._release(pair))

    async def _release(self, pair: Pair) -> None:
        try:
            await self.broker.release_connection(pair[0], pair[1], self.worker_id)
        except errors.WorkshopError as exc:
            log.debug("a connection's release did not reach the broker (%s); written again later", exc)
            self.dirty.add(pair)
        finally:
            self._done(pair)

    def _done(self, pair: Pair) -> None:
        busy = self._busy[pair] - 1
        if busy:
            self._busy[pair] = busy
        else:
            del self._busy[pair]

    async def repair(self, *, everything: bool = False) -> None:
        """Write this worker's counts in the broker: those that may be wrong, or ``everything`` (after
        the broker came back, and every ``CONNECTIONS_REWRITE``). A pair with a claim or a release on
        its way is left for the next time."""
        pairs = (set(self.counts) | self.dirty) if everything else set(self.dirty)
        later = {pair for pair in pairs if pair in self._busy}
        pairs -= later
        self.dirty -= pairs
        self.dirty |= later
        if not pairs:
            return
        self._touched.clear()
        ordered = sorted(pairs)
        results = await asyncio.gather(
            *(
                self.broker.set_connections(room, member, self.worker_id, self.counts.get((room, member), 0))
                for room, member in ordered
            ),
            return_exceptions=True,
        )
        for pair, result in zip(ordered, results, strict=True):
            # A claim or a release that began meanwhile may have reached the broker before the write.
            if isinstance(result, BaseException) or pair in self._touched:
                self.dirty.add(pair)
