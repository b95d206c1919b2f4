"""Local fan-out: a room's connections in this worker, and delivery of the room's published batches.

The hub keeps one :class:`Fanout` per room that has connections in this worker, whoever owns the room,
and subscribes to the room's channel while it exists. The owner publishes each batch once; here each
event view is encoded once per encoding (JSON, msgpack), never once per recipient. A connection's
outgoing queue is bounded; a connection whose queue overflows is closed as a slow consumer and the room
never waits for it.

Continuity: the fan-out knows the epoch and the last seq it delivered. A batch of another epoch (the
room was taken over), one that skips seqs (a batch was lost on the way), or the owner's word that it
stopped serving the room (``reload``) cannot be delivered as it is: every connection is *held* (it
receives nothing more) and the hub attaches it again, in place, with a fresh snapshot from whichever
worker owns the room now (``on_moved``): no reconnect, so a room that moves between workers causes no
reconnect storm. Without ``on_moved`` (or when that fails) the connections are closed with 4003 and
resume from the journal, where nothing is missing.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from workshop_server import protocol
from workshop_server.close_codes import CloseCode
from workshop_server.connection import HELD
from workshop_server.flusher import flush_pending, stamp_now
from workshop_server.rooms.events import STAFF

if TYPE_CHECKING:
    from workshop_server.connection import Connection
    from workshop_server.handle import Attached

log = logging.getLogger("workshop_server")

#: Events kept to catch up a connection attached while later batches were already delivered here.
RECENT = 512


class Fanout:
    """The connections of one room attached in this worker, and delivery to them."""

    def __init__(
        self,
        room_id: str,
        on_presence: Callable[[str, bool], None],
        on_refresh: Callable[[Connection], None] | None = None,
        on_moved: Callable[[str], None] | None = None,
    ) -> None:
        self.room_id = room_id
        self.sessions: set[Connection] = set()
        self.by_member: dict[str, set[Connection]] = {}
        self.screens = 0
        self.epoch: str | None = None
        self.delivered = 0
        self.waiting: set[Connection] = set()
        self.deliveries = 0
        self.gaps = 0  # batches that could not be delivered as they were (closed everyone: resume)
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT)
        self._on_presence = on_presence
        self._on_refresh = on_refresh
        self._on_moved = on_moved

    # --- The Feed protocol (handle.py) ---------------------------------------------------------------
    def holds(self, session: Connection) -> bool:
        return session in self.sessions

    def wait_for(self, session: Connection) -> None:
        self.waiting.add(session)

    def done_waiting(self, session: Connection) -> None:
        self.waiting.discard(session)

    # --- Membership -----------------------------------------------------------------------------------
    def seat(self, session: Connection, attached: Attached) -> bool:
        """Add ``session`` as the owner attached it. Events this fan-out delivered after the attach's seq
        are caught up from the recent ones; returns False (and adds nothing) when they are not there."""
        if self.epoch is None or self.epoch != attached.epoch:
            if self.epoch is not None and any(s.floor != HELD for s in self.sessions if s is not session):
                self.moved()  # the others were attached to the earlier epoch
            self.epoch, self.delivered = attached.epoch, attached.seq
            self.recent.clear()
        missed: list[dict[str, Any]] = []
        if self.delivered > attached.seq:
            missed = [ev for ev in self.recent if ev["seq"] > attached.seq]
            if [ev["seq"] for ev in missed] != list(range(attached.seq + 1, self.delivered + 1)):
                return False
        if attached.push and attached.snapshot is not None:  # attached again in place: start over from it
            session.push_message(
                {"type": "snapshot", "epoch": attached.epoch, "seq": attached.seq, "state": attached.snapshot}
            )
        session.audience = attached.audience
        session.floor = attached.seq
        self.add(session)
        for ev in missed:
            self._send(session, ev)
        if session in self.waiting:  # replies held for events its snapshot (and the catch-up) now cover
            session.release(self.delivered)
        return True

    def add(self, session: Connection) -> None:
        if session in self.sessions:
            return
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

    def reload(self, reason: str) -> None:
        """Close every connection with 4003: they come back and resume from the journal."""
        for session in list(self.sessions):
            session.close_soon(CloseCode.ROOM_RELOADED, reason)

    def moved(self) -> None:
        """The room's continuity here is broken: hold every connection until the hub attaches it again
        (``on_moved``), or close them all with 4003 when there is no one to do it."""
        if self._on_moved is None:
            self.reload("the room moved to another worker")
            return
        for session in self.sessions:
            session.floor = HELD
        if self.sessions:
            self._on_moved(self.room_id)

    def held(self) -> list[Connection]:
        return [s for s in self.sessions if s.floor == HELD]

    # --- Delivery -------------------------------------------------------------------------------------
    def cutoffs(self, effects: Iterable[dict[str, Any]]) -> dict[Connection, tuple[int, dict[str, Any]]]:
        """The sessions that a batch's ``close`` and ``revoke`` effects end: each with the seq after which
        it receives nothing more (its removal, rejection or the rotation), and the effect."""
        ending: dict[Connection, tuple[int, dict[str, Any]]] = {}
        for effect in effects:
            kind = effect["kind"]
            if kind == "close":
                # A connection whose own erasure is in flight closes itself once it has the reply: the
                # erasure's close (4103) spares it. Any other (a removal, a rejection, the purge) ends it
                # too: its erasure may yet be refused (rate_limited), and it would stay attached.
                erasure = effect["code"] == CloseCode.TOKEN_REVOKED
                targets: Iterable[Connection] = [
                    s for s in self.by_member.get(effect["member"], ()) if not (erasure and s.erasing)
                ]
            elif kind == "close_all":
                targets = list(self.sessions)
            elif kind == "revoke":
                # A connection whose own room.rotate_links is in flight is spared: it goes on with the new
                # links once its reply brings them, and is closed then if it does not (Session.spared).
                generation = effect["generation"]
                stale = [
                    s
                    for s in self.sessions
                    if s.link_generation is not None and s.link_generation < generation
                ]
                for s in stale:
                    if s.rotating:
                        s.spared = max(s.spared, generation)
                targets = [s for s in stale if not s.rotating]
            else:
                continue
            # An effect published without "after" (an older worker): close after the whole batch.
            after = effect.get("after") or 2**63
            for session in targets:
                if session not in ending:
                    ending[session] = (after, effect)
        return ending

    def deliver(self, epoch: str, events: list[dict[str, Any]], effects: Iterable[dict[str, Any]]) -> int:
        """Deliver a published batch: events in order, then held replies, then effects. Returns the
        number of event frames written or queued to connections.

        A connection that a ``close`` or ``revoke`` effect ends receives the events up to the effect's
        ``after`` seq (its own removal, for instance) and none after it; it is closed, draining what was
        queued, once the batch is delivered. A batch of another epoch, one that does not follow the last
        seq delivered here, or a ``reload`` holds every connection until it is attached again
        (:meth:`moved`).
        """
        effects = list(effects)
        if any(effect["kind"] == "reload" for effect in effects):
            self.epoch = None
            self.moved()
            return 0
        if self.epoch != epoch:
            if self.epoch is not None and self.sessions:
                log.info(
                    "room %s: epoch %s follows %s here; its connections attach again",
                    self.room_id,
                    epoch,
                    self.epoch,
                )
                self.moved()
            self.epoch = epoch
            self.delivered = events[0]["seq"] - 1 if events else self.delivered
            self.recent.clear()
        events = [ev for ev in events if ev["seq"] > self.delivered]  # a batch seen twice: once
        if events and events[0]["seq"] != self.delivered + 1:
            self.gaps += 1
            log.warning(
                "room %s: events %d..%d never arrived here; its connections attach again",
                self.room_id,
                self.delivered + 1,
                events[0]["seq"] - 1,
            )
            self.delivered = events[-1]["seq"]
            self.recent.clear()
            self.moved()
            return 0
        sessions = self.sessions
        queued_before = self.deliveries
        ending = self.cutoffs(effects)
        # One event (a quiet room): written at once to each idle connection, queued for the others.
        # Several: queued, so that a connection gets them all in one frame at the end.
        single = len(events) == 1
        if single:
            stamp_now()
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
                if not (single and session.offer(frame)):
                    session.push(frame)
                self.deliveries += 1
            self.delivered = seq
            self.recent.append(ev)
        if self.waiting:  # replies first: a connection that the batch closes still gets its answers
            for session in list(self.waiting):
                if session.floor != HELD:  # a held one's replies wait for its snapshot (seat)
                    session.release(self.delivered)
        for session, (_after, effect) in ending.items():
            session.close_soon(CloseCode(effect["code"]), effect["reason"], drain=True)
        if self._on_refresh is not None:
            for effect in effects:
                if effect["kind"] == "refresh":
                    for session in self.member_sessions(effect["member"]):
                        self._on_refresh(session)
        flush_pending()  # written now, not one more pass of the loop later
        return self.deliveries - queued_before

    def push_live(
        self, epoch: str, seq: int, figures: dict[str, Any] | None, progress: dict[str, Any] | None
    ) -> int:
        """The room's figures to this worker's staff connections, its progress to its staff and room
        screens (what shows it; a participant's phone is not woken every few seconds for counts it
        does not show); each encoded once per encoding. Not events: nothing to replay, so a held
        connection simply misses one (its snapshot has the progress)."""
        if epoch != self.epoch:
            return 0
        messages: list[tuple[bool, dict[str, Any]]] = []  # (whether room screens get it, message)
        if figures is not None:
            messages.append((False, protocol.figures(epoch, seq, figures)))
        if progress is not None:
            messages.append((True, protocol.progress(epoch, seq, progress)))
        sent = 0
        for screens, message in messages:
            frames: dict[bool, str | bytes] = {}
            for session in self.sessions:
                if session.floor == HELD or not (
                    session.audience == STAFF or (screens and session.member_id is None)
                ):
                    continue
                codec = session.codec
                frame = frames.get(codec.binary)
                if frame is None:
                    frame = frames[codec.binary] = codec.encode(message)
                session.push(frame)
                sent += 1
        flush_pending()
        return sent

    def _send(self, session: Connection, ev: dict[str, Any]) -> None:
        """One recent event to one connection that attached before it was delivered here."""
        views: dict[str, Any] = ev["views"]
        key = session.member_key if session.member_key in views else session.audience
        if key in views and self.epoch is not None:
            session.push(
                session.codec.encode(protocol.event(self.epoch, ev["seq"], ev["name"], ev["at"], views[key]))
            )
            self.deliveries += 1
