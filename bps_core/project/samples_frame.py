"""The samples frame: built from the database, kept as a columnar snapshot between processes.

Building ``Project.samples()`` from the database decodes every row's metadata JSON (about
14 s at a million samples). The frame is therefore also stored as one Parquet file in the
project's arrays folder, stamped with the ``samples_version`` it was built at; a process whose
version matches reads the file instead (well under a second at a million samples). Any insert,
update or delete of a sample changes the version, so a stale file is never used: the next
call rebuilds the frame from the database and replaces the file.

Only frames whose columns survive the round trip exactly are stored: numbers, booleans (also
with missing values), strings (missing values NaN) and all-None columns. Metadata holding
lists, objects or values of mixed types keeps the database path (correct, only slower).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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


def load_snapshot(arrays_dir: Path, version: str) -> pd.DataFrame | None:
    """The stored frame when it was built at ``version``; None when absent, stale or unreadable."""
    path = Path(arrays_dir) / SNAPSHOT_NAME
    if not path.is_file():
        return None
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path, memory_map=True)
        stored = (parquet.schema_arrow.metadata or {}).get(_VERSION_KEY)
        if stored is None or stored.decode() != version:
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
    return frame


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
