"""Replies: anyone allowed to post answers an idea on the wall; staff replies carry the brand's name.

Replies follow the room's rules: a muted member cannot reply, the approval queue holds participants'
replies for the moderators, moderators hide and restore them (with an audit entry), the text rules and
the reply length limit apply, and in an anonymous round the author is named to staff only. A reply is
never visible before its idea: replying to an idea that is not on the wall is ``idea_private`` for
whoever can see that idea, ``not_found`` for everyone else (so it reveals nothing).
"""

from __future__ import annotations

from workshop_server import errors
from workshop_server.rooms import commands as c
from workshop_server.rooms import followup_views as fv
from workshop_server.rooms import wordfilter
from workshop_server.rooms.events import PUBLIC, STAFF, Data, EventName, member_key
from workshop_server.rooms.model import RoomState
from workshop_server.rooms.registry import EVERY_STAFF, PARTICIPANT, handles
from workshop_server.rooms.state import REPLY_TRANSITIONS, IdeaReply, ReplyState, move
from workshop_server.rooms.text import KEPT_REPLY_FIXES, RULE_FIXES, SHADOW_FIXES


def _views(
    room: RoomState, reply: IdeaReply, was_public: bool, extra: Data | None = None, *, was_kept: bool = False
) -> dict[str, Data]:
    """``was_kept``: the reply was kept for its merged idea's authors before the change."""
    extra = extra or {}
    out: dict[str, Data] = {}
    if room.text_rules >= KEPT_REPLY_FIXES:
        # The authors of a merged idea keep its replies (their snapshot): they follow its changes too.
        for member in fv.kept_by(room, reply):
            if member == reply.author or room.is_staff(member):
                continue  # their own view, or staff's
            if fv.reply_kept_for(room, reply, member):
                out[member_key(member)] = {"reply": fv.reply_public(room, reply)}
            elif was_kept:
                out[member_key(member)] = {"removed": reply.id, "idea": reply.idea}
    out[STAFF] = {"reply": fv.reply_full(room, reply), **extra}
    out[member_key(reply.author)] = {"reply": fv.reply_own(room, reply)}
    if fv.reply_is_public(room, reply):
        out[PUBLIC] = {"reply": fv.reply_public(room, reply)}
    elif was_public:
        out[PUBLIC] = {"removed": reply.id, "idea": reply.idea}
    return out


def _check_caps(room: RoomState, actor: str, staff: bool) -> None:
    """The room's caps on replies (``replies_per_room_max``; ``replies_per_member_max`` for participants;
    0: none): what one participant, or a crowd, can make every snapshot and every join carry."""
    limits = room.limits
    if limits.replies_per_room_max and len(room.idea_replies) >= limits.replies_per_room_max:
        raise errors.ReplyLimit(f"this room holds {len(room.idea_replies)} replies, its limit")
    if limits.replies_per_member_max and not staff:
        count = sum(1 for r in room.idea_replies.values() if r.author == actor)
        if count >= limits.replies_per_member_max:
            raise errors.ReplyLimit(f"you already posted {count} replies in this room (the limit)")


@handles(c.ReplyPost, roles=PARTICIPANT | EVERY_STAFF, silenced=True, after_end=True)
def post(room: RoomState, cmd: c.ReplyPost, actor: str | None, now: float) -> Data:
    assert actor is not None
    staff = room.is_staff(actor)
    if room.ended and not staff:
        raise errors.InvalidTransition("the session has ended")
    idea = room.ideas.get(cmd.idea)
    if idea is None:
        raise errors.NotFound("no such idea")
    fixed = room.text_rules >= RULE_FIXES
    if not (room.on_wall_for(idea, actor) if fixed else room.publicly_visible(idea)):
        if staff or actor in room.credited(idea):
            raise errors.IdeaPrivate("replies open once the idea is on the wall")
        raise errors.NotFound("no such idea")
    text = room.clean_text(cmd.text, room.limits.reply_text_max, "reply")
    _check_caps(room, actor, staff)
    held = None if staff else wordfilter.held_word(room, text)
    rid = room.next_id("rp")  # "r" is for rounds
    reply = IdeaReply(
        id=rid,
        idea=idea.id,
        author=actor,
        text=text,
        at=now,
        staff=staff,
        state=ReplyState.PENDING if (room.approval_queue and not staff) or held else ReplyState.VISIBLE,
        shadowed=room.members[actor].shadow_muted or (fixed and idea.shadowed),
        held="filter" if held else "",
    )
    room.idea_replies[rid] = reply
    out = _views(room, reply, False)
    if held:
        out[STAFF]["audit"] = room.audit_entry(None, "filter.held", rid, held, now)
    room.emit(EventName.REPLY_POSTED, out, now)
    return {"reply": fv.reply_own(room, reply)}


def _reply(room: RoomState, reply_id: str) -> IdeaReply:
    reply = room.idea_replies.get(reply_id)
    if reply is None:
        raise errors.NotFound("no such reply")
    return reply


def _moderated(
    room: RoomState,
    name: EventName,
    reply: IdeaReply,
    was_public: bool,
    actor: str | None,
    reason: str,
    now: float,
    *,
    was_kept: bool = False,
) -> Data:
    entry = room.audit_entry(actor, str(name.value), reply.id, reason, now)
    room.emit(name, _views(room, reply, was_public, {"audit": entry}, was_kept=was_kept), now)
    return {"reply": fv.reply_full(room, reply)}


@handles(c.ReplyHide, roles=EVERY_STAFF, after_end=True)
def hide(room: RoomState, cmd: c.ReplyHide, actor: str | None, now: float) -> Data:
    reply = _reply(room, cmd.reply)
    was_public = fv.reply_is_public(room, reply)
    was_kept = reply.state == ReplyState.VISIBLE and not reply.shadowed
    state = move(REPLY_TRANSITIONS, reply.state, ReplyState.HIDDEN, "already hidden")
    reply.state, reply.hide_reason = state, room.clean_reason(cmd.reason)
    return _moderated(
        room, EventName.REPLY_HIDDEN, reply, was_public, actor, reply.hide_reason, now, was_kept=was_kept
    )


@handles(c.ReplyRestore, roles=EVERY_STAFF, after_end=True)
def restore(room: RoomState, cmd: c.ReplyRestore, actor: str | None, now: float) -> Data:
    reply = _reply(room, cmd.reply)
    fixed = room.text_rules >= SHADOW_FIXES
    if fixed and reply.shadowed and reply.state == ReplyState.VISIBLE:
        reply.shadowed = False  # posted under a shadow mute: a moderator publishes it
        return _moderated(room, EventName.REPLY_RESTORED, reply, False, actor, "", now)
    if reply.state != ReplyState.HIDDEN:
        raise errors.InvalidTransition("this reply is not hidden")
    reply.state = move(REPLY_TRANSITIONS, reply.state, ReplyState.VISIBLE, "not hidden")
    reply.hide_reason = ""
    if fixed:
        reply.shadowed = False
    return _moderated(room, EventName.REPLY_RESTORED, reply, False, actor, "", now)


@handles(c.ReplyApprove, roles=EVERY_STAFF, after_end=True)
def approve(room: RoomState, cmd: c.ReplyApprove, actor: str | None, now: float) -> Data:
    reply = _reply(room, cmd.reply)
    if reply.state != ReplyState.PENDING:
        raise errors.InvalidTransition("this reply is not waiting for approval")
    reply.state = move(REPLY_TRANSITIONS, reply.state, ReplyState.VISIBLE, "not pending")
    return _moderated(room, EventName.REPLY_APPROVED, reply, False, actor, "", now)
