"""Selection strategies, each a thin frozen config with a ``select(pool, budget)`` method.

``select`` returns row indices of the pool: exactly ``budget`` of them (unless a stopping
condition says otherwise), unique, never a labeled or excluded sample, the same for the same
seed.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bps_core.selection.kcenter import kcenter_greedy
from bps_core.selection.pool import Indices, Pool, SelectionError, check_budget, rng_for
from bps_core.selection.scores import Measure, uncertainty


class Strategy(Protocol):
    """What every selection strategy offers: ``select`` (see the module docstring's contract)."""

    def select(self, pool: Pool, budget: int) -> Indices:
        """Picks ``budget`` rows of ``pool``: unique, never labeled or excluded, seeded."""
        ...


def top_k(
    scores: NDArray[np.floating[Any]], cand: Indices, k: int, random_state: int | None
) -> Indices:
    """The ``k`` candidates with the highest scores; ties broken by a seeded shuffle."""
    tiebreak = rng_for(random_state).permutation(len(cand))
    order = np.lexsort((tiebreak, -np.asarray(scores, dtype=np.float64)[cand]))
    return cand[order[:k]]


@dataclass(frozen=True)
class RandomStrategy:
    """A uniform random draw from the candidates, seeded by ``random_state``."""

    random_state: int | None = 0

    def select(self, pool: Pool, budget: int) -> Indices:
        """Draws ``budget`` candidates without replacement; returned in ascending row order.

        Returns:
            Pool row indices: exactly ``budget``, unique, never labeled or excluded.

        Raises:
            SelectionError: Fewer than ``budget`` candidates are left.
        """
        cand = check_budget(pool, budget)
        return np.sort(rng_for(self.random_state).choice(cand, budget, replace=False))


@dataclass(frozen=True)
class Diversity:
    """k-center greedy, seeded by the labeled samples.

    ``min_distance`` (on unit vectors, so in [0, 2]) stops early when every candidate is that
    close to the selected set.
    """

    min_distance: float | None = None
    random_state: int | None = 0

    def select(self, pool: Pool, budget: int) -> Indices:
        """Picks farthest-first from the labeled samples and earlier picks.

        With no labeled samples the first pick is a seeded random candidate. Fewer than
        ``budget`` rows come back when ``min_distance`` stops the greedy early.

        Raises:
            SelectionError: Fewer than ``budget`` candidates are left.
        """
        cand = check_budget(pool, budget)
        first = int(rng_for(self.random_state).choice(cand))
        covered = np.flatnonzero(pool.labeled).astype(np.int64)
        return kcenter_greedy(
            pool.embeddings, cand, covered, budget, first=first, min_distance=self.min_distance
        )


def _probabilities(pool: Pool) -> NDArray[np.float32]:
    if pool.probabilities is None:
        raise SelectionError(
            "this needs model predictions (uncertainty, or balance/threshold on predictions): "
            "label a few samples of at least two classes and train a model first "
            "(bps-labeler train)"
        )
    return pool.probabilities


@dataclass(frozen=True)
class Uncertainty:
    """The samples the model is least sure about (least confidence, margin or entropy)."""

    measure: Measure = "entropy"
    random_state: int | None = 0

    def select(self, pool: Pool, budget: int) -> Indices:
        """Picks the ``budget`` candidates with the highest uncertainty (seeded tie-break).

        Returns:
            Pool row indices: exactly ``budget``, unique, never labeled or excluded.

        Raises:
            SelectionError: Fewer than ``budget`` candidates are left, or the pool holds no
                model predictions.
        """
        cand = check_budget(pool, budget)
        scores = uncertainty(_probabilities(pool), self.measure)
        return top_k(scores, cand, budget, self.random_state)


@dataclass(frozen=True)
class Hybrid:
    """Uncertain and diverse: k-center among the most uncertain candidates.

    The shortlist is the ``candidate_factor`` x budget most uncertain candidates, so a batch is
    informative without near-duplicates.
    """

    measure: Measure = "entropy"
    candidate_factor: float = 5.0
    random_state: int | None = 0

    def select(self, pool: Pool, budget: int) -> Indices:
        """Shortlists the most uncertain candidates, then picks farthest-first among them.

        With no labeled samples, the greedy starts from the most uncertain candidate.

        Returns:
            Pool row indices: exactly ``budget``, unique, never labeled or excluded.

        Raises:
            SelectionError: Fewer than ``budget`` candidates are left, or the pool holds no
                model predictions.
        """
        cand = check_budget(pool, budget)
        scores = uncertainty(_probabilities(pool), self.measure)
        n_short = min(len(cand), max(budget, int(np.ceil(self.candidate_factor * budget))))
        shortlist = np.sort(top_k(scores, cand, n_short, self.random_state))
        covered = np.flatnonzero(pool.labeled).astype(np.int64)
        first = int(top_k(scores, shortlist, 1, self.random_state)[0])
        return kcenter_greedy(pool.embeddings, shortlist, covered, budget, first=first)


@dataclass(frozen=True)
class Mixture:
    """Splits each batch between strategies by share (largest remainder), in order.

    A later part never repeats an earlier part's picks.
    ``Mixture(((Hybrid(), 1), (RandomStrategy(), 1)))`` spends half the batch on informative
    samples and half on a representative draw.
    """

    parts: tuple[tuple[Strategy, float], ...]

    def select(self, pool: Pool, budget: int) -> Indices:
        """Runs each part on its share of ``budget``; the picks come back part by part.

        Returns:
            Pool row indices: exactly ``budget``, unique, never labeled or excluded.

        Raises:
            SelectionError: Fewer than ``budget`` candidates are left, or the shares are
                negative or sum to 0.
        """
        check_budget(pool, budget)
        weights = np.array([w for _, w in self.parts], dtype=np.float64)
        if len(weights) == 0 or (weights < 0).any() or weights.sum() <= 0:
            raise SelectionError("a mixture needs parts with non-negative shares summing above 0")
        raw = budget * weights / weights.sum()
        counts = np.floor(raw).astype(np.int64)
        for i in np.argsort(-(raw - counts), kind="stable")[: budget - int(counts.sum())]:
            counts[i] += 1
        picks: list[Indices] = []
        excluded = (
            np.zeros(len(pool), dtype=bool) if pool.excluded is None else pool.excluded.copy()
        )
        for (strategy, _), n in zip(self.parts, counts, strict=True):
            if n == 0:
                continue
            chosen = strategy.select(replace(pool, excluded=excluded.copy()), int(n))
            excluded[chosen] = True
            picks.append(chosen)
        return np.concatenate(picks).astype(np.int64)


def _typicality(x: NDArray[np.float32], rows: Indices, ref: Indices, k: int) -> NDArray[np.float32]:
    """Scores each of ``rows`` by 1 / mean distance to its ``k`` nearest ``ref`` rows.

    A row is not its own neighbour. Top-k on similarities in torch (threaded; about 2x numpy's
    partition over distances at 100k x 5,000), distances only for the k kept.
    """
    import torch

    ref_t = torch.from_numpy(np.ascontiguousarray(x[ref].T, dtype=np.float32))
    ref_pos = np.full(len(x), -1, dtype=np.int64)
    ref_pos[ref] = np.arange(len(ref))
    out = np.empty(len(rows), dtype=np.float32)
    for start in range(0, len(rows), 4096):
        chunk = rows[start : start + 4096]
        sim = torch.from_numpy(np.asarray(x[chunk], dtype=np.float32)) @ ref_t
        own = np.flatnonzero(ref_pos[chunk] >= 0)
        sim[torch.from_numpy(own), torch.from_numpy(ref_pos[chunk][own])] = -np.inf
        top = sim.topk(k, dim=1, sorted=False).values.numpy()
        dist = np.sqrt(np.maximum(2.0 - 2.0 * top, 0.0))
        out[start : start + len(chunk)] = 1.0 / (dist.mean(axis=1) + 1e-6)
    return out


PREDICTED = "prediction"


def group_labels(pool: Pool, keys: Sequence[str]) -> pd.Series:
    """Returns one group name per pool row: its values of metadata ``keys``, joined.

    Values are joined by " | "; the key ``prediction`` stands for the model's predicted class.
    """
    parts = []
    for key in keys:
        if key == PREDICTED:
            probs = _probabilities(pool)
            names = np.asarray(pool.classes or [str(i) for i in range(probs.shape[1])])
            parts.append(pd.Series(names[probs.argmax(axis=1)]))
        else:
            parts.append(pool.column(key).astype(str))
    groups = parts[0]
    for p in parts[1:]:
        groups = groups + " | " + p
    return groups.reset_index(drop=True)


def quotas(
    available: Mapping[str, int], target: Mapping[str, float], budget: int
) -> dict[str, int]:
    """Splits ``budget`` into integer quotas per group that follow ``target`` proportions.

    The quotas follow the proportions as closely as the available counts allow (largest
    remainder; a short group's remainder moves to others). When no target group is available
    the split falls back to uniform.

    Raises:
        SelectionError: ``budget`` exceeds the total available.
    """
    if budget > sum(available.values()):
        raise SelectionError(f"cannot select {budget}: only {sum(available.values())} available")
    out = {g: 0 for g in available}
    left, open_groups = budget, [g for g in available if available[g] > 0 and target.get(g, 0) > 0]
    if not open_groups:  # no target overlaps what is available: fall back to uniform
        open_groups = [g for g in available if available[g] > 0]
        target = {g: 1.0 for g in open_groups}
    while left > 0 and open_groups:
        total = sum(target[g] for g in open_groups)
        share = {g: left * target[g] / total for g in open_groups}
        give = {g: min(int(share[g]), available[g] - out[g]) for g in open_groups}
        rest = left - sum(give.values())
        by_remainder = sorted(open_groups, key=lambda g: (-(share[g] - int(share[g])), g))
        for g in by_remainder:
            if rest == 0:
                break
            if give[g] < available[g] - out[g]:
                give[g] += 1
                rest -= 1
        for g, n in give.items():
            out[g] += n
        left = budget - sum(out.values())
        open_groups = [g for g in open_groups if out[g] < available[g]]
        if left > 0 and not open_groups:
            open_groups = [g for g in available if out[g] < available[g]]
            target = {g: 1.0 for g in open_groups}
    return out


@dataclass(frozen=True)
class Balance:
    """Makes ``inner`` meet a target distribution over metadata ``keys`` (or ``prediction``).

    ``target`` maps group names (values joined with " | ") to proportions; None is uniform.
    """

    keys: tuple[str, ...]
    inner: Strategy = Diversity()
    target: Mapping[str, float] | None = None

    def select(self, pool: Pool, budget: int) -> Indices:
        """Runs ``inner`` once per group on that group's quota; the picks come back by group.

        Returns:
            Pool row indices: exactly ``budget``, unique, never labeled or excluded.

        Raises:
            SelectionError: Fewer than ``budget`` candidates are left.
        """
        cand = check_budget(pool, budget)
        groups = group_labels(pool, self.keys).to_numpy()
        names = sorted(set(groups[cand]))
        available = {g: int((groups[cand] == g).sum()) for g in names}
        target = dict(self.target) if self.target else {g: 1.0 for g in names}
        picks = []
        for g, n in quotas(available, target, budget).items():
            if n == 0:
                continue
            excluded = groups != g if pool.excluded is None else pool.excluded | (groups != g)
            picks.append(self.inner.select(replace(pool, excluded=excluded), n))
        return np.concatenate(picks).astype(np.int64)


_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "BIGGER": operator.gt, "BIGGER_EQUAL": operator.ge,
    "SMALLER": operator.lt, "SMALLER_EQUAL": operator.le,
}  # fmt: skip
Operation = Literal["BIGGER", "BIGGER_EQUAL", "SMALLER", "SMALLER_EQUAL"]


def column_values(pool: Pool, name: str) -> NDArray[np.float64]:
    """A numeric metadata column or a named score (``uncertainty_entropy`` and friends)."""
    if name in pool.scores:
        return np.asarray(pool.scores[name], dtype=np.float64)
    if name.startswith("uncertainty_"):
        measure = name.removeprefix("uncertainty_")
        return uncertainty(_probabilities(pool), measure).astype(np.float64)  # type: ignore[arg-type]
    col = pd.to_numeric(pool.column(name), errors="coerce")
    return col.to_numpy(dtype=np.float64)


@dataclass(frozen=True)
class Threshold:
    """Keeps candidates whose ``column`` passes ``operation value``, then runs ``inner``."""

    column: str
    operation: Operation
    value: float
    inner: Strategy = RandomStrategy()

    def select(self, pool: Pool, budget: int) -> Indices:
        """Excludes the rows that fail the threshold, then lets ``inner`` pick.

        Raises:
            SelectionError: Fewer than ``budget`` candidates pass, or an unknown operation.
        """
        ok = passes(pool, self.column, self.operation, self.value)
        excluded = ~ok if pool.excluded is None else pool.excluded | ~ok
        return self.inner.select(replace(pool, excluded=excluded), budget)


def passes(pool: Pool, column: str, operation: str, value: float) -> NDArray[np.bool_]:
    """Which rows satisfy ``column operation value`` (missing values never do)."""
    if operation not in _OPS:
        raise SelectionError(f"operation must be one of {', '.join(_OPS)}, got {operation!r}")
    with np.errstate(invalid="ignore"):
        return np.asarray(_OPS[operation](column_values(pool, column), value), dtype=bool)


@dataclass(frozen=True)
class Similarity:
    """The unlabeled samples most similar (cosine) to any of the ``query`` rows."""

    query: tuple[int, ...]
    random_state: int | None = 0

    def select(self, pool: Pool, budget: int) -> Indices:
        """Picks the candidates with the highest cosine similarity to a query row.

        Query rows themselves are never picked; ties are broken by a seeded shuffle.

        Raises:
            SelectionError: No query rows, a query row outside the pool, or fewer than
                ``budget`` candidates left.
        """
        if not self.query:
            raise SelectionError("similarity needs at least one query sample")
        q = np.asarray(self.query, dtype=np.int64)
        if q.min() < 0 or q.max() >= len(pool):
            raise SelectionError(f"query rows must be in 0..{len(pool) - 1}")
        excluded = np.zeros(len(pool), dtype=bool)
        excluded[q] = True
        if pool.excluded is not None:
            excluded |= pool.excluded
        pool = replace(pool, excluded=excluded)
        cand = check_budget(pool, budget)
        sims = np.full(len(pool), -np.inf, dtype=np.float32)
        sims[cand] = (pool.embeddings[cand] @ pool.embeddings[q].T).max(axis=1)
        return top_k(sims, cand, budget, self.random_state)


@dataclass(frozen=True)
class Typicality:
    """Dense, representative samples: the candidates of highest typicality.

    Typicality = 1 / mean distance to the ``k`` nearest of a seeded reference sample of
    ``n_reference`` rows (exact when the pool is smaller).
    """

    k: int = 20
    n_reference: int = 5000
    random_state: int | None = 0

    def select(self, pool: Pool, budget: int) -> Indices:
        """Picks the ``budget`` most typical candidates (seeded tie-break).

        Returns:
            Pool row indices: exactly ``budget``, unique, never labeled or excluded.

        Raises:
            SelectionError: Fewer than ``budget`` candidates are left.
        """
        cand = check_budget(pool, budget)
        x = pool.embeddings
        rng = rng_for(self.random_state)
        ref = (
            np.arange(len(pool))
            if len(pool) <= self.n_reference
            else rng.choice(len(pool), self.n_reference, replace=False)
        )
        k = max(1, min(self.k, len(ref) - 1))
        typ = np.zeros(len(pool), dtype=np.float32)
        typ[cand] = _typicality(x, cand, ref, k)
        return top_k(typ, cand, budget, self.random_state)
