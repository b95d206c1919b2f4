"""Rate limits keyed by client address (and room): token buckets in a bounded table.

One :class:`KeyedLimiter` per kind of action: room creation, room-code lookups, passphrase failures, and
commands from one address into one room. Each key has a token bucket of ``burst`` tokens refilled at
``rate`` per second. The table holds at most ``max_keys`` buckets; when it is full, the least recently
used bucket is dropped, which forgets a key that has been quiet the longest (a full bucket and a dropped
one behave the same). A refusal says how long to wait: :meth:`KeyedLimiter.take` returns the seconds
until a token is available, which the HTTP layer sends as ``Retry-After`` and the WebSocket layer as
``retry_after`` in the ``rate_limited`` error.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from workshop_server.settings import Settings

__all__ = ["KeyedLimiter", "Limiters", "address_key", "retry_after_header"]

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


def address_key(ip: str) -> str:
    """The key of a client address for per-address limits: the address itself for IPv4, its /64
    network for IPv6 (one host commonly holds a whole /64, so single addresses cost nothing to vary)."""
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
    """Every per-address limiter of one process, built from the settings."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        hour, minute = 3600.0, 60.0
        self.create_room = KeyedLimiter(
            "create_room", settings.rooms_per_ip_per_hour / hour, settings.rooms_per_ip_per_hour, clock=clock
        )
        self.lookup = KeyedLimiter(
            "lookup",
            settings.lookups_per_ip_per_minute / minute,
            settings.lookups_per_ip_per_minute,
            clock=clock,
        )
        self.passphrase = KeyedLimiter(
            "passphrase",
            settings.passphrase_failures_per_ip_per_hour / hour,
            settings.passphrase_failures_per_ip_per_hour,
            clock=clock,
        )
        self.create_key = KeyedLimiter(  # wrong organiser keys: guessing is limited like passphrases
            "create_key",
            settings.passphrase_failures_per_ip_per_hour / hour,
            settings.passphrase_failures_per_ip_per_hour,
            clock=clock,
        )
        self.ip_commands = KeyedLimiter(
            "ip_commands", settings.ip_commands_per_second, settings.ip_command_burst, clock=clock
        )
