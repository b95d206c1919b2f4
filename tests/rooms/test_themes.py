"""Themes and merges in the room core: grouping, visibility, votes on themes, merges that keep every
author credited and never push a voter above the cap or the budget, undo, bad input, and replay."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.rooms.helpers import FACILITATOR, Workshop, state_without_clock
from workshop_server.rooms import commands as c
from workshop_server.rooms import queries, views
from workshop_server.rooms.events import PUBLIC, STAFF
from workshop_server.rooms.room import Room


def wall(w: Workshop, *texts: str, private: bool = False) -> tuple[list[str], list[str]]:
    """Ann and Bob post ``texts`` alternately in a round that is then closed (revealed if private)."""
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=private)
    ideas = [w.post(ann if n % 2 == 0 else bob, text) for n, text in enumerate(texts)]
    w.close()
    return [ann, bob], ideas


def theme(w: Workshop, name: str, ideas: list[str], actor: str = FACILITATOR) -> str:
    return str(w.ok(actor, c.ThemeCreate, name=name, ideas=ideas)["theme"]["id"])


# --- Themes -----------------------------------------------------------------------------------------------
def test_staff_group_rename_recolour_and_dissolve() -> None:
    w = Workshop()
    mod = w.moderator()
    (ann, _), ideas = wall(w, "coffee", "tea", "parking")
    screen = w.screen()
    board = w.viewer(ann)
    tid = theme(w, "Drinks", ideas[:1], actor=mod)
    assert w.room.ideas[ideas[0]].theme == tid
    w.ok(FACILITATOR, c.ThemeAssign, theme=tid, ideas=[ideas[1]])
    assert screen.last("theme.ideas") == {"theme": tid, "ideas": [ideas[1]]}
    w.ok(mod, c.ThemeUpdate, theme=tid, name="Hot drinks", color="pink")
    assert board.last("theme.updated")["theme"] == {
        "id": tid,
        "name": "Hot drinks",
        "color": "pink",
        "ideas": ideas[:2],
        "status": "new",
        "history": [],
    }
    snap = w.room.snapshot(ann, "participant")
    assert snap["themes"] == [
        {"id": tid, "name": "Hot drinks", "color": "pink", "ideas": ideas[:2], "status": "new", "history": []}
    ]
    assert {i["id"]: i.get("theme") for i in snap["ideas"]} == {ideas[0]: tid, ideas[1]: tid, ideas[2]: None}
    w.ok(FACILITATOR, c.ThemeAssign, theme=None, ideas=[ideas[0]])
    assert w.room.ideas[ideas[0]].theme is None
    out = w.ok(FACILITATOR, c.ThemeDissolve, theme=tid)
    assert out == {"theme": tid, "ideas": [ideas[1]]}
    assert w.room.themes == {} and all(i.theme is None for i in w.room.ideas.values())
    assert screen.last("theme.dissolved") == {"theme": tid, "ideas": [ideas[1]]}


def test_a_private_note_never_gets_a_theme_nor_shows_in_one() -> None:
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=True)
    mine = w.post(ann, "secret until the reveal")
    other = w.post(bob, "bob's")
    w.fail(FACILITATOR, c.ThemeCreate, "idea_private", name="T", ideas=[mine])
    w.fail(FACILITATOR, c.ThemeAssign, "idea_private", theme=None, ideas=[other])
    w.fail(FACILITATOR, c.IdeaMerge, "idea_private", into=mine, ideas=[other])
    tid = theme(w, "Empty for now", [])
    w.fail(FACILITATOR, c.ThemeAssign, "idea_private", theme=tid, ideas=[mine])
    assert w.room.snapshot(bob, "participant")["themes"] == [
        {"id": tid, "name": "Empty for now", "color": "blue", "ideas": [], "status": "new", "history": []}
    ]


def test_a_shadowed_note_is_refused_for_what_it_is() -> None:
    """Grouping a note written under a shadow mute, in a round that is not private, said "reveal the
    round first": nothing to reveal. It says how to publish it."""
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    w.ok(FACILITATOR, c.MemberShadowMute, member=ann)
    shadowed, other = w.post(ann, "only Ann and staff see this"), w.post(bob, "on the wall")
    refused = w.fail(FACILITATOR, c.IdeaMerge, "idea_private", into=other, ideas=[shadowed]).error
    assert refused is not None and "shadow mute" in refused.message and "idea.restore" in refused.message
    w.ok(FACILITATOR, c.IdeaRestore, idea=shadowed)  # published: now it merges
    w.ok(FACILITATOR, c.IdeaMerge, into=other, ideas=[shadowed])


def test_a_hidden_note_drops_out_of_the_public_theme_but_not_the_staff_one() -> None:
    w = Workshop()
    (ann, _), ideas = wall(w, "a", "b")
    tid = theme(w, "T", ideas)
    w.ok(FACILITATOR, c.IdeaHide, idea=ideas[0], reason="off topic")
    public = w.room.snapshot(ann, "participant")["themes"][0]["ideas"]
    staff = w.room.snapshot(FACILITATOR, "facilitator")["themes"][0]["ideas"]
    assert public == [ideas[1]] and staff == ideas
    w.ok(FACILITATOR, c.ThemeUpdate, theme=tid, name="T2")
    event = w.events[-1]
    assert event.views[PUBLIC]["theme"]["ideas"] == [ideas[1]]
    assert event.views[STAFF]["theme"]["ideas"] == ideas


def test_bad_theme_input_changes_nothing() -> None:
    w = Workshop()
    (ann, _), ideas = wall(w, "a", "b")
    tid = theme(w, "T", [])
    w.fail(FACILITATOR, c.ThemeAssign, "not_found", theme="t999", ideas=[ideas[0]])  # e.g. another room's
    w.fail(FACILITATOR, c.ThemeAssign, "not_found", theme=tid, ideas=["i999"])
    w.fail(FACILITATOR, c.ThemeAssign, "invalid_command", theme=tid, ideas=[ideas[0], ideas[0]])
    w.fail(FACILITATOR, c.ThemeUpdate, "invalid_command", theme=tid)
    w.fail(FACILITATOR, c.ThemeCreate, "text_too_long", name="x" * 61)
    w.fail(FACILITATOR, c.ThemeCreate, "invalid_command", name="   ")
    w.fail(FACILITATOR, c.ThemeDissolve, "not_found", theme="t999")
    w.fail(ann, c.ThemeCreate, "forbidden", name="mine")
    w.fail(ann, c.IdeaMerge, "forbidden", into=ideas[0], ideas=[ideas[1]])
    w.fail(FACILITATOR, c.IdeaMerge, "invalid_command", into=ideas[0], ideas=[ideas[0]])
    w.fail(FACILITATOR, c.IdeaMerge, "not_found", into=ideas[0], ideas=["i999"])
    w.fail(FACILITATOR, c.IdeaUnmerge, "not_found", merge="g999")
    assert w.ok(FACILITATOR, c.ThemeCreate, name="Café\u202fnoir ☕ " + "é" * 40)["theme"]["name"]


# --- Votes on themes --------------------------------------------------------------------------------------
def test_a_vote_round_on_themes_has_the_same_budget_and_cap_and_ranks_themes() -> None:
    w = Workshop()
    (ann, bob), ideas = wall(w, "a", "b", "c")
    food, space = theme(w, "Food", ideas[:2]), theme(w, "Space", ideas[2:])
    w.open_vote(target="themes", budget=3, max_per_idea=2)
    w.ok(ann, c.VoteAdd, theme=food)
    w.ok(ann, c.VoteAdd, theme=food)
    w.fail(ann, c.VoteAdd, "vote_cap_exceeded", theme=food)
    w.ok(ann, c.VoteAdd, theme=space)
    w.fail(ann, c.VoteAdd, "vote_budget_exceeded", theme=space)
    w.fail(bob, c.VoteAdd, "invalid_command", idea=ideas[0])  # this round's dots go on themes
    w.fail(bob, c.VoteAdd, "not_found", theme="t999")
    w.ok(bob, c.VoteAdd, theme=space)
    w.ok(bob, c.VoteRemove, theme=space)
    w.ok(bob, c.VoteAdd, theme=space)
    w.close()
    results = w.room.rounds[w.room.current or ""].results
    assert results == [
        {"theme": food, "total": 2, "rank": 1, "name": "Food"},
        {"theme": space, "total": 2, "rank": 1, "name": "Space"},
    ]


def test_a_theme_vote_needs_a_theme_and_a_dissolved_theme_gives_its_dots_back() -> None:
    w = Workshop()
    (ann, _), ideas = wall(w, "a", "b")
    w.fail(FACILITATOR, c.RoundOpen, "invalid_transition", kind="vote", prompt="v", target="themes")
    food = theme(w, "Food", ideas)
    w.open_vote(target="themes")
    w.ok(ann, c.VoteAdd, theme=food)
    board = w.viewer(ann)
    w.ok(FACILITATOR, c.ThemeDissolve, theme=food)
    assert board.last("vote.changed")["remaining"] == 3
    assert w.room.rounds[w.room.current or ""].totals == {}


def test_a_vote_on_ideas_is_also_ranked_by_theme() -> None:
    w = Workshop()
    (ann, bob), ideas = wall(w, "a", "b", "c")
    food = theme(w, "Food", ideas[:2])
    space = theme(w, "Space", ideas[2:])
    w.open_vote(hide_totals=False)
    w.vote(ann, ideas[0])
    w.vote(bob, ideas[1])
    w.vote(bob, ideas[2])
    w.close()
    rnd = w.room.rounds[w.room.current or ""]
    assert rnd.theme_results == [
        {"theme": food, "total": 2, "rank": 1, "name": "Food"},
        {"theme": space, "total": 1, "rank": 2, "name": "Space"},
    ]
    assert w.room.snapshot(ann, "participant")["votes"][0]["theme_results"] == rnd.theme_results


# --- Merges -----------------------------------------------------------------------------------------------
def test_a_merge_credits_every_author_and_undo_restores_everything() -> None:
    w = Workshop()
    (_, bob), ideas = wall(w, "free coffee", "coffee for free", "parking")
    cara = w.join("Cara")
    tid = theme(w, "Drinks", [ideas[1]])
    before = state_without_clock(w.room)
    bob_board, cara_board = w.viewer(bob), w.viewer(cara)
    out = w.ok(FACILITATOR, c.IdeaMerge, into=ideas[0], ideas=[ideas[1]])
    into = w.room.ideas[ideas[0]]
    assert into.coauthors == [bob] and into.theme == tid  # took the absorbed idea's theme
    assert w.room.ideas[ideas[1]].state == "merged" and w.room.ideas[ideas[1]].merged_into == ideas[0]
    # Bob follows the merged idea as his own; the public sees it with both authors credited.
    assert bob_board.last("idea.merged")["idea"]["mine"] is True
    public = cara_board.last("idea.merged")
    assert public["merged"] == [ideas[1]] and public["idea"]["coauthors"] == [{"id": bob, "name": "Bob"}]
    snap = w.room.snapshot(bob, "participant")
    assert {i["id"] for i in snap["ideas"] if i.get("mine")} >= {ideas[0], ideas[1]}
    assert ideas[1] not in {i["id"] for i in w.room.snapshot(cara, "participant")["ideas"]}
    w.ok(FACILITATOR, c.IdeaUnmerge, merge=out["merge"])
    after = state_without_clock(w.room)
    for key in ("ideas", "themes", "rounds", "members"):
        assert after[key] == before[key], key
    w.fail(FACILITATOR, c.IdeaUnmerge, "invalid_transition", merge=out["merge"])  # once only


def test_a_merge_cannot_be_undone_once_another_round_opened() -> None:
    w = Workshop()
    _, ideas = wall(w, "a", "b")
    merge = w.ok(FACILITATOR, c.IdeaMerge, into=ideas[0], ideas=[ideas[1]])["merge"]
    w.open_vote()
    w.fail(FACILITATOR, c.IdeaUnmerge, "invalid_transition", merge=merge)
    w.fail(FACILITATOR, c.IdeaMerge, "invalid_transition", into=ideas[0], ideas=[ideas[1]])  # merged


def test_dots_add_up_and_the_excess_over_the_cap_is_refunded_with_an_event() -> None:
    w = Workshop()
    (ann, bob), ideas = wall(w, "a", "a again", "b")
    w.open_vote(budget=4, max_per_idea=2, hide_totals=False)
    w.vote(ann, ideas[0], 2)
    w.vote(ann, ideas[1], 2)
    w.vote(bob, ideas[1], 1)
    ann_board = w.viewer(ann)
    merge = w.ok(FACILITATOR, c.IdeaMerge, into=ideas[0], ideas=[ideas[1]])["merge"]
    rnd = w.room.rounds[w.room.current or ""]
    assert rnd.dots[ann] == {ideas[0]: 2}  # 4 would exceed the cap of 2: 2 refunded
    assert rnd.dots[bob] == {ideas[0]: 1}
    assert rnd.totals == {ideas[0]: 3}
    refund = ann_board.last("vote.totals")
    assert refund["refunded"] == 2 and refund["remaining"] == 2
    # Undo: the dots still on the merged idea go back where they were (the refund stays a refund).
    w.ok(FACILITATOR, c.IdeaUnmerge, merge=merge)
    assert rnd.dots[bob] == {ideas[1]: 1}
    assert sum(rnd.dots[ann].values()) == 2
    assert all(n <= rnd.max_per_idea for mine in rnd.dots.values() for n in mine.values())


STEPS = st.lists(
    st.tuples(
        st.sampled_from(["vote", "unvote", "merge", "unmerge"]),
        st.integers(0, 2),  # voter
        st.integers(0, 5),  # idea
        st.integers(0, 5),  # other idea
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(steps=STEPS, budget=st.integers(1, 5), cap=st.integers(1, 3))
def test_merges_and_votes_interleaved_never_exceed_a_budget_or_a_cap(
    steps: list[tuple[str, int, int, int]], budget: int, cap: int
) -> None:
    w = Workshop()
    voters, ideas = wall(w, *[f"idea {n}" for n in range(6)])
    voters.append(w.join("Cara"))
    w.open_vote(budget=budget, max_per_idea=cap, hide_totals=False)
    merges: list[str] = []
    for kind, voter, one, other in steps:
        actor = voters[voter]
        out: Any
        if kind == "vote":
            out = w.do(actor, c.VoteAdd, idea=ideas[one])
        elif kind == "unvote":
            out = w.do(actor, c.VoteRemove, idea=ideas[one])
        elif kind == "merge":
            out = w.do(FACILITATOR, c.IdeaMerge, into=ideas[one], ideas=[ideas[other]])
            if out.error is None:
                merges.append(out.result["merge"])
        else:
            if not merges:
                continue
            out = w.do(FACILITATOR, c.IdeaUnmerge, merge=merges[one % len(merges)])
        rnd = w.room.rounds[w.room.current or ""]
        for mine in rnd.dots.values():
            assert sum(mine.values()) <= rnd.budget
            assert all(0 < n <= rnd.max_per_idea for n in mine.values())
            assert all(w.room.publicly_visible(w.room.ideas[i]) for i in mine)
        totals: dict[str, int] = {}
        for mine in rnd.dots.values():
            for idea_id, n in mine.items():
                totals[idea_id] = totals.get(idea_id, 0) + n
        assert totals == rnd.totals


# --- Replay -----------------------------------------------------------------------------------------------
def test_a_room_with_themes_and_merges_is_rebuilt_identically_from_its_commands() -> None:
    w = Workshop()
    (ann, _), ideas = wall(w, "a", "b", "c", "d")
    tid = theme(w, "T", ideas[:2])
    w.ok(FACILITATOR, c.ThemeUpdate, theme=tid, color="green")
    merge = w.ok(FACILITATOR, c.IdeaMerge, into=ideas[2], ideas=[ideas[3]])["merge"]
    w.open_vote(target="themes")
    w.ok(ann, c.VoteAdd, theme=tid)
    w.close()
    w.ok(FACILITATOR, c.ThemeAssign, theme=None, ideas=[ideas[0]])
    assert merge
    replayed = w.fresh_room()
    for command, actor, now in w.journal:
        replayed.handle(command, actor, now)
    assert replayed.to_state() == w.room.to_state()
    assert Room.from_state(w.room.to_state()).to_state() == w.room.to_state()


# --- Found in review ----------------------------------------------------------------------------------------
def test_the_idea_a_merge_kept_cannot_be_withdrawn() -> None:
    """Ann merges two of her own notes: withdrawing the kept one would orphan the other."""
    w = Workshop()
    ann = w.join("Ann")
    w.open_ideate(private=False)
    kept, dup = w.post(ann, "coffee"), w.post(ann, "coffee!")
    merge = w.ok(FACILITATOR, c.IdeaMerge, into=kept, ideas=[dup])["merge"]
    w.fail(ann, c.IdeaWithdraw, "invalid_transition", idea=kept)
    w.fail(ann, c.IdeaWithdraw, "invalid_transition", idea=dup)
    w.ok(FACILITATOR, c.IdeaUnmerge, merge=merge)
    w.ok(ann, c.IdeaWithdraw, idea=kept)  # no merge left: an ordinary withdrawal


def test_a_merge_in_an_anonymous_round_names_nobody_to_participants() -> None:
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False, anonymous=True)
    a, b = w.post(ann, "coffee"), w.post(bob, "free coffee")
    w.close()
    bob_board, ann_board = w.viewer(bob), w.viewer(ann)
    merge = w.ok(FACILITATOR, c.IdeaMerge, into=a, ideas=[b])["merge"]
    seen_by_bob = bob_board.last("idea.merged")["idea"]
    assert "author" not in seen_by_bob and "author_name" not in seen_by_bob
    assert seen_by_bob["coauthors"] == [{"id": bob, "name": "Bob"}] and seen_by_bob["mine"] is True
    seen_by_ann = ann_board.last("idea.merged")["idea"]
    assert seen_by_ann["author"] == ann and seen_by_ann["coauthors"] == []
    snap = w.room.snapshot(bob, "participant")
    assert all("Ann" not in str(i) for i in snap["ideas"])
    w.ok(FACILITATOR, c.IdeaUnmerge, merge=merge)
    assert "Ann" not in str(bob_board.last("idea.unmerged"))
    assert w.room.snapshot(FACILITATOR, "facilitator")["ideas"][0]["author_name"] == "Ann"  # staff see all


def test_undoing_one_merge_keeps_the_credit_another_merge_still_owes() -> None:
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    kept, one, two = w.post(ann, "x"), w.post(bob, "x one"), w.post(bob, "x two")
    first = w.ok(FACILITATOR, c.IdeaMerge, into=kept, ideas=[one])["merge"]
    w.ok(FACILITATOR, c.IdeaMerge, into=kept, ideas=[two])
    w.ok(FACILITATOR, c.IdeaUnmerge, merge=first)
    assert w.room.ideas[kept].coauthors == [bob]  # "x two" is still merged into it


def test_undoing_a_merge_whose_kept_idea_is_hidden_shows_the_restored_ideas() -> None:
    w = Workshop()
    _, ideas = wall(w, "a", "b")
    merge = w.ok(FACILITATOR, c.IdeaMerge, into=ideas[0], ideas=[ideas[1]])["merge"]
    w.ok(FACILITATOR, c.IdeaHide, idea=ideas[0], reason="")
    screen = w.screen()
    w.ok(FACILITATOR, c.IdeaUnmerge, merge=merge)
    public = screen.last("idea.unmerged")
    assert "idea" not in public  # the hidden kept idea stays off the wall
    assert [i["id"] for i in public["ideas"]] == [ideas[1]]


def test_a_theme_that_loses_its_last_visible_idea_gives_its_dots_back() -> None:
    w = Workshop()
    (ann, bob), ideas = wall(w, "a", "b", "c")
    t1, t2 = theme(w, "One", [ideas[0]]), theme(w, "Two", ideas[1:])
    w.open_vote(target="themes", budget=3, max_per_idea=2)
    w.ok(ann, c.VoteAdd, theme=t1)
    w.ok(ann, c.VoteAdd, theme=t1)
    w.ok(bob, c.VoteAdd, theme=t2)
    w.ok(FACILITATOR, c.IdeaMerge, into=ideas[1], ideas=[ideas[0]])  # t1's only idea leaves the wall
    rnd = w.room.rounds[w.room.current or ""]
    assert rnd.dots[ann] == {} and t1 not in rnd.totals
    w.ok(FACILITATOR, c.IdeaHide, idea=ideas[1], reason="")
    w.ok(FACILITATOR, c.IdeaHide, idea=ideas[2], reason="")  # t2 now holds nothing visible
    assert rnd.totals == {} and rnd.dots[bob] == {}


def test_no_view_of_a_merge_shows_a_voters_dots() -> None:
    w = Workshop()
    (ann, _), ideas = wall(w, "a", "a too")
    w.open_vote(hide_totals=True)
    w.vote(ann, ideas[1])
    w.ok(FACILITATOR, c.IdeaMerge, into=ideas[0], ideas=[ideas[1]])
    merges = w.room.snapshot(FACILITATOR, "facilitator")["merges"]
    assert merges and all("moved" not in m and "refunded" not in m for m in merges)
    assert ann not in str(merges)


def test_suggested_themes_read_only_the_ungrouped_notes_on_the_wall() -> None:
    """``themes.suggest`` reads ``ungrouped_on_wall``: a suggestion never holds, nor is named after, a
    note that is private to its author, waiting for approval, hidden, withdrawn, merged, shadowed, or
    already in a theme."""
    w = Workshop()
    ann, bob, cy = w.join("Ann"), w.join("Bob"), w.join("Cy")
    w.open_ideate(private=False)
    on_wall = [w.post(ann, "free coffee"), w.post(bob, "more coffee")]
    hidden = w.post(ann, "coffee is for closers")
    w.ok(FACILITATOR, c.IdeaHide, idea=hidden, reason="off topic")
    withdrawn = w.post(bob, "coffee again")
    w.ok(bob, c.IdeaWithdraw, idea=withdrawn)
    absorbed = w.post(ann, "coffee please")
    w.ok(FACILITATOR, c.IdeaMerge, into=on_wall[0], ideas=[absorbed])
    grouped = w.post(bob, "coffee machine")
    theme(w, "Machines", [grouped])
    w.ok(FACILITATOR, c.MemberShadowMute, member=cy)
    shadowed = w.post(cy, "coffee coffee coffee")
    w.ok(FACILITATOR, c.RoomSet, approval_queue=True)
    pending = w.post(ann, "coffee for all")
    w.ok(FACILITATOR, c.RoomSet, approval_queue=False)
    w.close()
    w.open_ideate(private=True)
    private = w.post(ann, "secret coffee")
    ids = [i for i, _ in views.ungrouped_on_wall(w.room)]
    assert ids == on_wall, (hidden, withdrawn, absorbed, grouped, shadowed, pending, private)
    # The themes' side reads the same notes: a theme's hidden note is not read, and a theme with
    # none left on the wall is left out.
    machines = next(t.id for t in w.room.themes.values() if t.name == "Machines")
    theme(w, "Later", [on_wall[1]])
    w.ok(FACILITATOR, c.IdeaHide, idea=on_wall[1], reason="off topic")
    assert views.themes_on_wall(w.room) == [(machines, ["coffee machine"])]
    # The named query answers what the engine reads at most: the first notes, the first of each theme.
    w.ok(FACILITATOR, c.ThemeAssign, theme=machines, ideas=[on_wall[0]])
    read = queries.run(w.room, "suggest_input", {"notes": 5, "per_theme": 1, "themed": 10})
    assert read == {"notes": [], "themes": [[machines, ["free coffee"]]]}
    w.ok(FACILITATOR, c.ThemeAssign, theme=None, ideas=[on_wall[0], grouped])
    read = queries.run(w.room, "suggest_input", {"notes": 1, "per_theme": 1, "themed": 10})
    assert read == {"notes": [[on_wall[0], "free coffee"]], "themes": []}
    # A worker of an earlier release (a rolling upgrade) asks without the bounds, or by the old name.
    assert queries.run(w.room, "suggest_input", {})["notes"] == [
        [i, t] for i, t in views.ungrouped_on_wall(w.room)
    ]
    assert queries.run(w.room, "ungrouped_on_wall", {}) == [
        [i, t] for i, t in views.ungrouped_on_wall(w.room)
    ]
