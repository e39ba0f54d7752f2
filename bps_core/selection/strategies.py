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

from bps_core.embeddings.index import EXACT_BELOW, HNSW_EF_SEARCH, build_index
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
    neg = -np.asarray(scores, dtype=np.float64)[cand]
    if 0 < k < len(cand) // 4:
        # Sorting every candidate (1M at scale) to keep k: only those scoring at least the
        # k-th best can be among them, ties included, so sort those alone (the same order).
        kth = np.partition(neg, k - 1)[k - 1]
        if not np.isnan(kth):  # NaN sorts last: fewer than k scores, sort them all below
            keep = np.flatnonzero(neg <= kth)
            order = keep[np.lexsort((tiebreak[keep], neg[keep]))]
            return cand[order[:k]]
    order = np.lexsort((tiebreak, neg))
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


def _typicality(
    x: NDArray[np.float32],
    rows: Indices,
    ref: Indices,
    k: int,
    *,
    exact_below: int = EXACT_BELOW,
) -> NDArray[np.float32]:
    """Scores each of ``rows`` by 1 / mean distance to its ``k`` nearest ``ref`` rows.

    A row is not its own neighbour. Fewer than ``exact_below`` reference rows: exact, top-k on
    similarities in torch (threaded; about 2x numpy's partition over distances at 100k x
    5,000), distances only for the k kept. From there on, through an HNSW index over the
    reference rows (``bps_core.embeddings.index``).
    """
    if len(ref) >= exact_below:
        return _typicality_hnsw(x, rows, ref, k, exact_below)
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


def _typicality_hnsw(
    x: NDArray[np.float32], rows: Indices, ref: Indices, k: int, exact_below: int
) -> NDArray[np.float32]:
    index = build_index(x[ref], exact_below=exact_below)
    ref_pos = np.full(len(x), -1, dtype=np.int64)
    ref_pos[ref] = np.arange(len(ref))
    out = np.empty(len(rows), dtype=np.float32)
    for start in range(0, len(rows), 65536):
        chunk = rows[start : start + 65536]
        d2, found = index.search(x[chunk], k + 1, ef=max(HNSW_EF_SEARCH, k + 1))
        own = found == ref_pos[chunk][:, None]  # never true for a row outside ``ref``
        drop = np.where(own.any(axis=1), own.argmax(axis=1), k)
        keep = np.ones_like(own)
        keep[np.arange(len(chunk)), drop] = False
        dist = np.sqrt(np.maximum(d2[keep].reshape(len(chunk), k), 0.0))
        dist[~np.isfinite(dist)] = np.nan
        out[start : start + len(chunk)] = 1.0 / (np.nanmean(dist, axis=1) + 1e-6)
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


def _kmeans_labels(x: NDArray[np.float32], k: int, random_state: int | None) -> NDArray[np.intp]:
    """k-means cluster of each row of ``x`` (one BLAS thread: small problems, shared CPUs)."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    k = max(1, min(k, len(x)))
    with threadpool_limits(limits=1, user_api="blas"):
        km = KMeans(n_clusters=k, n_init=1, max_iter=100, random_state=random_state or 0)
        return np.asarray(km.fit_predict(x), dtype=np.intp)


@dataclass(frozen=True)
class TypiClust:
    """TypiClust: the most typical sample of each of the largest clusters no label covers.

    Hacohen, Dekel and Weinshall, "Active Learning on a Budget: Opposite Strategies Suit High
    and Low Budgets", ICML 2022 (arXiv:2202.02794). The pool is cut by k-means into (labels +
    budget) clusters; each pick goes to the cluster with the fewest labels and picks so far
    (the larger one on a tie) and takes its most typical candidate (1 / mean distance to its
    ``k`` nearest neighbours in the cluster). Meant for the first few labels, when a model's
    uncertainty is not yet worth much.
    """

    k: int = 20
    max_clusters: int = 500
    random_state: int | None = 0

    def select(self, pool: Pool, budget: int) -> Indices:
        """Picks one typical candidate per uncovered cluster, largest clusters first.

        Returns:
            Pool row indices: exactly ``budget``, unique, never labeled or excluded.

        Raises:
            SelectionError: Fewer than ``budget`` candidates are left.
        """
        cand = check_budget(pool, budget)
        x = pool.embeddings
        n_clusters = min(self.max_clusters, int(pool.labeled.sum()) + budget, len(pool))
        clusters = _kmeans_labels(x, n_clusters, self.random_state)
        is_cand = np.zeros(len(pool), dtype=bool)
        is_cand[cand] = True
        covered = np.bincount(clusters[pool.labeled], minlength=n_clusters).astype(np.int64)
        size = np.bincount(clusters, minlength=n_clusters)
        typ = np.full(len(pool), -np.inf, dtype=np.float32)
        for c in range(n_clusters):
            members = np.flatnonzero(clusters == c).astype(np.int64)
            rows = members[is_cand[members]]
            if len(rows) == 0:
                continue
            if len(members) < 2:
                typ[rows] = 0.0
                continue
            typ[rows] = _typicality(x, rows, members, max(1, min(self.k, len(members) - 1)))
        picks: list[int] = []
        tiebreak = rng_for(self.random_state).random(n_clusters)
        for _ in range(budget):
            open_ = np.flatnonzero(
                np.bincount(clusters[is_cand], minlength=n_clusters) > 0
            )  # clusters with candidates left
            c = open_[np.lexsort((tiebreak[open_], -size[open_], covered[open_]))[0]]
            rows = np.flatnonzero((clusters == c) & is_cand)
            best = int(rows[np.argmax(typ[rows])])
            picks.append(best)
            is_cand[best] = False
            covered[c] += 1
        return np.asarray(picks, dtype=np.int64)


@dataclass(frozen=True)
class ClusterMargin:
    """Margin with a diversity filter: the smallest margins, spread over k-means clusters.

    After Citovsky et al., "Batch Active Learning at Scale" (cluster-margin), NeurIPS 2021
    (arXiv:2107.14263), and Zhdanov, "Diverse mini-batch Active Learning" (arXiv:1901.05954):
    the ``candidate_factor`` x budget candidates of smallest margin are clustered into
    ``budget`` clusters, and each cluster gives its smallest-margin member, so a batch is
    informative without near-duplicates.
    """

    candidate_factor: float = 5.0
    random_state: int | None = 0

    def select(self, pool: Pool, budget: int) -> Indices:
        """Shortlists by margin, then takes the smallest-margin member of each cluster.

        Returns:
            Pool row indices: exactly ``budget``, unique, never labeled or excluded.

        Raises:
            SelectionError: Fewer than ``budget`` candidates are left, or the pool holds no
                model predictions.
        """
        cand = check_budget(pool, budget)
        scores = uncertainty(_probabilities(pool), "margin")
        n_short = min(len(cand), max(budget, int(np.ceil(self.candidate_factor * budget))))
        shortlist = top_k(scores, cand, n_short, self.random_state)
        if n_short == budget:
            return shortlist
        clusters = _kmeans_labels(pool.embeddings[shortlist], budget, self.random_state)
        picks: list[int] = []
        for c in np.unique(clusters):  # shortlist is ordered by score: first member is best
            picks.append(int(shortlist[np.flatnonzero(clusters == c)[0]]))
        if len(picks) < budget:  # k-means left clusters empty: fill by score
            rest = [int(i) for i in shortlist if int(i) not in set(picks)]
            picks += rest[: budget - len(picks)]
        return np.asarray(picks[:budget], dtype=np.int64)


def rare_class(pool: Pool, rare_below: float) -> int | None:
    """The class the model predicts least often, if its predicted share is below the bar.

    The share is the mean predicted probability over the pool; a class counts as rare below
    ``rare_below`` / number of classes (for two classes and 0.5: under 25%).

    Returns:
        The column of the rare class in ``pool.probabilities``, or None.
    """
    probs = _probabilities(pool)
    share = probs.mean(axis=0)
    c = int(np.argmin(share))
    return c if share[c] < rare_below / probs.shape[1] else None


@dataclass(frozen=True)
class RareClass:
    """Class-balanced picks: the candidates most likely to be of the rarest predicted class.

    After the class-balanced selection of Bengar et al., "Class-Balanced Active Learning for
    Image Classification", WACV 2022 (arXiv:2110.04543): rare classes get picks of their own,
    so a 2% class is found early. Without a rare class (see `rare_class`) it picks like
    ``fallback``.
    """

    rare_below: float = 0.5
    fallback: Strategy = RandomStrategy()
    random_state: int | None = 0

    def select(self, pool: Pool, budget: int) -> Indices:
        """Picks the candidates of highest probability for the rare class.

        Raises:
            SelectionError: Fewer than ``budget`` candidates are left, or the pool holds no
                model predictions.
        """
        cand = check_budget(pool, budget)
        c = rare_class(pool, self.rare_below)
        if c is None:
            return self.fallback.select(pool, budget)
        return top_k(_probabilities(pool)[:, c], cand, budget, self.random_state)


def _cross_cluster_distance(
    x: NDArray[np.float32], clusters: NDArray[np.intp]
) -> NDArray[np.float64]:
    """Per row of ``x``: the distance to the nearest row of another cluster."""
    out = np.full(len(x), np.inf)
    for start in range(0, len(x), 2048):
        sim = x[start : start + 2048] @ x.T
        sim[clusters[start : start + 2048, None] == clusters[None, :]] = -np.inf
        out[start : start + 2048] = np.sqrt(np.maximum(2.0 - 2.0 * sim.max(axis=1), 0.0))
    return out


@dataclass(frozen=True)
class ProbCover:
    """ProbCover: the samples whose balls of radius delta cover the most uncovered samples.

    Yehuda, Dekel, Hacohen and Weinshall, "Active Learning Through a Covering Lens", NeurIPS
    2022 (arXiv:2205.11320). delta is the largest radius at which ``purity`` of the balls hold
    samples of one k-means cluster only (``n_clusters`` clusters stand for the unknown
    classes); each pick is the candidate whose ball holds the most samples no labeled sample
    nor earlier pick covers. Meant, like TypiClust, for the first few labels. Pools above
    ``max_pool`` rows are covered on a seeded sample of that size (the labeled rows always in).
    """

    purity: float = 0.95
    n_clusters: int = 10
    max_pool: int = 5000
    random_state: int | None = 0

    def select(self, pool: Pool, budget: int) -> Indices:
        """Picks greedily by the number of uncovered samples in each candidate's ball.

        Once everything is covered, the rest of the batch is a seeded random draw.

        Returns:
            Pool row indices: exactly ``budget``, unique, never labeled or excluded.

        Raises:
            SelectionError: Fewer than ``budget`` candidates are left.
        """
        cand = check_budget(pool, budget)
        rng = rng_for(self.random_state)
        rows = np.arange(len(pool), dtype=np.int64)
        if len(rows) > self.max_pool:
            keep = np.zeros(len(pool), dtype=bool)
            keep[rng.choice(len(pool), self.max_pool, replace=False)] = True
            keep |= pool.labeled
            rows = np.flatnonzero(keep).astype(np.int64)
        x = np.asarray(pool.embeddings[rows], dtype=np.float32)
        clusters = _kmeans_labels(x, min(self.n_clusters, len(rows)), self.random_state)
        delta = float(np.quantile(_cross_cluster_distance(x, clusters), 1.0 - self.purity))
        ball = np.sqrt(np.maximum(2.0 - 2.0 * (x @ x.T), 0.0)) < delta  # row i covers columns
        covered = ball[pool.labeled[rows]].any(axis=0)
        is_cand = np.zeros(len(pool), dtype=bool)
        is_cand[cand] = True
        local_cand = is_cand[rows]
        tiebreak = rng.random(len(rows))
        picks: list[int] = []
        while len(picks) < budget:
            gain = (ball & ~covered[None, :]).sum(axis=1).astype(np.float64)
            gain[~local_cand] = -1.0
            best = int(np.lexsort((tiebreak, -gain))[0])
            if gain[best] <= 0:
                break
            picks.append(int(rows[best]))
            local_cand[best] = False
            covered |= ball[best]
        if len(picks) < budget:  # everything is covered: a random draw for the rest
            left = np.setdiff1d(cand, np.asarray(picks, dtype=np.int64))
            picks += rng.choice(left, budget - len(picks), replace=False).tolist()
        return np.asarray(picks, dtype=np.int64)


#: Badge shortlists a pool of more candidates than this (the benchmark suite's pools hold
#: at most a few thousand, so its figures are those of plain BADGE).
BADGE_SHORTLIST_ABOVE = 20_000
#: The shortlist keeps ``max(BADGE_SHORTLIST_FACTOR x budget, BADGE_SHORTLIST_MIN)``.
BADGE_SHORTLIST_FACTOR = 10
BADGE_SHORTLIST_MIN = 10_000
_CHUNK = 65_536


def _squared_norms(embeddings: NDArray[Any], rows: Indices) -> NDArray[np.float64]:
    """``|x|^2`` of the given rows, a chunk at a time (never a float64 copy of them all)."""
    out = np.empty(len(rows), dtype=np.float64)
    for lo in range(0, len(rows), _CHUNK):
        x = np.asarray(embeddings[rows[lo : lo + _CHUNK]], dtype=np.float32)
        out[lo : lo + _CHUNK] = np.einsum("ij,ij->i", x, x, dtype=np.float64)
    return out


def _kmeanspp_gradients(
    a: NDArray[np.float64],
    x: NDArray[np.float64] | NDArray[np.float32],
    norm2: NDArray[np.float64],
    budget: int,
    rng: np.random.Generator,
) -> list[int]:
    """k-means++ seeding over the gradients ``a_i outer x_i`` (local row numbers)."""
    first = int(np.lexsort((rng.random(len(a)), -norm2))[0])
    picks = [first]
    d2 = np.full(len(a), np.inf)
    chosen = np.zeros(len(a), dtype=bool)
    chosen[first] = True
    for _ in range(budget - 1):
        j = picks[-1]
        dist = norm2 + norm2[j] - 2.0 * (a @ a[j]) * (x @ x[j]).astype(np.float64, copy=False)
        d2 = np.minimum(d2, np.maximum(dist, 0.0))
        weight = np.where(chosen, 0.0, d2)
        if weight.sum() <= 0:  # every gradient equals a chosen one: any unchosen will do
            weight = (~chosen).astype(np.float64)
        nxt = int(rng.choice(len(a), p=weight / weight.sum()))
        picks.append(nxt)
        chosen[nxt] = True
    return picks


@dataclass(frozen=True)
class Badge:
    """BADGE: k-means++ seeding over the gradient embeddings of the model's last layer.

    Ash, Zhang, Krishnamurthy, Langford and Agarwal, "Deep Batch Active Learning by Diverse,
    Uncertain Gradient Lower Bounds", ICLR 2020 (arXiv:1906.03671). For logistic regression on
    the embeddings the gradient of the loss under the predicted label is ``(p - onehot(argmax
    p)) outer x``: long for uncertain samples, and far apart for samples unlike each other, so
    k-means++ seeding gives a batch both uncertain and diverse. Inner products factorise,
    ``<g_i, g_j> = <a_i, a_j> <x_i, x_j>``, so the embeddings are never built.

    Each pick is one pass over the candidates, so a pool of more than
    ``BADGE_SHORTLIST_ABOVE`` candidates is first cut to the ``max(BADGE_SHORTLIST_FACTOR x
    budget, BADGE_SHORTLIST_MIN)`` longest gradients (k-means++ draws in proportion to the
    squared distance, which the long gradients dominate), as cluster-margin shortlists its
    most uncertain candidates; at or below the threshold the picks are plain BADGE's.
    """

    random_state: int | None = 0

    def select(self, pool: Pool, budget: int) -> Indices:
        """Picks the longest gradient first, then each next with probability ~ squared distance.

        Returns:
            Pool row indices: exactly ``budget``, unique, never labeled or excluded.

        Raises:
            SelectionError: Fewer than ``budget`` candidates are left, or the pool holds no
                model predictions.
        """
        cand = check_budget(pool, budget)
        probs = np.asarray(_probabilities(pool)[cand], dtype=np.float64)
        a = probs.copy()
        a[np.arange(len(a)), probs.argmax(axis=1)] -= 1.0
        large = len(cand) > BADGE_SHORTLIST_ABOVE
        if large:
            norm2 = (a * a).sum(axis=1) * _squared_norms(pool.embeddings, cand)
            n_short = max(BADGE_SHORTLIST_FACTOR * budget, BADGE_SHORTLIST_MIN)
            if n_short < len(cand):
                keep = np.sort(top_k(norm2, np.arange(len(cand)), n_short, self.random_state))
                cand, a, norm2 = cand[keep], a[keep], norm2[keep]
            # float32 halves the memory each pick's pass reads; the distances stay float64.
            x = np.asarray(pool.embeddings[cand], dtype=np.float32)
        else:
            x = np.asarray(pool.embeddings[cand], dtype=np.float64)
            norm2 = (a * a).sum(axis=1) * (x * x).sum(axis=1)
        rng = rng_for(self.random_state)
        if large:  # below the threshold exactly as before (the suite's figures)
            from threadpoolctl import threadpool_limits

            # One matrix-vector product per pick is too small to share: on busy cores BLAS's
            # threads made each pick 10-20x slower than one thread.
            with threadpool_limits(limits=1, user_api="blas"):
                picks = _kmeanspp_gradients(a, x, norm2, budget, rng)
        else:
            picks = _kmeanspp_gradients(a, x, norm2, budget, rng)
        return cand[np.asarray(picks, dtype=np.int64)]
