"""The app's entry point runs on every page, even on a first visit by an old page address."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from bps_core.project import Project
from tests.browser.conftest import wait_idle

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("path", ["Agreement", "Queue"])
def test_first_visit__an_old_page_address_still_runs_app_py(
    tiny_project: Project, page, serve, path: str
) -> None:
    # A fresh server: before any session had run app.py, Streamlit routed /Agreement or /Queue
    # by the pages/ folder and ran that script alone: no Host check, no sign-in, no name box.
    server = serve(tiny_project.folder)
    page.goto(f"{server.url}/{path}")
    expect(page.get_by_role("textbox", name="Your name")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Project:").first).to_be_visible(timeout=30_000)


def test_sidebar_name__a_refused_name_stays_in_the_box_beside_its_reason(
    tiny_project: Project, page, serve
) -> None:
    """The box was emptied when a name was refused, so the user retyped it blind."""
    server = serve(tiny_project.folder)
    page.goto(server.url)
    name = page.get_by_role("textbox", name="Your name")
    name.fill("ali\u202ecebob")
    name.press("Enter")
    expect(page.get_by_text("U+202E").first).to_be_visible(timeout=60_000)
    wait_idle(page)
    expect(name).to_have_value("ali\u202ecebob")
    assert "user=" not in page.url  # refused: no name is in use
    name.fill("alice")
    name.press("Enter")
    expect(page.get_by_text("U+202E")).to_have_count(0, timeout=30_000)
    expect(name).to_have_value("alice")
