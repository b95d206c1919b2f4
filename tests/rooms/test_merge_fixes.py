"""Merges and results, as fixed under text rules version 4 (``rooms/text.py`` ``MERGE_FIXES``), found by a
review of the room core; each test failed before its fix. A journal written under an earlier version
replays as it was (the last test)."""

from __future__ import annotations

import json

from tests.rooms.helpers import FACILITATOR, Workshop
from workshop_server.rooms import commands as c
from workshop_server.rooms import views
from workshop_server.rooms.text import MERGE_FIXES


def wall(w: Workshop, *texts: str) -> tuple[str, str, list[str]]:
    """Ann and Bob, and their ideas (alternately) on the wall of a closed ideation round."""
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    ideas = [w.post(ann if n % 2 == 0 else bob, t) for n, t in enumerate(texts)]
    w.close()
    return ann, bob, ideas


def test_undoing_a_merge_gives_back_only_the_dots_it_moved() -> None:
    """Budget 4, cap 2. Ann's 2 dots on the absorbed idea were refunded (her 2 on ``into`` are at the
    cap): the undo moves none of her own dots off ``into``. With 1 and 2, one moved and one was
    refunded: the undo gives back that one."""
    for on_into, moved_back in ((2, {}), (1, {1: 1})):
        w = Workshop()
        ann, _, ideas = wall(w, "a", "a again")
        w.open_vote(budget=4, max_per_idea=2)
        w.vote(ann, ideas[0], on_into)
        w.vote(ann, ideas[1], 2)
        rnd = w.room.rounds[w.room.current or ""]
        merge = w.ok(FACILITATOR, c.IdeaMerge, into=ideas[0], ideas=[ideas[1]])["merge"]
        assert rnd.dots[ann] == {ideas[0]: 2}
        w.ok(FACILITATOR, c.IdeaUnmerge, merge=merge)
        expected = {ideas[0]: on_into} | {ideas[k]: n for k, n in moved_back.items()}
        assert rnd.dots[ann] == expected


def two_rounds(w: Workshop) -> tuple[str, str, str, str]:
    """Ann's note in an anonymous round, then Bob's in a named one: (ann, bob, Ann's, Bob's)."""
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False, anonymous=True)
    secret = w.post(ann, "anonymous complaint")
    w.close()
    w.open_ideate(private=False, anonymous=False)
    named = w.post(bob, "named idea")
    w.close()
    return ann, bob, secret, named


def test_a_merge_does_not_name_the_author_of_a_note_from_an_anonymous_round() -> None:
    w = Workshop()
    ann, bob, secret, named = two_rounds(w)
    screen = w.screen()
    cara = w.join("Cara")
    w.ok(FACILITATOR, c.IdeaMerge, into=named, ideas=[secret])
    merged = next(d for d in w.room.snapshot(cara, "participant")["ideas"] if d["id"] == named)
    bobs = next(d for d in w.room.snapshot(bob, "participant")["ideas"] if d["id"] == named)
    for seen in (screen.last("idea.merged"), merged, bobs):
        assert "Ann" not in json.dumps(seen), seen
    assert merged["coauthors"] == []
    staff = next(d for d in w.room.snapshot(FACILITATOR, "facilitator")["ideas"] if d["id"] == named)
    assert staff["coauthors"] == [{"id": ann, "name": "Ann"}]  # staff know who wrote what


def test_undoing_an_inner_merge_takes_back_the_credit_it_added_above() -> None:
    w = Workshop()
    ann, bob, cara = w.join("Ann"), w.join("Bob"), w.join("Cara")
    w.open_ideate(private=False)
    a, b, cc = w.post(ann, "a"), w.post(bob, "b"), w.post(cara, "c")
    inner = w.ok(FACILITATOR, c.IdeaMerge, into=b, ideas=[a])["merge"]
    w.ok(FACILITATOR, c.IdeaMerge, into=cc, ideas=[b])
    assert w.room.ideas[cc].coauthors == [bob, ann]
    w.ok(FACILITATOR, c.IdeaUnmerge, merge=inner)  # a is back on the wall, on its own
    assert w.room.ideas[cc].coauthors == [bob]


def test_evaluation_results_leave_out_the_text_of_a_hidden_note() -> None:
    w = Workshop()
    ann, _, ideas = wall(w, "fine idea", "later hidden: offensive text")
    w.ok(FACILITATOR, c.CriteriaSet, criteria=[{"name": "Impact"}])
    w.ok(FACILITATOR, c.EvaluationOpen, ideas=ideas)
    w.ok(FACILITATOR, c.IdeaHide, idea=ideas[1], reason="offensive")
    screen = w.screen()
    w.ok(FACILITATOR, c.EvaluationClose)
    closed = screen.last("evaluation.closed")
    assert "offensive text" not in json.dumps(closed)
    assert "offensive text" not in json.dumps(views.my_ideas(w.room, ann))
    assert {row["idea"] for row in closed["evaluation"]["results"]} == set(ideas)  # still ranked, by id
    assert "fine idea" in json.dumps(closed)


def test_a_journal_written_before_the_fixes_replays_as_it_was() -> None:
    """Entries handled under text rules 3 gave the merged idea's co-authors by name: a replay of them
    must give the same events (the rebuild refuses a divergence), so the old rule applies to them."""
    w = Workshop()
    w.room.text_rules = MERGE_FIXES - 1
    _, _, secret, named = two_rounds(w)
    w.ok(FACILITATOR, c.IdeaMerge, into=named, ideas=[secret])
    assert not w.room.anonymous_credit(w.room.ideas[named])
    w.room.text_rules = MERGE_FIXES  # loaded again: what comes next is handled under today's rules
    assert w.room.anonymous_credit(w.room.ideas[named])
