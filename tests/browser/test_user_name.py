"""The labeler's name (``?user=``) in a real browser: in a page opened from the menu in a new
tab, in the history, and when the page's first load is still on its way at a click.

Streamlit's own page menu carried no query, so a page opened from it in a new tab had no name,
and each page switch left a step without ``?user=`` in the history. A page link clicked after
the menu had arrived but before the sidebar's name box had: the next page's box came up empty
while the session kept the name, and the next click sent that empty box as typed; the name was
cleared and ``?user=`` left the address, so a reload had no name.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
from playwright.sync_api import expect
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from bps_core.project import Project
from tests.browser.conftest import wait_idle

pytestmark = pytest.mark.browser


class _HeldFirstLoad:
    """Passes the server's messages to the page until the menu's link to ``link`` has gone
    through, then holds the rest until ``release``: the page has its menu but not yet the
    sidebar's name box, as on a slow first load."""

    def __init__(self, link: str) -> None:
        self.link = link
        self.held: list[str | bytes] | None = None  # None: not holding (yet, or any more)
        self.released = False
        self.page_side = None  # the route's side facing the page

    def route(self, ws) -> None:  # type: ignore[no-untyped-def]
        server = ws.connect_to_server()
        self.page_side = ws

        def down(message: str | bytes) -> None:
            if self.held is not None:
                self.held.append(message)
                return
            ws.send(message)
            if not self.released and isinstance(message, bytes) and self._links(message):
                self.held = []

        server.on_message(down)

    def _links(self, message: bytes) -> bool:
        """Whether ``message`` draws the link: a page of Streamlit's own menu, or a page link
        (the app's menu)."""
        msg = ForwardMsg()
        msg.ParseFromString(message)
        kind = msg.WhichOneof("type")
        if kind == "navigation":
            return any(p.page_name == self.link for p in msg.navigation.app_pages) and (
                msg.navigation.position != msg.navigation.Position.HIDDEN
            )
        element = msg.delta.new_element if kind == "delta" else None
        return element is not None and element.page_link.label == self.link

    def release(self) -> None:
        held, self.held, self.released = self.held or [], None, True
        for message in held:
            self.page_side.send(message)  # type: ignore[attr-defined]


def _user(url: str) -> list[str]:
    return parse_qs(urlsplit(url).query).get("user", [])


def test_user_name__a_page_link_clicked_during_the_first_load_keeps_the_name(
    tiny_project: Project, page, serve
) -> None:
    server = serve(tiny_project.folder)
    hold = _HeldFirstLoad("Selection rounds")
    page.route_web_socket(re.compile(r".*/_stcore/stream$"), hold.route)
    page.goto(f"{server.url}/queue?user=alice", wait_until="commit")
    menu = page.get_by_test_id("stSidebar")
    rounds = menu.get_by_role("link", name="Selection rounds")
    rounds.wait_for(state="attached", timeout=60_000)
    assert hold.held is not None, "the menu came without the hold"
    name = page.get_by_role("textbox", name="Your name")
    assert name.count() == 0, "the name box arrived before the click"
    rounds.click(force=True)  # the first load is still on its way
    hold.release()

    expect(page.locator("h1").first).to_have_text("Selection rounds", timeout=60_000)
    wait_idle(page)
    expect(name).to_have_value("alice")  # was empty: the session's name was not shown
    assert _user(page.url) == ["alice"]

    menu.get_by_role("link", name="Label queue").click()  # sent the empty box as typed
    expect(page.locator("h1").first).to_have_text("Label queue", timeout=60_000)
    wait_idle(page)
    expect(name).to_have_value("alice")
    assert _user(page.url) == ["alice"]
    expect(page.get_by_text("Enter your name in the sidebar to label.")).to_have_count(0)

    page.reload()
    wait_idle(page)
    expect(name).to_have_value("alice")
    assert _user(page.url) == ["alice"]


def test_user_name__a_page_from_the_menu_keeps_it_in_a_new_tab_and_the_history(
    tiny_project: Project, page, serve
) -> None:
    server = serve(tiny_project.folder)
    page.goto(f"{server.url}/queue?user=alice")
    heading = page.locator("h1").first
    expect(heading).to_have_text("Label queue", timeout=60_000)
    wait_idle(page)
    rounds = page.get_by_test_id("stSidebar").get_by_role("link", name="Selection rounds")

    other = page.context.new_page()  # "Open link in new tab": the link's address, a new session
    other.goto(urljoin(page.url, rounds.get_attribute("href")))
    expect(other.locator("h1").first).to_have_text("Selection rounds", timeout=60_000)
    expect(other.get_by_role("textbox", name="Your name")).to_have_value("alice")  # was empty
    assert _user(other.url) == ["alice"]
    other.close()

    rounds.click()
    expect(heading).to_have_text("Selection rounds", timeout=60_000)
    wait_idle(page)
    assert _user(page.url) == ["alice"]
    page.go_back()  # one step: the page before, not this page without ?user=
    expect(heading).to_have_text("Label queue", timeout=60_000)
    assert (urlsplit(page.url).path, _user(page.url)) == ("/queue", ["alice"])
