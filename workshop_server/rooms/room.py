"""The room state machine: pure, synchronous and deterministic.

``Room.handle(command, actor, now)`` is the only way to change a room. It returns an :class:`Outcome`:
the reply's result (or an error), the events to journal and fan out, and effects for the I/O shell.
There is no I/O, no asyncio and no reading of the clock: time is the ``now`` argument, so the same
commands at the same times always give the same state and the same events. The durability layer relies
on that: it journals commands and rebuilds a room by handling them again.

This module keeps the dispatch: the clock, de-duplication of resent commands, authorisation from the
handler registry, and snapshots of the whole state. The handlers live in one module per concern
(``access``, ``rounds``, ``ideas``, ``votes``, ``moderation``, ``themes``, and the follow-up:
``statuses``, ``replies``, ``selection``, ``closing``), each registered with the roles
that may call it (``registry.py``); the projections in ``views.py``; the state in ``model.py``.

Rules every handler follows: validate everything first, raise a :class:`WorkshopError` before any
change, then mutate and emit. A command that fails therefore changes nothing (but the clock may still
have closed a round, whose events are in the outcome).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, ClassVar

from workshop_server import errors
from workshop_server.rooms import (
    access,
    closing,
    ideas,
    moderation,
    privacy,
    replies,
    rounds,
    screen,
    selection,
    statuses,
    themes,
    triage,
    views,
    votes,
)
from workshop_server.rooms import commands as c
from workshop_server.rooms.events import Data, Event, EventName, Outcome
from workshop_server.rooms.model import RoomState
from workshop_server.rooms.registry import REGISTRY, permissions
from workshop_server.rooms.state import (
    Announcement,
    AuditEntry,
    Criterion,
    Evaluation,
    Idea,
    IdeaReply,
    Invite,
    Limits,
    Member,
    MemberStatus,
    Merge,
    Pulse,
    Role,
    RoomConfig,
    Round,
    StoredReply,
    Theme,
    from_plain,
    to_plain,
)
from workshop_server.rooms.text import ARCHIVE_FIXES, SELF_ERASE_FIXES, TEXT_RULES, name_under
from workshop_server.rooms.text import clean_name as clean_name
from workshop_server.rooms.text import clean_text as clean_text

#: The concern modules, whose import registers their handlers (kept in this order in the registry).
CONCERNS = (
    access,
    rounds,
    ideas,
    votes,
    moderation,
    themes,
    statuses,
    replies,
    selection,
    closing,
    triage,
    privacy,
    screen,
)

#: What each role may do, derived from the registry. Everything else is ``forbidden``.
PERMISSIONS: dict[Role, frozenset[type[c.Command]]] = permissions()
#: Contributions a muted participant may not make.
SILENCED: frozenset[type[c.Command]] = frozenset(cls for cls, reg in REGISTRY.items() if reg.silenced)


def _archive_allows(cmd: c.Command) -> bool:
    """What an archive (a purged room) still takes: ending access to it, which writes no personal text
    (new staff links; revoking an invite; removing a member, without a reason)."""
    if isinstance(cmd, c.RoomRotateLinks | c.InviteRevoke):
        return True
    return isinstance(cmd, c.MemberRemove) and not cmd.reason.strip()


#: A member's most recent stored replies that the room's cap (``dedupe_per_room``) never forgets: a
#: client resends only what it sent and saw no answer to, and sends a command for the first time only
#: while fewer than this many were sent since its oldest one still unanswered (the web app's
#: ``SEND_WINDOW``, web/net.js), so however busy the room, a phone back from a dead zone finds them and
#: nothing it sent is applied twice.
DEDUPE_FLOOR = 16


def _in_order(n: int, book: dict[str, StoredReply]) -> Iterator[tuple[float, int, int, str]]:
    """The stored replies of the ``n``-th book that the room's cap may forget (all but its last
    :data:`DEDUPE_FLOOR`), oldest first, as ``(at, n, position, command id)``."""
    forgettable = itertools.islice(book.items(), max(0, len(book) - DEDUPE_FLOOR))
    for position, (cid, stored) in enumerate(forgettable):
        yield stored.at, n, position, cid


class Room(RoomState):
    """One workshop room. Create it with :meth:`create`, restore it with :meth:`from_state`."""

    #: The handler of every command the room handles, derived from the registry.
    _handlers: ClassVar[dict[type[c.Command], Callable[[RoomState, Any, str | None, float], Data]]] = {
        cls: reg.handler for cls, reg in REGISTRY.items()
    }

    @classmethod
    def create(
        cls,
        room_id: str,
        config: RoomConfig,
        *,
        now: float,
        limits: Limits | None = None,
        facilitator_name: str = "Facilitator",
        text_rules: int = TEXT_RULES,
    ) -> Room:
        """A new room with its facilitator (member ``m1``) and a moderator invite (invite ``v1``).
        ``text_rules``: the version of the text rules the room was created under (for replays)."""
        # A copy: the room changes its own config (room.set brand), never the caller's.
        room = cls(room_id, replace(config), created_at=now, limits=limits or Limits())
        fid = room.next_id("m")
        room.members[fid] = Member(
            id=fid,
            name=name_under(text_rules, facilitator_name, room.limits.name_max),
            role="facilitator",
            joined_at=now,
            rules_version=config.rules_version,
            consent_at=now,
        )
        vid = room.next_id("v")
        room.invites[vid] = Invite(id=vid, role="moderator", label="moderators", created_at=now)
        return room

    # --- The one entry point ------------------------------------------------------------------------
    def handle(self, cmd: c.Command, actor: str | None, now: float) -> Outcome:
        """Apply one command from ``actor`` (a member id; None for internal and join commands)."""
        self._events = []
        self._effects = []
        self.clock = max(self.clock, now)
        now = self.clock
        rounds.close_if_due(self, now)
        dedupe_key = self._dedupe_key(cmd, actor)
        stored = self._stored_reply(dedupe_key, cmd.id, now)
        if stored is not None and stored.command not in ("", cmd.type_name()):
            # Not a resend: another command with the id of an applied one. Answering it with that one's
            # result told the shell a rotation or an erasure happened that never did.
            error = errors.InvalidCommand(
                f"id: already used by another command ({stored.command}); send a new id"
            )
            return Outcome(result={}, events=self._take_events(), effects=[], error=error)
        if stored is not None:
            return Outcome(result=stored.result, events=self._take_events(), effects=[], duplicate=True)
        handler = self._handlers.get(type(cmd))
        mark = len(self._events)
        try:
            if handler is None:
                raise errors.UnknownCommand(f"unknown command {type(cmd).__name__}")
            if actor is not None:
                self._authorise(cmd, actor)
                if self.purged and self.text_rules >= ARCHIVE_FIXES and not _archive_allows(cmd):
                    # Its personal data went with the retention purge, which never runs on it again.
                    raise errors.InvalidTransition("this room's retention period has ended: it is read-only")
            elif not cmd.type_name().startswith("_"):
                raise errors.NotJoined("this command needs a member")
            made_in = getattr(cmd, "round", None)
            if isinstance(made_in, str) and made_in != self.current:
                # Made (and maybe queued offline) in a round that is no longer the current one.
                raise errors.RoundClosed(f"this was sent for round {made_in}, which is not the current round")
            result = handler(self, cmd, actor, now)
        except errors.WorkshopError as exc:
            assert len(self._events) == mark, "a handler emitted events before failing"
            return Outcome(result={}, events=self._take_events(), effects=[], error=exc)
        if dedupe_key is not None:
            self._store_reply(dedupe_key, cmd.id, cmd.type_name(), result, now)
        return Outcome(
            result=result,
            events=self._take_events(),
            effects=self._effects,
            stored=dedupe_key is not None,
            changed=REGISTRY[type(cmd)].journal,
        )

    def tick(self, now: float) -> Outcome:
        return self.handle(c.Tick(id="tick"), None, now)

    def next_wakeup(self) -> float | None:
        """When the shell should call :meth:`tick` next: the open round's deadline plus grace."""
        return rounds.next_wakeup(self)

    def _take_events(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    # --- De-duplication of resent commands -----------------------------------------------------------
    def _dedupe_key(self, cmd: c.Command, actor: str | None) -> str | None:
        if isinstance(cmd, c.Enter):
            return "join"
        if actor is None or isinstance(cmd, c.Ping):
            return None
        return actor

    def _stored_reply(self, key: str | None, cid: str, now: float) -> StoredReply | None:
        if key is None:
            return None
        stored = self.replies.get(key, {}).get(cid)
        if stored is None or now - stored.at > self.limits.dedupe_window_seconds:
            return None
        return stored

    def _store_reply(self, key: str, cid: str, command: str, result: Data, now: float) -> None:
        book = self.replies.setdefault(key, {})
        book.pop(cid, None)
        book[cid] = StoredReply(at=now, result=result, command=command)
        horizon = now - self.limits.dedupe_window_seconds
        cap = self.limits.dedupe_per_member * (20 if key == "join" else 1)
        while book:
            oldest_id, oldest = next(iter(book.items()))
            if len(book) <= cap and oldest.at >= horizon:
                break
            del book[oldest_id]
        if self.limits.dedupe_per_room:
            self._forget_oldest_replies(self.limits.dedupe_per_room)

    def _forget_oldest_replies(self, cap: int) -> None:
        """Keep at most ``cap`` stored replies of the members in the room, all together: the oldest go
        (the earliest ``at``; among equal ones, the earlier book, then the earlier in its book: a
        function of the state alone, so a replay forgets the same), but never a member's last
        :data:`DEDUPE_FLOOR`, nor a join's (one per member at most: its own cap bounds them, and a
        phone whose join answer was lost must not become a second member). Each book is in store
        order, which is ``at`` order (the clock never goes back), so merging the books takes the
        oldest first."""
        replies = self.replies
        excess = sum(map(len, replies.values())) - len(replies.get("join", ())) - cap
        if excess <= 0:
            return
        # Only a book above the floor has anything to forget (in a busy room at its cap, mostly the one
        # just stored to): the others are passed by, so that a store does not walk every member's
        # stored replies (2,000 members at the floor: 8 ms a command). They would give nothing to the
        # merge, which forgets the same replies without them (``n``, the book's place among the room's
        # books, still orders equal times).
        books = list(replies.values())
        sizes = list(map(len, books))
        join = list(replies).index("join") if "join" in replies else -1
        over = [n for n, size in enumerate(sizes) if size > DEDUPE_FLOOR and n != join]
        merged = heapq.merge(*(_in_order(n, books[n]) for n in over))
        for _, n, _, cid in list(itertools.islice(merged, excess)):
            del books[n][cid]

    # --- Authorisation, from the registry -------------------------------------------------------------
    def _authorise(self, cmd: c.Command, actor: str) -> None:
        member = self.members.get(actor)
        if member is None:
            raise errors.NotJoined("unknown member")
        if member.status != MemberStatus.ACTIVE and not self._self_erasure(cmd, actor):
            if member.status in (MemberStatus.BANNED, MemberStatus.REJECTED):
                raise errors.Banned()
            raise errors.AwaitingApproval()
        if member.erased:
            raise self.erased_refusal()
        registration = REGISTRY[type(cmd)]
        if member.role not in registration.roles:
            raise errors.Forbidden(f"a {member.role} may not send {cmd.type_name()}")
        if member.muted and registration.silenced:
            reason = f": {member.mute_reason}" if member.mute_reason else ""
            raise errors.Muted(f"a moderator muted you{reason}. You can still follow the room.")
        if self.ended and not registration.after_end:
            raise errors.InvalidTransition("the session has ended")

    def _self_erasure(self, cmd: c.Command, actor: str) -> bool:
        """``cmd`` is ``actor`` erasing its own data: the one command a member removed, rejected or
        waiting in the lobby may still send (the right to erasure; ``rooms/privacy.py``)."""
        return (
            isinstance(cmd, c.MemberErase)
            and cmd.member in (None, actor)
            and self.text_rules >= SELF_ERASE_FIXES
        )

    # --- Views (see views.py) ---------------------------------------------------------------------------
    def snapshot(self, member_id: str | None, role: Role) -> Data:
        return views.snapshot(self, member_id, role)

    def room_view(self) -> Data:
        return views.room_view(self)

    def member_view(self, member: Member) -> Data:
        return views.member_view(self, member)

    def round_view(self, rnd: Round) -> Data:
        return views.round_view(rnd)

    def presence_view(self) -> Data:
        return views.presence_view(self)

    # --- Snapshots of the whole state (durability) ---------------------------------------------------------
    def to_state(self) -> Data:
        return {
            "id": self.id,
            "config": to_plain(self.config),
            "limits": to_plain(self.limits),
            "created_at": self.created_at,
            "clock": self.clock,
            "epoch": self.epoch,
            "seq": self.seq,
            "ended": self.ended,
            "locked": self.locked,
            "approval_queue": self.approval_queue,
            "members": [to_plain(m) for m in self.members.values()],
            "ideas": [to_plain(i) for i in self.ideas.values()],
            "rounds": [to_plain(r) for r in self.rounds.values()],
            "current": self.current,
            "invites": [to_plain(v) for v in self.invites.values()],
            "themes": [to_plain(t) for t in self.themes.values()],
            "merges": [to_plain(g) for g in self.merges.values()],
            "audit": [to_plain(a) for a in self.audit],
            "replies": {k: {cid: to_plain(r) for cid, r in book.items()} for k, book in self.replies.items()},
            "online": sorted(self.online),
            "screens": self.screens,
            "where": {w: sorted(members) for w, members in self.where.items()},
            "worker_screens": dict(self.worker_screens),
            "counters": dict(self.counters),
            "links_generation": self.links_generation,
            "banned_devices": sorted(self.banned_devices),
            "idea_replies": [to_plain(r) for r in self.idea_replies.values()],
            "announcements": [to_plain(a) for a in self.announcements],
            "criteria": [to_plain(k) for k in self.criteria],
            "evaluations": [to_plain(e) for e in self.evaluations.values()],
            "pulses": [to_plain(p) for p in self.pulses.values()],
            "filter_enabled": self.filter_enabled,
            "filter_words": list(self.filter_words),
            "filter_languages": self.filter_languages,
            "purged": self.purged,
            "spotlight": self.spotlight,
        }

    @classmethod
    def from_state(cls, data: Data, *, limits: Limits | None = None) -> Room:
        room = cls(
            data["id"],
            from_plain(RoomConfig, data["config"]),
            created_at=data["created_at"],
            limits=limits or from_plain(Limits, data["limits"]),
        )
        room.clock = data["clock"]
        room.epoch = data["epoch"]
        room.seq = data["seq"]
        room.ended = data["ended"]
        room.locked = data["locked"]
        room.approval_queue = data["approval_queue"]
        room.members = {m["id"]: from_plain(Member, m) for m in data["members"]}
        room.ideas = {i["id"]: from_plain(Idea, i) for i in data["ideas"]}
        room.rounds = {r["id"]: from_plain(Round, r) for r in data["rounds"]}
        room.current = data["current"]
        room.invites = {v["id"]: from_plain(Invite, v) for v in data["invites"]}
        # Snapshots from before themes, merges and the staff-link rotation have none of them.
        room.themes = {t["id"]: from_plain(Theme, t) for t in data.get("themes", ())}
        room.merges = {g["id"]: from_plain(Merge, g) for g in data.get("merges", ())}
        room.audit = [from_plain(AuditEntry, a) for a in data["audit"]]
        if room.config.access == "approval":
            # Snapshots from before ``Member.admitted``: in an approval room every participant waited,
            # and one removed since was let in only if the audit says it was admitted (or unbanned).
            actions = (EventName.MEMBER_ADMITTED.value, EventName.MEMBER_UNBANNED.value)
            let_in = {a.target for a in room.audit if a.action in actions}
            for plain in data["members"]:
                if "admitted" not in plain and plain["role"] == "participant":
                    room.members[plain["id"]].admitted = plain["id"] in let_in
        room.replies = {
            k: {cid: from_plain(StoredReply, r) for cid, r in book.items()}
            for k, book in data["replies"].items()
        }
        room.online = set(data["online"])
        room.screens = data["screens"]
        # Snapshots from before presence per worker: all of it in one unnamed worker.
        where = data.get("where", {"": data["online"]} if data["online"] else {})
        room.where = {w: set(members) for w, members in where.items()}
        screens = data.get("worker_screens", {"": data["screens"]} if data["screens"] else {})
        room.worker_screens = dict(screens)
        room.counters = dict(data["counters"])
        room.links_generation = data.get("links_generation", 0)
        room.banned_devices = set(data.get("banned_devices", ()))
        # Snapshots from before the follow-up have none of it.
        room.idea_replies = {r["id"]: from_plain(IdeaReply, r) for r in data.get("idea_replies", ())}
        room.announcements = [from_plain(Announcement, a) for a in data.get("announcements", ())]
        room.criteria = [from_plain(Criterion, k) for k in data.get("criteria", ())]
        room.evaluations = {e["id"]: from_plain(Evaluation, e) for e in data.get("evaluations", ())}
        room.pulses = {p["id"]: from_plain(Pulse, p) for p in data.get("pulses", ())}
        room.filter_enabled = data.get("filter_enabled", True)
        room.filter_words = list(data.get("filter_words", ()))
        room.filter_languages = data.get("filter_languages")
        room.purged = data.get("purged", "")
        room.spotlight = data.get("spotlight")
        return room


__all__ = ["CONCERNS", "PERMISSIONS", "SILENCED", "Room", "clean_name", "clean_text"]
