"""The map page at 1M samples in a real browser: first paint, and the rerun after labeling a
100k-point lasso (issue 21), for one or more versions of the page side by side.

What is measured, exactly:

1. Project: ``create_embedding_project(folder, --n, dim=128, seed=0)`` (default 1,000,000
   samples, clustered embeddings, a PCA map, every sample's TIFF a hard link to a rendered
   crop of its condition), built once under ``bench/_work/mappage1m_<n>``. Each page version
   gets a fresh copy of the project (the images are shared: the datasource names them by
   absolute path), so the labels of one version's runs never reach another's.
2. Page versions: ``--ref REF`` (a git commit, exported with ``git archive`` into
   ``$TMPDIR/bps_bench_pages/<sha>`` when its turn comes; ``main`` when nothing is given) or
   ``--checkout PATH`` (a folder served as it is). Each is served like the browser tests do
   (tests/browser/conftest.py): ``python -m bps_app.serve run app.py`` from that checkout,
   ``PYTHONPATH`` set to it, ``BPS_PROJECT`` the copy, ``BPS_LABELER_WARM_WORKER=0``.
3. Server time: ``bench/_runlog/sitecustomize.py`` rides on the server's ``PYTHONPATH`` and
   hooks Streamlit's ``ScriptRunner`` to log, per script run, its start and the moment
   Streamlit reports it finished (``time.monotonic()``, one clock for both processes). It
   patches Streamlit, not the page, so it times any checkout alike. A step's server time is
   the sum of the runs that started after the input.
4. Browser: Chromium (the flags of tests/browser/conftest.py), 1400 x 1100 viewport; one fresh
   browser context (a new Streamlit session) per repetition. Bytes are the websocket frames'
   payloads (``page.on("websocket")``, ``framereceived`` / ``framesent``); thumbnails come
   over HTTP (``/media``) and are not counted. Per repetition:

   a. first paint: open the app, type a user name in the sidebar, then click the sidebar
      link "Explore and label"; timed from the click until the script state is back at
      ``notRunning`` after a run the click caused and the plotly map holds drawn content
      (a WebGL canvas, an image or SVG points), checked on animation frames. The first
      repetition after the server starts is the cold one (the server's caches are empty).
   b. lasso: a polygon of 24 corners in map coordinates centred on the median point and
      sized (bisection on its radius) to hold ``--lasso`` (100,000) points, converted to page
      pixels by the figure's own axes (``l2p``), dragged with the mouse (one move per corner:
      plotly reselects its points on each move); the drag is timed, then the release until
      the selection panel's "N selected" heading is shown after the run. N is recorded.
   c. label: the "Label N as ..." button (the first class); timed from the click until the
      page is idle after the run, the "Labeled ..." flash is shown and the figure has
      redrawn (plotly's ``plotly_afterplot`` after the click, when the figure is the same
      element). Server time is given as the runs the click caused: the first (the store of
      the labels, ``add_labels``; its own target is bench/bench_data1m.py's) and the rest
      (the page's rerun that recolours the map: the figure the target of 300 ms is for).

Targets (issue 21): payload at most 8 MB for the first paint and for the label rerun; server
time of the rerun after labeling at most 300 ms.

Run: ``nice -n 15 .venv/bin/python bench/bench_mappage1m.py [--n 1000000] [--reps 3]
[--ref main] [--ref BRANCH] [--checkout PATH] [--append]`` (``--n 100000`` for a quick look;
``--append`` keeps the rows of other versions in the results). A step that takes longer than
``--step-timeout`` seconds (the cold first paint: ``--cold-timeout``) is recorded as a
timeout, with a screenshot in ``bench/_work``; the next session is still timed.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from _common import WORK, write_results  # noqa: E402

from bps_core.synthetic.embedding_project import create_embedding_project  # noqa: E402
from bps_core.verbs import Project, current_map  # noqa: E402
from tests.helpers import points_in_polygon, wait_for_http  # noqa: E402

RUNLOG_DIR = ROOT / "bench" / "_runlog"
PORTS = range(8621, 8630)
LASSO_POINTS = 100_000
TARGET_BYTES = 8_000_000
TARGET_RERUN_S = 0.300
MB = 1e6


# -- pure helpers (tests/bench/test_bench_mappage1m.py) -----------------------------------------
def regular_polygon(
    center: Sequence[float], radius: float, vertices: int = 24
) -> NDArray[np.float64]:
    """The ``vertices`` corners of a regular polygon around ``center``, shape (vertices, 2)."""
    a = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    return np.column_stack([center[0] + radius * np.cos(a), center[1] + radius * np.sin(a)])


def polygon_holding(
    xy: NDArray[np.floating[Any]], k: int, vertices: int = 24, tol: float = 0.005
) -> tuple[NDArray[np.float64], int]:
    """A regular polygon around the median point of ``xy`` that holds about ``k`` points.

    Bisection on the radius between the circle through the k-th nearest point (the inscribed
    polygon holds fewer) and that radius over cos(pi / vertices) (it holds more), until the
    count is within ``tol`` of ``k``. Returns the polygon and the number of points inside.
    """
    if not 0 < k <= len(xy):
        raise ValueError(f"cannot hold {k} of {len(xy)} points")
    center = np.median(xy, axis=0)
    d = np.hypot(xy[:, 0] - center[0], xy[:, 1] - center[1])
    r_k = float(np.partition(d, k - 1)[k - 1])
    hi_r = r_k / np.cos(np.pi / vertices) * 1.001
    near = xy[d <= hi_r]  # only these can fall inside
    lo, hi = r_k, hi_r
    best = (regular_polygon(center, hi, vertices), int(points_in_polygon(near, regular_polygon(
        center, hi, vertices)).sum()))  # fmt: skip
    for _ in range(40):
        mid = (lo + hi) / 2
        poly = regular_polygon(center, mid, vertices)
        count = int(points_in_polygon(near, poly).sum())
        if abs(count - k) < abs(best[1] - k):
            best = (poly, count)
        if abs(count - k) <= tol * k:
            break
        lo, hi = (mid, hi) if count < k else (lo, mid)
    return best


def payload_size(payload: bytes | bytearray | str) -> int:
    """Bytes of one websocket frame's payload (text frames count as UTF-8)."""
    return len(payload.encode()) if isinstance(payload, str) else len(payload)


@dataclass
class ByteCounter:
    """Sums the payloads of the websocket frames a page receives and sends."""

    received: int = 0
    sent: int = 0

    def attach(self, page: Any) -> None:
        def on_ws(ws: Any) -> None:
            ws.on("framereceived", self.on_received)
            ws.on("framesent", self.on_sent)

        page.on("websocket", on_ws)

    def on_received(self, payload: bytes | str) -> None:
        self.received += payload_size(payload)

    def on_sent(self, payload: bytes | str) -> None:
        self.sent += payload_size(payload)

    def mark(self) -> tuple[int, int]:
        return self.received, self.sent

    def since(self, mark: tuple[int, int]) -> tuple[int, int]:
        """(received, sent) bytes since ``mark``."""
        return self.received - mark[0], self.sent - mark[1]


@dataclass
class Run:
    """One script run as the server logged it (``time.monotonic()`` seconds)."""

    start: float
    end: float | None
    fragment: bool
    how: str = ""

    @property
    def seconds(self) -> float:
        return float("nan") if self.end is None else self.end - self.start


def parse_runs(lines: Sequence[str]) -> list[Run]:
    """The script runs in a ``bench/_runlog`` log: each start paired with the end event that
    follows it (a session runs one script at a time; one server here serves one session at
    a time)."""
    runs: list[Run] = []
    for line in lines:
        if not line.strip():
            continue
        rec = json.loads(line)
        event = rec["event"]
        if event == "SCRIPT_STARTED":
            runs.append(Run(rec["t"], None, bool(rec.get("fragment"))))
        elif (
            event.endswith(("STOPPED_WITH_SUCCESS", "STOPPED_FOR_RERUN", "COMPILE_ERROR"))
            and runs
            and runs[-1].end is None
        ):
            runs[-1].end, runs[-1].how = rec["t"], event
    return runs


def runs_after(runs: Sequence[Run], t0: float) -> list[Run]:
    return [r for r in runs if r.start >= t0]


# -- the project and the servers ------------------------------------------------------------
def build_project(n: int) -> Path:
    """The n-sample project, built once (``create_embedding_project`` links every sample's
    TIFF to a rendered crop of its condition)."""
    folder = WORK / f"mappage1m_{n}"
    done = folder / ".bench-built"
    if done.exists():
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    t0 = time.perf_counter()
    with create_embedding_project(folder, n, dim=128, seed=0) as p:
        p.samples()  # leaves the columnar snapshot of the frame in place
    done.write_text(f"{n}\n")
    print(f"project of {n:,} built in {time.perf_counter() - t0:.0f} s", flush=True)
    return folder


def fresh_copy(folder: Path, tag: str) -> Path:
    """A copy of the project for one page version; the images stay shared (the datasource
    names the original folder's images by absolute path)."""
    copy = WORK / f"{folder.name}_run_{tag}"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("images", "image_sources"))
    return copy


def map_xy(folder: Path) -> NDArray[np.float64]:
    with Project.open(folder) as p:
        m = current_map(p)
        if m is None:
            raise SystemExit(f"{folder} has no map")
        return np.asarray(m.xy, dtype=np.float64)


@dataclass
class Version:
    """A version of the page: a folder holding app.py and a label for the table."""

    label: str
    path: Path


def _git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()  # fmt: skip


def export_ref(ref: str) -> Version:
    """``git archive`` of ``ref`` into a temporary folder (no worktree registered)."""
    sha = _git("rev-parse", ref)
    # Outside the repository: tests/test_architecture.py reads every .py file under bench/.
    target = Path(tempfile.gettempdir()) / "bps_bench_pages" / sha[:12]
    if not (target / "app.py").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", sha], cwd=ROOT, check=True,
                                 capture_output=True).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return Version(f"{ref} @ {sha[:10]}", target)


def checkout_version(path: str) -> Version:
    folder = Path(path).resolve()
    if not (folder / "app.py").is_file():
        raise SystemExit(f"{folder} holds no app.py: pass the root of a checkout of the app")
    try:
        sha = _git("rev-parse", "HEAD", cwd=folder)[:10]
        dirty = " + uncommitted changes" if _git("status", "--porcelain", cwd=folder) else ""
        return Version(f"{folder.name} @ {sha}{dirty}", folder)
    except subprocess.CalledProcessError:
        return Version(folder.name, folder)


class Server:
    """``python -m bps_app.serve run app.py`` of one checkout, with the run log installed."""

    def __init__(self, version: Version, project: Path, port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        log.unlink(missing_ok=True)
        env = {
            **os.environ,
            "BPS_PROJECT": str(project),
            "BPS_LABELER_WARM_WORKER": "0",
            "BPS_BENCH_RUN_LOG": str(log),
            "PYTHONPATH": f"{version.path}{os.pathsep}{RUNLOG_DIR}",
        }
        self.out = open(log.with_suffix(".out"), "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bps_app.serve", "run", str(version.path / "app.py"),
             "--server.port", str(port), "--server.address", "127.0.0.1",
             "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=version.path, env=env, stdout=self.out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        if not wait_for_http(f"{self.url}/_stcore/health", self.proc, timeout=180, expect=b"ok"):
            self.stop()
            raise RuntimeError(f"the server of {version.label} did not start; see {self.out.name}")

    def runs(self) -> list[Run]:
        return parse_runs(self.log.read_text().splitlines()) if self.log.exists() else []

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.out.close()


# -- the browser ------------------------------------------------------------------------
_WATCH = """
() => {
  window.__runs = [];
  window.__plotted = [];
  const app = document.querySelector('[data-testid="stApp"]');
  if (!window.__observing) {
    window.__observing = true;
    new MutationObserver(() => window.__runs.push(app.getAttribute('data-test-script-state')))
      .observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
    // plotly's afterplot on every figure element, new ones too (a rerun may remount it)
    const hook = () => {
      for (const gd of document.querySelectorAll('.js-plotly-plot')) {
        if (gd.on && !gd.__benchHooked) {
          gd.__benchHooked = true;
          gd.on('plotly_afterplot', () => window.__plotted.push(performance.now()));
        }
      }
      requestAnimationFrame(hook);
    };
    hook();
  }
}
"""
_RESET = "() => { window.__runs = []; window.__plotted = []; return performance.now(); }"
_RAN = """(window.__runs.includes('running') && document.querySelector(
  '[data-testid="stApp"]').getAttribute('data-test-script-state') === 'notRunning')"""
_PAINTED = """(() => {
  const gd = document.querySelector('.js-plotly-plot');
  if (!gd || !gd._fullLayout || !gd._fullData || !gd._fullData.length) return false;
  return !!gd.querySelector('.gl-container canvas, .imagelayer image, .heatmaplayer image, '
    + '.layer-above image, .scatterlayer .trace');
})()"""
_PANEL = "[...document.querySelectorAll('h3')].find(h => /selected$/.test(h.innerText))"
_FLASH = """[...document.querySelectorAll('[data-testid="stAlert"]')]
  .some(e => /^Labeled/.test(e.innerText))"""
_TO_PIXELS = """(poly) => {
  const gd = document.querySelector('.js-plotly-plot');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const box = gd.getBoundingClientRect();
  return {
    points: poly.map(([x, y]) => [box.left + xa._offset + xa.l2p(x),
                                  box.top + ya._offset + ya.l2p(y)]),
    area: {left: box.left + xa._offset, top: box.top + ya._offset, w: xa._length, h: ya._length},
  };
}"""
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


class StepTimeout(Exception):
    """A step did not finish within the step timeout."""


@dataclass
class Rep:
    """One repetition's figures (seconds, bytes); None where the step did not finish."""

    paint_s: float | None = None
    paint_bytes: int | None = None
    paint_server_s: float | None = None
    drag_s: float | None = None
    lasso_s: float | None = None
    lasso_sent: int | None = None
    lasso_bytes: int | None = None
    lasso_server_s: float | None = None
    selected: int | None = None
    label_s: float | None = None
    label_bytes: int | None = None
    store_server_s: float | None = None
    rerun_server_s: float | None = None
    label_runs: str = ""
    failed: str = ""
    notes: list[str] = field(default_factory=list)


def _wait(page: Any, condition: str, timeout_s: float) -> float:
    try:
        page.wait_for_function(condition, timeout=timeout_s * 1000, polling="raf")
    except Exception as exc:
        raise StepTimeout(str(exc).splitlines()[0]) from exc
    return time.perf_counter()


def _server_s(server: Server, t0: float) -> tuple[list[Run], float]:
    time.sleep(0.3)  # the log line of the last run's end is written before the browser hears
    runs = runs_after(server.runs(), t0)
    return runs, sum(r.seconds for r in runs)


def _drawn(page: Any, t0: float, t0_page: float, t1: float, what: str, rep: Rep) -> float:
    """``t1``, or later if plotly finished drawing a figure after it (its afterplot event,
    waited for up to 5 s): the moment the map is painted."""
    try:
        page.wait_for_function("(t) => window.__plotted.some(p => p >= t)", arg=t0_page,
                               timeout=5000)  # fmt: skip
    except Exception:  # noqa: BLE001 - no figure drawn since the input
        rep.notes.append(f"no plotly afterplot event after the {what}")
        return t1
    t_plot = page.evaluate("() => Math.max(...window.__plotted)")
    return max(t1, t0 + (t_plot - t0_page) / 1000)


def one_rep(
    page: Any, server: Server, poly: NDArray[np.float64], timeout_s: float, paint_timeout_s: float
) -> Rep:
    """One session: first paint, lasso, label. A step not done in time ends the session."""
    rep = Rep()
    counter = ByteCounter()
    counter.attach(page)
    step = "first paint"
    try:
        page.goto(server.url, timeout=timeout_s * 1000)
        page.wait_for_selector(IDLE, timeout=timeout_s * 1000)
        name = page.get_by_role("textbox", name="Your name")
        if name.count():
            name.fill("bench")
            name.press("Enter")
            page.wait_for_timeout(500)
            page.wait_for_selector(IDLE, timeout=timeout_s * 1000)
        page.evaluate(_WATCH)
        link = page.get_by_role("link", name="Explore and label").first
        mark, t_mono = counter.mark(), time.monotonic()
        t0, t0_page = time.perf_counter(), page.evaluate(_RESET)
        link.click()
        t1 = _wait(page, f"() => {_RAN} && {_PAINTED}", paint_timeout_s)
        t1 = _drawn(page, t0, t0_page, t1, "first paint", rep)
        page.wait_for_timeout(1000)  # frames still on their way count to the paint
        rep.paint_s, rep.paint_bytes = t1 - t0, counter.since(mark)[0]
        rep.paint_server_s = _server_s(server, t_mono)[1]
        print(f"  first paint {rep.paint_s:.1f} s, {rep.paint_bytes / MB:.1f} MB", flush=True)

        step = "lasso"
        page.evaluate(_RESET)
        px = page.evaluate(_TO_PIXELS, poly.tolist())
        pts, area = np.array(px["points"]), px["area"]
        if not (
            (pts[:, 0] > area["left"]).all() and (pts[:, 0] < area["left"] + area["w"]).all()
            and (pts[:, 1] > area["top"]).all() and (pts[:, 1] < area["top"] + area["h"]).all()
        ):  # fmt: skip
            raise StepTimeout(f"the lasso polygon leaves the plot area {area}: {pts.tolist()}")
        page.mouse.move(*pts[0])
        t_down = time.perf_counter()
        page.mouse.down()
        for vx, vy in [*pts[1:], pts[0]]:  # one move per corner: plotly reselects on each
            page.mouse.move(vx, vy)
        rep.drag_s = time.perf_counter() - t_down
        mark, t_mono = counter.mark(), time.monotonic()
        t0 = time.perf_counter()
        page.mouse.up()
        t1 = _wait(page, f"() => {_RAN} && !!({_PANEL})", timeout_s)
        rep.lasso_s = t1 - t0
        heading = page.evaluate(f"() => ({_PANEL}).innerText")
        rep.selected = int(re.sub(r"\D", "", heading.split()[0]) or 0)
        page.wait_for_timeout(1000)
        rep.lasso_bytes, rep.lasso_sent = counter.since(mark)
        rep.lasso_server_s = _server_s(server, t_mono)[1]
        print(f"  lasso {rep.lasso_s:.1f} s, {rep.selected:,} selected", flush=True)

        step = "label"
        button = page.get_by_role("button", name=re.compile(r"^Label [\d,]+ as"))
        button.wait_for(timeout=timeout_s * 1000)
        mark, t_mono = counter.mark(), time.monotonic()
        t0, t0_page = time.perf_counter(), page.evaluate(_RESET)
        button.click()
        t1 = _wait(page, f"() => {_RAN} && {_FLASH} && {_PAINTED}", timeout_s)
        rep.label_s = _drawn(page, t0, t0_page, t1, "label click", rep) - t0
        page.wait_for_timeout(1000)
        rep.label_bytes = counter.since(mark)[0]
        runs, total = _server_s(server, t_mono)
        if len(runs) == 1:  # the store and the redraw in one run
            rep.rerun_server_s = runs[0].seconds
            rep.notes.append("the label click caused one run (store and redraw together)")
        elif runs:
            rep.store_server_s = runs[0].seconds
            rep.rerun_server_s = sum(r.seconds for r in runs[1:])
        rep.label_runs = " + ".join(
            f"{r.seconds * 1000:.0f}{' (fragment)' if r.fragment else ''}" for r in runs
        )
    except StepTimeout as exc:
        shot = WORK / f"mappage1m_{step.replace(' ', '_')}_timeout.png"
        with contextlib.suppress(Exception):  # a hung page may not take a screenshot either
            page.screenshot(path=str(shot))
        limit = paint_timeout_s if step == "first paint" else timeout_s
        rep.failed = f"{step}: not done after {limit:.0f} s ({exc})"
        print(rep.failed, flush=True)
    return rep


def run_version(
    version: Version, project: Path, poly: NDArray[np.float64], reps: int, timeout_s: float,
    cold_timeout_s: float, port: int,
) -> list[Rep]:  # fmt: skip
    """``reps`` fresh sessions against one server of ``version`` on its own project copy. The
    first paint of the first session (the cold one) may take ``cold_timeout_s``; a session
    that timed out leaves the server to finish its work for the next session, which is
    timed as usual; two timeouts in a row end the version."""
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS

    tag = re.sub(r"\W+", "_", version.label)[:40]
    copy = fresh_copy(project, tag)
    server = Server(version, copy, port, WORK / f"mappage1m_{tag}.runlog")
    out: list[Rep] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            for i in range(reps):
                context = browser.new_context(viewport={"width": 1400, "height": 1100})
                paint_timeout_s = cold_timeout_s if i == 0 else timeout_s
                rep = one_rep(context.new_page(), server, poly, timeout_s, paint_timeout_s)
                context.close()
                print(f"{version.label} rep {i + 1}: {rep}", flush=True)
                out.append(rep)
                if rep.failed and len(out) > 1 and out[-2].failed:
                    break
            browser.close()
    finally:
        server.stop()
        shutil.rmtree(copy, ignore_errors=True)
    return out


def _median(values: Sequence[float | int | None]) -> float | None:
    got = [v for v in values if v is not None]
    return statistics.median(got) if got else None


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "MB":
        return f"{value / MB:.2f} MB"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "ms":
        return f"{value * 1000:.0f} ms"
    return f"{value:,.0f}"


def rows_for(version: Version, n: int, reps: list[Rep]) -> list[dict[str, str]]:
    """One row per measure: the median over the repetitions that got there (the first paint:
    the cold repetition apart from the warm ones)."""
    warm = reps[1:]
    failed = "; ".join(f"session {i + 1}: {r.failed}" for i, r in enumerate(reps) if r.failed)

    def row(measure: str, values: list[Any], unit: str, target: float | None = None) -> dict:
        med = _median(values)
        runs = ", ".join(_fmt(v, unit) for v in values if v is not None) or "-"
        if target is None:
            goal, met = "-", "-"
        else:
            goal = f"<= {_fmt(target, unit)}"
            met = "-" if med is None else ("yes" if med <= target else "**no**")
        return {"page": version.label, "points": f"{n:,}", "measure": measure,
                "median": _fmt(med, unit), "runs": runs, "target": goal, "met": met}  # fmt: skip

    out = [
        row("first paint, cold: websocket bytes", [reps[0].paint_bytes], "MB", TARGET_BYTES),
        row("first paint, cold: click to painted", [reps[0].paint_s], "s"),
        row("first paint, cold: server time", [reps[0].paint_server_s], "ms"),
        row("first paint, warm: websocket bytes", [r.paint_bytes for r in warm], "MB",
            TARGET_BYTES),
        row("first paint, warm: click to painted", [r.paint_s for r in warm], "s"),
        row("first paint, warm: server time", [r.paint_server_s for r in warm], "ms"),
        row("lasso: points selected", [r.selected for r in reps], ""),
        row("lasso: bytes sent by the browser", [r.lasso_sent for r in reps], "MB"),
        row("lasso: websocket bytes received", [r.lasso_bytes for r in reps], "MB"),
        row("lasso: drag (25 mouse moves)", [r.drag_s for r in reps], "s"),
        row("lasso: release to panel", [r.lasso_s for r in reps], "s"),
        row("lasso: server time", [r.lasso_server_s for r in reps], "ms"),
        row("label: websocket bytes received", [r.label_bytes for r in reps], "MB",
            TARGET_BYTES),
        row("label: click to recoloured map", [r.label_s for r in reps], "s"),
        row("label: server time of the store run", [r.store_server_s for r in reps], "ms"),
        row("label: server time of the rerun", [r.rerun_server_s for r in reps], "ms",
            TARGET_RERUN_S),
    ]  # fmt: skip
    if failed:
        out.append({"page": version.label, "points": f"{n:,}", "measure": "**timed out**",
                    "median": "-", "runs": failed, "target": "-", "met": "**no**"})  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--lasso", type=int, default=LASSO_POINTS, help="points in the lasso")
    parser.add_argument("--reps", type=int, default=3, help="sessions per page version")
    parser.add_argument("--ref", action="append", default=[], help="a git ref of the app")
    parser.add_argument("--checkout", action="append", default=[], help="a folder with app.py")
    parser.add_argument("--step-timeout", type=float, default=600.0, help="seconds per step")
    parser.add_argument(
        "--cold-timeout", type=float, default=1800.0, help="seconds for the cold first paint"
    )
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--name", default="mappage1m", help="the results file's name")
    parser.add_argument(
        "--append", action="store_true", help="keep the other versions' rows of the results file"
    )
    args = parser.parse_args()

    project = build_project(args.n)
    if args.build_only:
        return
    # Resolved when their turn comes, so a ref names its commit at that moment.
    refs = args.ref or ([] if args.checkout else ["main"])
    versions = [functools.partial(export_ref, r) for r in refs]
    versions += [functools.partial(checkout_version, c) for c in args.checkout]
    xy = map_xy(project)
    poly, inside = polygon_holding(xy, min(args.lasso, len(xy)))
    print(f"lasso polygon holds {inside:,} of {len(xy):,} points", flush=True)
    rows: list[dict[str, str]] = []
    lines: list[str] = []
    for i, resolve in enumerate(versions):
        version = resolve()
        reps = run_version(version, project, poly, args.reps, args.step_timeout,
                           args.cold_timeout, PORTS[i])  # fmt: skip
        rows += rows_for(version, args.n, reps)
        lines.append(run_line(version, args.n, inside, reps))
    if args.append:
        rows, lines = merged(args.name, rows, lines)
    write_results(args.name, rows, GENERAL + RUNS + "\n".join(lines))


GENERAL = (
    "Synthetic project from `create_embedding_project` (128-d, seed 0, PCA map; every TIFF a "
    "hard link to an image, so thumbnails decode: in the runs below a 64x64 random 16-bit "
    "image linked by an earlier version of this script, now `create_embedding_project`'s "
    "rendered crops). A lasso polygon of 24 corners, "
    "sized by the map arrays to hold 100,000 points (at 1M; 10% of the points at other sizes "
    "unless said), dragged with the mouse, one move per corner; the first class ('track') "
    "applied to it. Fresh "
    "sessions on one server per page version, the first one cold; medians over the sessions "
    "that reached the step, each session's value under 'runs'. Bytes: websocket payloads "
    "(thumbnails come over HTTP and are not counted). Server time: the script runs the input "
    "caused, from their start to Streamlit's end-of-run event, logged by a hook on "
    "Streamlit's ScriptRunner (bench/_runlog/sitecustomize.py), which leaves the page as it "
    "is. Chromium (software WebGL) and the server ran on one machine of 2 cores shared with "
    "other helpers' work at the time (`nice -n 15`), so times are upper bounds."
)
RUNS = "\n\nRuns:\n\n"


def run_line(version: Version, n: int, inside: int, reps: list[Rep]) -> str:
    """One line of notes on a version's run: what the table cannot show."""
    notes = sorted({note for r in reps for note in r.notes})
    runs = " | ".join(r.label_runs for r in reps if r.label_runs) or "-"
    return (
        f"- {version.label}, {n:,} points ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC): "
        f"{len(reps)} session(s); the polygon holds {inside:,} points by the map arrays; "
        f"the label click's script runs, ms in order per session: {runs}"
        + (f"; {'; '.join(notes)}" if notes else "")
        + "."
    )


def merged(
    name: str, rows: list[dict[str, str]], lines: list[str]
) -> tuple[list[dict[str, str]], list[str]]:
    """These rows and lines after the earlier ones of ``bench/results/<name>.json``, less the
    earlier rows of the same page version and size (a rerun replaces them)."""
    from _common import RESULTS

    path = RESULTS / f"{name}.json"
    if not path.exists():
        return rows, lines
    old = json.loads(path.read_text())
    fresh = {(r["page"], r["points"]) for r in rows}
    keep = [r for r in old["rows"] if (r["page"], r["points"]) not in fresh]
    old_lines = old["notes"].split(RUNS, 1)[1].splitlines() if RUNS in old["notes"] else []
    labels = {f"- {page}, {points} points" for page, points in fresh}
    keep_lines = [ln for ln in old_lines if ln.strip() and ln.split(" (")[0] not in labels]
    return keep + rows, keep_lines + lines


if __name__ == "__main__":
    main()
