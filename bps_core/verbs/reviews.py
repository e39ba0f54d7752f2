"""Verbs of the reviewer step: give verdicts on labels, the review queue, how far review got."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from bps_core.atomic import atomic_write_text
from bps_core.csvsafe import safe_frame
from bps_core.errors import SettingsError
from bps_core.project.label_writes import LabelWrite
from bps_core.project.reviews import VERDICTS, ReviewCounts, Verdict
from bps_core.project.store import Project
from bps_core.settings import Settings, check_choice, check_range

#: The order a review queue walks its labels in.
REVIEW_ORDERS = ("random", "oldest")


@dataclass(frozen=True)
class ReviewSettings(Settings):
    """Verdicts to record.

    Attributes:
        verdicts: One per sample: accept, fix (with the class to set) or reject its current
            label, each optionally naming the label event the reviewer saw.
    """

    verdicts: tuple[Verdict, ...]

    def __post_init__(self) -> None:
        if not self.verdicts:
            raise SettingsError("verdicts: give at least one verdict")
        for i, v in enumerate(self.verdicts):
            if not isinstance(v, Verdict):
                raise SettingsError(f"verdicts[{i}]: a Verdict(key, verdict, label), got {v!r}")
            check_choice(f"verdicts[{i}].verdict", v.verdict, VERDICTS)
            if v.verdict == "fix" and not v.label:
                raise SettingsError(f"verdicts[{i}].label: a fix needs the class to set")
            if v.verdict != "fix" and v.label is not None:
                raise SettingsError(f"verdicts[{i}].label: only a fix sets a class; "
                                    f"{v.verdict} takes none")  # fmt: skip

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Self:
        """Rebuilds settings stored by ``to_params`` (verdicts as dicts)."""
        raw = params.get("verdicts", [])
        if not isinstance(raw, list | tuple):
            raise SettingsError("verdicts: a list of verdicts")
        return cls(tuple(Verdict(**v) if isinstance(v, dict) else v for v in raw))


@dataclass(frozen=True)
class ReviewRecord:
    """What a review wrote.

    Attributes:
        n_accepted: Labels accepted.
        n_fixed: Labels fixed to another class.
        n_rejected: Labels rejected (the samples are unlabeled again).
        action_id: The label action of the fixes and rejects, which ``Project.undo`` of the
            reviewer reverses (None when all were accepts: a verdict is never deleted).
        written: The label events of that action (``LabelWrite``; None on PostgreSQL or
            without any): a page hands them to its next labels read.
    """

    n_accepted: int
    n_fixed: int
    n_rejected: int
    action_id: str | None = None
    written: LabelWrite | None = field(default=None, compare=False, repr=False)


def review(
    project: Project,
    settings: ReviewSettings,
    progress: Callable[[float], None] | None = None,
    *,
    user: str,
) -> ReviewRecord:
    """Records a reviewer's verdicts on current labels, all in one transaction.

    Args:
        project: The project.
        settings: The verdicts.
        progress: Called with 1.0 when done.
        user: The reviewer.

    Returns:
        How many labels were accepted, fixed and rejected.

    Raises:
        UnknownSampleError: a key is not in the project.
        StaleReviewError: a label changed since the reviewer saw it; nothing was written.
        ReviewError: an unlabeled sample, or a sample twice.
    """
    done = project.reviews.record(settings.verdicts, user=user)
    if progress is not None:
        progress(1.0)
    counts = done.counts
    return ReviewRecord(counts["accept"], counts["fix"], counts["reject"], done.action_id,
                        done.written)  # fmt: skip


@dataclass(frozen=True)
class ReviewQueueSettings(Settings):
    """Which labels a reviewer walks through: the current labels not reviewed yet.

    Attributes:
        label: Only labels of this class; None: every class.
        others_only: Leave out the reviewer's own labels.
        order: ``random`` (seeded: a plate-ordered queue shows one condition for hours) or
            ``oldest`` label first.
        seed: Seed of the random order.
    """

    label: str | None = None
    others_only: bool = False
    order: str = "random"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.label is not None and not self.label.strip():
            raise SettingsError("label: give a class name, or None for every class")
        check_choice("order", self.order, REVIEW_ORDERS)
        check_range("seed", self.seed, 0)


@dataclass(frozen=True)
class ReviewQueue:
    """The labels to review, and how far review of the project got.

    Attributes:
        keys: Sample keys whose current label awaits review, in walking order.
        n_labeled: Current labels in the project.
        n_reviewed: Of them, those reviewed.
    """

    keys: tuple[str, ...]
    n_labeled: int
    n_reviewed: int


def review_queue(project: Project, settings: ReviewQueueSettings, *, user: str) -> ReviewQueue:
    """The current labels not reviewed yet, as a queue for a reviewer.

    Open blind double-labeling disagreements are left out: they count as unlabeled until the
    adjudication queue settles them.

    Args:
        project: The project.
        settings: Which labels and in what order.
        user: The reviewer (whose labels ``others_only`` leaves out).

    Raises:
        SettingsError: ``others_only`` without a user name.
    """
    if settings.others_only and not user.strip():
        raise SettingsError("others_only: needs the reviewer's name to leave their labels out")
    current = project.reviews.current()
    if hidden := project.assignments.hidden_keys():
        # Open blind disagreements are not labels yet: the adjudication queue settles them.
        current = current[~current.key.isin(hidden)]
    keep = current.review == "unreviewed"
    if settings.label is not None:
        keep &= current.label == settings.label
    if settings.others_only:
        keep &= current.user != user.strip()
    todo = current[keep]
    if settings.order == "oldest":
        keys = todo.sort_values("event_id").key.tolist()
    else:
        keys = np.random.default_rng(settings.seed).permutation(todo.key.to_numpy()).tolist()
    n_reviewed = int((current.review != "unreviewed").sum())
    return ReviewQueue(tuple(str(k) for k in keys), len(current), n_reviewed)


@dataclass(frozen=True)
class ReviewSummary:
    """Every current label with its review state, and the counts.

    Attributes:
        table: One row per current label: ``filename`` (relative path), ``label``,
            ``verdict`` (empty: to fill in and import with ``bps-labeler review``),
            ``review`` (unreviewed, accepted, fixed, adjudicated), ``reviewer``,
            ``reviewed_at``, ``labeled_by``, ``labeled_at``, ``source``, ``event_id``, ``key``.
        counts: Labels, reviewed labels, verdicts per verdict and per reviewer.
    """

    table: pd.DataFrame
    counts: ReviewCounts

    def write_csv(self, path: str | Path) -> None:
        """Writes the table as CSV, atomically, its text cells safe from spreadsheet formulas."""
        atomic_write_text(path, safe_frame(self.table).to_csv(index=False))


def review_summary(
    project: Project, progress: Callable[[float], None] | None = None
) -> ReviewSummary:
    """Every current label with its review state, and how many were reviewed by whom.

    Args:
        project: The project.
        progress: Called with 1.0 when done.
    """
    current = project.reviews.current()
    rel = project.samples().set_index("key").relpath
    table = pd.DataFrame({
        "filename": current.key.map(rel).astype(str),
        "label": current.label,
        "verdict": "",
        "review": current.review,
        "reviewer": current.reviewer,
        "reviewed_at": current.reviewed_at,
        "labeled_by": current.user,
        "labeled_at": current.created_at,
        "source": current.source,
        "event_id": current.event_id,
        "key": current.key,
    })  # fmt: skip
    counts = project.reviews.counts()
    if progress is not None:
        progress(1.0)
    return ReviewSummary(table, counts)
