"""Label issues: rank labeled samples by how likely their label is wrong.

The out-of-fold probabilities a model keeps (grouped cross-validation: each labeled sample
predicted by a model that never saw it nor its group) go to cleanlab, which scores each label
and flags the likely errors by confident learning. Nothing of confident learning is written
here: this module picks the model, lines its predictions up with the labels it was trained on,
and says which labels changed since.

- [0] Northcutt, Jiang & Chuang, 2021, Confident Learning: Estimating Uncertainty in Dataset
  Labels, https://arxiv.org/abs/1911.00068
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bps_core.embeddings.store import current_version
from bps_core.errors import BpsError
from bps_core.project.rounds import ModelRecord
from bps_core.project.store import Project
from bps_core.selection.rounds import OutOfFold, latest_model, list_models, out_of_fold

#: Below this many labels (when the model was trained) a class's scores are rough: cleanlab
#: estimates each class's confidence threshold from its own labels.
MIN_LABELS_PER_CLASS = 5
#: The columns of ``LabelIssues.table``, in order.
COLUMNS = ("key", "label", "suggested", "issue_score", "likely_issue", "label_probability",
           "suggested_probability")  # fmt: skip
_RETRAIN = "retrain it ('bps-labeler train PROJECT_DIR' or the Select page)"


class LabelIssuesError(BpsError):
    """Label issues cannot be found: no model, or a model without out-of-fold predictions."""


@dataclass(frozen=True)
class LabelIssues:
    """Labeled samples ranked by how likely their label is wrong.

    Attributes:
        table: One row per scored sample, most likely wrong first: ``key``, ``label`` (the
            current label, the one the model was trained on), ``suggested`` (the class the
            out-of-fold prediction favours), ``issue_score`` (in 0..1, higher: more likely
            wrong), ``likely_issue`` (cleanlab's confident learning flags it),
            ``label_probability`` and ``suggested_probability`` (out-of-fold).
        model_id: The model whose out-of-fold predictions were scored.
        changed: Keys relabeled or cleared since that model was trained, left out (their
            label is not the one the model saw).
        n_unscored: Samples labeled since the model was trained (it never saw them).
        few_labels: Classes with fewer than ``MIN_LABELS_PER_CLASS`` labels at training time,
            and how many they had: their scores are rough.
    """

    table: pd.DataFrame
    model_id: str
    changed: tuple[str, ...]
    n_unscored: int
    few_labels: dict[str, int]

    @property
    def n_likely(self) -> int:
        """Scored samples that confident learning flags as likely wrong."""
        return int(self.table.likely_issue.sum())

    def notes(self) -> list[str]:
        """One line per caveat: labels changed or added since training, thin classes."""
        out = []
        if self.changed:
            out.append(f"{len(self.changed):,} labels changed since model {self.model_id} was "
                       f"trained were left out; {_RETRAIN} to score them")  # fmt: skip
        if self.n_unscored:
            out.append(f"{self.n_unscored:,} samples labeled since model {self.model_id} was "
                       f"trained are not scored; {_RETRAIN} to score them")  # fmt: skip
        if self.few_labels:
            shown = ", ".join(f"{c!r} ({n})" for c, n in sorted(self.few_labels.items()))
            out.append(f"classes with fewer than {MIN_LABELS_PER_CLASS} labels have rough "
                       f"scores: {shown}; label more of them")  # fmt: skip
        return out


#: cleanlab's label-quality methods (``cleanlab.rank.get_label_quality_scores``).
METHODS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
#: The ranking the product uses; ``bench/bench_label_errors.py`` compared the others.
DEFAULT_METHOD = "self_confidence"
DEFAULT_ADJUST = False


def issue_scores(
    labels: NDArray[np.intp],
    probs: NDArray[np.floating],
    *,
    method: str = DEFAULT_METHOD,
    adjust: bool = DEFAULT_ADJUST,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Scores each label with cleanlab.

    The score is one minus cleanlab's label quality score (``method``; ``adjust`` subtracts
    each class's confident threshold from the probabilities first); the flag is cleanlab's
    ``find_label_issues`` (confident learning, prune by noise rate).

    Args:
        labels: The given labels as class indices, shape (n,).
        probs: Out-of-fold probabilities, shape (n, n_classes); each class has a label.
        method: One of ``METHODS``.
        adjust: cleanlab's ``adjust_pred_probs``.

    Returns:
        ``(issue_score, likely_issue)``, both of shape (n,); a score in 0..1, higher: more
        likely wrong.
    """
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    p = np.asarray(probs, dtype=np.float64)
    p = p / np.clip(p.sum(axis=1, keepdims=True), 1e-12, None)
    y = np.asarray(labels, dtype=np.intp)
    with warnings.catch_warnings():  # cleanlab warns on thin classes; LabelIssues.notes says it
        warnings.simplefilter("ignore")
        quality = get_label_quality_scores(y, p, method=method, adjust_pred_probs=adjust)
        flagged = find_label_issues(y, p, n_jobs=1)
    score = np.clip(1.0 - np.asarray(quality, dtype=np.float64), 0.0, 1.0)
    return score, np.asarray(flagged, dtype=bool)


def pick_model(project: Project, model_id: str | None = None) -> ModelRecord:
    """The model whose predictions are scored: ``model_id``, else the current one.

    The current model is the latest trained on the current embedding set (else the latest).

    Raises:
        LabelIssuesError: no model yet, or no model ``model_id``.
    """
    models = list_models(project)
    if model_id is not None:
        found = [m for m in models if m.id == model_id]
        if not found:
            known = ", ".join(m.id for m in models[-5:]) or "none"
            raise LabelIssuesError(
                f"no model {model_id!r} in this project (latest: {known}; "
                "'bps-labeler info PROJECT_DIR' lists them)"
            )
        return found[0]
    version = current_version(project)
    model = (latest_model(project, version) if version else None) or latest_model(project)
    if model is None:
        raise LabelIssuesError("no model yet: train one first ('bps-labeler train PROJECT_DIR' "
                               "or the Select page), then look for label issues")  # fmt: skip
    return model


def _out_of_fold(project: Project, model: ModelRecord) -> OutOfFold:
    oof = out_of_fold(project, model)
    if oof is None:
        why = model.metrics.get("warning") or "it was trained before they were kept"
        raise LabelIssuesError(f"model {model.id} has no out-of-fold predictions ({why}); "
                               f"{_RETRAIN}")  # fmt: skip
    return oof


def find_label_issues(project: Project, model_id: str | None = None) -> LabelIssues:
    """Ranks the labeled samples of ``model_id`` (else the current model) by issue score.

    Labels are scored as they were when the model was trained; those changed since are left
    out (``LabelIssues.changed``), those added since are counted (``n_unscored``).

    Raises:
        LabelIssuesError: no model, or one without out-of-fold predictions.
        BpsError: the model's out-of-fold file is damaged.
    """
    model = pick_model(project, model_id)
    oof = _out_of_fold(project, model)
    given = np.array([oof.classes.index(str(v)) for v in oof.labels], dtype=np.intp)
    score, flagged = issue_scores(given, oof.probs)
    best = oof.probs.argmax(axis=1)
    rows = np.arange(len(oof.keys))
    table = pd.DataFrame({
        "key": oof.keys,
        "label": oof.labels.astype(str),
        "suggested": np.asarray(oof.classes, dtype=str)[best],
        "issue_score": score,
        "likely_issue": flagged,
        "label_probability": oof.probs[rows, given].astype(float),
        "suggested_probability": oof.probs[rows, best].astype(float),
    })  # fmt: skip
    current = project.current_labels().set_index("key").label
    now = table.key.map(current)
    changed = now.isna() | (now != table.label)
    changed_keys = tuple(str(k) for k in table.key[changed])
    table = table[~changed].sort_values(["issue_score", "key"], ascending=[False, True])
    names, counts = np.unique(oof.labels.astype(str), return_counts=True)
    few = {str(c): int(n) for c, n in zip(names, counts, strict=True) if n < MIN_LABELS_PER_CLASS}
    n_unscored = int((~current.index.isin(oof.keys)).sum())
    return LabelIssues(table.reset_index(drop=True), model.id, changed_keys, n_unscored, few)


def facet_columns(project: Project) -> pd.DataFrame | None:
    """Issue score and suggested class per labeled sample under the current model.

    Returns:
        A frame indexed by sample key with the columns ``issue_score`` (float, higher: more
        likely wrong) and ``suggested``, one row per scored labeled sample; None when there is
        no model or it has no out-of-fold predictions.
    """
    try:
        found = find_label_issues(project)
    except LabelIssuesError:
        return None
    return found.table.set_index("key")[["issue_score", "suggested"]]
