"""AppTest of tags and facet filters: the queue's tag box and filtered queue, Browse's filters
(a provider registered later filters with no page change), the map's tag form, History."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from bps_app import filters, state
from bps_core import facets
from bps_core.facets import COLUMN_TOKENS
from bps_core.facets import NONE as FACET_NONE
from bps_core.project import Project
from tests.helpers import map_project

QUEUE_PAGE = "pages/4_Queue.py"
EXPLORE_PAGE = "pages/3_Explore_and_label.py"


def _open(app: AppTest, page: str, user: str = "ann", tab: str | None = None) -> AppTest:
    app.session_state[state.USER_NAME] = user
    if tab is not None:  # Explore runs only its open tab
        app.session_state[state.EXPLORE_TAB] = tab
    app.run()
    app.switch_page(page).run()
    assert not app.exception
    return app


def _start_queue(app: AppTest, origin: str) -> None:
    app.selectbox(key="queue_origin").set_value(origin)
    next(b for b in app.button if b.label == "Start").click().run()
    assert not app.exception


def _queue_keys(app: AppTest) -> list[str]:
    q = app.session_state[state.QUEUE]
    return list(q.keys)


def test_queue__a_typed_tag_lands_on_the_sample_shown(app: AppTest, tiny_project: Project) -> None:
    _open(app, QUEUE_PAGE)
    _start_queue(app, "Unlabeled samples (random order)")
    shown = _queue_keys(app)[0]
    app.text_input(key=state.tag_input_key("queue")).input("  ask   an expert ").run()
    assert not app.exception
    assert tiny_project.tags.of([shown]) == {shown: ["ask an expert"]}
    assert app.text_input(key=state.tag_input_key("queue")).value == ""  # ready for the next
    chips = next(w for w in app.get("button_group") if w.label == "Tags")
    assert chips.options == ["ask an expert"]
    hist = tiny_project.tags.history(shown)
    assert hist.user.tolist() == ["ann"]


def test_queue__a_hostile_tag_is_one_clear_error_and_writes_nothing(
    app: AppTest, tiny_project: Project
) -> None:
    _open(app, QUEUE_PAGE)
    _start_queue(app, "Unlabeled samples (random order)")
    app.text_input(key=state.tag_input_key("queue")).input("bad\u202etag").run()
    assert not app.exception
    assert "U\\+202E at character 4" in app.error[0].value  # Markdown-escaped, shown as typed
    assert tiny_project.tags.version() == 0


def test_queue__filtered_queue_walks_only_unlabeled_samples_with_the_tag(
    app: AppTest, tiny_project: Project
) -> None:
    keys = tiny_project.samples().key.tolist()
    tiny_project.tags.add(keys[3:7], "debris?", user="bob")
    tiny_project.add_labels(keys[3:4], "track", user="bob", source="api")
    _open(app, QUEUE_PAGE)
    app.multiselect(key=state.filter_widget_key("queue", "tags")).select("debris?")
    _start_queue(app, "Unlabeled samples matching the filters")
    assert sorted(_queue_keys(app)) == sorted(keys[4:7])


def test_browse__filters_by_tag_and_label(app: AppTest, tiny_project: Project) -> None:
    keys = tiny_project.samples().key.tolist()
    tiny_project.tags.add(keys[:5], "unsure", user="bob")
    tiny_project.add_labels(keys[:2], "track", user="bob", source="api")
    _open(app, EXPLORE_PAGE, tab="Browse")
    app.multiselect(key=state.filter_widget_key("browse", "tags")).select("unsure").run()
    assert any(c.value == "5 samples match" for c in app.caption)
    app.multiselect(key=state.filter_widget_key("browse", "label")).select("(none)").run()
    assert any(c.value == "3 samples match" for c in app.caption)


def test_browse__a_registered_provider_filters_with_no_page_change(
    app: AppTest, tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the label-issue and quality-flag providers will be: a score and a boolean flag."""

    def issues(project: Project) -> pd.DataFrame:
        keys = project.samples().key.tolist()
        return pd.DataFrame(
            {
                "issue_score": np.linspace(0.0, 1.0, len(keys)),
                "dim": [i < 4 for i in range(len(keys))],
            },
            index=pd.Index(keys, name="key"),
        )

    monkeypatch.setattr(facets, "PROVIDERS", (*facets.PROVIDERS, issues))
    _open(app, EXPLORE_PAGE, tab="Browse")
    assert app.slider(key=state.filter_widget_key("browse", "issue_score")).label == "Issue score"
    app.multiselect(key=state.filter_widget_key("browse", "dim")).select("True").run()
    assert any(c.value == "4 samples match" for c in app.caption)


def test_map__tag_these_n_and_the_map_colours_by_tags(app: AppTest, tiny_project: Project) -> None:
    keys = map_project(tiny_project)
    chosen = keys[10:14]
    app.session_state[state.MAP_SELECTION] = chosen
    _open(app, EXPLORE_PAGE)
    assert any(w.label == "Tag these 4" for w in app.get("button_group")) is False  # no tags yet
    app.text_input(key=state.tag_input_key("map")).input("ask an expert").run()
    assert not app.exception
    assert tiny_project.tags.counts() == {"ask an expert": 4}
    assert set(tiny_project.tags.current().key) == set(chosen)
    assert "tags" in app.segmented_control(key=state.MAP_COLOR_BY).options
    app.segmented_control(key=state.MAP_COLOR_BY).set_value("tags").run()
    assert not app.exception


def test_history__lists_tag_actions(app: AppTest, tiny_project: Project) -> None:
    keys = tiny_project.samples().key.tolist()
    tiny_project.tags.add(keys[:3], "unsure", user="bob")
    tiny_project.tags.remove(keys[:1], "unsure", user="cy")
    _open(app, EXPLORE_PAGE, tab="History")
    frame = next(d.value for d in app.dataframe if "tag" in d.value.columns)
    assert frame[["user", "tag", "what", "samples"]].values.tolist() == [
        ["cy", "unsure", "removed", 1], ["bob", "unsure", "added", 3]
    ]  # fmt: skip


def test_queue__in_the_grid_a_tag_lands_on_the_chosen_tiles_only(
    app: AppTest, tiny_project: Project
) -> None:
    _open(app, QUEUE_PAGE)
    app.segmented_control(key="queue_view").set_value("Grid of 6")
    _start_queue(app, "Unlabeled samples (random order)")
    page = _queue_keys(app)[:6]
    app.checkbox(key=state.queue_tile_key(page[0])).uncheck().run()
    app.text_input(key=state.tag_input_key("queue")).input("unsure").run()
    assert not app.exception
    assert set(tiny_project.tags.current().key) == set(page[1:])
    chips = next(w for w in app.get("button_group") if w.label == "Tags of the 5 chosen")
    assert chips.value == ["unsure"]  # every chosen tile carries it


def test_facet_choices__worked_out_once_per_frame_and_again_for_a_new_frame(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 20: the choices (every value of every facet) cost about 0.3 s per rerun at 77k
    samples; ``cache.facets`` hands every rerun the same frame until a facet changes."""
    from bps_app import filters

    calls: list[int] = []
    real = filters._facet_choices
    monkeypatch.setattr(filters, "_facet_choices",
                        lambda frame: calls.append(1) or real(frame))  # fmt: skip
    frame = pd.DataFrame({"label": ["a", None, "b"], "confidence": [0.2, 0.5, 0.9],
                          "tags": [["x"], [], ["y", "x"]]}, index=["k1", "k2", "k3"])  # fmt: skip
    first = filters.facet_choices(frame)
    assert filters.facet_choices(frame) is first
    assert len(calls) == 1
    by_column = {c.column: c for c in first}
    assert by_column["label"].options == ("a", "b", "(none)")
    assert by_column["confidence"].bounds == (0.2, 0.9)
    assert by_column["tags"].options == ("x", "y", "(none)")
    assert filters.colour_columns(frame) is filters.colour_columns(frame)  # kept as well
    relabeled = frame.assign(label=["c", "c", "c"])  # a new version of the facets
    assert {c.column: c for c in filters.facet_choices(relabeled)}["label"].options == ("c",)
    assert len(calls) == 2


def test_filter_choices__kept_per_column_token_across_facet_frames(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 21: after a label the facets frame is new but only its label column changed; the
    other columns' filter choices and colours (a pass over a million lists) are kept, also
    for a column with nothing to filter by."""
    index = pd.Index([f"k{i}" for i in range(6)], name="key")
    flags = pd.Series([[] for _ in range(6)], index=index, dtype=object)  # nothing flagged

    def facets_frame(labels: list[str | None], version: int) -> pd.DataFrame:
        frame = pd.DataFrame({"label": labels, "flags": flags}, index=index)
        frame.attrs[COLUMN_TOKENS] = {"label": (version, "label"), "flags": ("kept", "flags")}
        return frame

    made: list[str] = []
    real_choice, real_colour = filters._facet_choice, filters._colour_column

    def choice(values: pd.Series, kind: facets.FacetKind) -> filters.FacetChoice | None:
        made.append(f"choice {values.name}")
        return real_choice(values, kind)

    def colour(values: pd.Series, kind: facets.FacetKind) -> pd.Series:
        made.append(f"colour {values.name}")
        return real_colour(values, kind)

    monkeypatch.setattr(filters, "_facet_choice", choice)
    monkeypatch.setattr(filters, "_colour_column", colour)
    first = facets_frame(["a", None, None, None, None, None], 1)
    assert [c.column for c in filters.facet_choices(first)] == ["label"]
    filters.colour_columns(first)
    made.clear()
    second = facets_frame(["a", "b", None, None, None, None], 2)
    choices = filters.facet_choices(second)
    colours = filters.colour_columns(second)
    assert sorted(made) == ["choice label", "colour label"]  # flags kept, label made again
    assert choices[0].options == ("a", "b", FACET_NONE)
    assert colours.label.tolist() == second.label.tolist()
    # the colours carry the facets' column tokens: the map table places a kept one once
    assert colours.attrs[COLUMN_TOKENS] == {"label": (2, "label"), "flags": ("kept", "flags")}


def test_map__a_filter_narrows_the_selection_to_the_points_it_shows(
    app: AppTest, tiny_project: Project
) -> None:
    """The selection's rows come by position: from the map's held positions without a
    filter, from the filtered rows' own with one (issue 21)."""
    keys = map_project(tiny_project)
    tiny_project.add_labels(keys[:3], "track", user="ann", source="api")
    app.session_state[state.MAP_SELECTION] = keys[:6]
    _open(app, EXPLORE_PAGE)
    assert any(s.value == "6 selected" for s in app.subheader)
    app.multiselect(key=state.filter_widget_key("map", "label")).select("track").run()
    assert not app.exception
    assert any(s.value == "3 selected" for s in app.subheader)
    app.multiselect(key=state.filter_widget_key("map", "label")).set_value([]).run()
    assert any(s.value == "6 selected" for s in app.subheader)
