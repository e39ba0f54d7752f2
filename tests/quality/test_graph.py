"""Stored neighbour graphs: computed once, read back equal, never computed on a page load of
a large project."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bps_core import facets
from bps_core.project import Project
from bps_core.quality import flags, graph
from bps_core.quality.duplicates import nearest_neighbours


def _vectors(n: int = 60, dim: int = 8, seed: int = 0) -> np.ndarray[Any, Any]:
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


def _no_search(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Makes any neighbour search fail the test; returns the sizes it was asked for."""
    calls: list[int] = []

    def refuse(vectors: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(vectors))
        raise AssertionError("a neighbour search ran")

    monkeypatch.setattr(graph, "nearest_neighbours", refuse)
    return calls


def test_neighbour_graph__stored_once_then_read_back_equal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = _vectors()
    digest = graph.rows_digest(np.arange(len(x)))
    first = graph.neighbour_graph(tmp_path, "embedding", "v1", x, digest, 5)
    expected = nearest_neighbours(x, 5)
    assert first is not None
    np.testing.assert_array_equal(first.indices, expected.indices)
    _no_search(monkeypatch)
    again = graph.neighbour_graph(tmp_path, "embedding", "v1", x, digest, 5, compute=False)
    assert again is not None
    np.testing.assert_array_equal(again.indices, expected.indices)
    np.testing.assert_array_equal(again.distances, expected.distances)
    assert again.exact == expected.exact
    # fewer neighbours than stored are served by the same file; another row set is not
    assert graph.load_graph(graph.graph_path(tmp_path, "embedding", "v1", 5, digest), 60, 3)
    other = graph.rows_digest(np.arange(len(x) - 1))
    assert graph.neighbour_graph(tmp_path, "embedding", "v1", x, other, 5, compute=False) is None


def test_load_graph__a_cut_or_foreign_file_is_computed_again(tmp_path: Path) -> None:
    x = _vectors()
    digest = graph.rows_digest(["a", "b"])
    path = graph.graph_path(tmp_path, "descriptor", "1-2", 5, digest)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 not really a zip")
    assert graph.load_graph(path, len(x), 5) is None
    computed = graph.neighbour_graph(tmp_path, "descriptor", "1-2", x, digest, 5)
    assert computed is not None
    assert graph.load_graph(path, len(x), 5) is not None
    assert graph.load_graph(path, len(x) + 1, 5) is None  # the rows no longer match


def test_save_graph__keeps_the_newest_graphs_per_kind(tmp_path: Path) -> None:
    x = _vectors(20)
    for version in ("v1", "v2", "v3"):
        graph.neighbour_graph(tmp_path, "embedding", version, x, "d", 3)
    graph.neighbour_graph(tmp_path, "descriptor", "t", x, "d", 3)
    names = sorted(p.name for p in (tmp_path / graph.GRAPH_DIR).glob("*.npz"))
    assert len([n for n in names if n.startswith("embedding-")]) == graph.KEEP
    assert any(n.startswith("embedding-v3") for n in names)
    assert any(n.startswith("descriptor-") for n in names)


def test_facet_columns__above_the_inline_limit_wait_for_a_stored_graph(
    embedded: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large project's pages never run the all-pairs search; once the Quality page (here
    ``project_flags``, as the CLI) stored the graph, the facets carry the same flags."""
    full = flags.project_flags(embedded, flags.FlagThresholds())
    assert full is not None
    assert full.frame.outlier_score.notna().all()
    for path in (embedded.arrays_dir / graph.GRAPH_DIR).glob("*.npz"):
        path.unlink()  # as before anyone visited the Quality page
    monkeypatch.setattr(flags, "INLINE_MAX", 5)
    calls = _no_search(monkeypatch)
    before = facets.facets_version(embedded)
    pending = flags.facet_columns(embedded)
    assert calls == []
    assert pending is not None
    assert pending.outlier_score.isna().all()
    assert not pending.outlier.any()
    assert not pending.near_duplicate.any()
    monkeypatch.undo()
    assert flags.project_flags(embedded, flags.FlagThresholds()) is not None  # stores it
    assert facets.facets_version(embedded) != before  # so the cached facets are rebuilt
    monkeypatch.setattr(flags, "INLINE_MAX", 5)
    _no_search(monkeypatch)
    served = flags.facet_columns(embedded)
    assert served is not None
    pd.testing.assert_frame_equal(served, full.frame[served.columns])
