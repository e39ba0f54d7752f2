"""The label queue as a fragment (issue 20): a key press reruns only the queue, in a real
browser, so what the server sends back after it holds the next image and nothing of the
sidebar or of the queue's source controls."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from bps_core.project import Project
from tests.browser.conftest import sign_in_and_open, wait_idle

pytestmark = pytest.mark.browser

SIDEBAR = b"Your name"  # the sidebar's name box
SOURCE_CONTROLS = b"Filters (for the queue"  # the caption above the queue's filters


def test_queue__a_key_press_reruns_only_the_queue(tiny_project: Project, page, serve) -> None:
    tiny_project.ensure_class("track")
    n = tiny_project.n_samples()
    frames: list[bytes] = []
    page.on("websocket", lambda ws: ws.on(
        "framereceived", lambda data: frames.append(data if isinstance(data, bytes)
                                                    else data.encode())))  # fmt: skip
    server = serve(tiny_project.folder)
    sign_in_and_open(page, server.url, "fragment-tester", "Label queue")
    page.get_by_role("button", name="Start").click()
    progress = page.get_by_text(re.compile(r"of [\d,]+ labeled"))
    file_name = page.locator("strong", has_text=re.compile(r"\.tif$"))
    expect(progress).to_have_text(f"0 of {n} labeled · image 1 of {n}", timeout=30_000)
    expect(file_name).to_have_count(1, timeout=30_000)
    wait_idle(page)
    assert SIDEBAR in b"".join(frames)  # a full run sends the sidebar: the check can see it
    page.locator("h1").first.click()  # focus the page, not a text box

    for step in range(2):
        wait_idle(page)
        current = file_name.inner_text()
        frames.clear()
        for attempt in range(3):  # headless Chromium now and then drops a first key event
            page.keyboard.press("1")
            try:
                expect(file_name).not_to_have_text(current, timeout=5_000 * (attempt + 1))
                break
            except AssertionError:
                with Project.open(tiny_project.folder) as p:
                    assert len(p.label_events()) == step, "a press half-happened"
        expect(progress).to_have_text(f"{step + 1} of {n} labeled · image {step + 2} of {n}",
                                      timeout=30_000)  # fmt: skip
        wait_idle(page)
        sent = b"".join(frames)
        shown = f"{step + 1} of {n} labeled · image {step + 2} of {n}".encode()
        assert shown in sent  # the new progress came with that run
        assert SIDEBAR not in sent, "the key press reran the sidebar (the whole page)"
        assert SOURCE_CONTROLS not in sent, "the key press reran the queue's source controls"
