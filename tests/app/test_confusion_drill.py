"""AppTest of the confusion drill-down on the Rounds page: a clicked cell of the confusion
table shows its samples, and opens them in the label queue to relabel."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from bps_app import confusion, prediction_mode, state, tables
from bps_core import verbs
from bps_core.project import Project
from tests.helpers import train_with_flips

SELECT_PAGE = "pages/5_Select.py"


def test_confusion_drill__a_clicked_cell_shows_its_samples_and_opens_them_in_the_queue(
    app: AppTest, tiny_project: Project
) -> None:
    model = train_with_flips(tiny_project)
    classes, matrix = model.metrics["classes"], model.metrics["confusion"]
    i, j = max(((i, j) for i in range(2) for j in range(2) if i != j),
               key=lambda c: matrix[c[0]][c[1]])  # fmt: skip
    assert matrix[i][j] > 0  # the flipped labels: an off-diagonal cell with samples
    app.session_state[state.USER_NAME] = "rita"
    app.run()
    app.switch_page(SELECT_PAGE).run()
    assert not app.exception
    assert not [b for b in app.button if b.key == "confusion_open_queue"]  # no cell yet
    # what a click on the table sends: the cell's row position and column name
    app.session_state[confusion.CELLS_KEY] = {"selection": {"cells": [[i, classes[j]]]}}
    app.run()
    assert not app.exception
    cell = verbs.confusion_samples(tiny_project, verbs.ConfusionCellSettings(classes[i],
                                                                           classes[j]))  # fmt: skip
    assert any(f"**{matrix[i][j]}** samples labeled" in m.value for m in app.markdown)
    app.button(key="confusion_open_queue").click().run()
    assert not app.exception
    queue = app.session_state[state.QUEUE]
    assert list(queue.keys) == cell.key.tolist()
    assert queue.page_size == 1  # one at a time, the prediction beside the label
    # the walk's keys: a digit relabels the first sample as its out-of-fold prediction, with
    # source review; A keeps the next one's label (a review accept)
    first, second = queue.keys[0], queue.keys[1]
    app.switch_page("pages/4_Queue.py").run()  # where st.switch_page went in the browser
    app.button(key=f"queue_pred_fix_{classes[j]}").click().run()
    assert not app.exception
    now = tiny_project.reviews.current().set_index("key")
    assert now.label[first] == classes[j]
    assert now.source[first] == "review"
    assert app.session_state[state.QUEUE].current == (second,)
    app.button(key="queue_pred_accept").click().run()
    now = tiny_project.reviews.current().set_index("key")
    assert now.label[second] == classes[i]
    assert now.review[second] == "accepted"


def test_picked_cell__maps_a_selection_to_label_and_prediction() -> None:
    table = tables.confusion_table([[3, 1], [2, 4]], ["Fe", "X-ray"])
    assert confusion.picked_cell(table, [(1, "Fe")]) == ("X-ray", "Fe")
    assert confusion.picked_cell(table, []) is None
    assert confusion.picked_cell(table, [(0, table.index.name)]) is None  # the label column
    assert confusion.picked_cell(table, [(5, "Fe")]) is None


def test_confusion_drill__a_cell_with_the_keys_of_the_last_walk_opens_the_cell_walk(
    app: AppTest, tiny_project: Project
) -> None:
    # A rare class makes this common: every disagreement lies in one cell, so the cell's
    # samples are exactly the disagreement walk's. The queue opened from the cell is the cell's
    # own walk, one sample a decision.
    model = train_with_flips(tiny_project)
    classes = model.metrics["classes"]
    walk = verbs.model_disagreements(tiny_project, verbs.DisagreementSettings())
    first = walk.table.iloc[0]
    settings = verbs.ConfusionCellSettings(first.label, first.predicted)
    cell = verbs.confusion_samples(tiny_project, settings)
    for k, predicted in zip(walk.table.key, walk.table.predicted, strict=True):
        if k not in set(cell.key):  # the other cell emptied: its labels agree with the model
            tiny_project.add_labels([k], str(predicted), user="ann", source="api")
    walk = verbs.model_disagreements(tiny_project, verbs.DisagreementSettings())
    assert list(walk.keys) == cell.key.tolist()
    app.session_state[state.USER_NAME] = "rita"
    app.run()
    app.switch_page("pages/4_Queue.py").run()
    app.selectbox(key="queue_origin").set_value(prediction_mode.ORIGIN_DISAGREE)
    next(b for b in app.button if b.label == "Start").click().run()
    assert [b for b in app.button if b.key == "queue_pred_accept"]  # the walk is on
    app.switch_page(SELECT_PAGE).run()
    i, j = classes.index(first.label), classes.index(first.predicted)
    app.session_state[confusion.CELLS_KEY] = {"selection": {"cells": [[i, classes[j]]]}}
    app.run()
    app.button(key="confusion_open_queue").click().run()
    assert not app.exception
    walk = app.session_state[state.QUEUE_PREDICTIONS]
    assert walk["kind"] == "cell"
    assert app.session_state[state.QUEUE].page_size == 1
