"""Every strategy keeps one contract: exact budget, unique indices, never a labeled sample,
the same result for the same seed, and a clear error when the pool is too small."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from bps_core.selection import (
    REGISTRY,
    Balance,
    Diversity,
    Hybrid,
    Mixture,
    Pool,
    RandomStrategy,
    SelectionConfig,
    SelectionError,
    Similarity,
    Strategy,
    Threshold,
    Typicality,
    Uncertainty,
    make_strategy,
)
from bps_core.selection.adaptive import ErrorAdaptive
from bps_core.selection.registry import Default

COMBINED = {
    "n_samples": 1,
    "strategies": [
        {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}},
        {"input": {"type": "SCORES", "task": "t", "score": "uncertainty_entropy"},
         "strategy": {"type": "WEIGHTS", "strength": 2.0}},
        {"input": {"type": "METADATA", "key": "particle_type"},
         "strategy": {"type": "BALANCE", "target": {"Fe": 0.5, "X-ray": 0.5}}},
    ],
}  # fmt: skip


class _Config:
    """Adapts a Lightly selection config to the strategy signature."""

    def __init__(self, seed: int) -> None:
        self.cfg, self.seed = SelectionConfig.from_dict(COMBINED), seed

    def select(self, pool: Pool, budget: int) -> np.ndarray:
        return self.cfg.select(pool, budget, random_state=self.seed)


FACTORIES: dict[str, Callable[[int], Strategy]] = {
    "random": lambda s: RandomStrategy(s),
    "diversity": lambda s: Diversity(random_state=s),
    "entropy": lambda s: Uncertainty("entropy", s),
    "margin": lambda s: Uncertainty("margin", s),
    "least_confidence": lambda s: Uncertainty("least_confidence", s),
    "hybrid": lambda s: Hybrid(random_state=s),
    "mixture": lambda s: Mixture(((Diversity(random_state=s), 2.0), (RandomStrategy(s), 1.0))),
    "typicality": lambda s: Typicality(random_state=s),
    "balance": lambda s: Balance(("particle_type", "hr_post_exposure"), Diversity(random_state=s)),
    "balance_predicted": lambda s: Balance(("prediction",), RandomStrategy(s)),
    "threshold": lambda s: Threshold("dose_Gy", "BIGGER_EQUAL", 0.1, RandomStrategy(s)),
    "similarity": lambda s: Similarity((0, 1, 2), random_state=s),
    "combined": lambda s: _Config(s),
    "default": lambda s: make_strategy("default", random_state=s),
    "error_adaptive": lambda s: ErrorAdaptive(random_state=s),
    "error_adaptive_step": lambda s: ErrorAdaptive(0.25, 0.25, 0.2, s),
    "error_adaptive_badge": lambda s: ErrorAdaptive(random_state=s, informative="badge"),
    "default_adaptive": lambda s: Default(s, adaptive=(0.2, 0.3, 0.2)),
} | {f"named:{name}": (lambda s, spec=spec: spec.make(s)) for name, spec in REGISTRY.items()}


@pytest.mark.parametrize("name", FACTORIES)
@pytest.mark.parametrize("budget", [1, 37])
def test_contract(name: str, budget: int, pool: Pool) -> None:
    strategy = FACTORIES[name](7)
    picks = strategy.select(pool, budget)
    assert picks.dtype.kind == "i"
    assert len(picks) == budget
    assert len(set(picks.tolist())) == budget
    assert not pool.labeled[picks].any()
    assert np.array_equal(picks, FACTORIES[name](7).select(pool, budget))


@pytest.mark.parametrize("name", FACTORIES)
def test_contract__pool_too_small_is_a_clear_error(name: str, pool: Pool) -> None:
    with pytest.raises(SelectionError, match="cannot select|only"):
        FACTORIES[name](0).select(pool, len(pool) + 1)


@pytest.mark.parametrize("name", ["random", "diversity"])
def test_contract__seed_matters_where_randomness_is_used(name: str, pool: Pool) -> None:
    from dataclasses import replace

    fresh = replace(pool, labeled=np.zeros(len(pool), dtype=bool))  # diversity's first pick
    runs = {tuple(FACTORIES[name](s).select(fresh, 10).tolist()) for s in range(4)}
    assert len(runs) > 1


def test_contract__excluded_samples_are_never_picked(pool: Pool) -> None:
    from dataclasses import replace

    excluded = np.zeros(len(pool), dtype=bool)
    excluded[::2] = True
    p = replace(pool, excluded=excluded)
    for name, make in FACTORIES.items():
        picks = make(0).select(p, 20)
        assert not excluded[picks].any(), name


def test_registry__every_named_strategy_is_in_the_contract_suite() -> None:
    """The page, the CLI and the simulation read their names from the registry; the contract
    suite parametrises over it, so no named strategy (``hybrid_random`` was one) escapes it."""
    from bps_core.selection import HELP, NAMED, NEEDS_MODEL

    assert {f"named:{n}" for n in REGISTRY} <= set(FACTORIES)
    assert set(NAMED) == {*REGISTRY, "default"}
    assert set(HELP) == set(NAMED)
    assert {n for n, s in REGISTRY.items() if s.needs_model} == NEEDS_MODEL
    assert "hybrid_random" in NEEDS_MODEL
