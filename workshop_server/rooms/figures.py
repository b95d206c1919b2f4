"""The room's figures (KPIs) for staff, computed from the state on request: a pure projection.

Nothing here runs on the hot path: the shell asks for :func:`figures` as a named query between batches,
so a command costs the same with or without a dashboard open; one call is linear in the room's ideas,
dots and members.

Definitions (``protocol.md`` documents the answer's fields). Two counts, never mixed:

- *ideas*: the distinct ideas once duplicates are merged, i.e. the notes not merged into another
  (hidden and pending ones included; withdrawn ones are gone). The figures' ``ideas`` (the room's, a
  round's, a theme's, a minute's of the timeline), the contributors list, the CSV's rows and the report
  count these, so a round's ideas add up to the room's;
- *notes posted*: every note posted, those merged into another since included (``notes``: the
  room's, a round's, a minute's of the timeline). A merge never changes it.

- *participants*: members with the role participant who were admitted (active or removed since), not
  the jurors who joined with a jury invite (experts invited to score, not the community);
  *active*: those online now;
- *participation rate*: the share of participants credited on at least one idea (merges credit every
  author; withdrawn ideas are gone, hidden ones still count: they were contributions);
- *ideas per participant*: ideas (not merged away) whose author is a participant, over participants;
- *contribution inequality*: the Gini coefficient of ideas per participant, silent ones included
  (0: everyone posted as much; towards 1: one person posted everything);
- *vote turnout*: per vote round, the share of participants who placed at least one dot (its
  *voters*: the participants who did, as the progress counts them);
- *vote concentration*: per vote round, the share of dots on the top 3 targets, and the Gini
  coefficient of dots over the round's targets (those without a dot count as 0): the ones it was
  ranked over once closed (ideas posted later are not its targets), and while it is open the ones
  on the wall that can take a dot (a theme holding no idea on the wall cannot);
- *silent participants*: active participants credited on no idea (not those who erased their data);
- *theme mix*: ideas on the wall per theme, and ungrouped;
- *satisfaction*: the latest pulse's count, average and distribution.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from workshop_server.rooms import followup_views as fv
from workshop_server.rooms import votes
from workshop_server.rooms.events import Data
from workshop_server.rooms.model import RoomState
from workshop_server.rooms.state import IdeaState, MemberStatus, Round

#: Ideas over time are counted in buckets of this many seconds from the first round's opening.
TIMELINE_BUCKET_SECONDS = 60
TIMELINE_MAX_BUCKETS = 240


def gini(values: Iterable[float]) -> float:
    """The Gini coefficient of non-negative ``values``: 0.0 for none, all zero or all equal."""
    xs = sorted(values)
    n = len(xs)
    total = sum(xs)
    if n == 0 or total == 0:
        return 0.0
    # With sorted values: G = (2 * sum(i * x_i) / (n * total)) - (n + 1) / n, i from 1.
    weighted = sum(i * x for i, x in enumerate(xs, 1))
    return round(2 * weighted / (n * total) - (n + 1) / n, 4)


def _share(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole else 0.0


def _vote_round(room: RoomState, rnd: Round, participants: set[str]) -> Data:
    voters = {
        m
        for m, dots in rnd.dots.items()
        if sum(dots.values()) > 0 and m in room.members and room.counts_as_participant(room.members[m])
    }
    dots = sum(rnd.totals.values())
    if rnd.results is not None:  # closed: the targets it was ranked over, not the wall of now
        key = "theme" if rnd.target == "themes" else "idea"
        targets = [entry[key] for entry in rnd.results]
    else:  # open: the targets the public can put a dot on now (an empty theme is none)
        targets = [entry["theme" if rnd.target == "themes" else "idea"] for entry in votes.rank(room, rnd)]
    per_target = {t: rnd.totals.get(t, 0) for t in targets}
    for target, count in rnd.totals.items():  # a target gone since (withdrawn, dissolved) keeps its dots
        per_target.setdefault(target, count)
    top3 = sum(sorted(per_target.values(), reverse=True)[:3])
    return {
        "round": rnd.id,
        "kind": "vote",
        "status": str(rnd.status.value),
        "target": rnd.target,
        "voters": len(voters),
        "dots": dots,
        "turnout": _share(len(voters & participants), len(participants)),
        "top3_share": _share(top3, dots),
        "dots_gini": gini(per_target.values()),
    }


def figures(room: RoomState) -> Data:
    """Every figure of the room now (for staff)."""
    members = room.members.values()
    counted = [m for m in members if room.counts_as_participant(m)]
    participants = {
        m.id
        for m in counted
        if m.status == MemberStatus.ACTIVE or (m.status == MemberStatus.BANNED and m.admitted)
    }
    active = room.active_participants()
    ideas = [i for i in room.ideas.values() if i.state != IdeaState.MERGED]
    per_member = dict.fromkeys(sorted(participants), 0)
    for idea in ideas:
        for author in room.credited(idea):
            if author in per_member:
                per_member[author] += 1
    posted_by_participants = sum(1 for i in ideas if i.author in participants)
    contributors = {m for m, n in per_member.items() if n > 0}
    silent = [
        {"id": m, "name": room.members[m].name, "online": m in room.online}
        for m in sorted(
            {m for m in active - contributors if not room.members[m].erased},
            key=lambda m: int(m[1:]) if m[1:].isdigit() else 0,
        )
    ]
    rounds: list[Data] = []
    for rnd in room.rounds.values():
        if rnd.kind == "vote":
            rounds.append(_vote_round(room, rnd, participants))
            continue
        posted = [i for i in room.ideas.values() if i.round == rnd.id]
        authors = {a for i in posted for a in room.credited(i)}
        rounds.append(
            {
                "round": rnd.id,
                "kind": "ideate",
                "status": str(rnd.status.value),
                "ideas": sum(1 for i in posted if i.state != IdeaState.MERGED),
                "notes": len(posted),
                "contributors": len(authors & participants),
                "participation": _share(len(authors & participants), len(participants)),
            }
        )
    on_wall = [i for i in ideas if room.publicly_visible(i)]
    themes: list[Data] = []
    for theme in room.themes.values():
        count = sum(1 for i in on_wall if i.theme == theme.id)
        themes.append(
            {"theme": theme.id, "name": theme.name, "ideas": count, "share": _share(count, len(on_wall))}
        )
    ungrouped = sum(1 for i in on_wall if i.theme is None)
    voters_anywhere = {
        m for r in room.rounds.values() if r.kind == "vote" for m, d in r.dots.items() if sum(d.values()) > 0
    }
    pulse = list(room.pulses.values())[-1] if room.pulses else None
    return {
        "at": room.clock,
        "participants": len(participants),
        "active": len(active & room.online),
        "ideas": len(ideas),
        "notes": len(room.ideas),
        "participation_rate": _share(len(contributors), len(participants)),
        "ideas_per_participant": round(posted_by_participants / len(participants), 2)
        if participants
        else 0.0,
        "contribution_gini": gini(per_member.values()),
        "vote_turnout": _share(len(voters_anywhere & participants), len(participants)),
        "silent": silent,
        "rounds": rounds,
        "themes": {"themes": themes, "ungrouped": ungrouped},
        "timeline": timeline(room),
        "satisfaction": None if pulse is None else {"pulse": pulse.id, **fv.pulse_summary(pulse)},
    }


def timeline(room: RoomState) -> list[Data]:
    """Notes posted over time since the first round opened: ``[{"t": seconds, "notes": n, "ideas": k}]``
    (``notes``: posted in the bucket; ``ideas``: those of them not merged away since, so that the
    buckets' ideas add up to the room's), one entry per bucket from the first to the last note (empty
    buckets included, so a chart is a plain series). Buckets are a minute long, longer in long rooms:
    never more than :data:`TIMELINE_MAX_BUCKETS`."""
    if not room.rounds or not room.ideas:
        return []
    start = min(r.opened_at for r in room.rounds.values())
    span = max(i.created_at for i in room.ideas.values()) - start
    size = TIMELINE_BUCKET_SECONDS * max(
        1, math.ceil(span / (TIMELINE_BUCKET_SECONDS * TIMELINE_MAX_BUCKETS))
    )
    notes: dict[int, int] = {}
    ideas: dict[int, int] = {}
    for idea in room.ideas.values():
        bucket = min(int(max(0.0, idea.created_at - start) // size), TIMELINE_MAX_BUCKETS - 1)
        notes[bucket] = notes.get(bucket, 0) + 1
        if idea.state != IdeaState.MERGED:
            ideas[bucket] = ideas.get(bucket, 0) + 1
    last = max(notes)
    return [{"t": b * size, "notes": notes.get(b, 0), "ideas": ideas.get(b, 0)} for b in range(last + 1)]
