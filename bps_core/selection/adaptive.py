"""An informative strategy with a random share that grows with the model's expected error.

Uncertainty sampling spends its labels where the model is unsure. Where the classes overlap
(a task a linear model on these embeddings cannot learn well), that region is wide and its
labels are close to coin flips, so the picks teach the model little and bias its labelled
set: Mussmann and Liang, "On the Relationship between Data Efficiency and Error for
Uncertainty Sampling", ICML 2018 (arXiv:1806.06123), show that uncertainty sampling's gain
over random sampling shrinks as the error of the best model grows, and can turn into a loss.
`ErrorAdaptive` reads that error from the pool itself, as the model's expected error on the
unlabelled candidates (the mean of 1 - the top class probability), and hands a larger share
of the batch to a random draw the higher it is: no labels, no history of earlier rounds, so a
round stays a function of the pool and the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bps_core.selection.pool import Indices, Pool, SelectionError, check_budget
from bps_core.selection.strategies import Badge, ClusterMargin, Mixture, RandomStrategy, Strategy


def expected_error(pool: Pool, candidates: Indices | None = None) -> float:
    """The model's expected error on the candidates: the mean of 1 - the top probability.

    Args:
        pool: The pool; it must hold the model's probabilities.
        candidates: Rows to average over; None: the pool's candidates.

    Returns:
        A number in [0, 1 - 1 / classes].

    Raises:
        SelectionError: The pool holds no model predictions.
    """
    if pool.probabilities is None:
        raise SelectionError("this strategy needs model predictions: train a model first")
    rows = pool.candidates if candidates is None else candidates
    if len(rows) == 0:
        return 0.0
    top = np.asarray(pool.probabilities, dtype=np.float64)[rows].max(axis=1)
    return float(np.mean(1.0 - top))


def random_share(error: float, low: float, high: float, floor: float) -> float:
    """The share of a batch drawn at random for a model's expected ``error``.

    ``floor`` up to ``low``, all of it from ``high`` on, linear between (a step at ``low``
    when ``high <= low``).
    """
    if high <= low:
        return floor if error < low else 1.0
    t = min(max((error - low) / (high - low), 0.0), 1.0)
    return floor + (1.0 - floor) * t


@dataclass(frozen=True)
class ErrorAdaptive:
    """An informative part and a random draw, the random share set by the expected error.

    See the module docstring (Mussmann and Liang, ICML 2018). The informative part is
    cluster-margin (Citovsky et al., NeurIPS 2021) or BADGE (Ash et al., ICLR 2020).

    Attributes:
        low: Expected error up to which the random share is ``floor``.
        high: Expected error from which the whole batch is random.
        floor: The random share of a confident model (keeps the labels representative).
        random_state: The seed of both parts.
        informative: ``cluster_margin`` or ``badge``: the part that follows the model.
    """

    low: float = 0.15
    high: float = 0.30
    floor: float = 0.2
    random_state: int | None = 0
    informative: str = "cluster_margin"

    def share(self, pool: Pool) -> float:
        """The random share this pool gets (see `random_share`)."""
        return random_share(expected_error(pool), self.low, self.high, self.floor)

    def select(self, pool: Pool, budget: int) -> Indices:
        """Splits the batch between the informative part and a random draw by `share`.

        Returns:
            Pool row indices: exactly ``budget``, unique, never labeled or excluded.

        Raises:
            SelectionError: Fewer than ``budget`` candidates are left, or the pool holds no
                model predictions.
        """
        check_budget(pool, budget)
        r = self.share(pool)
        margin: Strategy = (Badge(random_state=self.random_state) if self.informative == "badge"
                            else ClusterMargin(random_state=self.random_state))  # fmt: skip
        rand = RandomStrategy(self.random_state)
        strategy: Strategy
        if r >= 1.0:
            strategy = rand
        elif r <= 0.0:
            strategy = margin
        else:
            strategy = Mixture(((margin, 1.0 - r), (rand, r)))
        return strategy.select(pool, budget)
