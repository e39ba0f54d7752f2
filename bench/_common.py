"""Shared helpers for benchmarks: robust timing and result files.

Each benchmark prints a Markdown table and writes ``bench/results/<name>.json`` and ``.md``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _docs import sync_docs

RESULTS = Path(__file__).resolve().parent / "results"
WORK = Path(__file__).resolve().parent / "_work"


def median_time(fn: Callable[[], object], repeats: int = 3, warmup: int = 1) -> float:
    """Median wall time of ``fn`` over ``repeats`` runs after ``warmup`` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved_medians(fns: dict[str, Callable[[], object]], repeats: int = 3) -> dict[str, float]:
    """Median wall time of each of ``fns``, timed in turns (A, B, C, A, B, C, ...) so that a
    slow spell of this shared machine falls on every contender alike, not on one of them."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def write_results(name: str, rows: list[dict[str, Any]], notes: str = "") -> str:
    """Writes JSON and a Markdown table for ``rows``; returns the table."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "rows": rows,
        "notes": notes,
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    table = "\n".join(lines)
    (RESULTS / f"{name}.md").write_text(table + ("\n\n" + notes if notes else "") + "\n")
    sync_docs({name})  # the docs show this table; bench/results stays its source
    print(table)
    if notes:
        print(notes)
    return table


# JavaScript returning the plotly plot area in page pixels (for lasso drags in Chromium).
PLOT_AXES_JS = """
() => {
  const gd = document.querySelector('.js-plotly-plot');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const box = gd.getBoundingClientRect();
  return {left: box.left + xa._offset, top: box.top + ya._offset, w: xa._length, h: ya._length};
}
"""
