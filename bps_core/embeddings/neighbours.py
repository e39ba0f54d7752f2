"""Nearest neighbours in embedding space (cosine similarity on L2-normalised vectors)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Neighbour:
    """One neighbour: its row ``index`` in the vectors and its cosine ``similarity``."""

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


def most_similar(
    vectors: NDArray[np.floating[Any]],
    query: NDArray[np.intp] | list[int],
    k: int,
    *,
    exclude: NDArray[np.bool_] | None = None,
    max_query: int = 256,
    random_state: int | None = 0,
    chunk: int = 16384,
) -> list[Neighbour]:
    """Finds the ``k`` rows most similar to any of the ``query`` rows (query by example).

    Most similar first; query rows and rows where ``exclude`` is True are never returned.

    A row's similarity is its largest cosine similarity to a query row (as the Similarity
    strategy scores), so a selection spanning two clusters finds neighbours of both. A query
    of more than ``max_query`` rows is represented by a seeded subsample of that many, which
    keeps 100k rows x a 5,000-row lasso at a fraction of a second.

    Args:
        vectors: L2-normalised array of shape (n_samples, dim).
        query: Row indices of the examples.
        k: How many rows to return (fewer when fewer are eligible).
        exclude: Boolean mask of shape (n_samples,) of rows never to return.
        max_query: The most query rows scored against.
        random_state: Seed of the subsample of a large query.
        chunk: Rows scored per matrix product (bounds memory).
    """
    n = len(vectors)
    q = np.unique(np.asarray(query, dtype=np.intp))
    if q.size and (q[0] < 0 or q[-1] >= n):
        raise IndexError(f"query rows must be in 0..{n - 1}")
    eligible = np.ones(n, dtype=bool) if exclude is None else ~np.asarray(exclude, dtype=bool)
    eligible[q] = False
    k = min(k, int(eligible.sum()))
    if q.size == 0 or k <= 0:
        return []
    if q.size > max_query:
        q = np.sort(np.random.default_rng(random_state).choice(q, max_query, replace=False))
    x = np.asarray(vectors, dtype=np.float32)
    qv = x[q].T
    sims = np.full(n, -np.inf, dtype=np.float32)
    for start in range(0, n, chunk):
        rows = np.flatnonzero(eligible[start : start + chunk]) + start
        if rows.size:
            sims[rows] = (x[rows] @ qv).max(axis=1)
    top = np.argpartition(-sims, k - 1)[:k]
    top = top[np.argsort(-sims[top], kind="stable")]
    return [Neighbour(int(i), float(sims[i])) for i in top]
