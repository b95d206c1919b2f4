"""Average-linkage agglomerative clustering cut at a similarity threshold, in O(n²) time and memory.

The nearest-neighbour chain algorithm (Murtagh 1983): follow nearest neighbours until two clusters
are each other's nearest, merge them, and go on from the rest of the chain. Average linkage is
*reducible* (merging two clusters never brings the result closer to a third cluster than the nearer
of the two was), so the chain finds the same merges as the textbook greedy algorithm, and a cluster
whose nearest neighbour is below the threshold can be closed for good: nothing it could merge with
later will be any closer.

Deterministic: ties go to the lowest index, and to the previous chain element first (which is what
keeps the chain from cycling).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_CLOSED = -np.inf


def average_linkage(similarity: npt.NDArray[np.float64], threshold: float) -> list[list[int]]:
    """Clusters (lists of row indices, each ascending; clusters ordered by their first index) of the
    items whose average pairwise similarity stays at or above ``threshold``.

    ``similarity`` is a symmetric n×n matrix; it is not modified.
    """
    n = similarity.shape[0]
    if n == 0:
        return []
    sim = np.array(similarity, dtype=np.float64, copy=True)
    np.fill_diagonal(sim, _CLOSED)
    size = np.ones(n, dtype=np.float64)
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    open_ = np.ones(n, dtype=bool)
    done: list[list[int]] = []
    chain: list[int] = []
    next_start = 0
    while True:
        if not chain:
            while next_start < n and not open_[next_start]:
                next_start += 1
            if next_start == n:
                break
            chain.append(next_start)
        a = chain[-1]
        row = sim[a]
        b = int(np.argmax(row))
        best = row[b]
        if len(chain) > 1 and row[chain[-2]] >= best:
            b = chain[-2]
            best = row[b]
        if not best >= threshold:  # also true for -inf (no open neighbour left) and NaN
            # Nothing is close enough to a, now or after any later merge: a is final.
            chain.pop()
            open_[a] = False
            sim[a, :] = _CLOSED
            sim[:, a] = _CLOSED
            done.append(members.pop(a))
            continue
        if len(chain) > 1 and b == chain[-2]:
            chain.pop()
            chain.pop()
            keep, gone = min(a, b), max(a, b)
            merged = (sim[keep] * size[keep] + sim[gone] * size[gone]) / (size[keep] + size[gone])
            sim[keep, :] = merged
            sim[:, keep] = merged
            sim[keep, keep] = _CLOSED
            sim[gone, :] = _CLOSED
            sim[:, gone] = _CLOSED
            size[keep] += size[gone]
            open_[gone] = False
            members[keep] = members[keep] + members.pop(gone)
        else:
            chain.append(b)
    clusters = [sorted(c) for c in done]
    clusters.sort(key=lambda c: c[0])
    return clusters
