"""The shared rate limits over the in-memory broker (the embedded default) and when the broker fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from workshop_server.broker import BrokerError, MemoryBroker
from workshop_server.ratelimit import KeyedLimiter, Limiters
from workshop_server.settings import Settings


def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, secret="x" * 48, passphrase_failures_per_ip_per_hour=3)


async def test_over_the_memory_broker_a_shared_limit_is_the_process_token_bucket(tmp_path: Path) -> None:
    """One process, the memory broker: the same answers as a KeyedLimiter of the same rate and burst."""
    async with MemoryBroker() as broker:
        limiters = Limiters(settings(tmp_path), broker)
        local = KeyedLimiter("passphrase", 3 / 3600, 3)
        shared = [await limiters.passphrase.take("ip\x00ROOM") for _ in range(4)]
        alone = [local.take("ip\x00ROOM") for _ in range(4)]
        assert shared[:3] == alone[:3] == [0.0, 0.0, 0.0]
        assert shared[3] == pytest.approx(alone[3], abs=1.0)  # about 20 minutes, both
        await limiters.passphrase.give("ip\x00ROOM")
        assert await limiters.passphrase.take("ip\x00ROOM") == 0.0
        assert await limiters.create_key.take("ip\x00ROOM") == 0.0  # another limit, another budget


async def test_a_limit_the_broker_cannot_check_refuses_as_temporary_and_is_counted(tmp_path: Path) -> None:
    broker = MemoryBroker()  # never connected: every operation fails as the Redis broker's do
    limiters = Limiters(settings(tmp_path), broker)
    failed: list[str] = []
    limiters.on_unavailable(failed.append)
    with pytest.raises(BrokerError) as raised:
        await limiters.lookup.take("10.0.0.1")
    assert raised.value.temporary and raised.value.code == "server_busy"
    await limiters.lookup.give("10.0.0.1")  # a token not given back: logged, never raised
    assert failed == ["lookup", "lookup"]


async def test_every_rate_limit_table_is_bounded_by_a_setting(tmp_path: Path) -> None:
    """A review: the tables of addresses were bounded by constants in the code (100,000 keys per limit,
    10,000 addresses guessing room codes), not by named settings. ``rate_limit_keys_max`` bounds them all:
    past it, the address quiet the longest is forgotten."""
    from workshop_server.broker import create_broker
    from workshop_server.hub import Hub

    tight = Settings(
        data_dir=tmp_path, secret="x" * 48, rate_limit_keys_max=1000, lookups_per_ip_per_minute=1
    )
    async with create_broker("memory", "", max_keys=tight.rate_limit_keys_max) as broker:
        limiters = Limiters(tight, broker)
        for n in range(1500):
            limiters.ip_commands.take(f"10.0.{n // 256}.{n % 256}\x00ROOM")
            await limiters.lookup.take(f"10.1.{n // 256}.{n % 256}")
        assert len(limiters.ip_commands) == 1000
        assert isinstance(broker, MemoryBroker) and len(broker.hub.limits["lookup"]) == 1000
    hub = Hub(tight.model_copy(update={"store": "memory"}))
    for n in range(1500):
        hub._guessed(f"10.2.{n // 256}.{n % 256}", 60.0)
    assert len(hub._guessing) == 1000
