"""k-center greedy on L2-normalised embeddings: each pick is the candidate farthest from
everything already covered (labeled samples and earlier picks)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from bps_core.selection.pool import Indices

_CHUNK = 4096


def distances_to_set(
    x: NDArray[np.float32], rows: Indices, centers: Indices
) -> NDArray[np.float32]:
    """Euclidean distance from each of ``x[rows]`` to its nearest row in ``x[centers]``
    (inf when there are no centers). Uses ||a - b||^2 = 2 - 2 a.b for unit vectors."""
    out = np.full(len(rows), np.inf, dtype=np.float32)
    if len(centers) == 0:
        return out
    c = x[centers]
    for start in range(0, len(rows), _CHUNK):
        block = x[rows[start : start + _CHUNK]]
        best = (block @ c.T).max(axis=1)
        out[start : start + _CHUNK] = np.sqrt(np.maximum(2.0 - 2.0 * best, 0.0))
    return out


def kcenter_greedy(
    x: NDArray[np.float32],
    candidates: Indices,
    covered: Indices,
    budget: int,
    *,
    first: int | None = None,
    min_distance: float | None = None,
) -> Indices:
    """Up to ``budget`` picks from ``candidates`` (row indices of ``x``), farthest-first.

    ``covered`` rows (the labeled samples) count as centers from the start. With nothing
    covered, the first pick is ``first`` (a candidate chosen by the caller's seed). With
    ``min_distance``, stops early once no candidate is farther than that from the selected
    set. Ties go to the lowest candidate position, so the result is deterministic.
    """
    if budget <= 0 or len(candidates) == 0:
        return np.empty(0, dtype=np.int64)
    xc = np.ascontiguousarray(x[candidates])
    dist = distances_to_set(x, candidates, covered)
    picks: list[int] = []
    if len(covered) == 0:
        pos = int(np.flatnonzero(candidates == first)[0]) if first is not None else 0
        picks.append(pos)
        np.minimum(dist, _dist_to(xc, pos), out=dist)
    while len(picks) < budget:
        pos = int(np.argmax(dist))
        if dist[pos] == -np.inf or (min_distance is not None and dist[pos] < min_distance):
            break
        picks.append(pos)
        np.minimum(dist, _dist_to(xc, pos), out=dist)
    return candidates[np.asarray(picks, dtype=np.int64)]


def _dist_to(xc: NDArray[np.float32], pos: int) -> NDArray[np.float32]:
    d: NDArray[np.float32] = np.sqrt(np.maximum(2.0 - 2.0 * (xc @ xc[pos]), 0.0))
    d[pos] = -np.inf
    return d


def covering_radius(x: NDArray[np.float32], rows: Indices, centers: Indices) -> float:
    """The largest distance from any of ``rows`` to its nearest center."""
    return float(distances_to_set(x, rows, centers).max(initial=0.0))
