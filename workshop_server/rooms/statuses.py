"""Statuses: staff say what became of an idea, or of a theme and the ideas in it, with a public note.

Statuses move along :data:`~workshop_server.rooms.state.STATUS_TRANSITIONS`; anything else is
``invalid_transition``. Each change is kept in the idea's (or theme's) history with its time, note and
who decided, and reaches everyone who may see the idea, live. Allowed after the session ended: the
follow-up is what happens after it.
"""

from __future__ import annotations

from workshop_server import errors
from workshop_server.rooms import commands as c
from workshop_server.rooms import followup_views as fv
from workshop_server.rooms import views
from workshop_server.rooms.events import Data, EventName
from workshop_server.rooms.model import RoomState
from workshop_server.rooms.registry import EVERY_STAFF, handles
from workshop_server.rooms.state import STATUS_TRANSITIONS, Idea, IdeaState, IdeaStatus, can_move, move


def _note(room: RoomState, raw: str) -> str:
    if not raw.strip():
        return ""
    return room.clean_text(raw, room.limits.note_text_max, "note")


def set_idea_status(
    room: RoomState,
    idea: Idea,
    status: IdeaStatus,
    actor: str | None,
    note: str,
    now: float,
    via: str | None = None,
) -> Data:
    """Move ``idea`` to ``status`` and emit ``idea.status``. The caller checked, before changing anything,
    that the table allows it (``move`` here only guards the rule)."""
    change = fv.status_change(room, idea.status, status, actor, note, now, via)
    idea.status = move(STATUS_TRANSITIONS, idea.status, status, "checked by the caller")
    idea.history.append(change)
    room.emit(EventName.IDEA_STATUS, views.idea_views(room, idea, {"change": change}), now)
    return change


def _idea_for_status(room: RoomState, idea_id: str, status: IdeaStatus) -> Idea:
    idea = room.ideas.get(idea_id)
    if idea is None:
        raise errors.NotFound("no such idea")
    if idea.state == IdeaState.MERGED:
        raise errors.InvalidTransition(f"this idea was merged into {idea.merged_into}: set that one's status")
    move(
        STATUS_TRANSITIONS,
        idea.status,
        status,
        f"an idea cannot go from {idea.status.value} to {status.value}",
    )
    return idea


@handles(c.IdeaStatusSet, roles=EVERY_STAFF, after_end=True)
def set_status(room: RoomState, cmd: c.IdeaStatusSet, actor: str | None, now: float) -> Data:
    if (cmd.idea is None) == (cmd.theme is None):
        raise errors.InvalidCommand("name an idea or a theme")
    status = IdeaStatus(cmd.status)
    note = _note(room, cmd.note)
    if cmd.idea is not None:
        idea = _idea_for_status(room, cmd.idea, status)
        change = set_idea_status(room, idea, status, actor, note, now)
        return {"idea": idea.id, "change": change}
    assert cmd.theme is not None
    theme = room.themes.get(cmd.theme)
    if theme is None:
        raise errors.NotFound(f"no theme {cmd.theme} in this room")
    message = f"a theme cannot go from {theme.status.value} to {status.value}"
    move(STATUS_TRANSITIONS, theme.status, status, message)  # before any change
    # The theme's ideas on the wall follow it where the table allows; the others keep their status. So do
    # the shadowed ideas their authors see in it (text rules 19: the status tells them nothing).
    members = [i for i in room.ideas.values() if i.theme == theme.id and room.seen_on_wall(i, i.author)]
    moving = [i for i in members if i.status != status and can_move(STATUS_TRANSITIONS, i.status, status)]
    change = fv.status_change(room, theme.status, status, actor, note, now)
    theme.status = move(STATUS_TRANSITIONS, theme.status, status, message)
    theme.history.append(change)
    room.emit(EventName.THEME_STATUS, views.theme_views(room, theme, {"change": change}, every=True), now)
    for idea in moving:
        set_idea_status(room, idea, status, actor, note, now, via=theme.id)
    return {
        "theme": theme.id,
        "change": change,
        "ideas": [i.id for i in moving],
        "kept": [i.id for i in members if i not in moving],
    }
