"""Review labels from the queue with the keyboard alone, in a real browser: A and Enter accept
(Enter right after Start, whose button keeps the focus), a digit fixes, X rejects."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from bps_app import review_mode
from bps_core.project import Project
from bps_core.verbs import ReviewQueueSettings, review_queue
from tests.browser.conftest import sign_in_and_open, wait_idle

pytestmark = pytest.mark.browser


def _n_verdicts(project: Project) -> int:
    with Project.open(project.folder) as p:
        return sum(p.reviews.counts().by_verdict.values())


def _start_review(page, url: str):  # type: ignore[no-untyped-def]
    """Rita opens the queue's review of every label and starts it; its progress line."""
    sign_in_and_open(page, url, "rita", "Label queue")
    wait_idle(page)
    page.locator('[data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name=review_mode.ORIGIN_ALL).click()
    wait_idle(page)
    page.get_by_role("button", name="Start").click()
    return page.get_by_text(re.compile(r"reviewed · "))


def test_review_keys__enter_and_a_accept_digit_fixes_x_rejects(
    tiny_project: Project, page, serve
) -> None:
    keys = tiny_project.samples().key.head(5).tolist()
    tiny_project.add_labels(keys, "track", user="ann", source="queue")
    tiny_project.ensure_class("debris")  # digit 2
    progress = _start_review(page, serve(tiny_project.folder).url)
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


def _verdicts(project: Project, keys: list[str]) -> list[tuple[str, str, str | None]]:
    """Every verdict on ``keys``, oldest first: (key, verdict, the class a fix set)."""
    with Project.open(project.folder) as p:
        rows = [(r.review_id, k, r.verdict, r.result, r.reviewer)
                for k in keys for r in p.reviews.history(k).itertuples()]  # fmt: skip
    assert {r[-1] for r in rows} <= {"rita"}
    return [(k, v, None if res is None else str(res)) for _, k, v, res, _ in sorted(rows)]


def test_review_keys__a_fast_burst_gives_each_shown_label_one_verdict_in_order(
    tiny_project: Project, page, serve, tmp_path
) -> None:
    """Keys pressed faster than the review queue's runs (A and Enter accept, X rejects, digits
    fix, → skips) must each judge the label shown at its turn, in order: one verdict per key,
    none lost or given to another sample (``widgets.shortcut_keys_in_order``)."""
    keys = tiny_project.samples().key.head(20).tolist()
    tiny_project.add_labels(keys, "track", user="ann", source="queue")  # digit 1
    for name in ("debris", "other"):
        tiny_project.ensure_class(name)  # digits 2 and 3
    order = list(review_queue(tiny_project, ReviewQueueSettings(), user="rita").keys)
    n = len(order)
    progress = _start_review(page, serve(tiny_project.folder).url)
    expect(progress).to_contain_text(f"image 1 of {n}", timeout=30_000)
    wait_idle(page)
    page.locator("h1").first.click()  # focus the page, not the Start button
    for attempt in range(3):  # headless Chromium now and then drops a first key event
        page.keyboard.press("a")
        try:
            expect(progress).to_contain_text(f"image 2 of {n}", timeout=5_000 * (attempt + 1))
            break
        except AssertionError:  # press again only when nothing happened at all
            assert _n_verdicts(tiny_project) == 0, "a press half-happened"
    wait_idle(page)

    burst = ["2", "x", "a", "3", "ArrowRight", "1", "Enter", "2", "2", "x", "3",
             "ArrowRight", "a", "2", "1", "3"]  # fmt: skip
    for key in burst:
        page.keyboard.press(key)
        page.wait_for_timeout(15)
    pressed = ["a", *burst]
    assert len(pressed) < n, "too few labels for this burst"
    expect(progress).to_contain_text(f"image {len(pressed) + 1} of {n}", timeout=60_000)
    wait_idle(page)
    page.screenshot(path=tmp_path / "review-after-burst.png", full_page=True)
    verdict = {"a": ("accept", None), "Enter": ("accept", None), "1": ("accept", None),
               "x": ("reject", None), "2": ("fix", "debris"), "3": ("fix", "other")}  # fmt: skip
    expected = [(k, *verdict[key]) for k, key in zip(order, pressed, strict=False)
                if key in verdict]  # fmt: skip
    assert _verdicts(tiny_project, order) == expected
