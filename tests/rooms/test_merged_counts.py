"""One definition of "ideas" after staff merge duplicates, everywhere a facilitator reads a count.

*Ideas* are the distinct ideas once duplicates are merged (the notes not merged into another); *notes
posted* are every note posted, merged ones included, and a merge never changes them. The dashboard's
tile counted ideas while the per-round figures, the timeline and the report's rounds counted notes
posted under the same name "ideas": 3 ideas on the tile, 4 in round 1 (review of merges)."""

from __future__ import annotations

import csv
import io
import re

from tests.rooms.helpers import FACILITATOR, Workshop
from workshop_server.rooms import commands as c
from workshop_server.rooms import views
from workshop_server.rooms.exports import ideas_csv, report_md
from workshop_server.rooms.figures import figures
from workshop_server.rooms.state import RoomConfig


def merged_room(locale: str = "en") -> tuple[Workshop, list[str]]:
    """Round 1: Ann posts two notes, Bob two, one of Ann's a duplicate of Bob's (merged during the
    round); round 2: Cyd posts one, into which staff merge a note of round 1 after the round."""
    w = Workshop(RoomConfig(title="W", locale=locale))
    ann, bob, cyd = w.join("Ann"), w.join("Bob"), w.join("Cyd")
    w.open_ideate(private=False)
    ideas = [w.post(ann, "coffee"), w.post(ann, "plants"), w.post(bob, "better coffee")]
    w.advance(70)
    ideas.append(w.post(bob, "quiet room"))
    w.ok(FACILITATOR, c.IdeaMerge, into=ideas[2], ideas=[ideas[0]])
    w.close()
    w.open_ideate(private=False)
    ideas.append(w.post(cyd, "a quiet space"))
    w.ok(FACILITATOR, c.IdeaMerge, into=ideas[4], ideas=[ideas[3]])
    return w, ideas


def test_every_figure_counts_ideas_once_duplicates_are_merged_and_notes_posted_apart() -> None:
    w, _ = merged_room()
    f = figures(w.room)
    ideate = [r for r in f["rounds"] if r["kind"] == "ideate"]
    assert (f["ideas"], f["notes"]) == (3, 5)
    assert [(r["ideas"], r["notes"]) for r in ideate] == [(2, 4), (1, 1)]
    # The parts add up to the whole, for each definition.
    assert sum(r["ideas"] for r in ideate) == sum(p["ideas"] for p in f["timeline"]) == f["ideas"]
    assert sum(r["notes"] for r in ideate) == sum(p["notes"] for p in f["timeline"]) == f["notes"]
    assert [(p["notes"], p["ideas"]) for p in f["timeline"]] == [(3, 2), (2, 1)]
    on_wall = f["themes"]["ungrouped"] + sum(t["ideas"] for t in f["themes"]["themes"])
    assert on_wall == f["ideas"]  # all on the wall here
    # The CSV has one row per idea.
    rows = list(csv.reader(io.StringIO(ideas_csv(w.room).removeprefix("\ufeff"), newline="")))
    assert len(rows) - 1 == f["ideas"]


def test_the_room_screen_counts_the_current_rounds_ideas_as_the_figures_do() -> None:
    """The screen's progress of round 2 says 1 idea by 2 people: Cyd, and Bob, whose note of round 1
    was merged into hers (the figures credit both); it left Bob out."""
    w, _ = merged_room()
    progress = views.progress(w.room)
    current = figures(w.room)["rounds"][-1]
    assert (
        (progress["ideas"], progress["contributors"]) == (current["ideas"], current["contributors"]) == (1, 2)
    )


def test_the_report_says_ideas_and_notes_posted_in_english_and_french() -> None:
    w, _ = merged_room()
    report = report_md(w.room)
    assert re.search(r"^2 ideas \(4 notes posted, duplicates merged\)\.$", report, flags=re.M), report
    assert re.search(r"^1 idea\.$", report, flags=re.M)
    assert "- Ideas (duplicates merged): 3" in report.splitlines()
    assert "- Notes posted: 5" in report.splitlines()
    french = report_md(w.room, lang="fr")
    assert "2 idées (4 notes postées, doublons fusionnés)." in french
    assert "- Idées (doublons fusionnés)\u202f: 3" in french.splitlines()
    assert "- Notes postées\u202f: 5" in french.splitlines()
