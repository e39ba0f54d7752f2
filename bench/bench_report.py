"""Per-condition shares against the generator's truth: coverage, width and error of ``report``.

The class is "many foci" (``n_foci >= 3``), whose true share ranges from about 0 to 0.5 over
the 17 conditions. The truth comes from the synthetic generator's own scenes (its plan and scene
sampler, no pixels): ``--pool`` nuclei per condition, whose share is the condition's true share.
Each trial draws ``--per-condition`` images per condition from that pool and labels ``budget``
of them at random. The predictions come from a deliberately imperfect foci counter: it misses
some foci, counts satellite sub-foci and debris as foci, and so has a false-positive rate that
grows with the condition's foci (Fe at 4 h, with its delta-ray satellites, draws the most).
Raw share: labels where labeled, else the counter's call; corrected: the PPI estimate of
``bps_core.results`` with its 95% CLT interval, and with a cluster bootstrap over the 8 mice.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_results  # noqa: E402

from bps_core.results import cluster_bootstrap_ppi, ppi_mean  # noqa: E402
from bps_core.synthetic.config import SynthConfig  # noqa: E402
from bps_core.synthetic.generator import fe_calibrations, plan_dataset, scene_for  # noqa: E402


def generator_pool(per_cell: int, seed: int) -> pd.DataFrame:
    """One row per nucleus of the generator's scenes: condition, mouse and foci truth."""
    cfg = SynthConfig(n_per_cell=per_cell, seed=seed)
    calibration = fe_calibrations(cfg)
    rows = []
    for item in plan_dataset(cfg):
        if not item.has_fitc:
            continue
        _, scene = scene_for(item, cfg, calibration.get(item.condition))
        c = item.condition
        rows.append((f"{c.particle_type} {c.dose_Gy:g} Gy {c.hr_post_exposure} h",
                     item.mouse.name, scene.n_foci, len(scene.foci) - scene.n_foci,
                     scene.artifact == "debris_blob"))  # fmt: skip
    return pd.DataFrame(rows, columns=["condition", "mouse", "n_foci", "n_sub", "debris"])


def counter_probability(pool: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """An imperfect 'many foci' classifier: P(count >= 3) from a noisy foci count."""
    missed = rng.binomial(pool.n_foci.to_numpy(), 0.15)
    spurious = rng.poisson(0.35 * pool.n_sub.to_numpy() + 0.6 + 2.0 * pool.debris.to_numpy())
    seen = pool.n_foci.to_numpy() - missed + spurious
    return 1 / (1 + np.exp(-1.2 * (seen - 2.5 + rng.normal(0, 0.8, len(pool)))))


def trial(
    pool: pd.DataFrame, prob: np.ndarray, n_images: int, budget: int, rng: np.random.Generator
) -> list[tuple[str, float, float, float, float, float, float, float, float]]:
    out = []
    for cond, idx in pool.groupby("condition").indices.items():
        truth = float((pool.n_foci.to_numpy()[idx] >= 3).mean())
        pick = rng.choice(idx, size=min(n_images, len(idx)), replace=False)
        y = (pool.n_foci.to_numpy()[pick] >= 3).astype(float)
        f = prob[pick]
        labeled = np.zeros(len(pick), dtype=bool)
        labeled[rng.choice(len(pick), size=budget, replace=False)] = True
        raw = float(np.where(labeled, y, f > 0.5).mean())
        clt = ppi_mean(f, y, labeled, 0.95)
        mice = pool.mouse.to_numpy()[pick]
        boot = cluster_bootstrap_ppi(f, y, labeled, mice, 0.95, 1000, rng)
        out.append((cond, truth, raw, clt.estimate, clt.ci_low, clt.ci_high,
                    boot.ci_low, boot.ci_high, float(f.mean())))  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pool", type=int, default=2000, help="generator nuclei per condition")
    parser.add_argument("--per-condition", type=int, default=300, help="images per condition")
    parser.add_argument("--budgets", default="10,25,50,100", help="labeled images per condition")
    parser.add_argument("--seeds", type=int, default=40)
    args = parser.parse_args()
    t0 = time.perf_counter()
    pool = generator_pool(args.pool, seed=0)
    prob = counter_probability(pool, np.random.default_rng(12345))
    t_pool = time.perf_counter() - t0
    rows = []
    for budget in (int(b) for b in args.budgets.split(",")):
        res = []
        for seed in range(args.seeds):
            res += trial(pool, prob, args.per_condition, budget, np.random.default_rng(seed))
        t = pd.DataFrame(res, columns=["cond", "truth", "raw", "est", "lo", "hi", "blo", "bhi",
                                       "pred"])  # fmt: skip
        bias = t.groupby("cond")[["truth", "raw", "est"]].mean()
        rows.append({
            "labeled per condition": f"{budget} of {args.per_condition}",
            "group-trials": len(t),
            "coverage (CLT)": f"{((t.lo <= t.truth) & (t.truth <= t.hi)).mean():.3f}",
            "mean width (CLT)": f"{(t.hi - t.lo).mean():.3f}",
            "coverage (mouse bootstrap)": f"{((t.blo <= t.truth) & (t.truth <= t.bhi)).mean():.3f}",
            "mean width (mouse bootstrap)": f"{(t.bhi - t.blo).mean():.3f}",
            "MAE raw": f"{(t.raw - t.truth).abs().mean():.3f}",
            "MAE mean prob.": f"{(t.pred - t.truth).abs().mean():.3f}",
            "MAE corrected": f"{(t.est - t.truth).abs().mean():.3f}",
            "worst condition bias raw": f"{(bias.raw - bias.truth).abs().max():.3f}",
            "worst condition bias corrected": f"{(bias.est - bias.truth).abs().max():.3f}",
        })  # fmt: skip
    shares = pool.assign(many=pool.n_foci >= 3).groupby("condition").many.mean()
    notes = (
        f"Class 'many foci' (n_foci >= 3) over the 17 conditions; true shares "
        f"{shares.min():.3f} to {shares.max():.3f} (the generator's scenes, {args.pool} per "
        f"condition, seed 0). Each trial: {args.per_condition} images per condition, the "
        f"budget labeled at random, {args.seeds} seeds per budget. Predictions: an imperfect "
        "foci counter (misses 15% of foci, counts sub-foci and debris) whose false-positive "
        "rate grows with the condition's foci. Nominal coverage 0.95; CLT = PPI interval "
        "(Angelopoulos et al. 2023), mouse bootstrap = 8 mice per condition resampled, "
        f"t-corrected. {time.perf_counter() - t0:.0f} s in all ({t_pool:.0f} s for the pool); "
        "`python bench/bench_report.py` regenerates it."
    )
    write_results("report", rows, notes)


if __name__ == "__main__":
    main()
