"""``bps-labeler migrate PROJECT_DIR --to postgresql://...``: an SQLite project's labels and
their whole history move to PostgreSQL, checked by counts and checksums, and the project
carries on there (undo of a label made before the move, new ids after the old ones)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bps_cli.main import main
from bps_core.project import Project, create_project_from_folder
from bps_core.project.config import CONFIG_NAME
from bps_core.project.embedding_sets import EmbeddingSetRecord
from bps_core.project.move import MOVED_SUFFIX, TABLES
from bps_core.project.reviews import Verdict
from bps_core.project.rounds import ModelRecord


def _history(project: Project) -> dict[str, pd.DataFrame]:
    return {
        "events": project.label_events(),
        "current": project.current_labels(),
        "samples": project.samples(),
    }


def _busy_sqlite_project(tiny_copy: Path, folder: Path) -> Project:
    project, _ = create_project_from_folder(folder, tiny_copy)
    keys = project.samples().key.tolist()
    project.add_labels(keys[:20], "track", user="ann", source="lasso")
    project.add_labels(keys[10:30], "debris", user="bob", source="queue")
    project.undo("bob")
    project.add_labels(keys[40:45], None, user="ann", source="api")
    project.embedding_sets.add(
        EmbeddingSetRecord("aaa", "pixels", {"size": 8}, None, 170, 8, "arrays/e.npy", "t"),
        make_current=True,
    )
    project.rounds.add(strategy="random", config={"n": 2}, seed=1, keys=keys[50:52],
                       embedding_version="aaa", model_before=None, user="ann",
                       created_at="t")  # fmt: skip
    project.models.add(ModelRecord("m1", "logreg", "aaa", ["track"], 20, {"acc": 0.5}, "t"),
                       params={}, path="arrays/m1.npy", user="ann")  # fmt: skip
    project.mark_bad(keys[60], "truncated")
    return project


def test_migrate__moves_labels_and_history_checked_then_the_project_runs_on_postgresql(
    tiny_copy: Path, tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "proj"
    with _busy_sqlite_project(tiny_copy, folder) as project:
        before = _history(project)
        keys = project.samples().key.tolist()
    assert main(["migrate", str(folder), "--to", database_url]) == 0
    out = capsys.readouterr().out
    assert "label_events: 65 rows" in out
    assert "equal on both sides" in out
    assert not (folder / "project.db").exists()
    assert (folder / ("project.db" + MOVED_SUFFIX)).is_file()
    assert f'url = "{database_url}"' in (folder / CONFIG_NAME).read_text()
    with Project.open(folder) as project:
        after = _history(project)
        for name, frame in before.items():
            pd.testing.assert_frame_equal(after[name], frame, check_dtype=False, obj=name)
        assert project.embedding_sets.current_version() == "aaa"
        assert [m.id for m in project.models.all()] == ["m1"]
        assert project.rounds.keys(1) == keys[50:52]
        # the history carries on: ann's last action (before the move) undoes on the server,
        # and new events and rounds number on from the old ones
        undone = project.undo("ann")
        assert undone is not None
        assert undone.n_changed == 5
        assert project.labels_version() == 65 + 5
        assert project.rounds.add(strategy="random", config={}, seed=2, keys=keys[:1],
                                  embedding_version="aaa", model_before=None, user="ann",
                                  created_at="t") == 2  # fmt: skip
    assert main(["migrate", str(folder), "--to", database_url]) == 2
    assert "already keeps its database on PostgreSQL" in capsys.readouterr().err


def test_migrate__a_database_holding_a_project_is_refused_and_nothing_changes(
    tiny_copy: Path, tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    other, _ = create_project_from_folder(tmp_path / "other", tiny_copy, database_url=database_url)
    other.close()
    folder = tmp_path / "proj"
    _busy_sqlite_project(tiny_copy, folder).close()
    toml = (folder / CONFIG_NAME).read_text()
    assert main(["migrate", str(folder), "--to", database_url]) == 2
    assert "already holds a project" in capsys.readouterr().err
    assert (folder / CONFIG_NAME).read_text() == toml
    with Project.open(folder) as project:
        assert len(project.label_events()) == 65


def test_migrate__moves_reviews_and_double_labeling_assignments(
    tiny_copy: Path, tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "proj"
    project, _ = create_project_from_folder(folder, tiny_copy)
    keys = project.samples().key.tolist()
    project.add_labels(keys[:6], "track", user="ann", source="lasso")
    project.ensure_class("debris")
    project.reviews.record([Verdict(keys[0], "accept"), Verdict(keys[1], "reject"),
                            Verdict(keys[2], "fix", label="debris")], user="rita")  # fmt: skip
    project.assignments.configure(["ann", "bob"], 0.1, seed=3, blind=True)
    project.add_labels(project.assignments.keys("bob")[:2], "debris", user="bob", source="queue")
    before = {
        "reviews": project.reviews.current(),
        "history": project.reviews.history(keys[2]),
        "assignments": project.assignments.table(),
        "labeler_labels": project.assignments.labeler_labels(),
    }
    counts, setting, version = (project.reviews.counts(), project.assignments.settings(),
                                project.reviews.version())  # fmt: skip
    project.close()
    assert main(["migrate", str(folder), "--to", database_url]) == 0
    out = capsys.readouterr().out
    assert "label_reviews: 3 rows" in out
    assert f"label_assignments: {len(before['assignments'])} rows" in out
    with Project.open(folder) as project:
        assert project.database_location().startswith("PostgreSQL ")
        after = {
            "reviews": project.reviews.current(),
            "history": project.reviews.history(keys[2]),
            "assignments": project.assignments.table(),
            "labeler_labels": project.assignments.labeler_labels(),
        }
        for name, frame in before.items():
            pd.testing.assert_frame_equal(after[name], frame, check_dtype=False, obj=name)
        assert project.reviews.counts() == counts
        assert project.assignments.settings() == setting
        # the review log carries on: a new verdict numbers on from the old ones
        project.reviews.record([Verdict(keys[3], "accept")], user="rita")
        assert project.reviews.version() == version + 1


def test_move_tables__cover_every_table_of_the_schema(tmp_path: Path) -> None:
    from bps_core.project import db as project_db

    conn = project_db.connect(tmp_path / "p.db")
    project_db.migrate(conn)
    tables = {
        r[0]
        for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if not r[0].startswith("sqlite_")
    }
    # The samples' version counter, change log and snapshot stamps describe each database's own
    # history: the moved project starts its own (its first samples frame is built afresh).
    per_database = {"samples_version", "sample_changes", "samples_frame_stamps"}
    assert tables - {t for t, _ in TABLES} == per_database


def test_migrate__refused_while_a_job_is_queued_or_running(
    tiny_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bps_core import jobs
    from bps_core.verbs import MapConfig

    folder = tmp_path / "proj"
    project, _ = create_project_from_folder(folder, tiny_copy)
    jobs.submit(project, MapConfig(method="pca"), user="ann", spawn=False)
    project.close()
    url = "postgresql://ann@127.0.0.1:1/unused"  # refused before any connection
    assert main(["migrate", str(folder), "--to", url]) == 2
    assert "queued or running jobs" in capsys.readouterr().err
    assert (folder / "project.db").is_file()
