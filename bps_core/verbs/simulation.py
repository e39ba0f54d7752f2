"""Verb: simulate labeling rounds against a known truth to compare selection strategies."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bps_core.embeddings.store import load_embedding_set
from bps_core.errors import MetadataError, SettingsError
from bps_core.project.store import Project
from bps_core.selection.model import ModelConfig
from bps_core.selection.pool import SelectionError
from bps_core.selection.simulate import (
    SIMULATIONS_DIR,
    SimulationConfig,
    align_truth,
    full_pool_scores,
    labels_to_fraction,
    read_truth,
    simulate,
)
from bps_core.settings import Settings

#: The models a simulation may train (fine-tuning a network per round would take hours).
SIMULATION_MODELS = ("logreg", "knn")


@dataclass(frozen=True)
class SimulateSettings(Settings):
    """Settings of a simulation (a ``simulate`` job). The truth is a metadata column of the
    project (``truth_csv`` None) or a CSV stored under the project's ``simulations/`` folder
    (the app saves an upload there; ``check`` refuses a path outside it).

    Attributes:
        label_column: The truth column (the label to simulate).
        strategies: The strategies to compare.
        batch: Samples labeled per round.
        rounds: Rounds per run (at most 100).
        seeds: Runs per strategy, with other splits and starts (at most 50).
        model: ``logreg`` or ``knn``.
        group_column: Metadata column whose groups a test split keeps apart, or None.
        truth_csv: Path of the truth CSV relative to the project folder, or None.

    Raises:
        SelectionError: a field is missing, unknown or out of range (the message names it).
    """

    label_column: str
    strategies: tuple[str, ...] = ()
    batch: int = 20
    rounds: int = 5
    seeds: int = 3
    model: str = "logreg"
    group_column: str | None = None
    truth_csv: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "strategies", tuple(self.strategies))
        object.__setattr__(self, "group_column", self.group_column or None)
        if not isinstance(self.label_column, str) or not self.label_column:
            raise SettingsError("label_column: choose the truth column (the label to simulate)")
        for name in ("batch", "rounds", "seeds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise SettingsError(f"{name} must be a whole number, got {value!r}")
        self.config.validate()
        if self.model not in SIMULATION_MODELS:
            raise SelectionError(f"the simulation's model must be logreg or knn, not {self.model}")
        if self.seeds > 50 or self.rounds > 100:
            raise SelectionError("at most 50 seeds and 100 rounds")

    @property
    def config(self) -> SimulationConfig:
        """The simulation's configuration."""
        return SimulationConfig(strategies=self.strategies, batch=self.batch, rounds=self.rounds,
                                seeds=self.seeds,
                                model=ModelConfig(kind=self.model))  # type: ignore[arg-type]  # fmt: skip

    def check(self, project: Project) -> None:
        """Checks the settings against the project: the truth file or metadata columns.

        Raises:
            SelectionError: the truth CSV is not a readable file under the project's
                simulations folder, or a metadata column is missing.
        """
        label, group, truth = self.label_column, self.group_column, self.truth_csv
        if truth is not None:
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


@dataclass(frozen=True)
class SimulationRecord:
    """What a simulation wrote and found.

    Attributes:
        curve: The learning curves' CSV, relative to the project folder.
        labels_to_95: The labels-to-95% table's CSV, relative to the project folder.
        full_pool_balanced_accuracy: Balanced accuracy of training on the whole pool.
        n_samples: Samples with a truth value.
        classes: The truth's classes.
        label_column: The truth column.
    """

    curve: str
    labels_to_95: str
    full_pool_balanced_accuracy: float
    n_samples: int
    classes: list[str]
    label_column: str


def _truth(
    project: Project, settings: SimulateSettings, keys: Sequence[str]
) -> tuple[NDArray[np.int64], NDArray[np.str_], NDArray[np.str_] | None]:
    if settings.truth_csv is not None:
        truth = read_truth(project.folder / settings.truth_csv, settings.label_column,
                           settings.group_column)  # fmt: skip
        return align_truth(keys, truth, settings.label_column, settings.group_column)
    meta = project.samples().set_index("key").reindex(list(keys))
    values = meta[settings.label_column]
    ok = values.notna() & (values.astype(str).str.strip() != "")
    rows = np.flatnonzero(ok.to_numpy()).astype(np.int64)
    if len(rows) == 0:
        raise SelectionError(f"metadata column {settings.label_column!r} is empty for every sample")
    y = values.iloc[rows].astype(str).to_numpy(dtype=str)
    groups = None
    if settings.group_column:
        groups = meta[settings.group_column].iloc[rows].astype(str).to_numpy(dtype=str)
    return rows, y, groups


def run_simulation(
    project: Project,
    settings: SimulateSettings,
    progress: Callable[[float], None] | None = None,
    *,
    run_id: str | None = None,
) -> SimulationRecord:
    """Simulates on the current embedding set; writes ``simulations/<run_id>/curve.csv`` and
    ``labels_to_95.csv`` (labels each strategy needs to reach 95% of the whole pool's score).

    Args:
        project: The project.
        settings: Truth, strategies, batch, rounds, seeds and model.
        progress: Called with the fraction done.
        run_id: Names the output folder (a job passes its id); None draws one.

    Returns:
        Where the tables are and the headline figures.

    Raises:
        SelectionError: no embeddings yet, a bad truth, or a single class.
    """
    settings.check(project)
    run_id = run_id or uuid.uuid4().hex[:12]
    emb = load_embedding_set(project)
    if emb is None:
        raise SelectionError("the project has no embeddings yet: compute them first")
    rows, y, groups = _truth(project, settings, emb.keys)
    if len(set(y.tolist())) < 2:
        raise SelectionError(f"the truth column {settings.label_column!r} has a single class")
    x = np.asarray(emb.vectors, dtype=np.float32)[rows]
    meta = project.samples().set_index("key").reindex(emb.keys).reset_index()
    stage = progress or (lambda f: None)
    stage(0.0)
    curve = simulate(x, y, groups, settings.config,
                     metadata=meta.iloc[rows].reset_index(drop=True),
                     progress=lambda f: stage(0.9 * f))  # fmt: skip
    stage(0.9)
    full = full_pool_scores(x, y, groups, settings.config)
    reach = labels_to_fraction(curve, full)
    folder = project.folder / SIMULATIONS_DIR / run_id
    folder.mkdir(parents=True, exist_ok=True)
    curve.to_csv(folder / "curve.csv", index=False)
    reach.to_csv(folder / "labels_to_95.csv", index_label="strategy")
    stage(1.0)
    return SimulationRecord(
        curve=f"{SIMULATIONS_DIR}/{run_id}/curve.csv",
        labels_to_95=f"{SIMULATIONS_DIR}/{run_id}/labels_to_95.csv",
        full_pool_balanced_accuracy=float(full.mean()),
        n_samples=len(rows),
        classes=sorted(set(y.tolist())),
        label_column=settings.label_column,
    )
