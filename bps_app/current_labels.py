"""The current labels a page holds, updated by the label changes since they were read.

``CurrentLabels`` keeps a frame read once and the changes applied to it since, and makes its
frame, key set and label lookup only when a caller asks for them: a queue key press needs
the lookup only, which the change updates without a pandas operation (issue 20).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bps_core.project import LabelWrite

#: The columns of ``CurrentLabels.frame`` (``Project.current_labels``).
LABEL_COLUMNS = ["key", "label", "user", "created_at", "source"]
#: Changes held unapplied before the frame is made (bounds the work a late ``frame`` does).
_MAX_PENDING = 64


class LabelChanges:
    """Each changed sample's last label event since a read, in sample id order.

    What ``Project.label_changes`` returns, held as arrays; its frame (the same columns) is
    made only when asked for. A label of None (or missing) means the label was cleared.

    Use ``from_frame`` or ``from_write``.
    """

    def __init__(
        self,
        sample_ids: NDArray[np.int64],
        newest_event: int,
        *,
        frame: pd.DataFrame | None = None,
        written: LabelWrite | None = None,
        keys: Any = None,
    ) -> None:
        self.sample_ids = sample_ids
        self.newest_event = newest_event  #: the newest event id among them (0: none)
        self._frame = frame
        self._written = written
        self._keys = keys  # of a write: the key of each sample id, an array-like

    @classmethod
    def from_frame(cls, changes: pd.DataFrame) -> LabelChanges:
        """``Project.label_changes``' frame (columns key, label, user, created_at, source,
        sample_id, event_id, in sample id order)."""
        ids = changes.sample_id.to_numpy(dtype=np.int64)
        newest = int(changes.event_id.max()) if len(changes) else 0
        return cls(ids, newest, frame=changes)

    @classmethod
    def from_write(cls, written: LabelWrite, keys: Any) -> LabelChanges:
        """What a write appended (``LabelWrite``), its samples' keys ``keys`` (one per sample
        id of ``LabelWrite.last_per_sample``, an array-like of text)."""
        ids, _ = written.last_per_sample()
        return cls(ids, written.last_event, written=written, keys=keys)

    def __len__(self) -> int:
        return len(self.sample_ids)

    @functools.cached_property
    def frame(self) -> pd.DataFrame:
        """Columns key, label, user, created_at, source, sample_id, event_id."""
        if self._frame is not None:
            return self._frame
        assert self._written is not None
        changes = self._written.changes()
        changes.insert(0, "key", self._keys)  # the samples' own text array: no conversion
        return changes

    def pairs(self) -> list[tuple[str, str | None]]:
        """(key, label or None) per sample."""
        if self._written is not None:
            _, rows = self._written.last_per_sample()
            keys = self._keys.tolist() if hasattr(self._keys, "tolist") else list(self._keys)
            return list(zip(keys, self._written.labels[rows].tolist(), strict=True))
        labels = self.frame.label.tolist()
        out = [lab if isinstance(lab, str) else None for lab in labels]
        return list(zip(self.frame.key.tolist(), out, strict=True))


class CurrentLabels:
    """The project's current labels (``Project.current_labels``), held read-only, with the
    lookups a page makes on every rerun.

    Made from a frame read whole, or from earlier labels and the changes since
    (``changed``). The frame, its sample ids, the key set and the label lookup are made on
    first use: a queue key press needs only the lookup (updated from the earlier one when it
    was made), Explore only the frame.

    Args:
        frame: Columns key, label, user, created_at, source, in sample id order.
        sample_ids: The sample id of each row of ``frame`` (None when read whole: blind
            double labeling, PostgreSQL): joins by id (``bps_core.positions``) instead of by
            key text.
    """

    def __init__(self, frame: pd.DataFrame, sample_ids: NDArray[np.int64] | None = None) -> None:
        self._base = frame
        self._base_ids = sample_ids
        self._pending: tuple[LabelChanges, ...] = ()

    @classmethod
    def changed(cls, before: CurrentLabels, changes: LabelChanges) -> CurrentLabels:
        """``before`` with ``changes`` applied (``before`` must have sample ids).

        The lookups ``before`` made are carried over with the changes applied; the frame is
        made when asked for (from ``before``'s frame when that one is made, else from the
        frame ``before`` started from and every change since).
        """
        if "frame" in before.__dict__ or len(before._pending) >= _MAX_PENDING:
            new = cls(before.frame, before.sample_ids)
            new._pending = (changes,)
        else:
            new = cls(before._base, before._base_ids)
            new._pending = (*before._pending, changes)
        if new._base_ids is None:
            raise ValueError("labels read without sample ids take no changes")
        if "label_of" in before.__dict__:
            label_of = dict(before.label_of)
            for key, label in changes.pairs():
                if label is None:
                    label_of.pop(key, None)
                else:
                    label_of[key] = label
            new.__dict__["label_of"] = label_of  # what functools.cached_property would store
        return new

    @functools.cached_property
    def _made(self) -> tuple[pd.DataFrame, NDArray[np.int64] | None]:
        if not self._pending:
            return self._base, self._base_ids
        assert self._base_ids is not None
        return applied(self._base, self._base_ids, self._pending)

    @functools.cached_property
    def frame(self) -> pd.DataFrame:
        """Columns key, label, user, created_at, source: one row per labeled sample, in
        sample id order."""
        return self._made[0]

    @functools.cached_property
    def sample_ids(self) -> NDArray[np.int64] | None:
        """The sample id of each row of ``frame`` (None when read whole)."""
        return self._made[1]

    @functools.cached_property
    def label_of(self) -> dict[str, str]:
        """Key -> label (built from lists: iterating a pandas string column element by
        element costs about 6x more)."""
        return dict(zip(self.frame.key.tolist(), self.frame.label.tolist(), strict=True))

    @functools.cached_property
    def keys(self) -> frozenset[str]:
        """The labeled keys."""
        if "label_of" in self.__dict__ or "frame" not in self.__dict__:
            return frozenset(self.label_of)
        return frozenset(self.frame.key.tolist())


def applied(
    frame: pd.DataFrame, ids: NDArray[np.int64], changes: Sequence[LabelChanges]
) -> tuple[pd.DataFrame, NDArray[np.int64]]:
    """The labels ``frame`` (sample ids ``ids``) with ``changes`` applied in order.

    Each changed sample keeps its last change: dropped when that cleared its label, else
    replaced by it.

    Returns:
        The frame (``CurrentLabels.frame``) and its sample ids.
    """
    changed = [c for c in changes if len(c)]
    if not changed:
        return frame, ids
    # The winning change of each sample: its last (unique over the reversed changes).
    all_ids = np.concatenate([c.sample_ids for c in changed])
    part = np.repeat(np.arange(len(changed)), [len(c) for c in changed])
    row = np.concatenate([np.arange(len(c)) for c in changed])
    if len(changed) == 1:
        winners = np.arange(len(all_ids))
        ids_changed = all_ids
    else:
        ids_changed, first = np.unique(all_ids[::-1], return_index=True)
        winners = len(all_ids) - 1 - first
    # Rows are taken only where some are dropped or reordered: relabeling a 100k lasso that
    # was labeled before replaces every row of the frame, in order (no take of 100k rows).
    parts: list[tuple[pd.DataFrame, NDArray[np.int64]]] = []
    if len(ids):
        kept = ~_among(ids, ids_changed)
        parts.append((frame, ids) if kept.all() else (frame[kept], ids[kept]))
    for i, c in enumerate(changed):
        rows = row[winners[part[winners] == i]]
        f = c.frame.iloc[rows] if len(changed) > 1 else c.frame
        present = f.label.notna().to_numpy()
        labeled = f if present.all() else f[present]
        parts.append((labeled[LABEL_COLUMNS], labeled.sample_id.to_numpy(dtype=np.int64)))
    parts = [(f, i) for f, i in parts if len(f)]  # an empty part would make every column object
    if not parts:
        return pd.DataFrame([], columns=LABEL_COLUMNS), np.zeros(0, dtype=np.int64)
    out_ids = np.concatenate([i for _, i in parts])
    out = parts[0][0] if len(parts) == 1 else pd.concat([f for f, _ in parts], ignore_index=True)
    if len(out_ids) > 1 and not bool((out_ids[1:] > out_ids[:-1]).all()):
        order = np.argsort(out_ids, kind="stable")
        out, out_ids = out.iloc[order], out_ids[order]
    return out.reset_index(drop=True), out_ids


def _among(ids: NDArray[np.int64], ascending: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Which of ``ids`` are in ``ascending`` (sorted, as label changes come): ``np.isin`` by
    binary search, without sorting either."""
    if not len(ascending):
        return np.zeros(len(ids), dtype=bool)
    at = np.minimum(np.searchsorted(ascending, ids), len(ascending) - 1)
    return np.asarray(ascending[at] == ids)
