"""``kill -9`` during ``init`` (issue 15, item 9): the project says its ingest did not finish
(CLI ``info``, the Project page), ``init`` explains how to go on, and ``bps-labeler ingest``
completes it; running it again changes nothing. The first test runs on both engines."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bps_cli.main import main
from bps_core.project import Project
from bps_core.project import db as project_db
from tests.helpers import ROOT, open_app, wait_until

# Blocks the ingest after it listed the folder (in the per-file header check) and says so.
_CHILD = """
import importlib, pathlib, sys, time
ing = importlib.import_module("bps_core.project.ingest")

def blocked(source, key, size):
    pathlib.Path(sys.argv[3]).touch()
    time.sleep(3600)

ing._header_problem = blocked
from bps_cli.main import main
url = sys.argv[4:]  # a PostgreSQL database, or none: SQLite
main(["init", sys.argv[1], "--source", sys.argv[2], *(["--database-url", *url] if url else [])])
"""


def _killed_init(data: Path, folder: Path, marker: Path, url: str = "") -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_CHILD), str(folder), str(data), str(marker),
         *([url] if url else [])],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip

    def in_the_ingest() -> bool:
        if marker.exists():
            return True
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        return False

    wait_until(in_the_ingest, interval=0.02, what="the child in the ingest")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def test_kill_during_init__ingest_command_completes_the_project(
    tiny_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], engine_url: str
) -> None:
    folder = tmp_path / "project"
    _killed_init(tiny_copy, folder, tmp_path / "ingesting", engine_url)
    with Project.open(folder) as project:
        if project_db.engine(project._conn) == "sqlite":
            assert project._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert project.config.database_url == engine_url
        assert project.n_samples() == 0
        assert project.ingest_unfinished()
    capsys.readouterr()
    assert main(["info", str(folder)]) == 0
    assert "ingest: not finished" in capsys.readouterr().out
    assert main(["init", str(folder), "--source", str(tiny_copy)]) == 2
    assert "bps-labeler ingest" in capsys.readouterr().err

    assert main(["ingest", str(folder)]) == 0
    assert "170 samples" in capsys.readouterr().out
    with Project.open(folder) as project:
        assert project.n_samples() == 170
        assert not project.ingest_unfinished()
        version = project.samples_version()
        keys = project.samples().key.tolist()
    assert main(["info", str(folder)]) == 0
    assert "ingest: complete" in capsys.readouterr().out
    assert main(["ingest", str(folder)]) == 0  # idempotent: the same samples, no duplicates
    with Project.open(folder) as project:
        assert project.samples().key.tolist() == keys
        assert project.samples_version() != version  # re-listed (updated), not skipped


def test_project_page__warns_of_an_unfinished_ingest(
    tiny_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "project"
    _killed_init(tiny_copy, folder, tmp_path / "ingesting")
    monkeypatch.setenv("BPS_LABELER_WARM_WORKER", "0")
    at = open_app(monkeypatch, folder).run()
    assert not at.exception
    assert any("did not finish" in w.value and "bps-labeler ingest" in w.value for w in at.warning)
    assert at.button(key="home_complete_ingest")
    assert main(["ingest", str(folder)]) == 0
    at.run()
    assert not any("did not finish" in w.value for w in at.warning)
