"""A real browser against a real server: ``streamlit run`` on a free loopback port, driven by
Debian's Chromium through Playwright. In CI these tests must run: a missing browser fails them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import ROOT, free_port, wait_for_http

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--enable-unsafe-swiftshader",  # software WebGL for plotly's scattergl
]  # fmt: skip


_PLAYWRIGHT = None


def playwright():  # type: ignore[no-untyped-def]
    """One Playwright per test process: its sync API refuses a second one while one runs, and
    conftests that import `browser` register it once each (tests/security needs another
    browser, with other flags, too). The driver exits with the process."""
    global _PLAYWRIGHT
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs it with apt-get install chromium")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    if _PLAYWRIGHT is None:
        from playwright.sync_api import sync_playwright

        _PLAYWRIGHT = sync_playwright().start()
    return _PLAYWRIGHT


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    b = playwright().chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
    yield b
    b.close()


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    """A fresh page in its own browser context, closed after the test (an open page of a
    stopped server keeps reconnecting in the background)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    yield context.new_page()
    context.close()


class StreamlitServer:
    """``streamlit run`` of ``script`` (the app by default) on a free loopback port, started
    through ``bps_app.serve`` (the Host check on) as ``bps-labeler app`` does, unless
    ``module="streamlit"``."""

    def __init__(
        self, project_dir: Path, script: Path = ROOT / "app.py", module: str = "bps_app.serve"
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "BPS_PROJECT": str(project_dir)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, "run", str(script),
             "--server.port", str(self.port), "--server.address", "127.0.0.1",
             "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        if not wait_for_http(f"{self.url}/_stcore/health", self.proc, timeout=180, expect=b"ok"):
            self.proc.kill()  # still starting after the deadline: its output ends with the kill
            out = self.proc.stdout.read().decode() if self.proc.stdout else ""
            raise RuntimeError(f"streamlit did not start:\n{out}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.fixture
def serve() -> Iterator[type[StreamlitServer]]:
    servers: list[StreamlitServer] = []

    def start(project_dir: Path) -> StreamlitServer:
        s = StreamlitServer(project_dir)
        servers.append(s)
        return s

    yield start  # type: ignore[misc]
    for s in servers:
        s.stop()


def wait_idle(page, timeout_ms: int = 30_000) -> None:  # type: ignore[no-untyped-def]
    """Waits until the script run has finished (Streamlit's own e2e tests watch the same
    attribute), so every element on the page belongs to the latest run."""
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout_ms
    )


def sign_in_and_open(page, url: str, user: str, link: str) -> None:  # type: ignore[no-untyped-def]
    """Opens the app, types the labeler's name in the sidebar, and follows a page link."""
    page.goto(url)
    name = page.get_by_role("textbox", name="Your name")
    name.fill(user)
    name.press("Enter")
    page.get_by_role("link", name=link).first.click()
