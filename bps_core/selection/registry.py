"""The named selection strategies, one registry read by the core, the CLI, the app and tests.

One entry per name, with its maker, whether it needs a model's predictions and the help text;
the contract tests read the same list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bps_core.selection.pool import SelectionError
from bps_core.selection.strategies import (
    Diversity,
    Hybrid,
    Mixture,
    RandomStrategy,
    Strategy,
    Typicality,
    Uncertainty,
)


@dataclass(frozen=True)
class StrategySpec:
    """A named strategy: how to make it from a seed, whether it needs a model, what it does."""

    name: str
    make: Callable[[int | None], Strategy]
    needs_model: bool
    help: str


def _hybrid_random(seed: int | None) -> Strategy:
    return Mixture(((Hybrid(random_state=seed), 1.0), (RandomStrategy(seed), 1.0)))


#: Every named strategy but ``default``, which stands for one of them (see `resolve`).
REGISTRY: dict[str, StrategySpec] = {
    s.name: s
    for s in (
        StrategySpec("random", RandomStrategy, False,
                     "A seeded random sample: the baseline every strategy must beat."),
        StrategySpec("diversity", lambda seed: Diversity(random_state=seed), False,
                     "k-center greedy: covers the embedding space, far from what is labeled."),
        StrategySpec("uncertainty", lambda seed: Uncertainty("entropy", seed), True,
                     "Highest prediction entropy under the current model."),
        StrategySpec("margin", lambda seed: Uncertainty("margin", seed), True,
                     "Smallest gap between the two most likely classes."),
        StrategySpec("least_confidence", lambda seed: Uncertainty("least_confidence", seed),
                     True, "Lowest top-class probability."),
        StrategySpec("hybrid", lambda seed: Hybrid(random_state=seed), True,
                     "The 5 x batch most uncertain, then k-center among them."),
        StrategySpec("hybrid_random", _hybrid_random, True,
                     "Half the batch hybrid, half a random draw (keeps the labels "
                     "representative)."),
        StrategySpec("typicality", lambda seed: Typicality(random_state=seed), False,
                     "Dense, representative samples first."),
    )
}  # fmt: skip

DEFAULT_HELP = "Random first, typical (dense) samples until a model exists, then random."

#: Names for the CLI and the Rounds page, ``default`` last.
NAMED: tuple[str, ...] = (*REGISTRY, "default")

#: Strategies that need a model's probabilities.
NEEDS_MODEL = frozenset(name for name, spec in REGISTRY.items() if spec.needs_model)

#: One line of help per name, ``default`` first.
HELP: dict[str, str] = {"default": DEFAULT_HELP} | {n: s.help for n, s in REGISTRY.items()}


# Why ``default`` is a random draw for the first labels, ``typicality`` while there are labels but
# no model (fewer than two classes labeled), and ``random`` once a model exists: the protocol
# bench/bench_selection.py measured (every simulated run starts from 10 random labels) and chose
# on the BPS demo over 20 seeds. The demo's tracks sit in dense parts of the embedding, so typical
# picks find the rare has_track class early (one within the first 20 picks on every seed; half of
# 40-label random draws hold none). After that no model-driven strategy beat a random draw:
# uncertainty-led picks (hybrid, modAL, the previous default half hybrid / half random) needed
# more labels than random on both tasks, and diversity after the cold start, the best on
# has_track, needed twice random's labels on particle_type.
def default_choice(*, has_model: bool, has_labels: bool = True) -> tuple[str, str]:
    """What ``default`` stands for in this situation, and why (one line for the page).

    Args:
        has_model: A model trained on the current embedding set exists.
        has_labels: At least one sample is labeled.

    Returns:
        The strategy name and the reason it is the default now.
    """
    if has_model:
        return "random", (
            "a model exists, and in the simulations no model-driven strategy beat a random "
            "draw after the first labels"
        )
    if has_labels:
        return "typicality", (
            "there are labels but no model yet (train one once two classes are labeled); "
            "typical, dense samples found the rare classes early in the simulations"
        )
    return "random", "no sample is labeled yet, and a random draw gives representative first labels"


def resolve(name: str, *, has_model: bool, has_labels: bool = True) -> str:
    """Returns the strategy name that ``name`` stands for.

    ``default`` is random for the first labels, then typicality until a model exists, then
    random (`default_choice`); every other name stands for itself.
    """
    if name == "default":
        return default_choice(has_model=has_model, has_labels=has_labels)[0]
    return name


def make_strategy(
    name: str, *, random_state: int | None = 0, has_model: bool = True, has_labels: bool = True
) -> Strategy:
    """A named strategy with its recommended parameters.

    Raises:
        SelectionError: the name is not in the registry (the message lists the valid ones).
    """
    spec = REGISTRY.get(resolve(name, has_model=has_model, has_labels=has_labels))
    if spec is None:
        raise SelectionError(f"unknown strategy {name!r}; choose one of {', '.join(NAMED)}")
    return spec.make(random_state)
