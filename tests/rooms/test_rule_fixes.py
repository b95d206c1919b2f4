"""Fairness and community rules the server claims to enforce (a review found each broken): each test
states a rule of protocol.md and checks it against the room core. The rules that change what a command
does apply from text rules version 5 (``RULE_FIXES``); journals written before replay as they were."""

from __future__ import annotations

import json

from tests.rooms.helpers import FACILITATOR, Workshop
from workshop_server.rooms import commands as c
from workshop_server.rooms import queries, views
from workshop_server.rooms.text import RULE_FIXES

CRITERIA = [{"name": "Feasible", "weight": 1}, {"name": "Impact", "weight": 3}]


def _evaluated_room() -> tuple[Workshop, str, str, list[str]]:
    """Two ideas on the wall, shortlisted, and an open evaluation whose jury is the staff."""
    w = Workshop()
    mod = w.moderator()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    ideas = [w.post(ann, "coffee"), w.post(bob, "tea")]
    w.ok(FACILITATOR, c.CriteriaSet, criteria=CRITERIA)
    for idea in ideas:
        w.ok(FACILITATOR, c.IdeaStatusSet, idea=idea, status="shortlisted")
    return w, mod, ann, ideas


def test_the_staff_export_shows_no_jurors_scores_before_the_evaluation_closes() -> None:
    """protocol.md, evaluation.score: "Until the evaluation closes, a juror's scores are seen by that
    juror alone: other jurors and participants receive nothing, staff see only how many jurors scored
    each idea." The staff export (export.json) is a staff view like any other."""
    w, mod, _, ideas = _evaluated_room()
    w.ok(FACILITATOR, c.EvaluationOpen, jury="staff")
    w.ok(mod, c.EvaluationScore, idea=ideas[0], scores={"k1": 1, "k2": 5})
    # The facilitator's live views keep the moderator's sheet to the moderator...
    (live,) = w.room.snapshot(FACILITATOR, "facilitator")["evaluations"]
    assert "scores" not in live and "mine" not in live
    # ...but the facilitator's export hands it over, juror by juror, while the evaluation is open.
    exported = queries.export(w.room, "member", FACILITATOR, 0)["state"]
    (evaluation,) = exported["evaluations"]
    assert evaluation["status"] == "open"
    assert evaluation["scores"] == {}, f"open evaluation's sheets in the export: {evaluation['scores']}"


def test_a_removed_jurors_scores_leave_the_open_evaluation_like_its_dots_leave_the_vote() -> None:
    """member.remove takes a removed member's dots out of the open vote; a removed juror's score sheets
    stay in the open evaluation and are published in the weighted results at the close (and the
    ``jurors`` count includes it), although it is no longer in the jury."""
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    troll = w.join("Troll")
    w.ok(FACILITATOR, c.MemberJury, member=ann)
    w.ok(FACILITATOR, c.MemberJury, member=troll)
    w.open_ideate(private=False)
    idea = w.post(bob, "tea")
    w.ok(FACILITATOR, c.CriteriaSet, criteria=CRITERIA)
    w.ok(FACILITATOR, c.IdeaStatusSet, idea=idea, status="shortlisted")
    w.ok(FACILITATOR, c.EvaluationOpen, jury="jurors")
    w.ok(ann, c.EvaluationScore, idea=idea, scores={"k1": 4, "k2": 4})
    w.ok(troll, c.EvaluationScore, idea=idea, scores={"k1": 1, "k2": 1})
    w.ok(FACILITATOR, c.MemberRemove, member=troll, reason="sabotage")
    closed = w.ok(FACILITATOR, c.EvaluationClose)["evaluation"]
    (row,) = closed["results"]
    assert (row["score"], row["jurors"], closed["jurors"]) == (4.0, 1, 1), closed["results"]


def test_a_muted_moderator_cannot_lift_its_own_mute() -> None:
    """A moderator may mute another moderator (only the facilitator is protected). The muted moderator
    then sends member.unmute for itself and is unmuted: the mute holds against nothing."""
    w = Workshop()
    mod = w.moderator("Mo")
    ann = w.join("Ann")
    w.open_ideate(private=False)
    idea = w.post(ann, "coffee")
    w.ok(FACILITATOR, c.MemberMute, member=mod, reason="rude replies")
    w.fail(mod, c.ReplyPost, "muted", idea=idea, text="whatever")
    w.fail(mod, c.MemberUnmute, "forbidden", member=mod)


def test_nothing_tells_a_shadow_muted_member_that_it_is_shadow_muted() -> None:
    """protocol.md, member.shadow_mute: "its new ideas ... are seen by itself (as published) ... Nothing
    tells the member". Its own idea looks published to it, yet replying to it is refused with
    idea_private ("replies open once the idea is on the wall"), and its own contributor row counts
    none of its ideas."""
    w = Workshop()
    mod = w.moderator()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    w.post(bob, "tea")
    w.ok(mod, c.MemberShadowMute, member=ann, reason="trolling")
    mine = w.post(ann, "coffee")
    own = next(i for i in w.room.snapshot(ann, "participant")["ideas"] if i["id"] == mine)
    assert own["state"] == "visible"  # as published, to her
    outcome = w.do(ann, c.ReplyPost, idea=mine, text="details: with milk")
    assert outcome.error is None, f"{outcome.error.code}: {outcome.error.message}"
    row = views.my_ideas(w.room, ann)["contribution"]
    assert row is not None and row["ideas"] == 1, json.dumps(row)


def test_unbanning_a_member_removed_from_the_lobby_starts_its_public_history_then() -> None:
    """Like a rejected member (test_access.py::test_unbanning_a_rejected_member_starts_its_public_history
    _then), a member removed while it waited in the lobby never saw the room: once unbanned (waiting ->
    banned -> active), a resume from its lobby seq must get a snapshot, not a replay of the public events
    after that seq, which skips every round and idea that came before."""
    from workshop_server.rooms.state import RoomConfig

    w = Workshop(RoomConfig(title="Approval", access="approval"))
    mod = w.moderator()
    wes = w.join("Wes")
    lobby_seq = w.room.seq  # what its lobby connection had seen
    w.ok(mod, c.MemberRemove, member=wes, reason="spam")
    w.open_ideate(private=False)
    w.ok(mod, c.MemberUnban, member=wes)
    assert w.room.members[wes].status == "active"
    # host.py (_replay) replays instead of sending a snapshot when audience_seq <= the resume seq.
    assert w.room.members[wes].audience_seq > lobby_seq, "a resume from the lobby seq would be replayed"


def test_an_author_cannot_pull_its_idea_out_of_a_staff_evaluation() -> None:
    """idea.withdraw deletes the note outright, also one that staff put in front of the jury (status
    in_review, in the open evaluation) while its ideate round was still open. The jury then goes on
    scoring a note that no longer exists, and the results publish a row for it. A merge in effect
    already blocks a withdrawal ("undo the merge first"); an evaluation in progress does not."""
    w, _, ann, ideas = _evaluated_room()
    w.ok(FACILITATOR, c.EvaluationOpen, jury="staff")
    assert w.room.ideas[ideas[0]].status == "in_review"
    w.fail(ann, c.IdeaWithdraw, "invalid_transition", idea=ideas[0])
    assert ideas[0] in w.room.ideas


def test_an_author_still_withdraws_an_idea_staff_have_not_taken_up() -> None:
    w = Workshop()
    ann = w.join("Ann")
    w.open_ideate(private=False)
    idea = w.post(ann, "coffee")
    w.ok(ann, c.IdeaWithdraw, idea=idea)
    assert idea not in w.room.ideas


def test_a_shadow_muted_members_reply_to_its_own_idea_is_shadowed_too() -> None:
    """Its reply is accepted (nothing tells it), and nobody else sees it: the idea is shadowed."""
    w = Workshop()
    mod = w.moderator()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    w.ok(mod, c.MemberShadowMute, member=ann, reason="trolling")
    mine = w.post(ann, "coffee")
    w.ok(ann, c.ReplyPost, idea=mine, text="with milk")
    w.ok(mod, c.MemberShadowMute, member=ann, on=False)
    (reply,) = w.room.idea_replies.values()
    assert reply.shadowed
    assert "with milk" not in json.dumps(w.room.snapshot(bob, "participant"))
    assert views.my_ideas(w.room, bob)["contribution"] is None
    w.fail(bob, c.ReplyPost, "not_found", idea=mine, text="me too")


def test_journals_written_before_the_rule_fixes_replay_as_they_were() -> None:
    """Entries handled under text rules 4 replay with the old rules (the rebuild refuses a divergence)."""
    w, mod, ann, ideas = _evaluated_room()
    w.room.text_rules = RULE_FIXES - 1
    w.ok(FACILITATOR, c.MemberMute, member=mod, reason="rude")
    w.ok(mod, c.MemberUnmute, member=mod)  # the old rule let it
    w.ok(FACILITATOR, c.EvaluationOpen, jury="staff")
    w.ok(ann, c.IdeaWithdraw, idea=ideas[0])  # the old rule let it
    w.ok(FACILITATOR, c.MemberMute, member=mod, reason="rude")
    w.room.text_rules = RULE_FIXES  # loaded again: what comes next is handled under today's rules
    w.fail(mod, c.MemberUnmute, "forbidden", member=mod)
