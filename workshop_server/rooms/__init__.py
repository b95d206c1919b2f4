"""The sans-I/O room core: commands and the time go in; events, effects and a reply come out.

Nothing in this package does I/O, uses asyncio or reads the clock.
"""

from workshop_server.rooms.events import LOBBY, PUBLIC, STAFF, Effect, Event, Outcome, member_key, view_for
from workshop_server.rooms.room import PERMISSIONS, Room
from workshop_server.rooms.state import Limits, RoomConfig, hash_passphrase

__all__ = [
    "LOBBY",
    "PERMISSIONS",
    "PUBLIC",
    "STAFF",
    "Effect",
    "Event",
    "Limits",
    "Outcome",
    "Room",
    "RoomConfig",
    "hash_passphrase",
    "member_key",
    "view_for",
]
