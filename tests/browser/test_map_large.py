"""The map at 200,000 samples: a density overview, a lasso selected on the server from its
shape, labeled, and the new class in the legend (issue 21: the app stays usable at 1M)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bps_core.mapview import points_in_polygon
from bps_core.project import Project
from bps_core.projection import current_map
from bps_core.synthetic.embedding_project import create_embedding_project
from tests.browser.conftest import StreamlitServer, sign_in_and_open, wait_idle
from tests.helpers import points_in_polygon as brute_force_in_polygon

pytestmark = pytest.mark.browser

N = 200_000

_PLOT = """() => { const g = document.querySelector('.js-plotly-plot');
  return !!(g && g._fullLayout && g._fullData && g._fullData.length); }"""
_AXES = """() => { const gd = document.querySelector('.js-plotly-plot');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const box = gd.getBoundingClientRect();
  return {left: box.left + xa._offset, top: box.top + ya._offset, w: xa._length, h: ya._length,
          types: gd._fullData.map(t => t.type)}; }"""
# The lasso plotly drew, in map coordinates: what the browser reports to the server.
_LASSO = """() => { const gd = document.querySelector('.js-plotly-plot');
  const s = (gd.layout.selections || gd._fullLayout.selections || []);
  return s.filter(x => x.path).map(x => x.path); }"""
_LEGEND = """() => Array.from(document.querySelectorAll('.js-plotly-plot .legendtext'))
  .map(e => e.textContent)"""


@pytest.fixture(scope="module")
def big_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("big") / "project"
    create_embedding_project(folder, N).close()
    return folder


def _path_polygon(path: str) -> list[tuple[float, float]]:
    """A plotly selection path "Mx,yLx,y...Z" as vertices."""
    points = path.replace("M", "").replace("Z", "").split("L")
    return [(float(a), float(b)) for a, b in (p.split(",") for p in points)]


def test_map_200k__overview_lasso_labels_exactly_the_points_inside(big_project: Path, page) -> None:
    server = StreamlitServer(big_project)
    try:
        sign_in_and_open(page, server.url, "big-tester", "Explore and label")
        page.wait_for_function(_PLOT, timeout=120_000, polling=500)
        wait_idle(page, 120_000)
        page.get_by_text(f"Density overview of {N:,} samples").wait_for(timeout=60_000)
        ax = page.evaluate(_AXES)
        # The overview lists no point: an image, a heat map of counts, empty legend traces.
        assert ax["types"][:2] == ["image", "heatmap"]
        cx, cy = ax["left"] + ax["w"] * 0.45, ax["top"] + ax["h"] * 0.45
        r = min(ax["w"], ax["h"]) * 0.08
        hexagon = [(cx + r * np.cos(a), cy + r * np.sin(a))
                   for a in np.linspace(0, 2 * np.pi, 7)[:-1]]  # fmt: skip
        page.mouse.move(*hexagon[0])
        page.mouse.down()
        for vx, vy in [*hexagon[1:], hexagon[0]]:
            page.mouse.move(vx, vy, steps=8)
        page.mouse.up()
        page.wait_for_function(f"() => ({_LASSO})().length > 0", timeout=30_000, polling=200)
        paths = page.evaluate(_LASSO)
        assert len(paths) == 1
        polygon = _path_polygon(paths[0])
        with Project.open(big_project) as p:
            m = current_map(p)
            assert m is not None
            x, y = m.xy[:, 0], m.xy[:, 1]
            inside = points_in_polygon(x, y, polygon)
            xy = np.column_stack([x, y]).astype(np.float64)
            np.testing.assert_array_equal(inside, brute_force_in_polygon(xy, polygon))
            expected = {k for k, ok in zip(m.keys, inside.tolist(), strict=True) if ok}
        n = len(expected)
        assert 1_000 < n < N // 2
        page.get_by_text(f"{n:,} selected").wait_for(timeout=60_000)
        wait_idle(page, 60_000)
        # The synthetic project defines track, foci and none: the form starts on the first.
        page.get_by_role("button", name=f"Label {n:,} as 'track'").click(timeout=60_000)
        page.get_by_text(f"Labeled {n:,} samples as 'track'").wait_for(timeout=90_000)
        with Project.open(big_project) as p:
            cur = p.current_labels()
            assert set(cur.key) == expected
            assert set(cur.label) == {"track"}
            assert (p.samples().status == "ok").all()
        wait_idle(page, 60_000)
        page.wait_for_function(
            f"() => ({_LEGEND})().some(t => t.startsWith('track ({n:,})'))",
            timeout=60_000, polling=500,
        )  # fmt: skip
    finally:
        server.stop()
