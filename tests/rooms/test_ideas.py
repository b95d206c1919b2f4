"""Ideas: post, edit and withdraw one's own, limits, private writing, reveal, anonymity, the queue."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.rooms.helpers import FACILITATOR, Viewer, Workshop, idea_dicts
from workshop_server.rooms import commands as c
from workshop_server.rooms.state import Limits, RoomConfig


def room_with(n: int = 2, limits: Limits | None = None) -> tuple[Workshop, list[str]]:
    w = Workshop(limits=limits)
    return w, [w.join(f"P{k}") for k in range(1, n + 1)]


# --- Posting, editing, withdrawing ------------------------------------------------------------------------
def test_post_returns_the_idea_to_its_author() -> None:
    w, (ann, _bob) = room_with()
    rid = w.open_ideate()
    w.advance(3)
    idea = w.ok(ann, c.IdeaPost, text="  Free coffee  ")["idea"]
    assert idea["text"] == "Free coffee"
    assert idea["color"] == "yellow"
    assert idea["mine"] is True
    assert (idea["author"], idea["author_name"], idea["round"]) == (ann, "P1", rid)
    assert idea["state"] == "visible"
    assert idea["created_at"] == idea["updated_at"] == w.now
    stored = w.room.ideas[idea["id"]]
    assert (stored.text, stored.author, stored.round) == ("Free coffee", ann, rid)


@pytest.mark.parametrize("color", list(c.COLORS))
def test_colours(color: str) -> None:
    w, (ann, _) = room_with()
    w.open_ideate()
    idea = w.post(ann, "x", color=color)
    assert w.room.ideas[idea].color == color


def test_unknown_colour_is_refused_by_the_schema() -> None:
    with pytest.raises(ValidationError):
        c.IdeaPost(id="x", text="hi", color="red")  # type: ignore[arg-type]


def test_multiline_text_is_kept() -> None:
    w, (ann, _) = room_with()
    w.open_ideate()
    idea = w.post(ann, "line one\n\tline two")
    assert w.room.ideas[idea].text == "line one\n\tline two"


def test_edit_own_idea() -> None:
    w, (ann, _) = room_with()
    w.open_ideate()
    idea = w.post(ann, "first", color="pink")
    created = w.room.ideas[idea].created_at
    w.advance(5)
    edited = w.ok(ann, c.IdeaEdit, idea=idea, text=" second ")["idea"]
    assert (edited["text"], edited["color"]) == ("second", "pink")  # no colour: unchanged
    assert edited["updated_at"] == w.now and edited["created_at"] == created
    w.ok(ann, c.IdeaEdit, idea=idea, text="third", color="blue")
    assert (w.room.ideas[idea].text, w.room.ideas[idea].color) == ("third", "blue")


def test_others_ideas_are_out_of_reach() -> None:
    w, (ann, bob) = room_with()
    w.open_ideate(private=False)
    idea = w.post(ann, "mine")
    w.fail(bob, c.IdeaEdit, "forbidden", idea=idea, text="hacked")
    w.fail(bob, c.IdeaWithdraw, "forbidden", idea=idea)
    assert w.room.ideas[idea].text == "mine"


def test_unknown_ideas_are_not_found() -> None:
    w, (ann, _) = room_with()
    w.open_ideate()
    w.fail(ann, c.IdeaEdit, "not_found", idea="i99", text="x")
    w.fail(ann, c.IdeaWithdraw, "not_found", idea="i99")


def test_withdraw_own_idea() -> None:
    w, (ann, bob) = room_with()
    w.open_ideate(private=False)
    other, screen, staff = w.viewer(bob), w.screen(), w.viewer(FACILITATOR)
    idea = w.post(ann, "oops")
    assert w.ok(ann, c.IdeaWithdraw, idea=idea) == {"id": idea}
    assert idea not in w.room.ideas
    assert other.last("idea.withdrawn") == screen.last("idea.withdrawn") == {"id": idea}
    assert staff.last("idea.withdrawn") == {"id": idea}
    w.fail(ann, c.IdeaWithdraw, "not_found", idea=idea)


def test_withdrawing_a_private_idea_tells_nobody_else() -> None:
    w, (ann, bob) = room_with()
    w.open_ideate(private=True)
    author, other, screen = w.viewer(ann), w.viewer(bob), w.screen()
    idea = w.post(ann, "secret")
    w.ok(ann, c.IdeaWithdraw, idea=idea)
    assert author.names() == ["idea.posted", "idea.withdrawn"]
    assert other.received == [] and screen.received == []


def test_max_ideas() -> None:
    w, (ann, bob) = room_with()
    w.open_ideate(max_ideas=2)
    first = w.post(ann, "1")
    w.post(ann, "2")
    w.fail(ann, c.IdeaPost, "idea_limit", text="3")
    w.post(bob, "bob's own limit")  # per person
    w.ok(ann, c.IdeaWithdraw, idea=first)
    w.post(ann, "3")  # a withdrawn idea no longer counts
    w.fail(ann, c.IdeaPost, "idea_limit", text="4")
    w.close()
    w.open_ideate(max_ideas=1)
    w.post(ann, "per round")
    w.fail(ann, c.IdeaPost, "idea_limit", text="again")


def test_hidden_ideas_still_count_towards_the_limit() -> None:
    w, (ann, _) = room_with()
    w.open_ideate(max_ideas=1)
    idea = w.post(ann, "troll")
    w.ok(FACILITATOR, c.IdeaHide, idea=idea)
    w.fail(ann, c.IdeaPost, "idea_limit", text="again")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "invalid_command"),
        ("   \n\t ", "invalid_command"),
        ("x" * 11, "text_too_long"),
        ("bad\x00byte", "invalid_command"),
        ("bell\x07", "invalid_command"),
    ],
)
def test_bad_texts(text: str, code: str) -> None:
    w, (ann, _) = room_with(limits=Limits(idea_text_max=10))
    w.open_ideate()
    w.fail(ann, c.IdeaPost, code, text=text)
    idea = w.post(ann, "  " + "x" * 10 + "  ")  # the limit applies to the trimmed text
    w.fail(ann, c.IdeaEdit, code, idea=idea, text=text)
    assert w.room.ideas[idea].text == "x" * 10


def test_text_limit_comes_from_the_limits() -> None:
    w = Workshop(limits=Limits(idea_text_max=500))
    ann = w.join("Ann")
    w.open_ideate()
    w.post(ann, "x" * 500)
    w.fail(ann, c.IdeaPost, "text_too_long", text="x" * 501)


def test_ideas_need_an_open_ideate_round() -> None:
    w, (ann, _) = room_with()
    w.fail(ann, c.IdeaPost, "invalid_transition", text="lobby")
    w.open_ideate()
    w.ok(FACILITATOR, c.RoundPause)
    w.fail(ann, c.IdeaPost, "invalid_transition", text="paused")
    w.ok(FACILITATOR, c.RoundResume)
    idea = w.post(ann, "open")
    w.close()
    w.fail(ann, c.IdeaPost, "round_closed", text="closed")
    w.fail(ann, c.IdeaEdit, "round_closed", idea=idea, text="edited after close")
    w.fail(ann, c.IdeaWithdraw, "round_closed", idea=idea)
    w.open_vote()
    w.fail(ann, c.IdeaPost, "wrong_round_kind", text="vote")
    w.fail(ann, c.IdeaEdit, "wrong_round_kind", idea=idea, text="vote")
    w.close()
    w.open_ideate()
    w.fail(ann, c.IdeaEdit, "round_closed", idea=idea, text="old round")
    w.fail(ann, c.IdeaWithdraw, "round_closed", idea=idea)
    assert w.room.ideas[idea].text == "open"


def test_edit_while_paused_is_refused() -> None:
    w, (ann, _) = room_with()
    w.open_ideate()
    idea = w.post(ann, "x")
    w.ok(FACILITATOR, c.RoundPause)
    w.fail(ann, c.IdeaEdit, "invalid_transition", idea=idea, text="y")


# --- Private writing ------------------------------------------------------------------------------------
class Cast:
    """An author, another participant, the screen and the two staff roles, all watching."""

    def __init__(self, w: Workshop, author: str, other: str, mod: str) -> None:
        self.author = w.viewer(author)
        self.other = w.viewer(other)
        self.screen = w.screen()
        self.mod = w.viewer(mod)
        self.fac = w.viewer(FACILITATOR)

    @property
    def outsiders(self) -> list[Viewer]:
        return [self.other, self.screen]


def private_room() -> tuple[Workshop, str, str, Cast]:
    w = Workshop()
    mod = w.moderator()
    ann, bob = w.join("Ann"), w.join("Bob")
    return w, ann, bob, Cast(w, ann, bob, mod)


def test_private_writing_until_the_reveal_at_close() -> None:
    w, ann, bob, cast = private_room()
    rid = w.open_ideate(private=True)
    idea = w.post(ann, "Ann's secret")
    w.ok(ann, c.IdeaEdit, idea=idea, text="Ann's edited secret")
    bobs = w.post(bob, "Bob's secret")
    # Nobody else receives a text or an author before the reveal; Bob receives only his own idea.
    assert cast.screen.names() == ["round.opened"]
    assert cast.other.names() == ["round.opened", "idea.posted"]
    assert cast.other.texts() == ["Bob's secret"]
    assert all(d["author"] == bob for r in cast.other.received for d in idea_dicts(r.data))
    assert cast.author.texts() == ["Ann's secret", "Ann's edited secret"]
    assert all(d.get("mine") is True for r in cast.author.received for d in idea_dicts(r.data))
    for staff in (cast.mod, cast.fac):
        assert staff.texts() == ["Ann's secret", "Ann's edited secret", "Bob's secret"]
        assert staff.last("idea.posted")["idea"]["author"] == bob
    # Snapshots agree with the events.
    assert [i["id"] for i in w.room.snapshot(bob, "participant")["ideas"]] == [bobs]
    assert w.room.snapshot(None, "screen")["ideas"] == []
    assert len(w.room.snapshot(FACILITATOR, "facilitator")["ideas"]) == 2
    # Closing reveals to everyone at once.
    out = w.do(FACILITATOR, c.RoundClose)
    assert [e.name for e in out.events] == ["round.closed", "round.revealed"]
    assert w.room.rounds[rid].revealed
    for viewer in (cast.other, cast.screen, cast.author):
        revealed = viewer.last("round.revealed")
        assert revealed["round"] == rid
        assert [(i["id"], i["text"]) for i in revealed["ideas"]] == [
            (idea, "Ann's edited secret"),
            (bobs, "Bob's secret"),
        ]
    assert len(w.room.snapshot(None, "screen")["ideas"]) == 2


def test_manual_reveal_while_open() -> None:
    w, ann, bob, cast = private_room()
    w.open_ideate(private=True)
    w.post(ann, "before")
    out = w.do(FACILITATOR, c.RoundReveal)
    assert out.error is None and out.result["round"]["revealed"] is True
    assert [i["text"] for i in cast.screen.last("round.revealed")["ideas"]] == ["before"]
    w.post(bob, "after")  # now public at once
    assert cast.screen.last("idea.posted")["idea"]["text"] == "after"
    assert cast.author.last("idea.posted")["idea"]["text"] == "after"
    w.fail(FACILITATOR, c.RoundReveal, "invalid_transition")
    close = w.do(FACILITATOR, c.RoundClose)
    assert [e.name for e in close.events] == ["round.closed"]  # no second reveal


def test_reveal_of_a_round_that_is_not_private() -> None:
    w, ann, _bob, cast = private_room()
    w.open_ideate(private=False)
    w.post(ann, "public")
    assert cast.screen.last("idea.posted")["idea"]["text"] == "public"
    assert cast.other.last("idea.posted")["idea"]["author"] == ann
    assert "mine" not in cast.other.last("idea.posted")["idea"]
    w.fail(FACILITATOR, c.RoundReveal, "invalid_transition")
    out = w.do(FACILITATOR, c.RoundClose)
    assert [e.name for e in out.events] == ["round.closed"]


def test_reveal_of_a_vote_round() -> None:
    w, _ann, _bob, _cast = private_room()
    w.open_vote()
    w.fail(FACILITATOR, c.RoundReveal, "wrong_round_kind")


def test_session_end_reveals_a_private_round() -> None:
    w, ann, bob, cast = private_room()
    w.open_ideate(private=True)
    idea = w.post(ann, "secret")
    w.ok(FACILITATOR, c.RoundPause)
    w.ok(FACILITATOR, c.SessionEnd)
    assert cast.screen.texts() == ["secret"]
    assert [i["id"] for i in w.room.snapshot(bob, "participant")["ideas"]] == [idea]


# --- Anonymous rounds --------------------------------------------------------------------------------------
def assert_anonymous_for_outsiders(cast: Cast, author: str) -> None:
    for viewer in cast.outsiders:
        ideas = [d for r in viewer.received for d in idea_dicts(r.data)]
        assert ideas, "the outsiders should see the ideas"
        for idea in ideas:
            assert "author" not in idea and "author_name" not in idea
    for viewer in (cast.mod, cast.fac):
        ideas = [d for r in viewer.received for d in idea_dicts(r.data)]
        assert ideas and all(i["author"] == author and i["author_name"] == "Ann" for i in ideas)
    # The author's own copies (idea.posted, idea.edited) name them; a reveal is the public wall.
    own = [d for r in cast.author.received if r.name.startswith("idea.") for d in idea_dicts(r.data)]
    assert own and all(i["mine"] and i["author"] == author and i["author_name"] == "Ann" for i in own)


def test_anonymous_round_hides_authors_from_participants() -> None:
    w, ann, bob, cast = private_room()
    w.open_ideate(private=False, anonymous=True)
    idea = w.post(ann, "who said it?")
    w.ok(ann, c.IdeaEdit, idea=idea, text="who said that?")
    assert_anonymous_for_outsiders(cast, ann)
    snap = w.room.snapshot(bob, "participant")["ideas"]
    assert len(snap) == 1 and "author" not in snap[0] and "author_name" not in snap[0]


def test_anonymous_private_round_stays_anonymous_at_reveal() -> None:
    w, ann, _bob, cast = private_room()
    w.open_ideate(private=True, anonymous=True)
    w.post(ann, "who said it?")
    w.close()
    assert cast.screen.names() == ["round.opened", "round.closed", "round.revealed"]
    assert_anonymous_for_outsiders(cast, ann)


def test_anonymous_room_default_and_override() -> None:
    w = Workshop(RoomConfig(title="W", anonymous=True))
    ann = w.join("Ann")
    screen = w.screen()
    w.open_ideate(private=False)
    w.post(ann, "anonymous by default")
    assert "author" not in screen.last("idea.posted")["idea"]
    w.close()
    w.open_ideate(private=False, anonymous=False)
    w.post(ann, "named")
    assert screen.last("idea.posted")["idea"]["author_name"] == "Ann"


def test_named_round_shows_authors() -> None:
    w, ann, _bob, cast = private_room()
    w.open_ideate(private=False, anonymous=False)
    w.post(ann, "signed")
    assert cast.screen.last("idea.posted")["idea"]["author"] == ann
    assert cast.other.last("idea.posted")["idea"]["author_name"] == "Ann"


# --- The approval queue ---------------------------------------------------------------------------------
def test_pending_ideas_are_seen_by_staff_and_author_until_approved() -> None:
    w, ann, bob, cast = private_room()
    mod = cast.mod.member
    assert mod is not None
    w.ok(mod, c.RoomSet, approval_queue=True)
    w.open_ideate(private=False)
    for viewer in (cast.author, cast.other, cast.screen, cast.mod, cast.fac):
        viewer.clear()
    idea = w.post(ann, "please approve")
    assert w.room.ideas[idea].state == "pending"
    assert cast.author.last("idea.posted")["idea"]["state"] == "pending"
    assert cast.mod.last("idea.posted")["idea"]["text"] == "please approve"
    assert cast.fac.last("idea.posted")["idea"]["state"] == "pending"
    assert cast.other.received == [] and cast.screen.received == []
    assert w.room.snapshot(bob, "participant")["ideas"] == []
    w.ok(ann, c.IdeaEdit, idea=idea, text="please approve me")
    assert cast.other.received == [] and cast.screen.received == []
    assert w.room.ideas[idea].state == "pending"
    w.fail(bob, c.IdeaApprove, "forbidden", idea=idea)
    out = w.do(mod, c.IdeaApprove, idea=idea)
    assert out.error is None and out.result["idea"]["state"] == "visible"
    approved = cast.screen.last("idea.approved")["idea"]
    assert (approved["text"], approved["state"]) == ("please approve me", "visible")
    assert cast.other.last("idea.approved") == cast.screen.last("idea.approved")
    assert "audit" not in cast.author.last("idea.approved")
    assert cast.mod.last("idea.approved")["audit"]["action"] == "idea.approved"
    w.fail(mod, c.IdeaApprove, "invalid_transition", idea=idea)
    w.fail(mod, c.IdeaApprove, "not_found", idea="i99")


def test_pending_ideas_are_left_out_of_the_reveal() -> None:
    w, ann, bob, cast = private_room()
    w.ok(FACILITATOR, c.RoomSet, approval_queue=True)
    w.open_ideate(private=True)
    pending = w.post(ann, "pending")
    w.ok(FACILITATOR, c.RoomSet, approval_queue=False)
    visible = w.post(bob, "visible")
    w.close()
    assert [i["id"] for i in cast.screen.last("round.revealed")["ideas"]] == [visible]
    assert [i["id"] for i in cast.mod.last("round.revealed")["ideas"]] == [pending, visible]
    assert "pending" not in cast.screen.texts() and "pending" not in cast.other.texts()
    w.ok(FACILITATOR, c.IdeaApprove, idea=pending)
    assert cast.screen.last("idea.approved")["idea"]["text"] == "pending"


def test_approval_in_a_private_round_waits_for_the_reveal() -> None:
    w, ann, _bob, cast = private_room()
    w.ok(FACILITATOR, c.RoomSet, approval_queue=True)
    w.open_ideate(private=True)
    idea = w.post(ann, "approved but private")
    w.ok(FACILITATOR, c.IdeaApprove, idea=idea)
    assert cast.screen.texts() == [] and cast.other.texts() == []
    w.close()
    assert cast.screen.texts() == ["approved but private"]


def test_queue_off_posts_visible_ideas() -> None:
    w, ann, _bob, cast = private_room()
    w.ok(FACILITATOR, c.RoomSet, approval_queue=True)
    w.ok(FACILITATOR, c.RoomSet, approval_queue=False)
    w.open_ideate(private=False)
    idea = w.post(ann, "straight to the wall")
    assert w.room.ideas[idea].state == "visible"
    assert cast.screen.texts() == ["straight to the wall"]


def test_editing_keeps_the_state_a_hidden_idea_stays_hidden() -> None:
    w, ann, _bob, cast = private_room()
    w.open_ideate(private=False)
    idea = w.post(ann, "rude")
    w.ok(FACILITATOR, c.IdeaHide, idea=idea, reason="rude")
    w.ok(ann, c.IdeaEdit, idea=idea, text="polite now")
    assert w.room.ideas[idea].state == "hidden"
    assert cast.author.last("idea.edited")["idea"]["hide_reason"] == "rude"
    assert "polite now" not in cast.screen.texts() + cast.other.texts()
    assert "idea.edited" not in cast.screen.names() + cast.other.names()


def test_editing_an_approved_idea_queues_it_again() -> None:
    """With the approval queue on, new text goes back to the moderators before anyone else sees it."""
    w, ann, _bob, cast = private_room()
    w.ok(FACILITATOR, c.RoomSet, approval_queue=True)
    w.open_ideate(private=False)
    idea = w.post(ann, "harmless")
    w.ok(FACILITATOR, c.IdeaApprove, idea=idea)
    assert cast.screen.last("idea.approved")["idea"]["text"] == "harmless"
    w.ok(ann, c.IdeaEdit, idea=idea, text="changed after approval")
    assert w.room.ideas[idea].state == "pending"
    assert cast.screen.last("idea.edited") == {"removed": idea}
    assert "changed after approval" not in str(cast.screen.received)
    w.ok(FACILITATOR, c.IdeaApprove, idea=idea)
    assert cast.screen.last("idea.approved")["idea"]["text"] == "changed after approval"
