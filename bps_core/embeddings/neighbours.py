"""Nearest neighbours in embedding space (cosine similarity on L2-normalised vectors)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Neighbour:
    index: int
    similarity: float


def nearest_neighbours(
    vectors: NDArray[np.floating[Any]], query: int, k: int = 8
) -> list[Neighbour]:
    """The ``k`` rows most similar to row ``query`` (itself excluded), most similar first.

    Exact brute force: one matrix-vector product, so 100k x 128 takes a few milliseconds and
    needs no index to build or keep in sync with the embeddings.
    """
    n = len(vectors)
    if not 0 <= query < n:
        raise IndexError(f"query row {query} is outside 0..{n - 1}")
    k = min(k, n - 1)
    if k <= 0:
        return []
    sims = np.asarray(vectors, dtype=np.float32) @ np.asarray(vectors[query], dtype=np.float32)
    sims[query] = -np.inf
    top = np.argpartition(-sims, k - 1)[:k]
    top = top[np.argsort(-sims[top], kind="stable")]
    return [Neighbour(int(i), float(sims[i])) for i in top]
