"""Garbage collection for many long-lived connections, and the worker's own event-loop lag probe.

**Why.** CPython's full collection walks every tracked container object. A worker holding 10,000
connections has over a million of them (sessions, uvicorn's protocol objects, queues, rooms), and a
full collection stalled the event loop for 0.25-1 s (docs/performance.md) every time the objects
promoted since the last one reached a quarter of the heap: under steady traffic, every few seconds.

**What** (setting ``gc_freeze``, on by default): once the app has started, and again after every full
collection, the survivors are moved to the permanent generation (:func:`gc.freeze`), which later
collections skip. A full collection then walks only what was promoted since the previous one, so its
pause is proportional to the recent churn, not to the number of connections. Freezing right when a
full collection ends freezes nothing that collection could free: the younger generations are empty
at that moment. Objects that die later are still freed by reference counting; only *cyclic* garbage
among frozen objects waits. It is swept by :meth:`FreezingCollector.sweep` (unfreeze everything,
collect, freeze again: one long pause) once at least as many connections have ended since the last
sweep as are open now (and at least :data:`SWEEP_MIN_ENDED`), so that such garbage stays within the
size of the live connections' own objects. HTTP requests count as ended connections: a request's
objects frozen while it was in flight are cyclic garbage once it failed (an exception and its frames),
and room-code lookups alone grew a worker by 2 KB a request, never swept. The third generation
threshold is lowered to :data:`FULL_EVERY` (1: a full collection after every second collection of the
middle generation), so that each full collection walks only what two of those promoted; the first two
thresholds stay Python's (a 50,000-object first generation cost 324 ms with 10,000 connections).

**Measured either way**: every collection's pause, by generation (``workshop_gc_pause_seconds``), and
the loop's lag (``workshop_loop_lag_seconds``, ``workshop_loop_lag_max_seconds``): a timer every
:data:`LAG_INTERVAL` records how late the loop got to it (on the loop's next pass, as a task woken by
the timer would be).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable
from typing import Any

__all__ = [
    "LAG_INTERVAL",
    "SWEEP_MIN_ENDED",
    "FreezingCollector",
    "LoopLagProbe",
    "PauseObserver",
    "sweep_due",
]

log = logging.getLogger("workshop_server")

#: Seconds between two wake-ups of the lag probe: a stall is measured to within this much.
LAG_INTERVAL = 0.02
#: Seconds between two checks whether a sweep of the frozen objects is due.
SWEEP_CHECK_SECONDS = 10.0
#: A sweep waits for at least this many ended connections, however few are open.
SWEEP_MIN_ENDED = 1000

# Collectors installed in this process (a test may run several apps at once): gc.callbacks and the
# permanent generation are process-wide, so the last one to stop unfreezes.
_freezers: list[FreezingCollector] = []
_thresholds: list[int] = []  # Python's thresholds before the first collector started
#: The third threshold while frozen: a full collection after every second collection of the middle
#: generation, so that each walks only what those promoted (Python's 10 let tens of thousands of
#: objects pile up at 10,000 deliveries/s: full collections of 50-250 ms).
FULL_EVERY = 1


def sweep_due(ended_since_sweep: int, open_connections: int, minimum: int = SWEEP_MIN_ENDED) -> bool:
    """A sweep of the frozen objects is due once at least as many connections ended since the last one
    as are open now, and at least ``minimum``."""
    return ended_since_sweep >= max(minimum, open_connections)


class PauseObserver:
    """Times every collection (``gc.callbacks``); :meth:`drain` hands over ``(generation, seconds)``.

    The callback runs inside the collector, wherever an allocation triggered it, so it only appends to
    a list: taking a lock there (a metric's) could wait on the very code that it interrupted.
    """

    #: Pauses kept until drained; past that the newest are dropped.
    KEEP = 10_000

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        elif self._began:
            if len(self.pauses) < self.KEEP:
                self.pauses.append((int(info["generation"]), time.perf_counter() - self._began))
            self._began = 0.0

    def drain(self) -> list[tuple[int, float]]:
        pauses, self.pauses = self.pauses, []
        return pauses

    def install(self) -> None:
        gc.callbacks.append(self)

    def uninstall(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self)


class FreezingCollector:
    """Freezes the survivors of every full collection; sweeps the frozen objects after much churn.

    ``ended`` counts the connections that ended since the process started, ``connections`` those open.
    """

    def __init__(self, ended: Callable[[], int], connections: Callable[[], int]) -> None:
        self.ended = ended
        self.connections = connections
        self.freezes = 0
        self.sweeps = 0
        self._ended_at_sweep = 0
        self._task: asyncio.Task[None] | None = None

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        # At the end of a full collection the younger generations are empty: only its survivors move.
        if phase == "stop" and info["generation"] == 2 and self in gc.callbacks:
            gc.freeze()
            self.freezes += 1

    def start(self) -> None:
        """Install, and freeze what start-up left (through a full collection)."""
        if not _freezers:
            _thresholds[:] = gc.get_threshold()
            first, second, _ = _thresholds
            gc.set_threshold(first, second, FULL_EVERY)
        _freezers.append(self)
        gc.callbacks.append(self)
        self._ended_at_sweep = self.ended()
        gc.collect()
        with contextlib.suppress(RuntimeError):  # no running loop: sweeps are then the caller's
            self._task = asyncio.get_running_loop().create_task(self._watch(), name="gc-sweeps")

    async def stop(self) -> None:
        await _cancel(self._task)
        self._task = None
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self)
        with contextlib.suppress(ValueError):
            _freezers.remove(self)
        if not _freezers:
            gc.unfreeze()  # the next full collection walks everything again, as without this collector
            if _thresholds:
                gc.set_threshold(*_thresholds)

    def sweep(self) -> None:
        """Unfreeze, collect everything (one pause as long as an untuned full collection) and freeze the
        survivors again."""
        self._ended_at_sweep = self.ended()
        self.sweeps += 1
        frozen = gc.get_freeze_count()
        gc.unfreeze()
        freed = gc.collect()  # its end freezes again (__call__)
        log.debug("swept the frozen objects: %d were frozen, %d freed", frozen, freed)

    def maybe_sweep(self) -> bool:
        if sweep_due(self.ended() - self._ended_at_sweep, self.connections()):
            self.sweep()
            return True
        return False

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_CHECK_SECONDS)
            self.maybe_sweep()


async def _cancel(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` (if any) and wait for it to end."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class LoopLagProbe:
    """Wakes up every ``interval`` and reports how late each wake-up was (the loop's lag).

    Timer callbacks that schedule the next one: no task, no future and no coroutine step per wake-up,
    which an idle server pays fifty times a second. The timer hands over to a callback on the loop's
    next pass, which measures: the lag is what a task woken by a timer sees, the timer's lateness and
    the pass before the task resumes, as when the probe was a task sleeping. An observer that fails
    is logged once; the probe goes on."""

    def __init__(self, observe: Callable[[float], None], interval: float = LAG_INTERVAL) -> None:
        self.observe = observe
        self.interval = interval
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next: asyncio.Handle | None = None  # the timer, or the measure on the next pass
        self._due = 0.0
        self._failed = False

    def start(self) -> None:
        if self._next is not None:
            return  # started already: one chain of timers
        self._loop = asyncio.get_running_loop()
        self._schedule(self._loop.time())

    async def stop(self) -> None:
        if self._next is not None:
            self._next.cancel()
            self._next = None

    def _schedule(self, now: float) -> None:
        assert self._loop is not None
        self._due = now + self.interval
        self._next = self._loop.call_at(self._due, self._wake)

    def _wake(self) -> None:
        assert self._loop is not None
        self._next = self._loop.call_soon(self._measure)

    def _measure(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        try:
            self.observe(max(0.0, now - self._due))
        except Exception:
            if not self._failed:  # fifty times a second: once is enough
                self._failed = True
                log.exception("the loop-lag probe's observer failed (logged once; the probe goes on)")
        self._schedule(now)
