"""The local folder datasource: listing, reading, and staying inside the root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bps_core.errors import DatasourceError
from bps_core.storage import DatasourceConfig, LocalFolderSource
from bps_core.storage.local import safe_relative_key


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "a.tif").write_bytes(b"1234")
    (root / "sub" / "b.png").write_bytes(b"12")
    (root / ".hidden" / "c.tif").write_bytes(b"x")
    (root / ".dotfile.tif").write_bytes(b"x")
    (tmp_path / "secret.txt").write_text("outside")
    os.symlink(tmp_path / "secret.txt", root / "escape.tif")
    os.symlink(root / "a.tif", root / "inside_link.tif")
    return root


def test_list__stable_order_sizes_and_no_hidden_files(folder: Path) -> None:
    items = list(LocalFolderSource(folder).list())
    assert [(i.key, i.size) for i in items] == [
        ("a.tif", 4),
        ("inside_link.tif", 4),
        ("sub/b.png", 2),
    ]


def test_list__symlink_leaving_the_root_is_not_listed_nor_readable(folder: Path) -> None:
    src = LocalFolderSource(folder)
    assert "escape.tif" not in {i.key for i in src.list()}
    with pytest.raises(DatasourceError, match="outside the datasource root"):
        src.read_bytes("escape.tif")


@pytest.mark.parametrize(
    "key", ["../secret.txt", "/etc/passwd", "sub/../../secret.txt", "a\\b", "a\x00b", "", "C:/x"]
)
def test_read_bytes__keys_escaping_the_root_are_refused(folder: Path, key: str) -> None:
    with pytest.raises(DatasourceError):
        LocalFolderSource(folder).read_bytes(key)


def test_read_bytes__head_and_whole(folder: Path) -> None:
    src = LocalFolderSource(folder)
    assert src.read_bytes("a.tif") == b"1234"
    assert src.read_bytes("a.tif", 2) == b"12"
    assert src.exists("sub/b.png")
    assert not src.exists("nope.png")
    assert src.uri("a.tif").startswith("file://")


def test_source__missing_root_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasourceError, match="not a folder"):
        LocalFolderSource(tmp_path / "nope")


def test_safe_relative_key__normalises_plain_keys() -> None:
    assert safe_relative_key("a/./b.tif") == "a/b.tif"


def test_datasource_config__validation_names_the_field() -> None:
    with pytest.raises(DatasourceError, match="datasource id"):
        DatasourceConfig(id="Bad Id", path="/x")
    with pytest.raises(DatasourceError, match="purpose"):
        DatasourceConfig(path="/x", purpose="write")
    with pytest.raises(DatasourceError, match="path is empty"):
        DatasourceConfig()
