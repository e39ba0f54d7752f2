"""Grouped train/validation/test splits: one biological source never sits on two sides.

For BPS the group is the mouse (or well): nuclei of one animal are technical replicates, so
random per-image splits leak (bps_dataset.md section 2.5).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray


def split_by_group(
    groups: Sequence[object],
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    names: Sequence[str] = ("train", "val", "test"),
    random_state: int | None = None,
) -> NDArray[np.str_]:
    """Assigns every sample a split name so that each group lands in exactly one split.

    Groups are shuffled with ``random_state`` and dealt greedily to the split that is furthest
    below its target share of samples.

    Returns:
        Array of shape (n_samples,) holding one of ``names`` per sample.

    Raises:
        ValueError: fractions and names differ in length, fractions do not sum to 1, or there
            are fewer groups than splits.
    """
    if len(fractions) != len(names):
        raise ValueError("fractions and names must have the same length")
    if not np.isclose(sum(fractions), 1.0) or min(fractions) <= 0:
        raise ValueError(f"fractions must be positive and sum to 1, got {list(fractions)}")
    keys = np.asarray([str(g) for g in groups])
    uniq, counts = np.unique(keys, return_counts=True)
    if len(uniq) < len(names):
        raise ValueError(f"{len(uniq)} groups cannot fill {len(names)} splits")
    rng = np.random.default_rng(random_state)
    order = rng.permutation(len(uniq))
    target = np.asarray(fractions) * len(keys)
    filled = np.zeros(len(names))
    assignment: dict[str, str] = {}
    # Give every split one group first, then deal the rest by largest deficit.
    for rank, gi in enumerate(order):
        s = rank if rank < len(names) else int(np.argmax(target - filled))
        assignment[str(uniq[gi])] = names[s]
        filled[s] += counts[gi]
    return np.asarray([assignment[k] for k in keys])
