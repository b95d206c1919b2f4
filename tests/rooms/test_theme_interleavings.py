"""Themes, merges and dot votes interleaved as a demanding facilitator runs them live: random sequences of
grouping, moving, dissolving, merging (several notes at once, into notes merged before), undoing,
hiding, restoring and voting on notes or on themes, across rounds.

After every step: no voter is above the budget or a cap, totals match the dots, dots sit only on what
may receive them; each voter's own idea of its dots (what a client knows from the views it received,
as web/state.js keeps it) is the server's, so no dot moves or vanishes without the voter being told;
every author of a note merged (at any depth) is credited on the note that absorbed it, and nobody else;
what the console shows of each note's credit is the server's; the public never sees a theme holding a
note it cannot see; a refused command changes nothing. At the
end the journal rebuilds the same room.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import long_run
from tests.rooms.helpers import FACILITATOR, Viewer, Workshop, state_without_clock
from workshop_server.rooms import commands as c
from workshop_server.rooms.model import RoomState
from workshop_server.rooms.state import IdeaState, RoundStatus

KINDS = [
    "vote",
    "vote",
    "vote",
    "unvote",
    "merge",
    "merge",
    "merge",
    "unmerge",
    "unmerge",
    "unmerge",
    "create",
    "assign",
    "assign",
    "dissolve",
    "hide",
    "restore",
    "revote",
]
STEPS = st.lists(
    st.tuples(
        st.sampled_from(KINDS),
        st.integers(0, 2),  # voter
        st.integers(0, 5),  # an idea, a theme or a merge
        st.lists(st.integers(0, 5), min_size=1, max_size=2),  # other ideas
    ),
    min_size=6,
    max_size=45,
)


class Voter:
    """What one voter's client knows of its dots, from the views it received (as web/state.js)."""

    def __init__(self, viewer: Viewer) -> None:
        self.viewer = viewer
        self.seen = 0
        self.mine: dict[str, dict[str, int]] = {}

    def catch_up(self) -> None:
        for got in self.viewer.received[self.seen :]:
            if got.name in ("vote.changed", "vote.totals") and "mine" in got.data:
                self.mine[got.data["round"]] = dict(got.data["mine"])
        self.seen = len(self.viewer.received)


class Console:
    """The ideas as a staff console knows them: a snapshot, then every idea an ``idea.*`` event carries
    (``idea``, ``ideas``, ``outer``), each replacing the copy it had."""

    def __init__(self, w: Workshop) -> None:
        self.viewer = w.viewer(FACILITATOR)
        self.ideas = {i["id"]: i for i in w.room.snapshot(FACILITATOR, "facilitator")["ideas"]}

    def catch_up(self) -> None:
        for got in self.viewer.received:
            if got.name.startswith("idea.") or got.name == "round.revealed":
                for key in ("idea", "ideas", "outer"):
                    value = got.data.get(key)
                    for idea in value if isinstance(value, list) else [value] if value else []:
                        if isinstance(idea, dict):
                            self.ideas[idea["id"]] = idea
        self.viewer.clear()


def credit_owed(room: RoomState, idea_id: str) -> set[str]:
    """The authors of every note merged into ``idea_id`` by a merge in effect, at any depth."""
    owed: set[str] = set()
    for merge in room.merges.values():
        if merge.into == idea_id and not merge.undone:
            for absorbed in merge.ideas:
                owed |= {room.ideas[absorbed].author} | credit_owed(room, absorbed)
    return owed


def check(w: Workshop, voters: dict[str, Voter], outsider: Viewer, console: Console) -> None:
    room = w.room
    console.catch_up()
    for idea in room.ideas.values():
        if idea.state != IdeaState.MERGED:
            assert set(idea.coauthors) == credit_owed(room, idea.id) - {idea.author}, idea.id
            shown = console.ideas[idea.id].get("coauthors", [])
            assert [x["id"] for x in shown] == idea.coauthors, idea.id
    for rnd in room.rounds.values():
        if rnd.kind != "vote":
            continue
        totals: dict[str, int] = {}
        for mine in rnd.dots.values():
            assert sum(mine.values()) <= rnd.budget
            assert all(0 < n <= rnd.max_per_idea for n in mine.values())
            for target, n in mine.items():
                totals[target] = totals.get(target, 0) + n
        assert totals == rnd.totals
        if rnd.status != RoundStatus.CLOSED:
            field = "theme" if rnd.target == "themes" else "idea"
            for target in rnd.totals:
                if field == "theme":
                    assert target in room.themes
                    assert any(room.publicly_visible(i) for i in room.ideas.values() if i.theme == target)
                else:
                    assert room.publicly_visible(room.ideas[target])
            for member, voter in voters.items():
                voter.catch_up()
                assert voter.mine.get(rnd.id, {}) == rnd.dots.get(member, {}), (member, rnd.id)
    for got in outsider.received:
        theme = got.data.get("theme")
        listed = theme.get("ideas", []) if isinstance(theme, dict) else got.data.get("ideas", [])
        if got.name.startswith("theme."):
            for idea_id in listed:
                assert isinstance(idea_id, str)
                idea = room.ideas.get(idea_id)
                assert idea is None or idea.state != IdeaState.VISIBLE or room.publicly_visible(idea)
    outsider.clear()


@settings(max_examples=250 if long_run() else 80, deadline=None)  # make test-long: 250
@given(
    steps=STEPS,
    budget=st.integers(1, 4),
    cap=st.integers(1, 3),
    on_themes=st.booleans(),
    hide_totals=st.booleans(),
)
def test_themes_merges_and_votes_interleaved_keep_every_promise(
    steps: list[tuple[str, int, int, list[int]]], budget: int, cap: int, on_themes: bool, hide_totals: bool
) -> None:
    w = Workshop()
    members = [w.join("Ann"), w.join("Bob"), w.join("Cara")]
    outsider = w.viewer(w.join("Dan"))
    w.open_ideate(private=False)
    ideas = [w.post(members[n % 3], f"idea {n}") for n in range(6)]
    w.close()
    themes = [
        str(w.ok(FACILITATOR, c.ThemeCreate, name=f"T{n}", ideas=ideas[2 * n : 2 * n + 2])["theme"]["id"])
        for n in range(3)
    ]
    voters = {m: Voter(w.viewer(m)) for m in members}
    console = Console(w)
    target = "themes" if on_themes else "ideas"

    def vote_round() -> None:
        fields = {"budget": budget, "max_per_idea": cap, "hide_totals": hide_totals, "target": target}
        w.ok(FACILITATOR, c.RoundOpen, kind="vote", prompt="Vote", **fields)

    vote_round()
    merges: list[str] = []
    for kind, voter, one, others in steps:
        actor = members[voter]
        rnd = w.room.current_round
        assert rnd is not None
        before = state_without_clock(w.room)
        out: Any = None
        spot = {"theme": themes[one % len(themes)]} if rnd.target == "themes" else {"idea": ideas[one]}
        if kind == "vote":
            out = w.do(actor, c.VoteAdd, **spot)
        elif kind == "unvote":
            out = w.do(actor, c.VoteRemove, **spot)
        elif kind == "merge":
            out = w.do(FACILITATOR, c.IdeaMerge, into=ideas[one], ideas=[ideas[o] for o in others])
            if out.error is None:
                merges.append(out.result["merge"])
        elif kind == "unmerge" and merges:
            out = w.do(FACILITATOR, c.IdeaUnmerge, merge=merges[one % len(merges)])
        elif kind == "create":
            out = w.do(
                FACILITATOR, c.ThemeCreate, name=f"New {len(themes)}", ideas=[ideas[o] for o in others]
            )
            if out.error is None:
                themes.append(out.result["theme"]["id"])
        elif kind == "assign":
            into = None if one == 5 else themes[one % len(themes)]
            out = w.do(FACILITATOR, c.ThemeAssign, theme=into, ideas=[ideas[o] for o in others])
        elif kind == "dissolve":
            out = w.do(FACILITATOR, c.ThemeDissolve, theme=themes[one % len(themes)])
        elif kind == "hide":
            out = w.do(FACILITATOR, c.IdeaHide, idea=ideas[one], reason="")
        elif kind == "restore":
            out = w.do(FACILITATOR, c.IdeaRestore, idea=ideas[one])
        elif kind == "revote":  # merges across rounds: the vote closes and another one opens
            w.close()
            if any(w.room.publicly_visible(i) and i.theme in w.room.themes for i in w.room.ideas.values()):
                vote_round()
            else:
                target = "ideas"
                vote_round()
        if out is not None and out.error is not None:
            assert state_without_clock(w.room) == before, (kind, out.error.code)
        check(w, voters, outsider, console)
    replayed = w.fresh_room()
    for command, actor, now in w.journal:
        replayed.handle(command, actor, now)
    assert replayed.to_state() == w.room.to_state()
