"""Per-group shares by prediction-powered inference, validated against a known truth.

The simulated classifier is deliberately imperfect and biased differently per group (more false
positives where the class is common, as a dose with many foci draws), so the raw share is off
per group; the corrected share must remove that bias and its 95% interval cover the truth in
about 95% of groups. Seeds are fixed: the figures are the same on every run.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bps_core.results import (
    MIN_CLUSTERS,
    RESULT_COLUMNS,
    cluster_bootstrap_ppi,
    group_shares,
    ppi_mean,
)

N_GROUPS = 17  # like the 17 BPS conditions


def _sigmoid(s: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-s))


def _group(
    rng: np.random.Generator, p: float, bias: float, n_images: int, n_labeled: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Truth drawn with share ``p``; a noisy score shifted by ``bias``; a random labeled set."""
    y = (rng.random(n_images) < p).astype(float)
    f = _sigmoid(2.0 * (2 * y - 1) + bias + rng.normal(0, 1.5, n_images))
    labeled = np.zeros(n_images, dtype=bool)
    labeled[rng.choice(n_images, n_labeled, replace=False)] = True
    return f, y, labeled


def _trials(seeds: int, n_images: int = 300, n_labeled: int = 40) -> pd.DataFrame:
    rows = []
    shares = np.linspace(0.02, 0.5, N_GROUPS)  # like n_foci >= 3 across the conditions
    biases = np.linspace(-1.0, 2.0, N_GROUPS)  # more false positives where foci are many
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        for p, bias in zip(shares, biases, strict=True):
            f, y, labeled = _group(rng, p, bias, n_images, n_labeled)
            est = ppi_mean(f, y, labeled, 0.95)
            raw = np.where(labeled, y, f > 0.5).mean()
            rows.append((p, raw, est.estimate, est.ci_low, est.ci_high))
    return pd.DataFrame(rows, columns=["truth", "raw", "corrected", "low", "high"])


def test_ppi_mean__interval_covers_the_true_share_in_about_95_percent_of_groups() -> None:
    t = _trials(seeds=20)  # 340 group-trials
    covered = ((t.low <= t.truth) & (t.truth <= t.high)).mean()
    raw_error = (t.raw - t.truth).abs().mean()
    corrected_error = (t.corrected - t.truth).abs().mean()
    width = (t.high - t.low).mean()
    print(f"coverage {covered:.3f}, mean width {width:.3f}, "
          f"error raw {raw_error:.3f} corrected {corrected_error:.3f}")  # fmt: skip
    assert len(t) >= 200
    assert 0.88 <= covered <= 0.99  # measured 0.947 with these seeds
    assert corrected_error < raw_error / 2  # measured 0.033 vs 0.100
    assert width < 0.25  # measured 0.177: no wider than 40 labels of 300 need


def test_ppi_mean__removes_a_bias_that_differs_by_group() -> None:
    t = _trials(seeds=20)
    t["group"] = np.tile(np.arange(N_GROUPS), 20)
    by_group = t.groupby("group")[["truth", "raw", "corrected"]].mean()
    raw_bias = (by_group.raw - by_group.truth).abs()
    corrected_bias = (by_group.corrected - by_group.truth).abs()
    assert raw_bias.max() > 0.15  # the model is wrong, and more so in some groups
    assert corrected_bias.max() < 0.03


def test_ppi_mean__no_labels_gives_no_correction_and_says_so() -> None:
    f = np.array([0.2, 0.9, 0.4])
    est = ppi_mean(f, np.zeros(3), np.zeros(3, dtype=bool), 0.95)
    assert math.isnan(est.estimate)
    assert math.isnan(est.ci_low)
    assert math.isnan(est.ci_high)
    assert est.note == "no labeled images: no correction"


def test_ppi_mean__one_label_gives_an_estimate_but_no_interval() -> None:
    f = np.array([0.2, 0.9, 0.4])
    est = ppi_mean(f, np.array([0.0, 0.0, 0.0]), np.array([True, False, False]), 0.95)
    assert est.estimate == pytest.approx(f.mean() - 0.2)
    assert math.isnan(est.ci_low)
    assert est.interval == ""
    assert "no interval" in est.note


def test_ppi_mean__few_labels_give_a_rough_interval_said_in_the_note() -> None:
    """A tester read a 3-label group's interval as firm: below FEW_LABELED it is noted."""
    from bps_core.results import FEW_LABELED

    rng = np.random.default_rng(0)
    f = rng.uniform(size=200)
    y = (rng.uniform(size=200) < f).astype(float)
    few = np.zeros(200, dtype=bool)
    few[:3] = True
    est = ppi_mean(f, y, few, 0.95)
    assert est.interval == "clt"
    assert est.note.startswith("only 3 labeled images: a rough interval")
    enough = np.zeros(200, dtype=bool)
    enough[:FEW_LABELED] = True
    assert ppi_mean(f, y, enough, 0.95).note == ""


def test_ppi_mean__estimate_and_bounds_stay_in_0_1() -> None:
    f = np.full(50, 0.9)  # the model calls everything positive; the labels say none is
    labeled = np.arange(50) < 10
    est = ppi_mean(f, np.zeros(50), labeled, 0.95)
    assert est.estimate == 0.0
    assert est.ci_low == 0.0
    assert 0.0 <= est.ci_high <= 1.0


def _clustered_trials(seeds: int, k: int = 8, per: int = 40, n_labeled: int = 48) -> np.ndarray:
    """Groups of ``k`` mice whose own shares vary around the condition's (sd 0.1)."""
    shares = np.linspace(0.2, 0.5, N_GROUPS)
    biases = np.linspace(-1.0, 2.0, N_GROUPS)
    rows = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        for p, bias in zip(shares, biases, strict=True):
            mouse_p = np.clip(p + rng.normal(0, 0.1, k), 0, 1)
            mouse = np.repeat(np.arange(k), per)
            y = (rng.random(k * per) < mouse_p[mouse]).astype(float)
            shift = rng.normal(0, 0.5, k)[mouse]  # the model errs differently per mouse too
            f = _sigmoid(2.0 * (2 * y - 1) + bias + shift + rng.normal(0, 1.5, k * per))
            labeled = np.zeros(k * per, dtype=bool)
            labeled[rng.choice(k * per, n_labeled, replace=False)] = True
            clt = ppi_mean(f, y, labeled, 0.95)
            boot = cluster_bootstrap_ppi(f, y, labeled, mouse.astype(str), 0.95, 1000, rng)
            rows.append((p, clt.ci_low, clt.ci_high, boot.ci_low, boot.ci_high))
    return np.array(rows)


def test_cluster_bootstrap_ppi__covers_where_mice_differ_and_the_clt_interval_falls_short() -> None:
    r = _clustered_trials(seeds=15)  # 255 group-trials, 8 mice each
    clt = ((r[:, 1] <= r[:, 0]) & (r[:, 0] <= r[:, 2])).mean()
    boot = ((r[:, 3] <= r[:, 0]) & (r[:, 0] <= r[:, 4])).mean()
    print(f"coverage over 8 mice: CLT {clt:.3f}, cluster bootstrap {boot:.3f}")
    assert boot >= 0.88  # measured 0.933
    assert boot > clt  # CLT measured 0.871: nuclei of one mouse are not independent


def _frame(rng: np.random.Generator) -> pd.DataFrame:
    n = 120
    df = pd.DataFrame({
        "dose": np.repeat(["0", "1", "2"], n // 3),
        "mouse": np.tile([f"m{i}" for i in range(6)], n // 6),
        "prob": rng.random(n),
    })  # fmt: skip
    df["predicted"] = df.prob > 0.5
    df["labeled"] = False
    df["is_class"] = False
    df.loc[df.index[40:41], "labeled"] = True  # dose 1: one label
    df.loc[df.index[80:100], "labeled"] = True  # dose 2: twenty labels
    df.loc[df.index[80:90], "is_class"] = True
    return df


def test_group_shares__zero_or_one_label_in_a_group_gives_nan_and_a_note() -> None:
    table = group_shares(_frame(np.random.default_rng(0)), ["dose"])
    assert list(table.columns) == ["dose", *RESULT_COLUMNS]
    none, one, many = (table.set_index("dose").loc[d] for d in ("0", "1", "2"))
    assert none.n_labeled == 0
    assert math.isnan(none.corrected_fraction)
    assert none.note == "no labeled images: no correction"
    assert one.n_labeled == 1
    assert math.isnan(one.ci_low)
    assert "no interval" in one.note
    assert many.interval == "clt"
    assert many.ci_low <= many.corrected_fraction <= many.ci_high
    assert many.n_labeled_class == 10
    # raw: the labels where labeled, the model's top class elsewhere
    df = _frame(np.random.default_rng(0))
    g = df[df.dose == "2"]
    expected = np.where(g.labeled, g.is_class, g.predicted).mean()
    assert many.raw_fraction == pytest.approx(expected)


def test_group_shares__cluster_bootstrap_where_enough_mice_else_clt_with_a_note() -> None:
    df = _frame(np.random.default_rng(0))
    table = group_shares(df, ["dose"], cluster="mouse", n_boot=200).set_index("dose")
    assert table.loc["2", "interval"] == "cluster-bootstrap"  # 6 mice, all labeled
    assert table.loc["2", "n_clusters"] == 6 >= MIN_CLUSTERS
    df.loc[df.index[80:100], "mouse"] = "m0"  # now every label comes from one mouse
    table = group_shares(df, ["dose"], cluster="mouse", n_boot=200).set_index("dose")
    assert table.loc["2", "interval"] == "clt"
    assert "too few for a cluster bootstrap" in table.loc["2", "note"]


def test_group_shares__several_columns_make_one_row_per_combination() -> None:
    df = _frame(np.random.default_rng(1))
    df["time"] = np.tile(["4", "24"], len(df) // 2)
    table = group_shares(df, ["dose", "time"])
    assert len(table) == 6
    assert table.n_images.sum() == len(df)
