"""Verbs: preview a selection round, record it, train the model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bps_core.errors import SettingsError
from bps_core.project.store import Project
from bps_core.selection.combine import SelectionConfig
from bps_core.selection.model import MODEL_KINDS, ModelConfig
from bps_core.selection.options import RoundOptions
from bps_core.selection.registry import NAMED
from bps_core.selection.rounds import ModelRecord, Round, RoundPreview
from bps_core.selection.rounds import record_round as _record_round
from bps_core.selection.rounds import select_round as _select_round
from bps_core.selection.rounds import train_model as _train_model
from bps_core.settings import check_choice, check_range


@dataclass(frozen=True)
class SelectSettings:
    """How to select a round.

    Attributes:
        n: How many samples; None lets ``config`` decide (its ``n_samples`` or proportion).
        strategy: A named strategy (``NAMED``), used when ``config`` is None.
        config: A Lightly-style selection config, instead of a named strategy.
        seed: The seed; None draws a fresh one (recorded with the round).
        reinclude_selected: Also pick samples that earlier rounds picked.
        options: Balance, threshold and similarity options on top of the strategy; a
            ``config`` carries its own (BALANCE, THRESHOLD or SIMILARITY entries), so they
            cannot be given with one.

    Raises:
        SettingsError: a value out of range, an unknown strategy, or ``strategy`` or
            ``options`` given together with ``config`` (which would ignore them).
    """

    n: int | None = None
    strategy: str = "default"
    config: SelectionConfig | None = None
    seed: int | None = None
    reinclude_selected: bool = False
    options: RoundOptions = field(default_factory=RoundOptions)

    def __post_init__(self) -> None:
        if self.n is None and self.config is None:
            raise SettingsError("n: give the number of samples to select (or a config)")
        if self.n is not None:
            check_range("n", self.n, 1)
        if self.config is None:
            check_choice("strategy", self.strategy, NAMED)
            return
        if self.strategy != "default":
            raise SettingsError(
                f"strategy {self.strategy!r} and config: a Lightly config names its own "
                "strategies, so the strategy would not be used; give one or the other"
            )
        if not self.options.empty:
            raise SettingsError(
                "balance, threshold and similarity apply to a named strategy; with a Lightly "
                "config, add BALANCE, THRESHOLD or SIMILARITY entries to it"
            )


def select_round(
    project: Project,
    settings: SelectSettings,
    progress: Callable[[float], None] | None = None,
) -> RoundPreview:
    """Selects samples without writing anything, so the selection can be previewed.

    Args:
        project: The project.
        settings: How many, with which strategy, seed and options.
        progress: Called with 1.0 when done (selection is one step).

    Returns:
        The preview; ``record_round`` records it.

    Raises:
        SelectionError: no embeddings, too few candidates, or a strategy that cannot run.
    """
    preview = _select_round(project, settings.n, strategy=settings.strategy,
                            config=settings.config, seed=settings.seed,
                            reinclude_selected=settings.reinclude_selected,
                            options=settings.options)  # fmt: skip
    if progress is not None:
        progress(1.0)
    return preview


def record_round(project: Project, preview: RoundPreview, *, user: str = "cli") -> Round:
    """Records a previewed selection as the next round, all or nothing.

    Args:
        project: The project, opened writable.
        preview: What ``select_round`` returned.
        user: Who selected it.

    Returns:
        The recorded round.

    Raises:
        SelectionError: a previewed sample is no longer in the project.
    """
    return _record_round(project, preview, user=user)


@dataclass(frozen=True)
class TrainSettings:
    """How to train the classifier on the current labels.

    Attributes:
        model: The model's kind and hyperparameters.
        group_by: Metadata column whose groups cross-validation keeps apart; None picks one.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    group_by: str | None = None

    def __post_init__(self) -> None:
        check_choice("model kind", self.model.kind, MODEL_KINDS)
        check_range("finetune_epochs", self.model.finetune_epochs, 1)
        check_range("folds", self.model.folds, 2)
        check_range("k", self.model.k, 1)


def train_model(
    project: Project,
    settings: TrainSettings | None = None,
    progress: Callable[[float], None] | None = None,
    *,
    user: str = "cli",
) -> ModelRecord:
    """Cross-validates, fits on every label and predicts every sample.

    Args:
        project: The project, opened writable.
        settings: The model and the grouping of cross-validation; the defaults when None.
        progress: Called with the fraction done (at least 1.0 at the end).
        user: Who trained it.

    Returns:
        The model record with its cross-validated metrics.

    Raises:
        SelectionError: no embeddings, or too few labels.
    """
    settings = settings or TrainSettings()
    model = _train_model(project, settings.model, user=user, group_by=settings.group_by,
                         progress=progress)  # fmt: skip
    if progress is not None:
        progress(1.0)  # a logistic or k-NN model reports nothing along the way
    return model
