"""The connections-per-participant claims' repair (``workshop_server.claims``), on the in-process broker."""

from __future__ import annotations

import asyncio
from typing import Any

from workshop_server.broker.memory import MemoryBroker
from workshop_server.claims import REPAIR_SLICE, ConnectionClaims


class CountingBroker(MemoryBroker):
    """The in-process broker, counting the count writes in flight at once (each takes a loop pass)."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.most_in_flight = 0
        self.writes = 0

    async def set_connections(self, room: str, member: str, worker: str, count: int) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)
            await super().set_connections(room, member, worker, count)
            self.writes += 1
        finally:
            self.in_flight -= 1


async def test_a_repair_writes_every_count_a_slice_at_a_time() -> None:
    broker = CountingBroker()
    await broker.connect()
    spawned: list[Any] = []
    claims = ConnectionClaims(broker, "w1", 10, spawned.append, lambda scope: None)
    pairs = [(f"ROOM{r}", f"m{m}") for r in range(40) for m in range(25)]  # 1,000 (room, member)
    for n, pair in enumerate(pairs):
        claims.counts[pair] = 1 + n % 3
    claims.dirty.add(("GONE", "m1"))  # a pair with no connection left: written as 0
    await claims.repair(everything=True)
    assert broker.writes == len(pairs) + 1
    # Never every count at once: a worker with 10,000 pairs made 10,000 tasks in one pass of the loop.
    assert 1 < broker.most_in_flight <= REPAIR_SLICE < len(pairs)
    for n, pair in enumerate(pairs):
        assert broker.hub.connections[pair] == {"w1": 1 + n % 3}
    assert ("GONE", "m1") not in broker.hub.connections
    assert not claims.dirty
    await broker.disconnect()
