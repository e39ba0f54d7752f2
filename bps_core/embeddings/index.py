"""One nearest-neighbour index per embedding set: exact below a size threshold, HNSW above.

Everything that asks "which rows are nearest" goes through here: the sample detail's
neighbours and "find similar" (``bps_core.embeddings.neighbours``), the typicality of the
selection strategies, and the near-duplicate and outlier flags (``bps_core.quality``).

Below a threshold the search is exact (brute force: nothing left to chance, and cheap at that
size); above it, an HNSW graph [0] from faiss [1], whose query cost grows as log n instead of n.
Two thresholds, because the two uses scale differently:

- ``EXACT_BELOW`` (20,000 rows) for the k nearest neighbours of *every* row (the quality
  flags, typicality): brute force costs n^2 there.
- ``QUERY_EXACT_BELOW`` (200,000 rows) for *one* query at a time (a click in the app): a scan
  costs n x dim per query, a few milliseconds at 100k, so the app builds no graph until the
  set is larger than that.

An HNSW graph over 1M rows takes minutes to build, so it is built once per embedding version:
``load_or_build_index`` keeps it beside the vectors (``arrays/embeddings/<version>.hnsw.faiss``,
written atomically) and the app holds it per version in ``st.cache_resource``.
``bench/bench_neighbours.py`` measures build time, query latency and recall@10 against exact
search at 1M rows.

- [0] Malkov & Yashunin, 2018, https://arxiv.org/abs/1603.09320 (HNSW)
- [1] Johnson, Douze & Jegou, 2019, https://arxiv.org/abs/1702.08734 (faiss)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from bps_core.atomic import atomic_path

if TYPE_CHECKING:
    from bps_core.project import Project

#: Below this many rows a k-nearest-neighbours-of-every-row search is exact; above it, HNSW.
EXACT_BELOW = 20_000
#: Below this many rows a single query (one click) scans exactly; above it, HNSW.
QUERY_EXACT_BELOW = 200_000
#: HNSW graph degree, build breadth and default search breadth (bench/bench_neighbours.py).
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 80, 64
#: Search breadth of a single query (a click): about a millisecond at 1M rows, far inside the
#: 20 ms budget, spent on recall (bench/bench_neighbours.py).
QUERY_EF_SEARCH = 256
#: The file name of a stored graph, beside the embedding set's vectors.
INDEX_SUFFIX = f".hnsw{HNSW_M}.faiss"


@dataclass(frozen=True)
class NeighbourIndex:
    """A searchable index over the rows of one embedding matrix (Euclidean distance).

    On L2-normalised embeddings the Euclidean order is the cosine order
    (``|a - b|^2 = 2 - 2 cos``), so one index serves both.

    Attributes:
        vectors: The indexed rows, float32, C-contiguous, shape (n, dim).
        index: The faiss index: ``IndexFlatL2`` (exact) or ``IndexHNSWFlat``.
        exact: Whether a search is exact (brute force).
    """

    vectors: NDArray[np.float32]
    index: Any
    exact: bool

    def __len__(self) -> int:
        return len(self.vectors)

    def search(
        self,
        queries: NDArray[np.floating[Any]],
        k: int,
        *,
        ef: int | None = None,
        exclude: NDArray[np.bool_] | None = None,
    ) -> tuple[NDArray[np.float32], NDArray[np.intp]]:
        """The ``k`` nearest indexed rows of each query row.

        Args:
            queries: Shape (m, dim).
            k: Neighbours per query.
            ef: HNSW search breadth (at least ``k`` is used); ignored when exact.
            exclude: Boolean mask over the indexed rows never to return.

        Returns:
            Squared Euclidean distances (m, k), ascending per row, and row numbers (m, k);
            -1 (and inf) where fewer than ``k`` rows were found.
        """
        import faiss as faiss_module  # a compiled library: imported where it is used

        faiss: Any = faiss_module  # its type stubs lack the search parameters
        q = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.vectors.shape[1])
        params: Any = None
        keep: Any = None
        if exclude is not None:
            keep = np.packbits(~np.asarray(exclude, dtype=bool), bitorder="little")
            selector = faiss.IDSelectorBitmap(len(self.vectors), faiss.swig_ptr(keep))
        if not self.exact:
            params = faiss.SearchParametersHNSW()
            params.efSearch = max(ef or HNSW_EF_SEARCH, k)
            if exclude is not None:
                params.sel = selector
        elif exclude is not None:
            params = faiss.SearchParameters()
            params.sel = selector
        d2, found = self.index.search(q, k, params=params)
        del keep  # the selector reads this buffer: kept alive until the search is done
        found = found.astype(np.intp)
        d2[found < 0] = np.inf
        return d2, found


def build_index(
    vectors: NDArray[np.floating[Any]], *, exact_below: int = EXACT_BELOW
) -> NeighbourIndex:
    """An index over ``vectors``: exact below ``exact_below`` rows, else an HNSW graph.

    Args:
        vectors: Shape (n, dim).
        exact_below: Brute force for fewer rows than this.

    Returns:
        The ``NeighbourIndex``.
    """
    import faiss

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = x.shape
    index: Any
    if n < exact_below:
        index = faiss.IndexFlatL2(dim)
    else:
        index = faiss.IndexHNSWFlat(dim, HNSW_M)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    index.add(x)
    return NeighbourIndex(x, index, n < exact_below)


def index_path(vectors_path: Path) -> Path:
    """Where the HNSW graph of the embedding set stored at ``vectors_path`` is kept."""
    return vectors_path.with_name(vectors_path.name.removesuffix(".npy") + INDEX_SUFFIX)


def load_or_build_index(
    vectors: NDArray[np.floating[Any]],
    path: Path | None,
    *,
    exact_below: int = QUERY_EXACT_BELOW,
) -> NeighbourIndex:
    """The index over ``vectors``, read from ``path`` when a graph of their shape is there.

    An exact index is never stored (it is the vectors themselves). A graph is built and
    written to ``path`` atomically when the file is missing, unreadable or of another shape;
    a failed write leaves the built index in use (the next process builds it again).

    Args:
        vectors: Shape (n, dim); the embedding set the graph belongs to.
        path: The file for the graph (``index_path``), or None to keep nothing on disk.
        exact_below: Brute force for fewer rows than this.

    Returns:
        The ``NeighbourIndex``.
    """
    import faiss

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if len(x) < exact_below or path is None:
        return build_index(x, exact_below=exact_below)
    if path.is_file():
        try:
            stored = faiss.read_index(str(path))
        except RuntimeError:  # cut or foreign file: rebuilt below
            stored = None
        if stored is not None and stored.ntotal == len(x) and stored.d == x.shape[1]:
            return NeighbourIndex(x, stored, False)
    built = build_index(x, exact_below=exact_below)
    try:
        with atomic_path(path, suffix=".faiss") as tmp:
            faiss.write_index(built.index, str(tmp))
    except Exception:  # noqa: BLE001 - a cache: the index in memory still serves
        pass
    return built


def embedding_set_index(
    project: Project,
    version: str,
    vectors: NDArray[np.floating[Any]],
    *,
    exact_below: int = QUERY_EXACT_BELOW,
) -> NeighbourIndex | None:
    """The query index of embedding set ``version``, or None where an exact scan is used.

    The graph is kept beside the set's vectors (``index_path``), so it is built once per
    embedding version, not once per process.

    Args:
        project: The open project.
        version: The embedding set's version.
        vectors: Its vectors (as ``load_embedding_set`` reads them).
        exact_below: Sets of fewer rows get None: callers scan them exactly.

    Returns:
        The HNSW ``NeighbourIndex``, or None below ``exact_below`` rows.
    """
    if len(vectors) < exact_below:
        return None
    record = project.embedding_sets.get(version)
    path = index_path(project.folder / record.path) if record is not None else None
    return load_or_build_index(vectors, path, exact_below=exact_below)
