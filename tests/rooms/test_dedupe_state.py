"""Resends are de-duplicated; the whole state survives a snapshot; the same journal gives the same events."""

from __future__ import annotations

import copy
from typing import Any

import msgpack
import pytest

from tests.rooms.helpers import FACILITATOR, MODERATOR_INVITE, Workshop, state_without_clock
from workshop_server.rooms import commands as c
from workshop_server.rooms.events import Outcome
from workshop_server.rooms.room import Room
from workshop_server.rooms.state import Limits, RoomConfig, hash_passphrase


def outcome_key(out: Outcome) -> tuple[Any, ...]:
    """Everything an outcome carries, as plain data."""
    error = None if out.error is None else (out.error.code, out.error.message)
    return (
        out.result,
        [e.to_dict() for e in out.events],
        [e.to_dict() for e in out.effects],
        error,
        out.duplicate,
    )


def ideate_room(limits: Limits | None = None) -> tuple[Workshop, str, str]:
    w = Workshop(limits=limits)
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False, duration=None)
    return w, ann, bob


# --- Dedupe ------------------------------------------------------------------------------------------
def test_resend_returns_the_same_result_and_emits_nothing() -> None:
    w, ann, _ = ideate_room()
    post = c.IdeaPost(id="same", text="once")
    first = w.send(ann, post)
    assert first.error is None and not first.duplicate and first.events
    w.advance(5)
    before = state_without_clock(w.room)
    again = w.send(ann, post)
    assert again.duplicate
    assert again.result == first.result
    assert again.events == [] and again.effects == [] and again.error is None
    assert state_without_clock(w.room) == before
    assert [i.text for i in w.room.ideas.values()] == ["once"]


def test_the_id_alone_identifies_a_resend() -> None:
    w, ann, _ = ideate_room()
    first = w.send(ann, c.IdeaPost(id="same", text="once"))
    again = w.send(ann, c.IdeaPost(id="same", text="a different text"))
    assert again.duplicate and again.result == first.result
    assert [i.text for i in w.room.ideas.values()] == ["once"]


def test_another_command_with_the_id_of_an_applied_one_is_refused_not_answered() -> None:
    """Found by review: a command sent with the id of another, applied one was answered with that one's
    result, so the shell took a participant's erasure (or rotation) for done when nothing was."""
    w, ann, _ = ideate_room()
    w.send(ann, c.IdeaPost(id="same", text="once"))
    refused = w.fail_cmd(ann, c.MemberErase(id="same"), "invalid_command")
    assert refused.error is not None and "idea.post" in refused.error.message
    assert not w.room.members[ann].erased
    assert w.send(ann, c.IdeaPost(id="same", text="once")).duplicate  # the real resend still is one
    # A reply stored before the command's type was kept (an older snapshot) is not checked.
    w.room.replies[ann]["same"].command = ""
    assert w.send(ann, c.MemberErase(id="same")).duplicate


def test_another_actor_with_the_same_id_is_applied() -> None:
    w, ann, bob = ideate_room()
    first = w.send(ann, c.IdeaPost(id="same", text="Ann's"))
    second = w.send(bob, c.IdeaPost(id="same", text="Bob's"))
    assert not second.duplicate and second.error is None
    assert second.result != first.result
    assert [(i.author, i.text) for i in w.room.ideas.values()] == [(ann, "Ann's"), (bob, "Bob's")]


def test_moderation_resends_are_deduplicated_too() -> None:
    w, ann, _ = ideate_room()
    mute = c.MemberMute(id="m", member=ann, reason="spam")
    first = w.send(FACILITATOR, mute)
    audit = list(w.room.audit)
    again = w.send(FACILITATOR, mute)
    assert again.duplicate and again.error is None and again.result == first.result
    assert w.room.audit == audit


def test_entries_beyond_the_per_member_cap_are_forgotten() -> None:
    w, ann, _ = ideate_room(Limits(dedupe_per_member=3))
    for n in range(1, 5):
        w.send(ann, c.IdeaPost(id=f"p{n}", text=f"idea {n}"))
    assert list(w.room.replies[ann]) == ["p2", "p3", "p4"]
    assert w.send(ann, c.IdeaPost(id="p2", text="idea 2")).duplicate
    assert w.send(ann, c.IdeaPost(id="p4", text="idea 4")).duplicate
    forgotten = w.send(ann, c.IdeaPost(id="p1", text="idea 1"))
    assert not forgotten.duplicate and forgotten.error is None
    assert len(w.room.ideas) == 5
    assert list(w.room.replies[ann]) == ["p3", "p4", "p1"]


def test_entries_older_than_the_window_are_forgotten() -> None:
    w, ann, _ = ideate_room(Limits(dedupe_window_seconds=60))
    post = c.IdeaPost(id="p", text="idea")
    w.send(ann, post)
    w.advance(60)
    assert w.send(ann, post).duplicate  # exactly at the window: still remembered
    w.advance(0.001)
    late = w.send(ann, post)
    assert not late.duplicate and late.error is None
    assert len(w.room.ideas) == 2


def test_old_entries_are_pruned_when_new_ones_are_stored() -> None:
    w, ann, _ = ideate_room(Limits(dedupe_window_seconds=60))
    w.send(ann, c.IdeaPost(id="old", text="1"))
    w.advance(30)
    w.send(ann, c.IdeaPost(id="mid", text="2"))
    w.advance(31)
    w.send(ann, c.IdeaPost(id="new", text="3"))
    assert list(w.room.replies[ann]) == ["mid", "new"]


def test_a_failed_command_is_not_stored() -> None:
    w = Workshop()
    ann = w.join("Ann")
    w.open_ideate(private=False)
    idea = w.post(ann)
    w.close()
    w.open_vote(budget=1)
    w.vote(ann, idea)
    retry = c.VoteAdd(id="retry", idea=idea)
    refused = w.send(ann, retry)
    assert refused.error is not None and refused.error.code == "vote_budget_exceeded"
    assert "retry" not in w.room.replies[ann]
    w.ok(ann, c.VoteRemove, idea=idea)
    accepted = w.send(ann, retry)
    assert accepted.error is None and not accepted.duplicate
    assert accepted.result["my_dots"] == 1


def test_a_command_refused_while_paused_succeeds_when_resent_after_resume() -> None:
    w, ann, _ = ideate_room()
    w.ok(FACILITATOR, c.RoundPause)
    post = c.IdeaPost(id="p", text="patience")
    assert w.send(ann, post).error is not None
    w.ok(FACILITATOR, c.RoundResume)
    out = w.send(ann, post)
    assert out.error is None and not out.duplicate


def test_a_resend_still_lets_the_clock_close_a_due_round() -> None:
    w = Workshop()
    ann = w.join("Ann")
    w.open_ideate(private=False, duration=60)
    post = c.IdeaPost(id="p", text="in time")
    first = w.send(ann, post)
    w.advance(60 + w.room.limits.grace_seconds)
    again = w.send(ann, post)
    assert again.duplicate and again.result == first.result
    assert [e.name for e in again.events] == ["round.closed"]


def test_stored_replies_survive_a_snapshot() -> None:
    w, ann, _ = ideate_room()
    post = c.IdeaPost(id="p", text="idea")
    first = w.send(ann, post)
    restored = Room.from_state(copy.deepcopy(w.room.to_state()))
    again = restored.handle(post, ann, w.now)
    assert again.duplicate and again.result == first.result


def test_a_join_resent_after_a_lost_reply_gives_the_same_member() -> None:
    w = Workshop()
    first = w.enter("Ann", cid="join-1")
    assert first.error is None
    before = state_without_clock(w.room)
    again = w.enter("Ann", cid="join-1")
    assert again.duplicate and again.result == first.result and again.events == []
    assert state_without_clock(w.room) == before


def test_joins_keep_more_entries() -> None:
    w = Workshop(limits=Limits(dedupe_per_member=2))
    for n in range(41):
        w.enter(f"P{n}", cid=f"j{n}")
    assert len(w.room.replies["join"]) == 40
    assert "j0" not in w.room.replies["join"]


def test_a_join_resend_is_recognised_by_its_id_alone() -> None:
    """protocol.md, "Join ids are secrets": a resent join id returns its member without new checks."""
    salt = "s"
    w = Workshop(
        RoomConfig(
            title="W", access="passphrase", passphrase_salt=salt, passphrase_hash=hash_passphrase("pw", salt)
        )
    )
    join_id = "0123456789abcdef0123456789abcdef"
    first = w.enter("Ann", passphrase="pw", cid=join_id)
    assert first.error is None
    w.ok(FACILITATOR, c.RoomSet, locked=True)
    again = w.enter("Somebody else", passphrase="wrong", accept_rules=7, cid=join_id)
    assert again.duplicate and again.error is None
    assert again.result == first.result
    assert len(w.room.members) == 2


def test_stored_tells_the_journal_that_a_reply_was_remembered() -> None:
    w, ann, _ = ideate_room()
    post = c.IdeaPost(id="p", text="idea")
    assert w.send(ann, post).stored
    assert not w.send(ann, post).stored  # a resend stores nothing new
    assert not w.do(ann, c.IdeaEdit, idea="i99", text="x").stored  # refused
    assert not w.tick().stored
    assert w.enter("Zoe").stored
    assert not w.send(None, c.Presence(id="p", came=(ann,))).stored
    no_change = w.command(c.RoomSet, locked=False)
    out = w.send(FACILITATOR, no_change)  # changes nothing and emits nothing, yet its reply is remembered
    assert out.error is None and out.events == [] and out.stored
    assert no_change.id in w.room.replies[FACILITATOR]


# --- Snapshots of the whole state ---------------------------------------------------------------------
def busy_workshop(*, end: bool = False) -> Workshop:
    """A room with something of everything in its state: statuses, invites, audit, dots, replies..."""
    salt = "s"
    w = Workshop(
        RoomConfig(
            title="Busy",
            brief="brief",
            rules="be kind",
            rules_version=2,
            access="passphrase",
            passphrase_salt=salt,
            passphrase_hash=hash_passphrase("pw", salt),
            anonymous=True,
            locale="fr",
        ),
        limits=Limits(idea_text_max=80, dedupe_per_member=5),
    )
    mod = w.join("Mo", invite=MODERATOR_INVITE, accept_rules=2)
    invite = w.ok(FACILITATOR, c.InviteCreate, label="Ann")["invite"]["id"]
    ann = w.join("Ann", invite=invite, passphrase="pw", accept_rules=2)
    bob = w.join("Bob", passphrase="pw", accept_rules=2)
    cat = w.join("Cat", passphrase="pw", accept_rules=2)
    w.send(None, c.Presence(id="p", came=(ann, bob, mod), screens=2))
    w.ok(mod, c.MemberMute, member=cat, reason="shouting")
    w.open_ideate(private=True, max_ideas=3, duration=120)
    ideas = [w.post(who, f"{who} idea {k}", color="green") for k in range(2) for who in (ann, bob)]
    w.ok(ann, c.IdeaEdit, idea=ideas[0], text="edited", color="purple")
    w.ok(mod, c.IdeaHide, idea=ideas[1], reason="dup")
    w.ok(mod, c.RoomSet, approval_queue=True)
    w.post(bob, "pending one")
    w.advance(200)
    w.tick()  # closed and revealed by the timer
    w.ok(mod, c.RoomSet, locked=True, approval_queue=False)
    w.open_vote(budget=4, max_per_idea=2, duration=300)
    w.vote(ann, ideas[2], times=2)
    w.vote(bob, ideas[3])
    w.fail(cat, c.VoteAdd, "muted", idea=ideas[0])
    w.ok(mod, c.MemberRemove, member=bob, reason="spam")
    w.advance(10)
    w.ok(FACILITATOR, c.RoundPause)
    if end:
        w.ok(FACILITATOR, c.SessionEnd)
    return w


@pytest.mark.parametrize("end", [False, True], ids=["mid-vote", "ended"])
def test_state_round_trip(end: bool) -> None:
    w = busy_workshop(end=end)
    state = w.room.to_state()
    restored = Room.from_state(copy.deepcopy(state))
    assert restored.to_state() == state
    assert restored.phase == w.room.phase
    assert restored.snapshot(FACILITATOR, "facilitator") == w.room.snapshot(FACILITATOR, "facilitator")
    assert restored.snapshot(None, "screen") == w.room.snapshot(None, "screen")


@pytest.mark.parametrize("end", [False, True], ids=["mid-vote", "ended"])
def test_state_round_trip_through_msgpack(end: bool) -> None:
    w = busy_workshop(end=end)
    state = w.room.to_state()
    packed = msgpack.packb(state, use_bin_type=True)
    restored = Room.from_state(msgpack.unpackb(packed, raw=False))
    assert restored.to_state() == state


def test_a_restored_room_carries_on_exactly_like_the_original() -> None:
    w = busy_workshop()
    restored = Room.from_state(msgpack.unpackb(msgpack.packb(w.room.to_state()), raw=False))
    ann, cat = "m3", "m5"
    assert w.room.members[ann].name == "Ann" and w.room.members[cat].name == "Cat"
    rest = [
        (c.RoundResume(id="r1"), FACILITATOR, 5.0),
        (c.VoteAdd(id="v1", idea="i3"), ann, 6.0),
        (c.VoteAdd(id="v1", idea="i3"), ann, 7.0),  # a resend
        (c.VoteRemove(id="v2", idea="i3"), ann, 8.0),
        (c.MemberUnmute(id="u", member=cat), FACILITATOR, 9.0),
        (c.VoteAdd(id="v3", idea="i1"), cat, 10.0),
        (c.Tick(id="tick"), None, 1000.0),
        (c.RoundOpen(id="o", kind="ideate", prompt="next"), FACILITATOR, 1001.0),
        (c.IdeaPost(id="p", text="more"), ann, 1002.0),
    ]
    for cmd, actor, offset in rest:
        now = w.now + offset
        assert outcome_key(w.room.handle(cmd, actor, now)) == outcome_key(restored.handle(cmd, actor, now))
    assert restored.to_state() == w.room.to_state()


def test_from_state_can_take_new_limits() -> None:
    w = busy_workshop()
    limits = Limits(idea_text_max=5)
    restored = Room.from_state(w.room.to_state(), limits=limits)
    assert restored.limits == limits
    assert restored.to_state()["limits"]["idea_text_max"] == 5


# --- Determinism ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("end", [False, True], ids=["mid-vote", "ended"])
def test_replaying_the_journal_gives_identical_events(end: bool) -> None:
    w = busy_workshop(end=end)
    replica = w.fresh_room()
    events = []
    for cmd, actor, now in w.journal:
        out = replica.handle(cmd, actor, now)
        events.extend(out.events)
    assert [e.to_dict() for e in events] == [e.to_dict() for e in w.events]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert replica.to_state() == w.room.to_state()


def test_replay_gives_identical_outcomes_one_by_one() -> None:
    first = busy_workshop()
    second = first.fresh_room()
    third = first.fresh_room()
    for cmd, actor, now in first.journal:
        assert outcome_key(second.handle(cmd, actor, now)) == outcome_key(third.handle(cmd, actor, now))
    assert second.to_state() == third.to_state() == first.room.to_state()
