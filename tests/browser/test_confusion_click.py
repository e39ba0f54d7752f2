"""Click a cell of the confusion table on the Rounds page in a real browser: its samples show,
and they open in the label queue (AppTest cannot click a data grid's canvas)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from bps_core.project import Project
from tests.browser.conftest import sign_in_and_open, wait_idle
from tests.helpers import train_with_flips

pytestmark = pytest.mark.browser


def test_confusion_click__a_clicked_cell_shows_its_samples_and_opens_the_queue(
    tiny_project: Project, page, serve
) -> None:
    model = train_with_flips(tiny_project)
    classes, matrix = model.metrics["classes"], model.metrics["confusion"]
    n = matrix[0][1]  # labeled classes[0], predicted classes[1]: the flips make it non-empty
    assert n > 0
    server = serve(tiny_project.folder)
    sign_in_and_open(page, server.url, "rita", "Selection rounds")
    wait_idle(page)
    page.get_by_role("tab", name="Model").click()
    caption = page.get_by_text(re.compile("^Click a cell to see its samples"))
    expect(caption).to_be_visible(timeout=30_000)
    drill = page.locator('[data-testid="stExpander"]').filter(has_text="Samples of a confusion")
    grid = drill.locator('[data-testid="stDataFrame"]')
    grid.scroll_into_view_if_needed()
    wait_idle(page)
    box = grid.bounding_box()
    assert box is not None
    # the last column (classes[1]) of the first row (classes[0]), below the header row
    page.mouse.click(box["x"] + box["width"] * 0.9, box["y"] + 35 + 17)
    shown = page.get_by_text(re.compile(rf"^{n} samples labeled {classes[0]} and predicted as"))
    expect(shown).to_be_visible(timeout=30_000)
    page.get_by_role("button", name=re.compile(rf"Relabel these {n} in the label queue")).click()
    # the cell's own walk: one sample at a time, the out-of-fold prediction beside the label
    expect(page.get_by_text(re.compile(rf"{n} samples of a confusion-matrix cell · image 1 of {n}"))
           ).to_be_visible(timeout=30_000)  # fmt: skip
    expect(page.get_by_text("Model (out-of-fold) predicts")).to_be_visible()
