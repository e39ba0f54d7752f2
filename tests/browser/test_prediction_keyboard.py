"""Walk a model's predictions from the queue with the keyboard alone, in a real browser: A
accepts the prediction as the label, a digit corrects it, S skips, Z undoes, Enter accepts."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from bps_app import prediction_mode
from bps_core import verbs
from bps_core.project import Project
from tests.browser.conftest import sign_in_and_open, wait_idle
from tests.helpers import train_with_flips

pytestmark = pytest.mark.browser


def _rita(project: Project) -> dict[str, str]:
    with Project.open(project.folder) as p:
        cur = p.reviews.current()
    mine = cur[(cur.user == "rita") & (cur.source == "review")]
    return dict(zip(mine.key, mine.label, strict=True))


def test_prediction_keys__a_accepts_digit_corrects_s_skips_z_undoes_enter_accepts(
    tiny_project: Project, page, serve
) -> None:
    train_with_flips(tiny_project)  # classes Fe (digit 1) and X-ray (digit 2)
    order = verbs.prediction_queue(tiny_project, verbs.PredictionQueueSettings("Fe")).keys
    n = len(order)
    assert n >= 4
    server = serve(tiny_project.folder)
    sign_in_and_open(page, server.url, "rita", "Label queue")
    wait_idle(page)
    option = page.get_by_role("option", name=prediction_mode.ORIGIN_PREDICTED + "Fe")
    for _ in range(3):  # a rerun landing as the list opens closes it again (seen in CI)
        page.locator('[data-testid="stSelectbox"]').first.click()
        try:
            option.wait_for(timeout=10_000)
            break
        except PlaywrightTimeoutError:
            page.keyboard.press("Escape")
            wait_idle(page)
    option.click()
    wait_idle(page)
    page.get_by_role("button", name="Start").click()
    progress = page.get_by_text(re.compile(r"predictions · "))
    expect(progress).to_contain_text(f"image 1 of {n}", timeout=30_000)
    # key -> (the image shown after it, rita's labels after it)
    steps = [
        ("a", 2, {order[0]: "Fe"}),
        ("2", 3, {order[0]: "Fe", order[1]: "X-ray"}),
        ("s", 4, {order[0]: "Fe", order[1]: "X-ray"}),
        ("z", 2, {order[0]: "Fe"}),  # the correction undone: its sample shown again
        ("Enter", 3, {order[0]: "Fe", order[1]: "Fe"}),
    ]
    before: dict[str, str] = {}
    for key, image, labels in steps:
        wait_idle(page)
        for attempt in range(3):  # headless Chromium now and then drops a first key event
            page.keyboard.press(key)
            try:
                expect(progress).to_contain_text(f"image {image} of {n}",
                                                 timeout=5_000 * (attempt + 1))  # fmt: skip
                break
            except AssertionError:  # press again only when nothing happened at all
                assert _rita(tiny_project) == before, "a press half-happened"
        assert _rita(tiny_project) == labels
        before = labels
