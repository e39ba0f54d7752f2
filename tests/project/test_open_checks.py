"""Opening a damaged project (issue 15, items 10 and 12): one clear error naming the file and
field, never a silently recreated database or a traceback; read-only projects open read-only."""

from __future__ import annotations

import math
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bps_cli.main import main
from bps_core.errors import ProjectError, ReadOnlyProjectError
from bps_core.project import Project, create_project_from_folder
from bps_core.project.config import CONFIG_NAME, ProjectConfig
from bps_core.project.store import DB_NAME


@pytest.fixture
def folder(tiny_copy: Path, tmp_path: Path) -> Path:
    project, _ = create_project_from_folder(tmp_path / "project", tiny_copy)
    with project:
        project.add_labels(project.samples().key.head(3), "a", user="u", source="api")
    return project.folder


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: "), err
    assert "\n" not in err, err
    assert "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda p: p.unlink(), "is missing"),
        (lambda p: p.write_bytes(b""), "is empty (0 bytes)"),
        (lambda p: p.write_text("name,label\nx,y\n"), "is not an SQLite database"),
    ],
    ids=["deleted", "zero_bytes", "not_sqlite"],
)
def test_open__lost_database_is_refused_not_recreated(
    folder: Path, damage: object, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db_path = folder / DB_NAME
    for extra in (folder / f"{DB_NAME}-wal", folder / f"{DB_NAME}-shm"):
        extra.unlink(missing_ok=True)
    damage(db_path)  # type: ignore[operator]
    after = db_path.read_bytes() if db_path.exists() else None
    with pytest.raises(ProjectError, match="backup") as err:
        Project.open(folder)
    assert expected in str(err.value)
    assert str(db_path) in str(err.value)
    assert (db_path.read_bytes() if db_path.exists() else None) == after  # nothing recreated
    assert main(["info", str(folder)]) == 2
    assert expected in _one_line_error(capsys)


def test_open__truncated_database_is_reported_as_damaged(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_path = folder / DB_NAME
    with sqlite3.connect(db_path) as conn:  # fold the WAL in, so the file holds everything
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for extra in (folder / f"{DB_NAME}-wal", folder / f"{DB_NAME}-shm"):
        extra.unlink(missing_ok=True)
    data = db_path.read_bytes()
    db_path.write_bytes(data[:100] + b"\xff" * 4000)  # header kept, first page destroyed
    with pytest.raises(ProjectError, match="damaged.*backup"):
        Project.open(folder)
    assert main(["label", str(folder), "--csv", str(folder / "none.csv")]) == 2
    assert "damaged" in _one_line_error(capsys)


def _set_toml(folder: Path, old: str, new: str) -> None:
    path = folder / CONFIG_NAME
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("format_version = 1", 'format_version = "abc"', "[project] format_version"),
        ("gamma = 1.0", 'gamma = "abc"', "[display] gamma"),
        ("gamma = 1.0", "gamma = -1", "gamma must be positive"),
        ("low_pct = 0.5", "low_pct = nan", "[display] low_pct"),
        ("high_pct = 99.5", "high_pct = inf", "[display] high_pct"),
        ('mode = "auto"', 'mode = "sepia"', "[display] mode"),
        ('kind = "local"', 'kind = "ftp"', "[datasource] kind"),
        ('purpose = "input"', 'purpose = "everything"', "[datasource] purpose"),
        ("session_duration_s = 3600", 'session_duration_s = "x"', "session_duration_s"),
    ],
)
def test_open__damaged_config_value_names_file_and_field(
    folder: Path, old: str, new: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _set_toml(folder, old, new)
    with pytest.raises(ProjectError) as err:
        Project.open(folder)
    assert expected in str(err.value)
    assert CONFIG_NAME in str(err.value)
    assert main(["info", str(folder)]) == 2
    assert expected in _one_line_error(capsys)


def test_open__non_utf8_config_is_one_clear_error(folder: Path) -> None:
    path = folder / CONFIG_NAME
    path.write_bytes(path.read_bytes().replace(b"name = ", b"name = \xff\xfe", 1))
    with pytest.raises(ProjectError, match="not UTF-8"):
        Project.open(folder)


def test_from_toml__invalid_s3_setting_names_file_and_field() -> None:
    import tomli_w

    doc = {
        "project": {"name": "p", "created_at": "now", "format_version": 1},
        "datasource": {"id": "input", "kind": "s3", "bucket": "Bad_Bucket", "purpose": "input"},
    }
    with pytest.raises(ProjectError) as err:
        ProjectConfig.from_toml(tomli_w.dumps(doc), "p.toml")
    assert str(err.value).startswith("p.toml [datasource] bucket 'Bad_Bucket': use lower-case")
    doc["datasource"]["bucket"] = "bucket-a"
    doc["datasource"]["prefix"] = "in"
    assert ProjectConfig.from_toml(tomli_w.dumps(doc), "p.toml").datasource.prefix == "in/"


_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 200), st.floats(allow_nan=True),
    st.text(max_size=8), st.lists(st.integers(), max_size=2),
)  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(display=st.dictionaries(
    st.sampled_from(["mode", "low_pct", "high_pct", "vmin", "vmax", "gamma", "other"]), _VALUES
))  # fmt: skip
def test_from_toml__any_display_table_loads_valid_or_fails_clearly(
    display: dict[str, object],
) -> None:
    import tomli_w

    doc = {
        "project": {"name": "p", "created_at": "now", "format_version": 1},
        "datasource": {"id": "input", "kind": "local", "path": "/data", "purpose": "input"},
        "display": {k: v for k, v in display.items() if v is not None},
    }
    try:
        text = tomli_w.dumps(doc)
    except (TypeError, ValueError):
        return  # not representable in TOML
    try:
        config = ProjectConfig.from_toml(text, "p.toml")
    except ProjectError as exc:
        message = str(exc)
    else:
        message = ""
    if message:
        assert message.startswith("p.toml")
        assert "\n" not in message
        return
    window = config.display
    window.validate()
    assert all(math.isfinite(v) for v in (window.low_pct, window.high_pct, window.gamma))


def test_open__read_only_project_reads_but_refuses_writes(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_access = os.access

    def no_write(path: object, mode: int, **kw: object) -> bool:
        return False if mode & os.W_OK else real_access(path, mode, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", no_write)
    with Project.open(folder) as project:
        assert project.read_only
        assert project.n_samples() == 170
        assert project.label_counts() == {"a": 3}
        with pytest.raises(ReadOnlyProjectError, match="read-only"):
            project.add_labels(project.samples().key.tail(2), "b", user="u", source="api")
    labels = folder.parent / "labels.csv"
    labels.write_text("filename,label\nx.tif,b\n")
    assert main(["info", str(folder)]) == 0
    capsys.readouterr()
    with Project.open(folder, read_only=True) as project:
        first = project.samples().relpath.iloc[0]
    labels.write_text(f"filename,label\n{first},b\n")
    assert main(["label", str(folder), "--csv", str(labels)]) == 2
    assert "read-only" in _one_line_error(capsys)


def test_open__read_only_flag_reads_a_copied_project(tmp_path: Path, folder: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    with Project.open(copy, read_only=True) as project:
        assert project.label_counts() == {"a": 3}
