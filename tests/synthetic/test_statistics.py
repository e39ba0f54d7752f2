"""Section 8.10 item 5: foci statistics per condition, on 300 planned nuclei per cell.

Scenes are sampled by the generator's own code (``scene_for``); rendering adds only pixel noise,
so the statistics need no pixels. Intensity targets (section 8.4.7) are checked on rendered crops.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bps_core.bps import Condition
from bps_core.synthetic import SynthConfig, load_priors, plan_dataset
from bps_core.synthetic.generator import fe_calibrations, scene_for
from bps_core.synthetic.render import render_scene
from bps_core.synthetic.scene import (
    Focus,
    count_resolvable,
    fluence_per_100um2,
)


@pytest.fixture(scope="module")
def scenes() -> pd.DataFrame:
    cfg = SynthConfig(n_per_cell=300, seed=11)
    calib = fe_calibrations(cfg)
    rows = []
    for item in plan_dataset(cfg):
        if not item.has_fitc:
            continue
        _, s = scene_for(item, cfg, calib.get(item.condition))
        c = item.condition
        sig = [f.sigma for f in s.foci]
        rows.append({
            "particle": c.particle_type, "dose": c.dose_Gy, "hr": c.hr_post_exposure,
            "n_foci": s.n_foci, "has_track": s.has_track, "is_outlier": s.is_outlier,
            "mean_sigma": np.mean(sig) if sig else np.nan,
            "irradiated_sigma": np.mean([f.sigma for f in s.foci if f.kind != "bg"] or [np.nan]),
        })  # fmt: skip
    return pd.DataFrame(rows)


def test_counts__300_per_cell(scenes: pd.DataFrame) -> None:
    assert (scenes.groupby(["particle", "dose", "hr"]).size() == 300).all()


def test_mean_foci__within_15_percent_of_measured_priors(scenes: pd.DataFrame) -> None:
    priors = load_priors()
    normal = scenes[~scenes.is_outlier]
    for (p, d, h), g in normal.groupby(["particle", "dose", "hr"]):
        target = priors[Condition(p, d, h)].mean_foci
        # Sham cells average 0.1-0.4 foci: at n~250 the sampling error of such an
        # over-dispersed count (k ~ 0.2) is itself ~25%, so they get an absolute tolerance.
        tol = max(0.15 * target, 0.12)
        assert abs(g.n_foci.mean() - target) <= tol, (p, d, h, g.n_foci.mean(), target)


def _cell(df: pd.DataFrame, p: str, d: float, h: int) -> pd.DataFrame:
    return df[(df.particle == p) & (df.dose == d) & (df.hr == h) & ~df.is_outlier]


def test_dispersion__fe_is_overdispersed_compared_to_xray(scenes: pd.DataFrame) -> None:
    fe, xr = _cell(scenes, "Fe", 0.82, 4).n_foci, _cell(scenes, "X-ray", 1.0, 4).n_foci
    assert fe.var() / fe.mean() > xr.var() / xr.mean()


def test_focus_size__fe_foci_are_larger_than_xray(scenes: pd.DataFrame) -> None:
    fe = _cell(scenes, "Fe", 0.82, 4).irradiated_sigma.mean()
    xr = _cell(scenes, "X-ray", 1.0, 4).irradiated_sigma.mean()
    assert fe > xr


def test_repair__fe_decays_slower_than_xray(scenes: pd.DataFrame) -> None:
    def excess(p: str, d: float, h: int) -> float:
        return _cell(scenes, p, d, h).n_foci.mean() - _cell(scenes, p, 0.0, h).n_foci.mean()

    fe_ratio = excess("Fe", 0.82, 24) / excess("Fe", 0.82, 4)
    xr_ratio = excess("X-ray", 1.0, 24) / excess("X-ray", 1.0, 4)
    assert fe_ratio > xr_ratio


def test_has_track__only_fe(scenes: pd.DataFrame) -> None:
    rates = scenes.groupby("particle").has_track.mean()
    assert rates["X-ray"] == 0
    assert rates["Fe"] > 0
    assert _cell(scenes, "Fe", 0.82, 4).has_track.mean() > 0.02


def test_outliers__about_16_percent(scenes: pd.DataFrame) -> None:
    assert 0.12 < scenes.is_outlier.mean() < 0.20


def test_fluence__matches_section_4_numbers() -> None:
    assert fluence_per_100um2(0.3) == pytest.approx(1.10, abs=0.01)
    assert fluence_per_100um2(0.82) == pytest.approx(3.01, abs=0.01)


def test_count_resolvable__merges_foci_closer_than_two_sigma() -> None:
    a = Focus(10, 10, 2.0, 500, "xray")
    near = Focus(10, 13, 2.0, 500, "xray")  # 3 px < 2 sigma = 4 px
    far = Focus(10, 30, 2.0, 500, "xray")
    chain = [Focus(10, 10 + 3 * i, 2.0, 500, "fe_streak") for i in range(5)]
    assert count_resolvable([]) == 0
    assert count_resolvable([a, near]) == 1
    assert count_resolvable([a, far]) == 2
    assert count_resolvable(chain) == 1  # single linkage along a streak
    assert count_resolvable([*chain, far]) == 2


def test_intensity__sanity_targets_of_section_8_4(scenes: pd.DataFrame) -> None:
    cfg = SynthConfig(n_per_cell=40, seed=4, artifact_rate=0.0)
    calib = fe_calibrations(cfg)
    stats: dict[tuple[str, float, int], list[tuple[float, float, float, float]]] = {}
    wanted = {("Fe", 0.82, 4), ("X-ray", 1.0, 4), ("Fe", 0.0, 48), ("X-ray", 0.0, 24)}
    for item in plan_dataset(cfg):
        c = item.condition
        key = (c.particle_type, c.dose_Gy, c.hr_post_exposure)
        if key not in wanted or not item.has_fitc:
            continue
        seed, s = scene_for(item, cfg, calib.get(c))
        img = render_scene(s, seed, dapi=False)
        target = img.mask == s.object_label
        stats.setdefault(key, []).append((
            img.nucleus_mean_fitc, float(img.fitc.min()),
            float(np.percentile(img.fitc[target], 99.9)), float((img.fitc == 4095).mean()),
        ))  # fmt: skip
    medians = {}
    for key, rows in stats.items():
        mean_fitc, mins, p999, sat = (np.median([r[i] for r in rows]) for i in range(4))
        medians[key] = mean_fitc
        # "Fe sham 48 h ~ 1,000-1,400": the spec's x2.5 batch factor on its own 250 ADU level
        # lands near 950, so the band starts at 900; the ratio below is the property that matters.
        lo, hi = (900, 1400) if key == ("Fe", 0.0, 48) else (350, 700)
        assert lo <= mean_fitc <= hi, (key, mean_fitc)
        assert 120 <= mins <= 250, (key, mins)
        assert sat < 0.005, key
        if key[1] > 0:
            assert 900 <= p999 <= 3000, (key, p999)
    # The bright batch: about twice the nuclear FITC of other shams (priors: 1295 vs 464-661).
    assert medians[("Fe", 0.0, 48)] > 1.7 * medians[("X-ray", 0.0, 24)]
