from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bps_core.embeddings.store import l2_normalise
from bps_core.selection import (
    Balance,
    Diversity,
    Hybrid,
    Mixture,
    Pool,
    RandomStrategy,
    SelectionError,
    Similarity,
    Threshold,
    Typicality,
    TypiClust,
    Uncertainty,
    make_strategy,
    resolve,
)
from bps_core.selection.kcenter import covering_radius, kcenter_greedy
from bps_core.selection.registry import (
    COLD_LABELS,
    FEW_LABELS,
    REGISTRY,
    Default,
    default_choice,
)
from bps_core.selection.scores import uncertainty
from bps_core.selection.strategies import (
    BADGE_SHORTLIST_ABOVE,
    BADGE_SHORTLIST_MIN,
    Badge,
    ClusterMargin,
    ProbCover,
    RareClass,
    _typicality,
    quotas,
    top_k,
)
from tests.selection.conftest import make_pool


def naive_kcenter(x: np.ndarray, cand: np.ndarray, covered: np.ndarray, k: int) -> list[int]:
    """The textbook loop: full distance recomputation from scratch at every pick."""
    picked: list[int] = []
    for _ in range(k):
        centers = list(covered) + picked
        best, best_d = -1, -1.0
        for c in cand:
            if c in picked:
                continue
            d = min(np.linalg.norm(x[c] - x[s]) for s in centers)
            if d > best_d:
                best, best_d = int(c), d
        picked.append(best)
    return picked


def test_kcenter__matches_the_textbook_loop_and_beats_random_coverage() -> None:
    pool = make_pool(n=150, n_labeled=5, seed=3)
    cand = pool.candidates
    covered = np.flatnonzero(pool.labeled)
    got = kcenter_greedy(pool.embeddings, cand, covered, 12)
    assert got.tolist() == naive_kcenter(pool.embeddings, cand, covered, 12)
    rand = RandomStrategy(0).select(pool, 12)
    all_rows = np.arange(len(pool))
    r_kc = covering_radius(pool.embeddings, all_rows, np.concatenate([covered, got]))
    r_rand = covering_radius(pool.embeddings, all_rows, np.concatenate([covered, rand]))
    assert r_kc < r_rand


def plain_kcenter(x, cand, covered, k, first=None, min_distance=None):  # type: ignore[no-untyped-def]
    """The vectorised textbook loop: every pick updates every candidate's distance."""
    d = np.full(len(cand), np.inf)
    if len(covered):
        d = np.linalg.norm(x[cand][:, None] - x[covered][None], axis=2).min(axis=1)
    picks = []
    if not len(covered):
        picks.append(int(np.flatnonzero(cand == first)[0]))
        d = np.minimum(d, np.linalg.norm(x[cand] - x[cand[picks[0]]], axis=1))
        d[picks[0]] = -1
    while len(picks) < k:
        i = int(np.argmax(d))
        if d[i] < 0 or (min_distance is not None and d[i] < min_distance):
            break
        picks.append(i)
        d = np.minimum(d, np.linalg.norm(x[cand] - x[cand[i]], axis=1))
        d[picks] = -1
    return cand[picks].tolist()


@pytest.mark.parametrize("seed", range(6))
def test_kcenter__lazy_greedy_is_exact(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(50, 400)), int(rng.choice([3, 16, 64]))
    x = l2_normalise(rng.normal(size=(n, d)) + rng.normal(size=(1, d)) * rng.random())
    covered = rng.choice(n, int(rng.integers(0, 10)), replace=False)
    cand = np.setdiff1d(np.arange(n), covered)
    first = int(rng.choice(cand))
    k = int(rng.integers(1, len(cand)))
    got = kcenter_greedy(x, cand, covered, k, first=first)
    assert got.tolist() == plain_kcenter(x, cand, covered, k, first=first)
    stop = float(rng.uniform(0.3, 1.2))
    got = kcenter_greedy(x, cand, covered, k, first=first, min_distance=stop)
    assert got.tolist() == plain_kcenter(x, cand, covered, k, first=first, min_distance=stop)


def test_diversity__min_distance_stops_early(pool: Pool) -> None:
    picks = Diversity(min_distance=0.5).select(pool, 200)
    assert 0 < len(picks) < 200
    all_rows = np.arange(len(pool))
    assert covering_radius(pool.embeddings, all_rows,
                           np.concatenate([np.flatnonzero(pool.labeled), picks])) < 0.5  # fmt: skip


def test_uncertainty_measures__on_known_rows() -> None:
    p = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(uncertainty(p, "least_confidence"), [0, 0.5, 2 / 3], atol=1e-6)
    np.testing.assert_allclose(uncertainty(p, "margin"), [0, 1, 1], atol=1e-6)
    np.testing.assert_allclose(uncertainty(p, "entropy"), [0, np.log(2) / np.log(3), 1], atol=1e-6)
    with pytest.raises(ValueError, match="measure"):
        uncertainty(p, "nope")  # type: ignore[arg-type]


def test_uncertainty__picks_the_least_confident(pool: Pool) -> None:
    picks = Uncertainty("least_confidence").select(pool, 10)
    scores = uncertainty(pool.probabilities, "least_confidence")
    cand = pool.candidates
    assert scores[picks].min() >= np.sort(scores[cand])[-10]


def test_uncertainty__without_a_model_says_what_to_do(pool: Pool) -> None:
    with pytest.raises(SelectionError, match="train a model"):
        Uncertainty().select(replace(pool, probabilities=None), 5)


def test_hybrid__uncertain_and_spread_out(pool: Pool) -> None:
    picks = Hybrid(candidate_factor=4).select(pool, 20)
    scores = uncertainty(pool.probabilities, "entropy")
    cutoff = np.sort(scores[pool.candidates])[-80]
    assert scores[picks].min() >= cutoff  # all from the 80 most uncertain
    top = Uncertainty().select(pool, 20)
    rows = pool.candidates
    labeled = np.flatnonzero(pool.labeled)
    r_h = covering_radius(pool.embeddings, rows, np.concatenate([labeled, picks]))
    r_u = covering_radius(pool.embeddings, rows, np.concatenate([labeled, top]))
    assert r_h <= r_u


def test_quotas__follow_targets_and_move_shortfall() -> None:
    assert quotas({"a": 50, "b": 50}, {"a": 0.5, "b": 0.5}, 10) == {"a": 5, "b": 5}
    assert quotas({"a": 2, "b": 50}, {"a": 0.5, "b": 0.5}, 10) == {"a": 2, "b": 8}
    assert sum(quotas({"a": 7, "b": 3, "c": 9}, {"a": 1, "b": 1, "c": 1}, 11).values()) == 11
    assert quotas({"a": 5, "b": 5}, {"z": 1.0}, 4) == {"a": 2, "b": 2}  # no overlap: uniform


def test_balance__meets_a_uniform_target_the_pool_does_not_have(pool: Pool) -> None:
    picks = Balance(("particle_type",), RandomStrategy(0)).select(pool, 40)
    counts = pool.metadata.particle_type.iloc[picks].value_counts().to_dict()
    assert counts == {"Fe": 20, "X-ray": 20}  # the pool is 80% X-ray
    target = Balance(("particle_type",), Diversity(), {"Fe": 0.25, "X-ray": 0.75})
    counts = pool.metadata.particle_type.iloc[target.select(pool, 40)].value_counts().to_dict()
    assert counts == {"Fe": 10, "X-ray": 30}


def test_threshold__filters_before_selecting(pool: Pool) -> None:
    picks = Threshold("dose_Gy", "BIGGER", 0.2, RandomStrategy(0)).select(pool, 30)
    assert (pool.metadata.dose_Gy.iloc[picks] > 0.2).all()
    with pytest.raises(SelectionError, match="operation"):
        Threshold("dose_Gy", "EQUAL", 0.2).select(pool, 3)  # type: ignore[arg-type]
    with pytest.raises(SelectionError, match="no metadata column 'nope'"):
        Threshold("nope", "BIGGER", 0.0).select(pool, 3)


def test_similarity__nearest_to_the_query() -> None:
    x = l2_normalise(np.array([[1, 0], [0.9, 0.1], [0, 1], [0.8, 0.3], [-1, 0]], dtype=float))
    pool = Pool([f"k{i}" for i in range(5)], x, np.zeros(5, dtype=bool))
    assert Similarity((0,)).select(pool, 2).tolist() == [1, 3]


def test_typicality__prefers_dense_regions_over_outliers() -> None:
    rng = np.random.default_rng(0)
    dense = rng.normal(size=(100, 8)) * 0.05 + np.eye(8)[0]
    outliers = rng.normal(size=(10, 8))
    x = l2_normalise(np.vstack([dense, outliers]))
    pool = Pool([f"k{i}" for i in range(110)], x, np.zeros(110, dtype=bool))
    assert Typicality(k=10).select(pool, 20).max() < 100


@pytest.mark.parametrize("n_reference", [300, 120])
def test_typicality__ranks_by_mean_distance_to_the_nearest_reference_rows(n_reference: int) -> None:
    x = l2_normalise(np.random.default_rng(1).normal(size=(300, 16)))
    labeled = np.zeros(300, dtype=bool)
    labeled[:7] = True
    pool = Pool([f"k{i}" for i in range(300)], x, labeled)
    ref = (np.arange(300) if n_reference >= 300
           else np.random.default_rng(5).choice(300, n_reference, replace=False))  # fmt: skip
    d = np.sqrt(np.maximum(2.0 - 2.0 * x @ x[ref].T, 0.0))
    d[ref, np.arange(len(ref))] = np.inf  # a row is not its own neighbour
    typ = 1.0 / (np.sort(d, axis=1)[:, :10].mean(axis=1) + 1e-6)
    typ[labeled] = -np.inf
    picks = Typicality(k=10, n_reference=n_reference, random_state=5).select(pool, 25)
    assert np.array_equal(picks, np.argsort(-typ, kind="stable")[:25])


def test_typicality__through_hnsw_above_the_threshold_matches_exact_on_clustered_data() -> None:
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(20, 16))
    x = l2_normalise(centres[rng.integers(20, size=2000)] + 0.3 * rng.normal(size=(2000, 16)))
    rows, ref = np.arange(0, 2000, 7), np.arange(2000)
    exact = _typicality(x, rows, ref, 10)
    approx = _typicality(x, rows, ref, 10, exact_below=500)  # an HNSW graph over the 2,000
    assert np.allclose(approx, exact, rtol=0.02)
    rows_out = np.arange(1000, 1200)  # rows outside the reference: nothing dropped as "self"
    assert np.allclose(_typicality(x, rows_out, ref[:1000], 5, exact_below=500),
                       _typicality(x, rows_out, ref[:1000], 5), rtol=0.02)  # fmt: skip


def test_mixture__splits_the_batch_by_share_without_overlap(pool: Pool) -> None:
    first, second = Hybrid(random_state=0), RandomStrategy(0)
    picks = Mixture(((first, 1.0), (second, 1.0))).select(pool, 9)
    assert len(set(picks.tolist())) == 9
    # largest remainder: 4.5 / 4.5 rounds the tie to the first part
    assert np.array_equal(picks[:5], first.select(pool, 5))
    assert not set(picks[5:].tolist()) & set(picks[:5].tolist())
    only_random = Mixture(((first, 0.0), (second, 1.0))).select(pool, 6)
    assert np.array_equal(np.sort(only_random), np.sort(second.select(pool, 6)))
    with pytest.raises(SelectionError, match="shares"):
        Mixture(((first, 0.0),)).select(pool, 3)


def test_default_choice__names_what_resolve_picks_and_a_reason_for_each_situation() -> None:
    reasons = set()
    for has_model in (False, True):
        for has_labels in (False, True):
            for n_labeled in (None, 5, 50):
                state = {"has_model": has_model, "has_labels": has_labels, "n_labeled": n_labeled}
                name, why = default_choice(**state, few_labels=50)
                assert name in REGISTRY
                if FEW_LABELS == 50:
                    assert name == resolve("default", **state)
                reasons.add(why)
    assert default_choice(has_model=False, has_labels=False)[1].startswith("no sample is labeled")
    assert "no model yet" in default_choice(has_model=False)[1]
    # What to do next is said as the labels stand (it said "once two classes are labeled"
    # when two already were).
    assert "labels of 3 classes but no model yet (train one in the Model tab" in default_choice(
        has_model=False, n_labeled=9, n_classes=3)[1]  # fmt: skip
    assert "a model needs two classes labeled" in default_choice(
        has_model=False, n_labeled=9, n_classes=1)[1]  # fmt: skip
    assert "fewer than 50 labels" in default_choice(has_model=True, n_labeled=5, few_labels=50)[1]
    assert "a model exists" in default_choice(has_model=True, n_labeled=50, few_labels=50)[1]
    # Without a model TypiClust has its chance for the first COLD_LABELS labels, then random.
    assert default_choice(has_model=False, n_labeled=COLD_LABELS - 1)[0] == "typiclust"
    name, why = default_choice(has_model=False, n_labeled=COLD_LABELS, n_classes=1)
    assert name == "random"
    assert f"after {COLD_LABELS} labels" in why
    assert "a model needs two classes labeled" in why
    assert default_choice(has_model=False, n_labeled=30, cold_labels=30)[0] == "random"
    assert len(reasons) == 5


def test_default__random_first_then_typiclust_until_a_model_and_enough_labels(pool: Pool) -> None:
    """The phases follow the pool: labels and a model decide, whatever the caller passed."""
    assert resolve("default", has_model=False, has_labels=False) == "random"
    assert resolve("default", has_model=False) == "typiclust"
    assert resolve("default", has_model=True, n_labeled=FEW_LABELS + 1) == "error_adaptive"
    unlabeled = replace(pool, labeled=np.zeros(len(pool), dtype=bool), probabilities=None)
    first = make_strategy("default", random_state=3).select(unlabeled, 10)
    assert np.array_equal(first, RandomStrategy(3).select(unlabeled, 10))
    cold = make_strategy("default", random_state=3).select(replace(pool, probabilities=None), 10)
    assert np.array_equal(cold, TypiClust(random_state=3).select(pool, 10))
    # still no model after COLD_LABELS labels (one class so far): a random draw, which finds a
    # rare class that is not a cluster of its own sooner than typical picks do
    many = np.zeros(len(pool), dtype=bool)
    many[:COLD_LABELS] = True
    stuck = replace(pool, labeled=many, probabilities=None)
    late = make_strategy("default", random_state=3).select(stuck, 10)
    assert np.array_equal(late, RandomStrategy(3).select(stuck, 10))
    assert not np.array_equal(late, TypiClust(random_state=3).select(stuck, 10))
    young = Default(3, few_labels=50).select(pool, 10)  # 20 labels and a model
    assert np.array_equal(young, TypiClust(random_state=3).select(pool, 10))
    labeled = np.zeros(len(pool), dtype=bool)
    labeled[: max(FEW_LABELS, 50)] = True
    grown = replace(pool, labeled=labeled)
    warm = make_strategy("default", random_state=3).select(grown, 10)
    assert np.array_equal(warm, make_strategy("error_adaptive", random_state=3).select(grown, 10))
    assert np.array_equal(Default(3, few_labels=50).select(grown, 10), warm)


def _blobs(n_per: int = 30, n_blobs: int = 6, seed: int = 0) -> tuple[Pool, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_blobs, 8)) * 10
    blob = np.repeat(np.arange(n_blobs), n_per)
    x = l2_normalise(centers[blob] + rng.normal(size=(len(blob), 8)))
    return Pool([str(i) for i in range(len(x))], x, np.zeros(len(x), dtype=bool)), blob


def test_typiclust__covers_every_cluster_before_a_second_pick_in_one() -> None:
    pool, blob = _blobs()
    picks = TypiClust(random_state=0).select(pool, 6)
    assert sorted(blob[picks].tolist()) == list(range(6))
    labeled = np.isin(blob, [0, 1, 2])  # three blobs covered: the next picks go elsewhere
    picks = TypiClust(random_state=0).select(replace(pool, labeled=labeled), 3)
    assert set(blob[picks].tolist()) <= {3, 4, 5}


def test_cluster_margin__spreads_a_batch_that_plain_margin_puts_in_one_place() -> None:
    pool, blob = _blobs()
    probs = np.full((len(blob), 2), 0.5, dtype=np.float32)
    probs[:, 0] = np.where(blob == 0, 0.5, 0.6)  # blob 0 is the most uncertain
    probs[:, 0] += np.linspace(0, 0.01, len(blob))  # a strict order within it
    probs[:, 1] = 1 - probs[:, 0]
    pool = replace(pool, probabilities=probs)
    assert set(blob[Uncertainty("margin", 0).select(pool, 6)].tolist()) == {0}
    spread = ClusterMargin(candidate_factor=10, random_state=0).select(pool, 6)
    assert len(set(blob[spread].tolist())) > 1


def test_rare_class__picks_the_likeliest_of_a_rarely_predicted_class_else_the_fallback() -> None:
    pool, blob = _blobs()
    probs = np.zeros((len(blob), 2), dtype=np.float32)
    probs[:, 1] = np.where(blob == 5, 0.4, 0.02) + np.linspace(0, 0.01, len(blob))
    probs[:, 0] = 1 - probs[:, 1]
    picks = RareClass(random_state=0).select(replace(pool, probabilities=probs), 5)
    assert set(blob[picks].tolist()) == {5}
    even = np.full((len(blob), 2), 0.5, dtype=np.float32)
    fallback = RareClass(random_state=0).select(replace(pool, probabilities=even), 5)
    assert np.array_equal(fallback, RandomStrategy(0).select(pool, 5))


def test_probcover__covers_every_cluster_before_a_second_pick_in_one() -> None:
    pool, blob = _blobs()
    picks = ProbCover(n_clusters=6, random_state=0).select(pool, 6)
    assert sorted(blob[picks].tolist()) == list(range(6))
    labeled = np.isin(blob, [0, 1, 2])  # three blobs covered: the next picks go elsewhere
    picks = ProbCover(n_clusters=6, random_state=0).select(replace(pool, labeled=labeled), 3)
    assert sorted(blob[picks].tolist()) == [3, 4, 5]


def test_probcover__a_pool_above_max_pool_is_covered_on_a_sample() -> None:
    pool, _ = _blobs()
    picks = ProbCover(max_pool=50, random_state=0).select(pool, 60)  # 50 covered, 10 drawn
    assert len(set(picks.tolist())) == 60


def test_badge__starts_at_the_most_uncertain_and_spreads_the_batch() -> None:
    pool, blob = _blobs()
    probs = np.full((len(blob), 2), 0.5, dtype=np.float32)
    probs[:, 0] = np.where(blob == 0, 0.5, 0.7)  # blob 0 is the most uncertain
    probs[:, 0] += np.linspace(0, 0.01, len(blob))
    probs[:, 1] = 1 - probs[:, 0]
    pool = replace(pool, probabilities=probs)
    picks = Badge(random_state=0).select(pool, 6)
    assert picks[0] == 0  # the longest gradient: the smallest margin
    assert len(set(blob[picks].tolist())) > 1
    with pytest.raises(SelectionError, match="model"):
        Badge().select(replace(pool, probabilities=None), 3)


def plain_badge(pool: Pool, budget: int, seed: int) -> np.ndarray:
    """BADGE as it was before the large-pool shortlist: every candidate, every pick."""
    cand = np.flatnonzero(~pool.labeled)
    probs = np.asarray(pool.probabilities, dtype=np.float64)[cand]
    a = probs.copy()
    a[np.arange(len(a)), probs.argmax(axis=1)] -= 1.0
    x = np.asarray(pool.embeddings[cand], dtype=np.float64)
    norm2 = (a * a).sum(axis=1) * (x * x).sum(axis=1)
    rng = np.random.default_rng(seed)
    picks = [int(np.lexsort((rng.random(len(cand)), -norm2))[0])]
    d2 = np.full(len(cand), np.inf)
    chosen = np.zeros(len(cand), dtype=bool)
    chosen[picks[0]] = True
    for _ in range(budget - 1):
        j = picks[-1]
        d2 = np.minimum(d2, np.maximum(norm2 + norm2[j] - 2.0 * (a @ a[j]) * (x @ x[j]), 0.0))
        weight = np.where(chosen, 0.0, d2)
        picks.append(int(rng.choice(len(cand), p=weight / weight.sum())))
        chosen[picks[-1]] = True
    return cand[np.asarray(picks)]


@pytest.mark.parametrize("seed", [0, 5])
def test_badge__picks_plain_badge_at_or_below_the_shortlist_threshold(seed: int) -> None:
    """The suite's pools (a few thousand) are far below it: their figures stay valid."""
    assert BADGE_SHORTLIST_ABOVE >= 20_000
    small = make_pool(n=3000, d=16, seed=seed)
    assert np.array_equal(Badge(random_state=seed).select(small, 40), plain_badge(small, 40, seed))


def test_badge__shortlists_the_longest_gradients_of_a_large_pool() -> None:
    big = make_pool(n=BADGE_SHORTLIST_ABOVE + 5000, d=8, n_labeled=100, seed=2)
    picks = Badge(random_state=1).select(big, 30)
    assert len(picks) == 30
    assert len(set(picks.tolist())) == 30
    assert not big.labeled[picks].any()
    probs = np.asarray(big.probabilities, dtype=np.float64)
    a = probs.copy()
    a[np.arange(len(a)), probs.argmax(axis=1)] -= 1.0
    norm2 = (a * a).sum(axis=1) * (np.asarray(big.embeddings, dtype=np.float64) ** 2).sum(axis=1)
    norm2[big.labeled] = -1.0
    kept = np.sort(norm2)[-BADGE_SHORTLIST_MIN]  # the shortlist's shortest gradient
    assert (norm2[picks] >= kept).all()
    assert np.array_equal(picks, Badge(random_state=1).select(big, 30))  # seeded


def test_default__variants_swap_the_cold_start_and_the_informative_part(pool: Pool) -> None:
    """The suite's candidates (bench/bench_learning.py) are `Default` with other parts."""
    cold = replace(pool, probabilities=None)
    picks = Default(3, cold="probcover").select(cold, 10)
    assert np.array_equal(picks, ProbCover(random_state=3).select(cold, 10))
    badge = Default(3, shares=(1.0, 0.0, 0.0), informative="badge").select(pool, 10)
    assert np.array_equal(badge, Badge(random_state=3).select(pool, 10))
    wide = Default(3, shares=(1.0, 0.0, 0.0), candidate_factor=10.0).select(pool, 10)
    assert np.array_equal(wide, ClusterMargin(10.0, random_state=3).select(pool, 10))
    assert not np.array_equal(wide, ClusterMargin(random_state=3).select(pool, 10))


@pytest.mark.parametrize("seed", range(6))
def test_top_k__partial_sort_keeps_the_full_sorts_order_with_ties_and_nan(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 2000
    scores = rng.integers(0, 6, size=n + 50).astype(float) if seed % 2 else rng.random(n + 50)
    if seed >= 4:
        scores[rng.choice(n + 50, n - 5 if seed == 5 else n // 2, replace=False)] = np.nan
    cand = np.sort(rng.choice(n + 50, n, replace=False)).astype(np.int64)
    tiebreak = np.random.default_rng(seed).permutation(n)
    full = cand[np.lexsort((tiebreak, -scores[cand]))]
    for k in (1, 7, 100, 499, 1500, n):
        assert top_k(scores, cand, k, seed).tolist() == full[:k].tolist()
