"""AppTest of blind double labeling: a reviewer sets it on the Agreement page, alice and bob
label the same assigned samples in their own sessions without seeing each other's labels, the
Agreement page shows kappa, and the reviewer's adjudication becomes the label (issue 19)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from bps_app import state, widgets
from bps_app.safe_text import md
from bps_core.project import Project
from tests.helpers import button, map_project, open_app

QUEUE_PAGE = "pages/4_Queue.py"
AGREEMENT_PAGE = "pages/8_Agreement.py"
EXPLORE_PAGE = "pages/3_Explore_and_label.py"


def _session(monkeypatch: pytest.MonkeyPatch, project: Project, name: str) -> AppTest:
    """A browser session of ``name`` (its own AppTest) on the shared project."""
    app = open_app(monkeypatch, project.folder)
    app.session_state[state.USER_NAME] = name
    app.run()
    assert not app.exception
    return app


def _queue(app: AppTest, origin: str, keys: list[str] | None = None) -> None:
    if keys is not None:
        app.session_state[state.MAP_SELECTION] = keys
    app.switch_page(QUEUE_PAGE).run()
    app.selectbox(key="queue_origin").set_value(origin)
    button(app, "Start").click().run()
    assert not app.exception


def _shown_label(app: AppTest) -> tuple[str, str]:
    metric = app.metric[0]
    return metric.label, metric.value


def test_blind_session__two_labelers_a_kappa_and_an_adjudication(
    monkeypatch: pytest.MonkeyPatch, tiny_project: Project
) -> None:
    for name in ("track", "debris"):
        tiny_project.ensure_class(name)
    rita = _session(monkeypatch, tiny_project, "rita")
    rita.switch_page(AGREEMENT_PAGE).run()
    rita.text_input(key="agreement_labelers").input("alice, bob")
    rita.number_input(key="agreement_share").set_value(0.05)
    button(rita, "Save and assign").click().run()
    assert not rita.exception
    assert md("8 samples assigned to each of alice, bob") in rita.success[0].value
    keys = tiny_project.assignments.keys("alice")
    assert len(keys) == 8
    assert tiny_project.assignments.keys("bob") == keys

    # alice labels every assigned sample "track"
    alice = _session(monkeypatch, tiny_project, "alice")
    _queue(alice, "The map selection", keys)
    for _ in keys:
        alice.button(key="queue_class_track").click().run()
    assert "8 of 8 labeled · finished" in str(alice.get("progress")[0].proto.text)

    # bob's unlabeled queue still holds them all, and he sees none of alice's labels
    bob = _session(monkeypatch, tiny_project, "bob")
    bob.switch_page(QUEUE_PAGE).run()
    origins = bob.selectbox(key="queue_origin").options
    assert not [o for o in origins if o.startswith("Review class")]  # alice's "track" hidden
    _queue(bob, "Unlabeled samples (random order)")
    queued = bob.session_state[state.QUEUE].keys
    assert set(keys) <= set(queued)
    assert len(queued) == 170  # nothing counts as done for bob yet
    _queue(bob, "The map selection", keys)
    assert _shown_label(bob) == ("Your label", widgets.UNLABELED)  # not alice's "track"
    assert any("other people's labels are hidden" in c.value for c in bob.caption)
    assert "0 of 8 labeled" in str(bob.get("progress")[0].proto.text)
    for i in range(len(keys)):  # bob disagrees on the first two
        bob.button(key="queue_class_debris" if i < 2 else "queue_class_track").click().run()
    assert "8 of 8 labeled · finished" in str(bob.get("progress")[0].proto.text)

    # ...and alice sees none of bob's: her review queue holds only her own "track" labels
    alice.switch_page(QUEUE_PAGE).run()
    options = alice.selectbox(key="queue_origin").options
    assert [o for o in options if o.startswith("Review class")] == ["Review class: track"]
    _queue(alice, "Review class: track")
    assert set(alice.session_state[state.QUEUE].keys) == set(keys)
    assert _shown_label(alice) == ("Your label", "track")

    # the two disagreements count as unlabeled until adjudicated
    labels = tiny_project.current_labels()
    assert not {keys[0], keys[1]} & set(labels.key)
    assert set(keys[2:]) <= set(labels.key)

    # a blind labeler's Agreement page shows progress only
    alice.switch_page(AGREEMENT_PAGE).run()
    assert not alice.exception
    assert any("one of the blind labelers" in i.value for i in alice.info)
    assert not alice.tabs

    # the reviewer sees kappa and the disagreements, and decides one
    rita.switch_page(AGREEMENT_PAGE).run()
    assert not rita.exception
    metrics = {m.label: m.value for m in rita.metric}
    assert metrics["Open disagreements"] == "2"
    pairs = next(d.value for d in rita.dataframe if "Cohen's kappa" in d.value.columns)
    assert pairs["labelers"].tolist() == ["alice / bob"]
    assert pairs["samples both labeled"].tolist() == [8]
    assert pairs["labeled alike"].tolist() == ["0.750"]
    assert pairs["Cohen's kappa"].tolist() == ["0.000"]  # alice used one class only vs. bob
    # the adjudication queue (and its digit keys) exists only on its own tab
    assert not [b for b in rita.button if str(b.key).startswith("adjudicate_class_")]
    rita.session_state[state.AGREEMENT_TAB] = "Adjudication queue"
    rita.run()
    said = {m.label: m.value for m in rita.metric if m.label.endswith(" said")}
    assert said == {"alice said": "track", "bob said": "debris"}
    rita.button(key="adjudicate_class_debris").click().run()
    assert not rita.exception
    labels = tiny_project.current_labels().set_index("key")
    assert labels.label[keys[0]] == "debris"
    assert labels.source[keys[0]] == "adjudication"
    assert labels.user[keys[0]] == "rita"
    assert keys[1] not in labels.index
    metrics = {m.label: m.value for m in rita.metric}
    assert metrics["Open disagreements"] == "1"
    assert metrics["Adjudicated"] == "1"
    # the per-labeler view, narrowed to the disagreement still open
    rita.toggle(key="agreement_only_disputes").set_value(True).run()
    table = next(d.value for d in rita.dataframe if "alice" in d.value.columns)
    assert table[["alice", "bob"]].values.tolist() == [["track", "debris"]]


def test_setting__a_bad_value_is_one_line_naming_the_field_and_off_keeps_the_labels(
    app: AppTest, tiny_project: Project
) -> None:
    app.session_state[state.USER_NAME] = "rita"
    app.run()
    app.switch_page(AGREEMENT_PAGE).run()
    assert "Double labeling is off" in app.caption[0].value
    app.text_input(key="agreement_labelers").input("alice")
    button(app, "Save and assign").click().run()
    assert not app.exception
    assert app.error[0].value.startswith(md("labelers: give two or more"))
    assert tiny_project.assignments.settings() is None
    app.text_input(key="agreement_labelers").input("alice, bob")
    button(app, "Save and assign").click().run()
    key = tiny_project.assignments.keys("alice")[0]
    tiny_project.add_labels([key], "track", user="alice", source="queue")
    app.button(key="agreement_off").click().run()
    assert not app.exception
    assert md("assignments and labels are kept") in app.success[0].value
    setting = tiny_project.assignments.settings()
    assert setting is not None
    assert not setting.enabled
    assert len(tiny_project.assignments.keys("bob")) == 34
    assert "Double labeling is **off**" in app.caption[0].value
    # Without a name nobody changes the setting (a blind labeler would clear theirs to).
    app.session_state[state.USER_NAME] = ""
    app.run()
    assert not app.exception
    assert [w.value for w in app.warning if "Enter your name" in w.value]
    assert not [b for b in app.button if b.key == "agreement_off"]
    assert not [t for t in app.text_input if t.key == "agreement_labelers"]


def test_setting__the_labelers_box_shows_the_saved_list_not_what_was_typed(
    app: AppTest, tiny_project: Project
) -> None:
    """Empty names are dropped on saving: the box then shows the saved list, not the typing."""
    app.session_state[state.USER_NAME] = "rita"
    app.run()
    app.switch_page(AGREEMENT_PAGE).run()
    app.text_input(key=state.AGREEMENT_LABELERS).input("alice,,, ,bob")
    button(app, "Save and assign").click().run()
    assert not app.exception
    setting = tiny_project.assignments.settings()
    assert setting is not None
    assert setting.labelers == ("alice", "bob")
    assert app.text_input(key=state.AGREEMENT_LABELERS).value == "alice, bob"


def _counts(app: AppTest) -> tuple[str, str]:
    """The Agreement page's (Open disagreements, Adjudicated) metrics."""
    app.switch_page(AGREEMENT_PAGE).run()
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    return metrics["Open disagreements"], metrics["Adjudicated"]


def test_adjudication__undo_on_explore_reopens_it_and_redo_settles_it_again(
    monkeypatch: pytest.MonkeyPatch, tiny_project: Project
) -> None:
    map_project(tiny_project)
    tiny_project.assignments.configure(["alice", "bob"], 0.05)
    key = tiny_project.assignments.keys("alice")[0]
    tiny_project.add_labels([key], "<b>x</b>", user="alice", source="queue")
    tiny_project.add_labels([key], "track", user="bob", source="queue")
    rita = _session(monkeypatch, tiny_project, "rita")
    assert _counts(rita) == ("1", "0")
    rita.session_state[state.AGREEMENT_TAB] = "Adjudication queue"
    rita.run()
    rita.button(key="adjudicate_class_<b>x</b>").click().run()
    assert not rita.exception
    assert _counts(rita) == ("0", "1")
    assert any("No open disagreement" in s.value for s in rita.success)

    rita.switch_page(EXPLORE_PAGE).run()
    assert "(unlabeled) (169)" in rita.get("plotly_chart")[0].proto.spec
    rita.button(key="map_undo").click().run()
    assert not rita.exception
    assert any("Undid your last action: 1 sample." in s.value for s in rita.success)
    assert "(unlabeled) (170)" in rita.get("plotly_chart")[0].proto.spec  # open: unlabeled
    assert tiny_project.label_events(key).label.iloc[-1] == "track"  # the label before it
    assert _counts(rita) == ("1", "0")
    rita.session_state[state.AGREEMENT_TAB] = "Adjudication queue"
    rita.run()
    said = {m.label: m.value for m in rita.metric if m.label.endswith(" said")}
    assert said == {"alice said": md("<b>x</b>"), "bob said": "track"}  # back in the queue

    rita.switch_page(EXPLORE_PAGE).run()
    rita.button(key="map_redo").click().run()
    assert not rita.exception
    assert "(unlabeled) (169)" in rita.get("plotly_chart")[0].proto.spec
    assert _counts(rita) == ("0", "1")
    assert tiny_project.current_labels().set_index("key").label[key] == "<b>x</b>"


def test_adjudication__keys_pressed_during_a_run_wait_for_the_next(
    monkeypatch: pytest.MonkeyPatch, tiny_project: Project
) -> None:
    """A digit decides the shown disagreement: two pressed within one pending run would both
    decide it (Streamlit coalesces them); the page carries the script that sends them one run
    each."""
    tiny_project.assignments.configure(["alice", "bob"], 0.05)
    key = tiny_project.assignments.keys("alice")[0]
    tiny_project.add_labels([key], "debris", user="alice", source="queue")
    tiny_project.add_labels([key], "track", user="bob", source="queue")
    rita = _session(monkeypatch, tiny_project, "rita")
    rita.switch_page(AGREEMENT_PAGE).run()
    rita.session_state[state.AGREEMENT_TAB] = "Adjudication queue"
    rita.run()
    assert not rita.exception
    assert rita.button(key="adjudicate_class_track").proto.shortcut  # a digit decides
    assert sum("__bpsKeysInOrder" in h.proto.body for h in rita.html) == 1


def _save_alice_and_bob(app: AppTest, box: str, value: float) -> None:
    """Rita saves alice and bob as the labelers, with ``value`` typed in the number ``box``."""
    app.session_state[state.USER_NAME] = "rita"
    app.run()
    app.switch_page(AGREEMENT_PAGE).run()
    app.text_input(key="agreement_labelers").input("alice, bob")
    app.number_input(key=box).set_value(value)
    button(app, "Save and assign").click().run()


def test_setting__a_share_typed_out_of_range_is_refused_not_replaced(
    app: AppTest, tiny_project: Project
) -> None:
    _save_alice_and_bob(app, "agreement_share", 1.5)
    assert not app.exception
    assert [e.value for e in app.error] == [
        md("Share of the samples: 1.5 is more than 1; enter a number from 0.01 to 1.")
    ]
    assert tiny_project.assignments.settings() is None  # not saved with the last share, 0.2


def test_setting__a_seed_that_is_not_whole_is_refused_not_truncated(
    app: AppTest, tiny_project: Project
) -> None:
    _save_alice_and_bob(app, "agreement_seed", 3.7)
    assert not app.exception
    assert [e.value for e in app.error] == [
        md("Seed: 3.7 is not a whole number; enter a whole number from 0 to "
           "9,007,199,254,740,991.")
    ]  # fmt: skip
    assert tiny_project.assignments.settings() is None  # not saved with seed 3
    app.number_input(key="agreement_seed").set_value(7.0)
    button(app, "Save and assign").click().run()
    setting = tiny_project.assignments.settings()
    assert setting is not None
    assert setting.seed == 7
    assert type(setting.seed) is int
