"""Sample metadata: BPS ``meta.csv`` and generic per-file CSVs, joined to listed files.

A BPS ``meta.csv`` has exactly the columns ``filename,dose_Gy,particle_type,hr_post_exposure``
and is validated value by value. Any other CSV whose first column holds file names works too:
its other columns become metadata as they are.
"""

from __future__ import annotations

import io
import math
import posixpath
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bps_core import bps
from bps_core.errors import MetadataError

_BPS_DOSES = {"Fe": (0.0, 0.3, 0.82), "X-ray": (0.0, 0.1, 1.0)}
_BPS_HOURS = (4, 24, 48)
MAX_CSV_BYTES = 200 * 1024 * 1024


def is_bps_header(columns: Iterable[str]) -> bool:
    """True when ``columns`` are exactly the BPS ``meta.csv`` columns, in order (spaces trimmed)."""
    return tuple(c.strip() for c in columns) == bps.META_COLUMNS


def _fail(name: str, row: int, column: str, what: str) -> MetadataError:
    # Row numbers are 1-based data rows (line = row + 1 with the header). The cell's text is
    # never quoted: a wrong file (a .env, a key file) must not have its content shown back.
    return MetadataError(f"{name}, row {row} (line {row + 1}), column {column!r}: {what}")


def parser_error(name: str, exc: Exception) -> MetadataError:
    """A one-line message for a pandas parse failure: the line number, never the raw text."""
    text = str(exc)
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
    if m:
        want, line, saw = m.groups()
        return MetadataError(
            f"{name}: line {line} has {saw} fields but the header has {want}; quote values "
            "that hold commas, or fix that line"
        )
    m = re.search(r"line (\d+)", text)
    where = f" near line {m.group(1)}" if m else ""
    return MetadataError(f"{name}: not a valid CSV{where} (check quotes and commas)")


def _validate_bps(df: pd.DataFrame, name: str) -> pd.DataFrame:
    doses: list[float] = []
    hours: list[int] = []
    for i, (dose, particle, hr) in enumerate(
        zip(df["dose_Gy"], df["particle_type"], df["hr_post_exposure"], strict=True), start=1
    ):
        if particle not in _BPS_DOSES:
            raise _fail(name, i, "particle_type", "expected 'Fe' or 'X-ray'")
        try:
            d = float(dose)
        except ValueError:
            raise _fail(name, i, "dose_Gy", "not a number") from None
        if not any(math.isclose(d, ok, abs_tol=1e-6) for ok in _BPS_DOSES[particle]):
            valid = ", ".join(f"{v:g}" for v in _BPS_DOSES[particle])
            raise _fail(name, i, "dose_Gy", f"{particle} doses are {valid}")
        try:
            h = float(hr)
        except ValueError:
            raise _fail(name, i, "hr_post_exposure", "not a number") from None
        if not h.is_integer() or int(h) not in _BPS_HOURS:
            raise _fail(name, i, "hr_post_exposure", "expected 4, 24 or 48")
        doses.append(min(_BPS_DOSES[particle], key=lambda ok: abs(ok - d)))  # noqa: B023
        hours.append(int(h))
    out = df.copy()
    out["dose_Gy"] = doses
    out["hr_post_exposure"] = hours
    return out


def csv_text(data: bytes, name: str, what: str, max_bytes: int) -> str:
    """The text of a user's CSV ``data``, a UTF-8 byte order mark dropped.

    Raises:
        MetadataError: One line: ``data`` is over ``max_bytes``, or not UTF-8 (naming the
            byte offset, never the content).
    """
    if len(data) > max_bytes:
        raise MetadataError(f"{name}: {len(data):,} bytes is too large for a {what}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MetadataError(
            f"{name}: not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None


def read_metadata_csv(data: bytes, name: str) -> pd.DataFrame:
    """Parses a metadata CSV into a frame whose first column is ``filename``.

    Raises:
        MetadataError: the CSV is empty, not UTF-8, has no rows, repeats a file name, or (for a
            BPS ``meta.csv``) holds a value outside the dataset's value sets. The message names
            the file, row and column.
    """
    text = csv_text(data, name, "metadata CSV", MAX_CSV_BYTES)
    if not text.strip():
        raise MetadataError(f"{name}: the file is empty; expected a header row and data rows")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise MetadataError(
            f"{name}: the file is empty; expected a header row and data rows"
        ) from None
    except pd.errors.ParserError as exc:
        raise parser_error(name, exc) from None
    df.columns = [str(c).strip() for c in df.columns]
    if df.empty:
        raise MetadataError(f"{name}: has a header but no data rows")
    first = df.columns[0]
    if "filename" in list(df.columns)[1:]:
        raise MetadataError(
            f"{name}: a column 'filename' that is not the first; the first column holds the "
            "file names: move it first or rename it"
        )
    if is_bps_header(df.columns):
        df = _validate_bps(df, name)
    df = df.rename(columns={first: "filename"})
    df["filename"] = df["filename"].str.strip().str.replace("\\", "/", regex=False)
    blank = df.index[df["filename"] == ""]
    if len(blank):
        raise MetadataError(f"{name}, row {blank[0] + 1}: empty file name in the first column")
    dup = df.index[df["filename"].duplicated()]
    if len(dup):
        again = int(dup[0])
        seen = int(df.index[df["filename"] == df["filename"].iloc[again]][0])
        raise MetadataError(
            f"{name}, row {again + 1}: the file name of row {seen + 1} appears more than "
            "once; keep one row per file"
        )
    if not is_bps_header(df.columns):
        df = df.apply(_infer_column)
    return df.reset_index(drop=True)


def _infer_column(col: pd.Series) -> pd.Series:
    if col.name == "filename":
        return col
    numeric = pd.to_numeric(col, errors="coerce")
    if numeric.notna().all():
        return numeric
    return col


def bps_name_columns(filename: str) -> dict[str, Any]:
    """Plate, acquisition, well, field, object, channel, nucleus key and mouse from a BPS name."""
    parsed = bps.parse_filename(filename)
    if parsed is None:
        return {}
    mouse = bps.mouse_for(parsed.plate, parsed.well)
    return {
        "plate": parsed.plate,
        "acquisition": parsed.acquisition,
        "well": parsed.well,
        "field": parsed.field,
        "object": parsed.object,
        "channel": parsed.channel,
        "nucleus_key": parsed.nucleus_key,
        "mouse": mouse.name if mouse else "",
    }


@dataclass
class JoinResult:
    """Metadata per listed file, plus what did not match."""

    metadata: dict[str, dict[str, Any]]
    files_without_metadata: list[str] = field(default_factory=list)
    rows_without_files: list[str] = field(default_factory=list)


def join_metadata(files: Iterable[str], meta: pd.DataFrame | None) -> JoinResult:
    """Joins CSV rows to relative file paths, by full relative path or else by basename.

    Files without a row and rows without a file are reported, never fatal. BPS file names also
    get the columns of ``bps_name_columns``.
    """
    files = list(files)
    rows: dict[str, dict[str, Any]] = {}
    if meta is not None:
        for rec in meta.to_dict(orient="records"):
            fname = str(rec.pop("filename"))
            rows[fname] = {str(k): _plain(v) for k, v in rec.items()}
    by_base: dict[str, list[str]] = {}
    for f in files:
        by_base.setdefault(posixpath.basename(f), []).append(f)
    used: set[str] = set()
    result = JoinResult(metadata={})
    for f in files:
        md = bps_name_columns(f)
        key = f if f in rows else posixpath.basename(f)
        if key in rows and (key == f or len(by_base[key]) == 1):
            md.update(rows[key])
            used.add(key)
        elif meta is not None:
            result.files_without_metadata.append(f)
        result.metadata[f] = md
    result.rows_without_files = [r for r in rows if r not in used]
    return result


def _plain(v: Any) -> Any:
    """JSON-friendly scalar: numpy numbers to Python, NaN to None."""
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def read_user_file(path: str | Path, what: str, max_bytes: int = MAX_CSV_BYTES) -> bytes:
    """The bytes of a file a user named (a CSV to import).

    Raises:
        MetadataError: One line: the file is not found, is a folder or device (never read:
            ``/dev/zero`` would not end), is over ``max_bytes``, or is unreadable.
    """
    p = Path(path)
    try:
        st = p.stat()
        if not stat.S_ISREG(st.st_mode):
            raise MetadataError(f"{path}: not a regular file; give the {what} file")
        if st.st_size > max_bytes:
            raise MetadataError(f"{path}: {st.st_size:,} bytes is too large for a {what}")
        return p.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise MetadataError(f"{path}: cannot read the {what} ({reason})") from None
