from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bps_core.embeddings.store import l2_normalise
from bps_core.selection import Pool


def make_pool(n: int = 400, d: int = 16, n_labeled: int = 20, seed: int = 0) -> Pool:
    """Clustered unit vectors, BPS-like metadata and a model's probabilities."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(6, d)) * 3
    cluster = rng.integers(0, 6, n)
    x = l2_normalise(centers[cluster] + rng.normal(size=(n, d)))
    labeled = np.zeros(n, dtype=bool)
    labeled[rng.choice(n, n_labeled, replace=False)] = True
    logits = rng.normal(size=(n, 3)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    meta = pd.DataFrame(
        {
            "particle_type": np.where(rng.random(n) < 0.8, "X-ray", "Fe"),
            "dose_Gy": rng.choice([0.0, 0.1, 0.3, 1.0], n),
            "hr_post_exposure": rng.choice([4, 24, 48], n),
        }
    )
    return Pool(
        keys=[f"input:s{i}.tif" for i in range(n)],
        embeddings=x,
        labeled=labeled,
        probabilities=probs.astype(np.float32),
        classes=("a", "b", "c"),
        metadata=meta,
    )


@pytest.fixture
def pool() -> Pool:
    return make_pool()
