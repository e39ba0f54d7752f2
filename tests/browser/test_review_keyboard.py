"""Review labels from the queue with the keyboard alone, in a real browser: A and Enter accept
(Enter right after Start, whose button keeps the focus), a digit fixes, X rejects."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from bps_app import review_mode
from bps_core.project import Project
from tests.browser.conftest import sign_in_and_open, wait_idle

pytestmark = pytest.mark.browser


def _n_verdicts(project: Project) -> int:
    with Project.open(project.folder) as p:
        return sum(p.reviews.counts().by_verdict.values())


def test_review_keys__enter_and_a_accept_digit_fixes_x_rejects(
    tiny_project: Project, page, serve
) -> None:
    keys = tiny_project.samples().key.head(5).tolist()
    tiny_project.add_labels(keys, "track", user="ann", source="queue")
    tiny_project.ensure_class("debris")  # digit 2
    server = serve(tiny_project.folder)
    sign_in_and_open(page, server.url, "rita", "Label queue")
    wait_idle(page)
    page.locator('[data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name=review_mode.ORIGIN_ALL).click()
    wait_idle(page)
    page.get_by_role("button", name="Start").click()
    progress = page.get_by_text(re.compile(r"reviewed · "))
    expect(progress).to_have_text("0 of 5 reviewed · 5 remaining · image 1 of 5", timeout=30_000)
    # Enter first: the Start button still holds the focus and must not restart the queue.
    for i, key in enumerate(["Enter", "a", "2", "x"]):
        wait_idle(page)
        for attempt in range(3):  # headless Chromium now and then drops a first key event
            page.keyboard.press(key)
            try:
                expect(progress).to_have_text(re.compile(rf"^{i + 1} of 5 reviewed .*image "
                                                         rf"{i + 2} of 5$"),
                                              timeout=5_000 * (attempt + 1))  # fmt: skip
                break
            except AssertionError:  # press again only when nothing happened at all
                assert _n_verdicts(tiny_project) == i, "a press half-happened"
    with Project.open(tiny_project.folder) as p:
        counts = p.reviews.counts()
        labels = p.current_labels().set_index("key")
    assert counts.by_verdict == {"accept": 2, "fix": 1, "reject": 1}
    assert counts.by_reviewer == {"rita": 4}
    assert counts.n_reviewed == 3
    assert (labels.label == "debris").sum() == 1
    assert len(labels) == 4  # the rejected sample is unlabeled again
