"""Triage: a word filter that holds matching ideas and replies for review, and shadow mute.

**The word filter.** An idea or a reply that contains a listed word is not published: it goes to the
approval queue (``held: "filter"``), its author is told that it awaits review, and the hold is audited.
The lists: the shipped list of the room's language (:data:`WORDS`, English and French) plus the words
staff add to the room (``filter.set``). Matching ignores case and accents and sees through simple
obfuscation: digits and symbols standing for letters (``c0nnard``, ``@sshole``), letters spelt apart
(``i.d.i.o.t``, ``i d i o t``), letters repeated (``idiooot``). A word matches a whole word of the
text, or that word with a plural or feminine ending (``connards``, ``connasse`` is its own entry).

The filter is part of the text rules (version 3, ``rooms/text.py``): entries journaled under older rules
are replayed without it, so a replay gives the same events.

**Shadow mute.** A shadow-muted member's new ideas and replies are seen by their author, as usual, and
by staff (marked ``shadowed``), and by nobody else. Nothing tells the member. Both are audited.

Pure: no I/O; the lists are data in this module.
"""

from __future__ import annotations

from workshop_server import errors
from workshop_server.rooms import commands as c
from workshop_server.rooms import views
from workshop_server.rooms.events import STAFF, Data, EventName
from workshop_server.rooms.model import RoomState
from workshop_server.rooms.registry import EVERY_STAFF, handles
from workshop_server.rooms.wordfilter import (
    LANGUAGES,
    WORD_MAX,
    WORDS,
    filter_view,
    normalise_word,
)


# --- Commands ---------------------------------------------------------------------------------------------
@handles(c.FilterSet, roles=EVERY_STAFF, after_end=True)
def set_filter(room: RoomState, cmd: c.FilterSet, actor: str | None, now: float) -> Data:
    """Switch the filter on or off, and replace the room's own words."""
    if cmd.enabled is None and cmd.words is None and cmd.languages is None:
        raise errors.InvalidCommand("set enabled, languages, words or several")
    for language in cmd.languages or ():
        if language not in WORDS:
            raise errors.InvalidCommand(
                f"unknown language {language[:16]!r}: the shipped lists are {', '.join(LANGUAGES)}"
            )
    words = room.filter_words
    if cmd.words is not None:
        if len(cmd.words) > room.limits.filter_words_max:
            limit = room.limits.filter_words_max
            raise errors.InvalidCommand(f"the room's list has {len(cmd.words)} words; the limit is {limit}")
        words = []
        for raw in cmd.words:
            word = normalise_word(raw)
            if not word or len(word) > WORD_MAX:
                raise errors.InvalidCommand(f"{raw[:50]!r} is not a word of 1 to {WORD_MAX} letters")
            if word not in words:
                words.append(word)
    room.filter_words = words
    if cmd.languages is not None:
        room.filter_languages = list(dict.fromkeys(cmd.languages))
    if cmd.enabled is not None:
        room.filter_enabled = cmd.enabled
    data = filter_view(room)
    entry = room.audit_entry(
        actor, "filter.set", room.id, f"{'on' if room.filter_enabled else 'off'}, {len(words)} words", now
    )
    room.emit(EventName.FILTER_UPDATED, {STAFF: {"filter": data, "audit": entry}}, now)
    return {"filter": data}


@handles(c.MemberShadowMute, roles=EVERY_STAFF, after_end=True)
def shadow_mute(room: RoomState, cmd: c.MemberShadowMute, actor: str | None, now: float) -> Data:
    member = room.members.get(cmd.member)
    if member is None:
        raise errors.NotFound("no such member")
    if member.role != "participant":
        raise errors.Forbidden("only participants can be shadow-muted")
    if member.shadow_muted == cmd.on:
        raise errors.InvalidTransition("already shadow-muted" if cmd.on else "not shadow-muted")
    reason = room.clean_reason(cmd.reason)
    member.shadow_muted = cmd.on
    action = "member.shadow_mute" if cmd.on else "member.shadow_unmute"
    entry = room.audit_entry(actor, action, member.id, reason, now)
    view = views.member_view(room, member, staff=True)
    # Staff only: nothing tells the member.
    room.emit(EventName.MEMBER_SHADOW, {STAFF: {"member": view, "audit": entry}}, now)
    return {"member": view}
