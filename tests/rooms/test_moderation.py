"""Moderation: mute, remove and unban, the protected facilitator, hide and restore, and the audit log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.rooms.helpers import FACILITATOR, MODERATOR_INVITE, Viewer, Workshop, has_key
from workshop_server.close_codes import CloseCode
from workshop_server.rooms import commands as c
from workshop_server.rooms import views
from workshop_server.rooms.events import LOBBY, PUBLIC, STAFF, Effect
from workshop_server.rooms.state import AuditEntry, RoomConfig
from workshop_server.rooms.text import STAFF_FORM_FIXES, TEXT_RULES


def moderated_room() -> tuple[Workshop, str, str, str]:
    """A moderator, two participants (Ann with a personal invite) and an open, public ideate round."""
    w = Workshop()
    mod = w.moderator()
    invite = w.ok(FACILITATOR, c.InviteCreate, label="Ann")["invite"]["id"]
    ann = w.join("Ann", invite=invite)
    bob = w.join("Bob")
    w.open_ideate(private=False)
    return w, mod, ann, bob


# --- Mute ----------------------------------------------------------------------------------------------
def test_mute_silences_posts_edits_and_votes_but_not_withdrawals() -> None:
    w, mod, ann, bob = moderated_room()
    target, other, screen, staff = w.viewer(ann), w.viewer(bob), w.screen(), w.viewer(FACILITATOR)
    kept = w.post(ann, "kept")
    gone = w.post(ann, "to withdraw")
    w.advance(1)
    result = w.ok(mod, c.MemberMute, member=ann, reason="  spam  ")
    assert result["member"]["muted"] is True and result["member"]["mute_reason"] == "spam"
    member = w.room.members[ann]
    assert (member.muted, member.mute_reason, member.status) == (True, "spam", "active")
    own = target.last("member.muted")
    assert own["reason"] == "spam" and own["member"]["muted"] is True and "audit" not in own
    assert staff.last("member.muted")["audit"] == {
        "at": w.now,
        "actor": mod,
        "action": "member.muted",
        "target": ann,
        "reason": "spam",
    }
    assert "member.muted" not in other.names() + screen.names()
    silenced: list[tuple[type[c.Command], dict[str, Any]]] = [
        (c.IdeaPost, {"text": "more"}),
        (c.IdeaEdit, {"idea": kept, "text": "changed"}),
    ]
    for cls, fields in silenced:
        out = w.fail(ann, cls, "muted", **fields)
        assert out.error is not None and "spam" in out.error.message
    w.ok(ann, c.IdeaWithdraw, idea=gone)
    w.post(bob, "bob is not muted")
    w.fail(mod, c.MemberMute, "invalid_transition", member=ann)
    w.close()
    w.open_vote()
    w.fail(ann, c.VoteAdd, "muted", idea=kept)


def test_mute_without_reason() -> None:
    w, mod, ann, _ = moderated_room()
    w.ok(mod, c.MemberMute, member=ann)
    out = w.fail(ann, c.IdeaPost, "muted", text="x")
    assert out.error is not None and "muted you." in out.error.message


def test_unmute() -> None:
    w, mod, ann, _ = moderated_room()
    target = w.viewer(ann)
    w.fail(mod, c.MemberUnmute, "invalid_transition", member=ann)
    w.ok(mod, c.MemberMute, member=ann, reason="cool down")
    result = w.ok(FACILITATOR, c.MemberUnmute, member=ann)
    assert result["member"]["muted"] is False and result["member"]["mute_reason"] == ""
    assert target.last("member.unmuted")["member"]["muted"] is False
    w.post(ann, "back")
    w.fail(mod, c.MemberUnmute, "invalid_transition", member=ann)


def test_muted_snapshot_says_why() -> None:
    w, mod, ann, _ = moderated_room()
    w.ok(mod, c.MemberMute, member=ann, reason="spam")
    me = w.room.snapshot(ann, "participant")["me"]
    assert me["muted"] is True and me["mute_reason"] == "spam"


# --- Remove and unban -----------------------------------------------------------------------------------
def test_remove_bans_closes_and_the_personal_invite_cannot_rejoin() -> None:
    w, mod, ann, bob = moderated_room()
    invite = w.room.members[ann].invite
    assert invite is not None
    target, other, staff = w.viewer(ann), w.viewer(bob), w.viewer(FACILITATOR)
    idea = w.post(ann, "before")
    w.send(None, c.Presence(id="p1", came=(ann, bob)))
    out = w.do(mod, c.MemberRemove, member=ann, reason=" abuse ")
    assert out.error is None
    assert [e.name for e in out.events] == ["member.removed", "presence"]
    # Ann's connections get her removal and nothing after it (not the presence event).
    assert out.effects == [Effect("close", ann, CloseCode.REMOVED, "abuse", after=out.events[0].seq)]
    assert w.room.members[ann].status == "banned"
    assert not w.room.invites[invite].revoked  # still bound to the banned member: see below
    assert ann not in w.room.online
    assert w.room.audience_of(ann, "participant") == LOBBY
    assert target.last("member.removed")["reason"] == "abuse"
    assert staff.last("member.removed")["audit"]["action"] == "member.removed"
    assert "member.removed" not in other.names()
    assert other.last("presence")["participants"] == 1
    assert staff.last("presence")["left"] == [ann]
    # The member can send nothing at all, and cannot come back with the invite.
    refused: list[tuple[type[c.Command], dict[str, Any]]] = [
        (c.IdeaPost, {"text": "again"}),
        (c.IdeaWithdraw, {"idea": idea}),
        (c.VoteRemove, {"idea": idea}),
    ]
    for cls, fields in refused:
        w.fail(ann, cls, "banned", **fields)
    w.join_fail("banned", "Ann", invite=invite)
    # Nothing shared reaches the removed member any more.
    target.clear()
    w.post(bob, "after")
    w.close()
    assert target.received == []
    w.fail(mod, c.MemberRemove, "invalid_transition", member=ann)


def test_unban_restores_the_member_and_the_invite() -> None:
    w, mod, ann, _ = moderated_room()
    invite = w.room.members[ann].invite
    assert invite is not None
    w.fail(mod, c.MemberUnban, "invalid_transition", member=ann)
    w.ok(mod, c.MemberRemove, member=ann)
    result = w.ok(FACILITATOR, c.MemberUnban, member=ann)
    assert result["member"]["status"] == "active"
    assert w.room.members[ann].status == "active"
    assert not w.room.invites[invite].revoked
    assert w.join("Ann", invite=invite) == ann
    w.post(ann, "I'm back")
    w.fail(mod, c.MemberUnban, "invalid_transition", member=ann)


def test_unban_does_not_bring_back_an_invite_the_facilitator_revoked() -> None:
    """A leaked personal invite, revoked on purpose, stays revoked through a removal and an unban."""
    w, mod, ann, _ = moderated_room()
    invite = w.room.members[ann].invite
    assert invite is not None
    w.ok(FACILITATOR, c.InviteRevoke, invite=invite)
    w.ok(mod, c.MemberRemove, member=ann)
    w.ok(FACILITATOR, c.MemberUnban, member=ann)
    assert w.room.invites[invite].revoked
    w.join_fail("invite_revoked", "Ann", invite=invite)


def test_removing_a_code_mode_participant() -> None:
    w, mod, _, bob = moderated_room()
    assert w.room.members[bob].invite is None
    w.ok(mod, c.MemberRemove, member=bob)
    w.fail(bob, c.IdeaPost, "banned", text="x")


def test_removing_a_moderator_keeps_the_shared_moderator_invite() -> None:
    w, mod, _, _ = moderated_room()
    other_mod = w.moderator("Max")
    w.ok(other_mod, c.MemberRemove, member=mod)
    assert not w.room.invites[MODERATOR_INVITE].revoked
    w.fail(mod, c.MemberMute, "banned", member=other_mod)
    w.fail(mod, c.RoomSet, "banned", locked=True)


def test_a_moderator_cannot_remove_themself() -> None:
    w, mod, _, _ = moderated_room()
    w.fail(mod, c.MemberRemove, "forbidden", member=mod)


# --- The facilitator is out of reach --------------------------------------------------------------------
MEMBER_ACTS: list[tuple[type[c.Command], dict[str, Any]]] = [
    (c.MemberMute, {"reason": "x"}),
    (c.MemberUnmute, {}),
    (c.MemberRemove, {"reason": "x"}),
    (c.MemberUnban, {}),
    (c.MemberAdmit, {}),
    (c.MemberReject, {}),
]


@pytest.mark.parametrize(("cls", "fields"), MEMBER_ACTS, ids=[a[0].__name__ for a in MEMBER_ACTS])
@pytest.mark.parametrize("actor", ["moderator", "facilitator"])
def test_the_facilitator_cannot_be_moderated(
    cls: type[c.Command], fields: dict[str, Any], actor: str
) -> None:
    w, mod, _, _ = moderated_room()
    w.fail(mod if actor == "moderator" else FACILITATOR, cls, "forbidden", member=FACILITATOR, **fields)
    assert w.room.members[FACILITATOR].status == "active"


@pytest.mark.parametrize(("cls", "fields"), MEMBER_ACTS, ids=[a[0].__name__ for a in MEMBER_ACTS])
def test_unknown_members_are_not_found(cls: type[c.Command], fields: dict[str, Any]) -> None:
    w, mod, _, _ = moderated_room()
    w.fail(mod, cls, "not_found", member="m99", **fields)


@pytest.mark.parametrize("cls", [c.IdeaHide, c.IdeaRestore, c.IdeaApprove])
def test_unknown_ideas_are_not_found(cls: type[c.Command]) -> None:
    w, mod, _, _ = moderated_room()
    w.fail(mod, cls, "not_found", idea="i99")


# --- Hide and restore -------------------------------------------------------------------------------------
def test_hide_and_restore_a_public_idea() -> None:
    w, mod, ann, bob = moderated_room()
    author, other, screen, staff = w.viewer(ann), w.viewer(bob), w.screen(), w.viewer(FACILITATOR)
    idea = w.post(ann, "rude words")
    w.advance(2)
    result = w.ok(mod, c.IdeaHide, idea=idea, reason=" off topic ")
    assert result["idea"]["state"] == "hidden" and result["idea"]["hide_reason"] == "off topic"
    assert w.room.ideas[idea].state == "hidden"
    own = author.last("idea.hidden")
    assert own["idea"]["hide_reason"] == "off topic" and own["idea"]["text"] == "rude words"
    assert "audit" not in own
    assert staff.last("idea.hidden")["idea"]["hide_reason"] == "off topic"
    assert staff.last("idea.hidden")["audit"] == {
        "at": w.now,
        "actor": mod,
        "action": "idea.hidden",
        "target": idea,
        "reason": "off topic",
    }
    assert other.last("idea.hidden") == screen.last("idea.hidden") == {"removed": idea}
    assert idea not in [i["id"] for i in w.room.snapshot(bob, "participant")["ideas"]]
    mine = [i for i in w.room.snapshot(ann, "participant")["ideas"] if i["id"] == idea]
    assert mine and mine[0]["hide_reason"] == "off topic"
    w.fail(mod, c.IdeaHide, "invalid_transition", idea=idea)
    # Restore: back on the wall, reason gone.
    w.ok(FACILITATOR, c.IdeaRestore, idea=idea)
    assert w.room.ideas[idea].state == "visible" and w.room.ideas[idea].hide_reason == ""
    restored = screen.last("idea.restored")["idea"]
    assert restored["text"] == "rude words" and restored["state"] == "visible"
    assert "hide_reason" not in author.last("idea.restored")["idea"]
    assert staff.last("idea.restored")["audit"]["action"] == "idea.restored"
    w.fail(mod, c.IdeaRestore, "invalid_transition", idea=idea)


def test_hide_in_a_private_round_tells_only_staff_and_author() -> None:
    w, mod, ann, bob = moderated_room()
    w.close()
    w.open_ideate(private=True)
    author, other, screen = w.viewer(ann), w.viewer(bob), w.screen()
    idea = w.post(ann, "secret")
    out = w.do(mod, c.IdeaHide, idea=idea, reason="nope")
    assert set(out.events[0].views) == {STAFF, f"m:{ann}"}
    assert author.last("idea.hidden")["idea"]["hide_reason"] == "nope"
    w.ok(mod, c.IdeaRestore, idea=idea)
    assert other.received == [] and screen.received == []
    w.close()
    assert screen.texts() == ["secret"]


def test_hidden_ideas_are_left_out_of_the_reveal() -> None:
    w, mod, ann, bob = moderated_room()
    w.close()
    w.open_ideate(private=True)
    screen = w.screen()
    hidden = w.post(ann, "hidden")
    w.post(bob, "shown")
    w.ok(mod, c.IdeaHide, idea=hidden)
    w.close()
    assert screen.texts() == ["shown"]
    w.ok(mod, c.IdeaRestore, idea=hidden)
    assert screen.last("idea.restored")["idea"]["text"] == "hidden"


def test_participants_cannot_moderate() -> None:
    w, _, ann, bob = moderated_room()
    idea = w.post(bob, "x")
    w.fail(ann, c.MemberMute, "forbidden", member=bob)
    w.fail(ann, c.MemberRemove, "forbidden", member=bob)
    w.fail(ann, c.IdeaHide, "forbidden", idea=idea)
    w.fail(ann, c.RoomSet, "forbidden", locked=True)


# --- The audit log ---------------------------------------------------------------------------------------
@dataclass
class Act:
    """One moderation act: preparation, then the act itself, and the audit entries it should add."""

    name: str
    prepare: Callable[[Workshop, dict[str, str]], None]
    command: Callable[[dict[str, str]], tuple[type[c.Command], dict[str, Any]]]
    event: str
    entries: Callable[[dict[str, str]], list[tuple[str, str, str]]]  # (action, target, reason)


def nothing(w: Workshop, ids: dict[str, str]) -> None:
    return None


def ann_muted(w: Workshop, ids: dict[str, str]) -> None:
    w.ok(FACILITATOR, c.MemberMute, member=ids["ann"])


def ann_removed(w: Workshop, ids: dict[str, str]) -> None:
    w.ok(FACILITATOR, c.MemberRemove, member=ids["ann"])


def idea_hidden(w: Workshop, ids: dict[str, str]) -> None:
    w.ok(FACILITATOR, c.IdeaHide, idea=ids["idea"])


ACTS = [
    Act(
        "mute",
        nothing,
        lambda ids: (c.MemberMute, {"member": ids["ann"], "reason": "spam"}),
        "member.muted",
        lambda ids: [("member.muted", ids["ann"], "spam")],
    ),
    Act(
        "unmute",
        ann_muted,
        lambda ids: (c.MemberUnmute, {"member": ids["ann"]}),
        "member.unmuted",
        lambda ids: [("member.unmuted", ids["ann"], "")],
    ),
    Act(
        "remove",
        nothing,
        lambda ids: (c.MemberRemove, {"member": ids["ann"], "reason": "abuse"}),
        "member.removed",
        lambda ids: [("member.removed", ids["ann"], "abuse")],
    ),
    Act(
        "unban",
        ann_removed,
        lambda ids: (c.MemberUnban, {"member": ids["ann"]}),
        "member.unbanned",
        lambda ids: [("member.unbanned", ids["ann"], "")],
    ),
    Act(
        "admit",
        nothing,
        lambda ids: (c.MemberAdmit, {"member": ids["wes"]}),
        "member.admitted",
        lambda ids: [("member.admitted", ids["wes"], "")],
    ),
    Act(
        "reject",
        nothing,
        lambda ids: (c.MemberReject, {"member": ids["wes"], "reason": "unknown"}),
        "member.rejected",
        lambda ids: [("member.rejected", ids["wes"], "unknown")],
    ),
    Act(
        "hide",
        nothing,
        lambda ids: (c.IdeaHide, {"idea": ids["idea"], "reason": "off topic"}),
        "idea.hidden",
        lambda ids: [("idea.hidden", ids["idea"], "off topic")],
    ),
    Act(
        "restore",
        idea_hidden,
        lambda ids: (c.IdeaRestore, {"idea": ids["idea"]}),
        "idea.restored",
        lambda ids: [("idea.restored", ids["idea"], "")],
    ),
    Act(
        "approve",
        nothing,
        lambda ids: (c.IdeaApprove, {"idea": ids["pending"]}),
        "idea.approved",
        lambda ids: [("idea.approved", ids["pending"], "")],
    ),
    Act(
        "lock",
        nothing,
        lambda ids: (c.RoomSet, {"locked": True}),
        "room.updated",
        lambda ids: [("room.lock", "ROOM42", "")],
    ),
    Act(
        "lock and queue off",
        nothing,
        lambda ids: (c.RoomSet, {"locked": True, "approval_queue": False}),
        "room.updated",
        lambda ids: [("room.lock", "ROOM42", ""), ("queue.off", "ROOM42", "")],
    ),
]


def audited_room() -> tuple[Workshop, dict[str, str], list[Viewer]]:
    w = Workshop(RoomConfig(title="W", access="approval"))
    ids = {"mod": w.moderator()}
    ids["ann"], ids["bob"] = w.join("Ann"), w.join("Bob")
    w.ok(FACILITATOR, c.MemberAdmit, member=ids["ann"])
    w.ok(FACILITATOR, c.MemberAdmit, member=ids["bob"])
    ids["wes"] = w.join("Wes")
    w.open_ideate(private=False)
    ids["idea"] = w.post(ids["ann"], "ann's idea")
    w.ok(FACILITATOR, c.RoomSet, approval_queue=True)
    ids["pending"] = w.post(ids["bob"], "bob's pending idea")
    outsiders = [w.viewer(ids["ann"]), w.viewer(ids["bob"]), w.viewer(ids["wes"]), w.screen()]
    return w, ids, outsiders


@pytest.mark.parametrize("act", ACTS, ids=[a.name for a in ACTS])
@pytest.mark.parametrize("by", ["mod", "facilitator"])
def test_every_moderation_act_is_audited(act: Act, by: str) -> None:
    w, ids, outsiders = audited_room()
    act.prepare(w, ids)
    actor = FACILITATOR if by == "facilitator" else ids["mod"]
    before = list(w.room.audit)
    w.advance(9)
    cls, fields = act.command(ids)
    out = w.do(actor, cls, **fields)
    assert out.error is None, out.error
    expected = [
        AuditEntry(at=w.now, actor=actor, action=a, target=t, reason=r) for a, t, r in act.entries(ids)
    ]
    assert w.room.audit == before + expected
    event = next(e for e in out.events if e.name == act.event)
    carried = event.views[STAFF]["audit"]
    as_dicts = [
        {"at": e.at, "actor": e.actor, "action": e.action, "target": e.target, "reason": e.reason}
        for e in expected
    ]
    assert (carried if isinstance(carried, list) else [carried]) == as_dicts
    # Participants, the lobby and the screen never receive an audit entry.
    for viewer in outsiders:
        assert not viewer.has_key("audit")
    for e in out.events:
        for key, view in e.views.items():
            if key != STAFF:
                assert not has_key(view, "audit"), (e.name, key)


def test_a_room_set_that_changes_nothing_is_not_audited() -> None:
    w, ids, _ = audited_room()
    before = list(w.room.audit)
    out = w.do(ids["mod"], c.RoomSet, locked=False, approval_queue=True)
    assert out.error is None and out.events == []
    assert w.room.audit == before
    w.fail(ids["mod"], c.RoomSet, "invalid_command")


def test_room_set_is_public_without_the_audit() -> None:
    w, ids, outsiders = audited_room()
    out = w.do(ids["mod"], c.RoomSet, locked=True)
    assert out.events[0].views[PUBLIC] == {"room": w.room.room_view()}
    assert outsiders[0].last("room.updated")["room"]["locked"] is True
    assert outsiders[2].names() == []  # the lobby


def test_invites_are_audited_too() -> None:
    w = Workshop()
    staff = w.viewer(FACILITATOR)
    w.advance(3)
    vid = w.ok(FACILITATOR, c.InviteCreate, label="for Zoe")["invite"]["id"]
    w.ok(FACILITATOR, c.InviteRevoke, invite=vid)
    assert w.room.audit == [
        AuditEntry(at=w.now, actor=FACILITATOR, action="invite.create", target=vid, reason="for Zoe"),
        AuditEntry(at=w.now, actor=FACILITATOR, action="invite.revoke", target=vid, reason=""),
    ]
    # Staff see each entry live, with the event.
    assert staff.last("invite.created")["audit"]["action"] == "invite.create"
    assert staff.last("invite.revoked")["audit"]["action"] == "invite.revoke"


def test_only_staff_snapshots_carry_the_audit_log() -> None:
    w, ids, _ = audited_room()
    w.ok(ids["mod"], c.MemberMute, member=ids["ann"], reason="spam")
    assert w.room.snapshot(ids["mod"], "moderator")["audit"][-1]["action"] == "member.muted"
    for member, role in [
        (ids["ann"], "participant"),
        (ids["bob"], "participant"),
        (ids["wes"], "participant"),
    ]:
        assert not has_key(w.room.snapshot(member, role), "audit")  # type: ignore[arg-type]
    assert not has_key(w.room.snapshot(None, "screen"), "audit")


def test_audit_in_snapshot_is_capped() -> None:
    w, ids, _ = audited_room()
    w.room.limits.audit_in_snapshot = 3
    for _ in range(3):
        w.ok(ids["mod"], c.MemberMute, member=ids["ann"])
        w.ok(ids["mod"], c.MemberUnmute, member=ids["ann"])
    audit = w.room.snapshot(ids["mod"], "moderator")["audit"]
    assert [a["action"] for a in audit] == ["member.unmuted", "member.muted", "member.unmuted"]
    assert len(w.room.audit) > 3


def test_a_removed_members_pending_notes_and_replies_leave_the_approval_queue() -> None:
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    on_wall = w.post(bob, "a bus")
    w.ok(FACILITATOR, c.RoomSet, approval_queue=True)
    staff = w.viewer(FACILITATOR)
    pending = w.post(ann, "spam")
    reply = w.ok(ann, c.ReplyPost, idea=on_wall, text="spam reply")["reply"]["id"]
    w.ok(FACILITATOR, c.MemberRemove, member=ann, reason="spam")
    assert w.room.ideas[pending].state == "hidden" and w.room.idea_replies[reply].state == "hidden"
    assert staff.last("idea.hidden")["idea"]["hide_reason"] == "its author was removed"
    queue = [i for i in w.room.snapshot(FACILITATOR, "facilitator")["ideas"] if i["state"] == "pending"]
    assert queue == []
    w.ok(FACILITATOR, c.IdeaRestore, idea=pending)  # a moderator may still publish it


def test_a_hide_reason_reaches_the_ideas_credited_authors_and_staff_only() -> None:
    """Who reads a moderator's hide reason (protocol.md, `idea.hidden`; privacy.md): staff and the
    members credited on the idea, its author and the co-authors a merge credits (they follow it as
    their own). A merge cannot pass on a reason written before it (only ideas on the wall merge), an
    undone merge takes the co-author's view away again, and a hidden reply's reason goes to its author
    and staff only, not to the authors of the merged idea that keep its replies."""
    w, mod, ann, bob = moderated_room()
    cy = w.join("Cy")
    into, dup = w.post(ann, "bike lanes"), w.post(bob, "more bike lanes")
    reply = w.ok(cy, c.ReplyPost, idea=dup, text="yes please")["reply"]["id"]
    merge = w.ok(mod, c.IdeaMerge, into=into, ideas=[dup])["merge"]
    author, coauthor, other, screen = w.viewer(ann), w.viewer(bob), w.viewer(cy), w.screen()

    w.ok(mod, c.IdeaHide, idea=into, reason="duplicate of a hidden post")
    for seen in (author, coauthor):
        assert seen.last("idea.hidden")["idea"]["hide_reason"] == "duplicate of a hidden post"
    assert other.last("idea.hidden") == screen.last("idea.hidden") == {"removed": into}
    for member in (ann, bob):
        page = [i for i in views.my_ideas(w.room, member)["ideas"] if i["id"] == into]
        assert page and page[0]["hide_reason"] == "duplicate of a hidden post"
    assert not has_key(w.room.snapshot(cy, "participant"), "hide_reason")
    assert not has_key(w.room.snapshot(None, "screen"), "hide_reason")

    w.ok(mod, c.ReplyHide, reply=reply, reason="Cy was rude")  # kept for Bob since the merge
    assert other.last("reply.hidden")["reply"]["hide_reason"] == "Cy was rude"
    assert coauthor.last("reply.hidden") == {"removed": reply, "idea": dup}
    assert author.views("reply.hidden") == [] and screen.views("reply.hidden") == []

    w.ok(mod, c.IdeaRestore, idea=into)
    w.ok(mod, c.IdeaUnmerge, merge=merge)
    w.ok(mod, c.IdeaHide, idea=into, reason="second thoughts")
    assert author.last("idea.hidden")["idea"]["hide_reason"] == "second thoughts"
    assert coauthor.last("idea.hidden") == {"removed": into}  # no longer credited on it
    assert not has_key(w.room.snapshot(bob, "participant")["ideas"], "hide_reason")
    assert not screen.has_key("hide_reason")
    assert [r.data for r in other.received if has_key(r.data, "hide_reason")] == [other.last("reply.hidden")]


@pytest.mark.parametrize("rules", [TEXT_RULES, STAFF_FORM_FIXES - 1])
def test_staff_see_the_staff_form_of_a_member_in_every_event(rules: int) -> None:
    """Text rules 23: a console that replaces its record of a member with an event's kept it right; before,
    muting a shadow-muted member (or removing then unbanning it, or muting an erased one) lost the flags."""
    w = Workshop()
    w.room.text_rules = rules
    troll, gone = w.join("Troll"), w.join("Gone")
    staff, own = w.viewer(FACILITATOR), w.viewer(troll)
    w.ok(FACILITATOR, c.MemberShadowMute, member=troll)
    w.ok(gone, c.MemberErase)
    replies = [
        w.ok(FACILITATOR, c.MemberMute, member=troll),
        w.ok(FACILITATOR, c.MemberUnmute, member=troll),
        w.ok(FACILITATOR, c.MemberRemove, member=troll),
        w.ok(FACILITATOR, c.MemberUnban, member=troll),
        w.ok(FACILITATOR, c.MemberJury, member=troll, juror=True),
        w.ok(FACILITATOR, c.MemberMute, member=gone),
    ]
    seen = [
        *(staff.last(name)["member"] for name in ("member.muted", "member.unmuted", "member.removed")),
        *(staff.last(name)["member"] for name in ("member.unbanned", "member.jury")),
        *(r["member"] for r in replies),
    ]
    if rules >= STAFF_FORM_FIXES:
        assert all(view["shadow_muted"] for view in seen if view["id"] == troll)
        assert staff.views("member.muted")[-1]["member"]["erased"] is True  # the erased member's
        assert [r["member"]["erased"] for r in replies] == [False] * 5 + [True]
    else:  # journals written before replay as they were
        assert not any("shadow_muted" in view or "erased" in view for view in seen)
    assert not own.has_key("shadow_muted") and not own.has_key("erased")  # never in its own views
    joined = w.viewer(FACILITATOR)
    w.join("Late")
    assert ("shadow_muted" in joined.last("member.joined")["member"]) is (rules >= STAFF_FORM_FIXES)
