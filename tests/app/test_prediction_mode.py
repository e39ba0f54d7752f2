"""AppTest of the Label queue's prediction mode: walk a model's predictions (accept, correct,
skip, undo, a stale screen refused) and the labels its out-of-fold predictions disagree with."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from bps_app import prediction_mode, state, widgets
from bps_app.safe_text import md
from bps_core import verbs
from bps_core.project import Project
from tests.helpers import train_with_flips

QUEUE_PAGE = "pages/4_Queue.py"


@pytest.fixture
def trained(tiny_project: Project) -> verbs.ModelRecord:
    """The tiny project with a model on 20 labels, 3 of them flipped (disagreements)."""
    return train_with_flips(tiny_project)


def _start(app: AppTest, origin: str, *, order: str | None = None) -> list[str]:
    app.switch_page(QUEUE_PAGE).run()
    app.selectbox(key="queue_origin").set_value(origin)
    if order is not None:
        app.selectbox(key="queue_pred_order").set_value(order)
    next(b for b in app.button if b.label == "Start").click().run()
    assert not app.exception
    return list(app.session_state[state.QUEUE].keys)


def _labels(project: Project) -> dict[str, str]:
    cur = project.current_labels()
    return dict(zip(cur.key, cur.label, strict=True))


def _sources(project: Project) -> dict[str, str]:
    cur = project.reviews.current()
    return dict(zip(cur.key, cur.source, strict=True))


def test_prediction_mode__accept_correct_skip_and_undo_walk_the_predictions(
    app: AppTest, tiny_project: Project, trained: verbs.ModelRecord
) -> None:
    app.session_state[state.USER_NAME] = "rita"
    app.run()
    order = _start(app, prediction_mode.ORIGIN_PREDICTED + "Fe")
    expected = verbs.prediction_queue(tiny_project, verbs.PredictionQueueSettings("Fe"))
    assert order == list(expected.keys)  # unlabeled, most confident first
    assert len(order) >= 3
    assert app.metric[0].value == "Fe"  # the model's class and its probability
    assert app.metric[0].delta == f"{expected.table.confidence[0]:.0%} probability"
    assert app.metric[1].value == widgets.UNLABELED
    app.button(key="queue_pred_accept").click().run()  # A: the prediction becomes the label
    app.button(key="queue_pred_fix_X-ray").click().run()  # a digit: corrected
    app.button(key="queue_pred_skip").click().run()  # S: no decision
    assert not app.exception
    labels, sources = _labels(tiny_project), _sources(tiny_project)
    assert labels[order[0]] == "Fe"
    assert labels[order[1]] == "X-ray"
    assert order[2] not in labels
    assert sources[order[0]] == sources[order[1]] == "review"
    app.button(key="queue_pred_undo").click().run()  # Z: the correction is undone
    assert order[1] not in _labels(tiny_project)
    assert app.session_state[state.QUEUE].position == 1  # shown again
    app.button(key="queue_pred_accept_enter").click().run()  # Enter accepts too
    assert _labels(tiny_project)[order[1]] == "Fe"


def test_prediction_mode__least_confident_first_reverses_the_walk(
    app: AppTest, tiny_project: Project, trained: verbs.ModelRecord
) -> None:
    app.session_state[state.USER_NAME] = "rita"
    app.run()
    most = _start(app, prediction_mode.ORIGIN_PREDICTED + "Fe")
    least = _start(app, prediction_mode.ORIGIN_PREDICTED + "Fe", order="Least confident first")
    confidence = verbs.prediction_queue(tiny_project, verbs.PredictionQueueSettings("Fe")).table
    by_key = dict(zip(confidence.key, confidence.confidence, strict=True))
    assert [by_key[k] for k in least] == sorted(by_key[k] for k in most)


def test_prediction_mode__a_sample_labeled_meanwhile_is_refused_not_overwritten(
    app: AppTest, tiny_project: Project, trained: verbs.ModelRecord
) -> None:
    app.session_state[state.USER_NAME] = "rita"
    app.run()
    order = _start(app, prediction_mode.ORIGIN_PREDICTED + "Fe")
    tiny_project.add_labels([order[0]], "X-ray", user="carl", source="queue")
    app.button(key="queue_pred_accept").click().run()  # the screen showed it unlabeled
    assert "labeled by carl" in app.error[0].value
    assert _labels(tiny_project)[order[0]] == "X-ray"
    assert app.session_state[state.QUEUE].position == 0  # it stays, now showing carl's label
    assert app.metric[1].value == md("X-ray")


def test_prediction_mode__disagreements_keep_or_relabel_the_label(
    app: AppTest, tiny_project: Project, trained: verbs.ModelRecord
) -> None:
    app.session_state[state.USER_NAME] = "rita"
    app.run()
    order = _start(app, prediction_mode.ORIGIN_DISAGREE)
    found = verbs.model_disagreements(tiny_project, verbs.DisagreementSettings())
    assert order == list(found.keys)
    assert len(order) >= 2
    row = found.table.iloc[0]
    assert app.metric[0].value == md(row.predicted)
    assert app.metric[1].value == md(row.label)
    app.button(key="queue_pred_accept").click().run()  # A keeps the label (reviewed: accepted)
    second = found.table.iloc[1]
    app.button(key=f"queue_pred_fix_{second.predicted}").click().run()  # a digit relabels
    assert not app.exception
    current = tiny_project.reviews.current().set_index("key")
    assert current.label[row.key] == row.label
    assert current.review[row.key] == "accepted"
    assert current.label[second.key] == second.predicted
    assert current.source[second.key] == "review"


def test_prediction_mode__without_a_model_there_is_no_prediction_walk(
    app: AppTest, tiny_project: Project
) -> None:
    app.switch_page(QUEUE_PAGE).run()
    options = app.selectbox(key="queue_origin").options
    assert not [o for o in options if prediction_mode.is_origin(o)]
