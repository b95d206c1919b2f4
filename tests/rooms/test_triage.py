"""Triage: the word filter holds matching ideas and replies for review; shadow mute hides a member's
new contributions from everyone but them and staff. Both are audited."""

from __future__ import annotations

import pytest

from tests.rooms.helpers import FACILITATOR, Workshop, walk
from workshop_server.rooms import commands as c
from workshop_server.rooms.state import Limits, RoomConfig
from workshop_server.rooms.wordfilter import WORDS, matches, tokens


@pytest.mark.parametrize(
    "text",
    [
        "What an IDIOT idea",
        "what an idiot!",
        "idiots, all of them",
        "i.d.i.o.t",
        "i d i o t",
        "1d10t",
        "idiooooot",
        "Quel connard",
        "c0nnard",
        "C O N N A R D S",
        "espèce d'abrutie",
        "Quelle débile",
        "ENCULÉ",
    ],
)
def test_the_filter_sees_through_case_accents_and_obfuscation(text: str) -> None:
    assert matches(text, WORDS["en"] | WORDS["fr"]) is not None


@pytest.mark.parametrize(
    "text",
    [
        "A shuttle to the station at 7:30",
        "Ideal for commuters",
        "Conditions de travail, contrat et congés",
        "Un bâtiment plus écologique",
        "Shipping costs: $5",
        "Scunthorpe deserves a store",
        "I think a bus would help",
    ],
)
def test_honest_ideas_pass(text: str) -> None:
    assert matches(text, WORDS["en"] | WORDS["fr"]) is None


def test_single_letters_are_joined_only_when_they_run() -> None:
    assert tokens("a p d f b") == ["apdfb"]
    assert tokens("a bus") == ["a", "bus"]


def test_a_filtered_idea_awaits_review_and_the_hold_is_audited() -> None:
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    author, other, screen = w.viewer(ann), w.viewer(bob), w.screen()
    staff = w.viewer(FACILITATOR)
    idea = w.ok(ann, c.IdeaPost, text="the boss is an 1d10t")["idea"]
    assert idea["state"] == "pending" and idea["held"] == "filter"
    assert author.last("idea.posted")["idea"]["held"] == "filter"
    assert other.received == [] and screen.received == []
    posted = staff.last("idea.posted")
    assert posted["audit"]["action"] == "filter.held" and posted["audit"]["reason"] == "idiot"
    w.ok(FACILITATOR, c.IdeaApprove, idea=idea["id"])
    assert other.last("idea.approved")["idea"]["text"] == "the boss is an 1d10t"
    clean = w.ok(bob, c.IdeaPost, text="a shuttle bus")["idea"]
    assert clean["state"] == "visible" and "held" not in clean
    w.ok(bob, c.IdeaEdit, idea=clean["id"], text="a shuttle bus, you morons")
    assert w.room.ideas[clean["id"]].state == "pending"


def test_a_filtered_reply_awaits_review_but_staff_replies_are_not_filtered() -> None:
    w = Workshop(RoomConfig(title="W", locale="fr"))
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    idea = w.post(ann, "Un bus navette")
    screen = w.screen()
    reply = w.ok(bob, c.ReplyPost, idea=idea, text="quelle idée de connard")["reply"]
    assert reply["state"] == "pending" and reply["held"] == "filter"
    assert screen.received == []
    assert (
        w.ok(FACILITATOR, c.ReplyPost, idea=idea, text="merde alors, bonne idée")["reply"]["state"]
        == "visible"
    )


def test_staff_extend_the_list_switch_it_off_and_bad_lists_are_refused() -> None:
    w = Workshop(limits=Limits(filter_words_max=3))
    ann = w.join("Ann")
    w.open_ideate(private=False)
    assert w.post(ann, "plonker") and w.room.ideas["i1"].state == "visible"
    result = w.ok(FACILITATOR, c.FilterSet, words=["Plonker!", "plonker", "Wazzock"])
    assert result["filter"]["words"] == ["plonker", "wazzock"]
    assert w.ok(ann, c.IdeaPost, text="what a plonker")["idea"]["state"] == "pending"
    w.ok(FACILITATOR, c.FilterSet, enabled=False)
    assert w.ok(ann, c.IdeaPost, text="idiot")["idea"]["state"] == "visible"
    w.fail(FACILITATOR, c.FilterSet, "invalid_command", words=["a", "b", "c", "d"])
    w.fail(FACILITATOR, c.FilterSet, "invalid_command", words=["!!!"])
    w.fail(FACILITATOR, c.FilterSet, "invalid_command")
    w.fail(ann, c.FilterSet, "forbidden", enabled=True)
    assert [e.action for e in w.room.audit if e.action.startswith("filter")] == [
        "filter.set",
        "filter.held",
        "filter.set",
    ]


def test_rooms_under_older_text_rules_replay_without_the_filter() -> None:
    w = Workshop()
    ann = w.join("Ann")
    w.open_ideate(private=False)
    w.room.text_rules = 2
    assert w.ok(ann, c.IdeaPost, text="idiot")["idea"]["state"] == "visible"


def test_a_shadow_muted_member_sees_its_ideas_and_nobody_else_but_staff_does() -> None:
    w = Workshop()
    mod = w.moderator()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    before = w.post(ann, "posted before")
    author, other, screen, staff = w.viewer(ann), w.viewer(bob), w.screen(), w.viewer(mod)
    w.ok(mod, c.MemberShadowMute, member=ann, reason="trolling")
    assert author.received == [] and other.received == []  # nothing tells her
    assert staff.last("member.shadow")["member"]["shadow_muted"] is True
    idea = w.ok(ann, c.IdeaPost, text="spam spam")["idea"]
    assert idea["state"] == "visible" and "shadowed" not in idea
    assert author.last("idea.posted")["idea"]["text"] == "spam spam"
    assert other.views("idea.posted") == [] and screen.views("idea.posted") == []
    assert staff.last("idea.posted")["idea"]["shadowed"] is True
    other_ideas = {i["id"] for i in w.room.snapshot(bob, "participant")["ideas"]}
    assert other_ideas == {before}
    own = w.room.snapshot(ann, "participant")
    assert {i["id"] for i in own["ideas"]} == {before, idea["id"]}
    assert not any("shadow_muted" in d or "shadowed" in d for d in walk(own))
    w.ok(bob, c.ReplyPost, idea=before, text="nice")
    reply = w.ok(ann, c.ReplyPost, idea=before, text="me again")["reply"]
    assert reply["state"] == "visible"
    assert [r["text"] for r in w.room.snapshot(bob, "participant")["replies"]] == ["nice"]
    w.fail(mod, c.MemberShadowMute, "invalid_transition", member=ann)
    w.fail(mod, c.MemberShadowMute, "forbidden", member=mod)
    w.ok(mod, c.MemberShadowMute, member=ann, on=False)
    assert w.ok(ann, c.IdeaPost, text="back")["idea"]["id"] in {
        i["id"] for i in w.room.snapshot(bob, "participant")["ideas"]
    }
    assert [e.action for e in w.room.audit][-2:] == ["member.shadow_mute", "member.shadow_unmute"]


def test_staff_choose_the_shipped_lists_and_an_unknown_language_is_refused() -> None:
    w = Workshop()  # an English room: the English list by default
    ann = w.join("Ann")
    w.open_ideate(private=False)
    assert w.ok(ann, c.IdeaPost, text="quel connard")["idea"]["state"] == "visible"
    shown = w.ok(FACILITATOR, c.FilterSet, languages=["en", "fr"])["filter"]
    assert shown["languages"] == ["en", "fr"] and shown["shipped"] == len(WORDS["en"]) + len(WORDS["fr"])
    assert w.ok(ann, c.IdeaPost, text="quel connard")["idea"]["state"] == "pending"
    w.fail(FACILITATOR, c.FilterSet, "invalid_command", languages=["de"])
    assert w.room.snapshot(FACILITATOR, "facilitator")["filter"]["languages"] == ["en", "fr"]
