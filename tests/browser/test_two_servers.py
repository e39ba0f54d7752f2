"""Two app servers (two ``streamlit run`` processes, as on two machines) serve one project
whose database is on PostgreSQL; two labelers click through the label queue at the same
time, each in their own browser, on the same images. Every label lands, with its labeler; a
press on an image the other labeled since it was shown is refused first, then replaces it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from bps_core.project import Project, create_project_from_folder
from tests.browser.conftest import sign_in_and_open, wait_idle

pytestmark = pytest.mark.browser

N_CLICKS = 4


def test_two_servers__two_labelers_on_one_postgresql_project_lose_nothing(
    tiny_copy, tmp_path, database_url, browser, serve
) -> None:  # type: ignore[no-untyped-def]
    project, _ = create_project_from_folder(tmp_path / "p", tiny_copy, database_url=database_url)
    with project:
        project.ensure_class("track")
        project.ensure_class("debris")
        n = project.n_samples()
    servers = {"ann": serve(project.folder), "bob": serve(project.folder)}
    label = {"ann": "track", "bob": "debris"}
    pages = {}
    for user, server in servers.items():
        page = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
        sign_in_and_open(page, server.url, user, "Label queue")
        page.get_by_role("button", name="Start").click()
        expect(page.get_by_text(re.compile(r"of [\d,]+ labeled"))).to_have_text(
            f"0 of {n} labeled · image 1 of {n}", timeout=60_000
        )
        pages[user] = page
    for i in range(N_CLICKS):  # the two labelers take turns, each on their own server
        for user, page in pages.items():
            wait_idle(page)
            page.locator(f".st-key-queue_class_{label[user]} button").click()
            if user == "bob":  # ann labeled this image since bob's screen showed it: refused,
                stale = page.get_by_text(re.compile(r"by ann at \d\d:\d\d UTC since it was shown"))
                expect(stale).to_be_visible(timeout=30_000)
                wait_idle(page)  # and shown; a second press replaces it knowingly
                page.locator(f".st-key-queue_class_{label[user]} button").click()
            # (a progress line of the run before may linger while the fragment redraws)
            expect(page.get_by_text(re.compile(rf"labeled · image {i + 2} of {n}$")).first
                   ).to_be_visible(timeout=30_000)  # fmt: skip
    for page in pages.values():
        page.context.close()
    with Project.open(tmp_path / "p") as p:
        events = p.label_events()
    assert len(events) == 2 * N_CLICKS
    assert events.groupby("user").label.agg(set).to_dict() == {"ann": {"track"},
                                                               "bob": {"debris"}}  # fmt: skip
    assert events.groupby("user").size().to_dict() == {"ann": N_CLICKS, "bob": N_CLICKS}
    with Project.open(tmp_path / "p") as p:  # bob's second presses came last
        assert set(p.current_labels().label) == {"debris"}
