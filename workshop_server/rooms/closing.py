"""Closing the loop: announcements to the whole room, and the satisfaction pulse.

``room.announce`` posts an ``update`` ("3 ideas adopted; here is what happens next") or a ``thanks``
that may name contributors; both are shown on everyone's "my ideas" page, during and after the session.
Where credits are private (anonymous rooms) a named contributor is credited only to themselves and to
staff.

The pulse is one satisfaction question, answered from 1 to 5 with an optional comment. Staff see the
live distribution, the average and the comments; a participant sees only its own answer. One pulse is
open at a time; pulses move along :data:`~workshop_server.rooms.state.PULSE_TRANSITIONS`.
"""

from __future__ import annotations

from workshop_server import errors
from workshop_server.rooms import commands as c
from workshop_server.rooms import followup_views as fv
from workshop_server.rooms.events import PUBLIC, STAFF, Data, EventName, member_key
from workshop_server.rooms.model import RoomState
from workshop_server.rooms.registry import EVERY_STAFF, PARTICIPANT, handles
from workshop_server.rooms.state import (
    PULSE_TRANSITIONS,
    Announcement,
    MemberStatus,
    Pulse,
    PulseStatus,
    move,
)


@handles(c.RoomAnnounce, roles=EVERY_STAFF, after_end=True)
def announce(room: RoomState, cmd: c.RoomAnnounce, actor: str | None, now: float) -> Data:
    assert actor is not None
    text = room.clean_text(cmd.text, room.limits.announcement_text_max, "announcement")
    if cmd.credit and cmd.kind != "thanks":
        raise errors.InvalidCommand("only a thanks names contributors")
    if len(set(cmd.credit)) != len(cmd.credit):
        raise errors.InvalidCommand("a contributor is named twice")
    for member_id in cmd.credit:
        member = room.members.get(member_id)
        if member is None or member.status != MemberStatus.ACTIVE:
            raise errors.NotFound(f"no member {member_id} to credit")
    announcement = Announcement(
        id=room.next_id("a"), kind=cmd.kind, text=text, at=now, actor=actor, credit=list(cmd.credit)
    )
    room.announcements.append(announcement)
    staff = {"announcement": fv.announcement_view(room, announcement, named=True)}
    out: dict[str, Data] = {STAFF: staff, PUBLIC: {"announcement": fv.announcement_view(room, announcement)}}
    if room.credits_private:
        for member_id in announcement.credit:
            if not room.is_staff(member_id):
                out[member_key(member_id)] = {
                    "announcement": fv.announcement_own(room, announcement, member_id)
                }
    room.emit(EventName.ROOM_ANNOUNCEMENT, out, now)
    return staff


@handles(c.PulseOpen, roles=EVERY_STAFF, after_end=True)
def open_pulse(room: RoomState, cmd: c.PulseOpen, actor: str | None, now: float) -> Data:
    if room.open_pulse is not None:
        raise errors.InvalidTransition("a satisfaction question is already open")
    question = (
        room.clean_text(cmd.question, room.limits.note_text_max, "question") if cmd.question.strip() else ""
    )
    pulse = Pulse(id=room.next_id("p"), question=question, opened_at=now)
    room.pulses[pulse.id] = pulse
    data = {"pulse": fv.pulse_public(pulse)}
    room.emit(EventName.PULSE_OPENED, {STAFF: {"pulse": fv.pulse_staff(room, pulse)}, PUBLIC: data}, now)
    return data


@handles(c.PulseAnswer, roles=PARTICIPANT, after_end=True)
def answer(room: RoomState, cmd: c.PulseAnswer, actor: str | None, now: float) -> Data:
    assert actor is not None
    pulse = room.open_pulse
    if pulse is None:
        raise errors.InvalidTransition("no satisfaction question is open")
    if isinstance(cmd.score, bool) or cmd.score not in range(1, 6):
        raise errors.InvalidScore("answer with a whole number from 1 to 5")
    comment = (
        room.clean_text(cmd.comment, room.limits.comment_text_max, "comment") if cmd.comment.strip() else ""
    )
    mine = {"score": cmd.score, "comment": comment, "at": now}
    pulse.answers.pop(actor, None)
    pulse.answers[actor] = mine
    # Staff get the new figures and this answer (the whole list is in their snapshot).
    named = {"member": actor, "name": room.members[actor].name, **mine}
    staff = {"pulse": {**fv.pulse_public(pulse), **fv.pulse_summary(pulse)}, "answer": named}
    own = {"pulse": fv.pulse_for(room, pulse, actor, staff=False)}
    room.emit(EventName.PULSE_ANSWERED, {STAFF: staff, member_key(actor): own}, now)
    return own


@handles(c.PulseClose, roles=EVERY_STAFF, after_end=True)
def close_pulse(room: RoomState, cmd: c.PulseClose, actor: str | None, now: float) -> Data:
    pulse = room.open_pulse
    if pulse is None:
        raise errors.InvalidTransition("no satisfaction question is open")
    pulse.status = move(PULSE_TRANSITIONS, pulse.status, PulseStatus.CLOSED, "closed")
    pulse.closed_at = now
    staff = {"pulse": fv.pulse_staff(room, pulse)}
    room.emit(EventName.PULSE_CLOSED, {STAFF: staff, PUBLIC: {"pulse": fv.pulse_public(pulse)}}, now)
    return staff
