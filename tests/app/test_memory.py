"""The server's garbage collector settings (``bps_app.memory``, issue 20)."""

from __future__ import annotations

import gc

import pytest

from bps_app import memory


class TestFreezeStartup:
    def test_freeze_startup__collects_then_freezes_once_per_process(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        calls: list[str] = []
        monkeypatch.setattr(memory, "_frozen", False)
        monkeypatch.setattr(gc, "collect", lambda *a: calls.append("collect") or 0)
        monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
        assert memory.freeze_startup()
        assert calls == ["collect", "freeze"]  # garbage now is collected, not kept frozen
        assert not memory.freeze_startup()  # every later run: nothing, so nothing piles up
        assert not memory.freeze_startup()
        assert calls == ["collect", "freeze"]
