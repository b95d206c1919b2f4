"""Text that people actually type: the corpus through the room core (ideas, edits, prompts, names).

Everything a phone keyboard or a word processor produces is kept as typed (NFC); controls, lone
surrogates and bidirectional overrides are refused with a message that names the character.
"""

from __future__ import annotations

import sys
import unicodedata
from typing import Any, TypeVar

import pytest

from tests.rooms.helpers import FACILITATOR, Workshop, state_without_clock
from tests.support.text_corpus import IDEAS, NAMES, REFUSED_NAMES, REFUSED_TEXTS, Refused, Sample
from workshop_server.rooms import commands as c
from workshop_server.rooms.room import clean_name as room_clean_name
from workshop_server.rooms.room import clean_text as room_clean_text
from workshop_server.rooms.state import Limits
from workshop_server.rooms.text import (
    BIDI_CONTROLS,
    clean_name,
    clean_text,
    describe,
    first_refused,
)

C = TypeVar("C", bound=c.Command)


def label(sample: Sample | Refused) -> str:
    return sample.label


def command(w: Workshop, cls: type[C], sample: Refused, **fields: Any) -> C:
    """A command carrying a refused sample. Pydantic refuses some lone surrogates already (a string
    with a length limit must encode to UTF-8), so those are built without validation, to reach the core
    anyway: the core must refuse them by itself."""
    if not sample.surrogate:
        return w.command(cls, **fields)
    return cls.model_construct(id=w.next_id(), **fields)


def test_the_corpus_is_what_it_says() -> None:
    for sample in IDEAS + NAMES:
        assert sample.stored == unicodedata.normalize("NFC", sample.stored), sample.label
    assert any(s.typed != unicodedata.normalize("NFC", s.typed) for s in IDEAS)
    assert {ch for s in REFUSED_TEXTS for ch in s.typed} >= BIDI_CONTROLS
    # Some emoji of the corpus are newer than this Python's Unicode database: they must pass anyway.
    assert any(unicodedata.category(ch) == "Cn" for s in IDEAS for ch in s.typed), unicodedata.unidata_version


@pytest.mark.parametrize("sample", IDEAS, ids=label)
def test_ideas_are_kept_as_typed(sample: Sample) -> None:
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    others, screen = w.viewer(bob), w.screen()

    posted = w.ok(ann, c.IdeaPost, text=sample.typed)["idea"]
    assert posted["text"] == sample.stored
    assert w.room.ideas[posted["id"]].text == sample.stored
    assert others.last("idea.posted")["idea"]["text"] == sample.stored
    assert screen.last("idea.posted")["idea"]["text"] == sample.stored

    draft = w.post(ann, "draft")
    edited = w.ok(ann, c.IdeaEdit, idea=draft, text=sample.typed)["idea"]
    assert edited["text"] == sample.stored
    assert screen.last("idea.edited")["idea"]["text"] == sample.stored


@pytest.mark.parametrize("sample", IDEAS, ids=label)
def test_prompts_are_kept_as_typed(sample: Sample) -> None:
    w = Workshop()
    w.join("Ann")
    screen = w.screen()
    rnd = w.ok(FACILITATOR, c.RoundOpen, kind="ideate", prompt=sample.typed)["round"]
    assert rnd["prompt"] == sample.stored
    assert screen.last("round.opened")["round"]["prompt"] == sample.stored


@pytest.mark.parametrize("sample", NAMES, ids=label)
def test_names_are_kept_as_typed(sample: Sample) -> None:
    w = Workshop()
    staff, screen = w.viewer(FACILITATOR), w.screen()
    member = w.join(sample.typed)
    assert w.room.members[member].name == sample.stored
    assert staff.last("member.joined")["member"]["name"] == sample.stored
    w.open_ideate(private=False)
    w.post(member, "hello")
    assert screen.last("idea.posted")["idea"]["author_name"] == sample.stored


def test_the_facilitator_name_follows_the_same_rules() -> None:
    w = Workshop(facilitator_name="  Zoe\u0301   👩🏽\u200d💻 ")
    assert w.room.members[FACILITATOR].name == "Zoé 👩🏽\u200d💻"


@pytest.mark.parametrize("sample", REFUSED_TEXTS, ids=label)
def test_refused_texts_name_the_character(sample: Refused) -> None:
    w = Workshop()
    ann = w.join("Ann")
    w.open_ideate()
    idea = w.post(ann, "kept")
    expected = f"the idea contains {sample.shown}, which is not allowed"

    post = command(w, c.IdeaPost, sample, text=sample.typed, color=None)
    assert w.fail_cmd(ann, post, "invalid_command").error.message == expected
    edit = command(w, c.IdeaEdit, sample, idea=idea, text=sample.typed, color=None)
    assert w.fail_cmd(ann, edit, "invalid_command").error.message == expected
    assert w.room.ideas[idea].text == "kept"
    w.close()
    fields = {"kind": "ideate", "prompt": sample.typed}
    outcome = w.fail_cmd(FACILITATOR, command(w, c.RoundOpen, sample, **fields), "invalid_command")
    assert outcome.error.message == f"the prompt contains {sample.shown}, which is not allowed"


@pytest.mark.parametrize("sample", REFUSED_NAMES, ids=label)
def test_refused_names_name_the_character(sample: Refused) -> None:
    w = Workshop()
    before = state_without_clock(w.room)
    fields = {"name": sample.typed, "accept_rules": w.room.config.rules_version}
    outcome = w.send(None, command(w, c.Enter, sample, **fields))
    assert outcome.error is not None and outcome.error.code == "invalid_name", outcome
    assert outcome.error.message.startswith(f"the display name contains {sample.shown}, which is not allowed")
    assert (outcome.events, outcome.effects) == ([], [])
    assert state_without_clock(w.room) == before


@pytest.mark.parametrize("text", ["\u200d", "\u200b \u200c", "\ufeff\u2060", "\u00a0\u202f\u3000"])
def test_invisible_texts_and_names_are_refused(text: str) -> None:
    w = Workshop()
    ann = w.join("Ann")
    w.open_ideate()
    w.fail(ann, c.IdeaPost, "invalid_command", text=text)
    w.join_fail("invalid_name", text)


def test_limits_count_code_points_after_nfc() -> None:
    w = Workshop(limits=Limits(idea_text_max=10, name_max=5), facilitator_name="Fa")
    ann = w.join("Zoe\u0301 A")  # 6 code points typed, 5 once composed
    assert w.room.members[ann].name == "Zoé A"
    w.join_fail("invalid_name", "Zoé AB")
    w.open_ideate()
    assert w.post(ann, "e\u0301" * 10) and w.room.ideas[w.post(ann, "é" * 10)].text == "é" * 10
    w.fail(ann, c.IdeaPost, "text_too_long", text="e\u0301" * 11)
    # A ZWJ family is 5 code points: two fit in 10.
    family = "👨\u200d👩\u200d👧"
    w.post(ann, family * 2)
    w.fail(ann, c.IdeaPost, "text_too_long", text=family * 2 + "!")


def test_runs_of_ascii_spaces_fold_in_names_but_no_break_spaces_stay() -> None:
    assert clean_name("  Ana  \u00a0 Maria  ", 40) == "Ana \u00a0 Maria"
    assert clean_name("Ana\u202f\u202fMaria", 40) == "Ana\u202f\u202fMaria"
    # Texts keep their inner white space as typed.
    assert clean_text("a  b\t\tc\n\n d", 40) == "a  b\t\tc\n\n d"


def test_room_keeps_exporting_the_text_rules() -> None:
    assert room_clean_text is clean_text and room_clean_name is clean_name


def test_first_refused_finds_the_first_one() -> None:
    assert first_refused("fine 👩🏽\u200d💻\n\tstill fine") is None
    assert first_refused("a\u202eb\x00c") == "\u202e"
    assert first_refused("a\x00b\u202ec") == "\x00"
    assert first_refused("line\nbreak") is None
    assert first_refused("line\nbreak", name=True) == "\n"
    assert first_refused("a{b}", name=True) == "{"
    assert first_refused("a{b}") is None


def test_every_code_point_is_judged_by_its_category() -> None:
    """Over all of Unicode: texts refuse exactly Cc (but newline and tab), Cs and the bidi controls;
    names refuse those, newline and tab, the line separators, three zero-width spaces and markup."""
    name_extra = set("\n\t\u2028\u2029\u200b\u2060\ufeff") | set('<>"`\\{}')
    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        category = unicodedata.category(ch)
        refused = (category in ("Cc", "Cs") and ch not in "\n\t") or ch in BIDI_CONTROLS
        assert (first_refused(ch) is not None) == refused, describe(ch)
        assert (first_refused(ch, name=True) is not None) == (refused or ch in name_extra), describe(ch)


def test_refused_characters_are_named() -> None:
    for cp in [*range(0x20), *range(0x7F, 0xA0)]:
        text = describe(chr(cp))
        code, _, name = text.partition(" ")
        assert code == f"U+{cp:04X}"
        assert unicodedata.lookup(name) == chr(cp), text  # a real Unicode name alias
    assert describe("\u202e") == "U+202E RIGHT-TO-LEFT OVERRIDE"
    assert describe("\udfff") == "U+DFFF (a lone surrogate)"
    assert describe("\U000e0001") == "U+E0001 LANGUAGE TAG"
