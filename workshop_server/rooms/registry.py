"""The handler registry: each room command with its handler and the roles that may send it.

A concern module (``access``, ``rounds``, ``ideas``, ``votes``, ``moderation``, ``themes``) declares each
handler with :func:`handles`::

    @handles(c.IdeaPost, roles=PARTICIPANT, silenced=True)
    def post(room: RoomState, cmd: c.IdeaPost, actor: str | None, now: float) -> Data: ...

Everything else is derived from :data:`REGISTRY`, never kept by hand: the permission table
(:func:`permissions`), the commands a client may send and the internal ones (``rooms/__init__.py`` builds
the wire unions from them), and the dispatch in ``room.py``. The model is h11's ``READERS`` table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from workshop_server.rooms import commands as c
from workshop_server.rooms.events import Data
from workshop_server.rooms.model import RoomState
from workshop_server.rooms.state import ROLES, Role

__all__ = [
    "EVERY_STAFF",
    "FACILITATOR",
    "INTERNAL",
    "PARTICIPANT",
    "REGISTRY",
    "Registration",
    "handles",
    "permissions",
]

Handler = Callable[[RoomState, Any, str | None, float], Data]
H = TypeVar("H", bound=Callable[..., Data])

FACILITATOR: Final[frozenset[Role]] = frozenset({"facilitator"})
EVERY_STAFF: Final[frozenset[Role]] = frozenset({"facilitator", "moderator"})
PARTICIPANT: Final[frozenset[Role]] = frozenset({"participant"})
INTERNAL: Final[frozenset[Role]] = frozenset()  # issued by the server itself (actor None)


@dataclass(frozen=True, slots=True)
class Registration:
    """How the room handles one command.

    ``roles``: who may send it (empty: an internal command, type starting with ``_``).
    ``silenced``: refused with ``muted`` while the member is muted.
    ``after_end``: still accepted once the session has ended (moderation, revoking links).
    ``concern``: the module that handles it, for documentation.
    ``journal``: always journaled when it succeeds, even without an event (it changes the state).
    """

    command: type[c.Command]
    handler: Handler
    roles: frozenset[Role]
    silenced: bool
    after_end: bool
    concern: str
    journal: bool = False

    @property
    def internal(self) -> bool:
        return not self.roles


#: Every command a room handles, in the order the concern modules register them.
REGISTRY: dict[type[c.Command], Registration] = {}


def handles(
    command: type[c.Command],
    *,
    roles: frozenset[Role],
    silenced: bool = False,
    after_end: bool = False,
    journal: bool = False,
) -> Callable[[H], H]:
    """Register the decorated function as the handler of ``command``, for ``roles``."""
    internal = command.type_name().startswith("_")
    if internal != (not roles):
        raise ValueError(f"{command.__name__}: internal commands (type '_...') and only they have no roles")

    def register(func: H) -> H:
        if command in REGISTRY:
            raise ValueError(f"{command.__name__} already has a handler")
        REGISTRY[command] = Registration(
            command=command,
            handler=func,
            roles=roles,
            silenced=silenced,
            after_end=after_end,
            concern=func.__module__.rsplit(".", 1)[-1],
            journal=journal,
        )
        return func

    return register


def permissions() -> dict[Role, frozenset[type[c.Command]]]:
    """What each role may send, derived from the registry. Everything else is ``forbidden``."""
    return {role: frozenset(cls for cls, reg in REGISTRY.items() if role in reg.roles) for role in ROLES}
