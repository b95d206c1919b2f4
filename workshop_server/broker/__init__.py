"""Publish/subscribe between server processes, and leases: in memory (default) or over Redis."""

from __future__ import annotations

from workshop_server.broker.base import Broker, BrokerError, Message
from workshop_server.broker.memory import MemoryBroker, MemoryHub
from workshop_server.broker.redis import RedisBroker

__all__ = ["Broker", "BrokerError", "MemoryBroker", "MemoryHub", "Message", "RedisBroker", "create_broker"]


def create_broker(kind: str, redis_url: str, timeout: float = 10.0) -> Broker:
    """The broker named by the ``broker`` setting: ``"memory"`` or ``"redis"`` (at ``redis_url``, each
    operation bounded by ``timeout`` seconds, its probe by the smaller of that and 2 s)."""
    if kind == "memory":
        return MemoryBroker()
    if kind == "redis":
        return RedisBroker(redis_url, timeout=timeout, probe_timeout=min(2.0, timeout))
    raise ValueError(f"unknown broker {kind!r}: expected 'memory' or 'redis'")
