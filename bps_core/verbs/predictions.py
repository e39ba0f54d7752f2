"""Verbs that review a model's predictions: the prediction queue, disagreements, confusion cells.

- ``prediction_queue``: the samples the current model puts in one class, by confidence; a
  reviewer accepts the prediction as the label (or corrects it) with ``accept_predictions``.
- ``model_disagreements``: labeled samples whose out-of-fold prediction differs from their
  label, most confident first (likely label errors, or a model blind spot).
- ``confusion_samples``: the labeled samples of one cell of the cross-validated confusion
  matrix (true label x out-of-fold prediction).

Every label a reviewer gives here is a label event with source ``review``. Decisions name what
the reviewer saw (the label event, the model), so a sample labeled by someone else meanwhile,
or a prediction a newer model no longer makes, is refused rather than applied blind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bps_core.atomic import atomic_write_text
from bps_core.csvsafe import safe_frame
from bps_core.embeddings.store import current_version, load_embedding_set
from bps_core.errors import BpsError, SettingsError
from bps_core.project.label_writes import LabelWrite
from bps_core.project.reviews import StaleReviewError, Verdict
from bps_core.project.rounds import ModelRecord
from bps_core.project.store import Project
from bps_core.selection.rounds import latest_model, list_models, out_of_fold, predictions
from bps_core.settings import Settings, check_choice

#: The order a prediction queue walks its samples in.
PREDICTION_ORDERS = ("most_confident", "least_confident")

_TRAIN = "train one first ('bps-labeler train PROJECT_DIR' or the Selection rounds page)"


class StalePredictionError(StaleReviewError):
    """The model changed since the reviewer saw its prediction, and now predicts otherwise."""


def resolve_model(project: Project, model: str | None = None) -> ModelRecord:
    """The model ``model`` (an id), or the latest one trained on the current embedding set.

    Raises:
        BpsError: no such model, or no model on the current embeddings yet.
    """
    if model is not None:
        models = list_models(project)
        found = [m for m in models if m.id == model]
        if not found:
            known = ", ".join(m.id for m in models[-5:]) or "none"
            raise BpsError(
                f"no model {model!r} in this project (latest: {known}; "
                "'bps-labeler info PROJECT_DIR' lists them)"
            )
        return found[0]
    record = latest_model(project, current_version(project))
    if record is None:
        raise BpsError(f"no model on the current embeddings yet: {_TRAIN}")
    return record


def _current(project: Project) -> pd.DataFrame:
    """Every current label, indexed by key: label and event_id (the label event shown)."""
    return project.reviews.current().set_index("key")[["label", "event_id"]]


@dataclass(frozen=True)
class PredictionQueueSettings(Settings):
    """Which predictions to walk.

    Attributes:
        cls: The predicted class to walk.
        order: ``most_confident`` or ``least_confident`` first.
        include_labeled: Also samples that carry a label (default: only unlabeled ones).
        model: A model id; None: the latest model trained on the current embedding set.
    """

    cls: str
    order: str = "most_confident"
    include_labeled: bool = False
    model: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.cls, str) or not self.cls.strip():
            raise SettingsError("cls: give the predicted class to walk")
        check_choice("order", self.order, PREDICTION_ORDERS)
        if self.model is not None and not self.model.strip():
            raise SettingsError("model: give a model id, or None for the latest model")


@dataclass(frozen=True)
class PredictionQueue:
    """The samples a model puts in one class, in walking order.

    Attributes:
        model_id: The model whose predictions these are.
        cls: The predicted class.
        table: One row per sample: key, filename (relative path), predicted (the class),
            confidence (its probability), label (the current label, None when unlabeled) and
            event_id (that label's event, 0 when unlabeled: what
            ``PredictionDecision.seen_event_id`` names).
    """

    model_id: str
    cls: str
    table: pd.DataFrame

    @property
    def keys(self) -> tuple[str, ...]:
        """The sample keys in walking order."""
        return tuple(str(k) for k in self.table.key)

    def write_csv(self, path: str | Path) -> None:
        """Writes the table as CSV (no key column), atomically, safe from spreadsheet formulas."""
        atomic_write_text(path, safe_frame(self.table.drop(columns=["key"])).to_csv(index=False))


def prediction_queue(project: Project, settings: PredictionQueueSettings) -> PredictionQueue:
    """The samples the model predicts as ``settings.cls``, ordered by confidence.

    Samples hidden by blind double labeling (open disagreements) are left out when labeled
    samples are included: the adjudication queue settles them.

    Args:
        project: The project.
        settings: The class, order, whether labeled samples count, and the model.

    Returns:
        The queue (empty when the model predicts the class for no sample that qualifies).

    Raises:
        BpsError: no model, or the model does not know the class.
    """
    model = resolve_model(project, settings.model)
    if settings.cls not in model.classes:
        raise BpsError(f"model {model.id} knows no class {settings.cls!r}; its classes are "
                       f"{', '.join(model.classes)}")  # fmt: skip
    emb = load_embedding_set(project, model.embedding_version)
    if emb is None:
        raise BpsError(f"the embedding set of model {model.id} is gone; {_TRAIN}")
    probs = predictions(project, model)
    col = list(model.classes).index(settings.cls)
    best = probs.argmax(axis=1)
    rows = np.flatnonzero(best == col)
    current = _current(project)
    table = pd.DataFrame({
        "key": [emb.keys[i] for i in rows],
        "predicted": settings.cls,
        "confidence": probs[rows, col].astype(float),
    })  # fmt: skip
    table["label"] = table.key.map(current.label).astype(object)
    table["label"] = table.label.where(table.label.notna(), None)
    table["event_id"] = table.key.map(current.event_id).fillna(0).astype(int)
    table.insert(1, "filename", table.key.map(project.samples().set_index("key").relpath))
    ok = set(project.samples().query("status == 'ok'").key)
    keep = table.key.isin(ok)
    if settings.include_labeled:
        keep &= ~table.key.isin(project.assignments.hidden_keys())
    else:
        keep &= table.event_id == 0
    table = table[keep].sort_values(
        "confidence", ascending=settings.order == "least_confident", kind="stable"
    )
    return PredictionQueue(model.id, settings.cls, table.reset_index(drop=True))


@dataclass(frozen=True)
class PredictionDecision:
    """A reviewer's decision on one sample of a prediction queue.

    Attributes:
        key: The sample key.
        label: The class to give it.
        seen_event_id: The sample's label event when the reviewer saw it (0: unlabeled).
        accepted: True when ``label`` is the model's prediction the reviewer accepted (it is
            re-checked against the current model); False for a correction (a class the reviewer
            chose, whatever the model says).
    """

    key: str
    label: str
    seen_event_id: int = 0
    accepted: bool = True


@dataclass(frozen=True)
class AcceptSettings(Settings):
    """Decisions on predictions to record.

    Attributes:
        decisions: One per sample.
        model: The id of the model whose predictions the reviewer saw; an accepted prediction
            the current model no longer makes is refused. None: no re-check.
    """

    decisions: tuple[PredictionDecision, ...]
    model: str | None = None

    def __post_init__(self) -> None:
        if not self.decisions:
            raise SettingsError("decisions: give at least one decision")
        for i, d in enumerate(self.decisions):
            if not isinstance(d, PredictionDecision):
                raise SettingsError(f"decisions[{i}]: a PredictionDecision, got {d!r}")
            if not d.label or not d.label.strip():
                raise SettingsError(f"decisions[{i}].label: the class to give")
            if d.seen_event_id < 0:
                raise SettingsError(f"decisions[{i}].seen_event_id: 0 (unlabeled) or an event id")


@dataclass(frozen=True)
class AcceptRecord:
    """What ``accept_predictions`` wrote.

    Attributes:
        n_labeled: Unlabeled samples that got a label.
        n_kept: Labeled samples whose label was confirmed (a review accept; no label event).
        n_fixed: Labeled samples whose label changed.
        action_ids: The label actions written (``Project.undo`` of the reviewer reverses them,
            newest last); empty when only labels were confirmed.
        written: The label events of the last action (``LabelWrite``; None on PostgreSQL or
            without any): a page hands them to its next labels read.
    """

    n_labeled: int
    n_kept: int
    n_fixed: int
    action_ids: tuple[str, ...] = ()
    written: LabelWrite | None = field(default=None, compare=False, repr=False)


def _recheck(project: Project, settings: AcceptSettings) -> None:
    """Refuses accepted predictions that the current model no longer makes."""
    accepted = [d for d in settings.decisions if d.accepted]
    if settings.model is None or not accepted:
        return
    now = resolve_model(project, None)
    if now.id == settings.model:
        return
    emb = load_embedding_set(project, now.embedding_version)
    if emb is None:
        raise BpsError(f"the embedding set of model {now.id} is gone; {_TRAIN}")
    row = {k: i for i, k in enumerate(emb.keys)}
    probs = predictions(project, now)
    best = [None if d.key not in row else now.classes[int(probs[row[d.key]].argmax())]
            for d in accepted]  # fmt: skip
    changed = [d.key for d, b in zip(accepted, best, strict=True) if b != d.label]
    if changed:
        shown = ", ".join(repr(k.split(":", 1)[-1]) for k in changed[:3])
        raise StalePredictionError(
            f"a newer model ({now.id}) was trained since you opened the queue and no longer "
            f"predicts that class for {shown}; nothing was written: restart the queue",
            changed,
        )


def accept_predictions(
    project: Project,
    settings: AcceptSettings,
    progress: Callable[[float], None] | None = None,
    *,
    user: str,
) -> AcceptRecord:
    """Records a reviewer's decisions on predictions as labels with source ``review``.

    An unlabeled sample gets the class; a labeled one gets a review verdict (the class it has:
    accepted; another: fixed). Unlabeled and labeled samples are written in one transaction
    each.

    Args:
        project: The project.
        settings: The decisions and the model they were made on.
        progress: Called with 1.0 when done.
        user: The reviewer.

    Returns:
        How many samples were labeled, confirmed and fixed, and the label actions.

    Raises:
        StalePredictionError: a newer model no longer predicts an accepted class.
        StaleReviewError: a sample was labeled or relabeled since the reviewer saw it.
        ReviewError: a sample twice, or a class the project does not have.
        UnknownSampleError: a key is not in the project.
    """
    _recheck(project, settings)
    fresh = [(d.key, d.label) for d in settings.decisions if d.seen_event_id == 0]
    judged = [Verdict(d.key, "fix", d.label, d.seen_event_id)
              for d in settings.decisions if d.seen_event_id != 0]  # fmt: skip
    actions: list[str] = []
    written: LabelWrite | None = None
    n_kept = n_fixed = 0
    if judged:  # first: a stale label refuses before any unlabeled sample is written
        done = project.reviews.record(judged, user=user)
        n_kept, n_fixed = done.counts["accept"], done.counts["fix"]
        if done.action_id is not None:
            actions.append(done.action_id)
            written = done.written
    if fresh:
        labeled = project.reviews.label_unlabeled(fresh, user=user)
        actions.append(labeled.action_id)
        written = labeled.written
    if progress is not None:
        progress(1.0)
    return AcceptRecord(len(fresh), n_kept, n_fixed, tuple(actions), written)


def _oof_table(project: Project, model: ModelRecord) -> pd.DataFrame:
    """The model's out-of-fold rows with each sample's current label and whether it changed."""
    oof = out_of_fold(project, model)
    if oof is None:
        raise BpsError(f"model {model.id} has no out-of-fold predictions (a class with a single "
                       f"label, or a model trained before they were kept); {_TRAIN}")  # fmt: skip
    frame = oof.frame()
    current = _current(project)
    rel = project.samples().set_index("key").relpath
    frame.insert(1, "filename", frame.key.map(rel).astype(str))
    frame["current"] = frame.key.map(current.label).astype(object)
    frame["current"] = frame.current.where(frame.current.notna(), None)
    frame["event_id"] = frame.key.map(current.event_id).fillna(0).astype(int)
    frame["changed"] = frame.current != frame.label
    return frame


@dataclass(frozen=True)
class DisagreementSettings(Settings):
    """Which disagreements between labels and out-of-fold predictions to list.

    Attributes:
        model: A model id; None: the latest model on the current embedding set.
        include_changed: Also samples relabeled (or unlabeled) since the model was trained,
            flagged in the ``changed`` column; default: left out.
    """

    model: str | None = None
    include_changed: bool = False


@dataclass(frozen=True)
class ModelDisagreements:
    """Labeled samples whose out-of-fold prediction differs from their label.

    Attributes:
        model_id: The model.
        table: Most confident prediction first: key, filename (relative path), label (at
            training), predicted, confidence, label_probability, current (the label now, None
            when unlabeled), event_id (the current label event, 0 when none) and changed.
    """

    model_id: str
    table: pd.DataFrame

    @property
    def keys(self) -> tuple[str, ...]:
        """The sample keys in order."""
        return tuple(str(k) for k in self.table.key)

    def write_csv(self, path: str | Path) -> None:
        """Writes the table as CSV (no key column), atomically, safe from spreadsheet formulas."""
        atomic_write_text(path, safe_frame(self.table.drop(columns=["key"])).to_csv(index=False))


def model_disagreements(project: Project, settings: DisagreementSettings) -> ModelDisagreements:
    """The labeled samples the model's out-of-fold prediction disagrees with.

    Args:
        project: The project.
        settings: The model, and whether samples relabeled since training count.

    Raises:
        BpsError: no model, or a model without out-of-fold predictions.
    """
    model = resolve_model(project, settings.model)
    frame = _oof_table(project, model)
    keep = frame.predicted != frame.label
    if not settings.include_changed:
        keep &= ~frame.changed
    table = frame[keep].sort_values("confidence", ascending=False, kind="stable")
    return ModelDisagreements(model.id, table.reset_index(drop=True))


@dataclass(frozen=True)
class ConfusionCellSettings(Settings):
    """One cell of the cross-validated confusion matrix.

    Attributes:
        label: The true label (the row).
        predicted: The out-of-fold prediction (the column).
        model: A model id; None: the latest model on the current embedding set.
    """

    label: str
    predicted: str
    model: str | None = None

    def __post_init__(self) -> None:
        for name in ("label", "predicted"):
            if not str(getattr(self, name)).strip():
                raise SettingsError(f"{name}: give a class name")


def confusion_samples(project: Project, settings: ConfusionCellSettings) -> pd.DataFrame:
    """The samples of one confusion-matrix cell, most confident prediction first.

    Args:
        project: The project.
        settings: The cell (true label x out-of-fold prediction) and the model.

    Returns:
        The rows of ``model_disagreements``'s table for that cell, relabeled samples included
        (flagged in ``changed``).

    Raises:
        BpsError: no model, or a model without out-of-fold predictions.
    """
    model = resolve_model(project, settings.model)
    frame = _oof_table(project, model)
    cell = frame[(frame.label == settings.label) & (frame.predicted == settings.predicted)]
    return cell.sort_values("confidence", ascending=False, kind="stable").reset_index(drop=True)
