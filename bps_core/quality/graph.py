"""The nearest-neighbour graphs behind the quality flags, kept on disk once computed.

Near-duplicates and outliers need the k nearest neighbours of every good sample: an
all-pairs search that takes seconds at 50k samples and minutes at a million. The map,
queue and filters show the flags as facets on every page, so that search must never run on a
page load of a large project. A graph is therefore stored once computed (the Quality page,
``bps-labeler flags``), per embedding set (or descriptor set), k and set of rows, and the
facets compute one themselves only up to ``INLINE_MAX`` rows; above it they use a stored
graph or leave the neighbour flags out until one is computed.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bps_core.embeddings.index import EXACT_BELOW, NeighbourIndex
from bps_core.errors import StorageWriteError
from bps_core.quality.duplicates import Neighbours, nearest_neighbours

#: The facets compute a neighbour graph themselves only up to this many rows (a few seconds);
#: above it they wait for a stored one.
INLINE_MAX = 50_000
GRAPH_DIR = "neighbours"
#: Graphs kept per kind (embedding, descriptor); older ones are removed when one is stored.
KEEP = 2


def rows_digest(rows: NDArray[np.integer] | Sequence[str]) -> str:
    """A short digest of which rows a graph covers (row numbers or sample keys)."""
    h = hashlib.blake2b(digest_size=8)
    if isinstance(rows, np.ndarray):
        h.update(np.ascontiguousarray(rows, dtype=np.int64).tobytes())
    else:
        for key in rows:
            h.update(key.encode())
            h.update(b"\0")
    return h.hexdigest()


def graph_path(arrays_dir: Path, kind: str, version: str, k: int, digest: str) -> Path:
    """Where the graph of ``kind`` over ``version``'s rows ``digest`` with ``k`` is stored."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in version)[:80]
    return Path(arrays_dir) / GRAPH_DIR / f"{kind}-{safe}-k{k}-{digest}.npz"


def load_graph(path: Path, n: int, k: int) -> Neighbours | None:
    """The stored graph at ``path`` when it has ``n`` rows of at least ``k``; else None."""
    try:
        with np.load(path) as f:
            distances = f["distances"]
            indices = f["indices"]
            exact = bool(f["exact"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # absent, cut, foreign
        return None
    if distances.shape != indices.shape or distances.shape[0] != n or distances.shape[1] < k:
        return None
    return Neighbours(distances.astype(np.float32, copy=False), indices.astype(np.intp), exact)


def save_graph(path: Path, graph: Neighbours) -> bool:
    """Stores ``graph`` atomically; False (and nothing stored) when the folder is read-only."""
    from bps_core.atomic import atomic_path

    try:
        with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as out:
            np.savez(
                out,
                distances=graph.distances.astype(np.float32),
                indices=graph.indices.astype(np.int32),
                exact=np.array(graph.exact),
            )
    except (StorageWriteError, OSError):
        return False
    kind = path.name.split("-", 1)[0]
    older = sorted(path.parent.glob(f"{kind}-*.npz"), key=lambda p: p.stat().st_mtime)
    for stale in [p for p in older if p != path][: max(0, len(older) - KEEP)]:
        stale.unlink(missing_ok=True)
    return True


def neighbour_graph(
    arrays_dir: Path,
    kind: str,
    version: str,
    vectors: NDArray[np.floating],
    digest: str,
    k: int,
    *,
    compute: bool = True,
    store: bool = True,
    exact_below: int = EXACT_BELOW,
    index: NeighbourIndex | None = None,
) -> Neighbours | None:
    """The k-nearest-neighbour graph of ``vectors``: stored, else computed and stored.

    Args:
        arrays_dir: The project's arrays folder.
        kind: ``embedding`` or ``descriptor``.
        version: The embedding set's version (or the descriptors' token).
        vectors: The rows the graph covers, shape (n, dim).
        digest: ``rows_digest`` of which rows these are.
        k: Neighbours per row.
        compute: Whether to compute a graph that is not stored; False returns None then.
        store: Whether to store a graph computed here.
        exact_below: Exact search below this many rows, HNSW above.
        index: An index over exactly ``vectors`` (a cached one) to search instead of
            building one.

    Returns:
        The ``Neighbours``, or None when none is stored and ``compute`` is False.
    """
    path = graph_path(arrays_dir, kind, version, k, digest)
    stored = load_graph(path, len(vectors), k)
    if stored is not None or not compute:
        return stored
    graph = nearest_neighbours(vectors, k, exact_below=exact_below, index=index)
    if store:
        save_graph(path, graph)
    return graph


def graphs_token(arrays_dir: Path) -> tuple[int, int]:
    """Changes whenever a graph is stored or removed: (file count, newest modification)."""
    try:
        files = list((Path(arrays_dir) / GRAPH_DIR).glob("*.npz"))
        return (len(files), max((p.stat().st_mtime_ns for p in files), default=0))
    except OSError:
        return (0, 0)


__all__ = ["INLINE_MAX", "graph_path", "graphs_token", "load_graph", "neighbour_graph",
           "rows_digest", "save_graph"]  # fmt: skip
