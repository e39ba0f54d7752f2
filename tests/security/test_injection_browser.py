"""Markdown/HTML injection, in a real browser: class names, file names, metadata values and
user names that are images, links and styled HTML pointing at a loopback recorder. Driving the
Project page, Explore and label (map colours, browse, a sample's detail) and the queue must
make ZERO requests to the recorder, and render no link, image or 90 px text from them."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.browser.conftest import sign_in_and_open, wait_idle
from tests.security.hostile import make_hostile_project, recorder

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("BPS_SCREENSHOTS")  # a folder: keep screenshots to look at


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def _no_live_markup(page, host: str) -> None:  # type: ignore[no-untyped-def]
    """Nothing from the hostile texts became an element: no image or link to the recorder or
    the relative beacons (autolinked URLs included), no 90 px text."""
    found = page.evaluate(
        """(host) => {
            const bad = [];
            for (const el of document.querySelectorAll('*')) {
                const url = ['src', 'href', 'xlink:href']
                    .map((a) => el.getAttribute(a) || '').join(' ');
                if (url.includes(host) || url.includes('beacon')) bad.push(el.outerHTML);
            }
            for (const el of document.querySelectorAll('[style]'))
                if (/font-size:\\s*90px/.test(el.getAttribute('style'))) bad.push('90px');
            return bad;
        }""",
        host,
    )
    assert found == []


def test_hostile_names__render_as_text_and_fetch_nothing(page, serve, tmp_path: Path) -> None:
    with recorder() as (host, hits):
        project = make_hostile_project(tmp_path, host)
        server = serve(project.folder)
        page.goto(server.url)
        wait_idle(page)
        page.get_by_text("Samples by condition").wait_for()
        _shot(page, "1_project")
        _no_live_markup(page, host)

        sign_in_and_open(page, server.url, f"![me](http://{host}/typed-user.png)", "Explore")
        wait_idle(page)
        for colour in ("particle_type", "plate", "well", "label"):
            page.get_by_role("radio", name=colour, exact=True).click()  # segmented control
            wait_idle(page)
            page.locator(".legend .traces").first.wait_for()  # plotly draws after the run
            _no_live_markup(page, host)
        _shot(page, "2_map")
        page.get_by_role("tab", name="Browse").click()
        wait_idle(page)
        _shot(page, "3_browse")
        _no_live_markup(page, host)
        opener = page.locator('[data-testid="stButtonGroup"]:visible', has_text="Open in detail")
        opener.first.locator("button").filter(has_text=re.compile(r"^1$")).click()  # thumbnail 1
        page.get_by_role("dialog").wait_for()
        wait_idle(page)
        _shot(page, "4_detail")
        _no_live_markup(page, host)
        page.keyboard.press("Escape")
        page.get_by_role("tab", name="History").click()
        wait_idle(page)
        _no_live_markup(page, host)

        page.get_by_role("link", name="Label queue").first.click()
        wait_idle(page)
        page.get_by_role("button", name="Start").click()
        wait_idle(page)
        page.get_by_text("Current label").first.wait_for()
        _shot(page, "5_queue")
        _no_live_markup(page, host)
        for name in ("Project", "Selection rounds", "Datasources", "Export"):
            page.get_by_role("link", name=name).first.click()
            wait_idle(page)
            _no_live_markup(page, host)
        page.wait_for_load_state("networkidle")  # any fetch a page started has landed
        assert hits == []
