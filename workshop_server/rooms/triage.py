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

import re
import unicodedata
from typing import Final

from workshop_server import errors
from workshop_server.rooms import commands as c
from workshop_server.rooms import views
from workshop_server.rooms.events import STAFF, Data, EventName
from workshop_server.rooms.model import RoomState
from workshop_server.rooms.registry import EVERY_STAFF, handles

#: The text rules version from which the filter applies (``rooms/text.py``).
FILTER_FROM_TEXT_RULES: Final = 3
#: Longest word staff may add (after normalisation).
WORD_MAX: Final = 40

#: The shipped lists, per room language: insults and slurs that have no place in a workshop. Kept
#: short on purpose (a filter that holds honest ideas is worse than none); staff extend them per room.
WORDS: Final[dict[str, frozenset[str]]] = {
    "en": frozenset(
        {
            "arsehole",
            "asshole",
            "bastard",
            "bitch",
            "bollocks",
            "bullshit",
            "cunt",
            "dickhead",
            "dumbass",
            "fuck",
            "fucker",
            "fucking",
            "idiot",
            "imbecile",
            "moron",
            "motherfucker",
            "retard",
            "shit",
            "slut",
            "twat",
            "wanker",
            "whore",
        }
    ),
    "fr": frozenset(
        {
            "abruti",
            "batard",
            "bouffon",
            "connard",
            "connasse",
            "cretin",
            "debile",
            "encule",
            "enfoire",
            "fdp",
            "idiot",
            "imbecile",
            "merde",
            "ntm",
            "pd",
            "pede",
            "pouffiasse",
            "pute",
            "putain",
            "salaud",
            "salope",
            "tg",
        }
    ),
}
LANGUAGES: Final = tuple(WORDS)

# Digits and symbols that stand for letters.
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_TOKEN = re.compile(r"[a-z]+")
_REPEATS = re.compile(r"(.)\1{2,}")
_ENDINGS = ("es", "s", "e")


def fold(text: str) -> str:
    """Lower case, no accents, digits and symbols read as the letters they stand for."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return plain.translate(_LEET)


def tokens(text: str) -> list[str]:
    """The words of ``text`` as the filter reads them: folded, letters repeated three times or more
    reduced to one, and runs of single letters (``i.d.i.o.t``, ``i d i o t``) joined into one word."""
    raw = _TOKEN.findall(_REPEATS.sub(r"\1", fold(text)))
    out: list[str] = []
    run: list[str] = []
    for token in raw:
        if len(token) == 1:
            run.append(token)
            continue
        if len(run) > 1:
            out.append("".join(run))
        elif run:
            out.append(run[0])
        run = []
        out.append(token)
    if len(run) > 1:
        out.append("".join(run))
    elif run:
        out.append(run[0])
    return out


def normalise_word(raw: str) -> str:
    """A word staff add, in the form the filter compares: folded letters only."""
    return "".join(_TOKEN.findall(fold(raw)))


def matches(text: str, words: frozenset[str] | set[str]) -> str | None:
    """The first listed word ``text`` contains (as the filter reads it), or None."""
    for token in tokens(text):
        if token in words:
            return token
        for ending in _ENDINGS:
            if token.endswith(ending) and len(token) - len(ending) >= 3 and token[: -len(ending)] in words:
                return token[: -len(ending)]
    return None


def held_word(room: RoomState, text: str) -> str | None:
    """The word that holds ``text`` for review in this room, or None (filter off, or older text rules)."""
    if room.text_rules < FILTER_FROM_TEXT_RULES or not room.filter_enabled:
        return None
    words = WORDS.get(room.config.locale, frozenset()) | set(room.filter_words)
    return matches(text, words)


# --- Commands ---------------------------------------------------------------------------------------------
@handles(c.FilterSet, roles=EVERY_STAFF, after_end=True)
def set_filter(room: RoomState, cmd: c.FilterSet, actor: str | None, now: float) -> Data:
    """Switch the filter on or off, and replace the room's own words."""
    if cmd.enabled is None and cmd.words is None:
        raise errors.InvalidCommand("set enabled, words or both")
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
    if cmd.enabled is not None:
        room.filter_enabled = cmd.enabled
    data = filter_view(room)
    entry = room.audit_entry(
        actor, "filter.set", room.id, f"{'on' if room.filter_enabled else 'off'}, {len(words)} words", now
    )
    room.emit(EventName.FILTER_UPDATED, {STAFF: {"filter": data, "audit": entry}}, now)
    return {"filter": data}


def filter_view(room: RoomState) -> Data:
    """The filter as staff see it: on or off, the shipped list's language and size, the room's words."""
    language = room.config.locale
    return {
        "enabled": room.filter_enabled,
        "language": language,
        "shipped": len(WORDS.get(language, ())),
        "words": list(room.filter_words),
    }


@handles(c.MemberShadowMute, roles=EVERY_STAFF, after_end=True)
def shadow_mute(room: RoomState, cmd: c.MemberShadowMute, actor: str | None, now: float) -> Data:
    member = room.members.get(cmd.member)
    if member is None:
        raise errors.NotFound("no such member")
    if member.role != "participant":
        raise errors.Forbidden("only participants can be shadow-muted")
    if member.shadow_muted == cmd.on:
        raise errors.InvalidTransition("already shadow-muted" if cmd.on else "not shadow-muted")
    member.shadow_muted = cmd.on
    action = "member.shadow_mute" if cmd.on else "member.shadow_unmute"
    entry = room.audit_entry(actor, action, member.id, cmd.reason.strip(), now)
    view = views.member_view(room, member, staff=True)
    # Staff only: nothing tells the member.
    room.emit(EventName.MEMBER_SHADOW, {STAFF: {"member": view, "audit": entry}}, now)
    return {"member": view}
