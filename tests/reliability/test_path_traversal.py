"""Keys and names that try to leave a destination (``..``, absolute paths, backslashes, NUL,
drive letters, unicode look-alikes) never write outside its root: local writes, copies,
exports and write-back, with at least 60 payloads."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from bps_core.errors import DatasourceError
from bps_core.exports import export, folder_name
from bps_core.project import Project
from bps_core.project.store import utc_now
from bps_core.storage import DatasourceConfig, LocalFolderSource, SourceListing
from bps_core.storage.copy import copy_objects
from bps_core.storage.local import safe_relative_key
from bps_core.writeback import write_lightly

PAYLOADS = [
    "..", "../x", "../../x", "../../../../../../etc/passwd", "a/../../x", "a/b/../../../x",
    "./../x", "a/./../../x", "/x", "//x", "///etc/passwd", "/etc/passwd", "/tmp/x",
    "\\x", "\\\\server\\share\\x", "a\\..\\..\\x", "..\\x", "..\\..\\x", "a/..\\..\\x",
    "C:\\x", "C:/x", "c:x", "C:", "D:\\windows\\system32", "x\x00.tif", "\x00", "a/\x00/b",
    "../x\x00.tif", "a/../", "a/..", "../", "..//x", ".../x/../../y", "x/../..",
    "a/b/c/../../../../x", "%2e%2e/x", "%2e%2e%2fx", "..%2fx", "..%5cx", "....//x",
    "..;/x", "~/x", "~root/x", "$HOME/x", "a/\n/../../x", "\t../x", " ../x", "../ x",
    "\u2025/x", "\uff0e\uff0e/x", "\u002e\u002e/x", "..\u2215x", "..\u29f5x", "a" * 300,
    "x/" * 200 + "y", "con", "nul.tif", "aux/x", "lpt1.tif", "./x", ".", "", "/", "./",
    "a//b", "a/./b", ".hidden/../../x", "file:///etc/passwd", "s3://other/x",
]  # fmt: skip


def _must_refuse(key: str) -> bool:
    """Keys that would escape or name no file on some file system."""
    parts = key.split("/")
    return (
        "\x00" in key or "\\" in key or key.startswith("/") or ".." in parts
        or parts[0].endswith(":") or key in ("", ".", "./")
    )  # fmt: skip


DANGEROUS = [k for k in PAYLOADS if _must_refuse(k)]


def test_at_least_60_payloads() -> None:
    assert len(set(PAYLOADS)) >= 60
    assert len(DANGEROUS) >= 40


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() or p.is_symlink()}


@pytest.mark.parametrize("key", PAYLOADS)
def test_local_writes_stay_inside_the_root(tmp_path: Path, key: str) -> None:
    root = tmp_path / "dest"
    dest = LocalFolderSource(root, create=True)
    before = _files(tmp_path)
    with contextlib.suppress(DatasourceError):
        dest.write_bytes(key, b"payload")
    new = _files(tmp_path) - before
    assert all(p.resolve().is_relative_to(root.resolve()) for p in new), new


@pytest.mark.parametrize("key", PAYLOADS)
def test_s3_keys_stay_under_the_prefix(key: str) -> None:
    from bps_core.storage.s3 import S3Source

    source = S3Source.__new__(S3Source)  # only the key mapping is exercised: no client
    source.root = "team/out/"
    try:
        full = source._key(key)
    except DatasourceError:
        return
    assert full.startswith("team/out/")
    parts = full.split("/")
    assert ".." not in parts
    assert "" not in parts[:-1] or full == "team/out/"


class _DictSource:
    """A datasource whose listing holds arbitrary keys, as a hostile bucket's can."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects

    def list(self, prefix: str = "", progress=None):  # type: ignore[no-untyped-def]
        return iter(SourceListing(k, len(v)) for k, v in self.objects.items())

    def read_bytes(self, key: str, length: int | None = None) -> bytes:
        return self.objects[key][:length] if length else self.objects[key]

    def exists(self, key: str) -> bool:
        return key in self.objects

    def uri(self, key: str = "") -> str:
        return f"mem://{key}"


def test_copy_of_hostile_keys__refused_one_by_one_never_outside(tmp_path: Path) -> None:
    root = tmp_path / "copy"
    objects = {k: b"x" for k in PAYLOADS if k}
    objects["fine/ok.tif"] = b"ok"
    before = _files(tmp_path)
    report = copy_objects(_DictSource(objects), LocalFolderSource(root, create=True),
                          list(objects))  # fmt: skip
    new = _files(tmp_path) - before
    assert all(p.resolve().is_relative_to(root.resolve()) for p in new), new
    assert "fine/ok.tif" in report.copied
    assert {k for k in DANGEROUS if k} <= set(report.failed)  # each refused with a reason
    assert all("invalid key" in why or "cannot write" in why for why in report.failed.values())


def _hostile_samples(project: Project) -> None:
    rows = [(f"input:{k}", "input", k, 1, "ok", None, json.dumps({}), utc_now())
            for k in PAYLOADS if k]  # fmt: skip
    project._conn.executemany(
        "INSERT OR IGNORE INTO samples (key, datasource_id, relpath, size_bytes, status, error, "
        "meta_json, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    project._conn.commit()


def test_exports_and_writeback_with_hostile_paths_and_class_names(
    tiny_project: Project, tmp_path: Path
) -> None:
    _hostile_samples(tiny_project)
    samples = tiny_project.samples()
    hostile = samples[samples.key.str.removeprefix("input:").isin(PAYLOADS)].key.tolist()
    good = samples[~samples.key.isin(hostile)].key.head(len(PAYLOADS)).tolist()
    for name, key in zip(PAYLOADS, good, strict=False):  # hostile class names on real images
        with contextlib.suppress(ValueError):  # empty, too long or control characters: refused
            tiny_project.add_labels([key], name, user="ann", source="api")
    tiny_project.add_labels(hostile, "track", user="ann", source="api")
    dest = tmp_path / "exports"
    dest.mkdir()
    before = _files(tmp_path)
    report = export(tiny_project, "imagefolder", dest / "folder")
    assert report.n_written >= 40
    failed_paths = {f.split(": ", 1)[0] for f in report.failed}
    assert {k for k in DANGEROUS if k} <= failed_paths
    out = DatasourceConfig(id="output", kind="local", path=str(dest / "lightly"), purpose="output")
    tiny_project.set_datasources(output=out)
    wb = write_lightly(tiny_project, parts=("metadata", "relevant_filenames"))
    assert {k for k in DANGEROUS if k} <= set(wb.failed)
    new = _files(tmp_path) - before
    assert new
    assert all(p.resolve().is_relative_to(dest.resolve()) for p in new), sorted(new)[:3]
    assert all("/" not in folder_name(n) and folder_name(n) not in ("", ".", "..")
               for n in PAYLOADS)  # fmt: skip
    names = {p.relative_to(dest / "folder").parts[0] for p in new if "folder" in p.parts}
    assert all(n and n not in (".", "..") and "/" not in n for n in names)


def test_safe_relative_key_agrees_with_the_filesystem_check(tmp_path: Path) -> None:
    for key in PAYLOADS:
        try:
            rel = safe_relative_key(key)
        except DatasourceError:
            continue
        assert (tmp_path / rel).resolve().is_relative_to(tmp_path.resolve()), key
