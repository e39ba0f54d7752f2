"""Verbs: blind double labeling, the labelers' agreement, and a reviewer's adjudication.

A share of the samples is assigned to two or more labelers, who each label it without seeing
the others' labels (blind). Their agreement is reported as Cohen's kappa per pair (and Fleiss'
kappa and Krippendorff's alpha with three or more), overall and per class; where they
disagree, a reviewer's decision (source ``adjudication``) becomes the label.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bps_core.agreement import AgreementTables, agreement_tables
from bps_core.atomic import atomic_write_text
from bps_core.csvsafe import safe_frame
from bps_core.errors import SettingsError
from bps_core.labels import LabelImportReport, import_labels_csv
from bps_core.project.assignments import AssignmentChange, DoubleLabeling
from bps_core.project.reversals import REVERSAL_SOURCES
from bps_core.project.store import LabelAction, Project, clean_name
from bps_core.settings import Settings, check_range


@dataclass(frozen=True)
class DoubleLabelingSettings(Settings):
    """Who double-labels how much.

    Attributes:
        labelers: Two or more distinct user names (as they type them in the app's sidebar).
        share: The share of the good samples every labeler labels, in (0, 1].
        blind: Labelers do not see each other's labels (nor anyone's, in the queue), and a
            disagreement counts as unlabeled until a reviewer adjudicates it.
        seed: Seeds which samples are drawn.

    Raises:
        SettingsError: a value out of range; the message names the field.
    """

    labelers: tuple[str, ...]
    share: float = 0.2
    blind: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        labelers: object = self.labelers
        if not isinstance(labelers, tuple | list):
            raise SettingsError("labelers must be a list of user names, e.g. ('alice', 'bob')")
        names = []
        for raw in self.labelers:
            try:
                names.append(clean_name(str(raw), "labelers: a user name"))
            except ValueError as exc:
                raise SettingsError(str(exc)) from None
        unique = tuple(dict.fromkeys(names))
        folded: dict[str, str] = {}
        for name in unique:  # "alice" and "Alice": one person typing, or a typo; never two
            if (other := folded.setdefault(name.casefold(), name)) != name:
                raise SettingsError(
                    f"labelers: {other!r} and {name!r} differ only in upper and lower case; "
                    "give each labeler's name once, as they type it in the sidebar"
                )
        if len(unique) < 2:
            raise SettingsError(
                f"labelers: give two or more distinct user names, got {len(unique)}"
            )
        object.__setattr__(self, "labelers", unique)
        check_range("share", self.share, 0, 1)
        if self.share <= 0:
            raise SettingsError(f"share must be above 0 (at most 1), got {self.share}")
        if not isinstance(self.blind, bool):
            raise SettingsError(f"blind must be true or false, got {self.blind!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise SettingsError(f"seed must be a whole number of 0 or more, got {self.seed!r}")


def set_double_labeling(
    project: Project,
    settings: DoubleLabelingSettings,
    progress: Callable[[float], None] | None = None,
) -> AssignmentChange:
    """Turns double labeling on, or changes it: assigns the drawn share to every labeler.

    A larger share keeps every sample a smaller one drew; a smaller share (or a labeler left
    out) removes only assignments their labeler has not labeled yet.

    Returns:
        How many samples are assigned, and the rows added, removed and kept.
    """
    change = project.assignments.configure(
        settings.labelers, settings.share, seed=settings.seed, blind=settings.blind
    )
    if progress is not None:
        progress(1.0)
    return change


def clear_double_labeling(project: Project) -> DoubleLabeling | None:
    """Turns double labeling off; assignments and every label are kept.

    Returns:
        The setting as it now stands (off), or None when it was never set.
    """
    return project.assignments.disable()


def double_labeling(project: Project) -> DoubleLabeling | None:
    """The double-labeling setting (on or off), or None when it was never set."""
    return project.assignments.settings()


def labeler_labels(project: Project) -> pd.DataFrame:
    """Each labeler's own label on the double-labeled samples, side by side.

    Returns:
        One row per assigned sample (index: key), one column per labeler (assigned to it or
        labeled it), their label or NaN; the setting's labelers first.
    """
    own = project.assignments.labeler_labels()
    assigned = project.assignments.table()
    setting = project.assignments.settings()
    order = list(setting.labelers) if setting is not None else []
    order += sorted(set(assigned.user) - set(order))
    wide = own.pivot(index="key", columns="user", values="label") if len(own) else None
    keys = list(dict.fromkeys(assigned.key))
    out = pd.DataFrame(index=pd.Index(keys, name="key"), columns=order, dtype=object)
    if wide is not None:
        out.update(wide.reindex(index=out.index, columns=order))
    return out


@dataclass(frozen=True)
class LabelerProgress:
    """One labeler's progress: samples assigned, labeled by them, left."""

    user: str
    assigned: int
    labeled: int

    @property
    def left(self) -> int:
        """Assigned samples they have not labeled yet."""
        return self.assigned - self.labeled


@dataclass(frozen=True)
class AgreementReport:
    """The labelers' agreement on the double-labeled samples.

    Attributes:
        setting: The double-labeling setting (None when never set).
        progress: One entry per labeler.
        tables: Pair, per-class and multi-rater figures, each with its n (``AgreementTables``).
        n_assigned: Samples assigned to two or more labelers.
        n_disputed: Disagreements no reviewer has adjudicated yet.
        n_adjudicated: Disagreements a reviewer settled.
    """

    setting: DoubleLabeling | None
    progress: tuple[LabelerProgress, ...]
    tables: AgreementTables
    n_assigned: int
    n_disputed: int
    n_adjudicated: int

    def progress_frame(self) -> pd.DataFrame:
        """The progress as a table: labeler, assigned, labeled, left."""
        rows = [(p.user, p.assigned, p.labeled, p.left) for p in self.progress]
        return pd.DataFrame(rows, columns=["labeler", "assigned", "labeled", "left"])

    def to_frame(self) -> pd.DataFrame:
        """Every figure in one long table (what ``bps-labeler agreement --out`` writes).

        Columns: scope (pair, class or all), class, raters, measure, n, value, note.
        """
        t = self.tables
        pairs = pd.DataFrame({
            "scope": "pair", "class": "", "raters": t.pairs.labeler_a + " / " + t.pairs.labeler_b,
            "measure": "Cohen's kappa", "n": t.pairs.n, "value": t.pairs.kappa,
            "note": t.pairs.note,
        })  # fmt: skip
        per_class = t.per_class.assign(scope="class")
        overall = t.overall.assign(scope="all", **{"class": "", "raters": "all"})
        cols = ["scope", "class", "raters", "measure", "n", "value", "note"]
        frames = [f[cols] for f in (pairs, per_class, overall) if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def agreement_report(
    project: Project, progress: Callable[[float], None] | None = None
) -> AgreementReport:
    """Agreement of the labelers on their double-labeled samples.

    Each pair on the samples both labeled; Fleiss' kappa on those all labeled; alpha on those
    two or more labeled.

    Returns:
        The figures, each labeler's progress and the disagreement counts.
    """
    wide = labeler_labels(project)
    assigned = project.assignments.table()
    per_user = assigned.groupby("user").size()
    done = wide.notna().sum()
    setting = project.assignments.settings()
    users = list(wide.columns)
    prog = tuple(LabelerProgress(u, int(per_user.get(u, 0)), int(done.get(u, 0))) for u in users)
    disputes = project.assignments.disputes()
    n_multi = int((assigned.groupby("key").size() >= 2).sum()) if len(assigned) else 0
    report = AgreementReport(
        setting, prog, agreement_tables(wide), n_multi,
        int((~disputes.adjudicated.astype(bool)).sum()),
        int(disputes.adjudicated.astype(bool).sum()),
    )  # fmt: skip
    if progress is not None:
        progress(1.0)
    return report


def disagreements(project: Project, *, include_adjudicated: bool = False) -> pd.DataFrame:
    """The samples the labelers disagree on, with each labeler's label.

    Args:
        project: The open project.
        include_adjudicated: Also list the disagreements a reviewer already settled.

    Returns:
        Columns key, filename (relative path), one column per labeler, adjudicated and
        adjudicated_label; in sample order.
    """
    d = project.assignments.disputes()
    if not include_adjudicated:
        d = d[~d.adjudicated.astype(bool)]
    wide = labeler_labels(project)
    samples = project.samples().set_index("key").relpath
    out = pd.DataFrame({"key": d.key.to_numpy(), "filename": d.key.map(samples).to_numpy()})
    for user in wide.columns:
        out[user] = d.key.map(wide[user]).to_numpy()
    out["adjudicated"] = d.adjudicated.astype(bool).to_numpy()
    out["adjudicated_label"] = d.adjudicated_label.to_numpy()
    return out


def adjudicate(
    project: Project, decisions: Mapping[str, str] | Sequence[tuple[str, str]], *, user: str
) -> LabelAction:
    """Records a reviewer's decisions (sample key -> class) as ``adjudication`` label events.

    All in one transaction; each becomes its sample's label.

    Args:
        project: The open project.
        decisions: Key -> class, or (key, class) pairs.
        user: The reviewer.

    Raises:
        UnknownSampleError: a key is not in the project; nothing is written.
        ValueError: an empty user or class name.
    """
    pairs = list(decisions.items()) if isinstance(decisions, Mapping) else list(decisions)
    return project.add_label_events(pairs, user=user, source="adjudication")


def adjudicate_csv(project: Project, data: bytes, name: str, *, user: str) -> LabelImportReport:
    """Records a ``filename,label`` CSV of a reviewer's decisions as ``adjudication`` events.

    Rows are matched and reported like a label import (``import_labels_csv``): unknown or
    ambiguous names, empty labels and unstorable class names are skipped and reported, by line
    where it helps; the rest is written in one transaction.
    """
    return import_labels_csv(project, data, name, user=user, source="adjudication")


@dataclass(frozen=True)
class LabelerView:
    """What the queue shows a labeler of double labeling while it is on.

    Attributes:
        user: The labeler.
        blind: Whether others' labels are hidden from them (then the queue shows only
            ``own``).
        pending: Samples assigned to them that they have not labeled themselves: the queue
            offers them as unlabeled, whoever else labeled them.
        own: Their own labels: key, label (their own label on assigned samples, the current
            label where they labeled last elsewhere; not a label their undo put back that
            someone else wrote).
    """

    user: str
    blind: bool
    pending: frozenset[str]
    own: pd.DataFrame

    def labeled(self, current: Collection[str] | pd.Series) -> set[str]:
        """The samples done for this labeler: labeled, and not waiting for their own label."""
        return (set(current) | set(self.own.key)) - self.pending


def labeler_view(
    project: Project, user: str, labels: pd.DataFrame | Callable[[], pd.DataFrame]
) -> LabelerView | None:
    """The queue's view for ``user`` while double labeling is on and they are a labeler.

    None when it is off or ``user`` is not one of its labelers (the queue then works as
    usual).

    Args:
        project: The open project.
        user: Who is labeling ("" when nobody typed a name).
        labels: ``project.current_labels()``, already read by the caller, or a function
            that gives it (called only when the view needs it: a queue key press without
            double labeling never makes the frame).
    """
    setting = project.assignments.active()
    if not user or setting is None or user not in setting.labelers:
        return None
    if callable(labels):
        labels = labels()
    mine = project.assignments.labeler_labels()
    mine = mine[mine.user == user][["key", "label"]]
    assigned = set(project.assignments.keys(user))
    pending = frozenset(assigned - set(mine.key))
    elsewhere = labels[(labels.user == user) & ~labels.key.isin(assigned)]
    reversed_ = elsewhere.source.isin(REVERSAL_SOURCES)
    if reversed_.any():  # her undo may put back another person's label: not hers
        authors = project.current_label_authors(elsewhere.key[reversed_].tolist())
        elsewhere = elsewhere[~reversed_ | (elsewhere.key.map(authors) == user)]
    own = pd.concat([mine, elsewhere[["key", "label"]]], ignore_index=True)
    return LabelerView(user, setting.blind, pending, own)


def write_table_csv(table: pd.DataFrame, path: str | Path) -> None:
    """Writes a table as CSV, atomically, its text cells safe from spreadsheet formulas."""
    atomic_write_text(path, safe_frame(table).to_csv(index=False))
