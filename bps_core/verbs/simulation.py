"""Verb: simulate labeling rounds against a known truth to compare selection strategies.

One verb for every front end: the app's Simulate job (the truth a metadata column, or a CSV
uploaded under the project's ``simulations/`` folder), the CLI's ``simulate`` and
``bench/bench_selection.py`` (the truth any CSV of the operator's, ``truth_file``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bps_core.embeddings.store import load_embedding_set
from bps_core.errors import MetadataError, SettingsError
from bps_core.project.store import Project
from bps_core.selection.model import ModelConfig
from bps_core.selection.pool import SelectionError
from bps_core.selection.simulate import (
    SIMULATIONS_DIR,
    SimulationConfig,
    StrategyFactory,
    full_pool_scores,
    labels_to_fraction,
    read_truth,
    simulate,
    store_truth_csv,
    truth_rows,
    write_curve,
    write_run,
)
from bps_core.settings import Settings

#: The models a simulation may train (fine-tuning a network per round would take hours).
SIMULATION_MODELS = ("logreg", "knn")


@dataclass(frozen=True)
class SimulateSettings(Settings):
    """Settings of a simulation: the truth, the strategies and the rounds.

    The truth is one of three sources: a metadata column of the project (``truth_csv`` and
    ``truth_file`` None); a CSV stored under the project's ``simulations/`` folder
    (``truth_csv``: the app saves an upload there, and ``check`` refuses a path outside it);
    or any CSV of the operator's (``truth_file``: the CLI's ``--truth`` and the benchmarks;
    a job refuses it). A truth CSV holds ``filename`` plus the label columns.

    Attributes:
        label_column: The truth column (the label to simulate).
        strategies: The strategies to compare.
        batch: Samples labeled per round.
        rounds: Rounds per run (at most 100 for a job).
        seeds: Runs per strategy, with other splits and starts (at most 50 for a job).
        model: ``logreg`` or ``knn``.
        group_column: Column whose groups a test split keeps apart, or None.
        truth_csv: Path of the truth CSV relative to the project folder, or None.
        truth_file: Path of a truth CSV anywhere (the CLI, benchmarks), or None.
        initial: Labels every strategy starts from; None: one batch.
        test_fraction: The share of the samples held out to score the model, in (0, 1).
        threshold: The fraction of the full-pool figure the labels are counted to, in (0, 1).
        extra_strategies: Names beyond the named strategies that the verb's ``factory``
            makes (benchmarks plug peers in); a job has none.

    Raises:
        SettingsError: a field is missing, not a whole number, unknown or out of range (the
            message names it).
    """

    label_column: str
    strategies: tuple[str, ...] = ()
    batch: int = 20
    rounds: int = 5
    seeds: int = 3
    model: str = "logreg"
    group_column: str | None = None
    truth_csv: str | None = None
    truth_file: str | None = None
    initial: int | None = None
    test_fraction: float = 0.25
    threshold: float = 0.95
    extra_strategies: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "strategies", tuple(self.strategies))
        object.__setattr__(self, "extra_strategies", tuple(self.extra_strategies))
        object.__setattr__(self, "group_column", self.group_column or None)
        if not isinstance(self.label_column, str) or not self.label_column:
            raise SettingsError("label_column: choose the truth column (the label to simulate)")
        for name in (
            "batch",
            "rounds",
            "seeds",
            *(["initial"] if self.initial is not None else []),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise SettingsError(f"{name} must be a whole number, got {value!r}")
        if self.truth_csv is not None and self.truth_file is not None:
            raise SettingsError("truth_csv, truth_file: give one truth CSV, not both")
        try:
            self.config.validate(self.extra_strategies)
        except SelectionError as exc:  # the core's check of the numbers and strategy names
            raise SettingsError(str(exc)) from None
        if self.model not in SIMULATION_MODELS:
            raise SettingsError(f"the simulation's model must be logreg or knn, not {self.model}")
        if self.truth_file is None and (self.seeds > 50 or self.rounds > 100):
            raise SettingsError("at most 50 seeds and 100 rounds")
        if not 0 < self.threshold < 1:
            raise SettingsError(f"the threshold must be in (0, 1), got {self.threshold}")

    @property
    def config(self) -> SimulationConfig:
        """The simulation's configuration."""
        return SimulationConfig(strategies=self.strategies, batch=self.batch, rounds=self.rounds,
                                seeds=self.seeds, initial=self.initial,
                                test_fraction=self.test_fraction,
                                model=ModelConfig(kind=self.model))  # type: ignore[arg-type]  # fmt: skip

    def check(self, project: Project) -> None:
        """Checks a job's settings against the project before the job is recorded.

        A job reads its truth from the project only (a metadata column or a CSV under
        ``simulations/``), never from ``truth_file``, and simulates no peer strategies.

        Args:
            project: The project the job runs on.

        Raises:
            SelectionError: a truth file outside the project, extra strategies, or a bad
                truth (see ``check_truth``).
        """
        if self.truth_file is not None or self.extra_strategies:
            raise SelectionError(
                "a simulation job reads its truth from a metadata column or a CSV under "
                f"{SIMULATIONS_DIR}/ and compares the named strategies only"
            )
        self.check_truth(project)

    def check_truth(self, project: Project) -> None:
        """Checks the truth against the project: the truth file or metadata columns.

        Args:
            project: The project to simulate on.

        Raises:
            SelectionError: the truth CSV is not a readable file under the project's
                simulations folder, or a metadata column is missing.
            MetadataError: ``truth_file`` is unreadable or lacks a column (the message
                names the file and the column).
        """
        label, group, truth = self.label_column, self.group_column, self.truth_csv
        if self.truth_file is not None:
            read_truth(Path(self.truth_file), label, group)
        elif truth is not None:
            root = (project.folder / SIMULATIONS_DIR).resolve()
            path = (project.folder / str(truth)).resolve()
            if not path.is_relative_to(root) or not path.is_file():
                raise SelectionError(f"the truth CSV must be a file under {root}; got {truth!r}")
            try:
                read_truth(path, label, group)
            except MetadataError as exc:
                raise SelectionError(str(exc)) from None
        else:
            columns = set(project.samples().columns)
            for col in (label, *([group] if group else [])):
                if col not in columns:
                    raise SelectionError(f"no metadata column {col!r} in the project")


def store_truth_upload(project: Project, data: bytes) -> str:
    """Stores an uploaded truth CSV under the project's simulations folder.

    The file is named by a hash of its content (the same upload twice is one file); its path
    goes into ``SimulateSettings.truth_csv``.

    Args:
        project: The project.
        data: The CSV file's bytes.

    Returns:
        The file's path relative to the project folder.

    Raises:
        StorageWriteError: the file could not be written (nothing partial is left).
    """
    return store_truth_csv(project.folder, data)


@dataclass(frozen=True)
class SimulationRecord:
    """What a simulation wrote and found.

    Attributes:
        curve: The learning curves' CSV: relative to the project folder for a run under
            ``simulations/``, else the ``out`` path given to the verb.
        labels_to_95: The labels-to-threshold table's CSV, relative to the project folder,
            or None when the verb wrote to ``out``.
        full_pool_balanced_accuracy: Balanced accuracy of training on the whole pool.
        n_samples: Samples with a truth value.
        classes: The truth's classes, sorted.
        label_column: The truth column.
        png: The curves' plot beside ``out``, or None.
        table: One row per (strategy, seed, round), columns ``CURVE_COLUMNS``.
        full_pool: Per seed, the balanced accuracy of the model trained on every pool label.
        reach: Per strategy, labels to the threshold of ``full_pool``
            (``labels_to_fraction``'s table).
    """

    curve: str
    labels_to_95: str | None
    full_pool_balanced_accuracy: float
    n_samples: int
    classes: list[str]
    label_column: str
    png: str | None = None
    table: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False, compare=False)
    full_pool: NDArray[np.float64] = field(
        default_factory=lambda: np.zeros(0), repr=False, compare=False
    )
    reach: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False, compare=False)


def run_simulation(
    project: Project,
    settings: SimulateSettings,
    progress: Callable[[float], None] | None = None,
    *,
    run_id: str | None = None,
    out: Path | None = None,
    factory: StrategyFactory | None = None,
    on_truth: Callable[[int, tuple[str, ...]], None] | None = None,
) -> SimulationRecord:
    """Simulates labeling with a known truth on the project's current embedding set.

    Matches the truth to the embedded samples, runs every strategy and seed (``simulate``),
    trains on the whole pool for the reference figure and counts the labels each strategy
    needs to reach ``settings.threshold`` of it. Without ``out`` the tables go to
    ``simulations/<run_id>/curve.csv`` and ``labels_to_95.csv`` (a job's layout); with
    ``out`` the curve CSV goes there and a PNG of the curves beside it (the CLI, benchmarks).

    Args:
        project: The project.
        settings: Truth, strategies, batch, rounds, seeds and model.
        progress: Called with the fraction done, in [0, 1]; 0.9 once the rounds are done.
        run_id: Names the output folder (a job passes its id); None draws one.
        out: Where the curve CSV goes instead of the run folder, or None.
        factory: Makes the strategies (default ``make_strategy``); benchmarks plug peers in
            under ``settings.extra_strategies``.
        on_truth: Called once the truth is matched, before the rounds start, with the
            number of samples and the classes.

    Returns:
        Where the tables are, the headline figures and the tables themselves.

    Raises:
        SelectionError: no embeddings yet, a bad truth, a single class, extra strategies
            without a factory, or a pool too small for the rounds asked.
        MetadataError: ``truth_file`` is unreadable or matches no sample.
    """
    settings.check_truth(project)
    if settings.extra_strategies and factory is None:
        raise SelectionError(
            f"strategies {', '.join(settings.extra_strategies)} need a factory that makes them"
        )
    emb = load_embedding_set(project)
    if emb is None:
        raise SelectionError(
            "no embeddings yet: compute them first (the Embed page, or bps-labeler embed "
            "PROJECT_DIR)"
        )
    meta = project.samples().set_index("key").reindex(emb.keys)
    truth_path = (Path(settings.truth_file) if settings.truth_file is not None
                  else None if settings.truth_csv is None
                  else project.folder / settings.truth_csv)  # fmt: skip
    rows, y, groups = truth_rows(emb.keys, settings.label_column, settings.group_column,
                                 truth_path=truth_path, metadata=meta)  # fmt: skip
    classes = tuple(sorted(set(y.tolist())))
    if len(classes) < 2:
        raise SelectionError(f"the truth column {settings.label_column!r} has a single class")
    if on_truth is not None:
        on_truth(len(rows), classes)
    x = np.asarray(emb.vectors, dtype=np.float32)[rows]
    cfg = settings.config
    stage = progress or (lambda f: None)
    stage(0.0)
    pool_meta = meta.reset_index().iloc[rows].reset_index(drop=True)
    curve = simulate(x, y, groups, cfg, metadata=pool_meta,
                     factory=factory, extra_strategies=settings.extra_strategies,
                     progress=lambda f: stage(0.9 * f))  # fmt: skip
    stage(0.9)
    full = full_pool_scores(x, y, groups, cfg)
    reach = labels_to_fraction(curve, full, settings.threshold)
    labels_to_95 = png = None
    if out is None:
        curve_at, labels_to_95 = write_run(project.folder, run_id or uuid.uuid4().hex[:12],
                                           curve, reach)  # fmt: skip
    else:
        curve_at, png = str(out), str(write_curve(out, curve))
    stage(1.0)
    return SimulationRecord(
        curve=curve_at,
        labels_to_95=labels_to_95,
        full_pool_balanced_accuracy=float(full.mean()),
        n_samples=len(rows),
        classes=list(classes),
        label_column=settings.label_column,
        png=png,
        table=curve,
        full_pool=full,
        reach=reach,
    )
