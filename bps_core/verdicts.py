"""Reviewer verdict CSVs: ``filename,verdict[,label][,event_id]`` rows to recorded verdicts.

The file ``bps-labeler reviews --out`` writes is one: every current label with an empty
``verdict`` column and the ``event_id`` of the label, so a reviewer fills in verdicts in a
spreadsheet and imports it back; a label changed since the file was written is then skipped
(by line) rather than judged blind.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bps_core.csvsafe import unsafe_cell
from bps_core.errors import MetadataError
from bps_core.labels import FileNames
from bps_core.metadata import csv_text, parser_error
from bps_core.project.reviews import VERDICTS, Verdict
from bps_core.project.store import Project, clean_name

_MAX_BYTES = 200 * 1024 * 1024
_EXPECTED = "expected a header 'filename,verdict' (and 'label' for fixes)"
_MAX_REASON = 160


@dataclass
class VerdictImportReport:
    """What a verdict CSV import recorded and what it skipped.

    Attributes:
        counts: Verdicts recorded per verdict (``accept``, ``fix``, ``reject``).
        no_verdict: Rows with an empty verdict (left for later).
        unknown_files: File names that match no sample.
        ambiguous_files: File names whose basename several samples share.
        bad_rows: (CSV line, reason) of rows that cannot be recorded: an unknown verdict, a fix
            without a class, an unlabeled sample, a label changed since the file was written,
            a file named twice.
    """

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(VERDICTS, 0))
    no_verdict: int = 0
    unknown_files: list[str] = field(default_factory=list)
    ambiguous_files: list[str] = field(default_factory=list)
    bad_rows: list[tuple[int, str]] = field(default_factory=list)

    @property
    def n_recorded(self) -> int:
        """Verdicts recorded in all."""
        return sum(self.counts.values())


def _short(text: str) -> str:
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


def read_verdicts_csv(data: bytes, name: str) -> pd.DataFrame:
    """Reads a verdict CSV as text; extra columns are ignored.

    Returns:
        Columns ``line`` (CSV line number), ``filename``, ``verdict`` (lower case), ``label``
        and ``event_id`` ("" where the file has none).

    Raises:
        MetadataError: the CSV is malformed or lacks the ``filename`` or ``verdict`` column;
            the message names the line, never the file's content.
    """
    text = csv_text(data, name, "verdicts CSV", _MAX_BYTES)
    if not text.strip():
        raise MetadataError(f"{name}: the file is empty; {_EXPECTED}")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False,
                         skipinitialspace=True)  # fmt: skip
    except pd.errors.EmptyDataError:
        raise MetadataError(f"{name}: the file is empty; {_EXPECTED}") from None
    except pd.errors.ParserError as exc:
        raise parser_error(name, exc) from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in ("filename", "verdict") if c not in df.columns]
    if missing:
        raise MetadataError(f"{name}: no {' or '.join(repr(c) for c in missing)} column; "
                            f"{_EXPECTED}")  # fmt: skip

    def column(col: str) -> pd.Series:
        if col not in df.columns:
            return pd.Series([""] * len(df), dtype=str)
        return df[col].astype(str).str.strip().reset_index(drop=True)

    return pd.DataFrame({
        "line": np.arange(2, len(df) + 2),
        "filename": column("filename").str.replace("\\", "/", regex=False),
        "verdict": column("verdict").str.lower(),
        "label": column("label"),
        "event_id": column("event_id"),
    })  # fmt: skip


def import_verdicts_csv(
    project: Project, data: bytes, name: str, *, user: str
) -> VerdictImportReport:
    """Records the verdicts of a CSV on the samples' current labels, in one transaction.

    File names match a sample's relative path, or its basename when that is unique. ``label``
    is read for fixes only (so the ``reviews --out`` file, whose ``label`` column holds the
    current class, takes a verdict per row as it is). Where ``event_id`` is given, a label
    changed since is skipped. Every skipped row is reported; the rest is recorded.

    Raises:
        MetadataError: the CSV cannot be read.
        StaleReviewError: a label changed while the import ran; nothing was recorded.
    """
    user = clean_name(user, "user name")
    df = read_verdicts_csv(data, name)
    names = FileNames.of(project)
    current = project.reviews.current()
    event_of = dict(zip(current.key, current.event_id.astype(int), strict=True))
    labeler_of = dict(zip(current.key, current.user, strict=True))
    classes = {c.name for c in project.classes()}
    report = VerdictImportReport()
    verdicts: dict[str, Verdict] = {}
    for line, raw_name, verdict, raw_label, raw_event in zip(
        df.line, df.filename, df.verdict, df.label, df.event_id, strict=True
    ):
        line = int(line)
        fname = unsafe_cell(raw_name)
        if not verdict:
            report.no_verdict += 1
            continue
        if verdict not in VERDICTS:
            report.bad_rows.append((line, _short(f"verdict {verdict!r}: use accept, fix or "
                                                 "reject")))  # fmt: skip
            continue
        label = None
        if verdict == "fix":
            try:
                label = clean_name(unsafe_cell(raw_label), "class name")
            except ValueError as exc:
                report.bad_rows.append((line, _short(f"a fix needs the class in 'label' ({exc})")))
                continue
            if label not in classes:
                report.bad_rows.append((line, _short(f"no class {label!r} to fix to; create it "
                                                     "first or correct the name")))  # fmt: skip
                continue
        key, ambiguous = names.find(fname)
        if ambiguous:
            report.ambiguous_files.append(fname)
            continue
        if key is None:
            report.unknown_files.append(fname)
            continue
        if key in verdicts:
            report.bad_rows.append((line, f"{_short(fname)} has a verdict on an earlier line"))
            continue
        if key not in event_of:
            report.bad_rows.append((line, f"{_short(fname)} is not labeled: nothing to review"))
            continue
        seen: int | None = None
        if raw_event:
            try:
                seen = int(float(raw_event))
            except ValueError:
                report.bad_rows.append((line, _short(f"event_id {raw_event!r} is not a number")))
                continue
            if event_of[key] != seen:
                why = (f"{fname} was relabeled by {labeler_of[key]} since the file was "
                       "written; export the reviews again")  # fmt: skip
                report.bad_rows.append((line, _short(why)))
                continue
        verdicts[key] = Verdict(key, verdict, label, seen)
    if verdicts:
        report.counts = project.reviews.record(list(verdicts.values()), user=user).counts
    return report
