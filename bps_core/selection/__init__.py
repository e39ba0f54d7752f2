"""Active-learning selection: strategies over a ``Pool`` and Lightly-style combinations.

``make_strategy("hybrid", random_state=0).select(pool, 100)`` returns 100 pool rows.
"""

from __future__ import annotations

from bps_core.selection.combine import SelectionConfig
from bps_core.selection.pool import Pool, SelectionError
from bps_core.selection.registry import (
    HELP,
    NAMED,
    NEEDS_MODEL,
    REGISTRY,
    StrategySpec,
    make_strategy,
    resolve,
)
from bps_core.selection.strategies import (
    Balance,
    ClusterMargin,
    Diversity,
    Hybrid,
    Mixture,
    RandomStrategy,
    RareClass,
    Similarity,
    Strategy,
    Threshold,
    Typicality,
    TypiClust,
    Uncertainty,
)

__all__ = [
    "HELP", "NAMED", "NEEDS_MODEL", "REGISTRY", "Balance", "ClusterMargin", "Diversity", "Hybrid",
    "Mixture", "Pool", "RandomStrategy", "RareClass", "StrategySpec", "SelectionConfig",
    "SelectionError", "Similarity", "Strategy", "Threshold", "TypiClust", "Typicality",
    "Uncertainty", "make_strategy", "resolve",
]  # fmt: skip
