"""Ingesting a folder: samples, joined metadata, and reported problems."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from bps_core import bps
from bps_core.errors import DatasourceError, MetadataError
from bps_core.project import Project, create_project_from_folder
from bps_core.project.ingest import ingest
from bps_core.storage import LocalFolderSource


def test_ingest__bps_root_maps_to_train_and_joins_meta(tiny_copy: Path, tmp_path: Path) -> None:
    project, report = create_project_from_folder(tmp_path / "p", tiny_copy)
    with project:
        assert project.config.datasource.path.endswith("Microscopy/train")
        assert project.config.meta_csv == "meta.csv"
        assert report.n_samples == 170
        assert report.n_bad == 0
        df = project.samples()
        assert set(df.particle_type) == {"Fe", "X-ray"}
        assert df.groupby(["particle_type", "dose_Gy", "hr_post_exposure"]).ngroups == 17
        assert df.well.notna().all()
        assert df.mouse.str.len().gt(0).all()


def test_ingest__reports_files_without_rows_rows_without_files_and_bad_files(
    tiny_copy: Path, tmp_path: Path
) -> None:
    train = tiny_copy / bps.TRAIN_PREFIX
    removed = sorted(train.glob("*_proj.tif"))[0]
    removed.unlink()
    (train / "P999_1-A1_001_001_proj.tif").write_bytes(b"")  # no row, and empty
    (train / "notes.png").write_text("not an image")
    project, report = create_project_from_folder(tmp_path / "p", tiny_copy)
    with project:
        assert report.rows_without_files == [removed.name]
        assert set(report.files_without_metadata) == {"P999_1-A1_001_001_proj.tif", "notes.png"}
        assert report.bad_files["P999_1-A1_001_001_proj.tif"].startswith("empty file")
        assert "not a supported image" in report.bad_files["notes.png"]
        problems = project.problems()
        assert set(problems.kind) == {"missing_file", "no_metadata", "bad_file"}
        assert project.n_samples("bad") == 2
        assert project.n_samples("ok") == 169


def test_ingest__bps_channel_filter_keeps_fitc_only(tiny_copy: Path, tmp_path: Path) -> None:
    train = tiny_copy / bps.TRAIN_PREFIX
    stem = sorted(train.glob("*_proj.tif"))[0].name.removesuffix("_proj.tif")
    (train / f"{stem}_DAPI.tif").write_bytes((train / f"{stem}_proj.tif").read_bytes())
    project, report = create_project_from_folder(tmp_path / "p", tiny_copy)
    project.close()
    assert report.n_samples == 170
    project, report = create_project_from_folder(tmp_path / "q", tiny_copy, bps_channel=None)
    project.close()
    assert report.n_samples == 171


def test_ingest__rerun_keeps_labels_and_updates_metadata(tiny_project: Project) -> None:
    key = tiny_project.samples().key.iloc[0]
    tiny_project.add_labels([key], "track", user="ann", source="queue")
    source = LocalFolderSource(tiny_project.config.datasource.path)
    report = ingest(tiny_project, source, meta_csv_key="meta.csv")
    assert report.n_samples == 170
    assert tiny_project.n_samples() == 170
    assert tiny_project.current_labels().key.tolist() == [key]


def test_ingest__malformed_meta_csv_fails_before_creating_samples(
    tiny_copy: Path, tmp_path: Path
) -> None:
    meta = tiny_copy / bps.TRAIN_PREFIX / "meta.csv"
    lines = meta.read_text().splitlines()
    lines[3] = lines[3].replace(",Fe,", ",Gamma,")
    meta.write_text("\n".join(lines) + "\n")
    with pytest.raises(MetadataError, match="meta.csv, row 3 .*particle_type"):
        create_project_from_folder(tmp_path / "p", tiny_copy)


def test_ingest__any_folder_with_a_generic_csv(tmp_path: Path) -> None:
    from PIL import Image

    data = tmp_path / "imgs"
    (data / "a").mkdir(parents=True)
    Image.new("L", (8, 8)).save(data / "a" / "x.png")
    Image.new("RGB", (8, 8)).save(data / "y.jpg")
    (data / "labels_meta.csv").write_text("file,stain\na/x.png,dapi\ny.jpg,fitc\n")
    project, report = create_project_from_folder(tmp_path / "p", data, meta_csv="labels_meta.csv")
    with project:
        df = project.samples().set_index("relpath")
        assert df.loc["a/x.png", "stain"] == "dapi"
        assert df.loc["y.jpg", "stain"] == "fitc"
        assert report.n_bad == 0
        assert not report.files_without_metadata


def _images(folder: Path) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    for name in ("x.png", "y.png"):
        Image.new("L", (8, 8)).save(folder / name)
    return folder


def test_create_project__metadata_csv_anywhere_on_disk_is_read_and_kept(tmp_path: Path) -> None:
    from bps_core.jobs import JOB_KINDS
    from bps_core.verbs import IngestSettings

    data = _images(tmp_path / "imgs")
    meta = tmp_path / "elsewhere" / "meta.csv"  # outside the source
    meta.parent.mkdir()
    meta.write_text("filename,stain\nx.png,dapi\ny.png,fitc\n")
    project, report = create_project_from_folder(tmp_path / "p", data, meta_csv=str(meta))
    with project:
        assert project.config.meta_csv == str(meta)
        assert project.samples().set_index("relpath").loc["x.png", "stain"] == "dapi"
        assert not report.files_without_metadata
        meta.write_text("filename,stain\nx.png,cy5\ny.png,fitc\n")

        class _Ctx:
            def callback(self, _label: str):  # type: ignore[no-untyped-def]
                return lambda _f: None

            def progress(self, _f: float, _msg: str = "") -> None:
                pass

        JOB_KINDS["ingest"].run(project, IngestSettings(), _Ctx())  # type: ignore[arg-type]  # a re-list reads the same file again
        assert project.samples().set_index("relpath").loc["x.png", "stain"] == "cy5"


def test_create_project__missing_metadata_csv_says_where_it_looked(tmp_path: Path) -> None:
    data = _images(tmp_path / "imgs")
    with pytest.raises(DatasourceError, match=r"metadata CSV /.*/gone\.csv: no such file"):
        create_project_from_folder(tmp_path / "p", data, meta_csv=str(tmp_path / "gone.csv"))
    with pytest.raises(DatasourceError, match="nor on this machine; give its path"):
        create_project_from_folder(tmp_path / "p2", data, meta_csv="gone.csv")
    assert not (tmp_path / "p").exists()


def test_check_headers_parallel__reports_each_bad_file_across_chunks(
    tiny_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many chunks on many threads: every empty or mislabeled file is reported, by its key,
    and every good one is None (the reporting of the one-at-a-time loop it replaced)."""
    # the package exports the function ``ingest``, which hides the module of the same name
    ingest_module = importlib.import_module("bps_core.project.ingest")
    monkeypatch.setattr(ingest_module, "_HEADER_CHUNK", 7)
    train = tiny_copy / bps.TRAIN_PREFIX
    src = LocalFolderSource(train)
    names = sorted(p.name for p in train.glob("*_proj.tif"))
    (train / names[3]).write_bytes(b"")
    (train / names[50]).write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 20)
    items = [(n, (train / n).stat().st_size) for n in names]
    found = ingest_module.check_headers_parallel(src, items, workers=4)
    assert list(found) == names  # in order, one entry per file
    assert "empty file" in str(found[names[3]])
    assert found[names[50]] == "content is PNG but the extension says TIFF"
    assert sum(v is not None for v in found.values()) == 2
