"""ErrorAdaptive: cluster-margin with a random share set by the model's expected error."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bps_core.selection import ClusterMargin, Mixture, Pool, RandomStrategy, SelectionError
from bps_core.selection.adaptive import ErrorAdaptive, expected_error, random_share
from bps_core.selection.registry import DEFAULT_SHARES, Default, balanced_margin


def _with_confidence(pool: Pool, top: float) -> Pool:
    """The pool with every sample's top class at probability ``top`` (two classes)."""
    n = len(pool)
    probs = np.column_stack([np.full(n, top), np.full(n, 1.0 - top)]).astype(np.float32)
    rng = np.random.default_rng(0)
    flip = rng.random(n) < 0.5
    probs[flip] = probs[flip][:, ::-1]
    probs[: n // 2, 0] = np.clip(probs[: n // 2, 0] + rng.normal(0, 0.01, n // 2), 0, 1)
    probs[: n // 2, 1] = 1.0 - probs[: n // 2, 0]
    return replace(pool, probabilities=probs, classes=("a", "b"))


def test_expected_error__is_the_mean_of_one_minus_the_top_probability(pool: Pool) -> None:
    confident = _with_confidence(pool, 0.9)
    assert expected_error(confident) == pytest.approx(0.1, abs=0.01)
    probs = np.asarray(pool.probabilities)
    want = float(np.mean(1.0 - probs[pool.candidates].max(axis=1)))
    assert expected_error(pool) == pytest.approx(want)
    with pytest.raises(SelectionError, match="needs model predictions"):
        expected_error(replace(pool, probabilities=None))


def test_random_share__floor_below_low_all_above_high_linear_between() -> None:
    assert random_share(0.1, 0.2, 0.3, 0.2) == 0.2
    assert random_share(0.25, 0.2, 0.3, 0.2) == pytest.approx(0.6)
    assert random_share(0.35, 0.2, 0.3, 0.2) == 1.0
    assert random_share(0.24, 0.25, 0.25, 0.2) == 0.2  # a step when low == high
    assert random_share(0.25, 0.25, 0.25, 0.2) == 1.0


def test_error_adaptive__a_confident_model_gets_cluster_margin_random(pool: Pool) -> None:
    confident = _with_confidence(pool, 0.95)  # expected error 0.05, under low
    picks = ErrorAdaptive(0.2, 0.3, 0.2, 5).select(confident, 20)
    same = balanced_margin(5, DEFAULT_SHARES).select(confident, 20)
    assert np.array_equal(picks, same)
    assert np.array_equal(
        picks,
        Mixture(((ClusterMargin(random_state=5), 0.8), (RandomStrategy(5), 0.2))).select(
            confident, 20
        ),
    )


def test_error_adaptive__an_unsure_model_gets_a_random_draw(pool: Pool) -> None:
    unsure = _with_confidence(pool, 0.6)  # expected error 0.4, above high
    picks = ErrorAdaptive(0.2, 0.3, 0.2, 5).select(unsure, 20)
    assert np.array_equal(picks, RandomStrategy(5).select(unsure, 20))


def test_error_adaptive__between_low_and_high_the_random_share_grows(pool: Pool) -> None:
    middle = _with_confidence(pool, 0.75)  # expected error 0.25: share 0.6
    picks = ErrorAdaptive(0.2, 0.3, 0.2, 5).select(middle, 10)
    first = ClusterMargin(random_state=5).select(middle, 4)
    assert np.array_equal(picks[:4], first)  # 40% cluster-margin, then the random draw
    assert len(set(picks.tolist())) == 10


def test_default_with_adaptive__uses_error_adaptive_once_a_model_exists(pool: Pool) -> None:
    unsure = _with_confidence(pool, 0.6)
    picks = Default(3, adaptive=(0.2, 0.3, 0.2)).select(unsure, 10)
    assert np.array_equal(picks, RandomStrategy(3).select(unsure, 10))
    # the registry's default is error_adaptive now: an unsure model gets the random draw too
    assert np.array_equal(Default(3).select(unsure, 10), picks)
    shares = Default(3, shares=(0.8, 0.0, 0.2)).select(unsure, 10)  # a cluster-margin variant
    assert not np.array_equal(shares, picks)
