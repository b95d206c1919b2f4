"""The garbage-collection policy (``gc_freeze``) and the loop-lag probe, in this process.

What must hold: survivors of a full collection are frozen (later collections skip them), young cyclic
garbage is still freed at once, frozen cyclic garbage is freed by a sweep, a sweep comes after enough
churn, and stopping gives the process its ordinary collector back. No timing is asserted except a
lower bound that a slower machine can only exceed.
"""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from workshop_server.collector import (
    SWEEP_MIN_ENDED,
    FreezingCollector,
    LoopLagProbe,
    PauseObserver,
    sweep_due,
)


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> tuple[Node, weakref.ref[Node]]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a, weakref.ref(a)


def in_generations(obj: object) -> bool:
    """Whether a collection still walks ``obj`` (frozen objects are in no generation)."""
    return any(any(o is obj for o in gc.get_objects(generation)) for generation in range(3))


class Churn:
    def __init__(self) -> None:
        self.ended = 0
        self.open = 0


@pytest.fixture
async def freezer() -> AsyncIterator[tuple[FreezingCollector, Churn]]:
    churn = Churn()
    collector = FreezingCollector(lambda: churn.ended, lambda: churn.open)
    collector.start()
    try:
        yield collector, churn
    finally:
        await collector.stop()


def test_sweep_is_due_after_as_many_ends_as_open_connections() -> None:
    assert not sweep_due(999, 10, minimum=1000)
    assert sweep_due(1000, 10, minimum=1000)
    assert not sweep_due(9_999, 10_000, minimum=1000)
    assert sweep_due(10_000, 10_000, minimum=1000)
    assert SWEEP_MIN_ENDED == 1000


async def test_survivors_of_a_full_collection_are_frozen(freezer: tuple[FreezingCollector, Churn]) -> None:
    collector, _ = freezer
    assert gc.get_freeze_count() > 0  # start-up's objects
    kept = [Node()]
    assert in_generations(kept)
    gc.collect()
    assert not in_generations(kept)  # survived a full collection: frozen
    assert collector.freezes >= 2


async def test_young_cyclic_garbage_is_still_collected(freezer: tuple[FreezingCollector, Churn]) -> None:
    node, ref = cycle()
    del node
    assert ref() is not None  # only a collection frees a cycle
    gc.collect()
    assert ref() is None


async def test_a_sweep_frees_cyclic_garbage_among_frozen_objects(
    freezer: tuple[FreezingCollector, Churn],
) -> None:
    collector, churn = freezer
    node, ref = cycle()
    gc.collect()  # the cycle is alive: frozen
    del node
    gc.collect()
    assert ref() is not None  # the trade-off: frozen garbage waits for a sweep
    churn.open = 5
    churn.ended = SWEEP_MIN_ENDED - 1
    assert not collector.maybe_sweep()
    assert ref() is not None
    churn.ended = SWEEP_MIN_ENDED
    assert collector.maybe_sweep()
    assert ref() is None
    assert collector.sweeps == 1
    assert gc.get_freeze_count() > 0  # the sweep's survivors are frozen again
    churn.ended += SWEEP_MIN_ENDED - 1  # counted from the sweep on
    assert not collector.maybe_sweep()


async def test_stopping_the_last_collector_unfreezes() -> None:
    first = FreezingCollector(lambda: 0, lambda: 0)
    second = FreezingCollector(lambda: 0, lambda: 0)
    before = gc.get_threshold()
    first.start()
    second.start()
    try:
        assert gc.get_threshold() == (before[0], before[1], 1)  # a full collection every 2nd of gen 1
        await first.stop()
        assert gc.get_freeze_count() > 0  # the other app still runs
        kept = [Node()]
        gc.collect()
        assert not in_generations(kept)
    finally:
        await second.stop()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before  # Python's thresholds back
    assert first not in gc.callbacks and second not in gc.callbacks
    gc.collect()
    assert in_generations(kept)  # an ordinary collector again: nothing is frozen


def test_pause_observer_records_each_collection_by_generation() -> None:
    observer = PauseObserver()
    observer.install()
    try:
        gc.collect()
        gc.collect(0)
    finally:
        observer.uninstall()
    pauses = observer.drain()
    assert [generation for generation, _ in pauses[-2:]] == [2, 0]
    assert all(seconds >= 0 for _, seconds in pauses)
    assert observer.drain() == []
    gc.collect()
    assert observer.drain() == []  # uninstalled


async def test_lag_probe_sees_a_blocked_loop() -> None:
    lags: list[float] = []
    probe = LoopLagProbe(lags.append, interval=0.01)
    probe.start()
    try:
        await asyncio.sleep(0.05)
        time.sleep(0.3)
        await asyncio.sleep(0.05)
    finally:
        await probe.stop()
    assert lags and min(lags) >= 0
    assert max(lags) >= 0.3 - 0.01  # a lower bound: a busier machine only adds to it


async def test_lag_probe_goes_on_after_its_observer_fails_and_stops_when_told(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lags: list[float] = []

    def observe(lag: float) -> None:
        lags.append(lag)
        raise RuntimeError("the metric failed")

    probe = LoopLagProbe(observe, interval=0.01)
    probe.start()
    probe.start()  # started already: still one chain of timers
    try:
        async with asyncio.timeout(10):
            while len(lags) < 5:
                await asyncio.sleep(0.01)
    finally:
        await probe.stop()
    failures = [r for r in caplog.records if "lag probe" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None  # logged once, and it went on
    seen = len(lags)
    await asyncio.sleep(0.05)
    assert len(lags) == seen  # stopped: neither chain goes on


async def test_http_requests_count_towards_a_sweep(tmp_path: Path) -> None:
    """A review: a sweep came only after WebSocket connections ended, so a worker serving HTTP alone (room
    code lookups: 404s, 429s) kept every request's objects frozen in flight and grew by 2 KB a request,
    never swept. The app's churn (what the collector counts) counts its HTTP requests too."""
    import httpx

    from workshop_server.app import create_app
    from workshop_server.settings import Settings

    app = create_app(Settings(data_dir=tmp_path / "data"))
    metrics = app.hub.metrics
    assert metrics is not None
    before = metrics.churn()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        for _ in range(3):
            assert (await client.get("/api/rooms/ZZZZZZ")).status_code in (404, 429, 503)
    assert metrics.churn() - before == 3
    assert sweep_due(metrics.churn() - before, 0, minimum=3)
