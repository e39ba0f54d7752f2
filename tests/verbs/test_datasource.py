"""Verb ``ingest``: re-lists the input datasource with typed settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from bps_core import verbs
from bps_core.errors import DatasourceError
from bps_core.project import Project
from bps_core.storage import DatasourceConfig


def test_ingest__relists_the_source_and_reports_progress(tiny_project: Project) -> None:
    seen: list[float] = []
    listed: list[int] = []
    report = verbs.ingest(tiny_project, verbs.IngestSettings(), seen.append,
                          on_listed=listed.append)  # fmt: skip
    assert isinstance(report, verbs.IngestReport)
    assert report.n_samples == tiny_project.n_samples() > 0
    assert listed
    assert listed[0] >= report.n_samples
    assert seen
    assert seen[-1] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"all_channels": "yes"}, "all_channels"), ({"check_headers": 1}, "check_headers")],
)
def test_ingest_settings__a_bad_value_is_refused_naming_the_field(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(verbs.SettingsError, match=field):
        verbs.IngestSettings(**kwargs)  # type: ignore[arg-type]


def test_ingest_settings__round_trip_through_job_params() -> None:
    settings = verbs.IngestSettings(all_channels=True, check_headers=False)
    assert verbs.IngestSettings.from_params(settings.to_params()) == settings
    with pytest.raises(verbs.SettingsError, match="unknown setting\\(s\\) channels"):
        verbs.IngestSettings.from_params({"channels": "all"})


def test_ingest_settings__a_new_datasource_round_trips_and_a_bad_one_is_refused(
    tmp_path: Path,
) -> None:
    settings = verbs.IngestSettings(datasource=DatasourceConfig(path=str(tmp_path)))
    assert verbs.IngestSettings.from_params(settings.to_params()) == settings
    params = settings.to_params()
    params["datasource"]["kind"] = "ftp"
    with pytest.raises(verbs.SettingsError, match="datasource: datasource kind 'ftp'"):
        verbs.IngestSettings.from_params(params)
    with pytest.raises(verbs.SettingsError, match="datasource must be"):
        verbs.IngestSettings(datasource="/data")  # type: ignore[arg-type]


def _labeled(project: Project) -> dict[str, str]:
    return dict(zip(project.current_labels().key, project.current_labels().label, strict=True))


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda d: None, r"file://.*holds no files: nothing was ingested and the project is"),
        (lambda d: (d / "notes.txt").write_text("x"), r"holds 1 files, none of them an image"),
        (lambda d: (d / "a.png").write_bytes(_png()), r"metadata CSV 'meta.csv' under file://"),
    ],
    ids=["empty folder", "no images", "images without the metadata CSV"],
)
def test_ingest__a_new_input_without_images_or_metadata_leaves_the_project_as_it_was(
    tiny_project: Project,
    tmp_path: Path,
    make,
    error: str,  # type: ignore[no-untyped-def]
) -> None:
    """Saving a wrong folder as the input used to switch the project first: every sample's
    file was then missing (and marked bad when viewed), the ingest state said "unfinished"
    and the server's path policy no longer allowed the old folder back. Now the ingest fails
    naming the folder, and the datasource, samples, labels and ingest state are unchanged."""
    p = tiny_project
    keys = p.samples().key.head(4).tolist()
    p.add_labels(keys, "track", user="ann", source="api")
    before = (p.config.datasource, p.samples().to_dict("list"), _labeled(p), p.ingest_state())
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    make(wrong)
    with pytest.raises(DatasourceError, match=error):
        verbs.ingest(p, verbs.IngestSettings(datasource=DatasourceConfig(path=str(wrong))))
    reopened = Project.open(p.folder)
    after = (reopened.config.datasource, reopened.samples().to_dict("list"), _labeled(reopened),
             reopened.ingest_state())  # fmt: skip
    reopened.close()
    assert after[0] == before[0]
    assert after[1] == before[1]
    assert after[2] == before[2]
    assert after[3] is not None
    assert before[3] is not None
    assert after[3]["state"] == before[3]["state"] == "finished"
    assert not p.ingest_unfinished()


def test_ingest__a_new_input_with_the_images_is_switched_to_after_they_are_in(
    tiny_project: Project, tmp_path: Path
) -> None:
    """The same images in another folder: ingested, then the project reads from there, and
    the labels of files found under the same relative paths are kept."""
    import shutil

    p = tiny_project
    keys = p.samples().key.head(3).tolist()
    p.add_labels(keys, "track", user="ann", source="api")
    moved = tmp_path / "moved"
    shutil.copytree(p.config.datasource.path, moved)
    report = verbs.ingest(p, verbs.IngestSettings(datasource=DatasourceConfig(path=str(moved))))
    assert report.n_samples == p.n_samples()
    reopened = Project.open(p.folder)
    assert Path(reopened.config.datasource.path).resolve() == moved.resolve()
    assert set(_labeled(reopened)) == set(keys)
    reopened.close()


def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (8, 8)).save(out, format="PNG")
    return out.getvalue()


def test_ingest__a_new_input_with_another_id_is_refused_before_listing(
    tiny_project: Project, tmp_path: Path
) -> None:
    """Keys hold the input's id: another id would orphan every label (the same check as
    ``set_datasources``)."""
    old = tiny_project.config.datasource
    other = DatasourceConfig(id="elsewhere", path=old.path)
    for attempt in (
        lambda: verbs.ingest(tiny_project, verbs.IngestSettings(datasource=other)),
        lambda: tiny_project.set_datasources(input=other),
    ):
        with pytest.raises(DatasourceError, match="input id 'elsewhere' differs from the proj"):
            attempt()
    assert tiny_project.config.datasource == old
