"""Verbs: preview a selection round, record it, train the model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bps_core.errors import SettingsError
from bps_core.project.store import Project
from bps_core.selection.combine import SelectionConfig
from bps_core.selection.model import MODEL_KINDS, ModelConfig
from bps_core.selection.options import RoundOptions
from bps_core.selection.pool import SelectionError
from bps_core.selection.registry import NAMED, NEEDS_MODEL
from bps_core.selection.rounds import ModelRecord, Round, RoundPreview
from bps_core.selection.rounds import record_round as _record_round
from bps_core.selection.rounds import select_round as _select_round
from bps_core.selection.rounds import train_model as _train_model
from bps_core.settings import check_choice, check_range
from bps_core.verbs.agreement import labeler_view


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
    *,
    user: str = "",
) -> RoundPreview:
    """Selects samples without writing anything, so the selection can be previewed.

    A blind double labeler's round is made of what they may know (``blind_done``): the
    samples done for them count as labeled, not the current labels, and no model's
    predictions are read (a model is made of everyone's labels), so a strategy or option that
    needs one is refused as in a project without a model.

    Args:
        project: The project.
        settings: How many, with which strategy, seed and options.
        progress: Called with 1.0 when done (selection is one step).
        user: Who selects ("" when nobody is named).

    Returns:
        The preview; ``record_round`` records it.

    Raises:
        SelectionError: no embeddings, too few candidates, a strategy that cannot run, or
            one that needs a model for a blind double labeler.
    """
    done = blind_done(project, user)
    if done is not None and settings.config is None and settings.strategy in NEEDS_MODEL:
        raise SelectionError(
            f"{settings.strategy} reads a model's predictions, made of everyone's labels: a "
            "blind double labeler's round reads none until the agreement round ends; choose "
            "a strategy that needs no model, such as random or diversity"
        )
    preview = _select_round(project, settings.n, strategy=settings.strategy,
                            config=settings.config, seed=settings.seed,
                            reinclude_selected=settings.reinclude_selected,
                            options=settings.options, done=done)  # fmt: skip
    if progress is not None:
        progress(1.0)
    return preview


def blind_done(project: Project, user: str) -> set[str] | None:
    """The samples a blind double labeler's round counts as labeled; None for anyone else.

    The same samples their label queue counts as done (``LabelerView.labeled``): every
    current label and their own, except the samples assigned to them that they have not
    labeled themselves. So an assigned sample, the share whose labels the Agreement page
    compares, is offered to them until they label it, whoever else did: the pool tells them
    nothing of another labeler's work on it. A sample outside that share that someone else
    labeled is done (labeled once is enough there, and a second label would replace the
    first unseen), as their queue's unlabeled samples leave it out too.

    Samples an earlier round picked stay held back as for everyone (``reinclude_selected``):
    every round and its samples are on the Rounds page for everyone to read, so that holds
    no one's labels.
    """
    setting = project.assignments.active()
    if not user or setting is None or not setting.blind or user not in setting.labelers:
        return None  # one settings read: no labels read for anyone else
    labels = project.current_labels()
    view = labeler_view(project, user, labels)
    assert view is not None  # a labeler while double labeling is on, as checked
    return view.labeled(labels.key)


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
