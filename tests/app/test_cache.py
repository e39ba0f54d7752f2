"""``bps_app.cache`` helpers that need no page run."""

from __future__ import annotations

from typing import Any

import pytest

from bps_app import cache
from bps_core.images import DisplayWindow
from bps_core.storage import DatasourceConfig


class _FakeThumbnails:
    """Stands in for Streamlit's cached ``_thumbnail``: records what it makes."""

    def __init__(self) -> None:
        self.made: list[str] = []

    def __call__(self, source_json: str, relpath: str, size: int, window: tuple[Any, ...]) -> bytes:
        self.made.append(relpath)
        return f"{relpath}@{size}".encode()

    def clear(self) -> None:
        self.made.append("cleared")


def test_thumbnail__recent_ones_are_held_in_front_of_the_cache_until_cleared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = _FakeThumbnails()
    monkeypatch.setattr(cache, "_thumbnail", fake)
    monkeypatch.setattr(cache, "_RECENT_KEPT", 2)
    cache.clear_thumbnails()
    source = DatasourceConfig(id="in", kind="local", path="/data")
    window = DisplayWindow()
    assert cache.thumbnail(source, "a.tif", 160, window) == b"a.tif@160"
    assert cache.thumbnail(source, "a.tif", 160, window) == b"a.tif@160"
    assert fake.made == ["cleared", "a.tif"]  # the second from the held ones
    cache.thumbnail(source, "a.tif", 128, window)  # another size is another thumbnail
    cache.thumbnail(source, "b.tif", 160, window)  # pushes out the oldest (a.tif at 160)
    cache.thumbnail(source, "a.tif", 160, window)
    assert fake.made[1:] == ["a.tif", "a.tif", "b.tif", "a.tif"]
    cache.clear_thumbnails()  # both: Streamlit's cache and the held ones
    cache.thumbnail(source, "b.tif", 160, window)
    assert fake.made[-2:] == ["cleared", "b.tif"]
