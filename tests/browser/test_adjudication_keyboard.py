"""The Agreement page's adjudication queue in a real browser: a digit key records the
reviewer's decision on its tab, and does nothing on the other tabs (issue 19)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from bps_core.project import Project
from bps_core.verbs import disagreements
from tests.browser.conftest import sign_in_and_open, wait_idle

pytestmark = pytest.mark.browser


def _adjudicated(project: Project) -> list[str]:
    with Project.open(project.folder) as p:
        events = p.label_events()
    return events[events.source == "adjudication"].key.tolist()


def test_adjudication__a_digit_decides_on_its_tab_only(tiny_project: Project, page, serve) -> None:
    for name in ("track", "debris"):
        tiny_project.ensure_class(name)  # digits 1 and 2
    tiny_project.assignments.configure(["alice", "bob"], 0.05)
    keys = tiny_project.assignments.keys("alice")[:2]
    tiny_project.add_labels(keys, "track", user="alice", source="queue")
    tiny_project.add_labels(keys, "debris", user="bob", source="queue")
    server = serve(tiny_project.folder)
    sign_in_and_open(page, server.url, "rita", "Agreement")
    expect(page.get_by_text("Cohen's kappa per labeler pair")).to_be_visible(timeout=30_000)
    wait_idle(page)
    page.locator("h1").first.click()  # focus the page, not a text box
    page.keyboard.press("2")  # on the Agreement tab: no class button exists to press
    page.wait_for_timeout(1500)
    wait_idle(page)
    assert _adjudicated(tiny_project) == []

    page.get_by_role("tab", name="Adjudication queue").click()
    said = page.get_by_text("alice said")
    expect(said).to_be_visible(timeout=30_000)
    wait_idle(page)
    page.locator("h1").first.click()
    for attempt in range(3):  # headless Chromium now and then drops a first synthetic key
        page.keyboard.press("2")
        try:
            expect(page.get_by_text("Disagreement 1 of 1 left")).to_be_visible(
                timeout=5_000 * (attempt + 1)
            )
            break
        except AssertionError:
            assert _adjudicated(tiny_project) == []
    assert _adjudicated(tiny_project) == [keys[0]]
    with Project.open(tiny_project.folder) as p:
        labels = p.current_labels().set_index("key")
    assert labels.label[keys[0]] == "debris"
    assert keys[1] not in labels.index  # still disputed: unlabeled
    # the reviewer stays in the queue for the next one
    expect(page.get_by_role("tab", name="Adjudication queue")).to_have_attribute(
        "aria-selected", "true"
    )


def test_adjudication__a_fast_burst_decides_each_shown_disagreement_once_in_order(
    tiny_project: Project, page, serve, tmp_path
) -> None:
    """Digits (and → to skip) pressed faster than the page's runs must each decide the
    disagreement shown at its turn, in order: one adjudication event per digit, none lost or
    given to another sample (``widgets.shortcut_keys_in_order``)."""
    for name in ("track", "debris", "other"):
        tiny_project.ensure_class(name)  # digits 1, 2 and 3
    tiny_project.assignments.configure(["alice", "bob"], 0.1)
    keys = tiny_project.assignments.keys("alice")[:16]
    tiny_project.add_labels(keys, "track", user="alice", source="queue")
    tiny_project.add_labels(keys, "debris", user="bob", source="queue")
    shown = disagreements(tiny_project).key.tolist()  # the order the queue shows them
    n = len(shown)
    server = serve(tiny_project.folder)
    sign_in_and_open(page, server.url, "rita", "Agreement")
    page.get_by_role("tab", name="Adjudication queue").click()
    left = page.get_by_text(re.compile(r"^Disagreement 1 of \d+ left"))
    expect(left).to_contain_text(f"1 of {n} left", timeout=30_000)
    wait_idle(page)
    page.locator("h1").first.click()  # focus the page, not a text box
    for attempt in range(3):  # headless Chromium now and then drops a first synthetic key
        page.keyboard.press("3")
        try:
            expect(left).to_contain_text(f"1 of {n - 1} left", timeout=5_000 * (attempt + 1))
            break
        except AssertionError:
            assert _adjudicated(tiny_project) == []
    wait_idle(page)

    burst = ["1", "2", "3", "ArrowRight", "2", "2", "1", "3", "ArrowRight", "1", "2", "3", "1"]
    for key in burst:
        page.keyboard.press(key)
        page.wait_for_timeout(15)
    pressed = ["3", *burst]
    assert len(pressed) < n, "too few disagreements for this burst"
    expect(left).to_contain_text(f"1 of {n - len(pressed)} left", timeout=60_000)
    wait_idle(page)
    page.screenshot(path=tmp_path / "adjudication-after-burst.png", full_page=True)
    names = {"1": "track", "2": "debris", "3": "other"}
    with Project.open(tiny_project.folder) as p:
        events = p.label_events().sort_values("event_id")
    events = events[events.source == "adjudication"]
    expected = [(k, names[key]) for k, key in zip(shown, pressed, strict=False) if key in names]
    assert list(zip(events.key, events.label, strict=True)) == expected
    assert set(events.user) == {"rita"}
