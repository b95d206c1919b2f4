"""The room state machine: pure, synchronous and deterministic.

``Room.handle(command, actor, now)`` is the only way to change a room. It returns an :class:`Outcome`:
the reply's result (or an error), the events to journal and fan out, and effects for the I/O shell.
There is no I/O, no asyncio and no reading of the clock: time is the ``now`` argument, so the same
commands at the same times always give the same state and the same events. The durability layer relies
on that: it journals commands and rebuilds a room by handling them again.

Rules every handler follows: validate everything first, raise a :class:`WorkshopError` before any
change, then mutate and emit. A command that fails therefore changes nothing (but the clock may still
have closed a round, whose events are in the outcome).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from workshop_server import errors
from workshop_server.close_codes import CloseCode
from workshop_server.rooms import commands as c
from workshop_server.rooms.events import LOBBY, PUBLIC, STAFF, Data, Effect, Event, Outcome, member_key
from workshop_server.rooms.state import (
    STAFF_ROLES,
    AuditEntry,
    Idea,
    Invite,
    Limits,
    Member,
    Phase,
    Role,
    RoomConfig,
    Round,
    StoredReply,
    from_plain,
    passphrase_matches,
    to_plain,
)
from workshop_server.rooms.text import TEXT_RULES, name_under, text_under
from workshop_server.rooms.text import clean_name as clean_name
from workshop_server.rooms.text import clean_text as clean_text

MODERATION: frozenset[type[c.Command]] = frozenset(
    {
        c.MemberMute,
        c.MemberUnmute,
        c.MemberRemove,
        c.MemberUnban,
        c.MemberAdmit,
        c.MemberReject,
        c.IdeaHide,
        c.IdeaRestore,
        c.IdeaApprove,
        c.RoomSet,
    }
)
FACILITATION: frozenset[type[c.Command]] = frozenset(
    {
        c.RoundOpen,
        c.RoundPause,
        c.RoundResume,
        c.RoundExtend,
        c.RoundClose,
        c.RoundReveal,
        c.SessionEnd,
        c.InviteCreate,
        c.InviteRevoke,
        c.RoomRotateLinks,
    }
)
CONTRIBUTION: frozenset[type[c.Command]] = frozenset(
    {c.IdeaPost, c.IdeaEdit, c.IdeaWithdraw, c.VoteAdd, c.VoteRemove}
)
#: What each role may do. Everything else is ``forbidden``. The room screen is read-only.
PERMISSIONS: dict[str, frozenset[type[c.Command]]] = {
    "facilitator": MODERATION | FACILITATION,
    "moderator": MODERATION,
    "participant": CONTRIBUTION,
    "screen": frozenset(),
}
#: Contributions a muted participant may not make.
SILENCED: frozenset[type[c.Command]] = frozenset({c.IdeaPost, c.IdeaEdit, c.VoteAdd})


class Room:
    """One workshop room. Create it with :meth:`create`, restore it with :meth:`from_state`."""

    def __init__(self, room_id: str, config: RoomConfig, *, created_at: float, limits: Limits) -> None:
        self.id = room_id
        self.config = config
        self.limits = limits
        self.created_at = created_at
        self.clock = created_at
        #: The text rules commands are handled under: an input like ``now``, set by the shell for each
        #: replayed journal entry (rooms/text.py keeps every version), not part of the room's state.
        self.text_rules = TEXT_RULES
        self.epoch = "1"
        self.seq = 0
        self.ended = False
        self.locked = False
        self.approval_queue = False
        self.members: dict[str, Member] = {}
        self.ideas: dict[str, Idea] = {}
        self.rounds: dict[str, Round] = {}
        self.current: str | None = None
        self.invites: dict[str, Invite] = {}
        self.audit: list[AuditEntry] = []
        self.replies: dict[str, dict[str, StoredReply]] = {}
        self.online: set[str] = set()
        self.screens = 0
        self.counters: dict[str, int] = {}
        self.links_generation = 0  # of the staff links; room.rotate_links moves it on
        self.banned_devices: set[str] = set()  # device hashes of removed members
        self._events: list[Event] = []
        self._effects: list[Effect] = []

    # --- Construction ---------------------------------------------------------------------------------
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
        room = cls(room_id, config, created_at=now, limits=limits or Limits())
        fid = room._next_id("m")
        room.members[fid] = Member(
            id=fid,
            name=name_under(text_rules, facilitator_name, room.limits.name_max),
            role="facilitator",
            joined_at=now,
            rules_version=config.rules_version,
            consent_at=now,
        )
        vid = room._next_id("v")
        room.invites[vid] = Invite(id=vid, role="moderator", label="moderators", created_at=now)
        return room

    @property
    def facilitator_id(self) -> str:
        return "m1"

    @property
    def moderator_invite_id(self) -> str:
        return "v1"

    def is_staff_link(self, kind: str, subject: str) -> bool:
        """Whether a token of ``kind`` for ``subject`` is one of the staff links that
        ``room.rotate_links`` replaces: the facilitator's member token, the moderator invite, the screen
        token. Members who joined with the moderator invite have tokens of their own, not staff links."""
        return (
            kind == "screen"
            or (kind == "member" and subject == self.facilitator_id)
            or (kind == "invite" and subject == self.moderator_invite_id)
        )

    def link_generation(self, kind: str, subject: str) -> int:
        """The generation a token of ``kind`` for ``subject`` must carry to be valid now: the staff
        links' current generation, or 0 for every other token."""
        return self.links_generation if self.is_staff_link(kind, subject) else 0

    def _next_id(self, prefix: str) -> str:
        n = self.counters.get(prefix, 0) + 1
        self.counters[prefix] = n
        return f"{prefix}{n}"

    # --- The one entry point ------------------------------------------------------------------------
    def handle(self, cmd: c.Command, actor: str | None, now: float) -> Outcome:
        """Apply one command from ``actor`` (a member id; None for internal and join commands)."""
        self._events = []
        self._effects = []
        self.clock = max(self.clock, now)
        now = self.clock
        self._close_if_due(now)
        dedupe_key = self._dedupe_key(cmd, actor)
        stored = self._stored_reply(dedupe_key, cmd.id, now)
        if stored is not None:
            return Outcome(result=stored.result, events=self._take_events(), effects=[], duplicate=True)
        handler = self._handlers.get(type(cmd))
        mark = len(self._events)
        try:
            if handler is None:
                raise errors.UnknownCommand(f"unknown command {type(cmd).__name__}")
            if actor is not None:
                self._authorise(cmd, actor)
            elif not cmd.type_name().startswith("_"):
                raise errors.NotJoined("this command needs a member")
            result = handler(self, cmd, actor, now)
        except errors.WorkshopError as exc:
            assert len(self._events) == mark, "a handler emitted events before failing"
            return Outcome(result={}, events=self._take_events(), effects=[], error=exc)
        if dedupe_key is not None:
            self._store_reply(dedupe_key, cmd.id, result, now)
        return Outcome(
            result=result, events=self._take_events(), effects=self._effects, stored=dedupe_key is not None
        )

    def tick(self, now: float) -> Outcome:
        return self.handle(c.Tick(id="tick"), None, now)

    def next_wakeup(self) -> float | None:
        """When the shell should call :meth:`tick` next: the open round's deadline plus grace."""
        rnd = self.current_round
        if rnd is None or rnd.status != "open" or rnd.deadline is None:
            return None
        return rnd.deadline + self.limits.grace_seconds

    def _take_events(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    def _emit(self, name: str, views: dict[str, Data], now: float) -> None:
        self.seq += 1
        self._events.append(Event(seq=self.seq, name=name, at=now, views=views))

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

    def _store_reply(self, key: str, cid: str, result: Data, now: float) -> None:
        book = self.replies.setdefault(key, {})
        book.pop(cid, None)
        book[cid] = StoredReply(at=now, result=result)
        horizon = now - self.limits.dedupe_window_seconds
        cap = self.limits.dedupe_per_member * (20 if key == "join" else 1)
        while book:
            oldest_id, oldest = next(iter(book.items()))
            if len(book) <= cap and oldest.at >= horizon:
                break
            del book[oldest_id]

    def _authorise(self, cmd: c.Command, actor: str) -> None:
        member = self.members.get(actor)
        if member is None:
            raise errors.NotJoined("unknown member")
        if member.status in ("banned", "rejected"):
            raise errors.Banned()
        if member.status == "waiting":
            raise errors.AwaitingApproval()
        if type(cmd) not in PERMISSIONS[member.role]:
            raise errors.Forbidden(f"a {member.role} may not send {cmd.type_name()}")
        if member.muted and type(cmd) in SILENCED:
            reason = f": {member.mute_reason}" if member.mute_reason else ""
            raise errors.Muted(f"a moderator muted you{reason}. You can still follow the room.")
        if self.ended and type(cmd) not in MODERATION and not isinstance(cmd, c.RoomRotateLinks):
            raise errors.InvalidTransition("the session has ended")

    # --- Derived state --------------------------------------------------------------------------------
    @property
    def current_round(self) -> Round | None:
        return None if self.current is None else self.rounds[self.current]

    @property
    def phase(self) -> Phase:
        if self.ended:
            return "ended"
        rnd = self.current_round
        if rnd is None:
            return "lobby"
        return {"open": "round_open", "paused": "round_paused", "closed": "round_closed"}[rnd.status]  # type: ignore[return-value]

    def audience_of(self, member_id: str | None, role: Role) -> str:
        if role == "screen" or member_id is None:
            return PUBLIC
        member = self.members.get(member_id)
        if member is None or member.status != "active":
            return LOBBY
        return STAFF if member.role in STAFF_ROLES else PUBLIC

    def _publicly_visible(self, idea: Idea) -> bool:
        rnd = self.rounds[idea.round]
        return idea.state == "visible" and (rnd.revealed or not rnd.private)

    def _active_vote_round(self) -> Round | None:
        rnd = self.current_round
        if rnd is not None and rnd.kind == "vote" and rnd.status != "closed":
            return rnd
        return None

    # --- Projections ----------------------------------------------------------------------------------
    def _idea_public(self, idea: Idea) -> Data:
        data: Data = {
            "id": idea.id,
            "round": idea.round,
            "text": idea.text,
            "color": idea.color,
            "state": idea.state,
            "created_at": idea.created_at,
            "updated_at": idea.updated_at,
        }
        if not self.rounds[idea.round].anonymous:
            data["author"] = idea.author
            data["author_name"] = self.members[idea.author].name
        return data

    def _idea_full(self, idea: Idea, *, mine: bool) -> Data:
        data = self._idea_public(idea)
        data["author"] = idea.author
        data["author_name"] = self.members[idea.author].name
        if idea.state == "hidden":
            data["hide_reason"] = idea.hide_reason
        if mine:
            data["mine"] = True
        return data

    def _idea_views(
        self, idea: Idea, extra: Data | None = None, *, public: bool | None = None
    ) -> dict[str, Data]:
        extra = extra or {}
        views: dict[str, Data] = {
            STAFF: {"idea": self._idea_full(idea, mine=False), **extra},
            member_key(idea.author): {"idea": self._idea_full(idea, mine=True), **extra},
        }
        if self._publicly_visible(idea) if public is None else public:
            views[PUBLIC] = {"idea": self._idea_public(idea), **extra}
        return views

    def _idea_id_views(self, idea: Idea, was_public: bool, data: Data) -> dict[str, Data]:
        views: dict[str, Data] = {STAFF: data, member_key(idea.author): data}
        if was_public:
            views[PUBLIC] = {"id": idea.id}
        return views

    def round_view(self, rnd: Round) -> Data:
        return {
            "id": rnd.id,
            "kind": rnd.kind,
            "prompt": rnd.prompt,
            "duration": rnd.duration,
            "status": rnd.status,
            "opened_at": rnd.opened_at,
            "deadline": rnd.deadline,
            "remaining": rnd.remaining,
            "closed_at": rnd.closed_at,
            "revealed": rnd.revealed,
            "private": rnd.private,
            "anonymous": rnd.anonymous,
            "max_ideas": rnd.max_ideas,
            "budget": rnd.budget,
            "max_per_idea": rnd.max_per_idea,
            "hide_totals": rnd.hide_totals,
        }

    def member_view(self, member: Member) -> Data:
        return {
            "id": member.id,
            "name": member.name,
            "role": member.role,
            "status": member.status,
            "muted": member.muted,
            "mute_reason": member.mute_reason,
            "joined_at": member.joined_at,
            "online": member.id in self.online,
        }

    def room_view(self) -> Data:
        cfg = self.config
        return {
            "id": self.id,
            "title": cfg.title,
            "brief": cfg.brief,
            "rules": cfg.rules,
            "rules_version": cfg.rules_version,
            "access": cfg.access,
            "anonymous": cfg.anonymous,
            "locale": cfg.locale,
            "retention_days": cfg.retention_days,
            "locked": self.locked,
            "approval_queue": self.approval_queue,
            "phase": self.phase,
        }

    def presence_view(self) -> Data:
        participants = sum(
            1 for m in self.members.values() if m.role == "participant" and m.status == "active"
        )
        return {"online": len(self.online), "participants": participants, "screens": self.screens}

    def _my_votes(self, rnd: Round, member_id: str) -> Data:
        mine = rnd.dots.get(member_id, {})
        return {"round": rnd.id, "mine": dict(mine), "remaining": rnd.budget - sum(mine.values())}

    def snapshot(self, member_id: str | None, role: Role) -> Data:
        """Everything a viewer may see now. Used at join, and at resume when events are not available."""
        audience = self.audience_of(member_id, role)
        snap: Data = {
            "epoch": self.epoch,
            "seq": self.seq,
            "room": self.room_view(),
            "presence": self.presence_view(),
        }
        member = self.members.get(member_id) if member_id is not None else None
        if member is not None:
            snap["me"] = self.member_view(member)
        if audience == LOBBY:
            return snap
        staff = audience == STAFF
        snap["rounds"] = [self.round_view(r) for r in self.rounds.values()]
        snap["current_round"] = self.current
        ideas: list[Data] = []
        for idea in self.ideas.values():
            if staff:
                ideas.append(self._idea_full(idea, mine=False))
            elif member_id is not None and idea.author == member_id:
                ideas.append(self._idea_full(idea, mine=True))
            elif self._publicly_visible(idea):
                ideas.append(self._idea_public(idea))
        snap["ideas"] = ideas
        votes: list[Data] = []
        for rnd in self.rounds.values():
            if rnd.kind != "vote":
                continue
            entry: Data = {"round": rnd.id, "results": rnd.results}
            if staff or not rnd.hide_totals or rnd.status == "closed":
                entry["totals"] = dict(rnd.totals)
            if member_id is not None and role == "participant":
                entry.update(self._my_votes(rnd, member_id))
            votes.append(entry)
        snap["votes"] = votes
        if staff:
            snap["members"] = [self.member_view(m) for m in self.members.values()]
            snap["invites"] = [to_plain(v) for v in self.invites.values()]
            snap["audit"] = [to_plain(a) for a in self.audit[-self.limits.audit_in_snapshot :]]
        return snap

    # --- Clock ----------------------------------------------------------------------------------------
    def _close_if_due(self, now: float) -> None:
        rnd = self.current_round
        if (
            rnd is not None
            and rnd.status == "open"
            and rnd.deadline is not None
            and now >= rnd.deadline + self.limits.grace_seconds
        ):
            self._close_round(rnd, now, reason="timer", closed_at=rnd.deadline)

    def _close_round(self, rnd: Round, now: float, *, reason: str, closed_at: float) -> None:
        rnd.status = "closed"
        rnd.closed_at = closed_at
        rnd.remaining = None
        everyone = {"round": self.round_view(rnd), "reason": reason}
        self._emit("round.closed", {STAFF: everyone, PUBLIC: everyone}, now)
        if rnd.kind == "ideate" and rnd.private and not rnd.revealed:
            self._reveal(rnd, now)
        if rnd.kind == "vote":
            rnd.results = self._rank(rnd)
            data = {"round": rnd.id, "results": rnd.results, "totals": dict(rnd.totals)}
            self._emit("vote.results", {STAFF: data, PUBLIC: data}, now)

    def _rank(self, rnd: Round) -> list[Data]:
        order = {iid: n for n, iid in enumerate(self.ideas)}
        eligible = [i for i in self.ideas.values() if self._publicly_visible(i)]
        eligible.sort(key=lambda i: (-rnd.totals.get(i.id, 0), order[i.id]))
        results: list[Data] = []
        rank = 0
        previous: int | None = None
        for position, idea in enumerate(eligible, start=1):
            total = rnd.totals.get(idea.id, 0)
            if total != previous:
                rank, previous = position, total
            results.append({"idea": idea.id, "total": total, "rank": rank})
        return results

    def _reveal(self, rnd: Round, now: float) -> None:
        rnd.revealed = True
        ideas = [i for i in self.ideas.values() if i.round == rnd.id]
        public = [self._idea_public(i) for i in ideas if self._publicly_visible(i)]
        staff = [self._idea_full(i, mine=False) for i in ideas]
        self._emit(
            "round.revealed",
            {STAFF: {"round": rnd.id, "ideas": staff}, PUBLIC: {"round": rnd.id, "ideas": public}},
            now,
        )

    # --- Internal commands ------------------------------------------------------------------------------
    def _on_tick(self, cmd: c.Tick, actor: str | None, now: float) -> Data:
        return {}

    def _on_presence(self, cmd: c.Presence, actor: str | None, now: float) -> Data:
        came = [m for m in cmd.came if m in self.members and m not in self.online]
        left = [m for m in cmd.left if m in self.online]
        if not came and not left and cmd.screens == self.screens:
            return {}
        self.online.update(came)
        self.online.difference_update(left)
        self.screens = cmd.screens
        counts = self.presence_view()
        self._emit("presence", {STAFF: {**counts, "came": came, "left": left}, PUBLIC: counts}, now)
        return {}

    def _on_enter(self, cmd: c.Enter, actor: str | None, now: float) -> Data:
        cfg = self.config
        name = name_under(self.text_rules, cmd.name, self.limits.name_max)
        if self.ended:
            raise errors.InvalidTransition("the session has ended")
        invite = self.invites.get(cmd.invite) if cmd.invite is not None else None
        if cmd.invite is not None and invite is None:
            raise errors.InvalidToken("unknown invite")
        if invite is not None and cmd.generation != self.link_generation("invite", invite.id):
            raise errors.InvalidToken("this link was replaced: ask the facilitator for the new one")
        if invite is not None and invite.revoked:
            raise errors.InviteRevoked()
        if invite is not None and invite.member is not None:
            # A personal invite used again (another device): the same member, if still welcome.
            again = self.members[invite.member]
            if again.status in ("banned", "rejected"):
                raise errors.Banned()
            return {"member": self.member_view(again)}
        role: Role = invite.role if invite is not None else "participant"
        if role == "participant":
            if self.locked:
                raise errors.RoomLocked()
            if cfg.access == "invite" and invite is None:
                raise errors.InviteRequired()
            if cfg.access == "passphrase" and not (
                cmd.passphrase_ok
                if cmd.passphrase_ok is not None  # checked by the shell, off the room's batch
                else passphrase_matches(cmd.passphrase or "", cfg.passphrase_salt, cfg.passphrase_hash)
            ):
                raise errors.WrongPassphrase()
            if cmd.max_members is not None and len(self.members) >= cmd.max_members:
                raise errors.RoomFull(f"this room has reached its {cmd.max_members} members")
        if cmd.device in self.banned_devices and cfg.access in ("code", "passphrase"):
            raise errors.Banned("a member who joined from this browser was removed from this room")
        if cmd.accept_rules != cfg.rules_version:
            raise errors.RulesNotAccepted(
                f"accept version {cfg.rules_version} of the rules (you accepted {cmd.accept_rules})"
            )
        waiting = role == "participant" and cfg.access == "approval"
        mid = self._next_id("m")
        member = Member(
            id=mid,
            name=name,
            role=role,
            status="waiting" if waiting else "active",
            joined_at=now,
            rules_version=cmd.accept_rules,
            consent_at=now,
            invite=invite.id if invite is not None else None,
            device=cmd.device,
        )
        self.members[mid] = member
        if invite is not None and role == "participant":
            invite.member = mid
        view = self.member_view(member)
        staff: Data = {"member": view}
        if invite is not None and role == "participant":
            staff["invite"] = to_plain(invite)  # now bound to this member
        # The new count reaches everyone with the next batched presence update, when the member's
        # connection comes online: one event per interval, not one per join (a join storm stays linear).
        self._emit("member.waiting" if waiting else "member.joined", {STAFF: staff}, now)
        return {"member": view}

    # --- Rounds -----------------------------------------------------------------------------------------
    def _on_round_open(self, cmd: c.RoundOpen, actor: str | None, now: float) -> Data:
        rnd = self.current_round
        if rnd is not None and rnd.status != "closed":
            raise errors.InvalidTransition("close the current round before opening another")
        prompt = text_under(self.text_rules, cmd.prompt, self.limits.prompt_max, "prompt")
        rid = self._next_id("r")
        anonymous = self.config.anonymous if cmd.anonymous is None else cmd.anonymous
        rnd = Round(
            id=rid,
            kind=cmd.kind,
            prompt=prompt,
            duration=cmd.duration,
            opened_at=now,
            deadline=None if cmd.duration is None else now + cmd.duration,
            private=cmd.private if cmd.kind == "ideate" else False,
            anonymous=anonymous,
            max_ideas=cmd.max_ideas if cmd.kind == "ideate" else None,
            budget=cmd.budget,
            max_per_idea=min(cmd.max_per_idea, cmd.budget),
            hide_totals=cmd.hide_totals if cmd.kind == "vote" else False,
        )
        self.rounds[rid] = rnd
        self.current = rid
        view = {"round": self.round_view(rnd)}
        self._emit("round.opened", {STAFF: view, PUBLIC: view}, now)
        return view

    def _require_round(self, *statuses: str, facilitation: bool = False) -> Round:
        """The current round, in one of ``statuses``. Contributions to a closed round get
        ``round_closed``; a facilitator's transition from a wrong state gets ``invalid_transition``."""
        rnd = self.current_round
        if rnd is None:
            raise errors.InvalidTransition("no round has been opened")
        if rnd.status not in statuses:
            if rnd.status == "closed" and not facilitation:
                raise errors.RoundClosed()
            raise errors.InvalidTransition(f"the round is {rnd.status}")
        return rnd

    def _round_changed(self, name: str, rnd: Round, now: float) -> Data:
        view = {"round": self.round_view(rnd)}
        self._emit(name, {STAFF: view, PUBLIC: view}, now)
        return view

    def _on_round_pause(self, cmd: c.RoundPause, actor: str | None, now: float) -> Data:
        rnd = self._require_round("open", facilitation=True)
        rnd.status = "paused"
        if rnd.deadline is not None:
            rnd.remaining = max(0.0, rnd.deadline - now)
            rnd.deadline = None
        return self._round_changed("round.paused", rnd, now)

    def _on_round_resume(self, cmd: c.RoundResume, actor: str | None, now: float) -> Data:
        rnd = self._require_round("paused", facilitation=True)
        rnd.status = "open"
        if rnd.remaining is not None:
            rnd.deadline = now + rnd.remaining
            rnd.remaining = None
        return self._round_changed("round.resumed", rnd, now)

    def _on_round_extend(self, cmd: c.RoundExtend, actor: str | None, now: float) -> Data:
        rnd = self._require_round("open", "paused", facilitation=True)
        if rnd.deadline is None and rnd.remaining is None:
            raise errors.InvalidTransition("this round has no timer")
        if rnd.deadline is not None:
            rnd.deadline = max(rnd.deadline, now) + cmd.seconds
        elif rnd.remaining is not None:
            rnd.remaining += cmd.seconds
        if rnd.duration is not None:
            rnd.duration += cmd.seconds
        return self._round_changed("round.extended", rnd, now)

    def _on_round_close(self, cmd: c.RoundClose, actor: str | None, now: float) -> Data:
        rnd = self._require_round("open", "paused", facilitation=True)
        self._close_round(rnd, now, reason="facilitator", closed_at=now)
        return {"round": self.round_view(rnd)}

    def _on_round_reveal(self, cmd: c.RoundReveal, actor: str | None, now: float) -> Data:
        rnd = self.current_round
        if rnd is None:
            raise errors.InvalidTransition("no round has been opened")
        if rnd.kind != "ideate":
            raise errors.WrongRoundKind("only ideate rounds are revealed; vote results come at close")
        if rnd.revealed or not rnd.private:
            raise errors.InvalidTransition("this round's ideas are already visible")
        self._reveal(rnd, now)
        return {"round": self.round_view(rnd)}

    def _on_session_end(self, cmd: c.SessionEnd, actor: str | None, now: float) -> Data:
        rnd = self.current_round
        if rnd is not None and rnd.status != "closed":
            self._close_round(rnd, now, reason="session_end", closed_at=now)
        self.ended = True
        view = {"room": self.room_view()}
        self._emit("session.ended", {STAFF: view, PUBLIC: view}, now)
        return view

    def _on_invite_create(self, cmd: c.InviteCreate, actor: str | None, now: float) -> Data:
        vid = self._next_id("v")
        invite = Invite(id=vid, role=cmd.role, label=cmd.label.strip(), created_at=now)
        self.invites[vid] = invite
        entry = self._audit(actor, "invite.create", vid, invite.label, now)
        data = {"invite": to_plain(invite)}
        self._emit("invite.created", {STAFF: {**data, "audit": entry}}, now)
        return data

    def _on_invite_revoke(self, cmd: c.InviteRevoke, actor: str | None, now: float) -> Data:
        invite = self.invites.get(cmd.invite)
        if invite is None:
            raise errors.NotFound("no such invite")
        if invite.revoked:
            raise errors.InvalidTransition("the invite is already revoked")
        invite.revoked = True
        entry = self._audit(actor, "invite.revoke", invite.id, "", now)
        data = {"invite": to_plain(invite)}
        self._emit("invite.revoked", {STAFF: {**data, "audit": entry}}, now)
        return data

    # --- Ideas ------------------------------------------------------------------------------------------
    def _require_ideate(self) -> Round:
        rnd = self._require_round("open")
        if rnd.kind != "ideate":
            raise errors.WrongRoundKind("ideas are posted in an ideate round")
        return rnd

    def _own_idea(self, idea_id: str, actor: str | None) -> Idea:
        idea = self.ideas.get(idea_id)
        if idea is None:
            raise errors.NotFound("no such idea")
        if idea.author != actor:
            raise errors.Forbidden("you can only change your own ideas")
        return idea

    def _on_idea_post(self, cmd: c.IdeaPost, actor: str | None, now: float) -> Data:
        assert actor is not None
        rnd = self._require_ideate()
        text = text_under(self.text_rules, cmd.text, self.limits.idea_text_max, "idea")
        if rnd.max_ideas is not None:
            count = sum(1 for i in self.ideas.values() if i.round == rnd.id and i.author == actor)
            if count >= rnd.max_ideas:
                raise errors.IdeaLimit(f"you already posted {count} ideas in this round (the limit)")
        iid = self._next_id("i")
        idea = Idea(
            id=iid,
            round=rnd.id,
            author=actor,
            text=text,
            color=cmd.color or "yellow",
            created_at=now,
            updated_at=now,
            state="pending" if self.approval_queue else "visible",
        )
        self.ideas[iid] = idea
        self._emit("idea.posted", self._idea_views(idea), now)
        return {"idea": self._idea_full(idea, mine=True)}

    def _on_idea_edit(self, cmd: c.IdeaEdit, actor: str | None, now: float) -> Data:
        idea = self._own_idea(cmd.idea, actor)
        rnd = self._require_ideate()
        if idea.round != rnd.id:
            raise errors.RoundClosed("that idea's round is closed")
        text = text_under(self.text_rules, cmd.text, self.limits.idea_text_max, "idea")
        was_public = self._publicly_visible(idea)
        idea.text = text
        idea.color = cmd.color or idea.color
        idea.updated_at = now
        if self.approval_queue and idea.state == "visible":
            idea.state = "pending"  # new text goes back to the moderators before anyone else sees it
        views = self._idea_views(idea)
        if was_public and PUBLIC not in views:
            views[PUBLIC] = {"removed": idea.id}
        self._emit("idea.edited", views, now)
        return {"idea": self._idea_full(idea, mine=True)}

    def _on_idea_withdraw(self, cmd: c.IdeaWithdraw, actor: str | None, now: float) -> Data:
        idea = self._own_idea(cmd.idea, actor)
        rnd = self._require_ideate()
        if idea.round != rnd.id:
            raise errors.RoundClosed("that idea's round is closed")
        was_public = self._publicly_visible(idea)
        del self.ideas[idea.id]
        self._emit("idea.withdrawn", self._idea_id_views(idea, was_public, {"id": idea.id}), now)
        return {"id": idea.id}

    # --- Votes ------------------------------------------------------------------------------------------
    def _vote_round(self) -> Round:
        rnd = self._require_round("open")
        if rnd.kind != "vote":
            raise errors.WrongRoundKind("dots are placed in a vote round")
        return rnd

    def _vote_views(self, rnd: Round, voter: str, idea_id: str) -> dict[str, Data]:
        total = rnd.totals.get(idea_id, 0)
        mine = {
            "idea": idea_id,
            "my_dots": rnd.dots.get(voter, {}).get(idea_id, 0),
            **self._my_votes(rnd, voter),
        }
        views: dict[str, Data] = {STAFF: {"round": rnd.id, "idea": idea_id, "total": total}}
        if not rnd.hide_totals:
            views[PUBLIC] = {"round": rnd.id, "idea": idea_id, "total": total}
            mine["total"] = total
        views[member_key(voter)] = mine
        return views

    def _on_vote_add(self, cmd: c.VoteAdd, actor: str | None, now: float) -> Data:
        assert actor is not None
        rnd = self._vote_round()
        idea = self.ideas.get(cmd.idea)
        if idea is None or not self._publicly_visible(idea):
            raise errors.NotFound("no such idea to vote on")
        mine = rnd.dots.get(actor, {})
        if sum(mine.values()) >= rnd.budget:
            raise errors.VoteBudgetExceeded(f"you have used all {rnd.budget} dots")
        if mine.get(idea.id, 0) >= rnd.max_per_idea:
            raise errors.VoteCapExceeded(f"at most {rnd.max_per_idea} of your dots on one idea")
        rnd.dots.setdefault(actor, {})[idea.id] = mine.get(idea.id, 0) + 1
        rnd.totals[idea.id] = rnd.totals.get(idea.id, 0) + 1
        views = self._vote_views(rnd, actor, idea.id)
        self._emit("vote.changed", views, now)
        return views[member_key(actor)]

    def _on_vote_remove(self, cmd: c.VoteRemove, actor: str | None, now: float) -> Data:
        assert actor is not None
        rnd = self._vote_round()
        mine = rnd.dots.get(actor, {})
        if mine.get(cmd.idea, 0) <= 0:
            raise errors.NoDot()
        self._take_dots(rnd, actor, cmd.idea, 1)
        views = self._vote_views(rnd, actor, cmd.idea)
        self._emit("vote.changed", views, now)
        return views[member_key(actor)]

    def _take_dots(self, rnd: Round, voter: str, idea_id: str, count: int) -> None:
        mine = rnd.dots[voter]
        mine[idea_id] -= count
        if mine[idea_id] == 0:
            del mine[idea_id]
        rnd.totals[idea_id] -= count
        if rnd.totals[idea_id] == 0:
            del rnd.totals[idea_id]

    def _refund(self, idea_id: str, now: float) -> None:
        """An idea left the public wall during a vote: give its dots back to their owners."""
        rnd = self._active_vote_round()
        if rnd is None or idea_id not in rnd.totals:
            return
        views: dict[str, Data] = {STAFF: {"round": rnd.id, "idea": idea_id, "total": 0}}
        if not rnd.hide_totals:
            views[PUBLIC] = {"round": rnd.id, "idea": idea_id, "total": 0}
        for voter, mine in rnd.dots.items():
            if idea_id in mine:
                self._take_dots(rnd, voter, idea_id, mine[idea_id])
                views[member_key(voter)] = {"idea": idea_id, "my_dots": 0, **self._my_votes(rnd, voter)}
        self._emit("vote.changed", views, now)

    # --- Moderation -------------------------------------------------------------------------------------
    def _audit(self, actor: str | None, action: str, target: str, reason: str, now: float) -> Data:
        entry = AuditEntry(at=now, actor=actor or "server", action=action, target=target, reason=reason)
        self.audit.append(entry)
        return {"at": now, "actor": entry.actor, "action": action, "target": target, "reason": reason}

    def _target(self, member_id: str) -> Member:
        member = self.members.get(member_id)
        if member is None:
            raise errors.NotFound("no such member")
        if member.role == "facilitator":
            raise errors.Forbidden("the facilitator cannot be moderated")
        return member

    def _moderated(self, name: str, member: Member, actor: str | None, reason: str, now: float) -> Data:
        entry = self._audit(actor, name, member.id, reason, now)
        staff = {"member": self.member_view(member), "audit": entry}
        own = {"member": self.member_view(member), "reason": reason}
        self._emit(name, {STAFF: staff, member_key(member.id): own}, now)
        return {"member": self.member_view(member)}

    def _on_member_mute(self, cmd: c.MemberMute, actor: str | None, now: float) -> Data:
        member = self._target(cmd.member)
        if member.muted:
            raise errors.InvalidTransition("already muted")
        member.muted, member.mute_reason = True, cmd.reason.strip()
        return self._moderated("member.muted", member, actor, member.mute_reason, now)

    def _on_member_unmute(self, cmd: c.MemberUnmute, actor: str | None, now: float) -> Data:
        member = self._target(cmd.member)
        if not member.muted:
            raise errors.InvalidTransition("not muted")
        member.muted, member.mute_reason = False, ""
        return self._moderated("member.unmuted", member, actor, "", now)

    def _on_member_remove(self, cmd: c.MemberRemove, actor: str | None, now: float) -> Data:
        member = self._target(cmd.member)
        if member.status == "banned":
            raise errors.InvalidTransition("already removed")
        if member.id == actor:
            raise errors.Forbidden("you cannot remove yourself")
        member.status = "banned"  # a personal invite stays bound to this member, so it cannot rejoin
        if member.device is not None:  # and in code and passphrase rooms, this browser cannot rejoin
            self.banned_devices.add(member.device)
        self._refund_member(member.id, now)
        result = self._moderated("member.removed", member, actor, cmd.reason.strip(), now)
        after = self.seq  # the member's connections get their removal, then nothing more
        self._leave(member.id, now)
        self._effects.append(Effect("close", member.id, CloseCode.REMOVED, cmd.reason.strip(), after=after))
        return result

    def _refund_member(self, member_id: str, now: float) -> None:
        rnd = self._active_vote_round()
        if rnd is None or not rnd.dots.get(member_id):
            return
        changed = list(rnd.dots[member_id].items())
        views: dict[str, Data] = {}
        for idea_id, count in changed:
            self._take_dots(rnd, member_id, idea_id, count)
        for idea_id, _count in changed:
            total = rnd.totals.get(idea_id, 0)
            views.setdefault(STAFF, {"round": rnd.id, "changes": []})["changes"].append(
                {"idea": idea_id, "total": total}
            )
            if not rnd.hide_totals:
                views.setdefault(PUBLIC, {"round": rnd.id, "changes": []})["changes"].append(
                    {"idea": idea_id, "total": total}
                )
        self._emit("vote.totals", views, now)

    def _leave(self, member_id: str, now: float) -> None:
        if member_id in self.online:
            self.online.discard(member_id)
        counts = self.presence_view()
        self._emit("presence", {STAFF: {**counts, "came": [], "left": [member_id]}, PUBLIC: counts}, now)

    def _on_member_unban(self, cmd: c.MemberUnban, actor: str | None, now: float) -> Data:
        member = self._target(cmd.member)
        if member.status not in ("banned", "rejected"):
            raise errors.InvalidTransition("this member is not banned")
        was_rejected = member.status == "rejected"
        member.status = "active"
        device = member.device
        if device is not None and not any(
            m.device == device and m.status == "banned" for m in self.members.values()
        ):
            self.banned_devices.discard(device)
        result = self._moderated("member.unbanned", member, actor, "", now)
        if was_rejected:
            # Never admitted: like an admission, the member's public history starts now, so a resume
            # from its lobby seq gets a snapshot, not a replay that misses what came before.
            member.audience_seq = self.seq
        return result

    def _on_member_admit(self, cmd: c.MemberAdmit, actor: str | None, now: float) -> Data:
        member = self._target(cmd.member)
        if member.status != "waiting":
            raise errors.InvalidTransition("this member is not waiting for approval")
        member.status = "active"
        result = self._moderated("member.admitted", member, actor, "", now)
        member.audience_seq = self.seq
        counts = self.presence_view()
        self._emit("presence", {STAFF: {**counts, "came": [], "left": []}, PUBLIC: counts}, now)
        self._effects.append(Effect("refresh", member.id))
        return result

    def _on_member_reject(self, cmd: c.MemberReject, actor: str | None, now: float) -> Data:
        member = self._target(cmd.member)
        if member.status != "waiting":
            raise errors.InvalidTransition("this member is not waiting for approval")
        member.status = "rejected"
        result = self._moderated("member.rejected", member, actor, cmd.reason.strip(), now)
        self._effects.append(
            Effect("close", member.id, CloseCode.REJECTED, cmd.reason.strip(), after=self.seq)
        )
        return result

    def _idea(self, idea_id: str) -> Idea:
        idea = self.ideas.get(idea_id)
        if idea is None:
            raise errors.NotFound("no such idea")
        return idea

    def _on_idea_hide(self, cmd: c.IdeaHide, actor: str | None, now: float) -> Data:
        idea = self._idea(cmd.idea)
        if idea.state == "hidden":
            raise errors.InvalidTransition("already hidden")
        was_public = self._publicly_visible(idea)
        idea.state, idea.hide_reason = "hidden", cmd.reason.strip()
        if was_public:
            self._refund(idea.id, now)
        return self._emit_idea_moderated("idea.hidden", idea, was_public, actor, idea.hide_reason, now)

    def _on_idea_restore(self, cmd: c.IdeaRestore, actor: str | None, now: float) -> Data:
        idea = self._idea(cmd.idea)
        if idea.state != "hidden":
            raise errors.InvalidTransition("this idea is not hidden")
        idea.state, idea.hide_reason = "visible", ""
        return self._emit_idea_moderated("idea.restored", idea, False, actor, "", now)

    def _on_idea_approve(self, cmd: c.IdeaApprove, actor: str | None, now: float) -> Data:
        idea = self._idea(cmd.idea)
        if idea.state != "pending":
            raise errors.InvalidTransition("this idea is not waiting for approval")
        idea.state = "visible"
        return self._emit_idea_moderated("idea.approved", idea, False, actor, "", now)

    def _emit_idea_moderated(
        self, name: str, idea: Idea, was_public: bool, actor: str | None, reason: str, now: float
    ) -> Data:
        entry = self._audit(actor, name, idea.id, reason, now)
        views = self._idea_views(idea)
        views[STAFF]["audit"] = entry
        if was_public and PUBLIC not in views:
            views[PUBLIC] = {"removed": idea.id}
        self._emit(name, views, now)
        return {"idea": self._idea_full(idea, mine=False)}

    def _on_room_set(self, cmd: c.RoomSet, actor: str | None, now: float) -> Data:
        if cmd.locked is None and cmd.approval_queue is None:
            raise errors.InvalidCommand("set locked, approval_queue or both")
        changes = []
        if cmd.locked is not None and cmd.locked != self.locked:
            self.locked = cmd.locked
            changes.append("room.lock" if cmd.locked else "room.unlock")
        if cmd.approval_queue is not None and cmd.approval_queue != self.approval_queue:
            self.approval_queue = cmd.approval_queue
            changes.append("queue.on" if cmd.approval_queue else "queue.off")
        if not changes:
            return {"room": self.room_view()}
        entries = [self._audit(actor, change, self.id, "", now) for change in changes]
        view = {"room": self.room_view()}
        self._emit("room.updated", {STAFF: {**view, "audit": entries}, PUBLIC: view}, now)
        return view

    def _on_room_rotate_links(self, cmd: c.RoomRotateLinks, actor: str | None, now: float) -> Data:
        """New staff links: the old facilitator token, moderator invite and screen token stop working.
        Members who joined with the old moderator invite keep their own member tokens."""
        self.links_generation += 1
        entry = self._audit(actor, "links.rotate", self.id, "", now)
        data = {"generation": self.links_generation}
        self._emit("room.links_rotated", {STAFF: {**data, "audit": entry}}, now)
        self._effects.append(
            Effect(
                "revoke",
                "",
                CloseCode.TOKEN_REVOKED,
                "the staff links were replaced",
                after=self.seq,
                generation=self.links_generation,
            )
        )
        return data

    # --- Dispatch -----------------------------------------------------------------------------------------
    _handlers: ClassVar[dict[type[c.Command], Callable[[Room, Any, str | None, float], Data]]] = {
        c.Tick: _on_tick,
        c.Presence: _on_presence,
        c.Enter: _on_enter,
        c.RoundOpen: _on_round_open,
        c.RoundPause: _on_round_pause,
        c.RoundResume: _on_round_resume,
        c.RoundExtend: _on_round_extend,
        c.RoundClose: _on_round_close,
        c.RoundReveal: _on_round_reveal,
        c.SessionEnd: _on_session_end,
        c.InviteCreate: _on_invite_create,
        c.InviteRevoke: _on_invite_revoke,
        c.IdeaPost: _on_idea_post,
        c.IdeaEdit: _on_idea_edit,
        c.IdeaWithdraw: _on_idea_withdraw,
        c.VoteAdd: _on_vote_add,
        c.VoteRemove: _on_vote_remove,
        c.MemberMute: _on_member_mute,
        c.MemberUnmute: _on_member_unmute,
        c.MemberRemove: _on_member_remove,
        c.MemberUnban: _on_member_unban,
        c.MemberAdmit: _on_member_admit,
        c.MemberReject: _on_member_reject,
        c.IdeaHide: _on_idea_hide,
        c.IdeaRestore: _on_idea_restore,
        c.IdeaApprove: _on_idea_approve,
        c.RoomSet: _on_room_set,
        c.RoomRotateLinks: _on_room_rotate_links,
    }

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
            "audit": [to_plain(a) for a in self.audit],
            "replies": {k: {cid: to_plain(r) for cid, r in book.items()} for k, book in self.replies.items()},
            "online": sorted(self.online),
            "screens": self.screens,
            "counters": dict(self.counters),
            "links_generation": self.links_generation,
            "banned_devices": sorted(self.banned_devices),
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
        room.audit = [from_plain(AuditEntry, a) for a in data["audit"]]
        room.replies = {
            k: {cid: from_plain(StoredReply, r) for cid, r in book.items()}
            for k, book in data["replies"].items()
        }
        room.online = set(data["online"])
        room.screens = data["screens"]
        room.counters = dict(data["counters"])
        room.links_generation = data.get("links_generation", 0)  # snapshots older than the rotation
        room.banned_devices = set(data.get("banned_devices", ()))
        return room
