"""Publish/subscribe between server processes, and leases: in memory (default) or over Redis."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workshop_server.broker.base import Broker, BrokerError, Message
from workshop_server.broker.memory import MemoryBroker, MemoryHub
from workshop_server.ratelimit import DEFAULT_MAX_KEYS

if TYPE_CHECKING:
    from workshop_server.broker.redis import RedisBroker

__all__ = ["Broker", "BrokerError", "MemoryBroker", "MemoryHub", "Message", "RedisBroker", "create_broker"]


def create_broker(
    kind: str, redis_url: str, timeout: float = 10.0, max_keys: int = DEFAULT_MAX_KEYS
) -> Broker:
    """The broker named by the ``broker`` setting: ``"memory"`` or ``"redis"`` (at ``redis_url``, each
    operation bounded by ``timeout`` seconds, its probe by the smaller of that and 2 s). ``max_keys``:
    the size of each rate limit's table in the memory broker (Redis lets its keys expire)."""
    if kind == "memory":
        return MemoryBroker(MemoryHub(max_keys=max_keys))
    if kind == "redis":
        from workshop_server.broker.redis import RedisBroker

        return RedisBroker(redis_url, timeout=timeout, probe_timeout=min(2.0, timeout))
    raise ValueError(f"unknown broker {kind!r}: expected 'memory' or 'redis'")


def __getattr__(name: str) -> Any:
    """``RedisBroker`` (and redis-py) are imported when first asked for: a server on the memory broker
    starts without them (some 40 ms of CPU at each start)."""
    if name == "RedisBroker":
        from workshop_server.broker.redis import RedisBroker

        return RedisBroker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
