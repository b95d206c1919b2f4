"""The in-process broker: the default, for a single server process.

Brokers that share one :class:`MemoryHub` see each other's messages, leases and rate limits, as
separate processes sharing a Redis server do; by default every :class:`MemoryBroker` has a hub of its
own. The rate limits are :class:`~workshop_server.ratelimit.KeyedLimiter` token buckets, one table per
limit (bounded in size, by the process's monotonic clock).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from workshop_server.broker.base import Broker, BrokerError, Inbox, Message, check_ttl, worker_key
from workshop_server.ratelimit import DEFAULT_MAX_KEYS, KeyedLimiter

__all__ = ["MemoryBroker", "MemoryHub"]

#: The fewest leases at which expired ones are swept out (amortised: a sweep at most every so many claims).
LEASES_SWEPT_FROM = 1024


@dataclass(eq=False)
class MemoryHub:
    """What brokers of one process share: who subscribed to what, and the leases."""

    subscribers: dict[str, set[Inbox]] = field(default_factory=dict)
    leases: dict[str, tuple[str, float]] = field(default_factory=dict)  # key -> (owner, expiry)
    limits: dict[str, KeyedLimiter] = field(default_factory=dict)  # limit name -> its buckets
    # (room, member) -> worker -> its connections; a pair without connections has no entry.
    connections: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    # The leases' count at which the expired ones are swept out (twice what the last sweep left): a
    # one-time download link spends a lease that nobody releases (Redis lets such keys expire).
    sweep_at: int = LEASES_SWEPT_FROM
    max_keys: int = DEFAULT_MAX_KEYS  # each rate limit's table (``rate_limit_keys_max``)

    def limiter(self, name: str, rate: float, burst: float) -> KeyedLimiter:
        """The buckets of the limit ``name`` (made again, empty, if its rate or burst changed)."""
        limiter = self.limits.get(name)
        if limiter is None or (limiter.rate, limiter.burst) != (rate, float(burst)):
            limiter = self.limits[name] = KeyedLimiter(name, rate, burst, max_keys=self.max_keys)
        return limiter

    def claim(self, key: str, owner: str, ttl: float) -> bool:
        now = time.monotonic()
        held = self.leases.get(key)
        if held is not None and held[0] != owner and held[1] > now:
            return False
        self.leases[key] = (owner, now + ttl)
        if len(self.leases) >= self.sweep_at:
            for gone in [k for k, (_, expiry) in self.leases.items() if expiry <= now]:
                del self.leases[gone]
            self.sweep_at = max(LEASES_SWEPT_FROM, 2 * len(self.leases))
        return True

    def release(self, key: str, owner: str) -> None:
        held = self.leases.get(key)
        if held is not None and held[0] == owner:
            del self.leases[key]

    def holder(self, key: str) -> str | None:
        held = self.leases.get(key)
        if held is None or held[1] <= time.monotonic():
            return None
        return held[0]

    def claim_connection(self, room: str, member: str, worker: str, limit: int) -> bool:
        shares = self.connections.setdefault((room, member), {})
        for other in [w for w in shares if w != worker and self.holder(worker_key(w)) is None]:
            del shares[other]  # a dead worker's share
        if sum(shares.values()) >= limit:
            if not shares:
                del self.connections[(room, member)]
            return False
        shares[worker] = shares.get(worker, 0) + 1
        return True

    def set_connections(self, room: str, member: str, worker: str, count: int) -> None:
        shares = self.connections.setdefault((room, member), {})
        if count > 0:
            shares[worker] = count
        else:
            shares.pop(worker, None)
        if not shares:
            del self.connections[(room, member)]


class MemoryBroker(Broker):
    """In-process publish/subscribe over asyncio queues."""

    def __init__(self, hub: MemoryHub | None = None) -> None:
        self.hub = hub if hub is not None else MemoryHub()
        self._inbox: Inbox | None = None

    def _connected(self) -> Inbox:
        if self._inbox is None:
            raise BrokerError("the broker is not connected")
        return self._inbox

    async def connect(self) -> None:
        if self._inbox is not None:
            raise RuntimeError("the broker is already connected")
        self._inbox = Inbox()

    async def disconnect(self) -> None:
        inbox, self._inbox = self._inbox, None
        if inbox is None:
            return
        for channel in list(inbox.channels):
            self._remove(inbox, channel)
        inbox.close()

    async def publish(self, channel: str, data: bytes) -> None:
        self._connected()
        message = Message(channel, bytes(data))
        for inbox in self.hub.subscribers.get(channel, ()):
            inbox.put(message)

    async def subscribe(self, channel: str) -> None:
        inbox = self._connected()
        inbox.channels.add(channel)
        self.hub.subscribers.setdefault(channel, set()).add(inbox)

    async def unsubscribe(self, channel: str) -> None:
        inbox = self._connected()
        inbox.channels.discard(channel)
        self._remove(inbox, channel)

    def _remove(self, inbox: Inbox, channel: str) -> None:
        subscribers = self.hub.subscribers.get(channel)
        if subscribers is not None:
            subscribers.discard(inbox)
            if not subscribers:
                del self.hub.subscribers[channel]

    def messages(self) -> AsyncIterator[Message]:
        return self._connected().take()

    async def ping(self) -> None:
        if self._connected().closed:
            raise BrokerError("the broker's message stream has ended")

    async def claim(self, key: str, owner: str, ttl: float) -> bool:
        check_ttl(ttl)
        self._connected()
        return self.hub.claim(key, owner, ttl)

    async def claim_many(self, keys: Sequence[str], owner: str, ttl: float) -> list[bool]:
        check_ttl(ttl)
        self._connected()
        return [self.hub.claim(key, owner, ttl) for key in keys]

    async def release(self, key: str, owner: str) -> None:
        self._connected()
        self.hub.release(key, owner)

    async def holder(self, key: str) -> str | None:
        self._connected()
        return self.hub.holder(key)

    async def take(self, name: str, key: str, rate: float, burst: float, cost: float = 1.0) -> float:
        self._connected()
        return self.hub.limiter(name, rate, burst).take(key, cost)

    async def give(self, name: str, key: str, rate: float, burst: float, cost: float = 1.0) -> None:
        self._connected()
        self.hub.limiter(name, rate, burst).give(key, cost)

    async def claim_connection(self, room: str, member: str, worker: str, limit: int) -> bool:
        self._connected()
        return self.hub.claim_connection(room, member, worker, limit)

    async def release_connection(self, room: str, member: str, worker: str) -> None:
        self._connected()
        count = self.hub.connections.get((room, member), {}).get(worker, 0)
        self.hub.set_connections(room, member, worker, count - 1)

    async def set_connections(self, room: str, member: str, worker: str, count: int) -> None:
        self._connected()
        self.hub.set_connections(room, member, worker, count)
