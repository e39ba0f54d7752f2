"""Exact duplicates (equal pixel hashes), nearest neighbours in embedding space, near-duplicates.

Nearest neighbours come from the shared neighbour index (``bps_core.embeddings.index``):
exact (brute-force) search below ``EXACT_BELOW`` vectors, where it is fast enough and leaves
nothing to chance, and an HNSW graph above it, whose cost grows as n log n instead of n^2
(bench/bench_duplicates.py measures both).

- [0] Malkov & Yashunin, 2018, https://arxiv.org/abs/1603.09320 (HNSW)
- [1] Johnson, Douze & Jegou, 2019, https://arxiv.org/abs/1702.08734 (faiss)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bps_core.embeddings.index import EXACT_BELOW, HNSW_EF_SEARCH, NeighbourIndex, build_index

__all__ = ["EXACT_BELOW", "Neighbours", "exact_duplicate_groups", "near_duplicate_pairs",
           "nearest_neighbours"]  # fmt: skip


@dataclass(frozen=True)
class Neighbours:
    """The k nearest other samples of every sample.

    Attributes:
        distances: Euclidean distances, shape (n, k), ascending per row (inf where a row has
            fewer than k neighbours).
        indices: Row numbers of the neighbours, shape (n, k) (-1 where missing).
        exact: Whether the search was exact (brute force) rather than approximate (HNSW).
    """

    distances: NDArray[np.float32]
    indices: NDArray[np.intp]
    exact: bool


def exact_duplicate_groups(shas: Sequence[str]) -> NDArray[np.intp]:
    """Group number of each sample whose pixel hash another sample shares; -1 for unique ones.

    Groups are numbered 0, 1, ... in order of their first member.

    Args:
        shas: One pixel hash per sample (``ImageStats.pixel_sha``); empty for unknown.
    """
    groups = np.full(len(shas), -1, dtype=np.intp)
    counts: dict[str, int] = {}
    for sha in shas:
        if sha:
            counts[sha] = counts.get(sha, 0) + 1
    numbers: dict[str, int] = {}
    for row, sha in enumerate(shas):
        if sha and counts[sha] > 1:
            groups[row] = numbers.setdefault(sha, len(numbers))
    return groups


def nearest_neighbours(
    vectors: NDArray[np.floating],
    k: int = 5,
    *,
    exact_below: int = EXACT_BELOW,
    index: NeighbourIndex | None = None,
) -> Neighbours:
    """The k nearest other rows of every row (Euclidean), excluding the row itself.

    Args:
        vectors: Embeddings of shape (n, dim).
        k: Neighbours per row.
        exact_below: Brute-force search for fewer rows than this; HNSW from there on.
        index: An index already built over exactly these ``vectors`` (a cached one), used
            instead of building one; ``exact_below`` is then ignored.

    Returns:
        The ``Neighbours`` (distances and row numbers).
    """
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n = len(x)
    k_eff = max(0, min(k, n - 1))
    dist = np.full((n, k), np.inf, dtype=np.float32)
    idx = np.full((n, k), -1, dtype=np.intp)
    if index is not None and len(index) != n:
        raise ValueError(f"the index holds {len(index)} rows, the vectors {n}")
    if k_eff == 0:
        return Neighbours(dist, idx, index.exact if index is not None else n < exact_below)
    if index is None:
        index = build_index(x, exact_below=exact_below)
    exact = index.exact
    d2, found = index.search(x, k_eff + 1, ef=max(HNSW_EF_SEARCH, k + 1))
    # The row itself is usually first, but an exact duplicate can come before it: drop the
    # row's own id wherever it is, else the farthest hit.
    own = found == np.arange(n)[:, None]
    drop = np.where(own.any(axis=1), own.argmax(axis=1), k_eff)
    keep = np.ones_like(own)
    keep[np.arange(n), drop] = False
    found = found[keep].reshape(n, k_eff)
    d2 = d2[keep].reshape(n, k_eff)
    dist[:, :k_eff] = np.sqrt(np.maximum(d2, 0.0))
    idx[:, :k_eff] = found
    dist[idx < 0] = np.inf
    return Neighbours(dist, idx, exact)


def near_duplicate_pairs(neighbours: Neighbours, max_distance: float) -> pd.DataFrame:
    """Pairs of rows within ``max_distance`` of each other, each pair once (a < b).

    Args:
        neighbours: From ``nearest_neighbours``.
        max_distance: The largest Euclidean distance that counts as a near-duplicate.

    Returns:
        Columns a, b (row numbers) and distance, closest pairs first.
    """
    d, i = neighbours.distances, neighbours.indices
    rows, cols = np.nonzero((d <= max_distance) & (i >= 0))
    a = np.minimum(rows, i[rows, cols])
    b = np.maximum(rows, i[rows, cols])
    frame = pd.DataFrame({"a": a, "b": b, "distance": d[rows, cols].astype(float)})
    frame = frame.drop_duplicates(["a", "b"]).sort_values(["distance", "a", "b"], kind="stable")
    return frame.reset_index(drop=True)
