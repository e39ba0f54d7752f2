"""Outlier score: the mean distance to the k nearest neighbours in embedding space.

A sample far from all others is unlike the rest of the set: debris, a crop of two nuclei, a
focus-less blur, a different stain. The score is the k-NN distance outlier score; the flag is
a percentile of it, so it means "the most isolated x %" whatever the embedding's scale.

- [0] Ramaswamy, Rastogi & Shim, 2000, https://doi.org/10.1145/335191.335437
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from bps_core.quality.duplicates import Neighbours


def knn_outlier_scores(neighbours: Neighbours) -> NDArray[np.float64]:
    """Mean distance of each row to its k nearest neighbours (NaN where it has none).

    Args:
        neighbours: From ``duplicates.nearest_neighbours``.

    Returns:
        Array of shape (n,).
    """
    d = np.where(np.isfinite(neighbours.distances), neighbours.distances, np.nan)
    out = np.full(len(d), np.nan)
    has = ~np.isnan(d).all(axis=1) if d.shape[1] else np.zeros(len(d), dtype=bool)
    out[has] = np.nanmean(d[has], axis=1)
    return out


def percentile_cutoff(scores: NDArray[np.float64], percentile: float) -> float:
    """The score at ``percentile`` (0..100) of the finite scores; inf when there are none."""
    finite = scores[np.isfinite(scores)]
    return float(np.percentile(finite, percentile)) if finite.size else float("inf")
