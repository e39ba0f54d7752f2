"""The samples frame: built from the database, kept as a columnar snapshot between processes.

Building ``Project.samples()`` from the database decodes every row's metadata JSON (about
14 s at a million samples). The frame is therefore also stored as one Parquet file in the
project's arrays folder, stamped with the ``samples_version`` it was built at; a process whose
version matches reads the file instead (well under a second at a million samples). Any insert,
update or delete of a sample changes the version, so a stale file is never used: the next
call rebuilds the frame from the database and replaces the file.

After a few samples change (a status, an error, a metadata value), the snapshot is patched
instead: the database logs which samples changed at which version (``sample_changes``) and
which snapshots it has seen (``samples_frame_stamps``), and ``patch_frame`` replaces the
changed rows of the last snapshot. A patch is taken only where it equals the full rebuild
exactly: every cell keeps its kind (a number stays a number of the same type, a missing
metadata key stays missing), so the column types and their order cannot change. Anything
else (inserted or deleted samples, a new metadata key, an integer turned text, or more than
``patch_limit`` changed rows) rebuilds the frame from the database.

Only frames whose columns survive the round trip exactly are stored: numbers, booleans (also
with missing values), strings (missing values NaN) and all-None columns. Metadata holding
lists, objects or values of mixed types keeps the database path (correct, only slower).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bps_core.atomic import atomic_path
from bps_core.errors import StorageWriteError

SNAPSHOT_NAME = "samples_frame.parquet"
_VERSION_KEY = b"bps_samples_version"
_NULLS_KEY = b"bps_object_nulls"
BASE_COLUMNS = ["key", "sample_id", "relpath", "status", "error"]


def frame_from_rows(rows: Sequence[Sequence[Any]], rename: Any) -> pd.DataFrame:
    """The samples frame from (key, id, relpath, status, error, meta_json) rows.

    Args:
        rows: Database rows in id order.
        rename: Maps a metadata field name to its column name (``metadata_column``).

    Returns:
        The base columns, then one column per metadata key (missing keys NaN).
    """
    base = pd.DataFrame(rows, columns=[*BASE_COLUMNS, "meta_json"])
    meta = pd.DataFrame([json.loads(m) for m in base.pop("meta_json")], index=base.index)
    meta.columns = [rename(c) for c in meta.columns]
    return pd.concat([base, meta], axis=1)


def _null_kind(col: pd.Series) -> str | None:
    """How an object column's missing values are written: "none" or "nan".

    Storable are all-None columns and booleans whose missing values are all None or all NaN;
    None for a column that would not come back exactly (lists, objects, mixed types).
    """
    kinds = set()
    for v in col:
        if v is None:
            kinds.add("none")
        elif isinstance(v, float) and v != v:
            kinds.add("nan")
        elif not isinstance(v, bool):
            return None
    if len(kinds) > 1:
        return None
    return kinds.pop() if kinds else "none"


def _storable(frame: pd.DataFrame) -> dict[str, str] | None:
    """The null kind of each object column, or None when some column would not come back.

    A column comes back from Parquet exactly when it is numeric, boolean, string, or an
    object column that ``_null_kind`` accepts.
    """
    names: list[Any] = frame.columns.tolist()
    if not isinstance(frame.index, pd.RangeIndex) or frame.columns.has_duplicates:
        return None
    if not all(isinstance(name, str) for name in names):
        return None
    nulls: dict[str, str] = {}
    for name in frame.columns:
        col = frame[name]
        if col.dtype == object:
            kind = _null_kind(col)
            if kind is None:
                return None
            nulls[name] = kind
        elif not (
            pd.api.types.is_string_dtype(col.dtype)
            or pd.api.types.is_numeric_dtype(col.dtype)  # includes bool
        ):
            return None
    return nulls


def _read(path: Path, version: str | None) -> tuple[str, pd.DataFrame] | None:
    """The frame stored at ``path`` and its version (only when it is ``version``, if given)."""
    if not path.is_file():
        return None
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path, memory_map=True)
        stored = (parquet.schema_arrow.metadata or {}).get(_VERSION_KEY)
        if stored is None or (version is not None and stored.decode() != version):
            return None
        nulls = json.loads((parquet.schema_arrow.metadata or {}).get(_NULLS_KEY, b"{}"))
        frame = parquet.read(use_threads=True).to_pandas()
    except (OSError, ValueError):  # a damaged or foreign file: rebuild from the database
        return None
    if not isinstance(frame, pd.DataFrame):
        return None
    for name, kind in nulls.items():  # Arrow reads a missing boolean back as None
        if kind == "nan" and name in frame.columns:
            col = frame[name]
            frame[name] = col.where(col.notna(), float("nan"))
    return stored.decode(), frame


def load_snapshot(arrays_dir: Path, version: str) -> pd.DataFrame | None:
    """The stored frame when it was built at ``version``; None when absent, stale or unreadable."""
    found = _read(Path(arrays_dir) / SNAPSHOT_NAME, version)
    return None if found is None else found[1]


def load_any_snapshot(arrays_dir: Path) -> tuple[str, pd.DataFrame] | None:
    """The stored frame and the ``samples_version`` it was built at, whatever that is.

    Returns:
        (version, frame), or None when there is no readable snapshot.
    """
    return _read(Path(arrays_dir) / SNAPSHOT_NAME, None)


def patch_limit(n_rows: int) -> int:
    """The most changed rows a snapshot of ``n_rows`` is patched with (else it is rebuilt)."""
    return max(1_000, n_rows // 100)


_TEXT_BASE = ("key", "relpath", "status", "error")


def _kind(value: object) -> str:
    """The kind of one cell, as the frame's column types depend on it."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "missing" if value != value else "float"
    if isinstance(value, str):
        return "str"
    return "other"


def _cell_kind(value: object, dtype: Any) -> str:
    """``_kind``, with a JSON null and a missing key alike where the column reads both as NaN."""
    kind = _kind(value)
    if kind == "none" and not pd.api.types.is_object_dtype(dtype):
        return "missing"
    if kind == "int" and dtype == np.float64:
        return "float"  # a float column holds JSON integers as floats
    return kind


def patch_frame(
    frame: pd.DataFrame, rows: Sequence[Sequence[Any]], rename: Any
) -> pd.DataFrame | None:
    """``frame`` with ``rows`` replacing the rows of the same samples, or None.

    The patch equals a rebuild (``frame_from_rows`` of every current row) when each cell
    keeps its kind (so each column keeps its type) and each metadata column still first
    appears in the same row, its keys in the same order (so the columns keep their order).
    Where that cannot be told (a missing value at or before the first row holding its
    column, a float column patched with integers and left without a gap or float), None.

    Args:
        frame: A samples frame (``frame_from_rows`` or a snapshot), in sample id order.
        rows: The changed samples' current (key, id, relpath, status, error, meta_json) rows;
            each must already be in ``frame``.
        rename: Maps a metadata field name to its column name (``metadata_column``).

    Returns:
        The patched frame; None when a patch could not guarantee a rebuild's frame (a sample
        not in ``frame``, a new metadata key, a cell whose kind changes, ...): rebuild then.
    """
    if not rows:
        return frame
    ids = frame["sample_id"].to_numpy()
    wanted = np.fromiter((int(r[1]) for r in rows), dtype=np.int64, count=len(rows))
    pos = np.searchsorted(ids, wanted)
    if (pos >= len(ids)).any() or (ids[np.minimum(pos, len(ids) - 1)] != wanted).any():
        return None
    meta_names = frame.columns[len(BASE_COLUMNS) :].tolist()
    order = {name: i for i, name in enumerate(meta_names)}
    first: dict[str, int] = {}

    def first_present(name: str) -> int:  # the first row holding a value (not NaN/None)
        if name not in first:
            present = frame[name].notna().to_numpy()
            first[name] = int(present.argmax()) if present.any() else len(present)
        return first[name]

    new: dict[str, list[Any]] = {name: [] for name in [*_TEXT_BASE, *meta_names]}
    for p, (key, _, relpath, status, error, meta_json) in zip(pos.tolist(), rows, strict=True):
        for name, value in zip(_TEXT_BASE, (key, relpath, status, error), strict=True):
            new[name].append(value)
        meta = {rename(k): v for k, v in json.loads(meta_json).items()}
        if not meta.keys() <= order.keys():
            return None
        # Keys first appearing in this row must keep the columns' order.
        starting = [order[k] for k in meta if first_present(k) == p]
        if starting != sorted(starting):
            return None
        for name in meta_names:
            new[name].append(meta.get(name, float("nan")))
    out = frame.copy(deep=False)
    for name, values in new.items():
        col = out[name]
        old = col.iloc[pos].tolist()
        if name in _TEXT_BASE:  # text or missing (SQL NULL): the column stays text
            if any(_kind(v) not in ("str", "none", "missing") for v in [*old, *values]):
                return None
            if old == values:
                continue
            if col.dtype == object:  # all missing so far: text now, as a rebuild reads it
                col = col.astype(out["key"].dtype)
            values = [float("nan") if v is None else v for v in values]
        else:
            for p, a, b in zip(pos.tolist(), old, values, strict=True):
                ka, kb = _cell_kind(a, col.dtype), _cell_kind(b, col.dtype)
                if ka != kb or kb == "other":
                    return None
                if kb in ("missing", "none") and p <= first_present(name):
                    return None  # a null here may be where the column first appears
            if old == values:
                continue
        col = col.copy()
        col.iloc[pos] = values
        if col.isna().all() and len(col):
            return None  # a rebuild reads an all-NULL column as None objects
        if col.dtype == np.float64 and not col.isna().any() and "int" in map(_kind, values):
            return None  # without a gap or a float patched in, a rebuild may read integers
        out[name] = col
    return out


def save_snapshot(arrays_dir: Path, version: str, frame: pd.DataFrame) -> bool:
    """Stores ``frame`` as built at ``version`` (atomically); False when it cannot be stored.

    A frame that would not come back exactly, or a folder that cannot be written (read-only
    project, full disk), leaves no file and is not an error: the database stays the source.
    """
    nulls = _storable(frame)
    if nulls is None:
        return False
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pa.Table.from_pandas(frame, preserve_index=None)
    except (pa.ArrowException, ValueError, TypeError, OverflowError):
        return False
    table = table.replace_schema_metadata(
        {
            **(table.schema.metadata or {}),
            _VERSION_KEY: version.encode(),
            _NULLS_KEY: json.dumps(nulls).encode(),
        }
    )
    try:
        with atomic_path(Path(arrays_dir) / SNAPSHOT_NAME, suffix=".parquet") as tmp:
            pq.write_table(table, tmp, compression="snappy")
    except StorageWriteError:
        return False
    return True
