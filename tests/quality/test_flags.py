"""Quality flags from stored statistics and embeddings (no project involved)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bps_core.errors import SettingsError
from bps_core.quality.flags import FLAG_NAMES, FlagThresholds, compute_flags, pixel_flags


def _stats(n: int = 20) -> pd.DataFrame:
    """Unremarkable statistics for n samples, keys k0..k{n-1}."""
    return pd.DataFrame({
        "key": [f"k{i}" for i in range(n)], "width": 100, "height": 110, "bit_depth": 16,
        "mean": 0.005, "p01": 0.003, "p99": 0.012, "saturated": 0.0001, "foreground": 0.5,
        "sharpness": 0.04, "pixel_sha": [f"sha{i}" for i in range(n)],
    })  # fmt: skip


def _samples(n: int = 20, wells: list[str] | None = None) -> pd.DataFrame:
    return pd.DataFrame({"key": [f"k{i}" for i in range(n)],
                         "relpath": [f"f{i}.tif" for i in range(n)],
                         "well": wells or ["A1"] * n})  # fmt: skip


def test_flag_thresholds__refuse_a_value_out_of_range_by_name() -> None:
    with pytest.raises(SettingsError, match="dim_ratio"):
        FlagThresholds(dim_ratio=1.5)
    with pytest.raises(SettingsError, match="max_aspect"):
        FlagThresholds(max_aspect=0.5)


def test_pixel_flags__each_flag_fires_on_its_own_sample_only() -> None:
    s = _stats().rename(columns={"saturated": "saturated_share"})
    s.loc[1, "p99"] = 0.006  # half the median bright end: dim
    s.loc[2, "saturated_share"] = 0.02
    s.loc[3, "sharpness"] = 0.004  # a tenth of the median
    s.loc[4, "foreground"] = 0.01
    s.loc[5, ["width", "height"]] = (400, 400)  # 14x the median area
    s.loc[6, ["width", "height"]] = (30, 100)  # aspect 3.3
    flags, cut = pixel_flags(s, FlagThresholds())
    assert cut["dim_p99"] == pytest.approx(0.65 * 0.012)
    expected = {1: "dim", 2: "saturated", 3: "blurry", 4: "empty", 5: "odd_size", 6: "odd_size"}
    for row, name in expected.items():
        assert flags.loc[row, name], name
    assert flags.sum().sum() == len(expected)


def test_pixel_flags__rules_are_relative_to_the_median_so_scale_does_not_matter() -> None:
    s = _stats().rename(columns={"saturated": "saturated_share"})
    s.loc[1, "p99"] = 0.006
    scaled = s.copy()
    scaled[["mean", "p01", "p99"]] *= 16  # the same crops from a brighter camera
    scaled["sharpness"] *= 3
    a, _ = pixel_flags(s, FlagThresholds())
    b, _ = pixel_flags(scaled, FlagThresholds())
    pd.testing.assert_frame_equal(a, b)


def test_pixel_flags__raising_a_threshold_flags_more() -> None:
    s = _stats().rename(columns={"saturated": "saturated_share"})
    s["p99"] = np.linspace(0.005, 0.02, len(s))
    low, _ = pixel_flags(s, FlagThresholds(dim_ratio=0.4))
    high, _ = pixel_flags(s, FlagThresholds(dim_ratio=0.9))
    assert high.dim.sum() > low.dim.sum()


def test_compute_flags__exact_duplicates_leak_only_across_groups() -> None:
    stats = _stats(6)
    stats.loc[[1, 2, 4], "pixel_sha"] = "same"
    r = compute_flags(_samples(6, ["A1", "A1", "A1", "B2", "B2", "B2"]), stats, None, None,
                      FlagThresholds(), group_by="well")  # fmt: skip
    assert r.frame.duplicate.tolist() == [False, True, True, False, True, False]
    assert r.duplicate_groups() == [["k1", "k2", "k4"]]
    assert r.frame.loc["k1", "duplicate_of"] == "k2"
    leaks = r.leaks
    assert sorted(zip(leaks.key_a, leaks.key_b, strict=True)) == [("k1", "k4"), ("k2", "k4")]
    assert len(r.pairs) == 3  # k1-k2 is in one well: a duplicate, not a leak


def test_compute_flags__without_a_group_column_nothing_leaks() -> None:
    stats = _stats(4)
    stats.loc[[0, 3], "pixel_sha"] = "same"
    r = compute_flags(_samples(4), stats, None, None, FlagThresholds(), group_by=None)
    assert len(r.pairs) == 1
    assert r.leaks.empty


def test_compute_flags__near_duplicates_and_outliers_from_embeddings() -> None:
    n = 60
    x = np.random.default_rng(0).normal(size=(n, 8)).astype(np.float32)
    x[10] = x[40] + 0.001  # a near-duplicate across wells
    x[30] += 25.0  # far from everything
    wells = ["A1"] * 30 + ["B2"] * 30
    keys = [f"k{i}" for i in range(n)]
    r = compute_flags(_samples(n, wells), _stats(n), keys, x, FlagThresholds(),
                      group_by="well", embedding_version="v1")  # fmt: skip
    f = r.frame
    assert set(f.index[f.near_duplicate]) == {"k10", "k40"}
    assert f.loc["k10", "nn_key"] == "k40"
    assert f.outlier_score.idxmax() == "k30"
    assert f.loc["k30", "outlier"]
    assert r.leaks[["key_a", "key_b"]].values.tolist() == [["k10", "k40"]]
    assert set(f.loc["k30", "flags"].split(",")) == {"outlier"}
    assert r.counts == {name: int(f[name].sum()) for name in FLAG_NAMES}


def test_compute_flags__samples_without_stats_or_vectors_get_no_flags() -> None:
    stats = _stats(4).iloc[:2]
    r = compute_flags(_samples(4), stats, ["k0", "k1", "k2"],
                      np.eye(3, dtype=np.float32), FlagThresholds())  # fmt: skip
    assert np.isnan(r.frame.loc["k3", "outlier_score"])
    assert not r.frame.loc[["k2", "k3"], list(FLAG_NAMES[:5])].any().any()


def test_flags_result_table__lists_flagged_samples_with_partner_file_names() -> None:
    stats = _stats(5)
    stats.loc[[0, 3], "pixel_sha"] = "same"
    stats.loc[2, "foreground"] = 0.0
    r = compute_flags(_samples(5, ["A1", "A1", "A1", "B2", "B2"]), stats, None, None,
                      FlagThresholds(), group_by="well")  # fmt: skip
    t = r.table()
    assert set(t.filename) == {"f0.tif", "f2.tif", "f3.tif"}
    row = t.set_index("filename").loc["f0.tif"]
    assert (row["flags"], row.duplicate_of, bool(row.leak)) == ("duplicate", "f3.tif", True)
    assert {"saturated_share", "foreground", "sharpness", "outlier_score"} <= set(t.columns)
