"""Label three images from the queue with the keyboard alone, in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from bps_core.project import Project
from tests.browser.conftest import sign_in_and_open, wait_idle

pytestmark = pytest.mark.browser


def _n_events(project: Project) -> int:
    with Project.open(project.folder) as p:
        return len(p.label_events())


def test_queue__digits_label_arrow_skips_z_undoes(tiny_project: Project, page, serve) -> None:
    for name in ("track", "debris"):
        tiny_project.ensure_class(name)  # digits 1 and 2
    n = tiny_project.n_samples()
    server = serve(tiny_project.folder)
    sign_in_and_open(page, server.url, "keyboard-tester", "Label queue")
    page.get_by_role("button", name="Start").click()
    progress = page.get_by_text(re.compile(r"of [\d,]+ done"))
    file_name = page.locator("strong", has_text=re.compile(r"\.tif$"))

    # The file name is drawn after the progress bar and the class buttons, so once it shows
    # the expected state, that rerun has finished drawing everything a key press needs.
    expect(progress).to_have_text(f"0 of {n} done", timeout=30_000)
    expect(file_name).to_have_count(1, timeout=30_000)
    page.locator("h1").first.click()  # focus the page, not a text box
    expected: dict[str, str] = {}
    steps = [("1", "track"), ("2", "debris"), ("ArrowRight", None), ("1", "track")]
    for i, (key, label) in enumerate(steps):
        wait_idle(page)
        current = file_name.inner_text()
        # Headless Chromium now and then drops the very first synthetic key event after a
        # rerun (about 1 run in 7 here); press again only when nothing happened at all.
        for attempt in range(3):
            page.keyboard.press(key)
            try:
                expect(file_name).not_to_have_text(current, timeout=5_000 * (attempt + 1))
                break
            except AssertionError:
                assert _n_events(tiny_project) == len(expected), "a press half-happened"
        if label is not None:
            expected[current] = label
        expect(progress).to_have_text(f"{i + 1} of {n} done", timeout=30_000)
        assert _n_events(tiny_project) == len(expected)
    with Project.open(tiny_project.folder) as p:
        cur = p.current_labels()
    got = {k.split(":", 1)[1]: lab for k, lab in zip(cur.key, cur.label, strict=True)}
    assert got == expected
    assert set(cur.source) == {"queue"}
    assert set(cur.user) == {"keyboard-tester"}

    last = list(expected)[-1]
    wait_idle(page)
    page.keyboard.press("z")  # undo the last label; the queue shows that image again
    expect(file_name).to_have_text(last, timeout=30_000)
    expect(progress).to_have_text(f"3 of {n} done", timeout=30_000)
    with Project.open(tiny_project.folder) as p:
        assert last not in {k.split(":", 1)[1] for k in p.current_labels().key}
        assert len(p.current_labels()) == 2
