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
    Mixture,
    RandomStrategy,
    Similarity,
    Strategy,
    Threshold,
    Typicality,
    Uncertainty,
)

#: Named strategies for the CLI and the Rounds page. ``default`` is ``hybrid_random`` once a
#: model exists (uncertainty needs one), random before. In bench/bench_selection.py's simulation
#: on the BPS demo, uncertainty-led picks alone (hybrid, modAL) found the rare has_track class
#: 1.7x sooner than random but needed almost twice random's labels on particle_type, whose
#: classes overlap: they keep sampling the overlap. Spending half of each batch on a random
#: draw kept most of the has_track gain and beat random on particle_type too. Diversity and
#: typicality as the cold start kept missing the rare class for most seeds.
NAMED = ("random", "diversity", "uncertainty", "margin", "least_confidence", "hybrid",
         "hybrid_random", "typicality", "default")  # fmt: skip


#: Strategies that need a model's probabilities.
NEEDS_MODEL = frozenset({"uncertainty", "margin", "least_confidence", "hybrid", "hybrid_random"})


def resolve(name: str, *, has_model: bool) -> str:
    """The strategy a name stands for: ``default`` is hybrid_random with a model, else random."""
    if name == "default":
        return "hybrid_random" if has_model else "random"
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
        "hybrid_random": lambda: Mixture(
            ((Hybrid(random_state=random_state), 1.0), (RandomStrategy(random_state), 1.0))
        ),
        "typicality": lambda: Typicality(random_state=random_state),
    }
    if name not in makers:
        raise SelectionError(f"unknown strategy {name!r}; choose one of {', '.join(NAMED)}")
    strategy: Strategy = makers[name]()
    return strategy


__all__ = [
    "NAMED", "NEEDS_MODEL", "Balance", "Diversity", "Hybrid", "Mixture", "Pool", "RandomStrategy",
    "SelectionConfig", "SelectionError", "Similarity", "Strategy", "Threshold", "Typicality",
    "Uncertainty", "make_strategy", "resolve",
]  # fmt: skip
