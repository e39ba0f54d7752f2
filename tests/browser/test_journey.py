"""The first-use journey in a real browser, as a new labeler walks it (issue 14).

Set a name, lasso a cluster and label it with a new class, open a point by a click in lasso
mode, accept a selection round into the queue and label with digit keys, make a second round
that shares no image with the first, train, switch the embedding set, and export for Label
Studio. Every step is checked in the database or on disk, not only on screen.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from playwright.sync_api import expect

from bps_core.embeddings import EmbedConfig, compute_embeddings
from bps_core.project import Project
from bps_core.projection import get_or_compute_map
from bps_core.selection.rounds import list_models, list_rounds
from tests.browser.conftest import sign_in_and_open, wait_idle
from tests.browser.test_map_lasso import _AXES_JS, _to_px, click_a_lonely_point
from tests.helpers import clear_hexagon

pytestmark = pytest.mark.browser


def _open(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("link", name=name).first.click()
    wait_idle(page)


def _choose(page, label: str, option: str) -> None:  # type: ignore[no-untyped-def]
    """Picks the option holding ``option`` in the selectbox labelled ``label`` (a combobox
    in Streamlit 1.67)."""
    box = page.get_by_role("combobox", name=label, exact=True).locator("visible=true").first
    box.wait_for(timeout=30_000)
    if option in box.input_value():
        return
    box.click()
    page.get_by_role("option", name=option).first.click()  # a part of the option's text
    wait_idle(page)


def _lasso_the_middle(page, project: Project) -> set[str]:  # type: ignore[no-untyped-def]
    """Drags a hexagon around the densest part of the map; returns the keys inside it."""
    page.wait_for_selector(".js-plotly-plot .gl-container canvas", timeout=60_000)
    wait_idle(page)
    page.wait_for_timeout(1500)
    ax = page.evaluate(_AXES_JS)
    xy = np.array([[x, y] for t in ax["traces"] for x, y in zip(t["x"], t["y"], strict=True)])
    ids = [i for t in ax["traces"] for i in t["ids"]]
    key_of = project.samples().set_index("sample_id").key
    px = np.array([_to_px(ax, x, y) for x, y in xy])
    hexagon, inside = clear_hexagon(px, 30)
    page.mouse.move(*hexagon[0])
    page.mouse.down()
    for vx, vy in [*hexagon[1:], hexagon[0]]:
        page.mouse.move(vx, vy, steps=10)
    page.mouse.up()
    return {key_of[i] for i, ok in zip(ids, inside, strict=True) if ok}


def _press_until_labeled(page, project: Project, key: str, n_before: int) -> None:  # type: ignore[no-untyped-def]
    """Presses a digit key in the queue; headless Chromium now and then drops the first key
    event after a rerun, so press again only while nothing was written."""
    for _ in range(4):
        wait_idle(page)
        page.keyboard.press(key)
        for _ in range(40):
            with Project.open(project.folder) as p:
                if len(p.label_events()) > n_before:
                    return
            page.wait_for_timeout(250)
    raise AssertionError(f"pressing {key} labeled nothing")


def test_journey__first_use_from_lasso_to_label_studio(tiny_project: Project, page, serve) -> None:
    folder = tiny_project.folder
    # Two embedding sets, each with a map; the one computed last is current.
    first = compute_embeddings(tiny_project, EmbedConfig(method="pixels", image_size=32))
    get_or_compute_map(tiny_project)
    second = compute_embeddings(tiny_project, EmbedConfig(method="pixels", image_size=16))
    get_or_compute_map(tiny_project)
    assert first.version != second.version
    server = serve(folder)

    # 1. A name, then a lasso labeled with a new class.
    sign_in_and_open(page, server.url, "journey", "Explore and label")
    expected = _lasso_the_middle(page, tiny_project)
    assert len(expected) >= 5
    page.get_by_text(f"{len(expected)} selected").wait_for(timeout=30_000)
    _choose(page, "Class", "+ new class")
    name_box = page.get_by_role("textbox", name="New class name")
    name_box.fill("track")
    name_box.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name=f"Label {len(expected)} as 'track'").click()
    page.get_by_text(re.compile(rf"Labeled {len(expected)} samples as .track.")).wait_for(
        timeout=30_000
    )
    with Project.open(folder) as p:
        cur = p.current_labels()
        assert set(cur.key) == expected
        assert set(cur.label) == {"track"}
        assert set(cur.user) == {"journey"}

    # 2. A click opens a point, in the default lasso drag mode.
    wait_idle(page)
    assert page.evaluate(
        "() => document.querySelector('.js-plotly-plot')._fullLayout.dragmode"
    ) == ("lasso")
    wait_idle(page)
    page.wait_for_timeout(1000)
    rel = click_a_lonely_point(page, tiny_project)
    page.get_by_text("1 selected").wait_for(timeout=30_000)
    page.get_by_text(rel).first.wait_for(timeout=30_000)
    page.get_by_text("Current label").first.wait_for()

    # 3. A round accepted into the queue, labeled with digit keys (1 track, 2 normal).
    _open(page, "Selection rounds")
    page.get_by_role("spinbutton", name="Batch size").fill("6")
    page.get_by_role("button", name="Preview the selection").click()
    page.get_by_text(re.compile(r"Preview: 6 samples")).wait_for(timeout=60_000)
    page.get_by_role("button", name="Accept and label in the queue").click()
    page.wait_for_url(re.compile(r"/queue"), timeout=60_000)
    wait_idle(page)
    page.get_by_role("button", name="New class").click()
    new_class = page.get_by_role("textbox", name="Class name")
    new_class.fill("normal")
    new_class.press("Enter")
    wait_idle(page)
    page.keyboard.press("Escape")  # close the popover
    expect(page.get_by_role("button", name="normal")).to_be_enabled(timeout=30_000)
    page.locator("h1").first.click()  # focus the page, not a text box
    for key in ("1", "2", "2", "1"):
        with Project.open(folder) as p:
            n = len(p.label_events())
        _press_until_labeled(page, tiny_project, key, n)
    with Project.open(folder) as p:
        (round1,) = list_rounds(p)
        labels = p.current_labels().set_index("key").label
    assert len(round1.keys) == 6
    in_round = [labels.get(k) for k in round1.keys]
    assert sorted(v for v in in_round if v in ("track", "normal")).count("normal") >= 2

    # 4. A second round shares no image with the first.
    _open(page, "Selection rounds")
    page.get_by_role("spinbutton", name="Batch size").fill("6")
    page.get_by_role("button", name="Preview the selection").click()
    page.get_by_text(re.compile(r"Preview: 6 samples")).wait_for(timeout=60_000)
    page.get_by_role("button", name="Accept", exact=True).click()
    page.get_by_text(re.compile(r"Round 2: 6 samples")).first.wait_for(timeout=60_000)
    with Project.open(folder) as p:
        r1, r2 = list_rounds(p)
    assert not set(r1.keys) & set(r2.keys)

    # 5. Train on the labels (two classes).
    page.get_by_role("tab", name="Model").click()
    page.get_by_role("button", name="Train on the current labels").click()
    page.get_by_text(re.compile(r"Model trained on \d+ labels")).wait_for(timeout=90_000)
    with Project.open(folder) as p:
        (model,) = list_models(p)
    assert model.embedding_version == second.version
    assert sorted(model.classes) == ["normal", "track"]

    # 6. Switch back to the first embedding set; the model's predictions become stale.
    _open(page, "Embeddings")
    _choose(page, "Embedding set", first.version)
    page.get_by_role("button", name="Use this set").click()
    page.get_by_text(f"Embedding set {first.version} is now current").wait_for(timeout=30_000)
    from bps_core.embeddings import load_embedding_set

    with Project.open(folder) as p:
        current = load_embedding_set(p)
        assert current is not None
        assert current.version == first.version

    # 7. Export for Label Studio: the tasks reference PNG previews that exist.
    _open(page, "Export")
    _choose(page, "Format", "Label Studio (tasks JSON and PNG previews)")
    page.get_by_role("button", name="Export", exact=True).click()
    page.get_by_text(re.compile(r"[Ee]xported|[Ww]rote")).first.wait_for(timeout=60_000)
    out = folder / "exports" / "label-studio"
    tasks_files = sorted(out.glob("*.json"))
    assert tasks_files, f"no tasks JSON under {out}"
    tasks = json.loads(tasks_files[0].read_text())
    with Project.open(folder) as p:
        n_labeled = len(p.current_labels())
    assert len(tasks) == n_labeled
    for task in tasks:
        ref = task["data"]["image"]
        path = parse_qs(urlsplit(ref).query)["d"][0]
        png = out / path
        assert png.suffix == ".png", ref
        assert png.is_file(), ref
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not any(Path(p).suffix == ".tif" for p in map(str, out.rglob("*")))
