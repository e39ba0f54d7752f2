"""The repository's Streamlit settings (``.streamlit/config.toml``, read by ``bps-labeler app``
and ``streamlit run`` from the repository folder)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
import tomllib

from bps_app import cache
from bps_app.serve import PROJECT_ENV
from bps_core.project import Project
from bps_core.project.store import DB_NAME
from tests.helpers import ROOT


def test_config__no_full_garbage_collection_after_every_rerun() -> None:
    """Issue 20: Streamlit's post-run ``gc.collect(2)`` was a third of each queue keypress's
    server time at 77k samples (py-spy); the server leaves collection to Python."""
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False


def test_hold_database__a_rerun_closing_its_connection_leaves_the_log_in_place(
    tiny_project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20: SQLite checkpoints and deletes the write-ahead log when the last connection
    closes, which a connection per rerun made every rerun's close; the server holds one."""
    db_file = tiny_project.folder / DB_NAME
    with sqlite3.connect(db_file) as conn:  # fold the log in, so a copy holds everything
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    folder = tmp_path / "copy"
    shutil.copytree(tiny_project.folder, folder, ignore=shutil.ignore_patterns("*-wal", "*-shm"))
    monkeypatch.setenv(PROJECT_ENV, str(folder))
    cache.hold_database(folder)
    with Project.open(folder) as rerun:  # what a rerun does: open, write, close
        rerun.ensure_class("track")
    assert (folder / f"{DB_NAME}-wal").exists()
    with Project.open(folder) as again:
        assert [c.name for c in again.classes()] == ["track"]
