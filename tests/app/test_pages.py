"""AppTest: every page loads on a tiny project; the home page shows the conditions."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from bps_app import cache, state, tables
from bps_app.figures import UNLABELED
from bps_app.safe_text import md
from bps_core.project import Project
from tests.helpers import (
    ROOT,
    button,
    map_project,
    open_app,
    open_in_detail,
    thumbnail_captions,
    wait_for_job,
)

PAGES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py"))


def test_pages__exist_for_every_navigation_entry() -> None:
    assert len(PAGES) == 10
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
    at = open_app(monkeypatch, tmp_path / "nope").run()
    assert not at.exception
    assert "not a project" in at.error[0].value
    assert "make run" in at.info[0].value


def test_explore__renders_thumbnails_and_lists_bad_files(
    app: AppTest, tiny_project: Project
) -> None:
    first = tiny_project.samples().relpath.iloc[0]
    (Path(tiny_project.config.datasource.path) / first).write_bytes(b"II*\x00garbage")
    cache.clear_thumbnails()
    app.session_state[state.EXPLORE_TAB] = "Browse"  # only the open tab runs
    app.run()
    app.switch_page("pages/3_Explore_and_label.py").run()
    assert not app.exception
    assert len(app.image) == 1  # one image list holds the page's thumbnails
    captions = thumbnail_captions(app)
    assert len(captions) == 23  # the first page of 24, less the bad file
    assert not any(c.startswith("1 · ") for c in captions)
    assert captions[0].startswith("2 · ")
    cannot = [i.value for i in app.info if "Cannot show" in i.value]
    assert len(cannot) == 1  # one element lists the files that cannot be shown, with why
    line = f"- 1 · {md(tables.file_name(first) + ' · ' + UNLABELED)}: Cannot show: "
    assert cannot[0].startswith(line)  # its number, its caption and why
    assert app.pills(key="browse_open").options[:2] == ["2", "3"]  # nothing to open at 1
    assert "could not be decoded" in app.warning[0].value
    assert md(first) in app.warning[0].value  # file names are shown escaped (safe_text)
    with Project.open(tiny_project.folder) as p:
        assert p.n_samples("bad") == 1
        assert first in p.problems().path.tolist()


def test_embed_page__starts_a_job_and_shows_the_result(app: AppTest, tiny_project: Project) -> None:

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
    assert wait_for_job(tiny_project, job.id).state == "succeeded"
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

    keys = map_project(tiny_project)
    tiny_project.add_labels(keys[:5], "track", user="ann", source="lasso")
    app.session_state["user_name"] = "ann"
    app.run()
    app.switch_page("pages/3_Explore_and_label.py").run()
    assert not app.exception
    spec = app.get("plotly_chart")[0].proto.spec
    assert "track (5)" in spec
    assert "(unlabeled) (165)" in spec
    assert not [d for d in app.dataframe if "how" in d.value.columns]  # History is not open
    app.session_state[state.EXPLORE_TAB] = "History"
    app.run()
    history = [d.value for d in app.dataframe if "how" in d.value.columns]
    assert history
    assert history[0].samples.tolist() == [5]
    app.session_state[state.EXPLORE_TAB] = "Map"
    app.run()
    app.button(key="map_undo").click().run()
    assert not app.exception
    assert tiny_project.current_labels().empty
    assert any("Undid your last action: 5 samples" in s.value for s in app.success)
    # the history is cached per label written: the undo shows at once
    app.session_state[state.EXPLORE_TAB] = "History"
    app.run()
    history = [d.value for d in app.dataframe if "how" in d.value.columns]
    assert history[0].how.tolist() == ["undo", "lasso"]
    # A user with nothing to undo or redo is told so in words ("Nothing to undi." before).
    app.session_state["user_name"] = "bob"
    app.session_state[state.EXPLORE_TAB] = "Map"
    app.run()
    app.button(key="map_undo").click().run()
    assert [t.value for t in app.toast] == ["Nothing of yours to undo."]
    app.button(key="map_redo").click().run()
    assert [t.value for t in app.toast] == ["Nothing of yours to redo."]


def _label_particles(project: Project, n: int = 10) -> None:
    """Labels ``n`` Fe and ``n`` X-ray samples by their particle type (two classes)."""
    s = project.samples()
    for particle in ("Fe", "X-ray"):
        keys = s[s.particle_type == particle].key.head(n)
        project.add_labels(keys, particle, user="ann", source="api")


def test_queue__labels_with_class_buttons_moves_and_undoes(
    app: AppTest, tiny_project: Project
) -> None:
    from bps_core.queue import unlabeled_keys

    for name in ("track", "debris"):
        tiny_project.ensure_class(name)
    order = unlabeled_keys(tiny_project.samples(), [])
    app.session_state["user_name"] = "qa"
    app.run()
    app.switch_page("pages/4_Queue.py").run()
    assert any("Start" in i.value for i in app.info)
    button(app, "Start").click().run()
    assert not app.exception
    assert [b.proto.shortcut for b in app.button if b.key and "queue_class" in b.key] == ["1", "2"]
    assert "0 of 170 labeled · image 1 of 170" in app.get("progress")[0].proto.text
    app.button(key="queue_class_debris").click().run()
    app.button(key="queue_class_track").click().run()
    app.button(key="queue_next").click().run()  # skip the third
    app.button(key="queue_class_track").click().run()
    assert not app.exception
    cur = tiny_project.current_labels().set_index("key")
    assert cur.label.to_dict() == {order[0]: "debris", order[1]: "track", order[3]: "track"}
    assert set(cur.source) == {"queue"}
    assert set(cur.user) == {"qa"}
    # the skipped third image does not count (issue 14: skipping is not done)
    assert "3 of 170 labeled · image 5 of 170" in app.get("progress")[0].proto.text
    app.button(key="queue_undo").click().run()  # undoes order[3] and shows it again
    assert order[3] not in set(tiny_project.current_labels().key)
    assert "2 of 170 labeled · image 4 of 170" in app.get("progress")[0].proto.text
    app.button(key="queue_prev").click().run()
    assert "2 of 170 labeled · image 3 of 170" in app.get("progress")[0].proto.text
    assert {m.label: m.value for m in app.metric}["Current label"] == "(unlabeled)"


def test_queue__grid_labels_a_page_and_new_classes_get_the_next_digit(
    app: AppTest, tiny_project: Project
) -> None:
    from bps_core.queue import unlabeled_keys

    order = unlabeled_keys(tiny_project.samples(), [])
    app.session_state["user_name"] = "qa"
    app.run()
    app.switch_page("pages/4_Queue.py").run()
    app.segmented_control(key="queue_view").set_value("Grid of 6")
    button(app, "Start").click().run()
    assert len(thumbnail_captions(app)) == 6
    assert app.text_input(key="queue_new_class").max_chars == state.CLASS_NAME_MAX
    app.text_input(key="queue_new_class").input("nucleus").run()
    app.text_input(key="queue_new_class").input("debris").run()
    assert not app.exception
    assert [c.hotkey for c in tiny_project.classes()] == ["1", "2"]
    app.button(key="queue_class_debris").click().run()
    cur = tiny_project.current_labels()
    assert set(cur.key) == set(order[:6])
    assert set(cur.label) == {"debris"}
    assert tiny_project.label_events().action_id.nunique() == 1  # one page = one action


def test_queue__starts_from_the_map_selection(app: AppTest, tiny_project: Project) -> None:
    keys = tiny_project.samples().key.tolist()[10:13]
    app.session_state["user_name"] = "qa"
    app.session_state["map_selection_keys"] = keys
    app.run()
    app.switch_page("pages/4_Queue.py").run()
    app.selectbox(key="queue_origin").set_value("The map selection")
    button(app, "Start").click().run()
    assert "0 of 3 labeled" in app.get("progress")[0].proto.text
    assert any(m.label == "Current label" for m in app.metric)
    name = keys[0].split(":", 1)[1]
    # the file name, then its metadata as lines of text (issue 20: no data frame per key)
    assert [m.value for m in app.markdown][0] == f"**{md(name)}**"
    assert [m.value for m in app.markdown][1].startswith(f"{md('particle_type')}: **")


def test_browse__open_shows_detail_with_history_and_neighbours(
    app: AppTest, tiny_project: Project
) -> None:
    keys = map_project(tiny_project)
    tiny_project.add_labels(keys[:1], "track", user="ann", source="lasso")
    tiny_project.add_labels(keys[:1], "debris", user="bob", source="queue")
    app.session_state[state.EXPLORE_TAB] = "Browse"
    app.run()
    app.switch_page("pages/3_Explore_and_label.py").run()
    assert thumbnail_captions(app)[0].startswith(f"1 · {md(tables.file_name(keys[0]))}")
    open_in_detail(app, "browse_open", 1)
    assert not app.exception
    assert any(m.label == "Current label" and m.value == "debris" for m in app.metric)
    history = [d.value for d in app.dataframe if "source" in d.value.columns]
    assert history[0].label.tolist() == ["debris", "track"]  # newest first
    captions = thumbnail_captions(app)
    neighbour = re.compile(r"^\d · \\?-?\d\\?\.\d{3} · ")  # eight: "3 · 0\.912 · label"
    assert sum(bool(neighbour.match(c)) for c in captions) == 8
    assert app.pills(key="browse_open").value is None  # emptied: the same number opens again


def test_browse__opening_number_k_opens_the_kth_thumbnail_and_again_after_closing(
    app: AppTest, tiny_project: Project
) -> None:
    keys = map_project(tiny_project)
    rel = tiny_project.samples().set_index("key").relpath
    app.session_state[state.EXPLORE_TAB] = "Browse"
    app.run()
    app.switch_page("pages/3_Explore_and_label.py").run()
    third = thumbnail_captions(app)[2]
    assert third.startswith("3 · ")
    k = next(k for k in keys if third.startswith(f"3 · {md(tables.file_name(k))} "))

    def dialog_shows() -> list[str]:  # the dialog's large view is captioned with the path
        return [c for c in thumbnail_captions(app) if c in {md(r) for r in rel}]

    for _ in range(2):  # open, close (a run without a pick), open the same number again
        open_in_detail(app, "browse_open", 3)
        assert not app.exception
        assert dialog_shows() == [md(rel[k])]
        app.run()
        assert dialog_shows() == []


def test_rounds_page__select_train_and_the_learning_curve(
    app: AppTest, tiny_project: Project
) -> None:
    from bps_core.selection.rounds import list_rounds

    map_project(tiny_project)
    app.session_state["user_name"] = "ann"
    app.run()
    app.switch_page("pages/5_Select.py").run()
    assert not app.exception
    assert any("No model yet: label samples of at least two classes" in i.value
               for i in app.info)  # fmt: skip
    app.number_input(key="round_n").set_value(12)
    button(app, "Preview the selection").click().run()
    assert not app.exception
    assert list_rounds(tiny_project) == []  # a preview records nothing
    seeds = [re.search(r"Preview: 12 samples \(random, seed (\d+)\)", _shown(h.value))
             for h in app.subheader]  # fmt: skip
    assert any(seeds)  # a fresh seed, shown
    assert len(thumbnail_captions(app)) == 12
    assert len(app.get("plotly_chart")) >= 1  # the map with the selection highlighted
    app.button(key="round_discard").click().run()
    assert list_rounds(tiny_project) == []
    assert not any("Preview" in h.value for h in app.subheader)
    button(app, "Preview the selection").click().run()
    app.button(key="round_accept_only").click().run()
    assert not app.exception
    rounds = list_rounds(tiny_project)
    assert len(rounds) == 1
    assert len(rounds[0].keys) == 12
    assert rounds[0].user == "ann"
    assert any("Round 1: 12 samples recorded" in s.value for s in app.success)
    assert len(thumbnail_captions(app)) == 12
    # label two classes and the round's samples, then train from the page
    _label_particles(tiny_project)
    tiny_project.add_labels(rounds[0].keys, "Fe", user="ann", source="api")
    app.run()  # two classes labeled: it says to train, not to label two classes
    assert any(re.search(r"No model yet: \d+ labels of 2 classes; press \*\*Train", i.value)
               for i in app.info)  # fmt: skip
    app.button(key="model_train").click().run()
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Labels"] == str(len(tiny_project.current_labels()))
    assert "Balanced accuracy" in metrics
    assert len(app.get("plotly_chart")) == 2  # confusion matrix and learning curve
    assert list_rounds(tiny_project)[0].model_after is not None
    history = [d.value for d in app.dataframe if "strategy" in d.value.columns]
    assert history[0]["balanced acc. after"].str.fullmatch(r"[01]\.\d{3}").all()


def test_rounds_page__bad_lightly_config_is_an_error_not_a_crash(
    app: AppTest, tiny_project: Project
) -> None:
    map_project(tiny_project)
    app.session_state["user_name"] = "ann"
    app.run()
    app.switch_page("pages/5_Select.py").run()
    app.selectbox(key="round_strategy").set_value("Lightly selection config (JSON)")
    app.text_area(key="round_config").input('{"n_samples": 3, "strategies": []}')
    button(app, "Preview the selection").click().run()
    assert not app.exception
    assert "at least one strategy" in app.error[0].value


def test_label_page__colour_by_prediction_uncertainty_and_round(
    app: AppTest, tiny_project: Project
) -> None:
    from bps_core.selection.rounds import train_model
    from tests.helpers import create_round

    keys = map_project(tiny_project)
    _label_particles(tiny_project)
    train_model(tiny_project)
    create_round(tiny_project, 7)
    app.run()
    app.switch_page("pages/3_Explore_and_label.py").run()
    control = app.segmented_control(key="map_color_by")
    assert {"prediction", "uncertainty", "round"} <= set(control.options)

    def legend() -> list[str]:
        spec = json.loads(app.get("plotly_chart")[0].proto.spec)
        return [t["name"].split(" (")[0] for t in spec["data"]]

    control.set_value("prediction").run()
    assert legend() == ["Fe", "X-ray"]
    control.set_value("round").run()
    assert legend() == ["round 1", "(none)"]  # missing values last, like "(unlabeled)"
    assert "round 1 (7)" in app.get("plotly_chart")[0].proto.spec
    control.set_value("uncertainty").run()
    assert not app.exception
    assert set(legend()) <= {"0.0-0.2", "0.2-0.4", "0.4-0.6", "0.6-0.8", "0.8-1.0"}
    assert len(keys) == 170


def test_queue__walks_a_selection_round_in_its_order(app: AppTest, tiny_project: Project) -> None:
    from tests.helpers import create_round

    map_project(tiny_project)
    r = create_round(tiny_project, 4, strategy="random", seed=5)
    tiny_project.ensure_class("track")
    app.session_state["user_name"] = "qa"
    app.run()
    app.switch_page("pages/4_Queue.py").run()
    app.selectbox(key="queue_origin").set_value(f"Selection round {r.id}")
    button(app, "Start").click().run()
    assert "0 of 4 labeled" in app.get("progress")[0].proto.text
    app.button(key="queue_class_track").click().run()
    assert tiny_project.current_labels().key.tolist() == [r.keys[0]]


def test_export_page__downloads_and_a_folder(
    app: AppTest, tiny_project: Project, tmp_path: Path
) -> None:
    keys = tiny_project.samples().key.tolist()
    tiny_project.add_labels(keys[:3], "track", user="ann", source="api")
    # A folder outside the project: allowed because the owner lists it in server.toml
    (tiny_project.folder / "server.toml").write_text(f'[server]\ndata_roots = ["{tmp_path}"]\n')
    app.run()
    app.switch_page("pages/6_Export.py").run()
    assert not app.exception
    app.text_input(key="export_dest").input(str(tmp_path))
    button(app, "Export").click().run()
    assert not app.exception
    assert "Exported 3 items" in app.success[0].value
    assert len(list((tmp_path / "imagefolder" / "track").iterdir())) == 3
    app.selectbox(key="export_format").set_value("lightly")
    button(app, "Export").click().run()
    assert "no model yet" in app.error[0].value


def test_signed_in_user__is_the_labeler_and_replaces_the_name_box(
    app: AppTest, tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    import streamlit as st

    class _User(dict):  # what st.user looks like with OIDC login configured
        pass

    monkeypatch.setattr(st, "user", _User(is_logged_in=True, email="ada@lab.org"))
    tiny_project.ensure_class("track")
    app.run()
    assert not app.text_input  # no name box
    assert any(f"Signed in as **{md('ada@lab.org')}**" in c.value for c in app.sidebar.caption)
    app.switch_page("pages/4_Queue.py").run()
    next(b for b in app.button if b.label == "Start").click().run()
    app.button(key="queue_class_track").click().run()
    assert set(tiny_project.current_labels().user) == {"ada@lab.org"}


def test_rounds_page__accept_into_the_queue_records_and_opens_it(
    app: AppTest, tiny_project: Project
) -> None:
    from bps_core.selection.rounds import list_rounds

    map_project(tiny_project)
    app.session_state["user_name"] = "ann"
    app.run()
    app.switch_page("pages/5_Select.py").run()
    app.number_input(key="round_n").set_value(5)
    button(app, "Preview the selection").click().run()
    app.button(key="round_accept").click().run()
    assert not app.exception
    rounds = list_rounds(tiny_project)
    assert len(rounds) == 1
    queue = app.session_state["label_queue"]
    assert list(queue.keys) == rounds[0].keys


def _shown(markdown: str) -> str:
    """Escaped Markdown (``safe_text.md``) as the browser shows it."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")


def _rounds_page(app: AppTest, project: Project) -> None:
    map_project(project)
    app.session_state["user_name"] = "ann"
    app.run()
    app.switch_page("pages/5_Select.py").run()


def _preview(app: AppTest) -> None:
    button(app, "Preview the selection").click().run()
    assert not app.exception


def test_rounds_page__a_second_round_shares_nothing_with_the_first(
    app: AppTest, tiny_project: Project
) -> None:
    from bps_core.selection.rounds import list_rounds

    _rounds_page(app, tiny_project)
    app.number_input(key="round_n").set_value(50)
    for _ in range(2):
        _preview(app)
        app.button(key="round_accept_only").click().run()
    first, second = list_rounds(tiny_project)
    assert not set(first.keys) & set(second.keys)
    assert first.seed != second.seed
    _preview(app)
    assert any("100 samples picked by earlier rounds were left out" in c.value
               for c in app.caption)  # fmt: skip
    app.checkbox(key="round_reinclude").check()
    app.number_input(key="round_seed").set_value(first.seed)
    _preview(app)
    preview = app.session_state["round_preview"]
    assert preview.keys == first.keys  # re-included, same seed: the first round again


def test_rounds_page__two_sessions_accepting_previews_of_the_same_picks_record_one_round(
    app: AppTest, tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tester found round 5 holding exactly round 4's samples: two sessions previewed (same
    seed) before either accepted."""
    from bps_core.selection.rounds import list_rounds

    _rounds_page(app, tiny_project)
    other = open_app(monkeypatch, tiny_project.folder)
    other.session_state["user_name"] = "carol"
    other.run()
    other.switch_page("pages/5_Select.py").run()
    for session in (app, other):
        session.number_input(key="round_n").set_value(5)
        session.number_input(key="round_seed").set_value(12345)
        _preview(session)
    app.button(key="round_accept_only").click().run()
    other.button(key="round_accept_only").click().run()
    assert not other.exception
    assert len(list_rounds(tiny_project)) == 1
    said = other.error[0].value.replace("\\", "")
    assert "5 of the 5 previewed samples were picked by round 1" in said
    assert "Preview again" in said
    assert "round_preview" not in other.session_state  # the stale preview is gone
    _preview(other)
    other.button(key="round_accept_only").click().run()
    first, second = list_rounds(tiny_project)
    assert not set(first.keys) & set(second.keys)


def test_rounds_page__the_configuration_picker_shows_a_new_round_first(
    app: AppTest, tiny_project: Project
) -> None:
    """A tester's picker kept an old round after a new one was recorded."""
    from tests.helpers import create_round

    _rounds_page(app, tiny_project)
    for _ in range(2):
        create_round(tiny_project, 5, strategy="random")
    app.run()
    (picker,) = [s for s in app.selectbox if s.label == "Configuration of round"]
    assert picker.value == 2
    picker.set_value(1).run()
    create_round(tiny_project, 5, strategy="random")
    app.run()
    (picker,) = [s for s in app.selectbox if s.label == "Configuration of round"]
    assert picker.value == 3
    assert picker.options == ["3", "2", "1"]


def test_rounds_page__a_lightly_configs_n_samples_decides_the_batch(
    app: AppTest, tiny_project: Project
) -> None:
    _rounds_page(app, tiny_project)
    app.selectbox(key="round_strategy").set_value("Lightly selection config (JSON)")
    app.text_area(key="round_config").input(json.dumps({
        "n_samples": 20,
        "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
    }))  # fmt: skip
    _preview(app)  # the batch-size field still says 50
    assert any(_shown(h.value).startswith("Preview: 20 samples") for h in app.subheader)
    assert any("The batch size is the config's." in c.value for c in app.caption)


def test_rounds_page__a_failed_preview_clears_the_previous_one(
    app: AppTest, tiny_project: Project
) -> None:
    _rounds_page(app, tiny_project)
    app.number_input(key="round_n").set_value(5)
    _preview(app)
    assert any(_shown(h.value).startswith("Preview: 5 samples") for h in app.subheader)
    app.number_input(key="round_n").set_value(10_000)
    _preview(app)
    assert "only" in app.error[0].value
    assert not any("Preview" in h.value for h in app.subheader)
    assert "round_preview" not in app.session_state


def test_rounds_page__a_balanced_round_over_particle_type_comes_out_balanced(
    app: AppTest, tiny_project: Project
) -> None:
    _rounds_page(app, tiny_project)
    app.number_input(key="round_n").set_value(16)
    app.selectbox(key="round_strategy").set_value("diversity")
    app.multiselect(key="round_balance").set_value(["particle_type"])
    app.selectbox(key="round_threshold_column").set_value("hr_post_exposure")
    app.selectbox(key="round_threshold_op").set_value("≥")
    app.number_input(key="round_threshold_value").set_value(24.0)
    _preview(app)
    preview = app.session_state["round_preview"]
    s = tiny_project.samples().set_index("key").loc[preview.keys]
    assert s.particle_type.value_counts().to_dict() == {"Fe": 8, "X-ray": 8}
    assert (s.hr_post_exposure >= 24).all()
    assert preview.config["balance_by"] == ["particle_type"]
    assert any("diversity, balanced by particle_type, hr_post_exposure ≥ 24" in _shown(h.value)
               for h in app.subheader)  # fmt: skip


def test_rounds_page__similar_to_the_samples_of_a_class(
    app: AppTest, tiny_project: Project
) -> None:
    _label_particles(tiny_project, 3)
    _rounds_page(app, tiny_project)
    app.number_input(key="round_n").set_value(4)
    app.selectbox(key="round_similar").set_value("samples labeled 'Fe'")
    _preview(app)
    preview = app.session_state["round_preview"]
    assert len(preview.config["similar_to"]) == 3
    picked = tiny_project.samples().key[:2].tolist()
    app.session_state["map_selection_keys"] = picked  # as the Explore page's lasso leaves it
    app.run()
    app.selectbox(key="round_similar").set_value("the map selection")
    _preview(app)
    assert app.session_state["round_preview"].config["similar_to"] == picked


def test_rounds_page__says_what_default_picks_now_and_why(
    app: AppTest, tiny_project: Project
) -> None:
    _rounds_page(app, tiny_project)
    assert any("`default` picks **random** right now: no sample is labeled" in c.value
               for c in app.caption)  # fmt: skip
    _label_particles(tiny_project, 3)
    app.run()
    assert any("`default` picks **typiclust** right now" in c.value
               and "labels of 2 classes but no model yet (train one in the Model tab" in c.value
               for c in app.caption)  # fmt: skip
    from bps_core.selection.rounds import train_model

    train_model(tiny_project)
    app.run()
    assert any("`default` picks **error_adaptive** right now" in c.value
               and "the more errors the model expects" in c.value for c in app.caption)  # fmt: skip


def test_rounds_page__after_says_still_labeling_until_the_rounds_samples_are_labeled(
    app: AppTest, tiny_project: Project
) -> None:
    from bps_core.selection.rounds import train_model
    from tests.helpers import create_round

    _rounds_page(app, tiny_project)
    _label_particles(tiny_project)
    r = create_round(tiny_project, 6, strategy="random")
    train_model(tiny_project)
    app.run()

    def history() -> pd.DataFrame:
        return next(d.value for d in app.dataframe if "labeled" in d.value.columns)

    assert (history()["balanced acc. after"] == "still labeling").all()
    assert history()["labeled"].tolist() == ["0 / 6"]
    tiny_project.add_labels(r.keys, "Fe", user="ann", source="api")
    train_model(tiny_project)
    app.run()
    assert history()["balanced acc. after"].str.fullmatch(r"[01]\.\d{3}").all()
    assert history()["labeled"].tolist() == ["6 / 6"]


def test_rounds_page__a_class_with_one_label_warns_and_shows_no_figures(
    app: AppTest, tiny_project: Project
) -> None:
    _rounds_page(app, tiny_project)
    s = tiny_project.samples()
    tiny_project.add_labels(s[s.particle_type == "Fe"].key.head(10), "Fe", user="a", source="api")
    tiny_project.add_labels(s[s.particle_type == "X-ray"].key.head(1), "X-ray", user="a",
                            source="api")  # fmt: skip
    app.run()
    app.button(key="model_train").click().run()
    assert not app.exception
    assert any("no cross-validation: class 'X-ray' has a single label" in _shown(w.value)
               for w in app.warning)  # fmt: skip
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Balanced accuracy"] == "n/a"


def test_rounds_page__the_simulate_tab_runs_a_job_and_shows_the_curves(
    app: AppTest, tiny_project: Project
) -> None:

    from bps_core import jobs

    _rounds_page(app, tiny_project)
    app.selectbox(key="sim_label").set_value("particle_type")
    app.multiselect(key="sim_strategies").set_value(["random", "diversity"])
    app.number_input(key="sim_seeds").set_value(2)
    app.number_input(key="sim_batch").set_value(8)
    app.number_input(key="sim_rounds").set_value(2)
    app.button(key="sim_run").click().run()
    assert not app.exception
    (job,) = jobs.list_jobs(tiny_project, "simulate")
    assert job.params["group_column"] == "well"  # the default group, when there is one
    assert wait_for_job(tiny_project, job.id).state == "succeeded"
    app.run()
    assert not app.exception
    assert any("Simulated on 'particle_type'" in _shown(h.value) for h in app.subheader)
    table = next(d.value for d in app.dataframe if "labels to 95%" in d.value.columns)
    assert set(table.strategy) == {"random", "diversity"}
    spec = json.loads(app.get("plotly_chart")[-1].proto.spec)
    assert {t.get("name") for t in spec["data"]} >= {"random", "diversity"}


def test_rounds_page__simulate_refuses_counts_that_are_not_whole(
    app: AppTest, tiny_project: Project
) -> None:
    from bps_core import jobs

    _rounds_page(app, tiny_project)
    app.selectbox(key="sim_label").set_value("particle_type")
    app.number_input(key="sim_batch").set_value(8.5).run()
    assert md("Batch: 8.5 is not a whole number; enter a whole number from 1 to 1,000.") in (
        _errors(app)
    )
    assert app.button(key="sim_run").disabled
    app.number_input(key="sim_batch").set_value(8.0).run()
    assert app.button(key="sim_run").proto.disabled is False
    app.number_input(key="sim_rounds").set_value(2.25)
    app.button(key="sim_run").click().run()  # typed and pressed at once: refused too
    assert not app.exception
    assert jobs.list_jobs(tiny_project, "simulate") == []


def _explore_with_selection(app: AppTest, keys: list[str], user: str = "ann") -> AppTest:
    """Opens Explore with ``keys`` preset as the map selection (AppTest cannot lasso)."""
    app.session_state["user_name"] = user
    app.session_state["map_selection_keys"] = keys
    app.run()
    app.switch_page("pages/3_Explore_and_label.py").run()
    assert not app.exception
    return app


def test_label_page__the_button_names_the_class_and_a_new_name_is_what_lands(
    app: AppTest, tiny_project: Project
) -> None:
    keys = map_project(tiny_project)
    tiny_project.ensure_class("track")
    chosen = keys[20:25]
    _explore_with_selection(app, chosen)
    assert any(s.value == "5 selected" for s in app.subheader)
    assert app.selectbox(key="map_class").value == "track"
    assert app.button(key="map_label").label == f"Label 5 as {md(repr('track'))}"
    assert not [t for t in app.text_input if t.key == "map_new_class"]  # no ambiguous name box
    app.selectbox(key="map_class").set_value("+ new class").run()
    assert app.button(key="map_label").label == "Label 5 as …"
    assert app.button(key="map_label").disabled  # no name yet: nothing to apply
    app.text_input(key="map_new_class").input("normal").run()
    assert app.button(key="map_label").label == f"Label 5 as {md(repr('normal'))}"
    # A new user pasted 300 characters and learned of the limit only from the refusal.
    assert app.text_input(key="map_new_class").max_chars == state.CLASS_NAME_MAX
    app.button(key="map_label").click().run()
    assert not app.exception
    cur = tiny_project.current_labels()
    assert set(cur.key) == set(chosen)
    assert set(cur.label) == {"normal"}
    assert any(f"Labeled 5 samples as {md(repr('normal'))}" in s.value for s in app.success)
    assert app.selectbox(key="map_class").value == "normal"  # the next default
    assert app.button(key="map_label").label == f"Label 5 as {md(repr('normal'))}"


def test_explore__a_deleted_file_shows_a_placeholder_and_the_sample_turns_bad(
    app: AppTest, tiny_project: Project
) -> None:
    keys = map_project(tiny_project)
    rel = tiny_project.samples().set_index("key").relpath
    gone = [keys[0], keys[21]]  # one on the first Browse page, one opened in the detail view
    for k in gone:
        (Path(tiny_project.config.datasource.path) / rel[k]).unlink()
    cache.clear_thumbnails()
    _explore_with_selection(app, [keys[21]])
    assert not app.exception
    reasons = [i.value for i in app.info if "Cannot show" in i.value]
    assert any(md(rel[keys[21]]) in r and "missing from the datasource" in r for r in reasons)
    app.session_state[state.EXPLORE_TAB] = "Browse"  # only the open tab runs
    app.run()
    reasons = [i.value for i in app.info if "Cannot show" in i.value]
    assert any(md(rel[keys[0]]) in r and "file is missing" in r for r in reasons)
    assert "could not be decoded or are missing" in app.warning[0].value
    with Project.open(tiny_project.folder) as p:
        bad = p.samples().set_index("key")
        assert set(bad.index[bad.status == "bad"]) == set(gone)
        assert "deleted or moved after ingest" in bad.error[keys[21]]


def test_label_page__find_similar_makes_the_nearest_unlabeled_the_selection(
    app: AppTest, tiny_project: Project
) -> None:
    from bps_core.embeddings.neighbours import most_similar
    from bps_core.embeddings.store import load_embedding_set

    keys = map_project(tiny_project)
    tiny_project.add_labels(keys[30:40], "track", user="ann", source="api")
    _explore_with_selection(app, keys[:3])
    app.number_input(key="map_similar_n").set_value(6).run()
    app.button(key="map_similar").click().run()
    assert not app.exception
    emb = load_embedding_set(tiny_project, None)
    assert emb is not None
    index = {k: i for i, k in enumerate(emb.keys)}
    labeled = np.zeros(len(emb.keys), dtype=bool)
    labeled[[index[k] for k in keys[30:40]]] = True
    want = [emb.keys[n.index] for n in most_similar(emb.vectors, [0, 1, 2], 6, exclude=labeled)]
    assert app.session_state["map_selection_keys"] == want
    assert any(s.value == "6 selected" for s in app.subheader)
    assert any("most similar to the previous selection of 3" in c.value for c in app.caption)
    assert app.button(key="map_label").label.startswith("Label 6 as")


def test_browse__filters_by_label_and_captions_show_it(app: AppTest, tiny_project: Project) -> None:
    keys = tiny_project.samples().key.tolist()
    tiny_project.add_labels(keys[:4], "track", user="ann", source="api")
    app.session_state[state.EXPLORE_TAB] = "Browse"
    app.run()
    app.switch_page("pages/3_Explore_and_label.py").run()
    app.multiselect(key="explore_filter_label").set_value(["track"]).run()
    assert not app.exception
    assert any(c.value == "4 samples match" for c in app.caption)
    captions = thumbnail_captions(app)
    assert len(captions) == 4
    assert all(c.endswith(" · track") for c in captions)


def test_label_page__history_shows_times_to_the_second_with_the_zone(
    app: AppTest, tiny_project: Project
) -> None:
    keys = map_project(tiny_project)
    tiny_project.add_labels(keys[:2], "track", user="ann", source="lasso")
    app.session_state[state.EXPLORE_TAB] = "History"
    app.run()
    app.switch_page("pages/3_Explore_and_label.py").run()
    (history,) = [d.value for d in app.dataframe if "how" in d.value.columns]
    (col,) = [c for c in history.columns if c.startswith("time (")]
    assert col == "time (UTC)"  # AppTest has no browser time zone
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", history[col].iloc[0])


def test_rounds_page__balance_with_a_lightly_config_is_refused_by_the_settings(
    app: AppTest, tiny_project: Project
) -> None:
    """The page has no check of its own: ``SelectSettings`` refuses it (as for the CLI)."""
    _rounds_page(app, tiny_project)
    app.selectbox(key="round_strategy").set_value("Lightly selection config (JSON)")
    app.multiselect(key="round_balance").set_value(["particle_type"])
    app.text_area(key="round_config").input(
        '{"n_samples": 20, "strategies": [{"input": {"type": "EMBEDDINGS"}, '
        '"strategy": {"type": "DIVERSITY"}}]}'
    )
    _preview(app)
    assert _shown(app.error[0].value) == (
        "balance, threshold and similarity apply to a named strategy; with a Lightly config, "
        "add BALANCE, THRESHOLD or SIMILARITY entries to it"
    )
    assert "round_preview" not in app.session_state


def test_rounds_page__a_pasted_config_with_another_strategy_is_refused_not_ignored(
    app: AppTest, tiny_project: Project
) -> None:
    """Found trying the page as a user: with the strategy left at ``default``, a pasted
    config (n_samples 20) previewed 50 samples of typicality without a word."""
    _rounds_page(app, tiny_project)
    app.text_area(key="round_config").input(
        '{"n_samples": 20, "strategies": [{"input": {"type": "EMBEDDINGS"}, '
        '"strategy": {"type": "DIVERSITY"}}]}'
    )
    _preview(app)
    assert "would not be used" in _shown(app.error[0].value)
    assert "round_preview" not in app.session_state
    assert not any(_shown(h.value).startswith("Preview:") for h in app.subheader)


def test_label_page__the_selection_counts_are_text_not_data_frames(
    app: AppTest, tiny_project: Project
) -> None:
    """Issue 20: the selection panel's three count grids cost the browser about 15 ms each
    of every lasso; they are lines of text."""
    keys = map_project(tiny_project)
    tiny_project.add_labels(keys[20:22], "track", user="ann", source="lasso")
    _explore_with_selection(app, keys[20:25])
    assert not app.dataframe
    counts = [m.value for m in app.markdown if m.value.startswith("**label**")]
    assert counts == [f"**label**  \n{md(UNLABELED)}: 3  \ntrack: 2"]


def test_label_page__thumbnails_page_the_selection_in_its_seeded_order(
    app: AppTest, tiny_project: Project
) -> None:
    """Issue 21 (thumbnails' rows taken by position): each thumbnail page shows the
    selection's samples of that page of the seeded order, in it, each with its caption (file
    name and label) and Open button, the last page short."""
    keys = map_project(tiny_project)
    tiny_project.add_labels(keys[5:7], "track", user="ann", source="lasso")
    chosen = keys[2:32]
    _explore_with_selection(app, chosen[::-1])
    from bps_core.verbs import current_map

    m = current_map(tiny_project)
    assert m is not None
    in_frame = [k for k in m.keys if k in set(chosen)]  # the map frame's order

    track = set(keys[5:7])

    def want(page: int) -> list[str]:  # numbered in the page's order
        shown = tables.shuffled_page(in_frame, page, 24)
        return [f"{n} · " + md(f"{tables.file_name(k)} · {'track' if k in track else UNLABELED}")
                for n, k in enumerate(shown, start=1)]  # fmt: skip

    assert thumbnail_captions(app) == want(1)
    assert app.pills(key="map_open").options == [str(n) for n in range(1, 25)]
    app.number_input(key="map_thumb_page").set_value(2).run()
    assert not app.exception
    assert thumbnail_captions(app) == want(2)
    assert len(want(2)) == 6
    assert any("track" in c for c in want(1) + want(2))


def _errors(app: AppTest) -> list[str]:
    return [e.value for e in app.error]


def test_label_page__find_similar_refuses_a_count_typed_out_of_range(
    app: AppTest, tiny_project: Project
) -> None:
    """Streamlit's max_value dropped 5000 and searched for the last valid count: now the box
    keeps it, says why it is refused, and the search does not run."""
    keys = map_project(tiny_project)
    _explore_with_selection(app, keys[:3])
    app.number_input(key="map_similar_n").set_value(5000).run()
    assert md("How many: 5,000 is more than 1,000; enter a number from 1 to 1,000.") in _errors(app)
    assert app.button(key="map_similar").disabled
    app.number_input(key="map_similar_n").set_value(5).run()
    assert app.button(key="map_similar").proto.disabled is False
    # Typed and pressed at once (the box commits as the button takes the click): refused too.
    app.number_input(key="map_similar_n").set_value(4000)
    app.button(key="map_similar").click().run()
    assert not app.exception
    assert app.session_state["map_selection_keys"] == keys[:3]
    assert any(s.value == "3 selected" for s in app.subheader)
    assert md("How many: 4,000 is more than 1,000; enter a number from 1 to 1,000.") in _errors(app)


def test_label_page__find_similar_refuses_a_count_that_is_not_whole(
    app: AppTest, tiny_project: Project
) -> None:
    """An integer box truncated 3.7 to 3 (its value was parsed as an int): the search ran
    for 3 samples. The box keeps 3.7, says why, and the search does not run."""
    keys = map_project(tiny_project)
    _explore_with_selection(app, keys[:3])
    app.number_input(key="map_similar_n").set_value(3.7).run()
    want = md("How many: 3.7 is not a whole number; enter a whole number from 1 to 1,000.")
    assert want in _errors(app)
    assert app.button(key="map_similar").disabled
    app.number_input(key="map_similar_n").set_value(5.0).run()
    assert app.button(key="map_similar").proto.disabled is False
    app.number_input(key="map_similar_n").set_value(5.5)
    app.button(key="map_similar").click().run()  # typed and pressed at once: refused too
    assert not app.exception
    assert app.session_state["map_selection_keys"] == keys[:3]
    assert md("How many: 5.5 is not a whole number; enter a whole number from 1 to 1,000.") in (
        _errors(app)
    )


def test_browse__a_page_typed_past_the_last_is_an_error_not_another_page(
    app: AppTest, tiny_project: Project
) -> None:
    app.session_state[state.EXPLORE_TAB] = "Browse"
    app.run()
    app.switch_page("pages/3_Explore_and_label.py").run()
    assert len(thumbnail_captions(app)) == 24
    app.number_input(key="explore_page").set_value(99).run()  # 170 samples: 8 pages of 24
    assert not app.exception
    assert _errors(app) == [
        md("Page (of 8): 99 is more than the 8 pages; enter a number from 1 to 8.")
    ]
    assert thumbnail_captions(app) == []


def test_browse__a_page_that_is_not_whole_is_an_error_not_page_2(
    app: AppTest, tiny_project: Project
) -> None:
    app.session_state[state.EXPLORE_TAB] = "Browse"
    app.run()
    app.switch_page("pages/3_Explore_and_label.py").run()
    app.number_input(key="explore_page").set_value(2.5).run()
    assert not app.exception
    assert _errors(app) == [
        md("Page (of 8): 2.5 is not a whole number; enter a whole number from 1 to 8.")
    ]
    assert thumbnail_captions(app) == []


def test_rounds_page__a_batch_size_typed_out_of_range_is_refused_not_replaced(
    app: AppTest, tiny_project: Project
) -> None:
    _rounds_page(app, tiny_project)
    app.number_input(key="round_n").set_value(5)
    _preview(app)
    assert any(_shown(h.value).startswith("Preview: 5 samples") for h in app.subheader)
    app.number_input(key="round_n").set_value(20_000)
    _preview(app)
    assert md(
        "Batch size (1-10,000): 20,000 is more than 10,000; enter a number from 1 to 10,000."
    ) in _errors(app)
    assert not any("Preview" in h.value for h in app.subheader)  # not a round of 50 either
    assert "round_preview" not in app.session_state


def test_rounds_page__a_batch_size_or_seed_that_is_not_whole_is_refused_not_truncated(
    app: AppTest, tiny_project: Project
) -> None:
    _rounds_page(app, tiny_project)
    app.number_input(key="round_n").set_value(5.5)
    app.number_input(key="round_seed").set_value(3.7)
    _preview(app)
    assert _errors(app) == [
        md("Batch size (1-10,000): 5.5 is not a whole number; enter a whole number from 1 to "
           "10,000."),
        md("Seed: 3.7 is not a whole number; enter a whole number from 0 to 2,147,483,646."),
    ]  # fmt: skip
    assert "round_preview" not in app.session_state  # not a round of 5 with seed 3
    app.number_input(key="round_n").set_value(5.0)
    app.number_input(key="round_seed").set_value(3.0)
    _preview(app)
    assert any(_shown(h.value) == "Preview: 5 samples (random, seed 3)" for h in app.subheader)


def test_rounds_page__fine_tune_epochs_typed_out_of_range_train_nothing(
    app: AppTest, tiny_project: Project
) -> None:
    _label_particles(tiny_project)
    _rounds_page(app, tiny_project)
    app.selectbox(key="model_kind").set_value("finetune").run()
    app.number_input(key="model_ft_epochs").set_value(500).run()
    assert md("Fine-tune epochs: 500 is more than 200; enter a number from 1 to 200.") in _errors(
        app
    )
    assert app.button(key="model_train").disabled
    app.number_input(key="model_ft_epochs").set_value(2).run()
    app.number_input(key="model_ft_epochs").set_value(300)
    app.button(key="model_train").click().run()  # typed and pressed at once: refused too
    assert not app.exception
    assert not any("Training" in p.proto.text for p in app.get("progress"))
    assert md("Fine-tune epochs: 300 is more than 200; enter a number from 1 to 200.") in _errors(
        app
    )
    app.selectbox(key="model_kind").set_value("logreg").run()  # logreg uses no epochs
    assert not any("Fine-tune epochs" in e for e in _errors(app))
    assert app.button(key="model_train").proto.disabled is False


def test_queue__removes_an_unused_class_after_confirmation_and_frees_its_digit(
    app: AppTest, tiny_project: Project
) -> None:
    tiny_project.add_labels([tiny_project.samples().key[0]], "debris", user="qa", source="api")
    tiny_project.ensure_class("trakc")
    app.session_state["user_name"] = "qa"
    app.run()
    app.switch_page("pages/4_Queue.py").run()
    button(app, "Start").click().run()
    assert app.button(key="queue_class_trakc").proto.shortcut == "2"
    app.selectbox(key=state.QUEUE_REMOVE_CLASS).set_value("trakc").run()
    assert app.button(key="queue_remove_class_go").disabled  # not before it is confirmed
    app.checkbox(key=state.QUEUE_REMOVE_CONFIRM).check().run()
    app.button(key="queue_remove_class_go").click().run()
    assert not app.exception
    assert [c.name for c in tiny_project.classes()] == ["debris"]
    assert "queue_class_trakc" not in {b.key for b in app.button}
    # a class samples carry is refused, saying how many
    app.selectbox(key=state.QUEUE_REMOVE_CLASS).set_value("debris").run()
    app.checkbox(key=state.QUEUE_REMOVE_CONFIRM).check().run()
    app.button(key="queue_remove_class_go").click().run()
    assert "current label of 1 sample" in app.error[0].value.replace("\\", "")
    assert [c.name for c in tiny_project.classes()] == ["debris"]
