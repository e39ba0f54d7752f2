"""Metadata columns named like internal fields (issue 15, item 6): user metadata lives in its
own namespace (``meta:NAME`` in the samples frame), so every consumer works with any name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from bps_cli.main import main
from bps_core.project import Project
from bps_core.project.store import RESERVED_COLUMNS, metadata_column
from bps_core.storage import LocalFolderSource
from bps_core.writeback import write_lightly
from tests.helpers import open_app

#: Every internal name a page, the CLI or the core puts beside metadata, plus a prefixed one.
CLASHING = ["label", "x", "y", "status", "key", "relpath", "sample_id", "error", "prediction",
            "uncertainty", "round", "user", "created_at", "source", "meta:label"]  # fmt: skip
N_IMAGES = 12


def _folder(root: Path) -> Path:
    """Small 16-bit PNGs and a meta.csv whose columns all clash with internal names."""
    root.mkdir()
    rng = np.random.default_rng(0)
    rows = ["filename," + ",".join(CLASHING)]
    for i in range(N_IMAGES):
        img = (rng.random((24, 24)) * 4000 + (i % 3) * 2000).astype(np.uint16)
        Image.fromarray(img).save(root / f"img{i:02d}.png")
        rows.append(f"img{i:02d}.png," + ",".join(f"{c}-{i % 3}" for c in CLASHING))
    (root / "meta.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture
def clash_project(tmp_path: Path) -> Path:
    data = _folder(tmp_path / "data")
    folder = tmp_path / "project"
    assert main(["init", str(folder), "--source", str(data)]) == 0
    return folder


def test_metadata_column__prefixes_only_reserved_and_prefixed_names() -> None:
    assert metadata_column("well") == "well"
    assert metadata_column("label") == "meta:label"
    assert metadata_column("meta:label") == "meta:meta:label"
    assert {"label", "x", "y", "status", "key", "relpath", "sample_id"} <= RESERVED_COLUMNS


def test_samples__clashing_metadata_columns_get_their_own_namespace(clash_project: Path) -> None:
    with Project.open(clash_project) as project:
        df = project.samples()
        assert df.columns.is_unique
        assert df.status.eq("ok").all()  # internal columns keep their meaning
        assert df.key.str.startswith("input:").all()
        for name in CLASHING:
            assert df[metadata_column(name)].str.endswith(("-0", "-1", "-2")).all(), name
        stored = project.stored_metadata()[0][1]
        assert set(CLASHING) <= set(stored)  # the database keeps the original names


def test_cli__embed_map_label_info_work_with_clashing_columns(
    clash_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["embed", str(clash_project), "--method", "pixels", "--image-size", "16"]) == 0
    assert main(["map", str(clash_project), "--method", "pca"]) == 0
    labels = tmp_path / "labels.csv"
    labels.write_text("filename,label\n" + "".join(f"img{i:02d}.png,c{i % 2}\n" for i in range(6)))
    assert main(["label", str(clash_project), "--csv", str(labels), "--user", "u"]) == 0
    assert "labeled 6 samples" in capsys.readouterr().out
    assert main(["info", str(clash_project)]) == 0
    with Project.open(clash_project) as project:
        assert project.label_counts() == {"c0": 3, "c1": 3}


def test_writeback__metadata_keeps_the_original_column_names(
    clash_project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with Project.open(clash_project) as project:
        report = write_lightly(project, LocalFolderSource(out, create=True), parts=["metadata"])
    assert not report.failed
    doc = json.loads((out / ".lightly" / "metadata" / "img00.json").read_text())
    assert doc["metadata"]["label"] == "label-0"
    assert doc["metadata"]["meta:label"] == "meta:label-0"


def test_explore_page__renders_the_map_with_clashing_columns(
    clash_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["embed", str(clash_project), "--method", "pixels", "--image-size", "16"]) == 0
    assert main(["map", str(clash_project), "--method", "pca"]) == 0
    with Project.open(clash_project) as project:
        keys = project.samples().key.head(4).tolist()
        project.add_labels(keys, "nucleus", user="u", source="api")
    monkeypatch.setenv("BPS_LABELER_WARM_WORKER", "0")
    at = open_app(monkeypatch, clash_project).run()
    for page in ("pages/home.py", "pages/3_Explore_and_label.py", "pages/5_Select.py"):
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
    assert at.switch_page("pages/3_Explore_and_label.py").run().get("plotly_chart")


@given(names=st.lists(st.text(max_size=12), unique=True, max_size=12))
def test_metadata_column__any_names_stay_distinct_and_never_shadow_internal_ones(
    names: list[str],
) -> None:
    mapped = [metadata_column(n) for n in names]
    assert len(set(mapped)) == len(names)
    assert not set(mapped) & RESERVED_COLUMNS
