"""The server's wall clock never steps back (workshop_server/clock.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.test_cluster import Wire, new_room, settings, two_hubs
from tests.test_retention import Clock
from workshop_server import clock as clock_module
from workshop_server import host as host_module
from workshop_server.clock import SteadyClock
from workshop_server.hub import Hub


class Fake:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_clock_follows_the_wall_clock_forward_and_never_goes_back() -> None:
    wall, mono = Fake(1_000_000.0), Fake(50.0)
    clock = SteadyClock(wall, mono)
    assert clock() == 1_000_000.0
    wall.now += 10
    mono.now += 10
    assert clock() == 1_000_010.0
    wall.now += 3600  # a forward step (a machine that booted with a wrong time synchronises)
    mono.now += 1
    assert clock() == 1_003_610.0
    wall.now -= 600  # a backward step (a fast clock corrected): go on at the monotonic pace
    mono.now += 2
    assert clock() == 1_003_612.0
    mono.now += 5
    wall.now += 5
    assert clock() == 1_003_617.0


async def test_a_clock_step_back_does_not_stretch_the_next_round(tmp_path: Path) -> None:
    """The room's clock never goes back (replays need that), but ``server_time`` followed the wall clock:
    after a step back of 10 minutes a 5-minute round got a deadline 15 minutes ahead of the
    ``server_time`` every client counts down from, and the hub's timer closed it 10 minutes late."""
    clock = Clock()
    async with two_hubs(settings(tmp_path / "data"), clock=clock) as (a, _):
        _, links = await new_room(a)
        fay = Wire(a)
        await fay.attached("auth", token=links["facilitator_token"])
        await fay.ok("round.open", kind="ideate", prompt="Warm-up", duration=None, private=False)
        await fay.ok("round.close")
        clock.now -= 600  # the clock was 10 minutes fast; NTP corrects it
        reply = await fay.call("round.open", kind="ideate", prompt="Five minutes", duration=300)
        assert reply["type"] == "ok", reply
        rnd = reply["result"]["round"]
        countdown = rnd["deadline"] - reply["server_time"]  # what every client shows (protocol.md)
        assert countdown == pytest.approx(300, abs=1)
        await fay.close()


class Ahead:
    """A clock ``now`` seconds ahead of another."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock, self.now = clock, 0.0

    def __call__(self) -> float:
        return self.clock() + self.now


async def a_room_used(data: Path, clock: Clock) -> dict[str, Any]:
    """A room made and used (a round opened and closed) on a hub with ``clock``, then stopped: its links."""
    hub = Hub(settings(data), clock=clock)
    await hub.start()
    try:
        _, links = await new_room(hub)
        fay = Wire(hub)
        await fay.attached("auth", token=links["facilitator_token"])
        await fay.ok("round.open", kind="ideate", prompt="Warm-up", duration=None, private=False)
        await fay.ok("round.close")
        await fay.close()
    finally:
        await hub.stop()
    return links


def closed(wire: Wire) -> bool:
    return any(e["name"] == "round.closed" for e in wire.events)


async def test_a_room_last_used_on_a_fast_clock_runs_on_after_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by review: a room last used while the machine's clock was an hour fast (a real-time clock
    kept in local time, before NTP set it) kept its clock after a restart on the corrected one, and a
    room's clock never goes back: every command ran at that frozen time until the wall clock caught
    up. A 10-second round counted down from an hour and ten minutes, and closed an hour late. The room's
    time now runs on from where it was, and ``server_time`` is the room's."""
    monkeypatch.setattr(host_module, "TIMER_STEP", 0.2)
    steady = Ahead(time.monotonic)
    monkeypatch.setattr(clock_module, "steady", steady)
    clock = Clock()
    data = tmp_path / "data"
    clock.now += 3600
    links = await a_room_used(data, clock)
    clock.now -= 3600  # NTP corrects the clock; the server restarts
    hub = Hub(settings(data), clock=clock)
    await hub.start()
    try:
        fay = Wire(hub)
        await fay.attached("auth", token=links["facilitator_token"])
        reply = await fay.call("round.open", kind="ideate", prompt="Ten seconds", duration=10, private=False)
        assert reply["type"] == "ok", reply
        rnd = reply["result"]["round"]
        assert rnd["deadline"] - reply["server_time"] == pytest.approx(10, abs=1)  # was 3,610
        pong = await fay.call("ping")
        assert rnd["deadline"] - pong["server_time"] == pytest.approx(10, abs=1)
        steady.now += 13  # the round's ten seconds and its grace pass (a room ahead runs on this clock)
        await fay.until(lambda: closed(fay), timeout=5)
        await fay.close()
    finally:
        await hub.stop()


async def test_a_forward_step_of_the_clock_closes_a_round_that_became_due(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by review: the room's timer slept on the loop's monotonic clock for the time left when it
    was set, so a forward step of the wall clock (NTP setting a machine that booted with a slow clock; a
    laptop's sleep) left a round open past its deadline until that time had passed. The timer looks at
    the room's time again every ``TIMER_STEP`` seconds."""
    monkeypatch.setattr(host_module, "TIMER_STEP", 0.2)
    clock = Clock()
    hub = Hub(settings(tmp_path / "data"), clock=clock)
    await hub.start()
    try:
        _, links = await new_room(hub)
        fay = Wire(hub)
        await fay.attached("auth", token=links["facilitator_token"])
        await fay.ok("round.open", kind="ideate", prompt="Five minutes", duration=300, private=False)
        clock.now += 60
        await asyncio.sleep(0.5)
        assert not closed(fay)
        clock.now += 250  # past the deadline and its grace: the timer would still sleep 300 s
        await fay.until(lambda: closed(fay), timeout=5)
        await fay.close()
    finally:
        await hub.stop()


def test_a_reply_carries_the_room_s_time_between_workers() -> None:
    """A forwarded reply keeps the owner's room time (the relaying worker's ``server_time``), and a
    field a newer release adds to the attach is left out, not a failure of the relaying worker."""
    from workshop_server.handle import Attached, Reply

    reply = Reply(
        seq=3, attached=Attached(recovered=True, seq=3, epoch="e", audience="public", now=5.0), now=4.0
    )
    plain = reply.to_plain()
    plain["attached"]["a_later_field"] = 1
    back = Reply.from_plain(plain)
    assert (back.now, back.attached.now if back.attached else None) == (4.0, 5.0)


async def test_a_room_ahead_follows_its_worker_s_clock_once_that_catches_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the review of the fix above: the room's lead was fixed when it loaded, so a worker whose
    clock was behind at load (a small machine restoring its clock after a power cut) and then set forward
    by NTP left the room ahead of true time for good, its times in exports and reports too. The room's
    time follows its worker's clock again once that catches up."""
    clock = Clock()
    data = tmp_path / "data"
    links = await a_room_used(data, clock)
    clock.now -= 3000  # restarted behind (the clock restored from a file), then NTP sets it forward
    hub = Hub(settings(data), clock=clock)
    await hub.start()
    try:
        fay = Wire(hub)
        await fay.attached("auth", token=links["facilitator_token"])
        behind = await fay.call("ping")
        assert behind["server_time"] >= clock.now + 2990  # the room's time ran on from where it was
        clock.now += 3000 + 60
        caught_up = await fay.call("ping")
        assert caught_up["server_time"] == pytest.approx(clock.now, abs=5)  # was 3,000 s ahead for good
        await fay.close()
    finally:
        await hub.stop()
