"""``python -m bench.figures``: what the room's figures (KPIs) cost, next to what a command costs.

The figures are computed off the command path: the owner runs them as a named query between batches,
at most once per ``figures_interval`` (2 s) while staff are online and the room changes. This measures
``rooms.figures.figures`` on rooms of 50, 200 and 1,000 participants (ideas and dots in proportion),
side by side with the pure room core's cost of one ``idea.post`` and one ``vote.add`` on the same room,
and reports the share of one core's time the figures take at the default interval.

``--markdown`` prints the table only (as pasted in docs/performance.md).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from workshop_server.rooms import Room, RoomConfig
from workshop_server.rooms import commands as c
from workshop_server.rooms.figures import figures

INTERVAL = 2.0


def build(participants: int) -> tuple[Room, list[str], list[str], float]:
    now = 1_000_000.0
    room = Room.create("BENCH1", RoomConfig(title="Bench"), now=now)
    members = [
        room.handle(c.Enter(id=f"j{n}", name=f"P{n}", accept_rules=1), None, now).result["member"]["id"]
        for n in range(participants)
    ]
    room.handle(c.RoundOpen(id="r", kind="ideate", prompt="Go", private=False, duration=None), "m1", now)
    ideas = []
    for n, member in enumerate(members):
        for k in range(3 if n % 2 else 1):  # half post three ideas, half one
            out = room.handle(c.IdeaPost(id=f"p{n}-{k}", text=f"idea {n} {k}"), member, now)
            ideas.append(out.result["idea"]["id"])
    room.handle(c.RoundClose(id="close"), "m1", now)
    room.handle(
        c.RoundOpen(id="v", kind="vote", prompt="Vote", duration=None, budget=3, max_per_idea=3), "m1", now
    )
    for n, member in enumerate(members):
        room.handle(c.VoteAdd(id=f"d{n}", idea=ideas[(n * 7) % len(ideas)]), member, now)
    return room, members, ideas, now


class Voter:
    """One dot placed and taken back by the next member, on the next idea: two commands a call."""

    def __init__(self, room: Room, members: list[str], ideas: list[str], now: float) -> None:
        self.room, self.members, self.ideas, self.now, self.n = room, members, ideas, now, 0

    def __call__(self) -> None:
        self.n += 1
        n, member = self.n, self.members[self.n % len(self.members)]
        idea = self.ideas[n % len(self.ideas)]
        if self.room.handle(c.VoteAdd(id=f"x{n}", idea=idea), member, self.now).error is None:
            self.room.handle(c.VoteRemove(id=f"y{n}", idea=idea), member, self.now)


def timed(run: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    rows = []
    for participants in (50, 200, 1000):
        room, members, ideas, now = build(participants)
        cost = timed(lambda room=room: figures(room), 21)
        command = timed(Voter(room, members, ideas, now), 201) / 2
        rows.append((participants, len(ideas), cost * 1000, command * 1e6, cost / INTERVAL))
    lines = [
        "| participants | ideas | figures (ms) | one vote command, core (µs) | figures' share of a core |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [f"| {p} | {i} | {f:.2f} | {v:.1f} | {share:.2%} |" for p, i, f, v, share in rows]
    if not args.markdown:
        print(__doc__.splitlines()[0])
    print("\n".join(lines))


if __name__ == "__main__":
    main()
