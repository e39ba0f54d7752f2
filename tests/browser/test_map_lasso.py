"""Drag a real lasso over the map, label the selection, check the database, then undo."""

from __future__ import annotations

import numpy as np
import pytest

from bps_core.embeddings import EmbedConfig, compute_embeddings
from bps_core.project import Project
from bps_core.projection import get_or_compute_map
from tests.browser.conftest import sign_in_and_open, wait_idle
from tests.helpers import clear_hexagon

pytestmark = pytest.mark.browser

_AXES_JS = """
() => {
  const gd = document.querySelector('.js-plotly-plot');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const box = gd.getBoundingClientRect();
  const traces = gd._fullData.map(t => ({x: Array.from(t.x), y: Array.from(t.y),
                                    ids: Array.from(t.customdata)}));
  return {left: box.left + xa._offset, top: box.top + ya._offset,
          xr: xa.range, yr: ya.range, w: xa._length, h: ya._length, traces: traces};
}
"""


def _to_px(ax: dict, x: float, y: float) -> tuple[float, float]:
    (x0, x1), (y0, y1) = ax["xr"], ax["yr"]
    return (ax["left"] + (x - x0) / (x1 - x0) * ax["w"], ax["top"] + (y1 - y) / (y1 - y0) * ax["h"])


def click_a_lonely_point(page, project: Project) -> str:  # type: ignore[no-untyped-def]
    """Clicks the map point farthest from its nearest neighbour (a click there can hit no
    other point); returns its relative path."""
    ax = page.evaluate(_AXES_JS)
    xy = np.array([[x, y] for t in ax["traces"] for x, y in zip(t["x"], t["y"], strict=True)])
    ids = [i for t in ax["traces"] for i in t["ids"]]
    px = np.array([_to_px(ax, x, y) for x, y in xy])
    d = np.hypot(*(px[:, None, :] - px[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(d, np.inf)
    i = int(np.argmax(d.min(axis=1)))
    page.mouse.move(*px[i])
    page.wait_for_timeout(300)
    page.mouse.click(*px[i])
    return str(project.samples().set_index("sample_id").relpath[ids[i]])


def test_lasso__labels_exactly_the_points_inside_then_undo(
    tiny_project: Project, page, serve
) -> None:
    compute_embeddings(tiny_project, EmbedConfig(method="pixels", image_size=32))
    get_or_compute_map(tiny_project)
    server = serve(tiny_project.folder)
    sign_in_and_open(page, server.url, "lasso-tester", "Explore and label")
    page.wait_for_selector(".js-plotly-plot .gl-container canvas", timeout=60_000)
    page.wait_for_timeout(1500)
    ax = page.evaluate(_AXES_JS)
    xy = np.array([[x, y] for t in ax["traces"] for x, y in zip(t["x"], t["y"], strict=True)])
    ids = [i for t in ax["traces"] for i in t["ids"]]
    key_of = tiny_project.samples().set_index("sample_id").key
    keys = [key_of[i] for i in ids]
    px = np.array([_to_px(ax, x, y) for x, y in xy])
    # A hexagon in screen space around the densest third of the points.
    hexagon, inside = clear_hexagon(px, 40)
    assert 10 < inside.sum() < len(keys) - 10
    page.mouse.move(*hexagon[0])
    page.mouse.down()
    for vx, vy in [*hexagon[1:], hexagon[0]]:
        page.mouse.move(vx, vy, steps=12)
    page.mouse.up()
    expected = {k for k, ok in zip(keys, inside, strict=True) if ok}
    page.get_by_text(f"{len(expected)} selected").wait_for(timeout=30_000)
    if len(expected) > 24:  # the thumbnails of a large selection come in pages of 24
        n_pages = -(-len(expected) // 24)
        page.get_by_text(f"Thumbnail page (of {n_pages}, random order)").wait_for()
    name = page.get_by_role("textbox", name="New class name")  # no class yet: "+ new class"
    name.fill("lasso-class")
    name.press("Enter")  # the button names the class only once the name is in
    page.get_by_role("button", name=f"Label {len(expected)} as 'lasso-class'").click()
    page.get_by_text(f"Labeled {len(expected)} samples as 'lasso-class'").wait_for(timeout=30_000)
    with Project.open(tiny_project.folder) as p:
        cur = p.current_labels()
        assert set(cur.key) == expected
        assert set(cur.label) == {"lasso-class"}
        assert set(cur.user) == {"lasso-tester"}
        assert set(cur.source) == {"lasso"}
    undo = page.get_by_role("button", name="Undo")
    undo.wait_for(state="visible", timeout=60_000)
    undo.click(timeout=60_000)
    page.get_by_text(f"Undid your last action: {len(expected)} samples").wait_for(timeout=30_000)
    with Project.open(tiny_project.folder) as p:
        assert p.current_labels().empty


def test_click__opens_a_point_in_the_default_lasso_mode(tiny_project: Project, page, serve) -> None:
    compute_embeddings(tiny_project, EmbedConfig(method="pixels", image_size=32))
    get_or_compute_map(tiny_project)
    server = serve(tiny_project.folder)
    sign_in_and_open(page, server.url, "click-tester", "Explore and label")
    page.wait_for_selector(".js-plotly-plot .gl-container canvas", timeout=60_000)
    wait_idle(page)
    page.wait_for_timeout(1500)
    assert page.evaluate(
        "() => document.querySelector('.js-plotly-plot')._fullLayout.dragmode"
    ) == ("lasso")
    rel = click_a_lonely_point(page, tiny_project)
    page.get_by_text("1 selected").wait_for(timeout=30_000)
    page.get_by_text(rel).first.wait_for(timeout=30_000)  # the detail view's image caption
    page.get_by_text("Current label").wait_for()


def _hexagon_around_points(ax: dict) -> tuple[list[tuple[float, float]], int]:
    """A screen-space hexagon around the densest third of the map's points, and how many
    points it holds."""
    xy = np.array([[x, y] for t in ax["traces"] for x, y in zip(t["x"], t["y"], strict=True)])
    px = np.array([_to_px(ax, x, y) for x, y in xy])
    hexagon, inside = clear_hexagon(px, 40)
    return hexagon, int(inside.sum())


def test_lasso__the_rerun_request_carries_the_shape_not_the_points(
    tiny_project: Project, page, serve
) -> None:
    """Plotly lists every lassoed point (about 130 bytes each) and Streamlit would send the
    list with the rerun; the server selects from the shape, so only the shape travels."""
    compute_embeddings(tiny_project, EmbedConfig(method="pixels", image_size=32))
    get_or_compute_map(tiny_project)
    server = serve(tiny_project.folder)
    sent: list[bytes] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda p: sent.append(
        p if isinstance(p, bytes) else p.encode())))  # fmt: skip
    sign_in_and_open(page, server.url, "shape-tester", "Explore and label")
    page.wait_for_selector(".js-plotly-plot .gl-container canvas", timeout=60_000)
    wait_idle(page)
    page.wait_for_timeout(1500)
    hexagon, n_inside = _hexagon_around_points(page.evaluate(_AXES_JS))
    assert n_inside > 10
    sent.clear()
    page.mouse.move(*hexagon[0])
    page.mouse.down()
    for vx, vy in [*hexagon[1:], hexagon[0]]:
        page.mouse.move(vx, vy, steps=12)
    page.mouse.up()
    page.get_by_text(f"{n_inside} selected").wait_for(timeout=30_000)
    requests = [p for p in sent if b'"lasso":[{' in p]
    assert requests, "no rerun request carried the lasso"
    for p in requests:
        assert b'"points":[]' in p, p[:400]
        assert b'"point_indices":[]' in p, p[:400]
