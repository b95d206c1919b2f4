"""The follow-up in the room core: statuses, replies, the selection, announcements, credit, the pulse.

Every rule of issue #11, with what each audience receives (a :class:`Viewer` applies the delivery rule to
every event) and what snapshots show. Refusals go through ``Workshop.fail``, which also checks that a
refused command changes nothing.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from pydantic import ValidationError

from tests.rooms.helpers import FACILITATOR, Workshop, walk
from workshop_server.rooms import commands as c
from workshop_server.rooms import followup_views as fv
from workshop_server.rooms import views
from workshop_server.rooms.room import Room
from workshop_server.rooms.state import STATUS_TRANSITIONS, IdeaStatus, Limits, RoomConfig


def wall(w: Workshop, *texts: str, private: bool = False) -> tuple[list[str], list[str]]:
    """Participants each post one idea in an ideate round (revealed if private); return (members, ideas)."""
    members = [w.join(name) for name in ("Ann", "Bob", "Cyd", "Dan")[: len(texts)]]
    w.open_ideate(private=private)
    ideas = [w.post(m, t) for m, t in zip(members, texts, strict=True)]
    if private:
        w.close()  # which reveals them
    return members, ideas


def status(w: Workshop, idea: str, value: str, note: str = "", actor: str = FACILITATOR) -> dict[str, Any]:
    return w.ok(actor, c.IdeaStatusSet, idea=idea, status=value, note=note)


# --- Statuses -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("start", "target"),
    [(a, b) for a, b in itertools.product(IdeaStatus, IdeaStatus) if a != b],
    ids=lambda s: str(s.value),
)
def test_every_transition_follows_the_table(start: IdeaStatus, target: IdeaStatus) -> None:
    w = Workshop()
    _, (idea,) = wall(w, "coffee")
    w.room.ideas[idea].status = start  # set up directly: the path to ``start`` is not what is tested
    if target in STATUS_TRANSITIONS[start]:
        status(w, idea, target.value)
        assert w.room.ideas[idea].status == target
    else:
        w.fail(FACILITATOR, c.IdeaStatusSet, "invalid_transition", idea=idea, status=target.value)


def test_the_table_lets_every_status_be_reached_from_new_and_done_is_final() -> None:
    reachable, frontier = {IdeaStatus.NEW}, [IdeaStatus.NEW]
    while frontier:
        for nxt in STATUS_TRANSITIONS[frontier.pop()] - reachable:
            reachable.add(nxt)
            frontier.append(nxt)
    assert reachable == set(IdeaStatus)
    assert STATUS_TRANSITIONS[IdeaStatus.DONE] == frozenset()


def test_a_status_outside_the_list_is_refused_by_the_schema() -> None:
    with pytest.raises(ValidationError):
        c.IdeaStatusSet(id="x", idea="i1", status="maybe")  # type: ignore[arg-type]


def test_status_changes_reach_everyone_live_with_their_history() -> None:
    w = Workshop()
    mod = w.moderator()
    (ann, bob), (idea, _) = wall(w, "coffee", "tea")
    board, screen, author = w.viewer(bob), w.screen(), w.viewer(ann)
    w.advance(5)
    status(w, idea, "shortlisted", "Great fit", actor=mod)
    w.advance(5)
    status(w, idea, "adopted", "We'll build it")
    for viewer in (board, screen, author):
        seen = viewer.last("idea.status")
        assert seen["idea"]["status"] == "adopted"
        assert seen["change"]["note"] == "We'll build it"
    history = w.room.snapshot(bob, "participant")["ideas"][0]["history"]
    assert [(h["previous"], h["status"], h["note"], h["by_name"]) for h in history] == [
        ("new", "shortlisted", "Great fit", "Mo"),
        ("shortlisted", "adopted", "We'll build it", "Facilitator"),
    ]
    assert history[1]["at"] == history[0]["at"] + 5


def test_a_status_on_a_private_idea_reaches_only_its_author_and_staff() -> None:
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=True)
    idea = w.post(ann, "secret")
    other, author, screen = w.viewer(bob), w.viewer(ann), w.screen()
    status(w, idea, "shortlisted", "keep")
    assert author.last("idea.status")["idea"]["status"] == "shortlisted"
    assert other.received == [] and screen.received == []
    assert not any(d.get("id") == idea for d in walk(w.room.snapshot(bob, "participant")))


def test_participants_may_not_set_statuses_nor_merged_ideas_get_one() -> None:
    w = Workshop()
    (ann, _), (idea, other) = wall(w, "coffee", "tea")
    w.fail(ann, c.IdeaStatusSet, "forbidden", idea=idea, status="adopted")
    w.ok(FACILITATOR, c.IdeaMerge, into=idea, ideas=[other])
    w.fail(FACILITATOR, c.IdeaStatusSet, "invalid_transition", idea=other, status="adopted")
    w.fail(FACILITATOR, c.IdeaStatusSet, "invalid_command", status="adopted")  # neither idea nor theme
    w.fail(FACILITATOR, c.IdeaStatusSet, "not_found", idea="i99", status="adopted")


def test_a_theme_status_moves_its_ideas_on_the_wall_where_the_table_allows() -> None:
    w = Workshop()
    (_, bob, _), ideas = wall(w, "coffee", "tea", "juice")
    tid = w.ok(FACILITATOR, c.ThemeCreate, name="Drinks", ideas=ideas)["theme"]["id"]
    status(w, ideas[2], "adopted")
    status(w, ideas[2], "done")
    board = w.viewer(bob)
    result = w.ok(FACILITATOR, c.IdeaStatusSet, theme=tid, status="declined", note="not this year")
    assert result["ideas"] == ideas[:2] and result["kept"] == [ideas[2]]
    assert [i.status for i in w.room.ideas.values()] == ["declined", "declined", "done"]
    assert board.last("theme.status")["theme"]["status"] == "declined"
    assert {v["idea"]["id"] for v in board.views("idea.status")} == set(ideas[:2])
    assert w.room.ideas[ideas[0]].history[-1]["via"] == tid
    w.fail(FACILITATOR, c.IdeaStatusSet, "invalid_transition", theme=tid, status="done")


def test_statuses_can_be_set_after_the_session_ended() -> None:
    w = Workshop()
    _, (idea,) = wall(w, "coffee")
    w.ok(FACILITATOR, c.SessionEnd)
    status(w, idea, "adopted", "Shipping in spring")
    assert w.room.ideas[idea].status == "adopted"


# --- Replies --------------------------------------------------------------------------------------------
def test_staff_replies_carry_the_brand_and_everyone_sees_them() -> None:
    w = Workshop()
    mod = w.moderator()
    (ann, bob), (idea, _) = wall(w, "coffee", "tea")
    w.ok(FACILITATOR, c.RoomSet, brand="Acme Coffee")
    screen = w.screen()
    w.ok(mod, c.ReplyPost, idea=idea, text="We love this")
    w.ok(bob, c.ReplyPost, idea=idea, text="+1")
    staff_reply, bob_reply = (v["reply"] for v in screen.views("reply.posted"))
    assert staff_reply["staff"] is True and staff_reply["brand"] == "Acme Coffee"
    assert bob_reply["staff"] is False and "brand" not in bob_reply and bob_reply["author_name"] == "Bob"
    assert [r["text"] for r in w.room.snapshot(ann, "participant")["replies"]] == ["We love this", "+1"]


def test_in_an_anonymous_room_reply_authors_are_named_to_staff_only() -> None:
    w = Workshop(RoomConfig(title="W", anonymous=True))
    (ann, bob), (idea, _) = wall(w, "coffee", "tea")
    screen, author = w.screen(), w.viewer(ann)
    w.ok(bob, c.ReplyPost, idea=idea, text="+1")
    for viewer in (screen, author):
        assert "author" not in viewer.last("reply.posted")["reply"]
    (reply,) = w.room.snapshot(FACILITATOR, "facilitator")["replies"]
    assert reply["author_name"] == "Bob"
    (own,) = w.room.snapshot(bob, "participant")["replies"]
    assert own["author_name"] == "Bob" and own["mine"] is True
    (public,) = w.room.snapshot(ann, "participant")["replies"]
    assert "author" not in public and "author_name" not in public


def test_replies_never_leak_a_private_idea() -> None:
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=True)
    idea = w.post(ann, "secret")
    w.fail(ann, c.ReplyPost, "idea_private", idea=idea, text="me")
    w.fail(FACILITATOR, c.ReplyPost, "idea_private", idea=idea, text="staff")
    w.fail(bob, c.ReplyPost, "not_found", idea=idea, text="guess")  # the same answer as no idea at all
    w.fail(bob, c.ReplyPost, "not_found", idea="i99", text="guess")


def test_hiding_an_idea_takes_its_replies_off_the_wall_and_restoring_brings_them_back() -> None:
    w = Workshop()
    (_, bob), (idea, _) = wall(w, "coffee", "tea")
    w.ok(bob, c.ReplyPost, idea=idea, text="+1")
    screen = w.screen()
    w.ok(FACILITATOR, c.IdeaHide, idea=idea)
    assert w.room.snapshot(None, "screen")["replies"] == []
    w.fail(bob, c.ReplyPost, "not_found", idea=idea, text="again")
    w.ok(FACILITATOR, c.IdeaRestore, idea=idea)
    assert [r["text"] for r in screen.last("idea.restored")["replies"]] == ["+1"]
    assert len(w.room.snapshot(None, "screen")["replies"]) == 1


def test_replies_go_through_the_approval_queue_mute_and_moderation() -> None:
    w = Workshop()
    mod = w.moderator()
    (_, bob, cyd), (idea, _, _) = wall(w, "coffee", "tea", "juice")
    w.ok(FACILITATOR, c.RoomSet, approval_queue=True)
    screen, writer = w.screen(), w.viewer(bob)
    pending = w.ok(bob, c.ReplyPost, idea=idea, text="+1")["reply"]
    assert pending["state"] == "pending" and writer.last("reply.posted")["reply"]["mine"] is True
    assert screen.views("reply.posted") == []
    staff_reply = w.ok(mod, c.ReplyPost, idea=idea, text="noted")["reply"]
    assert staff_reply["state"] == "visible"  # staff replies skip the queue
    w.ok(mod, c.ReplyApprove, reply=pending["id"])
    assert screen.last("reply.approved")["reply"]["text"] == "+1"
    w.ok(mod, c.ReplyHide, reply=pending["id"], reason="off topic")
    assert screen.last("reply.hidden") == {"removed": pending["id"], "idea": idea}
    assert writer.last("reply.hidden")["reply"]["hide_reason"] == "off topic"
    w.fail(mod, c.ReplyHide, "invalid_transition", reply=pending["id"])
    w.ok(mod, c.ReplyRestore, reply=pending["id"])
    w.fail(mod, c.ReplyApprove, "invalid_transition", reply=pending["id"])
    w.ok(FACILITATOR, c.MemberMute, member=cyd)
    w.fail(cyd, c.ReplyPost, "muted", idea=idea, text="spam")
    assert [e.action for e in w.room.audit][-4:] == [
        "reply.approved",
        "reply.hidden",
        "reply.restored",
        "member.muted",
    ]


def test_replies_keep_the_text_rules_and_limit() -> None:
    w = Workshop(limits=Limits(reply_text_max=10))
    (_, bob), (idea, _) = wall(w, "coffee", "tea")
    w.fail(bob, c.ReplyPost, "text_too_long", idea=idea, text="x" * 11)
    w.fail(bob, c.ReplyPost, "invalid_command", idea=idea, text="   ")


def test_after_the_end_only_staff_reply() -> None:
    w = Workshop()
    (_, bob), (idea, _) = wall(w, "coffee", "tea")
    w.ok(FACILITATOR, c.SessionEnd)
    w.fail(bob, c.ReplyPost, "invalid_transition", idea=idea, text="late")
    w.ok(FACILITATOR, c.ReplyPost, idea=idea, text="Update: adopted")


# --- Selection ------------------------------------------------------------------------------------------
CRITERIA = [
    {"name": "Feasibility", "description": "Can we build it this year?", "weight": 1},
    {"name": "Impact", "description": "How many customers benefit", "weight": 3},
]


def evaluation(w: Workshop, ideas: list[str], jury: str = "staff") -> dict[str, Any]:
    w.ok(FACILITATOR, c.CriteriaSet, criteria=CRITERIA)
    for idea in ideas:
        status(w, idea, "shortlisted")
    return w.ok(FACILITATOR, c.EvaluationOpen, jury=jury)["evaluation"]


def test_jurors_score_privately_until_the_close_then_results_are_public() -> None:
    w = Workshop()
    mod = w.moderator()
    (ann, bob), ideas = wall(w, "coffee", "tea")
    screen, author = w.screen(), w.viewer(ann)
    moderator = w.viewer(mod)
    opened = evaluation(w, ideas)
    assert [w.room.ideas[i].status for i in ideas] == ["in_review", "in_review"]
    assert opened["criteria"][1] == {
        "id": "k2",
        "name": "Impact",
        "description": CRITERIA[1]["description"],
        "weight": 3,
    }
    w.ok(FACILITATOR, c.EvaluationScore, idea=ideas[0], scores={"k1": 5, "k2": 2})
    w.ok(mod, c.EvaluationScore, idea=ideas[0], scores={"k1": 3, "k2": 4})
    w.ok(mod, c.EvaluationScore, idea=ideas[1], scores={"k1": 1, "k2": 5})
    # Before the close: nobody sees another juror's scores, not even other staff; the public nothing.
    assert moderator.last("evaluation.scored") == {
        "evaluation": "e1",
        "idea": ideas[1],
        "scores": {"k1": 1, "k2": 5},
        "progress": {ideas[0]: 2, ideas[1]: 1},
    }
    fac_snapshot = w.room.snapshot(FACILITATOR, "facilitator")
    (fac_eval,) = fac_snapshot["evaluations"]
    assert fac_eval["mine"] == {ideas[0]: {"k1": 5, "k2": 2}} and "scores" not in fac_eval
    assert all(
        5 not in d.values() for d in walk(moderator.views("evaluation.scored")) if "k1" in d and d["k1"] == 5
    )
    assert screen.views("evaluation.scored") == [] and author.views("evaluation.scored") == []
    assert not any("scores" in e or "mine" in e for e in w.room.snapshot(ann, "participant")["evaluations"])
    closed = w.ok(FACILITATOR, c.EvaluationClose)["evaluation"]
    public = screen.last("evaluation.closed")["evaluation"]
    assert public["jurors"] == 2 and "scores" not in public
    # Weighted: coffee (4, 3) -> (4 + 3*3)/4 = 3.25; tea (1, 5) -> (1 + 15)/4 = 4.0.
    assert [(r["idea"], r["score"], r["jurors"], r["rank"]) for r in public["results"]] == [
        (ideas[1], 4.0, 1, 1),
        (ideas[0], 3.25, 2, 2),
    ]
    assert public["results"][1]["criteria"] == {"k1": 4.0, "k2": 3.0}
    assert {(s["name"], s["idea"]) for s in closed["scores"]} == {
        ("Facilitator", ideas[0]),
        ("Mo", ideas[0]),
        ("Mo", ideas[1]),
    }
    assert not any("scores" in e for e in w.room.snapshot(bob, "participant")["evaluations"])
    log = views.my_ideas(w.room, ann)["selection"]
    assert log[0]["kind"] == "evaluation" and log[0]["results"] == public["results"]


def test_bad_scores_are_refused_and_change_nothing() -> None:
    w = Workshop()
    (ann, _), ideas = wall(w, "coffee", "tea")
    w.fail(FACILITATOR, c.EvaluationScore, "evaluation_closed", idea=ideas[0], scores={"k1": 3})
    evaluation(w, ideas)
    for bad in (
        {"k1": 6, "k2": 3},
        {"k1": 0, "k2": 3},
        {"k1": 3},
        {"k1": 3, "k2": 3, "k9": 3},
    ):
        w.fail(FACILITATOR, c.EvaluationScore, "invalid_score", idea=ideas[0], scores=bad)
    w.fail(ann, c.EvaluationScore, "not_juror", idea=ideas[0], scores={"k1": 3, "k2": 3})
    w.fail(FACILITATOR, c.EvaluationScore, "not_found", idea="i99", scores={"k1": 3, "k2": 3})
    w.fail(FACILITATOR, c.CriteriaSet, "invalid_transition", criteria=CRITERIA)
    w.fail(FACILITATOR, c.EvaluationOpen, "invalid_transition")
    w.ok(FACILITATOR, c.EvaluationClose)
    w.fail(FACILITATOR, c.EvaluationScore, "evaluation_closed", idea=ideas[0], scores={"k1": 3, "k2": 3})
    w.fail(FACILITATOR, c.EvaluationClose, "evaluation_closed")


def test_a_jury_of_invited_jurors() -> None:
    w = Workshop()
    invite = w.ok(FACILITATOR, c.InviteCreate, role="juror", label="Jo")["invite"]["id"]
    (ann, _), ideas = wall(w, "coffee", "tea")
    w.ok(FACILITATOR, c.CriteriaSet, criteria=CRITERIA)
    status(w, ideas[0], "shortlisted")
    w.fail(FACILITATOR, c.EvaluationOpen, "invalid_transition", jury="jurors")  # no juror yet
    jo = w.join("Jo", invite=invite)
    assert w.room.members[jo].role == "participant" and w.room.members[jo].juror
    w.ok(FACILITATOR, c.EvaluationOpen, jury="jurors")
    assert w.room.evaluations["e1"].ideas == [ideas[0]]
    w.ok(jo, c.EvaluationScore, idea=ideas[0], scores={"k1": 2, "k2": 2})
    w.fail(FACILITATOR, c.EvaluationScore, "not_juror", idea=ideas[0], scores={"k1": 2, "k2": 2})
    w.fail(ann, c.EvaluationScore, "not_juror", idea=ideas[0], scores={"k1": 2, "k2": 2})
    w.ok(FACILITATOR, c.MemberJury, member=ann)
    w.ok(ann, c.EvaluationScore, idea=ideas[0], scores={"k1": 4, "k2": 4})
    assert views.snapshot(w.room, jo, "participant")["evaluations"][0]["mine"] == {
        ideas[0]: {"k1": 2, "k2": 2}
    }


def test_an_evaluation_needs_criteria_and_ideas_that_can_be_reviewed() -> None:
    w = Workshop()
    _, ideas = wall(w, "coffee", "tea")
    w.fail(FACILITATOR, c.EvaluationOpen, "invalid_transition", ideas=[ideas[0]])  # no criteria
    w.ok(FACILITATOR, c.CriteriaSet, criteria=CRITERIA)
    w.fail(FACILITATOR, c.EvaluationOpen, "invalid_transition")  # nothing shortlisted
    status(w, ideas[1], "adopted")
    status(w, ideas[1], "done")
    w.fail(FACILITATOR, c.EvaluationOpen, "invalid_transition", ideas=[ideas[1]])
    w.fail(FACILITATOR, c.CriteriaSet, "invalid_command", criteria=[{"name": "A"}, {"name": "a"}])
    w.fail(FACILITATOR, c.CriteriaSet, "invalid_command", criteria=[{"name": f"c{n}"} for n in range(11)])
    w.ok(FACILITATOR, c.EvaluationOpen, ideas=[ideas[0]])


# --- Announcements and credit ---------------------------------------------------------------------------
def test_an_update_after_the_session_reaches_everyone() -> None:
    w = Workshop()
    (ann, _), _ = wall(w, "coffee", "tea")
    w.ok(FACILITATOR, c.SessionEnd)
    board = w.viewer(ann)
    w.ok(FACILITATOR, c.RoomAnnounce, text="3 ideas adopted; here is what happens next")
    assert board.last("room.announcement")["announcement"]["kind"] == "update"
    assert views.my_ideas(w.room, ann)["announcements"][0]["text"].startswith("3 ideas adopted")
    w.fail(ann, c.RoomAnnounce, "forbidden", text="I am staff now")


def test_a_thanks_names_contributors_except_in_an_anonymous_room() -> None:
    for anonymous in (False, True):
        w = Workshop(RoomConfig(title="W", anonymous=anonymous))
        (ann, bob), _ = wall(w, "coffee", "tea")
        screen, named, other = w.screen(), w.viewer(ann), w.viewer(bob)
        w.ok(FACILITATOR, c.RoomAnnounce, kind="thanks", text="Thank you!", credit=[ann])
        mine = named.last("room.announcement")["announcement"]
        assert mine["credit"] == [{"id": ann, "name": "Ann"}]
        public = screen.last("room.announcement")["announcement"]
        assert public["credit"] == ([] if anonymous else [{"id": ann, "name": "Ann"}])
        assert other.last("room.announcement")["announcement"]["credit"] == public["credit"]
        assert ("credited_you" in mine) is anonymous
    w.fail(FACILITATOR, c.RoomAnnounce, "invalid_command", text="x", credit=[ann])  # only a thanks names
    w.fail(FACILITATOR, c.RoomAnnounce, "not_found", kind="thanks", text="x", credit=["m99"])


def test_contributors_credit_every_author_of_a_merge_and_stay_private_in_anonymous_rooms() -> None:
    for anonymous in (False, True):
        w = Workshop(RoomConfig(title="W", anonymous=anonymous))
        (ann, bob, cyd), ideas = wall(w, "coffee", "more coffee", "tea")
        w.ok(FACILITATOR, c.IdeaMerge, into=ideas[0], ideas=[ideas[1]])
        status(w, ideas[0], "adopted")
        w.close()
        w.open_vote(hide_totals=True)
        w.vote(cyd, ideas[0], 2)
        w.vote(ann, ideas[2])
        staff_rows = {r["member"]: r for r in fv.contributors(w.room, FACILITATOR, staff=True)}
        assert staff_rows[ann] == {
            "member": ann,
            "name": "Ann",
            "ideas": 1,
            "dots": 0,
            "shortlisted": 1,
            "adopted": 1,
        }  # dots count once the totals are public
        w.close()
        rows = {r["member"]: r for r in fv.contributors(w.room, bob, staff=False)}
        assert rows[bob]["ideas"] == 1 and rows[bob]["dots"] == 2 and rows[bob]["adopted"] == 1
        assert set(rows) == ({bob} if anonymous else {ann, bob, cyd})


def test_a_note_shortlisted_then_declined_still_made_the_shortlist_for_its_authors() -> None:
    """A review: "shortlisted" counted the current status only, so a note shortlisted then declined left
    its author's count (the brand had put it on its shortlist)."""
    w = Workshop()
    (ann, bob), ideas = wall(w, "coffee", "tea")
    status(w, ideas[0], "shortlisted")
    status(w, ideas[0], "declined")
    rows = {r["member"]: r for r in fv.contributors(w.room, ann, staff=False)}
    assert (rows[ann]["shortlisted"], rows[ann]["adopted"]) == (1, 0)
    assert rows[bob]["shortlisted"] == 0


# --- The satisfaction pulse -----------------------------------------------------------------------------
def test_the_pulse_shows_staff_the_distribution_and_each_participant_only_its_own_answer() -> None:
    w = Workshop()
    mod = w.moderator()
    (ann, bob), _ = wall(w, "coffee", "tea")
    w.ok(FACILITATOR, c.SessionEnd)
    w.ok(mod, c.PulseOpen, question="How was it?")
    staff, other, screen = w.viewer(FACILITATOR), w.viewer(bob), w.screen()
    w.ok(ann, c.PulseAnswer, score=4, comment="nice")
    w.ok(bob, c.PulseAnswer, score=2)
    w.ok(ann, c.PulseAnswer, score=5)  # again: replaces
    figures = staff.last("pulse.answered")["pulse"]
    assert (figures["count"], figures["average"]) == (2, 3.5)
    assert figures["distribution"] == {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1}
    assert [v["pulse"]["mine"]["score"] for v in other.views("pulse.answered")] == [2]
    assert screen.views("pulse.answered") == []
    assert views.snapshot(w.room, bob, "participant")["pulses"][0]["mine"]["score"] == 2
    assert "answers" not in views.snapshot(w.room, bob, "participant")["pulses"][0]
    w.fail(ann, c.PulseAnswer, "invalid_score", score=6)
    w.fail(ann, c.PulseAnswer, "invalid_score", score=0)
    w.fail(mod, c.PulseOpen, "invalid_transition")
    w.ok(mod, c.PulseClose)
    w.fail(ann, c.PulseAnswer, "invalid_transition", score=3)


# --- My ideas, and a replay of a room that used all of it --------------------------------------------
def full_story() -> tuple[Workshop, str]:
    w = Workshop(RoomConfig(title="W"))
    mod = w.moderator()
    (ann, bob), ideas = wall(w, "coffee", "more coffee", private=True)
    w.ok(FACILITATOR, c.RoomSet, brand="Acme")
    tid = w.ok(FACILITATOR, c.ThemeCreate, name="Drinks", ideas=ideas[:1])["theme"]["id"]
    w.ok(mod, c.IdeaMerge, into=ideas[0], ideas=[ideas[1]])
    w.ok(mod, c.ReplyPost, idea=ideas[0], text="Love it")
    w.ok(bob, c.ReplyPost, idea=ideas[0], text="+1")
    w.open_vote()
    w.vote(bob, ideas[0], 2)
    w.close()
    evaluation(w, ideas[:1])
    w.ok(mod, c.EvaluationScore, idea=ideas[0], scores={"k1": 4, "k2": 5})
    w.ok(FACILITATOR, c.EvaluationClose)
    status(w, ideas[0], "adopted", "Spring launch")
    w.ok(FACILITATOR, c.SessionEnd)
    w.ok(FACILITATOR, c.RoomAnnounce, text="1 idea adopted")
    w.ok(FACILITATOR, c.RoomAnnounce, kind="thanks", text="Thanks!", credit=[ann, bob])
    w.ok(FACILITATOR, c.PulseOpen)
    w.ok(ann, c.PulseAnswer, score=5, comment="great")
    w.ok(FACILITATOR, c.IdeaStatusSet, theme=tid, status="shortlisted")
    return w, bob


def test_my_ideas_tells_the_whole_story_after_the_session() -> None:
    w, bob = full_story()
    page = views.my_ideas(w.room, bob)
    assert page["room"]["phase"] == "ended" and page["room"]["brand"] == "Acme"
    merged, absorbing = sorted(page["ideas"], key=lambda i: i["id"])
    assert absorbing["state"] == "merged" and absorbing["merged_into_text"] == "coffee"
    assert [h["status"] for h in merged["history"]] == ["shortlisted", "in_review", "adopted"]
    assert merged["history"][-1]["note"] == "Spring launch"
    assert merged["dots"] == 2 and merged["theme"]["name"] == "Drinks"
    assert {c_["name"] for c_ in merged["coauthors"]} == {"Bob"}
    assert [r["text"] for r in merged["replies"]] == ["Love it", "+1"]
    assert merged["replies"][0]["brand"] == "Acme"
    assert [a["kind"] for a in page["announcements"]] == ["update", "thanks"]
    assert [e["kind"] for e in page["selection"]] == ["evaluation", "decision"]
    assert page["contribution"]["adopted"] == 1
    assert page["pulses"][0].get("mine") is None  # Bob did not answer; Ann's answer is not his to see


def test_a_room_that_used_all_of_it_replays_to_the_same_events_and_state() -> None:
    w, _ = full_story()
    replica = w.fresh_room()
    events = []
    for cmd, actor, now in w.journal:
        events.extend(replica.handle(cmd, actor, now).events)
    assert [e.to_dict() for e in events] == [e.to_dict() for e in w.events]
    assert replica.to_state() == w.room.to_state()
    restored = Room.from_state(w.room.to_state())
    assert restored.to_state() == w.room.to_state()
    assert views.my_ideas(restored, "m3") == views.my_ideas(w.room, "m3")
