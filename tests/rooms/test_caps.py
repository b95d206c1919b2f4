"""The caps on what a room holds: ideas and replies, per member and per room.

Before them, one participant posting at its rate limits (about 53 a second from one address, three
connections) added 3,200 ideas or replies a minute, each about 1 KB in every snapshot and in every
newcomer's join (10 MB after one minute of ideas; 71 -> 114 MiB of server memory, 26 MB of journal),
without end. Rooms recorded before the caps replay without them (``Limits`` defaults to 0, no cap)
until a ``_limits`` command switches them on.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.rooms.helpers import FACILITATOR, START, Workshop
from workshop_server.rooms import commands as c
from workshop_server.rooms import room as room_module
from workshop_server.rooms.room import DEDUPE_FLOOR, Room
from workshop_server.rooms.state import Limits, StoredReply, from_plain, to_plain
from workshop_server.rooms.text import LIMITS_FIXES

CAPS = ("ideas_per_member_max", "ideas_per_room_max", "replies_per_member_max", "replies_per_room_max")


def capped(**caps: int) -> Workshop:
    return Workshop(limits=Limits(**caps))


def test_a_member_cannot_post_ideas_past_its_cap_in_the_room() -> None:
    w = capped(ideas_per_member_max=3)
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate()
    w.post(ann, "1")
    w.post(ann, "2")
    w.close()
    w.open_ideate()  # the cap is for the room, every round together
    w.post(ann, "3")
    refused = w.fail(ann, c.IdeaPost, "idea_limit", text="4")
    assert "3 ideas in this room" in str(refused.error)
    w.post(bob, "Bob's")  # someone else's ideas are not counted
    withdrawn = w.post(bob, "gone")
    w.ok(bob, c.IdeaWithdraw, idea=withdrawn)
    w.post(bob, "again")


def test_a_room_cannot_hold_ideas_past_its_cap() -> None:
    w = capped(ideas_per_room_max=3)
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate()
    w.post(ann, "1")
    w.post(ann, "2")
    w.post(bob, "3")
    w.fail(bob, c.IdeaPost, "idea_limit", text="4")
    w.fail(ann, c.IdeaPost, "idea_limit", text="4")


def test_a_participant_cannot_reply_past_its_cap_but_staff_can() -> None:
    w = capped(replies_per_member_max=2)
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    idea = w.post(ann, "coffee")
    for n in range(2):
        w.ok(bob, c.ReplyPost, idea=idea, text=f"reply {n}")
    refused = w.fail(bob, c.ReplyPost, "reply_limit", idea=idea, text="one more")
    assert "2 replies" in str(refused.error)
    w.ok(ann, c.ReplyPost, idea=idea, text="Ann's own")
    for n in range(3):
        w.ok(FACILITATOR, c.ReplyPost, idea=idea, text=f"staff {n}")


def test_a_room_cannot_hold_replies_past_its_cap_staff_ones_included() -> None:
    w = capped(replies_per_room_max=3)
    ann = w.join("Ann")
    w.open_ideate(private=False)
    idea = w.post(ann, "coffee")
    w.ok(ann, c.ReplyPost, idea=idea, text="1")
    w.ok(FACILITATOR, c.ReplyPost, idea=idea, text="2")
    w.ok(ann, c.ReplyPost, idea=idea, text="3")
    w.fail(ann, c.ReplyPost, "reply_limit", idea=idea, text="4")
    w.fail(FACILITATOR, c.ReplyPost, "reply_limit", idea=idea, text="4")


def test_a_room_recorded_before_the_caps_replays_without_them_until_limits_switch_them_on() -> None:
    """A journal written before the caps: its room's recorded limits and its ``_limits`` commands have
    no cap fields. Its commands replay as they were applied (more ideas and replies than today's caps);
    a ``_limits`` with the caps holds from then on."""
    old = to_plain(Limits())
    for name in CAPS:
        del old[name]
    w = Workshop(limits=from_plain(Limits, old))
    ann = w.join("Ann")
    w.ok(
        None,
        c.SetLimits,  # as an older release journaled it
        idea_text_max=500,
        name_max=40,
        grace_seconds=2.0,
        dedupe_window_seconds=86400.0,
        dedupe_per_member=1000,
    )
    w.open_ideate(private=False)
    ideas = [w.post(ann, str(n)) for n in range(5)]
    for n in range(5):
        w.ok(ann, c.ReplyPost, idea=ideas[0], text=f"reply {n}")
    replay = w.fresh_room()
    for cmd, actor, at in w.journal:
        assert replay.handle(cmd, actor, at).error is None
    assert len(replay.ideas) == 5 and len(replay.idea_replies) == 5
    current = Limits(ideas_per_member_max=2, ideas_per_room_max=100, replies_per_member_max=2)
    w.ok(None, c.SetLimits, **{k: v for k, v in to_plain(current).items() if k in c.SetLimits.model_fields})
    assert w.room.limits == current
    w.fail(ann, c.IdeaPost, "idea_limit", text="past the new cap")
    w.fail(ann, c.ReplyPost, "reply_limit", idea=ideas[0], text="past the new cap")
    state = Room.from_state(w.room.to_state())
    assert state.limits == current  # snapshots keep the caps


# --- The replies kept for resends ------------------------------------------------------------------------
def test_the_stored_replies_of_a_room_are_capped_the_oldest_forgotten_first() -> None:
    """Each member's last ``dedupe_per_member`` (1,000) replies were kept for 24 hours, so a room of 2,000
    members could keep 2,000,000 of them; an ``idea.edit``'s is about 1.5 KB (20 members editing 1,000
    times: 29 MB, a 15 MB snapshot). ``dedupe_per_room`` bounds the room's: the oldest go first, and
    the same ones on a replay or a restored room; but never a member's last ``DEDUPE_FLOOR`` (what a
    phone back from a dead zone resends) nor the joins (a lost join answer must not make a second
    member)."""
    w = capped(dedupe_per_room=20, ideas_per_member_max=0)
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)  # the facilitator's
    for n in range(DEDUPE_FLOOR + 4):  # Ann's oldest 4 may go, her last 16 stay
        w.advance(0.01)
        w.send(ann, c.IdeaPost(id=f"a{n}", text=f"a{n}"))
    restored = Room.from_state(w.room.to_state())
    for n in range(3):
        w.advance(0.01)
        w.send(bob, c.IdeaPost(id=f"b{n}", text=f"b{n}"))
    # 1 + 20 + 3 = 24 stored for members: Ann's 4 oldest go, nothing of Bob's, the facilitator's, the joins'.
    assert list(w.room.replies[ann]) == [f"a{n}" for n in range(4, DEDUPE_FLOOR + 4)]
    assert list(w.room.replies[bob]) == ["b0", "b1", "b2"]
    assert len(w.room.replies[FACILITATOR]) == 1 and len(w.room.replies["join"]) == 2
    assert w.send(ann, c.IdeaPost(id="a4", text="a4")).duplicate  # her last 16: still resends
    again = w.send(ann, c.IdeaPost(id="a0", text="a0"))  # forgotten: a resend is now a new command
    assert not again.duplicate and again.error is None
    for n in range(3):  # a room restored from a snapshot taken before forgets the same ones
        restored.handle(c.IdeaPost(id=f"b{n}", text=f"b{n}"), bob, w.now)
    restored.handle(c.IdeaPost(id="a0", text="a0"), ann, w.now)
    assert {k: list(b) for k, b in restored.replies.items()} == {
        k: list(b) for k, b in w.room.replies.items()
    }
    replay = w.fresh_room()
    for cmd, actor, at in w.journal:
        replay.handle(cmd, actor, at)
    assert replay.to_state()["replies"] == w.room.to_state()["replies"]


def test_a_busy_room_never_forgets_a_members_last_commands() -> None:
    """However busy the room (here 40 members posting past the room's cap), a member who sent one
    command and lost the answer finds it on its resend: applied once."""
    w = capped(dedupe_per_room=50, ideas_per_member_max=0)
    quiet = w.join("Quiet")
    w.open_ideate(private=False)
    w.send(quiet, c.IdeaPost(id="mine", text="sent once, answer lost"))
    crowd = [w.join(f"P{n}") for n in range(40)]
    for k in range(5):
        for member in crowd:
            w.advance(0.001)
            w.send(member, c.IdeaPost(id=f"{member}-{k}", text=f"{member} {k}"))
    assert w.send(quiet, c.IdeaPost(id="mine", text="sent once, answer lost")).duplicate
    assert sum(1 for i in w.room.ideas.values() if i.author == quiet) == 1


def test_lowering_the_cap_forgets_the_excess_at_the_next_store() -> None:
    w = Workshop()
    ann = w.join("Ann")
    w.open_ideate(private=False)
    for n in range(50):
        w.advance(0.01)
        w.send(ann, c.IdeaPost(id=f"p{n}", text=str(n)))
    assert sum(len(book) for book in w.room.replies.values()) == 52  # no cap: the room's before the caps
    w.ok(
        None,
        c.SetLimits,
        **{k: v for k, v in to_plain(Limits(dedupe_per_room=10)).items() if k in c.SetLimits.model_fields},
    )
    w.send(ann, c.IdeaPost(id="last", text="last"))
    assert list(w.room.replies[ann]) == [f"p{n}" for n in range(35, 50)] + ["last"]  # her last 16


def test_the_word_filters_entries_in_the_moderation_log_are_capped() -> None:
    """Posting a filtered word and withdrawing it, again and again, added a ``filter.held`` entry each
    time (withdrawn ideas do not count towards the caps): about 40 MB of room state an hour, in every
    snapshot. The log keeps the filter's last ``filter_audit_max``; staff actions are all kept."""
    w = capped(filter_audit_max=3)
    ann = w.join("Ann")
    w.open_ideate(private=False)
    w.ok(FACILITATOR, c.MemberMute, member=ann)
    w.ok(FACILITATOR, c.MemberUnmute, member=ann)
    held = []
    for n in range(6):
        w.advance(1)
        idea = w.post(ann, f"you idiot {n}")
        assert w.room.ideas[idea].held == "filter"
        held.append(idea)
        if n < 5:
            w.ok(ann, c.IdeaWithdraw, idea=idea)
    actions = [(e.action, e.target) for e in w.room.audit]
    assert [t for a, t in actions if a == "filter.held"] == held[3:]
    assert [a for a, _ in actions if a != "filter.held"] == ["member.muted", "member.unmuted"]
    replay = w.fresh_room()
    for cmd, actor, at in w.journal:
        replay.handle(cmd, actor, at)
    assert replay.to_state()["audit"] == w.room.to_state()["audit"]

    uncapped = capped()  # a room recorded before the cap keeps every entry
    bob = uncapped.join("Bob")
    uncapped.open_ideate(private=False)
    for n in range(6):
        uncapped.ok(bob, c.IdeaWithdraw, idea=uncapped.post(bob, f"you idiot {n}"))
    assert sum(1 for e in uncapped.room.audit if e.action == "filter.held") == 6


def test_limits_set_every_limit_the_command_carries() -> None:
    """``_limits`` (journaled when a room loads under changed settings) sets every limit it carries.
    It left ``filter_audit_max`` out: a room created before that cap kept every entry of the word
    filter for good, a changed WORKSHOP_FILTER_AUDIT_MAX never reached an existing room, and each load
    of such a room journaled another ``_limits`` that changed nothing."""
    carried = set(c.SetLimits.model_fields) - {"id", "type"}
    assert carried <= set(Limits.__dataclass_fields__)
    w = capped()
    before = to_plain(w.room.limits)
    changed = {
        name: (value * 2 + 3 if isinstance(value, int) else value + 1.5)
        for name, value in before.items()
        if name in carried
    }
    w.ok(None, c.SetLimits, **changed)
    assert to_plain(w.room.limits) == {**before, **changed}


def test_limits_switch_the_word_filters_cap_on_in_a_room_recorded_without_it() -> None:
    """A room created before ``filter_audit_max`` (0: every entry kept) takes the cap from the
    ``_limits`` of its next load, and keeps the filter's last entries from then on. A ``_limits``
    handled under the text rules before the fix leaves it as it was (a replay gives the same room)."""
    w = capped()
    ann = w.join("Ann")
    w.open_ideate(private=False)
    plain = {k: v for k, v in to_plain(Limits(filter_audit_max=3)).items() if k in c.SetLimits.model_fields}
    w.room.text_rules = LIMITS_FIXES - 1  # an entry handled by the release before the fix
    w.ok(None, c.SetLimits, **plain)
    assert w.room.limits.filter_audit_max == 0
    w.room.text_rules = LIMITS_FIXES  # loaded again: what comes next is handled under today's rules
    for n in range(4):
        w.ok(ann, c.IdeaWithdraw, idea=w.post(ann, f"you idiot {n}"))
    assert sum(1 for e in w.room.audit if e.action == "filter.held") == 4
    w.ok(None, c.SetLimits, **plain)
    assert w.room.limits.filter_audit_max == 3
    w.ok(ann, c.IdeaWithdraw, idea=w.post(ann, "you idiot again"))
    assert sum(1 for e in w.room.audit if e.action == "filter.held") == 3


def _forget_as_specified(replies: dict[str, dict[str, StoredReply]], cap: int) -> None:
    """``dedupe_per_room`` as specified (and as first written): merge every member's book, oldest
    first (``at``, then the book's place, then the place in the book), and forget the excess, never a
    book's last ``DEDUPE_FLOOR`` nor a join's."""
    books = [book for key, book in replies.items() if key != "join"]
    excess = sum(len(book) for book in books) - cap
    candidates = [
        (stored.at, n, position, cid)
        for n, book in enumerate(books)
        for position, (cid, stored) in enumerate(list(book.items())[: max(0, len(book) - DEDUPE_FLOOR)])
    ]
    for _, n, _, cid in sorted(candidates)[: max(0, excess)]:
        del books[n][cid]


def test_a_busy_room_at_its_cap_does_not_walk_every_members_replies_on_each_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """2,000 members (``max_members_per_room``) with their last 16 replies each hold 32,000, over the
    default cap of 20,000, and none of them may be forgotten: every stored command then merged every
    member's book again (8 ms a command in the room's loop, against microseconds without the cap). Only
    the books above the floor have anything to forget: the others are passed by."""
    w = capped(dedupe_per_room=20)
    room = w.room
    for m in range(2, 40):
        book = {f"m{m}-{k}": StoredReply(at=START + k, result={}) for k in range(DEDUPE_FLOOR)}
        room.replies[f"m{m}"] = book
    walked: list[int] = []
    real = room_module._in_order

    def counting(n: int, book: dict[str, StoredReply]) -> Any:
        walked.append(n)
        return real(n, book)

    monkeypatch.setattr(room_module, "_in_order", counting)
    room._store_reply("m5", "new", "ping", {}, START + 100)
    assert len(walked) == 1, f"walked {len(walked)} books to forget at most one reply"
    assert list(room.replies["m5"]) == [f"m5-{k}" for k in range(1, DEDUPE_FLOOR)] + ["new"]


def test_the_room_forgets_the_stored_replies_the_specification_says() -> None:
    """Whatever the books look like (equal times across books, books above and at the floor, joins),
    the room forgets exactly what the specification says: a replay of an older journal, or a restored
    snapshot, forgets the same."""
    rng = random.Random(8)
    for _ in range(200):
        replies: dict[str, dict[str, StoredReply]] = {}
        keys = [f"m{n}" for n in range(rng.randint(1, 8))] + ["join"]
        rng.shuffle(keys)
        for key in keys:
            at = 0.0
            book = replies.setdefault(key, {})
            for k in range(rng.randint(1, 40)):
                at += rng.choice((0.0, 0.5, 1.0))
                book[f"{key}-{k}"] = StoredReply(at=at, result={})
        cap = rng.randint(1, 150)
        expected = {k: dict(b) for k, b in replies.items()}
        _forget_as_specified(expected, cap)
        w = capped(dedupe_per_room=cap)
        w.room.replies = {k: dict(b) for k, b in replies.items()}
        w.room._forget_oldest_replies(cap)
        assert {k: list(b) for k, b in w.room.replies.items()} == {k: list(b) for k, b in expected.items()}
