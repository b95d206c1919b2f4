"""Transparent selection: published criteria, a jury that scores privately, a public selection log.

1. The facilitator publishes the criteria (``criteria.set``): a name, a short description and a weight
   each. They cannot change while an evaluation is open.
2. ``evaluation.open`` puts ideas on the wall (by default every shortlisted one) in front of the jury:
   the facilitator and moderators, or the members who joined with a jury invite. The ideas move to
   ``in_review``.
3. Each juror scores each idea on every criterion from 1 to 5 (``evaluation.score``). Until the close
   a juror's scores are seen by that juror alone; staff see how many jurors scored each idea.
4. ``evaluation.close`` publishes the weighted results and the number of jurors to everyone (the
   selection log); staff then also see each juror's scores. Decisions follow as statuses.

Evaluations move along :data:`~workshop_server.rooms.state.EVALUATION_TRANSITIONS`.
"""

from __future__ import annotations

from workshop_server import errors
from workshop_server.rooms import commands as c
from workshop_server.rooms import followup_views as fv
from workshop_server.rooms import views
from workshop_server.rooms.events import PUBLIC, STAFF, Data, EventName, member_key
from workshop_server.rooms.model import RoomState
from workshop_server.rooms.registry import EVERY_STAFF, FACILITATOR, PARTICIPANT, handles
from workshop_server.rooms.state import (
    EVALUATION_TRANSITIONS,
    STATUS_TRANSITIONS,
    Criterion,
    Evaluation,
    EvaluationStatus,
    Idea,
    IdeaState,
    IdeaStatus,
    MemberStatus,
    can_move,
    move,
)
from workshop_server.rooms.statuses import set_idea_status
from workshop_server.rooms.text import RULE_FIXES

SCORES = range(1, 6)


def _one_line(room: RoomState, raw: str, limit: int, what: str) -> str:
    return " ".join(room.clean_text(raw, limit, what).split())


@handles(c.CriteriaSet, roles=FACILITATOR, after_end=True)
def set_criteria(room: RoomState, cmd: c.CriteriaSet, actor: str | None, now: float) -> Data:
    if room.open_evaluation is not None:
        raise errors.InvalidTransition("the criteria cannot change while an evaluation is open")
    if len(cmd.criteria) > room.limits.criteria_max:
        raise errors.InvalidCommand(f"at most {room.limits.criteria_max} criteria")
    names = [_one_line(room, k.name, room.limits.theme_name_max, "criterion name") for k in cmd.criteria]
    if len({n.casefold() for n in names}) != len(names):
        raise errors.InvalidCommand("two criteria have the same name")
    descriptions = [
        _one_line(room, k.description, room.limits.note_text_max, "description")
        if k.description.strip()
        else ""
        for k in cmd.criteria
    ]
    room.criteria = [
        Criterion(id=room.next_id("k"), name=name, description=description, weight=spec.weight)
        for name, description, spec in zip(names, descriptions, cmd.criteria, strict=True)
    ]
    entry = room.audit_entry(actor, "criteria.set", room.id, ", ".join(names), now)
    data = {"criteria": fv.criteria_view(room)}
    room.emit(EventName.SELECTION_CRITERIA, {STAFF: {**data, "audit": entry}, PUBLIC: data}, now)
    return data


@handles(c.MemberJury, roles=FACILITATOR, after_end=True)
def set_juror(room: RoomState, cmd: c.MemberJury, actor: str | None, now: float) -> Data:
    member = room.members.get(cmd.member)
    if member is None:
        raise errors.NotFound("no such member")
    if member.role != "participant":
        raise errors.InvalidCommand("staff take part as the jury 'staff'; only participants are named jurors")
    if member.status != MemberStatus.ACTIVE:
        raise errors.InvalidTransition("only an active member can be a juror")
    if member.juror == cmd.juror:
        raise errors.InvalidTransition("already a juror" if cmd.juror else "not a juror")
    member.juror = cmd.juror
    entry = room.audit_entry(actor, "member.jury", member.id, "juror" if cmd.juror else "", now)
    view = {"member": views.member_view(room, member)}
    staff = {"member": views.staff_member_view(room, member)}
    room.emit(EventName.MEMBER_JURY, {STAFF: {**staff, "audit": entry}, member_key(member.id): view}, now)
    return staff


def _candidates(room: RoomState, idea_ids: list[str] | None) -> list[Idea]:
    if idea_ids is None:
        chosen = [
            i for i in room.ideas.values() if i.status == IdeaStatus.SHORTLISTED and room.publicly_visible(i)
        ]
        if not chosen:
            raise errors.InvalidTransition("no idea is shortlisted: shortlist ideas, or list them")
        return chosen
    if not idea_ids:
        raise errors.InvalidCommand("list at least one idea")
    if len(set(idea_ids)) != len(idea_ids):
        raise errors.InvalidCommand("an idea is listed twice")
    chosen = []
    for idea_id in idea_ids:
        idea = room.ideas.get(idea_id)
        if idea is None:
            raise errors.NotFound(f"no idea {idea_id} in this room")
        if idea.state == IdeaState.MERGED:
            raise errors.InvalidTransition(f"idea {idea_id} was merged into {idea.merged_into}")
        if not room.publicly_visible(idea):
            raise errors.IdeaPrivate(f"idea {idea_id} is not on the wall")
        if idea.status != IdeaStatus.IN_REVIEW and not can_move(
            STATUS_TRANSITIONS, idea.status, IdeaStatus.IN_REVIEW
        ):
            raise errors.InvalidTransition(f"idea {idea_id} is {idea.status.value}: it cannot be reviewed")
        chosen.append(idea)
    return chosen


@handles(c.EvaluationOpen, roles=FACILITATOR, after_end=True)
def open_evaluation(room: RoomState, cmd: c.EvaluationOpen, actor: str | None, now: float) -> Data:
    if room.open_evaluation is not None:
        raise errors.InvalidTransition("an evaluation is already open")
    if not room.criteria:
        raise errors.InvalidTransition("publish the selection criteria first")
    ideas = _candidates(room, cmd.ideas)
    if not fv.jury_members(room, cmd.jury):
        raise errors.InvalidTransition("nobody can score: invite jurors first (a jury invite)")
    evaluation = Evaluation(
        id=room.next_id("e"),
        ideas=[i.id for i in ideas],
        criteria=fv.criteria_view(room),
        jury=cmd.jury,
        opened_at=now,
    )
    room.evaluations[evaluation.id] = evaluation
    entry = room.audit_entry(actor, "evaluation.open", evaluation.id, cmd.jury, now)
    room.emit(
        EventName.EVALUATION_OPENED,
        {
            STAFF: {"evaluation": fv.evaluation_staff(room, evaluation), "audit": entry},
            PUBLIC: {"evaluation": fv.evaluation_public(room, evaluation)},
        },
        now,
    )
    for idea in ideas:
        if idea.status != IdeaStatus.IN_REVIEW:
            set_idea_status(room, idea, IdeaStatus.IN_REVIEW, actor, "", now, via=evaluation.id)
    return {"evaluation": fv.evaluation_staff(room, evaluation)}


@handles(c.EvaluationScore, roles=PARTICIPANT | EVERY_STAFF, after_end=True)
def score(room: RoomState, cmd: c.EvaluationScore, actor: str | None, now: float) -> Data:
    assert actor is not None
    evaluation = room.open_evaluation
    if evaluation is None:
        raise errors.EvaluationClosed()
    if actor not in fv.jury_members(room, evaluation):
        raise errors.NotJuror()
    if cmd.idea not in evaluation.ideas:
        raise errors.NotFound(f"idea {cmd.idea} is not in this evaluation")
    expected = {k["id"] for k in evaluation.criteria}
    if set(cmd.scores) != expected:
        raise errors.InvalidScore(f"score every criterion, and only them: {', '.join(sorted(expected))}")
    for value in cmd.scores.values():
        if isinstance(value, bool) or value not in SCORES:
            raise errors.InvalidScore()
    evaluation.scores.setdefault(actor, {})[cmd.idea] = dict(cmd.scores)
    mine: Data = {"evaluation": evaluation.id, "idea": cmd.idea, "scores": dict(cmd.scores)}
    staff: Data = {"evaluation": evaluation.id, "progress": fv.progress(evaluation)}
    # The juror alone sees its scores; other staff see only how many jurors scored each idea.
    room.emit(EventName.EVALUATION_SCORED, {STAFF: staff, member_key(actor): {**staff, **mine}}, now)
    return mine


@handles(c.EvaluationClose, roles=FACILITATOR, after_end=True)
def close_evaluation(room: RoomState, cmd: c.EvaluationClose, actor: str | None, now: float) -> Data:
    evaluation = room.open_evaluation
    if evaluation is None:
        raise errors.EvaluationClosed("no evaluation is open")
    evaluation.status = move(EVALUATION_TRANSITIONS, evaluation.status, EvaluationStatus.CLOSED, "closed")
    evaluation.closed_at = now
    if room.text_rules >= RULE_FIXES:
        # Only the jury's sheets count: a juror removed (or taken off the jury) meanwhile is not in it,
        # as a removed voter's dots leave the vote.
        jury = fv.jury_members(room, evaluation)
        evaluation.scores = {juror: sheet for juror, sheet in evaluation.scores.items() if juror in jury}
    evaluation.results = fv.weighted_results(room, evaluation)
    evaluation.jurors = sum(1 for per_idea in evaluation.scores.values() if per_idea)
    entry = room.audit_entry(actor, "evaluation.close", evaluation.id, "", now)
    room.emit(
        EventName.EVALUATION_CLOSED,
        {
            STAFF: {"evaluation": fv.evaluation_staff(room, evaluation), "audit": entry},
            PUBLIC: {"evaluation": fv.evaluation_public(room, evaluation)},
        },
        now,
    )
    return {"evaluation": fv.evaluation_staff(room, evaluation)}
