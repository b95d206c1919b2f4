"""The seam between connections and rooms: what a connection may ask of a room and of its worker.

A connection reaches a room only through a :class:`RoomHandle`: ``submit`` a command, ``join`` (a join
command and the attach of its connection), ``attach`` a connection (with resume), or ``query`` the room
by name (``rooms/queries.py``). Every answer is plain data (:class:`Reply`, :class:`Attached`, the
queries' answers), so that the room may live in another worker process: ``host.LocalRoom`` is the room
this worker owns, ``remote.RemoteRoom`` forwards over the broker to the worker that owns it. The
WebSocket session (``session.py``) depends on this module only, never on the hub, so that the layers
import one another in one direction, as websockets' asyncio shell talks to its sans-I/O protocol only
through ``receive_data`` / ``events_received`` / ``data_to_send``.

A connection's events reach it through its worker's :class:`Feed` of the room (``fanout.py``), whoever
owns the room: the owner publishes each batch once on the broker, and every worker with connections in
the room delivers it to them.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from workshop_server.connection import Connection
    from workshop_server.metrics import Metrics
    from workshop_server.ratelimit import Limiters
    from workshop_server.rooms import commands as c
    from workshop_server.settings import Settings
    from workshop_server.suggesting import Suggestions
    from workshop_server.tokens import TokenSigner

__all__ = ["Attached", "Feed", "Reply", "RoomHandle", "Seat", "Worker"]


@dataclass(slots=True)
class Reply:
    """The answer to a submitted command, once the batch that handled it is journaled and published.

    ``error`` is a refusal's ``to_dict()`` (``errors.from_dict`` turns it back), ``result`` the core's
    result otherwise. ``seq`` is the room's seq after the command: the reply is sent to the client once
    the events up to it were delivered to the connection. For a join, ``attached`` says how its
    connection was attached (or ``attach_error`` why it was not); for ``room.rotate_links``, ``links``
    is the new generation (``rooms.queries.links``).
    """

    seq: int
    result: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    attached: Attached | None = None
    attach_error: dict[str, Any] | None = None
    links: dict[str, Any] | None = None
    now: float | None = None  # the room's time when answered (``server_time``; None: an older owner)

    def to_plain(self) -> dict[str, Any]:
        data = asdict(self)
        return data

    @classmethod
    def from_plain(cls, data: dict[str, Any]) -> Reply:
        attached = data.get("attached")
        return cls(
            seq=data["seq"],
            result=data.get("result") or {},
            error=data.get("error"),
            # Fields a newer release added are left out (a cluster upgraded one worker at a time).
            attached=Attached(**{k: v for k, v in attached.items() if k in _ATTACHED_FIELDS})
            if attached is not None
            else None,
            attach_error=data.get("attach_error"),
            links=data.get("links"),
            now=data.get("now"),
        )


@dataclass(slots=True)
class Seat:
    """A connection, as the owner sees it when attaching it: plain data, from any worker."""

    member_id: str | None  # None: the room screen (or, for a join, the member the join makes)
    role: str
    link_generation: int | None = None  # attached with a staff link of this generation
    epoch: str | None = None  # resume position
    seq: int | None = None
    # The member's other connections in the requesting worker. Only earlier releases' owners read it
    # (their approximate limit); the limit is now claimed in the broker (``claims.py``).
    connections: int = 0
    worker: str = ""  # the requesting worker ("": the owner itself)
    resync: bool = False  # attach it again in place (the room moved, or its audience changed): a snapshot


@dataclass(slots=True)
class Attached:
    """How the owner attached a connection: either the missed events or a snapshot, and where its
    delivery starts (``seq``: events up to it are in the snapshot or in ``events``)."""

    recovered: bool
    seq: int
    epoch: str
    audience: str
    member_id: str | None = None
    role: str = "screen"
    events: list[dict[str, Any]] = field(default_factory=list)
    snapshot: dict[str, Any] | None = None
    member: dict[str, Any] | None = None
    links: dict[str, Any] | None = None  # for the facilitator: rooms.queries.links
    push: bool = False  # attached again in place: the fan-out sends it the snapshot first
    now: float | None = None  # the room's time when attached (``server_time``; None: an older owner)


class Feed(Protocol):
    """A room's connections in this worker, as a connection sees them: how far delivery went."""

    delivered: int

    def holds(self, session: Connection) -> bool: ...

    def wait_for(self, session: Connection) -> None: ...

    def done_waiting(self, session: Connection) -> None: ...


class RoomHandle(Protocol):
    """One room, as a connection sees it, wherever its owner runs."""

    room_id: str

    @property
    def feed(self) -> Feed: ...

    def submit(self, cmd: c.Command, actor: str | None, *, address: str = "") -> asyncio.Future[Reply]: ...

    def join(self, cmd: c.Enter, session: Connection, *, address: str = "") -> asyncio.Future[Reply]: ...

    def attach(
        self,
        session: Connection,
        epoch: str | None,
        seq: int | None,
        *,
        resync: bool = False,
        address: str = "",
    ) -> asyncio.Future[Attached]:
        """``address``: the client's (an ``auth``), which spends from the room's per-address budget."""
        ...

    def query(self, name: str, **args: Any) -> asyncio.Future[Any]: ...


class Worker(Protocol):
    """The worker process, as a connection sees it."""

    settings: Settings
    metrics: Metrics | None
    limiters: Limiters
    signer: TokenSigner
    suggestions: Suggestions
    sessions: set[Connection]
    worker_id: str

    def clock(self) -> float: ...

    async def host(self, room_id: str) -> RoomHandle: ...

    async def lookup(self, room_id: str, address: str) -> RoomHandle: ...

    async def watch(self, room_id: str) -> None: ...

    async def claim(self, session: Connection) -> None: ...

    def token(self, room_id: str, kind: str, subject: str, generation: int = 0) -> str: ...

    def links(self, room_id: str, info: dict[str, Any]) -> dict[str, str]: ...

    def detach(self, session: Connection) -> None: ...


_ATTACHED_FIELDS = frozenset(f.name for f in fields(Attached))
