"""Interaction latency a labeler feels, in a real browser (issue 20).

Playwright drives Debian's Chromium (the flags of tests/browser/conftest.py) against
``bps_app.serve run app.py`` on a 77,180-sample project built from synthetic embeddings
(``bps_core.synthetic.embedding_project``) whose TIFFs are hard links to rendered 16-bit
crops of each sample's condition.
Each figure is the time from the input (key press, mouse release, click) until the page is
idle with the new content there: Streamlit's script state back at ``notRunning`` after a run
the input caused, the expected content in the DOM, checked on animation frames
(``polling="raf"``), so the frame that shows it has been laid out. Four interactions, median
and p90 over N_REPS each:

(a) Label queue: a class digit labels the image and the next one is shown;
(b) Explore map: releasing a lasso until the selection panel ("N selected") is shown;
(c) Explore map: "Label N as ..." until the page reran and the map is redrawn with the
    new colours (the flash line of that run shown);
(d) page switch in the sidebar: to the Label queue and to Explore and label (map drawn).

With the map step, one more row is the browser's own floor under (b) and (c): the time of one
redraw of the map's WebGL points, forced on the chart's scene (``_scene.draw()``) until two
animation frames later, with no server and no Streamlit involved. A lasso redraws every point
once on release (plotly dims the unselected ones) and a label recolours them, so neither (b)
nor (c) can be shorter than this row. With ``--disable-gpu`` WebGL runs in software
(SwiftShader): its cost is the machine's, not the app's.

The naive peer of the map (bench/naive/map_page.py) loads the default UMAP map; this project
holds a PCA map only, so it is not timed here (bench/bench_rerun.py times it on a UMAP map).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from _common import PLOT_AXES_JS as _AXES  # noqa: E402
from _common import WORK, write_results  # noqa: E402

from bps_core.synthetic.embedding_project import create_embedding_project  # noqa: E402
from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS, StreamlitServer  # noqa: E402

N = int(os.environ.get("BENCH_N", "77180"))
N_REPS = int(os.environ.get("BENCH_REPS", "20"))
STEPS = ("keypress", "map", "switch")
TARGETS = {"keypress": 0.150, "lasso": 0.400, "label": 0.500, "switch": 0.700}

_WATCH = """
() => {
  window.__runs = [];
  const app = document.querySelector('[data-testid="stApp"]');
  if (!window.__observing) {
    window.__observing = true;
    new MutationObserver(() => window.__runs.push(app.getAttribute('data-test-script-state')))
      .observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
  }
}
"""
_RAN = """(window.__runs.includes('running') && document.querySelector(
  '[data-testid="stApp"]').getAttribute('data-test-script-state') === 'notRunning')"""
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
_IDLE_NOW = f"!!document.querySelector('{IDLE}')"


def build_project(keep: bool = False) -> Path:
    """The project at ``bench/_work/interaction_<N>``, built afresh unless ``keep`` and it
    exists (the labels of earlier runs stay: for trying one step while developing)."""
    folder = WORK / f"interaction_{N}"
    if keep and (folder / "project.db").exists():
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    # Every sample's TIFF is a hard link to a rendered 16-bit crop of its condition, so the
    # images decode as in a real project (an image-less sample would be marked bad on sight, a
    # samples change that rebuilds every cache on each key press).
    create_embedding_project(folder, N).close()
    return folder


def _wait(page, condition: str, arg=None, timeout: int = 120_000) -> float:  # type: ignore[no-untyped-def]
    page.wait_for_function(condition, arg=arg, timeout=timeout, polling="raf")
    return time.perf_counter()


def sign_in(page, url: str, link: str | None) -> None:  # type: ignore[no-untyped-def]
    page.goto(url)
    page.wait_for_selector(IDLE, timeout=180_000)
    if link is None:
        return
    name = page.get_by_role("textbox", name="Your name")
    name.fill("bench")
    name.press("Enter")
    page.wait_for_timeout(500)
    page.wait_for_selector(IDLE, timeout=180_000)
    page.get_by_role("link", name=link).first.click()
    page.wait_for_selector(IDLE, timeout=180_000)


def keypresses(page, url: str) -> tuple[list[float], int]:  # type: ignore[no-untyped-def]
    """(a) digit 1 labels the image shown; timed until the next file name is shown."""
    sign_in(page, url, "Label queue")
    page.get_by_role("button", name="Start").click()
    page.wait_for_selector("strong:text-matches('\\\\.tif$')", timeout=180_000)
    page.wait_for_selector(IDLE)
    page.locator("h1").first.click()
    page.evaluate(_WATCH)
    times, dropped = [], 0
    name_js = """(prev) => {
      const s = [...document.querySelectorAll('strong')].find(e => /\\.tif$/.test(e.innerText));
      return s && s.innerText !== prev && RAN;
    }""".replace("RAN", _RAN)
    get_name = """() => [...document.querySelectorAll('strong')]
        .find(e => /\\.tif$/.test(e.innerText)).innerText"""
    while len(times) < N_REPS + 1:  # the first is a warm-up
        page.wait_for_timeout(300)
        prev = page.evaluate(get_name)
        page.evaluate("() => { window.__runs = []; }")
        t0 = time.perf_counter()
        page.keyboard.press("1")
        try:
            t1 = _wait(page, name_js, prev, timeout=5_000)
        except Exception:  # noqa: BLE001 - headless Chromium now and then drops a key event
            if page.evaluate("() => window.__runs.length") == 0:
                dropped += 1
                continue
            t1 = _wait(page, name_js, prev)
        times.append(t1 - t0)
    return times[1:], dropped


def _hexagon(ax: dict[str, float], fx: float, fy: float, fr: float) -> list[tuple[float, float]]:
    cx, cy = ax["left"] + ax["w"] * fx, ax["top"] + ax["h"] * fy
    r = min(ax["w"], ax["h"]) * fr
    return [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 7)]


def _lasso(page, hexagon) -> float:  # type: ignore[no-untyped-def]
    page.mouse.move(*hexagon[0])
    page.mouse.down()
    for vx, vy in hexagon[1:]:
        page.mouse.move(vx, vy, steps=6)
    page.evaluate("() => { window.__runs = []; }")
    t0 = time.perf_counter()
    page.mouse.up()
    return t0


_REDRAW = """async () => {
  const gd = document.querySelector('.js-plotly-plot');
  const frames = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  await frames();
  const t0 = performance.now();
  gd._fullLayout._plots.xy._scene.draw();
  await frames();
  return (performance.now() - t0) / 1000;
}"""


def redraws(page) -> list[float]:  # type: ignore[no-untyped-def]
    """The floor under (b) and (c): one forced redraw of the map's points, N_REPS times after a
    warm-up, in seconds (the chart must be drawn)."""
    return [page.evaluate(_REDRAW) for _ in range(N_REPS + 1)][1:]


_PANEL_TEXT = """(([...document.querySelectorAll('h3')].find(h => /selected$/.test(h.innerText))
    || {}).innerText || '')"""


def map_interactions(page, url: str, link: str | None, label: bool) -> dict[str, list[float]]:  # type: ignore[no-untyped-def]
    """(b) lasso release to the panel; (c) the label button to the recoloured map (ours)."""
    sign_in(page, url, link)
    page.wait_for_selector(".js-plotly-plot .gl-container canvas", timeout=180_000)
    page.wait_for_selector(IDLE)
    page.wait_for_timeout(1500)
    page.evaluate(_WATCH)
    ax = page.evaluate(_AXES)
    out: dict[str, list[float]] = {"lasso": [], "label": [], "redraw": redraws(page)}
    for i in range(N_REPS + 1):
        # Alternate two regions so each lasso is a new selection. The label button's click
        # scrolls the page down to it: bring the map back into view, as a user would.
        page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
        ax = page.evaluate(_AXES)
        prev = page.evaluate(f"() => {_PANEL_TEXT}")
        t0 = _lasso(page, _hexagon(ax, 0.45 + 0.1 * (i % 2), 0.5, 0.05))
        # A new panel heading, or a run seen to start and end: a fast run's 'running' state
        # can be committed and cleared in one frame, unseen by the observer.
        try:
            t1 = _wait(
                page,
                f"""(prev) => {{ const t = {_PANEL_TEXT};
                return ({_IDLE_NOW}) && !!t && (t !== prev || {_RAN}); }}""",
                prev,
            )
        except Exception:
            page.screenshot(path=str(WORK / "interaction_lasso_timeout.png"))
            print(
                "lasso timeout at repetition",
                i,
                "panel before:",
                prev,
                "runs:",
                page.evaluate("() => window.__runs"),
                flush=True,
            )
            raise
        out["lasso"].append(t1 - t0)
        page.wait_for_timeout(300)
        if label:
            button = page.get_by_role("button", name=re.compile(r"^Label [\d,]+ as"))
            button.wait_for(timeout=60_000)
            # The flash of the last label went with the lasso's rerun (it shows once).
            page.evaluate("() => { window.__runs = []; }")
            t0 = time.perf_counter()
            button.click()
            flash = """[...document.querySelectorAll('[data-testid="stAlert"]')]
                .some(e => /^Labeled/.test(e.innerText))"""
            canvas = "document.querySelector('.js-plotly-plot .gl-container canvas')"
            try:
                # The flash is absent until the label's run shows it (the lasso's run
                # cleared the previous one): idle with the flash is that run finished.
                t1 = _wait(page, f"() => ({_IDLE_NOW}) && ({flash}) && !!{canvas}")
            except Exception:
                page.screenshot(path=str(WORK / "interaction_label_timeout.png"))
                raise
            out["label"].append(t1 - t0)
            page.wait_for_timeout(300)
    return {k: v if k == "redraw" else v[1:] for k, v in out.items() if v}


def page_switches(page, url: str) -> dict[str, list[float]]:  # type: ignore[no-untyped-def]
    """(d) the sidebar links, both ways: to the queue (title shown), to the map (drawn)."""
    sign_in(page, url, "Label queue")
    page.evaluate(_WATCH)
    out: dict[str, list[float]] = {"Explore and label": [], "Label queue": []}
    done = {
        "Explore and label": "document.querySelector('.js-plotly-plot .gl-container canvas')",
        "Label queue": "[...document.querySelectorAll('h1')].some(h => "
        "h.innerText.startsWith('Label queue'))",
    }
    for _ in range(N_REPS + 1):
        for target in ("Explore and label", "Label queue"):
            page.wait_for_timeout(300)
            link = page.get_by_role("link", name=target).first
            page.evaluate("() => { window.__runs = []; }")
            t0 = time.perf_counter()
            link.click()
            # The target's content is absent from the page switched away from, so it showing
            # proves the new run; a fast run's 'running' state can be batched away unseen.
            out[target].append(_wait(page, f"() => {_IDLE_NOW} && ({done[target]})") - t0)
    return {k: v[1:] for k, v in out.items()}


def _row(what: str, page: str, times: list[float], target: float | None) -> dict[str, str]:
    med = statistics.median(times)
    return {
        "interaction": what,
        "page": page,
        "n": str(len(times)),
        "median": f"{med * 1000:.0f} ms",
        "p90": f"{np.percentile(times, 90) * 1000:.0f} ms",
        "target (median)": (
            f"{target * 1000:.0f} ms: {'met' if med <= target else 'not met'}" if target else "-"
        ),
    }


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--steps",
        default=",".join(STEPS),
        help=f"comma-separated, of {', '.join(STEPS)} (map: lasso and label)",
    )
    ap.add_argument("--reps", type=int, default=N_REPS, help="repetitions per interaction")
    ap.add_argument(
        "--keep",
        action="store_true",
        help="reuse bench/_work/interaction_<N> when it exists (no rebuild)",
    )
    ap.add_argument(
        "--no-label",
        action="store_true",
        help="map step: lasso only, no label click between lassos",
    )
    ap.add_argument(
        "--run-log",
        type=Path,
        default=None,
        help="the server logs each script run there (bench/_runlog)",
    )
    ap.add_argument(
        "--no-write", action="store_true", help="print the table only; bench/results stays as it is"
    )
    return ap.parse_args()


def main() -> None:
    from playwright.sync_api import sync_playwright

    global N_REPS
    args = _args()
    N_REPS = args.reps
    steps = set(args.steps.split(","))
    if unknown := steps - set(STEPS):
        raise SystemExit(f"unknown step(s) {', '.join(sorted(unknown))}: use {', '.join(STEPS)}")
    load_start = os.getloadavg()[0]
    folder = build_project(keep=args.keep)
    if args.run_log is not None:  # bench/_runlog/sitecustomize.py hooks the server's runs
        args.run_log.unlink(missing_ok=True)
        os.environ["BPS_BENCH_RUN_LOG"] = str(args.run_log.resolve())
        os.environ["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT / "bench" / "_runlog"), os.environ.get("PYTHONPATH", str(ROOT))]
        )
    rows = []
    dropped = 0
    ours = StreamlitServer(folder)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)

            def fresh():  # type: ignore[no-untyped-def]
                return browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()

            if "keypress" in steps:
                keys, dropped = keypresses(p := fresh(), ours.url)
                p.context.close()
                rows.append(_row("(a) digit key to next image", "ours: Label queue", keys,
                                 TARGETS["keypress"]))  # fmt: skip
            if "map" in steps:
                m = map_interactions(p := fresh(), ours.url, "Explore and label",
                                     label=not args.no_label)  # fmt: skip
                p.context.close()
                rows.append(_row("(b) lasso release to panel", "ours: Explore and label",
                                 m["lasso"], TARGETS["lasso"]))  # fmt: skip
                rows.append(_row(f"floor of (b) and (c): one redraw of {N:,} points",
                                 "plotly.js alone (software WebGL)", m["redraw"],
                                 None))  # fmt: skip
                if "label" in m:
                    rows.append(_row("(c) label click to recoloured map",
                                     "ours: Explore and label", m["label"],
                                     TARGETS["label"]))  # fmt: skip
            if "switch" in steps:
                sw = page_switches(p := fresh(), ours.url)
                p.context.close()
                for target, times in sw.items():
                    rows.append(_row(f"(d) page switch to {target}", "ours: sidebar link",
                                     times, TARGETS["switch"]))  # fmt: skip
            browser.close()
    finally:
        ours.stop()
    if args.no_write or steps != set(STEPS):
        print(f"load average {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
        for row in rows:
            print(" | ".join(row.values()))
        return
    write_results(
        "interaction",
        rows,
        notes=f"{N:,} samples from `create_embedding_project` (synthetic clustered embeddings, "
        "PCA map; every sample's TIFF is a hard link to one of 34 rendered 16-bit crops of its "
        "condition, so images decode and encode as in a real project). Time from the input to "
        "the page idle (script state `notRunning` after a run the input caused) with the new "
        f"content in the DOM, checked on animation frames; {N_REPS} repetitions after one warm-up. "
        f"Headless key presses dropped by Chromium and repeated: {dropped}. Chromium "
        "(software WebGL) and the server on one machine of 2 cores (load average "
        f"{load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end). "
        "Not timed: the naive peer (bench/naive/map_page.py) loads the default UMAP map, and "
        "this project holds a PCA map only. Where the server's time goes: "
        "`bench/profile_interaction.py` (py-spy), in `interaction_profile_keypress.md` and "
        "`interaction_profile_switch.md` next to this file.",
    )


if __name__ == "__main__":
    main()
