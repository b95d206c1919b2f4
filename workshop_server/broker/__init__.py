"""Publish/subscribe between server processes, and leases: in memory (default) or over Redis."""

from __future__ import annotations

from workshop_server.broker.base import Broker, BrokerError, Message
from workshop_server.broker.memory import MemoryBroker, MemoryHub
from workshop_server.broker.redis import RedisBroker

__all__ = ["Broker", "BrokerError", "MemoryBroker", "MemoryHub", "Message", "RedisBroker", "create_broker"]


def create_broker(kind: str, redis_url: str) -> Broker:
    """The broker named by the ``broker`` setting: ``"memory"`` or ``"redis"`` (at ``redis_url``)."""
    if kind == "memory":
        return MemoryBroker()
    if kind == "redis":
        return RedisBroker(redis_url)
    raise ValueError(f"unknown broker {kind!r}: expected 'memory' or 'redis'")
