"""The T key in the label queue: it jumps to the tag box, a typed tag lands on the sample shown."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from bps_core.project import Project
from bps_core.verbs import unlabeled_keys
from tests.browser.conftest import sign_in_and_open, wait_idle

pytestmark = pytest.mark.browser


def _tags(project: Project) -> dict[str, list[str]]:
    with Project.open(project.folder) as p:
        cur = p.tags.current()
    return {k.split(":", 1)[1]: sorted(cur.tag[cur.key == k]) for k in set(cur.key)}


def _press_t(page, box) -> None:  # type: ignore[no-untyped-def]
    """Presses T until the tag box has the focus: headless Chromium now and then drops the
    first synthetic key after a rerun, so press again only while the box is not focused."""
    for _ in range(3):
        page.keyboard.press("t")
        try:
            expect(box).to_be_focused(timeout=5_000)
            break
        except AssertionError:
            wait_idle(page)
    expect(box).to_be_focused()


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
    _press_t(page, box)
    expect(box).to_have_value("")  # the T itself is not typed into the box
    page.keyboard.type("ask expert 1")
    page.keyboard.press("Enter")
    chips = page.get_by_role("button", name="ask expert 1")  # the chip of the tag just added
    expect(chips.first).to_be_visible(timeout=30_000)
    assert _tags(tiny_project) == {shown: ["ask expert 1"]}
    with Project.open(tiny_project.folder) as p:
        assert set(p.tags.history().user) == {"tagger"}
        assert p.current_labels().empty  # typing a tag never labels (digits stay in the box)


def _tagged(project: Project, tag: str, timeout_s: float = 30) -> list[str]:
    """The samples carrying ``tag``, once there are any."""
    deadline = time.monotonic() + timeout_s
    while not (on := [k for k, t in _tags(project).items() if tag in t]):
        assert time.monotonic() < deadline, f"{tag!r} was never written"
        time.sleep(0.1)
    return on


def test_queue__a_tag_typed_right_after_a_digit_goes_to_the_image_labeled(
    tiny_project: Project, page, serve, tmp_path
) -> None:
    """A digit labels the image and starts the run that shows the next one; T pressed 15-50 ms
    later and a tag typed: the tag belongs to the image the labeler was looking at, the one
    just labeled, not the next one (not seen yet, or for less than a reaction time). The box
    is drawn again beside the next image while the tag is typed, and its Enter ran with that
    image's sample: the tag landed on the next image (9 of 9 tries). The fourth tag is typed
    at a person's pace, the next image on screen at Enter: a toast names the image tagged. T
    pressed well after the next image showed tags that one."""
    for name in ("track", "debris"):
        tiny_project.ensure_class(name)  # digits 1 and 2: typed into the box, they must not label
    queue = [k.split(":", 1)[1] for k in unlabeled_keys(tiny_project.samples(), [])]
    server = serve(tiny_project.folder)
    sign_in_and_open(page, server.url, "tagger", "Label queue")
    page.get_by_role("button", name="Start").click()
    file_name = page.locator("strong", has_text=re.compile(r"\.tif$"))
    expect(file_name).to_have_count(1, timeout=30_000)
    # (ms from the digit to T, ms between typed keys, the tag)
    tries = [(15, 0, "unsure 1"), (30, 0, "ask 2"), (50, 0, "debris? 1"), (30, 60, "expert 2")]
    for i, (delay, typing, tag) in enumerate(tries):
        wait_idle(page)
        page.locator("h1").first.click()  # out of the tag box: the digit labels
        expect(file_name).to_have_text(queue[i])
        page.keyboard.press("1")
        page.wait_for_timeout(delay)
        page.keyboard.press("t")
        page.keyboard.type(tag, delay=typing)
        page.keyboard.press("Enter")
        assert _tagged(tiny_project, tag) == [queue[i]], f"{tag!r} typed {delay} ms after 1"
    toast = page.get_by_test_id("stToast")
    expect(toast).to_contain_text(f"“expert 2” went to {queue[3]}", timeout=10_000)
    page.screenshot(path=tmp_path / "tag-after-digit.png", full_page=True)

    wait_idle(page)
    page.locator("h1").first.click()
    page.keyboard.press("1")  # then T once the next image is on screen: it tags that one
    expect(file_name).to_have_text(queue[5], timeout=30_000)
    wait_idle(page)
    page.wait_for_timeout(500)
    page.keyboard.press("t")
    page.keyboard.type("late 1")
    page.keyboard.press("Enter")
    assert _tagged(tiny_project, "late 1") == [queue[5]]
    with Project.open(tiny_project.folder) as p:
        events = p.label_events().sort_values("event_id")
    assert [k.split(":", 1)[1] for k in events.key] == queue[:5]  # typing never labels
    assert set(events.label) == {"track"}


def test_grid__t_right_after_a_tick_box_and_after_a_digit_tags_the_tiles_meant(
    tiny_project: Project, page, serve, tmp_path
) -> None:
    """Grid of 6: T right after unticking a tile jumps to the tag box (the tick box keeps the
    focus, and the T key script ignored a key from any input: T did nothing and the tag was
    typed into nowhere), and the tag goes to the chosen tiles. Then a digit labels those, the
    page stays with the unticked tile chosen, and T pressed 30 ms after the digit tags the
    tiles the digit labeled, not the one chosen next."""
    for name in ("track", "debris"):
        tiny_project.ensure_class(name)
    queue = [k.split(":", 1)[1] for k in unlabeled_keys(tiny_project.samples(), [])]
    server = serve(tiny_project.folder)
    sign_in_and_open(page, server.url, "grid-tagger", "Label queue")
    wait_idle(page)
    page.get_by_role("radio", name="Grid of 6").click()
    page.get_by_role("button", name="Start").click()
    progress = page.get_by_text(re.compile(r"of [\d,]+ labeled"))
    expect(progress).to_have_text(re.compile(r"^0 of"), timeout=30_000)
    wait_idle(page)
    page.get_by_text("Tile 2", exact=True).click()  # untick: the box keeps the focus
    tile = page.get_by_role("checkbox", name="Tile 2")
    expect(tile).not_to_be_checked()
    wait_idle(page)
    expect(tile).to_be_focused()
    box = page.get_by_role("textbox", name="Add a tag")
    _press_t(page, box)
    page.keyboard.type("unsure 1")
    page.keyboard.press("Enter")
    chosen = sorted(queue[i] for i in (0, 2, 3, 4, 5))
    assert sorted(_tagged(tiny_project, "unsure 1")) == chosen

    wait_idle(page)
    page.locator("h1").first.click()  # out of the tag box: the digit labels
    page.keyboard.press("1")
    page.wait_for_timeout(30)
    page.keyboard.press("t")
    page.keyboard.type("ask 2", delay=100)  # at a person's pace: the run is over at Enter
    page.keyboard.press("Enter")
    assert sorted(_tagged(tiny_project, "ask 2")) == chosen  # not tile 2, chosen next
    expect(progress).to_have_text(re.compile(r"^5 of"), timeout=30_000)
    wait_idle(page)
    # The page stays with tile 2 chosen: tagging changed no tick box (a pin sent as the box got
    # the focus, while the digit's run was in flight, ticked the five again).
    expect(tile).to_be_checked()
    expect(page.get_by_role("checkbox", name="Tile 1")).not_to_be_checked()
    page.screenshot(path=tmp_path / "grid-tags.png", full_page=True)
    with Project.open(tiny_project.folder) as p:
        labels = p.current_labels()
    assert sorted(k.split(":", 1)[1] for k in labels.key) == chosen
    assert set(labels.label) == {"track"}
