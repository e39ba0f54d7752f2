"""Nearest neighbours in embedding space (cosine similarity on L2-normalised vectors).

Exact scans by default; given an approximate ``NeighbourIndex`` (``bps_core.embeddings.index``,
an HNSW graph built once per embedding version), they search the graph for candidates and
score those exactly, so a query at 1M rows costs milliseconds instead of a full scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bps_core.embeddings.index import QUERY_EF_SEARCH, NeighbourIndex


@dataclass(frozen=True)
class Neighbour:
    """One neighbour: its row ``index`` in the vectors and its cosine ``similarity``."""

    index: int
    similarity: float


def _approximate(index: NeighbourIndex | None, vectors: NDArray[Any]) -> bool:
    if index is None or index.exact:
        return False
    if len(index) != len(vectors):
        raise ValueError(f"the index holds {len(index)} rows, the vectors {len(vectors)}")
    return True


def _ranked(rows: NDArray[np.intp], sims: NDArray[np.float32], k: int) -> list[Neighbour]:
    top = np.argpartition(-sims, k - 1)[:k] if len(sims) > k else np.arange(len(sims))
    top = top[np.argsort(-sims[top], kind="stable")]
    return [Neighbour(int(rows[i]), float(sims[i])) for i in top]


def nearest_neighbours(
    vectors: NDArray[np.floating[Any]],
    query: int,
    k: int = 8,
    *,
    index: NeighbourIndex | None = None,
) -> list[Neighbour]:
    """The ``k`` rows most similar to row ``query`` (itself excluded), most similar first.

    Without ``index`` (or with an exact one) this is exact brute force: one matrix-vector
    product, a few milliseconds at 100k x 128. With an HNSW index the graph proposes the
    rows and their similarities are computed exactly (recall measured in
    bench/bench_neighbours.py).

    Args:
        vectors: L2-normalised array of shape (n_samples, dim).
        query: Row of the example.
        k: How many rows to return (fewer when the set is smaller).
        index: The neighbour index over ``vectors`` (``embeddings.index``), or None.

    Raises:
        IndexError: ``query`` is not a row of ``vectors``.
    """
    n = len(vectors)
    if not 0 <= query < n:
        raise IndexError(f"query row {query} is outside 0..{n - 1}")
    k = min(k, n - 1)
    if k <= 0:
        return []
    if _approximate(index, vectors):
        assert index is not None
        _, found = index.search(np.asarray(vectors[query])[None, :], k + 1,
                                ef=max(QUERY_EF_SEARCH, k + 1))  # fmt: skip
        rows = found[0][(found[0] >= 0) & (found[0] != query)][:k]
        if len(rows) == k:
            x = np.asarray(vectors[rows], dtype=np.float32)
            return _ranked(rows, x @ np.asarray(vectors[query], dtype=np.float32), k)
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
    index: NeighbourIndex | None = None,
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
        index: The neighbour index over ``vectors`` (``embeddings.index``), or None. With an
            HNSW index, each query row's ``k`` nearest eligible rows come from the graph and
            are scored exactly; the exact scan remains the fallback when the graph finds
            fewer than ``k`` eligible rows.
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
    if _approximate(index, vectors):
        assert index is not None
        qx = np.asarray(vectors[q], dtype=np.float32)
        _, found = index.search(qx, k, ef=max(QUERY_EF_SEARCH, k), exclude=~eligible)
        rows = np.unique(found[found >= 0])
        if len(rows) >= k:
            x_rows = np.asarray(vectors[rows], dtype=np.float32)
            return _ranked(rows, (x_rows @ qx.T).max(axis=1), k)
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
