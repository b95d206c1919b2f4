"""Rounds and the clock: open, pause, resume, extend, close, reveal, the session's end, and the deadline.

Round statuses move along :data:`~workshop_server.rooms.state.ROUND_TRANSITIONS`.
"""

from __future__ import annotations

from workshop_server import errors
from workshop_server.rooms import commands as c
from workshop_server.rooms import views, votes
from workshop_server.rooms.events import PUBLIC, STAFF, Data, EventName
from workshop_server.rooms.model import RoomState
from workshop_server.rooms.registry import FACILITATOR, handles
from workshop_server.rooms.state import ROUND_TRANSITIONS, Round, RoundStatus, move
from workshop_server.rooms.text import VOTE_FIXES


# --- The clock --------------------------------------------------------------------------------------------
def close_if_due(room: RoomState, now: float) -> None:
    rnd = room.current_round
    if (
        rnd is not None
        and rnd.status == RoundStatus.OPEN
        and rnd.deadline is not None
        and now >= rnd.deadline + room.limits.grace_seconds
    ):
        close_round(room, rnd, now, reason="timer", closed_at=rnd.deadline)


def next_wakeup(room: RoomState) -> float | None:
    """When the shell should tick next: the open round's deadline plus grace."""
    rnd = room.current_round
    if rnd is None or rnd.status != RoundStatus.OPEN or rnd.deadline is None:
        return None
    return rnd.deadline + room.limits.grace_seconds


def close_round(room: RoomState, rnd: Round, now: float, *, reason: str, closed_at: float) -> None:
    rnd.status = move(ROUND_TRANSITIONS, rnd.status, RoundStatus.CLOSED, "the round is already closed")
    rnd.closed_at = closed_at
    rnd.remaining = None
    room.emit(EventName.ROUND_CLOSED, views.round_views(room, rnd, reason=reason), now)
    if rnd.kind == "ideate" and rnd.private and not rnd.revealed:
        reveal(room, rnd, now)
    if rnd.kind == "vote":
        votes.publish_results(room, rnd, now)


def reveal(room: RoomState, rnd: Round, now: float) -> None:
    rnd.revealed = True
    ideas = [i for i in room.ideas.values() if i.round == rnd.id]
    public = [views.idea_public(room, i) for i in ideas if room.publicly_visible(i)]
    staff = [views.idea_full(room, i, mine=False) for i in ideas]
    room.emit(
        EventName.ROUND_REVEALED,
        {STAFF: {"round": rnd.id, "ideas": staff}, PUBLIC: {"round": rnd.id, "ideas": public}},
        now,
    )


def require_round(room: RoomState, *statuses: RoundStatus, facilitation: bool = False) -> Round:
    """The current round, in one of ``statuses``. Contributions to a closed round get
    ``round_closed``; a facilitator's transition from a wrong state gets ``invalid_transition``."""
    rnd = room.current_round
    if rnd is None:
        raise errors.InvalidTransition("no round has been opened")
    if rnd.status not in statuses:
        if rnd.status == RoundStatus.CLOSED and not facilitation:
            raise errors.RoundClosed()
        raise errors.InvalidTransition(f"the round is {rnd.status}")
    return rnd


def _changed(room: RoomState, name: EventName, rnd: Round, now: float) -> Data:
    result = views.round_views(room, rnd)
    room.emit(name, result, now)
    return result[STAFF]


# --- Commands ---------------------------------------------------------------------------------------------
@handles(c.RoundOpen, roles=FACILITATOR)
def open_round(room: RoomState, cmd: c.RoundOpen, actor: str | None, now: float) -> Data:
    rnd = room.current_round
    if rnd is not None and rnd.status != RoundStatus.CLOSED:
        raise errors.InvalidTransition("close the current round before opening another")
    prompt = room.clean_text(cmd.prompt, room.limits.prompt_max, "prompt")
    target = cmd.target if cmd.kind == "vote" else "ideas"
    if target == "themes" and not any(views.theme_ideas(room, t, public=True) for t in room.themes):
        raise errors.InvalidTransition("there is no theme with a visible idea to vote on")
    rid = room.next_id("r")
    anonymous = room.config.anonymous if cmd.anonymous is None else cmd.anonymous
    rnd = Round(
        id=rid,
        kind=cmd.kind,
        prompt=prompt,
        duration=cmd.duration,
        opened_at=now,
        deadline=None if cmd.duration is None else now + cmd.duration,
        private=cmd.private if cmd.kind == "ideate" else False,
        anonymous=anonymous,
        max_ideas=cmd.max_ideas if cmd.kind == "ideate" else None,
        budget=cmd.budget,
        max_per_idea=min(cmd.max_per_idea, cmd.budget),
        hide_totals=cmd.hide_totals if cmd.kind == "vote" else False,
        target=target,
    )
    if rnd.kind == "vote":
        targets = (
            [t for t in room.themes if views.theme_ideas(room, t, public=True)]
            if target == "themes"
            else [i.id for i in room.ideas.values() if room.publicly_visible(i)]
        )
        opened_at = now if room.text_rules >= VOTE_FIXES else None  # unknown until the vote opens
        rnd.order = views.shared_order(room.id, rid, targets, opened_at)
        rnd.shadow_order = room.shadowed_walls(rnd)
    room.rounds[rid] = rnd
    room.current = rid
    result = views.round_views(room, rnd)
    room.emit(EventName.ROUND_OPENED, result, now)
    return result[STAFF]


@handles(c.RoundPause, roles=FACILITATOR)
def pause(room: RoomState, cmd: c.RoundPause, actor: str | None, now: float) -> Data:
    rnd = require_round(room, RoundStatus.OPEN, facilitation=True)
    rnd.status = move(ROUND_TRANSITIONS, rnd.status, RoundStatus.PAUSED, "the round is not open")
    if rnd.deadline is not None:
        rnd.remaining = max(0.0, rnd.deadline - now)
        rnd.deadline = None
    return _changed(room, EventName.ROUND_PAUSED, rnd, now)


@handles(c.RoundResume, roles=FACILITATOR)
def resume(room: RoomState, cmd: c.RoundResume, actor: str | None, now: float) -> Data:
    rnd = require_round(room, RoundStatus.PAUSED, facilitation=True)
    rnd.status = move(ROUND_TRANSITIONS, rnd.status, RoundStatus.OPEN, "the round is not paused")
    if rnd.remaining is not None:
        rnd.deadline = now + rnd.remaining
        rnd.remaining = None
    return _changed(room, EventName.ROUND_RESUMED, rnd, now)


@handles(c.RoundExtend, roles=FACILITATOR)
def extend(room: RoomState, cmd: c.RoundExtend, actor: str | None, now: float) -> Data:
    rnd = require_round(room, RoundStatus.OPEN, RoundStatus.PAUSED, facilitation=True)
    if rnd.deadline is None and rnd.remaining is None:
        raise errors.InvalidTransition("this round has no timer")
    if rnd.deadline is not None:
        rnd.deadline = max(rnd.deadline, now) + cmd.seconds
    elif rnd.remaining is not None:
        rnd.remaining += cmd.seconds
    if rnd.duration is not None:
        rnd.duration += cmd.seconds
    return _changed(room, EventName.ROUND_EXTENDED, rnd, now)


@handles(c.RoundClose, roles=FACILITATOR)
def close(room: RoomState, cmd: c.RoundClose, actor: str | None, now: float) -> Data:
    rnd = require_round(room, RoundStatus.OPEN, RoundStatus.PAUSED, facilitation=True)
    close_round(room, rnd, now, reason="facilitator", closed_at=now)
    return {"round": views.round_view(rnd)}


@handles(c.RoundReveal, roles=FACILITATOR)
def reveal_round(room: RoomState, cmd: c.RoundReveal, actor: str | None, now: float) -> Data:
    rnd = room.current_round
    if rnd is None:
        raise errors.InvalidTransition("no round has been opened")
    if rnd.kind != "ideate":
        raise errors.WrongRoundKind("only ideate rounds are revealed; vote results come at close")
    if rnd.revealed or not rnd.private:
        raise errors.InvalidTransition("this round's ideas are already visible")
    reveal(room, rnd, now)
    return {"round": views.round_view(rnd)}


@handles(c.SessionEnd, roles=FACILITATOR)
def end_session(room: RoomState, cmd: c.SessionEnd, actor: str | None, now: float) -> Data:
    rnd = room.current_round
    if rnd is not None and rnd.status != RoundStatus.CLOSED:
        close_round(room, rnd, now, reason="session_end", closed_at=now)
    room.ended = True
    view = {"room": views.room_view(room)}
    room.emit(EventName.SESSION_ENDED, {STAFF: view, PUBLIC: view}, now)
    return view
