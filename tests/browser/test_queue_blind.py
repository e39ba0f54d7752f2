"""The label queue of a double labeler in a real browser: the line counting the samples
assigned to them that they have not labeled yet follows a label and an undo (Z), which rerun
only the queue's fragment. The line was drawn by the full run, so it kept its old count."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from bps_core.project import Project
from tests.browser.conftest import wait_idle

pytestmark = pytest.mark.browser

SIDEBAR = b"Your name"  # the sidebar's name box: sent by a full run only


def _line(n: int) -> str:
    return f"Double labeling: the {n:,} samples assigned to you that you have not labeled yet"


def test_queue__the_assigned_count_follows_a_label_and_an_undo(
    tiny_project: Project, page, serve
) -> None:
    tiny_project.ensure_class("track")
    tiny_project.assignments.configure(["alice", "bob"], 0.2)
    n = len(tiny_project.assignments.keys("alice"))
    frames: list[bytes] = []
    page.on("websocket", lambda ws: ws.on(
        "framereceived", lambda data: frames.append(data if isinstance(data, bytes)
                                                    else data.encode())))  # fmt: skip
    server = serve(tiny_project.folder)
    page.goto(f"{server.url}/queue?user=alice")
    start = page.get_by_role("button", name="Start")
    expect(start).to_be_visible(timeout=60_000)
    wait_idle(page)
    start.click()
    progress = page.get_by_text(re.compile(r"of [\d,]+ labeled"))
    expect(progress).to_contain_text("0 of", timeout=60_000)
    line = page.get_by_text(re.compile(r"^Double labeling: the"))
    expect(line).to_contain_text(_line(n))
    wait_idle(page)
    page.locator("h1").first.click()  # focus the page, not a text box

    frames.clear()
    for attempt in range(3):  # headless Chromium now and then drops a first key event
        page.keyboard.press("1")
        try:
            expect(progress).to_contain_text("1 of", timeout=5_000 * (attempt + 1))
            break
        except AssertionError:
            with Project.open(tiny_project.folder) as p:
                assert p.label_events().empty, "a press half-happened"
    expect(line).to_contain_text(_line(n - 1), timeout=30_000)
    wait_idle(page)

    page.reload()  # a full run draws the page from the labels as they are
    expect(line).to_contain_text(_line(n - 1), timeout=60_000)
    wait_idle(page)
    page.locator("h1").first.click()
    frames.clear()
    for attempt in range(3):
        page.keyboard.press("z")
        try:
            expect(line).to_contain_text(_line(n), timeout=5_000 * (attempt + 1))
            break
        except AssertionError:
            with Project.open(tiny_project.folder) as p:
                assert len(p.label_events()) == 1, "a press half-happened"
    wait_idle(page)
    with Project.open(tiny_project.folder) as p:
        assert p.label_events().source.tolist() == ["queue", "undo"]
    assert SIDEBAR not in b"".join(frames), "the undo reran the whole page, not the queue"
