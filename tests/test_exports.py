"""Exports: labels CSV, ImageFolder, Label Studio JSON, Lightly predictions; never outside."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from bps_core.cli import main
from bps_core.embeddings import EmbedConfig, compute_embeddings
from bps_core.exports import ExportError, export, folder_name
from bps_core.project import Project
from bps_core.selection.rounds import train_model


def _label(project: Project, n: int = 6) -> dict[str, str]:
    s = project.samples()
    out = {}
    for particle, name in (("Fe", "Fe track"), ("X-ray", "../x-ray")):
        keys = s[s.particle_type == particle].key.head(n).tolist()
        project.add_labels(keys, name, user="ann", source="api")
        out.update(dict.fromkeys(keys, name))
    return out


def test_csv__one_row_per_labeled_sample(tiny_project: Project, tmp_path: Path) -> None:
    labels = _label(tiny_project)
    report = export(tiny_project, "csv", tmp_path / "labels.csv")
    rows = list(csv.DictReader((tmp_path / "labels.csv").open()))
    assert report.n_written == len(rows) == len(labels)
    assert {r["filename"]: r["label"] for r in rows} == {
        k.split(":", 1)[1]: v for k, v in labels.items()
    }
    assert {r["user"] for r in rows} == {"ann"}
    assert all(r["time"].startswith("20") for r in rows)


def test_imagefolder__copies_per_class_inside_dest_and_resumes(
    tiny_project: Project, tmp_path: Path
) -> None:
    labels = _label(tiny_project, 3)
    dest = tmp_path / "folder"
    report = export(tiny_project, "imagefolder", dest)
    assert report.n_written == 6
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert {f.split("/")[0] for f in files} == {"Fe track", "_x-ray"}  # "../x-ray" made safe
    assert all(p.resolve().is_relative_to(dest.resolve()) for p in dest.rglob("*"))
    src = Path(tiny_project.config.datasource.path)
    first = next(k for k, v in labels.items() if v == "Fe track").split(":", 1)[1]
    assert (dest / "Fe track" / first.replace("/", "__")).read_bytes() == (src / first).read_bytes()
    again = export(tiny_project, "imagefolder", dest)
    assert (again.n_written, again.n_skipped) == (0, 6)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("../../etc", "_.._etc"), ("a/b", "a_b"), ("..", "_"), ("ok name", "ok name"), ("", "_"),
     ("\x00x", "_x"), ("C:\\win", "C__win")],
)  # fmt: skip
def test_folder_name__never_a_path(name: str, expected: str) -> None:
    assert folder_name(name) == expected


def test_label_studio__tasks_with_choices(tiny_project: Project, tmp_path: Path) -> None:
    labels = _label(tiny_project, 2)
    export(tiny_project, "label-studio", tmp_path / "ls.json")
    tasks = json.loads((tmp_path / "ls.json").read_text())
    assert len(tasks) == len(labels)
    t = tasks[0]
    assert t["data"]["image"].startswith("file:///")
    assert t["data"]["image"].endswith(".tif")
    result = t["annotations"][0]["result"][0]
    assert result["type"] == "choices"
    assert result["value"]["choices"][0] in {"Fe track", "../x-ray"}


def test_lightly__predictions_layout_matches_lightlys_helpers(
    tiny_project: Project, tmp_path: Path
) -> None:
    from lightly.utils import io as lightly_io

    with pytest.raises(ExportError, match="no model yet"):
        export(tiny_project, "lightly", tmp_path)
    compute_embeddings(tiny_project, EmbedConfig(method="pixels", image_size=32))
    _label(tiny_project)
    model = train_model(tiny_project)
    report = export(tiny_project, "lightly", tmp_path / "out", task="bps-classification")
    root = tmp_path / "out" / ".lightly" / "predictions"
    assert report.n_written == tiny_project.n_samples()
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    lightly_io.save_tasks(str(theirs / "tasks.json"), ["bps-classification"])
    lightly_io.save_schema(str(theirs / "schema.json"), "classification",
                           list(range(len(model.classes))), model.classes)  # fmt: skip
    assert json.loads((root / "tasks.json").read_text()) == json.loads(
        (theirs / "tasks.json").read_text()
    )
    assert json.loads((root / "bps-classification" / "schema.json").read_text()) == json.loads(
        (theirs / "schema.json").read_text()
    )
    rel = tiny_project.samples().relpath.iloc[0]
    pred = json.loads((root / "bps-classification" / (rel[:-4] + ".json")).read_text())
    assert pred["file_name"] == rel
    probs = pred["predictions"][0]["probabilities"]
    assert len(probs) == 2
    assert abs(sum(probs) - 1) < 1e-5
    assert pred["predictions"][0]["category_id"] == probs.index(max(probs))
    with pytest.raises(ExportError, match="refuses"):
        export(tiny_project, "lightly", tmp_path, task="../evil")


def test_cli_export__formats_and_a_bad_s3_destination(
    tiny_project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _label(tiny_project, 2)
    folder = str(tiny_project.folder)
    assert main(["export", folder, "--format", "csv", "--dest", str(tmp_path / "l.csv")]) == 0
    assert "exported 4 items as csv" in capsys.readouterr().out
    assert main(["export", folder, "--format", "imagefolder", "--dest", str(tmp_path / "f")]) == 0
    assert main(["export", folder, "--format", "imagefolder", "--dest", str(tmp_path / "f")]) == 0
    assert "4 already there" in capsys.readouterr().out
    assert main(["export", folder, "--format", "csv", "--dest", "s3://Bad_Bucket/x.csv"]) == 2
    assert "bucket 'Bad_Bucket'" in capsys.readouterr().err  # refused before any request
