"""The T key in the label queue: it jumps to the tag box, a typed tag lands on the sample shown."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from bps_core.project import Project
from tests.browser.conftest import sign_in_and_open, wait_idle

pytestmark = pytest.mark.browser


def _tags(project: Project) -> dict[str, list[str]]:
    with Project.open(project.folder) as p:
        cur = p.tags.current()
    return {k.split(":", 1)[1]: sorted(cur.tag[cur.key == k]) for k in set(cur.key)}


def test_queue__t_focuses_the_tag_box_and_enter_tags_the_sample(
    tiny_project: Project, page, serve
) -> None:
    tiny_project.ensure_class("track")  # digit 1 labels: typed into the box, it must not
    server = serve(tiny_project.folder)
    sign_in_and_open(page, server.url, "tagger", "Label queue")
    page.get_by_role("button", name="Start").click()
    file_name = page.locator("strong", has_text=re.compile(r"\.tif$"))
    expect(file_name).to_have_count(1, timeout=30_000)
    box = page.get_by_role("textbox", name="Add a tag")
    expect(box).to_have_count(1, timeout=30_000)
    shown = file_name.inner_text()
    wait_idle(page)
    page.locator("h1").first.click()  # focus the page, not a text box
    # Headless Chromium now and then drops the first synthetic key after a rerun: press again
    # only while the box is still not focused.
    for _ in range(3):
        page.keyboard.press("t")
        try:
            expect(box).to_be_focused(timeout=5_000)
            break
        except AssertionError:
            wait_idle(page)
    expect(box).to_be_focused()
    expect(box).to_have_value("")  # the T itself is not typed into the box
    page.keyboard.type("ask expert 1")
    page.keyboard.press("Enter")
    chips = page.get_by_role("button", name="ask expert 1")  # the chip of the tag just added
    expect(chips.first).to_be_visible(timeout=30_000)
    assert _tags(tiny_project) == {shown: ["ask expert 1"]}
    with Project.open(tiny_project.folder) as p:
        assert set(p.tags.history().user) == {"tagger"}
        assert p.current_labels().empty  # typing a tag never labels (digits stay in the box)
