"""Joining a room: access modes, invites, the approval lobby, rules consent, the lock and names."""

from __future__ import annotations

import hashlib
import unicodedata
from typing import Any

import pytest

from tests.rooms.helpers import FACILITATOR, MODERATOR_INVITE, Workshop, state_without_clock
from workshop_server.close_codes import CloseCode
from workshop_server.rooms import commands as c
from workshop_server.rooms.events import LOBBY, PUBLIC, STAFF, Effect
from workshop_server.rooms.state import Limits, RoomConfig, hash_passphrase, passphrase_matches
from workshop_server.rooms.text import (
    BANNED_ERASURE_FIXES,
    ERASED_INVITE_FIXES,
    JURY_INVITE_FIXES,
    MEMBER_CAP_FIXES,
)

SALT = "pepper"
SECRET = "open sesame"


def passphrase_room() -> Workshop:
    return Workshop(
        RoomConfig(
            title="W",
            access="passphrase",
            passphrase_salt=SALT,
            passphrase_hash=hash_passphrase(SECRET, SALT),
        )
    )


# --- Code mode ----------------------------------------------------------------------------------------
def test_code_mode_join_creates_an_active_participant() -> None:
    w = Workshop()
    staff = w.viewer(FACILITATOR)
    zoe = w.join("Zoe")
    other = w.viewer(zoe)
    screen = w.screen()
    w.advance(7)
    out = w.enter("Ann")
    assert out.error is None
    ann = out.result["member"]["id"]
    assert ann not in (FACILITATOR, zoe)
    member = w.room.members[ann]
    assert (member.name, member.role, member.status) == ("Ann", "participant", "active")
    assert member.joined_at == w.now
    assert member.invite is None
    assert w.room.audience_of(ann, "participant") == PUBLIC
    assert out.result["member"]["status"] == "active"
    assert [e.name for e in out.events] == ["member.joined"]
    assert staff.last("member.joined")["member"]["id"] == ann
    assert "member.joined" not in other.names() and "member.joined" not in screen.names()
    # The count reaches everyone with the batched presence update when Ann's connection comes online.
    w.send(None, c.Presence(id="p1", came=(ann,)))
    assert other.last("presence")["participants"] == 2
    assert screen.last("presence") == other.last("presence")
    assert "came" not in other.last("presence")


# --- Passphrase mode ----------------------------------------------------------------------------------
@pytest.mark.parametrize("given", [SECRET, f"  {SECRET}  "])
def test_right_passphrase_joins(given: str) -> None:
    w = passphrase_room()
    member = w.join("Ann", passphrase=given)
    assert w.room.members[member].status == "active"


@pytest.mark.parametrize("given", ["open", "Open Sesame", "open sesame!", "", None])
def test_wrong_or_missing_passphrase_is_refused(given: str | None) -> None:
    w = passphrase_room()
    w.join_fail("wrong_passphrase", "Ann", passphrase=given)
    assert list(w.room.members) == [FACILITATOR]


def test_a_passphrase_matches_in_any_unicode_form() -> None:
    """ "Café crème" typed with the accents as characters of their own (NFD: some keyboards, pasted text)
    is the room's passphrase; each form tried is one scrypt, so a composed passphrase costs one."""
    composed, decomposed = "Café crème 42", unicodedata.normalize("NFD", "Café crème 42")
    assert composed != decomposed
    for created in (composed, decomposed):
        stored = hash_passphrase(created, "salt")
        assert stored == hash_passphrase(composed, "salt")  # stored composed
        assert passphrase_matches(decomposed, "salt", stored) and passphrase_matches(composed, "salt", stored)
        assert not passphrase_matches("Cafe creme 42", "salt", stored)
    # A room created before (its passphrase hashed as typed, decomposed) still takes it typed so.
    before = hash_passphrase(composed, "salt").rpartition("$")[0] + "$" + scrypt_hex(decomposed)
    assert passphrase_matches(decomposed, "salt", before)
    # The room core's check of journals written before the shell checked passphrases: as typed only.
    assert not passphrase_matches(decomposed, "salt", hash_passphrase(composed, "salt"), composed=False)


def scrypt_hex(text: str) -> str:
    return hashlib.scrypt(text.encode(), salt=b"salt", n=1 << 14, r=8, p=1, dklen=32).hex()


def test_moderator_invite_needs_no_passphrase() -> None:
    w = passphrase_room()
    mod = w.moderator()
    assert w.room.members[mod].role == "moderator"


# --- Invite mode ----------------------------------------------------------------------------------------
def invite_room() -> Workshop:
    return Workshop(RoomConfig(title="W", access="invite"))


def mint(w: Workshop, role: str = "participant", label: str = "for Ann") -> str:
    result = w.ok(FACILITATOR, c.InviteCreate, role=role, label=label)
    invite_id: str = result["invite"]["id"]
    return invite_id


def test_invite_mode_requires_an_invite() -> None:
    w = invite_room()
    w.join_fail("invite_required", "Ann")
    w.join_fail("invite_required", "Ann", passphrase="anything")


def test_unknown_invite_is_an_invalid_token() -> None:
    w = invite_room()
    w.join_fail("invalid_token", "Ann", invite="v99")


def test_facilitator_mints_an_invite_shown_to_staff_only() -> None:
    w = invite_room()
    mod = w.moderator()
    part = w.join("Pat", invite=mint(w))
    staff, other, screen = w.viewer(mod), w.viewer(part), w.screen()
    result = w.ok(FACILITATOR, c.InviteCreate, label="  for Ann ")
    invite = result["invite"]
    assert invite["role"] == "participant" and invite["label"] == "for Ann"
    assert invite["revoked"] is False and invite["member"] is None
    assert w.room.invites[invite["id"]].created_at == w.now
    assert staff.last("invite.created")["invite"]["id"] == invite["id"]
    assert "invite.created" not in other.names() + screen.names()


@pytest.mark.parametrize("role", ["moderator", "participant"])
def test_only_the_facilitator_mints_invites(role: str) -> None:
    w = invite_room()
    actor = w.moderator() if role == "moderator" else w.join("Pat", invite=mint(w))
    w.fail(actor, c.InviteCreate, "forbidden")
    w.fail(actor, c.InviteRevoke, "forbidden", invite=MODERATOR_INVITE)


def test_personal_invite_binds_to_its_first_member() -> None:
    w = invite_room()
    invite = mint(w)
    ann = w.join("Ann", invite=invite)
    assert w.room.members[ann].invite == invite
    assert w.room.invites[invite].member == ann
    members_before = dict(w.room.members)
    w.advance(30)
    again = w.enter("Ann on her phone", invite=invite)
    assert again.error is None
    assert again.result["member"]["id"] == ann
    assert again.events == []
    assert w.room.members == members_before
    assert w.room.members[ann].name == "Ann"


def test_revoked_invite_is_refused() -> None:
    w = invite_room()
    invite = mint(w)
    w.ok(FACILITATOR, c.InviteRevoke, invite=invite)
    assert w.room.invites[invite].revoked
    w.join_fail("invite_revoked", "Ann", invite=invite)
    w.fail(FACILITATOR, c.InviteRevoke, "invalid_transition", invite=invite)
    w.fail(FACILITATOR, c.InviteRevoke, "not_found", invite="v99")


def test_revoking_a_used_invite_stops_its_reuse() -> None:
    w = invite_room()
    invite = mint(w)
    ann = w.join("Ann", invite=invite)
    w.ok(FACILITATOR, c.InviteRevoke, invite=invite)
    w.join_fail("invite_revoked", "Ann", invite=invite)
    assert w.room.members[ann].status == "active"  # revoking the link does not remove the member


def test_moderator_invite_creates_a_new_moderator_each_time() -> None:
    w = invite_room()
    first = w.join("Mo", invite=MODERATOR_INVITE)
    second = w.join("Max", invite=MODERATOR_INVITE)
    assert first != second
    for member in (first, second):
        assert w.room.members[member].role == "moderator"
        assert w.room.members[member].status == "active"
        assert w.room.members[member].invite == MODERATOR_INVITE
        assert w.room.audience_of(member, "moderator") == STAFF
    assert w.room.invites[MODERATOR_INVITE].member is None


def test_minted_moderator_invites_are_not_personal() -> None:
    w = invite_room()
    invite = mint(w, role="moderator")
    first, second = w.join("Mo", invite=invite), w.join("Max", invite=invite)
    assert first != second
    assert {w.room.members[first].role, w.room.members[second].role} == {"moderator"}


def test_revoked_moderator_invite_is_refused() -> None:
    w = invite_room()
    w.ok(FACILITATOR, c.InviteRevoke, invite=MODERATOR_INVITE)
    w.join_fail("invite_revoked", "Mo", invite=MODERATOR_INVITE)


def test_invites_also_work_in_code_mode() -> None:
    w = Workshop()
    invite = mint(w)
    ann = w.join("Ann", invite=invite)
    assert w.room.members[ann].invite == invite
    assert w.join("Ann again", invite=invite) == ann


# --- Approval mode --------------------------------------------------------------------------------------
def approval_room() -> Workshop:
    return Workshop(RoomConfig(title="W", access="approval"))


def test_approval_joiner_waits_in_the_lobby_and_receives_nothing_shared() -> None:
    w = approval_room()
    mod = w.moderator()
    staff = w.viewer(mod)
    out = w.enter("Wes")
    assert out.error is None
    wes = out.result["member"]["id"]
    assert out.result["member"]["status"] == "waiting"
    assert w.room.members[wes].status == "waiting"
    assert w.room.audience_of(wes, "participant") == LOBBY
    assert [e.name for e in out.events] == ["member.waiting"]  # no presence: nobody new is in yet
    assert staff.last("member.waiting")["member"]["id"] == wes
    assert w.room.presence_view()["participants"] == 0
    assert set(w.room.snapshot(wes, "participant")) == {"epoch", "seq", "room", "presence", "me"}
    lobby = w.viewer(wes)
    # Everything shared that can happen meanwhile: rounds, public ideas, presence, room settings, votes.
    w.ok(mod, c.RoomSet, locked=False, approval_queue=False)
    ann = w.moderator("Ann")  # staff join: no approval
    w.ok(FACILITATOR, c.MemberMute, member=ann)
    w.open_ideate(private=False)
    w.ok(FACILITATOR, c.RoomSet, locked=True)
    w.ok(FACILITATOR, c.RoundPause)
    w.ok(FACILITATOR, c.RoundResume)
    w.close()
    w.ok(FACILITATOR, c.InviteCreate)
    w.send(None, c.Presence(id="p", came=(mod,), screens=1))
    assert len(w.events) > 8
    assert lobby.received == []
    # Commands while waiting are refused, and change nothing.
    waiting: list[tuple[type[c.Command], dict[str, Any]]] = [
        (c.IdeaPost, {"text": "hello"}),
        (c.VoteAdd, {"idea": "i1"}),
        (c.MemberMute, {"member": ann}),
        (c.RoundOpen, {"kind": "ideate", "prompt": "x"}),
    ]
    for cls, fields in waiting:
        w.fail(wes, cls, "awaiting_approval", **fields)
    assert lobby.received == []


def test_admit_moves_the_member_into_the_room() -> None:
    w = approval_room()
    mod = w.moderator()
    before = w.room.seq
    wes = w.join("Wes")
    lobby = w.viewer(wes)
    # A resume from before the join gets a snapshot: the member did not exist then.
    assert w.room.members[wes].audience_seq == before
    out = w.do(mod, c.MemberAdmit, member=wes)
    assert out.error is None
    assert out.effects == [Effect("refresh", wes)]
    # Replays after a reconnect use the new audience from the admission on.
    assert w.room.members[wes].audience_seq == out.events[0].seq
    assert w.room.members[wes].status == "active"
    assert w.room.audience_of(wes, "participant") == PUBLIC
    assert [e.name for e in out.events] == ["member.admitted", "presence"]
    assert lobby.last("member.admitted")["member"]["status"] == "active"
    assert "audit" not in lobby.last("member.admitted")
    assert w.room.presence_view()["participants"] == 1
    w.open_ideate()
    w.post(wes, "now I can post")
    w.fail(mod, c.MemberAdmit, "invalid_transition", member=wes)
    w.fail(mod, c.MemberReject, "invalid_transition", member=wes)


def test_reject_closes_the_connections_with_rejected() -> None:
    w = approval_room()
    mod = w.moderator()
    wes = w.join("Wes")
    lobby = w.viewer(wes)
    out = w.do(mod, c.MemberReject, member=wes, reason=" spam ")
    assert out.error is None
    rejected = next(e.seq for e in out.events if e.name == "member.rejected")
    assert out.effects == [Effect("close", wes, CloseCode.REJECTED, "spam", after=rejected)]
    assert w.room.members[wes].status == "rejected"
    assert w.room.audience_of(wes, "participant") == LOBBY
    assert lobby.last("member.rejected")["reason"] == "spam"
    w.fail(wes, c.IdeaPost, "banned", text="let me in")
    w.fail(mod, c.MemberAdmit, "invalid_transition", member=wes)
    w.fail(mod, c.MemberReject, "invalid_transition", member=wes)


def test_unbanning_a_rejected_member_starts_its_public_history_then() -> None:
    """A rejected member never saw the room: once unbanned, a resume from its lobby seq must get a
    snapshot (audience_seq moves to the unban), not a replay that skips what came before."""
    w = approval_room()
    mod = w.moderator()
    wes = w.join("Wes")
    w.do(mod, c.MemberReject, member=wes, reason="")
    w.open_ideate()
    out = w.do(mod, c.MemberUnban, member=wes)
    assert out.error is None
    assert w.room.members[wes].status == "active"
    assert w.room.members[wes].audience_seq == w.room.seq
    assert w.room.audience_of(wes, "participant") == PUBLIC


def test_rejected_personal_invite_cannot_enter_again() -> None:
    w = Workshop(RoomConfig(title="W", access="approval"))
    invite = w.ok(FACILITATOR, c.InviteCreate)["invite"]["id"]
    wes = w.join("Wes", invite=invite)
    assert w.room.members[wes].status == "waiting"
    assert w.join("Wes", invite=invite) == wes  # waiting, same member
    w.ok(FACILITATOR, c.MemberReject, member=wes)
    w.join_fail("banned", "Wes", invite=invite)


def test_moderators_skip_the_approval_lobby() -> None:
    w = approval_room()
    mod = w.moderator()
    assert w.room.members[mod].status == "active"
    assert w.room.audience_of(mod, "moderator") == STAFF


def test_facilitator_and_moderator_both_admit() -> None:
    w = approval_room()
    mod = w.moderator()
    first, second = w.join("A"), w.join("B")
    w.ok(FACILITATOR, c.MemberAdmit, member=first)
    w.ok(mod, c.MemberAdmit, member=second)
    assert {w.room.members[first].status, w.room.members[second].status} == {"active"}


def test_participants_cannot_admit() -> None:
    w = approval_room()
    mod = w.moderator()
    pat = w.join("Pat")
    w.ok(mod, c.MemberAdmit, member=pat)
    wes = w.join("Wes")
    w.fail(pat, c.MemberAdmit, "forbidden", member=wes)
    w.fail(pat, c.MemberReject, "forbidden", member=wes)


# --- Rules --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("accepted", [0, 2, 4])
def test_rules_version_must_match(accepted: int) -> None:
    w = Workshop(RoomConfig(title="W", rules_version=3))
    out = w.join_fail("rules_not_accepted", "Ann", accept_rules=accepted)
    assert out.error is not None and "version 3" in out.error.message


def test_consent_is_recorded_with_the_rules_version_and_time() -> None:
    w = Workshop(RoomConfig(title="W", rules_version=3))
    w.advance(42.5)
    ann = w.join("Ann", accept_rules=3)
    member = w.room.members[ann]
    assert member.rules_version == 3
    assert member.consent_at == w.now == w.start + 42.5
    mod = w.join("Mo", invite=MODERATOR_INVITE, accept_rules=3)
    assert w.room.members[mod].rules_version == 3


def test_moderators_must_accept_the_rules_too() -> None:
    w = Workshop(RoomConfig(title="W", rules_version=2))
    w.join_fail("rules_not_accepted", "Mo", invite=MODERATOR_INVITE, accept_rules=1)


# --- Lock -----------------------------------------------------------------------------------------------
def test_locked_room_refuses_new_participants_but_not_moderators() -> None:
    w = Workshop()
    mod = w.moderator()
    personal = w.ok(FACILITATOR, c.InviteCreate)["invite"]["id"]
    unused = w.ok(FACILITATOR, c.InviteCreate)["invite"]["id"]
    ann = w.join("Ann", invite=personal)
    w.ok(mod, c.RoomSet, locked=True)
    assert w.room.locked
    w.join_fail("room_locked", "Bob")
    w.join_fail("room_locked", "Bob", invite=unused)
    assert w.join("Ann again", invite=personal) == ann  # not a new join
    late_mod = w.moderator("Late")
    assert w.room.members[late_mod].role == "moderator"
    w.ok(FACILITATOR, c.RoomSet, locked=False)
    bob = w.join("Bob")
    assert w.room.members[bob].status == "active"


def test_lock_is_checked_before_the_passphrase() -> None:
    w = passphrase_room()
    w.ok(FACILITATOR, c.RoomSet, locked=True)
    w.join_fail("room_locked", "Ann", passphrase=SECRET)


# --- Names ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  Ann  ", "Ann"),
        ("Ann   Lee", "Ann Lee"),
        ("\tAnn\n", "Ann"),
        ("Zoë Ça", "Zoë Ça"),
        ("x" * 40, "x" * 40),
    ],
)
def test_names_are_trimmed_and_folded(raw: str, clean: str) -> None:
    w = Workshop()
    member = w.join(raw)
    assert w.room.members[member].name == clean


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "x" * 41,
        "Ann\x00",
        "A\x07nn",
        "\x1b[31mAnn",
        "Ann\u200b",
        "Ann\x7f",
        "<b>Ann</b>",
        'Ann "the" best',
        "{{ann}}",
    ],
)
def test_bad_names_are_refused(raw: str) -> None:
    w = Workshop()
    w.join_fail("invalid_name", raw)


def test_name_limit_comes_from_the_limits() -> None:
    w = Workshop(limits=Limits(name_max=5), facilitator_name="Fa")
    assert w.room.members[w.join("Annie")].name == "Annie"
    w.join_fail("invalid_name", "Annies")
    w.join_fail("invalid_name", "Moderator", invite=MODERATOR_INVITE)


# --- End of session -----------------------------------------------------------------------------------
def test_nobody_joins_an_ended_session() -> None:
    w = Workshop()
    invite = w.ok(FACILITATOR, c.InviteCreate)["invite"]["id"]
    w.ok(FACILITATOR, c.SessionEnd)
    w.join_fail("invalid_transition", "Ann")
    w.join_fail("invalid_transition", "Ann", invite=invite)
    w.join_fail("invalid_transition", "Mo", invite=MODERATOR_INVITE)


def test_failed_joins_consume_no_member_id() -> None:
    w = Workshop(RoomConfig(title="W", rules_version=2))
    before = state_without_clock(w.room)
    w.enter("Ann", accept_rules=1)
    w.enter("")
    assert state_without_clock(w.room) == before
    assert w.join("Ann") == "m2"


def erased_invitee() -> tuple[Workshop, str, str]:
    """Zoé joined through her personal invite, posted, and erased her data: (workshop, invite, Zoé)."""
    w = Workshop(RoomConfig(title="W", access="invite"))
    invite = w.ok(FACILITATOR, c.InviteCreate, label="Zoé")["invite"]["id"]
    zoe = w.join("Zoé", invite=invite)
    w.open_ideate(private=False)
    w.post(zoe, "night buses")
    w.ok(zoe, c.MemberErase)
    return w, invite, zoe


def test_a_personal_invite_whose_member_erased_its_data_admits_a_new_member() -> None:
    """Opening the invite again after an erasure gave back the erased member, whose every token is
    refused ("this link is not valid"): the person could not take part any more. Now the invite admits
    a new member, bound to it, and the erased one stays a pseudonym."""
    w, invite, zoe = erased_invitee()
    console = w.viewer(FACILITATOR)
    again = w.join("Zoé", invite=invite)
    assert again != zoe
    assert w.room.members[again].name == "Zoé" and not w.room.members[again].erased
    assert w.room.members[zoe].erased and w.room.members[zoe].name != "Zoé"
    assert w.room.invites[invite].member == again
    assert console.last("member.joined")["invite"]["member"] == again
    w.ok(again, c.IdeaPost, text="bike lanes")  # a member like any other
    assert w.join("Zoé", invite=invite) == again  # and the invite is hers again on another device


def test_journals_written_before_the_erased_invite_fix_replay_as_they_were() -> None:
    w, invite, zoe = erased_invitee()
    w.room.text_rules = ERASED_INVITE_FIXES - 1
    assert w.join("Zoé", invite=invite) == zoe  # the erased member, as before
    assert w.room.invites[invite].member == zoe


@pytest.mark.parametrize("kept_out", ["removed", "rejected"])
def test_a_removed_member_that_erased_its_data_is_still_kept_out_by_its_invite(kept_out: str) -> None:
    """In an invite room a ban is absolute (protocol.md): the invite stays bound to the removed member.
    Erasing its own data (which a removed member may do) unbound the invite, and the person came back
    as a new, active member. Now the invite still answers ``banned``, until the facilitator unbans."""
    access = "invite" if kept_out == "removed" else "approval"
    w = Workshop(RoomConfig(title="W", access=access))
    invite = w.ok(FACILITATOR, c.InviteCreate, label="Zoé")["invite"]["id"]
    zoe = w.join("Zoé", invite=invite)
    if kept_out == "removed":
        w.ok(FACILITATOR, c.MemberRemove, member=zoe, reason="trolling")
    else:  # from the approval lobby
        w.ok(FACILITATOR, c.MemberReject, member=zoe)
    w.ok(zoe, c.MemberErase)
    assert w.room.members[zoe].erased
    w.join_fail("banned", "Zoé", invite=invite)  # (and nothing changed)
    w.ok(FACILITATOR, c.MemberUnban, member=zoe)
    again = w.join("Zoé", invite=invite)
    assert again != zoe and w.room.invites[invite].member == again


def test_journals_written_before_the_banned_erasure_fix_replay_as_they_were() -> None:
    w = Workshop(RoomConfig(title="W", access="invite"))
    invite = w.ok(FACILITATOR, c.InviteCreate, label="Zoé")["invite"]["id"]
    zoe = w.join("Zoé", invite=invite)
    w.ok(FACILITATOR, c.MemberRemove, member=zoe)
    w.ok(zoe, c.MemberErase)
    w.room.text_rules = BANNED_ERASURE_FIXES - 1
    assert w.join("Zoé", invite=invite) != zoe  # a new member, as before


# --- Jury invites ----------------------------------------------------------------------------------------
def jury_invite(w: Workshop) -> str:
    invite: str = w.ok(FACILITATOR, c.InviteCreate, role="juror", label="Dr Expert")["invite"]["id"]
    return invite


@pytest.mark.parametrize("access", ["passphrase", "approval"])
def test_a_jury_invite_needs_no_passphrase_no_approval_and_opens_a_locked_room(access: str) -> None:
    """The facilitator invited the expert by name to score: found by review, she was asked for the
    community's passphrase, waited in the approval lobby, or was refused by the lock."""
    w = passphrase_room() if access == "passphrase" else Workshop(RoomConfig(title="W", access="approval"))
    invite = jury_invite(w)
    w.ok(FACILITATOR, c.RoomSet, locked=True)
    expert = w.join("Dr Expert", invite=invite)
    member = w.room.members[expert]
    assert member.juror and member.role == "participant" and member.status == "active"
    assert member.admitted
    w.join_fail("room_locked", "Zed", passphrase=SECRET)  # the lock still holds for everyone else


def test_journals_written_before_the_jury_invite_fix_replay_as_they_were() -> None:
    w = passphrase_room()
    invite = jury_invite(w)
    w.room.text_rules = JURY_INVITE_FIXES - 1
    w.join_fail("wrong_passphrase", "Dr Expert", invite=invite)


def capped_join(w: Workshop, name: str, cap: int) -> Any:
    cmd = c.Enter(id=w.next_id(), name=name, accept_rules=w.room.config.rules_version, max_members=cap)
    return w.send(None, cmd)


def test_members_who_left_free_their_place_under_the_member_cap() -> None:
    """Found by review: one address that knew a code room's code filled it up to ``max_members_per_room``
    with scripted joins, and removing the bots freed nothing (every record counted): nobody could join
    again. The members still in the room count (the staff too); removed, rejected and erased ones do not,
    and the records kept stay under twice the cap (a removed member's ban holds through its record)."""
    w = Workshop()  # the facilitator is one of the 4
    bots = [capped_join(w, f"Bot {n}", 4).result["member"]["id"] for n in range(3)]
    assert capped_join(w, "Ana", 4).error.code == "room_full"
    w.ok(FACILITATOR, c.MemberRemove, member=bots[0], reason="bot")
    assert capped_join(w, "Ana", 4).error is None
    w.ok(bots[1], c.MemberErase)
    assert capped_join(w, "Ben", 4).error is None
    assert capped_join(w, "Cyd", 4).error.code == "room_full"
    for member in list(w.room.members.values())[1:]:
        if member.status == "active" and not member.erased and member.name.startswith(("Bot", "Ana", "Ben")):
            w.ok(FACILITATOR, c.MemberRemove, member=member.id)
    # 6 records now (the facilitator, 3 bots, Ana, Ben), 1 in the room: the records bound the joins.
    assert capped_join(w, "Cyd", 4).error is None
    assert capped_join(w, "Dan", 4).error is None
    assert len(w.room.members) == 8 and capped_join(w, "Eve", 4).error.code == "room_full"


def test_every_record_counted_under_the_member_cap_before_text_rules_21() -> None:
    w = Workshop()
    w.room.text_rules = MEMBER_CAP_FIXES - 1  # a journal written before: it replays as it was
    bot = capped_join(w, "Bot", 2).result["member"]["id"]
    w.ok(FACILITATOR, c.MemberRemove, member=bot)
    assert capped_join(w, "Ana", 2).error.code == "room_full"
