"""A shadow-muted member votes on its own ideas (text rules 17, SHADOW_VOTE_FIXES).

It sees its shadowed ideas as published; before, a dot on one was refused with ``not_found``, the one
answer that told it about the mute. Now the dot is taken, the author's views are the same as those of a
member who is not shadow-muted, and nobody but staff learns that the shadowed ideas exist.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.rooms.helpers import FACILITATOR, Viewer, Workshop, walk
from workshop_server.rooms import commands as c
from workshop_server.rooms.events import Data
from workshop_server.rooms.text import SHADOW_VOTE_FIXES


def mentions(data: Any, ids: set[str]) -> bool:
    """Whether ``data`` names any of ``ids``, as a value, in a list, or as a key (totals are keyed by
    idea)."""
    for d in walk(data):
        for key, value in d.items():
            values = value if isinstance(value, list) else [value]
            if key in ids or any(isinstance(v, str) and v in ids for v in values):
                return True
    return False


def received(viewer: Viewer) -> list[tuple[int, str, Data]]:
    return [(r.seq, r.name, r.data) for r in viewer.received]


class Run:
    """Ann (shadow-muted, or not: then Carl is, so that both rooms number their events alike) and Bob
    post; in the vote that follows, Ann puts dots on her own ideas and on Bob's and takes one back, Bob
    votes for his own, a moderator hides one of Ann's ideas (her dots on it come back); the vote closes."""

    def __init__(self, *, shadow_ann: bool, hide_totals: bool) -> None:
        self.w = w = Workshop()
        self.ann, bob, carl = w.join("Ann"), w.join("Bob"), w.join("Carl")
        mo = w.moderator()
        self.ann_sees, self.bob_sees, self.screen_sees = w.viewer(self.ann), w.viewer(bob), w.screen()
        w.ok(FACILITATOR, c.MemberShadowMute, member=self.ann if shadow_ann else carl)
        w.open_ideate(private=False)
        a1 = w.post(self.ann, "a library of tools")
        b1 = w.post(bob, "a repair café")
        a2 = w.post(self.ann, "a seed swap")
        a3 = w.post(self.ann, "a bike kitchen")
        self.ids = {a1, a2, a3}
        w.close()
        w.open_vote(budget=6, max_per_idea=3, hide_totals=hide_totals)
        self.replies = [w.vote(self.ann, a1, 2), w.vote(self.ann, b1), w.vote(bob, b1, 2)]
        self.replies.append(w.ok(self.ann, c.VoteRemove, idea=a1))
        self.replies += [w.vote(self.ann, a2), w.vote(self.ann, a3, 2)]
        w.ok(mo, c.IdeaHide, idea=a3, reason="off topic")
        self.mid_vote = w.room.snapshot(self.ann, "participant")
        w.close()
        self.snapshots = {
            "ann": w.room.snapshot(self.ann, "participant"),
            "bob": w.room.snapshot(bob, "participant"),
            "screen": w.room.snapshot(None, "screen"),
        }


@pytest.mark.parametrize("hide_totals", [False, True])
def test_a_shadow_muted_member_votes_on_its_own_ideas_and_sees_what_it_would_if_not_muted(
    hide_totals: bool,
) -> None:
    muted = Run(shadow_ann=True, hide_totals=hide_totals)
    control = Run(shadow_ann=False, hide_totals=hide_totals)
    assert muted.replies == control.replies
    assert received(muted.ann_sees) == received(control.ann_sees)
    assert muted.mid_vote == control.mid_vote
    assert muted.snapshots["ann"] == control.snapshots["ann"]
    results = next(d for _, name, d in received(muted.ann_sees) if name == "vote.results")
    assert [(r["idea"] in muted.ids, r["total"], r["rank"]) for r in results["results"]] == [
        (False, 3, 1),
        (True, 1, 2),
        (True, 1, 2),
    ]


@pytest.mark.parametrize("hide_totals", [False, True])
def test_nobody_but_staff_learns_of_the_shadowed_ideas_or_their_dots(hide_totals: bool) -> None:
    run = Run(shadow_ann=True, hide_totals=hide_totals)
    for viewer in (run.bob_sees, run.screen_sees):
        leaks = [(name, data) for _, name, data in received(viewer) if mentions(data, run.ids)]
        assert leaks == []
    for who in ("bob", "screen"):
        assert not mentions(run.snapshots[who], run.ids), who
    staff = run.w.room.snapshot(FACILITATOR, "facilitator")
    vote = next(v for v in staff["votes"] if v["totals"])
    assert {i: vote["totals"].get(i) for i in sorted(run.ids)} == dict(
        zip(sorted(run.ids), [1, 1, None], strict=True)
    )


def test_the_author_sees_its_own_ideas_in_the_vote_order_where_the_hash_puts_them() -> None:
    """The public's order leaves the shadowed ideas out; the author's holds them where the shared
    order would put them if they were public."""
    muted = Run(shadow_ann=True, hide_totals=True)
    control = Run(shadow_ann=False, hide_totals=True)
    order = {r["id"]: r["order"] for r in control.snapshots["ann"]["rounds"] if r["kind"] == "vote"}
    assert {r["id"]: r["order"] for r in muted.snapshots["ann"]["rounds"] if r["kind"] == "vote"} == order
    public = [r["order"] for r in muted.snapshots["bob"]["rounds"] if r["kind"] == "vote"]
    assert public == [[i for i in o if i not in muted.ids] for o in order.values()]


def test_publishing_a_shadowed_idea_during_the_vote_tells_its_total() -> None:
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    bob_sees = w.viewer(bob)
    w.ok(FACILITATOR, c.MemberShadowMute, member=ann)
    w.open_ideate(private=False)
    idea = w.post(ann, "a tool library")
    w.close()
    w.open_vote(budget=3, hide_totals=False)
    w.vote(ann, idea, 2)
    w.ok(FACILITATOR, c.IdeaRestore, idea=idea)  # a mistaken shadow mute: staff publish the idea
    assert bob_sees.last("vote.totals")["changes"] == [{"idea": idea, "total": 2}]
    w.vote(bob, idea)
    results = w.close()
    assert results["round"]["status"] == "closed"
    assert w.room.rounds[w.room.current or ""].results == [{"idea": idea, "total": 3, "rank": 1}]


def test_journals_written_before_text_rules_17_replay_as_they_were() -> None:
    w = Workshop()
    ann = w.join("Ann")
    w.ok(FACILITATOR, c.MemberShadowMute, member=ann)
    w.open_ideate(private=False)
    idea = w.post(ann, "a tool library")
    w.close()
    w.open_vote(budget=3)
    w.room.text_rules = SHADOW_VOTE_FIXES - 1
    w.fail(ann, c.VoteAdd, "not_found", idea=idea)
