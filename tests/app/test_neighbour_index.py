"""The app holds one neighbour index per embedding version (bps_app.cache.neighbour_index)."""

from __future__ import annotations

import numpy as np

from bps_app import cache
from bps_core.embeddings.store import l2_normalise, save_embedding_set
from bps_core.project import Project


def _vectors(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(10, 8))
    return l2_normalise(centres[rng.integers(10, size=1200)] + 0.3 * rng.normal(size=(1200, 8)))


def test_neighbour_index__built_once_per_version_and_none_below_the_threshold(
    tiny_project: Project,
) -> None:
    keys = [f"k{i}" for i in range(1200)]
    a = save_embedding_set(tiny_project, "pixels", {"s": 1}, keys, _vectors(1))
    b = save_embedding_set(tiny_project, "pixels", {"s": 2}, keys, _vectors(2))
    folder = str(tiny_project.folder)
    cache.neighbour_index.clear()
    first = cache.neighbour_index(folder, a.version, 1000)
    assert first is not None
    assert not first.exact
    assert cache.neighbour_index(folder, a.version, 1000) is first  # reused, not rebuilt
    other = cache.neighbour_index(folder, b.version, 1000)
    assert other is not None
    assert other is not first
    assert (other.search(b.vectors[:3], 1)[1][:, 0] == np.arange(3)).all()
    assert cache.neighbour_index(folder, a.version, 5000) is None  # an exact scan instead
    cache.neighbour_index.clear()
