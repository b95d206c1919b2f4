"""A shadow-muted member's ideas stay in their themes in its own views (text rules 19, SHADOW_THEME_FIXES).

An idea grouped into a theme while it was published, then edited by its author under a shadow mute, is
shadowed: the public no longer sees it. Its author must not be able to tell: it sees the idea in its
theme (its snapshot, the theme events, "my ideas"), the idea follows the theme's status, the ranking by
theme of a vote on ideas counts its dots, and in a vote on themes a theme holding only such ideas is in
its order and takes its dots. Each test compares the author with a control room where another member is
the shadow-muted one; nobody but staff learns anything.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.rooms.helpers import FACILITATOR, Workshop
from tests.rooms.test_shadow_votes import mentions, received
from workshop_server.rooms import commands as c
from workshop_server.rooms import views
from workshop_server.rooms.text import SHADOW_THEME_FIXES


class Run:
    """Ann and Bob post; staff group Ann's and Bob's notes into *Tools*, and Ann's other note alone into
    *Seeds*; Ann (or, in the control room, Carl) is shadow-muted, and Ann edits both her notes; staff
    rename *Tools* and shortlist *Seeds*; the round closes and a vote follows, on ideas or on themes."""

    def __init__(self, *, shadow_ann: bool, target: str, hide_totals: bool = False) -> None:
        self.w = w = Workshop()
        self.ann, self.bob, carl = ann, bob, _ = w.join("Ann"), w.join("Bob"), w.join("Carl")
        self.mo = w.moderator()
        self.ann_sees, self.bob_sees, self.screen_sees = w.viewer(ann), w.viewer(bob), w.screen()
        w.open_ideate(private=False)
        self.a1, self.a2 = w.post(ann, "a library of tools"), w.post(ann, "a seed swap")
        self.b1, self.b2 = w.post(bob, "a repair café"), w.post(bob, "a bike kitchen")
        self.tools = w.ok(FACILITATOR, c.ThemeCreate, name="Tools", ideas=[self.a1, self.b1])["theme"]["id"]
        self.seeds = w.ok(FACILITATOR, c.ThemeCreate, name="Seeds", ideas=[self.a2])["theme"]["id"]
        w.ok(FACILITATOR, c.MemberShadowMute, member=ann if shadow_ann else carl)
        w.ok(ann, c.IdeaEdit, idea=self.a1, text="a library of tools and skills")
        w.ok(ann, c.IdeaEdit, idea=self.a2, text="a seed and plant swap")
        # The others saw her notes leave the wall (``removed``); from here on nobody but staff and Ann may
        # learn anything more of them.
        self.marks = {"bob": len(self.bob_sees.received), "screen": len(self.screen_sees.received)}
        w.ok(FACILITATOR, c.ThemeUpdate, theme=self.tools, name="Tooling")
        self.status = w.ok(FACILITATOR, c.IdeaStatusSet, theme=self.seeds, status="shortlisted")
        w.close()
        w.open_vote(budget=4, max_per_idea=2, hide_totals=hide_totals, target=target)
        if target == "ideas":
            self.replies = [w.vote(ann, self.a1, 2), w.vote(ann, self.a2), w.vote(bob, self.b1, 2)]
            self.replies.append(w.vote(bob, self.b2))
        else:
            self.replies = [self.theme_vote(ann, self.seeds), self.theme_vote(ann, self.tools)]
            self.replies += [self.theme_vote(bob, self.tools), self.theme_vote(bob, self.tools)]
            self.replies.append(w.ok(ann, c.VoteRemove, theme=self.tools))
        self.mid_vote = w.room.snapshot(ann, "participant")
        w.close()
        self.snapshots = {
            "ann": w.room.snapshot(ann, "participant"),
            "bob": w.room.snapshot(bob, "participant"),
            "screen": w.room.snapshot(None, "screen"),
        }
        self.mine = views.my_ideas(w.room, ann)

    def theme_vote(self, voter: str, theme: str) -> Any:
        return self.w.ok(voter, c.VoteAdd, theme=theme)

    def later(self, who: str) -> list[tuple[int, str, Any]]:
        viewer = self.bob_sees if who == "bob" else self.screen_sees
        return received(viewer)[self.marks[who] :]


@pytest.mark.parametrize("target", ["ideas", "themes"])
@pytest.mark.parametrize("hide_totals", [False, True])
def test_the_author_sees_its_shadowed_ideas_in_their_themes_as_if_it_were_not_muted(
    target: str, hide_totals: bool
) -> None:
    muted = Run(shadow_ann=True, target=target, hide_totals=hide_totals)
    control = Run(shadow_ann=False, target=target, hide_totals=hide_totals)
    assert muted.replies == control.replies
    assert received(muted.ann_sees) == received(control.ann_sees)
    assert muted.mid_vote == control.mid_vote
    assert muted.snapshots["ann"] == control.snapshots["ann"]
    assert muted.mine == control.mine
    # What that is: her notes in their themes, the shortlisted status, the themes ranked with her dots.
    themes = {t["name"]: t["ideas"] for t in muted.snapshots["ann"]["themes"]}
    assert themes == {"Tooling": [muted.a1, muted.b1], "Seeds": [muted.a2]}
    mine = {i["id"]: i for i in muted.mine["ideas"]}
    assert mine[muted.a2]["theme"]["name"] == "Seeds" and mine[muted.a2]["status"] == "shortlisted"
    vote = next(v for v in muted.snapshots["ann"]["votes"] if v["results"])
    ranking = vote["theme_results"] if target == "ideas" else vote["results"]
    tooling = 4 if target == "ideas" else 2  # her two dots and Bob's two; Bob's two and none of hers
    assert [(r["name"], r["total"]) for r in ranking] == [("Tooling", tooling), ("Seeds", 1)]


@pytest.mark.parametrize("target", ["ideas", "themes"])
def test_nobody_but_staff_learns_of_the_shadowed_ideas_in_the_themes(target: str) -> None:
    run = Run(shadow_ann=True, target=target)
    ann_ideas = {run.a1, run.a2}
    for who in ("bob", "screen"):
        assert [(name, data) for _, name, data in run.later(who) if mentions(data, ann_ideas)] == []
        assert not mentions(run.snapshots[who], ann_ideas), who
    bob = run.snapshots["bob"]
    assert {t["name"]: t["ideas"] for t in bob["themes"]} == {"Tooling": [run.b1], "Seeds": []}
    vote = next(v for v in bob["votes"] if v["results"])
    if target == "ideas":
        assert [(r["name"], r["total"]) for r in vote["theme_results"]] == [("Tooling", 2)]
    else:  # Seeds, which holds none of the public's ideas, is neither in the vote nor in its totals
        assert [(r["name"], r["total"]) for r in vote["results"]] == [("Tooling", 2)]
        assert vote["totals"] == {run.tools: 2}
        assert not any(mentions(d, {run.seeds}) for _, n, d in run.later("bob") if n.startswith("vote."))
        assert [r["order"] for r in bob["rounds"] if r["kind"] == "vote"] == [[run.tools]]
    # Staff see everything, and which ideas followed the theme's status.
    assert run.status["ideas"] == [run.a2]
    staff = run.w.room.snapshot(FACILITATOR, "facilitator")
    assert {t["name"]: t["ideas"] for t in staff["themes"]} == {
        "Tooling": [run.a1, run.b1],
        "Seeds": [run.a2],
    }


def themes_vote_with_seeds() -> tuple[Workshop, dict[str, str]]:
    """A vote on themes: Bob's note and Ann's shadowed one in *Tools*, Ann's shadowed one alone in
    *Seeds*; Ann has a dot on each theme, Bob two on *Tools*."""
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    a1, a2, b1 = w.post(ann, "tools"), w.post(ann, "seeds"), w.post(bob, "repairs")
    tools = w.ok(FACILITATOR, c.ThemeCreate, name="Tools", ideas=[a1, b1])["theme"]["id"]
    seeds = w.ok(FACILITATOR, c.ThemeCreate, name="Seeds", ideas=[a2])["theme"]["id"]
    w.ok(FACILITATOR, c.MemberShadowMute, member=ann)
    w.ok(ann, c.IdeaEdit, idea=a1, text="tools and skills")
    w.ok(ann, c.IdeaEdit, idea=a2, text="seeds and plants")
    w.close()
    w.open_vote(budget=4, max_per_idea=2, hide_totals=False, target="themes")
    for voter, theme in ((ann, seeds), (ann, tools), (bob, tools), (bob, tools)):
        w.ok(voter, c.VoteAdd, theme=theme)
    return w, {"ann": ann, "bob": bob, "a1": a1, "a2": a2, "b1": b1, "tools": tools, "seeds": seeds}


def test_a_theme_left_with_only_the_author_s_shadowed_ideas_keeps_the_author_s_dots() -> None:
    """Bob's note leaves *Tools* (a moderator hides it): the public sees the theme empty and its total
    go to 0, Bob gets his dots back; Ann still sees her note there, keeps her dot, and sees the total
    drop to hers, as if Bob had taken his dots back."""
    w, ids = themes_vote_with_seeds()
    ann_sees, bob_sees = w.viewer(ids["ann"]), w.viewer(ids["bob"])
    w.ok(FACILITATOR, c.IdeaHide, idea=ids["b1"], reason="off topic")
    assert bob_sees.last("vote.changed")["my_dots"] == 0
    rnd = w.room.current_round
    assert rnd is not None and {m: d for m, d in rnd.dots.items() if d} == {
        ids["ann"]: {ids["seeds"]: 1, ids["tools"]: 1}
    }
    assert ann_sees.last("vote.changed") == {"round": rnd.id, "theme": ids["tools"], "total": 1}
    public = w.room.snapshot(ids["bob"], "participant")
    vote = next(v for v in public["votes"] if v["round"] == rnd.id)
    assert vote["totals"] == {}
    own = next(v for v in w.room.snapshot(ids["ann"], "participant")["votes"] if v["round"] == rnd.id)
    assert own["totals"] == {ids["seeds"]: 1, ids["tools"]: 1}
    # Hiding her own note in Seeds gives her dot back: the theme holds nothing she sees any more.
    w.ok(FACILITATOR, c.IdeaHide, idea=ids["a2"], reason="off topic")
    assert {m: d for m, d in rnd.dots.items() if d} == {ids["ann"]: {ids["tools"]: 1}}
    assert ann_sees.last("vote.changed")["my_dots"] == 0
    assert not any(mentions(r.data, {ids["seeds"]}) for r in bob_sees.received if r.name.startswith("vote."))


def test_publishing_the_author_s_idea_during_a_vote_on_themes_tells_its_theme_s_total() -> None:
    w, ids = themes_vote_with_seeds()
    bob_sees = w.viewer(ids["bob"])
    w.ok(FACILITATOR, c.IdeaRestore, idea=ids["a2"])  # a mistaken shadow mute: staff publish the idea
    assert bob_sees.last("vote.totals")["changes"] == [{"theme": ids["seeds"], "total": 1}]
    w.ok(ids["bob"], c.VoteAdd, theme=ids["seeds"])  # on the public's wall now
    results = w.close()
    assert results["round"]["status"] == "closed"
    rnd = w.room.rounds[w.room.current or ""]
    assert [(r["name"], r["total"]) for r in rnd.results or []] == [("Tools", 3), ("Seeds", 2)]


def test_dissolving_a_theme_that_held_only_shadowed_ideas_tells_the_public_nothing_of_its_dots() -> None:
    w, ids = themes_vote_with_seeds()
    ann_sees, bob_sees = w.viewer(ids["ann"]), w.viewer(ids["bob"])
    w.ok(FACILITATOR, c.ThemeDissolve, theme=ids["seeds"])
    assert ann_sees.last("vote.changed")["my_dots"] == 0  # her dot comes back, as for any dissolved theme
    assert bob_sees.names() == ["theme.dissolved"]


def test_journals_written_before_text_rules_19_replay_as_they_were() -> None:
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    a1, b1 = w.post(ann, "tools"), w.post(bob, "repairs")
    tools = w.ok(FACILITATOR, c.ThemeCreate, name="Tools", ideas=[a1])["theme"]["id"]
    w.ok(FACILITATOR, c.ThemeCreate, name="Repairs", ideas=[b1])
    w.ok(FACILITATOR, c.MemberShadowMute, member=ann)
    w.ok(ann, c.IdeaEdit, idea=a1, text="tools and skills")
    w.close()
    w.room.text_rules = SHADOW_THEME_FIXES - 1
    w.open_vote(budget=3, target="themes")
    w.fail(ann, c.VoteAdd, "not_found", theme=tools)
    snapshot = w.room.snapshot(ann, "participant")
    assert {t["name"]: t["ideas"] for t in snapshot["themes"]} == {"Tools": [], "Repairs": [b1]}


# --- A review of the above --------------------------------------------------------------------------------
class Grouped:
    """Ann's first note with Bob's in *Tools*, her second alone in *Seeds*; Ann (or, in the control
    room, Carl) shadow-muted, then Ann edits both notes; the ideation round stays open."""

    def __init__(self, *, shadow_ann: bool) -> None:
        self.w = w = Workshop()
        self.ann, self.bob, carl = w.join("Ann"), w.join("Bob"), w.join("Carl")
        self.ann_sees, self.screen_sees = w.viewer(self.ann), w.screen()
        w.open_ideate(private=False)
        self.a1, self.a2 = w.post(self.ann, "tools"), w.post(self.ann, "seeds")
        self.b1, self.b2 = w.post(self.bob, "repairs"), w.post(self.bob, "bikes")
        self.tools = w.ok(FACILITATOR, c.ThemeCreate, name="Tools", ideas=[self.a1, self.b1])["theme"]["id"]
        self.seeds = w.ok(FACILITATOR, c.ThemeCreate, name="Seeds", ideas=[self.a2])["theme"]["id"]
        w.ok(FACILITATOR, c.MemberShadowMute, member=self.ann if shadow_ann else carl)
        w.ok(self.ann, c.IdeaEdit, idea=self.a1, text="tools and skills")
        w.ok(self.ann, c.IdeaEdit, idea=self.a2, text="seeds and plants")


def test_the_author_s_selection_log_and_spotlight_and_a_dissolved_theme_are_as_if_it_were_not_muted() -> None:
    """Review: its decisions that followed a theme were missing from its 'my ideas' selection log, the
    spotlight on a theme left with only its own note was gone from its snapshot, and theme.dissolved
    left its own notes out."""

    def run(shadow_ann: bool) -> tuple[Any, Any, Any]:
        g = Grouped(shadow_ann=shadow_ann)
        w = g.w
        w.close()
        w.ok(FACILITATOR, c.IdeaStatusSet, theme=g.seeds, status="adopted")
        w.ok(FACILITATOR, c.RoomSpotlight, theme=g.tools)
        w.ok(FACILITATOR, c.ThemeAssign, theme=None, ideas=[g.b1])
        spotlight = w.room.snapshot(g.ann, "participant")["spotlight"]
        w.ok(FACILITATOR, c.ThemeDissolve, theme=g.tools)
        return views.my_ideas(w.room, g.ann)["selection"], spotlight, g.ann_sees.last("theme.dissolved")

    muted, control = run(True), run(False)
    assert muted == control
    selection, spotlight, dissolved = muted
    assert [(e.get("idea"), e.get("theme"), e["status"]) for e in selection] == [
        ("i2", None, "adopted"),  # her note, which followed its theme
        (None, "t2", "adopted"),
    ]
    assert spotlight == {"theme": "t1"} and dissolved == {"theme": "t1", "ideas": ["i1"]}


@pytest.mark.parametrize("back", ["restore", "assign", "unmerge"])
def test_dots_kept_from_the_public_are_shown_when_the_public_s_idea_comes_back_to_the_theme(
    back: str,
) -> None:
    """Review: Ann kept her dot on *Tools* when Bob's note left it (the public saw the total go to 0);
    when a note of the public came back into *Tools* (restored, assigned to it, its merge undone), the
    public's snapshot showed Ann's dot while no event had: the screen kept 0."""
    g = Grouped(shadow_ann=True)
    w = g.w
    w.close()
    w.open_vote(budget=4, max_per_idea=2, hide_totals=False, target="themes")
    w.ok(g.ann, c.VoteAdd, theme=g.tools)
    w.ok(g.bob, c.VoteAdd, theme=g.tools)
    if back == "unmerge":  # into a note of another theme: Bob's note leaves Tools with the merge
        w.ok(FACILITATOR, c.ThemeCreate, name="Bikes", ideas=[g.b2])
        merge = w.ok(FACILITATOR, c.IdeaMerge, into=g.b2, ideas=[g.b1])["merge"]
    else:
        w.ok(FACILITATOR, c.IdeaHide, idea=g.b1, reason="off topic")
    assert g.screen_sees.last("vote.changed")["total"] == 0
    if back == "restore":
        w.ok(FACILITATOR, c.IdeaRestore, idea=g.b1)
    elif back == "assign":
        w.ok(FACILITATOR, c.ThemeAssign, theme=g.tools, ideas=[g.b2])
    else:
        w.ok(FACILITATOR, c.IdeaUnmerge, merge=merge)
    assert g.screen_sees.last("vote.totals")["changes"] == [{"theme": g.tools, "total": 1}]
    rnd = w.room.current or ""
    snapshot = w.room.snapshot(None, "screen")
    assert next(v["totals"] for v in snapshot["votes"] if v["round"] == rnd) == {g.tools: 1}


def test_an_erasure_leaves_no_replaced_text_in_staff_s_stored_replies() -> None:
    """Review: staff's answers that show an idea (``idea.hide``, ``idea.restore``) kept its text of then,
    which its author later replaced, after the author's erasure. From text rules 20 they show its text
    of now, and a withdrawn idea's text goes."""
    w = Workshop()
    ann = w.join("Ann")
    mo = w.moderator()
    w.open_ideate(private=False)
    kept, gone = w.post(ann, "call 555-1234"), w.post(ann, "I live at 12 Quixotic Lane")
    w.ok(mo, c.IdeaHide, idea=kept, reason="a phone number")
    w.ok(FACILITATOR, c.IdeaRestore, idea=kept)
    w.ok(mo, c.IdeaHide, idea=gone, reason="an address")
    w.ok(FACILITATOR, c.IdeaRestore, idea=gone)
    w.ok(ann, c.IdeaEdit, idea=kept, text="night buses")
    w.ok(ann, c.IdeaWithdraw, idea=gone)
    w.ok(ann, c.MemberErase)
    state = json.dumps(w.room.to_state(), ensure_ascii=False)
    assert "555-1234" not in state and "Quixotic" not in state and "night buses" in state


def test_a_keeper_sees_the_total_left_when_another_author_s_dots_leave_a_theme_the_public_never_saw() -> None:
    """Review: when two shadow-muted authors' notes share a theme that holds none of the public's, and one
    of them gets its dots back (its note hidden), the other saw the theme's total change only in its
    next snapshot: the keepers' view was sent only when the public had seen the total."""
    w = Workshop()
    ann, carl, bob = w.join("Ann"), w.join("Carl"), w.join("Bob")
    w.open_ideate(private=False)
    a1, c1, b1 = w.post(ann, "tools"), w.post(carl, "more tools"), w.post(bob, "repairs")
    tools = w.ok(FACILITATOR, c.ThemeCreate, name="Tools", ideas=[a1, c1])["theme"]["id"]
    w.ok(FACILITATOR, c.ThemeCreate, name="Repairs", ideas=[b1])
    for member, idea in ((ann, a1), (carl, c1)):
        w.ok(FACILITATOR, c.MemberShadowMute, member=member)
        w.ok(member, c.IdeaEdit, idea=idea, text="edited")
    w.close()
    w.open_vote(budget=3, hide_totals=False, target="themes")
    w.ok(ann, c.VoteAdd, theme=tools)
    w.ok(carl, c.VoteAdd, theme=tools)
    carl_sees, bob_sees = w.viewer(carl), w.viewer(bob)
    w.ok(FACILITATOR, c.IdeaHide, idea=a1, reason="spam")
    assert carl_sees.last("vote.changed") == {"round": w.room.current, "theme": tools, "total": 1}
    assert not any(n.startswith("vote.") for n in bob_sees.names())
