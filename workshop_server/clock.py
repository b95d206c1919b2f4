"""The server's wall clock, which never steps back.

Every time the server gives out (``server_time``, the ``now`` a room handles a command at, deadlines,
timers, retention) comes from one :class:`SteadyClock` per worker. It follows the system's wall clock
forward (NTP's slow corrections, and a forward step: a small machine that booted with a wrong time and
then synchronised), but when the wall clock steps *back* (a laptop whose clock was fast joins the venue's
network and NTP corrects it), it goes on from where it was at the pace of the monotonic clock. A room's
own clock never goes back either (a replay needs that); without this, ``server_time`` would step back
while the room's did not, and a round opened in the next minutes would count down from its duration
plus the step, and close that much late.

The price: after a backward step, this worker's time stays ahead of the system's by the step until it
restarts (workers started after the step, and other machines, are that much behind it). A room last
used on a clock that was ahead runs on from where its own clock was, on the worker that loads it next,
until that worker's clock catches up (:class:`Lead`), and the ``server_time`` of its replies is the
room's time: its deadlines and its clients' countdowns agree, and its timer closes rounds on time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Lead", "SteadyClock", "steady"]

#: The monotonic clock a :class:`Lead` runs on (a module attribute: tests move it on).
steady = time.monotonic


class SteadyClock:
    """``clock()``: the wall time of ``wall`` (``time.time``), never less than it was before plus the
    ``monotonic`` time elapsed since."""

    __slots__ = ("_base", "_monotonic", "_wall")

    def __init__(
        self, wall: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self._base = wall() - monotonic()

    def __call__(self) -> float:
        mono = self._monotonic()
        steady = self._base + mono
        wall = self._wall()
        if wall >= steady:  # the wall clock runs on, or stepped forward: follow it
            self._base = wall - mono
            return wall
        return steady  # it stepped back: go on from where it was


class Lead:
    """A time that was ``base`` at a moment and has run on since at the pace of the monotonic clock:
    ``now(clock)`` is it, or ``clock`` once that is later. A room loaded with a clock ahead of its
    worker's runs on from there (``LocalRoom``), and a connection counts down from what its room's owner
    last said (``Session.server_time``), until the worker's clock catches up."""

    __slots__ = ("at", "base")

    def __init__(self, base: float) -> None:
        self.base, self.at = base, steady()

    def now(self, clock: float) -> float:
        return max(clock, self.base + steady() - self.at)
