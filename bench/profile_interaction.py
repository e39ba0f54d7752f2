"""Where a rerun's time goes on the server (issue 20): py-spy samples ``streamlit run`` while
Playwright presses queue keys, draws lassos on the map or switches pages on the
bench_interaction project.

Usage: ``python bench/profile_interaction.py [keypress|lasso|switch]`` (``summarise WHAT``
writes the summary again from the last stacks) after
``bench/bench_interaction.py`` built ``bench/_work/interaction_<N>`` (or it builds one). Writes
the collapsed stacks to ``bench/_work/profile_<what>.txt`` and the summary to
``bench/results/interaction_profile_<what>.md``: for the script-run
thread, the share of samples per top-level part (ours: ``app.py``, ``pages/``, ``bps_app``,
``bps_core``; Streamlit's own: script-run setup, forward messages, caches) and the heaviest
functions of ours, inclusive. Samples are wall-clock at 250 Hz with idle samples left out.
"""

from __future__ import annotations

import collections
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
import bench_interaction as bi  # noqa: E402
from _common import RESULTS, WORK  # noqa: E402

from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS, StreamlitServer  # noqa: E402

PY_SPY = Path(sys.executable).parent / "py-spy"
REPS = int(os.environ.get("BENCH_REPS", "20"))


def _drive(what: str, page, url: str) -> None:  # type: ignore[no-untyped-def]
    if what == "keypress":
        bi.sign_in(page, url, "Label queue")
        page.get_by_role("button", name="Start").click()
        page.wait_for_selector("strong:text-matches('\\\\.tif$')", timeout=180_000)
        page.wait_for_selector(bi.IDLE)
        page.locator("h1").first.click()
        for _ in range(3):  # warm-up
            page.keyboard.press("1")
            page.wait_for_timeout(800)
            page.wait_for_selector(bi.IDLE)
    elif what == "lasso":
        bi.sign_in(page, url, "Explore and label")
        page.wait_for_selector(".js-plotly-plot .gl-container canvas", timeout=180_000)
        page.wait_for_selector(bi.IDLE)
        page.wait_for_timeout(1500)
        for i in range(3):  # warm-up
            _one_lasso(page, i)
    else:
        bi.sign_in(page, url, "Label queue")
        for target in ("Explore and label", "Label queue"):
            page.get_by_role("link", name=target).first.click()
            page.wait_for_timeout(1500)
            page.wait_for_selector(bi.IDLE, timeout=180_000)


def _one_lasso(page, i: int) -> None:  # type: ignore[no-untyped-def]
    """A lasso around one of two regions (alternating, so each is a new selection)."""
    page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
    bi._lasso(page, bi._hexagon(page.evaluate(bi._AXES), 0.45 + 0.1 * (i % 2), 0.5, 0.05))
    page.wait_for_timeout(1200)
    page.wait_for_selector(bi.IDLE, timeout=60_000)


def _act(what: str, page) -> None:  # type: ignore[no-untyped-def]
    if what == "keypress":
        for _ in range(REPS):
            page.keyboard.press("1")
            page.wait_for_timeout(700)
            page.wait_for_selector(bi.IDLE, timeout=60_000)
    elif what == "lasso":
        for i in range(REPS):
            _one_lasso(page, i + 1)
    else:
        for _ in range(REPS // 2):
            for target in ("Explore and label", "Label queue"):
                page.get_by_role("link", name=target).first.click()
                page.wait_for_timeout(1200)
                page.wait_for_selector(bi.IDLE, timeout=60_000)


_OURS = re.compile(r"\((bps_app/|bps_core/|app\.py|home\.py|\d_\w+\.py)")
_LIB = re.compile(r"\(([\w]+)[/.]")


def _library(frame: str) -> str:
    if _OURS.search(frame):
        return "ours"
    m = _LIB.search(frame)
    return m.group(1) if m else "?"


def summarise(path: Path) -> str:
    """The script-run thread's samples: per part, per library of the leaf, heaviest of ours."""
    parts: collections.Counter[str] = collections.Counter()
    leaf: collections.Counter[str] = collections.Counter()
    ours: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not frames[0].endswith("ScriptRunner.scriptThread"):
            continue  # other threads (the tornado loop, the job worker)
        n = int(count)
        total += n
        mine = [f for f in frames if _OURS.search(f) and "<module> (app.py" not in f]
        if not any("_run_script " in f for f in frames):
            parts["streamlit: script runner outside the run"] += n
        elif not mine:
            parts["streamlit: the run, outside our code (setup, navigation, finish)"] += n
        elif _library(frames[-1]) == "ours":
            parts["ours: our code itself"] += n
        elif _library(frames[-1]) == "streamlit":
            parts["ours calling streamlit (elements, caches, marshalling)"] += n
        else:
            parts[f"ours calling {_library(frames[-1])}"] += n
        leaf[_library(frames[-1])] += n
        for f in dict.fromkeys(mine):
            ours[f] += n
    pct = lambda n: f"{n / max(total, 1):6.1%}"  # noqa: E731
    lines = [f"script-run thread: {total} samples (4 ms each, idle left out)"]
    lines += [f"  {pct(n)}  {p}" for p, n in parts.most_common()]
    lines.append("by the library of the innermost frame:")
    lines += [f"  {pct(n)}  {p}" for p, n in leaf.most_common(8)]
    lines.append("heaviest of ours (inclusive):")
    lines += [f"  {pct(n)}  {f}" for f, n in ours.most_common(15)]
    return "\n".join(lines)


def main() -> None:
    from playwright.sync_api import sync_playwright

    what = sys.argv[1] if len(sys.argv) > 1 else "keypress"
    folder = WORK / f"interaction_{bi.N}"
    if not folder.exists():
        folder = bi.build_project()
    server = StreamlitServer(folder)
    out = WORK / f"profile_{what}.txt"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
            _drive(what, page, server.url)
            spy = subprocess.Popen(
                [str(PY_SPY), "record", "--pid", str(server.proc.pid), "--rate", "250",
                 "--format", "raw", "--threads", "--output", str(out), "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            )  # fmt: skip
            time.sleep(1.5)
            t0 = time.perf_counter()
            _act(what, page)
            print(f"{what}: {REPS} actions in {time.perf_counter() - t0:.1f} s")
            spy.send_signal(2)
            spy.wait(timeout=60)
            browser.close()
    finally:
        server.stop()
    write_summary(what, out)


def write_summary(what: str, stacks: Path) -> None:
    """Writes ``bench/results/interaction_profile_<what>.md`` from the collapsed stacks."""
    summary = summarise(stacks)
    RESULTS.mkdir(parents=True, exist_ok=True)
    when = datetime.fromtimestamp(stacks.stat().st_mtime, UTC).isoformat(timespec="minutes")
    (RESULTS / f"interaction_profile_{what}.md").write_text(
        f"py-spy of the server while Playwright did {REPS} {what} actions on {bi.N:,} samples "
        f"({when}; one machine of 2 cores, load average {os.getloadavg()[0]:.1f} when "
        f"summarised, at nice {os.nice(0)}); the script-run thread's samples:\n\n"
        f"```\n{summary}\n```\n"
    )
    print(summary)


if __name__ == "__main__":
    if sys.argv[1:2] == ["summarise"]:  # again from the stacks of the last run
        write_summary(sys.argv[2], WORK / f"profile_{sys.argv[2]}.txt")
    else:
        main()
