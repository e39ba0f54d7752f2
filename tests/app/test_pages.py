"""AppTest: every page loads on a tiny project; the home page shows the conditions."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from bps_app import cache
from bps_core.project import Project

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py"))


@pytest.fixture
def app(tiny_project: Project, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("BPS_PROJECT", str(tiny_project.folder))
    monkeypatch.chdir(ROOT)
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)


def test_pages__exist_for_every_navigation_entry() -> None:
    assert len(PAGES) == 5
    app_text = (ROOT / "app.py").read_text()
    assert all(p in app_text for p in PAGES)


@pytest.mark.parametrize("page", PAGES)
def test_smoke__every_page_runs_without_exception(app: AppTest, page: str) -> None:
    app.run()
    app.switch_page(page).run()
    assert not app.exception
    assert not app.error


def test_home__shows_counts_and_the_17_conditions(app: AppTest, tiny_project: Project) -> None:
    app.run()
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Samples"] == "170"
    assert metrics["Labeled"] == "0"
    assert any("17 conditions" in c.value for c in app.caption)
    fig_json = app.get("plotly_chart")[0].proto.spec
    for label in ("Fe 0.82 Gy 4 h", "X-ray 0.1 Gy 48 h", "X-ray 1 Gy 24 h"):
        assert label in fig_json
    assert "Fe 0.3 Gy 48 h" not in fig_json


def test_home__label_progress_reflects_the_store(app: AppTest, tiny_project: Project) -> None:
    tiny_project.add_labels(tiny_project.samples().key.head(17), "track", user="u", source="api")
    app.run()
    assert {m.label: m.value for m in app.metric}["Labeled"] == "17"
    assert "17 of 170 samples labeled" in app.get("progress")[0].proto.text


def test_home__missing_project_shows_instructions_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BPS_PROJECT", str(tmp_path / "nope"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert "not a project" in at.error[0].value
    assert "make run" in at.info[0].value


def test_explore__renders_thumbnails_and_lists_bad_files(
    app: AppTest, tiny_project: Project
) -> None:
    first = tiny_project.samples().relpath.iloc[0]
    (Path(tiny_project.config.datasource.path) / first).write_bytes(b"II*\x00garbage")
    cache.thumbnail.clear()
    app.run()
    app.switch_page("pages/3_Explore_and_label.py").run()
    assert not app.exception
    assert len(app.image) == 23  # the first page of 24, less the bad file
    assert "could not be decoded" in app.warning[0].value
    assert first in app.warning[0].value
    with Project.open(tiny_project.folder) as p:
        assert p.n_samples("bad") == 1
        assert first in p.problems().path.tolist()


def test_embed_page__starts_a_job_and_shows_the_result(app: AppTest, tiny_project: Project) -> None:
    import time

    from bps_core import jobs

    app.run()
    app.switch_page("pages/2_Embed.py").run()
    app.selectbox(key="embed_method").set_value("pixels")
    app.select_slider(key="embed_size").set_value(32)
    app.get("form_submit_button")[0].click().run()
    assert not app.exception
    (job,) = jobs.list_jobs(tiny_project, "embed")
    assert job.params["method"] == "pixels"
    assert job.params["image_size"] == 32
    deadline = time.monotonic() + 180
    while jobs.get_job(tiny_project, job.id).active:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert jobs.get_job(tiny_project, job.id).state == "succeeded"
    app.run()
    assert not app.exception
    tables = [d.value for d in app.dataframe]
    assert any("version" in t.columns and (t.method == "pixels").any() for t in tables)
    assert any("balanced accuracy" in t.columns for t in tables)
    assert app.get("plotly_chart")  # the map preview


def test_label_page__no_map_says_how_to_make_one(app: AppTest) -> None:
    app.run()
    app.switch_page("pages/3_Explore_and_label.py").run()
    assert not app.exception
    assert any("No map yet" in i.value for i in app.info)


def test_label_page__map_undo_and_history(app: AppTest, tiny_project: Project) -> None:
    import numpy as np

    from bps_core.embeddings.store import save_embedding_set
    from bps_core.projection import MapConfig, get_or_compute_map

    keys = tiny_project.samples().key.tolist()
    vecs = np.random.default_rng(0).normal(size=(len(keys), 8))
    save_embedding_set(tiny_project, "pixels", {}, keys, vecs)
    get_or_compute_map(tiny_project, MapConfig())
    tiny_project.add_labels(keys[:5], "track", user="ann", source="lasso")
    app.session_state["user_name"] = "ann"
    app.run()
    app.switch_page("pages/3_Explore_and_label.py").run()
    assert not app.exception
    spec = app.get("plotly_chart")[0].proto.spec
    assert "track (5)" in spec
    assert "(unlabeled) (165)" in spec
    history = [d.value for d in app.dataframe if "how" in d.value.columns]
    assert history
    assert history[0].samples.tolist() == [5]
    app.button(key="map_undo").click().run()
    assert not app.exception
    assert tiny_project.current_labels().empty
    assert any("Undid your last action: 5 samples" in s.value for s in app.success)
