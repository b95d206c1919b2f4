"""The server's wall clock never steps back (workshop_server/clock.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cluster import Wire, new_room, settings, two_hubs
from tests.test_retention import Clock
from workshop_server.clock import SteadyClock


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
