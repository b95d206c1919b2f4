"""Dot votes: budget and per-idea cap, removing dots, hidden totals, ranking, and refunds."""

from __future__ import annotations

from typing import Any

import pytest

from tests.rooms.helpers import FACILITATOR, Received, Workshop
from workshop_server.rooms import commands as c
from workshop_server.rooms.events import PUBLIC, STAFF, member_key
from workshop_server.rooms.text import VOTE_GAP_FIXES


def vote_room(voters: int = 3, ideas: int = 4, **vote: Any) -> tuple[Workshop, list[str], list[str]]:
    """Ideas on the wall from an ideate round, then an open vote round (3 dots, at most 2 per idea)."""
    w = Workshop()
    people = [w.join(f"P{k}") for k in range(1, voters + 1)]
    w.open_ideate(private=False)
    wall = [w.post(people[k % voters], f"idea {k}") for k in range(ideas)]
    w.close()
    w.open_vote(**vote)
    return w, people, wall


def dots(w: Workshop, voter: str) -> dict[str, int]:
    rnd = w.room.current_round
    assert rnd is not None
    return dict(rnd.dots.get(voter, {}))


def totals(w: Workshop) -> dict[str, int]:
    rnd = w.room.current_round
    assert rnd is not None
    return dict(rnd.totals)


def test_defaults_are_three_dots_two_per_idea() -> None:
    w, _, _ = vote_room()
    rnd = w.room.current_round
    assert rnd is not None and (rnd.budget, rnd.max_per_idea, rnd.hide_totals) == (3, 2, True)


def test_vote_add_replies_with_my_dots() -> None:
    w, (ann, _, _), (i1, i2, _, _) = vote_room()
    rid = w.room.current
    first = w.ok(ann, c.VoteAdd, idea=i1)
    assert first == {"idea": i1, "my_dots": 1, "round": rid, "mine": {i1: 1}, "remaining": 2}
    second = w.ok(ann, c.VoteAdd, idea=i2)
    assert second == {"idea": i2, "my_dots": 1, "round": rid, "mine": {i1: 1, i2: 1}, "remaining": 1}


def test_budget_and_cap_under_interleaved_voters() -> None:
    w, (ann, bob, cat), (i1, i2, i3, _i4) = vote_room()
    w.vote(ann, i1)
    w.vote(bob, i1)
    w.vote(ann, i1)
    w.vote(cat, i1)
    w.fail(ann, c.VoteAdd, "vote_cap_exceeded", idea=i1)  # ann's cap, not the idea's
    w.vote(bob, i1)
    w.fail(bob, c.VoteAdd, "vote_cap_exceeded", idea=i1)
    w.vote(cat, i1)
    w.vote(ann, i2)
    w.fail(ann, c.VoteAdd, "vote_budget_exceeded", idea=i3)  # 2 + 1 = 3
    w.fail(ann, c.VoteAdd, "vote_budget_exceeded", idea=i1)  # budget is checked first
    w.vote(bob, i2)
    w.vote(cat, i3)
    assert totals(w) == {i1: 6, i2: 2, i3: 1}
    assert dots(w, ann) == {i1: 2, i2: 1}
    assert dots(w, bob) == {i1: 2, i2: 1}
    assert dots(w, cat) == {i1: 2, i3: 1}
    for voter in (ann, bob, cat):
        w.fail(voter, c.VoteAdd, "vote_budget_exceeded", idea=i3)


def test_cap_is_clamped_to_the_budget() -> None:
    w, (ann, _, _), (i1, i2, _, _) = vote_room(budget=2, max_per_idea=5)
    w.vote(ann, i1, times=2)
    w.fail(ann, c.VoteAdd, "vote_budget_exceeded", idea=i2)


def test_large_budget_and_cap() -> None:
    w, (ann, _, _), (i1, i2, _, _) = vote_room(budget=10, max_per_idea=4)
    w.vote(ann, i1, times=4)
    w.fail(ann, c.VoteAdd, "vote_cap_exceeded", idea=i1)
    w.vote(ann, i2, times=4)
    assert w.ok(ann, c.VoteAdd, idea="i3")["remaining"] == 1


def test_vote_remove() -> None:
    w, (ann, bob, _), (i1, i2, _, _) = vote_room()
    w.vote(ann, i1, times=2)
    w.vote(bob, i2)
    removed = w.ok(ann, c.VoteRemove, idea=i1)
    assert removed["my_dots"] == 1 and removed["remaining"] == 2 and removed["mine"] == {i1: 1}
    assert totals(w) == {i1: 1, i2: 1}
    w.fail(ann, c.VoteRemove, "no_dot", idea=i2)  # bob's dot, not ann's
    w.ok(ann, c.VoteRemove, idea=i1)
    assert dots(w, ann) == {} and totals(w) == {i2: 1}
    w.fail(ann, c.VoteRemove, "no_dot", idea=i1)
    w.fail(ann, c.VoteRemove, "no_dot", idea="i99")
    w.vote(ann, i2, times=2)  # the budget came back
    w.vote(ann, i1)
    assert totals(w) == {i1: 1, i2: 3}


def test_votes_go_to_ideas_on_the_public_wall_only() -> None:
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=True)
    secret = w.post(ann, "private, never revealed")
    w.ok(FACILITATOR, c.RoundReveal)  # reveal, then hide one and queue another
    hidden = w.post(ann, "to hide")
    w.ok(FACILITATOR, c.IdeaHide, idea=hidden)
    w.ok(FACILITATOR, c.RoomSet, approval_queue=True)
    pending = w.post(ann, "pending")
    w.close()
    w.ok(FACILITATOR, c.RoomSet, approval_queue=False)
    w.open_ideate(private=True)
    unrevealed = w.post(bob, "still private")
    w.ok(FACILITATOR, c.RoundPause)
    w.close()
    w.open_vote()
    w.vote(bob, secret)  # revealed by the manual reveal
    w.vote(bob, unrevealed)  # revealed at its close
    for idea in (hidden, pending, "i99"):
        w.fail(ann, c.VoteAdd, "not_found", idea=idea)


def test_vote_needs_an_open_vote_round() -> None:
    w = Workshop()
    ann = w.join("Ann")
    w.fail(ann, c.VoteAdd, "invalid_transition", idea="i1")
    w.open_ideate(private=False)
    idea = w.post(ann)
    w.fail(ann, c.VoteAdd, "wrong_round_kind", idea=idea)
    w.fail(ann, c.VoteRemove, "wrong_round_kind", idea=idea)
    w.close()
    w.fail(ann, c.VoteAdd, "round_closed", idea=idea)
    w.open_vote()
    w.vote(ann, idea)
    w.ok(FACILITATOR, c.RoundPause)
    w.fail(ann, c.VoteAdd, "invalid_transition", idea=idea)
    w.fail(ann, c.VoteRemove, "invalid_transition", idea=idea)
    w.ok(FACILITATOR, c.RoundResume)
    w.close()
    w.fail(ann, c.VoteAdd, "round_closed", idea=idea)
    w.fail(ann, c.VoteRemove, "round_closed", idea=idea)


# --- Hidden and shown totals --------------------------------------------------------------------------
def test_hidden_totals_until_close() -> None:
    w, (ann, bob, _), (i1, i2, _, _) = vote_room(hide_totals=True)
    voter, other, screen, staff = w.viewer(ann), w.viewer(bob), w.screen(), w.viewer(FACILITATOR)
    out = w.do(ann, c.VoteAdd, idea=i1)
    assert PUBLIC not in out.events[0].views
    assert set(out.events[0].views) == {STAFF, member_key(ann)}
    w.vote(ann, i1)
    w.vote(bob, i2)
    w.ok(ann, c.VoteRemove, idea=i1)
    assert "vote.changed" not in screen.names()
    assert other.names() == ["vote.changed"]  # bob's own dot only
    assert not voter.has_key("total") and not other.has_key("total") and not screen.has_key("total")
    assert not voter.has_key("totals")
    assert [v["total"] for v in staff.views("vote.changed")] == [1, 2, 1, 1]
    snap = w.room.snapshot(bob, "participant")["votes"][-1]
    assert "totals" not in snap and snap["mine"] == {i2: 1}
    assert w.room.snapshot(None, "screen")["votes"][-1].keys() == {"round", "results"}
    assert w.room.snapshot(FACILITATOR, "facilitator")["votes"][-1]["totals"] == {i1: 1, i2: 1}
    # Close: ranked results and totals for everyone at once.
    out = w.do(FACILITATOR, c.RoundClose)
    assert [e.name for e in out.events] == ["round.closed", "vote.results"]
    for viewer in (voter, other, screen, staff):
        results = viewer.last("vote.results")
        assert results["totals"] == {i1: 1, i2: 1}
        assert [(r["idea"], r["total"], r["rank"]) for r in results["results"][:2]] == [
            (i1, 1, 1),
            (i2, 1, 1),
        ]
    assert w.room.snapshot(None, "screen")["votes"][-1]["totals"] == {i1: 1, i2: 1}


def test_shown_totals_are_public() -> None:
    w, (ann, bob, _), (i1, _, _, _) = vote_room(hide_totals=False)
    voter, screen = w.viewer(ann), w.screen()
    w.vote(ann, i1)
    w.vote(bob, i1)
    assert [v["total"] for v in screen.views("vote.changed")] == [1, 2]
    assert screen.last("vote.changed") == {"round": w.room.current, "idea": i1, "total": 2}
    assert voter.views("vote.changed")[0]["total"] == 1 and voter.views("vote.changed")[0]["my_dots"] == 1
    assert voter.views("vote.changed")[1] == screen.views("vote.changed")[1]  # bob's dot, public view
    assert "my_dots" not in screen.last("vote.changed")
    assert w.room.snapshot(None, "screen")["votes"][-1]["totals"] == {i1: 2}


# --- Ranking ----------------------------------------------------------------------------------------------
def test_competition_ranking_with_ties() -> None:
    w, (ann, bob, cat), wall = vote_room(ideas=6)
    i1, i2, i3, i4, i5, i6 = wall
    w.ok(FACILITATOR, c.IdeaHide, idea=i6)
    w.vote(ann, i3, times=2)
    w.vote(ann, i2)
    w.vote(bob, i3)
    w.vote(bob, i2)
    w.vote(bob, i4)
    w.vote(cat, i4)
    w.vote(cat, i1)
    # i3: 3, i2: 2, i4: 2, i1: 1, i5: 0 (i6 is hidden)
    result = w.close()
    assert result["round"]["status"] == "closed"
    rnd = w.room.current_round
    assert rnd is not None and rnd.results is not None
    assert [(r["idea"], r["total"], r["rank"]) for r in rnd.results] == [
        (i3, 3, 1),
        (i2, 2, 2),
        (i4, 2, 2),
        (i1, 1, 4),
        (i5, 0, 5),
    ]


def test_everything_tied() -> None:
    w, _, wall = vote_room(ideas=3)
    w.close()
    rnd = w.room.current_round
    assert rnd is not None and rnd.results is not None
    assert [(r["idea"], r["rank"]) for r in rnd.results] == [(i, 1) for i in wall]


# --- Refunds ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("paused", [False, True])
def test_hiding_an_idea_refunds_its_dots(paused: bool) -> None:
    w, (ann, bob, cat), (i1, i2, _, _) = vote_room()
    voter, other, screen, staff = w.viewer(ann), w.viewer(cat), w.screen(), w.viewer(FACILITATOR)
    w.vote(ann, i1, times=2)
    w.vote(bob, i1)
    w.vote(bob, i2)
    if paused:
        w.ok(FACILITATOR, c.RoundPause)
    out = w.do(FACILITATOR, c.IdeaHide, idea=i1, reason="duplicate")
    assert [e.name for e in out.events] == ["vote.changed", "idea.hidden"]
    assert dots(w, ann) == {} and dots(w, bob) == {i2: 1}
    assert totals(w) == {i2: 1}
    refund = voter.last("vote.changed")
    assert (refund["idea"], refund["my_dots"], refund["remaining"], refund["mine"]) == (i1, 0, 3, {})
    assert "total" not in refund
    assert staff.last("vote.changed") == {"round": w.room.current, "idea": i1, "total": 0}
    assert "vote.changed" not in other.names() and "vote.changed" not in screen.names()
    assert screen.last("idea.hidden") == {"removed": i1}
    if paused:
        w.ok(FACILITATOR, c.RoundResume)
    w.vote(ann, i2, times=2)
    w.vote(ann, "i3")
    w.fail(ann, c.VoteAdd, "not_found", idea=i1)


@pytest.mark.parametrize("hide_totals", [True, False])
def test_hiding_an_idea_without_dots_emits_no_refund(hide_totals: bool) -> None:
    w, _, (i1, _, _, _) = vote_room(hide_totals=hide_totals)
    if hide_totals:  # before text rules 22 (journals written then replay so)
        w.room.text_rules = VOTE_GAP_FIXES - 1
    out = w.do(FACILITATOR, c.IdeaHide, idea=i1)
    assert [e.name for e in out.events] == ["idea.hidden"]


def _hidden_ballot_run(target: str, action: str, on: int) -> tuple[list[Received], list[Received]]:
    """Bob puts a dot on the first target of a vote with hidden totals (``on`` 0), or Dan on the second
    (``on`` 1), then staff do ``action`` to the first target, or remove Bob: what Cat, who did not vote,
    and the room screen receive."""
    w = Workshop()
    ann, bob, cat, dan = (w.join(name) for name in ("Ann", "Bob", "Cat", "Dan"))
    w.open_ideate(private=False)
    i1, i2, i3 = (w.post(ann, f"idea {k}") for k in range(3))
    t1, t2 = (
        str(w.ok(FACILITATOR, c.ThemeCreate, name=f"T{k}", ideas=[i])["theme"]["id"])
        for k, i in ((1, i1), (2, i2))
    )
    w.close()
    w.open_vote(hide_totals=True, target=target)
    field, targets = ("idea", [i1, i2]) if target == "ideas" else ("theme", [t1, t2])
    cat_view, screen = w.viewer(cat), w.screen()
    w.ok((bob, dan)[on], c.VoteAdd, **{field: targets[on]})
    do = {
        "hide": lambda: w.ok(FACILITATOR, c.IdeaHide, idea=i1),
        "merge": lambda: w.ok(FACILITATOR, c.IdeaMerge, into=i3, ideas=[i1]),
        "unmerge": lambda: w.ok(
            FACILITATOR, c.IdeaUnmerge, merge=w.ok(FACILITATOR, c.IdeaMerge, into=i3, ideas=[i1])["merge"]
        ),
        "dissolve": lambda: w.ok(FACILITATOR, c.ThemeDissolve, theme=t1),
        "remove": lambda: w.ok(FACILITATOR, c.MemberRemove, member=bob),
    }
    do[action]()
    w.ok(FACILITATOR, c.ThemeCreate, name="Later")  # an event everyone sees: a gap before it shows
    assert cat_view.names()[-1] == screen.names()[-1] == "theme.created"
    return cat_view.received, screen.received


@pytest.mark.parametrize(
    ("target", "action"),
    [
        ("ideas", "hide"),
        ("ideas", "merge"),
        ("ideas", "unmerge"),
        ("themes", "hide"),
        ("themes", "dissolve"),
        ("ideas", "remove"),
    ],
)
def test_a_hidden_ballot_shows_no_gap_where_someone_else_had_dots(target: str, action: str) -> None:
    """Text rules 22: with hidden totals, what a hide, a merge, its undoing, a dissolved theme or a removal
    did to the dots is emitted whether or not anyone had dots there, so those who see none of it see the
    same seqs either way."""
    assert _hidden_ballot_run(target, action, 0) == _hidden_ballot_run(target, action, 1)


def test_refund_with_shown_totals_is_public() -> None:
    w, (ann, _, _), (i1, _, _, _) = vote_room(hide_totals=False)
    screen = w.screen()
    w.vote(ann, i1)
    w.ok(FACILITATOR, c.IdeaHide, idea=i1)
    assert screen.last("vote.changed") == {"round": w.room.current, "idea": i1, "total": 0}


def test_hiding_after_the_vote_keeps_the_results() -> None:
    w, (ann, _, _), (i1, _, _, _) = vote_room()
    w.vote(ann, i1)
    w.close()
    out = w.do(FACILITATOR, c.IdeaHide, idea=i1)
    assert [e.name for e in out.events] == ["idea.hidden"]
    rnd = w.room.current_round
    assert rnd is not None and rnd.totals == {i1: 1} and rnd.dots[ann] == {i1: 1}


@pytest.mark.parametrize("hide_totals", [True, False])
def test_removing_a_member_refunds_their_dots(hide_totals: bool) -> None:
    w, (ann, bob, _), (i1, i2, _, _) = vote_room(hide_totals=hide_totals)
    screen, staff = w.screen(), w.viewer(FACILITATOR)
    w.vote(ann, i1, times=2)
    w.vote(ann, i2)
    w.vote(bob, i1)
    out = w.do(FACILITATOR, c.MemberRemove, member=ann, reason="brigading")
    assert out.error is None
    assert [e.name for e in out.events] == ["vote.totals", "member.removed", "presence"]
    assert totals(w) == {i1: 1}
    assert dots(w, ann) == {}
    rid = w.room.current
    expected = {"round": rid, "changes": [{"idea": i1, "total": 1}, {"idea": i2, "total": 0}]}
    assert staff.last("vote.totals") == expected
    if hide_totals:
        assert "vote.totals" not in screen.names()
    else:
        assert screen.last("vote.totals") == expected
    w.vote(bob, i2, times=2)


@pytest.mark.parametrize("hide_totals", [True, False])
def test_removing_a_member_without_dots_emits_no_refund(hide_totals: bool) -> None:
    w, (ann, _, _), _ = vote_room(hide_totals=hide_totals)
    if hide_totals:  # before text rules 22
        w.room.text_rules = VOTE_GAP_FIXES - 1
    out = w.do(FACILITATOR, c.MemberRemove, member=ann)
    assert [e.name for e in out.events] == ["member.removed", "presence"]


def test_muted_voters_keep_their_dots_and_may_take_them_back() -> None:
    w, (ann, _, _), (i1, _, _, _) = vote_room()
    w.vote(ann, i1)
    w.ok(FACILITATOR, c.MemberMute, member=ann)
    w.fail(ann, c.VoteAdd, "muted", idea=i1)
    assert dots(w, ann) == {i1: 1}
    w.ok(ann, c.VoteRemove, idea=i1)
    assert dots(w, ann) == {}
