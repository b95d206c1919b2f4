"""Projections of the follow-up: replies, announcements, the selection (criteria, evaluations, the log),
satisfaction pulses and the contributors list, for each audience.

The rules they keep:

- a reply is public only while it is visible and its idea is on the wall (publicly visible); in an
  anonymous round its author is named to staff only (staff replies carry the brand's name instead);
- a juror's scores are seen by that juror alone until the evaluation closes, then by staff; the public
  sees the weighted results and the number of jurors;
- a satisfaction answer is seen by its author and by staff; the public sees nothing of the answers;
- where credits are private (``RoomState.credits_private``), a contributor is named to staff and to
  themselves only.

Pure functions over :class:`~workshop_server.rooms.model.RoomState`; ``views.py`` builds the snapshot
and the "my ideas" page from them.
"""

from __future__ import annotations

from workshop_server.rooms.events import Data
from workshop_server.rooms.model import RoomState
from workshop_server.rooms.state import (
    STAFF_ROLES,
    Announcement,
    Evaluation,
    EvaluationStatus,
    Idea,
    IdeaReply,
    IdeaState,
    IdeaStatus,
    MemberStatus,
    Pulse,
    ReplyState,
    RoundStatus,
)
from workshop_server.rooms.text import MERGE_FIXES

#: Statuses that count as a decision in the selection log.
DECISIONS = frozenset({IdeaStatus.ADOPTED, IdeaStatus.DECLINED, IdeaStatus.DONE})
#: Statuses an idea holds once it was shortlisted (for credit).
SHORTLISTED_OR_LATER = frozenset(
    {IdeaStatus.SHORTLISTED, IdeaStatus.IN_REVIEW, IdeaStatus.ADOPTED, IdeaStatus.DONE}
)


# --- Statuses -------------------------------------------------------------------------------------------
def status_change(
    room: RoomState,
    previous: IdeaStatus,
    status: IdeaStatus,
    actor: str | None,
    note: str,
    now: float,
    via: str | None = None,
) -> Data:
    """One entry of an idea's (or a theme's) public status history: who decided is always named (staff
    are never anonymous)."""
    decider = room.members.get(actor) if actor is not None else None
    entry: Data = {
        "status": str(status.value),
        "previous": str(previous.value),
        "at": now,
        "note": note,
        "by": actor or "server",
        "by_name": decider.name if decider is not None else "",
    }
    if via is not None:
        entry["via"] = via
    return entry


# --- Replies --------------------------------------------------------------------------------------------
def reply_anonymous(room: RoomState, reply: IdeaReply) -> bool:
    idea = room.ideas.get(reply.idea)
    anonymous_round = idea is not None and room.rounds[idea.round].anonymous
    return not reply.staff and (anonymous_round or room.config.anonymous)


def reply_public(room: RoomState, reply: IdeaReply) -> Data:
    data: Data = {
        "id": reply.id,
        "idea": reply.idea,
        "text": reply.text,
        "at": reply.at,
        "staff": reply.staff,
        "state": str(reply.state.value),
    }
    if reply.staff:
        data["brand"] = room.config.brand
    if not reply_anonymous(room, reply):
        data["author"] = reply.author
        data["author_name"] = room.members[reply.author].name
    return data


def reply_full(room: RoomState, reply: IdeaReply) -> Data:
    data = reply_public(room, reply)
    data["author"] = reply.author
    data["author_name"] = room.members[reply.author].name
    if reply.state == ReplyState.HIDDEN:
        data["hide_reason"] = reply.hide_reason
    if reply.shadowed:
        data["shadowed"] = True
    if reply.held:
        data["held"] = reply.held
    return data


def reply_own(room: RoomState, reply: IdeaReply) -> Data:
    data = reply_public(room, reply)
    data["author"] = reply.author
    data["author_name"] = room.members[reply.author].name
    data["mine"] = True
    if reply.state == ReplyState.HIDDEN:
        data["hide_reason"] = reply.hide_reason
    if reply.held:
        data["held"] = reply.held
    if reply.shadowed:
        data["state"] = str(ReplyState.VISIBLE.value)  # its author sees it as published
    return data


def reply_is_public(room: RoomState, reply: IdeaReply) -> bool:
    idea = room.ideas.get(reply.idea)
    return (
        reply.state == ReplyState.VISIBLE
        and not reply.shadowed
        and idea is not None
        and room.publicly_visible(idea)
    )


def reply_kept_for(room: RoomState, reply: IdeaReply, member_id: str | None) -> bool:
    """A published reply to an idea since merged into another, for that idea's credited authors: the
    answers their idea received do not vanish with the merge (everyone else lost them with the note,
    which only staff can merge while it is on the wall, so they learn nothing new)."""
    return (
        member_id is not None
        and reply.state == ReplyState.VISIBLE
        and not reply.shadowed
        and (member_id in kept_by(room, reply))
    )


def kept_by(room: RoomState, reply: IdeaReply) -> list[str]:
    """The members ``reply`` may be kept for (``reply_kept_for``, while it is visible): the credited
    authors of its idea once merged, none otherwise."""
    idea = room.ideas.get(reply.idea)
    if idea is None or idea.state != IdeaState.MERGED:
        return []
    return sorted(room.credited(idea))


def replies_for(room: RoomState, member_id: str | None, *, staff: bool) -> list[Data]:
    """The replies a viewer may see: staff all of them, a member the public ones, its own, and those
    its merged ideas received (``reply_kept_for``)."""
    out: list[Data] = []
    for reply in room.idea_replies.values():
        if staff:
            out.append(reply_full(room, reply))
        elif member_id is not None and reply.author == member_id:
            out.append(reply_own(room, reply))
        elif reply_is_public(room, reply) or reply_kept_for(room, reply, member_id):
            out.append(reply_public(room, reply))
    return out


def public_replies_of(room: RoomState, idea_id: str, member_id: str | None = None) -> list[Data]:
    """The public replies to ``idea_id``; with ``member_id``, also those it keeps (``reply_kept_for``)."""
    return [
        reply_public(room, r)
        for r in room.idea_replies.values()
        if r.idea == idea_id and (reply_is_public(room, r) or reply_kept_for(room, r, member_id))
    ]


# --- Announcements --------------------------------------------------------------------------------------
def announcement_view(room: RoomState, announcement: Announcement, *, named: bool | None = None) -> Data:
    """``named``: whether the credited members are named (staff always; the public unless credits are
    private). A credited member sees itself named in its own view (``announcement_own``)."""
    show = (not room.credits_private) if named is None else named
    author = room.members.get(announcement.actor)
    return {
        "id": announcement.id,
        "kind": announcement.kind,
        "text": announcement.text,
        "at": announcement.at,
        "by_name": author.name if author is not None else "",
        "brand": room.config.brand,
        "credit": [{"id": m, "name": room.members[m].name} for m in announcement.credit] if show else [],
    }


def announcement_own(room: RoomState, announcement: Announcement, member_id: str) -> Data:
    data = announcement_view(room, announcement)
    if member_id in announcement.credit:
        data["credit"] = [{"id": member_id, "name": room.members[member_id].name}]
        data["credited_you"] = True
    return data


def announcements_for(room: RoomState, member_id: str | None, *, staff: bool) -> list[Data]:
    if staff:
        return [announcement_view(room, a, named=True) for a in room.announcements]
    if member_id is not None and room.credits_private:
        return [announcement_own(room, a, member_id) for a in room.announcements]
    return [announcement_view(room, a) for a in room.announcements]


# --- Selection ------------------------------------------------------------------------------------------
def criteria_view(room: RoomState) -> list[Data]:
    return [
        {"id": k.id, "name": k.name, "description": k.description, "weight": k.weight} for k in room.criteria
    ]


def jury_members(room: RoomState, evaluation: Evaluation | str) -> list[str]:
    """Who may score (in ``evaluation``, or with the jury ``evaluation``): the active staff, the active
    jurors (jury invite, or named by the facilitator), or both."""
    jury = evaluation if isinstance(evaluation, str) else evaluation.jury
    staff = jury in ("staff", "staff_and_jurors")
    jurors = jury in ("jurors", "staff_and_jurors")
    return [
        m.id
        for m in room.members.values()
        if m.status == MemberStatus.ACTIVE
        and ((staff and m.role in STAFF_ROLES) or (jurors and m.juror and m.role == "participant"))
    ]


def progress(evaluation: Evaluation) -> dict[str, int]:
    """Idea id -> how many jurors scored it (what staff see while the evaluation is open)."""
    counts = dict.fromkeys(evaluation.ideas, 0)
    for per_idea in evaluation.scores.values():
        for idea_id in per_idea:
            counts[idea_id] = counts.get(idea_id, 0) + 1
    return counts


def evaluation_public(room: RoomState, evaluation: Evaluation) -> Data:
    data: Data = {
        "id": evaluation.id,
        "ideas": list(evaluation.ideas),
        "criteria": [dict(k) for k in evaluation.criteria],
        "jury": evaluation.jury,
        "status": str(evaluation.status.value),
        "opened_at": evaluation.opened_at,
        "closed_at": evaluation.closed_at,
    }
    if evaluation.status == EvaluationStatus.CLOSED:
        results = evaluation.results or []
        if room.text_rules >= MERGE_FIXES:
            # Frozen at the close with each note's text: a note hidden, merged or withdrawn since (or
            # before the close) is named by its id only, like any note that is not on the wall.
            results = [
                row
                if (idea := room.ideas.get(row["idea"])) is not None and room.publicly_visible(idea)
                else {**row, "text": ""}
                for row in results
            ]
        data["results"] = results
        data["jurors"] = evaluation.jurors
    return data


def evaluation_staff(room: RoomState, evaluation: Evaluation) -> Data:
    data = evaluation_public(room, evaluation)
    data["progress"] = progress(evaluation)
    data["jury_size"] = len(jury_members(room, evaluation))
    if evaluation.status == EvaluationStatus.CLOSED:
        # Individual scores: staff only, and only once the evaluation closed.
        data["scores"] = [
            {"juror": juror, "name": room.members[juror].name, "idea": idea_id, "scores": dict(scores)}
            for juror, per_idea in evaluation.scores.items()
            for idea_id, scores in per_idea.items()
        ]
    return data


def evaluation_for(room: RoomState, evaluation: Evaluation, member_id: str | None, *, staff: bool) -> Data:
    data = evaluation_staff(room, evaluation) if staff else evaluation_public(room, evaluation)
    if member_id is not None:
        mine = evaluation.scores.get(member_id)
        if mine is not None:
            data["mine"] = {idea_id: dict(scores) for idea_id, scores in mine.items()}
        data["juror"] = member_id in jury_members(room, evaluation)
    return data


def weighted_results(room: RoomState, evaluation: Evaluation) -> list[Data]:
    """Per idea: the mean score of each criterion over the jurors who scored it, and the weighted mean
    of those (weights as published), ranked best first (ties keep the evaluation's order)."""
    weights = {k["id"]: k["weight"] for k in evaluation.criteria}
    total_weight = sum(weights.values()) or 1
    rows: list[Data] = []
    for idea_id in evaluation.ideas:
        sheets = [per_idea[idea_id] for per_idea in evaluation.scores.values() if idea_id in per_idea]
        means = {
            crit: round(sum(sheet[crit] for sheet in sheets) / len(sheets), 2) if sheets else None
            for crit in weights
        }
        score = (
            round(sum(weights[crit] * (means[crit] or 0) for crit in weights) / total_weight, 2)
            if sheets
            else None
        )
        idea = room.ideas.get(idea_id)
        rows.append(
            {
                "idea": idea_id,
                "text": idea.text if idea is not None else "",
                "criteria": means,
                "score": score,
                "jurors": len(sheets),
            }
        )
    rows.sort(key=lambda r: -(r["score"] if r["score"] is not None else -1.0))
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return rows


def selection_log(room: RoomState, viewer: str | None = None) -> list[Data]:
    """What everyone may read of the selection, oldest first: each closed evaluation (its criteria,
    jurors and weighted results) and each decision (adopted, declined, done) on an idea on the wall or
    on a theme; ``viewer``'s own shadowed ideas count as on the wall in its own log (text rules 19:
    ``RoomState.seen_on_wall``)."""
    log: list[Data] = []
    for evaluation in room.evaluations.values():
        if evaluation.status == EvaluationStatus.CLOSED:
            log.append(
                {"kind": "evaluation", "at": evaluation.closed_at, **evaluation_public(room, evaluation)}
            )
    for idea in room.ideas.values():
        if not room.seen_on_wall(idea, viewer):
            continue
        for change in idea.history:
            if IdeaStatus(change["status"]) in DECISIONS:
                log.append({"kind": "decision", "idea": idea.id, "text": idea.text, **change})
    for theme in room.themes.values():
        for change in theme.history:
            if IdeaStatus(change["status"]) in DECISIONS:
                log.append({"kind": "decision", "theme": theme.id, "text": theme.name, **change})
    log.sort(key=lambda entry: entry["at"] or 0.0)
    return log


# --- Pulses ---------------------------------------------------------------------------------------------
def pulse_summary(pulse: Pulse) -> Data:
    scores = [a["score"] for a in pulse.answers.values()]
    return {
        "count": len(scores),
        "average": round(sum(scores) / len(scores), 2) if scores else None,
        "distribution": {str(n): scores.count(n) for n in range(1, 6)},
    }


def pulse_public(pulse: Pulse) -> Data:
    return {
        "id": pulse.id,
        "question": pulse.question,
        "status": str(pulse.status.value),
        "opened_at": pulse.opened_at,
        "closed_at": pulse.closed_at,
    }


def pulse_staff(room: RoomState, pulse: Pulse) -> Data:
    data = pulse_public(pulse)
    data.update(pulse_summary(pulse))
    data["answers"] = [
        {"member": member_id, "name": room.members[member_id].name, **answer}
        for member_id, answer in pulse.answers.items()
    ]
    return data


def pulse_for(room: RoomState, pulse: Pulse, member_id: str | None, *, staff: bool) -> Data:
    data = pulse_staff(room, pulse) if staff else pulse_public(pulse)
    if member_id is not None and member_id in pulse.answers:
        data["mine"] = dict(pulse.answers[member_id])
    return data


# --- Credit ---------------------------------------------------------------------------------------------
class Dots:
    """The dots of each idea, with those of the ideas merged into it (at any depth): a merge in an open
    vote moved them (the absorbed idea keeps none), a merge after the vote closed left them on the
    absorbed idea. Built once per query, in one pass over the rounds and one over the ideas, so that a
    query over every idea stays linear (it scanned every idea for each idea: 2.5 s at 5,000 ideas).

    ``every_round``: count the vote rounds whose totals are still hidden too (staff, exports); by
    default only those whose totals are public (closed, or shown live). Staff count every dot; anyone
    else not the dots kept from the public (``RoomState.kept_from_public``), but those on ``viewer``'s
    own ideas."""

    def __init__(
        self, room: RoomState, *, every_round: bool = False, staff: bool = False, viewer: str | None = None
    ) -> None:
        self.totals: dict[str, int] = {}
        for rnd in room.rounds.values():
            if rnd.kind != "vote" or rnd.target != "ideas":
                continue
            if every_round or rnd.status == RoundStatus.CLOSED or not rnd.hide_totals:
                everything = staff or every_round
                hidden = (
                    set() if everything else room.kept_from_public(rnd) - set(room.own_in_vote(rnd, viewer))
                )
                for idea_id, count in rnd.totals.items():
                    if idea_id not in hidden:
                        self.totals[idea_id] = self.totals.get(idea_id, 0) + count
        self.absorbed: dict[str, list[str]] = {}
        for idea in room.ideas.values():
            if idea.state == IdeaState.MERGED and idea.merged_into is not None:
                self.absorbed.setdefault(idea.merged_into, []).append(idea.id)

    def with_absorbed(self, idea_id: str) -> list[str]:
        """``idea_id`` and the ideas merged into it, at any depth."""
        ids = [idea_id]
        todo = [idea_id]
        while todo:
            absorbed = self.absorbed.get(todo.pop(), ())
            ids += absorbed
            todo += absorbed
        return ids

    def of(self, idea_id: str) -> int:
        totals = self.totals
        return sum(totals.get(i, 0) for i in self.with_absorbed(idea_id))


def _reached_shortlist(idea: Idea) -> bool:
    """Whether ``idea`` is, or once was, shortlisted or further on (in review, adopted, done): a note
    shortlisted, then declined, still made the shortlist, for its authors' credit."""
    return idea.status in SHORTLISTED_OR_LATER or any(
        IdeaStatus(change["status"]) in SHORTLISTED_OR_LATER for change in idea.history
    )


def contributors(room: RoomState, member_id: str | None, *, staff: bool) -> list[Data]:
    """Per contributor: ideas posted (a merged idea credits every author), dots received, ideas
    shortlisted and adopted, most ideas first. Staff count every idea that is not hidden; everyone else
    counts the ideas on the wall only. Where credits are private a member sees only its own row."""
    rows: dict[str, Data] = {}
    counted = Dots(room, staff=staff, viewer=member_id)
    for idea in room.ideas.values():
        if idea.state == IdeaState.MERGED:
            continue  # its authors are credited on the idea that absorbed it
        if not (idea.state != IdeaState.HIDDEN if staff else room.on_wall_for(idea, member_id)):
            continue
        dots = counted.of(idea.id)
        for author in room.credited(idea):
            row = rows.setdefault(
                author,
                {
                    "member": author,
                    "name": room.members[author].name,
                    "ideas": 0,
                    "dots": 0,
                    "shortlisted": 0,
                    "adopted": 0,
                },
            )
            row["ideas"] += 1
            row["dots"] += dots
            row["shortlisted"] += _reached_shortlist(idea)
            row["adopted"] += idea.status in (IdeaStatus.ADOPTED, IdeaStatus.DONE)
    if not staff and room.credits_private:
        rows = {k: v for k, v in rows.items() if k == member_id}
    return sorted(rows.values(), key=lambda r: (-r["ideas"], -r["dots"], r["member"]))
