"""The low-label model: does C chosen by inner CV, or label spreading, help the suite?

Runs ``random``, ``default`` and candidate ``cand_pc50`` of bench/bench_learning.py on the
suite's development tasks (10 seeds) with three models trained every round: the project's
logistic regression (C = 10, balanced class weights), the same with C chosen by an inner
stratified CV over (0.1, 1, 10, 100) (``ModelConfig.C_grid``), and label spreading over the
10-nearest-neighbour graph (Zhou et al., "Learning with Local and Global Consistency",
NeurIPS 2003; transductive over pool and test rows, class-mass normalised as in Zhu et al.
2003). A model is judged by the mean test balanced accuracy over the label counts (absolute:
the suite's relative figures divide by each model's own full-pool figure). Run with
``nice -n 15``: about 30 minutes on 2 shared cores.
"""

from __future__ import annotations

import functools
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_learning as bl  # noqa: E402
from _common import write_results  # noqa: E402

import bps_core.selection.simulate as sim  # noqa: E402
import bps_core.verbs.simulation as vs  # noqa: E402
from bps_core.selection.model import ModelConfig  # noqa: E402

STRATEGIES = ("random", "default", "cand_pc50")
GRID = (0.1, 1.0, 10.0, 100.0)


def label_spreading(
    x_train: np.ndarray, y: np.ndarray, x_all: np.ndarray, cfg: Any
) -> tuple[list[str], np.ndarray]:
    """``fit_predict`` by label spreading over ``x_all`` and the labeled rows."""
    from sklearn.semi_supervised import LabelSpreading

    y = np.asarray(y, dtype=str)
    classes = sorted(set(y.tolist()))
    n = len(x_all)  # the labeled rows are found in x_all by value, or appended to it
    index = {r.tobytes(): i for i, r in enumerate(np.ascontiguousarray(x_all))}
    pos = np.array([index.get(r.tobytes(), -1) for r in np.ascontiguousarray(x_train)])
    extra = np.flatnonzero(pos < 0)
    pos[extra] = n + np.arange(len(extra))
    union = np.vstack([x_all, x_train[extra]]).astype(np.float64)
    target = np.full(len(union), -1)
    target[pos] = [classes.index(lab) for lab in y]
    model = LabelSpreading(kernel="knn", n_neighbors=10, alpha=0.2, max_iter=100)
    model.fit(union, target)
    dist = np.asarray(model.label_distributions_, dtype=np.float64)[:n]
    dist = dist / np.maximum(dist.sum(axis=0, keepdims=True), 1e-12)  # class mass, balanced
    dist = dist / np.maximum(dist.sum(axis=1, keepdims=True), 1e-12)
    return classes, dist.astype(np.float32)


def run(model: str) -> pd.DataFrame:
    """The dev tasks' curves under ``model`` (logreg, logreg_cv or label_spreading)."""
    saved_cfg, saved_fit = vs.ModelConfig, sim.fit_predict
    if model == "logreg_cv":
        vs.ModelConfig = functools.partial(ModelConfig, C_grid=GRID)  # type: ignore[misc]
    if model == "label_spreading":
        sim.fit_predict = label_spreading  # type: ignore[assignment]
    try:
        curves = []
        for task in (t for t in bl.TASKS if t.half == "dev"):
            print(f"== {model} {task.name}", flush=True)
            bl.run_task(task, STRATEGIES, 10)
            c = pd.read_csv(bl.CACHE / "curves" / f"{task.name}.csv")
            curves.append(c.assign(task=task.name, model=model))
        return pd.concat(curves)
    finally:
        vs.ModelConfig, sim.fit_predict = saved_cfg, saved_fit


def main() -> None:
    curves = pd.concat([run(m) for m in ("logreg", "logreg_cv", "label_spreading")])
    mean = curves.groupby(["task", "strategy", "model", "n_labeled"]).balanced_accuracy.mean()
    aulc = mean.groupby(["task", "strategy", "model"]).mean().unstack("model")
    rows = [{"task": t, "strategy": s, "logreg": f"{r['logreg']:.3f}",
             "logreg_cv": f"{r['logreg_cv']:.3f} ({r['logreg_cv'] - r['logreg']:+.3f})",
             "label_spreading":
                 f"{r['label_spreading']:.3f} ({r['label_spreading'] - r['logreg']:+.3f})"}
            for (t, s), r in aulc.iterrows()]  # fmt: skip
    write_results("learning_model", rows, notes=(
        "Mean test balanced accuracy over the label counts of the run (10 seeds), development "
        "tasks; in brackets the change against logreg (C = 10, balanced)."))  # fmt: skip


if __name__ == "__main__":
    warnings.filterwarnings("ignore")
    main()
