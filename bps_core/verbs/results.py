"""Verb: the share of a class per condition, corrected for the model's bias, with intervals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bps_core.atomic import atomic_write_text
from bps_core.csvsafe import safe_frame
from bps_core.embeddings.store import load_embedding_set
from bps_core.errors import BpsError, SettingsError
from bps_core.project.store import Project, metadata_column
from bps_core.results import group_shares
from bps_core.selection.rounds import latest_model, list_models, list_rounds, predictions
from bps_core.settings import Settings, check_choice, check_range

#: Biological units a cluster bootstrap may resample.
CLUSTERS = ("mouse", "well")
#: Which labels rectify the predictions: every label, or only those of random rounds.
LABELED = ("all", "random-only")
#: Below this share of random picks among the labels a report uses, its shares may be biased
#: (see `LabelOrigins.mostly_chosen`).
RANDOM_SHARE_MIN = 0.5


@dataclass(frozen=True)
class ReportSettings(Settings):
    """What to report: a class's share per group of a metadata column or columns.

    Attributes:
        class_name: The class whose share is estimated.
        by: The metadata columns that make the groups (e.g. particle_type, dose_Gy).
        model_id: The model whose predictions are used; None: the latest one trained on the
            current embeddings.
        level: Confidence level of the intervals.
        cluster: ``mouse`` or ``well``: intervals from a bootstrap over these units where a
            group has enough of them; None: CLT intervals.
        n_boot: Bootstrap replicates.
        seed: Seed of the bootstrap.
        labeled: ``all`` labels rectify the predictions, or ``random-only``: only labels of
            samples picked by ``random`` selection rounds (a random sample, as PPI assumes).
        reviewed_only: Only reviewed labels (accepted by a reviewer, or set by a review fix
            or an adjudication) count as labeled; an unreviewed label counts as unlabeled,
            its sample's prediction used.
    """

    class_name: str
    by: tuple[str, ...]
    model_id: str | None = None
    level: float = 0.95
    cluster: str | None = None
    n_boot: int = 2000
    seed: int = 0
    labeled: str = "all"
    reviewed_only: bool = False

    def __post_init__(self) -> None:
        if not self.class_name:
            raise SettingsError("class_name: give the class whose share to report")
        if not self.by or any(not c for c in self.by):
            raise SettingsError("by: give at least one metadata column to group by")
        if not 0.5 <= self.level < 1:
            raise SettingsError(f"level {self.level}: give a level in [0.5, 1), e.g. 0.95")
        if self.cluster is not None:
            check_choice("cluster", self.cluster, CLUSTERS)
        check_range("n_boot", self.n_boot, 100)
        check_choice("labeled", self.labeled, LABELED)
        if not isinstance(self.reviewed_only, bool):
            raise SettingsError(f"reviewed_only must be true or false, got {self.reviewed_only!r}")


@dataclass(frozen=True)
class LabelOrigins:
    """How many of the labels a report uses are random picks, which the correction assumes.

    A label is a random pick when a ``random`` selection round picked its sample (a
    ``default`` round counts while it resolves to ``random``). Labels of lasso or map
    selections, of browsing, and of rounds of any other strategy (uncertain, diverse, typical
    picks; a mixture with a random share, which does not record which part picked a sample)
    are chosen on purpose, not a random sample of their group.

    Attributes:
        n_labels: The current labels on good samples (only reviewed ones with
            ``reviewed_only``): those a report with ``labeled="all"`` uses.
        n_random: Of them, those on samples a random round picked.
    """

    n_labels: int
    n_random: int

    @property
    def mostly_chosen(self) -> bool:
        """Whether fewer than `RANDOM_SHARE_MIN` of the (some) labels are random picks."""
        return self.n_labels > 0 and self.n_random < RANDOM_SHARE_MIN * self.n_labels


def random_picked_keys(project: Project) -> set[str]:
    """The samples ``random`` selection rounds picked."""
    return {k for r in list_rounds(project) if r.config.get("strategy") == "random"
            for k in r.keys}  # fmt: skip


def label_origins(project: Project, *, reviewed_only: bool = False) -> LabelOrigins:
    """How many of the labels a report uses are random picks (see `LabelOrigins`).

    Args:
        project: The project.
        reviewed_only: Count only reviewed labels, as ``ReportSettings.reviewed_only`` does.
    """
    samples = project.samples()
    labels = project.current_labels()
    labels = labels[labels.key.isin(samples.key[samples.status == "ok"])]
    if reviewed_only:
        labels = labels[labels.key.isin(project.reviews.reviewed_keys())]
    n_random = int(labels.key.isin(random_picked_keys(project)).sum())
    return LabelOrigins(len(labels), n_random)


@dataclass(frozen=True)
class ReportRecord:
    """A results table and how it was made.

    Attributes:
        table: One row per group: the ``by`` columns, then ``bps_core.results.RESULT_COLUMNS``.
        class_name: The class.
        by: The grouping columns.
        model_id: The model whose predictions were used.
        level: Confidence level of the intervals.
        cluster: The bootstrap's unit, or None.
        labeled: Which labels rectified the predictions.
        reviewed_only: Whether only reviewed labels counted as labeled.
        n_labels: The project's current labels on the reported samples.
        n_reviewed: Of them, those reviewed (whether or not only they counted).
    """

    table: pd.DataFrame
    class_name: str
    by: tuple[str, ...]
    model_id: str
    level: float
    cluster: str | None
    labeled: str
    reviewed_only: bool = False
    n_labels: int = 0
    n_reviewed: int = 0

    def write_csv(self, path: str | Path) -> None:
        """Writes the table as CSV, atomically, its text cells safe from spreadsheet formulas."""
        atomic_write_text(path, safe_frame(self.table).to_csv(index=False))


def _column(samples: pd.DataFrame, name: str, purpose: str = "to group by") -> str:
    for col in (metadata_column(name), name):
        if col in samples.columns:
            return col
    internal = {"key", "sample_id", "relpath", "status", "error"}
    known = sorted(str(c) for c in samples.columns if c not in internal)
    raise BpsError(f"no metadata column {name!r} {purpose}; the project has: "
                   f"{', '.join(known) or 'none'}")  # fmt: skip


def report(
    project: Project,
    settings: ReportSettings,
    progress: Callable[[float], None] | None = None,
) -> ReportRecord:
    """The share of ``class_name`` per group, corrected by prediction-powered inference.

    Every good sample the model predicted counts; a labeled sample counts with its label in the
    raw share and rectifies the predictions in the corrected one (see ``bps_core.results``).

    Args:
        project: The project.
        settings: The class, the grouping, the model and the intervals.
        progress: Called with 1.0 when done.

    Returns:
        The table and how it was made.

    Raises:
        BpsError: no model yet, an unknown model, class or column.
    """
    models = list_models(project)
    if settings.model_id is not None:
        model = next((m for m in models if m.id == settings.model_id), None)
        if model is None:
            raise BpsError(f"no model {settings.model_id!r} in this project; "
                           "bps-labeler info lists the models")  # fmt: skip
    else:
        emb_now = load_embedding_set(project)
        model = latest_model(project, emb_now.version) if emb_now is not None else None
        if model is None:
            raise BpsError("no model on the current embeddings yet: label some samples and "
                           "train one first (bps-labeler train)")  # fmt: skip
    if settings.class_name not in model.classes:
        raise BpsError(f"class {settings.class_name!r} is not one model {model.id} predicts "
                       f"({', '.join(model.classes)}); label it and train again")  # fmt: skip
    emb = load_embedding_set(project, model.embedding_version)
    if emb is None:
        raise BpsError(f"the embeddings model {model.id} predicted on are gone; train again")
    samples = project.samples()
    cols = [_column(samples, c) for c in settings.by]
    cluster = (_column(samples, settings.cluster, "to cluster by") if settings.cluster
               else None)  # fmt: skip
    probs = predictions(project, model)
    c = model.classes.index(settings.class_name)
    frame = pd.DataFrame({"key": emb.keys, "prob": probs[:, c],
                          "predicted": probs.argmax(axis=1) == c})  # fmt: skip
    good = samples[samples.status == "ok"]
    keep = [*dict.fromkeys([*cols, *([cluster] if cluster else [])])]
    frame = frame.merge(good[["key", *keep]], on="key", how="inner")
    labels = project.current_labels()
    labels = labels[labels.key.isin(frame.key)]
    reviewed = project.reviews.reviewed_keys()
    n_labels, n_reviewed = len(labels), int(labels.key.isin(reviewed).sum())
    if settings.reviewed_only:  # an unreviewed label counts as unlabeled: its prediction is used
        labels = labels[labels.key.isin(reviewed)]
    if settings.labeled == "random-only":
        labels = labels[labels.key.isin(random_picked_keys(project))]
    label_of = dict(zip(labels.key, labels.label, strict=True))
    frame["labeled"] = frame.key.map(lambda k: k in label_of).astype(bool)
    frame["is_class"] = frame.key.map(label_of).eq(settings.class_name).to_numpy(dtype=bool)
    table = group_shares(frame, cols, level=settings.level, cluster=cluster,
                         n_boot=settings.n_boot, seed=settings.seed)  # fmt: skip
    table = table.rename(columns=dict(zip(cols, settings.by, strict=True)))
    if progress is not None:
        progress(1.0)
    return ReportRecord(table, settings.class_name, settings.by, model.id, settings.level,
                        settings.cluster, settings.labeled, settings.reviewed_only, n_labels,
                        n_reviewed)  # fmt: skip
