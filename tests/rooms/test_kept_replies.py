"""The replies an idea received stay with its credited authors after a merge (``reply_kept_for``): the
events that change such a reply reach them too, so what they see live is what their snapshot says (from
text rules 10, KEPT_REPLY_FIXES; older journals replay as they were)."""

from __future__ import annotations

from tests.rooms.helpers import FACILITATOR, Viewer, Workshop
from workshop_server.rooms import commands as c
from workshop_server.rooms.text import KEPT_REPLY_FIXES


def merged_with_an_answer() -> tuple[Workshop, str, str, str]:
    """Ann's note, answered by staff, merged into Bob's: (workshop, Ann, Bob's idea, the reply)."""
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    absorbed = w.post(ann, "A coffee machine")
    kept = w.post(bob, "Better coffee")
    w.close()
    reply = w.ok(FACILITATOR, c.ReplyPost, idea=absorbed, text="Thanks, we are on it")["reply"]["id"]
    w.ok(FACILITATOR, c.IdeaMerge, ideas=[absorbed], into=kept)
    return w, ann, kept, reply


def shown_replies(viewer: Viewer, start: set[str]) -> set[str]:
    """The replies a client holds after its events, from those its snapshot gave it."""
    held = set(start)
    for received in viewer.received:
        data = received.data
        if "removed" in data and str(data["removed"]).startswith("rp"):
            held.discard(data["removed"])
        elif isinstance(data.get("reply"), dict) and data["reply"].get("state", "visible") == "visible":
            held.add(data["reply"]["id"])
    return held


def snapshot_replies(w: Workshop, member: str) -> set[str]:
    return {r["id"] for r in w.room.snapshot(member, "participant")["replies"]}


def test_a_reply_hidden_after_a_merge_leaves_the_authors_board_live() -> None:
    """A moderator hides the (mistaken) answer to Ann's merged note: her snapshot drops it, and so
    must her open board (it kept showing it until she reloaded)."""
    w, ann, _, reply = merged_with_an_answer()
    before = snapshot_replies(w, ann)
    assert reply in before
    board = w.viewer(ann)
    w.ok(FACILITATOR, c.ReplyHide, reply=reply, reason="wrong answer")
    assert reply not in snapshot_replies(w, ann)
    assert shown_replies(board, before) == snapshot_replies(w, ann)
    w.ok(FACILITATOR, c.ReplyRestore, reply=reply)
    assert shown_replies(board, before) == snapshot_replies(w, ann) == before


def test_journals_written_before_the_kept_reply_fixes_replay_as_they_were() -> None:
    w, ann, _, reply = merged_with_an_answer()
    w.room.text_rules = KEPT_REPLY_FIXES - 1
    board = w.viewer(ann)
    w.ok(FACILITATOR, c.ReplyHide, reply=reply, reason="wrong answer")
    assert board.received == []
