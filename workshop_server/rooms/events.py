"""What the room core hands back: events with per-audience views, effects, and the outcome of a command.

An event has one payload per *audience key*:

- ``"staff"``: facilitators and moderators;
- ``"public"``: participants and room screens;
- ``"m:<member id>"``: one member (all of that member's connections).

A viewer receives the most specific view that exists: its member key, else its audience's. A missing
view means the viewer does not receive the event at all. Members waiting in the approval lobby have the
audience ``"lobby"``, which has no shared view: they receive only events addressed to them. The I/O shell
encodes each view once per encoding, never once per recipient, and replay after a reconnect goes
through the same :func:`view_for`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from workshop_server.errors import WorkshopError

STAFF = "staff"
PUBLIC = "public"
LOBBY = "lobby"
Audience = Literal["staff", "public", "lobby"]
Data = dict[str, Any]


class EventName(StrEnum):
    """Every event a room can emit: the one registry of event names (protocol.md documents each)."""

    PRESENCE = "presence"
    MEMBER_JOINED = "member.joined"
    MEMBER_WAITING = "member.waiting"
    MEMBER_ADMITTED = "member.admitted"
    MEMBER_REJECTED = "member.rejected"
    MEMBER_MUTED = "member.muted"
    MEMBER_UNMUTED = "member.unmuted"
    MEMBER_REMOVED = "member.removed"
    MEMBER_UNBANNED = "member.unbanned"
    ROUND_OPENED = "round.opened"
    ROUND_PAUSED = "round.paused"
    ROUND_RESUMED = "round.resumed"
    ROUND_EXTENDED = "round.extended"
    ROUND_CLOSED = "round.closed"
    ROUND_REVEALED = "round.revealed"
    SESSION_ENDED = "session.ended"
    INVITE_CREATED = "invite.created"
    INVITE_REVOKED = "invite.revoked"
    IDEA_POSTED = "idea.posted"
    IDEA_EDITED = "idea.edited"
    IDEA_WITHDRAWN = "idea.withdrawn"
    IDEA_HIDDEN = "idea.hidden"
    IDEA_RESTORED = "idea.restored"
    IDEA_APPROVED = "idea.approved"
    IDEA_MERGED = "idea.merged"
    IDEA_UNMERGED = "idea.unmerged"
    THEME_CREATED = "theme.created"
    THEME_UPDATED = "theme.updated"
    THEME_DISSOLVED = "theme.dissolved"
    THEME_IDEAS = "theme.ideas"
    VOTE_CHANGED = "vote.changed"
    VOTE_TOTALS = "vote.totals"
    VOTE_RESULTS = "vote.results"
    ROOM_UPDATED = "room.updated"
    ROOM_LINKS_ROTATED = "room.links_rotated"
    ROOM_SPOTLIGHT = "room.spotlight"
    IDEA_STATUS = "idea.status"
    THEME_STATUS = "theme.status"
    REPLY_POSTED = "reply.posted"
    REPLY_HIDDEN = "reply.hidden"
    REPLY_RESTORED = "reply.restored"
    REPLY_APPROVED = "reply.approved"
    ROOM_ANNOUNCEMENT = "room.announcement"
    MEMBER_JURY = "member.jury"
    MEMBER_SHADOW = "member.shadow"
    MEMBER_ERASED = "member.erased"
    ROOM_PURGED = "room.purged"
    FILTER_UPDATED = "filter.updated"
    SELECTION_CRITERIA = "selection.criteria"
    EVALUATION_OPENED = "evaluation.opened"
    EVALUATION_SCORED = "evaluation.scored"
    EVALUATION_CLOSED = "evaluation.closed"
    PULSE_OPENED = "pulse.opened"
    PULSE_ANSWERED = "pulse.answered"
    PULSE_CLOSED = "pulse.closed"


#: Events that take off the wall what everyone saw (a text, or an earlier version of it).
RETRACTIONS: frozenset[str] = frozenset(
    {
        EventName.IDEA_HIDDEN,
        EventName.IDEA_WITHDRAWN,
        EventName.IDEA_EDITED,
        EventName.REPLY_HIDDEN,
        EventName.MEMBER_REMOVED,
        EventName.MEMBER_ERASED,
    }
)


#: Events that can hand a connection the text of an idea or a reply it may not have had: one that comes
#: onto its wall (``idea.unmerged`` brings back notes merged away before it joined) or changes. Others
#: that hold a text hold one the connection has (the surviving note of ``idea.merged``, an author's own
#: note in ``idea.hidden`` or ``idea.status``). ``tests/rooms/test_carriers.py`` checks the list.
CARRIERS: frozenset[str] = frozenset(
    {
        EventName.IDEA_POSTED,
        EventName.IDEA_UNMERGED,
        EventName.IDEA_EDITED,
        EventName.IDEA_RESTORED,
        EventName.IDEA_APPROVED,
        EventName.ROUND_REVEALED,
        EventName.REPLY_POSTED,
        EventName.REPLY_RESTORED,
        EventName.REPLY_APPROVED,
    }
)


def replay_retracts(events: list[Event], member_id: str | None, audience: str) -> bool:
    """Whether replaying ``events`` to this connection would hand it a text and later take something off
    the wall: then a resume gets a snapshot instead (``host.LocalRoom``), which never holds what a
    moderator hid, its author withdrew or edited away. Live, the text was on the phone for the moments
    before; a replay would deliver it to a phone that was away the whole time (or to a room screen's
    link resumed from seq 0). Staff read hidden texts anyway: the caller asks for other audiences."""
    carried = False
    for ev in events:
        if view_for(ev.views, member_id, audience) is None:
            continue
        if carried and ev.name in RETRACTIONS:
            return True
        carried = carried or ev.name in CARRIERS
    return False


def member_key(member_id: str) -> str:
    return "m:" + member_id


def view_key_for(views: dict[str, Data], member_id: str | None, audience: str) -> str | None:
    """The key of the view a viewer receives, or None when the event is not for it."""
    if member_id is not None:
        key = "m:" + member_id
        if key in views:
            return key
    if audience in views:
        return audience
    return None


def view_for(views: dict[str, Data], member_id: str | None, audience: str) -> Data | None:
    key = view_key_for(views, member_id, audience)
    return None if key is None else views[key]


@dataclass(slots=True)
class Event:
    seq: int
    name: str
    at: float
    views: dict[str, Data]

    def to_dict(self) -> Data:
        return {"seq": self.seq, "name": self.name, "at": self.at, "views": self.views}

    @classmethod
    def from_dict(cls, data: Data) -> Event:
        return cls(seq=data["seq"], name=data["name"], at=data["at"], views=data["views"])


@dataclass(frozen=True, slots=True)
class Effect:
    """Something the I/O shell must do besides delivering events.

    ``close``: close every connection of ``member`` with ``code``. They receive the events up to seq
    ``after`` (their own removal or rejection) and nothing after it.
    ``refresh``: the member's audience changed (admitted from the lobby): send its connections a fresh
    snapshot and move them to their new audience.
    ``revoke``: the staff links were rotated to ``generation``: close with ``code`` every connection
    that authenticated with a staff link (facilitator token, screen token) of an older generation,
    except the one that asked for the rotation; they receive nothing after seq ``after``.
    ``compact``: personal data was erased (``member``'s): start a new epoch whose journal holds only a
    snapshot of the state as it is now, and drop every copy of the events before it.
    ``close_all``: close every connection of the room with ``code`` after seq ``after``.
    ``delete``: the room is gone (retention): delete everything stored of it and stop serving it.
    """

    kind: Literal["close", "refresh", "revoke", "compact", "close_all", "delete"]
    member: str
    code: int = 0
    reason: str = ""
    after: int = 0
    generation: int = 0

    def to_dict(self) -> Data:
        data: Data = {
            "kind": self.kind,
            "member": self.member,
            "code": self.code,
            "reason": self.reason,
            "after": self.after,
        }
        if self.kind == "revoke":
            data["generation"] = self.generation
        return data


@dataclass(slots=True)
class Outcome:
    """The result of one command: the reply's result, the events it emitted, and effects."""

    result: Data = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    duplicate: bool = False
    """True when the command was a resend: ``result`` is the original reply and nothing was applied."""
    stored: bool = False
    """The reply was stored for deduplication: the room changed even if no event was emitted."""
    error: WorkshopError | None = None
    """The command was refused. Events may still be present: the clock closed a round first."""
    changed: bool = False
    """The room's state changed without an event (``_limits``): journal the command anyway."""
