"""Moderation: mute, remove (ban), unban, the approval lobby, hiding and approving ideas, room settings.

Every act leaves an audit entry. Member statuses move along
:data:`~workshop_server.rooms.state.MEMBER_TRANSITIONS`, idea states along ``IDEA_TRANSITIONS``.
"""

from __future__ import annotations

from workshop_server import errors
from workshop_server.close_codes import CloseCode
from workshop_server.rooms import commands as c
from workshop_server.rooms import followup_views, views, votes
from workshop_server.rooms.events import PUBLIC, STAFF, Data, Effect, EventName, member_key
from workshop_server.rooms.model import RoomState
from workshop_server.rooms.registry import EVERY_STAFF, handles
from workshop_server.rooms.state import (
    IDEA_TRANSITIONS,
    MEMBER_TRANSITIONS,
    REPLY_TRANSITIONS,
    Idea,
    IdeaState,
    Member,
    MemberStatus,
    ReplyState,
    move,
)
from workshop_server.rooms.text import (
    ERASED_RECORDS_FIXES,
    RULE_FIXES,
    SELF_ERASE_FIXES,
    SHADOW_FIXES,
    SHADOW_THEME_FIXES,
    SHADOW_VOTE_FIXES,
)

#: The hide reason the server gives the ideas and replies a removed member left in the approval queue.
AUTHOR_REMOVED = "its author was removed"


def _target(room: RoomState, member_id: str) -> Member:
    member = room.members.get(member_id)
    if member is None:
        raise errors.NotFound("no such member")
    if member.role == "facilitator":
        raise errors.Forbidden("the facilitator cannot be moderated")
    return member


def _moderated(
    room: RoomState, name: EventName, member: Member, actor: str | None, reason: str, now: float
) -> Data:
    entry = room.audit_entry(actor, str(name.value), member.id, reason, now)
    staff = {"member": views.staff_member_view(room, member), "audit": entry}
    own = {"member": views.member_view(room, member), "reason": reason}
    room.emit(name, {STAFF: staff, member_key(member.id): own}, now)
    return {"member": views.staff_member_view(room, member)}


def _leave(room: RoomState, member_id: str, now: float) -> None:
    room.online.discard(member_id)
    for members in room.where.values():
        members.discard(member_id)
    counts = views.presence_view(room)
    room.emit(EventName.PRESENCE, {STAFF: {**counts, "came": [], "left": [member_id]}, PUBLIC: counts}, now)


@handles(c.MemberMute, roles=EVERY_STAFF, after_end=True)
def mute(room: RoomState, cmd: c.MemberMute, actor: str | None, now: float) -> Data:
    member = _target(room, cmd.member)
    if member.muted:
        raise errors.InvalidTransition("already muted")
    member.muted, member.mute_reason = True, room.clean_reason(cmd.reason)
    return _moderated(room, EventName.MEMBER_MUTED, member, actor, member.mute_reason, now)


@handles(c.MemberUnmute, roles=EVERY_STAFF, after_end=True)
def unmute(room: RoomState, cmd: c.MemberUnmute, actor: str | None, now: float) -> Data:
    member = _target(room, cmd.member)
    if member.id == actor and room.text_rules >= RULE_FIXES:
        raise errors.Forbidden("you cannot lift your own mute: ask another moderator or the facilitator")
    if not member.muted:
        raise errors.InvalidTransition("not muted")
    member.muted, member.mute_reason = False, ""
    return _moderated(room, EventName.MEMBER_UNMUTED, member, actor, "", now)


@handles(c.MemberRemove, roles=EVERY_STAFF, after_end=True)
def remove(room: RoomState, cmd: c.MemberRemove, actor: str | None, now: float) -> Data:
    member = _target(room, cmd.member)
    if member.status == MemberStatus.BANNED:
        raise errors.InvalidTransition("already removed")
    if member.id == actor:
        raise errors.Forbidden("you cannot remove yourself")
    reason = room.clean_reason(cmd.reason)
    # A personal invite stays bound to this member, so it cannot rejoin.
    member.status = move(MEMBER_TRANSITIONS, member.status, MemberStatus.BANNED, "already removed")
    if member.device is not None:  # and in code and passphrase rooms, this browser cannot rejoin
        room.banned_devices.add(member.device)
    votes.refund_member(room, member.id, now)
    result = _moderated(room, EventName.MEMBER_REMOVED, member, actor, reason, now)
    after = room.seq  # the member's connections get their removal, then nothing more
    # What it left waiting in the approval queue leaves it: hidden, so moderators see why.
    for idea in [i for i in room.ideas.values() if i.author == member.id and i.state == IdeaState.PENDING]:
        idea.state = move(IDEA_TRANSITIONS, idea.state, IdeaState.HIDDEN, "not pending")
        idea.hide_reason = AUTHOR_REMOVED
        room.emit(EventName.IDEA_HIDDEN, views.idea_views(room, idea), now)
    for reply in [
        r for r in room.idea_replies.values() if r.author == member.id and r.state == ReplyState.PENDING
    ]:
        reply.state = move(REPLY_TRANSITIONS, reply.state, ReplyState.HIDDEN, "not pending")
        reply.hide_reason = AUTHOR_REMOVED
        own = {"reply": followup_views.reply_own(room, reply)}
        room.emit(
            EventName.REPLY_HIDDEN,
            {STAFF: {"reply": followup_views.reply_full(room, reply)}, member_key(member.id): own},
            now,
        )
    _leave(room, member.id, now)
    room.effect(Effect("close", member.id, CloseCode.REMOVED, reason, after=after))
    return result


@handles(c.MemberUnban, roles=EVERY_STAFF, after_end=True)
def unban(room: RoomState, cmd: c.MemberUnban, actor: str | None, now: float) -> Data:
    member = _target(room, cmd.member)
    if member.status not in (MemberStatus.BANNED, MemberStatus.REJECTED):
        raise errors.InvalidTransition("this member is not banned")
    was_rejected = member.status == MemberStatus.REJECTED
    member.status = move(MEMBER_TRANSITIONS, member.status, MemberStatus.ACTIVE, "not banned")
    member.admitted = True
    device = member.device
    if device is not None and not any(
        m.device == device and m.status == MemberStatus.BANNED for m in room.members.values()
    ):
        room.banned_devices.discard(device)
    if member.erased and room.text_rules >= ERASED_RECORDS_FIXES:
        member.device = None  # kept through its erasure for this unban only
    result = _moderated(room, EventName.MEMBER_UNBANNED, member, actor, "", now)
    if was_rejected or room.text_rules >= RULE_FIXES:
        # Perhaps never admitted (rejected, or removed from the lobby), and all its connections were
        # closed: like an admission, its public history starts now, so a resume from an older seq gets
        # a snapshot, not a replay that misses what came before.
        member.audience_seq = room.seq
    return result


def _waiting(room: RoomState, member_id: str) -> Member:
    """The member waiting in the approval lobby that ``member_id`` names. One that erased its data while
    waiting (or was erased) left the lobby: nobody is left to admit, and its token works no more."""
    member = _target(room, member_id)
    if member.status != MemberStatus.WAITING:
        raise errors.InvalidTransition("this member is not waiting for approval")
    if member.erased and room.text_rules >= SELF_ERASE_FIXES:
        raise errors.InvalidTransition("this member's data was erased: it left the lobby")
    return member


@handles(c.MemberAdmit, roles=EVERY_STAFF, after_end=True)
def admit(room: RoomState, cmd: c.MemberAdmit, actor: str | None, now: float) -> Data:
    member = _waiting(room, cmd.member)
    member.status = move(MEMBER_TRANSITIONS, member.status, MemberStatus.ACTIVE, "not waiting")
    member.admitted = True
    result = _moderated(room, EventName.MEMBER_ADMITTED, member, actor, "", now)
    member.audience_seq = room.seq
    counts = views.presence_view(room)
    room.emit(EventName.PRESENCE, {STAFF: {**counts, "came": [], "left": []}, PUBLIC: counts}, now)
    room.effect(Effect("refresh", member.id))
    return result


@handles(c.MemberReject, roles=EVERY_STAFF, after_end=True)
def reject(room: RoomState, cmd: c.MemberReject, actor: str | None, now: float) -> Data:
    member = _waiting(room, cmd.member)
    reason = room.clean_reason(cmd.reason)
    member.status = move(MEMBER_TRANSITIONS, member.status, MemberStatus.REJECTED, "not waiting")
    result = _moderated(room, EventName.MEMBER_REJECTED, member, actor, reason, now)
    room.effect(Effect("close", member.id, CloseCode.REJECTED, reason, after=room.seq))
    return result


def find_idea(room: RoomState, idea_id: str) -> Idea:
    idea = room.ideas.get(idea_id)
    if idea is None:
        raise errors.NotFound("no such idea")
    return idea


@handles(c.IdeaHide, roles=EVERY_STAFF, after_end=True)
def hide(room: RoomState, cmd: c.IdeaHide, actor: str | None, now: float) -> Data:
    idea = find_idea(room, cmd.idea)
    if idea.state == IdeaState.HIDDEN:
        raise errors.InvalidTransition("already hidden")
    was_public = room.publicly_visible(idea)
    state = move(IDEA_TRANSITIONS, idea.state, IdeaState.HIDDEN, "a merged idea cannot be hidden")
    idea.state, idea.hide_reason = state, room.clean_reason(cmd.reason)
    if was_public or (idea.shadowed and room.text_rules >= SHADOW_VOTE_FIXES):  # its author's dots too
        votes.refund(room, idea.id, now)
    result = _idea_moderated(room, EventName.IDEA_HIDDEN, idea, was_public, actor, idea.hide_reason, now)
    if was_public and idea.theme is not None:
        votes.refund_emptied_themes(room, {idea.theme}, now)
    elif idea.shadowed and idea.theme is not None and room.text_rules >= SHADOW_THEME_FIXES:
        # Its author saw it in its theme: a theme left with none of its own gives the author's dots back.
        votes.refund_emptied_themes(room, {idea.theme}, now, public=False)
    return result


@handles(c.IdeaRestore, roles=EVERY_STAFF, after_end=True)
def restore(room: RoomState, cmd: c.IdeaRestore, actor: str | None, now: float) -> Data:
    idea = find_idea(room, cmd.idea)
    fixed = room.text_rules >= SHADOW_FIXES
    kept = votes.kept_themes(room, [idea.theme])  # a theme whose dots the public did not see (rules 19)
    if fixed and idea.shadowed and idea.state == IdeaState.VISIBLE:
        idea.shadowed = False  # posted under a shadow mute: a moderator publishes it
        result = _idea_moderated(room, EventName.IDEA_RESTORED, idea, False, actor, "", now)
        rnd = room.active_vote_round()
        if rnd is not None and rnd.target == "ideas" and idea.id in rnd.totals:
            votes.emit_totals(room, rnd, [idea.id], {}, now)  # its author's dots, public from now on
        votes.show_kept(room, kept, now)  # ... or those of its theme, if it is the public's first there
        return result
    if idea.state != IdeaState.HIDDEN:
        raise errors.InvalidTransition("this idea is not hidden")
    idea.state = move(IDEA_TRANSITIONS, idea.state, IdeaState.VISIBLE, "not hidden")
    idea.hide_reason = ""
    if fixed:
        idea.shadowed = False
    result = _idea_moderated(room, EventName.IDEA_RESTORED, idea, False, actor, "", now)
    votes.show_kept(room, kept, now)
    return result


@handles(c.IdeaApprove, roles=EVERY_STAFF, after_end=True)
def approve(room: RoomState, cmd: c.IdeaApprove, actor: str | None, now: float) -> Data:
    idea = find_idea(room, cmd.idea)
    if idea.state != IdeaState.PENDING:
        raise errors.InvalidTransition("this idea is not waiting for approval")
    kept = votes.kept_themes(room, [idea.theme])
    idea.state = move(IDEA_TRANSITIONS, idea.state, IdeaState.VISIBLE, "not pending")
    result = _idea_moderated(room, EventName.IDEA_APPROVED, idea, False, actor, "", now)
    votes.show_kept(room, kept, now)
    return result


def _idea_moderated(
    room: RoomState, name: EventName, idea: Idea, was_public: bool, actor: str | None, reason: str, now: float
) -> Data:
    entry = room.audit_entry(actor, str(name.value), idea.id, reason, now)
    result = views.idea_views(room, idea)
    result[STAFF]["audit"] = entry
    if was_public and PUBLIC not in result:
        result[PUBLIC] = {"removed": idea.id}
    elif not was_public and PUBLIC in result:
        # Back on the wall (restored, approved): with the replies it had, which left the wall with it.
        result[PUBLIC]["replies"] = followup_views.public_replies_of(room, idea.id)
    room.emit(name, result, now)
    return {"idea": views.idea_full(room, idea, mine=False)}


@handles(c.RoomSet, roles=EVERY_STAFF, after_end=True)
def room_set(room: RoomState, cmd: c.RoomSet, actor: str | None, now: float) -> Data:
    if cmd.locked is None and cmd.approval_queue is None and cmd.brand is None:
        raise errors.InvalidCommand("set locked, approval_queue, brand or several")
    brand = (
        " ".join(room.clean_text(cmd.brand, room.limits.name_max, "brand").split())
        if cmd.brand and cmd.brand.strip()
        else ""
    )
    changes = []
    if cmd.locked is not None and cmd.locked != room.locked:
        room.locked = cmd.locked
        changes.append("room.lock" if cmd.locked else "room.unlock")
    if cmd.approval_queue is not None and cmd.approval_queue != room.approval_queue:
        room.approval_queue = cmd.approval_queue
        changes.append("queue.on" if cmd.approval_queue else "queue.off")
    if cmd.brand is not None and brand != room.config.brand:
        room.config.brand = brand
        changes.append("room.brand")
    if not changes:
        return {"room": views.room_view(room)}
    entries = [room.audit_entry(actor, change, room.id, "", now) for change in changes]
    view = {"room": views.room_view(room)}
    room.emit(EventName.ROOM_UPDATED, {STAFF: {**view, "audit": entries}, PUBLIC: view}, now)
    return view
