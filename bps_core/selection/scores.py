"""Uncertainty scores from class probabilities: higher means more informative to label."""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray

Measure = Literal["least_confidence", "margin", "entropy"]
MEASURES: tuple[Measure, ...] = ("least_confidence", "margin", "entropy")


def uncertainty(
    probabilities: NDArray[np.floating], measure: Measure = "entropy"
) -> NDArray[np.float32]:
    """Per-row uncertainty in [0, 1] of an (n, k) probability matrix.

    ``least_confidence``: 1 - max p. ``margin``: 1 - (p1 - p2), the gap between the two most
    likely classes. ``entropy``: Shannon entropy divided by log(k).
    """
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 0.0, 1.0)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"probabilities must have shape (n, k >= 2), got {p.shape}")
    if measure == "least_confidence":
        out = 1.0 - p.max(axis=1)
    elif measure == "margin":
        top2 = np.partition(p, -2, axis=1)[:, -2:]
        out = 1.0 - (top2[:, 1] - top2[:, 0])
    elif measure == "entropy":
        with np.errstate(divide="ignore", invalid="ignore"):
            h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
        out = h / np.log(p.shape[1])
    else:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}, got {measure!r}")
    result: NDArray[np.float32] = np.clip(out, 0.0, 1.0).astype(np.float32)
    return result
