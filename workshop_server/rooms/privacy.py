"""Personal data: a member's own data (access), and erasure.

**Access.** :func:`my_data` is everything the room holds about one member, as plain data: what it
typed (name, ideas, replies, satisfaction answers, scores), what it chose (its dots), and when it joined
and accepted the rules and the data notice. The member downloads it with its own token.

**Erasure** (``member.erase``): a participant erases itself, or the facilitator erases a participant
who asked by other means. The member's name is replaced by a pseudonym (``Participant 7``) everywhere
the room shows it: authorship of ideas and replies, credits of merges, jurors' score sheets, thanks
and the contributors list. The room keeps its integrity: ideas, dots and tallies stay, and a merged
idea keeps its other authors. Its device key goes from its member record (a removed member's stays in
the ban list, so that the ban holds; the retention purge clears it), the dedupe records' stored replies
carry the pseudonym instead of the name (they stay: a resend is still applied once), moderation reasons
that quoted the name (as a word of its own: the audit's, mutes', hidden ideas' and replies') now quote
the pseudonym, and the label of its personal invite is emptied. Only the member's own name fields and
the reasons staff typed are rewritten (:func:`scrub`, :func:`_quoted`): never another member's name, a
theme's, a text someone typed, a field's name or a value the server set (a state, a role, a colour, the
jury's kind, a held word...), even when it is spelled like the erased name. The member's token stops
working and its connections are closed (4103).

The core cannot reach the copies outside the state: the ``compact`` effect asks the shell to start a
new epoch whose journal holds only a snapshot of the erased state (old entries, snapshots, the resume
buffer and other workers' catch-up buffers are dropped, the database's free pages and WAL overwritten).
"""

from __future__ import annotations

import re
from typing import Any

from workshop_server import errors
from workshop_server.close_codes import CloseCode
from workshop_server.rooms import commands as c
from workshop_server.rooms import followup_views as fv
from workshop_server.rooms import views
from workshop_server.rooms.events import PUBLIC, STAFF, Data, Effect, EventName
from workshop_server.rooms.model import RoomState
from workshop_server.rooms.moderation import AUTHOR_REMOVED
from workshop_server.rooms.registry import FACILITATOR, INTERNAL, PARTICIPANT, handles
from workshop_server.rooms.state import MemberStatus, to_plain
from workshop_server.rooms.text import ERASED_RECORDS_FIXES, ERASURE_FIXES


def pseudonym(member_id: str) -> str:
    """The name an erased member gets: tells nothing but that it was a participant."""
    return f"Participant {member_id.removeprefix('m')}"


#: Free-text fields of stored replies that a retention purge blanks (moderation reasons, labels...).
PERSONAL_TEXT = frozenset({"mute_reason", "hide_reason", "reason", "comment", "label"})
#: The fields of the views that hold a member's display name, each with the fields beside it that hold
#: that member's id (a view names a member only next to its id). A name field whose view has none of
#: them is a theme's or a criterion's (``{"theme": id, "name": ...}``), except ``author_name`` and
#: ``by_name``, which only ever name members (an announcement's ``by_name`` has no ``by``).
NAME_FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("id", "member", "juror"),
    "author_name": ("author",),
    "by_name": ("by",),
}
#: Only members' names, even without their id beside them.
MEMBER_NAME_FIELDS = frozenset({"author_name", "by_name"})
#: Fields of the views that hold a reason staff typed, which may quote a member's name.
QUOTING_FIELDS = frozenset({"mute_reason", "hide_reason"})
#: Audit actions whose reason staff typed (the other actions' reasons are values the server set: the
#: jury's kind, the filter's summary, a held word, the criteria's names, an invite's label).
QUOTING_ACTIONS = frozenset(
    {
        "member.muted",
        "member.removed",
        "member.rejected",
        "member.shadow_mute",
        "member.shadow_unmute",
        "idea.hidden",
        "reply.hidden",
    }
)

#: Renamed members: member id -> (the name it had, the name it has now).
Renamed = dict[str, tuple[str, str]]


def scrub(value: Any, renamed: Renamed, blank: frozenset[str] = frozenset()) -> Any:
    """``value`` (a stored reply's result) with each renamed member's old name replaced by its new one
    in its own name fields (:data:`NAME_FIELDS`: ``name`` next to its ``id``, ``author_name`` next to its
    ``author``...) and where a reason staff typed quotes it as a word of its own (:data:`QUOTING_FIELDS`,
    the audit entries' reasons of :data:`QUOTING_ACTIONS`), and the fields in ``blank`` emptied. Nothing
    else changes: a field's name, another member's name, a theme's name, a text someone typed, a value
    the server set ("visible", "juror", a colour...) stay, even when they are spelled like the name. The
    record itself stays: a resend still gets it, and is still applied once."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in blank and isinstance(item, str):
                out[key] = ""
            elif isinstance(item, str):
                out[key] = _scrub_field(value, key, item, renamed)
            else:
                out[key] = scrub(item, renamed, blank)
        return out
    if isinstance(value, list | tuple):
        return [scrub(item, renamed, blank) for item in value]
    return value


def _scrub_field(view: dict[str, Any], key: str, text: str, renamed: Renamed) -> str:
    """The string field ``key`` of ``view``, renamed members' names replaced as :func:`scrub` says."""
    if key in NAME_FIELDS:
        ids = [str(view[k]) for k in NAME_FIELDS[key] if k in view]
        if ids:  # the name of the member whose id is beside it (a view may also carry its own id)
            return next((renamed[m][1] for m in ids if m in renamed and renamed[m][0] == text), text)
        if key in MEMBER_NAME_FIELDS:
            return next((new for old, new in renamed.values() if text == old), text)
        return text
    if key in QUOTING_FIELDS or (key == "reason" and view.get("action") in QUOTING_ACTIONS):
        return _requote(text, renamed)
    return text


def _requote(text: str, renamed: Renamed) -> str:
    """A reason staff typed with the renamed members' names quoted in it replaced (not the reason the
    server gives the ideas of a removed member)."""
    if text == AUTHOR_REMOVED:
        return text
    for old, new in renamed.values():
        text = _quoted(text, old, new)
    return text


def legacy_scrub(value: Any, names: dict[str, str], blank: frozenset[str] = frozenset()) -> Any:
    """:func:`scrub` before text rules :data:`ERASURE_FIXES` (replays only): every string equal to an old
    name in ``names`` anywhere, and the name as a word of its own in every other string."""
    if isinstance(value, str):
        if value in names:
            return names[value]
        for old, new in names.items():
            value = _quoted(value, old, new)
        return value
    if isinstance(value, dict):
        return {
            k: "" if k in blank and isinstance(v, str) else legacy_scrub(v, names, blank)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [legacy_scrub(v, names, blank) for v in value]
    return value


def _scrub_replies(room: RoomState, renamed: Renamed, blank: frozenset[str] = frozenset()) -> None:
    fixed = room.text_rules >= ERASURE_FIXES
    names = {old: new for old, new in renamed.values()}
    for book in room.replies.values():
        for stored in book.values():
            if fixed:
                stored.result = scrub(stored.result, renamed, blank)
            else:
                stored.result = legacy_scrub(stored.result, names, blank)


def _unlabel(value: Any, invite_id: str) -> Any:
    """``value`` (a stored reply's result) with the label of the invite ``invite_id`` emptied."""
    if isinstance(value, dict):
        out = {k: _unlabel(v, invite_id) for k, v in value.items()}
        if out.get("id") == invite_id and isinstance(out.get("label"), str):
            out["label"] = ""
        if out.get("action") == "invite.create" and out.get("target") == invite_id:
            out["reason"] = ""
        return out
    if isinstance(value, list | tuple):
        return [_unlabel(v, invite_id) for v in value]
    return value


_IDEA_ID = re.compile(r"i\d+")


def _retext(value: Any, author: str, room: RoomState) -> Any:
    """``value`` (a stored reply's result) with each idea ``author`` wrote showing its text of now: a
    text it replaced by an edit goes, and so does the text of an idea it withdrew (text rules 20)."""
    if isinstance(value, dict):
        out = {k: _retext(v, author, room) for k, v in value.items()}
        key, text = out.get("id"), out.get("text")
        # An idea's id (a reply it wrote keeps its text, as the room does).
        ideas = isinstance(key, str) and _IDEA_ID.fullmatch(key) is not None
        if ideas and out.get("author") == author and isinstance(text, str):
            idea = room.ideas.get(str(key))
            out["text"] = idea.text if idea is not None else ""
        return out
    if isinstance(value, list | tuple):
        return [_retext(v, author, room) for v in value]
    return value


def _quoted(text: str, old: str, new: str) -> str:
    """``text`` with ``old`` replaced where it stands as a word of its own (a name quoted in a reason):
    exactly as spelled (case included), with no letter, digit or ``_`` right before or after it."""
    if not old or old not in text:
        return text
    return re.sub(rf"(?<!\w){re.escape(old)}(?!\w)", lambda _: new, text)


@handles(c.MemberErase, roles=PARTICIPANT | FACILITATOR, after_end=True)
def erase(room: RoomState, cmd: c.MemberErase, actor: str | None, now: float) -> Data:
    assert actor is not None
    target_id = cmd.member or actor
    if not room.is_staff(actor) and target_id != actor:
        raise errors.Forbidden("you can only erase your own data")
    member = room.members.get(target_id)
    if member is None:
        raise errors.NotFound("no such member")
    if member.role != "participant":
        raise errors.Forbidden("only participants' data is erased this way")
    if member.erased:
        raise errors.InvalidTransition("this member's data was already erased")
    old = member.name
    member.name = pseudonym(member.id)
    member.erased = True
    records = room.text_rules >= ERASED_RECORDS_FIXES
    if not (records and member.status == MemberStatus.BANNED):
        member.device = None  # (a removed member's stays, as in the ban list, for an unban to lift)
    renamed = {member.id: (old, member.name)}
    if records:
        # Its stored replies go: they hold texts it withdrew or replaced, and its token sends nothing more.
        # In the others' (staff's answers that show its ideas), its ideas' texts are those of now.
        room.replies.pop(member.id, None)
        for book in room.replies.values():
            for stored in book.values():
                stored.result = _retext(stored.result, member.id, room)
    # The other dedupe records keep their place (a resend is still applied once), with the pseudonym in them.
    _scrub_replies(room, renamed)
    # Moderation reasons staff typed that quoted the name quote the pseudonym: the audit's, members'
    # mutes, hidden ideas and replies (not the audit's other reasons: values the server set).
    fixed = room.text_rules >= ERASURE_FIXES
    requote = _requote if fixed else lambda text, _: _quoted(text, old, member.name)
    for entry in room.audit:
        if entry.action in QUOTING_ACTIONS or not fixed:
            entry.reason = requote(entry.reason, renamed)
    for other in room.members.values():
        other.mute_reason = requote(other.mute_reason, renamed)
    for idea in room.ideas.values():
        idea.hide_reason = requote(idea.hide_reason, renamed)
    for reply in room.idea_replies.values():
        reply.hide_reason = requote(reply.hide_reason, renamed)
    for invite in room.invites.values():
        if invite.member == member.id:
            invite.label = ""  # a personal invite's label names whom it was for
            # ... and so do its copies: the invite.create audit entry's reason and its stored reply.
            for entry in room.audit:
                if entry.action == "invite.create" and entry.target == invite.id:
                    entry.reason = ""
            for book in room.replies.values():
                for stored in book.values():
                    stored.result = _unlabel(stored.result, invite.id)
    # The audit keeps that an erasure happened, not whose name it was.
    audit = room.audit_entry(actor if actor != member.id else None, "member.erase", member.id, "", now)
    data = {"member": member.id, "name": member.name}
    room.emit(EventName.MEMBER_ERASED, {STAFF: {**data, "audit": audit}, PUBLIC: data}, now)
    room.effect(Effect("close", member.id, CloseCode.TOKEN_REVOKED, "your data was erased", after=room.seq))
    room.effect(Effect("compact", member.id))
    return data


@handles(c.Purge, roles=INTERNAL, journal=True)
def purge(room: RoomState, cmd: c.Purge, actor: str | None, now: float) -> Data:
    """The retention period ended (the shell decides when, from the room's creation and
    ``retention_days``). ``room``: close every connection (4102) and delete the room. ``personal``: keep
    the ideas, dots and results, without any personal data; participants' tokens stop working."""
    if cmd.mode == "room":
        data = {"mode": "room"}
        room.emit(EventName.ROOM_PURGED, {STAFF: data, PUBLIC: data}, now)
        reason = "this room's retention period ended: it was deleted"
        room.effect(Effect("close_all", "", CloseCode.ROOM_DELETED, reason, after=room.seq))
        room.effect(Effect("delete", ""))
        return data
    if room.purged:
        return {"mode": room.purged}  # already done (another worker's schedule, or by hand)
    moderators = 0
    renamed: Renamed = {}
    for member in room.members.values():
        old = member.name
        if member.role == "participant":
            member.name, member.erased = pseudonym(member.id), True
        elif member.role == "moderator":
            moderators += 1
            member.name = f"Moderator {moderators}"
        else:
            member.name = "Facilitator"
        renamed[member.id] = (old, member.name)
        member.device = None
        member.mute_reason = ""
    room.banned_devices.clear()
    if room.text_rules >= ERASED_RECORDS_FIXES:
        room.replies.clear()  # an archive from now on: nothing to answer again, and texts nobody sees
    _scrub_replies(room, renamed, PERSONAL_TEXT)
    for entry in room.audit:
        entry.reason = ""
    for invite in room.invites.values():
        invite.label = ""
    for idea in room.ideas.values():
        idea.hide_reason = ""
    for reply in room.idea_replies.values():
        reply.hide_reason = ""
    _rename_deciders(room)
    for pulse in room.pulses.values():
        for answer in pulse.answers.values():
            answer["comment"] = ""
    room.purged = "personal"
    data = {"mode": "personal"}
    room.emit(EventName.ROOM_PURGED, {STAFF: data, PUBLIC: data}, now)
    for member in room.members.values():
        if member.erased:
            reason = "this room's retention period ended: personal data was deleted"
            room.effect(Effect("close", member.id, CloseCode.ROOM_DELETED, reason, after=room.seq))
    room.effect(Effect("compact", ""))
    return data


def _rename_deciders(room: RoomState) -> None:
    """Status histories keep the name of the staff member who decided as it was then: give them the
    name the member has now (its pseudonym after a purge)."""
    histories = [idea.history for idea in room.ideas.values()]
    histories += [theme.history for theme in room.themes.values()]
    for history in histories:
        for change in history:
            decider = room.members.get(str(change.get("by")))
            if decider is not None and "by_name" in change:
                change["by_name"] = decider.name


#: Audit actions about a member that it is never told of (``rooms/triage.py``).
SHADOW_ACTIONS = frozenset({"member.shadow_mute", "member.shadow_unmute"})
#: The moderation log's actions on a member's ideas and replies that ``my-data`` gives it, with their reasons.
HIDE_ACTIONS = frozenset({"idea.hidden", "reply.hidden"})


def my_data(room: RoomState, member_id: str) -> Data:
    """Everything the room holds about one member (the right of access), as plain data."""
    member = room.members[member_id]
    ideas = [
        {
            **views.idea_own(room, idea, member_id),
            "role": "author" if idea.author == member_id else "coauthor",
        }
        for idea in room.ideas.values()
        if member_id in room.credited(idea)
    ]
    replies = [fv.reply_own(room, r) for r in room.idea_replies.values() if r.author == member_id]
    dots = [
        {"round": rnd.id, "target": rnd.target, "dots": dict(rnd.dots[member_id])}
        for rnd in room.rounds.values()
        if rnd.kind == "vote" and rnd.dots.get(member_id)
    ]
    answers = [
        {"pulse": p.id, "question": p.question, **p.answers[member_id]}
        for p in room.pulses.values()
        if member_id in p.answers
    ]
    scores = [
        {"evaluation": e.id, "idea": idea_id, "scores": dict(sheet)}
        for e in room.evaluations.values()
        for idea_id, sheet in e.scores.get(member_id, {}).items()
    ]
    own_content = {i.id for i in room.ideas.values() if i.author == member_id} | {
        r.id for r in room.idea_replies.values() if r.author == member_id
    }
    invite = room.invites.get(member.invite) if member.invite is not None else None
    return {
        "room": {"id": room.id, "title": room.config.title, "retention_days": room.config.retention_days},
        "member": {
            "id": member.id,
            "name": member.name,
            "role": member.role,
            "joined_at": member.joined_at,
            "rules_version": member.rules_version,
            "consent_at": member.consent_at,
            "juror": member.juror,
            "erased": member.erased,
            "status": str(member.status),
            "muted": member.muted,
            "mute_reason": member.mute_reason,
            # What staff wrote about it on its personal invite ("for Zoé, the mayor's assistant").
            "invite_label": invite.label if invite is not None else "",
        },
        # What moderators did about it, with their reasons (the member hears of each as it happens); the
        # shadow mute is left out, as from every view of the member's own (the measure only works unseen).
        "moderation": [
            {"action": a.action, "at": a.at, "reason": a.reason}
            for a in room.audit
            if a.target == member_id and a.action not in SHADOW_ACTIONS
        ]
        # ... and the reasons they gave for hiding its ideas and replies, kept after a restore (the
        # author saw each hide as it happened, shadowed ideas' too).
        + [
            {"action": a.action, "at": a.at, "reason": a.reason, "target": a.target}
            for a in room.audit
            if a.action in HIDE_ACTIONS and a.target in own_content
        ],
        "ideas": ideas,
        "replies": replies,
        "dots": dots,
        "satisfaction": answers,
        "scores": scores,
        "credited_in": [
            to_plain(a) | {"credit": [member_id]} for a in room.announcements if member_id in a.credit
        ],
    }
