"""Smoke tests of bench/bench_mappage1m.py's pure parts and of its server-side run log
(bench/_runlog/sitecustomize.py); the benchmark itself (a browser on 1M points) is not run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import points_in_polygon

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(BENCH))
    import bench_mappage1m

    yield bench_mappage1m
    sys.modules.pop("bench_mappage1m", None)


def test_polygon_holding__holds_about_k_of_clustered_points(bench) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    xy = np.concatenate([rng.normal(c, 1.0, (5_000, 2)) for c in ((0, 0), (6, 2), (-3, 5))])
    for k in (100, 2_000, 9_000):
        poly, inside = bench.polygon_holding(xy, k)
        assert poly.shape == (24, 2)
        assert inside == int(points_in_polygon(xy, [tuple(p) for p in poly]).sum())
        assert abs(inside - k) <= max(2, 0.01 * k)


def test_polygon_holding__refuses_more_points_than_the_map_has(bench) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="cannot hold 11 of 10"):
        bench.polygon_holding(np.zeros((10, 2)), 11)


def test_byte_counter__sums_text_and_binary_frames_since_a_mark(bench) -> None:  # type: ignore[no-untyped-def]
    class Emitter:
        def __init__(self) -> None:
            self.handlers: dict[str, list] = {}

        def on(self, name: str, fn) -> None:  # type: ignore[no-untyped-def]
            self.handlers.setdefault(name, []).append(fn)

        def emit(self, name: str, arg) -> None:  # type: ignore[no-untyped-def]
            for fn in self.handlers.get(name, []):
                fn(arg)

    page, ws = Emitter(), Emitter()
    counter = bench.ByteCounter()
    counter.attach(page)
    page.emit("websocket", ws)
    ws.emit("framereceived", b"\x00" * 10)
    mark = counter.mark()
    ws.emit("framereceived", "é")  # two bytes in UTF-8
    ws.emit("framereceived", bytearray(5))
    ws.emit("framesent", "abc")
    assert counter.since(mark) == (7, 3)
    assert (counter.received, counter.sent) == (17, 3)


def test_parse_runs__pairs_each_start_with_its_end_event(bench) -> None:  # type: ignore[no-untyped-def]
    events = [
        {"event": "SCRIPT_STARTED", "t": 1.0, "fragment": True},
        {"event": "SCRIPT_STOPPED_FOR_RERUN", "t": 3.0},
        {"event": "SCRIPT_STARTED", "t": 3.1, "fragment": False},
        {"event": "SCRIPT_STOPPED_WITH_SUCCESS", "t": 3.4},
        {"event": "run_script_end", "t": 3.6},
        {"event": "SCRIPT_STARTED", "t": 9.0, "fragment": False},
    ]
    runs = bench.parse_runs([json.dumps(e) for e in events] + [""])
    assert [(r.start, r.end, r.fragment) for r in runs] == [
        (1.0, 3.0, True), (3.1, 3.4, False), (9.0, None, False)
    ]  # fmt: skip
    assert runs[1].seconds == pytest.approx(0.3)
    assert [r.start for r in bench.runs_after(runs, 3.05)] == [3.1, 9.0]


def test_runlog__logs_each_streamlit_script_run(tmp_path: Path) -> None:
    log = tmp_path / "runs.jsonl"
    code = (
        "from streamlit.testing.v1 import AppTest\n"
        "AppTest.from_string('import streamlit as st\\nst.write(1)').run()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(BENCH / "_runlog"), "BPS_BENCH_RUN_LOG": str(log)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert events[:3] == ["SCRIPT_STARTED", "SCRIPT_STOPPED_WITH_SUCCESS", "run_script_end"]


def test_merged__a_rerun_replaces_its_own_rows_and_keeps_the_others(
    bench,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    import _common

    monkeypatch.setattr(_common, "RESULTS", tmp_path)
    old_rows = [{"page": "main @ a", "points": "1,000"}, {"page": "b @ c", "points": "1,000"}]
    notes = (
        "general" + bench.RUNS + "- main @ a, 1,000 points (t): old.\n- b @ c, 1,000 points (t): x."
    )
    (tmp_path / "m.json").write_text(json.dumps({"rows": old_rows, "notes": notes}))
    rows, lines = bench.merged(
        "m", [{"page": "main @ a", "points": "1,000"}], ["- main @ a, 1,000 points (u): new."]
    )
    assert rows == [{"page": "b @ c", "points": "1,000"}, {"page": "main @ a", "points": "1,000"}]
    assert lines == ["- b @ c, 1,000 points (t): x.", "- main @ a, 1,000 points (u): new."]
