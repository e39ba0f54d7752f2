"""Label assignment and label CSV import.

``assign`` is the pure core of lasso labeling: it maps selected sample keys to a class.
"""

from __future__ import annotations

import io
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bps_core.csvsafe import unsafe_cell
from bps_core.errors import MetadataError
from bps_core.metadata import csv_text, parser_error
from bps_core.project.store import Project, clean_name

_MAX_LABEL_CSV_BYTES = 200 * 1024 * 1024


@dataclass
class LabelImportReport:
    """What a label CSV import wrote and what it skipped.

    The lists hold file names as written in the CSV; ``bad_rows`` holds (line number, reason)
    for rows whose class name cannot be stored (too long, invisible characters), reasons cut to
    about 80 characters. Every other row is imported.
    """

    n_labeled: int = 0
    action_id: str = ""
    unknown_files: list[str] = field(default_factory=list)
    ambiguous_files: list[str] = field(default_factory=list)
    empty_labels: list[str] = field(default_factory=list)
    bad_rows: list[tuple[int, str]] = field(default_factory=list)


_EXPECTED = "expected a header 'filename,label'"
#: Header names echoed back in an error: short, plain column names. Anything else (a first line
#: that is a secret, ``KEY=value``, a shadow entry) is described, never quoted.
_PLAIN_COLUMN = re.compile(r"[A-Za-z][A-Za-z0-9 _.-]{0,31}")
_MAX_REASON = 80


def _describe_columns(columns: Sequence[str]) -> str:
    if len(columns) >= 2 and all(_PLAIN_COLUMN.fullmatch(c) for c in columns):
        return "line 1 has the columns " + ", ".join(columns)
    if len(columns) == 1:
        return "line 1 has a single column"
    return f"line 1 has {len(columns)} columns, not a header of column names"


def _short(text: str) -> str:
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


def read_labels_csv(data: bytes, name: str) -> pd.DataFrame:
    """Reads a ``filename,label`` CSV as text (extra columns are ignored).

    Every value stays text: a class ``nan``, ``NA`` or ``1`` is that class, never a missing or a
    float value. The file-name column is ``filename``, else the first column. Returns a frame
    with the columns ``line`` (the CSV line number), ``filename`` and ``label``.

    Raises:
        MetadataError: the CSV is malformed or has no ``label`` column; the message names the
            line, never the file's content.
    """
    text = csv_text(data, name, "labels CSV", _MAX_LABEL_CSV_BYTES)
    if not text.strip():
        raise MetadataError(f"{name}: the file is empty; {_EXPECTED} and one row per file")
    try:
        df = pd.read_csv(
            io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False,
            skipinitialspace=True, skip_blank_lines=False,
        )  # fmt: skip
    except pd.errors.EmptyDataError:
        raise MetadataError(f"{name}: the file is empty; {_EXPECTED}") from None
    except pd.errors.ParserError as exc:
        raise parser_error(name, exc) from None
    columns = [str(c).strip() for c in df.columns]
    if "label" not in columns:
        raise MetadataError(
            f"{name}: {_describe_columns(columns)}; {_EXPECTED} (no 'label' column)"
        )
    df.columns = columns
    fcol = "filename" if "filename" in columns else columns[0]
    if fcol == "label":
        raise MetadataError(f"{name}: {_describe_columns(columns)}; {_EXPECTED}")
    out = pd.DataFrame({
        "line": np.arange(2, len(df) + 2),
        "filename": df[fcol].astype(str).str.strip().str.replace("\\", "/", regex=False),
        "label": df["label"].astype(str).str.strip(),
    })  # fmt: skip
    blank = (out.filename == "") & (out.label == "")
    return out[~blank].reset_index(drop=True)


@dataclass(frozen=True)
class FileNames:
    """Finds samples by the file names a CSV gives.

    A name matches a sample's relative path, or its basename when only one sample has it.

    Attributes:
        by_path: Sample key per relative path.
        by_base: Sample keys per basename.
    """

    by_path: dict[str, str]
    by_base: dict[str, list[str]]

    @classmethod
    def of(cls, project: Project) -> FileNames:
        """The file names of ``project``'s samples."""
        samples = project.samples()[["key", "relpath"]]
        by_path = dict(zip(samples.relpath, samples.key, strict=True))
        by_base: dict[str, list[str]] = {}
        for rel, key in by_path.items():
            by_base.setdefault(posixpath.basename(rel), []).append(key)
        return cls(by_path, by_base)

    def find(self, fname: str) -> tuple[str | None, bool]:
        """Returns (the sample key or None, whether the basename is ambiguous)."""
        key = self.by_path.get(fname)
        if key is not None:
            return key, False
        candidates = self.by_base.get(posixpath.basename(fname), [])
        if len(candidates) > 1:
            return None, True
        return (candidates[0] if candidates else None), False


def import_labels_csv(
    project: Project, data: bytes, name: str, *, user: str, source: str = "import"
) -> LabelImportReport:
    """Imports a ``filename,label`` CSV as label events (source ``source``), in one action.

    File names match a sample's relative path, or its basename when that is unique. Unknown or
    ambiguous names, empty labels and class names that cannot be stored or that differ from an
    existing (or earlier) class only in case (reported by line number) are skipped; all other
    rows are written in one transaction.
    """
    user = clean_name(user, "user name")
    df = read_labels_csv(data, name)
    names = FileNames.of(project)
    report = LabelImportReport()
    pairs: dict[str, str] = {}
    existing = {c.name for c in project.classes()}
    spelled = {name.casefold(): name for name in sorted(existing)}  # the first spelling seen
    for line, raw_fname, raw_label in zip(df.line, df.filename, df.label, strict=True):
        # our own CSV exports quote formula-like cells ('=x): read them back as written
        fname, label = unsafe_cell(raw_fname), unsafe_cell(raw_label)
        if not label:
            report.empty_labels.append(fname)
            continue
        try:
            label = clean_name(label, "class name")
        except ValueError as exc:
            report.bad_rows.append((int(line), _short(str(exc))))
            continue
        first = label if label in existing else spelled.setdefault(label.casefold(), label)
        if first != label:  # "Track" next to "track": one class counted as two (refused)
            report.bad_rows.append((int(line), _short(
                f"write class {first!r}: {label!r} differs from it only in case")))  # fmt: skip
            continue
        key, ambiguous = names.find(fname)
        if ambiguous:
            report.ambiguous_files.append(fname)
            continue
        if key is None:
            report.unknown_files.append(fname)
            continue
        pairs[key] = label
    if pairs:
        action = project.add_label_events(list(pairs.items()), user=user, source=source)
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
