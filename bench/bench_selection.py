"""Label efficiency of the selection strategies on the synthetic BPS ``demo`` data.

Tasks ``has_track`` and ``particle_type``, 5 seeds, the SimCLR embeddings that
bench_quality.py trained on the demo preset. Each seed holds out a test split grouped by
well; every strategy starts from the same 10 random labels and adds 10 per round.

Figure of merit: labels needed until the model reaches 95% of the balanced accuracy that
training on every pool label reaches (per seed, mean over seeds; a seed that never gets there
within the budget counts as the budget plus one batch, shown with ">="). Balanced, not plain,
accuracy: has_track is rare, so a model that never predicts a track already has 95% of the
full accuracy.

Side by side: ``default``, each single strategy, ``random``, and modAL's
``uncertainty_sampling`` (the modAL-python package) with the same logistic-regression model
on the same embeddings and splits. Target: ``default`` needs at most half the labels
``random`` needs, and fewer than modAL. Run bench_quality.py first (it trains the embeddings).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from modAL.uncertainty import uncertainty_sampling
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import GroupShuffleSplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, WORK, write_results  # noqa: E402

from bps_core.embeddings import load_embedding_set  # noqa: E402
from bps_core.embeddings.quality import find_truth  # noqa: E402
from bps_core.project import Project  # noqa: E402
from bps_core.selection import RandomStrategy, Strategy, make_strategy  # noqa: E402
from bps_core.selection.model import ModelConfig, fit_predict  # noqa: E402
from bps_core.selection.pool import Indices, Pool, check_budget  # noqa: E402
from bps_core.selection.simulate import SimulationConfig, align_truth, plot_curves, simulate  # noqa: E402

STRATEGIES = ("default", "random", "diversity", "uncertainty", "margin", "hybrid", "typicality",
              "modal")  # fmt: skip
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

    def select(self, pool: Pool, budget: int) -> Indices:
        cand = check_budget(pool, budget)
        if pool.probabilities is None:  # one class so far: modAL users start at random
            return RandomStrategy(self.seed).select(pool, budget)
        model = _SameModel(pool.probabilities[cand])
        idx, _ = uncertainty_sampling(model, pool.embeddings[cand], n_instances=budget)
        return cand[np.asarray(idx, dtype=np.int64)]


def factory(name: str, seed: int, has_model: bool) -> Strategy:
    if name == "modal":
        return ModalUncertainty(seed)
    return make_strategy(name, random_state=seed, has_model=has_model)


def full_accuracy(x: np.ndarray, y: np.ndarray, groups: np.ndarray, seeds: int) -> list[float]:
    """Test balanced accuracy of the model trained on the whole pool, per seed (same splits)."""
    out = []
    for seed in range(seeds):
        train, test = next(GroupShuffleSplit(1, test_size=0.25, random_state=seed)
                           .split(x, y, groups))  # fmt: skip
        classes, probs = fit_predict(x[train], y[train], x[test], ModelConfig())
        pred = np.asarray(classes)[probs.argmax(axis=1)]
        out.append(float(balanced_accuracy_score(y[test], pred)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    with Project.open(WORK / "demo_quality_project") as project:
        emb = load_embedding_set(project)
        truth = find_truth(project.config.datasource.path)
    assert emb is not None, "run bench_quality.py first"
    assert emb.method == "simclr", "run bench_quality.py first"
    assert truth is not None
    rows = []
    for task in TASKS:
        idx, y, groups = align_truth(emb.keys, truth.astype(str), task, "well")
        assert groups is not None
        x = np.asarray(emb.vectors, dtype=np.float32)[idx]
        cfg = SimulationConfig(STRATEGIES, batch=args.batch, rounds=args.rounds,
                               seeds=args.seeds, initial=args.batch)  # fmt: skip
        curve = simulate(x, y, groups, cfg, factory=factory, extra_strategies=("modal",))
        curve.to_csv(RESULTS / f"selection_curve_{task}.csv", index=False)
        plot_curves(curve, RESULTS / f"selection_curve_{task}.png")
        full = full_accuracy(x, y, groups, args.seeds)
        budget = args.batch * (args.rounds + 1)
        need = {}
        for name in STRATEGIES:
            per_seed = []
            for seed in range(args.seeds):
                c = curve[(curve.strategy == name) & (curve.seed == seed)]
                hit = c[c.balanced_accuracy >= 0.95 * full[seed]].n_labeled
                per_seed.append(float(hit.min()) if len(hit) else float(budget + args.batch))
            need[name] = per_seed
        for name in STRATEGIES:
            mean = float(np.mean(need[name]))
            never = sum(v > budget for v in need[name])
            final = curve[(curve.strategy == name) & (curve["round"] == args.rounds)]
            rows.append({
                "task": task, "strategy": name,
                "labels to 95% of full": (">=" if never else "") + f"{mean:.0f}"
                + (f" ({never}/{args.seeds} seeds never)" if never else ""),
                "vs random": f"{np.mean(need['random']) / mean:.2f}x",
                f"bal. acc. at {budget} labels": f"{final.balanced_accuracy.mean():.3f}",
                "full-pool bal. acc.": f"{np.mean(full):.3f}",
            })  # fmt: skip
    write_results(
        "selection",
        rows,
        notes=f"{args.seeds} seeds; start 10 random labels, +{args.batch} per round, "
        f"{args.rounds} rounds; logistic regression on the demo SimCLR embeddings; test split "
        "grouped by well. Curves: bench/results/selection_curve_<task>.png.",
    )


if __name__ == "__main__":
    warnings.filterwarnings("ignore", category=UserWarning)  # modAL's sklearn deprecations
    main()
