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
    with pytest.raises(DatasourceError, match="nope: no such folder \\(a typo\\?\\); give the"):
        LocalFolderSource(tmp_path / "nope")
    (tmp_path / "a.tif").write_bytes(b"x")
    with pytest.raises(DatasourceError, match="a.tif: a file, not a folder; give the folder"):
        LocalFolderSource(tmp_path / "a.tif")


def test_safe_relative_key__normalises_plain_keys() -> None:
    assert safe_relative_key("a/./b.tif") == "a/b.tif"


def test_datasource_config__validation_names_the_field() -> None:
    with pytest.raises(DatasourceError, match="datasource id"):
        DatasourceConfig(id="Bad Id", path="/x")
    with pytest.raises(DatasourceError, match="purpose"):
        DatasourceConfig(path="/x", purpose="write")
    with pytest.raises(DatasourceError, match="path is empty"):
        DatasourceConfig()


def _walk_reference(src: LocalFolderSource) -> list[tuple[str, int]]:
    """The listing as it was built before scandir: os.walk, resolving every file."""
    out = []
    for dirpath, dirnames, filenames in os.walk(src.root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            full = Path(dirpath) / name
            real = full.resolve()
            if not real.is_relative_to(src.root) or not real.is_file():
                continue
            out.append((full.relative_to(src.root).as_posix(), real.stat().st_size))
    return out


def test_list__matches_os_walk_order_on_a_nested_tree(folder: Path, tmp_path: Path) -> None:
    """The scandir listing keeps os.walk's order (a folder's files before its subfolders,
    depth first, sorted) and never enters a linked folder, inside the root or out of it."""
    for rel in ("sub/z/deep.tif", "sub/a/x.tif", "sub/a/y/q.tif", "b/1.tif", "sub/0.tif"):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(b"x" * len(rel))
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "o.tif").write_bytes(b"o")
    os.symlink(tmp_path / "outside", folder / "linked_out")
    os.symlink(folder / "sub", folder / "linked_in")
    os.symlink(tmp_path / "nowhere.tif", folder / "dangling.tif")
    src = LocalFolderSource(folder)
    listed = [(i.key, i.size) for i in src.list()]
    assert listed == _walk_reference(src)
    assert [k for k, _ in listed if k.startswith("sub/")] == [
        "sub/0.tif", "sub/b.png", "sub/a/x.tif", "sub/a/y/q.tif", "sub/z/deep.tif"
    ]  # fmt: skip
    assert not any(k.startswith(("linked_", "dangling")) for k, _ in listed)


def test_read_bytes__a_linked_folder_leaving_the_root_is_refused(
    folder: Path, tmp_path: Path
) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "o.tif").write_bytes(b"o")
    os.symlink(tmp_path / "outside", folder / "linked_out")
    os.symlink(folder / "sub", folder / "linked_in")
    src = LocalFolderSource(folder)
    with pytest.raises(DatasourceError, match="outside the datasource root"):
        src.read_bytes("linked_out/o.tif")
    assert src.read_bytes("linked_in/b.png") == b"12"  # a link that stays inside is followed


@pytest.mark.parametrize("key", ["a.tif", "sub/b.png", "sub//b.png", "./a.tif", "sub/./b.png"])
def test_safe_relative_key__normal_and_unnormal_keys_agree(key: str) -> None:
    from pathlib import PurePosixPath

    assert safe_relative_key(key) == PurePosixPath(key).as_posix()
