"""Exact duplicates, nearest neighbours (exact and HNSW) and near-duplicate pairs."""

from __future__ import annotations

import numpy as np

from bps_core.quality.duplicates import (
    exact_duplicate_groups,
    near_duplicate_pairs,
    nearest_neighbours,
)


def test_exact_duplicate_groups__numbers_shared_hashes_in_first_seen_order() -> None:
    groups = exact_duplicate_groups(["b", "a", "c", "a", "b", "", ""])
    assert groups.tolist() == [0, 1, -1, 1, 0, -1, -1]


def test_nearest_neighbours__never_returns_the_row_itself_even_beside_its_duplicate() -> None:
    x = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    x[7] = x[3]  # an exact duplicate: distance 0 to row 3, so either may come first
    nb = nearest_neighbours(x, k=3)
    assert nb.exact
    assert not (nb.indices == np.arange(50)[:, None]).any()
    assert nb.indices[3, 0] == 7
    assert nb.indices[7, 0] == 3
    assert nb.distances[3, 0] == 0.0
    assert (np.diff(nb.distances, axis=1) >= 0).all()


def test_nearest_neighbours__hnsw_finds_the_exact_neighbours_on_a_small_set() -> None:
    x = np.random.default_rng(1).normal(size=(400, 8)).astype(np.float32)
    exact = nearest_neighbours(x, k=1)
    approx = nearest_neighbours(x, k=1, exact_below=0)
    assert not approx.exact
    assert (approx.indices[:, 0] == exact.indices[:, 0]).mean() > 0.98


def test_nearest_neighbours__fewer_rows_than_k_pads_with_inf() -> None:
    nb = nearest_neighbours(np.zeros((2, 3), dtype=np.float32), k=4)
    assert nb.indices[:, 0].tolist() == [1, 0]
    assert (nb.indices[:, 1:] == -1).all()
    assert np.isinf(nb.distances[:, 1:]).all()


def test_near_duplicate_pairs__lists_each_close_pair_once_closest_first() -> None:
    x = np.array([[0, 0], [0, 0.1], [5, 5], [5, 5.05], [10, 0]], dtype=np.float32)
    pairs = near_duplicate_pairs(nearest_neighbours(x, k=2), max_distance=0.2)
    assert pairs[["a", "b"]].values.tolist() == [[2, 3], [0, 1]]
