"""The seam between connections and rooms: what a connection may ask of a room and of its worker.

A connection reaches a room only through a :class:`RoomHandle`: ``submit`` a command, ``attach`` itself
(with resume), or ``read`` the room between batches. It reaches its worker through :class:`Worker`. The
room host (``hub.RoomHost``) and the hub (``hub.Hub``) implement them; the WebSocket session
(``session.py``) depends on this module only, never on the hub, so the layers import one another in one
direction. :class:`Item` and :class:`Attached` are the plain data that travel across the seam.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from workshop_server import errors
    from workshop_server.connection import Connection
    from workshop_server.fanout import Fanout
    from workshop_server.metrics import Metrics
    from workshop_server.ratelimit import Limiters
    from workshop_server.rooms import commands as c
    from workshop_server.rooms.events import Outcome
    from workshop_server.rooms.room import Room
    from workshop_server.settings import Settings
    from workshop_server.tokens import TokenSigner

__all__ = ["Attached", "Item", "RoomHandle", "Worker"]


@dataclass(slots=True)
class Item:
    """One thing for a room host to do, in order: a command, an attach, or both (a join)."""

    command: c.Command | None
    actor: str | None
    future: asyncio.Future[Any]
    session: Connection | None = None
    resume: tuple[str | None, int | None] = (None, None)
    outcome: Outcome | None = None
    seq: int = 0
    attached: Attached | errors.WorkshopError | None = None
    read: Callable[[Room], Any] | None = None
    queued: float = 0.0  # time.perf_counter() when a command was submitted (command latency)


@dataclass(slots=True)
class Attached:
    """What a session gets when it attaches: either the missed events or a snapshot."""

    recovered: bool
    seq: int
    events: list[dict[str, Any]] = field(default_factory=list)
    snapshot: dict[str, Any] | None = None
    member: dict[str, Any] | None = None


class RoomHandle(Protocol):
    """One room, as a connection sees it."""

    room: Room
    fanout: Fanout

    def submit(
        self, cmd: c.Command, actor: str | None, session: Connection | None = None
    ) -> asyncio.Future[Any]: ...

    def attach(self, session: Connection, epoch: str | None, seq: int | None) -> asyncio.Future[Any]: ...

    def read(self, reader: Callable[[Room], Any]) -> asyncio.Future[Any]: ...


class Worker(Protocol):
    """The worker process, as a connection sees it."""

    settings: Settings
    metrics: Metrics | None
    limiters: Limiters
    signer: TokenSigner
    suggestions: asyncio.Semaphore
    sessions: set[Connection]

    def clock(self) -> float: ...

    async def host(self, room_id: str) -> RoomHandle: ...

    async def lookup(self, room_id: str, address: str) -> RoomHandle: ...

    def token(self, room_id: str, kind: str, subject: str, generation: int = 0) -> str: ...

    def links(self, host: RoomHandle) -> dict[str, str]: ...
