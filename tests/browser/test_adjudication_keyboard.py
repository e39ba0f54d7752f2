"""The Agreement page's adjudication queue in a real browser: a digit key records the
reviewer's decision on its tab, and does nothing on the other tabs (issue 19)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from bps_core.project import Project
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
