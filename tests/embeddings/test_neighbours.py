from __future__ import annotations

import numpy as np
import pytest

from bps_core.embeddings.neighbours import nearest_neighbours
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
