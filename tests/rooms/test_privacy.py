"""Personal data in the room core: a member's own data (access) and erasure."""

from __future__ import annotations

import json

from tests.rooms.helpers import FACILITATOR, Workshop
from workshop_server.rooms import commands as c
from workshop_server.rooms import queries, views
from workshop_server.rooms.privacy import my_data
from workshop_server.rooms.room import Room
from workshop_server.rooms.text import ERASED_RECORDS_FIXES, ERASURE_FIXES

NAME = "Zoé Quintessa"


def busy() -> tuple[Workshop, str, str, list[str]]:
    """Zoé posts, replies, votes, answers the pulse, is credited and co-authors a merge with Bob."""
    w = Workshop()
    zoe, bob = w.join(NAME), w.join("Bob")
    w.open_ideate(private=False)
    ideas = [w.post(zoe, "night buses"), w.post(bob, "late buses"), w.post(bob, "bike lanes")]
    w.ok(FACILITATOR, c.IdeaMerge, into=ideas[1], ideas=[ideas[0]])
    w.ok(zoe, c.ReplyPost, idea=ideas[2], text="yes please")
    w.ok(FACILITATOR, c.MemberMute, member=zoe, reason=f"{NAME} was shouting")
    w.ok(FACILITATOR, c.MemberUnmute, member=zoe)
    w.close()
    w.open_vote()
    w.vote(zoe, ideas[2], 2)
    w.vote(bob, ideas[1])
    w.close()
    w.ok(FACILITATOR, c.PulseOpen)
    w.ok(zoe, c.PulseAnswer, score=4, comment="good")
    w.ok(FACILITATOR, c.RoomAnnounce, kind="thanks", text="Thanks!", credit=[zoe])
    return w, zoe, bob, ideas


def test_a_member_gets_everything_the_room_holds_about_it() -> None:
    w, zoe, _, ideas = busy()
    data = my_data(w.room, zoe)
    assert data["member"]["name"] == NAME and data["member"]["consent_at"] == w.start
    assert {(i["id"], i["role"]) for i in data["ideas"]} == {(ideas[0], "author"), (ideas[1], "coauthor")}
    assert [r["text"] for r in data["replies"]] == ["yes please"]
    assert data["dots"] == [{"round": "r2", "target": "ideas", "dots": {ideas[2]: 2}}]
    assert data["satisfaction"][0]["score"] == 4
    assert data["credited_in"][0]["credit"] == [zoe]
    json.dumps(data)  # plain data


def test_a_member_s_data_holds_what_moderators_did_about_it_but_not_a_shadow_mute() -> None:
    """A privacy review: the download left out the member's status, its mute and the moderators' reasons
    about it, which privacy.md says the member concerned may read. The shadow mute stays out, as from
    every view of its own."""
    w, zoe, _, _ = busy()
    w.ok(FACILITATOR, c.MemberShadowMute, member=zoe, reason="spam")
    w.ok(FACILITATOR, c.MemberMute, member=zoe, reason="off topic again")
    data = my_data(w.room, zoe)
    assert (data["member"]["status"], data["member"]["muted"]) == ("active", True)
    assert data["member"]["mute_reason"] == "off topic again"
    assert [(m["action"], m["reason"]) for m in data["moderation"]] == [
        ("member.muted", f"{NAME} was shouting"),
        ("member.unmuted", ""),
        ("member.muted", "off topic again"),
    ]
    assert "shadow" not in json.dumps(data)


def test_a_member_s_data_holds_the_reasons_its_notes_were_hidden_and_its_invite_s_label() -> None:
    """A privacy review: the reasons staff gave for hiding a member's idea or reply left its download once
    they were restored (they stay in the moderation log), and its personal invite's label, which staff
    wrote about it, was not in it (the erasure blanks both as its personal data)."""
    w = Workshop()
    invite = w.ok(FACILITATOR, c.InviteCreate, label="for Zoé, the mayor's assistant")["invite"]["id"]
    zoe = w.join(NAME, invite=invite)
    bob = w.join("Bob")
    w.open_ideate(private=False)
    idea, other = w.post(zoe, "night buses"), w.post(bob, "bike lanes")
    reply = w.ok(zoe, c.ReplyPost, idea=other, text="yes please")["reply"]["id"]
    w.ok(FACILITATOR, c.IdeaHide, idea=idea, reason="names a colleague")
    w.ok(FACILITATOR, c.IdeaRestore, idea=idea)
    w.ok(FACILITATOR, c.ReplyHide, reply=reply, reason="off topic")
    w.ok(FACILITATOR, c.IdeaHide, idea=other, reason="Bob's own")  # not Zoé's: not in her data
    data = my_data(w.room, zoe)
    assert data["member"]["invite_label"] == "for Zoé, the mayor's assistant"
    hides = [(m["action"], m["target"], m["reason"]) for m in data["moderation"] if "target" in m]
    assert hides == [("idea.hidden", idea, "names a colleague"), ("reply.hidden", reply, "off topic")]
    assert my_data(w.room, bob)["member"]["invite_label"] == ""


def test_erasure_replaces_the_name_everywhere_and_keeps_the_room_whole() -> None:
    w, zoe, bob, ideas = busy()
    totals_before = {r.id: dict(r.totals) for r in w.room.rounds.values()}
    screen = w.screen()
    result = w.ok(zoe, c.MemberErase)
    assert result == {"member": zoe, "name": "Participant 2"}
    assert screen.last("member.erased") == {"member": zoe, "name": "Participant 2"}
    # State, dedupe records, audit reasons (not ASCII-escaped: "Zoé" would never match "Zo\u00e9").
    assert NAME not in json.dumps(w.room.to_state(), ensure_ascii=False)
    assert {r.id: dict(r.totals) for r in w.room.rounds.values()} == totals_before
    merged = w.room.ideas[ideas[1]]
    assert merged.author == bob and merged.coauthors == [zoe]  # the other author keeps the credit
    credit = views.idea_full(w.room, merged, mine=False)["coauthors"]
    assert credit == [{"id": zoe, "name": "Participant 2"}]
    assert w.room.members[zoe].device is None
    kinds = [(e.kind, e.member) for e in w.effects[-2:]]
    assert kinds == [("close", zoe), ("compact", zoe)]
    # The member's token stops working: every command is refused, and so is its page.
    w.fail(zoe, c.IdeaPost, "data_erased", text="again")
    page = queries.my_ideas(w.room, "member", zoe, 0)
    assert page["error"]["code"] == "data_erased"
    restored = Room.from_state(w.room.to_state())
    assert restored.members[zoe].erased and restored.members[zoe].name == "Participant 2"


def test_only_the_member_itself_or_the_facilitator_erases() -> None:
    w, zoe, bob, _ = busy()
    mod = w.moderator()
    w.fail(bob, c.MemberErase, "forbidden", member=zoe)  # the wrong participant
    w.fail(mod, c.MemberErase, "forbidden", member=zoe)
    w.fail(FACILITATOR, c.MemberErase, "forbidden", member=mod)  # staff are not erased this way
    w.fail(FACILITATOR, c.MemberErase, "not_found", member="m99")
    w.ok(FACILITATOR, c.MemberErase, member=zoe)
    w.fail(FACILITATOR, c.MemberErase, "invalid_transition", member=zoe)  # already erased


def test_a_removed_member_may_still_download_its_data() -> None:
    w, zoe, _, _ = busy()
    w.ok(FACILITATOR, c.MemberRemove, member=zoe)
    assert queries.my_ideas(w.room, "member", zoe, 0)["error"]["code"] == "banned"
    assert queries.my_data(w.room, "member", zoe, 0)["data"]["member"]["name"] == NAME
    assert queries.my_data(w.room, "screen", "", 0)["error"]["code"] == "forbidden"


def test_erasure_keeps_every_dedupe_record_so_a_resend_is_still_applied_once() -> None:
    w = Workshop()
    al, bob = w.join("Al"), w.join("Bob")
    w.open_ideate(private=False)
    posted = w.send(bob, c.IdeaPost(id="bob-1", text="Also: night buses"))
    assert posted.error is None
    w.ok(FACILITATOR, c.MemberMute, member=al, reason="Al shouted; Also loud")
    w.ok(FACILITATOR, c.MemberErase, member=al)
    again = w.send(bob, c.IdeaPost(id="bob-1", text="Also: night buses"))
    assert again.duplicate and len(w.room.ideas) == 1  # "Also" held the name as text: still one idea
    assert [e.reason for e in w.room.audit if e.action == "member.muted"] == [
        "Participant 2 shouted; Also loud"
    ]
    assert "Al" not in {m.name for m in w.room.members.values()}


# --- Found by a review of the room core (each failed before its fix) -----------------------------------
def test_erasure_replaces_the_name_in_every_moderation_reason_and_empties_its_invites_label() -> None:
    name = "Zoé Quintessa"
    w = Workshop()
    invite = w.ok(FACILITATOR, c.InviteCreate, role="participant", label=name)["invite"]["id"]
    zoe = w.join(name, invite=invite)
    w.open_ideate(private=False)
    idea = w.post(zoe, "something rude")
    w.ok(zoe, c.ReplyPost, idea=idea, text="and more")
    w.ok(FACILITATOR, c.IdeaHide, idea=idea, reason=f"{name} was rude")
    w.ok(FACILITATOR, c.ReplyHide, reply="rp1", reason=f"{name} again")
    w.ok(FACILITATOR, c.MemberMute, member=zoe, reason=f"{name} was shouting")
    w.ok(FACILITATOR, c.MemberErase, member=zoe)
    pseudonym = w.room.members[zoe].name
    state = json.dumps(w.room.to_state(), ensure_ascii=False)
    staff = json.dumps(w.room.snapshot(FACILITATOR, "facilitator"), ensure_ascii=False)
    assert name not in state and name not in staff
    assert w.room.members[zoe].mute_reason == f"{pseudonym} was shouting"
    assert w.room.ideas[idea].hide_reason == f"{pseudonym} was rude"
    assert w.room.invites[invite].label == ""


def test_erasing_a_removed_member_keeps_its_ban() -> None:
    """Its device key stays in the ban list (a keyed hash nobody is shown): erasing a troll's data does
    not let it back in from the same browser. From text rules 20 the key also stays in its record while
    it is banned, so that an unban lifts the ban of that browser (it stayed banned for good); the key
    goes with the unban."""
    w = Workshop()
    entered = w.send(None, c.Enter(id="j1", name="Zoe", accept_rules=1, device="DEVICEHASH"))
    zoe = entered.result["member"]["id"]
    w.ok(FACILITATOR, c.MemberRemove, member=zoe)
    w.ok(FACILITATOR, c.MemberErase, member=zoe)
    assert w.room.members[zoe].device == "DEVICEHASH"
    assert "DEVICEHASH" in w.room.banned_devices
    again = w.send(None, c.Enter(id="j2", name="Zed", accept_rules=1, device="DEVICEHASH"))
    assert again.error is not None and again.error.code == "banned"
    w.ok(FACILITATOR, c.MemberUnban, member=zoe)
    assert w.room.members[zoe].device is None and "DEVICEHASH" not in w.room.banned_devices
    assert w.send(None, c.Enter(id="j3", name="Zed", accept_rules=1, device="DEVICEHASH")).error is None


def test_erasing_a_member_drops_its_stored_replies_and_the_texts_they_held() -> None:
    """A privacy review: the dedupe records kept the answers to the member's commands, with the texts
    it had withdrawn or replaced by an edit, in the room's state (and snapshot) until the room was
    deleted. From text rules 20 an erasure drops them (its token sends nothing more); the personal purge
    drops every stored reply."""
    w = Workshop()
    zoe, bob = w.join("Zoe"), w.join("Bob")
    w.open_ideate(private=False)
    gone = w.post(zoe, "call me on 0612345678")
    w.ok(zoe, c.IdeaWithdraw, idea=gone)
    kept = w.post(zoe, "my address is 1 rue X")
    w.ok(zoe, c.IdeaEdit, idea=kept, text="night buses")
    w.post(bob, "bike lanes")
    w.ok(zoe, c.MemberErase)
    state = json.dumps(w.room.to_state(), ensure_ascii=False)
    assert "0612345678" not in state and "1 rue X" not in state and "night buses" in state
    assert w.room.replies[bob]  # the others' records stay
    w.ok(None, c.Purge, mode="personal")
    assert {k: v for k, v in w.room.replies.items() if v} == {}


def test_journals_written_before_text_rules_20_replay_their_erasures_as_they_were() -> None:
    w = Workshop()
    entered = w.send(None, c.Enter(id="j1", name="Zoe", accept_rules=1, device="DEVICEHASH"))
    zoe = entered.result["member"]["id"]
    w.open_ideate(private=False)
    w.ok(zoe, c.IdeaPost, text="call me on 0612345678")
    w.ok(FACILITATOR, c.MemberRemove, member=zoe)
    w.room.text_rules = ERASED_RECORDS_FIXES - 1
    w.ok(FACILITATOR, c.MemberErase, member=zoe)
    assert w.room.members[zoe].device is None and w.room.replies[zoe]


def followed_up(facilitator: str) -> Workshop:
    """A decision by the facilitator, a hidden idea and a hidden reply, each reason naming someone."""
    w = Workshop(facilitator_name=facilitator)
    ann = w.join("Ann")
    w.open_ideate(private=False)
    ideas = [w.post(ann, "one"), w.post(ann, "two")]
    w.ok(ann, c.ReplyPost, idea=ideas[0], text="hello")
    w.ok(FACILITATOR, c.IdeaStatusSet, idea=ideas[0], status="adopted", note="great")
    w.ok(FACILITATOR, c.IdeaHide, idea=ideas[1], reason="Ann posted her phone number")
    w.ok(FACILITATOR, c.ReplyHide, reply="rp1", reason="Ann posted her address")
    return w


def test_the_personal_purge_leaves_no_staff_name_in_histories_and_no_moderation_reason() -> None:
    w = followed_up("Alice Realname")
    w.ok(None, c.Purge, mode="personal")
    state = json.dumps(w.room.to_state())
    assert "Alice Realname" not in state  # the decider's name in the idea's status history
    assert "phone number" not in state and "her address" not in state
    assert w.room.ideas["i1"].history[-1]["by_name"] == "Facilitator"


def test_the_anonymised_export_has_no_staff_name_and_no_reply_moderation_reason() -> None:
    from workshop_server.rooms.exports import state_export

    w = followed_up("Alice Realname")
    exported = json.dumps(state_export(w.room, anonymised=True))
    assert "Alice Realname" not in exported and "her address" not in exported
    assert "Alice Realname" in json.dumps(state_export(w.room))  # staff's own export keeps it


def test_editing_anothers_note_that_one_cannot_see_is_not_found_not_forbidden() -> None:
    """Ids are sequential: ``forbidden`` for a hidden or pending note would tell that it exists."""
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    shown, hidden = w.post(ann, "on the wall"), w.post(ann, "hidden")
    w.ok(FACILITATOR, c.IdeaHide, idea=hidden, reason="off topic")
    w.fail(bob, c.IdeaEdit, "forbidden", idea=shown, text="mine now")
    for command in (c.IdeaEdit, c.IdeaWithdraw):
        fields = {"text": "mine now"} if command is c.IdeaEdit else {}
        w.fail(bob, command, "not_found", idea=hidden, **fields)
        w.fail(bob, command, "not_found", idea="i99", **fields)


# --- Erasure rewrites the member's own name, nothing spelled like it ---------------------------------------
def resend(w: Workshop, actor: str | None, cmd: c.Command) -> dict[str, object]:
    """The stored reply a resend of ``cmd`` gets (it must be one)."""
    out = w.send(actor, cmd)
    assert out.duplicate and out.error is None, out
    return out.result


def test_an_erased_name_spelled_like_a_server_value_leaves_other_replies_alone() -> None:
    """A participant named "visible" (or "juror", or a colour) is a valid name. Its erasure replaced every
    string equal to the name in every stored reply, and the name as a word in every audit reason: a
    resend of Bob's idea.post then said its state was "Participant 2", and the audit said a juror was
    made "Participant 2"."""
    w = Workshop()
    odd, bob = w.join("visible"), w.join("yellow")
    juror = w.join("juror")
    w.open_ideate(private=False)
    post = c.IdeaPost(id="bob-1", text="Night buses", color="yellow")
    first = w.send(bob, post).result
    assert first["idea"]["state"] == "visible" and first["idea"]["color"] == "yellow"
    jury = c.MemberJury(id="f-jury", member=bob, juror=True)
    made = w.send(FACILITATOR, jury).result
    for member in (odd, juror):
        w.ok(FACILITATOR, c.MemberErase, member=member)
    assert resend(w, bob, post) == first
    assert resend(w, FACILITATOR, jury) == made
    assert [e.reason for e in w.room.audit if e.action == "member.jury"] == ["juror"]


def test_an_erased_name_inside_someone_elses_text_or_a_theme_name_stays_in_the_stored_reply() -> None:
    """Texts people typed keep the name (privacy.md: not reached by erasure), in the room and so in
    the stored replies: a resend of Bob's idea.post got "Participant 2 speed on Main street" while the
    idea said "Max speed on Main street"; a theme named "Max" became "Participant 2" in the reply of
    theme.create."""
    w = Workshop()
    maxi, bob = w.join("Max"), w.join("Bob")
    w.open_ideate(private=False)
    post = c.IdeaPost(id="bob-1", text="Max speed on Main street")
    first = w.send(bob, post).result
    create = c.ThemeCreate(id="f-theme", name="Max", ideas=[first["idea"]["id"]])
    theme = w.send(FACILITATOR, create).result
    w.ok(FACILITATOR, c.MemberErase, member=maxi)
    assert resend(w, bob, post) == first
    assert w.room.ideas[first["idea"]["id"]].text == "Max speed on Main street"
    assert resend(w, FACILITATOR, create) == theme
    assert w.room.themes[theme["theme"]["id"]].name == "Max"


def test_another_member_with_the_same_name_keeps_it_in_its_stored_replies() -> None:
    """Names need not be unique: erasing one Max renamed the other Max in every stored reply."""
    w = Workshop()
    first = w.join("Max")
    joined = c.Enter(id="join-2", name="Max", accept_rules=1)
    other = w.send(None, joined).result
    assert other["member"]["name"] == "Max"
    w.ok(FACILITATOR, c.MemberErase, member=first)
    assert resend(w, None, joined) == other
    assert w.room.members[other["member"]["id"]].name == "Max"


def test_the_servers_own_hide_reason_is_not_a_quote() -> None:
    """A participant named "author": "its author was removed", the reason the server gives a removed
    member's pending ideas, became "its Participant 3 was removed" on every such idea."""
    w = Workshop()
    w.moderator()
    author, troll = w.join("author"), w.join("Troll")
    w.open_ideate(private=False)
    w.ok(FACILITATOR, c.RoomSet, approval_queue=True)
    pending = w.post(troll, "spam")
    w.ok(FACILITATOR, c.MemberRemove, member=troll)
    w.ok(FACILITATOR, c.MemberErase, member=author)
    assert w.room.ideas[pending].hide_reason == "its author was removed"


def test_erasure_still_replaces_the_name_itself_everywhere_and_quoted_as_a_word_case_included() -> None:
    w = Workshop()
    maxi, bob = w.join("Max"), w.join("Bob")
    w.open_ideate(private=False)
    idea = w.post(maxi, "night buses")
    w.ok(FACILITATOR, c.IdeaHide, idea=idea, reason="Max posted it twice; max 3 per person; Maxim's too")
    w.ok(FACILITATOR, c.MemberMute, member=bob, reason="copied Max.")
    w.ok(FACILITATOR, c.MemberErase, member=maxi)
    pseudonym = w.room.members[maxi].name
    assert pseudonym != "Max"
    assert w.room.ideas[idea].hide_reason == f"{pseudonym} posted it twice; max 3 per person; Maxim's too"
    assert w.room.members[bob].mute_reason == f"copied {pseudonym}."
    hidden = [e.reason for e in w.room.audit if e.action == "idea.hidden"]
    assert hidden == [f"{pseudonym} posted it twice; max 3 per person; Maxim's too"]
    staff = json.dumps(w.room.snapshot(FACILITATOR, "facilitator"), ensure_ascii=False)
    assert '"Max"' not in staff and "Max " not in staff and "Max." not in staff
    stored = json.dumps([r.result for book in w.room.replies.values() for r in book.values()])
    assert '"Max"' not in stored and "Max posted" not in stored


def test_journals_written_before_the_erasure_fix_replay_as_they_were() -> None:
    w = Workshop()
    odd, bob = w.join("visible"), w.join("Bob")
    w.open_ideate(private=False)
    post = c.IdeaPost(id="bob-1", text="a visible change")
    w.send(bob, post)
    w.room.text_rules = ERASURE_FIXES - 1
    w.ok(FACILITATOR, c.MemberErase, member=odd)
    pseudonym = w.room.members[odd].name
    again = resend(w, bob, post)
    assert again["idea"]["state"] == pseudonym and again["idea"]["text"] == f"a {pseudonym} change"
