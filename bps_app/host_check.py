"""DNS-rebinding defence: refuse requests whose ``Host`` header names a host not allowed.

A page on ``attacker.example`` whose DNS later answers 127.0.0.1 is same-origin with the app in
the victim's browser, so it could load and drive the app. Checking ``Host`` stops that: the
browser still sends ``Host: attacker.example``.

Three layers, one list (Streamlit's ``server.allowedHosts``; ``.streamlit/config.toml`` sets the
local names, ``bps-labeler app --allow-host`` and ``server.toml`` add more):

- `HostCheckMiddleware` refuses every HTTP request and websocket handshake with a bad Host
  before any route runs. ``bps-labeler app`` (``make run``) starts Streamlit through
  ``python -m bps_app.serve``, which installs it.
- Streamlit itself refuses websocket handshakes with a bad Host once ``server.allowedHosts`` is
  set, which covers a bare ``streamlit run app.py`` from the repository folder too.
- `require_allowed_host`, at the top of ``app.py``, stops a session before anything renders.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

DEFAULT_ALLOWED_HOSTS = ("localhost", "127.0.0.1", "::1")
REFUSED = (
    b"Host not allowed. Open the app at an address its owner allowed "
    b"(bps-labeler app --allow-host NAME, or allowed_hosts in server.toml)."
)


def host_name(host: str | None) -> str | None:
    """The lower-case name of a ``Host`` header (port and IPv6 brackets removed), or None when
    it is missing or malformed."""
    if not host:
        return None
    try:
        parsed = urlparse(f"//{host.strip()}")
        name = parsed.hostname
        _ = parsed.port  # validates the port
    except ValueError:
        return None
    if (
        name is None
        or parsed.username is not None
        or parsed.password is not None
        or parsed.path
        or parsed.query
        or parsed.fragment
    ):
        return None
    return name.lower().rstrip(".")


def is_allowed_host(host: str | None, allowed: Iterable[str]) -> bool:
    """Whether ``host`` (a Host header) matches ``allowed``: exact names, ``*.suffix`` for
    subdomains, ``*`` for any; ``[::1]`` and ``::1`` are the same entry. An empty list means the
    local defaults, never "anything"."""
    name = host_name(host)
    if name is None:
        return False
    patterns = [a.strip().lower().strip("[]").rstrip(".") for a in allowed if a.strip()]
    for pattern in patterns or DEFAULT_ALLOWED_HOSTS:
        if pattern == "*" or name == pattern:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


def allowed_hosts() -> list[str]:
    """Streamlit's ``server.allowedHosts`` (empty means the local defaults)."""
    from streamlit import config

    value = config.get_option("server.allowedHosts")
    return [str(v) for v in value] if value else list(DEFAULT_ALLOWED_HOSTS)


class HostCheckMiddleware:
    """ASGI middleware: a request or websocket with a bad ``Host`` gets 400 and nothing else."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
        if is_allowed_host(host, allowed_hosts()):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            # Refusing the handshake (before websocket.accept) makes the server answer 403.
            await send({"type": "websocket.close", "code": 1008})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(REFUSED)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": REFUSED})


def install() -> None:
    """Puts `HostCheckMiddleware` first in Streamlit's middleware stack (call before the server
    starts). Fails loudly if Streamlit's internals moved, rather than serving unprotected."""
    from starlette.middleware import Middleware
    from streamlit.web.server.starlette import starlette_app

    original: Any = getattr(starlette_app, "create_streamlit_middleware", None)
    if original is None:
        raise RuntimeError(
            "this Streamlit version has no create_streamlit_middleware: "
            "the Host check cannot be installed; pin streamlit to the version in pyproject.toml"
        )
    if getattr(original, "_bps_host_check", False):
        return

    def with_host_check() -> list[Middleware]:
        return [Middleware(HostCheckMiddleware), *original()]

    with_host_check._bps_host_check = True  # type: ignore[attr-defined]
    starlette_app.create_streamlit_middleware = with_host_check


def require_allowed_host() -> None:
    """Stops this session before anything renders when its websocket came with a bad Host.

    The middleware refuses such requests already; this covers ``streamlit run app.py`` started
    without it. No Host at all (AppTest, no websocket) passes.
    """
    import streamlit as st

    try:
        host = st.context.headers.get("Host")
    except (AttributeError, RuntimeError):
        return
    if host and not is_allowed_host(host, allowed_hosts()):
        st.error(REFUSED.decode())
        st.stop()
