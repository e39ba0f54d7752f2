"""What a label write appended (``LabelWrite``), and the records that carry it.

``LabelAction`` and ``UndoResult`` are the store's; ``Reviews`` hands back its own. Apart from
the store so that every module that appends label events (the store, reviews) can
hand back what it wrote without importing the other.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bps_core.project import db


@dataclass(frozen=True)
class UndoResult:
    """What an undo or redo wrote.

    Its own action, the action it reversed or re-applied, how many samples changed and how
    many were skipped because someone relabeled them since.
    """

    action_id: str
    target_action_id: str
    n_changed: int
    n_skipped: int
    #: The events it appended (SQLite; None on PostgreSQL), see ``LabelWrite``.
    written: LabelWrite | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class LabelAction:
    """One user action that wrote label events (a lasso of 5,000 samples is one action)."""

    action_id: str
    n_events: int
    #: The events it appended (SQLite; None on PostgreSQL), see ``LabelWrite``.
    written: LabelWrite | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, eq=False)
class LabelWrite:
    """The label events one write appended, read back inside its transaction.

    A reader that holds the current labels as of event ``after_event`` can apply these
    instead of reading the label log again (``Project.label_changes``), as long as the newest
    event is still ``last_event`` (``Project.labels_version``): then no one else wrote a
    label in between. At a 100k-sample lasso that read is half a second of the page's rerun.

    Attributes:
        after_event: The newest label event before the write (0: none).
        event_ids: The id of each event appended, ascending.
        sample_ids: The sample of each event.
        labels: The class name of each event (None: the label was cleared).
        user: Who wrote them.
        created_at: When (``utc_now``).
        source: One of ``LABEL_SOURCES``.
    """

    after_event: int
    event_ids: NDArray[np.int64]
    sample_ids: NDArray[np.int64]
    labels: NDArray[np.object_]
    user: str
    created_at: str
    source: str

    @property
    def last_event(self) -> int:
        """The newest event of the write (``after_event`` when it appended none)."""
        return int(self.event_ids[-1]) if len(self.event_ids) else self.after_event

    def last_per_sample(self) -> tuple[NDArray[np.int64], NDArray[np.intp]]:
        """Each sample's last event of the write: (sample ids ascending, their event rows).

        The rows index ``event_ids``, ``sample_ids`` and ``labels``.
        """
        if bool((np.diff(self.sample_ids) > 0).all()):  # a lasso: each sample once, in order
            return self.sample_ids, np.arange(len(self.sample_ids))
        # The last event of each sample: unique over the reversed events keeps the last.
        ids, first = np.unique(self.sample_ids[::-1], return_index=True)
        return ids, len(self.sample_ids) - 1 - first

    def changes(self) -> pd.DataFrame:
        """``Project.label_changes(after_event)`` as of right after the write, less ``key``.

        Each sample's last event of the write, in sample id order.

        Returns:
            Columns label, user, created_at, source, sample_id, event_id.
        """
        ids, rows = self.last_per_sample()
        n = len(ids)
        return pd.DataFrame({
            "label": _text(self.labels[rows]), "user": _repeated(self.user, n),
            "created_at": _repeated(self.created_at, n), "source": _repeated(self.source, n),
            "sample_id": ids, "event_id": self.event_ids[rows],
        })  # fmt: skip


def _text(values: NDArray[np.object_]) -> Any:
    """``values`` (text or None) as the text column pandas makes of them.

    Converted by pyarrow in one pass: pandas' own conversion of a 100k-row object column cost
    three times as long, in the rerun after every lasso label.
    """
    dtype = _arrow_text_dtype()
    if dtype is None:
        return values
    import pyarrow as pa

    return pd.array(pa.array(values, type=pa.large_string(), from_pandas=True), dtype=dtype)


def _repeated(value: str, n: int) -> Any:
    """``value`` ``n`` times, as the text column pandas makes of a column of it.

    Its default text dtype, made without a Python object per row: pandas broadcasts a scalar
    through a take of every row (a tenth of a second for three such columns of 100k rows).
    """
    dtype = _arrow_text_dtype()
    if dtype is None:
        return np.full(n, value, dtype=object)
    import pyarrow as pa

    return pd.array(pa.repeat(pa.scalar(value, pa.large_string()), n), dtype=dtype)


@functools.cache
def _arrow_text_dtype() -> pd.StringDtype | None:
    """The dtype pandas gives a column of text, when it is pyarrow-backed.

    None otherwise: the columns above are then left to pandas.
    """
    dtype = pd.Series(["x"]).dtype
    return dtype if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow" else None


def newest_event(c: db.Connection) -> int:
    """The id of the newest label event (0: none)."""
    return int(c.execute("SELECT COALESCE(MAX(id), 0) FROM label_events").fetchone()[0])


def read_back(
    c: db.Connection, after: int, n_events: int, user: str, created_at: str, source: str
) -> LabelWrite | None:
    """The ``n_events`` events just appended after event ``after``, or None.

    Read inside the writing transaction (no other writer can append meanwhile); None on
    PostgreSQL (its readers read the log whole) or when the log holds other events than
    these after ``after``.

    Read as three comma-joined lists (one row, one aggregate pass: their items pair up)
    instead of 100k rows of Python tuples: a fifth of the time at a 100k-sample lasso.
    """
    if db.engine(c) != "sqlite":
        return None
    row = c.execute(
        "SELECT COUNT(*), group_concat(id), group_concat(sample_id), "
        "group_concat(COALESCE(class_id, 0)) FROM label_events WHERE id > ?",
        (after,),
    ).fetchone()
    if int(row[0]) != n_events:
        return None
    if not n_events:
        none = np.zeros(0, dtype=np.int64)
        return LabelWrite(after, none, none, np.zeros(0, dtype=object), user, created_at, source)
    events, samples, classes = (np.array(text.split(","), dtype=np.int64) for text in row[1:])
    order = np.argsort(events, kind="stable")
    names = dict(c.execute("SELECT id, name FROM label_classes").fetchall())
    distinct, codes = np.unique(classes[order], return_inverse=True)
    lookup = np.array([names.get(int(k)) for k in distinct], dtype=object)
    return LabelWrite(after, events[order], samples[order], lookup[codes], user, created_at,
                      source)  # fmt: skip
