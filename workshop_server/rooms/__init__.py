"""The sans-I/O room core: commands and the time go in; events, effects and a reply come out.

Nothing in this package does I/O, uses asyncio or reads the clock.

The lists of commands are derived from the handler registry (``registry.py``), never kept by hand:
``ClientCommand`` is the discriminated union a client may send (the connection's own commands, then
every registered command with roles, in the order ``commands.py`` defines them); ``InternalCommand`` the
ones the server issues itself.
"""

from typing import Annotated, Any, Union

from pydantic import Field

from workshop_server.rooms import commands as _c
from workshop_server.rooms.events import (
    LOBBY,
    PUBLIC,
    STAFF,
    Effect,
    Event,
    EventName,
    Outcome,
    member_key,
    view_for,
)
from workshop_server.rooms.registry import REGISTRY
from workshop_server.rooms.room import PERMISSIONS, Room
from workshop_server.rooms.state import Limits, RoomConfig, hash_passphrase


def _in_definition_order(classes: set[type[_c.Command]]) -> tuple[type[_c.Command], ...]:
    order = {cls: n for n, cls in enumerate(v for v in vars(_c).values() if isinstance(v, type))}
    return tuple(sorted(classes, key=order.__getitem__))


#: Every command a client may send: the connection's own, and those the registry gives roles to.
CLIENT_COMMANDS: tuple[type[_c.Command], ...] = _in_definition_order(
    set(_c.SESSION_COMMANDS) | {cls for cls, reg in REGISTRY.items() if not reg.internal}
)
#: The commands the server issues itself (journaled like any other).
INTERNAL_COMMANDS: tuple[type[_c.Command], ...] = _in_definition_order(
    {cls for cls, reg in REGISTRY.items() if reg.internal}
)
ClientCommand: Any = Annotated[Union[CLIENT_COMMANDS], Field(discriminator="type")]  # noqa: UP007
InternalCommand: Any = Annotated[Union[INTERNAL_COMMANDS], Field(discriminator="type")]  # noqa: UP007

__all__ = [
    "CLIENT_COMMANDS",
    "INTERNAL_COMMANDS",
    "LOBBY",
    "PERMISSIONS",
    "PUBLIC",
    "STAFF",
    "ClientCommand",
    "Effect",
    "Event",
    "EventName",
    "InternalCommand",
    "Limits",
    "Outcome",
    "Room",
    "RoomConfig",
    "hash_passphrase",
    "member_key",
    "view_for",
]
