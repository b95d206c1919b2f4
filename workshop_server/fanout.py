"""Local fan-out: the connections of one room in this worker, and delivery of the room's events to them.

Each event view is encoded once per encoding (JSON, msgpack), never once per recipient. A connection's
outgoing queue is bounded; a connection whose queue overflows is closed as a slow consumer and the room
never waits for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from workshop_server import protocol
from workshop_server.close_codes import CloseCode

if TYPE_CHECKING:
    from workshop_server.connection import Connection


class Fanout:
    """The sessions of one room attached in this worker."""

    def __init__(self, room_id: str, on_presence: Callable[[str, bool], None]) -> None:
        self.room_id = room_id
        self.sessions: set[Connection] = set()
        self.by_member: dict[str, set[Connection]] = {}
        self.screens = 0
        self.delivered = 0
        self.waiting: set[Connection] = set()
        self._on_presence = on_presence
        self.deliveries = 0

    def add(self, session: Connection) -> None:
        self.sessions.add(session)
        if session.member_id is None:
            self.screens += 1
            self._on_presence("", True)
            return
        mine = self.by_member.setdefault(session.member_id, set())
        mine.add(session)
        if len(mine) == 1:
            self._on_presence(session.member_id, True)

    def discard(self, session: Connection) -> None:
        if session not in self.sessions:
            return
        self.sessions.discard(session)
        self.waiting.discard(session)
        if session.member_id is None:
            self.screens -= 1
            self._on_presence("", False)
            return
        mine = self.by_member.get(session.member_id)
        if mine is not None:
            mine.discard(session)
            if not mine:
                del self.by_member[session.member_id]
                self._on_presence(session.member_id, False)

    def count(self, member_id: str) -> int:
        return len(self.by_member.get(member_id, ()))

    def member_sessions(self, member_id: str) -> list[Connection]:
        return list(self.by_member.get(member_id, ()))

    def cutoffs(self, effects: Iterable[dict[str, Any]]) -> dict[Connection, tuple[int, dict[str, Any]]]:
        """The sessions that a batch's ``close`` and ``revoke`` effects end: each with the seq after which
        it receives nothing more (its removal, rejection or the rotation), and the effect."""
        ending: dict[Connection, tuple[int, dict[str, Any]]] = {}
        for effect in effects:
            kind = effect["kind"]
            if kind == "close":
                targets: Iterable[Connection] = self.by_member.get(effect["member"], ())
            elif kind == "revoke":
                generation = effect["generation"]
                targets = [
                    s
                    for s in self.sessions
                    if s.link_generation is not None and s.link_generation < generation and not s.rotating
                ]
            else:
                continue
            # An effect published without "after" (an older worker): close after the whole batch.
            after = effect.get("after") or 2**63
            for session in targets:
                if session not in ending:
                    ending[session] = (after, effect)
        return ending

    def deliver(self, epoch: str, events: Iterable[dict[str, Any]], effects: Iterable[dict[str, Any]]) -> int:
        """Deliver a published batch: events in order, then effects, then held replies. Returns the
        number of event frames queued to connections.

        A connection that a ``close`` or ``revoke`` effect ends receives the events up to the effect's
        ``after`` seq (its own removal, for instance) and none after it; it is closed, draining what was
        queued, once the batch is delivered.
        """
        sessions = self.sessions
        queued_before = self.deliveries
        ending = self.cutoffs(effects)
        for ev in events:
            seq: int = ev["seq"]
            views: dict[str, Any] = ev["views"]
            frames: dict[tuple[str, bool], str | bytes] = {}
            for session in sessions:
                if seq <= session.floor:
                    continue
                if ending and session in ending and seq > ending[session][0]:
                    continue
                # rooms.events.view_key_for, inlined for the hot path (member_key is precomputed).
                key = session.member_key if session.member_key in views else session.audience
                if key not in views:
                    continue
                codec = session.codec
                frame = frames.get((key, codec.binary))
                if frame is None:
                    frame = codec.encode(protocol.event(epoch, seq, ev["name"], ev["at"], views[key]))
                    frames[(key, codec.binary)] = frame
                session.push(frame)
                self.deliveries += 1
            self.delivered = seq
        for session, (_after, effect) in ending.items():
            session.close_soon(CloseCode(effect["code"]), effect["reason"], drain=True)
        if self.waiting:
            for session in list(self.waiting):
                session.release(self.delivered)
        return self.deliveries - queued_before
