"""Commands: the pydantic models of everything a client can ask a room to do.

These models are the contract of ``protocol.md``. The wire layer validates frames into them, and the room
core dispatches on their class. Lengths that are settings (idea text, names) are enforced by the room
core with their own error codes, not here, so that the limits can change without changing the schema.
Commands whose ``type`` starts with an underscore are internal: the server issues them, they are
journaled like any other, and a client can never send them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

CommandId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="Client-chosen id. A resend with the same id returns the original reply.",
    ),
]
ItemId = Annotated[str, Field(min_length=1, max_length=32, description="Id of an item in the room.")]
Reason = Annotated[
    str,
    Field(
        max_length=10_000,
        description="Why, for the audit log and the person concerned: at most reason_text_max characters "
        "after the text rules (longer is text_too_long).",
    ),
]
Color = Literal["yellow", "pink", "blue", "green", "orange", "purple"]
COLORS: tuple[str, ...] = ("yellow", "pink", "blue", "green", "orange", "purple")
Text = Annotated[str, Field(max_length=100_000)]
RoundRef = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=32,
        description=(
            "The round this command was made in: when another round is current, the command is refused "
            "with round_closed (a command queued offline never lands in the next round)."
        ),
    ),
]


class Command(BaseModel):
    """Base of every command. ``id`` is chosen by the client and echoed in the reply."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    id: CommandId

    @classmethod
    def type_name(cls) -> str:
        """The command's ``type`` on the wire."""
        return str(cls.model_fields["type"].default)


# --- Session commands (handled by the connection, then the room) -------------------------------------
class Join(Command):
    """Join a room as a new participant (or as a moderator, with a moderator invite)."""

    type: Literal["join"] = "join"
    id: str = Field(
        min_length=16,
        max_length=64,
        description="A fresh random id (e.g. a UUID): a resend with it returns the same member and token.",
    )
    room: str = Field(min_length=1, max_length=16, description="The room code.")
    name: Text = Field(description="Display name.")
    accept_rules: int = Field(
        default=0,
        ge=0,
        le=1_000_000,
        description=(
            "Version of the rules and data notice the person accepted. Rules versions start at 1; "
            "omitted or 0 means nothing was accepted, and the join is refused with rules_not_accepted."
        ),
    )
    passphrase: str | None = Field(default=None, max_length=200)
    invite: str | None = Field(default=None, max_length=512, description="Invite token, in invite mode.")


class Auth(Command):
    """Attach this connection to an existing member (or the room screen) with its token, and resume."""

    type: Literal["auth"] = "auth"
    token: str = Field(min_length=1, max_length=512)
    epoch: str | None = Field(default=None, max_length=64, description="Epoch of the last event seen.")
    seq: int | None = Field(default=None, ge=0, le=2**53, description="Seq of the last event processed.")


class Ping(Command):
    """Keep the connection alive; the reply carries the server time."""

    type: Literal["ping"] = "ping"


# --- Rounds (facilitator) ----------------------------------------------------------------------------
class RoundOpen(Command):
    type: Literal["round.open"] = "round.open"
    kind: Literal["ideate", "vote"]
    prompt: Text = Field(description="The question of the round.")
    duration: int | None = Field(
        default=300, ge=10, le=86_400, description="Seconds; null for a round without a timer."
    )
    max_ideas: int | None = Field(default=None, ge=1, le=1000, description="Ideate: ideas per person.")
    private: bool = Field(default=True, description="Ideate: each person sees only their own until reveal.")
    anonymous: bool | None = Field(
        default=None, description="Hide authors from participants; null: room default."
    )
    budget: int = Field(default=3, ge=1, le=100, description="Vote: dots per person.")
    max_per_idea: int = Field(
        default=2, ge=1, le=100, description="Vote: most dots one person puts on one idea."
    )
    hide_totals: bool = Field(default=True, description="Vote: participants see no totals until close.")
    target: Literal["ideas", "themes"] = Field(
        default="ideas", description="Vote: the dots go on ideas or on themes (same budget and cap)."
    )


class RoundPause(Command):
    type: Literal["round.pause"] = "round.pause"
    round: RoundRef = None


class RoundResume(Command):
    type: Literal["round.resume"] = "round.resume"
    round: RoundRef = None


class RoundExtend(Command):
    type: Literal["round.extend"] = "round.extend"
    seconds: int = Field(ge=1, le=3600)
    round: RoundRef = None


class RoundClose(Command):
    type: Literal["round.close"] = "round.close"
    round: RoundRef = None


class RoundReveal(Command):
    type: Literal["round.reveal"] = "round.reveal"
    round: RoundRef = None


class SessionEnd(Command):
    type: Literal["session.end"] = "session.end"


class InviteCreate(Command):
    """A personal invite (``participant``, ``juror``: a participant who also scores in evaluations whose
    jury is ``jurors``) or a shared ``moderator`` invite."""

    type: Literal["invite.create"] = "invite.create"
    role: Literal["participant", "moderator", "juror"] = "participant"
    label: str = Field(
        default="",
        max_length=1000,
        description="Who the invite is for, shown to staff: at most label_max characters after the text "
        "rules, on one line (longer is text_too_long).",
    )


class InviteRevoke(Command):
    type: Literal["invite.revoke"] = "invite.revoke"
    invite: ItemId


# --- Ideas (participants) ----------------------------------------------------------------------------
class IdeaPost(Command):
    type: Literal["idea.post"] = "idea.post"
    text: Text
    color: Color | None = None
    round: RoundRef = None


class IdeaEdit(Command):
    type: Literal["idea.edit"] = "idea.edit"
    idea: ItemId
    text: Text
    color: Color | None = None


class IdeaWithdraw(Command):
    type: Literal["idea.withdraw"] = "idea.withdraw"
    idea: ItemId


class VoteAdd(Command):
    """Place one dot on an idea (``idea``), or on a theme (``theme``) in a round that votes on themes."""

    type: Literal["vote.add"] = "vote.add"
    idea: ItemId | None = None
    theme: ItemId | None = None
    round: RoundRef = None


class VoteRemove(Command):
    """Take one of your dots back from an idea (or a theme)."""

    type: Literal["vote.remove"] = "vote.remove"
    idea: ItemId | None = None
    theme: ItemId | None = None
    round: RoundRef = None


# --- Moderation (moderators and facilitators) ----------------------------------------------------------
class MemberMute(Command):
    type: Literal["member.mute"] = "member.mute"
    member: ItemId
    reason: Reason = ""


class MemberUnmute(Command):
    type: Literal["member.unmute"] = "member.unmute"
    member: ItemId


class MemberRemove(Command):
    """Remove and ban: every connection closes and the token and invite can never rejoin."""

    type: Literal["member.remove"] = "member.remove"
    member: ItemId
    reason: Reason = ""


class MemberUnban(Command):
    type: Literal["member.unban"] = "member.unban"
    member: ItemId


class MemberAdmit(Command):
    type: Literal["member.admit"] = "member.admit"
    member: ItemId


class MemberReject(Command):
    type: Literal["member.reject"] = "member.reject"
    member: ItemId
    reason: Reason = ""


class IdeaHide(Command):
    type: Literal["idea.hide"] = "idea.hide"
    idea: ItemId
    reason: Reason = ""


class IdeaRestore(Command):
    type: Literal["idea.restore"] = "idea.restore"
    idea: ItemId


class IdeaApprove(Command):
    type: Literal["idea.approve"] = "idea.approve"
    idea: ItemId


class FilterSet(Command):
    """Switch the word filter on or off, and replace the room's own words (added to the shipped list of
    the room's language)."""

    type: Literal["filter.set"] = "filter.set"
    enabled: bool | None = None
    languages: list[Annotated[str, Field(max_length=16)]] | None = Field(
        default=None,
        max_length=10,
        description="The shipped lists that apply (en, fr); by default the room's language's.",
    )
    words: list[Annotated[str, Field(max_length=200)]] | None = Field(default=None, max_length=10_000)


class MemberShadowMute(Command):
    """Shadow-mute a participant (``on``), or stop: their new ideas and replies are seen by them and by
    staff only. Nothing tells them."""

    type: Literal["member.shadow_mute"] = "member.shadow_mute"
    member: ItemId
    on: bool = True
    reason: Reason = ""


class MemberErase(Command):
    """Erase a participant's personal data: itself (``member`` omitted or its own id), or, for the
    facilitator, any participant. The name becomes a pseudonym; ideas, dots and tallies stay."""

    type: Literal["member.erase"] = "member.erase"
    member: ItemId | None = None


class RoomSet(Command):
    """Lock the room against new joins, switch the approval queue (ideas and replies) on or off, or
    name the brand shown on staff replies."""

    type: Literal["room.set"] = "room.set"
    locked: bool | None = None
    approval_queue: bool | None = None
    brand: str | None = Field(default=None, max_length=200, description="Shown on staff replies.")


# --- Themes and merges (staff) -------------------------------------------------------------------------
THEME_IDEAS_MAX = 500
"""Ideas one ``theme.create`` or ``theme.assign`` moves at once (a suggested theme is cut to it)."""
IdeaIds = Annotated[list[ItemId], Field(min_length=1, max_length=THEME_IDEAS_MAX, description="Idea ids.")]


class ThemeCreate(Command):
    """Create a theme, optionally with the ideas it groups."""

    type: Literal["theme.create"] = "theme.create"
    name: Text
    color: Color | None = None
    ideas: list[ItemId] = Field(default_factory=list, max_length=THEME_IDEAS_MAX)


class ThemeUpdate(Command):
    """Rename or recolour a theme."""

    type: Literal["theme.update"] = "theme.update"
    theme: ItemId
    name: Text | None = None
    color: Color | None = None


class ThemeDissolve(Command):
    """Delete a theme; its ideas become ungrouped (nothing else changes)."""

    type: Literal["theme.dissolve"] = "theme.dissolve"
    theme: ItemId


class ThemeAssign(Command):
    """Move ideas into a theme, or out of any theme with ``theme`` null."""

    type: Literal["theme.assign"] = "theme.assign"
    theme: ItemId | None
    ideas: IdeaIds


class IdeaMerge(Command):
    """Merge duplicates: ``ideas`` are absorbed by ``into``, whose authors all stay credited."""

    type: Literal["idea.merge"] = "idea.merge"
    into: ItemId
    ideas: Annotated[list[ItemId], Field(min_length=1, max_length=50)]


class IdeaUnmerge(Command):
    """Undo a merge (see protocol.md for when it can be undone)."""

    type: Literal["idea.unmerge"] = "idea.unmerge"
    merge: ItemId


class ThemesSuggest(Command):
    """Ask the server for suggested themes. Handled by the connection (off the room's batch); the reply
    carries proposals, and nothing changes until staff send ``theme.create`` with the groups they keep."""

    type: Literal["themes.suggest"] = "themes.suggest"
    max_groups: int | None = Field(default=None, ge=1, le=100)


class RoomSpotlight(Command):
    """Show one idea (or one theme) full screen on every room screen; neither: back to the wall."""

    type: Literal["room.spotlight"] = "room.spotlight"
    idea: ItemId | None = None
    theme: ItemId | None = None


class RoomRotateLinks(Command):
    """Replace the staff links: the old facilitator token, moderator invite and screen token stop
    working at once, and their connections are closed (the sender's own gets the new links)."""

    type: Literal["room.rotate_links"] = "room.rotate_links"


# --- Follow-up: statuses, replies, announcements, selection, the satisfaction pulse ---------------------
Status = Literal["new", "shortlisted", "in_review", "adopted", "declined", "done"]
Note = Annotated[str, Field(max_length=100_000, description="A short public note.")]


class IdeaStatusSet(Command):
    """Set what became of an idea, or of a theme (and the ideas in it), with a short public note.
    Allowed transitions: protocol.md's status table."""

    type: Literal["idea.status"] = "idea.status"
    idea: ItemId | None = None
    theme: ItemId | None = None
    status: Status
    note: Note = ""


class ReplyPost(Command):
    """Reply to a visible idea. Staff replies carry the brand's name."""

    type: Literal["reply.post"] = "reply.post"
    idea: ItemId
    text: Text


class ReplyHide(Command):
    type: Literal["reply.hide"] = "reply.hide"
    reply: ItemId
    reason: Reason = ""


class ReplyRestore(Command):
    type: Literal["reply.restore"] = "reply.restore"
    reply: ItemId


class ReplyApprove(Command):
    type: Literal["reply.approve"] = "reply.approve"
    reply: ItemId


class RoomAnnounce(Command):
    """A message from staff to the whole room, shown on everyone's "my ideas" page: an ``update``, or a
    ``thanks`` that may name contributors (``credit``: member ids)."""

    type: Literal["room.announce"] = "room.announce"
    kind: Literal["update", "thanks"] = "update"
    text: Text
    credit: list[ItemId] = Field(default_factory=list, max_length=50)


class CriterionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str = Field(min_length=1, max_length=60)
    description: str = Field(default="", max_length=280)
    weight: int = Field(default=1, ge=1, le=10)


class CriteriaSet(Command):
    """Publish the selection criteria (replacing the previous ones), before an evaluation opens."""

    type: Literal["criteria.set"] = "criteria.set"
    criteria: list[CriterionSpec] = Field(min_length=1, max_length=100)


class MemberJury(Command):
    """Name a participant a juror (or no longer one), as a jury invite does."""

    type: Literal["member.jury"] = "member.jury"
    member: ItemId
    juror: bool = True


class EvaluationOpen(Command):
    """Open an evaluation of ``ideas`` (default: every shortlisted idea), which move to ``in_review``.
    ``jury``: the facilitator and moderators, the jurors (jury invite or ``member.jury``), or both."""

    type: Literal["evaluation.open"] = "evaluation.open"
    ideas: list[ItemId] | None = Field(default=None, max_length=500)
    jury: Literal["staff", "jurors", "staff_and_jurors"] = "staff"


class EvaluationScore(Command):
    """A juror's scores for one idea: criterion id -> 1 to 5, every criterion. Scoring again replaces."""

    type: Literal["evaluation.score"] = "evaluation.score"
    idea: ItemId
    scores: dict[str, int] = Field(min_length=1, max_length=100)


class EvaluationClose(Command):
    """Close the open evaluation and publish its weighted results in the selection log."""

    type: Literal["evaluation.close"] = "evaluation.close"


class PulseOpen(Command):
    """Ask the satisfaction question (one at a time)."""

    type: Literal["pulse.open"] = "pulse.open"
    question: Text = ""


class PulseAnswer(Command):
    """Answer the open satisfaction question from 1 to 5. Answering again replaces the answer."""

    type: Literal["pulse.answer"] = "pulse.answer"
    score: int
    comment: Text = ""


class PulseClose(Command):
    type: Literal["pulse.close"] = "pulse.close"


#: Commands the connection handles itself; every other client command is in the handler registry
#: (rooms/registry.py), from which ``workshop_server.rooms.ClientCommand`` is derived.
SESSION_COMMANDS: tuple[type[Command], ...] = (Join, Auth, Ping, ThemesSuggest)


# --- Internal commands: issued by the server, journaled, never accepted from a client ----------------
class Enter(Command):
    """A join, after the server verified the invite token (``invite`` is then an invite id).

    ``id`` is the keyed hash of the client's join id (never the id itself, which works as a credential).
    ``generation`` is the staff-link generation of the invite token; ``device`` the keyed hash, for this
    room, of the browser's signed device cookie, when the connection carried one.
    """

    type: Literal["_enter"] = "_enter"
    name: str
    accept_rules: int
    passphrase: str | None = None  # journals written before 0.2 only: the shell now checks it
    passphrase_ok: bool | None = None  # the shell's scrypt check of the passphrase, for passphrase rooms
    max_members: int | None = None  # the member cap in force (recorded, so replays decide the same)
    invite: str | None = None
    generation: int = 0
    device: str | None = None


class SetLimits(Command):
    """The server's limits changed (settings at a restart): from this command on, the room is handled
    under these. Journaled, so that a replay applies every command under the limits it met."""

    type: Literal["_limits"] = "_limits"
    idea_text_max: int
    name_max: int
    grace_seconds: float
    dedupe_window_seconds: float
    dedupe_per_member: int
    # The follow-up's limits (journals written before them have none: the defaults apply).
    reply_text_max: int = 500
    note_text_max: int = 280
    announcement_text_max: int = 2000
    comment_text_max: int = 500
    reason_text_max: int = 500  # (journals written before these two: the schema's caps then)
    label_max: int = 100
    criteria_max: int = 10
    filter_words_max: int = 500
    # The caps on ideas and replies (journals written before them have none: no cap, 0).
    ideas_per_member_max: int = 0
    ideas_per_room_max: int = 0
    replies_per_member_max: int = 0
    replies_per_room_max: int = 0
    dedupe_per_room: int = 0
    filter_audit_max: int = 0


class Tick(Command):
    """The clock moved: close a round whose deadline (plus grace) has passed."""

    type: Literal["_tick"] = "_tick"


class Presence(Command):
    """Members came online or went offline in one worker since its last presence command.

    Presence is counted per worker: a member is online while any worker has a connection of it, and
    ``screens`` is the worker's own count. ``reset`` forgets every worker's presence first (a room just
    loaded: nobody is connected to it yet); ``exact`` replaces the worker's presence with ``came`` and
    ``screens``. The owner sends ``left`` with every member of a worker that died."""

    type: Literal["_presence"] = "_presence"
    came: tuple[str, ...] = ()
    left: tuple[str, ...] = ()
    screens: int = 0
    worker: str = ""
    reset: bool = False
    exact: bool = False  # the worker's members are exactly ``came`` (a worker that attached again)


class Purge(Command):
    """The room's retention period ended: ``room`` deletes it whole; ``personal`` keeps the room without
    personal data (every name a pseudonym, no device keys, comments, labels or dedupe records)."""

    type: Literal["_purge"] = "_purge"
    mode: Literal["room", "personal"]


class BeginEpoch(Command):
    """A worker took the room over: the events it journals from now on are of ``epoch`` (the fencing
    token: the journal refuses appends of an older epoch). Seqs go on from where they were."""

    type: Literal["_epoch"] = "_epoch"
    epoch: str = Field(max_length=32)
