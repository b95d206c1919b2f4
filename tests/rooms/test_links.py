"""Revocable staff links (``room.rotate_links``) and bans that hold for the browser (device hashes).

The room core decides which tokens are staff links and which generation they must carry, records the
device hash of each member, and refuses a banned device in code and passphrase rooms. The shell's part
(signing, closing connections, the cookie) is tested over a real server in tests/protocol/.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.rooms.helpers import FACILITATOR, MODERATOR_INVITE, Workshop, has_key
from workshop_server.close_codes import CloseCode
from workshop_server.rooms import commands as c
from workshop_server.rooms.events import STAFF, Effect
from workshop_server.rooms.room import Room
from workshop_server.rooms.state import AccessMode, RoomConfig
from workshop_server.rooms.text import ROTATE_FIXES, TEXT_RULES

ANN_BROWSER = "a" * 64
BOB_BROWSER = "b" * 64


def enter(w: Workshop, name: str, **fields: Any) -> c.Enter:
    fields.setdefault("accept_rules", w.room.config.rules_version)
    return c.Enter(id=w.next_id(), name=name, **fields)


def join(w: Workshop, name: str, **fields: Any) -> str:
    outcome = w.send(None, enter(w, name, **fields))
    assert outcome.error is None, f"join failed: {outcome.error.code}: {outcome.error.message}"
    member_id: str = outcome.result["member"]["id"]
    return member_id


def join_fails(w: Workshop, code: str, name: str, **fields: Any) -> None:
    before = w.room.to_state()
    outcome = w.send(None, enter(w, name, **fields))
    assert outcome.error is not None and outcome.error.code == code, outcome
    assert outcome.events == [] and outcome.effects == []
    after = w.room.to_state()
    del before["clock"], after["clock"]
    assert after == before


# --- Staff links and their generation --------------------------------------------------------------------
def test_which_tokens_are_staff_links() -> None:
    w = Workshop()
    mod = w.moderator()
    invite = w.ok(FACILITATOR, c.InviteCreate, label="Ann")["invite"]["id"]
    room = w.room
    assert room.is_staff_link("member", FACILITATOR)
    assert room.is_staff_link("invite", MODERATOR_INVITE)
    assert room.is_staff_link("screen", "screen")
    # A moderator's own token, a participant's, a personal invite: not staff links.
    assert not room.is_staff_link("member", mod)
    assert not room.is_staff_link("invite", invite)
    assert not room.is_staff_link("member", "m9")
    assert room.link_generation("member", FACILITATOR) == 0


def test_rotation_moves_the_generation_and_asks_the_shell_to_revoke() -> None:
    w = Workshop()
    mod = w.moderator()
    staff, mod_view, screen = w.viewer(FACILITATOR), w.viewer(mod), w.screen()
    w.advance(5)
    out = w.do(FACILITATOR, c.RoomRotateLinks)
    assert out.error is None and out.result == {"generation": 1}
    assert w.room.links_generation == 1
    assert [e.name for e in out.events] == ["room.links_rotated"]
    event = out.events[0]
    assert set(event.views) == {STAFF}  # the links themselves are never in an event
    assert event.views[STAFF]["generation"] == 1
    assert event.views[STAFF]["audit"] == {
        "at": w.now,
        "actor": FACILITATOR,
        "action": "links.rotate",
        "target": w.room.id,
        "reason": "",
    }
    assert out.effects == [
        Effect(
            "revoke",
            "",
            CloseCode.TOKEN_REVOKED,
            "the staff links were replaced",
            after=event.seq,
            generation=1,
        )
    ]
    assert staff.names() == mod_view.names() == ["room.links_rotated"]
    assert screen.names() == []
    assert not has_key([e.views for e in out.events], "token")
    for kind, subject in (("member", FACILITATOR), ("invite", MODERATOR_INVITE), ("screen", "screen")):
        assert w.room.link_generation(kind, subject) == 1
    assert w.room.link_generation("member", mod) == 0
    assert w.ok(FACILITATOR, c.RoomRotateLinks) == {"generation": 2}


@pytest.mark.parametrize("rules", [TEXT_RULES, ROTATE_FIXES - 1])
def test_a_rotation_gives_a_revoked_moderator_invite_back_under_its_new_link(rules: int) -> None:
    """Text rules 24: the new moderator link a rotation hands out works, also after ``invite.revoke``
    revoked the moderator invite; the old link stays refused. Before, it was refused for good."""
    w = Workshop()
    w.room.text_rules = rules
    staff = w.viewer(FACILITATOR)
    w.ok(FACILITATOR, c.InviteRevoke, invite=MODERATOR_INVITE)
    join_fails(w, "invite_revoked", "Mo", invite=MODERATOR_INVITE)
    w.ok(FACILITATOR, c.RoomRotateLinks)
    join_fails(w, "invalid_token", "Mo", invite=MODERATOR_INVITE)  # the old link (generation 0)
    if rules >= ROTATE_FIXES:
        assert staff.last("room.links_rotated")["invite"]["revoked"] is False
        mod = join(w, "Mo", invite=MODERATOR_INVITE, generation=1)
        assert w.room.members[mod].role == "moderator"
        w.ok(FACILITATOR, c.InviteRevoke, invite=MODERATOR_INVITE)  # revoked again: refused again
    else:  # journals written before replay as they were
        assert "invite" not in staff.last("room.links_rotated")
    join_fails(w, "invite_revoked", "Mo2", invite=MODERATOR_INVITE, generation=1)


def test_only_the_facilitator_rotates_and_a_resend_is_not_a_second_rotation() -> None:
    w = Workshop()
    mod = w.moderator()
    ann = w.join("Ann")
    w.fail(mod, c.RoomRotateLinks, "forbidden")
    w.fail(ann, c.RoomRotateLinks, "forbidden")
    cmd = c.RoomRotateLinks(id="rotate-1")
    first = w.send(FACILITATOR, cmd)
    again = w.send(FACILITATOR, cmd)
    assert again.duplicate and again.result == first.result and again.events == again.effects == []
    assert w.room.links_generation == 1


def test_the_old_moderator_invite_is_refused_and_moderators_keep_their_own_tokens() -> None:
    w = Workshop()
    mod = w.moderator()
    w.ok(FACILITATOR, c.RoomRotateLinks)
    join_fails(w, "invalid_token", "Late mod", invite=MODERATOR_INVITE)  # generation 0: the old link
    join_fails(w, "invalid_token", "Future mod", invite=MODERATOR_INVITE, generation=2)
    newer = join(w, "New mod", invite=MODERATOR_INVITE, generation=1)
    assert w.room.members[newer].role == "moderator"
    # The moderator who joined before the rotation still moderates (remove them to stop that).
    ann = w.join("Ann")
    w.ok(mod, c.MemberMute, member=ann)


def test_personal_invites_are_not_staff_links() -> None:
    w = Workshop(RoomConfig(title="Invite only", access="invite"))
    ann_invite = w.ok(FACILITATOR, c.InviteCreate, label="Ann")["invite"]["id"]
    bob_invite = w.ok(FACILITATOR, c.InviteCreate, label="Bob")["invite"]["id"]
    w.ok(FACILITATOR, c.RoomRotateLinks)
    join_fails(w, "invalid_token", "Ann", invite=ann_invite, generation=1)
    ann = join(w, "Ann", invite=ann_invite)
    assert join(w, "Ann again", invite=ann_invite) == ann
    join(w, "Bob", invite=bob_invite)


def test_links_can_be_rotated_after_the_session_ended() -> None:
    """A link that leaks after the workshop must still be revocable."""
    w = Workshop()
    w.ok(FACILITATOR, c.SessionEnd)
    w.fail(FACILITATOR, c.RoundOpen, "invalid_transition", kind="ideate", prompt="again")
    assert w.ok(FACILITATOR, c.RoomRotateLinks) == {"generation": 1}


def test_the_generation_survives_snapshots_and_replays() -> None:
    w = Workshop()
    w.ok(FACILITATOR, c.RoomRotateLinks)
    w.ok(FACILITATOR, c.RoomRotateLinks)
    state = w.room.to_state()
    assert state["links_generation"] == 2
    assert Room.from_state(state).links_generation == 2
    replayed = w.fresh_room()
    for cmd, actor, now in w.journal:
        replayed.handle(cmd, actor, now)
    assert replayed.to_state() == state


def test_a_snapshot_from_before_rotations_and_device_bans_loads() -> None:
    w = Workshop()
    state = w.room.to_state()
    del state["links_generation"], state["banned_devices"]
    for member in state["members"]:
        del member["device"]
    room = Room.from_state(state)
    assert room.links_generation == 0 and room.banned_devices == set()
    assert room.members[FACILITATOR].device is None


# --- Device bans ------------------------------------------------------------------------------------------
def device_room(access: AccessMode) -> Workshop:
    return Workshop(RoomConfig(title="Devices", access=access))


def join_in(w: Workshop, name: str, device: str | None) -> str:
    fields: dict[str, Any] = {"device": device}
    if w.room.config.access == "passphrase":
        fields["passphrase_ok"] = True
    return join(w, name, **fields)


@pytest.mark.parametrize("access", ["code", "passphrase"])
def test_a_removed_browser_cannot_join_again_in_code_and_passphrase_rooms(access: AccessMode) -> None:
    w = device_room(access)
    ann = join_in(w, "Ann", ANN_BROWSER)
    assert w.room.members[ann].device == ANN_BROWSER
    w.ok(FACILITATOR, c.MemberRemove, member=ann, reason="spam")
    assert w.room.banned_devices == {ANN_BROWSER}
    extra = {"passphrase_ok": True} if access == "passphrase" else {}
    join_fails(w, "banned", "Ann again", device=ANN_BROWSER, **extra)
    # Another browser, or no cookie at all, is another person as far as the room can tell.
    join_in(w, "Bob", BOB_BROWSER)
    join_in(w, "No cookie", None)


@pytest.mark.parametrize("access", ["invite", "approval"])
def test_device_bans_do_not_apply_in_invite_and_approval_rooms(access: AccessMode) -> None:
    """There the ban is absolute another way: the invite stays bound, or a moderator admits each one."""
    w = device_room(access)
    fields: dict[str, Any] = {}
    if access == "invite":
        fields["invite"] = w.ok(FACILITATOR, c.InviteCreate, label="Ann")["invite"]["id"]
    ann = join(w, "Ann", device=ANN_BROWSER, **fields)
    if access == "approval":
        w.ok(FACILITATOR, c.MemberAdmit, member=ann)
    w.ok(FACILITATOR, c.MemberRemove, member=ann)
    assert w.room.banned_devices == {ANN_BROWSER}  # recorded all the same
    if access == "invite":
        join_fails(w, "banned", "Ann again", device=BOB_BROWSER, **fields)  # the bound invite
        fresh = w.ok(FACILITATOR, c.InviteCreate, label="Ann, forgiven")["invite"]["id"]
        join(w, "Ann again", device=ANN_BROWSER, invite=fresh)  # a new invite is the facilitator's call
    else:
        again = join(w, "Ann again", device=ANN_BROWSER)
        assert w.room.members[again].status == "waiting"  # a moderator decides


def test_a_removed_moderator_browser_cannot_take_the_moderator_link_again() -> None:
    w = device_room("code")
    mod = join(w, "Mo", invite=MODERATOR_INVITE, device=ANN_BROWSER)
    w.ok(FACILITATOR, c.MemberRemove, member=mod)
    join_fails(w, "banned", "Mo again", invite=MODERATOR_INVITE, device=ANN_BROWSER)


def test_unban_lifts_the_device_ban_unless_another_removed_member_shares_the_browser() -> None:
    w = device_room("code")
    ann = join_in(w, "Ann", ANN_BROWSER)
    alias = join_in(w, "Ann's alias", ANN_BROWSER)  # same browser, stored token cleared in between
    w.ok(FACILITATOR, c.MemberRemove, member=ann)
    w.ok(FACILITATOR, c.MemberRemove, member=alias)
    w.ok(FACILITATOR, c.MemberUnban, member=alias)
    assert w.room.banned_devices == {ANN_BROWSER}  # Ann is still removed
    join_fails(w, "banned", "Third try", device=ANN_BROWSER)
    w.ok(FACILITATOR, c.MemberUnban, member=ann)
    assert w.room.banned_devices == set()
    join_in(w, "Welcome back", ANN_BROWSER)


def test_device_hashes_never_reach_a_viewer() -> None:
    w = device_room("code")
    staff, screen = w.viewer(FACILITATOR), w.screen()
    ann = join_in(w, "Ann", ANN_BROWSER)
    w.ok(FACILITATOR, c.MemberRemove, member=ann)
    for data in [*(r.data for r in staff.received), *(r.data for r in screen.received)]:
        assert "device" not in str(data) and ANN_BROWSER not in str(data)
    for member, role in ((FACILITATOR, "facilitator"), (None, "screen")):
        snapshot = w.room.snapshot(member, role)  # type: ignore[arg-type]
        assert ANN_BROWSER not in str(snapshot) and not has_key(snapshot, "device")
    assert not any(ANN_BROWSER in str(e.views) for e in w.events)


def test_device_bans_survive_snapshots_and_replays() -> None:
    w = device_room("passphrase")
    ann = join_in(w, "Ann", ANN_BROWSER)
    w.ok(FACILITATOR, c.MemberRemove, member=ann)
    state = w.room.to_state()
    assert state["banned_devices"] == [ANN_BROWSER]
    restored = Room.from_state(state)
    assert restored.banned_devices == {ANN_BROWSER} and restored.members[ann].device == ANN_BROWSER
    replayed = w.fresh_room()
    for cmd, actor, now in w.journal:
        replayed.handle(cmd, actor, now)
    assert replayed.to_state() == state


# --- Nothing after removal ---------------------------------------------------------------------------------
def test_close_effects_name_the_last_event_the_member_receives() -> None:
    w = device_room("approval")
    wes = w.join("Wes")
    ann = w.join("Ann")
    w.ok(FACILITATOR, c.MemberAdmit, member=ann)
    w.send(None, c.Presence(id="p", came=(ann,)))
    removed = w.do(FACILITATOR, c.MemberRemove, member=ann)
    assert [e.name for e in removed.events] == ["member.removed", "presence"]
    assert [e.after for e in removed.effects] == [removed.events[0].seq]
    rejected = w.do(FACILITATOR, c.MemberReject, member=wes)
    assert [e.after for e in rejected.effects] == [rejected.events[-1].seq]
    assert rejected.events[-1].name == "member.rejected"
