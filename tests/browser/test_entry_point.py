"""The app's entry point runs on every page, even on a first visit by an old page address."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from bps_core.project import Project

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
