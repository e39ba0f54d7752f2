"""Verbs ``export``, ``export_to_output`` and ``export_embeddings``."""

from __future__ import annotations

from pathlib import Path

import pytest

from bps_core import verbs
from bps_core.project import Project
from tests.verbs.conftest import label_by_particle


def test_export__writes_the_labels_csv(embedded: Project, tmp_path: Path) -> None:
    label_by_particle(embedded, 3)
    dest = tmp_path / "labels.csv"
    report = verbs.export(embedded, verbs.ExportSettings(format="csv", dest=dest))
    assert isinstance(report, verbs.ExportReport)
    assert report.n_written == 6
    assert dest.read_text().count("\n") >= 6
    with pytest.raises(verbs.ExportExistsError):
        verbs.export(embedded, verbs.ExportSettings(format="csv", dest=dest))


def test_export_to_output__uploads_under_the_output_prefix(
    embedded: Project, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    embedded.set_datasources(
        output=verbs.DatasourceConfig(id="output", path=str(out), purpose="output")
    )
    label_by_particle(embedded, 2)
    record = verbs.export_to_output(embedded, verbs.OutputExportSettings(format="csv"))
    assert isinstance(record, verbs.OutputExportRecord)
    assert record.export.n_written == 4
    assert (out / "exports" / "labels.csv").is_file()


def test_export_to_output__a_destination_takes_the_export_in_place_of_the_output(
    embedded: Project, tmp_path: Path
) -> None:
    label_by_particle(embedded, 2)
    dest = verbs.DatasourceConfig(id="export", path=str(tmp_path / "d"), purpose="output")
    seen: list[float] = []
    settings = verbs.OutputExportSettings(format="imagefolder", prefix="", destination=dest)
    record = verbs.export_to_output(embedded, settings, seen.append)
    assert record.export.n_written == 4
    assert not record.upload.failed
    assert {p.parent.name for p in (tmp_path / "d").rglob("*") if p.is_file()} == {"Fe", "X-ray"}
    assert seen[-1] == 1.0
    assert seen == sorted(seen)
    emb = verbs.OutputExportSettings(format="embeddings-csv", prefix="x", destination=dest,
                                     file_name="e.csv")  # fmt: skip
    record = verbs.export_to_output(embedded, emb)
    assert record.embeddings is not None
    assert record.embeddings.n == embedded.n_samples()
    assert (tmp_path / "d" / "x" / "e.csv").read_text().startswith("filenames,embedding_0")
    with pytest.raises(verbs.ExportExistsError, match="e.csv already exists"):
        verbs.export_to_output(embedded, emb)


def test_export_embeddings__writes_a_lightly_csv(embedded: Project, tmp_path: Path) -> None:
    dest = tmp_path / "embeddings.csv"
    seen: list[float] = []
    record = verbs.export_embeddings(embedded, verbs.EmbeddingsExportSettings(dest), seen.append)
    assert record.n == embedded.n_samples()
    assert dest.read_text().startswith("filenames,embedding_0")
    assert seen == [1.0]


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: verbs.ExportSettings(format="xlsx", dest=Path("x")), "format"),
        (lambda: verbs.ExportSettings(format="csv", dest=Path(" ")), "dest"),
        (lambda: verbs.ExportSettings(format="csv", dest=Path("x"),
                                      document_root=Path("/")), "document_root"),
        (lambda: verbs.OutputExportSettings(format="zip"), "format"),
        (lambda: verbs.OutputExportSettings(format="imagefolder", file_name="a"), "file_name"),
        (lambda: verbs.OutputExportSettings(format="csv", file_name="a/b.csv"), "file_name"),
        (lambda: verbs.EmbeddingsExportSettings(Path(" ")), "dest"),
    ],
)  # fmt: skip
def test_export_settings__a_bad_value_is_refused_naming_the_field(make, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(verbs.SettingsError, match=f"^{field}"):
        make()
