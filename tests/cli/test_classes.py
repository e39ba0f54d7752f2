"""``bps-labeler classes``: list the classes, remove one no sample carries."""

from __future__ import annotations

from pathlib import Path

import pytest

from bps_cli.main import main
from bps_core.project import Project


def test_classes__lists_and_removes_an_unused_class(
    tiny_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tiny_project.keys_with_status("ok")[0]
    tiny_project.add_labels([key], "debris", user="ann", source="api")
    tiny_project.ensure_class("trakc")
    folder: Path = tiny_project.folder

    assert main(["classes", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "1  debris  (1 sample)" in out
    assert "2  trakc  (0 samples)" in out

    assert main(["classes", str(folder), "--remove", "trakc"]) == 0
    assert "removed class 'trakc'" in capsys.readouterr().out
    assert main(["classes", str(folder), "--remove", "debris"]) == 2
    assert "current label of 1 sample:" in capsys.readouterr().err
    with Project.open(folder) as project:
        assert [c.name for c in project.classes()] == ["debris"]
