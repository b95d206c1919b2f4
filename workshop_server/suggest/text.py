"""Words of a sticky note: tokens, English and French stop words, language guess, and group names.

The encoder reads each note's :func:`gist` (its content words); the rest of this module names the
groups. A name is built from the group's most representative content words: frequent in the group,
rare in the rest of the room (class-based TF-IDF), in the language most of the group's notes are
written in, shown as participants typed them (the most common spelling of each word), the first
letter capitalised.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

# Letters (any script) with inner apostrophes and hyphens: "aujourd'hui", "wi-fi", "don't".
_WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")
_ELISION = re.compile(r"^(?:[cdjlmnst]|qu|jusqu|lorsqu|puisqu)['’]", re.IGNORECASE)

NAME_MAX = 40
"""The longest proposed name, in characters."""


def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


_FR_ONLY = _set(
    """
    au aux avec ce ces cet cette dans des du elle elles en et eux il ils je la le les leur leurs lui
    ma mais me mes moi mon ne nos notre nous ou où par pas pour qu que qui sa se ses son sur ta te tes
    toi ton tu un une vos votre vous été être avoir ai avons avez ont est sont était étaient ça cela
    ceci plus moins très trop tout tous toute toutes bien fait faire peu aussi comme quand svp stp
    vraiment toujours jamais rien chaque sans sous entre chez vers depuis pendant avant après encore
    déjà donc car puis alors ici là y c d j l m n s t aujourd hui cest jai faut peut veux voudrais
    besoin mettre avoir quelque quelques autre autres même mêmes tres etre deja apres etait
    """
)
_EN_ONLY = _set(
    """
    a about above after again against all am an and any are aren't as at be because been before being
    below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't
    down during each few for from further had hadn't has hasn't have haven't having he her here hers
    herself him himself his how i i'm i've if in into is isn't it it's its itself just let's me more
    most my myself no nor not now of off on once only or other ought our ours ourselves out over own
    same she should shouldn't so some such than that that's the their theirs them themselves then
    there there's these they they're this those through to too under until up very was wasn't we
    we're were weren't what when where which while who whom why will with won't would wouldn't you
    you're your yours yourself yourselves also get got please pls plz lol really way always never
    every much many like thing things us im dont cant isnt doesnt wont make need needs want wants
    would should could etc anything something everything nothing lot lots even still just yes yeah
    ok okay thanks thank instead actually maybe one ones
    """
)
_SHARED = _set("de a à on est plus pas ce")
_STOP = _FR_ONLY | _EN_ONLY | _SHARED
# Words that say "give us more of" rather than what of: never worth a name.
_GENERIC = _set(
    """
    more less better new need needs want wants better best good great bad nice please plus moins
    mieux meilleur meilleure meilleurs nouveau nouvelle nouveaux besoin envie bon bonne bons super
    idée idea ideas idées avoir faire mettre everyone everybody someone somebody somewhere anyone
    nobody people ppl gens monde quelqu endroit truc trucs stuff chose choses
    """
)
_FR_MARKS = frozenset("éèêëàâîïôûùüçœ")
_ELIDED = re.compile(r"\b(?:[cdjlmnst]|qu)['’]\w", re.IGNORECASE)


def words(text: str) -> list[str]:
    """The words of a note, as typed (case kept), elisions removed ("l'appli" → "appli")."""
    out: list[str] = []
    for match in _WORD.finditer(text):
        word = _ELISION.sub("", match.group(0)).replace("’", "'")
        if word:
            out.append(word)
    return out


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word.casefold())
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def gist(text: str) -> str:
    """The note's content words in the order typed ("plus de toilettes svp" → "toilettes"), or the
    note itself when it has none ("👍", "123"). Encoding the gist rather than the whole note keeps
    the encoder from grouping notes by their shape ("more X", "plus de X") instead of their X."""
    kept = [w for w in words(text) if content(w)]
    return " ".join(kept) if kept else text


def key(word: str) -> str:
    """What inflected spellings of one word share: case and accents folded, plural dropped
    ("Toilettes" and "toilette", "buses" and "bus", "journaux" and "journal", "cafés" and "café")."""
    w = _fold(word)
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 4 and w.endswith("aux"):
        return w[:-3] + "al"
    if len(w) > 4 and w.endswith(("ches", "shes", "sses", "xes", "zes", "uses")):
        return w[:-2]
    if len(w) > 3 and w[-1] in "sx" and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


def content(word: str) -> bool:
    """A word that can name a theme: not a stop word, not a generic request word, two letters or more."""
    lower = word.casefold()
    return len(lower) > 1 and lower not in _STOP and lower not in _GENERIC


def language(text: str) -> str | None:
    """The language of a note: "en", "fr", or None when nothing tells (as in "wifi")."""
    en = fr = 0
    for word in words(text):
        lower = word.casefold()
        if lower in _EN_ONLY:
            en += 1
        elif lower in _FR_ONLY:
            fr += 1
        if any(c in _FR_MARKS for c in lower):
            fr += 1
    fr += len(_ELIDED.findall(text))
    if en == fr:
        return None
    return "en" if en > fr else "fr"


def _display(spellings: Counter[str]) -> str:
    """The spelling most participants typed; ties go to the one typed first."""
    best = max(spellings.values())
    return next(s for s, c in spellings.items() if c == best)


def _capitalise(word: str) -> str:
    return word[:1].upper() + word[1:] if word[:1].islower() else word


def _clip(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= NAME_MAX:
        return text
    cut = text[: NAME_MAX - 1].rsplit(" ", 1)[0].rstrip(" ,;:-")
    return (cut or text[: NAME_MAX - 1]) + "…"


class RoomVocabulary:
    """Document frequencies of the room's word keys, for naming groups against the whole room."""

    def __init__(self, texts: Sequence[str]) -> None:
        self._notes = max(1, len(texts))
        self._df: Counter[str] = Counter()
        for text in texts:
            self._df.update({key(w) for w in words(text) if content(w)})

    def idf(self, word_key: str) -> float:
        return math.log((1 + self._notes) / (1 + self._df[word_key])) + 1.0

    def name(self, texts: Sequence[str], medoid: int, fallback_number: int) -> str:
        """A short name for a group of notes, never empty.

        The words most shared in the group and rarest in the room ("Coffee, snacks"); when no
        word is in two of its notes, the rarest words of its most central note (``medoid``: an
        index into ``texts``) in the order typed ("Standing desks"); else that note itself; else
        "Theme N" / "Thème N". Words come from the notes in the group's main language.
        """
        langs = Counter(lang for lang in map(language, texts) if lang is not None)
        lang = None
        if langs:
            lang = langs.most_common(1)[0][0]
            if langs["en"] == langs["fr"]:
                lang = language(texts[medoid]) or lang
        chosen = [t for t in texts if lang is None or language(t) in (lang, None)] or list(texts)
        df: Counter[str] = Counter()
        spellings: dict[str, Counter[str]] = {}
        order: dict[str, int] = {}
        for text in chosen:
            seen: set[str] = set()
            for word in words(text):
                if not content(word):
                    continue
                k = key(word)
                spellings.setdefault(k, Counter())[word] += 1
                order.setdefault(k, len(order))
                if k not in seen:
                    seen.add(k)
                    df[k] += 1
        shared = sorted((k for k in df if df[k] > 1), key=lambda k: (-df[k] * self.idf(k), order[k]))
        if shared:
            top = shared[:1]
            if len(shared) > 1 and 2 * df[shared[1]] >= df[shared[0]]:
                top.append(shared[1])
            shown = [_display(spellings[k]) for k in top]
            return _clip(", ".join([_capitalise(shown[0]), *shown[1:]]))
        central = texts[medoid]
        typed = [w for w in words(central) if content(w)]
        if typed:
            keys = list(dict.fromkeys(key(w) for w in typed))
            best = set(sorted(keys, key=lambda k: (-self.idf(k), keys.index(k)))[:2])
            phrase: list[str] = []
            for w in typed:
                if key(w) in best and all(key(w) != key(x) for x in phrase):
                    phrase.append(w)
            return _clip(" ".join([_capitalise(phrase[0]), *phrase[1:]]))
        if central.strip():
            return _clip(_capitalise(central.strip()))
        return f"Thème {fallback_number}" if lang == "fr" else f"Theme {fallback_number}"
