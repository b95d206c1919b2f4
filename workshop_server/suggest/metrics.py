"""The adjusted Rand index (Hubert and Arabie 1985), the agreement measure of bench/themes.py."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from math import comb


def adjusted_rand_index(gold: Sequence[Hashable], predicted: Sequence[Hashable]) -> float:
    """1.0 for identical partitions, about 0 for a random one (it can go below 0).

    Both sequences label the same items, in the same order. When both partitions are trivial in
    the same way (every item alone in both, or all together in both) the index is 1.0.
    """
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted must label the same items")
    n = len(gold)
    pairs = comb(n, 2)
    together = sum(comb(c, 2) for c in Counter(zip(gold, predicted, strict=True)).values())
    gold_pairs = sum(comb(c, 2) for c in Counter(gold).values())
    pred_pairs = sum(comb(c, 2) for c in Counter(predicted).values())
    expected = gold_pairs * pred_pairs / pairs if pairs else 0.0
    best = (gold_pairs + pred_pairs) / 2
    if best == expected:
        return 1.0
    return (together - expected) / (best - expected)
