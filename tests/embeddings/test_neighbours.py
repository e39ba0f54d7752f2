from __future__ import annotations

import numpy as np
import pytest

from bps_core.embeddings.neighbours import most_similar, nearest_neighbours
from bps_core.embeddings.store import l2_normalise


def test_nearest_neighbours__match_a_full_sort_and_exclude_the_query() -> None:
    rng = np.random.default_rng(0)
    v = l2_normalise(rng.normal(size=(500, 16)))
    got = nearest_neighbours(v, 7, k=10)
    sims = v @ v[7]
    order = [i for i in np.argsort(-sims) if i != 7][:10]
    assert [n.index for n in got] == order
    assert all(a.similarity >= b.similarity for a, b in zip(got, got[1:], strict=False))
    assert got[0].similarity == pytest.approx(float(sims[order[0]]))


def test_nearest_neighbours__small_sets_and_bad_rows() -> None:
    v = l2_normalise(np.eye(3))
    assert len(nearest_neighbours(v, 0, k=8)) == 2
    assert nearest_neighbours(v[:1], 0) == []
    with pytest.raises(IndexError, match="outside"):
        nearest_neighbours(v, 3)


def test_most_similar__max_over_the_query_rows_excluding_query_and_masked() -> None:
    rng = np.random.default_rng(1)
    v = l2_normalise(rng.normal(size=(300, 8)))
    query = [3, 40, 41]
    exclude = np.zeros(300, dtype=bool)
    exclude[:20] = True
    got = most_similar(v, query, 15, exclude=exclude, chunk=64)
    sims = (v @ v[query].T).max(axis=1)
    allowed = [i for i in np.argsort(-sims) if i not in query and not exclude[i]]
    assert [n.index for n in got] == allowed[:15]
    assert got[0].similarity == pytest.approx(float(sims[allowed[0]]))


def test_most_similar__empty_query_small_pool_and_bad_rows() -> None:
    v = l2_normalise(np.eye(4))
    assert most_similar(v, [], 3) == []
    assert [n.index for n in most_similar(v, [0, 1], 10)] != []
    assert len(most_similar(v, [0, 1], 10)) == 2  # only two rows are eligible
    with pytest.raises(IndexError, match="query rows"):
        most_similar(v, [4], 1)


def test_most_similar__a_large_query_is_subsampled_with_its_seed() -> None:
    v = l2_normalise(np.random.default_rng(2).normal(size=(400, 8)))
    query = list(range(100))
    a = most_similar(v, query, 10, max_query=20, random_state=5)
    b = most_similar(v, query, 10, max_query=20, random_state=5)
    assert a == b
    assert all(n.index >= 100 for n in a)
