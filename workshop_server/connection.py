"""What the room side sees of a connection: the :class:`Connection` protocol.

The fan-out and the room host deliver events, replies and closes to connections without knowing the
WebSocket session behind them (``session.py``), so that the layers below the connection never import
it. ``Session`` is the one implementation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from workshop_server.close_codes import CloseCode
    from workshop_server.protocol import Codec
    from workshop_server.rooms.state import Role

__all__ = ["HELD", "Connection"]

#: The ``floor`` of a held connection: it receives nothing, not even replies that wait for events,
#: until it is attached again (with a snapshot) in place (``fanout.Fanout.moved``).
HELD = 2**62


class Connection(Protocol):
    """A connection attached (or attaching) to a room."""

    room_id: str | None
    member_id: str | None  # None: the room screen
    member_key: str  # "m:<member id>", or "" for a screen
    role: Role
    audience: str  # the view key of its audience: staff, public or lobby
    floor: int  # events up to this seq were in its snapshot: never deliver them again (HELD: held)
    codec: Codec
    link_generation: int | None  # attached with a staff link of this generation (None: not a staff link)
    rotating: int  # room.rotate_links sent from here and not answered yet
    spared: int  # the newest links generation whose revocation spared it while rotating (0: none)
    erasing: int  # its own member.erase sent from here and not answered yet: closed once answered

    def bind(self, room_id: str, member_id: str | None, role: Role) -> None: ...

    def follow(self, handle: Any) -> None:
        """The room moved: reach it through ``handle`` (a ``handle.RoomHandle``: not imported here, it
        imports this module) from now on."""
        ...

    def push(self, frame: str | bytes, *, reply: bool = False) -> None: ...

    def offer(self, frame: str | bytes) -> bool:
        """Write ``frame`` at once if the connection is idle; False: nothing done, ``push`` it."""
        ...

    def push_message(self, message: dict[str, Any]) -> None: ...

    def release(self, delivered: int) -> None: ...

    def close_soon(self, code: CloseCode, reason: str, *, drain: bool = False) -> None: ...

    @property
    def closing(self) -> bool: ...

    async def closed(self) -> None: ...
