"""What a strategy selects from: embeddings, which samples are labeled, model scores, metadata."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bps_core.errors import BpsError


class SelectionError(BpsError, ValueError):
    """A selection cannot be made as asked (pool too small, missing scores, bad config)."""


Indices = NDArray[np.int64]


@dataclass(frozen=True)
class Pool:
    """Row ``i`` of every array belongs to sample ``keys[i]``.

    ``embeddings`` are L2-normalised, shape (n, d). ``labeled`` marks samples that already
    have a label (they are never selected, but diversity counts them as covered).
    ``probabilities`` (n, classes) come from the current model, ``metadata`` has n rows.
    ``excluded`` marks samples that may not be picked for other reasons (bad files).
    """

    keys: Sequence[str]
    embeddings: NDArray[np.float32]
    labeled: NDArray[np.bool_]
    probabilities: NDArray[np.float32] | None = None
    classes: Sequence[str] = ()
    metadata: pd.DataFrame | None = None
    excluded: NDArray[np.bool_] | None = None
    scores: dict[str, NDArray[np.float32]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.keys)
        if self.embeddings.ndim != 2 or len(self.embeddings) != n:
            raise SelectionError(
                f"embeddings must have shape (n, d) with n = {n} samples, "
                f"got {self.embeddings.shape}"
            )
        if self.labeled.shape != (n,):
            raise SelectionError(f"labeled must have shape ({n},), got {self.labeled.shape}")
        if self.probabilities is not None and len(self.probabilities) != n:
            raise SelectionError(f"probabilities must have {n} rows, got {len(self.probabilities)}")
        if self.metadata is not None and len(self.metadata) != n:
            raise SelectionError(f"metadata must have {n} rows, got {len(self.metadata)}")

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def candidates(self) -> Indices:
        """Indices that may be selected: not labeled, not excluded, in ascending order."""
        ok = ~self.labeled
        if self.excluded is not None:
            ok &= ~self.excluded
        return np.flatnonzero(ok).astype(np.int64)

    def column(self, name: str) -> pd.Series:
        """Metadata column ``name``, with a clear error when it does not exist."""
        if self.metadata is None or name not in self.metadata.columns:
            have = ", ".join(map(str, [] if self.metadata is None else self.metadata.columns))
            raise SelectionError(f"no metadata column {name!r}; the pool has: {have or 'none'}")
        return self.metadata[name].reset_index(drop=True)


def check_budget(pool: Pool, budget: int, candidates: Indices | None = None) -> Indices:
    """The candidates, after checking that ``budget`` of them can be picked."""
    cand = pool.candidates if candidates is None else candidates
    if budget < 1:
        raise SelectionError(f"budget must be at least 1, got {budget}")
    if budget > len(cand):
        raise SelectionError(
            f"cannot select {budget} samples: only {len(cand)} unlabeled candidates are left "
            "(lower the batch size or relax the filters)"
        )
    return cand


def rng_for(random_state: int | None) -> np.random.Generator:
    """Returns a numpy generator seeded with ``random_state`` (None: fresh OS entropy)."""
    return np.random.default_rng(random_state)
