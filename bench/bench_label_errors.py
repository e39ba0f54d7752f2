"""Label-error detection on planted flips: cleanlab's ranking against random and low confidence.

Tasks (``TASKS``): the synthetic BPS demo's truth (has_track, 1.7% positive; particle_type)
on its SimCLR embeddings, and two real labeled image sets that ship inside installed packages
(scikit-learn's ``load_digits``, 10 classes; scikit-image's ``lfw_subset``, faces and
non-faces), embedded by pixels through the CLI as ``bench_learning.py`` does (its projects
are reused). Nothing is downloaded.

Per task, flip rate (5%, 10%) and seed: every sample is labeled with its truth, a random
``rate`` of them is flipped to another class (uniformly), the product's cross-validation
(``cross_validation``: logistic regression, 5 folds grouped by well on the BPS tasks,
stratified elsewhere) gives out-of-fold probabilities, and each ranking orders the labels:

- ``cleanlab METHOD``: one minus cleanlab's label quality score for each of its methods
  (``bps_core.quality.label_issues.issue_scores``), with and without adjusted probabilities;
  the product ranks by ``DEFAULT_METHOD``;
- ``cleanlab flagged first``: cleanlab's ``find_label_issues`` set first, then the rest;
- ``low confidence``: 1 - p(given label) (what the disagreement queue would show first);
- ``random``.

Figures: precision in the top k, k = the number of planted flips (at that k, recall equals
precision), recall in the top 2k, and for cleanlab's flagged set its size over k, its
precision and its recall; mean over seeds with a 90% bootstrap interval over seeds. Run with
``nice -n 15``; 10 seeds take under a minute on 2 shared cores (the demo, digits and lfw
projects are built once by ``bench_learning.py``'s helpers, about a minute more).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_results  # noqa: E402
from bench_learning import dataset  # noqa: E402

from bps_core import verbs  # noqa: E402
from bps_core.quality.label_issues import (  # noqa: E402
    DEFAULT_ADJUST,
    DEFAULT_METHOD,
    issue_scores,
)
from bps_core.selection.model import ModelConfig, cross_validation  # noqa: E402

RATES = (0.05, 0.10)
#: Each ranking: cleanlab's label-quality method and adjust_pred_probs (None: not cleanlab).
CLEANLAB = {
    "cleanlab self-confidence": ("self_confidence", False),
    "cleanlab self-conf. adjusted": ("self_confidence", True),
    "cleanlab normalized margin": ("normalized_margin", False),
    "cleanlab conf.-weighted entropy": ("confidence_weighted_entropy", False),
}
PRODUCT = next(n for n, m in CLEANLAB.items() if m == (DEFAULT_METHOD, DEFAULT_ADJUST))
RANKINGS = (*CLEANLAB, "cleanlab flagged first", "low confidence", "random")


@dataclass(frozen=True)
class Task:
    """One label set: a project's embeddings, a truth column, an optional group column."""

    name: str
    dataset: str
    column: str
    group: str | None = None


TASKS = (
    Task("bps_has_track", "demo_simclr", "has_track", "well"),
    Task("bps_particle_type", "demo_simclr", "particle_type", "well"),
    Task("digits", "digits", "digit"),
    Task("lfw_faces", "lfw", "face"),
)


def load(task: Task) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Embeddings, truth labels and groups of every sample of the task with a truth row."""
    project_dir, truth_csv = dataset(task.dataset)
    truth = pd.read_csv(truth_csv, dtype=str, keep_default_na=False).set_index("filename")
    with verbs.Project.open(project_dir) as project:  # a copy under bench/_work
        emb = verbs.load_embedding_set(project)
        rel = project.samples().set_index("key").relpath
    assert emb is not None
    names = [str(rel[k]).rsplit("/", 1)[-1] for k in emb.keys]
    keep = np.array([n in truth.index for n in names])
    rows = truth.loc[[n for n, k in zip(names, keep, strict=True) if k]]
    x = np.asarray(emb.vectors, dtype=np.float32)[keep]
    y = rows[task.column].to_numpy(dtype=str)
    groups = rows[task.group].to_numpy(dtype=str) if task.group else None
    return x, y, groups


def flip(y: np.ndarray, rate: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Flips ``rate`` of the labels to another class, uniformly; returns them and the mask."""
    classes = np.unique(y)
    idx = rng.choice(len(y), round(rate * len(y)), replace=False)
    noisy = y.copy()
    for i in idx:
        noisy[i] = rng.choice(classes[classes != y[i]])
    mask = np.zeros(len(y), dtype=bool)
    mask[idx] = True
    return noisy, mask


def rankings(
    noisy: np.ndarray, probs: np.ndarray, classes: list[str], rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Each ranking's order (most likely wrong first) and cleanlab's flagged mask."""
    given = np.array([classes.index(v) for v in noisy], dtype=np.intp)
    order = {}
    for name, (method, adjust) in CLEANLAB.items():
        score, flagged = issue_scores(given, probs, method=method, adjust=adjust)
        order[name] = np.argsort(-score, kind="stable")
    score, flagged = issue_scores(given, probs)  # the product's
    order["cleanlab flagged first"] = np.lexsort((-score, ~flagged))
    low = 1.0 - probs[np.arange(len(given)), given]
    order["low confidence"] = np.argsort(-low, kind="stable")
    order["random"] = rng.permutation(len(given))
    return order, flagged


def run(task: Task, seeds: int) -> list[dict[str, object]]:
    """One row per (rate, seed, ranking): precision at k, recall at 2k, the flagged set."""
    x, y, groups = load(task)
    out = []
    for rate in RATES:
        for seed in range(seeds):
            rng = np.random.default_rng([seed, round(rate * 1000)])
            noisy, planted = flip(y, rate, rng)
            cv = cross_validation(x, noisy, groups, ModelConfig(random_state=seed))
            assert cv.probs is not None
            order, flagged = rankings(noisy, cv.probs, cv.metrics.classes, rng)
            k = int(planted.sum())
            for name, o in order.items():
                out.append({
                    "task": task.name, "rate": rate, "seed": seed, "ranking": name, "k": k,
                    "n": len(y), "p_at_k": float(planted[o[:k]].mean()),
                    "r_at_2k": float(planted[o[: 2 * k]].sum() / k),
                    "flagged_over_k": float(flagged.sum() / k),
                    "flag_precision": float(planted[flagged].mean()) if flagged.any() else 0.0,
                    "flag_recall": float(planted[flagged].sum() / k),
                })  # fmt: skip
    return out


def interval(values: np.ndarray, rng: np.random.Generator, n_boot: int = 2000) -> str:
    """Mean and 90% percentile-bootstrap interval of the mean over seeds."""
    boots = rng.choice(values, (n_boot, len(values)), replace=True).mean(axis=1)
    lo, hi = np.percentile(boots, [5, 95])
    return f"{values.mean():.2f} ({lo:.2f}-{hi:.2f})"


def table(raw: pd.DataFrame) -> list[dict[str, str]]:
    """One row per task and flip rate: each ranking's precision at k, then the flagged set."""
    rng = np.random.default_rng(0)
    rows = []
    for (task, rate), g in raw.groupby(["task", "rate"], sort=False):
        row = {"task": str(task), "flips": f"{rate:.0%}", "n": str(int(g.n.iloc[0])),
               "k": str(int(g.k.iloc[0]))}  # fmt: skip
        for name in RANKINGS:
            row[f"P@k {name}"] = interval(g[g.ranking == name].p_at_k.to_numpy(), rng)
        c = g[g.ranking == PRODUCT]
        row["R@2k product"] = interval(c.r_at_2k.to_numpy(), rng)
        row["flagged / k"] = f"{c.flagged_over_k.mean():.2f}"
        row["flag precision"] = interval(c.flag_precision.to_numpy(), rng)
        row["flag recall"] = interval(c.flag_recall.to_numpy(), rng)
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--tasks", nargs="*", help="task names (default: all)")
    args = ap.parse_args()
    names = args.tasks or [t.name for t in TASKS]
    raw: list[dict[str, object]] = []
    t0 = time.perf_counter()
    for task in (t for t in TASKS if t.name in names):
        print(f"== {task.name}", flush=True)
        raw += run(task, args.seeds)
    seconds = time.perf_counter() - t0
    notes = (
        f"{args.seeds} seeds per task and flip rate; mean with a 90% bootstrap interval over "
        "seeds. Flips: a random share of the labels moved to another class, uniformly. "
        "P@k: share of planted flips among the top k of each ranking, k = the number of flips "
        "(recall at k is the same number); R@2k: share of the flips found in the top 2k. "
        "cleanlab METHOD: one minus cleanlab.rank.get_label_quality_scores (adjusted: "
        f"adjust_pred_probs); the product ranks by {PRODUCT!r} (R@2k product). Flagged first: "
        "cleanlab.filter.find_label_issues's set, then the rest; flagged / k, flag precision "
        "and recall describe that set. Low confidence: 1 - p(given label), computed directly. "
        "Out-of-fold probabilities: "
        "logistic regression, 5 folds grouped by well (BPS) or stratified. "
        f"Total {seconds:.0f} s on this machine."
    )
    write_results("label_errors", table(pd.DataFrame(raw)), notes=notes)


if __name__ == "__main__":
    warnings.filterwarnings("ignore")
    main()
