"""The state of one room, and the primitives every concern's handlers use to change it.

:class:`RoomState` holds everything a room is (members, rounds, ideas, themes...) and the few operations
shared by every concern: minting ids, emitting an event, writing the audit log, asking the I/O shell for
an effect. The handlers that change it live in one module per concern (``access``, ``rounds``, ``ideas``,
``votes``, ``moderation``, ``themes``) and the dispatch in ``room.py``. Pure: no I/O, no clock.
"""

from __future__ import annotations

from workshop_server import errors
from workshop_server.rooms.events import LOBBY, PUBLIC, STAFF, Data, Effect, Event, EventName
from workshop_server.rooms.state import (
    STAFF_ROLES,
    Announcement,
    AuditEntry,
    Criterion,
    Evaluation,
    EvaluationStatus,
    Idea,
    IdeaReply,
    IdeaState,
    Invite,
    Limits,
    Member,
    MemberStatus,
    Merge,
    Phase,
    Pulse,
    PulseStatus,
    Role,
    RoomConfig,
    Round,
    RoundStatus,
    StoredReply,
    Theme,
)
from workshop_server.rooms.text import (
    MERGE_FIXES,
    REASON_FIXES,
    SHADOW_THEME_FIXES,
    SHADOW_VOTE_FIXES,
    TEXT_RULES,
    name_under,
    text_under,
)


class RoomState:
    """One workshop room's state. ``Room`` (room.py) adds the dispatch, dedupe and snapshots."""

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
        self.themes: dict[str, Theme] = {}
        self.merges: dict[str, Merge] = {}
        self.audit: list[AuditEntry] = []
        self.replies: dict[str, dict[str, StoredReply]] = {}
        self.online: set[str] = set()  # online in some worker: the union of ``where``
        self.screens = 0  # the sum of ``worker_screens``
        self.where: dict[str, set[str]] = {}  # worker id -> the members it has connections of
        self.worker_screens: dict[str, int] = {}  # worker id -> its room screens
        self.counters: dict[str, int] = {}
        self.links_generation = 0  # of the staff links; room.rotate_links moves it on
        self.banned_devices: set[str] = set()  # device hashes of removed members
        # Follow-up (statuses live on ideas and themes): replies, announcements, selection, pulses.
        self.idea_replies: dict[str, IdeaReply] = {}
        self.announcements: list[Announcement] = []
        self.criteria: list[Criterion] = []
        self.evaluations: dict[str, Evaluation] = {}
        self.pulses: dict[str, Pulse] = {}
        # Triage: the word filter (rooms/triage.py); the shipped lists are code, these are the room's.
        self.filter_enabled = True
        self.filter_words: list[str] = []
        self.filter_languages: list[str] | None = None  # the shipped lists; None: the room's language
        self.spotlight: dict[str, str] | None = None  # {"idea": id} or {"theme": id}: rooms/screen.py
        self.purged = ""  # "personal" once the retention purge removed its personal data
        self._events: list[Event] = []
        self._effects: list[Effect] = []

    # --- Primitives ------------------------------------------------------------------------------------
    def next_id(self, prefix: str) -> str:
        n = self.counters.get(prefix, 0) + 1
        self.counters[prefix] = n
        return f"{prefix}{n}"

    def emit(self, name: EventName, views: dict[str, Data], now: float) -> None:
        self.seq += 1
        self._events.append(Event(seq=self.seq, name=str(name.value), at=now, views=views))

    def effect(self, effect: Effect) -> None:
        self._effects.append(effect)

    def counts_as_participant(self, member: Member) -> bool:
        """Whether ``member`` is one of the community the figures, the presence and the progress count:
        a participant, not an expert who joined with a jury invite to score (a participant named juror
        with ``member.jury`` still counts: it came as one of the community)."""
        if member.role != "participant":
            return False
        invite = self.invites.get(member.invite) if member.invite is not None else None
        return invite is None or invite.role != "juror"

    def active_participants(self) -> set[str]:
        """The ids of the participants in the room now (admitted, not removed), as counted above."""
        active = MemberStatus.ACTIVE
        return {m.id for m in self.members.values() if self.counts_as_participant(m) and m.status == active}

    def erased_refusal(self) -> errors.DataErased:
        """What an erased member's token gets: erased by request, or by the retention purge."""
        if self.purged:
            return errors.DataErased("this room's retention period ended: personal data was deleted")
        return errors.DataErased()

    def audit_entry(self, actor: str | None, action: str, target: str, reason: str, now: float) -> Data:
        entry = AuditEntry(at=now, actor=actor or "server", action=action, target=target, reason=reason)
        self.audit.append(entry)
        if action == "filter.held" and self.limits.filter_audit_max:
            self._forget_filter_entries(self.limits.filter_audit_max)
        return {"at": now, "actor": entry.actor, "action": action, "target": target, "reason": reason}

    def _forget_filter_entries(self, cap: int) -> None:
        """Keep the last ``cap`` of the word filter's entries in the moderation log (staff actions are
        all kept): what a participant posting and withdrawing filtered words can make the log hold."""
        held = [n for n, e in enumerate(self.audit) if e.action == "filter.held"]
        if len(held) > cap:
            gone = set(held[: len(held) - cap])
            self.audit = [e for n, e in enumerate(self.audit) if n not in gone]

    def clean_name(self, raw: str) -> str:
        return name_under(self.text_rules, raw, self.limits.name_max)

    def clean_text(self, raw: str, limit: int, what: str) -> str:
        return text_under(self.text_rules, raw, limit, what)

    def clean_reason(self, raw: str) -> str:
        """A moderation reason: optional (blank is none, ``""``), else the text rules, at most
        ``reason_text_max`` characters (``invalid_command``, ``text_too_long``). Before text rules
        :data:`REASON_FIXES` it was only trimmed (replays)."""
        if self.text_rules < REASON_FIXES or not raw.strip():
            return raw.strip()
        return self.clean_text(raw, self.limits.reason_text_max, "reason")

    def clean_label(self, raw: str) -> str:
        """An invite's label: optional (blank is none), else the text rules on one line (line breaks
        and tabs become spaces), at most ``label_max`` characters. Before text rules
        :data:`REASON_FIXES` it was only trimmed (replays)."""
        if self.text_rules < REASON_FIXES or not raw.strip():
            return raw.strip()
        text = self.clean_text(raw, self.limits.label_max, "label")
        lines = (line.strip() for line in text.replace("\t", " ").splitlines())
        return " ".join(line for line in lines if line)  # "a\n\n b" is "a b", not "a   b"

    # --- Derived state --------------------------------------------------------------------------------
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
        phases: dict[RoundStatus, Phase] = {
            RoundStatus.OPEN: "round_open",
            RoundStatus.PAUSED: "round_paused",
            RoundStatus.CLOSED: "round_closed",
        }
        return phases[rnd.status]

    def audience_of(self, member_id: str | None, role: Role) -> str:
        if role == "screen" or member_id is None:
            return PUBLIC
        member = self.members.get(member_id)
        if member is None or member.status != MemberStatus.ACTIVE:
            return LOBBY
        return STAFF if member.role in STAFF_ROLES else PUBLIC

    def publicly_visible(self, idea: Idea) -> bool:
        rnd = self.rounds[idea.round]
        return idea.state == IdeaState.VISIBLE and not idea.shadowed and (rnd.revealed or not rnd.private)

    def on_wall_for(self, idea: Idea, member_id: str | None) -> bool:
        """:meth:`publicly_visible`, as ``member_id`` sees it: a shadow-muted author sees its own
        shadowed ideas as published (nothing tells it that it is shadow-muted)."""
        if not idea.shadowed or member_id is None or member_id != idea.author:
            return self.publicly_visible(idea)
        rnd = self.rounds[idea.round]
        return idea.state == IdeaState.VISIBLE and (rnd.revealed or not rnd.private)

    def seen_on_wall(self, idea: Idea, viewer: str | None) -> bool:
        """Whether ``viewer`` (None: the public) sees ``idea`` on the wall, where a view of its own is made
        for a shadow-muted author from text rules 19 (its themes, "my ideas"); :meth:`publicly_visible`
        before."""
        if self.text_rules < SHADOW_THEME_FIXES:
            return self.publicly_visible(idea)
        return self.on_wall_for(idea, viewer)

    def shadowed_in_theme(self, theme_id: str) -> dict[str, list[str]]:
        """Each shadow-muted author's own shadowed ideas in the theme that it sees on the wall as published
        (text rules 19; empty before), oldest first: its views of the theme hold them."""
        out: dict[str, list[str]] = {}
        if self.text_rules < SHADOW_THEME_FIXES:
            return out
        for idea in self.ideas.values():
            author = idea.author
            if idea.theme != theme_id or not idea.shadowed or author is None:
                continue
            if self.on_wall_for(idea, author):
                out.setdefault(author, []).append(idea.id)
        return out

    def theme_on_wall(self, theme_id: str) -> bool:
        """Whether the theme holds an idea the public sees (a vote on themes takes it)."""
        return any(i.theme == theme_id and self.publicly_visible(i) for i in self.ideas.values())

    def themes_on_wall(self) -> set[str]:
        """:meth:`theme_on_wall` for every theme at once, in one pass over the ideas."""
        return {i.theme for i in self.ideas.values() if i.theme is not None and self.publicly_visible(i)}

    # A shadow-muted member sees its own shadowed ideas as published and may put dots on them (text rules
    # 17, SHADOW_VOTE_FIXES). Nobody but staff and the author learns of those ideas: the public's order,
    # totals, results, progress and credits leave them out; the author's hold them where they would be if
    # they were public, so that nothing in its views differs from those of a member who is not muted.
    def shadowed_walls(self, rnd: Round, viewer: str | None = None) -> dict[str, list[str]]:
        """In a vote on ideas: each author's shadowed ideas that it sees on the wall as published now
        (only ``viewer``'s, if given), in the room's order. Empty before text rules 17. In a vote on
        themes (text rules 19): each author's themes that hold none of the public's ideas but one of
        those, in the room's order."""
        out: dict[str, list[str]] = {}
        if rnd.kind != "vote" or self.text_rules < SHADOW_VOTE_FIXES:
            return out
        if rnd.target == "themes":
            if self.text_rules < SHADOW_THEME_FIXES:
                return out
            on_wall = self.themes_on_wall()
            owners: dict[str, list[str]] = {}  # theme -> its shadow-muted authors, in the ideas' order
            for idea in self.ideas.values():
                theme, author = idea.theme, idea.author
                if theme is None or theme in on_wall or not idea.shadowed or author is None:
                    continue
                if (viewer is None or author == viewer) and self.on_wall_for(idea, author):
                    authors = owners.setdefault(theme, [])
                    if author not in authors:
                        authors.append(author)
            for theme_id in self.themes:
                for author in owners.get(theme_id, ()):
                    out.setdefault(author, []).append(theme_id)
            return out
        for idea in self.ideas.values():
            author = idea.author
            if not idea.shadowed or author is None or (viewer is not None and author != viewer):
                continue
            if self.on_wall_for(idea, author):
                out.setdefault(author, []).append(idea.id)
        return out

    def own_in_vote(self, rnd: Round, viewer: str | None) -> list[str]:
        """``viewer``'s own shadowed ideas in its views of the vote ``rnd``: as recorded when the vote
        closed (``Round.shadow_results``), and while it is open, as they are now."""
        if viewer is None:
            return []
        if rnd.status == RoundStatus.CLOSED:
            return rnd.shadow_results.get(viewer, [])
        return self.shadowed_walls(rnd, viewer).get(viewer, [])

    def kept_from_public(self, rnd: Round) -> set[str]:
        """The targets of ``rnd`` whose dots only staff and their author see: ideas written under a
        shadow mute, as recorded when the vote closed (an idea published after the close does not
        bring the dots of a vote the public saw without them), and while it is open, as they are now."""
        if rnd.status == RoundStatus.CLOSED:
            return {idea_id for ids in rnd.shadow_results.values() for idea_id in ids}
        if rnd.target == "themes":  # (one pass over the ideas, not one per theme: the live progress asks)
            if self.text_rules < SHADOW_THEME_FIXES:
                return set()
            on_wall = self.themes_on_wall()
            return {t for t in rnd.totals if t in self.themes and t not in on_wall}
        return {t for t in rnd.totals if self.shadowed_target(t)}

    def shadowed_target(self, target_id: str) -> bool:
        """Whether a vote's target is an idea written under a shadow mute now, or (text rules 19) a theme
        that holds none of the public's ideas, only such ideas (its dots in an open vote are kept from
        the public: :meth:`kept_from_public`)."""
        theme = self.themes.get(target_id)
        if theme is not None:
            return self.text_rules >= SHADOW_THEME_FIXES and not self.theme_on_wall(target_id)
        idea = self.ideas.get(target_id)
        return idea is not None and idea.shadowed

    def anonymous_credit(self, idea: Idea) -> bool:
        """Whether ``idea``'s credits must name no one but the viewer: its round is anonymous, or an
        idea merged into it (by a merge in effect, at any depth) was written in an anonymous round.
        Naming its co-authors would otherwise tell who wrote that anonymous note."""
        if self.rounds[idea.round].anonymous:
            return True
        if not idea.coauthors or self.text_rules < MERGE_FIXES:
            return False
        seen: set[str] = set()
        todo = [idea.id]
        while todo:
            into = todo.pop()
            for merge in self.merges.values():
                if merge.into != into or merge.undone:
                    continue
                for absorbed in merge.ideas:
                    found = self.ideas.get(absorbed)
                    if found is None or absorbed in seen:
                        continue
                    if self.rounds[found.round].anonymous:
                        return True
                    seen.add(absorbed)
                    todo.append(absorbed)
        return False

    @property
    def credits_private(self) -> bool:
        """Anonymous rooms (or rooms with an anonymous round) credit a participant only to themselves
        and to staff: no public view names contributors."""
        return self.config.anonymous or any(r.anonymous for r in self.rounds.values())

    @property
    def open_evaluation(self) -> Evaluation | None:
        return next((e for e in self.evaluations.values() if e.status == EvaluationStatus.OPEN), None)

    @property
    def open_pulse(self) -> Pulse | None:
        return next((p for p in self.pulses.values() if p.status == PulseStatus.OPEN), None)

    def is_staff(self, member_id: str | None) -> bool:
        member = self.members.get(member_id) if member_id is not None else None
        return member is not None and member.role in STAFF_ROLES

    def credited(self, idea: Idea) -> list[str]:
        """The idea's author and the authors of the ideas merged into it."""
        return [idea.author, *(a for a in idea.coauthors if a != idea.author)]

    def active_vote_round(self) -> Round | None:
        rnd = self.current_round
        if rnd is not None and rnd.kind == "vote" and rnd.status != RoundStatus.CLOSED:
            return rnd
        return None
