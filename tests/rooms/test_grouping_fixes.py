"""Themes, merges and dot votes as a demanding facilitator runs them live, fixed under text rules version 9
(``rooms/text.py`` ``GROUPING_FIXES``) and in the projections; each test failed before its fix. A journal
written under an earlier version replays as it was (the last test)."""

from __future__ import annotations

from tests.rooms.helpers import FACILITATOR, Workshop
from tests.rooms.test_merge_fixes import wall
from workshop_server.rooms import commands as c
from workshop_server.rooms import exports, views
from workshop_server.rooms import followup_views as fv
from workshop_server.rooms.text import GROUPING_FIXES


def test_undoing_an_inner_merge_sends_the_new_credit_of_the_idea_above() -> None:
    """Bob's note into Ann's, then Ann's into Cara's; undoing the first takes Bob's credit off Cara's
    note: the console, the room screen and Bob's phone kept showing Bob as its co-author."""
    w = Workshop()
    ann, bob, cara = w.join("Ann"), w.join("Bob"), w.join("Cara")
    w.open_ideate(private=False)
    a, b, top = w.post(ann, "coffee"), w.post(bob, "free coffee"), w.post(cara, "a coffee machine")
    w.close()
    inner = w.ok(FACILITATOR, c.IdeaMerge, into=a, ideas=[b])["merge"]
    w.ok(FACILITATOR, c.IdeaMerge, into=top, ideas=[a])
    console, screen, phone = w.viewer(FACILITATOR), w.screen(), w.viewer(bob)
    w.ok(FACILITATOR, c.IdeaUnmerge, merge=inner)
    assert w.room.ideas[top].coauthors == [ann]
    for viewer in (console, screen, phone):
        (above,) = viewer.last("idea.unmerged")["outer"]
        assert above["id"] == top and [x["id"] for x in above["coauthors"]] == [ann]
        assert "mine" not in above  # Bob is no longer credited on it


def test_an_idea_that_credits_other_authors_cannot_be_edited() -> None:
    """Bob's duplicate was merged into Ann's note during the ideation. Ann, shadow-muted, edits it:
    nobody else sees the new text, but Bob, credited on it, received it as his own note's. Refused
    now, like a withdrawal (the merge is undone first)."""
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    kept, dup = w.post(ann, "coffee"), w.post(bob, "free coffee")
    tea, again = w.post(ann, "tea"), w.post(ann, "tea again")
    w.ok(FACILITATOR, c.IdeaMerge, into=tea, ideas=[again])  # her own duplicate: nobody else credited
    w.ok(ann, c.IdeaEdit, idea=tea, text="tea, twice")
    merge = w.ok(FACILITATOR, c.IdeaMerge, into=kept, ideas=[dup])["merge"]
    w.ok(FACILITATOR, c.MemberShadowMute, member=ann)
    phone = w.viewer(bob)
    w.fail(ann, c.IdeaEdit, "invalid_transition", idea=kept, text="troll text")
    assert "troll text" not in phone.texts()
    w.ok(FACILITATOR, c.IdeaUnmerge, merge=merge)
    w.ok(ann, c.IdeaEdit, idea=kept, text="troll text")  # no one else credited: seen by Ann and staff
    assert "troll text" not in phone.texts()


def test_a_merge_after_the_vote_keeps_the_dots_in_the_contributors_and_my_ideas() -> None:
    """Duplicates merged after the vote closed: the report's ideas table and the CSV gave the kept note
    the dots of both, but its authors' contributor rows and "my ideas" only the kept note's own."""
    w = Workshop()
    ann, bob, ideas = wall(w, "coffee", "free coffee")
    cara = w.join("Cara")
    w.open_vote(budget=3, max_per_idea=3)
    w.vote(cara, ideas[1], 3)
    w.vote(ann, ideas[0], 1)
    w.close()
    w.ok(FACILITATOR, c.IdeaMerge, into=ideas[0], ideas=[ideas[1]])
    assert ",4," in exports.ideas_csv(w.room)
    rows = {r["member"]: r["dots"] for r in fv.contributors(w.room, None, staff=True)}
    assert rows == {ann: 4, bob: 4}
    assert {i["id"]: i["dots"] for i in views.my_ideas(w.room, ann)["ideas"]} == {ideas[0]: 4}


def test_a_journal_written_before_the_fixes_replays_as_it_was() -> None:
    """Entries handled under text rules 8 let the author edit an idea crediting others, and an undone
    inner merge sent no ``outer``: a replay must give the same events (the rebuild refuses a
    divergence), so the old rules apply to them."""
    w = Workshop()
    w.room.text_rules = GROUPING_FIXES - 1
    ann, bob, cara = w.join("Ann"), w.join("Bob"), w.join("Cara")
    w.open_ideate(private=False)
    a, b, top = w.post(ann, "coffee"), w.post(bob, "free coffee"), w.post(cara, "a coffee machine")
    inner = w.ok(FACILITATOR, c.IdeaMerge, into=a, ideas=[b])["merge"]
    w.ok(ann, c.IdeaEdit, idea=a, text="coffee for all")
    w.ok(FACILITATOR, c.IdeaMerge, into=top, ideas=[a])
    console = w.viewer(FACILITATOR)
    w.ok(FACILITATOR, c.IdeaUnmerge, merge=inner)
    assert "outer" not in console.last("idea.unmerged")
    assert w.room.ideas[top].coauthors == [ann]  # the credit itself was fixed by text rules 4
    w.room.text_rules = GROUPING_FIXES  # loaded again: what comes next is handled under today's rules
    w.fail(cara, c.IdeaEdit, "invalid_transition", idea=top, text="x")
