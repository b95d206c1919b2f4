"""Ideas: participants post, edit and withdraw their sticky notes during an ideate round."""

from __future__ import annotations

from workshop_server import errors
from workshop_server.rooms import commands as c
from workshop_server.rooms import views, wordfilter
from workshop_server.rooms.events import PUBLIC, STAFF, Data, EventName
from workshop_server.rooms.model import RoomState
from workshop_server.rooms.registry import PARTICIPANT, handles
from workshop_server.rooms.rounds import require_round
from workshop_server.rooms.state import (
    IDEA_TRANSITIONS,
    Idea,
    IdeaState,
    IdeaStatus,
    Round,
    RoundStatus,
    move,
)
from workshop_server.rooms.text import GROUPING_FIXES, RULE_FIXES, SHADOW_FIXES


def _require_ideate(room: RoomState) -> Round:
    rnd = require_round(room, RoundStatus.OPEN)
    if rnd.kind != "ideate":
        raise errors.WrongRoundKind("ideas are posted in an ideate round")
    return rnd


def _own_idea(room: RoomState, idea_id: str, actor: str | None) -> Idea:
    idea = room.ideas.get(idea_id)
    if idea is None:
        raise errors.NotFound("no such idea")
    if idea.author != actor:
        if not room.publicly_visible(idea):  # pending, hidden, private...: not even its existence
            raise errors.NotFound("no such idea")
        raise errors.Forbidden("you can only change your own ideas")
    return idea


def _check_caps(room: RoomState, actor: str) -> None:
    """The room's caps on ideas (``ideas_per_room_max``, ``ideas_per_member_max``; 0: none): what one
    participant, or a crowd, can make every snapshot and every newcomer's join carry."""
    limits = room.limits
    if limits.ideas_per_room_max and len(room.ideas) >= limits.ideas_per_room_max:
        raise errors.IdeaLimit("this room holds as many ideas as it may (its limit)")
    if limits.ideas_per_member_max:
        count = sum(1 for i in room.ideas.values() if i.author == actor)
        if count >= limits.ideas_per_member_max:
            raise errors.IdeaLimit(f"you already have {count} ideas in this room (the limit)")


def _absorbed_others(room: RoomState, idea: Idea) -> bool:
    """Whether ``idea`` absorbed other ideas by a merge still in effect."""
    return any(m.into == idea.id and not m.undone for m in room.merges.values())


@handles(c.IdeaPost, roles=PARTICIPANT, silenced=True)
def post(room: RoomState, cmd: c.IdeaPost, actor: str | None, now: float) -> Data:
    assert actor is not None
    rnd = _require_ideate(room)
    text = room.clean_text(cmd.text, room.limits.idea_text_max, "idea")
    if rnd.max_ideas is not None:
        count = sum(1 for i in room.ideas.values() if i.round == rnd.id and i.author == actor)
        if count >= rnd.max_ideas:
            raise errors.IdeaLimit(f"you already posted {count} ideas in this round (the limit)")
    _check_caps(room, actor)
    held = wordfilter.held_word(room, text)
    iid = room.next_id("i")
    idea = Idea(
        id=iid,
        round=rnd.id,
        author=actor,
        text=text,
        color=cmd.color or "yellow",
        created_at=now,
        updated_at=now,
        state=IdeaState.PENDING if room.approval_queue or held else IdeaState.VISIBLE,
        shadowed=room.members[actor].shadow_muted,
        held="filter" if held else "",
    )
    room.ideas[iid] = idea
    out = views.idea_views(room, idea)
    if held:
        out[STAFF]["audit"] = room.audit_entry(None, "filter.held", iid, held, now)
    room.emit(EventName.IDEA_POSTED, out, now)
    return {"idea": views.idea_own(room, idea, actor)}


@handles(c.IdeaEdit, roles=PARTICIPANT, silenced=True)
def edit(room: RoomState, cmd: c.IdeaEdit, actor: str | None, now: float) -> Data:
    idea = _own_idea(room, cmd.idea, actor)
    rnd = _require_ideate(room)
    if idea.round != rnd.id:
        raise errors.RoundClosed("that idea's round is closed")
    if idea.state == IdeaState.MERGED:
        raise errors.InvalidTransition("this idea was merged into another; edit that one")
    if room.text_rules >= GROUPING_FIXES and idea.coauthors:
        # A merge credits other authors on its text, and they follow it as their own: they would receive
        # a new text that is not on the wall (held for approval, written under a shadow mute).
        raise errors.InvalidTransition("other authors are credited on this idea: staff can undo the merge")
    text = room.clean_text(cmd.text, room.limits.idea_text_max, "idea")
    held = wordfilter.held_word(room, text)
    was_public = room.publicly_visible(idea)
    idea.text = text
    idea.color = cmd.color or idea.color
    idea.updated_at = now
    if room.text_rules >= SHADOW_FIXES and idea.author is not None and room.members[idea.author].shadow_muted:
        idea.shadowed = True  # its new text is seen by the author and staff only, as a new idea's
    if (room.approval_queue or held) and idea.state == IdeaState.VISIBLE:
        # New text goes back to the moderators before anyone else sees it.
        idea.state = move(IDEA_TRANSITIONS, idea.state, IdeaState.PENDING, "the idea cannot be queued")
    if held:
        idea.held = "filter"
    result = views.idea_views(room, idea)
    if held:
        result[STAFF]["audit"] = room.audit_entry(None, "filter.held", idea.id, held, now)
    if was_public and PUBLIC not in result:
        result[PUBLIC] = {"removed": idea.id}
    room.emit(EventName.IDEA_EDITED, result, now)
    return {"idea": views.idea_own(room, idea, idea.author)}


@handles(c.IdeaWithdraw, roles=PARTICIPANT)
def withdraw(room: RoomState, cmd: c.IdeaWithdraw, actor: str | None, now: float) -> Data:
    idea = _own_idea(room, cmd.idea, actor)
    rnd = _require_ideate(room)
    if idea.round != rnd.id:
        raise errors.RoundClosed("that idea's round is closed")
    if idea.state == IdeaState.MERGED or _absorbed_others(room, idea):
        raise errors.InvalidTransition("a merged idea is withdrawn by undoing its merge")
    if idea.status != IdeaStatus.NEW and room.text_rules >= RULE_FIXES:
        # Staff have acted on it (shortlisted, in an evaluation, decided): their record stays.
        raise errors.InvalidTransition(f"this idea is {idea.status.value}: staff have taken it up")
    was_public = room.publicly_visible(idea)
    del room.ideas[idea.id]
    room.emit(EventName.IDEA_WITHDRAWN, views.idea_id_views(idea, was_public, {"id": idea.id}), now)
    return {"id": idea.id}
