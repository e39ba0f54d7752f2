"""Lightly's embeddings CSV: export ours, import theirs (``lightly.utils.io``)."""

from __future__ import annotations

import csv
import io
import posixpath
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from lightly.utils import io as lightly_io
from numpy.typing import NDArray

from bps_core.embeddings.store import l2_normalise
from bps_core.errors import MetadataError


def export_embeddings_csv(
    path: str | Path,
    vectors: NDArray[np.floating[Any]],
    relpaths: list[str],
) -> None:
    """Writes ``filenames,embedding_0..,labels`` with file names relative to the input root."""
    if len(vectors) != len(relpaths):
        raise ValueError(f"{len(relpaths)} file names for {len(vectors)} vectors")
    lightly_io.save_embeddings(
        str(path), np.asarray(vectors, dtype=np.float64), [0] * len(relpaths), list(relpaths)
    )


@dataclass
class CsvImport:
    """Embeddings read from a Lightly CSV, matched to the project's samples.

    ``vectors[i]`` belongs to the sample ``keys[i]``; ``unknown_files`` lists the CSV's file
    names that match no sample of the project (they are left out, not an error).
    """

    keys: list[str]
    vectors: NDArray[np.float32]
    unknown_files: list[str] = field(default_factory=list)


#: Largest embeddings CSV read (100,000 samples of 2,048 dims in text is about 4 GB).
MAX_CSV_BYTES = 4 * 1024**3
_HEADER_HINT = "expected filenames,embedding_0,...,embedding_N,labels"
_EMBEDDING_COL = re.compile(r"embedding_\d+")
_FLAG_COLS = ("masked", "selected")  # Lightly's optional columns between vectors and labels


def _not_lightly(path: str | Path, what: str) -> MetadataError:
    """Builds an error that names the file and the problem, never the file's content.

    A wrong path, such as a ``.env`` or ``/etc/shadow``, must not have its first line shown
    back.
    """
    return MetadataError(f"{path}: not a Lightly embeddings CSV: {what}")


def read_embeddings_csv(path: str | Path) -> tuple[NDArray[np.float64], list[str]]:
    """Vectors and file names of a Lightly embeddings CSV (``lightly.utils.io``'s format).

    Checks what ``lightly.utils.io.check_embeddings`` checks (header ``filenames``, then
    ``embedding_<i>``/``masked``/``selected`` columns, then ``labels``; no blank rows) and that
    every value is a number. Errors give the line and column, never a cell's text.
    """
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise MetadataError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    if not stat.S_ISREG(st.st_mode):
        raise MetadataError(f"{path}: not a regular file; give a Lightly embeddings CSV")
    if st.st_size > MAX_CSV_BYTES:
        raise MetadataError(f"{path}: {st.st_size:,} bytes is too large for an embeddings CSV")
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise MetadataError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    except UnicodeDecodeError as exc:
        raise _not_lightly(path, f"not UTF-8 text (byte {exc.start})") from None
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(rows, None)
        if not header:
            raise _not_lightly(path, f"line 1 is empty; it must be the header ({_HEADER_HINT})")
        # Which column is wrong, by position (a cell's text is never quoted back).
        if header[0] != "filenames":
            raise _not_lightly(path, f"line 1: column 1 must be named 'filenames' ({_HEADER_HINT})")
        if "labels" not in header:
            raise _not_lightly(path, f"line 1 has no 'labels' column ({_HEADER_HINT})")
        label_at = header.index("labels")
        spaced = next((i for i, c in enumerate(header) if c != c.strip()), None)
        if spaced is not None:
            raise _not_lightly(path, f"line 1: column {spaced + 1}'s name has spaces around it")
        odd = next((i for i, c in enumerate(header[1:label_at], start=1)
                    if not (_EMBEDDING_COL.fullmatch(c) or c in _FLAG_COLS)), None)  # fmt: skip
        if odd is not None:
            raise _not_lightly(path, f"line 1: column {odd + 1} is not embedding_<i>, masked or "
                               f"selected ({_HEADER_HINT})")  # fmt: skip
        dims = [i for i, c in enumerate(header) if _EMBEDDING_COL.fullmatch(c)]
        if not dims:
            raise _not_lightly(path, "line 1 names no embedding_<i> column")
        names: list[str] = []
        vectors: list[list[float]] = []
        for line, row in enumerate(rows, start=2):
            if not row:
                raise _not_lightly(path, f"line {line} is empty")
            if len(row) != len(header):
                raise _not_lightly(
                    path, f"line {line} has {len(row)} fields; the header has {len(header)}"
                )
            try:
                vectors.append([float(row[i]) for i in dims])
                int(row[label_at])
            except ValueError:
                raise _not_lightly(
                    path, f"line {line}: an embedding value or the label is not a number"
                ) from None
            names.append(row[0])
    except csv.Error:
        raise _not_lightly(path, f"line {rows.line_num} is not valid CSV") from None
    if not names:
        raise _not_lightly(path, "it has a header but no rows")
    arr = np.asarray(vectors, dtype=np.float64)
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0]) + 2
        raise _not_lightly(path, f"line {bad} holds a NaN or infinite value")
    return arr, names


def coverage_note(params: dict[str, object]) -> str | None:
    """What an imported CSV set left out, from its ``params`` (None: nothing).

    Nothing means every readable sample has a row and every row matched one. A set of 500 of
    1,020 samples became current unremarked, and rounds then picked among those 500 only.
    """
    missing, unknown = params.get("samples_without_vector", 0), params.get("unknown_files", 0)
    parts = []
    if isinstance(missing, int) and missing > 0:
        parts.append(f"{missing:,} readable samples of the project have no row in the CSV: they "
                     "are not on the map and no selection round picks them (import a CSV that "
                     "covers them, or compute embeddings)")  # fmt: skip
    if isinstance(unknown, int) and unknown > 0:
        parts.append(f"{unknown:,} file names in the CSV match no sample of the project and "
                     "were left out")  # fmt: skip
    return "; ".join(parts) + "." if parts else None


def import_embeddings_csv(path: str | Path, relpath_to_key: dict[str, str]) -> CsvImport:
    """Reads a Lightly embeddings CSV and maps its file names to sample keys.

    Names match a relative path, or a basename when that is unique. Unmatched names are
    reported. Raises ``MetadataError`` when the CSV does not follow Lightly's format; the
    message never quotes the file's content.
    """
    if not Path(path).exists():  # a folder or a device: read_embeddings_csv says so
        where = Path(path).resolve()
        raise MetadataError(
            f"Lightly embeddings CSV {where} not found: give the path of an existing file"
        )
    vectors, filenames = read_embeddings_csv(path)
    by_base: dict[str, list[str]] = {}
    for rel, sample in relpath_to_key.items():
        by_base.setdefault(posixpath.basename(rel), []).append(sample)
    keys: list[str] = []
    rows: list[int] = []
    unknown: list[str] = []
    for i, name in enumerate(filenames):
        key = relpath_to_key.get(name)
        candidates = by_base.get(posixpath.basename(name), [])
        if key is None and len(candidates) == 1:
            key = candidates[0]
        if key is None:
            unknown.append(name)
            continue
        keys.append(key)
        rows.append(i)
    if not keys:
        raise MetadataError(f"{path}: no file name matches a sample of this project")
    return CsvImport(keys, l2_normalise(np.asarray(vectors)[rows]), unknown)
