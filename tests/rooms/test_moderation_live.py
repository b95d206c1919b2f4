"""Live moderation: what a review found (each test failed before; the shadow-mute rules apply from text
rules 7, SHADOW_FIXES, and older journals replay as they were)."""

from __future__ import annotations

import pytest

from tests.rooms.helpers import FACILITATOR, Workshop
from workshop_server.rooms import commands as c
from workshop_server.rooms.events import view_for
from workshop_server.rooms.text import SHADOW_FIXES


def test_a_removed_member_receives_nothing_after_member_removed() -> None:
    """protocol.md `member.removed`: the member's connections get this event and nothing after it."""
    w = Workshop()
    ann = w.join("Ann")
    w.open_ideate(private=False)
    w.ok(FACILITATOR, c.RoomSet, approval_queue=True)
    idea = w.post(ann, "waiting for approval")
    w.ok(FACILITATOR, c.RoomSet, approval_queue=False)
    visible = w.post(ann, "on the wall")
    w.ok(ann, c.ReplyPost, idea=visible, text="a reply")  # visible
    w.ok(FACILITATOR, c.RoomSet, approval_queue=True)
    w.ok(ann, c.ReplyPost, idea=visible, text="a pending reply")
    outcome = w.do(FACILITATOR, c.MemberRemove, member=ann, reason="trolling")
    assert outcome.error is None
    removed = next(e for e in outcome.events if e.name == "member.removed")
    close = next(e for e in outcome.effects if e.kind == "close")
    delivered_after = [
        e.name
        for e in outcome.events
        if removed.seq < e.seq <= close.after and view_for(e.views, ann, "lobby") is not None
    ]
    assert w.room.ideas[idea].state == "hidden"
    assert delivered_after == [], f"the removed member still gets {delivered_after} after member.removed"


def test_a_shadow_muted_member_cannot_publish_by_editing_an_earlier_idea() -> None:
    """Shadow mute: the member's new text is seen by itself and staff only. Editing an idea posted
    before the shadow mute publishes the new text to everyone."""
    w = Workshop()
    troll, bob = w.join("Troll"), w.join("Bob")
    w.open_ideate(private=False)
    idea = w.post(troll, "a harmless idea")
    w.ok(FACILITATOR, c.MemberShadowMute, member=troll, reason="trolling")
    other, screen = w.viewer(bob), w.screen()
    w.ok(troll, c.IdeaEdit, idea=idea, text="everyone here is a clown")
    assert "everyone here is a clown" not in other.texts()
    assert "everyone here is a clown" not in screen.texts()


def idea_under_a_shadow_mute(*, lift: bool) -> tuple[Workshop, str]:
    """Ann, shadow-muted, posts an idea on an open wall; ``lift``: the shadow mute is then lifted."""
    w = Workshop()
    ann = w.join("Ann")
    w.open_ideate(private=False)
    w.ok(FACILITATOR, c.MemberShadowMute, member=ann)
    idea = w.post(ann, "a good idea")
    if lift:
        w.ok(FACILITATOR, c.MemberShadowMute, member=ann, on=False)
    return w, idea


@pytest.mark.parametrize("hidden_first", [True, False])
def test_ideas_posted_under_a_mistaken_shadow_mute_can_be_published_again(hidden_first: bool) -> None:
    """Once a (mistaken) shadow mute is lifted, a moderator had no command that published the ideas
    posted during it (idea.restore/approve kept `shadowed`): restoring one now publishes it, hidden or not."""
    w, idea = idea_under_a_shadow_mute(lift=True)
    assert not w.room.publicly_visible(w.room.ideas[idea])
    if hidden_first:
        w.ok(FACILITATOR, c.IdeaHide, idea=idea, reason="x")
    w.ok(FACILITATOR, c.IdeaRestore, idea=idea)
    assert w.room.publicly_visible(w.room.ideas[idea])


def test_journals_written_before_the_shadow_fixes_replay_as_they_were() -> None:
    w, idea = idea_under_a_shadow_mute(lift=False)
    w.room.text_rules = SHADOW_FIXES - 1  # entries handled under text rules 6
    w.fail(FACILITATOR, c.IdeaRestore, "invalid_transition", idea=idea)
    w.room.text_rules = SHADOW_FIXES
    w.ok(FACILITATOR, c.IdeaRestore, idea=idea)
