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

#: Named strategies for the CLI and the Rounds page. ``default`` is a random draw for the first
#: labels, ``typicality`` while there are labels but no model (fewer than two classes labeled),
#: and ``random`` once a model exists: the protocol bench/bench_selection.py measured (every
#: simulated run starts from 10 random labels) and chose on the BPS demo over 20 seeds. The
#: demo's tracks sit in dense parts of the embedding, so typical picks find the rare has_track
#: class early (one within the first 20 picks on every seed; half of 40-label random draws
#: hold none). After that no model-driven strategy beat a random draw: uncertainty-led picks
#: (hybrid, modAL, the previous default half hybrid / half random) needed more labels than
#: random on both tasks, and diversity after the cold start, the best on has_track, needed
#: twice random's labels on particle_type.
NAMED = ("random", "diversity", "uncertainty", "margin", "least_confidence", "hybrid",
         "hybrid_random", "typicality", "default")  # fmt: skip


#: Strategies that need a model's probabilities.
NEEDS_MODEL = frozenset({"uncertainty", "margin", "least_confidence", "hybrid", "hybrid_random"})


def resolve(name: str, *, has_model: bool, has_labels: bool = True) -> str:
    """The strategy a name stands for: ``default`` is random for the first labels, then
    typicality until a model exists, then random."""
    if name == "default":
        return "typicality" if has_labels and not has_model else "random"
    return name


def make_strategy(
    name: str, *, random_state: int | None = 0, has_model: bool = True, has_labels: bool = True
) -> Strategy:
    """A named strategy with its recommended parameters."""
    name = resolve(name, has_model=has_model, has_labels=has_labels)
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
