"""The facilitator's run of show (rounds, votes, themes): what a review found (each test failed before).

Each test says what a facilitator (or protocol.md) expects.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.rooms.helpers import FACILITATOR, Workshop
from workshop_server.rooms import commands as c
from workshop_server.rooms import exports
from workshop_server.rooms.text import ARCHIVE_FIXES

ROOT = Path(__file__).resolve().parents[2]


def _wall(w: Workshop, *texts: str) -> tuple[list[str], list[str]]:
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=True)
    ideas = [w.post(ann if n % 2 == 0 else bob, text) for n, text in enumerate(texts)]
    w.close()
    return [ann, bob], ideas


def _documented_events(command: str) -> list[str]:
    """The event names of ``command``'s **Events:** in protocol.md, in the order the text gives them."""
    doc = (ROOT / "protocol.md").read_text(encoding="utf-8")
    match = re.search(rf"^### `{re.escape(command)}`$(.*?)^### ", doc, flags=re.MULTILINE | re.DOTALL)
    assert match is not None
    events = re.search(r"\*\*Events:\*\*(.*?)\*\*Errors", match.group(1), flags=re.DOTALL)
    assert events is not None
    return re.findall(r"`([a-z_]+\.[a-z_]+)`", events.group(1))


def test_dissolving_a_theme_mid_theme_vote_sends_its_events_in_the_documented_order() -> None:
    """protocol.md, theme.dissolve: "Events: theme.dissolved, then vote.changed if dots were refunded";
    the core sends the refund first. (The replay check of the journal compares events in order, so the
    fix is in the doc, or in the code behind a new text-rules version.)"""
    w = Workshop()
    (ann, _), ideas = _wall(w, "coffee", "tea", "parking")
    drinks = w.ok(FACILITATOR, c.ThemeCreate, name="Drinks", ideas=ideas[:2])["theme"]["id"]
    w.ok(FACILITATOR, c.ThemeCreate, name="Space", ideas=ideas[2:])
    w.open_vote(target="themes")
    w.ok(ann, c.VoteAdd, theme=drinks)
    out = w.do(FACILITATOR, c.ThemeDissolve, theme=drinks)
    assert out.error is None
    assert [e.name for e in out.events] == _documented_events("theme.dissolve")


def test_the_report_of_a_theme_vote_still_names_the_winner_after_the_theme_is_dissolved() -> None:
    """A facilitator regroups after a vote on themes (dissolves the winner to split it for the next
    round): the ranked result is the record of what the room chose, and must keep what was voted on."""
    w = Workshop()
    (ann, bob), ideas = _wall(w, "coffee", "tea", "parking")
    drinks = w.ok(FACILITATOR, c.ThemeCreate, name="Drinks", ideas=ideas[:2])["theme"]["id"]
    w.ok(FACILITATOR, c.ThemeCreate, name="Space", ideas=ideas[2:])
    w.open_vote(target="themes")
    w.ok(ann, c.VoteAdd, theme=drinks)
    w.ok(bob, c.VoteAdd, theme=drinks)
    w.close()
    w.ok(FACILITATOR, c.ThemeDissolve, theme=drinks)
    report = exports.report_md(w.room)
    results = report.split("## Ideas and their status")[0]
    assert "Drinks" in results, results


def _in_documented_order(emitted: list[str], documented: list[str]) -> bool:
    """Every event sent is documented, and they come in the documented order (conditional ones may be
    missing)."""
    rest = iter(documented)
    return all(any(e == d for d in rest) for e in emitted)  # a subsequence of the documented list


def _theme_vote(w: Workshop) -> tuple[str, list[str], str, str]:
    """A vote on themes: Food holds ideas 0 and 1, Space holds idea 2 alone and has Ann's dot."""
    (ann, _), ideas = _wall(w, "coffee", "tea", "parking")
    food = w.ok(FACILITATOR, c.ThemeCreate, name="Food", ideas=ideas[:2])["theme"]["id"]
    space = w.ok(FACILITATOR, c.ThemeCreate, name="Space", ideas=ideas[2:])["theme"]["id"]
    w.open_vote(target="themes")
    w.ok(ann, c.VoteAdd, theme=space)
    return ann, ideas, food, space


@pytest.mark.parametrize("command", ["theme.create", "idea.merge", "idea.hide", "theme.assign"])
def test_a_theme_left_empty_mid_theme_vote_refunds_with_documented_events(command: str) -> None:
    """Each of these empties Space (its only idea leaves it) during a vote on themes: its dots go back
    with a ``vote.changed``. protocol.md must list that event, in the order it comes."""
    w = Workshop()
    _, ideas, food, _ = _theme_vote(w)
    fields: dict[str, Any] = {
        "theme.create": {"name": "Parking", "ideas": [ideas[2]]},
        "idea.merge": {"into": ideas[0], "ideas": [ideas[2]]},
        "idea.hide": {"idea": ideas[2]},
        "theme.assign": {"theme": food, "ideas": [ideas[2]]},
    }[command]
    cls = {
        "theme.create": c.ThemeCreate,
        "idea.merge": c.IdeaMerge,
        "idea.hide": c.IdeaHide,
        "theme.assign": c.ThemeAssign,
    }[command]
    out = w.do(FACILITATOR, cls, **fields)
    assert out.error is None
    emitted = [e.name for e in out.events]
    assert "vote.changed" in emitted  # the refund happened
    documented = _documented_events(command)
    assert _in_documented_order(emitted, documented), (emitted, documented)


def test_two_themes_cannot_share_a_name() -> None:
    """A theme ballot showed two identical names: create and rename refuse another theme's name, case
    aside (from text rules 5); renaming a theme to its own name in another case is fine."""
    w = Workshop()
    first = w.ok(FACILITATOR, c.ThemeCreate, name="Coffee")["theme"]["id"]
    w.fail(FACILITATOR, c.ThemeCreate, "invalid_command", name="coffee")
    other = w.ok(FACILITATOR, c.ThemeCreate, name="Tea")["theme"]["id"]
    w.fail(FACILITATOR, c.ThemeUpdate, "invalid_command", theme=other, name="COFFEE")
    w.ok(FACILITATOR, c.ThemeUpdate, theme=first, name="COFFEE")
    assert [t.name for t in w.room.themes.values()] == ["COFFEE", "Tea"]


def test_the_spotlight_of_a_dissolved_theme_is_gone_for_staff_too() -> None:
    w = Workshop()
    ann = w.join("Ann")
    w.open_ideate(private=False)
    idea = w.post(ann, "espresso")
    theme = w.ok(FACILITATOR, c.ThemeCreate, name="Coffee", ideas=[idea])["theme"]["id"]
    w.ok(FACILITATOR, c.RoomSpotlight, theme=theme)
    w.ok(FACILITATOR, c.ThemeDissolve, theme=theme)
    assert w.room.snapshot(FACILITATOR, "facilitator")["spotlight"] is None


def test_two_themes_sharing_a_name_in_an_older_journal_replay_as_they_were() -> None:
    w = Workshop()
    w.room.text_rules = ARCHIVE_FIXES - 1  # an entry handled under text rules 5
    w.ok(FACILITATOR, c.ThemeCreate, name="Coffee")
    w.ok(FACILITATOR, c.ThemeCreate, name="coffee")
    w.room.text_rules = ARCHIVE_FIXES
    w.fail(FACILITATOR, c.ThemeCreate, "invalid_command", name="COFFEE")
