"""``label-issues``: the ranked CSV, its counts and its one-line errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bps_cli.main import main
from bps_core import verbs
from bps_core.project import Project
from tests.quality.conftest import N_PER_CLASS, plant_flip


def test_label_issues__writes_the_ranked_csv_and_says_how_many(
    tiny_project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flipped = plant_flip(tiny_project)
    rel = tiny_project.samples().set_index("key").relpath[flipped]
    folder = str(tiny_project.folder)
    out = tmp_path / "issues.csv"
    assert main(["label-issues", folder, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(out)
    assert list(table.columns[:4]) == ["filename", "label", "suggested", "score"]
    assert len(table) == 2 * N_PER_CLASS
    assert rel in table.filename.head(2).tolist()
    assert table.score.is_monotonic_decreasing
    n_likely = int(table.likely_issue.sum())
    assert f"wrote {2 * N_PER_CLASS} labels to {out}" in printed
    assert f"{n_likely} of {2 * N_PER_CLASS} scored labels are likely issues" in printed
    # --top, --likely-only, an existing file, a model that is not there
    assert main(["label-issues", folder, "--out", str(out)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert main(["label-issues", folder, "--out", str(out), "--overwrite", "--top", "3"]) == 0
    assert len(pd.read_csv(out)) == 3
    assert main(["label-issues", folder, "--out", str(out), "--overwrite", "--likely-only"]) == 0
    assert len(pd.read_csv(out)) == n_likely
    capsys.readouterr()
    assert main(["label-issues", folder, "--out", str(out), "--overwrite", "--model", "x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no model 'x' in this project")
    assert len(err.strip().splitlines()) == 1


def test_label_issues__without_a_model_is_one_line_and_exit_2(
    tiny_project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "issues.csv"
    assert main(["label-issues", str(tiny_project.folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no model yet: train one first")
    assert len(err.splitlines()) == 1
    assert not out.exists()


def test_label_issues__a_project_of_an_older_schema_is_upgraded_not_called_read_only(
    tiny_project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A project made by an older version (the demo template is one): label-issues was the only
    # command opening it read-only, so it refused with "ask for write access" although the
    # user could write, while every other command upgraded it.
    import sqlite3

    plant_flip(tiny_project)
    folder = tiny_project.folder
    conn = sqlite3.connect(folder / "project.db", timeout=10)
    conn.executescript("ALTER TABLE label_classes DROP COLUMN retired_at; "
                       "DROP VIEW current_tags; DROP TABLE tag_events; DROP TABLE image_stats; "
                       "DROP INDEX samples_by_status; DROP TABLE sample_changes; "
                       "DROP TABLE samples_frame_stamps; PRAGMA user_version = 6;")  # fmt: skip
    conn.close()
    out = tmp_path / "issues.csv"
    assert main(["label-issues", str(folder), "--out", str(out)]) == 0, capsys.readouterr().err
    assert len(pd.read_csv(out)) == 2 * N_PER_CLASS


def test_info__lists_the_model_ids_that_model_takes(
    tiny_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    plant_flip(tiny_project)  # labels and a trained model
    (model,) = verbs.list_models(tiny_project)
    folder = str(tiny_project.folder)
    assert main(["info", folder]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert "models: 1 (newest first; --model ID picks one)" in printed
    assert any(line.split()[0] == model.id for line in printed if line.startswith("  "))
    assert main(["label-issues", folder, "--out", str(tiny_project.folder / "x.csv"),
                 "--model", "nope"]) == 2  # fmt: skip
    assert "'bps-labeler info PROJECT_DIR' lists them" in capsys.readouterr().err
