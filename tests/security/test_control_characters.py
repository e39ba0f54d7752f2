"""File names with control characters (issue 15, item 14): a bad sample with a reason, listed
in the problems and never written to a line-based file such as relevant_filenames.txt."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from bps_core.project import create_project_from_folder
from bps_core.storage import LocalFolderSource
from bps_core.writeback import write_lightly

NAMES = ["line\nbreak.png", "carriage\rreturn.png", "tab\tname.png", "bell\x07.png",
         "nel\x85.png", "sep\u2028line.png"]  # fmt: skip


@pytest.mark.parametrize("name", NAMES, ids=[repr(n) for n in NAMES])
def test_ingest__control_character_in_a_name_makes_a_bad_sample(tmp_path: Path, name: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    Image.new("L", (8, 8)).save(data / "ok.png")
    Image.new("L", (8, 8)).save(data / name)
    project, report = create_project_from_folder(tmp_path / "p", data)
    with project:
        assert "control character" in report.bad_files[name]
        df = project.samples().set_index("relpath")
        assert df.loc[name, "status"] == "bad"
        assert "rename the file" in df.loc[name, "error"]
        assert df.loc["ok.png", "status"] == "ok"
        problems = project.problems()
        assert name in problems.path.tolist()
        out = tmp_path / "out"
        write_lightly(project, LocalFolderSource(out, create=True), parts=["relevant_filenames"])
    listed = (out / ".lightly" / "relevant_filenames.txt").read_text()
    assert listed.splitlines() == ["ok.png"]
