"""Moderation reasons and invite labels follow the text rules of ideas (from text rules 12).

They were only trimmed: a reason could carry an escape sequence or a right-to-left override into staff's
screens, the audit log and the close frame of a removed member, and a decomposed text stayed decomposed.
Now each is NFC, trimmed, refused with ``invalid_command`` for a refused or no visible character, and
with ``text_too_long`` past its named limit (``reason_text_max``, ``label_max``); a blank one is none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.rooms.helpers import FACILITATOR, Workshop
from tests.support.text_corpus import REFUSED_TEXTS, Refused
from workshop_server.rooms import commands as c
from workshop_server.rooms.state import Limits, RoomConfig
from workshop_server.rooms.text import REASON_FIXES

#: A command that carries a reason: (name, the command, its fields but the reason, where it is stored).
Fields = Callable[[dict[str, str]], dict[str, Any]]
Case = tuple[str, type[c.Command], Fields, Callable[[Workshop, dict[str, str]], str]]

CASES: list[Case] = [
    (
        "mute",
        c.MemberMute,
        lambda ids: {"member": ids["ann"]},
        lambda w, ids: w.room.members[ids["ann"]].mute_reason,
    ),
    ("remove", c.MemberRemove, lambda ids: {"member": ids["ann"]}, lambda w, ids: w.room.audit[-1].reason),
    ("reject", c.MemberReject, lambda ids: {"member": ids["wes"]}, lambda w, ids: w.room.audit[-1].reason),
    (
        "shadow mute",
        c.MemberShadowMute,
        lambda ids: {"member": ids["ann"], "on": True},
        lambda w, ids: w.room.audit[-1].reason,
    ),
    (
        "hide an idea",
        c.IdeaHide,
        lambda ids: {"idea": ids["idea"]},
        lambda w, ids: w.room.ideas[ids["idea"]].hide_reason,
    ),
    (
        "hide a reply",
        c.ReplyHide,
        lambda ids: {"reply": ids["reply"]},
        lambda w, ids: w.room.idea_replies[ids["reply"]].hide_reason,
    ),
]


def room(limits: Limits | None = None) -> tuple[Workshop, dict[str, str]]:
    w = Workshop(RoomConfig(title="W", access="approval"), limits=limits)
    ids = {"ann": w.join("Ann")}
    w.ok(FACILITATOR, c.MemberAdmit, member=ids["ann"])
    ids["wes"] = w.join("Wes")  # waits in the lobby
    w.open_ideate(private=False)
    ids["idea"] = w.post(ids["ann"], "ann's idea")
    ids["reply"] = w.ok(FACILITATOR, c.ReplyPost, idea=ids["idea"], text="thanks")["reply"]["id"]
    return w, ids


def reasoned(w: Workshop, cls: type[c.Command], fields: dict[str, Any], reason: str) -> c.Command:
    """The command with ``reason``, built without validation when pydantic would refuse it first (a lone
    surrogate): the core must refuse it by itself."""
    sample = Refused("", reason, "")
    if sample.surrogate:
        return cls.model_construct(id=w.next_id(), reason=reason, **fields)
    return w.command(cls, reason=reason, **fields)


@pytest.mark.parametrize("sample", REFUSED_TEXTS, ids=lambda s: s.label)
@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_a_reason_with_a_refused_character_is_refused_and_changes_nothing(
    case: Case, sample: Refused
) -> None:
    w, ids = room()
    _, cls, fields, _ = case
    outcome = w.fail_cmd(FACILITATOR, reasoned(w, cls, fields(ids), sample.typed), "invalid_command")
    assert outcome.error is not None
    assert outcome.error.message == f"the reason contains {sample.shown}, which is not allowed"


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_a_reason_is_kept_in_nfc_and_trimmed(case: Case) -> None:
    w, ids = room()
    _, cls, fields, stored = case
    w.ok(FACILITATOR, cls, reason="  Caf\u0065\u0301 spam \u00a0", **fields(ids))
    assert stored(w, ids) == "Café spam"


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_a_reason_past_reason_text_max_is_text_too_long(case: Case) -> None:
    w, ids = room(Limits(reason_text_max=10))
    _, cls, fields, stored = case
    outcome = w.fail(FACILITATOR, cls, "text_too_long", reason="x" * 11, **fields(ids))
    assert outcome.error is not None
    assert outcome.error.message == "the reason has 11 characters; the limit is 10"
    w.ok(FACILITATOR, cls, reason="e\u0301" * 10, **fields(ids))  # counted after NFC: 10
    assert stored(w, ids) == "é" * 10


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_a_blank_reason_is_none_and_an_invisible_one_is_refused(case: Case) -> None:
    w, ids = room()
    _, cls, fields, stored = case
    outcome = w.fail(FACILITATOR, cls, "invalid_command", reason="\u200b\u200d", **fields(ids))
    assert outcome.error is not None and outcome.error.message == "the reason has no visible character"
    w.ok(FACILITATOR, cls, reason=" \n\u3000 ", **fields(ids))
    assert stored(w, ids) == ""


def test_a_removed_or_rejected_members_close_frame_carries_the_cleaned_reason() -> None:
    w, ids = room()
    w.ok(FACILITATOR, c.MemberRemove, member=ids["ann"], reason=" Cafe\u0301 spam ")
    w.ok(FACILITATOR, c.MemberReject, member=ids["wes"], reason="\tno e\u0301\n")
    closes = {e.member: e.reason for e in w.effects if e.kind == "close"}
    assert closes == {ids["ann"]: "Café spam", ids["wes"]: "no é"}


def test_the_default_reason_limit_is_500() -> None:
    w, ids = room()
    w.fail(FACILITATOR, c.MemberMute, "text_too_long", member=ids["ann"], reason="x" * 501)
    w.ok(FACILITATOR, c.MemberMute, member=ids["ann"], reason="x" * 500)


@pytest.mark.parametrize("sample", REFUSED_TEXTS, ids=lambda s: s.label)
def test_an_invite_label_with_a_refused_character_is_refused(sample: Refused) -> None:
    w = Workshop(RoomConfig(title="W", access="invite"))
    cmd = (
        c.InviteCreate.model_construct(id=w.next_id(), role="participant", label=sample.typed)
        if sample.surrogate
        else w.command(c.InviteCreate, label=sample.typed)
    )
    outcome = w.fail_cmd(FACILITATOR, cmd, "invalid_command")
    assert outcome.error is not None
    assert outcome.error.message == f"the label contains {sample.shown}, which is not allowed"


def test_an_invite_label_is_one_line_of_nfc_text_within_label_max() -> None:
    w = Workshop(RoomConfig(title="W", access="invite"), limits=Limits(label_max=14))
    invite = w.ok(FACILITATOR, c.InviteCreate, label=" Zoe\u0301\nfrom\tsales ")["invite"]
    assert invite["label"] == "Zoé from sales"
    # Blank lines and the spaces around line breaks fold into one space.
    other = Workshop(RoomConfig(title="W", access="invite"))
    assert other.ok(FACILITATOR, c.InviteCreate, label="a\n\n \n  b")["invite"]["label"] == "a b"
    assert w.room.invites[invite["id"]].label == invite["label"] == w.room.audit[-1].reason
    outcome = w.fail(FACILITATOR, c.InviteCreate, "text_too_long", label="x" * 15)
    assert outcome.error is not None
    assert outcome.error.message == "the label has 15 characters; the limit is 14"
    w.fail(FACILITATOR, c.InviteCreate, "invalid_command", label="\u2800")
    assert w.ok(FACILITATOR, c.InviteCreate, label="  ")["invite"]["label"] == ""


def test_journals_written_before_the_reason_fix_replay_as_they_were() -> None:
    """An entry handled under text rules 11 stored the reason and the label only trimmed: a replay must
    give the same state, whatever they hold."""
    w, ids = room()
    w.room.text_rules = REASON_FIXES - 1
    w.ok(FACILITATOR, c.MemberMute, member=ids["ann"], reason=" \x1b[31mred\u202e ")
    assert w.room.members[ids["ann"]].mute_reason == "\x1b[31mred\u202e"
    w.ok(FACILITATOR, c.IdeaHide, idea=ids["idea"], reason="Cafe\u0301")
    assert w.room.ideas[ids["idea"]].hide_reason == "Cafe\u0301"
    assert w.ok(FACILITATOR, c.InviteCreate, label=" a\nb ")["invite"]["label"] == "a\nb"


def test_the_limits_command_sets_both_limits() -> None:
    """A restart with other settings journals ``_limits``; journals written before the two limits had
    none in it: the defaults, the schema's caps then."""
    w, ids = room()
    w.ok(
        None,
        c.SetLimits,
        idea_text_max=500,
        name_max=40,
        grace_seconds=2.0,
        dedupe_window_seconds=86_400.0,
        dedupe_per_member=1000,
        reason_text_max=3,
        label_max=2,
    )
    assert (w.room.limits.reason_text_max, w.room.limits.label_max) == (3, 2)
    w.fail(FACILITATOR, c.MemberMute, "text_too_long", member=ids["ann"], reason="abcd")
    old = c.SetLimits(
        id="limits",
        idea_text_max=500,
        name_max=40,
        grace_seconds=2.0,
        dedupe_window_seconds=1.0,
        dedupe_per_member=1,
    )
    assert (old.reason_text_max, old.label_max) == (500, 100)
