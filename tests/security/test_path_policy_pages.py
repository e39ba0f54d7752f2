"""AppTest: pages that take a server path from the browser refuse paths outside the data roots
with one clear message, and read or write nothing there."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from bps_core import jobs
from bps_core.project import Project
from tests.helpers import button


@pytest.fixture
def app(app: AppTest) -> AppTest:
    """The shared app fixture, run once."""
    return app.run()


def _hostile(tmp_path: Path) -> list[str]:
    # /srv/a/../b, made concrete: a traversal out of a folder that exists
    return ["/", f"{tmp_path}/srv/a/../b", "/etc/passwd"]


def _assert_refused(app: AppTest, path: str) -> None:
    assert not app.exception
    errors = [e.value.replace("\\", "") for e in app.error]  # the pages escape Markdown
    assert any("outside the folders this server may use" in e and path in e for e in errors), errors
    assert not app.success


def test_export_page__refuses_a_destination_outside_the_roots(
    app: AppTest, tiny_project: Project, tmp_path: Path
) -> None:
    keys = tiny_project.samples().key.tolist()[:3]
    tiny_project.add_labels(keys, "track", user="a", source="api")
    (tmp_path / "srv" / "a").mkdir(parents=True)
    app.switch_page("pages/6_Export.py").run()
    for path in _hostile(tmp_path):
        app.text_input(key="export_dest").input(path)
        button(app, "Export").click().run()
        _assert_refused(app, path)
    assert not (tmp_path / "srv" / "b").exists()
    assert not Path("/imagefolder").exists()


def test_export_page__writes_inside_the_exports_folder(app: AppTest, tiny_project: Project) -> None:
    keys = tiny_project.samples().key.tolist()[:3]
    tiny_project.add_labels(keys, "track", user="a", source="api")
    app.switch_page("pages/6_Export.py").run()  # the default destination is the exports folder
    button(app, "Export").click().run()
    assert "Exported 3 items" in app.success[0].value
    assert len(list((tiny_project.folder / "exports" / "imagefolder" / "track").iterdir())) == 3


def test_datasource_page__refuses_a_local_folder_outside_the_roots(
    app: AppTest, tiny_project: Project, tmp_path: Path
) -> None:
    (tmp_path / "srv" / "a").mkdir(parents=True)
    app.switch_page("pages/1_Datasource.py").run()
    for prefix in ("input", "output", "copy"):
        app.radio(key=f"ds_{prefix}_kind").set_value("local").run()
        for path in _hostile(tmp_path):
            app.text_input(key=f"ds_{prefix}_path").input(path).run()
            _assert_refused(app, path)
    assert app.button(key="check_input").disabled
    assert app.button(key="save_input").disabled
    assert app.button(key="check_output").disabled
    assert app.button(key="start_copy").disabled
    assert not jobs.list_jobs(tiny_project, "ingest")


def test_datasource_page__accepts_a_folder_inside_the_input_folder(
    app: AppTest, tiny_project: Project
) -> None:
    inside = Path(tiny_project.config.datasource.path) / "subfolder"
    app.switch_page("pages/1_Datasource.py").run()
    app.radio(key="ds_output_kind").set_value("local").run()
    app.text_input(key="ds_output_path").input(str(inside)).run()
    assert not app.error
    assert not app.button(key="check_output").disabled


def test_embed_page__refuses_a_csv_outside_the_roots(
    app: AppTest, tiny_project: Project, tmp_path: Path
) -> None:
    app.switch_page("pages/2_Embed.py").run()
    app.selectbox(key="embed_method").set_value("csv")
    for path in _hostile(tmp_path):
        app.text_input(key="embed_csv").input(path)
        button(app, "Start").click().run()
        _assert_refused(app, path)
    assert not jobs.list_jobs(tiny_project, "embed")  # nothing was read: no job ran
