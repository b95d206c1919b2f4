"""Is a run's figure clean? The other load of each measurement window against a threshold.

Every window records ``other_load_cores``: the CPU that the rest of the machine (neither the server
measured, nor the load generator, nor this process) used meanwhile, in cores. Above the threshold the
figures of that window measure the machine's other work as much as the server: the run is invalid and
``python -m bench`` says so, names the windows, and exits with :data:`EXIT_INVALID`. Scenario C
(:mod:`bench.cluster`) is judged by the same functions.

The functions here are pure, they read numbers and a report's dict, except :func:`fail`, which says so
on stderr and exits.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

#: Default of ``--max-other-load``: a quarter of a core. Clean runs on the 2-core machine measure at most
#: 0.07-0.15; a test suite running alongside takes 1-1.9.
DEFAULT_MAX_OTHER_LOAD = 0.25
#: Exit status of ``python -m bench`` when a window's other load was above the threshold.
EXIT_INVALID = 3
KEY = "other_load_cores"


def other_load(
    machine_busy: float, server_cpu: float, own_cpu: float, generator_cpu: float, wall: float
) -> float:
    """Cores that the rest of the machine used over ``wall`` seconds: the CPU seconds the whole machine
    was busy less the server's, this process's and the load generator's (never below 0)."""
    if wall <= 0:
        return 0.0
    return max(0.0, (machine_busy - server_cpu - own_cpu - generator_cpu) / wall)


@dataclass(frozen=True)
class Overload:
    """One window whose other load was above the threshold."""

    window: str
    other_load: float
    threshold: float

    def message(self) -> str:
        return (
            f"INVALID: {self.window}: other load {self.other_load:.2f} cores "
            f"> threshold {self.threshold:.2f} (--max-other-load)"
        )


def too_loaded(other_load_cores: float | None, threshold: float) -> bool:
    """True when a window's other load is above ``threshold``; a window that did not measure it is not
    judged (False). A threshold below 0 turns the check off."""
    if threshold < 0 or other_load_cores is None:
        return False
    return other_load_cores > threshold


def _label(key: str, value: dict[str, Any]) -> str:
    if "rate" in value:
        return f"{key} {value['rate']:g} events/s"
    if "connections" in value:
        return f"{key} {value['connections']:,} connections"
    return key


def windows(value: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every measurement (a dict holding ``other_load_cores``) under ``value``, with where it is."""
    if isinstance(value, dict):
        if KEY in value:
            yield path, value
        for key, inner in value.items():
            if isinstance(inner, dict | list):
                yield from windows(inner, f"{path} {key}".strip())
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                name = _label(path, item)
                if KEY in item:
                    yield name, item
                for key, inner in item.items():
                    if isinstance(inner, dict | list):
                        yield from windows(inner, f"{name} {key}")


def check(measured: Iterable[tuple[str, dict[str, Any]]], threshold: float) -> list[Overload]:
    """Of ``measured`` windows (where, window), those whose other load was above ``threshold``, in order.
    Every bench decides here: the fan-out scenarios and scenario C (:mod:`bench.cluster`)."""
    found = []
    for where, window in measured:
        load = window.get(KEY)
        if isinstance(load, int | float) and too_loaded(float(load), threshold):
            found.append(Overload(where, float(load), threshold))
    return found


def overloads(report: dict[str, Any], threshold: float) -> list[Overload]:
    """The windows of a run's report whose other load was above ``threshold``, in report order."""
    return check(
        (found for run, result in report.get("runs", {}).items() for found in windows(result, run)), threshold
    )


def fail(invalid: list[str], threshold: float) -> None:
    """With any ``invalid`` window (the messages of :meth:`Overload.message`), say which on stderr and
    exit with :data:`EXIT_INVALID`; without, nothing."""
    if invalid:
        sys.stderr.write(
            f"\nbench: INVALID RUN: {len(invalid)} window(s) were measured while the rest of the machine "
            f"used more than {threshold:g} cores; their figures are not clean:\n"
            + "".join(f"  {line}\n" for line in invalid)
            + "Run again on a quiet machine (--quiet-wait SECONDS waits for one before each window).\n"
        )
        raise SystemExit(EXIT_INVALID)


def add_arguments(parser: argparse.ArgumentParser, *, waits_before: str, measured: str) -> None:
    """``--quiet-wait`` and ``--max-other-load``, as every benchmark command takes them: ``waits_before``
    says what the wait precedes ("each server's window"), ``measured`` what the check judges."""
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help=f"before {waits_before}, wait up to this long for the rest of the machine to be idle",
    )
    parser.add_argument(
        "--max-other-load",
        type=float,
        default=DEFAULT_MAX_OTHER_LOAD,
        metavar="CORES",
        help=(
            f"{measured} during which the rest of the machine used more than this many cores makes the run "
            f"INVALID: it is named, the report says so, and the exit status is {EXIT_INVALID} "
            f"(default {DEFAULT_MAX_OTHER_LOAD:g}; a negative value turns the check off)"
        ),
    )
