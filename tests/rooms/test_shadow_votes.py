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
from workshop_server.rooms import followup_views, views
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

    def __init__(self, *, shadow_ann: bool, hide_totals: bool, after: str = "") -> None:
        self.w = w = Workshop()
        self.ann, self.bob, carl = w.join("Ann"), w.join("Bob"), w.join("Carl")
        bob = self.bob
        self.mo = mo = w.moderator()
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
        self.mid_progress = w.room.snapshot(None, "screen")["progress"]
        w.close()
        self.a1 = a1
        if after == "post":  # a later round: Ann posts again (shadowed when she is shadow-muted)
            w.open_ideate(private=False)
            w.post(self.ann, "a community fridge")
        elif after == "hide":  # a moderator hides her best idea after the close
            w.ok(mo, c.IdeaHide, idea=a1, reason="late")
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


@pytest.mark.parametrize("after", ["post", "hide"])
def test_the_author_s_view_of_a_closed_vote_does_not_change_after_the_close(after: str) -> None:
    """Review: the author's results of a closed vote were worked out again at each snapshot from the
    ideas it saw on its wall then: a new shadowed idea joined an old vote's results (total 0), and one
    hidden after the close left them, while a member who is not muted kept the results of the close.
    They are now those recorded at the close (``Round.shadow_results``)."""
    muted = Run(shadow_ann=True, hide_totals=False, after=after)
    control = Run(shadow_ann=False, hide_totals=False, after=after)
    assert muted.snapshots["ann"]["votes"] == control.snapshots["ann"]["votes"]


def test_an_idea_published_after_the_close_does_not_bring_its_dots_to_the_public() -> None:
    """Review: publishing a shadowed idea after the vote closed showed everyone its dots (the closed
    vote's totals, the contributors' dots), which only its author could have given while it was hidden,
    while the results left it out. The closed vote's public totals stay those of the close."""
    run = Run(shadow_ann=True, hide_totals=False)
    w = run.w
    w.ok(run.mo, c.IdeaRestore, idea=run.a1)  # published: on the wall from now on
    assert w.room.publicly_visible(w.room.ideas[run.a1])
    bob = w.room.snapshot(run.bob, "participant")
    vote = next(v for v in bob["votes"] if v["round"] == "r2")
    assert run.a1 not in vote["totals"] and run.a1 not in [r["idea"] for r in vote["results"]]
    rows = {r["member"]: r for r in followup_views.contributors(w.room, run.bob, staff=False)}
    assert rows[run.ann]["dots"] == 0, rows
    ann = w.room.snapshot(run.ann, "participant")
    assert next(v for v in ann["votes"] if v["round"] == "r2")["totals"][run.a1] == 1  # hers, as she saw it
    mine = {i["id"]: i["dots"] for i in views.my_ideas(w.room, run.ann)["ideas"]}
    assert mine[run.a1] == 1


def test_the_progress_counts_a_voter_whose_only_dots_are_on_its_own_shadowed_ideas_for_itself_only() -> None:
    """Review: the room screen's progress counted Ann as a voter when her only dots were on her own
    shadowed ideas, which no event had shown: in a small room it pointed at the muted member."""
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.ok(FACILITATOR, c.MemberShadowMute, member=ann)
    w.open_ideate(private=False)
    idea = w.post(ann, "a tool library")
    w.post(bob, "a repair café")
    w.close()
    w.open_vote(budget=3)
    w.vote(ann, idea)
    assert w.room.snapshot(None, "screen")["progress"]["voters"] == 0
    assert w.room.snapshot(bob, "participant")["progress"]["voters"] == 0
    assert w.room.snapshot(ann, "participant")["progress"]["voters"] == 1  # as if her idea were public


def test_a_vote_closed_under_older_rules_keeps_its_results_for_the_author() -> None:
    """Review: a vote closed under text rules 16 gave its results once; under 17 the author's snapshot
    of it grew a row for its shadowed idea, so a resume by replay and one by snapshot disagreed."""
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.ok(FACILITATOR, c.MemberShadowMute, member=ann)
    w.open_ideate(private=False)
    w.post(ann, "a tool library")
    public = w.post(bob, "a repair café")
    w.close()
    w.room.text_rules = SHADOW_VOTE_FIXES - 1
    w.open_vote(budget=3)
    w.vote(bob, public)
    w.close()
    before = next(v for v in w.room.snapshot(ann, "participant")["votes"] if v["results"])
    w.room.text_rules = SHADOW_VOTE_FIXES
    assert next(v for v in w.room.snapshot(ann, "participant")["votes"] if v["results"]) == before
