"""k-NN outlier scores."""

from __future__ import annotations

import numpy as np

from bps_core.quality.duplicates import nearest_neighbours
from bps_core.quality.outliers import knn_outlier_scores, percentile_cutoff


def test_knn_outlier_scores__the_isolated_point_scores_highest() -> None:
    x = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)
    x[42] += 20.0
    scores = knn_outlier_scores(nearest_neighbours(x, k=5))
    assert int(np.argmax(scores)) == 42
    assert scores[42] > percentile_cutoff(scores, 99.0)


def test_knn_outlier_scores__a_lone_sample_has_no_score() -> None:
    scores = knn_outlier_scores(nearest_neighbours(np.zeros((1, 3), dtype=np.float32), k=2))
    assert np.isnan(scores).all()
    assert percentile_cutoff(scores, 99.0) == float("inf")
