"""A small driver for the sans-I/O room core: a room, an explicit clock, members and viewers.

Everything here is pure: no asyncio, no sockets, no files. A :class:`Workshop` owns a :class:`Room` and the
time; every command goes through :meth:`Workshop.send`, which journals it and feeds every registered
:class:`Viewer`. A viewer applies :func:`view_for` (THE delivery rule) to each event, with the audience the
room gives it at that moment, so visibility assertions test exactly what a connection would receive.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from workshop_server.rooms import commands as c
from workshop_server.rooms.events import Data, Effect, Event, Outcome, view_for
from workshop_server.rooms.room import Room
from workshop_server.rooms.state import Limits, Role, RoomConfig

FACILITATOR = "m1"
MODERATOR_INVITE = "v1"
ROOM_ID = "ROOM42"
START = 1_000_000.0

C = TypeVar("C", bound=c.Command)


def walk(data: Any) -> Iterator[dict[str, Any]]:
    """Every dict nested anywhere in ``data`` (``data`` itself included)."""
    if isinstance(data, dict):
        yield data
        for value in data.values():
            yield from walk(value)
    elif isinstance(data, list | tuple):
        for value in data:
            yield from walk(value)


def has_key(data: Any, key: str) -> bool:
    return any(key in d for d in walk(data))


def idea_dicts(data: Any) -> list[dict[str, Any]]:
    """The idea projections in ``data``: dicts that carry an idea's text."""
    return [d for d in walk(data) if "text" in d and "id" in d]


def state_without_clock(room: Room) -> Data:
    """The room's whole state, minus the clock (which any command may move forward).

    ``to_state`` builds new plain containers (``asdict`` copies recursively), so nothing is shared.
    """
    state = room.to_state()
    del state["clock"]
    return state


@dataclass(frozen=True, slots=True)
class Received:
    seq: int
    name: str
    data: Data


class Viewer:
    """What one member (or a room screen: member None) would receive, event by event."""

    def __init__(self, room: Room, member: str | None, role: Role) -> None:
        self.room = room
        self.member = member
        self.role = role
        self.received: list[Received] = []

    @property
    def audience(self) -> str:
        return self.room.audience_of(self.member, self.role)

    def feed(self, events: Iterable[Event]) -> None:
        audience = self.audience
        for event in events:
            data = view_for(event.views, self.member, audience)
            if data is not None:
                self.received.append(Received(event.seq, event.name, data))

    def names(self) -> list[str]:
        return [r.name for r in self.received]

    def views(self, name: str) -> list[Data]:
        return [r.data for r in self.received if r.name == name]

    def last(self, name: str) -> Data:
        views = self.views(name)
        assert views, f"{self.member or 'screen'} received no {name!r}; received {self.names()}"
        return views[-1]

    def texts(self) -> list[str]:
        return [d["text"] for r in self.received for d in idea_dicts(r.data)]

    def has_key(self, key: str) -> bool:
        return any(has_key(r.data, key) for r in self.received)

    def clear(self) -> None:
        self.received.clear()


class Workshop:
    """A room driven by hand: the clock only moves when a test says so."""

    def __init__(
        self,
        config: RoomConfig | None = None,
        *,
        limits: Limits | None = None,
        now: float = START,
        facilitator_name: str = "Facilitator",
    ) -> None:
        self.config = config or RoomConfig(title="Workshop")
        self.limits = limits
        self.start = now
        self.now = now
        self.facilitator_name = facilitator_name
        self.room = Room.create(
            ROOM_ID, self.config, now=now, limits=limits, facilitator_name=facilitator_name
        )
        self.viewers: list[Viewer] = []
        self.journal: list[tuple[c.Command, str | None, float]] = []
        self.events: list[Event] = []
        self.effects: list[Effect] = []
        self._counter = 0

    def fresh_room(self) -> Room:
        """A new room created with the same arguments as this one (for replays)."""
        return Room.create(
            ROOM_ID,
            copy.deepcopy(self.config),
            now=self.start,
            limits=copy.deepcopy(self.limits),
            facilitator_name=self.facilitator_name,
        )

    # --- time and ids ---------------------------------------------------------------------------------
    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now

    def next_id(self) -> str:
        self._counter += 1
        return f"c{self._counter}"

    def command(self, cls: type[C], **fields: Any) -> C:
        """A command with a fresh id."""
        return cls(id=self.next_id(), **fields)

    # --- sending ----------------------------------------------------------------------------------------
    def send(self, actor: str | None, cmd: c.Command) -> Outcome:
        outcome = self.room.handle(cmd, actor, self.now)
        self.journal.append((cmd, actor, self.now))
        self.events.extend(outcome.events)
        self.effects.extend(outcome.effects)
        for viewer in self.viewers:
            viewer.feed(outcome.events)
        return outcome

    def do(self, actor: str | None, cls: type[c.Command], **fields: Any) -> Outcome:
        return self.send(actor, self.command(cls, **fields))

    def tick(self) -> Outcome:
        return self.send(None, c.Tick(id="tick"))

    def round_due(self) -> bool:
        wakeup = self.room.next_wakeup()
        return wakeup is not None and self.now >= wakeup

    def ok(self, actor: str | None, cls: type[c.Command], **fields: Any) -> Data:
        """Send a command that must succeed; return its result."""
        outcome = self.do(actor, cls, **fields)
        assert outcome.error is None, f"{cls.__name__} failed: {outcome.error.code}: {outcome.error.message}"
        assert not outcome.duplicate
        return outcome.result

    def fail(self, actor: str | None, cls: type[c.Command], code: str, **fields: Any) -> Outcome:
        """Send a command that must fail with ``code``; unless the clock closed a round, nothing changed."""
        return self.fail_cmd(actor, self.command(cls, **fields), code)

    def fail_cmd(self, actor: str | None, cmd: c.Command, code: str) -> Outcome:
        due = self.round_due()
        before = state_without_clock(self.room)
        outcome = self.send(actor, cmd)
        assert outcome.error is not None, f"{type(cmd).__name__} succeeded: {outcome.result}"
        assert outcome.error.code == code, f"expected {code}, got {outcome.error.code}: {outcome.error}"
        assert outcome.result == {}
        assert outcome.effects == []
        if not due:
            assert outcome.events == []
            assert state_without_clock(self.room) == before
        return outcome

    # --- people -----------------------------------------------------------------------------------------
    def enter(
        self,
        name: str = "Ann",
        *,
        accept_rules: int | None = None,
        passphrase: str | None = None,
        invite: str | None = None,
        cid: str | None = None,
    ) -> Outcome:
        cmd = c.Enter(
            id=cid or self.next_id(),
            name=name,
            accept_rules=self.room.config.rules_version if accept_rules is None else accept_rules,
            passphrase=passphrase,
            invite=invite,
        )
        return self.send(None, cmd)

    def join(self, name: str = "Ann", **kwargs: Any) -> str:
        """Join (as a participant, or with an invite); return the member id."""
        outcome = self.enter(name, **kwargs)
        assert outcome.error is None, f"join failed: {outcome.error.code}: {outcome.error.message}"
        member_id: str = outcome.result["member"]["id"]
        return member_id

    def join_fail(self, code: str, name: str = "Ann", **kwargs: Any) -> Outcome:
        before = state_without_clock(self.room)
        outcome = self.enter(name, **kwargs)
        assert outcome.error is not None, f"join succeeded: {outcome.result}"
        assert outcome.error.code == code, f"expected {code}, got {outcome.error.code}: {outcome.error}"
        assert outcome.events == [] and outcome.effects == []
        assert state_without_clock(self.room) == before
        return outcome

    def moderator(self, name: str = "Mo") -> str:
        return self.join(name, invite=MODERATOR_INVITE)

    def viewer(self, member: str | None) -> Viewer:
        """Start recording what ``member`` receives from now on (None: a room screen)."""
        role: Role = "screen" if member is None else self.room.members[member].role
        viewer = Viewer(self.room, member, role)
        self.viewers.append(viewer)
        return viewer

    def screen(self) -> Viewer:
        return self.viewer(None)

    # --- common steps -----------------------------------------------------------------------------------
    def open_ideate(self, **fields: Any) -> str:
        fields.setdefault("prompt", "How might we?")
        result = self.ok(FACILITATOR, c.RoundOpen, kind="ideate", **fields)
        round_id: str = result["round"]["id"]
        return round_id

    def open_vote(self, **fields: Any) -> str:
        fields.setdefault("prompt", "Vote")
        result = self.ok(FACILITATOR, c.RoundOpen, kind="vote", **fields)
        round_id: str = result["round"]["id"]
        return round_id

    def close(self) -> Data:
        return self.ok(FACILITATOR, c.RoundClose)

    def post(self, author: str, text: str = "an idea", **fields: Any) -> str:
        result = self.ok(author, c.IdeaPost, text=text, **fields)
        idea_id: str = result["idea"]["id"]
        return idea_id

    def vote(self, voter: str, idea: str, times: int = 1) -> Data:
        result: Data = {}
        for _ in range(times):
            result = self.ok(voter, c.VoteAdd, idea=idea)
        return result
