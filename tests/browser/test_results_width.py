"""The Results table at laptop widths in a real browser: every column inside the table's
visible area, none past its right edge (AppTest cannot measure a data grid's canvas)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from bps_core.project import Project
from tests.browser.conftest import wait_idle
from tests.helpers import train_with_flips

pytestmark = pytest.mark.browser


def test_results_width__every_column_is_inside_the_table_at_1400_and_1280_px(
    tiny_project: Project, page, serve
) -> None:
    """A tester at a 1400 px window found the method and note columns cut off at the table's
    right edge, with no scroll bar in sight to reach them."""
    train_with_flips(tiny_project)
    server = serve(tiny_project.folder)
    for width, height in ((1400, 900), (1280, 800)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{server.url}/results?user=rita")
        grid = page.locator('[data-testid="stDataFrame"]').first
        expect(grid).to_be_visible(timeout=60_000)
        wait_idle(page)
        grid.scroll_into_view_if_needed()
        # glide-data-grid's scroller is as wide as its columns; wider than its box, the
        # columns on the right are hidden until scrolled to
        scroller = grid.locator(".dvn-scroller")
        expect(scroller).to_be_visible()
        scroll_width, client_width = scroller.evaluate("s => [s.scrollWidth, s.clientWidth]")
        assert scroll_width <= client_width + 1, (width, scroll_width, client_width)
        # the grid's accessible header row lists the columns in view: the shares and the note
        headers = grid.locator('[role="columnheader"]').all_text_contents()
        assert {"particle_type", "corrected share", "interval", "note"} <= set(headers), headers
