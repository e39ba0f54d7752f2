"""Session-state helpers of ``bps_app.state`` under a real script run (AppTest)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from bps_app import state


def _chart_sync_app() -> None:
    import streamlit as st

    from bps_app import state

    calls = st.session_state.setdefault("calls", [])

    def keys() -> list[str]:
        calls.append(st.session_state.signature)
        return list(st.session_state.chart_keys)

    st.session_state.got = state.sync_selection_with_chart(st.session_state.signature, keys)


def test_sync_selection_with_chart__finds_the_keys_only_when_the_chart_selection_changed() -> None:
    app = AppTest.from_function(_chart_sync_app)
    app.session_state.signature, app.session_state.chart_keys = "lasso 1", ["a", "b"]
    app.run()
    assert app.session_state.got == ["a", "b"]
    app.session_state.chart_keys = ["changed"]  # the same shape: its keys are not found again
    app.run()
    assert app.session_state.got == ["a", "b"]
    assert app.session_state.calls == ["lasso 1"]
    app.session_state.signature = "lasso 2"
    app.run()
    assert app.session_state.got == ["changed"]
    app.session_state.signature, app.session_state.chart_keys = "", []  # cleared on the chart
    app.run()
    assert app.session_state.got == []
    assert app.session_state.calls == ["lasso 1", "lasso 2", ""]
    assert not app.exception


def test_user_name_box__stops_at_the_length_the_store_accepts() -> None:
    """The box allowed 80 characters and the store 64: a 69-character name was refused after
    it was typed (and the box emptied). Now the box stops where the store does."""
    from bps_core.project.store import clean_name

    assert clean_name("a" * state.USER_NAME_MAX, "your name") == "a" * state.USER_NAME_MAX
    with pytest.raises(ValueError, match="1-64 characters"):
        clean_name("a" * (state.USER_NAME_MAX + 1), "your name")


def test_class_name_boxes__stop_at_the_length_the_store_accepts() -> None:
    from bps_core.project.store import clean_name

    assert clean_name("a" * state.CLASS_NAME_MAX, "class name") == "a" * state.CLASS_NAME_MAX
    with pytest.raises(ValueError, match="1-64 characters"):
        clean_name("a" * (state.CLASS_NAME_MAX + 1), "class name")


def _name_box_app() -> None:
    from bps_app import widgets

    widgets.sidebar("demo")


@pytest.mark.parametrize("name", ["ada", "ali\u202ecebob"])  # a name, and a refused one
def test_user_name_box__every_run_sends_the_box_its_value(name: str) -> None:
    """Only a value set from code travels with a box to the browser. A page link clicked before
    the first run's box had arrived left the next page's box empty in the browser while the
    session kept the name, and the next click cleared the name as if typed
    (tests/browser/test_user_name.py). The name, or a refused one beside its reason, is now
    sent on every run."""
    app = AppTest.from_function(_name_box_app)
    app.query_params[state.USER_PARAM] = name
    for _ in range(3):  # the first run, then reruns (a page switch, a click)
        app.run()
        box = app.sidebar.text_input(key=state.USER_NAME_INPUT)
        assert (box.value, box.proto.value, box.proto.set_value) == (name, name, True)
    assert not app.exception


def _tag_target_app() -> None:
    import streamlit as st

    from bps_app import state

    st.session_state.screens = [state.tag_screen("queue", k) for k in st.session_state.drawn]
    st.session_state.got = state.tag_target("queue", ["shown now"])


def test_tag_target__the_pinned_screen_else_the_box_samples_none_once_forgotten() -> None:
    app = AppTest.from_function(_tag_target_app)
    app.session_state.drawn = [["a"], ["b", "c"]]
    app.run()
    assert app.session_state.got == ["shown now"]  # nothing pinned: no browser
    first, second = app.session_state.screens
    assert first != second
    app.session_state[state.tag_pin_key("queue")] = {"screen": first}
    app.session_state.drawn = [["b", "c"]]  # the box is drawn again, for b and c
    app.run()
    assert app.session_state.got == ["a"]  # the screen the box got the focus on
    app.session_state[state.tag_pin_key("queue")] = {"screen": None}
    app.run()
    assert app.session_state.got == ["shown now"]  # focused where no screen was marked
    app.session_state[state.tag_pin_key("queue")] = {"screen": first}
    app.session_state.drawn = [[f"s{i}"] for i in range(state.TAG_SCREENS_KEPT)]
    app.run()
    assert app.session_state.got is None  # too many screens since: tag nothing, say so
