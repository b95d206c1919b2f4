"""The room screen: the facilitator puts one note (or one theme) in the spotlight, full screen, and
every room screen follows. Only what is on the wall can be spotlighted; a note that leaves the wall
leaves the spotlight for the public (the snapshot shows it only while it is visible)."""

from __future__ import annotations

from workshop_server import errors
from workshop_server.rooms import commands as c
from workshop_server.rooms import views
from workshop_server.rooms.events import PUBLIC, STAFF, Data, EventName
from workshop_server.rooms.model import RoomState
from workshop_server.rooms.registry import EVERY_STAFF, handles


@handles(c.RoomSpotlight, roles=EVERY_STAFF, after_end=True)
def spotlight(room: RoomState, cmd: c.RoomSpotlight, actor: str | None, now: float) -> Data:
    if cmd.idea is not None and cmd.theme is not None:
        raise errors.InvalidCommand("spotlight an idea or a theme, not both")
    if cmd.idea is not None:
        idea = room.ideas.get(cmd.idea)
        if idea is None:
            raise errors.NotFound("no such idea")
        if not room.publicly_visible(idea):
            raise errors.IdeaPrivate("only an idea on the wall can be spotlighted")
        room.spotlight = {"idea": idea.id}
    elif cmd.theme is not None:
        if cmd.theme not in room.themes:
            raise errors.NotFound(f"no theme {cmd.theme} in this room")
        if not views.theme_ideas(room, cmd.theme, public=True):
            raise errors.InvalidTransition("this theme has no idea on the wall")
        room.spotlight = {"theme": cmd.theme}
    else:
        room.spotlight = None
    data = {"spotlight": views.spotlight_of(room, public=False)}
    room.emit(EventName.ROOM_SPOTLIGHT, {STAFF: data, PUBLIC: data}, now)
    return data
