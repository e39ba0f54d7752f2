"""Walk the label issues with the keyboard alone, in a real browser: Enter and A keep the
label (Enter right after Start, whose button keeps the focus), a digit corrects it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from bps_app import issue_mode
from bps_core import verbs
from bps_core.project import Project
from tests.browser.conftest import sign_in_and_open, wait_idle
from tests.quality.conftest import plant_flips

pytestmark = pytest.mark.browser


def _n_verdicts(project: Project) -> int:
    with Project.open(project.folder) as p:
        return sum(p.reviews.counts().by_verdict.values())


def test_issue_keys__enter_and_a_keep_a_digit_corrects(tiny_project: Project, page, serve) -> None:
    plant_flips(tiny_project, 3)  # Fe is digit 1, X-ray digit 2
    report = verbs.label_issues(tiny_project, verbs.LabelIssuesSettings(likely_only=True))
    order = report.table.key.tolist()
    given = report.table.label.tolist()
    assert len(order) == 3
    server = serve(tiny_project.folder)
    sign_in_and_open(page, server.url, "rita", "Label queue")
    wait_idle(page)
    page.locator('[data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name=issue_mode.ORIGIN).click()
    wait_idle(page)
    page.get_by_role("button", name="Start").click()
    # Of this run's elements only: the run that finishes the walk reruns the page, whose new
    # progress line shows next to the last one, faded (stale), until that run ends.
    progress = page.locator('[data-stale="false"]').get_by_text(
        re.compile(r"label issues checked · ")
    )
    expect(progress).to_have_text("0 of 3 label issues checked · 3 remaining · image 1 of 3",
                                  timeout=30_000)  # fmt: skip
    fix = "1" if given[1] == "X-ray" else "2"  # the second one's other class
    for i, key in enumerate(["Enter", fix, "a"]):
        wait_idle(page)
        for attempt in range(3):  # headless Chromium now and then drops a first key event
            page.keyboard.press(key)
            try:
                expect(progress).to_have_text(
                    re.compile(rf"^{i + 1} of 3 label issues checked .*"
                               rf"{'finished' if i == 2 else f'image {i + 2} of 3'}$"),
                    timeout=5_000 * (attempt + 1),
                )  # fmt: skip
                break
            except AssertionError:  # press again only when nothing happened at all
                assert _n_verdicts(tiny_project) == i, "a press half-happened"
    with Project.open(tiny_project.folder) as p:
        counts = p.reviews.counts()
        current = p.reviews.current().set_index("key")
        last = p.label_events(order[1]).iloc[-1]
    assert counts.by_verdict == {"accept": 2, "fix": 1, "reject": 0}
    assert counts.by_reviewer == {"rita": 3}
    assert current.review[order[0]] == "accepted"
    assert current.review[order[2]] == "accepted"
    assert (last.label, last.source, last.user) == ("Fe" if fix == "1" else "X-ray", "review",
                                                    "rita")  # fmt: skip
    expect(
        page.get_by_text(re.compile("All 3 label issues of this queue are checked"))
    ).to_be_visible()
