"""Active-learning selection: strategies over a ``Pool`` and Lightly-style combinations.

``make_strategy("hybrid", random_state=0).select(pool, 100)`` returns 100 pool rows.
"""

from __future__ import annotations

from typing import Any

from bps_core.selection.combine import SelectionConfig
from bps_core.selection.pool import Pool, SelectionError
from bps_core.selection.strategies import (
    Balance,
    Diversity,
    Hybrid,
    RandomStrategy,
    Similarity,
    Strategy,
    Threshold,
    Typicality,
    Uncertainty,
)

#: Named strategies for the CLI and the Rounds page. ``default`` is hybrid once a model exists
#: (uncertainty needs one), random before: in bench/bench_selection.py's simulation on the BPS
#: demo, uncertainty-led picks need 1.7x fewer labels than random for the rare has_track class,
#: while diversity as the cold start kept missing the rare class for most seeds.
NAMED = ("random", "diversity", "uncertainty", "margin", "least_confidence", "hybrid",
         "typicality", "default")  # fmt: skip


#: Strategies that need a model's probabilities.
NEEDS_MODEL = frozenset({"uncertainty", "margin", "least_confidence", "hybrid"})


def resolve(name: str, *, has_model: bool) -> str:
    """The strategy a name stands for: ``default`` is hybrid with a model, random before."""
    if name == "default":
        return "hybrid" if has_model else "random"
    return name


def make_strategy(name: str, *, random_state: int | None = 0, has_model: bool = True) -> Strategy:
    """A named strategy with its recommended parameters."""
    name = resolve(name, has_model=has_model)
    makers: dict[str, Any] = {
        "random": lambda: RandomStrategy(random_state),
        "diversity": lambda: Diversity(random_state=random_state),
        "uncertainty": lambda: Uncertainty("entropy", random_state),
        "margin": lambda: Uncertainty("margin", random_state),
        "least_confidence": lambda: Uncertainty("least_confidence", random_state),
        "hybrid": lambda: Hybrid(random_state=random_state),
        "typicality": lambda: Typicality(random_state=random_state),
    }
    if name not in makers:
        raise SelectionError(f"unknown strategy {name!r}; choose one of {', '.join(NAMED)}")
    strategy: Strategy = makers[name]()
    return strategy


__all__ = [
    "NAMED", "NEEDS_MODEL", "Balance", "Diversity", "Hybrid", "Pool", "RandomStrategy",
    "SelectionConfig", "SelectionError", "Similarity", "Strategy", "Threshold", "Typicality",
    "Uncertainty", "make_strategy", "resolve",
]  # fmt: skip
