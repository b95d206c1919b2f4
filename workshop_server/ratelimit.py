"""Rate limits keyed by client address (and room): token buckets.

One limiter per kind of action: room creation, wrong organiser keys, room-code lookups, passphrase
failures, and commands from one address into one room. Each key has a token bucket of ``burst`` tokens
refilled at ``rate`` per second. A refusal says how long to wait: ``take`` returns the seconds until a
token is available, which the HTTP layer sends as ``Retry-After`` and the WebSocket layer as
``retry_after`` in the ``rate_limited`` error.

:class:`KeyedLimiter` keeps its buckets in this process, in a table of at most ``max_keys``; when it is
full, the least recently used bucket is dropped, which forgets a key that has been quiet the longest (a
full bucket and a dropped one behave the same). The commands into one room are counted so, by the
room's owner, whatever worker they came by.

:class:`SharedLimiter` keeps them in the broker (``Broker.take``/``Broker.give``), so that a limit
holds across every worker sharing it: with the Redis broker, the sum of what all the workers let
through is one budget; with the in-memory broker (one process), a :class:`KeyedLimiter` in it does
exactly what it did before. The per-address limits that must hold across workers are shared: room
creation, wrong organiser keys, lookups of unknown codes and wrong passphrases. When the broker cannot
answer, the check fails closed: :class:`~workshop_server.broker.BrokerError` (``server_busy``,
temporary), logged and counted (``limit_unavailable``), for the action guarded needs the broker anyway
and a guessing limit must not open because Redis is slow.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Protocol

from workshop_server.errors import WorkshopError

if TYPE_CHECKING:
    from workshop_server.settings import Settings

__all__ = ["BucketStore", "KeyedLimiter", "Limiters", "SharedLimiter", "address_key", "retry_after_header"]

log = logging.getLogger("workshop_server")

DEFAULT_MAX_KEYS: Final = 100_000


class KeyedLimiter:
    """Token buckets per key. ``take(key)`` is 0.0 when allowed, else the seconds to wait."""

    __slots__ = ("_buckets", "_clock", "burst", "max_keys", "name", "rate")

    def __init__(
        self,
        name: str,
        rate: float,
        burst: float,
        *,
        max_keys: int = DEFAULT_MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self.name = name
        self.rate = rate
        self.burst = float(burst)
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, stamp)

    def _level(self, key: str, now: float) -> float:
        entry = self._buckets.get(key)
        if entry is None:
            return self.burst
        tokens, stamp = entry
        return min(self.burst, tokens + (now - stamp) * self.rate)

    def take(self, key: str, cost: float = 1.0) -> float:
        """Spend ``cost`` tokens of ``key``'s bucket; 0.0 if allowed, else the seconds until it would be."""
        now = self._clock()
        tokens = self._level(key, now)
        if tokens >= cost:
            self._store(key, tokens - cost, now)
            return 0.0
        self._store(key, tokens, now)
        return (cost - tokens) / self.rate

    def give(self, key: str, cost: float = 1.0) -> None:
        """Give back what :meth:`take` spent (the attempt turned out not to count)."""
        now = self._clock()
        self._store(key, min(self.burst, self._level(key, now) + cost), now)

    def _store(self, key: str, tokens: float, now: float) -> None:
        buckets = self._buckets
        if tokens >= self.burst:
            buckets.pop(key, None)  # a full bucket is the same as no bucket
            return
        buckets[key] = (tokens, now)
        buckets.move_to_end(key)
        while len(buckets) > self.max_keys:
            buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)


class BucketStore(Protocol):
    """Where shared token buckets live: the broker (``Broker.take`` and ``Broker.give``)."""

    async def take(self, name: str, key: str, rate: float, burst: float, cost: float = 1.0) -> float: ...

    async def give(self, name: str, key: str, rate: float, burst: float, cost: float = 1.0) -> None: ...


class SharedLimiter:
    """Token buckets per key kept by the broker, one budget for every worker sharing it.

    ``take(key)`` is 0.0 when allowed, else the seconds to wait, as :meth:`KeyedLimiter.take`. When the
    broker fails, ``take`` raises its error (temporary: the caller refuses the action, nothing is let
    through unchecked), and ``give`` logs it and gives nothing back (the budget is smaller for a while).
    ``on_unavailable`` is called with the limit's name on each such failure (a metric)."""

    __slots__ = ("burst", "name", "on_unavailable", "rate", "store")

    def __init__(self, name: str, rate: float, burst: float, store: BucketStore) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self.name = name
        self.rate = rate
        self.burst = float(burst)
        self.store = store
        self.on_unavailable: Callable[[str], None] | None = None

    async def take(self, key: str, cost: float = 1.0) -> float:
        """Spend ``cost`` tokens of ``key``'s bucket; 0.0 if allowed, else the seconds until it would be."""
        try:
            return await self.store.take(self.name, key, self.rate, self.burst, cost)
        except WorkshopError as exc:
            self._unavailable(exc, "the request is refused for now")
            raise

    async def give(self, key: str, cost: float = 1.0) -> None:
        """Give back what :meth:`take` spent (the attempt turned out not to count)."""
        try:
            await self.store.give(self.name, key, self.rate, self.burst, cost)
        except WorkshopError as exc:
            self._unavailable(exc, "a token was not given back")

    def _unavailable(self, exc: Exception, outcome: str) -> None:
        log.warning("the %s rate limit is unavailable (%s): %s", self.name, exc, outcome)
        if self.on_unavailable is not None:
            self.on_unavailable(self.name)


@functools.lru_cache(maxsize=4096)
def address_key(ip: str) -> str:
    """The key of a client address for per-address limits: the address itself for IPv4, its /64
    network for IPv6 (one host commonly holds a whole /64, so single addresses cost nothing to vary).
    Cached: every handshake asks twice (the guard, then the session), and ``ipaddress`` parses slowly
    (about 2% of a join's CPU)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return ip


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` in whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))


class Limiters:
    """Every per-address limiter of one worker, built from the settings: the shared ones in ``store``
    (the broker), the commands into a room in this process (the room's owner counts them)."""

    def __init__(
        self, settings: Settings, store: BucketStore, clock: Callable[[], float] = time.monotonic
    ) -> None:
        hour, minute = 3600.0, 60.0
        self.create_room = SharedLimiter(
            "create_room", settings.rooms_per_ip_per_hour / hour, settings.rooms_per_ip_per_hour, store
        )
        self.lookup = SharedLimiter(
            "lookup", settings.lookups_per_ip_per_minute / minute, settings.lookups_per_ip_per_minute, store
        )
        self.passphrase = SharedLimiter(
            "passphrase",
            settings.passphrase_failures_per_ip_per_hour / hour,
            settings.passphrase_failures_per_ip_per_hour,
            store,
        )
        self.passphrase_room = SharedLimiter(  # every address together, per room
            "passphrase_room",
            settings.passphrase_failures_per_room_per_hour / hour,
            settings.passphrase_failures_per_room_per_hour,
            store,
        )
        self.create_key = SharedLimiter(  # wrong organiser keys: guessing is limited like passphrases
            "create_key",
            settings.passphrase_failures_per_ip_per_hour / hour,
            settings.passphrase_failures_per_ip_per_hour,
            store,
        )
        self.member_pages = SharedLimiter(  # per room and member token, not per address (venues share one)
            "member_pages", settings.member_pages_per_minute / minute, settings.member_pages_per_minute, store
        )
        self.ip_commands = KeyedLimiter(
            "ip_commands",
            settings.ip_commands_per_second,
            settings.ip_command_burst,
            clock=clock,
            max_keys=settings.rate_limit_keys_max,
        )

    def on_unavailable(self, callback: Callable[[str], None]) -> None:
        """Call ``callback`` with a shared limit's name each time the broker cannot check it."""
        for limiter in (
            self.create_room,
            self.lookup,
            self.passphrase,
            self.passphrase_room,
            self.create_key,
            self.member_pages,
        ):
            limiter.on_unavailable = callback
