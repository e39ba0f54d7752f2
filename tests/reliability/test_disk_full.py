"""A full disk (issue 15, items 11 and 13), simulated by making the write raise ENOSPC after
part of the data: one clear error naming the file, the previous file intact, no temp file
left; and two builds of the decode cache at once never share a temp file."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bps_cli.main import main
from bps_core.atomic import atomic_path, atomic_write_text, temp_path
from bps_core.embeddings.cache import CacheSpec, build_cache
from bps_core.embeddings.store import save_embedding_set
from bps_core.errors import StorageWriteError
from bps_core.project import Project
from bps_core.project.config import CONFIG_NAME
from bps_core.storage import LocalFolderSource

_REAL_SAVE = np.save


def _disk_full_save(file: Any, arr: Any, *args: Any, **kwargs: Any) -> None:
    """np.save that writes the first bytes, then runs out of space."""
    with open(file, "wb") as fh:
        fh.write(b"\x93NUMPY partial")
    raise OSError(errno.ENOSPC, "No space left on device", str(file))


def _disk_full_fsync(fd: int) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_atomic_write__disk_full_keeps_the_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "labels.csv"
    target.write_text("filename,label\na.tif,x\n")
    monkeypatch.setattr(os, "fsync", _disk_full_fsync)
    with pytest.raises(StorageWriteError, match=r"labels\.csv: the disk is full"):
        atomic_write_text(target, "filename,label\n" + "b.tif,y\n" * 10_000)
    assert target.read_text() == "filename,label\na.tif,x\n"
    assert _files(tmp_path) == ["labels.csv"]


def test_atomic_path__any_failure_removes_the_temp_file(tmp_path: Path) -> None:
    def interrupted_save() -> None:
        with atomic_path(tmp_path / "a.npy", suffix=".npy") as tmp:
            np.save(tmp, np.zeros(3))
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        interrupted_save()
    assert _files(tmp_path) == []


def test_temp_path__unique_per_call_and_process(tmp_path: Path) -> None:
    names = {temp_path(tmp_path / "img64.npy", ".npy") for _ in range(100)}
    assert len(names) == 100
    assert all(str(os.getpid()) in n.name and n.name.endswith(".npy") for n in names)


def test_config_save__disk_full_keeps_the_old_config(
    tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (tiny_project.folder / CONFIG_NAME).read_bytes()
    monkeypatch.setattr(os, "fsync", _disk_full_fsync)
    with pytest.raises(StorageWriteError, match="project.toml: the disk is full"):
        tiny_project.config.save(tiny_project.folder)
    assert (tiny_project.folder / CONFIG_NAME).read_bytes() == before
    assert not [p for p in tiny_project.folder.iterdir() if ".tmp" in p.name]


def test_embeddings_and_map__disk_full_is_one_line_and_leaves_no_array(
    tiny_project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tiny_project.samples().key.tolist()
    vectors = np.random.default_rng(0).normal(size=(len(keys), 8))
    folder = tiny_project.arrays_dir / "embeddings"
    monkeypatch.setattr(np, "save", _disk_full_save)
    with pytest.raises(StorageWriteError, match="the disk is full"):
        save_embedding_set(tiny_project, "pixels", {}, keys, vectors)
    assert not [f for f in _files(folder) if f.endswith(".npy") or ".tmp" in f]
    monkeypatch.setattr(np, "save", _REAL_SAVE)
    save_embedding_set(tiny_project, "pixels", {}, keys, vectors)

    monkeypatch.setattr(np, "save", _disk_full_save)
    assert main(["map", str(tiny_project.folder), "--method", "pca"]) == 2
    # The map's progress bar may have started before the write failed; the error is one line,
    # the last one.
    *_, err = capsys.readouterr().err.strip().splitlines()
    assert err.startswith("error: could not write ")
    assert err.endswith("the disk is full; free space and retry")
    assert _files(tiny_project.arrays_dir / "maps") == []


def test_build_cache__disk_full_is_one_error_and_leaves_no_temp(
    tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    samples = tiny_project.samples()

    def full(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np.lib.format, "open_memmap", full)
    with pytest.raises(StorageWriteError, match=r"img16\.npy: the disk is full"):
        build_cache(tiny_project.arrays_dir, tiny_project.source(), samples.relpath.tolist(),
                    samples.key.tolist(), CacheSpec(16), workers=1)  # fmt: skip
    assert _files(tiny_project.arrays_dir / "cache") == []


class _GatedSource(LocalFolderSource):
    """Each build's first read waits until both builds have started (their temp files exist)."""

    def __init__(self, root: str, barrier: threading.Barrier) -> None:
        super().__init__(root)
        self._barrier = barrier
        self._waited = False

    def read_bytes(self, key: str, length: int | None = None) -> bytes:
        if not self._waited:
            self._waited = True
            self._barrier.wait(timeout=60)
        return super().read_bytes(key, length)


def test_build_cache__two_builds_at_once_use_their_own_temp_files(
    tiny_project: Project,
) -> None:
    samples = tiny_project.samples()
    rel, keys = samples.relpath.tolist()[:40], samples.key.tolist()[:40]
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def build() -> None:
        source = _GatedSource(tiny_project.config.datasource.path, barrier)
        try:
            results.append(build_cache(tiny_project.arrays_dir, source, rel, keys, CacheSpec(16),
                                       workers=1))  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - reported below
            results.append(exc)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results) == 2
    assert all(not isinstance(r, Exception) for r in results), results
    assert all(r.keys == keys for r in results)
    np.testing.assert_array_equal(results[0].images, results[1].images)
    assert sorted(_files(tiny_project.arrays_dir / "cache")) == ["img16.json", "img16.npy"]


def test_database__disk_full_is_one_error_and_writes_nothing(tiny_project: Project) -> None:
    keys = tiny_project.samples().key.tolist()
    tiny_project._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = tiny_project._conn.execute("PRAGMA page_count").fetchone()[0]
    tiny_project._conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "disk full"

    def label_until_full() -> None:
        for n in range(50):  # each action appends rows until no page is left
            tiny_project.add_labels(keys, f"class{n % 2}", user="u", source="api")

    with pytest.raises(StorageWriteError, match="project database: the disk is full"):
        label_until_full()
    n_events = len(tiny_project.label_events())
    assert n_events % len(keys) == 0  # whole actions only: the failed one wrote nothing
    assert tiny_project._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
