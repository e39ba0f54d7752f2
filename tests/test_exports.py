"""Exports: labels CSV, ImageFolder, Label Studio JSON, Lightly predictions; never outside."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image

from bps_cli.main import main
from bps_core.embeddings import EmbedConfig, compute_embeddings
from bps_core.exports import ExportError, ExportExistsError, export, folder_name, resolve_dest
from bps_core.project import Project
from bps_core.selection.rounds import train_model
from bps_core.storage.base import join_uri
from tests.helpers import ROOT, open_app
from tests.label_studio import (
    LabelStudioServer,
    LabelStudioUnavailable,
    ensure_installed,
    ensure_template,
)
from tests.s3_server import REGION, S3Server


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


def _png_pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.mode == "L"  # 8-bit: Label Studio cannot show 16-bit TIFFs
        return np.asarray(im)


def test_label_studio__png_previews_as_local_files_and_no_unknown_users(
    tiny_project: Project, tmp_path: Path
) -> None:
    from bps_core.images import decode_image, to_display

    labels = _label(tiny_project, 2)
    dest = tmp_path / "ls"
    report = export(tiny_project, "label-studio", dest)
    tasks = json.loads((dest / "label_studio.json").read_text())
    assert report.n_written == len(tasks) == len(labels)
    src = Path(tiny_project.config.datasource.path)
    for t in tasks:
        url = t["data"]["image"]
        assert url.startswith("/data/local-files/?d=images/")
        png = dest / unquote(url.split("?d=", 1)[1])
        rel = t["data"]["filename"]
        raw = decode_image((src / rel).read_bytes(), rel)
        expected = to_display(raw, tiny_project.config.display)  # windowed like the app
        assert np.array_equal(_png_pixels(png), expected)
        annotation = t["annotations"][0]
        assert "completed_by" not in annotation  # an unknown user makes LS refuse the import
        result = annotation["result"][0]
        assert (result["from_name"], result["to_name"], result["type"]) == (
            "label", "image", "choices"
        )  # fmt: skip
        assert result["value"]["choices"] == [labels[t["meta"]["source_key"]]]
        assert t["meta"]["labeled_by"] == "ann"
    config = (dest / "labeling_config.xml").read_text()
    assert '<Choice value="Fe track"/>' in config
    assert '<Choice value="../x-ray"/>' in config


def test_label_studio__document_root_and_a_destination_outside_it(
    tiny_project: Project, tmp_path: Path
) -> None:
    _label(tiny_project, 1)
    dest = tmp_path / "root" / "team a" / "ls"
    export(tiny_project, "label-studio", dest, document_root=tmp_path / "root")
    url = json.loads((dest / "label_studio.json").read_text())[0]["data"]["image"]
    assert url.startswith("/data/local-files/?d=team%20a/ls/images/")
    with pytest.raises(ExportError, match="not under the document root"):
        export(tiny_project, "label-studio", tmp_path / "elsewhere",
               document_root=tmp_path / "root")  # fmt: skip
    with pytest.raises(ExportError, match="is a folder"):
        export(tiny_project, "label-studio", tmp_path / "x.json")
    with pytest.raises(ExportExistsError):
        export(tiny_project, "label-studio", dest, document_root=tmp_path / "root")


def test_label_studio__s3_output_references_object_urls(
    tiny_project: Project, tmp_path: Path
) -> None:
    _label(tiny_project, 1)
    export(tiny_project, "label-studio", tmp_path / "ls", url_prefix="s3://team/exports/ls/")
    tasks = json.loads((tmp_path / "ls" / "label_studio.json").read_text())
    assert all(t["data"]["image"].startswith("s3://team/exports/ls/images/") for t in tasks)
    assert all(t["data"]["image"].endswith(".png") for t in tasks)


@pytest.fixture(scope="session")
def label_studio_exe() -> Path:
    """Label Studio in its own virtualenv (installed once, then reused). CI must run it."""
    try:
        exe = ensure_installed()
        ensure_template(exe)  # a migrated data folder with the test user, copied per server
        return exe
    except LabelStudioUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Label Studio is required in CI: {exc}")
        pytest.skip(f"Label Studio is not available here: {exc}")


@pytest.mark.label_studio
@pytest.mark.timeout(1800)  # the first run installs Label Studio (minutes) in its fixture
def test_label_studio__imports_into_a_real_server_and_serves_every_image(
    label_studio_exe: Path, tiny_project: Project, tmp_path: Path
) -> None:
    labels = _label(tiny_project, 3)
    dest = tmp_path / "export"
    assert main(["export", str(tiny_project.folder), "--format", "label-studio",
                 "--dest", str(dest)]) == 0  # fmt: skip
    (tmp_path / "ls-data").mkdir()
    try:
        server = LabelStudioServer(label_studio_exe, tmp_path / "ls-data", document_root=dest)
    except LabelStudioUnavailable as exc:
        pytest.fail(str(exc))
    try:
        config = (dest / "labeling_config.xml").read_text()
        project = server.api("POST", "/api/projects",
                             {"title": "BPS export", "label_config": config})  # fmt: skip
        pid = project["id"]
        # a Local Storage over the previews (LS refuses one equal to the document root)
        storage = {"project": pid, "path": str(dest / "images"), "use_blob_urls": True}
        server.api("POST", "/api/storages/localfiles", storage)
        tasks = json.loads((dest / "label_studio.json").read_text())
        imported = server.api("POST", f"/api/projects/{pid}/import", tasks)
        assert imported["task_count"] == imported["annotation_count"] == len(labels)
        listed = server.api("GET", f"/api/tasks?project={pid}&page_size=100&fields=all")["tasks"]
        assert len(listed) == len(labels)
        for task in listed:
            assert task["meta"]["labeled_by"] == "ann"
            assert task["total_annotations"] == 1
            status, body, content_type = server.request("GET", task["data"]["image"])
            assert status == 200, task["data"]["image"]
            assert content_type == "image/png"
            assert body.startswith(b"\x89PNG\r\n\x1a\n")
        annotations = server.api("GET", f"/api/tasks/{listed[0]['id']}/annotations")
        choice = annotations[0]["result"][0]["value"]["choices"][0]
        assert choice == labels[listed[0]["meta"]["source_key"]]
    finally:
        server.stop()


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


@pytest.mark.parametrize("fmt", ["imagefolder", "label-studio"])
def test_image_exports__refused_inside_the_input_folder(
    tiny_project: Project, tmp_path: Path, fmt: str
) -> None:
    """A new user exported an ImageFolder into the image folder the app suggested (the input
    folder is one of the server's data roots); the next re-list added 253 copies as samples."""
    _label(tiny_project, 1)
    source = Path(tiny_project.config.datasource.path)
    before = sorted(p for p in source.rglob("*"))
    for dest in (source, source / "exports" / fmt, source / "sub" / ".." / fmt):
        with pytest.raises(ExportError, match="inside the input image folder") as exc:
            export(tiny_project, fmt, dest)
        assert str(tiny_project.folder / "exports") in str(exc.value)
    assert sorted(p for p in source.rglob("*")) == before  # nothing written
    assert export(tiny_project, fmt, tmp_path / fmt).n_written == 2  # outside: as before
    report = export(tiny_project, "csv", source / "labels-copy.csv")  # no image, no sample
    assert report.n_written == 2


def test_cli_export__an_imagefolder_inside_the_input_is_one_error_line(
    tiny_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _label(tiny_project, 1)
    dest = Path(tiny_project.config.datasource.path) / "out"
    args = ["export", str(tiny_project.folder), "--format", "imagefolder", "--dest", str(dest)]
    assert main(args) == 2
    assert "inside the input image folder" in capsys.readouterr().err
    assert not dest.exists()


def test_resolve_dest__relative_is_under_the_project_never_the_working_folder(
    tiny_project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_dest(tiny_project, "exports") == tiny_project.folder / "exports"
    assert resolve_dest(tiny_project, "a/../b") == tiny_project.folder / "b"
    assert resolve_dest(tiny_project, str(tmp_path / "abs")) == tmp_path / "abs"
    assert resolve_dest(tiny_project, "~/x") == Path.home() / "x"
    with pytest.raises(ExportError, match="give a destination"):
        resolve_dest(tiny_project, "  ")


@pytest.mark.parametrize(
    ("base", "rel", "expected"),
    [("file:///data/out", ".lightly/", "file:///data/out/.lightly/"),
     ("file:///data/out", "exports/", "file:///data/out/exports/"),
     ("s3://b/team/", "exports/", "s3://b/team/exports/"), ("s3://b/", "x", "s3://b/x"),
     ("file:///", "x", "file:///x")],
)  # fmt: skip
def test_join_uri__exactly_one_slash(base: str, rel: str, expected: str) -> None:
    assert join_uri(base, rel) == expected


def test_writeback_summary__names_the_full_lightly_folder() -> None:
    from bps_core.writeback import WritebackReport

    assert "under file:///data/out/.lightly/" in WritebackReport("file:///data/out").summary()


def test_imagefolder__a_bad_destination_is_one_clear_error(
    tiny_project: Project, tmp_path: Path
) -> None:
    _label(tiny_project, 1)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportError, match="is a file; give a folder") as exc:
        export(tiny_project, "imagefolder", tmp_path / "file")
    with pytest.raises(ExportError, match="cannot create the folder .*Not a directory") as exc:
        export(tiny_project, "imagefolder", tmp_path / "file" / "sub")
    assert "Errno" not in str(exc.value)


def test_export_page__a_relative_folder_goes_under_the_project(
    tiny_project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bps_app.safe_text import md

    _label(tiny_project, 1)
    # The app works from the repository root, the server's working folder: nothing may land there.
    app = open_app(monkeypatch, tiny_project.folder)
    app.run()
    app.switch_page("pages/6_Export.py").run()
    app.selectbox(key="export_format").set_value("label-studio")
    app.text_input(key="export_dest").input("exports/team")
    next(b for b in app.button if b.label == "Export").click().run()
    assert not app.exception
    dest = tiny_project.folder / "exports" / "team" / "label-studio"
    assert f"Exported 2 items to {md(dest)}" in app.success[0].value
    assert (dest / "label_studio.json").is_file()
    assert not (ROOT / "exports" / "team").exists()
    assert f"`LOCAL_FILES_DOCUMENT_ROOT` set to {md(dest)}" in app.info[0].value
    app.text_input(key="export_dest").input("team")  # under the project, outside its exports
    next(b for b in app.button if b.label == "Export").click().run()
    assert "outside the folders this server may use" in app.error[0].value
    app.text_input(key="export_dest").input("exports/\x00")
    next(b for b in app.button if b.label == "Export").click().run()
    assert "NUL" in app.error[0].value


def test_export_to_output__label_studio_on_s3_references_object_urls_that_exist(
    tiny_project: Project, s3_server: S3Server
) -> None:
    from bps_core.exports import export_to_output
    from bps_core.storage import DatasourceConfig

    _label(tiny_project, 1)
    bucket = s3_server.new_bucket("ls")
    tiny_project.set_datasources(output=DatasourceConfig.s3(
        f"s3://{bucket}/team", region=REGION, endpoint_url=s3_server.endpoint, purpose="output",
        id="output", allow_private_endpoint=True))  # fmt: skip
    report, upload = export_to_output(tiny_project, "label-studio")
    assert not upload.failed
    s3 = s3_server.admin()
    body = s3.get_object(Bucket=bucket, Key="team/exports/label-studio/label_studio.json")["Body"]
    tasks = json.loads(body.read())
    assert len(tasks) == report.n_written == 2
    for t in tasks:
        url = t["data"]["image"]
        assert url.startswith(f"s3://{bucket}/team/exports/label-studio/images/")
        key = url.removeprefix(f"s3://{bucket}/")
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read().startswith(b"\x89PNG")
    with pytest.raises(ExportExistsError, match="label_studio.json"):
        export_to_output(tiny_project, "label-studio")
