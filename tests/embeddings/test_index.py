"""The shared neighbour index: exact below its threshold, HNSW above, stored per version."""

from __future__ import annotations

import numpy as np
import pytest

from bps_core.embeddings import index as index_module
from bps_core.embeddings.index import (
    build_index,
    embedding_set_index,
    index_path,
    load_or_build_index,
)
from bps_core.embeddings.neighbours import most_similar, nearest_neighbours
from bps_core.embeddings.store import l2_normalise, save_embedding_set
from bps_core.project import Project


def _clustered(n: int = 3000, dim: int = 16, clusters: int = 30, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    return l2_normalise(centres[rng.integers(clusters, size=n)] + 0.3 * rng.normal(size=(n, dim)))


def _recall(got: list[list[int]], want: list[list[int]]) -> float:
    return float(np.mean([len(set(g) & set(w)) / len(w) for g, w in zip(got, want, strict=True)]))


def test_build_index__exact_below_the_threshold_hnsw_from_it() -> None:
    x = _clustered(200)
    assert build_index(x, exact_below=201).exact
    assert not build_index(x, exact_below=200).exact


def test_nearest_neighbours__hnsw_recall_at_10_against_exact_on_a_clustered_set() -> None:
    x = _clustered()
    graph = build_index(x, exact_below=1000)
    assert not graph.exact
    queries = np.random.default_rng(1).choice(len(x), 100, replace=False)
    want = [[n.index for n in nearest_neighbours(x, int(q), 10)] for q in queries]
    got = [[n.index for n in nearest_neighbours(x, int(q), 10, index=graph)] for q in queries]
    assert _recall(got, want) >= 0.95
    assert all(int(q) not in g and len(g) == 10 for q, g in zip(queries, got, strict=True))
    sims = [n.similarity for n in nearest_neighbours(x, int(queries[0]), 10, index=graph)]
    assert sims == sorted(sims, reverse=True)
    assert sims[0] == pytest.approx(float(x[got[0][0]] @ x[queries[0]]), abs=1e-6)


def test_nearest_neighbours__an_exact_index_gives_the_scan_results_identically() -> None:
    x = _clustered(500)
    graph = build_index(x, exact_below=10_000)
    for q in (0, 7, 499):
        assert nearest_neighbours(x, q, 10, index=graph) == nearest_neighbours(x, q, 10)
    exclude = np.zeros(len(x), dtype=bool)
    exclude[:50] = True
    assert most_similar(x, [3, 60], 20, exclude=exclude, index=graph) == most_similar(
        x, [3, 60], 20, exclude=exclude
    )


def test_most_similar__hnsw_recall_against_exact_and_never_an_excluded_row() -> None:
    x = _clustered()
    graph = build_index(x, exact_below=1000)
    exclude = np.zeros(len(x), dtype=bool)
    exclude[::3] = True
    query = [1, 2, 500, 2000]
    want = [n.index for n in most_similar(x, query, 50, exclude=exclude)]
    got = [n.index for n in most_similar(x, query, 50, exclude=exclude, index=graph)]
    assert len(got) == 50
    assert not exclude[got].any()
    assert not set(got) & set(query)
    assert _recall([got], [want]) >= 0.95


def test_most_similar__falls_back_to_the_scan_when_the_graph_finds_too_few() -> None:
    x = _clustered(1200)
    graph = build_index(x, exact_below=1000)
    exclude = np.ones(len(x), dtype=bool)
    exclude[-5:] = False  # five eligible rows, far from most queries
    got = most_similar(x, [0], 5, exclude=exclude, index=graph)
    assert sorted(n.index for n in got) == list(range(1195, 1200))


def test_nearest_neighbours__an_index_of_other_vectors_is_refused() -> None:
    graph = build_index(_clustered(300), exact_below=100)
    with pytest.raises(ValueError, match="300 rows"):
        nearest_neighbours(_clustered(400), 0, 5, index=graph)


def test_load_or_build_index__stores_the_graph_once_and_reads_it_back(
    tmp_path, monkeypatch
) -> None:
    x = _clustered(1500)
    path = tmp_path / "v1.hnsw32.faiss"
    first = load_or_build_index(x, path, exact_below=1000)
    assert path.is_file()
    assert not first.exact
    stamp = path.stat().st_mtime_ns

    def no_build(*args, **kwargs):
        raise AssertionError("the stored graph should have been read, not rebuilt")

    monkeypatch.setattr(index_module, "build_index", no_build)
    second = load_or_build_index(x, path, exact_below=1000)
    assert path.stat().st_mtime_ns == stamp
    q = x[:20]
    assert (second.search(q, 10)[1] == first.search(q, 10)[1]).all()


def test_load_or_build_index__rebuilds_a_cut_or_mismatched_file(tmp_path) -> None:
    x = _clustered(1500)
    path = tmp_path / "v1.hnsw32.faiss"
    path.write_bytes(b"not an index")
    assert len(load_or_build_index(x, path, exact_below=1000)) == 1500
    assert len(load_or_build_index(x[:1200], path, exact_below=1000)) == 1200  # other shape
    assert load_or_build_index(x[:1200], path, exact_below=1000).index.ntotal == 1200


def test_load_or_build_index__small_sets_are_exact_and_store_nothing(tmp_path) -> None:
    path = tmp_path / "v.hnsw32.faiss"
    assert load_or_build_index(_clustered(100), path, exact_below=1000).exact
    assert not path.exists()


def test_embedding_set_index__one_graph_per_version_beside_its_vectors(
    tiny_project: Project,
) -> None:
    project = tiny_project
    keys = [f"k{i}" for i in range(1500)]
    a = save_embedding_set(project, "pixels", {"s": 1}, keys, _clustered(1500, seed=1))
    b = save_embedding_set(project, "pixels", {"s": 2}, keys, _clustered(1500, seed=2))
    assert embedding_set_index(project, a.version, a.vectors, exact_below=2000) is None
    ga = embedding_set_index(project, a.version, a.vectors, exact_below=1000)
    gb = embedding_set_index(project, b.version, b.vectors, exact_below=1000)
    assert ga is not None
    assert gb is not None
    folder = project.arrays_dir / "embeddings"
    assert index_path(folder / f"{a.version}.npy").is_file()
    assert index_path(folder / f"{b.version}.npy").is_file()
    assert (ga.search(a.vectors[:5], 3)[1][:, 0] == np.arange(5)).all()
    assert (gb.search(b.vectors[:5], 3)[1][:, 0] == np.arange(5)).all()
