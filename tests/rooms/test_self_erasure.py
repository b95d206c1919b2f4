"""A member removed by a moderator, rejected from the approval lobby or still waiting in it may erase its
own data (the right to erasure), and do nothing else: not erase anyone else, not send another command."""

from __future__ import annotations

import json

import pytest

from tests.rooms.helpers import FACILITATOR, Workshop
from workshop_server.rooms import commands as c
from workshop_server.rooms import queries
from workshop_server.rooms.state import MemberStatus, RoomConfig
from workshop_server.rooms.text import SELF_ERASE_FIXES

NAME = "Zoé Quintessa"


def removed() -> tuple[Workshop, str, str]:
    """Zoé (device key DEVICEHASH) posted a note, then a moderator removed her; Bob is still in."""
    w = Workshop()
    entered = w.send(None, c.Enter(id="j1", name=NAME, accept_rules=1, device="DEVICEHASH"))
    zoe, bob = entered.result["member"]["id"], w.join("Bob")
    w.open_ideate(private=False)
    w.post(zoe, "night buses")
    w.ok(FACILITATOR, c.MemberRemove, member=zoe, reason=f"{NAME} was rude")
    return w, zoe, bob


def lobby() -> tuple[Workshop, str, str]:
    """An approval room: Zoé waits in the lobby, Bob was rejected from it."""
    w = Workshop(RoomConfig(title="Workshop", access="approval"))
    zoe, bob = w.join(NAME), w.join("Bob")
    w.ok(FACILITATOR, c.MemberReject, member=bob)
    assert w.room.members[zoe].status == MemberStatus.WAITING
    return w, zoe, bob


def test_a_removed_member_may_erase_its_own_data_and_its_ban_holds() -> None:
    w, zoe, _ = removed()
    result = w.ok(zoe, c.MemberErase)
    assert result == {"member": zoe, "name": "Participant 2"}
    assert NAME not in json.dumps(w.room.to_state(), ensure_ascii=False)  # the removal's reason too
    member = w.room.members[zoe]
    assert member.erased and member.status == MemberStatus.BANNED
    assert member.device == "DEVICEHASH"  # until an unban lifts its ban (text rules 20)
    assert "DEVICEHASH" in w.room.banned_devices  # the ban holds against the same browser
    again = w.send(None, c.Enter(id="j2", name="Zed", accept_rules=1, device="DEVICEHASH"))
    assert again.error is not None and again.error.code == "banned"
    assert [e.kind for e in w.effects[-2:]] == ["close", "compact"]
    assert queries.my_data(w.room, "member", zoe, 0)["error"]["code"] == "data_erased"


def test_a_removed_member_may_name_itself_in_its_erasure() -> None:
    w, zoe, _ = removed()
    assert w.ok(zoe, c.MemberErase, member=zoe)["member"] == zoe


@pytest.mark.parametrize("who", ["waiting", "rejected"])
def test_a_member_in_the_lobby_or_rejected_from_it_may_erase_its_own_data(who: str) -> None:
    w, zoe, bob = lobby()
    member = zoe if who == "waiting" else bob
    name = NAME if who == "waiting" else "Bob"
    w.ok(member, c.MemberErase)
    assert w.room.members[member].erased
    assert name not in json.dumps(w.room.to_state(), ensure_ascii=False)


def test_a_member_erased_while_it_waited_has_left_the_lobby() -> None:
    """Nobody is left to admit: admitting it (or rejecting it) is refused, by itself or by staff."""
    w, zoe, _ = lobby()
    w.ok(zoe, c.MemberErase)
    w.fail(FACILITATOR, c.MemberAdmit, "invalid_transition", member=zoe)
    w.fail(FACILITATOR, c.MemberReject, "invalid_transition", member=zoe)
    assert w.room.members[zoe].status == MemberStatus.WAITING
    w2, waiting, _ = lobby()
    w2.ok(FACILITATOR, c.MemberErase, member=waiting)  # the facilitator erased it (asked by mail)
    w2.fail(FACILITATOR, c.MemberAdmit, "invalid_transition", member=waiting)
    w2.room.text_rules = SELF_ERASE_FIXES - 1  # journals written before: admitted as they were
    w2.ok(FACILITATOR, c.MemberAdmit, member=waiting)


def test_a_removed_member_may_do_nothing_else() -> None:
    w, zoe, _ = removed()
    w.fail(zoe, c.IdeaPost, "banned", text="still here?")
    w.fail(zoe, c.ReplyPost, "banned", idea="i1", text="and again")
    w.fail(zoe, c.MemberUnban, "banned", member=zoe)


def test_a_waiting_member_may_do_nothing_else() -> None:
    w, zoe, bob = lobby()
    w.fail(zoe, c.IdeaPost, "awaiting_approval", text="let me in")
    w.fail(bob, c.IdeaPost, "banned", text="let me in")


def test_a_removed_rejected_or_waiting_member_may_not_erase_anyone_else() -> None:
    w, zoe, bob = removed()
    w.fail(zoe, c.MemberErase, "banned", member=bob)
    w.fail(zoe, c.MemberErase, "banned", member=FACILITATOR)
    w2, waiting, rejected = lobby()
    w2.fail(waiting, c.MemberErase, "awaiting_approval", member=rejected)
    w2.fail(rejected, c.MemberErase, "banned", member=waiting)
    assert not w.room.members[bob].erased and not w2.room.members[rejected].erased


def test_a_resent_self_erasure_answers_the_same_and_erases_once() -> None:
    w, zoe, _ = removed()
    first = w.send(zoe, c.MemberErase(id="erase-1"))
    again = w.send(zoe, c.MemberErase(id="erase-1"))
    assert first.error is None and again.duplicate and again.result == first.result
    assert again.events == [] and again.effects == []
    assert [e.action for e in w.room.audit].count("member.erase") == 1
    w.fail_cmd(zoe, c.MemberErase(id="erase-2"), "data_erased")  # a new erasure: the token is spent


def test_journals_written_before_replay_as_they_were() -> None:
    """Under text rules 13 a removed member's erasure was refused: an entry of then replays refused."""
    w, zoe, _ = removed()
    w.room.text_rules = SELF_ERASE_FIXES - 1
    w.fail(zoe, c.MemberErase, "banned")
    w.room.text_rules = SELF_ERASE_FIXES
    w.ok(zoe, c.MemberErase)


def test_a_member_waiting_in_the_lobby_may_download_its_data() -> None:
    """privacy.md promised it; the query refused it with awaiting_approval."""
    w, zoe, bob = lobby()
    assert queries.my_data(w.room, "member", zoe, 0)["data"]["member"]["name"] == NAME
    assert queries.my_data(w.room, "member", bob, 0)["data"]["member"]["name"] == "Bob"
    assert queries.my_ideas(w.room, "member", zoe, 0)["error"]["code"] == "awaiting_approval"
