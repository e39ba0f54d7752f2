"""Strategy simulation on data with known labels: the whole loop with an oracle.

For each seed, a test split grouped by source is held out; the rest is the pool. Every
strategy starts from the same seeded initial labels, then alternates: train the model on
what is labeled, score it on the test split, select a batch, let the oracle label it. One
row per (strategy, seed, round) says how good the model was with how many labels. While the
labels hold a single class there is no model yet: strategies that need one pick at random
for that round, as a user would.

Earlier picks are never picked again, as in a project's rounds (which leave out every sample
an earlier round picked, labeled or not, unless re-included): here the oracle labels a batch
as soon as it is picked, so every earlier pick is labeled, and labeled samples are never
candidates. ``simulate`` checks this after every batch.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score
from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit

from bps_core.atomic import atomic_write_bytes, atomic_write_text
from bps_core.csvsafe import safe_frame
from bps_core.errors import MetadataError
from bps_core.metadata import parser_error, read_user_file
from bps_core.selection import NAMED, NEEDS_MODEL, RandomStrategy, Strategy, make_strategy
from bps_core.selection.model import ModelConfig, fit_predict
from bps_core.selection.pool import Pool, SelectionError

CURVE_COLUMNS = (
    "strategy", "seed", "round", "n_labeled", "accuracy", "balanced_accuracy", "macro_f1",
)  # fmt: skip
#: A strategy factory: (name, seed, has_model) -> Strategy. Benchmarks plug peers in here.
StrategyFactory = Callable[[str, int, bool], Strategy]
#: The project folder's subfolder that holds uploaded truth CSVs and simulation runs.
SIMULATIONS_DIR = "simulations"


@dataclass(frozen=True)
class SimulationConfig:
    """How to simulate: the strategies, the rounds, the seeds, the split and the model.

    Attributes:
        strategies: The strategies to compare (named ones, or peers a factory makes).
        batch: Samples labeled per round.
        rounds: Rounds per run.
        seeds: Runs per strategy, each with its own split and initial labels.
        initial: Labels every strategy starts from; None: one batch.
        test_fraction: The share of the samples held out to score the model, in (0, 1).
        model: The model trained after every round.
    """

    strategies: tuple[str, ...]
    batch: int = 20
    rounds: int = 10
    seeds: int = 10  # a handful of seeds can rank strategies by luck (see the README)
    initial: int | None = None  # default: one batch
    test_fraction: float = 0.25
    model: ModelConfig = field(default_factory=ModelConfig)

    def validate(self, extra: Sequence[str] = ()) -> None:
        """Checks the strategies and numbers.

        Args:
            extra: Strategy names a factory knows beyond the named strategies.

        Raises:
            SelectionError: an unknown strategy, none at all, or a number out of range.
        """
        unknown = [s for s in self.strategies if s not in NAMED and s not in extra]
        if unknown or not self.strategies:
            raise SelectionError(
                f"unknown strategies {', '.join(unknown) or '(none given)'}; "
                f"choose from {', '.join((*NAMED, *extra))}"
            )
        if self.batch < 1 or self.rounds < 1 or self.seeds < 1:
            raise SelectionError("batch, rounds and seeds must each be at least 1")
        if not 0 < self.test_fraction < 1:
            raise SelectionError(f"test fraction must be in (0, 1), got {self.test_fraction}")


def read_truth(path: Path, label_column: str, group_column: str | None) -> pd.DataFrame:
    """Reads a truth CSV: ``filename`` plus label columns, every cell as text.

    Args:
        path: The CSV.
        label_column: The column that must hold the labels.
        group_column: A column that must hold the groups, or None.

    Returns:
        The table.

    Raises:
        MetadataError: the file is unreadable, empty, not CSV or lacks a column (the message
            names the file and the column, never the file's content).
    """
    data = read_user_file(path, "truth CSV")
    try:
        truth = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise MetadataError(f"{path}: the truth CSV is empty") from None
    except pd.errors.ParserError as exc:
        raise parser_error(str(path), exc) from None
    except UnicodeDecodeError as exc:
        raise MetadataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    for col in ("filename", label_column, *([group_column] if group_column else [])):
        if col not in truth.columns:
            raise MetadataError(
                f"{path}: no column {col!r} in line 1 (the truth CSV needs filename and "
                f"{label_column!r}{f' and {group_column!r}' if group_column else ''})"
            )
    return truth


def align_truth(
    keys: Sequence[str], truth: pd.DataFrame, label_column: str, group_column: str | None
) -> tuple[NDArray[np.int64], NDArray[np.str_], NDArray[np.str_] | None]:
    """Matches a truth table to sample keys by file name; empty labels are left out.

    Args:
        keys: The samples' keys (``datasource:relative/path``).
        truth: The truth table (``read_truth``).
        label_column: The labels' column.
        group_column: The groups' column, or None.

    Returns:
        The rows of ``keys`` the truth labels, their labels, and their groups (or None).

    Raises:
        MetadataError: no file name in the truth matches a sample.
    """
    by_name = truth.drop_duplicates("filename").set_index("filename")
    names = [posixpath.basename(k.split(":", 1)[-1]) for k in keys]
    rows = np.array([i for i, n in enumerate(names) if n in by_name.index
                     and by_name.at[n, label_column] != ""], dtype=np.int64)  # fmt: skip
    if len(rows) == 0:
        raise MetadataError("no file name in the truth CSV matches a sample of the project")
    matched = by_name.loc[[names[i] for i in rows]]
    y = matched[label_column].to_numpy(dtype=str)
    groups = matched[group_column].to_numpy(dtype=str) if group_column else None
    return rows, y, groups


def truth_rows(
    keys: Sequence[str],
    label_column: str,
    group_column: str | None,
    *,
    truth_path: Path | None = None,
    metadata: pd.DataFrame | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.str_], NDArray[np.str_] | None]:
    """The samples with a truth, their labels and groups: from a truth CSV or the metadata.

    Args:
        keys: The samples' keys, in the order of the embeddings.
        label_column: The labels' column.
        group_column: The groups' column, or None.
        truth_path: A truth CSV (``read_truth``); None reads the truth from ``metadata``.
        metadata: The samples' metadata indexed by key, in the order of ``keys`` (used when
            ``truth_path`` is None).

    Returns:
        The rows of ``keys`` with a (non-empty) label, their labels, and their groups (or None).

    Raises:
        MetadataError: the truth CSV is unreadable or matches no sample.
        SelectionError: the metadata column is empty for every sample.
    """
    if truth_path is not None:
        truth = read_truth(truth_path, label_column, group_column)
        return align_truth(keys, truth, label_column, group_column)
    assert metadata is not None, "give truth_path or metadata"
    values = metadata[label_column]
    ok = values.notna() & (values.astype(str).str.strip() != "")
    rows = np.flatnonzero(ok.to_numpy()).astype(np.int64)
    if len(rows) == 0:
        raise SelectionError(f"metadata column {label_column!r} is empty for every sample")
    y = values.iloc[rows].astype(str).to_numpy(dtype=str)
    groups = None
    if group_column:
        groups = metadata[group_column].iloc[rows].astype(str).to_numpy(dtype=str)
    return rows, y, groups


def store_truth_csv(project_folder: Path, data: bytes) -> str:
    """Stores a truth CSV under ``simulations/uploads/``, whole or not at all.

    The file is named by a hash of its content (the same upload twice is one file).

    Args:
        project_folder: The project's folder.
        data: The CSV file's bytes.

    Returns:
        The file's path relative to the project folder.

    Raises:
        StorageWriteError: the file could not be written (nothing partial is left).
    """
    rel = f"{SIMULATIONS_DIR}/uploads/{hashlib.sha256(data).hexdigest()[:16]}.csv"
    target = project_folder / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, data)
    return rel


def write_run(
    project_folder: Path, run_id: str, curve: pd.DataFrame, reach: pd.DataFrame
) -> tuple[str, str]:
    """Writes a run's tables to ``simulations/<run_id>/`` (a job's layout).

    Args:
        project_folder: The project's folder.
        run_id: The run's folder name.
        curve: The learning curves (``simulate``).
        reach: Labels to the threshold per strategy (``labels_to_fraction``).

    Returns:
        The paths of ``curve.csv`` and ``labels_to_95.csv``, relative to the project folder.
    """
    folder = project_folder / SIMULATIONS_DIR / run_id
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "curve.csv", curve.to_csv(index=False))
    atomic_write_text(folder / "labels_to_95.csv", reach.to_csv(index_label="strategy"))
    return f"{SIMULATIONS_DIR}/{run_id}/curve.csv", f"{SIMULATIONS_DIR}/{run_id}/labels_to_95.csv"


def write_curve(out: Path, curve: pd.DataFrame) -> Path:
    """Writes the curves' CSV to ``out`` (cells made safe for spreadsheets) and a PNG beside it.

    Args:
        out: The CSV file.
        curve: The learning curves (``simulate``).

    Returns:
        The PNG's path (``out`` with the suffix ``.png``).
    """
    atomic_write_text(out, safe_frame(curve).to_csv(index=False))
    png = out.with_suffix(".png")
    plot_curves(curve, png)
    return png


def _score(y_true: NDArray[np.str_], y_pred: NDArray[np.str_]) -> dict[str, float]:
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
    }


def _split(
    x: NDArray[np.float32],
    y: NDArray[np.str_],
    groups: NDArray[np.str_] | None,
    seed: int,
    test_fraction: float,
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """(pool rows, test rows) for one seed: grouped by source when there are groups."""
    if groups is not None and len(set(groups.tolist())) >= 2:
        split = GroupShuffleSplit(1, test_size=test_fraction, random_state=seed)
        train, test = next(split.split(x, y, groups))
    else:
        train, test = next(ShuffleSplit(1, test_size=test_fraction, random_state=seed).split(x))
    return train, test


def full_pool_scores(
    x: NDArray[np.float32],
    y: NDArray[np.str_],
    groups: NDArray[np.str_] | None,
    cfg: SimulationConfig,
    metric: str = "balanced_accuracy",
) -> NDArray[np.float64]:
    """Per seed, the test ``metric`` of the model trained on every pool label.

    The same splits as ``simulate``: what labeling everything would reach.
    """
    y = np.asarray(y, dtype=str)
    out = []
    for seed in range(cfg.seeds):
        train, test = _split(x, y, groups, seed, cfg.test_fraction)
        classes, probs = fit_predict(x[train], y[train], x[test], cfg.model)
        out.append(_score(y[test], np.asarray(classes)[probs.argmax(axis=1)])[metric])
    return np.asarray(out, dtype=np.float64)


def labels_to_fraction(
    curve: pd.DataFrame,
    full: NDArray[np.float64],
    fraction: float = 0.95,
    metric: str = "balanced_accuracy",
    n_boot: int = 1000,
    *,
    interpolate: bool = False,
    keep_boot: bool = False,
) -> pd.DataFrame:
    """Per strategy, labels until the model reaches ``fraction`` of the full-pool figure.

    ``mean_curve``: the first label count where the mean over seeds of ``metric / full[seed]``
    reaches ``fraction``, with a 90% bootstrap interval over seeds (``low``, ``high``).
    ``per_seed``: each seed's first such count, averaged; ``never`` seeds that do not get
    there count as the last label count plus one batch (``beyond``). The mean curve is the
    steadier figure: with few test samples of a class, one seed's curve crosses in a lucky
    round and falls back.

    With ``interpolate`` the mean-curve figures (and their bootstrap) are read between grid
    points: linearly between the last label count below ``fraction`` and the first at or
    above it, so that two strategies a batch apart on the grid are not rounded to the same
    count (``per_seed`` stays on the grid). With ``keep_boot`` a ``boot`` column holds each
    strategy's bootstrap figures; resample ``b`` draws the same seeds for every strategy, so
    two strategies' figures can be compared resample by resample (a paired bootstrap).
    """
    rows: dict[object, dict[str, object]] = {}
    for name, g in curve.groupby("strategy", sort=False):
        rng = np.random.default_rng(0)  # the same resamples for every strategy
        rel = g.pivot(index="seed", columns="n_labeled", values=metric)
        counts = rel.columns.to_numpy(dtype=np.float64)
        beyond = counts[-1] + (counts[-1] - counts[-2] if len(counts) > 1 else 1.0)
        values = rel.to_numpy() / full[rel.index.to_numpy()][:, None]

        def crossing(m: NDArray[np.float64], counts: NDArray[np.float64] = counts,
                     beyond: float = beyond) -> float:  # fmt: skip
            mean = m.mean(axis=0)
            hit = np.flatnonzero(mean >= fraction)
            if not len(hit):
                return beyond
            i = int(hit[0])
            if not interpolate or i == 0:
                return float(counts[i])
            lo, hi = float(mean[i - 1]), float(mean[i])  # lo < fraction <= hi
            t = (fraction - lo) / (hi - lo)
            return float(counts[i - 1] + t * (counts[i] - counts[i - 1]))

        boot = [crossing(values[rng.integers(0, len(values), len(values))]) for _ in range(n_boot)]
        first = [float(counts[np.argmax(r >= fraction)]) if (r >= fraction).any() else beyond
                 for r in values]  # fmt: skip
        rows[name] = {
            "mean_curve": crossing(values),
            "low": float(np.percentile(boot, 5)),
            "high": float(np.percentile(boot, 95)),
            "per_seed": float(np.mean(first)),
            "never": int(sum(v == beyond for v in first)),
            "beyond": float(beyond),
        }
        if keep_boot:
            rows[name]["boot"] = np.asarray(boot, dtype=np.float64)
    return pd.DataFrame.from_dict(rows, orient="index")


def simulate(
    x: NDArray[np.float32],
    y: NDArray[np.str_],
    groups: NDArray[np.str_] | None,
    cfg: SimulationConfig,
    *,
    metadata: pd.DataFrame | None = None,
    factory: StrategyFactory | None = None,
    extra_strategies: Sequence[str] = (),
    progress: Callable[[float], None] | None = None,
) -> pd.DataFrame:
    """Learning curves for every strategy and seed (columns ``CURVE_COLUMNS``)."""
    cfg.validate(extra_strategies)
    make = factory or (lambda name, seed, has_model: make_strategy(
        name, random_state=seed, has_model=has_model))  # fmt: skip
    y = np.asarray(y, dtype=str)
    initial = cfg.initial or cfg.batch
    rows: list[dict[str, object]] = []
    total = len(cfg.strategies) * cfg.seeds * (cfg.rounds + 1)
    done = 0
    for seed in range(cfg.seeds):
        train, test = _split(x, y, groups, seed, cfg.test_fraction)
        if initial + cfg.batch * cfg.rounds > len(train):
            raise SelectionError(
                f"the pool has {len(train)} samples after the test split; "
                f"{initial} initial + {cfg.rounds} x {cfg.batch} labels do not fit"
            )
        start = np.random.default_rng(seed).choice(len(train), initial, replace=False)
        meta = None if metadata is None else metadata.iloc[train].reset_index(drop=True)
        for name in cfg.strategies:
            labeled = np.zeros(len(train), dtype=bool)
            labeled[start] = True
            for rnd in range(cfg.rounds + 1):
                lab = np.flatnonzero(labeled)
                probs = None
                if len(set(y[train][lab])) >= 2:
                    classes, probs_all = fit_predict(
                        x[train][lab], y[train][lab], np.vstack([x[train], x[test]]), cfg.model
                    )
                    probs = probs_all[: len(train)]
                    pred = np.asarray(classes)[probs_all[len(train) :].argmax(axis=1)]
                else:  # one class so far: the model can only predict it
                    pred = np.full(len(test), y[train][lab][0])
                    classes = sorted(set(y[train][lab]))
                rows.append({"strategy": name, "seed": seed, "round": rnd,
                             "n_labeled": int(labeled.sum()), **_score(y[test], pred)})  # fmt: skip
                done += 1
                if progress:
                    progress(done / total)
                if rnd == cfg.rounds:
                    break
                pool = Pool([str(i) for i in range(len(train))], x[train], labeled.copy(),
                            probs, tuple(classes), meta)  # fmt: skip
                if probs is None and name in NEEDS_MODEL:
                    strategy: Strategy = RandomStrategy(seed)
                else:
                    strategy = make(name, seed, probs is not None)
                picks = strategy.select(pool, cfg.batch)
                if labeled[picks].any():  # the rule above; a strategy bug must not hide
                    raise SelectionError(f"{name} picked a sample an earlier round picked")
                labeled[picks] = True
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


def plot_curves(curve: pd.DataFrame, path: Path, metric: str = "balanced_accuracy") -> None:
    """Plots the learning curves as a PNG: the mean over seeds, a band of one standard error.

    A min-max band over 20 seeds would cover nearly the whole plot and hide the ranking.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for name, g in curve.groupby("strategy", sort=False):
        stats = g.groupby("n_labeled")[metric].agg(["mean", "sem"]).fillna(0.0)
        ax.plot(stats.index, stats["mean"], marker="o", ms=3, label=str(name))
        low, high = stats["mean"] - stats["sem"], stats["mean"] + stats["sem"]
        ax.fill_between(stats.index, low, high, alpha=0.15)
    ax.set_xlabel("labels")
    ax.set_ylabel(f"{metric.replace('_', ' ')} on the held-out test split")
    ax.set_title(f"mean over {curve.seed.nunique()} seeds, band: one standard error", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
