"""Verb ``label_issues``: labeled samples ranked by how likely their label is wrong."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bps_core.atomic import atomic_write_text
from bps_core.csvsafe import safe_frame
from bps_core.errors import SettingsError
from bps_core.project.store import Project
from bps_core.quality.label_issues import find_label_issues
from bps_core.settings import Settings, check_range

#: The first columns of the label-issues CSV, in order (extra columns follow them).
CSV_COLUMNS = ("filename", "label", "suggested", "score")


@dataclass(frozen=True)
class LabelIssuesSettings(Settings):
    """Which model's out-of-fold predictions to score, and how many rows to keep.

    Attributes:
        model_id: A model id (``bps-labeler train`` prints it); None: the current model (the latest
            trained on the current embedding set).
        top: Keep only the ``top`` most likely wrong; None: every scored label.
        likely_only: Keep only the labels cleanlab flags as likely wrong.
    """

    model_id: str | None = None
    top: int | None = None
    likely_only: bool = False

    def __post_init__(self) -> None:
        if self.model_id is not None and not str(self.model_id).strip():
            raise SettingsError("model_id: give a model id, or None for the current model")
        if self.top is not None:
            check_range("top", self.top, 1)


@dataclass(frozen=True)
class LabelIssuesReport:
    """Labeled samples ranked most likely wrong first.

    Attributes:
        table: One row per sample: ``filename`` (relative path), ``label``, ``suggested``,
            ``score`` (0..1, higher: more likely wrong), then ``likely_issue``,
            ``label_probability``, ``suggested_probability``, ``key``.
        model_id: The model whose out-of-fold predictions were scored.
        n_scored: Labels scored (before ``top`` and ``likely_only``).
        n_likely: Of them, those cleanlab flags as likely wrong.
        changed: Keys relabeled or cleared since the model was trained (left out).
        notes: Caveats, one line each (labels changed or added since training, thin classes).
    """

    table: pd.DataFrame
    model_id: str
    n_scored: int
    n_likely: int
    changed: tuple[str, ...]
    notes: tuple[str, ...]

    def write_csv(self, path: str | Path) -> None:
        """Writes the table as CSV, atomically, its text cells safe from spreadsheet formulas."""
        atomic_write_text(path, safe_frame(self.table).to_csv(index=False))


def label_issues(
    project: Project,
    settings: LabelIssuesSettings,
    progress: Callable[[float], None] | None = None,
) -> LabelIssuesReport:
    """Ranks the labels of a model's out-of-fold predictions by how likely each is wrong.

    cleanlab scores each label (see ``bps_core.quality.label_issues``); labels changed since
    the model was trained are left out and named in the report.

    Args:
        project: The project.
        settings: Which model, how many rows.
        progress: Called with 1.0 when done.

    Returns:
        The ranked table and what was left out.

    Raises:
        LabelIssuesError: no model, or one without out-of-fold predictions (retrain it).
        BpsError: the model's out-of-fold file is damaged.
    """
    found = find_label_issues(project, settings.model_id)
    t = found.table
    rel = project.samples().set_index("key").relpath
    table = pd.DataFrame({
        "filename": t.key.map(rel).astype(str),
        "label": t.label,
        "suggested": t.suggested,
        "score": t.issue_score.round(6),
        "likely_issue": t.likely_issue,
        "label_probability": t.label_probability.round(6),
        "suggested_probability": t.suggested_probability.round(6),
        "key": t.key,
    })  # fmt: skip
    if settings.likely_only:
        table = table[table.likely_issue]
    if settings.top is not None:
        table = table.head(settings.top)
    if progress is not None:
        progress(1.0)
    return LabelIssuesReport(table.reset_index(drop=True), found.model_id, len(t),
                             found.n_likely, found.changed, tuple(found.notes()))  # fmt: skip
