"""Verbs ``copy`` and ``writeback``."""

from __future__ import annotations

from pathlib import Path

import pytest

from bps_core import verbs
from bps_core.project import Project


def _output(tmp_path: Path) -> verbs.DatasourceConfig:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return verbs.DatasourceConfig(id="output", path=str(out), purpose="output")


def test_copy__copies_the_selected_samples(tiny_project: Project, tmp_path: Path) -> None:
    keys = tuple(tiny_project.samples().key.head(3))
    settings = verbs.CopySettings(_output(tmp_path), verbs.CopySelection(kind="keys", keys=keys))
    seen: list[float] = []
    report = verbs.copy(tiny_project, settings, seen.append)
    assert isinstance(report, verbs.CopyReport)
    assert len(report.copied) == 3
    assert not report.failed
    assert seen


def test_writeback__writes_the_lightly_layout(embedded: Project, tmp_path: Path) -> None:
    embedded.set_datasources(output=_output(tmp_path))
    settings = verbs.WritebackSettings(parts=("relevant_filenames", "embeddings"))
    report = verbs.writeback(embedded, settings)
    assert isinstance(report, verbs.WritebackReport)
    assert not report.failed
    assert (tmp_path / "out" / ".lightly" / "relevant_filenames.txt").is_file()


def test_copy_settings__round_trip_through_job_params(tmp_path: Path) -> None:
    settings = verbs.CopySettings(
        _output(tmp_path), verbs.CopySelection(kind="classes", classes=("Fe",)), overwrite=True
    )
    params = settings.to_params()
    assert params["selection"]["classes"] == ["Fe"]
    assert verbs.CopySettings.from_params(params) == settings


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda d: verbs.CopySettings("s3://bucket/out"), "dest"),
        (lambda d: verbs.CopySettings(d, verbs.CopySelection(kind="keys")), "selection"),
        (lambda d: verbs.CopySettings(d, overwrite="yes"), "overwrite"),
        (lambda d: verbs.WritebackSettings(parts=()), "parts"),
        (lambda d: verbs.WritebackSettings(parts=("thumbs",)), "parts"),
        (lambda d: verbs.WritebackSettings(task="a task"), "task"),
    ],
)
def test_transfer_settings__a_bad_value_is_refused_naming_the_field(  # type: ignore[no-untyped-def]
    make, field: str, tmp_path: Path
) -> None:
    with pytest.raises(verbs.SettingsError, match=f"^{field}"):
        make(_output(tmp_path))
