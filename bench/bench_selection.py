"""Label efficiency of the selection strategies on the synthetic BPS ``demo`` data.

Tasks ``has_track`` and ``particle_type``, 20 seeds, the SimCLR embeddings that
bench_quality.py trained on the demo preset. Each seed holds out a test split grouped by
well; every strategy starts from the same 10 random labels and adds 10 per round.

Figure of merit: labels needed until the model reaches 95% of the balanced accuracy that
training on every pool label reaches. Read off the mean learning curve: per seed, test
balanced accuracy divided by that seed's full-pool figure, averaged over seeds; the first
label count where the mean reaches 0.95, with a 90% bootstrap interval over seeds. Also
shown: the per-seed first crossing averaged over seeds (a seed that never gets there counts as
the budget plus one batch, shown with ">="), which rewards single lucky rounds: a grouped test
split of the demo holds only 2 to 6 tracks, so one test image moves balanced accuracy by 0.08
to 0.25. Balanced, not plain, accuracy: has_track is rare, so a model that never predicts a
track already has 95% of the full accuracy.

Side by side: ``default``, the single strategies, the previous default (``hybrid_random``),
``random``, and modAL's ``uncertainty_sampling`` (the modAL-python package) with the same
logistic-regression model on the same embeddings and splits. Target: ``default`` needs at
most half the labels ``random`` needs, and fewer than modAL. Run bench_quality.py first (it
trains the embeddings).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from modAL.uncertainty import uncertainty_sampling

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, WORK, write_results  # noqa: E402

from bps_core import verbs  # noqa: E402
from bps_core.verbs import Pool, Strategy, check_budget, make_strategy  # noqa: E402

#: Every named strategy of the registry, and the modAL peer (``factory`` makes it).
STRATEGIES = (*verbs.STRATEGIES, "modal")
THRESHOLD = 0.95
TASKS = ("has_track", "particle_type")


class _SameModel:
    """Hands modAL the probabilities our logistic regression already gave (the same model
    for every strategy), through the predict_proba interface modAL queries."""

    def __init__(self, probabilities: np.ndarray) -> None:
        self.probabilities = probabilities

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        assert len(x) == len(self.probabilities)
        return self.probabilities


class ModalUncertainty:
    """modAL's default query strategy, ``uncertainty_sampling`` (least confidence)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def select(self, pool: Pool, budget: int) -> np.ndarray:
        cand = check_budget(pool, budget)
        if pool.probabilities is None:  # one class so far: modAL users start at random
            return make_strategy("random", random_state=self.seed).select(pool, budget)
        model = _SameModel(pool.probabilities[cand])
        idx, _ = uncertainty_sampling(model, pool.embeddings[cand], n_instances=budget)
        return cand[np.asarray(idx, dtype=np.int64)]


def factory(name: str, seed: int, has_model: bool) -> Strategy:
    if name == "modal":
        return ModalUncertainty(seed)
    return make_strategy(name, random_state=seed, has_model=has_model)


def _fmt(labels: float, budget: int) -> str:
    return f">{budget}" if labels > budget else f"{labels:.0f}"


def _rows(
    task: str, curve: pd.DataFrame, full: np.ndarray, table: pd.DataFrame,
    args: argparse.Namespace,
) -> list[dict[str, str]]:  # fmt: skip
    """The results table's rows for one task."""
    out: list[dict[str, str]] = []
    budget = args.batch * (args.rounds + 1)
    base = table.at["random", "mean_curve"]
    for name, r in table.iterrows():
        final = curve[(curve.strategy == name) & (curve.n_labeled == budget)]
        at_50 = curve[(curve.strategy == name) & (curve.n_labeled == 50)]
        rel_50 = (at_50.balanced_accuracy.to_numpy() / full[at_50.seed.to_numpy()]).mean()
        never = int(r["never"])
        out.append({
            "task": task, "strategy": name,
            "labels to 95% (mean curve, 90% interval)":
                f"{_fmt(r['mean_curve'], budget)} ({_fmt(r['low'], budget)}-"
                f"{_fmt(r['high'], budget)})",
            "vs random": f"{base / r['mean_curve']:.2f}x",
            "per-seed first crossing": (">=" if never else "") + f"{r['per_seed']:.0f}"
            + (f" ({never}/{args.seeds} seeds never)" if never else ""),
            "rel. bal. acc. at 50 labels": f"{rel_50:.3f}",
            f"bal. acc. at {budget} labels": f"{final.balanced_accuracy.mean():.3f}",
            "full-pool bal. acc.": f"{full.mean():.3f}",
        })  # fmt: skip
    return out


def _truth_csv(datasource: Path) -> Path:
    """The synthetic ``_synthetic/truth.csv`` beside the demo's ``Microscopy/train`` folder."""
    for candidate in (datasource / "_synthetic", datasource.parent.parent / "_synthetic"):
        if (candidate / "truth.csv").is_file():
            return candidate / "truth.csv"
    raise SystemExit(f"no _synthetic/truth.csv near {datasource}: run bench_quality.py first")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    rows = []
    with verbs.Project.open(WORK / "demo_quality_project") as project:
        current = [s for s in verbs.list_embedding_sets(project) if s["current"]]
        assert current, "run bench_quality.py first"
        assert current[0]["method"] == "simclr", "run bench_quality.py first"
        truth = _truth_csv(Path(project.config.datasource.path))
        for task in TASKS:
            settings = verbs.SimulateSettings(
                task, STRATEGIES, batch=args.batch, rounds=args.rounds, seeds=args.seeds,
                initial=args.batch, group_column="well", threshold=THRESHOLD,
                truth_file=str(truth), extra_strategies=("modal",),
            )  # fmt: skip
            result = verbs.run_simulation(project, settings, factory=factory,
                                          out=RESULTS / f"selection_curve_{task}.csv")  # fmt: skip
            rows += _rows(task, result.table, result.full_pool, result.reach, args)
    write_results(
        "selection",
        rows,
        notes=f"{args.seeds} seeds; 95% of the full-pool balanced accuracy read off the mean "
        "relative learning curve (90% bootstrap interval over seeds); start 10 random labels, "
        f"+{args.batch} per round, "
        f"{args.rounds} rounds; logistic regression on the demo SimCLR embeddings; test split "
        "grouped by well. Curves: bench/results/selection_curve_<task>.png.",
    )


if __name__ == "__main__":
    warnings.filterwarnings("ignore", category=UserWarning)  # modAL's sklearn deprecations
    main()
