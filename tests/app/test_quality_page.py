"""AppTest: the Quality page shows flag counts with movable thresholds, duplicates and leaks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from bps_core import verbs
from bps_core.project import Project, create_project_from_folder
from tests.helpers import button, open_app, save_random_embeddings

PAGE = "pages/9_Quality.py"
COPY_NAME = "P242_73665006707-Z9_099_099_proj.tif"


@pytest.fixture
def with_copy(tiny_copy: Path, tmp_path: Path) -> Project:
    """A project whose datasource holds one image twice (under another well)."""
    train = next(p.parent for p in tiny_copy.rglob("*_proj.tif"))
    shutil.copy(sorted(train.glob("*_proj.tif"))[0], train / COPY_NAME)
    project, _ = create_project_from_folder(tmp_path / "dup-project", tiny_copy)
    yield project
    project.close()


def _quality(app: AppTest) -> AppTest:
    app.run()
    app.switch_page(PAGE).run()
    assert not app.exception
    return app


def _metric(app: AppTest, label: str) -> str:
    return next(m.value for m in app.metric if m.label == label)


def test_quality_page__without_embeddings_says_what_to_do(app: AppTest) -> None:
    _quality(app)
    assert not app.error
    assert any("Nothing to flag from yet" in i.value for i in app.info)


def test_quality_page__counts_duplicates_and_leaks_of_a_copied_image(
    with_copy: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    verbs.compute_embeddings(with_copy, verbs.EmbedConfig(method="pixels", image_size=32))
    app = _quality(open_app(monkeypatch, with_copy.folder))
    assert not app.error
    assert _metric(app, "duplicate") == "2"
    assert _metric(app, "Leaking pairs") == "1"
    assert any("Same pixels: 1 groups" in h.value for h in app.subheader)
    assert app.get("download_button")


def test_quality_page__moving_a_threshold_changes_its_count(
    with_copy: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    verbs.compute_embeddings(with_copy, verbs.EmbedConfig(method="pixels", image_size=32))
    app = _quality(open_app(monkeypatch, with_copy.folder))
    before = int(_metric(app, "outlier"))
    app.slider(key="quality_outlier_pct").set_value(80.0).run()
    assert not app.exception
    after = int(_metric(app, "outlier"))
    assert after > 3 * max(before, 1)
    dim_before = int(_metric(app, "dim"))
    app.slider(key="quality_dim_ratio").set_value(1.0).run()
    assert int(_metric(app, "dim")) > dim_before


def test_quality_page__measure_button_fills_missing_pixel_stats(
    with_copy: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_random_embeddings(with_copy)  # embeddings without a decode: no stats
    app = _quality(open_app(monkeypatch, with_copy.folder))
    assert any("have no pixel statistics yet" in i.value for i in app.info)
    assert _metric(app, "duplicate") == "0"
    button(app, f"Measure {with_copy.n_samples('ok'):,} images").click().run()
    assert not app.exception
    assert with_copy.image_stats.count() == with_copy.n_samples("ok")
    assert _metric(app, "duplicate") == "2"
    assert not any("have no pixel statistics yet" in i.value for i in app.info)


def test_quality_page__measure_finds_a_shifted_copy_and_says_the_descriptor_found_it(
    tiny_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tifffile

    from tests.quality.test_shift_descriptor import shifted

    train = next(p.parent for p in tiny_copy.rglob("*_proj.tif"))
    original = sorted(train.glob("*_proj.tif"))[3]
    tifffile.imwrite(train / COPY_NAME, shifted(tifffile.imread(original)))
    project, _ = create_project_from_folder(tmp_path / "shift-project", tiny_copy)
    with project:
        verbs.compute_embeddings(project, verbs.EmbedConfig(method="pixels", image_size=32))
        n = project.n_samples("ok")
    app = _quality(open_app(monkeypatch, tmp_path / "shift-project"))
    assert any("no shift-tolerant pixel descriptor yet" in i.value for i in app.info)
    button(app, f"Measure {n:,} images").click().run()
    assert not app.exception
    assert not any("no shift-tolerant pixel descriptor yet" in i.value for i in app.info)
    assert _metric(app, "Leaking pairs") == "1"
    leaks = app.dataframe[-1].value  # the near-duplicates' table, then the leaks' one
    assert len(leaks) == 1
    assert "descriptor" in leaks["found by"].iloc[0]
    assert {leaks["file A"].iloc[0], leaks["file B"].iloc[0]} == {original.name, COPY_NAME}


def test_quality_page__a_share_typed_out_of_range_withholds_only_the_saturated_flag(
    with_copy: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tester typed 1.5 in the saturated box and every flag count and histogram went blank;
    only the saturated flag depends on it."""
    from bps_app.safe_text import md

    verbs.compute_embeddings(with_copy, verbs.EmbedConfig(method="pixels", image_size=32))
    app = _quality(open_app(monkeypatch, with_copy.folder))
    before = {m.label: m.value for m in app.metric}
    n_charts = len(app.get("plotly_chart"))
    app.number_input(key="quality_saturated_share").set_value(1.5).run()
    assert not app.exception
    said = md("Saturated: share of pixels at the maximum above: 1.5 is more than 1; enter a "
              "number from 0 to 1.")  # fmt: skip
    assert [e.value for e in app.error] == [said]
    assert [e.value for e in app.tabs[0].columns[2].error] == [said]  # under its box
    after = {m.label: m.value for m in app.metric}
    assert after.pop("saturated") == "—"
    assert after == {label: v for label, v in before.items() if label != "saturated"}
    assert after["duplicate"] == "2"
    assert len(app.get("plotly_chart")) == n_charts  # its histogram too, without the cutoff
    assert app.get("download_button")[0].proto.disabled  # the CSV would flag by the box
    assert not any(o.startswith("saturated") for o in app.selectbox(key="quality_show").options)
    app.number_input(key="quality_saturated_share").set_value(0.5).run()
    assert not app.error
    assert app.metric[1].label == "saturated"
    assert app.metric[1].value != "—"
    assert not app.get("download_button")[0].proto.disabled
