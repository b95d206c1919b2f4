"""Fair votes seen from a modified client (a review found each broken): the shared vote order must not be
predictable while notes can still be posted and withdrawn, and a voter whose dots a merge (or its undoing)
moved is told where its dots are now. Both change what a command does from text rules version 8
(``VOTE_FIXES``); journals written before replay as they were."""

from __future__ import annotations

import hashlib
from typing import Any

from tests.rooms.helpers import FACILITATOR, ROOM_ID, Viewer, Workshop
from workshop_server.rooms import commands as c
from workshop_server.rooms.events import Data
from workshop_server.rooms.text import VOTE_FIXES


def predicted(room_id: str, round_id: str, ideas: list[str]) -> list[str]:
    """The order a participant computes from what it knows before the vote opens: the room code, the
    next round's id and the ideas' ids (the formula is in the open source)."""
    return sorted(ideas, key=lambda i: hashlib.sha256(f"{room_id}:{round_id}:{i}".encode()).hexdigest())


def gamed_wall(w: Workshop) -> tuple[str, list[str]]:
    """Ann and Bob post; Eve posts, withdraws and posts again until her note comes first in the order
    she predicts for the next round (r2). Returns Eve's note and the wall."""
    ann, bob, eve = w.join("Ann"), w.join("Bob"), w.join("Eve")
    w.open_ideate(private=False)
    wall = [w.post(ann if n % 2 else bob, f"idea {n}") for n in range(8)]
    for _ in range(500):
        mine = w.post(eve, "pick me")
        if predicted(ROOM_ID, "r2", [*wall, mine])[0] == mine:
            break
        w.ok(eve, c.IdeaWithdraw, idea=mine)
    else:
        raise AssertionError("the attack found no id")
    w.close()
    return mine, [*wall, mine]


def test_a_participant_cannot_post_its_way_to_the_top_of_the_shared_vote_order() -> None:
    """protocol.md: the shared order is "the same for every voter and stable for the round, chosen by
    the server and blind to authorship". It was a hash of the room code, the round id and the idea id,
    all known to a participant before the vote: withdrawing and posting again until its note's id
    hashes first put that note at the top of every voter's ballot."""
    firsts = set()
    for delay in (60.0, 61.5, 90.25, 120.0, 300.0):
        w = Workshop()
        eve_note, wall = gamed_wall(w)
        w.advance(delay)
        order = w.ok(FACILITATOR, c.RoundOpen, kind="vote", prompt="Vote")["round"]["order"]
        assert sorted(order) == sorted(wall)
        assert order != predicted(ROOM_ID, "r2", wall), "the ballot's order was known before the vote"
        firsts.add(order[0] == eve_note)
    assert firsts != {True}, "Eve's reposted note topped every ballot"


def test_the_order_is_still_one_for_every_voter_and_stable() -> None:
    w = Workshop()
    gamed_wall(w)
    w.advance(30)
    order = w.ok(FACILITATOR, c.RoundOpen, kind="vote", prompt="Vote")["round"]["order"]
    for member in ("m2", "m3", "m4", None):
        snap = w.room.snapshot(member, "screen" if member is None else "participant")
        assert snap["rounds"][-1]["order"] == order
    w.advance(10)
    w.ok(FACILITATOR, c.RoundPause)
    assert w.room.snapshot("m2", "participant")["rounds"][-1]["order"] == order


# --- Dots moved by a merge --------------------------------------------------------------------------------
def mine_from_events(viewer: Viewer, start: Data) -> dict[str, int]:
    """A voter's dots as a client keeps them: from its snapshot, then every view that carries `mine`."""
    mine: dict[str, int] = dict(start)
    for received in viewer.received:
        if received.name in ("vote.changed", "vote.totals") and "mine" in received.data:
            mine = dict(received.data["mine"])
    return mine


def merge_room(**vote: Any) -> tuple[Workshop, str, list[str]]:
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    wall = [w.post(ann, "coffee"), w.post(ann, "more coffee"), w.post(ann, "tea")]
    w.close()
    w.open_vote(**vote)
    return w, bob, wall


def test_a_voter_whose_dots_a_merge_moved_is_told_where_they_are() -> None:
    """A merge moves each voter's dots from the absorbed notes to the merged one; only a voter whose
    dots went over the cap (refunded) got a view saying so. Bob's client kept its dot on a note that
    left the wall, and none on the merged note, where the server had put it."""
    for hide_totals in (True, False):
        w, bob, (coffee, more, tea) = merge_room(hide_totals=hide_totals, budget=3, max_per_idea=2)
        w.vote(bob, more)
        w.vote(bob, tea)
        start = w.room.snapshot(bob, "participant")["votes"][-1]["mine"]
        voter = w.viewer(bob)
        merged = w.ok(FACILITATOR, c.IdeaMerge, into=coffee, ideas=[more])
        server = dict(w.room.rounds["r2"].dots[bob])
        assert server == {coffee: 1, tea: 1}
        assert mine_from_events(voter, start) == server, (hide_totals, voter.received)
        view = voter.last("vote.totals")
        assert (view["refunded"], view["remaining"]) == (0, 1)
        assert ("changes" in view) == (not hide_totals)  # never a total while totals are hidden
        # ... and so when the merge is undone: the dot goes back to the note it was on.
        w.ok(FACILITATOR, c.IdeaUnmerge, merge=merged["merge"])
        server = dict(w.room.rounds["r2"].dots[bob])
        assert server == {more: 1, tea: 1}
        assert mine_from_events(voter, start) == server, (hide_totals, voter.received)


def test_a_voter_not_concerned_by_a_merge_gets_nothing_of_it() -> None:
    w, bob, (coffee, more, tea) = merge_room()
    cat = w.join("Cat")
    w.vote(bob, more)
    w.vote(cat, tea)
    other = w.viewer(cat)
    w.ok(FACILITATOR, c.IdeaMerge, into=coffee, ideas=[more])
    assert "vote.totals" not in other.names()


def test_journals_written_before_the_vote_fixes_replay_as_they_were() -> None:
    w = Workshop()
    eve_note, wall = gamed_wall(w)
    w.room.text_rules = VOTE_FIXES - 1  # entries handled under text rules 7
    order = w.ok(FACILITATOR, c.RoundOpen, kind="vote", prompt="Vote", budget=3)["round"]["order"]
    assert order == predicted(ROOM_ID, "r2", wall) and order[0] == eve_note
    bob = "m3"
    w.vote(bob, wall[1])
    out = w.do(FACILITATOR, c.IdeaMerge, into=wall[0], ideas=[wall[1]])
    (totals,) = [e for e in out.events if e.name == "vote.totals"]
    assert f"m:{bob}" not in totals.views  # as it was: only refunded voters had a view of their own
    w.room.text_rules = VOTE_FIXES
    w.ok(FACILITATOR, c.IdeaUnmerge, merge="g1")
    out = w.do(FACILITATOR, c.IdeaMerge, into=wall[0], ideas=[wall[1]])
    (totals,) = [e for e in out.events if e.name == "vote.totals"]
    assert f"m:{bob}" in totals.views
