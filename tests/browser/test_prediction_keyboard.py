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


def _start_walk(page, url: str, n: int):  # type: ignore[no-untyped-def]
    """Rita opens the queue's walk of the samples predicted Fe and starts it; its progress."""
    sign_in_and_open(page, url, "rita", "Label queue")
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
    return progress


def test_prediction_keys__a_accepts_digit_corrects_s_skips_z_undoes_enter_accepts(
    tiny_project: Project, page, serve
) -> None:
    train_with_flips(tiny_project)  # classes Fe (digit 1) and X-ray (digit 2)
    order = verbs.prediction_queue(tiny_project, verbs.PredictionQueueSettings("Fe")).keys
    n = len(order)
    assert n >= 4
    progress = _start_walk(page, serve(tiny_project.folder).url, n)
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


def test_prediction_keys__a_fast_burst_decides_each_shown_sample_once_in_order(
    tiny_project: Project, page, serve, tmp_path
) -> None:
    """Keys pressed faster than the walk's runs (A and Enter accept, digits correct, S skips)
    must each decide the sample shown at its turn, in order: one label event per decision,
    none lost or given to another sample (``widgets.shortcut_keys_in_order``)."""
    train_with_flips(tiny_project)  # classes Fe (digit 1) and X-ray (digit 2)
    order = verbs.prediction_queue(tiny_project, verbs.PredictionQueueSettings("Fe")).keys
    n = len(order)
    with Project.open(tiny_project.folder) as p:
        before = len(p.label_events())
    progress = _start_walk(page, serve(tiny_project.folder).url, n)
    wait_idle(page)
    page.locator("h1").first.click()  # focus the page, not the Start button
    for attempt in range(3):  # headless Chromium now and then drops a first key event
        page.keyboard.press("a")
        try:
            expect(progress).to_contain_text(f"image 2 of {n}", timeout=5_000 * (attempt + 1))
            break
        except AssertionError:  # press again only when nothing happened at all
            assert _rita(tiny_project) == {}, "a press half-happened"
    wait_idle(page)

    burst = ["2", "a", "1", "s", "2", "Enter", "2", "1", "s",
             "a", "2", "1", "1", "2", "a", "2", "s", "1"]  # fmt: skip
    for key in burst:
        page.keyboard.press(key)
        page.wait_for_timeout(15)
    pressed = ["a", *burst]
    assert len(pressed) < n, "too few predictions for this burst"
    expect(progress).to_contain_text(f"image {len(pressed) + 1} of {n}", timeout=60_000)
    wait_idle(page)
    page.screenshot(path=tmp_path / "prediction-after-burst.png", full_page=True)
    given = {"a": "Fe", "Enter": "Fe", "1": "Fe", "2": "X-ray"}
    expected = [(k, given[key]) for k, key in zip(order, pressed, strict=False) if key in given]
    with Project.open(tiny_project.folder) as p:
        events = p.label_events().sort_values("event_id").iloc[before:]
    assert list(zip(events.key, events.label, strict=True)) == expected
    assert set(events.source) == {"review"}
    assert set(events.user) == {"rita"}
