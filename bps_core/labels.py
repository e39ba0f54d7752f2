"""Label assignment and label CSV import.

``assign`` is the pure core of lasso labeling: it maps selected sample keys to a class.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bps_core.errors import MetadataError
from bps_core.metadata import read_metadata_csv
from bps_core.project.store import Project


def assign(
    labels: Mapping[str, str | None], keys: Iterable[str], label: str | None
) -> dict[str, str | None]:
    """A copy of ``labels`` in which every key in ``keys`` maps to ``label`` (None clears)."""
    out = dict(labels)
    for k in keys:
        if label is None:
            out.pop(k, None)
        else:
            out[k] = label
    return out


@dataclass
class LabelImportReport:
    """What a label CSV import wrote and what it skipped."""

    n_labeled: int = 0
    action_id: str = ""
    unknown_files: list[str] = field(default_factory=list)
    ambiguous_files: list[str] = field(default_factory=list)
    empty_labels: list[str] = field(default_factory=list)


def read_labels_csv(data: bytes, name: str) -> pd.DataFrame:
    """Reads a ``filename,label`` CSV (extra columns are ignored).

    Raises:
        MetadataError: the CSV is malformed or has no ``label`` column.
    """
    df = read_metadata_csv(data, name)
    if "label" not in df.columns:
        raise MetadataError(
            f"{name}: needs the columns 'filename,label'; found {', '.join(df.columns)}"
        )
    out = df[["filename", "label"]].copy()
    out["label"] = out["label"].astype(str).str.strip()
    return out


def import_labels_csv(project: Project, data: bytes, name: str, *, user: str) -> LabelImportReport:
    """Imports a ``filename,label`` CSV as label events (source ``import``), in one action.

    File names match a sample's relative path, or its basename when that is unique. Unknown or
    ambiguous names and empty labels are reported and skipped; all matched rows are written in
    one transaction.
    """
    df = read_labels_csv(data, name)
    samples = project.samples()[["key", "relpath"]]
    by_path = dict(zip(samples.relpath, samples.key, strict=True))
    by_base: dict[str, list[str]] = {}
    for rel, key in by_path.items():
        by_base.setdefault(posixpath.basename(rel), []).append(key)
    report = LabelImportReport()
    pairs: dict[str, str] = {}
    for fname, label in zip(df.filename, df.label, strict=True):
        if not label or label.lower() == "nan":
            report.empty_labels.append(fname)
            continue
        key = by_path.get(fname)
        if key is None:
            candidates = by_base.get(posixpath.basename(fname), [])
            if len(candidates) > 1:
                report.ambiguous_files.append(fname)
                continue
            key = candidates[0] if candidates else None
        if key is None:
            report.unknown_files.append(fname)
            continue
        pairs[key] = label
    if pairs:
        action = project.add_label_events(list(pairs.items()), user=user, source="import")
        report.n_labeled, report.action_id = action.n_events, action.action_id
    return report


def selected_ids(points: Iterable[Mapping[str, object]]) -> list[int]:
    """Sample ids of the points in a plotly selection event, in order, without repeats.

    Every trace carries the sample id as its ``customdata`` (a number, or the first entry of a
    list), so a selection maps to samples whatever trace, order or point index the browser
    reports; points without customdata are ignored, never mapped by position.
    """
    ids: dict[int, None] = {}
    for p in points:
        custom = p.get("customdata")
        if isinstance(custom, (list, tuple)):
            custom = custom[0] if custom else None
        if isinstance(custom, (int, float)) and not isinstance(custom, bool):
            ids[int(custom)] = None
    return list(ids)


def points_in_polygon(
    xy: NDArray[np.floating[Any]], polygon: Sequence[tuple[float, float]]
) -> NDArray[np.bool_]:
    """Which points of shape (n, 2) lie inside ``polygon`` (even-odd ray casting)."""
    x, y = xy[:, 0], xy[:, 1]
    inside = np.zeros(len(xy), dtype=bool)
    n = len(polygon)
    for i in range(n):
        (x1, y1), (x2, y2) = polygon[i], polygon[(i + 1) % n]
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < x_at)
    return inside
