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
the pseudonym, and the label of its personal invite is emptied. The member's token stops working and
its connections are closed (4103).

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
from workshop_server.rooms.registry import FACILITATOR, INTERNAL, PARTICIPANT, handles
from workshop_server.rooms.state import to_plain


def pseudonym(member_id: str) -> str:
    """The name an erased member gets: tells nothing but that it was a participant."""
    return f"Participant {member_id.removeprefix('m')}"


#: Free-text fields of stored replies that a retention purge blanks (moderation reasons, labels...).
PERSONAL_TEXT = frozenset({"mute_reason", "hide_reason", "reason", "comment", "label"})


def scrub(value: Any, names: dict[str, str], blank: frozenset[str] = frozenset()) -> Any:
    """``value`` (a stored reply's result) with each name in ``names`` replaced by its pseudonym where it
    stands as a word of its own (a name field, or a name quoted in a reason), and the fields in
    ``blank`` emptied. The record itself stays: a resend still gets it, and is still applied once."""
    if isinstance(value, str):
        if value in names:
            return names[value]
        for old, new in names.items():
            if old in value:
                value = _quoted(value, old, new)
        return value
    if isinstance(value, dict):
        return {
            k: "" if k in blank and isinstance(v, str) else scrub(v, names, blank) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(v, names, blank) for v in value]
    return value


def _scrub_replies(room: RoomState, names: dict[str, str], blank: frozenset[str] = frozenset()) -> None:
    for book in room.replies.values():
        for stored in book.values():
            stored.result = scrub(stored.result, names, blank)


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


def _quoted(text: str, old: str, new: str) -> str:
    """``text`` with ``old`` replaced where it stands as a word of its own (a name quoted in a reason)."""
    return re.sub(rf"(?<!\w){re.escape(old)}(?!\w)", new, text)


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
    member.device = None
    # Dedupe records keep their place (a resend is still applied once), with the pseudonym in them.
    _scrub_replies(room, {old: member.name})
    # Moderation reasons that quoted the name quote the pseudonym: the audit's, members' mutes, hidden
    # ideas and replies.
    for entry in room.audit:
        entry.reason = _quoted(entry.reason, old, member.name)
    for other in room.members.values():
        other.mute_reason = _quoted(other.mute_reason, old, member.name)
    for idea in room.ideas.values():
        idea.hide_reason = _quoted(idea.hide_reason, old, member.name)
    for reply in room.idea_replies.values():
        reply.hide_reason = _quoted(reply.hide_reason, old, member.name)
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
    renamed: dict[str, str] = {}
    for member in room.members.values():
        old = member.name
        if member.role == "participant":
            member.name, member.erased = pseudonym(member.id), True
        elif member.role == "moderator":
            moderators += 1
            member.name = f"Moderator {moderators}"
        else:
            member.name = "Facilitator"
        renamed[old] = member.name
        member.device = None
        member.mute_reason = ""
    room.banned_devices.clear()
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
        },
        "ideas": ideas,
        "replies": replies,
        "dots": dots,
        "satisfaction": answers,
        "scores": scores,
        "credited_in": [
            to_plain(a) | {"credit": [member_id]} for a in room.announcements if member_id in a.credit
        ],
    }
