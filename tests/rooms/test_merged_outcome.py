"""A note merged away on its author's "my ideas" page: the merge credits every author, so the outcome of
the note it was merged into (its status, decisions and replies) is the author's outcome too. The page
gave the merged card only the absorbing note's text, so it said "No decision yet" (review of merges)."""

from __future__ import annotations

from tests.rooms.helpers import FACILITATOR, Workshop
from workshop_server.rooms import commands as c
from workshop_server.rooms import views


def card(page: dict[str, object], idea: str) -> dict[str, object]:
    ideas = page["ideas"]
    assert isinstance(ideas, list)
    return next(i for i in ideas if i["id"] == idea)


def test_a_merged_note_carries_the_outcome_of_the_note_it_was_merged_into() -> None:
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    absorbed = w.post(ann, "A coffee machine")
    kept = w.post(bob, "Better coffee")
    w.close()
    w.ok(FACILITATOR, c.IdeaMerge, ideas=[absorbed], into=kept)
    w.ok(FACILITATOR, c.IdeaStatusSet, idea=kept, status="shortlisted")
    w.ok(FACILITATOR, c.IdeaStatusSet, idea=kept, status="adopted", note="Spring launch")
    w.ok(FACILITATOR, c.ReplyPost, idea=kept, text="Ordered it")
    mine = card(views.my_ideas(w.room, ann), absorbed)
    assert mine["state"] == "merged" and mine["history"] == []
    outcome = mine["merged_into_idea"]
    assert isinstance(outcome, dict)
    assert (outcome["id"], outcome["text"], outcome["state"], outcome["status"]) == (
        kept,
        "Better coffee",
        "visible",
        "adopted",
    )
    assert [h["status"] for h in outcome["history"]] == ["shortlisted", "adopted"]
    assert outcome["history"][-1]["note"] == "Spring launch"
    assert [r["text"] for r in outcome["replies"]] == ["Ordered it"]
    # The same outcome as the card of the note it was merged into, which Ann is credited on.
    held = card(views.my_ideas(w.room, ann), kept)
    assert (held["status"], held["history"], held["replies"]) == (
        outcome["status"],
        outcome["history"],
        outcome["replies"],
    )
    assert "merged_into_idea" not in held


def test_a_note_merged_twice_carries_the_outcome_of_the_note_that_holds_it_now() -> None:
    w = Workshop()
    ann, bob, cyd = w.join("Ann"), w.join("Bob"), w.join("Cyd")
    w.open_ideate(private=False)
    first, second, third = w.post(ann, "a"), w.post(bob, "b"), w.post(cyd, "c")
    w.ok(FACILITATOR, c.IdeaMerge, ideas=[first], into=second)
    w.ok(FACILITATOR, c.IdeaMerge, ideas=[second], into=third)
    w.ok(FACILITATOR, c.IdeaStatusSet, idea=third, status="declined", note="Too costly")
    mine = card(views.my_ideas(w.room, ann), first)
    assert mine["merged_into_text"] == "b"  # the note that absorbed it, as before
    outcome = mine["merged_into_idea"]
    assert isinstance(outcome, dict)
    assert (outcome["id"], outcome["status"]) == (third, "declined")
    assert outcome["history"][-1]["note"] == "Too costly"
