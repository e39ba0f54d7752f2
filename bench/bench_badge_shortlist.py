"""Does BADGE's shortlist on large pools cost labels? (issue 17's open question)

Above ``BADGE_SHORTLIST_ABOVE`` (20,000) candidates, ``Badge`` keeps only the
``max(10 x budget, 10,000)`` longest gradients before its k-means++ seeding: at 1M samples and
1,000 picks, 10,000 of 1,000,000 candidates, and ten candidates per pick. The suite's pools
(``bench_learning.TASKS``: about 1,000-1,800 samples, 10 picks a round) never reach the
threshold, so its figures are plain BADGE's. Here the same tasks run with the shortlist forced
at the same picks-to-shortlist ratio (threshold and floor set to 0: ``10 x budget`` = 100 of
about 1,000-1,800 candidates, ten per pick), beside plain BADGE and ``error_adaptive`` (which
uses BADGE once a model exists), with random as the baseline.

Per task: labels to 95% of the full-pool balanced accuracy between grid points (mean curve
over seeds), the shortlisted strategy's over the plain one's, and that ratio's 90% paired
bootstrap interval (resample ``b`` draws the same seeds for both); then the median over tasks.
An interval across 1 means the shortlist's cost is not told apart from 0.

Run: ``nice -n 15 python bench/bench_badge_shortlist.py [--seeds 10] [--tasks ...]``
(about 25 minutes on 2 shared cores at 10 seeds).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_learning as bl  # noqa: E402
from _common import write_results  # noqa: E402

from bps_core.selection import NEEDS_MODEL, RandomStrategy  # noqa: E402
from bps_core.selection import strategies as strat  # noqa: E402
from bps_core.verbs import Pool, Strategy, make_strategy  # noqa: E402

PAIRS = {"badge_short": "badge", "error_adaptive_short": "error_adaptive"}
STRATEGIES = ("random", "badge", "badge_short", "error_adaptive", "error_adaptive_short")


@contextmanager
def _forced_shortlist() -> Iterator[None]:
    """Every pool counts as large: BADGE keeps the 10 x budget longest gradients."""
    saved = strat.BADGE_SHORTLIST_ABOVE, strat.BADGE_SHORTLIST_MIN
    strat.BADGE_SHORTLIST_ABOVE, strat.BADGE_SHORTLIST_MIN = 0, 0
    try:
        yield
    finally:
        strat.BADGE_SHORTLIST_ABOVE, strat.BADGE_SHORTLIST_MIN = saved


class _Shortlisted:
    """A registry strategy whose BADGE shortlists as it would on a pool above the threshold."""

    def __init__(self, name: str, seed: int) -> None:
        self.inner: Strategy = make_strategy(name, random_state=seed)
        # the simulation's rule for the plain names: a random batch until there is a model
        self.cold: Strategy | None = RandomStrategy(seed) if name in NEEDS_MODEL else None

    def select(self, pool: Pool, budget: int) -> np.ndarray:
        if pool.probabilities is None and self.cold is not None:
            return np.asarray(self.cold.select(pool, budget))
        with _forced_shortlist():
            return np.asarray(self.inner.select(pool, budget))


def _peer(plain: str):  # type: ignore[no-untyped-def]
    return lambda seed: _Shortlisted(plain, seed)


def compare(raw: pd.DataFrame) -> list[dict[str, str]]:
    """One row per task and pair, then the median over tasks (paired bootstrap intervals)."""
    rows: list[dict[str, str]] = []
    med: dict[str, list[np.ndarray]] = {p: [] for p in PAIRS}
    for task, g in raw.groupby("task", sort=False):
        g = g.set_index("strategy")
        base = g.loc["random"]
        for short, plain in PAIRS.items():
            s, p = g.loc[short], g.loc[plain]
            boot = np.asarray(s["boot_i"], dtype=np.float64) / np.asarray(p["boot_i"])
            med[short].append(boot)
            lo, hi = np.nanpercentile(boot, [5, 95])
            rows.append({
                "task": f"{task} ({p['half']})", "strategy": plain,
                "x random's labels, plain": f"{p['labels_i'] / base['labels_i']:.2f}",
                "x random's labels, shortlisted": f"{s['labels_i'] / base['labels_i']:.2f}",
                "shortlisted / plain (90% interval)":
                    f"{s['labels_i'] / p['labels_i']:.2f} ({lo:.2f}-{hi:.2f})",
                "AULC plain / shortlisted": f"{p['aulc']:.3f} / {s['aulc']:.3f}",
            })  # fmt: skip
    for short, plain in PAIRS.items():
        ratios = np.array(med[short])
        m = np.nanmedian(ratios, axis=0)
        lo, hi = np.nanpercentile(m, [5, 95])
        g = raw.set_index(["strategy", "task"])
        point = np.median([g.loc[(short, t), "labels_i"] / g.loc[(plain, t), "labels_i"]
                           for t in raw.task.unique()])  # fmt: skip
        rows.append({
            "task": f"median over {len(ratios)} tasks", "strategy": plain,
            "x random's labels, plain": "", "x random's labels, shortlisted": "",
            "shortlisted / plain (90% interval)": f"{point:.2f} ({lo:.2f}-{hi:.2f})",
            "AULC plain / shortlisted": "",
        })  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=bl.SEEDS)
    ap.add_argument("--tasks", nargs="*", help="task names (default: all of bench_learning's)")
    ap.add_argument("--report", action="store_true", help="only rebuild the table from the cache")
    args = ap.parse_args()
    bl.PEERS.update({short: _peer(plain) for short, plain in PAIRS.items()})
    names = args.tasks or [t.name for t in bl.TASKS]
    raw_path = bl.CACHE / f"shortlist_{args.seeds}seeds.json"
    rows = json.loads(raw_path.read_text()) if raw_path.is_file() else []
    if not args.report:
        rows = [r for r in rows if r["task"] not in names]
        for task in (t for t in bl.TASKS if t.name in names):
            print(f"== {task.name}", flush=True)
            rows += bl.run_task(task, STRATEGIES, args.seeds)
            raw_path.parent.mkdir(parents=True, exist_ok=True)
            raw_path.write_text(json.dumps(rows, indent=1))
    raw = pd.DataFrame(rows)
    notes = (
        f"{args.seeds} seeds per task, the tasks of bench_learning.py (10 picks a round). "
        "'shortlisted': BADGE keeps only the 10 x budget longest gradients before its "
        "k-means++ seeding, as it does above 20,000 candidates (ten candidates per pick, as "
        "at 1M samples and 1,000 picks); labels to 95% of the full-pool balanced accuracy "
        "between grid points over random's; shortlisted / plain below 1: the shortlist saved "
        "labels; 90% paired bootstrap intervals over seeds. A task where neither reaches 95% "
        "within the budget reads as the budget."
    )
    write_results(f"badge_shortlist_{args.seeds}seeds", compare(raw), notes=notes)


if __name__ == "__main__":
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    main()
