"""Runs the Explore page under cProfile for ``profile_explore1m.py`` (imported by the AppTest
script it makes and by the benchmark, one process: ``RUNS`` is shared).

Each page run is one ``exec`` of ``pages/3_Explore_and_label.py`` with cProfile around it;
its wall time and the profile are appended to ``RUNS``.
"""

from __future__ import annotations

import cProfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class PageRun:
    """One run of the page: its wall time and its profile."""

    seconds: float
    profile: cProfile.Profile | None


RUNS: list[PageRun] = []
PROFILE = True  #: False: only the wall time (no cProfile overhead)


def run_page(page: Path) -> None:
    """Executes the page once, profiled, recording the run (also when it ends in a rerun)."""
    code = compile(page.read_text(), str(page), "exec")
    profile = cProfile.Profile() if PROFILE else None
    t0 = time.perf_counter()
    if profile is not None:
        profile.enable()
    try:
        exec(code, {"__name__": "__main__", "__file__": str(page)})  # noqa: S102
    finally:
        if profile is not None:
            profile.disable()
        RUNS.append(PageRun(time.perf_counter() - t0, profile))
