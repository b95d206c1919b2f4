"""The word filter's lists and matching (pure data and functions), for ``rooms/triage.py``.

Matching ignores case and accents and sees through simple obfuscation: digits and symbols standing for
letters (``c0nnard``, ``@sshole``), letters spelt apart (``i.d.i.o.t``, ``i d i o t``), letters repeated
(``idiooot``). A word matches a whole word of the text, or that word with a plural or feminine ending.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from workshop_server.rooms.events import Data
from workshop_server.rooms.model import RoomState

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
    words: set[str] = set(room.filter_words)
    for language in filter_languages(room):
        words |= WORDS.get(language, frozenset())
    return matches(text, words)


def filter_languages(room: RoomState) -> list[str]:
    return list(room.filter_languages) if room.filter_languages is not None else [room.config.locale]


def filter_view(room: RoomState) -> Data:
    """The filter as staff see it: on or off, the shipped list's language and size, the room's words."""
    languages = filter_languages(room)
    return {
        "enabled": room.filter_enabled,
        "languages": languages,
        "shipped": sum(len(WORDS.get(language, ())) for language in languages),
        "words": list(room.filter_words),
    }
