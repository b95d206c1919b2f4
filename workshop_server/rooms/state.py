"""The room's state: plain dataclasses, serialisable to and from plain dicts (for snapshots)."""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any, Literal, TypeVar

from workshop_server import errors

Role = Literal["facilitator", "moderator", "participant", "screen"]
ROLES: tuple[Role, ...] = ("facilitator", "moderator", "participant", "screen")
STAFF_ROLES: frozenset[str] = frozenset({"facilitator", "moderator"})
AccessMode = Literal["code", "passphrase", "invite", "approval"]
RoundKind = Literal["ideate", "vote"]
VoteTarget = Literal["ideas", "themes"]
Phase = Literal["lobby", "round_open", "round_paused", "round_closed", "ended"]


# --- Statuses and their transition tables (the model is h11's _state.py) ----------------------------
class RoundStatus(StrEnum):
    OPEN = "open"
    PAUSED = "paused"
    CLOSED = "closed"


class MemberStatus(StrEnum):
    WAITING = "waiting"  # in the approval lobby
    ACTIVE = "active"
    BANNED = "banned"  # removed by a moderator
    REJECTED = "rejected"  # refused at the lobby


class IdeaState(StrEnum):
    VISIBLE = "visible"
    PENDING = "pending"  # in the approval queue
    HIDDEN = "hidden"  # hidden by a moderator
    MERGED = "merged"  # absorbed by another idea (``merged_into``); its authors are credited there


class IdeaStatus(StrEnum):
    """What became of an idea (or a theme): set by staff, public with its history (follow-up)."""

    NEW = "new"
    SHORTLISTED = "shortlisted"
    IN_REVIEW = "in_review"
    ADOPTED = "adopted"
    DECLINED = "declined"
    DONE = "done"


class ReplyState(StrEnum):
    VISIBLE = "visible"
    PENDING = "pending"  # in the approval queue
    HIDDEN = "hidden"  # hidden by a moderator


class EvaluationStatus(StrEnum):
    OPEN = "open"  # jurors score, privately
    CLOSED = "closed"  # results published in the selection log


class PulseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


#: For each status, the statuses a command may move it to. Anything else is ``invalid_transition``.
ROUND_TRANSITIONS: dict[RoundStatus, frozenset[RoundStatus]] = {
    RoundStatus.OPEN: frozenset({RoundStatus.PAUSED, RoundStatus.CLOSED}),
    RoundStatus.PAUSED: frozenset({RoundStatus.OPEN, RoundStatus.CLOSED}),
    RoundStatus.CLOSED: frozenset(),
}
MEMBER_TRANSITIONS: dict[MemberStatus, frozenset[MemberStatus]] = {
    MemberStatus.WAITING: frozenset({MemberStatus.ACTIVE, MemberStatus.REJECTED, MemberStatus.BANNED}),
    MemberStatus.ACTIVE: frozenset({MemberStatus.BANNED}),
    MemberStatus.BANNED: frozenset({MemberStatus.ACTIVE}),
    MemberStatus.REJECTED: frozenset({MemberStatus.ACTIVE, MemberStatus.BANNED}),
}
IDEA_TRANSITIONS: dict[IdeaState, frozenset[IdeaState]] = {
    IdeaState.VISIBLE: frozenset({IdeaState.PENDING, IdeaState.HIDDEN, IdeaState.MERGED}),
    IdeaState.PENDING: frozenset({IdeaState.VISIBLE, IdeaState.HIDDEN}),
    IdeaState.HIDDEN: frozenset({IdeaState.VISIBLE}),
    IdeaState.MERGED: frozenset({IdeaState.VISIBLE}),  # a merge undone
}

#: An idea's follow-up status. ``done`` is final; a decision can be reconsidered (declined -> shortlisted).
STATUS_TRANSITIONS: dict[IdeaStatus, frozenset[IdeaStatus]] = {
    IdeaStatus.NEW: frozenset(
        {IdeaStatus.SHORTLISTED, IdeaStatus.IN_REVIEW, IdeaStatus.ADOPTED, IdeaStatus.DECLINED}
    ),
    IdeaStatus.SHORTLISTED: frozenset(
        {IdeaStatus.NEW, IdeaStatus.IN_REVIEW, IdeaStatus.ADOPTED, IdeaStatus.DECLINED}
    ),
    IdeaStatus.IN_REVIEW: frozenset({IdeaStatus.SHORTLISTED, IdeaStatus.ADOPTED, IdeaStatus.DECLINED}),
    IdeaStatus.ADOPTED: frozenset({IdeaStatus.IN_REVIEW, IdeaStatus.DONE}),
    IdeaStatus.DECLINED: frozenset({IdeaStatus.SHORTLISTED, IdeaStatus.IN_REVIEW}),
    IdeaStatus.DONE: frozenset(),
}
REPLY_TRANSITIONS: dict[ReplyState, frozenset[ReplyState]] = {
    ReplyState.VISIBLE: frozenset({ReplyState.HIDDEN}),
    ReplyState.PENDING: frozenset({ReplyState.VISIBLE, ReplyState.HIDDEN}),
    ReplyState.HIDDEN: frozenset({ReplyState.VISIBLE}),
}
EVALUATION_TRANSITIONS: dict[EvaluationStatus, frozenset[EvaluationStatus]] = {
    EvaluationStatus.OPEN: frozenset({EvaluationStatus.CLOSED}),
    EvaluationStatus.CLOSED: frozenset(),
}
PULSE_TRANSITIONS: dict[PulseStatus, frozenset[PulseStatus]] = {
    PulseStatus.OPEN: frozenset({PulseStatus.CLOSED}),
    PulseStatus.CLOSED: frozenset(),
}

S = TypeVar("S", RoundStatus, MemberStatus, IdeaState, IdeaStatus, ReplyState, EvaluationStatus, PulseStatus)


def can_move(table: dict[S, frozenset[S]], current: S, target: S) -> bool:
    return target in table[current]


def move(table: dict[S, frozenset[S]], current: S, target: S, message: str) -> S:
    """``target`` if the table allows ``current`` -> ``target``, else ``invalid_transition``."""
    if target not in table[current]:
        raise errors.InvalidTransition(message)
    return target


T = TypeVar("T")


#: scrypt cost: 2**14 rounds, r=8, p=1 (16 MiB, tens of milliseconds): the interactive-login figures of
#: the scrypt paper and of OWASP. The parameters are stored with each hash, so they can be raised later.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 14, 8, 1


def hash_passphrase(passphrase: str, salt: str) -> str:
    """A room passphrase's stored form: ``scrypt$N$r$p$<hex>`` (a password KDF, salted per room), of the
    passphrase without its surrounding white space, in Unicode's composed form (NFC): "Café" typed on a
    keyboard that sends the accent as a character of its own is the same passphrase.

    CPU- and memory-hard on purpose: the asyncio shell runs it in a thread, never in a room's batch."""
    digest = _scrypt(_composed(passphrase), salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, 32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${digest}"


def _composed(passphrase: str) -> str:
    return unicodedata.normalize("NFC", passphrase.strip())


def _scrypt(text: str, salt: str, n: int, r: int, p: int, length: int) -> str:
    digest = hashlib.scrypt(
        text.encode("utf-8"), salt=salt.encode("ascii"), n=n, r=r, p=p, dklen=length, maxmem=256 * 1024 * 1024
    )
    return digest.hex()


def passphrase_matches(passphrase: str, salt: str, stored: str, *, composed: bool = True) -> bool:
    """Whether ``passphrase`` is the room's: in its composed form (NFC, as :func:`hash_passphrase` stores
    it), or as typed (a room created before passphrases were composed, with one typed in another form).
    ``composed`` False: as typed only (the room core's check of journals written before the shell
    checked passphrases, which replay as they were). Also reads the single salted SHA-256 of rooms
    created before passphrases used scrypt."""
    typed = passphrase.strip()
    forms = [typed]
    if composed and _composed(passphrase) != typed:
        forms.insert(0, _composed(passphrase))
    if stored.startswith("scrypt$"):
        try:
            _, n, r, p, hex_digest = stored.split("$")
            return any(
                hmac.compare_digest(
                    _scrypt(form, salt, int(n), int(r), int(p), len(hex_digest) // 2), hex_digest
                )
                for form in forms
            )
        except ValueError:
            return False
    return any(
        hmac.compare_digest(hashlib.sha256(f"{salt}\x00{form}".encode()).hexdigest(), stored)
        for form in forms
    )


@dataclass(slots=True)
class Limits:
    """Limits the room core enforces; built from the server settings."""

    idea_text_max: int = 500
    name_max: int = 40
    prompt_max: int = 500
    grace_seconds: float = 2.0
    dedupe_window_seconds: float = 86_400.0
    dedupe_per_member: int = 1000
    dedupe_per_room: int = 0  # stored replies of the whole room; 0: no cap (rooms recorded before it)
    audit_in_snapshot: int = 500
    theme_name_max: int = 60
    reply_text_max: int = 500
    note_text_max: int = 280  # a status change's public note
    announcement_text_max: int = 2000
    comment_text_max: int = 500  # a satisfaction answer's comment
    reason_text_max: int = 500  # a moderation reason (text rules 12 on; before, the schema's 500)
    label_max: int = 100  # an invite's label (text rules 12 on; before, the schema's 100)
    criteria_max: int = 10
    filter_words_max: int = 500
    # How many ideas and replies a room, and one member in it, may hold; 0: no cap. The caps came after
    # rooms were recorded without them: such a room replays without caps until a ``_limits`` command
    # (the server's settings at a load) sets them.
    ideas_per_member_max: int = 0
    ideas_per_room_max: int = 0
    replies_per_member_max: int = 0
    replies_per_room_max: int = 0
    # How many of the word filter's entries the moderation log keeps, the oldest forgotten first; 0: all
    # (rooms recorded before it). Posting a filtered word and withdrawing it, again and again, added an
    # entry each time (the caps on ideas do not count withdrawn ones): 40 MB of room state an hour.
    filter_audit_max: int = 0


@dataclass(slots=True)
class RoomConfig:
    title: str
    brief: str = ""
    rules: str = ""
    rules_version: int = 1
    access: AccessMode = "code"
    passphrase_salt: str = ""
    passphrase_hash: str = ""
    anonymous: bool = False
    locale: str = "en"
    retention_days: int = 90
    brand: str = ""  # the name on staff replies ("the brand takes part"); empty: "Staff"


@dataclass(slots=True)
class Member:
    id: str
    name: str
    role: Role
    status: MemberStatus = MemberStatus.ACTIVE
    joined_at: float = 0.0
    rules_version: int = 0
    consent_at: float = 0.0
    invite: str | None = None
    muted: bool = False
    mute_reason: str = ""
    audience_seq: int = 0  # seq at which the member's audience last changed (its join, admission, unban)
    device: str | None = None  # keyed hash of the browser's device cookie at join (what a ban records)
    juror: bool = False  # joined with a jury invite: scores in evaluations whose jury is "jurors"
    shadow_muted: bool = False  # new ideas and replies seen by the member and staff only
    erased: bool = False  # its personal data was erased (rooms/privacy.py): the name is a pseudonym
    admitted: bool = True  # was let in once (False: waited in the approval lobby and never was)

    def __post_init__(self) -> None:
        self.status = MemberStatus(self.status)  # snapshots hold the plain string
        if self.status == MemberStatus.WAITING:
            self.admitted = False  # (a snapshot older than the field: waiting means never let in yet)


@dataclass(slots=True)
class Idea:
    id: str
    round: str
    author: str
    text: str
    color: str
    created_at: float
    updated_at: float
    state: IdeaState = IdeaState.VISIBLE
    hide_reason: str = ""
    theme: str | None = None  # the theme it is grouped in
    coauthors: list[str] = field(default_factory=list)  # authors of ideas merged into this one
    merged_into: str | None = None  # state MERGED: the idea that absorbed this one
    status: IdeaStatus = IdeaStatus.NEW  # follow-up: what became of it
    history: list[dict[str, Any]] = field(default_factory=list)  # status changes (``status_change``)
    shadowed: bool = False  # posted while its author was shadow-muted: author and staff only
    held: str = ""  # "filter": the word filter sent it to the approval queue

    def __post_init__(self) -> None:
        self.state = IdeaState(self.state)
        self.status = IdeaStatus(self.status)


@dataclass(slots=True)
class Round:
    id: str
    kind: RoundKind
    prompt: str
    duration: int | None
    opened_at: float
    status: RoundStatus = RoundStatus.OPEN
    deadline: float | None = None
    remaining: float | None = None
    closed_at: float | None = None
    revealed: bool = False
    private: bool = False
    anonymous: bool = False
    max_ideas: int | None = None
    budget: int = 3
    max_per_idea: int = 2
    hide_totals: bool = True
    # Vote rounds: member id -> idea id -> dots. ``totals`` is kept in step with ``dots``.
    dots: dict[str, dict[str, int]] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    results: list[dict[str, Any]] | None = None
    target: VoteTarget = "ideas"  # vote rounds: dots go on ideas or on themes
    theme_results: list[dict[str, Any]] | None = None  # vote rounds on ideas: the ranking by theme
    order: list[str] = field(default_factory=list)  # vote rounds: the shared order of the targets
    # Vote rounds on ideas (text rules 17): each shadow-muted author's own ideas that it saw as published
    # when the vote opened; its view of ``order`` holds them (``views.order_for``), nobody else's does.
    shadow_order: dict[str, list[str]] = field(default_factory=dict)
    # ... and its own ideas it saw as published when the vote closed: its results and totals hold them,
    # nobody else's do (``RoomState.kept_from_public``).
    shadow_results: dict[str, list[str]] = field(default_factory=dict)
    # ... and (text rules 19) its own ranking of the themes at the close, with its own shadowed ideas in
    # their themes: a vote on ideas' ``theme_results``, a vote on themes' ``results``.
    shadow_theme_results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.status = RoundStatus(self.status)


@dataclass(slots=True)
class Theme:
    """A named group of ideas. Ideas point to it (``Idea.theme``); the order is the ideas' order."""

    id: str
    name: str
    color: str
    created_at: float
    updated_at: float
    status: IdeaStatus = IdeaStatus.NEW
    history: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.status = IdeaStatus(self.status)


@dataclass(slots=True)
class IdeaReply:
    """A reply on an idea: from a participant, or from staff (shown with the brand's name)."""

    id: str
    idea: str
    author: str
    text: str
    at: float
    staff: bool
    state: ReplyState = ReplyState.VISIBLE
    hide_reason: str = ""
    shadowed: bool = False
    held: str = ""

    def __post_init__(self) -> None:
        self.state = ReplyState(self.state)


@dataclass(slots=True)
class Announcement:
    """A message from staff to the whole room: an ``update`` ("3 ideas adopted...") or a ``thanks``
    naming contributors (``credit``: member ids)."""

    id: str
    kind: Literal["update", "thanks"]
    text: str
    at: float
    actor: str
    credit: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Criterion:
    id: str
    name: str
    description: str
    weight: int


@dataclass(slots=True)
class Evaluation:
    """Jurors score ``ideas`` on ``criteria`` (a copy of the published criteria when it opened), 1 to 5.
    ``scores``: juror -> idea -> criterion id -> score, seen by the juror alone until the close, then by
    staff; ``results`` is published to everyone at the close."""

    id: str
    ideas: list[str]
    criteria: list[dict[str, Any]]
    jury: Literal["staff", "jurors", "staff_and_jurors"]
    opened_at: float
    status: EvaluationStatus = EvaluationStatus.OPEN
    closed_at: float | None = None
    scores: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    results: list[dict[str, Any]] | None = None
    jurors: int = 0  # at the close: the jurors who scored at least one idea

    def __post_init__(self) -> None:
        self.status = EvaluationStatus(self.status)


@dataclass(slots=True)
class Pulse:
    """A satisfaction question answered from 1 to 5 with an optional comment: member -> answer."""

    id: str
    question: str
    opened_at: float
    status: PulseStatus = PulseStatus.OPEN
    closed_at: float | None = None
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.status = PulseStatus(self.status)


@dataclass(slots=True)
class Merge:
    """A merge, kept so that it can be undone: ``into`` absorbed ``ideas``; ``moved`` records the
    dots moved onto ``into`` (voter -> idea they were on -> count) and ``round`` the round current when
    it happened (undo is possible while that round is current and, for a vote round, open)."""

    id: str
    into: str
    ideas: list[str]
    at: float
    actor: str
    round: str | None = None
    moved: dict[str, dict[str, int]] = field(default_factory=dict)
    refunded: dict[str, int] = field(default_factory=dict)  # voter -> dots over the cap, given back
    coauthors: list[str] = field(default_factory=list)  # credited on ``into`` by this merge
    theme_before: str | None = None  # ``into``'s theme before the merge (it may adopt one)
    undone: bool = False


@dataclass(slots=True)
class Invite:
    id: str
    role: Literal["participant", "moderator", "juror"]
    label: str
    created_at: float
    revoked: bool = False
    member: str | None = None  # participant invites bind to the first member who used them


@dataclass(slots=True)
class AuditEntry:
    at: float
    actor: str
    action: str
    target: str
    reason: str = ""


@dataclass(slots=True)
class StoredReply:
    at: float
    result: dict[str, Any]
    command: str = ""  # the command's type ("" in snapshots older than the field: not checked)


def to_plain(obj: Any) -> Any:
    """Dataclass (or dict/list of them) to plain dicts, lists and scalars (statuses as strings)."""
    if hasattr(obj, "__dataclass_fields__"):
        return {k: to_plain(v) for k, v in asdict(obj).items()}
    if isinstance(obj, StrEnum):
        return str(obj.value)
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_plain(v) for v in obj]
    return obj


def from_plain(cls: type[T], data: dict[str, Any]) -> T:
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})
