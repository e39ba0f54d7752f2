"""DNS rebinding: requests whose Host header names a host not allowed are refused before
anything renders (bps_app.host_check), in Chromium and on raw HTTP and websocket requests."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path

import pytest

from bps_app.host_check import DEFAULT_ALLOWED_HOSTS, REFUSED, is_allowed_host
from bps_app.serve import app_command
from bps_core.project import Project
from tests.browser.conftest import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    StreamlitServer,
    playwright,
    wait_idle,
)
from tests.helpers import open_app

ATTACKER = "attacker.example"


class TestIsAllowedHost:
    @pytest.mark.parametrize(
        "host", ["localhost", "localhost:8501", "127.0.0.1:1", "[::1]:8501", "LOCALHOST."]
    )
    def test_is_allowed_host__local_names_with_any_port(self, host: str) -> None:
        assert is_allowed_host(host, DEFAULT_ALLOWED_HOSTS)

    @pytest.mark.parametrize(
        "host",
        [None, "", "attacker.example", "attacker.example:8501", "127.0.0.1.nip.io",
         "localhost.attacker.example", "user@localhost", "localhost:99999", "localhost/x",
         "127.0.0.2"],
    )  # fmt: skip
    def test_is_allowed_host__others_are_refused(self, host: str | None) -> None:
        assert not is_allowed_host(host, DEFAULT_ALLOWED_HOSTS)

    def test_is_allowed_host__configured_names_and_wildcards(self) -> None:
        allowed = [*DEFAULT_ALLOWED_HOSTS, "labeler.lab.org", "*.proxy.org"]
        assert is_allowed_host("labeler.lab.org:443", allowed)
        assert is_allowed_host("a.proxy.org", allowed)
        assert not is_allowed_host("proxy.org.attacker.example", allowed)
        assert is_allowed_host("localhost", [])  # empty: the local defaults, never "any"
        assert not is_allowed_host("attacker.example", [])


def test_app_command__passes_local_configured_and_flag_hosts(tmp_path: Path) -> None:
    (tmp_path / "server.toml").write_text('[server]\nallowed_hosts = ["labeler.lab.org"]\n')
    cmd, _ = app_command(tmp_path, "127.0.0.1", 8501, allow_hosts=("proxy.lab.org",))
    hosts = [cmd[i + 1] for i, c in enumerate(cmd) if c == "--server.allowedHosts"]
    assert hosts == ["localhost", "127.0.0.1", "::1", "labeler.lab.org", "proxy.lab.org"]
    assert cmd[1:3] == ["-m", "bps_app.serve"]  # the launcher installs the Host check


def _request(port: int, host: str, path: str, websocket: bool = False) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Host": host}
    if websocket:
        headers |= {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}  # fmt: skip
    conn.putrequest("GET", path, skip_host=True)
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.endheaders()
    resp = conn.getresponse()
    body = resp.read() if resp.status != 101 else b""
    conn.close()
    return resp.status, body


@pytest.fixture
def server(tiny_project: Project) -> Iterator[StreamlitServer]:
    s = StreamlitServer(tiny_project.folder)  # started like bps-labeler app does
    yield s
    s.stop()


def test_server__raw_requests_with_a_bad_host_are_refused(server: StreamlitServer) -> None:
    port = server.port
    for path in ("/", "/_stcore/health", "/_stcore/host-config", "/static/x.js"):
        status, body = _request(port, f"{ATTACKER}:{port}", path)
        assert status == 400, path
        assert b"Host not allowed" in body
    assert _request(port, f"{ATTACKER}:{port}", "/_stcore/stream", websocket=True)[0] == 403
    assert _request(port, f"127.0.0.1:{port}", "/_stcore/health") == (200, b"ok")
    assert _request(port, f"localhost:{port}", "/_stcore/stream", websocket=True)[0] == 101


def test_browser__attacker_host_mapped_to_loopback_sees_nothing(
    server: StreamlitServer, tmp_path: Path
) -> None:
    rules = f"--host-resolver-rules=MAP {ATTACKER} 127.0.0.1"
    browser = playwright().chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_FLAGS, rules])
    try:
        page = browser.new_page()
        response = page.goto(f"http://{ATTACKER}:{server.port}/")
        assert response is not None
        assert response.status == 400
        page.screenshot(path=str(tmp_path / "attacker.png"))
        assert "Host not allowed" in page.content()
        assert page.locator('[data-testid="stApp"]').count() == 0
        page.goto(f"http://127.0.0.1:{server.port}/")
        wait_idle(page)
        page.get_by_role("link", name="Explore and label").first.wait_for()
    finally:
        browser.close()


def test_bare_streamlit_run__still_refuses_the_websocket(tiny_project: Project) -> None:
    """Without the launcher (``streamlit run app.py`` in the repository folder), Streamlit's
    own check with .streamlit/config.toml's allowedHosts still refuses the app's websocket."""
    server = StreamlitServer(tiny_project.folder, module="streamlit")
    try:
        status, _ = _request(server.port, f"{ATTACKER}:{server.port}", "/_stcore/stream", True)
        assert status == 403
    finally:
        server.stop()


def test_require_allowed_host__stops_the_script_before_anything_renders(
    tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last layer: a session whose websocket came with a foreign Host renders nothing."""
    import streamlit as st

    class _Context:
        headers = {"Host": f"{ATTACKER}:8501"}

    monkeypatch.setattr(st, "context", _Context())
    at = open_app(monkeypatch, tiny_project.folder)
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == [REFUSED.decode()]
    assert not at.metric
    assert not at.sidebar.text_input
    assert not at.title
